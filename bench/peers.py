#!/usr/bin/python3
"""segloss beside its peers on the same shapes, in one run, one thread.

    /usr/bin/python3 bench/peers.py --timer build/bench/segloss_timer \
                                    [--onednn build/bench/onednn_peer] [--reps 5] [--quick]

PyTorch (Debian python3-torch 1.13) with torch.set_num_threads(1): `ce` and `weighted_ce` are
F.cross_entropy (weighted with the same automatic inverse-frequency weights |V|/n_c, computed
inside the timed call as segloss does); focal, dice, focal_dice and tversky are written in torch
ops the way MONAI / nnU-Net write them (softmax, one_hot, sums over batch and spatial dims,
autograd). Each is timed forward + backward, median process CPU time of `reps` runs after one warm-up, next to
logits.clone() as the memcpy-equivalent. segloss is timed by a self-timed build of
bench/bench.cpp (segloss_timer --peer) on the same shape; oneDNN by bench/onednn.cpp
(log-softmax forward + backward over the class axis, NCHW and NHWC). Parameters are segloss's
defaults: focal gamma 2, Dice smooth 1, Tversky alpha 0.7 / beta 0.3, focal_dice 0.5 + 0.5,
batch (not per-sample) Dice, background included, mean reduction.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

LOSSES = ["ce", "weighted_ce", "focal", "dice", "focal_dice", "tversky"]
GAMMA, SMOOTH, ALPHA, BETA = 2.0, 1.0, 0.7, 0.3


def torch_losses(torch, F):
    def onehot(y, c):
        return F.one_hot(y, c).permute(0, 3, 1, 2).to(torch.float32)

    def ce(x, y):
        return F.cross_entropy(x, y)

    def weighted_ce(x, y):
        counts = torch.bincount(y.reshape(-1), minlength=x.shape[1]).to(torch.float32)
        w = torch.where(counts > 0, counts.sum() / counts.clamp(min=1), torch.zeros_like(counts))
        return F.cross_entropy(x, y, weight=w)

    def focal(x, y):  # as in MONAI FocalLoss(use_softmax=True) / common segmentation code
        logp = F.log_softmax(x, dim=1)
        logpt = logp.gather(1, y.unsqueeze(1)).squeeze(1)
        pt = logpt.exp()
        return (-((1.0 - pt) ** GAMMA) * logpt).mean()

    def dice(x, y):  # MONAI DiceLoss(softmax=True, to_onehot_y=True, batch=True)
        p = torch.softmax(x, dim=1)
        g = onehot(y, x.shape[1])
        dims = (0, 2, 3)
        inter = (p * g).sum(dims)
        den = p.sum(dims) + g.sum(dims)
        return (1.0 - (2.0 * inter + SMOOTH) / (den + SMOOTH)).mean()

    def focal_dice(x, y):
        return 0.5 * focal(x, y) + 0.5 * dice(x, y)

    def tversky(x, y):  # MONAI TverskyLoss(softmax=True, to_onehot_y=True, batch=True)
        p = torch.softmax(x, dim=1)
        g = onehot(y, x.shape[1])
        dims = (0, 2, 3)
        tp = (p * g).sum(dims)
        fp = (p * (1.0 - g)).sum(dims)
        fn = ((1.0 - p) * g).sum(dims)
        return (1.0 - (tp + SMOOTH) / (tp + ALPHA * fp + BETA * fn + SMOOTH)).mean()

    return {"ce": ce, "weighted_ce": weighted_ce, "focal": focal, "dice": dice,
            "focal_dice": focal_dice, "tversky": tversky}


def median_ms(fn, reps):
    # Process CPU time, like the segloss and oneDNN sides: on a shared machine wall time also
    # counts the time other processes held the core. torch runs on one thread here.
    fn()  # warm-up
    t = []
    for _ in range(reps):
        t0 = time.process_time()
        fn()
        t.append((time.process_time() - t0) * 1e3)
    return statistics.median(t)


def time_torch(shape, reps):
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(1)
    torch.manual_seed(0)
    n, c, h, w = shape
    logits = torch.randn(n, c, h, w) * (2.0 ** 0.5)
    u = torch.rand(n, h, w)
    if c == 4:
        y = (u >= 0.80).long() + (u >= 0.90).long() + (u >= 0.97).long()
    else:
        y = torch.where(u < 0.80, torch.zeros_like(u, dtype=torch.long),
                        (1 + ((u - 0.80) / 0.20 * (c - 1)).long()).clamp(max=c - 1))
    fns = torch_losses(torch, F)
    out = {"clone": median_ms(lambda: logits.clone(), reps), "version": torch.__version__,
           "threads": torch.get_num_threads(), "values": {}}
    x = logits.clone().requires_grad_(True)
    for name in LOSSES:
        def step(f=fns[name]):
            x.grad = None
            loss = f(x, y)
            loss.backward()
            return loss
        out[name] = median_ms(step, reps)
        out["values"][name] = float(step())
    return out


def run_json(cmd):
    r = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, universal_newlines=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--timer", required=True, help="segloss_timer (bench.cpp built with -DSEGLOSS_BENCH_SMOKE)")
    ap.add_argument("--onednn", help="onednn_peer (bench/onednn.cpp); omitted: no oneDNN columns")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="smaller shapes (a quarter of the batch)")
    a = ap.parse_args()
    reps = max(5, a.reps)
    shapes = [(8, 4, 512, 512), (2, 21, 512, 512)]
    if a.quick:
        shapes = [(2, 4, 512, 512), (1, 21, 512, 512)]
    print("Machine: %s, %d cores; one thread everywhere; medians of the process CPU time of %d runs after a warm-up." %
          (cpu_model(), os.cpu_count() or 0, reps))
    rows, dnnl_rows, verdicts = [], [], []
    for shape in shapes:
        n, c, h, w = shape
        dims = [str(v) for v in shape]
        seg = run_json([a.timer, "--peer"] + dims + ["--reps=%d" % reps, "--layout=nchw"])
        th = time_torch(shape, reps)
        dn = {}
        if a.onednn:
            for lay in ("nchw", "nhwc"):
                dn[lay] = run_json([a.onednn] + dims + [lay, str(reps)])
            seg_nhwc = run_json([a.timer, "--peer"] + dims + ["--reps=%d" % reps, "--layout=nhwc"])
            for lay in ("nchw", "nhwc"):
                d = dn[lay]
                s_ce = (seg if lay == "nchw" else seg_nhwc)["ms"]["ce"]
                s_cp = (seg if lay == "nchw" else seg_nhwc)["ms"]["memcpy"]
                tot = d["fwd_ms"] + d["bwd_ms"]
                dnnl_rows.append("| %s | %d | %s | %.3f | %.2f | %.1f | %.1f | %.2f | %.1f | %.1f × |" % (
                    lay.upper(), c, "%s / %s" % (d["fwd_impl"], d["bwd_impl"]), s_ce, s_ce / s_cp,
                    d["fwd_ms"] / d["memcpy_ms"], d["bwd_ms"] / d["memcpy_ms"], tot, tot / d["memcpy_ms"],
                    tot / s_ce))
        for loss in LOSSES:
            s, t = seg["ms"][loss], th[loss]
            ratio = t / s
            dcol = "| |"
            if loss == "ce" and dn:
                tot = dn["nchw"]["fwd_ms"] + dn["nchw"]["bwd_ms"]
                dcol = "| %.1f | %.1f × |" % (tot, tot / s)
            rows.append("| %s | %s | %.3f | %.2f | %.1f | %.0f | %.1f × %s" % (
                loss, "×".join(dims), s, s / seg["ms"]["memcpy"], t, t / th["clone"], ratio, dcol))
            verdicts.append(("%s %s vs PyTorch" % (loss, "×".join(dims)), ratio, ratio >= 100.0))
        print("shape %s: segloss path %s, memcpy %.3f ms; torch %s (%d thread), clone %.3f ms" % (
            "×".join(dims), seg["isa"], seg["ms"]["memcpy"], th["version"], th["threads"], th["clone"]))
        print("  torch loss values (sanity): " + ", ".join("%s=%.4f" % kv for kv in th["values"].items()))
    print()
    print("Forward + backward (loss + gradient), NCHW. ratio = peer time / segloss time.")
    print()
    print("| loss | shape | segloss CPU ms | segloss ×memcpy | torch CPU ms | torch ×clone | torch/segloss "
          "| oneDNN CE ms | oneDNN/segloss |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(r)
    if dnnl_rows:
        print()
        print("oneDNN log-softmax over the class axis (CE fwd+bwd built on it = fwd + bwd), same shapes.")
        print()
        print("| layout | C | oneDNN impl (fwd / bwd) | segloss ce ms | segloss ×memcpy | fwd ×memcpy "
              "| bwd ×memcpy | oneDNN fwd+bwd ms | ×memcpy | oneDNN/segloss |")
        print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
        for r in dnnl_rows:
            print(r)
    print()
    print("Target: every loss >= 100 × faster than PyTorch on one thread:")
    for label, ratio, ok in verdicts:
        print("  %-40s %7.1f ×  %s" % (label, ratio, "MET" if ok else "NOT MET"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
