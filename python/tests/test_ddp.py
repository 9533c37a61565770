"""torch.distributed: one global batch Dice across 2 gloo processes on 127.0.0.1
(examples/ddp_dice.py), compared with one process: bit for bit with the same slices added in
rank order, within 1e-12 (loss) and 1e-6 of the largest entry (gradient) of segloss.compute on
the whole batch. Also: segloss.torch follows torch.get_num_threads(), set_threads overrides it,
and the bits do not depend on the count."""
import os
import sys

import pytest

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _example():
    # imported by name, so that the spawned processes (which get this sys.path) import it too
    if os.path.join(ROOT, "examples") not in sys.path:
        sys.path.insert(0, os.path.join(ROOT, "examples"))
    import ddp_dice
    return ddp_dice


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="no gloo backend")
def test_ddp_two_processes_match_one():
    r = _example().run(2)
    assert r["losses"][0] == r["losses"][1]
    assert r["bitwise"]
    assert r["loss_rel"] <= 1e-12
    assert r["grad_rel"] <= 1e-6


def test_torch_threads_follow_and_do_not_change_bits():
    import segloss
    from segloss.torch import SegLoss
    old = torch.get_num_threads()
    g = torch.Generator().manual_seed(7)
    x = torch.randn(2, 4, 256, 256, generator=g, requires_grad=True)
    y = torch.randint(0, 4, (2, 256, 256), generator=g)
    try:
        segloss.set_threads(None)
        torch.set_num_threads(1)
        l1 = SegLoss(loss_type="focal_dice")(x, y)
        l1.backward()
        g1 = x.grad.clone()
        assert segloss.get_threads() == 1
        torch.set_num_threads(3)
        x.grad = None
        l3 = SegLoss(loss_type="focal_dice")(x, y)
        l3.backward()
        assert segloss.get_threads() == 3
        assert l1.item() == l3.item() and torch.equal(g1, x.grad)
        segloss.set_threads(2)
        SegLoss(loss_type="focal_dice")(x, y)
        assert segloss.get_threads() == 2  # an explicit count wins over torch's
    finally:
        segloss.set_threads(None)
        segloss.set_threads(1)
        segloss.set_threads(None)
        torch.set_num_threads(old)
