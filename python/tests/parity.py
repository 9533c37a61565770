"""Parity of segloss.torch with the float64 torch-op references (reference.py).

    PYTHONPATH=python python3 python/tests/parity.py      # the table in docs/python.md

Each case runs SegLoss(**kwargs)(x, y).backward() on float32 logits and compares the loss with
the float64 reference (relative error) and the gradient with the float64 autograd gradient (the
largest absolute difference over the largest absolute entry of the reference gradient: the
measure of section 7 of segloss.h; elementwise relative error is meaningless where entries are
near 0). test_parity.py asserts the bounds on the same cases.
"""
import itertools
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference  # noqa: E402

GUIDE = {  # the loss guide's snippets
    "ce": dict(loss_type="ce"),
    "weighted_ce": dict(loss_type="weighted_ce", use_class_weighting=True),
    "focal": dict(loss_type="focal", focal_gamma=2.0, use_class_weighting=True),
    "dice": dict(loss_type="dice", dice_smooth=1.0),
    "focal_dice": dict(loss_type="focal_dice", focal_gamma=2.0, focal_weight=0.5, dice_weight=0.5,
                       dice_smooth=1.0, use_class_weighting=True),
    "tversky": dict(loss_type="tversky", tversky_alpha=0.7, tversky_beta=0.3, dice_smooth=1.0),
}
DICE_LIKE = ("dice", "focal_dice", "tversky")


def make_batch(shape=(3, 4, 16, 16), seed=0, ignore=None, scale=2.0, label_dtype=torch.int64):
    """Logits N(0, scale^2) and labels ~80/10/7/3 % (4 classes; others spread), 5 % set to
    ignore when given."""
    g = torch.Generator().manual_seed(seed)
    n, c = shape[:2]
    x = torch.randn(*shape, generator=g) * scale
    u = torch.rand(n, *shape[2:], generator=g)
    edges = [0.80, 0.90, 0.97] if c == 4 else [k / c for k in range(1, c)]
    y = torch.zeros(n, *shape[2:], dtype=torch.int64)
    for k, e in enumerate(edges):
        y[u >= e] = k + 1
    if ignore is not None:
        y[torch.rand(y.shape, generator=g) < 0.05] = ignore
    return x, y.to(label_dtype)


def cases():
    """(name, kwargs, shape, memory) for every loss and variant the parity table lists."""
    out = []
    for name, kw in GUIDE.items():
        out.append((name, dict(kw), (3, 4, 16, 16), "nchw"))
        out.append((name + " sum", dict(kw, reduction="sum"), (3, 4, 16, 16), "nchw"))
        out.append((name + " ignore", dict(kw, ignore_index=-100), (3, 4, 16, 16), "ignore"))
        if name in ("ce", "focal", "focal_dice"):
            out.append((name + " class_weights", dict(kw, class_weights=[0.5, 2.0, 3.0, 7.5]), (3, 4, 16, 16), "nchw"))
        if name in DICE_LIKE:
            for ps, ib, red in itertools.product((False, True), (False, True), ("mean", "sum")):
                if not ps and ib and red == "mean":
                    continue  # the plain case above
                out.append(("%s per_sample=%d include_background=%d %s" % (name, ps, ib, red),
                            dict(kw, per_sample=ps, include_background=ib, reduction=red), (3, 4, 16, 16), "nchw"))
        out.append((name + " channels_last", dict(kw), (3, 4, 16, 16), "channels_last"))
        out.append((name + " 3-D", dict(kw), (2, 3, 4, 8, 8), "nchw"))
        out.append((name + " 3-D channels_last_3d", dict(kw), (2, 3, 4, 8, 8), "channels_last_3d"))
    out.append(("focal gamma=0.5", dict(loss_type="focal", focal_gamma=0.5), (3, 4, 16, 16), "nchw"))
    out.append(("focal gamma=5", dict(loss_type="focal", focal_gamma=5.0), (3, 4, 16, 16), "nchw"))
    out.append(("tversky alpha=0.3 beta=0.7", dict(loss_type="tversky", tversky_alpha=0.3, tversky_beta=0.7),
                (3, 4, 16, 16), "nchw"))
    out.append(("dice smooth=0", dict(loss_type="dice", dice_smooth=0.0), (3, 4, 16, 16), "nchw"))
    return out


def run_case(kwargs, shape, memory, seed=0):
    """(our loss as a double, reference loss, loss rel. error, grad error / max |grad|)."""
    from segloss.torch import SegLoss
    ignore = -100 if memory == "ignore" else None
    x, y = make_batch(shape, seed=seed, ignore=ignore)
    if memory == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    elif memory == "channels_last_3d":
        x = x.contiguous(memory_format=torch.channels_last_3d)
    ref_loss, ref_grad = reference.loss_and_grad(x, y, **kwargs)
    xg = x.detach().clone(memory_format=torch.preserve_format).requires_grad_()
    m = SegLoss(**kwargs)
    out = m(xg, y)
    out.backward()
    ours = float(m.last_result)
    loss_err = abs(ours - ref_loss) / max(abs(ref_loss), 1e-30)
    grad_err = float((xg.grad.double() - ref_grad).abs().max() / ref_grad.abs().max().clamp(min=1e-300))
    return ours, ref_loss, loss_err, grad_err


def main():
    rows = []
    worst = {}
    for name, kw, shape, memory in cases():
        ours, ref, le, ge = run_case(kw, shape, memory)
        rows.append((name, ref, le, ge))
        base = name.split()[0]
        w = worst.setdefault(base, [0.0, 0.0, 0])
        w[0], w[1], w[2] = max(w[0], le), max(w[1], ge), w[2] + 1
    if "-v" in sys.argv:
        print("| case | loss (float64 ref.) | rel. loss error | grad error / max grad |")
        print("|---|---:|---:|---:|")
        for name, ref, le, ge in rows:
            print("| %s | %.6f | %.1e | %.1e |" % (name, ref, le, ge))
        print()
    print("| loss | cases | max rel. loss error | max grad error / max grad |")
    print("|---|---:|---:|---:|")
    for base, (le, ge, k) in worst.items():
        print("| %s | %d | %.1e | %.1e |" % (base, k, le, ge))


if __name__ == "__main__":
    main()
