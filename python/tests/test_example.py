"""examples/train_torch.py --quick: every guide configuration trains, prints its block, its
per-class table and the loss share (a smoke test; make demo-torch is the real run)."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "examples", "train_torch.py")


def run(*args):
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python"))
    r = subprocess.run([sys.executable, SCRIPT, "--quick"] + list(args), env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return r.stdout


def test_quick_run_of_every_configuration():
    out = run()
    for name in ("ce", "weighted_ce", "focal", "dice", "focal_dice", "tversky"):
        assert "=== %s ===\nLoss Configuration:\n  - Loss type: %s\n" % (name, name) in out
    assert out.count("Class    Val Recall  Val Precision  Val IoU") == 6
    assert out.count("loss share of a training step: segloss") == 6
    assert "  - Class weights: [" in out  # weighted runs show the dataset's weights
    assert "loss share: segloss / torch ops" in out and "Advisor on its metrics" in out


def test_quick_run_channels_last_one_config():
    out = run("--channels-last", "--config", "loss_type='tversky', tversky_alpha=0.3, tversky_beta=0.7")
    assert "channels_last" in out and "  - Tversky alpha: 0.3\n" in out and out.count("=== ") == 1
