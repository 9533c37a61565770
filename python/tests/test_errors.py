"""Every way in which a call is refused: the exception type and what its message says."""
import numpy as np
import pytest
import torch

import segloss
import segloss.torch.functional as SF
from segloss.torch import SegLoss

import parity


def batch(shape=(2, 4, 6, 8), label_dtype=torch.int64):
    return parity.make_batch(shape, seed=0, label_dtype=label_dtype)


# ---- tensors ----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16, torch.int32])
def test_logits_dtype(dtype):
    x, y = batch()
    with pytest.raises(TypeError, match=r"logits must be float32.*logits\.float\(\)"):
        SegLoss()(x.to(dtype), y)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.int16, torch.int8])
def test_target_dtype(dtype):
    x, y = batch()
    with pytest.raises(TypeError, match="uint8, int32 or int64"):
        SegLoss()(x, y.to(dtype))


def test_device_other_than_cpu():
    x = torch.empty(2, 4, 6, 8, device="meta")
    y = torch.empty(2, 6, 8, dtype=torch.int64, device="meta")
    with pytest.raises(TypeError, match="on the CPU.*meta"):
        SegLoss()(x, y)
    xc, yc = batch()
    with pytest.raises(TypeError, match="meta"):
        SegLoss()(xc, y)
    with pytest.raises(TypeError, match=r"\.cpu\(\)"):
        segloss.compute(x, y)


def test_not_tensors_and_sparse():
    x, y = batch()
    with pytest.raises(TypeError, match="torch.Tensor"):
        SegLoss()(x.numpy(), y)
    with pytest.raises(TypeError, match="torch.Tensor"):
        SegLoss()(x, y.tolist())
    with pytest.raises(TypeError, match="strided"):
        SegLoss()(x.to_sparse(), y)


def test_one_class():
    """C = 1 under softmax: the library refuses it (SEGLOSS_ERR_PARAM), in words that name the
    sigmoid; the package passes those words on."""
    x = torch.randn(2, 1, 6, 8, requires_grad=True)
    y = torch.zeros(2, 6, 8, dtype=torch.int64)
    with pytest.raises(segloss.Error, match="sigmoid") as e:
        SegLoss(loss_type="dice")(x, y)
    assert e.value.status_name == "SEGLOSS_ERR_PARAM"
    with pytest.raises(segloss.Error, match="sigmoid"):
        segloss.compute(x.detach().numpy(), y.numpy())
    assert float(SegLoss(loss_type="dice", activation="sigmoid")(x, y)) > 0


@pytest.mark.parametrize("xs,ys", [((2, 4, 6, 8), (2, 6, 7)), ((2, 4, 6, 8), (3, 6, 8)), ((2, 4, 6, 8), (2, 2, 6, 8)),
                                   ((4,), (4,)), ((2, 4, 6, 8), (2, 48)), ((2, 4, 3, 6, 8), (2, 6, 8))])
def test_shapes(xs, ys):
    x = torch.randn(*xs)
    y = torch.zeros(*ys, dtype=torch.int64)
    with pytest.raises(ValueError, match="shape"):
        SegLoss()(x, y)


def test_empty():
    with pytest.raises(ValueError, match="empty"):
        SegLoss()(torch.randn(0, 4, 6, 8), torch.zeros(0, 6, 8, dtype=torch.int64))
    with pytest.raises(ValueError, match="empty"):
        SegLoss()(torch.randn(2, 4, 0, 8), torch.zeros(2, 0, 8, dtype=torch.int64))


# ---- the library's own errors: status text and the position ---------------------------------
def test_bad_label_position_2d():
    x, y = batch()
    y[1, 4, 5] = 7
    with pytest.raises(segloss.Error) as e:
        SegLoss(loss_type="focal_dice")(x.requires_grad_(), y)
    err = e.value
    assert isinstance(err, ValueError)
    assert err.status_name == "SEGLOSS_ERR_LABEL" and err.position == (1, 4, 5)
    assert err.bad_position == 1 * 48 + 4 * 8 + 5
    assert "label 7 at [n=1, h=4, w=5] is outside [0, 4)" in str(err) and "ignore_index (-100)" in str(err)


@pytest.mark.parametrize("label_dtype,bad", [(torch.uint8, 200), (torch.int32, -1), (torch.int64, 2**40)])
def test_bad_label_position_3d(label_dtype, bad):
    x, y = batch((2, 3, 4, 5, 6), label_dtype=label_dtype)
    y[0, 3, 2, 1] = bad
    with pytest.raises(segloss.Error, match=r"label %d at \[n=0, d=3, h=2, w=1\]" % bad) as e:
        SF.dice_loss(x, y)
    assert e.value.position == (0, 3, 2, 1)


def test_uint8_255_needs_ignore_index():
    x, y = batch(label_dtype=torch.uint8)
    y[0, 0, 0] = 255
    with pytest.raises(segloss.Error, match="label 255"):
        SF.ce_loss(x, y)
    assert float(SF.ce_loss(x, y, ignore_index=255)) > 0


@pytest.mark.parametrize("fmt", [None, torch.channels_last])
def test_non_finite_logit_position(fmt):
    x, y = batch()
    x[1, 2, 3, 4] = float("nan")
    if fmt is not None:
        x = x.contiguous(memory_format=fmt)
    with pytest.raises(segloss.Error, match=r"non-finite logit nan at \[n=1, c=2, h=3, w=4\]") as e:
        SegLoss(loss_type="ce", check_finite=True)(x, y)
    assert e.value.status_name == "SEGLOSS_ERR_NONFINITE" and e.value.position == (1, 2, 3, 4)
    # without check_finite: a NaN loss, no exception
    assert torch.isnan(SegLoss(loss_type="ce")(x, y))


def test_numpy_nhwc_positions():
    x, y = batch()
    xn = np.ascontiguousarray(x.numpy().transpose(0, 2, 3, 1))  # (N, H, W, C)
    xn[0, 5, 7, 3] = np.inf
    with pytest.raises(segloss.Error) as e:
        segloss.compute(xn, y.numpy(), layout="nhwc", check_finite=True)
    assert e.value.position == (0, 5, 7, 3) and "[n=0, h=5, w=7, c=3]" in str(e.value)


def test_class_weights_length_and_values():
    x, y = batch()
    with pytest.raises(ValueError, match="class_weights has 3 entries.*C = 4"):
        SegLoss(loss_type="weighted_ce", class_weights=[1, 2, 3])(x, y)
    with pytest.raises(ValueError, match="finite and >= 0"):
        SegLoss(loss_type="ce", class_weights=[1, -2, 3, 4])
    with pytest.raises(ValueError, match="finite and >= 0"):
        SegLoss(loss_type="ce", class_weights=[1, float("nan"), 3, 4])
    with pytest.raises(TypeError, match="sequence"):
        SegLoss(loss_type="ce", class_weights=2.0)


# ---- keywords -------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(loss_typ="focal"), TypeError, "unknown keyword argument 'loss_typ'.*did you mean 'loss_type'"),
    (dict(focal_gama=2.0), TypeError, "did you mean 'focal_gamma'"),
    (dict(learning_rate=1e-4), TypeError, "unknown keyword argument 'learning_rate'"),
    (dict(loss_type="focal_loss"), ValueError, "unknown loss_type 'focal_loss'.*did you mean 'focal'"),
    (dict(loss_type=3), TypeError, "loss_type must be a string"),
    (dict(focal_gamma=-1.0), ValueError, "focal_gamma must be finite and >= 0"),
    (dict(dice_smooth=float("inf")), ValueError, "dice_smooth must be finite"),
    (dict(tversky_alpha=1e39), ValueError, "tversky_alpha must be finite.*float32"),
    (dict(focal_gamma="2"), TypeError, "focal_gamma must be a number"),
    (dict(focal_gamma=True), TypeError, "focal_gamma must be a number"),
    (dict(use_class_weighting="yes"), TypeError, "use_class_weighting must be True or False"),
    (dict(per_sample=2), TypeError, "per_sample must be True or False"),
    (dict(ignore_index=2.5), TypeError, "ignore_index must be an integer"),
    (dict(ignore_index=2**63), ValueError, "int64"),
    (dict(reduction="avg"), ValueError, "reduction must be 'mean', 'sum' or 'none'"),
    (dict(loss_type="focal_dice", reduction="none"), ValueError, "focal_dice has no reduction='none'"),
    (dict(activation="relu"), ValueError, "activation must be 'softmax'.*or 'sigmoid'"),
    (dict(label_smoothing=1.5), ValueError, r"label_smoothing must be in \[0, 1\]"),
    (dict(focal_alpha=2.0), ValueError, r"focal_alpha must be in \[0, 1\]"),
    (dict(focal_alpha="x"), TypeError, "focal_alpha must be a number"),
    (dict(loss_type="focal", focal_alpha=0.5), ValueError, "focal_alpha.*needs activation='sigmoid'"),
    (dict(pos_weight=[1.0, 2.0]), ValueError, "pos_weight.*needs activation='sigmoid'"),
    (dict(activation="sigmoid", pos_weight=[1.0, -2.0]), ValueError, "pos_weight must be finite and >= 0"),
    (dict(activation="sigmoid", pos_weight=[1.0, 2.0], class_weights=[1.0, 1.0, 1.0]), ValueError,
     "class_weights has 3 entries, pos_weight 2"),
    (dict(loss_type="focal", activation="sigmoid", pos_weight=[1.0, 2.0]), ValueError,
     "pos_weight does not apply to the sigmoid focal loss"),
    (dict(activation="sigmoid", label_smoothing=0.1), ValueError, "smooth the targets instead"),
    (dict(loss_type="focal", label_smoothing=0.1), ValueError, "focal term.*refuses it"),
    (dict(loss_type="focal_dice", focal_weight=0, dice_weight=0), ValueError, "must not both be 0"),
    (dict(gamma=2.0, focal_gamma=3.0), TypeError, "focal_gamma given twice"),
])
def test_bad_keywords(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        SegLoss(**kwargs)
    with pytest.raises(exc, match=match):
        segloss.Config(**kwargs)


def test_functional_bad_keyword():
    x, y = batch()
    with pytest.raises(TypeError, match="unknown keyword argument 'weight'"):
        SF.ce_loss(x, y, weight=[1, 2, 3, 4])


def test_error_attributes():
    e = segloss.Error(6)
    assert e.status == 6 and e.status_name == "SEGLOSS_ERR_LABEL" and e.position is None
    assert "label out of range" in str(e) and e.reason.startswith("label out of range")
    with pytest.raises(MemoryError, match="out of memory"):
        segloss._core.raise_status(10, -1, None)
    with pytest.raises(segloss.Error):
        segloss._core.raise_status(10, -1, None)


def test_numpy_errors():
    x, y = batch()
    xn, yn = x.numpy(), y.numpy()
    with pytest.raises(TypeError, match="float32.*astype"):
        segloss.compute(xn.astype(np.float64), yn)
    with pytest.raises(TypeError, match="uint8, int32 or int64"):
        segloss.compute(xn, yn.astype(np.int16))
    with pytest.raises(ValueError, match="layout must be"):
        segloss.compute(xn, yn, layout="chw")
    with pytest.raises(ValueError, match="grad must have the logits' shape"):
        segloss.compute(xn, yn, grad=np.empty((2, 4, 6, 9), np.float32))
    with pytest.raises(ValueError, match="read-only"):
        g = np.empty_like(xn)
        g.flags.writeable = False
        segloss.compute(xn, yn, grad=g)
    with pytest.raises(ValueError, match="method must be one of"):
        segloss.class_weights([1, 2], method="log")
    with pytest.raises(segloss.Error, match="counts must be >= 0"):
        segloss.class_weights([1, -2])
    with pytest.raises(segloss.Error, match=r"label 9 at \[n=0, h=0, w=0\]"):
        yb = yn.copy()
        yb[0, 0, 0] = 9
        segloss.label_histogram(yb, 4)
    with pytest.raises(segloss.Error, match="SEGLOSS_ERR_ISA"):
        segloss.set_isa("mmx")
    with pytest.raises(TypeError, match="either a configuration or keywords"):
        segloss.compute(xn, yn, segloss.Config(), loss_type="dice")
