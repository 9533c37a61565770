#!/usr/bin/python3
"""Instructions per position from callgrind: the table of `make bench-count`.

    /usr/bin/python3 bench/count.py BUILD/bench/count [--paths=avx2,scalar] [--s=8192] [--k1=1] [--k2=3]
                                    [--json=FILE] [--keep=DIR]

Runs the driver bench/count.c under `valgrind --tool=callgrind --instr-atstart=no` once per
path (SEGLOSS_ISA=<path>; the paths in parallel), each run dumping the counts of K1 and then
K2 calls of N x S positions for every loss and mode (C=4, NCHW, uint8 labels). Per position:
(Ir(K2) - Ir(K1)) / ((K2 - K1) N S), in total and per function. The kernels are the functions
segloss__<kernel>__<path> (labels, stats, coefs, grad, ...); "libm" is what they call there
(the scalar path's fmaf, for one: without -mfma it is a call); "other" is everything else
(the driver segloss__run, memset, ...), mostly per-call costs spread over the N S positions.
Counts are deterministic and machine-independent; they depend on the compiler and its flags
(bench.mk builds the implementation with -O2, no -march, as users do). Standard library only.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

LOSSES = ["ce", "weighted_ce", "focal", "dice", "focal_dice", "tversky"]
# Issue #15's targets, AVX2, C=4, loss + gradient: instructions per position.
TARGETS = {("ce", "grad", "avx2"): 20.0, ("dice", "grad", "avx2"): 36.0}
KERNEL = re.compile(r"^segloss__([a-z0-9_]+?)__(avx512|avx2|sse2|neon|scalar)$")
TRIGGER = "desc: Trigger: Client Request: "
ORDER = ["labels", "stats", "coefs", "grad"]  # the rest follow in name order


def opt(argv, name, default):
    for a in argv:
        if a.startswith("--%s=" % name):
            return a.split("=", 1)[1]
    return default


def parse_part(path):
    """(trigger label, {function: self Ir}, total Ir) of one callgrind dump."""
    names, cost, label, total = {}, {}, None, None
    fn, skip_next = None, False
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            c0 = line[0]
            if c0.isdigit() or c0 in "+-*":
                if skip_next:  # the inclusive cost of a call: not this function's own
                    skip_next = False
                    continue
                parts = line.split()
                if fn is not None and len(parts) > 1:
                    cost[fn] = cost.get(fn, 0) + int(parts[1])
                continue
            if line.startswith("fn=") or line.startswith("cfn="):
                m = re.match(r"c?fn=\((\d+)\)(?: (.*))?$", line)
                if m:
                    if m.group(2) is not None:
                        names[m.group(1)] = m.group(2)
                    if line.startswith("fn="):
                        fn = names.get(m.group(1), m.group(1))
                else:  # uncompressed names
                    name = line.split("=", 1)[1]
                    if line.startswith("fn="):
                        fn = name
            elif line.startswith("calls="):
                skip_next = True
            elif line.startswith(TRIGGER):
                label = line[len(TRIGGER):].strip()
            elif line.startswith("summary:") or line.startswith("totals:"):
                total = int(line.split()[1])
    return label, cost, total


def group(fname, libs):
    m = KERNEL.match(fname)
    if m:
        return m.group(1)
    return "libm" if fname in libs else "other"


def run_path(binary, path, args, workdir):
    out = os.path.join(workdir, "cg-%s" % path)
    cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--callgrind-out-file=%s.%%p" % out,
           binary] + args
    env = dict(os.environ, SEGLOSS_ISA=path)
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    if not args:
        sys.stderr.write(__doc__)
        return 2
    binary = os.path.abspath(args[0])
    paths = opt(argv, "paths", "avx2,scalar").split(",")
    s, k1, k2 = int(opt(argv, "s", "8192")), int(opt(argv, "k1", "1")), int(opt(argv, "k2", "3"))
    n, c = 2, 4
    drv_args = ["--n=%d" % n, "--c=%d" % c, "--s=%d" % s, "--k1=%d" % k1, "--k2=%d" % k2]
    keep = opt(argv, "keep", None)
    workdir = keep or tempfile.mkdtemp(prefix="segloss-count-")
    os.makedirs(workdir, exist_ok=True)
    try:
        procs = {p: run_path(binary, p, drv_args, workdir) for p in paths}
        rows, failed = {}, False
        for p, proc in procs.items():
            so, se = proc.communicate()
            got = re.search(r"^path (\S+)", so, re.M)
            if proc.returncode != 0 or not got or got.group(1) != p:
                sys.stderr.write("bench-count: the %s run failed or ran path %s:\n%s\n%s\n" % (
                    p, got.group(1) if got else "?", so[-2000:], se[-4000:]))
                failed = True
                continue
            parts = {}
            for f in os.listdir(workdir):
                if f.startswith("cg-%s." % p) and f.count(".") == 2:
                    label, cost, total = parse_part(os.path.join(workdir, f))
                    if label:
                        parts[label] = (cost, total)
            for loss in LOSSES:
                for mode in ("grad", "loss"):
                    a = parts.get("%s/%s/k%d" % (loss, mode, k1))
                    b = parts.get("%s/%s/k%d" % (loss, mode, k2))
                    if not a or not b:
                        sys.stderr.write("bench-count: no dump for %s/%s on %s\n" % (loss, mode, p))
                        failed = True
                        continue
                    per = float((k2 - k1) * n * s)
                    libs = {f for f in set(a[0]) | set(b[0]) if f.startswith("__") and ("fma" in f or "exp" in f or "log" in f)}
                    split = {}
                    for fname in set(a[0]) | set(b[0]):
                        g = group(fname, libs)
                        split[g] = split.get(g, 0.0) + (b[0].get(fname, 0) - a[0].get(fname, 0)) / per
                    rows[(loss, mode, p)] = ((b[1] - a[1]) / per, split)
        if failed:
            return 1
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)

    kernels = sorted({g for _, sp in rows.values() for g, v in sp.items() if abs(v) >= 0.05},
                     key=lambda g: (ORDER.index(g) if g in ORDER else len(ORDER) + (g in ("libm", "other")),
                                    g == "other", g))
    out = []
    w = out.append
    w("## segloss instructions per position (callgrind)")
    w("")
    w("valgrind --tool=callgrind Ir, (Ir(K2) - Ir(K1)) / ((K2 - K1) N S) with K1 = %d, K2 = %d, N = %d, S = %d:" % (k1, k2, n, s))
    w("C = %d, NCHW, uint8 labels, each loss's defaults; path forced with SEGLOSS_ISA. Columns after the" % c)
    w("total: the kernels segloss__<kernel>__<path> (their inlined phases included), libm (calls the")
    w("kernels make there), other (driver and per-call costs). Target: issue #15, AVX2 loss + gradient.")
    w("")
    w("| loss | mode | path | total | " + " | ".join(kernels) + " | target |")
    w("|---|---|---|---:|" + "---:|" * len(kernels) + "---|")
    for loss in LOSSES:
        for mode in ("grad", "loss"):
            for p in paths:
                if (loss, mode, p) not in rows:
                    continue
                tot, sp = rows[(loss, mode, p)]
                t = TARGETS.get((loss, mode, p))
                verdict = "" if t is None else "≤ %g: %s" % (t, "met" if tot <= t else "not met")
                w("| %s | %s | %s | %.1f | " % (loss, "loss+grad" if mode == "grad" else "loss only", p, tot) +
                  " | ".join("%.1f" % sp[g] if abs(sp.get(g, 0.0)) >= 0.05 else "" for g in kernels) +
                  " | %s |" % verdict)
    print("\n".join(out))
    jpath = opt(argv, "json", None)
    if jpath:
        with open(jpath, "w") as f:
            json.dump({"n": n, "c": c, "s": s, "k1": k1, "k2": k2,
                       "rows": [{"loss": l, "mode": m, "path": p, "total": v[0], "split": v[1]}
                                for (l, m, p), v in sorted(rows.items())]}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
