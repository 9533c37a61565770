"""What the Python layer costs on top of the C call (make bench-python).

For each loss on a batch (default 8 x 4 x 512 x 512, float32 logits, uint8 labels), run in
turns --repeat times each:
  C call     segloss_compute through ctypes with preallocated buffers: the gradient buffer is
             allocated once and reused, so its pages are already mapped (the library alone);
  module     SegLoss(...)(x, y) then loss.backward() on a leaf x: everything a training step
             pays, including x.grad set to the gradient; the C call inside it is timed too
             (a wrapper around segloss._ffi.compute), so "python" = module - its C call is the
             layer's own cost measured within the same step, immune to the machine's drift;
  loss only  the module's forward under torch.no_grad() against the C call without a gradient.
The ratios use the minimum over the repeats (the least disturbed run; the machine is shared),
the medians are printed too. Then the fixed per-call cost on a tiny batch (1 x 4 x 8 x 8).
One thread: the library is single-threaded; torch is pinned to one thread.

Most of the layer's time on a large batch is not its code: its ~55 us of Python run with cold
caches after the C call has streamed 64 MiB (logits in, gradient out); the same code measured
after a 64 MiB copy takes about 420 us on the machine of docs/python.md.
"""
import argparse
import ctypes
import statistics
import time

import torch

import segloss
from segloss import _ffi
from segloss.torch import SegLoss

CONFIGS = {
    "ce": dict(loss_type="ce"),
    "weighted_ce": dict(loss_type="weighted_ce", use_class_weighting=True),
    "focal": dict(loss_type="focal", focal_gamma=2.0, use_class_weighting=True),
    "dice": dict(loss_type="dice", dice_smooth=1.0),
    "focal_dice": dict(loss_type="focal_dice", focal_gamma=2.0, focal_weight=0.5, dice_weight=0.5,
                       dice_smooth=1.0, use_class_weighting=True),
    "tversky": dict(loss_type="tversky", tversky_alpha=0.7, tversky_beta=0.3, dice_smooth=1.0),
}


def all_times(fns, repeat, warm=2):
    """The times of each function, run in turns (so that the machine's load drifts alike)."""
    for _ in range(warm):
        for fn in fns:
            fn()
    ts = [[] for _ in fns]
    for _ in range(repeat):
        for fn, t in zip(fns, ts):
            t0 = time.perf_counter()
            fn()
            t.append(time.perf_counter() - t0)
    return ts


def batch(n, c, h, w, channels_last, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, h, w, generator=g)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    # about 80/10/7/3 %, the guide's data
    u = torch.rand(n, h, w, generator=g)
    y = torch.zeros(n, h, w, dtype=torch.uint8)
    y[u > 0.80] = 1
    y[u > 0.90] = 2
    y[u > 0.97] = 3
    return x, y


def c_call(cfg, x, y, layout):
    inp = _ffi.segloss_input(x.data_ptr(), y.data_ptr(), _ffi.LABEL_U8, x.shape[0], x.shape[1],
                             x.numel() // (x.shape[0] * x.shape[1]), layout)
    grad = torch.empty_like(x)
    gp = grad.data_ptr()
    res = _ffi.segloss_result()
    ref_inp, ref_res = ctypes.byref(inp), ctypes.byref(res)
    f = _ffi.lib.segloss_compute

    def run(keep=(grad, x, y)):  # keep: the buffers the pointers point into
        f(cfg._ref, ref_inp, gp, ref_res)
    return run


def module_step(m, x, y):
    xl = x.detach().requires_grad_()

    def run():
        xl.grad = None
        m(xl, y).backward()
    return run


def loss_only(m, x, y):
    def run():
        with torch.no_grad():
            m(x, y)
    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", default="8,4,512,512", help="N,C,H,W (default 8,4,512,512)")
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--losses", default=",".join(CONFIGS))
    ap.add_argument("--channels-last", action="store_true", help="also NHWC (channels_last) logits")
    a = ap.parse_args()
    torch.set_num_threads(1)
    n, c, h, w = (int(v) for v in a.shape.split(","))
    print("segloss %s, path %s, torch %s, 1 thread; batch %dx%dx%dx%d float32 (%.1f MiB), uint8 labels"
          % (segloss.__version__, segloss.active_isa(), torch.__version__, n, c, h, w, n * c * h * w * 4 / 2**20))
    print("C call, module: ms, min / median over the repeats; layer: module minus the C call inside it\n"
          "(median, us, and % of the C call's median); loss only: min, against the C call without gradient")
    print("%-12s %-6s %15s %15s %9s %10s %8s %9s" % (
        "loss", "layout", "C call", "module+bwd", "min/min", "layer us", "layer %", "loss only"))
    layouts = [False, True] if a.channels_last else [False]
    for cl in layouts:
        x, y = batch(n, c, h, w, cl)
        lay = _ffi.NHWC if cl else _ffi.NCHW
        for name in a.losses.split(","):
            m = SegLoss(**CONFIGS[name])
            inp = _ffi.segloss_input(x.data_ptr(), y.data_ptr(), _ffi.LABEL_U8, n, c, h * w, lay)
            res = _ffi.segloss_result()
            inner = []
            real = _ffi.compute

            def timed_compute(*args):
                t0 = time.perf_counter()
                r = real(*args)
                inner.append(time.perf_counter() - t0)
                return r

            _ffi.compute = timed_compute
            try:
                ts = all_times([c_call(m.config, x, y, lay), module_step(m, x, y),
                                lambda: _ffi.lib.segloss_compute(m.config._ref, ctypes.byref(inp), None,
                                                                 ctypes.byref(res)),
                                loss_only(m, x, y)], a.repeat)
            finally:
                _ffi.compute = real
            tc, tm, tc0, tl = ts
            # inner has one entry per module step and per loss-only call, in turns
            inner_step = inner[0::2][-a.repeat:]
            py = [s - i for s, i in zip(tm, inner_step)]
            print("%-12s %-6s %6.2f / %6.2f %6.2f / %6.2f %+8.1f%% %10.0f %7.1f%% %+8.1f%%" % (
                name, "NHWC" if cl else "NCHW", min(tc) * 1e3, statistics.median(tc) * 1e3, min(tm) * 1e3,
                statistics.median(tm) * 1e3, (min(tm) / min(tc) - 1) * 100, statistics.median(py) * 1e6,
                statistics.median(py) / statistics.median(tc) * 100, (min(tl) / min(tc0) - 1) * 100))
    # fixed cost per call
    x, y = batch(1, 4, 8, 8, False)
    m = SegLoss(loss_type="ce")
    tc, tm, tl = (statistics.median(t) for t in all_times(
        [c_call(m.config, x, y, _ffi.NCHW), module_step(m, x, y), loss_only(m, x, y)], 2001))
    print("fixed cost per call (1x4x8x8 'ce'): C call %.1f us, module forward+backward %.1f us, "
          "loss only %.1f us" % (tc * 1e6, tm * 1e6, tl * 1e6))


if __name__ == "__main__":
    main()
