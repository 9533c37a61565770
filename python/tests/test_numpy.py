"""The NumPy API: compute, layouts, the two-phase API, weights, confusion, metrics, advice."""
import math
import pickle

import numpy as np
import pytest

import segloss
from segloss import _ffi

import parity
import reference


def batch(shape=(4, 4, 8, 12), seed=0, ignore=None):
    x, y = parity.make_batch(shape, seed=seed, ignore=ignore)
    return x.numpy(), y.numpy()


def test_loss_is_a_float_with_the_terms():
    x, y = batch()
    loss, grad = segloss.compute(x, y, loss_type="focal_dice", focal_weight=0.25, dice_weight=0.75)
    assert isinstance(loss, float) and isinstance(loss, segloss.Loss)
    assert math.isclose(float(loss), 0.25 * loss.ce_term + 0.75 * loss.dice_term, rel_tol=1e-12)
    assert loss.valid == y.size and grad.shape == x.shape
    assert pickle.loads(pickle.dumps(loss)).dice_term == loss.dice_term
    only, none = segloss.compute(x, y, loss_type="focal_dice", focal_weight=0.25, dice_weight=0.75, grad=False)
    assert none is None and abs(only - loss) <= 1e-6 * loss


def test_config_forms_agree():
    x, y = batch()
    kw = dict(loss_type="tversky", tversky_alpha=0.3, tversky_beta=0.7)
    a = segloss.compute(x, y, **kw)[0]
    b = segloss.compute(x, y, kw)[0]
    c = segloss.compute(x, y, segloss.Config(**kw))[0]
    d = segloss.compute(x, y, "loss_type='tversky', alpha=0.3, beta=0.7")[0]
    assert a == b == c == d


def test_nhwc_layouts_and_views():
    x, y = batch()
    ref, gref = segloss.compute(x, y, loss_type="dice")
    xn = np.ascontiguousarray(x.transpose(0, 2, 3, 1))      # (N, H, W, C) in memory
    l1, g1 = segloss.compute(xn, y, loss_type="dice", layout="nhwc")
    assert g1.shape == xn.shape and g1.flags.c_contiguous
    l2, g2 = segloss.compute(xn.transpose(0, 3, 1, 2), y, loss_type="dice")  # NCHW shape, NHWC memory
    assert g2.shape == x.shape and g2.base is not None and np.moveaxis(g2, 1, -1).flags.c_contiguous
    for lv, g in ((l1, g1.transpose(0, 3, 1, 2)), (l2, g2)):
        assert abs(lv - ref) <= 1e-6 * ref
        assert np.abs(g - gref).max() <= 1e-6 * np.abs(gref).max()
    # neither order: one copy, same answer
    l3, g3 = segloss.compute(np.asfortranarray(x), y, loss_type="dice")
    assert abs(l3 - ref) <= 1e-6 * ref and np.abs(g3 - gref).max() <= 1e-6 * np.abs(gref).max()


def test_grad_into_a_buffer_and_in_place():
    x, y = batch()
    _, gref = segloss.compute(x, y, loss_type="focal")
    out = np.empty_like(x)
    _, g = segloss.compute(x, y, loss_type="focal", grad=out)
    assert g is out and np.array_equal(out, gref)
    xi = x.copy()
    _, g = segloss.compute(xi, y, loss_type="focal", grad=xi)  # the logits become the gradient
    assert np.shares_memory(g, xi) and np.array_equal(xi, gref)


def test_torch_tensors_are_accepted_without_copy():
    import torch
    x, y = parity.make_batch(seed=1)
    xr = x.clone().requires_grad_()
    loss, g = segloss.compute(xr, y)  # detached, viewed
    assert isinstance(g, np.ndarray)
    conf = segloss.confusion(x, y)
    assert conf.sum() == y.numel()
    del torch


@pytest.mark.parametrize("loss_type", parity.GUIDE)
@pytest.mark.parametrize("per_sample", [False, True])
def test_two_phase_equals_one_call(loss_type, per_sample):
    """Slices of whole samples, accumulated in any order, then finish and backward per slice."""
    x, y = batch((5, 4, 6, 10), seed=2, ignore=-100)
    kw = dict(parity.GUIDE[loss_type], per_sample=per_sample)
    loss, grad = segloss.compute(x, y, **kw)
    st = segloss.Stats(5, 4, **kw)
    assert st.sum.size == segloss.stats_len(5, 4, **kw)
    for lo, hi in ((3, 5), (0, 2), (2, 3)):
        segloss.accumulate(st, x[lo:hi], y[lo:hi], first_sample=lo)
    total = segloss.finish(st)
    assert abs(total - loss) <= 1e-6 * abs(loss) and total.valid == loss.valid
    g = np.concatenate([segloss.backward(st, x[lo:hi], y[lo:hi], lo) for lo, hi in ((0, 2), (2, 3), (3, 5))])
    assert np.abs(g - grad).max() <= 1e-6 * np.abs(grad).max()


def test_two_phase_sum_across_workers():
    """Two workers' statistics added element-wise (what all_reduce does) give the batch loss."""
    x, y = batch((4, 4, 6, 10), seed=3)
    loss, _ = segloss.compute(x, y, loss_type="dice")
    a, b = segloss.Stats(4, 4, loss_type="dice"), segloss.Stats(4, 4, loss_type="dice")
    segloss.accumulate(a, x[:2], y[:2], 0)
    segloss.accumulate(b, x[2:], y[2:], 2)
    a.sum += b.sum
    assert abs(segloss.finish(a) - loss) <= 1e-6 * loss


def test_two_phase_errors():
    x, y = batch((4, 4, 6, 10), seed=3)
    st = segloss.Stats(4, 4, loss_type="dice")
    with pytest.raises(ValueError, match="does not fit a batch of 4"):
        segloss.accumulate(st, x[:2], y[:2], first_sample=3)
    with pytest.raises(ValueError, match="C = 3 classes, the statistics 4"):
        segloss.accumulate(st, x[:, :3], y, 0)
    yb = y.copy()
    yb[1, 2, 3] = 4
    with pytest.raises(segloss.Error, match=r"label 4 at \[n=1, h=2, w=3\]"):
        segloss.accumulate(st, x, yb, 0)
    assert not st.sum.any()  # nothing added
    with pytest.raises(ValueError, match="float64"):
        st.sum = st.sum.astype(np.float32)
        segloss.finish(st)


def test_label_histogram_and_class_weights():
    y = np.array([[0] * 80 + [1] * 10 + [2] * 7 + [3] * 3 + [255] * 5], dtype=np.uint8)
    counts = segloss.label_histogram(y, 4, ignore_index=255)
    assert counts.tolist() == [80, 10, 7, 3]
    segloss.label_histogram(y, 4, ignore_index=255, out=counts)  # accumulates
    assert counts.tolist() == [160, 20, 14, 6]
    n = np.array([80, 10, 7, 3], dtype=np.float64)
    np.testing.assert_allclose(segloss.class_weights(counts // 2), (100 / n).astype(np.float32))
    np.testing.assert_allclose(segloss.class_weights([80, 10, 7, 3], "inv_sqrt"), np.sqrt(100 / n), rtol=1e-6)
    np.testing.assert_allclose(segloss.class_weights([80, 10, 7, 3], "median"), 8.5 / n, rtol=1e-6)
    b = 0.9999
    eff = (1 - b) / (1 - b ** n)
    np.testing.assert_allclose(segloss.class_weights([80, 10, 7, 3], "effective"), eff * 4 / eff.sum(), rtol=1e-6)
    assert segloss.class_weights([5, 0, 5]).tolist() == [2.0, 0.0, 2.0]
    # the guide's printout of 80/10/7/3 %
    w = segloss.class_weights([80, 10, 7, 3])
    assert segloss.format_config(loss_type="weighted_ce", weights=w).endswith(
        "  - Class weights: [1.25 10.0 14.3 33.3]\n")


def test_weights_for():
    x, y = batch(seed=4)
    auto = reference.auto_weights(__import__("torch").from_numpy(y), 4, -100).numpy()
    np.testing.assert_allclose(segloss.weights_for(y, 4, loss_type="weighted_ce"), auto, rtol=1e-7)
    assert segloss.weights_for(y, 4, loss_type="ce").tolist() == [1, 1, 1, 1]
    assert segloss.weights_for(y, 4, loss_type="dice", use_class_weighting=True).tolist() == [1, 1, 1, 1]
    assert segloss.weights_for(y, 4, loss_type="focal", class_weights=[1, 2, 3, 4]).tolist() == [1, 2, 3, 4]


def test_confusion_and_metrics():
    x, y = batch(seed=5, ignore=-100)
    conf = segloss.confusion(x, y)
    pred = x.argmax(1)
    v = y != -100
    ref = np.zeros((4, 4), np.int64)
    np.add.at(ref, (y[v], pred[v]), 1)
    assert np.array_equal(conf, ref)
    segloss.confusion(x, y, out=conf)
    assert np.array_equal(conf, 2 * ref)
    m = segloss.metrics(ref, names=["bg", "er", "mito", "nuc"])
    tp = np.diag(ref)
    np.testing.assert_allclose(m.recall, tp / ref.sum(1))
    np.testing.assert_allclose(m.precision, tp / ref.sum(0))
    np.testing.assert_allclose(m.iou, tp / (ref.sum(1) + ref.sum(0) - tp))
    assert math.isclose(m.mean_iou, float(np.mean(m.iou)))
    lines = str(m).splitlines()
    assert lines[0] == "Class    Val Recall  Val Precision  Val IoU" and lines[2].startswith("bg ")
    assert len(lines) == 6
    m2 = segloss.metrics(logits=x, labels=y)
    assert np.array_equal(m2.tp, m.tp) and "class 3" in m2.table
    # channels-last memory gives the same counts
    assert np.array_equal(segloss.confusion(np.ascontiguousarray(x.transpose(0, 2, 3, 1)), y, layout="nhwc"), ref)


def test_metrics_flags_over_prediction():
    conf = np.array([[90, 10], [1, 9]])  # class 1: recall 0.9, precision 0.47
    t = segloss.metrics(conf, names=["bg", "mito"]).table
    assert "mito" in t and "Over-predicting (high recall, low precision)" in t


def test_advise():
    a = segloss.advise(counts=[80, 10, 7, 3])
    assert a.config.loss_type == "weighted_ce" and "imbalance" in a.reason
    assert a.kwargs["use_class_weighting"] is True
    conf = np.array([[900, 60, 40], [10, 80, 10], [5, 5, 90]])
    a = segloss.advise(counts=[1000, 100, 100], metrics=segloss.metrics(conf), current={"loss_type": "focal"})
    assert a.config.loss_type == "focal" and a.config.focal_gamma == 3.0 and "raise focal_gamma" in a.reason
    a = segloss.advise(current="loss_type='dice'", diverged=True)
    assert a.config.dice_smooth == 10.0 and "learning rate" in a.reason
    assert str(a).startswith(a.reason + "\nLoss Configuration:")


def test_isa():
    names = segloss.isa_names()
    assert names[-1] == "scalar" and segloss.active_isa() in names
    x, y = batch(seed=6)
    ref = segloss.compute(x, y, loss_type="focal_dice")
    try:
        for name in names:
            if segloss.isa_supported(name) and name != "sse2":  # sse2 has no FMA: within 2e-6
                segloss.set_isa(name)
                assert segloss.active_isa() == name
                lv, g = segloss.compute(x, y, loss_type="focal_dice")
                assert lv == ref[0] and np.array_equal(g, ref[1])  # bit-identical paths
    finally:
        segloss.set_isa(None)


def test_config_object():
    c = segloss.Config(loss_type="tversky", alpha=0.3, beta=0.7, ignore_index=255)
    assert c.tversky_alpha == pytest.approx(0.3) and c.alpha == c.tversky_alpha
    assert repr(c) == "Config(loss_type='tversky', dice_smooth=1.0, tversky_alpha=0.3, tversky_beta=0.7, " \
                      "ignore_index=255)"
    assert eval("segloss." + repr(c)) == c
    assert pickle.loads(pickle.dumps(c)) == c
    assert segloss.parse_config(c.format()).loss_type == "tversky"
    assert segloss.Config(**c.to_kwargs(full=True)) == c
    assert _ffi.LOSS_NAMES == segloss.LOSS_TYPES
    for i, name in enumerate(segloss.LOSS_TYPES):  # the C names in enum order
        assert _ffi.lib.segloss_loss_name(i).decode() == name
