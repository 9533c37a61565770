#!/usr/bin/python3
"""Compact table from the JSON of bench_segloss (Google Benchmark, --benchmark_out_format=json).

    /usr/bin/python3 bench/table.py build/bench/bench.json [--time=cpu|real]

Every ratio is taken from medians inside one JSON file (one run of the binary), never across
runs. Where the binary paired the calls (bench/bench.cpp) the ratio is its counter: x_memcpy
and x_ntcopy in DRAM (64 MiB, 1 GiB: each call followed by a memcpy and a non-temporal copy
of the same bytes, in turn first), x_nchw for NHWC (each call followed by the same call on
the bytes read as NCHW), so both times see the same load. Benchmark names are
loss/mode/isa/layout/C<c>/<size>,  memcpy/C<c>/<size>,  ntcopy/C<c>/<size>  and
confusion/-/layout/C<c>/<size>  (see bench/bench.cpp). Standard library only.
"""
import json
import os
import sys

# Display order only, best first as segloss_isa_name lists them; which paths a run has comes
# from the benchmark names in its JSON (Bench.paths).
PATHS = ["avx512", "avx2", "sse2", "neon", "scalar"]
LOSSES = ["ce", "weighted_ce", "focal", "dice", "focal_dice", "tversky"]
DRAM, CACHE, GIB = "64MiB", "256KiB", "1GiB"
UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
NO512 = "n/a (no AVX-512 on this CPU)"


def load(path, which):
    with open(path) as f:
        doc = json.load(f)
    med, skipped, paired, nbytes = {}, {}, {}, {}
    for b in doc.get("benchmarks", []):
        name = b.get("run_name", b["name"])
        for suffix in ("/real_time", "/manual_time"):
            if name.endswith(suffix):
                name = name[: -len(suffix)]
        if b.get("error_occurred"):
            skipped[name] = b.get("error_message", "skipped")
            continue
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        # With repetitions only the median aggregate is kept; a single run is its own median.
        if b.get("run_type") == "iteration" and name in med and b.get("repetitions", 1) > 1:
            continue
        med[name] = b[which + "_time"] * UNIT_NS[b.get("time_unit", "ns")]
        if b.get("logits_bytes"):
            nbytes[name] = b["logits_bytes"]
        for counter in ("x_memcpy", "x_ntcopy", "nt_memcpy", "x_nchw"):
            if counter in b:
                paired[(name, counter)] = b[counter]
    return doc.get("context", {}), med, skipped, paired, nbytes


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def fmt(x, digits=2):
    return "-" if x is None else ("%.*f" % (digits, x))


class Bench:
    def __init__(self, med, skipped, paired, nbytes):
        self.med, self.skipped, self.paired, self.nbytes = med, skipped, paired, nbytes

    def t(self, loss, mode, isa, layout, c, size):
        return self.med.get("%s/%s/%s/%s/C%d/%s" % (loss, mode, isa, layout, c, size))

    def x(self, loss, mode, isa, layout, c, size):
        """The paired × memcpy (DRAM cases), else None."""
        return self.paired.get(("%s/%s/%s/%s/C%d/%s" % (loss, mode, isa, layout, c, size), "x_memcpy"))

    def memcpy(self, c, size):
        return self.med.get("memcpy/C%d/%s" % (c, size))

    def ntcopy(self, c, size):
        return self.med.get("ntcopy/C%d/%s" % (c, size))

    def vs_copy(self, loss, mode, isa, layout, c, size):
        x = self.x(loss, mode, isa, layout, c, size)
        if x is not None:
            return x
        t, m = self.t(loss, mode, isa, layout, c, size), self.memcpy(c, size)
        return t / m if t and m else None

    def vs_nt(self, loss, mode, isa, layout, c, size):
        """× the non-temporal copy: the paired x_ntcopy, else the ratio of the two medians."""
        x = self.paired.get(("%s/%s/%s/%s/C%d/%s" % (loss, mode, isa, layout, c, size), "x_ntcopy"))
        if x is not None:
            return x
        t, m = self.t(loss, mode, isa, layout, c, size), self.ntcopy(c, size)
        return t / m if t and m else None

    def nt_over_memcpy(self, c, size):
        """The non-temporal copy's time over memcpy's: the ntcopy benchmark's paired x_memcpy."""
        x = self.paired.get(("ntcopy/C%d/%s" % (c, size), "x_memcpy"))
        if x is not None:
            return x
        n, m = self.ntcopy(c, size), self.memcpy(c, size)
        return n / m if n and m else None

    def floor(self, loss, isa, c):
        """In-cache time per logits byte / DRAM memcpy time per byte: the × memcpy a DRAM run
        would show if its memory traffic cost nothing beyond the arithmetic."""
        k = "%s/grad/%s/nchw/C%d/%s" % (loss, isa, c, CACHE)
        m = "memcpy/C%d/%s" % (c, DRAM)
        if k in self.med and m in self.med and k in self.nbytes and m in self.nbytes:
            return (self.med[k] / self.nbytes[k]) / (self.med[m] / self.nbytes[m])
        return None

    def layouts(self, loss, isa, c, size):
        """NHWC / NCHW time, loss+grad: the paired x_nchw, else the ratio of the two medians."""
        x = self.paired.get(("%s/grad/%s/nhwc/C%d/%s" % (loss, isa, c, size), "x_nchw"))
        if x is not None:
            return x
        a, b = self.t(loss, "grad", isa, "nhwc", c, size), self.t(loss, "grad", isa, "nchw", c, size)
        return a / b if a and b else None

    def speedup(self, loss, mode, isa, layout, c, ref="scalar", size=CACHE):
        t, r = self.t(loss, mode, isa, layout, c, size), self.t(loss, mode, ref, layout, c, size)
        return r / t if t and r else None

    def is_skipped(self, isa):
        return any("/%s/" % isa in k for k in self.skipped)

    def paths(self):
        """Paths present in this run (measured or skipped), best first."""
        keys = list(self.med) + list(self.skipped)
        return [p for p in PATHS if any("/%s/" % p in k for k in keys)]

    def best(self):
        for p in PATHS:
            if any("/%s/" % p in k for k in self.med):
                return p
        return None


def ntline(B, nbytes, w, size):
    """The non-temporal copy of the C=4 logits at size, against memcpy."""
    nt, m = B.ntcopy(4, size), B.memcpy(4, size)
    if nt:
        nb = nbytes.get("ntcopy/C4/%s" % size, 0)
        w("non-temporal copy of the C=4 logits, %s: %.3f ms (%.1f GB/s), %s × memcpy (paired; memcpy %s ms)." % (
            size, nt / 1e6, nb / nt if nb else 0.0, fmt(B.nt_over_memcpy(4, size)),
            "%.3f" % (m / 1e6) if m else "-"))


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    which = "real" if "--time=real" in argv else "cpu"
    if not args:
        sys.stderr.write(__doc__)
        return 2
    context, med, skipped, paired, nbytes = load(args[0], which)
    B = Bench(med, skipped, paired, nbytes)
    paths = B.paths()
    best = B.best()
    # bench-dram's JSON has the 1 GiB cases only: no 64 MiB / in-cache tables, no targets.
    main_sizes = any(k.endswith("/" + DRAM) or k.endswith("/" + CACHE) for k in list(med) + list(skipped))
    out = []
    w = out.append
    w("## segloss benchmark summary (%s)" % os.path.basename(args[0]))
    w("")
    w("Machine: %s, %s cores, %s; %s; ISA best path: %s; set: %s." % (
        cpu_model(), context.get("num_cpus", "?"),
        "AVX-512" if "avx512f" in cpu_flags() else "no AVX-512",
        context.get("compiler", "compiler unknown"), context.get("segloss_best_isa", "?"),
        context.get("segloss_set", "?")))
    w("Medians of %s time over the repetitions of one run (load average at start: %s)." % (
        which.upper(), ", ".join("%.1f" % x for x in context.get("load_avg", [])) or "?"))
    w("Ratios: time / time of a memcpy of the same logits bytes (src -> dst) in the same run (×memcpy),")
    w("and / time of a non-temporal copy of them (×nt-copy: streaming stores, %s, + sfence);" %
      context.get("nt_copy", "?"))
    w("in DRAM (%s, %s) %s." % (DRAM, GIB, "each call paired with both copies, in turn first, the median over "
                                "repetitions of the ratio of their sums" if paired else "the ratio of the two medians"))
    if any(k[1] == "x_nchw" for k in paired):
        w("NHWC / NCHW: each NHWC call paired with the NCHW call on the same bytes, likewise.")
    if main_sizes:
        w("speed-up: scalar time / path time, in cache (%s of logits), same run. C=4, NCHW." % CACHE)
    w("")

    if main_sizes:
        # ---- table 1: loss x mode, per path: x memcpy at 64 MiB, speed-up over scalar in cache ----
        head = "| loss | mode |" + "".join(" %s ×memcpy %s | ×nt-copy | %s ×scalar cache |" % (p, DRAM, p) for p in paths)
        w(head)
        w("|---|---|" + "---:|---:|---:|" * len(paths))
        for loss in LOSSES:
            for mode in ("grad", "loss"):
                if not any(B.t(loss, mode, p, "nchw", 4, s) or ("%s/%s/%s/nchw/C4/%s" % (loss, mode, p, s)) in skipped
                           for p in paths for s in (DRAM, CACHE)):
                    continue
                row = "| %s | %s |" % (loss, "loss+grad" if mode == "grad" else "loss only")
                for p in paths:
                    if p == "avx512" and B.is_skipped("avx512") and not B.t(loss, mode, p, "nchw", 4, DRAM):
                        row += " n/a | n/a | n/a |"
                        continue
                    row += " %s | %s | %s |" % (fmt(B.vs_copy(loss, mode, p, "nchw", 4, DRAM)),
                                                fmt(B.vs_nt(loss, mode, p, "nchw", 4, DRAM)),
                                                fmt(B.speedup(loss, mode, p, "nchw", 4)))
                w(row)
        if "avx512" in paths and B.is_skipped("avx512"):
            w("")
            w("avx512 columns: %s." % NO512)
        mc = B.memcpy(4, DRAM)
        mcc = B.memcpy(4, CACHE)
        if mc:
            w("memcpy of the C=4 logits: %s %.3f ms (%.1f GB/s copy), %s %.2f us." % (
                DRAM, mc / 1e6, 64 * 2 ** 20 / mc, CACHE, (mcc or 0) / 1e3))
        ntline(B, nbytes, w, DRAM)
        conf = [(k, v) for k, v in med.items() if k.startswith("confusion/")]
        for k, v in sorted(conf):
            parts = k.split("/")
            m = B.memcpy(int(parts[3][1:]), parts[4])
            x = paired.get((k, "x_memcpy"), v / m if m else None)
            w("segloss_confusion %s %s %s: %s × memcpy." % (parts[2], parts[3], parts[4], fmt(x)))
        w("")

        # ---- table 2: layouts and class counts on the best path ----------------------------------
        w("Best path (%s), loss+grad: NHWC / NCHW time, and × memcpy at %s." % (best, DRAM))
        w("")
        w("| loss | C | NHWC/NCHW %s | NHWC/NCHW %s | NCHW ×memcpy | NHWC ×memcpy | NCHW ×nt-copy |" % (DRAM, CACHE))
        w("|---|---:|---:|---:|---:|---:|---:|")
        for c in (2, 4, 21, 150):
            for loss in LOSSES:
                r = []
                for s in (DRAM, CACHE):
                    r.append(B.layouts(loss, best, c, s))
                x1, x2 = B.vs_copy(loss, "grad", best, "nchw", c, DRAM), B.vs_copy(loss, "grad", best, "nhwc", c, DRAM)
                if any(v is not None for v in r + [x1, x2]):
                    w("| %s | %d | %s | %s | %s | %s | %s |" % (loss, c, fmt(r[0]), fmt(r[1]), fmt(x1), fmt(x2),
                                                           fmt(B.vs_nt(loss, "grad", best, "nchw", c, DRAM))))
        w("")

    # ---- 1 GiB of logits (bench-full, bench-dram) ---------------------------------------------
    gib = [(l, p) for p in paths for l in LOSSES if B.t(l, "grad", p, "nchw", 4, GIB)]
    if gib:
        w("%s of logits (DRAM on any host), C=4 NCHW, loss+grad, each call paired with both copies:" % GIB)
        w("")
        ntline(B, nbytes, w, GIB)
        w("")
        w("| loss | path | ms | ×memcpy | ×nt-copy | nt-copy/memcpy |")
        w("|---|---|---:|---:|---:|---:|")
        for l, p in gib:
            w("| %s | %s | %.1f | %s | %s | %s |" % (
                l, p, B.t(l, "grad", p, "nchw", 4, GIB) / 1e6, fmt(B.vs_copy(l, "grad", p, "nchw", 4, GIB)),
                fmt(B.vs_nt(l, "grad", p, "nchw", 4, GIB)),
                fmt(B.paired.get(("%s/grad/%s/nchw/C4/%s" % (l, p, GIB), "nt_memcpy")))))
        w("")

    if not main_sizes:
        print("\n".join(out))
        return 0

    # ---- targets ---------------------------------------------------------------------------------
    w("Targets (issue \"Benchmarks\"), C=4 NCHW unless said:")
    w("")
    results = []

    def target(label, value, limit, kind, isa=None, floor=None, nt=None):
        if isa == "avx512" and B.is_skipped("avx512") and value is None:
            results.append((label, NO512, "n/a"))
            return
        if value is None:
            results.append((label, "not measured in this run", "n/a"))
            return
        ok = value <= limit if kind == "<=" else value >= limit
        shown = "%.2f" % value
        if float(shown) == limit and not ok or float(shown) != limit and (float(shown) <= limit) != ok:
            shown = "%.3f" % value  # do not print 1.50 beside NOT MET for a 1.504
        extra = ("" if floor is None else "; floor %.2f" % floor) + ("" if nt is None else "; × nt-copy %.2f" % nt)
        results.append((label, "%s (target %s %.2f%s)" % (shown, kind, limit, extra), "MET" if ok else "NOT MET"))

    for isa, lim_ce, lim_dice in (("avx512", 1.15, 1.6), ("avx2", 1.4, 1.9)):
        for loss in LOSSES:
            lim = lim_ce if loss in ("ce", "weighted_ce", "focal") else lim_dice
            target("%s loss+grad %s on %s, × memcpy" % (loss, DRAM, isa),
                   B.vs_copy(loss, "grad", isa, "nchw", 4, DRAM), lim, "<=", isa, B.floor(loss, isa, 4),
                   B.vs_nt(loss, "grad", isa, "nchw", 4, DRAM))
    for loss in LOSSES:
        target("%s in cache: avx2 speed-up over scalar" % loss, B.speedup(loss, "grad", "avx2", "nchw", 4), 8.0, ">=")
        target("%s in cache: avx512 speed-up over avx2" % loss,
               B.speedup(loss, "grad", "avx512", "nchw", 4, ref="avx2"), 1.5, ">=", "avx512")
        target("%s in cache: sse2 speed-up over scalar" % loss, B.speedup(loss, "grad", "sse2", "nchw", 4), 2.5, ">=")
    for c in (4, 21):
        for loss in LOSSES:
            for s in (DRAM, CACHE):
                r = B.layouts(loss, best, c, s)
                if r:
                    target("%s C=%d %s NHWC/NCHW (%s)" % (loss, c, s, best), r, 1.5, "<=")
    for c in (21, 150):
        target("ce C=%d %s loss+grad (%s), × memcpy" % (c, DRAM, best),
               B.vs_copy("ce", "grad", best, "nchw", c, DRAM), 1.5, "<=", floor=B.floor("ce", best, c),
               nt=B.vs_nt("ce", "grad", best, "nchw", c, DRAM))
    # #17: the sigmoid CE within 1.2 x the softmax CE at the same logits bytes; a weight map
    # costs no more than its own bytes: C=4 NCHW loss+gradient moves 16 + 16 bytes of logits and
    # gradient and 1 of uint8 label per position, the map 4 more: (33 + 4) / 33.
    for loss in ("ce", "dice"):
        base = B.t(loss, "grad", best, "nchw", 4, DRAM)
        sig = B.t(loss + "+sigmoid", "grad", best, "nchw", 4, DRAM)
        mp = B.t(loss + "+map", "grad", best, "nchw", 4, DRAM)
        if loss == "ce":
            target("ce sigmoid / softmax %s (%s)" % (DRAM, best), sig / base if sig and base else None, 1.2, "<=")
        target("%s weight map / none %s (%s)" % (loss, DRAM, best), mp / base if mp and base else None, 37 / 33, "<=")
    results.append(("every loss ≥ 100 × faster than PyTorch (1 thread)", "measured by make bench-peers", "see peers"))
    wl = max(len(r[0]) for r in results)
    wv = max(len(r[1]) for r in results)
    for label, val, verdict in results:
        w("  %-*s  %-*s  %s" % (wl, label, wv, val, verdict))
    w("")
    w("floor: the path's in-cache (%s) time per logits byte over memcpy's per byte at %s, in this run:" % (CACHE, DRAM))
    w("the × memcpy a %s call would show if its memory traffic cost nothing beyond the arithmetic." % DRAM)
    w("A floor above the target means this CPU's arithmetic alone misses it (an estimate: medians of")
    w("two benchmarks on a shared machine, and the in-cache run still pays the L2 for its 2 × %s)." % CACHE)
    met = sum(r[2] == "MET" for r in results)
    miss = sum(r[2] == "NOT MET" for r in results)
    w("")
    w("%d met, %d not met, %d n/a." % (met, miss, len(results) - met - miss))
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
