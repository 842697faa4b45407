"""``numbadn bench``: kernel GFLOP/s and inference timings beside the paper's.

Section 4.5 of the paper: 5.8 +- 1.0 s per filter per megapixel; 2.5 s, 10 s
and 55 s of inference for layers 1, 2, 3 on 150x150 images (9 / 45 / 150
maps).  All times are medians of repeated runs after a warm-up call.

**Which "filter".**  The paper's unit is a 7x7 filter plane ``f_kc`` (one
connection of the connectivity ``g``), not a feature map: its layer 2 has 45
maps wired to 1 or 2 of the 9 inputs, 81 planes, and 5.8 s x 81 x 0.0225 Mpx
= 10.6 s matches its 10 s (per map it would predict 5.9 s).  So the rate
printed here divides by the connected planes (``g.sum()``: 9 / 81 / 300); the
JSON also keeps the per-map figure (``s_per_map_mpx``).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numba
import numpy as np
from numba import prange

from . import connectivity as C
from ._jit import JIT, PJIT, thread_settings, threads
from .kernels import apply_A, corr, make_operator, new_rpad
from .solvers import Continuation, make_prior

PAPER_S_PER_FILTER_MPX = 5.8
PAPER_LAYER_SECONDS = {1: 2.5, 2: 10.0, 3: 55.0}
#: The speed targets: 200 times faster than the paper's timings.
TARGET_LAYER_SECONDS = {1: 0.012, 2: 0.050, 3: 0.275}
TARGET_S_PER_FILTER_MPX = 0.03


def paper_layers():
    """(name, K0, K1, g) of the paper's architecture (section 4.1)."""
    return [
        ("layer 1 (1->9 full)", 1, 9, C.full(9, 1)),
        ("layer 2 (9->45 singles+pairs)", 9, 45, C.singles_and_pairs(9)),
        ("layer 3 (45->150 random pairs)", 45, 150, C.random_pairs(150, 45, seed=0)),
    ]


def parse_threads(text):
    """``--threads`` of ``numbadn bench``: comma-separated positive integers."""
    try:
        tc = sorted({int(t) for t in str(text).split(",") if t.strip()})
    except ValueError:
        raise ValueError(f"--threads must be comma-separated positive integers like 1,2, "
                         f"got {text!r}") from None
    if not tc or tc[0] < 1:
        raise ValueError(f"--threads must list positive thread counts, got {text!r}")
    return tc


def median_time(fn, repeats=7, min_time=0.05):
    """Median seconds per call over ``repeats`` batches of at least ``min_time``."""
    fn()
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-7)
    inner = max(1, int(min_time / one))
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        ts.append((time.perf_counter() - t0) / inner)
    return float(np.median(ts))


# ------------------------------------------------ the machine's float32 peak
@numba.njit(**JIT)
def fma_loop(a, n, m, c):
    """``16 n len(a)`` fused multiply-adds on ``a`` in place.

    Each element runs a dependent chain of 16 FMAs per pass; the loop over
    elements is vectorised and the out-of-order core overlaps the chains of
    neighbouring elements, so the FMA units, not loads, set the speed.
    """
    for _ in range(n):
        for j in range(a.shape[0]):
            x = a[j]
            x = x * m + c
            x = x * m + c
            x = x * m + c
            x = x * m + c
            x = x * m + c
            x = x * m + c
            x = x * m + c
            x = x * m + c
            x = x * m + c
            x = x * m + c
            x = x * m + c
            x = x * m + c
            x = x * m + c
            x = x * m + c
            x = x * m + c
            x = x * m + c
            a[j] = x


@numba.njit(**PJIT)
def fma_loop_parallel(A, n, m, c):
    """:func:`fma_loop` on every row of ``A``. Parallel over: rows."""
    for t in prange(A.shape[0]):
        fma_loop(A[t], n, m, c)


def measure_peak(n_threads):
    """float32 GFLOP/s of :func:`fma_loop` on ``n_threads`` threads (best of 5).

    Four rows of work per thread: with one row per thread numba's scheduler
    left a thread idle part of the time (2 threads measured 1.2x one instead
    of the 1.95x that two single-thread processes side by side reach).
    """
    m, c = np.float32(0.999999), np.float32(1e-7)
    A = np.ones((1 if n_threads == 1 else 4 * n_threads, 256), np.float32)
    n = 200000 if n_threads == 1 else 50000
    best = 0.0
    with threads(n_threads, adapt=False):
        for _ in range(5):
            t0 = time.perf_counter()
            if n_threads == 1:
                fma_loop(A[0], n, m, c)
            else:
                fma_loop_parallel(A, n, m, c)
            dt = time.perf_counter() - t0
            best = max(best, 2 * 16 * A.size * n / dt / 1e9)
    return best


def conv_flops(g, h, w, P, Q):
    """FLOPs executed by F z and by F^T r (2 per tap per output pixel)."""
    nnz = int(np.asarray(g).sum())
    return 2 * nnz * h * w * P * Q, 2 * nnz * h * w * (P + h - 1) * (Q + w - 1)


def bench_kernels(sizes, thread_counts, h=7, dtype=np.float32, peaks=None, out=print,
                  repeats=7, min_time=0.05):
    rng = np.random.default_rng(0)
    rows = []
    for name, K0, K1, g in paper_layers():
        f = rng.standard_normal((K1, K0, h, h)).astype(dtype)
        op = make_operator(f, g)
        for P in sizes:
            z = rng.standard_normal((K1, P + h - 1, P + h - 1)).astype(dtype)
            rpad = new_rpad(K0, P, P, h, h, dtype)
            zout = np.empty_like(z)
            fv, ff = conv_flops(g, h, h, P, P)
            for nt in thread_counts:
                with threads(nt, adapt=False):
                    tv = median_time(lambda: corr(z, op.taps_fwd, rpad, op.ptr_fwd, op.idx_fwd,
                                                  h - 1, h - 1, True), repeats, min_time)
                    tf = median_time(lambda: corr(rpad, op.taps_adj, zout, op.ptr_adj, op.idx_adj,
                                                  0, 0, True), repeats, min_time)
                    ta = median_time(lambda: apply_A(op, z, zout, rpad, 0.5, True), repeats,
                                     min_time)
                for kern, t, fl in (("conv_valid", tv, fv), ("conv_full", tf, ff), ("Az", ta, fv + ff)):
                    gf = fl / t / 1e9
                    frac = gf / peaks[nt] if peaks else float("nan")
                    rows.append(dict(layer=name, kernel=kern, size=P, threads=nt,
                                     ms=t * 1e3, gflops=gf, peak_fraction=frac))
                    out(f"  {name:32s} {kern:10s} {P:4d}px {nt:2d} thr  {t * 1e3:8.3f} ms "
                        f"{gf:7.1f} GFLOP/s  {100 * frac:5.1f}% of peak  (target 50%)")
    return rows


def bench_inference(P, thread_counts, h=7, dtype=np.float32, out=print, repeats=None):
    """Paper schedule (continuation defaults) on P x P inputs, per layer."""
    rng = np.random.default_rng(1)
    sol = Continuation()
    prior, plan = make_prior(1.0, 1.0), sol.plan()
    rows = []
    for li, (name, K0, K1, g) in enumerate(paper_layers(), start=1):
        f = rng.standard_normal((K1, K0, h, h)).astype(dtype)
        f /= np.sqrt((f ** 2).sum(axis=(2, 3), keepdims=True))
        f *= g[:, :, None, None]
        op = make_operator(f, g)
        y = rng.standard_normal((K0, P, P)).astype(dtype)
        z = np.zeros((K1, P + h - 1, P + h - 1), dtype)
        for nt in thread_counts:
            def run():
                z[...] = 0
                sol.solve(op, y, z, prior, plan)
            with threads(nt, adapt=False):
                t = median_time(run, repeats=repeats or (5 if li < 3 else 3),
                                min_time=0.0 if repeats else 0.2)
            n_planes = int(np.asarray(g).sum())
            spfm = t / n_planes / (P * P / 1e6)
            rows.append(dict(layer=li, threads=nt, seconds=t, s_per_filter_mpx=spfm,
                             filter_planes=n_planes, s_per_map_mpx=t / K1 / (P * P / 1e6)))
            paper, target = PAPER_LAYER_SECONDS[li], TARGET_LAYER_SECONDS[li]
            out(f"  {name:32s} {nt:2d} thr  {t * 1e3:9.2f} ms  (paper {paper:.1f} s, "
                f"target {target * 1e3:.0f} ms, speed-up {paper / t:,.0f}x)"
                f"  {spfm:.4f} s/filter/Mpx over {n_planes} planes (paper {PAPER_S_PER_FILTER_MPX}, "
                f"target {TARGET_S_PER_FILTER_MPX})")
    return rows


#: The two thread policies compared under contention: numbadn's (the process's
#: own environment) and numba's/libgomp's defaults (long spinning, no thread cap).
CONTENTION_CONFIGS = [
    ("numbadn's settings", {}),
    ("before (libgomp default spin, no cap)",
     {"NUMBADN_ADAPTIVE_THREADS": "0", "GOMP_SPINCOUNT": "300000"}),
]
#: The bound under contention: with busy processes beside it, a call on all threads
#: takes at most this many times a 1-thread call.
CONTENTION_BOUND = 1.5


def _contention_child(n_threads, seconds):
    """In a fresh process: the paper's schedule (layer 1, 9 unit-norm random 7x7
    filters) on one contrast-normalised 96x96 ``natural`` crop, through
    :func:`numbadn.infer`, in blocks of 1-thread and ``n_threads``-thread calls
    alternating for about ``seconds``; prints one JSON line of per-call times."""
    from .data import load_images
    from .solvers import infer
    from .preprocess import contrast_normalize
    y = contrast_normalize(load_images("natural")[0])[None].astype(np.float32)
    f = np.random.default_rng(0).standard_normal((9, 1, 7, 7)).astype(np.float32)
    f /= np.sqrt((f ** 2).sum(axis=(2, 3), keepdims=True))
    counts = (1, int(n_threads))
    for nt in counts:
        infer(y, f, n_threads=nt)
    times = {nt: [] for nt in counts}
    block = float(seconds) / 6
    for _ in range(3):
        for nt in counts:
            t_end = time.perf_counter() + block
            while True:
                t0 = time.perf_counter()
                infer(y, f, n_threads=nt)
                t1 = time.perf_counter()
                times[nt].append(t1 - t0)
                if t1 >= t_end:
                    break
    print(json.dumps({str(nt): v for nt, v in times.items()}))


def _summary(ts):
    ts = np.asarray(ts)
    return dict(mean_ms=float(ts.mean() * 1e3), median_ms=float(np.median(ts) * 1e3),
                p90_ms=float(np.percentile(ts, 90) * 1e3), max_ms=float(ts.max() * 1e3),
                calls=int(ts.size))


def _run_contention_child(n_threads, seconds, env):
    code = f"from numbadn.bench import _contention_child as c; c({int(n_threads)}, {seconds!r})"
    mine = thread_settings()["set_by_numbadn"]  # the child's import sets them itself
    full = {k: v for k, v in os.environ.items() if k not in mine}
    full.update(env)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=full, timeout=120 + 20 * seconds)
    if proc.returncode != 0:
        raise RuntimeError(f"contention child failed (exit {proc.returncode}): "
                           f"{proc.stderr.strip().splitlines()[-1:] }")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    return {int(k): _summary(v) for k, v in res.items()}


def bench_contention(n_threads, n_busy=None, seconds=3.0, configs=None, out=print):
    """A call on ``n_threads`` threads against one on 1 thread, on an idle machine
    and with ``n_busy`` CPU-bound processes beside it (default: the CPUs + 1, i.e.
    three on two cores), for numbadn's thread settings and for numba's and
    libgomp's defaults (:data:`CONTENTION_CONFIGS`).  Each measurement is
    a fresh process (libgomp reads its settings at start); times are means per
    call (a stall counts), medians and 90th percentiles beside them.
    """
    n_busy = (os.cpu_count() or 1) + 1 if n_busy is None else int(n_busy)
    configs = CONTENTION_CONFIGS if configs is None else configs
    rows = []
    for label, env in configs:
        for busy in (0, n_busy):
            procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                     for _ in range(busy)]
            try:
                load = os.getloadavg()[0]
                res = _run_contention_child(n_threads, seconds, env)
            finally:
                for pr in procs:
                    pr.kill()
                for pr in procs:
                    pr.wait()
            one, many = res[1], res[int(n_threads)]
            ratio = many["mean_ms"] / one["mean_ms"]
            rows.append(dict(config=label, env=env, busy=busy, threads=int(n_threads),
                             one=one, many=many, ratio=ratio, load_before=load))
            verdict = "" if not busy else \
                f" (bound {CONTENTION_BOUND}: {'met' if ratio <= CONTENTION_BOUND else 'NOT met'})"
            out(f"  {label:38s} {busy:2d} busy: 1 thr {one['mean_ms']:7.2f} ms, "
                f"{n_threads} thr {many['mean_ms']:7.2f} ms (median {many['median_ms']:.2f}, "
                f"p90 {many['p90_ms']:.2f}, max {many['max_ms']:.0f}): "
                f"x{ratio:.2f}{verdict}; load average before {load:.2f}")
    return rows


def add_arguments(ap):
    """The options of ``numbadn bench`` (this module's ``main`` and the command line's
    ``bench`` command share them)."""
    ap.add_argument("--quick", action="store_true", help="150x150 only, fewer repeats")
    ap.add_argument("--smoke", action="store_true",
                    help="32x32 only: checks that every part runs (seconds; no figures)")
    ap.add_argument("--threads", dest="threads_list", default=None, metavar="N,N",
                    help="comma-separated thread counts (default: 1 and all)")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    ap.add_argument("--no-contention", action="store_true",
                    help="skip the measurement with CPU-bound processes beside the calls")
    ap.add_argument("--contention-only", action="store_true",
                    help="only the measurement under contention")
    ap.add_argument("--busy", type=int, default=None,
                    help="CPU-bound processes for the contention measurement (default: CPUs + 1)")
    return ap


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="numbadn bench",
        description="Measure the kernels' GFLOP/s (fraction of a measured float32 FMA peak) "
                    "and the paper's inference schedule, beside the paper's section 4.5 figures.")
    return run(add_arguments(ap).parse_args(argv))


def run(args):
    """``numbadn bench`` with the options of :func:`add_arguments` (parsed)."""
    nmax = numba.config.NUMBA_NUM_THREADS
    tc = sorted({1, nmax}) if args.threads_list is None else parse_threads(args.threads_list)
    if args.busy is not None and args.busy < 0:
        raise ValueError(f"--busy must be >= 0, got {args.busy}")
    print(f"numbadn bench: numba {numba.__version__}, {platform.processor() or platform.machine()}, "
          f"{nmax} threads available")
    st = thread_settings()
    print(f"threads: numba layer {st['threading_layer']}; OMP_WAIT_POLICY="
          f"{st['OMP_WAIT_POLICY']}, GOMP_SPINCOUNT={st['GOMP_SPINCOUNT']} "
          f"({'set by numbadn' if st['set_by_numbadn'] else 'the user' + chr(39) + 's'}); "
          f"cap at the idle CPUs: {'on' if st['adaptive'] else 'off'}; load average "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    crows = []
    if not args.no_contention:
        nt = max(tc)
        print(f"Under contention: the paper's schedule on one 96x96 natural crop (layer 1), "
              f"1 thread vs {nt}, alone and beside CPU-bound processes (fresh processes, "
              f"means per call):")
        if nt < 2:
            print("  (skipped: one thread only)")
        else:
            crows = bench_contention(nt, args.busy, 1.5 if args.quick else 3.0)
    if args.contention_only:
        if args.json:
            with open(args.json, "w") as fh:
                json.dump(dict(contention=crows), fh, indent=1)
        return 0
    print("float32 peak, measured by a 16-deep FMA loop (fma_loop):")
    peaks = {nt: measure_peak(nt) for nt in tc}
    for nt in tc:
        print(f"  {nt:2d} thread(s): {peaks[nt]:7.1f} GFLOP/s  "
              f"({peaks[nt] / nt / 3.5:.0f} FLOP/cycle per thread if the clock is 3.5 GHz)")
    if len(tc) > 1 and peaks[tc[-1]] < 0.75 * tc[-1] * peaks[tc[0]]:
        print(f"  ({tc[-1]} threads reach only {peaks[tc[-1]] / peaks[tc[0]]:.2f}x one thread: "
              "the threads share FMA units (SMT siblings) or the clock drops under load)")
    print("Kernels (7x7 filters, float32; FLOPs = 2 per tap per output pixel):")
    sizes = [32] if args.smoke else [150] if args.quick else [100, 150]
    krows = bench_kernels(sizes, tc, peaks=peaks, **(dict(repeats=2, min_time=0.0)
                                                   if args.smoke else {}))
    P = 32 if args.smoke else 150
    print("Inference, paper schedule (continuation beta0=1, beta_inc=6, beta_max=1e5, "
          f"1 inner iteration, 2 CG steps), {P}x{P}, float32:")
    irows = bench_inference(P, tc, repeats=2 if args.smoke else None)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(dict(peaks=peaks, kernels=krows, inference=irows, contention=crows),
                      fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
