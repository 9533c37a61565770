"""Train a small U-Net on synthetic electron-microscopy images once with each of the loss
guide's configurations, with segloss.torch.SegLoss as the loss (make demo-torch).

    PYTHONPATH=python python3 examples/train_torch.py [--quick] [--epochs N] [--seed S]
        [--config "loss_type='tversky', tversky_alpha=0.7, tversky_beta=0.3"] [--channels-last]

The images follow examples/demo.c: background cytoplasm, ER sheets, mitochondria and nuclei at
about 80/10/7/3 % of the pixels, blurred and noisy. Every run starts from the same weights and
sees the same batches. Per run it prints the "Loss Configuration:" block, a line per epoch,
the per-class table (segloss.metrics) and the share of a training step spent in the loss,
measured against the same loss written in torch ops (torch_loss below, checked against segloss
on the first batch). At the end a table compares the runs, and segloss.advise reads the best
run's metrics.
"""
import argparse
import copy
import math
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

try:
    import segloss
except ImportError:  # run from the repository without PYTHONPATH
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
    import segloss
from segloss.torch import SegLoss

CLASSES = ("bg", "er", "mito", "nuc")
BG, ER, MITO, NUC = range(4)

# The loss guide's snippets, as keyword arguments.
GUIDE_CONFIGS = [
    dict(loss_type="ce"),
    dict(loss_type="weighted_ce", use_class_weighting=True),
    dict(loss_type="focal", focal_gamma=2.0, use_class_weighting=True),
    dict(loss_type="dice", dice_smooth=1.0),
    dict(loss_type="focal_dice", focal_gamma=2.0, focal_weight=0.5, dice_weight=0.5, dice_smooth=1.0,
         use_class_weighting=True),
    dict(loss_type="tversky", tversky_alpha=0.7, tversky_beta=0.3, dice_smooth=1.0),
]


# ================================================================================================
# Synthetic EM images (the recipe of examples/demo.c, in NumPy)
# ================================================================================================
def value_noise(rng, w, h, cell):
    """Smooth noise: random values on a grid of `cell` pixels, smoothstep-interpolated."""
    g = rng.uniform(-1, 1, (h // cell + 2, w // cell + 2))
    fy, fx = np.arange(h) / cell, np.arange(w) / cell
    gy, gx = fy.astype(int), fx.astype(int)
    ty, tx = fy - gy, fx - gx
    ty, tx = ty * ty * (3 - 2 * ty), tx * tx * (3 - 2 * tx)
    a = g[gy][:, gx] * (1 - tx) + g[gy][:, gx + 1] * tx
    b = g[gy + 1][:, gx] * (1 - tx) + g[gy + 1][:, gx + 1] * tx
    return a * (1 - ty)[:, None] + b * ty[:, None]


def gauss_blur(img, sigma):
    """Separable Gaussian blur with mirrored borders."""
    rad = int(math.ceil(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-rad, rad + 1) / sigma) ** 2)
    k /= k.sum()
    p = np.pad(img, rad, mode="symmetric")
    h, w = img.shape
    tmp = sum(k[i] * p[:, i:i + w] for i in range(2 * rad + 1))
    return sum(k[i] * tmp[i:i + h, :] for i in range(2 * rad + 1))


def make_image(rng, size):
    """(image float32, labels uint8): nuclei first, then mitochondria, then ER, each drawn only
    onto background; each object also paints its own intensity pattern."""
    h = w = size
    y = np.zeros((h, w), np.uint8)
    coarse, fine = value_noise(rng, w, h, 16), value_noise(rng, w, h, 3)
    tone = 0.60 + 0.06 * coarse + 0.04 * fine  # bright cytoplasm, slowly varying, some grain
    yy, xx = np.mgrid[0:h, 0:w]
    # nuclei: large wobbly discs, chromatin texture, dark envelope at the rim
    for _ in range(1 + (rng.uniform() < 0.45)):
        cx, cy, r0 = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(8.5, 13.0)
        amp, ph, lobes = rng.uniform(0.04, 0.10), rng.uniform(0, 2 * math.pi), 3 + rng.integers(3)
        d = np.hypot(xx - cx, yy - cy)
        rr = r0 * (1 + amp * np.sin(lobes * np.arctan2(yy - cy, xx - cx) + ph))
        m = (d < rr) & (y == BG)
        y[m] = NUC
        tone[m] = np.where(rr - d < 2.0, 0.36, 0.52 + 0.10 * fine + 0.03 * coarse)[m]
    # mitochondria: rotated ellipses, dark outer membrane, cristae stripes across the long axis
    for _ in range(9 + rng.integers(6)):
        cx, cy, ang = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0, math.pi)
        a, b, period = rng.uniform(7.0, 12.0), rng.uniform(3.0, 4.5), rng.uniform(3.0, 4.5)
        ph = rng.uniform(0, 2 * math.pi)
        u = (xx - cx) * math.cos(ang) + (yy - cy) * math.sin(ang)
        v = -(xx - cx) * math.sin(ang) + (yy - cy) * math.cos(ang)
        e = (u / a) ** 2 + (v / b) ** 2
        m = (e < 1.0) & (y == BG)
        y[m] = MITO
        tone[m] = np.where(e > 0.6, 0.33, 0.45 + 0.11 * np.sin(2 * math.pi * u / period + ph))[m]
    # ER: smooth random curves (curvature does a damped random walk), 2-3 px thick
    for _ in range(13 + rng.integers(4)):
        px, py, ang, curv = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0, 2 * math.pi), 0.0
        rad = rng.uniform(0.9, 1.4)
        for _ in range(50 + rng.integers(51)):
            curv = 0.9 * curv + 0.04 * rng.normal()
            ang += curv
            px, py = px + math.cos(ang), py + math.sin(ang)
            x0, x1 = max(0, math.floor(px - rad)), min(w - 1, math.ceil(px + rad))
            y0, y1 = max(0, math.floor(py - rad)), min(h - 1, math.ceil(py + rad))
            if x0 > x1 or y0 > y1:
                continue
            sy, sx = yy[y0:y1 + 1, x0:x1 + 1], xx[y0:y1 + 1, x0:x1 + 1]
            m = ((sx - px) ** 2 + (sy - py) ** 2 <= rad * rad) & (y[y0:y1 + 1, x0:x1 + 1] == BG)
            y[y0:y1 + 1, x0:x1 + 1][m] = ER
            tone[y0:y1 + 1, x0:x1 + 1][m] = (0.36 + 0.04 * fine[y0:y1 + 1, x0:x1 + 1])[m]
    # the microscope: blur, then noise
    img = gauss_blur(tone, 1.0) + 0.06 * rng.normal(size=(h, w))
    return img.astype(np.float32), y


def make_dataset(rng, count, size):
    imgs, labs = zip(*(make_image(rng, size) for _ in range(count)))
    return np.stack(imgs)[:, None], np.stack(labs)


# ================================================================================================
# The model: a two-level U-Net
# ================================================================================================
def block(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class UNet(nn.Module):
    def __init__(self, base=8, classes=4):
        super().__init__()
        c = base
        self.e1, self.e2, self.mid = block(1, c), block(c, 2 * c), block(2 * c, 4 * c)
        self.u2, self.d2 = nn.ConvTranspose2d(4 * c, 2 * c, 2, stride=2), block(4 * c, 2 * c)
        self.u1, self.d1 = nn.ConvTranspose2d(2 * c, c, 2, stride=2), block(2 * c, c)
        self.head = nn.Conv2d(c, classes, 1)

    def forward(self, x):
        a = self.e1(x)
        b = self.e2(F.max_pool2d(a, 2))
        m = self.mid(F.max_pool2d(b, 2))
        b = self.d2(torch.cat([self.u2(m), b], 1))
        return self.head(self.d1(torch.cat([self.u1(b), a], 1)))


# ================================================================================================
# The same losses in torch ops (float32), what one writes without segloss
# ================================================================================================
def torch_loss(cfg, class_weights):
    """A function (logits, target) -> loss computing the configuration cfg (a segloss.Config)
    with torch operations, as section 7 of segloss.h defines it."""
    t = cfg.loss_type
    w = torch.tensor(class_weights, dtype=torch.float32) if class_weights is not None else None

    def ce_term(z, y, gamma):
        logp = F.log_softmax(z, 1).gather(1, y.long().unsqueeze(1)).squeeze(1)
        term = -logp if gamma == 0 else -(1 - logp.exp()) ** gamma * logp
        wy = w[y.long()] if w is not None else torch.ones_like(term)
        return (wy * term).sum() / wy.sum()

    def overlap(z, y, alpha=None, beta=None):
        p = torch.softmax(z, 1)
        g = F.one_hot(y.long(), z.shape[1]).movedim(-1, 1).to(p.dtype)
        dims = (0,) + tuple(range(2, z.dim()))
        inter, psum, gsum = (p * g).sum(dims), p.sum(dims), g.sum(dims)
        s = cfg.dice_smooth
        if alpha is None:
            ratio = (2 * inter + s) / (psum + gsum + s)
        else:
            ratio = (inter + s) / (inter + alpha * (psum - inter) + beta * (gsum - inter) + s)
        return 1 - ratio.mean()

    if t in ("ce", "weighted_ce"):
        return lambda z, y: ce_term(z, y, 0.0)
    if t == "focal":
        return lambda z, y: ce_term(z, y, cfg.focal_gamma)
    if t == "dice":
        return lambda z, y: overlap(z, y)
    if t == "tversky":
        return lambda z, y: overlap(z, y, cfg.tversky_alpha, cfg.tversky_beta)
    return lambda z, y: cfg.focal_weight * ce_term(z, y, cfg.focal_gamma) + cfg.dice_weight * overlap(z, y)


# ================================================================================================
# Training
# ================================================================================================
def timed_step(model, opt, loss_fn, x, y):
    """One step; returns (loss, step seconds, seconds in the loss). The loss's time is its
    forward plus its part of backward: from loss.backward() until dL/dlogits exists (a hook
    on the logits marks that moment; the model's backward comes after it)."""
    t0 = time.perf_counter()
    logits = model(x)
    t1 = time.perf_counter()
    loss = loss_fn(logits, y)
    t2 = time.perf_counter()
    mark = []
    logits.register_hook(lambda g: mark.append(time.perf_counter()))
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    t3 = time.perf_counter()
    return float(loss), t3 - t0, (t2 - t1) + (mark[0] - t2)


def evaluate(model, xs, ys, fmt):
    """Confusion counts of the validation set (segloss.confusion) and the per-class metrics."""
    model.eval()
    conf = np.zeros((4, 4), np.int64)
    with torch.no_grad():
        for i in range(0, len(xs), 4):
            logits = model(xs[i:i + 4].contiguous(memory_format=fmt))
            segloss.confusion(logits, ys[i:i + 4], out=conf)
    model.train()
    return segloss.metrics(conf, names=CLASSES)


def batches(rng, n, bs):
    order = rng.permutation(n)
    return [order[i:i + bs] for i in range(0, n - bs + 1, bs)]


def train_run(kw, data, init_state, o, counts):
    xtr, ytr, xva, yva = data
    fmt = torch.channels_last if o.channels_last else torch.contiguous_format
    # Class weights from the whole training set's labels when the configuration asks for them
    # (as examples/demo.c does), rather than from each batch; shown in the configuration block.
    if kw.get("use_class_weighting") and "class_weights" not in kw:
        kw = dict(kw, class_weights=segloss.class_weights(counts))
    criterion = SegLoss(**kw)
    print("\n=== %s ===" % criterion.loss_type)
    print(criterion)
    model = UNet(o.base).to(memory_format=fmt)
    model.load_state_dict(init_state)
    opt = torch.optim.Adam(model.parameters(), lr=o.lr)
    reference = torch_loss(criterion.config, kw.get("class_weights"))
    # the torch-ops loss computes the same number (checked once, on the first batch)
    with torch.no_grad():
        z = model(xtr[:o.batch].contiguous(memory_format=fmt))
        criterion(z, ytr[:o.batch])
        a, b = float(criterion.last_result), float(reference(z, ytr[:o.batch]))  # double, float32
    rng = np.random.default_rng(o.seed + 1)  # the same batch order for every run
    run = dict(name=criterion.loss_type, steps=[], loss_times=[], curve=[], diverged=False)
    t_start = time.perf_counter()
    for epoch in range(o.epochs):
        losses = []
        for idx in batches(rng, len(xtr), o.batch):
            x = xtr[idx].contiguous(memory_format=fmt)
            lv, ts, tl = timed_step(model, opt, criterion, x, ytr[idx])
            losses.append(lv)
            run["steps"].append(ts)
            run["loss_times"].append(tl)
            run["diverged"] |= not math.isfinite(lv)
        m = evaluate(model, xva, yva, fmt)
        run["curve"].append(m.mean_iou)
        print("  epoch %3d/%d  loss %.4f  val mIoU %.3f" % (epoch + 1, o.epochs, statistics.fmean(losses), m.mean_iou),
              flush=True)
    run["seconds"] = time.perf_counter() - t_start
    run["metrics"] = m
    run["config"] = criterion.config
    print(m)
    # The same steps with the loss in torch ops, on a copy of the trained model, alternating
    # with segloss steps on another copy, so that both see the same machine load.
    steps = {"segloss": [], "torch": []}
    models = {k: copy.deepcopy(model) for k in steps}
    opts = {k: torch.optim.Adam(models[k].parameters(), lr=o.lr) for k in steps}
    fns = {"segloss": criterion, "torch": reference}
    for idx in batches(np.random.default_rng(o.seed + 2), len(xtr), o.batch)[:o.timing_steps] * 2:
        x = xtr[idx].contiguous(memory_format=fmt)
        for k in steps:
            steps[k].append(timed_step(models[k], opts[k], fns[k], x, ytr[idx])[1:])
    for k in steps:
        ts = [s for s, _ in steps[k]][1:]  # the first step of each warms up
        tl = [t for _, t in steps[k]][1:]
        run[k] = (statistics.median(tl), statistics.median(ts))
    (ls, ss), (lt, st) = run["segloss"], run["torch"]
    print("  validation mean IoU %.3f   train %.1f s   (first batch: torch ops loss within %.1e relative)" % (
        m.mean_iou, run["seconds"], abs(a - b) / abs(b)))
    print("  loss share of a training step: segloss %.1f %% (%.2f of %.1f ms), torch ops %.1f %% (%.2f of %.1f ms)"
          % (100 * ls / ss, ls * 1e3, ss * 1e3, 100 * lt / st, lt * 1e3, st * 1e3), flush=True)
    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny data, 2 epochs: a smoke test")
    ap.add_argument("--epochs", type=int, default=None, help="default 20 (2 with --quick)")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--base", type=int, default=8, help="channels of the U-Net's first level (default 8)")
    ap.add_argument("--config", help="one configuration in the guide's syntax instead of all six")
    ap.add_argument("--channels-last", action="store_true", help="model and logits channels_last (segloss's NHWC path)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    o = ap.parse_args()
    o.epochs = o.epochs or (2 if o.quick else 20)
    o.timing_steps = 3 if o.quick else 6
    ntrain, nval, size = (4, 2, 64) if o.quick else (24, 8, 128)
    if o.threads:
        torch.set_num_threads(o.threads)
    configs = [SegLoss.from_config(o.config).config.to_kwargs()] if o.config else GUIDE_CONFIGS

    rng = np.random.default_rng(o.seed)
    t0 = time.perf_counter()
    xtr, ytr = make_dataset(rng, ntrain, size)
    xva, yva = make_dataset(rng, nval, size)
    mean, sd = xtr.mean(), xtr.std()
    data = (torch.from_numpy((xtr - mean) / sd), torch.from_numpy(ytr), torch.from_numpy((xva - mean) / sd),
            torch.from_numpy(yva))
    counts = segloss.label_histogram(ytr, 4)
    print("segloss %s (SIMD path %s; the loss runs on one thread), torch %s with %d threads"
          % (segloss.__version__, segloss.active_isa(), torch.__version__, torch.get_num_threads()))
    print("Data: %d training and %d validation images of %dx%d, made in %.1f s" % (ntrain, nval, size, size,
                                                                                  time.perf_counter() - t0))
    for what, y in (("training", ytr), ("validation", yva)):
        f = segloss.label_histogram(y, 4) / y.size * 100
        print("  %-10s  %s  (the guide assumes 80 / 10 / 7 / 3 %%)" % (what, " / ".join("%s %.1f %%" % kv for kv in zip(
            CLASSES, f))))
    print("  advisor, from the label counts alone: %s" % segloss.advise(counts).reason)
    torch.manual_seed(o.seed)
    init_state = copy.deepcopy(UNet(o.base).state_dict())
    print("Model: U-Net, %d parameters, Adam lr %g, batches of %d, %d epochs%s" % (
        sum(p.numel() for p in UNet(o.base).parameters()), o.lr, o.batch, o.epochs,
        ", channels_last" if o.channels_last else ""))

    runs = [train_run(dict(kw), data, init_state, o, counts) for kw in configs]

    print("\n%-12s %8s %8s %8s %8s %8s   %s" % ("loss", "val mIoU", "IoU er", "IoU mito", "IoU nuc", "step ms",
                                               "loss share: segloss / torch ops"))
    for r in runs:
        m = r["metrics"]
        print("%-12s %8.3f %8.3f %8.3f %8.3f %8.1f   %5.1f %% / %5.1f %%%s" % (
            r["name"], m.mean_iou, m.iou[1], m.iou[2], m.iou[3], r["segloss"][1] * 1e3,
            100 * r["segloss"][0] / r["segloss"][1], 100 * r["torch"][0] / r["torch"][1],
            "  (diverged)" if r["diverged"] else ""))
    best = max(runs, key=lambda r: r["metrics"].mean_iou if math.isfinite(r["metrics"].mean_iou) else -1)
    adv = segloss.advise(counts, best["metrics"], best["config"])
    print("\nBest: %s. Advisor on its metrics: %s" % (best["name"], adv.reason))
    return 0


if __name__ == "__main__":
    sys.exit(main())
