"""segloss.torch: the module, the guide's keywords, autograd, layouts, dtypes, no-copy paths."""
import copy
import pickle

import pytest
import torch

import segloss
import segloss.torch.functional as SF
from segloss import _ffi
from segloss.torch import SegLoss

import parity
import reference

# The loss guide's snippets, verbatim (comments and trailing commas included), and the values
# its lists recommend: each pasted between SegLoss( and ) must work, and as text through
# SegLoss.from_config.
GUIDE_SNIPPETS = [
    "loss_type='ce',\n",
    "loss_type='weighted_ce',\nuse_class_weighting=True,  # Enables automatic class weight calculation\n",
    "loss_type='focal',\n"
    "focal_gamma=2.0,  # Standard value, increase for more focus on hard examples\n"
    "use_class_weighting=True,  # Optional: combine with class weights\n",
    "loss_type='dice',\ndice_smooth=1.0,  # Smoothing constant (Laplace smoothing)\n",
    "loss_type='focal_dice',\n"
    "focal_gamma=2.0,        # Focusing parameter\n"
    "focal_weight=0.5,       # Weight for focal component\n"
    "dice_weight=0.5,        # Weight for dice component\n"
    "dice_smooth=1.0,        # Dice smoothing\n"
    "use_class_weighting=True,  # Apply class weights to focal loss\n",
    "loss_type='tversky',\n"
    "tversky_alpha=0.7,  # Weight for False Positives\n"
    "tversky_beta=0.3,   # Weight for False Negatives\n"
    "dice_smooth=1.0,\n",
    "loss_type='focal',\nfocal_gamma=2.0,\nuse_class_weighting=True,\n",
    "loss_type='focal_dice',\nfocal_gamma=2.0,\nfocal_weight=0.5,\ndice_weight=0.5,\ndice_smooth=1.0,\n"
    "use_class_weighting=True,\n",
    "loss_type='tversky',\ntversky_alpha=0.7,  # Penalize FP more\ntversky_beta=0.3,   # Penalize FN less\n"
    "dice_smooth=1.0,\n",
    # recommended values and troubleshooting lines
    "loss_type='focal', gamma=0.0", "loss_type='focal', gamma=3.0", "loss_type='focal', focal_gamma=5.0",
    "loss_type='dice', smooth=0.1", "loss_type='dice', smooth=10.0", "loss_type='dice', dice_smooth=10.0",
    "loss_type='focal_dice', focal_weight=0.3, dice_weight=0.7",
    "loss_type='focal_dice', focal_weight=0.7, dice_weight=0.3",
    "loss_type='tversky', alpha=0.5, beta=0.5", "loss_type='tversky', alpha=0.3, beta=0.7",
    "loss_type='tversky', alpha=1.0, beta=1.0",
]


@pytest.mark.parametrize("snippet", GUIDE_SNIPPETS)
def test_guide_snippets_as_keywords_and_text(snippet):
    m = eval("SegLoss(" + snippet + ")")  # pasted as keyword arguments
    t = SegLoss.from_config(snippet)      # the same text through segloss_config_parse
    assert m.config == t.config
    x, y = parity.make_batch(seed=1)
    ours = float(m(x, y))
    kw = eval("dict(" + snippet + ")")
    ref = reference.loss(x.double(), y, **kw)
    assert abs(ours - float(ref)) <= 2e-6 * max(1.0, abs(float(ref)))  # float32 tensor


def test_defaults_are_the_guides():
    c = SegLoss().config
    assert c.loss_type == "ce" and c.ignore_index == -100 and c.reduction == "mean"
    c = SegLoss(loss_type="focal_dice").config
    assert (c.focal_gamma, c.focal_weight, c.dice_weight, c.dice_smooth) == (2.0, 0.5, 0.5, 1.0)
    assert c.include_background and not c.per_sample and not c.use_class_weighting and not c.check_finite
    assert SegLoss(loss_type="weighted_ce").config.use_class_weighting
    c = SegLoss(loss_type="tversky").config
    assert abs(c.tversky_alpha - 0.7) < 1e-7 and abs(c.tversky_beta - 0.3) < 1e-7


def test_print_gives_the_configuration_block():
    m = SegLoss(loss_type="focal_dice", focal_gamma=2.0, focal_weight=0.5, dice_weight=0.5, dice_smooth=1.0,
                use_class_weighting=True)
    assert str(m) == ("Loss Configuration:\n  - Loss type: focal_dice\n  - Focal gamma: 2.0\n"
                      "  - Focal weight: 0.5\n  - Dice weight: 0.5\n  - Dice smooth: 1.0")
    assert m.format(weights=[1.25, 10.0, 14.3, 33.3]).endswith("  - Class weights: [1.25 10.0 14.3 33.3]\n")
    assert repr(m) == ("SegLoss(loss_type='focal_dice', focal_gamma=2.0, focal_weight=0.5, dice_weight=0.5, "
                       "dice_smooth=1.0, use_class_weighting=True)")
    # repr round-trips, inside a model too
    assert eval(repr(m)).config == m.config
    assert "SegLoss(loss_type='tversky'" in repr(torch.nn.Sequential(SegLoss(loss_type="tversky")))
    # the printout parses back
    assert SegLoss.from_config(str(SegLoss(loss_type="tversky", alpha=0.3, beta=0.7))).config == \
        SegLoss(loss_type="tversky", alpha=0.3, beta=0.7).config


def test_from_config_errors_name_the_key():
    with pytest.raises(segloss.Error, match="focal_gama") as e:
        SegLoss.from_config("loss_type='focal', focal_gama=2.0")
    assert e.value.status_name == "SEGLOSS_ERR_PARSE"
    with pytest.raises(segloss.Error, match="bad value"):
        SegLoss.from_config("loss_type='focal', focal_gamma=abc")
    w = SegLoss.from_config("loss_type='weighted_ce'", class_weights=[1, 2, 3, 4])
    assert w.config.class_weights == (1.0, 2.0, 3.0, 4.0)


@pytest.mark.parametrize("label_dtype", [torch.uint8, torch.int32, torch.int64])
def test_label_dtypes_zero_copy(monkeypatch, label_dtype):
    """The logits, labels and gradient buffers that reach C are the tensors' own."""
    seen = []
    real = _ffi.compute

    def spy(cfg, inp, grad, res):
        i = inp._obj  # the segloss_input behind ctypes.byref
        seen.append((i.logits, i.labels, i.label_type, i.layout, grad))
        return real(cfg, inp, grad, res)

    monkeypatch.setattr(_ffi, "compute", spy)
    ignore = 255 if label_dtype == torch.uint8 else -100
    x, y = parity.make_batch(seed=2, ignore=ignore, label_dtype=label_dtype)
    xg = x.clone().requires_grad_()
    hooked = []
    xg.register_hook(lambda g: hooked.append(g.data_ptr()))
    m = SegLoss(loss_type="focal_dice", ignore_index=ignore)
    m(xg, y).backward()
    (lp, yp, lt, lay, gp), = seen
    assert lp == xg.data_ptr() and yp == y.data_ptr() and lay == _ffi.NCHW
    assert lt == {torch.uint8: 0, torch.int32: 1, torch.int64: 2}[label_dtype]
    assert hooked == [gp] and xg.grad.data_ptr() == gp  # handed over: no copy in backward either
    ref = reference.loss(x.double(), y, loss_type="focal_dice", ignore_index=ignore)
    assert abs(float(m.last_result) - float(ref)) <= 1e-6 * float(ref)


@pytest.mark.parametrize("shape,fmt", [((2, 4, 8, 12), torch.channels_last),
                                       ((2, 4, 3, 8, 6), torch.channels_last_3d)])
def test_channels_last_goes_nhwc_without_copy(monkeypatch, shape, fmt):
    seen = []
    real = _ffi.compute
    monkeypatch.setattr(_ffi, "compute", lambda cfg, inp, g, res: seen.append((inp._obj.logits, inp._obj.layout, g))
                        or real(cfg, inp, g, res))
    x, y = parity.make_batch(shape, seed=8)
    xc = x.contiguous(memory_format=fmt).requires_grad_()
    m = SegLoss(loss_type="dice")
    m(xc, y).backward()
    assert seen[0][0] == xc.data_ptr() and seen[0][1] == _ffi.NHWC and seen[0][2] == xc.grad.data_ptr()
    assert xc.grad.is_contiguous(memory_format=fmt)
    _, ref_grad = reference.loss_and_grad(x, y, loss_type="dice")
    assert float((xc.grad.double() - ref_grad).abs().max()) <= 1e-6 * float(ref_grad.abs().max())


def test_non_contiguous_logits_are_copied_once():
    x, y = parity.make_batch((2, 4, 16, 32), seed=9)
    xs = x[..., ::2]  # strided: neither NCHW nor NHWC
    xg = xs.detach().clone().requires_grad_()
    xv = x.clone().requires_grad_()
    loss = SegLoss(loss_type="tversky")(xv[..., ::2], y[..., ::2])
    loss.backward()
    ref_loss, ref_grad = reference.loss_and_grad(xg, y[..., ::2], loss_type="tversky")
    assert abs(float(loss) - ref_loss) <= 1e-6 * ref_loss
    assert float((xv.grad[..., ::2].double() - ref_grad).abs().max()) <= 1e-6 * float(ref_grad.abs().max())
    assert float(xv.grad[..., 1::2].abs().max()) == 0.0


def test_target_with_channel_axis_and_no_spatial_axes():
    x, y = parity.make_batch(seed=10)
    a = SF.dice_loss(x, y)
    b = SF.dice_loss(x, y.unsqueeze(1))  # (N, 1, H, W), MONAI style
    assert float(a) == float(b)
    x2 = torch.randn(64, 5)
    y2 = torch.randint(0, 5, (64,))
    assert abs(float(SF.ce_loss(x2, y2)) - float(torch.nn.functional.cross_entropy(x2.double(), y2))) < 1e-6


@pytest.mark.parametrize("scale", [1.0, 0.25, 3.0])
def test_backward_scales_by_grad_output(scale):
    x, y = parity.make_batch(seed=11)
    a = x.clone().requires_grad_()
    b = x.clone().requires_grad_()
    SF.focal_dice_loss(a, y).backward()
    (SF.focal_dice_loss(b, y) * scale).backward()
    assert torch.equal(b.grad, a.grad * scale) or float((b.grad - a.grad * scale).abs().max()) <= 1e-7


def test_backward_inside_a_bigger_graph():
    """A loss summed with others and scaled: grad_output != 1 flows through."""
    x, y = parity.make_batch(seed=12)
    z = x.double()
    conv = torch.nn.Conv2d(4, 4, 3, padding=1)
    inp = x.clone()
    out = conv(inp)
    m1, m2 = SegLoss(loss_type="dice"), SegLoss(loss_type="ce")
    total = 0.7 * m1(out, y) + 0.3 * m2(out, y)
    total.backward()
    g_ours = conv.weight.grad.clone()
    conv.zero_grad()
    out64 = conv.double()(inp.double())
    (0.7 * reference.loss(out64, y, loss_type="dice") + 0.3 * reference.loss(out64, y, loss_type="ce")).backward()
    assert float((g_ours.double() - conv.weight.grad).abs().max()) <= 2e-5 * float(conv.weight.grad.abs().max())
    del z


def test_second_backward_is_refused():
    x, y = parity.make_batch(seed=13)
    xg = x.clone().requires_grad_()
    loss = SF.dice_loss(xg, y)
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="second time"):
        loss.backward()


def test_no_grad_and_no_requires_grad_compute_the_loss_only(monkeypatch):
    grads = []
    real = _ffi.compute
    monkeypatch.setattr(_ffi, "compute", lambda cfg, inp, g, res: grads.append(g) or real(cfg, inp, g, res))
    x, y = parity.make_batch(seed=14)
    m = SegLoss(loss_type="focal")
    a = m(x, y)
    with torch.no_grad():
        b = m(x.clone().requires_grad_(), y)
    assert grads == [None, None] and a.grad_fn is None and b.grad_fn is None and float(a) == float(b)


def test_gradient_buffers_are_reused_only_when_free():
    x, y = parity.make_batch(seed=15)
    m = SegLoss(loss_type="ce")
    xg = x.clone().requires_grad_()
    m(xg, y).backward()
    first = xg.grad.data_ptr()
    kept = xg.grad                 # still referenced: must not be handed out again
    xg.grad = None
    m(xg, y).backward()
    assert xg.grad.data_ptr() != first
    assert torch.equal(kept, xg.grad)
    del kept
    second = xg.grad.data_ptr()
    xg.grad = None                 # both free now: the next call reuses one of them
    m(xg, y).backward()
    assert xg.grad.data_ptr() in (first, second)
    view = xg.grad[0]              # a view keeps the storage alive too
    xg.grad = None
    before = view.clone()
    m(xg, y).backward()
    assert torch.equal(view, before)


def test_copies_and_pickles():
    m = SegLoss(loss_type="focal", focal_gamma=3.0, class_weights=[1, 2, 3, 4])
    x, y = parity.make_batch(seed=16)
    m(x.clone().requires_grad_(), y).backward()
    for m2 in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        assert m2.config == m.config
        assert float(m2(x, y)) == float(m(x, y))


def test_functional_matches_module():
    x, y = parity.make_batch(seed=17)
    for name, kw in parity.GUIDE.items():
        f = getattr(SF, name + "_loss")
        kw = {k: v for k, v in kw.items() if k != "loss_type"}
        assert float(f(x, y, **kw)) == float(SegLoss(loss_type=name, **kw)(x, y))
        assert float(SF.seg_loss(x, y, name, **kw)) == float(f(x, y, **kw))


def test_finite_differences():
    """Our float32 gradient against central differences of our loss (the double segloss
    returns), eps 2^-7, at 40 coordinates of a small batch, for every loss."""
    g = torch.Generator().manual_seed(18)
    x, y = parity.make_batch((2, 3, 5, 6), seed=18, scale=1.5)
    for kw in list(parity.GUIDE.values()) + [dict(loss_type="dice", per_sample=True, include_background=False)]:
        m = SegLoss(**kw)
        xg = x.clone().requires_grad_()
        m(xg, y).backward()
        idx = torch.randint(0, x.numel(), (40,), generator=g)
        eps = 2.0 ** -7
        for i in idx.tolist():
            xp, xm = x.clone(), x.clone()
            xp.view(-1)[i] += eps
            xm.view(-1)[i] -= eps
            m(xp, y)
            lp = float(m.last_result)
            m(xm, y)
            lm = float(m.last_result)
            fd = (lp - lm) / (2 * eps)
            an = float(xg.grad.view(-1)[i])
            # O(eps^2) truncation + float32 rounding of the loss over 2 eps
            assert abs(fd - an) <= 2e-4 * float(xg.grad.abs().max()) + 1e-3 * abs(an), (kw, i, fd, an)


def test_threads_docstring():
    import segloss.torch as st
    # issue 16/18: the module runs on torch.get_num_threads() threads unless set_threads fixed a count
    assert "torch.get_num_threads()" in st.__doc__ and "set_threads" in st.__doc__
    assert "torch.get_num_threads()" in segloss.__doc__ and "same bits" in segloss.__doc__


def test_readme_from_pytorch_snippet_runs():
    """The README's "From PyTorch" example, as written, with logits and target defined."""
    import os
    import re
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    text = open(os.path.join(root, "README.md"), encoding="utf-8").read()
    section = text.split("## From PyTorch", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    x, y = parity.make_batch(seed=19)
    scope = {"logits": x.clone().requires_grad_(), "target": y}
    exec(code, scope)
    assert scope["logits"].grad is not None and float(scope["loss"]) > 0


def test_threads_share_a_module():
    """Eight Python threads call one SegLoss at once (the GIL is released in C): every
    gradient is its own and right."""
    import threading
    m = SegLoss(loss_type="focal_dice")
    x, y = parity.make_batch((2, 4, 32, 32), seed=20)
    _, ref = reference.loss_and_grad(x, y, loss_type="focal_dice")
    errors, grads = [], []

    def work():
        try:
            for _ in range(10):
                xg = x.clone().requires_grad_()
                m(xg, y).backward()
                grads.append(xg.grad)
                assert float((xg.grad.double() - ref).abs().max()) <= 1e-6 * float(ref.abs().max())
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    ts = [threading.Thread(target=work) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors
    assert len({g.data_ptr() for g in grads}) == len(grads)  # all kept alive: all distinct buffers
