"""Loss and gradient against float64 references: F.cross_entropy, and the torch-op
implementations of reference.py for every loss and option (cases in parity.py)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import segloss
import segloss.torch.functional as SF
from segloss.torch import SegLoss

import parity
import reference

LOSS_TOL = 1e-6   # relative, against the float64 loss
GRAD_TOL = 1e-6   # largest difference over the largest entry of the float64 gradient


@pytest.mark.parametrize("name,kwargs,shape,memory", parity.cases(), ids=[c[0] for c in parity.cases()])
def test_against_reference(name, kwargs, shape, memory):
    ours, ref, loss_err, grad_err = parity.run_case(kwargs, shape, memory)
    assert loss_err <= LOSS_TOL, (ours, ref)
    assert grad_err <= GRAD_TOL


@pytest.mark.parametrize("weight", [None, [0.5, 2.0, 3.0, 7.5]])
@pytest.mark.parametrize("ignore_index", [-100, 2])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cross_entropy(weight, ignore_index, reduction):
    """ce with class_weights = F.cross_entropy(weight=w, ignore_index=i, reduction=r), in float64."""
    x, y = parity.make_batch(seed=3, ignore=ignore_index)
    z = x.double().requires_grad_()
    w = torch.tensor(weight, dtype=torch.float64) if weight else None
    ref = F.cross_entropy(z, y, weight=w, ignore_index=ignore_index, reduction=reduction)
    ref.backward()
    xg = x.clone().requires_grad_()
    out = SF.cross_entropy(xg, y, class_weights=weight, ignore_index=ignore_index, reduction=reduction)
    out.backward()
    assert out.dtype == torch.float32 and out.shape == ()
    assert abs(float(out) - float(ref)) <= 1e-6 * abs(float(ref))
    assert float((xg.grad.double() - z.grad).abs().max()) <= 1e-6 * float(z.grad.abs().max())


def test_weighted_ce_automatic_weights():
    """weighted_ce = F.cross_entropy with the batch's |V|/n_c weights."""
    x, y = parity.make_batch(seed=4)
    w = reference.auto_weights(y, 4, -100)
    ref = F.cross_entropy(x.double(), y, weight=w)
    ours = SF.weighted_ce_loss(x, y)
    assert abs(float(ours) - float(ref)) <= 1e-6 * float(ref)
    np.testing.assert_allclose(segloss.weights_for(y, 4, loss_type="weighted_ce"), w.numpy(), rtol=1e-7)


def test_focal_gamma_0_is_ce():
    x, y = parity.make_batch(seed=5)
    a = SF.focal_loss(x, y, focal_gamma=0.0)
    b = F.cross_entropy(x.double(), y)
    assert abs(float(a) - float(b)) <= 1e-6 * float(b)


@pytest.mark.parametrize("loss_type", parity.GUIDE)
def test_numpy_compute_matches_reference(loss_type):
    x, y = parity.make_batch(seed=6, ignore=-100)
    kw = parity.GUIDE[loss_type]
    ref_loss, ref_grad = reference.loss_and_grad(x, y, **kw)
    loss, grad = segloss.compute(x.numpy(), y.numpy(), **kw)
    assert isinstance(loss, float) and isinstance(grad, np.ndarray) and grad.dtype == np.float32
    assert abs(loss - ref_loss) <= 1e-6 * abs(ref_loss)
    assert np.abs(grad - ref_grad.numpy()).max() <= 1e-6 * np.abs(ref_grad.numpy()).max()
    assert loss.valid == int((y != -100).sum())


def test_all_ignored_gives_zero():
    x, _ = parity.make_batch(seed=7)
    y = torch.full((3, 16, 16), -100, dtype=torch.int64)
    for kw in parity.GUIDE.values():
        xg = x.clone().requires_grad_()
        m = SegLoss(**kw)
        out = m(xg, y)
        out.backward()
        assert float(out) == 0.0 and m.last_result.valid == 0
        assert float(xg.grad.abs().max()) == 0.0
