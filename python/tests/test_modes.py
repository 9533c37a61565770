"""The modes of issue #17 against their peers, in float64 torch: the sigmoid losses (PyTorch's
binary_cross_entropy_with_logits, torchvision's sigmoid_focal_loss, MONAI's DiceLoss /
TverskyLoss / GeneralizedDiceLoss with sigmoid=True), label smoothing (F.cross_entropy's),
weight maps, per-channel targets and reduction='none', loss and gradient.

torchvision and MONAI are not dependencies: their formulas are written out below, line by line
as their sources compute them (torchvision's sigmoid_focal_loss is also compared with directly
when it is installed). Gradients are torch autograd's in float64.

    PYTHONPATH=python python3 python/tests/test_modes.py [pytest args]   # largest error per mode

Measures (those of parity.py): loss |ours - ref| / |ref| with ours the double of last_result;
gradient max |ours - ref| / max |ref|; unreduced terms max |ours - ref| / max |ref|.
"""
import functools
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import segloss
import segloss.torch.functional as SF
from segloss.torch import SegLoss

LOSS_TOL = 1e-5   # relative, against the float64 loss
GRAD_TOL = 1e-6   # largest difference over the largest entry of the float64 gradient
TERMS_TOL = 1e-6  # unreduced terms: largest difference over the largest reference term

ERRORS = {}  # mode -> [largest loss (or terms) error, largest gradient error, cases]

try:
    import torchvision.ops
    HAVE_TORCHVISION = True
except ImportError:
    HAVE_TORCHVISION = False


def f32(v):
    return float(torch.tensor(float(v), dtype=torch.float32))


# Calls that have crashed the library (a NULL read, a heap overflow) run first in a child
# process, so that a crash fails the tests that make them instead of killing the whole run.
_PROBES = {
    "the sigmoid CE family without a gradient": """
for lt in ("ce", "focal", "weighted_ce"):
    for red in ("mean", "none"):
        segloss.compute(x, t, loss_type=lt, activation="sigmoid", reduction=red, grad=False)
""",
    "the Dice family's unreduced terms": """
for it in range(20):
    for kw in (dict(loss_type="dice"), dict(loss_type="generalized_dice", activation="sigmoid", per_sample=True),
               dict(loss_type="tversky", activation="sigmoid", include_background=False, per_sample=True)):
        segloss.compute(x[:1 + it % 2], y[:1 + it % 2], reduction="none", **kw)
""",
}


@functools.lru_cache(maxsize=None)
def _crash(name):
    code = ("import numpy as np, segloss\nr = np.random.RandomState(0)\n"
            "x = r.randn(2, 3, 40).astype(np.float32); y = r.randint(0, 3, (2, 40)); t = r.rand(2, 3, 40).astype(np.float32)\n"
            + _PROBES[name] + "print('ok')\n")
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(segloss.__file__))))
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    if r.returncode == 0 and r.stdout.strip().endswith("ok"):
        return None
    return "segloss crashed computing %s (exit status %d): %s" % (name, r.returncode, r.stderr.strip()[-300:])


def needs(*names):
    """Fail (rather than crash the run) when one of these calls crashes the library."""
    for name in names:
        msg = _crash(name)
        if msg:
            pytest.fail(msg)


# ---- inputs -------------------------------------------------------------------------------------
def logits(shape=(2, 3, 8, 8), seed=0, scale=2.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g) * scale


def labels(shape=(2, 3, 8, 8), seed=0, ignore=-100, frac=0.1, dtype=torch.int64):
    """Class indices (N, *spatial) in [0, C) (C = 1: {0, 1}), frac of them ignore."""
    g = torch.Generator().manual_seed(seed + 100)
    n, c = shape[:2]
    y = torch.randint(0, max(c, 2), (n,) + tuple(shape[2:]), generator=g)
    if ignore is not None:
        y[torch.rand(y.shape, generator=g) < frac] = ignore
    return y.to(dtype)


def soft_targets(shape=(2, 3, 8, 8), seed=0):
    """float32 in [0, 1], a fifth of them exactly 0 or 1."""
    g = torch.Generator().manual_seed(seed + 200)
    t = torch.rand(*shape, generator=g)
    r = torch.rand(*shape, generator=g)
    t[r < 0.1] = 0.0
    t[r > 0.9] = 1.0
    return t


def masks(shape=(2, 3, 8, 8), seed=0):
    g = torch.Generator().manual_seed(seed + 300)
    return (torch.rand(*shape, generator=g) < 0.3).to(torch.uint8)


def weight_map(shape=(2, 3, 8, 8), seed=0):
    """One weight per position, in [0, 3), some 0."""
    g = torch.Generator().manual_seed(seed + 400)
    m = torch.rand((shape[0],) + tuple(shape[2:]), generator=g) * 3.0
    m[m < 0.2] = 0.0
    return m


def one_vs_rest(y, c, ignore):
    """(t, valid): t (N, C, *spatial) float64 targets of the labels (C = 1: t = label), valid
    (N, *spatial) bool."""
    valid = y != ignore
    ys = torch.where(valid, y.long(), torch.zeros_like(y.long()))
    if c == 1:
        t = ys.double().unsqueeze(1)
    else:
        t = F.one_hot(ys, c).movedim(-1, 1).double()
    return t, valid


def per_position(a, nd):
    """(N, *spatial) -> (N, 1, *spatial), to scale every channel."""
    return a.unsqueeze(1) if a.dim() == nd - 1 else a


# ---- the peers, written out -------------------------------------------------------------------
def bce_peer(z, t, valid, pw=None, w=None, m=None, reduction="mean"):
    """F.binary_cross_entropy_with_logits(z, t, weight=w_c, pos_weight=pw_c, reduction='none')
    over the valid positions, times the weight map; mean over valid elements (the map's sum
    times C), as PyTorch's mean is over elements, not weights."""
    c, nd = z.shape[1], z.dim()
    bshape = (1, c) + (1,) * (nd - 2)
    l = F.binary_cross_entropy_with_logits(z, t, weight=None if w is None else w.view(bshape),
                                           pos_weight=None if pw is None else pw.view(bshape), reduction="none")
    mm = valid.double() * (1.0 if m is None else m.double())
    terms = l * per_position(mm, nd)
    if reduction == "none":
        return terms
    if reduction == "sum":
        return terms.sum()
    return terms.sum() / (c * mm.sum())


def sigmoid_focal_peer(z, t, valid, alpha=0.25, gamma=2.0, w=None, m=None, reduction="mean"):
    """torchvision.ops.sigmoid_focal_loss, line by line, over the valid elements (times w_c and
    the weight map); alpha None: no alpha balancing."""
    c, nd = z.shape[1], z.dim()
    p = torch.sigmoid(z)
    ce_loss = F.binary_cross_entropy_with_logits(z, t, reduction="none")
    p_t = p * t + (1 - p) * (1 - t)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha is not None and alpha >= 0:
        alpha_t = alpha * t + (1 - alpha) * (1 - t)
        loss = alpha_t * loss
    if w is not None:
        loss = loss * w.view((1, c) + (1,) * (nd - 2))
    mm = valid.double() * (1.0 if m is None else m.double())
    terms = loss * per_position(mm, nd)
    if reduction == "none":
        return terms
    if reduction == "sum":
        return terms.sum()
    return terms.sum() / (c * mm.sum())


def _sums(p, g, wpos, include_background, batch):
    """MONAI's reductions: I, P, G over the spatial axes (and the batch when batch), every
    position weighted by wpos (valid mask times weight map)."""
    if not include_background:
        p, g = p[:, 1:], g[:, 1:]
    w = per_position(wpos, p.dim())
    axes = list(range(2, p.dim())) + ([0] if batch else [])
    return (w * p * g).sum(axes), (w * p).sum(axes), (w * g).sum(axes)


def _reduce(f, reduction):
    return f if reduction == "none" else f.sum() if reduction == "sum" else f.mean()


def dice_peer(p, g, wpos, s, include_background=True, per_sample=False, reduction="mean"):
    """MONAI DiceLoss(include_background, batch=not per_sample, smooth_nr=s, smooth_dr=s) of
    probabilities p: f = 1 - (2 I + s) / (G + P + s), per (sample, class) or per class."""
    i, pr, gr = _sums(p, g, wpos, include_background, not per_sample)
    return _reduce(1.0 - (2.0 * i + s) / (gr + pr + s), reduction)


def tversky_peer(p, g, wpos, s, alpha, beta, include_background=True, per_sample=False, reduction="mean"):
    """MONAI TverskyLoss(alpha, beta, ...): tp = sum p g, fp = alpha sum p (1 - g),
    fn = beta sum (1 - p) g; f = 1 - (tp + s) / (tp + fp + fn + s)."""
    tp, pr, gr = _sums(p, g, wpos, include_background, not per_sample)
    fp = alpha * (pr - tp)
    fn = beta * (gr - tp)
    return _reduce(1.0 - (tp + s) / (tp + fp + fn + s), reduction)


def generalized_dice_peer(p, g, wpos, s, include_background=True, per_sample=False, reduction="mean"):
    """MONAI GeneralizedDiceLoss(w_type='square', batch=not per_sample, smooth_nr=s,
    smooth_dr=s): w = 1 / G^2, infinite w replaced by the largest finite w of the group;
    numer = 2 sum w I + s, denom = sum w (P + G) + s, f = 1 - numer / denom."""
    batch = not per_sample
    i, pr, gr = _sums(p, g, wpos, include_background, batch)
    w = 1.0 / (gr * gr)
    infs = torch.isinf(w)
    w = torch.where(infs, torch.zeros_like(w), w)
    if batch:
        w = w + infs * torch.max(w)
    else:
        w = w + infs * torch.max(w, dim=1)[0].unsqueeze(1)
    dim = 0 if batch else 1
    numer = 2.0 * (i * w).sum(dim, keepdim=True) + s
    denom = ((gr + pr) * w).sum(dim, keepdim=True) + s
    f = (1.0 - numer / denom).reshape(-1)
    return _reduce(f, reduction)


def softmax_ce_peer(z, y, ignore, w=None, m=None, eps=0.0, gamma=0.0, reduction="mean"):
    """Softmax CE family with a weight map: sum m w[y] l / sum m w[y]; l with label smoothing
    (1 - eps) (-log p_y) w[y] + eps / C sum_c w[c] (-log p_c) (F.cross_entropy's), or focal."""
    c = z.shape[1]
    valid = y != ignore
    ys = torch.where(valid, y.long(), torch.zeros_like(y.long()))
    logp = torch.log_softmax(z, 1)
    lpy = logp.gather(1, ys.unsqueeze(1)).squeeze(1)
    wv = torch.ones(c, dtype=torch.float64) if w is None else w
    wy = wv[ys]
    if gamma:
        l = -wy * (1.0 - lpy.exp()) ** gamma * lpy
    else:
        smooth = -(logp * wv.view((1, c) + (1,) * (z.dim() - 2))).sum(1) / c
        l = (1.0 - eps) * (-wy * lpy) + eps * smooth
    mm = valid.double() * (1.0 if m is None else m.double())
    terms = mm * l
    if reduction == "none":
        return terms
    if reduction == "sum":
        return terms.sum()
    return terms.sum() / (mm * wy).sum()


# ---- running both sides -------------------------------------------------------------------------
def ours(kw, x, target, wm=None, v=None, memory=None):
    """(loss as a double, or the float32 terms in double; dL/dlogits in double) from SegLoss."""
    xg = x.clone()
    if memory is not None:
        xg = xg.contiguous(memory_format=memory)
    xg.requires_grad_()
    m = SegLoss(**kw)
    out = m(xg, target, weight_map=wm)
    if out.dim() == 0:
        out.backward()
        value = float(m.last_result)
    else:
        out.backward(v)
        value = out.detach().double()
    return value, xg.grad.double()


def reference(fn, x, v=None):
    """(value, gradient) of fn on float64 logits; with v, the gradient of sum(v * value)."""
    z = x.double().requires_grad_()
    r = fn(z)
    (r if v is None else (r * v.double()).sum()).backward()
    return (float(r) if r.dim() == 0 else r.detach()), z.grad


def check(mode, got, ref, tol_loss=LOSS_TOL, tol_grad=GRAD_TOL):
    (lv, lg), (rv, rg) = got, ref
    if isinstance(lv, float):
        le = abs(lv - rv) / max(abs(rv), 1e-300)
    else:
        assert lv.shape == rv.shape, (lv.shape, rv.shape)
        le = float((lv - rv).abs().max() / rv.abs().max().clamp(min=1e-300))
    ge = float((lg - rg).abs().max() / rg.abs().max().clamp(min=1e-300))
    e = ERRORS.setdefault(mode, [0.0, 0.0, 0])
    e[0], e[1], e[2] = max(e[0], le), max(e[1], ge), e[2] + 1
    assert le <= (tol_loss if isinstance(lv, float) else TERMS_TOL), (mode, lv, rv, le)
    assert ge <= tol_grad, (mode, ge)


# ---- sigmoid cross entropy ----------------------------------------------------------------------
PW = [0.5, 2.0, 3.5]
CW = [1.0, 0.25, 2.0]


@pytest.mark.parametrize("target", ["float", "uint8", "bool", "labels"])
@pytest.mark.parametrize("pw", [None, PW])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_sigmoid_ce(target, pw, reduction):
    """sigmoid ce = F.binary_cross_entropy_with_logits(z, t, pos_weight=pw.view(1, C, 1, 1)),
    the mean over valid elements."""
    shape = (2, 3, 8, 8)
    x = logits(shape, 1)
    pwt = torch.tensor(pw, dtype=torch.float64) if pw else None
    if target == "labels":
        y = labels(shape, 1)
        t, valid = one_vs_rest(y, 3, -100)
        tgt = y
    else:
        tgt = soft_targets(shape, 1) if target == "float" else masks(shape, 1)
        if target == "bool":
            tgt = tgt.bool()
        t, valid = tgt.double(), torch.ones((2, 8, 8), dtype=torch.bool)
    kw = dict(loss_type="ce", activation="sigmoid", pos_weight=pw, reduction=reduction)
    if target != "labels":  # the peer call itself
        fn = (lambda z: F.binary_cross_entropy_with_logits(
            z, t, pos_weight=None if pwt is None else pwt.view(1, 3, 1, 1), reduction=reduction))
    else:
        fn = (lambda z: bce_peer(z, t, valid, pwt, reduction=reduction))
    check("sigmoid ce", ours(kw, x, tgt), reference(fn, x))


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_sigmoid_ce_class_weights_and_weight_map(reduction):
    """class_weights weight channels (F's weight=), the map positions; the mean stays over
    valid elements."""
    shape = (2, 3, 8, 8)
    x, y, wm = logits(shape, 2), labels(shape, 2), weight_map(shape, 2)
    t, valid = one_vs_rest(y, 3, -100)
    pwt, cwt = torch.tensor(PW, dtype=torch.float64), torch.tensor(CW, dtype=torch.float64)
    kw = dict(loss_type="ce", activation="sigmoid", pos_weight=PW, class_weights=CW, reduction=reduction)
    check("sigmoid ce", ours(kw, x, y, wm), reference(lambda z: bce_peer(z, t, valid, pwt, cwt, wm, reduction), x))


def test_sigmoid_ce_one_channel():
    """C = 1: labels 0/1 (with ignore_index) or a float target of the logits' shape."""
    shape = (3, 1, 8, 8)
    x, y = logits(shape, 3), labels(shape, 3)
    t, valid = one_vs_rest(y, 1, -100)
    kw = dict(loss_type="ce", activation="sigmoid")
    check("sigmoid ce", ours(kw, x, y), reference(lambda z: bce_peer(z, t, valid), x))
    tf = soft_targets(shape, 3)
    check("sigmoid ce", ours(kw, x, tf),
          reference(lambda z: F.binary_cross_entropy_with_logits(z, tf.double()), x))


def test_sigmoid_weighted_ce_automatic_pos_weight():
    """weighted_ce under the sigmoid: pw_c = sum_V m (1 - t_c) / sum_V m t_c (1 without a
    positive), stored as float32."""
    shape = (2, 3, 8, 8)
    x, y, wm = logits(shape, 4), labels(shape, 4), weight_map(shape, 4)
    t, valid = one_vs_rest(y, 3, -100)
    mm = (valid.double() * wm.double()).unsqueeze(1)
    pos = (mm * t).sum((0, 2, 3))
    neg = (mm * (1 - t)).sum((0, 2, 3))
    pw = torch.where(pos > 0, neg / pos.clamp(min=1e-300), torch.ones_like(pos)).float().double()
    kw = dict(loss_type="weighted_ce", activation="sigmoid")
    check("sigmoid weighted_ce", ours(kw, x, y, wm), reference(lambda z: bce_peer(z, t, valid, pw, m=wm), x))


# ---- sigmoid focal ------------------------------------------------------------------------------
@pytest.mark.parametrize("alpha,gamma", [(0.25, 2.0), (None, 2.0), (0.6, 0.5), (0.25, 0.0), (0.1, 3.0)])
@pytest.mark.parametrize("target", ["float", "labels"])
def test_sigmoid_focal(alpha, gamma, target):
    """sigmoid focal = torchvision's sigmoid_focal_loss(z, t, alpha, gamma, 'mean'), over the
    valid elements."""
    shape = (2, 3, 8, 8)
    x = logits(shape, 5)
    if target == "labels":
        tgt = labels(shape, 5)
        t, valid = one_vs_rest(tgt, 3, -100)
    else:
        tgt = soft_targets(shape, 5)
        t, valid = tgt.double(), torch.ones((2, 8, 8), dtype=torch.bool)
    kw = dict(loss_type="focal", activation="sigmoid", focal_alpha=alpha, focal_gamma=gamma)
    a = None if alpha is None else f32(alpha)
    ref = reference(lambda z: sigmoid_focal_peer(z, t, valid, a, gamma), x)
    check("sigmoid focal", ours(kw, x, tgt), ref)
    if HAVE_TORCHVISION and target == "float":
        tv = reference(lambda z: torchvision.ops.sigmoid_focal_loss(z, t, -1 if a is None else a, gamma,
                                                                     "mean"), x)
        check("sigmoid focal (torchvision)", ours(kw, x, tgt), tv)


def test_sigmoid_focal_functional_is_torchvisions_signature():
    needs("the sigmoid CE family without a gradient")
    shape = (2, 3, 8, 8)
    x, t = logits(shape, 6), soft_targets(shape, 6)
    valid = torch.ones((2, 8, 8), dtype=torch.bool)
    for reduction in ("none", "mean", "sum"):
        out = SF.sigmoid_focal_loss(x, t, alpha=0.3, gamma=1.5, reduction=reduction)
        ref = sigmoid_focal_peer(x.double(), t.double(), valid, 0.3, 1.5, reduction=reduction)
        assert out.shape == ref.shape
        assert float((out.double() - ref).abs().max()) <= 1e-6 * float(ref.abs().max())


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_sigmoid_focal_class_weights_and_weight_map(reduction):
    shape = (2, 3, 8, 8)
    x, y, wm = logits(shape, 7), labels(shape, 7), weight_map(shape, 7)
    t, valid = one_vs_rest(y, 3, -100)
    cwt = torch.tensor(CW, dtype=torch.float64)
    kw = dict(loss_type="focal", activation="sigmoid", class_weights=CW, reduction=reduction)
    check("sigmoid focal", ours(kw, x, y, wm),
          reference(lambda z: sigmoid_focal_peer(z, t, valid, f32(0.25), 2.0, cwt, wm, reduction), x))


# ---- sigmoid Dice, Tversky, generalized Dice ----------------------------------------------------
DICE_CASES = [(ps, ib, red) for ps in (False, True) for ib in (True, False) for red in ("mean", "sum")]


def _dice_fn(loss_type, p_of, g, wpos, s, ps, ib, red, alpha=0.7, beta=0.3):
    if loss_type == "dice":
        return lambda z: dice_peer(p_of(z), g, wpos, s, ib, ps, red)
    if loss_type == "tversky":
        return lambda z: tversky_peer(p_of(z), g, wpos, s, f32(alpha), f32(beta), ib, ps, red)
    return lambda z: generalized_dice_peer(p_of(z), g, wpos, s, ib, ps, red)


@pytest.mark.parametrize("loss_type", ["dice", "tversky", "generalized_dice"])
@pytest.mark.parametrize("per_sample,include_background,reduction", DICE_CASES)
@pytest.mark.parametrize("target", ["float", "uint8", "labels"])
def test_sigmoid_dice_family(loss_type, per_sample, include_background, reduction, target):
    """sigmoid dice / tversky / generalized_dice = MONAI's DiceLoss / TverskyLoss /
    GeneralizedDiceLoss(sigmoid=True, batch=not per_sample, smooth_nr=s, smooth_dr=s)."""
    shape = (2, 3, 8, 8)
    x = logits(shape, 8)
    if target == "labels":
        tgt = labels(shape, 8)
        t, valid = one_vs_rest(tgt, 3, -100)
    else:
        tgt = soft_targets(shape, 8) if target == "float" else masks(shape, 8)
        t, valid = tgt.double(), torch.ones((2, 8, 8), dtype=torch.bool)
    s = 0.5
    kw = dict(loss_type=loss_type, activation="sigmoid", dice_smooth=s, per_sample=per_sample,
              include_background=include_background, reduction=reduction)
    fn = _dice_fn(loss_type, torch.sigmoid, t, valid.double(), s, per_sample, include_background, reduction)
    check("sigmoid " + loss_type, ours(kw, x, tgt), reference(fn, x))


@pytest.mark.parametrize("loss_type", ["dice", "tversky", "generalized_dice"])
@pytest.mark.parametrize("per_sample", [False, True])
def test_sigmoid_dice_family_weight_map(loss_type, per_sample):
    """I = sum m p g, P = sum m p, G = sum m g (MONAI's masked Dice for a 0/1 map)."""
    shape = (2, 3, 8, 8)
    x, y, wm = logits(shape, 9), labels(shape, 9), weight_map(shape, 9)
    t, valid = one_vs_rest(y, 3, -100)
    kw = dict(loss_type=loss_type, activation="sigmoid", per_sample=per_sample)
    fn = _dice_fn(loss_type, torch.sigmoid, t, valid.double() * wm.double(), 1.0, per_sample, True, "mean")
    check("sigmoid " + loss_type + " weight_map", ours(kw, x, y, wm), reference(fn, x))


@pytest.mark.parametrize("per_sample,include_background,reduction", DICE_CASES)
def test_softmax_generalized_dice(per_sample, include_background, reduction):
    """generalized_dice under the softmax = MONAI GeneralizedDiceLoss(softmax=True,
    to_onehot_y=True), ignore_index masked."""
    shape = (2, 4, 8, 8)
    x, y = logits(shape, 10), labels(shape, 10)
    g, valid = one_vs_rest(y, 4, -100)
    kw = dict(loss_type="generalized_dice", per_sample=per_sample, include_background=include_background,
              reduction=reduction, dice_smooth=1e-3)
    fn = _dice_fn("generalized_dice", lambda z: torch.softmax(z, 1), g, valid.double(), f32(1e-3), per_sample,
                  include_background, reduction)
    check("softmax generalized_dice", ours(kw, x, y), reference(fn, x))


def test_generalized_dice_absent_class():
    """A class absent from a sample's labels takes the largest finite weight of its group."""
    shape = (2, 3, 8, 8)
    x, y = logits(shape, 11), labels(shape, 11)
    y[0][y[0] == 2] = 1  # sample 0 has no class 2
    for act, p_of in (("softmax", lambda z: torch.softmax(z, 1)), ("sigmoid", torch.sigmoid)):
        g, valid = one_vs_rest(y, 3, -100)
        for ps in (False, True):
            kw = dict(loss_type="generalized_dice", activation=act, per_sample=ps)
            fn = _dice_fn("generalized_dice", p_of, g, valid.double(), 1.0, ps, True, "mean")
            check("%s generalized_dice" % act, ours(kw, x, y), reference(fn, x))


# ---- label smoothing ----------------------------------------------------------------------------
@pytest.mark.parametrize("eps", [0.1, 0.3, 1.0])
@pytest.mark.parametrize("weight", [None, [0.5, 2.0, 3.0, 7.5]])
@pytest.mark.parametrize("ignore_index", [-100, 2])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_label_smoothing(eps, weight, ignore_index, reduction):
    """ce with label_smoothing = F.cross_entropy(z, y, weight=w, ignore_index=i,
    label_smoothing=eps)."""
    shape = (2, 4, 8, 8)
    x, y = logits(shape, 12), labels(shape, 12, ignore=ignore_index)
    w = torch.tensor(weight, dtype=torch.float64) if weight else None
    kw = dict(loss_type="ce", label_smoothing=eps, class_weights=weight, ignore_index=ignore_index,
              reduction=reduction)
    fn = (lambda z: F.cross_entropy(z, y, weight=w, ignore_index=ignore_index, label_smoothing=f32(eps),
                                    reduction=reduction))
    check("softmax label_smoothing", ours(kw, x, y), reference(fn, x))


def test_label_smoothing_with_weight_map_and_channels_last():
    shape = (2, 4, 8, 8)
    x, y, wm = logits(shape, 13), labels(shape, 13), weight_map(shape, 13)
    w = torch.tensor([0.5, 2.0, 3.0, 7.5], dtype=torch.float64)
    kw = dict(loss_type="ce", label_smoothing=0.2, class_weights=w.tolist())
    ref = reference(lambda z: softmax_ce_peer(z, y, -100, w, wm, f32(0.2)), x)
    check("softmax label_smoothing", ours(kw, x, y, wm), ref)
    check("softmax label_smoothing", ours(kw, x, y, wm, memory=torch.channels_last), ref)


# ---- weight maps (softmax) ----------------------------------------------------------------------
@pytest.mark.parametrize("loss_type", ["ce", "focal", "dice", "tversky"])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("memory", [None, torch.channels_last])
def test_softmax_weight_map(loss_type, reduction, memory):
    """ce / focal: sum m w[y] l / sum m w[y]; dice / tversky: I, P, G weighted by m."""
    shape = (2, 4, 8, 8)
    x, y, wm = logits(shape, 14), labels(shape, 14), weight_map(shape, 14)
    w = [0.5, 2.0, 3.0, 7.5]
    wt = torch.tensor(w, dtype=torch.float64)
    kw = dict(loss_type=loss_type, reduction=reduction)
    if loss_type in ("ce", "focal"):
        kw["class_weights"] = w
        fn = (lambda z: softmax_ce_peer(z, y, -100, wt, wm, gamma=2.0 if loss_type == "focal" else 0.0,
                                        reduction=reduction))
    else:
        g, valid = one_vs_rest(y, 4, -100)
        fn = _dice_fn(loss_type, lambda z: torch.softmax(z, 1), g, valid.double() * wm.double(), 1.0, False, True,
                      reduction)
    check("softmax %s weight_map" % loss_type, ours(kw, x, y, wm, memory=memory), reference(fn, x))


def test_weight_map_of_ones_is_no_map():
    shape = (2, 4, 8, 8)
    x, y = logits(shape, 15), labels(shape, 15)
    for kw in (dict(loss_type="focal_dice"), dict(loss_type="ce", activation="sigmoid")):
        a, ga = ours(kw, x, y)
        b, gb = ours(kw, x, y, torch.ones(2, 8, 8))
        assert a == b and torch.equal(ga, gb)


def test_weighted_ce_automatic_weights_count_the_map():
    """w[c] = sum_V m / sum_{V, y = c} m (float32)."""
    shape = (2, 4, 8, 8)
    x, y, wm = logits(shape, 16), labels(shape, 16), weight_map(shape, 16)
    valid = y != -100
    mv = wm.double() * valid
    tot = mv.sum()
    w = torch.stack([tot / mv[y == k].sum() for k in range(4)]).float().double()
    check("softmax weighted_ce weight_map", ours(dict(loss_type="weighted_ce"), x, y, wm),
          reference(lambda z: softmax_ce_peer(z, y, -100, w, wm), x))


# ---- reduction='none' ---------------------------------------------------------------------------
def _upstream(shape, seed=17):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g)


@pytest.mark.parametrize("eps", [0.0, 0.2])
@pytest.mark.parametrize("weight", [None, [0.5, 2.0, 3.0, 7.5]])
@pytest.mark.parametrize("memory", [None, torch.channels_last])
def test_none_softmax_ce(eps, weight, memory):
    """ce, reduction='none' = F.cross_entropy(..., reduction='none'): (N, H, W); backward with
    any upstream gradient."""
    shape = (2, 4, 8, 8)
    x, y = logits(shape, 18), labels(shape, 18)
    w = torch.tensor(weight, dtype=torch.float64) if weight else None
    v = _upstream((2, 8, 8))
    kw = dict(loss_type="ce", class_weights=weight, label_smoothing=eps, reduction="none")
    fn = (lambda z: F.cross_entropy(z, y, weight=w, label_smoothing=f32(eps), reduction="none"))
    check("none softmax ce", ours(kw, x, y, v=v, memory=memory), reference(fn, x, v))


def test_none_softmax_focal_and_weight_map():
    shape = (2, 4, 8, 8)
    x, y, wm = logits(shape, 19), labels(shape, 19), weight_map(shape, 19)
    v = _upstream((2, 8, 8))
    for lt, gamma in (("focal", 2.0), ("ce", 0.0)):
        kw = dict(loss_type=lt, reduction="none")
        check("none softmax %s weight_map" % lt, ours(kw, x, y, wm, v=v),
              reference(lambda z: softmax_ce_peer(z, y, -100, m=wm, gamma=gamma, reduction="none"), x, v))


@pytest.mark.parametrize("target", ["float", "labels"])
@pytest.mark.parametrize("memory", [None, torch.channels_last])
def test_none_sigmoid_ce_and_focal(target, memory):
    """sigmoid ce, reduction='none' = F.binary_cross_entropy_with_logits(..., reduction='none'):
    the logits' shape; backward with a different upstream gradient per element."""
    shape = (2, 3, 8, 8)
    x = logits(shape, 20)
    if target == "labels":
        tgt = labels(shape, 20)
        t, valid = one_vs_rest(tgt, 3, -100)
    else:
        tgt = soft_targets(shape, 20)
        t, valid = tgt.double(), torch.ones((2, 8, 8), dtype=torch.bool)
    pwt = torch.tensor(PW, dtype=torch.float64)
    v = _upstream(shape)
    kw = dict(loss_type="ce", activation="sigmoid", pos_weight=PW, reduction="none")
    fn = (lambda z: F.binary_cross_entropy_with_logits(z, t, pos_weight=pwt.view(1, 3, 1, 1), reduction="none")
          * valid.unsqueeze(1))
    check("none sigmoid ce", ours(kw, x, tgt, v=v, memory=memory), reference(fn, x, v))
    kw = dict(loss_type="focal", activation="sigmoid", reduction="none")
    check("none sigmoid focal", ours(kw, x, tgt, v=v, memory=memory),
          reference(lambda z: sigmoid_focal_peer(z, t, valid, f32(0.25), 2.0, reduction="none"), x, v))


@pytest.mark.parametrize("loss_type", ["dice", "tversky", "generalized_dice"])
@pytest.mark.parametrize("per_sample", [False, True])
@pytest.mark.parametrize("include_background", [True, False])
def test_none_sigmoid_dice_family(loss_type, per_sample, include_background):
    """MONAI's reduction='none' terms: (N, |K|) / (|K|,) for dice and tversky, (N,) / (1,) for
    generalized_dice; backward with any upstream gradient (every term is one channel's, or one
    sample's)."""
    needs("the Dice family's unreduced terms")
    shape = (2, 3, 8, 8)
    x, y = logits(shape, 21), labels(shape, 21)
    t, valid = one_vs_rest(y, 3, -100)
    kw = dict(loss_type=loss_type, activation="sigmoid", per_sample=per_sample,
              include_background=include_background, reduction="none")
    k = 3 if include_background else 2
    want = ((2,) if per_sample else (1,)) if loss_type == "generalized_dice" else \
        ((2, k) if per_sample else (k,))
    v = _upstream(want)
    fn = _dice_fn(loss_type, torch.sigmoid, t, valid.double(), 1.0, per_sample, include_background, "none")
    got = ours(kw, x, y, v=v)
    assert got[0].shape == want
    check("none sigmoid " + loss_type, got, reference(fn, x, v))


@pytest.mark.parametrize("loss_type", ["dice", "tversky", "generalized_dice"])
@pytest.mark.parametrize("per_sample", [False, True])
def test_none_softmax_dice_family(loss_type, per_sample):
    """Under the softmax every class's term depends on every logit of its group: backward is
    exact for an upstream gradient that is the same for every class of a group (.mean(),
    .sum(), a per-sample weight), and refused otherwise."""
    needs("the Dice family's unreduced terms")
    shape = (2, 4, 8, 8)
    x, y = logits(shape, 22), labels(shape, 22)
    g, valid = one_vs_rest(y, 4, -100)
    kw = dict(loss_type=loss_type, per_sample=per_sample, reduction="none")
    fn = _dice_fn(loss_type, lambda z: torch.softmax(z, 1), g, valid.double(), 1.0, per_sample, True, "none")
    want = ((2,) if per_sample else (1,)) if loss_type == "generalized_dice" else ((2, 4) if per_sample else (4,))
    if loss_type == "generalized_dice":
        v = _upstream(want)
    else:
        v = _upstream(want[:-1] + (1,)).expand(want)  # one value per group
    check("none softmax " + loss_type, ours(kw, x, y, v=v), reference(fn, x, v))
    if loss_type != "generalized_dice":
        with pytest.raises(NotImplementedError, match="differs between the classes"):
            ours(kw, x, y, v=_upstream(want))


def test_none_is_the_sum_of_terms():
    """.sum() of the terms is reduction='sum' (value and gradient); .mean() of the softmax
    CE terms is the unweighted mean."""
    needs("the Dice family's unreduced terms")
    shape = (2, 4, 8, 8)
    x, y = logits(shape, 23), labels(shape, 23, ignore=None)
    for kw in (dict(loss_type="ce"), dict(loss_type="dice", per_sample=True),
               dict(loss_type="tversky", activation="sigmoid"), dict(loss_type="generalized_dice")):
        xa = x.clone().requires_grad_()
        SegLoss(reduction="none", **kw)(xa, y).sum().backward()
        xb = x.clone().requires_grad_()
        SegLoss(reduction="sum", **kw)(xb, y).backward()
        assert torch.allclose(xa.grad, xb.grad, rtol=1e-6, atol=1e-7), kw


def test_none_no_grad_and_numpy():
    needs("the sigmoid CE family without a gradient")
    shape = (2, 3, 8, 8)
    x, t = logits(shape, 24), soft_targets(shape, 24)
    kw = dict(loss_type="ce", activation="sigmoid", reduction="none")
    with torch.no_grad():
        a = SegLoss(**kw)(x, t)
    b, g = segloss.compute(x.numpy(), t.numpy(), **kw)
    assert isinstance(b, np.ndarray) and b.shape == shape and torch.equal(a, torch.from_numpy(b))
    _, gs = segloss.compute(x.numpy(), t.numpy(), **dict(kw, reduction="sum"))
    assert np.array_equal(g, gs)  # the gradient of the terms' sum
    nh = np.ascontiguousarray(x.numpy().transpose(0, 2, 3, 1))
    c, _ = segloss.compute(nh, np.ascontiguousarray(t.numpy().transpose(0, 2, 3, 1)), layout="nhwc", **kw)
    assert c.shape == (2, 8, 8, 3) and np.allclose(c.transpose(0, 3, 1, 2), b, rtol=2e-6, atol=1e-7)


# ---- targets and what is refused ----------------------------------------------------------------
def test_targets_under_softmax_are_refused():
    shape = (2, 3, 8, 8)
    x = logits(shape, 25)
    with pytest.raises(ValueError, match="activation='sigmoid'.*argmax"):
        SegLoss()(x, soft_targets(shape))
    with pytest.raises(ValueError, match="activation='sigmoid'.*argmax"):
        SegLoss()(x, masks(shape))
    with pytest.raises(ValueError, match="activation='sigmoid'"):
        segloss.compute(x.numpy(), soft_targets(shape).numpy())
    with pytest.raises(TypeError, match=r"uint8 or bool.*\.to\(torch\.uint8\)"):
        SegLoss(activation="sigmoid")(x, masks(shape).long())
    with pytest.raises(ValueError, match="logits' shape"):
        SegLoss(activation="sigmoid")(x, soft_targets((2, 4, 8, 8)))
    with pytest.raises(NotImplementedError, match=r"target\.detach\(\)"):
        SegLoss(activation="sigmoid")(x, soft_targets(shape).requires_grad_())


def test_weight_map_checks():
    shape = (2, 3, 8, 8)
    x, y = logits(shape), labels(shape)
    with pytest.raises(TypeError, match="float32"):
        SegLoss()(x, y, weight_map=torch.ones(2, 8, 8, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"one weight per position: shape \(2, 8, 8\)"):
        SegLoss()(x, y, weight_map=torch.ones(2, 3, 8, 8))
    with pytest.raises(NotImplementedError, match=r"weight_map\.detach\(\)"):
        SegLoss()(x, y, weight_map=torch.ones(2, 8, 8, requires_grad=True))
    a = SegLoss()(x, y, weight_map=torch.ones(2, 1, 8, 8))  # with a size-1 class axis
    b = SF.ce_loss(x, y, weight_map=torch.ones(2, 8, 8))
    assert float(a) == float(b)
    m = torch.ones(2, 8, 8)
    for bad in (-1.0, float("nan"), float("inf")):
        m[1, 2, 3] = bad
        with pytest.raises(segloss.Error, match=r"weight_map %s at \[n=1, h=2, w=3\]" % bad) as e:
            SegLoss()(x, y, weight_map=m)
        assert e.value.position == (1, 2, 3) and e.value.status_name == "SEGLOSS_ERR_WEIGHTS"
        with pytest.raises(segloss.Error, match=r"at \[n=1, h=2, w=3\]"):
            segloss.compute(x.numpy(), y.numpy(), weight_map=m.numpy())


def test_targets_in_channels_last_memory():
    """Per-element targets lie as the logits do: contiguous targets for channels_last logits
    are put in NHWC order (and the other way round); the results agree."""
    shape = (2, 3, 8, 8)
    x, t = logits(shape, 26), soft_targets(shape, 26)
    kw = dict(loss_type="dice", activation="sigmoid")
    a, ga = ours(kw, x, t)
    b, gb = ours(kw, x, t, memory=torch.channels_last)
    c, gc = ours(kw, x, t.contiguous(memory_format=torch.channels_last))
    assert abs(a - b) <= 1e-6 * abs(a) and abs(a - c) <= 1e-6 * abs(a)
    assert float((ga - gb).abs().max()) <= 1e-6 * float(ga.abs().max())
    assert torch.equal(ga, gc)


@pytest.mark.parametrize("kw", [dict(loss_type="dice", activation="sigmoid", per_sample=True),
                                dict(loss_type="generalized_dice"),
                                dict(loss_type="focal_dice", activation="sigmoid")])
def test_two_phase_with_targets_and_weight_map(kw):
    """Slices of whole samples through accumulate / finish / backward, each with its part of
    the weight map, give compute's loss and gradient."""
    shape = (4, 3, 8, 8)
    x, wm = logits(shape, 28).numpy(), weight_map(shape, 28).numpy()
    t = soft_targets(shape, 28).numpy() if kw.get("activation") == "sigmoid" else labels(shape, 28).numpy()
    loss, grad = segloss.compute(x, t, weight_map=wm, **kw)
    st = segloss.Stats(4, 3, **kw)
    for k in (0, 2):
        segloss.accumulate(st, x[k:k + 2], t[k:k + 2], first_sample=k, weight_map=wm[k:k + 2])
    assert abs(float(segloss.finish(st)) - float(loss)) <= 1e-6 * abs(float(loss))
    for k in (0, 2):
        g = segloss.backward(st, x[k:k + 2], t[k:k + 2], first_sample=k, weight_map=wm[k:k + 2])
        assert np.allclose(g, grad[k:k + 2], rtol=1e-5, atol=1e-7 * np.abs(grad).max())


def test_config_keywords_round_trip():
    c = segloss.Config(loss_type="ce", activation="sigmoid", focal_alpha=None, pos_weight=[1.0, 2.0],
                       label_smoothing=0.0, reduction="none")
    assert c.activation == "sigmoid" and c.focal_alpha is None and c.pos_weight == (1.0, 2.0)
    assert c.reduction == "none"
    assert segloss.Config(**c.to_kwargs(full=True)) == c
    assert eval("segloss." + repr(c)) == c
    import pickle
    assert pickle.loads(pickle.dumps(c)) == c
    assert "generalized_dice" in segloss.LOSS_TYPES
    assert "generalized_dice" in str(SegLoss(loss_type="generalized_dice"))  # print(criterion) works


def test_functional_weights_are_taken_by_value():
    """The functional API caches configurations; a weight tensor changed in place must not hit
    the configuration of its old values."""
    needs("the sigmoid CE family without a gradient")
    shape = (2, 3, 8, 8)
    x, t = logits(shape, 27), soft_targets(shape, 27)
    pw = torch.tensor([1.0, 2.0, 3.0])
    a = SF.binary_cross_entropy_with_logits(x, t, pos_weight=pw)
    pw.mul_(4.0)
    b = SF.binary_cross_entropy_with_logits(x, t, pos_weight=pw)
    ref = F.binary_cross_entropy_with_logits(x.double(), t.double(), pos_weight=pw.double().view(1, 3, 1, 1))
    assert float(a) != float(b) and abs(float(b) - float(ref)) <= 1e-6 * float(ref)


def _table():
    print("| mode | cases | max loss (terms) error | max grad error / max grad |")
    print("|---|---:|---:|---:|")
    for mode in sorted(ERRORS):
        le, ge, k = ERRORS[mode]
        print("| %s | %d | %.1e | %.1e |" % (mode, k, le, ge))


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    rc = pytest.main([os.path.join(here, "test_modes.py"), "-q", "-p", "no:cacheprovider"] + sys.argv[1:])
    import test_modes  # the module pytest ran (the same object: sys.modules)
    test_modes._table()
    sys.exit(rc)
