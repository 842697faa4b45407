"""Section 4.5 of Zeiler et al. (CVPR 2010): inference timings, and a head-to-head.

The paper (section 4.5): "Our scheme is linear in the number of filters and
pixels in the image (5.8 +- 1.0 secs/filter/megapixel).  Thus for 150 x 150
images ... inference takes 2.5s, 10s, 55s layers-1,2,3 respectively.  ...
learning incurs only a 10% overhead relative to inference."

This script measures, on the machine it runs on:

1. **Head-to-head on eq. 2** (the performance issue's problem): a 150x150
   contrast-normalised photograph (``numbadn/datasets/bench/``, a crop of
   OpenCV's ``fruits.jpg``, :func:`numbadn.preprocess.contrast_normalize`
   with ``mode="same"`` so it stays 150x150), 9 random unit-norm 7x7 filters
   (seed 0), one input channel, ``lam = 1``, ``p = 1``, float32 data.  The
   optimum ``C*`` comes from a long float64 numbadn FISTA run (tol 1e-8).
   For each method: the time until the cost is within 1% and 0.1% of the
   optimum, for

   * numbadn FISTA (``infer(..., solver="fista")``, float32),
   * numbadn continuation (the paper's schedule; it stops where its 7 beta
     values leave it, so we report its final gap and its time),
   * PyTorch FISTA written as a user would (``conv2d`` with the flipped
     filters for ``F z``, ``conv_transpose2d`` for ``F^T r``, ``softshrink``,
     step ``1/L`` from 50 power iterations; optional import),
   * SPORCO 0.2 ``ConvBPDNMaskDcpl`` (ADMM with a boundary mask W on the
     image padded by h-1: the same non-circular problem; automatic rho;
     optional import).  Our eq. 2 cost is evaluated on the coefficient maps
     it returns (``Y1``, its default ``ReturnVar``).

   **Which "within 1%".**  At ``lam = 1`` on a contrast-normalised image
   (range width 2) the optimum is ~99.9% zeros and lies only ~0.1% below the
   cost of ``z = 0``: "cost within 1% of C*" holds at iteration 0 for every
   method.  The measure used for the table is therefore the *fraction of the
   achievable decrease still missing*, ``(C_k - C*) / (C(0) - C*)``, at 1% and
   0.1%; the literal ``(C_k - C*) / C*`` is reported too (iterations only).

   Two times per method: *iterations only* (cumulative time of the
   iterations, cost evaluation and set-up excluded: numbadn's per-iteration
   ``stats["time"]``, the same bookkeeping for the peers) and *end-to-end*
   (the median wall time of one complete call that runs exactly the number
   of iterations needed, set-up such as the step size or SPORCO's FFTs
   included).  Every method runs with all cores and with one thread: on a
   shared 2-core machine the multithreaded runs of all three libraries can
   collapse when another process holds a core (see ``loadavg`` in the
   JSON).  Repeats are interleaved across methods (round robin, medians), so
   a change of load during the run hits every method alike.

2. **The paper's schedule per layer** (:func:`numbadn.bench.bench_inference`:
   continuation defaults, 150x150, 9 / 45 / 150 maps), beside the paper's
   2.5 s / 10 s / 55 s and the issue's targets of 12 / 50 / 275 ms and
   0.03 s/filter/megapixel (paper: 5.8).  A filter is one 7x7 plane ``f_kc``
   (9 / 81 / 300 per layer), the paper's unit: 5.8 s x 81 planes x 0.0225 Mpx
   = 10.6 s is its layer-2 time (see :mod:`numbadn.bench`).

3. **Learning overhead** (paper: 10%): ``DeconvLayer.fit`` for one epoch over
   N contrast-normalised built-in ``food`` crops vs. inferring the same N
   images with the same layer.

4. **Start-up**: a fresh interpreter (numba cache warm) from start to the
   result of its first ``infer``.

5. **Thread scaling**: images per second of one batched ``infer`` call on
   ``(n, 1, 150, 150)`` (n = 64 in full mode, as the issue) in subprocesses
   with ``NUMBA_NUM_THREADS`` = 1, 2, 4, ... up to the CPUs (or
   ``--scaling-threads``), and the largest count again with
   ``OMP_WAIT_POLICY=PASSIVE`` (libgomp's idle threads sleep instead of
   spinning; see the note below); for the paper's schedule, FISTA with its
   defaults and FISTA stopped where section 1 reached 1%.  Printed beside
   the issue's targets: 16 threads at least 12x one thread, and per-image
   throughput within 10x of PyTorch on an H100 (0.56 ms per image).

Measured (full mode, idle 2-core AMD EPYC VM, numba 0.68.1 'omp' layer,
torch 2.13.0+cpu, sporco 0.2.2.post1): to 1% / 0.1% of the decrease,
numbadn FISTA 3.0 / 4.2 ms per complete call (14 / 23 iterations), PyTorch
FISTA 48x / 41x slower, SPORCO 39x / 37x slower; counting the iterations
only, PyTorch is 15x / 18x slower (its call time is dominated by the 50
power iterations).  Paper schedule 3.3 / 28 / 148 ms for layers 1 / 2 / 3
at 2 threads (targets 12 / 50 / 275 ms); learning overhead +21%; fresh
process to first result 0.8-0.9 s.  *On a busy machine*: when another process
running multithreaded numba (or any libgomp program) shares the two cores,
every 2-thread ``infer`` call here took about 0.7 s whatever its size (up to
400x slower than with one thread); ``OMP_WAIT_POLICY=PASSIVE`` or
``n_threads=1`` avoid it.

Writes ``sec45_timings.json`` (numbers, settings, versions, load, wall time)
and ``sec45_timings.png`` (decrease gap against time, log-log, one curve per
method) into ``--out`` (default ``figures/``).

Run::

    python reproduce/sec45_timings.py            # full (about 70 s on 2 idle cores)
    python reproduce/sec45_timings.py --quick    # fewer repeats (about 30 s)
    python reproduce/sec45_timings.py --smoke    # 40x40 crop, 1 repeat, 1 thread (tests)
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

try:
    import numbadn
except ImportError:  # run from a checkout without ``pip install -e .``
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import numbadn

import numba
from scipy.signal import fftconvolve

from numbadn import DeconvLayer, cost, infer
from numbadn import bench as B
from numbadn._jit import max_threads
from numbadn.data import load_images
from numbadn.kernels import conv_full, conv_valid
from numbadn.preprocess import contrast_normalize

#: The photograph of the head-to-head (see numbadn/datasets/LICENSE).
BENCH_IMAGE = Path(numbadn.__file__).resolve().parent / "datasets" / "bench" / "fruits_y0015_x0181.png"

#: The issue's reference points on a 2-core machine, seconds to (1%, 0.1%), by library.
ISSUE_REFERENCE = {"torch": (0.100, 0.200), "sporco": (0.100, 0.150)}
LIBRARY_NAMES = {"numbadn": "numbadn", "torch": "PyTorch", "sporco": "SPORCO"}
#: The issue's target: numbadn at least this many times faster than both.
ISSUE_SPEEDUP_TARGET = 10.0
#: Section 4.5.
PAPER_LEARNING_OVERHEAD = 0.10
#: The issue's H100 reference: PyTorch FISTA on the same problem, seconds per
#: image in a batch of 64; the target is per-image throughput within 10x of it.
ISSUE_H100_SECONDS_PER_IMAGE = 0.56e-3
ISSUE_H100_FACTOR = 10.0
#: ... and at 16 threads at least 12x one thread for a batch of 64.
ISSUE_SCALING_THREADS, ISSUE_SCALING_TARGET = 16, 12.0
TARGETS = (1e-2, 1e-3)


# ----------------------------------------------------------------------------- problem
def bench_image(size=None):
    """The 150x150 photograph, contrast-normalised ('same' mode), float64 (P, Q).

    ``size`` cuts a centred ``size x size`` crop first (``--smoke``).
    """
    img = load_images(BENCH_IMAGE, dtype=np.float64)[0]
    if size is not None:
        r, c = (img.shape[0] - size) // 2, (img.shape[1] - size) // 2
        img = img[r:r + size, c:c + size]
    return contrast_normalize(img, mode="same")


def unit_filters(K1=9, K0=1, h=7, seed=0):
    """``randn`` filters, every plane scaled to unit L2 norm, float64."""
    f = np.random.default_rng(seed).standard_normal((K1, K0, h, h))
    return f / np.sqrt((f ** 2).sum(axis=(2, 3), keepdims=True))


class Problem:
    """Eq. 2 on one image: float32 data, float64 reference optimum and costs."""

    def __init__(self, y, f, lam=1.0, ref_iter=5000, ref_tol=1e-8):
        self.y32 = np.ascontiguousarray(y[None], np.float32)      # (1, P, Q)
        self.f32 = np.ascontiguousarray(f, np.float32)            # (K1, 1, h, w)
        # the reference solves exactly the float32 problem, in float64
        self.y64 = self.y32.astype(np.float64)
        self.f64 = self.f32.astype(np.float64)
        self.lam = lam
        t0 = time.perf_counter()
        # one thread: robust on a shared machine, and this run is not a timing
        z, st = infer(self.y64, self.f64, lam=lam, solver="fista", tol=ref_tol,
                      max_iter=ref_iter, return_stats=True, n_threads=1)
        self.ref_seconds = time.perf_counter() - t0
        self.ref_iterations = int(st["iter"][-1])
        self.z_star = z
        self.c_star = cost(self.y64, z, self.f64, lam=lam)
        self.c_zero = cost(self.y64, np.zeros_like(z), self.f64, lam=lam)

    def cost64(self, z):
        """Eq. 2 in float64 by numbadn (numba threads)."""
        return cost(self.y64, np.asarray(z, np.float64), self.f64, lam=self.lam)

    def cost_fft(self, z):
        """Eq. 2 in float64 by ``scipy.signal.fftconvolve`` (single-threaded).

        Used inside the peers' traces, so that evaluating the cost does not wake
        numba's thread pool in the middle of another library's iterations.
        """
        z = np.asarray(z, np.float64)
        Fz = sum(fftconvolve(z[k], self.f64[k, 0], mode="valid") for k in range(len(z)))
        return 0.5 * self.lam * float(((Fz - self.y64[0]) ** 2).sum()) + float(np.abs(z).sum())

    def decrease_gap(self, c):
        """``(C - C*) / (C(0) - C*)``: the fraction of the achievable decrease left."""
        return (np.asarray(c, float) - self.c_star) / (self.c_zero - self.c_star)

    def literal_gap(self, c):
        """``(C - C*) / C*``."""
        return (np.asarray(c, float) - self.c_star) / self.c_star


# ----------------------------------------------------------------------------- peers
def torch_fista(y, f, lam=1.0, n_iter=100, n_threads=None, trace=None):
    """FISTA on eq. 2 as a PyTorch user would write it (CPU).

    ``F z``: ``conv2d`` of the maps with the flipped filters (conv2d
    correlates), giving the valid convolution; ``F^T r``: ``conv_transpose2d``
    with the same weight.  Step ``1/L`` with ``L = lam ||F||^2`` from 50 power
    iterations.  ``trace(k, seconds, z)`` is called after iteration k with the
    cumulative iteration time (its own time excluded); returning True stops.

    y : (1, P, Q) float32, f : (K1, 1, h, w) float32 -> z (K1, P+h-1, Q+w-1).
    """
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(n_threads or os.cpu_count())
    K1, K0, h, w = f.shape
    with torch.inference_mode():
        yt = torch.from_numpy(y)[None]                                   # (1, K0, P, Q)
        wt = torch.from_numpy(np.ascontiguousarray(
            f[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)))                  # (K0, K1, h, w)
        shape = (1, K1, y.shape[1] + h - 1, y.shape[2] + w - 1)
        v = torch.randn(shape, generator=torch.Generator().manual_seed(0), dtype=yt.dtype)
        for _ in range(50):
            v = F.conv_transpose2d(F.conv2d(v, wt), wt)
            v /= v.norm()
        L = lam * float((F.conv_transpose2d(F.conv2d(v, wt), wt) * v).sum())
        z = torch.zeros(shape, dtype=yt.dtype)
        x, t, elapsed = z.clone(), 1.0, 0.0
        for k in range(n_iter):
            t0 = time.perf_counter()
            grad = lam * F.conv_transpose2d(F.conv2d(x, wt) - yt, wt)
            z_new = F.softshrink(x - grad / L, 1.0 / L)
            t_new = 0.5 * (1.0 + (1.0 + 4.0 * t * t) ** 0.5)
            x = z_new + ((t - 1.0) / t_new) * (z_new - z)
            z, t = z_new, t_new
            elapsed += time.perf_counter() - t0
            if trace is not None and trace(k + 1, elapsed, z[0].numpy()):
                break
    return z[0].numpy()


def torch_conventions(f):
    """Check the PyTorch operators against numbadn's ``conv_valid``/``conv_full``."""
    import torch
    import torch.nn.functional as F
    rng = np.random.default_rng(3)
    K1, K0, h, w = f.shape
    z = rng.standard_normal((K1, 20 + h - 1, 18 + w - 1)).astype(np.float32)
    r = rng.standard_normal((K0, 20, 18)).astype(np.float32)
    wt = torch.from_numpy(np.ascontiguousarray(f[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)))
    with torch.inference_mode():
        Fz = F.conv2d(torch.from_numpy(z)[None], wt)[0].numpy()
        FTr = F.conv_transpose2d(torch.from_numpy(r)[None], wt)[0].numpy()
    ref_v, ref_f = conv_valid(z, f), conv_full(r, f)
    return {"forward_rel_err": float(np.abs(Fz - ref_v).max() / np.abs(ref_v).max()),
            "adjoint_rel_err": float(np.abs(FTr - ref_f).max() / np.abs(ref_f).max())}


def sporco_cbpdn_mask(y, f, lam=1.0, n_iter=100, n_threads=None, trace=None,
                      return_solver=False):
    """SPORCO ``ConvBPDNMaskDcpl`` on the non-circular eq. 2.

    SPORCO convolves circularly: ``s[n] = sum_m d[m] x[n - m]`` on the array
    size.  With the image placed at offset (h-1, w-1) of a zero array of
    size (P+h-1, Q+w-1) and the mask W = 1 on it, ``W (D x - s)`` is exactly
    ``F z - y`` with ``z = x`` (no wrap-around reaches the masked-in pixels).
    SPORCO weighs ``1/2 ||W(Dx - s)||^2 + lmbda ||x||_1``, so
    ``lmbda = 1 / lam``.  Automatic rho (AutoRho enabled, the class's
    settings otherwise), float32 as the data.  ``trace(k, seconds, z)`` as
    for :func:`torch_fista` (seconds from the start of ``solve``, the
    callback's own time excluded).
    """
    import sporco.fft
    from sporco.admm import cbpdn

    sporco.fft.pyfftw_threads = n_threads or os.cpu_count()
    K1, K0, h, w = f.shape
    S = np.pad(y[0], ((h - 1, 0), (w - 1, 0)))
    W = np.zeros_like(S)
    W[h - 1:, w - 1:] = 1.0
    D = np.ascontiguousarray(f[:, 0].transpose(1, 2, 0))             # (h, w, K1)
    state = {"t0": 0.0, "excluded": 0.0}

    def callback(solver):
        t_in = time.perf_counter()
        elapsed = t_in - state["t0"] - state["excluded"]
        stop = trace(solver.k + 1, elapsed, _sporco_maps(solver.getmin()))
        state["excluded"] += time.perf_counter() - t_in
        return stop

    opt = cbpdn.ConvBPDNMaskDcpl.Options({
        "Verbose": False, "MaxMainIter": n_iter, "RelStopTol": 0.0, "FastSolve": True,
        "AutoRho": {"Enabled": True},
        "Callback": callback if trace is not None else None})
    solver = cbpdn.ConvBPDNMaskDcpl(D, S, 1.0 / lam, W, opt)
    state["t0"] = time.perf_counter()
    z = _sporco_maps(solver.solve())
    return (z, solver) if return_solver else z


def _sporco_maps(Y1):
    """SPORCO's (N1, N2, 1, 1, K1) coefficient array -> numbadn's (K1, N1, N2)."""
    return np.ascontiguousarray(Y1[:, :, 0, 0, :].transpose(2, 0, 1))


def sporco_conventions(f):
    """SPORCO's ``reconstruct`` of random maps vs numbadn's ``conv_valid`` of them."""
    rng = np.random.default_rng(3)
    K1, K0, h, w = f.shape
    y = rng.standard_normal((K0, 20, 18)).astype(np.float32)
    z = rng.standard_normal((K1, 20 + h - 1, 18 + w - 1)).astype(np.float32)
    _, solver = sporco_cbpdn_mask(y, f, n_iter=1, return_solver=True, n_threads=1)
    X = np.ascontiguousarray(z.transpose(1, 2, 0))[:, :, None, None, :]
    theirs = np.asarray(solver.reconstruct(X)).squeeze()[h - 1:, w - 1:]
    mine = conv_valid(z, f)[0]
    return {"reconstruction_rel_err": float(np.abs(mine - theirs).max() / np.abs(mine).max())}


def peer_versions():
    out = {}
    for name in ("torch", "sporco"):
        try:
            out[name] = __import__(name).__version__
        except Exception:  # noqa: BLE001 - any import failure means "not installed"
            out[name] = None
    return out


# ----------------------------------------------------------------------------- traces
def _trace_generic(prob, run, n_iter, stop_gap):
    """(times, costs) with iteration 0 = z0 = 0 at time 0, stopping past ``stop_gap``."""
    times, costs = [0.0], [prob.c_zero]

    def trace(k, seconds, z):
        c = prob.cost_fft(z)
        times.append(seconds)
        costs.append(c)
        return bool(prob.decrease_gap(c) <= stop_gap)

    run(n_iter, trace)
    return np.array(times), np.array(costs)


def median_trace(traces):
    """Element-wise median of the cumulative times, costs of the first repeat."""
    n = min(len(t) for t, _ in traces)
    times = np.median(np.stack([t[:n] for t, _ in traces]), axis=0)
    return times, traces[0][1][:n]


def first_reach(gap, thr):
    hit = np.nonzero(gap <= thr)[0]
    return int(hit[0]) if hit.size else None


class Method:
    """One solver configuration: ``trace(prob, n_iter, stop_gap) -> (times, costs)``
    and ``call(prob, k) -> z``, a complete user call running k iterations."""

    def __init__(self, name, library, threads, trace, call):
        self.name, self.library, self.threads = name, library, threads
        self.trace, self.call = trace, call

    @property
    def label(self):
        return f"{self.name} ({self.threads} thr)"


#: Pause before every timed run: the previous method's OpenMP worker threads
#: (PyTorch's own libgomp pool, numba's) keep spinning for a while after their
#: last parallel region and would take a core from the next method.
SETTLE_SECONDS = 0.05


def measure_methods(methods, prob, cfg, stop_gap=1e-4):
    """Traces, then timed complete calls, with the repeats interleaved across methods.

    Round-robin (every method once per round, medians over rounds) so that a
    change in the machine's load during the run hits all methods alike; a
    pause of :data:`SETTLE_SECONDS` before each timed run lets the previous
    method's idle threads stop spinning.  Returns one row per method and the
    median curves ``{label: (times, gap)}``.
    """
    for m in methods:                      # warm-up: kernel loading, FFTW plans, pools
        m.trace(prob, 3, stop_gap)
    traces = {m.label: [] for m in methods}
    for _ in range(cfg["trace_repeats"]):
        for m in methods:
            n_iter = cfg["numbadn_iter"] if m.library == "numbadn" else cfg["peer_iter"]
            time.sleep(SETTLE_SECONDS)
            traces[m.label].append(m.trace(prob, n_iter, stop_gap))
    rows, curves, jobs = [], {}, []
    for m in methods:
        times, costs = median_trace(traces[m.label])
        dgap, lgap = prob.decrease_gap(costs), prob.literal_gap(costs)
        curves[m.label] = (times, dgap)
        row = dict(method=m.name, library=m.library, threads=m.threads,
                   iterations_traced=len(costs) - 1, trace_repeats=cfg["trace_repeats"],
                   call_repeats=cfg["call_repeats"],
                   final_decrease_gap=float(dgap[-1]), final_literal_gap=float(lgap[-1]),
                   min_decrease_gap=float(dgap.min()))
        for thr in TARGETS:
            p = _pct(thr)
            k, kl = first_reach(dgap, thr), first_reach(lgap, thr)
            row[f"iters_to_{p}"] = k
            row[f"iter_seconds_to_{p}"] = None if k is None else float(times[k])
            row[f"literal_iters_to_{p}"] = kl
            row[f"literal_iter_seconds_to_{p}"] = None if kl is None else float(times[kl])
            row[f"call_seconds_to_{p}"] = None
            if k is not None:
                jobs.append((m, row, p, max(k, 1)))
        rows.append(row)
        print(f"  traced {m.label}: {row['iterations_traced']} iterations, "
              f"{row['iters_to_1pct']} to 1%, {row['iters_to_0p1pct']} to 0.1%")
    samples = {id(job): [] for job in jobs}
    for m, row, p, k in jobs:              # untimed warm-up of every call
        row[f"call_decrease_gap_at_{p}"] = float(prob.decrease_gap(prob.cost_fft(m.call(prob, k))))
    for _ in range(cfg["call_repeats"]):
        for job in jobs:
            m, _, _, k = job
            time.sleep(SETTLE_SECONDS)
            t0 = time.perf_counter()
            m.call(prob, k)
            samples[id(job)].append(time.perf_counter() - t0)
    for job in jobs:
        _, row, p, _ = job
        row[f"call_seconds_to_{p}"] = float(np.median(samples[id(job)]))
    return rows, curves


def _pct(thr):
    return f"{100 * thr:g}pct".replace(".", "p")


def _label(p):
    return p.replace("pct", "%").replace("p", ".")


def numbadn_fista(threads):
    def trace(prob, n_iter, stop_gap):
        _, st = infer(prob.y32, prob.f32, lam=prob.lam, solver="fista", tol=0.0,
                      max_iter=n_iter, return_stats=True, n_threads=threads)
        return st["time"], st["cost"]

    def call(prob, k):
        return infer(prob.y32, prob.f32, lam=prob.lam, solver="fista", tol=0.0,
                     max_iter=k, n_threads=threads)

    return Method("numbadn FISTA", "numbadn", threads, trace, call)


def torch_method(threads):
    def trace(prob, n_iter, stop_gap):
        return _trace_generic(prob, lambda n, tr: torch_fista(
            prob.y32, prob.f32, prob.lam, n, threads, tr), n_iter, stop_gap)

    def call(prob, k):
        return torch_fista(prob.y32, prob.f32, prob.lam, k, threads)

    return Method("PyTorch FISTA", "torch", threads, trace, call)


def sporco_method(threads):
    def trace(prob, n_iter, stop_gap):
        return _trace_generic(prob, lambda n, tr: sporco_cbpdn_mask(
            prob.y32, prob.f32, prob.lam, n, threads, tr), n_iter, stop_gap)

    def call(prob, k):
        return sporco_cbpdn_mask(prob.y32, prob.f32, prob.lam, k, threads)

    return Method("SPORCO ConvBPDNMaskDcpl", "sporco", threads, trace, call)


# ----------------------------------------------------------------------------- sections
def head_to_head(prob, thread_counts, cfg, versions):
    """Section 1: rows per method and thread count, and the curves for the figure."""
    methods = [numbadn_fista(nt) for nt in thread_counts]
    for lib, make in (("torch", torch_method), ("sporco", sporco_method)):
        if versions[lib] is None:
            print(f"  {LIBRARY_NAMES[lib]}: not installed (optional; pip install {lib} to "
                  f"compare)")
            continue
        methods.extend(make(nt) for nt in thread_counts)
    return measure_methods(methods, prob, cfg)


def continuation_rows(prob, thread_counts, repeats):
    rows, curves = [], {}
    for nt in thread_counts:
        _, st = infer(prob.y32, prob.f32, lam=prob.lam, return_stats=True, n_threads=nt)
        t = B.median_time(lambda: infer(prob.y32, prob.f32, lam=prob.lam, n_threads=nt),
                          repeats=repeats, min_time=0.0)
        z = infer(prob.y32, prob.f32, lam=prob.lam, n_threads=nt)
        c = prob.cost64(z)
        rows.append(dict(method="numbadn continuation (paper schedule)", library="numbadn",
                         threads=nt, call_seconds=t, iter_seconds=float(st["time"][-1]),
                         final_decrease_gap=float(prob.decrease_gap(c)),
                         final_literal_gap=float(prob.literal_gap(c)),
                         cost=c, betas=len(st["iter"]) - 1))
        curves[f"numbadn continuation ({nt} thr)"] = (st["time"], prob.decrease_gap(st["cost"]))
    return rows, curves


def default_fista_rows(prob, thread_counts, repeats):
    """``infer(y, f, solver="fista")`` with its default options (tol 1e-4)."""
    rows = []
    for nt in thread_counts:
        t = B.median_time(lambda: infer(prob.y32, prob.f32, lam=prob.lam, solver="fista",
                                        n_threads=nt), repeats=repeats, min_time=0.0)
        _, st = infer(prob.y32, prob.f32, lam=prob.lam, solver="fista", return_stats=True,
                      n_threads=nt)
        c = prob.cost64(infer(prob.y32, prob.f32, lam=prob.lam, solver="fista", n_threads=nt))
        rows.append(dict(method="numbadn FISTA, default options (tol 1e-4)", threads=nt,
                         call_seconds=t, iterations=int(st["iter"][-1]),
                         final_decrease_gap=float(prob.decrease_gap(c))))
    return rows


def learning_overhead(n_images, repeats, n_threads=None, out=print):
    """Section 3: one epoch of ``DeconvLayer.fit`` vs inferring the same images."""
    ims = [contrast_normalize(im) for im in load_images("food")[:n_images]]

    def fit():
        DeconvLayer(1, 9, seed=0).fit(ims, epochs=1, verbose=False, n_threads=n_threads)

    layer = DeconvLayer(1, 9, seed=0)

    def inf():
        for y in ims:
            layer.infer(y, n_threads=n_threads)

    fit()  # warm-up (first calls compile or load from the cache)
    inf()
    t_fit, t_inf = [], []
    for _ in range(max(repeats, 1)):  # interleaved, so drift of the machine hits both
        t0 = time.perf_counter()
        fit()
        t_fit.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        inf()
        t_inf.append(time.perf_counter() - t0)
    t_fit, t_inf = float(np.median(t_fit)), float(np.median(t_inf))
    ov = t_fit / t_inf - 1.0
    out(f"  {len(ims)} images of {ims[0].shape[0]}x{ims[0].shape[1]} ('food', contrast-"
        f"normalised), 9 7x7 filters, continuation, online filter updates:")
    out(f"  fit, one epoch {t_fit * 1e3:8.1f} ms   infer the same images {t_inf * 1e3:8.1f} ms"
        f"   overhead {100 * ov:+.1f}%  (paper {100 * PAPER_LEARNING_OVERHEAD:.0f}%)")
    return dict(n_images=len(ims), image_shape=list(ims[0].shape), fit_seconds=t_fit,
                infer_seconds=t_inf, overhead=ov, paper_overhead=PAPER_LEARNING_OVERHEAD)


def _child_env(extra=None):
    env = dict(os.environ)
    root = str(Path(numbadn.__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(extra or {})
    return env


_STARTUP_CHILD = textwrap.dedent("""
    import json, sys, time
    t_first_line = time.time()
    import numpy as np
    import numbadn
    from numbadn import infer
    t_imported = time.time()
    sys.path.insert(0, {script_dir!r})
    from sec45_timings import bench_image, unit_filters
    y = bench_image({size!r})[None].astype(np.float32)
    f = unit_filters().astype(np.float32)
    t_loaded = time.time()
    infer(y, f)
    t_first = time.time()
    infer(y, f)
    t_second = time.time()
    infer(y, f, solver="fista")
    t_fista_first = time.time()
    infer(y, f, solver="fista")
    t_fista_second = time.time()
    print(json.dumps(dict(first_line=t_first_line, imported=t_imported, loaded=t_loaded,
                          first=t_first, second=t_second, fista_first=t_fista_first,
                          fista_second=t_fista_second)))
""")


def startup(runs, size, env=None, out=print):
    """Section 4: fresh interpreters, numba cache warm (one warm-up run first)."""
    code = _STARTUP_CHILD.format(script_dir=str(Path(__file__).resolve().parent), size=size)
    samples = []
    for i in range(runs + 1):
        t0 = time.time()
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=_child_env(env), check=True)
        t_end = time.time()
        s = json.loads(res.stdout.strip().splitlines()[-1])
        sample = dict(
            interpreter_start=s["first_line"] - t0,
            import_numbadn=s["imported"] - s["first_line"],
            load_image=s["loaded"] - s["imported"],
            first_infer=s["first"] - s["loaded"],
            second_infer=s["second"] - s["first"],
            first_fista=s["fista_first"] - s["second"],
            second_fista=s["fista_second"] - s["fista_first"],
            start_to_first_result=s["first"] - t0,
            process_total=t_end - t0)
        if i == 0:
            warmup = sample
            continue
        samples.append(sample)
    med = {k: float(np.median([s[k] for s in samples])) for k in samples[0]}
    out(f"  fresh process -> first infer result: {med['start_to_first_result']:.2f} s "
        f"(interpreter {med['interpreter_start']:.2f} s, import numbadn "
        f"{med['import_numbadn']:.2f} s, first infer {med['first_infer'] * 1e3:.0f} ms vs "
        f"{med['second_infer'] * 1e3:.0f} ms for the second; first FISTA call "
        f"{med['first_fista'] * 1e3:.0f} ms vs {med['second_fista'] * 1e3:.0f} ms)  "
        f"[median of {runs} after 1 warm-up run]")
    return dict(median=med, runs=samples, warmup_run=warmup)


_SCALING_CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np
    import numba
    from numbadn import infer
    from numbadn.bench import median_time
    sys.path.insert(0, {script_dir!r})
    from sec45_timings import bench_image, unit_filters
    y = bench_image({size!r})
    views = [np.rot90(y, k) for k in range(4)] + [np.rot90(y.T, k) for k in range(4)]
    Y = np.stack([views[i % 8] for i in range({n})])[:, None].astype(np.float32)
    f = unit_filters().astype(np.float32)
    res = dict(threads=numba.get_num_threads(), n=len(Y))
    configs = dict(continuation=dict(solver="continuation"), fista=dict(solver="fista"),
                   fista_1pct=dict(solver="fista", max_iter={iters_1pct}, tol=0.0))
    for name, kw in configs.items():
        t = median_time(lambda: infer(Y, f, **kw), repeats={repeats}, min_time=0.0)
        t1 = median_time(lambda: [infer(Y[i], f, **kw) for i in range(len(Y))],
                         repeats={repeats}, min_time=0.0)
        res[name] = dict(batch_seconds=t, images_per_second=len(Y) / t,
                         one_by_one_seconds=t1, one_by_one_images_per_second=len(Y) / t1)
    print(json.dumps(res))
""")

#: What each solver entry of the scaling run is.
SCALING_SOLVERS = {"continuation": "continuation (paper schedule)",
                   "fista": "FISTA, default tol",
                   "fista_1pct": "FISTA to 1%"}


def scaling_envs_for(nmax, ncpu, threads=None):
    """Environments of the scaling run: 1, 2, 4, 8, ... up to the CPUs (or
    ``threads``), and the largest count again with libgomp's idle threads
    sleeping (``OMP_WAIT_POLICY=PASSIVE``)."""
    top = max(2, min(ncpu, nmax))
    if threads is None:
        threads = sorted({1, top} | {t for t in (2, 4, 8, 16, 32, 64) if t < top})
    envs = [{"NUMBA_NUM_THREADS": str(t)} for t in threads]
    envs.append({"NUMBA_NUM_THREADS": str(max(threads)), "OMP_WAIT_POLICY": "PASSIVE"})
    return envs


def thread_scaling(configs, n, size, repeats, iters_1pct, out=print):
    """Section 5: batched ``infer`` throughput in subprocesses, one per ``configs`` entry,
    for the paper's schedule, FISTA with its defaults and FISTA stopped after
    ``iters_1pct`` iterations (what reaches 1% of the decrease in section 1).

    ``configs``: list of environment dicts, e.g. ``{"NUMBA_NUM_THREADS": "2"}``.
    Returns the rows and a summary beside the issue's targets (16 threads at
    least 12x one; per-image throughput within 10x of the H100 figure).
    """
    code = _SCALING_CHILD.format(script_dir=str(Path(__file__).resolve().parent), size=size,
                                 n=n, repeats=repeats, iters_1pct=int(iters_1pct))
    rows = []
    for env in configs:
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=_child_env(env), check=True)
        rows.append(dict(json.loads(res.stdout.strip().splitlines()[-1]), env=env))
    base = rows[0]
    for r in rows:
        parts = []
        for solver in SCALING_SOLVERS:
            s = r[solver]
            parts.append(f"{solver} {s['images_per_second']:7.1f} img/s "
                         f"(x{s['images_per_second'] / base[solver]['images_per_second']:.2f};"
                         f" one call per image {s['one_by_one_images_per_second']:7.1f})")
        label = " ".join(f"{k}={v}" for k, v in r["env"].items())
        out(f"  {label}: batch of {r['n']}:\n      " + "\n      ".join(parts))
    out(f"  ({', '.join(f'{k}: {v}' for k, v in SCALING_SOLVERS.items())}; FISTA to 1% runs "
        f"{iters_1pct} iterations, the count that reached 1% of the decrease in section 1)")
    plain = [r for r in rows if "OMP_WAIT_POLICY" not in r["env"]]
    best = max(plain, key=lambda r: r["fista_1pct"]["images_per_second"])
    per_image = 1.0 / best["fista_1pct"]["images_per_second"]
    ratio = per_image / ISSUE_H100_SECONDS_PER_IMAGE
    out(f"  FISTA to 1%, best: {per_image * 1e3:.2f} ms per image at {best['threads']} threads; "
        f"the issue's H100 figure (PyTorch, batch of 64): {ISSUE_H100_SECONDS_PER_IMAGE * 1e3:.2f}"
        f" ms per image, so numbadn is {ratio:.1f}x slower (target: within "
        f"{ISSUE_H100_FACTOR:.0f}x: {'met' if ratio <= ISSUE_H100_FACTOR else 'NOT met'})")
    at = [r for r in plain if r["threads"] == ISSUE_SCALING_THREADS]
    if at:
        sp = at[0]["fista_1pct"]["images_per_second"] / base["fista_1pct"]["images_per_second"]
        verdict = f"x{sp:.1f} (target {ISSUE_SCALING_TARGET:.0f}x: " \
                  f"{'met' if sp >= ISSUE_SCALING_TARGET else 'NOT met'})"
    else:
        sp = None
        verdict = (f"not measured: this machine has {max(r['threads'] for r in plain)} "
                   f"thread(s); run this script on a {ISSUE_SCALING_THREADS}-core machine")
    out(f"  {ISSUE_SCALING_THREADS} threads vs 1, FISTA to 1%, batch of {base['n']}: {verdict}")
    summary = dict(h100_seconds_per_image=ISSUE_H100_SECONDS_PER_IMAGE,
                   best_seconds_per_image=per_image, best_threads=best["threads"],
                   ratio_to_h100=ratio, h100_target_factor=ISSUE_H100_FACTOR,
                   speedup_at_target_threads=sp, target_threads=ISSUE_SCALING_THREADS,
                   target_speedup=ISSUE_SCALING_TARGET, iters_1pct=int(iters_1pct))
    return rows, summary


# ----------------------------------------------------------------------------- report
def _ms(t):
    return "      --" if t is None else f"{t * 1e3:8.1f}"


def _x(a, b):
    return "    --" if a is None or b is None or b <= 0 else f"{a / b:6.1f}"


def print_table(rows, cont, dflt, issue_problem=True):
    """The head-to-head table; speed-ups are of the best numbadn FISTA row, same basis."""
    best = {}
    for basis in ("iter", "call"):
        for thr in TARGETS:
            key = f"{basis}_seconds_to_{_pct(thr)}"
            ts = [r[key] for r in rows if r["library"] == "numbadn" and r[key] is not None]
            best[key] = min(ts) if ts else None
    print(f"  {'method':26s} {'thr':>3s} | {'its':>4s} {'1%: iters':>9s} {'call':>8s} "
          f"{'x':>6s} | {'its':>4s} {'0.1%: iters':>11s} {'call':>8s} {'x':>6s} | issue ref (1% / 0.1%)")
    print("  " + "-" * 118)
    for r in rows:
        ref = ISSUE_REFERENCE.get(r["library"])
        refs = f"{ref[0] * 1e3:.0f} / {ref[1] * 1e3:.0f} ms" if ref else (
            f"target <= {min(v[0] for v in ISSUE_REFERENCE.values()) / ISSUE_SPEEDUP_TARGET * 1e3:.0f}"
            f" / {min(v[1] for v in ISSUE_REFERENCE.values()) / ISSUE_SPEEDUP_TARGET * 1e3:.0f} ms")
        cells = []
        for thr in TARGETS:
            p = _pct(thr)
            k = r[f"iters_to_{p}"]
            ti, tc = r[f"iter_seconds_to_{p}"], r[f"call_seconds_to_{p}"]
            sp = "      " if r["library"] == "numbadn" else _x(tc, best[f"call_seconds_to_{p}"])
            w = 9 if thr == 1e-2 else 11
            cells.append(f"{'--' if k is None else k:>4} {_ms(ti):>{w}s} {_ms(tc)} {sp}")
        print(f"  {r['method']:26s} {r['threads']:3d} | " + " | ".join(cells) + f" | {refs}")
    for c in cont:
        print(f"  {'numbadn continuation':26s} {c['threads']:3d} | ends {c['final_decrease_gap']:.3g}"
              f" of the decrease above C* ({100 * c['final_literal_gap']:.3g}% above C*) after "
              f"{c['betas']} betas: {_ms(c['call_seconds']).strip()} ms per call "
              f"(paper layer 1: {B.PAPER_LAYER_SECONDS[1]:.1f} s)")
    for d in dflt:
        print(f"  {'numbadn FISTA default tol':26s} {d['threads']:3d} | {d['iterations']} "
              f"iterations, {_ms(d['call_seconds']).strip()} ms per call, ends "
              f"{d['final_decrease_gap']:.2g} of the decrease above C*")
    print("  its: iterations; iters: cumulative iteration time (cost evaluation and set-up "
          "excluded), ms; call: median\n  wall time of one complete call running that many "
          "iterations, ms; x: that call's time / the best numbadn FISTA call's time.")
    speedups = {}
    for lib in ISSUE_REFERENCE:
        for thr in TARGETS:
            p = _pct(thr)
            ts = [r[f"call_seconds_to_{p}"] for r in rows
                  if r["library"] == lib and r[f"call_seconds_to_{p}"] is not None]
            tsi = [r[f"iter_seconds_to_{p}"] for r in rows
                   if r["library"] == lib and r[f"iter_seconds_to_{p}"] is not None]
            if ts and best[f"call_seconds_to_{p}"]:
                speedups[f"{lib}_{p}_call"] = min(ts) / best[f"call_seconds_to_{p}"]
            if tsi and best[f"iter_seconds_to_{p}"]:
                speedups[f"{lib}_{p}_iter"] = min(tsi) / best[f"iter_seconds_to_{p}"]
    for thr, (rt, rs) in zip(TARGETS, zip(*ISSUE_REFERENCE.values())):
        p = _pct(thr)
        goal = min(rt, rs) / ISSUE_SPEEDUP_TARGET
        t = best[f"call_seconds_to_{p}"]
        if t is not None and issue_problem:
            print(f"  best numbadn FISTA call to {_label(p):4s}: {t * 1e3:6.1f} ms; issue target "
                  f"<= {goal * 1e3:.0f} ms (10x under the reference points): "
                  f"{'met' if t <= goal else 'NOT met'}")
    for k, v in speedups.items():
        lib, p, basis = k.split("_")
        print(f"  numbadn vs {LIBRARY_NAMES[lib]:7s} to {_label(p):4s}"
              f" ({'complete calls' if basis == 'call' else 'iterations only'}, best thread "
              f"count of each): {v:6.1f}x  (issue target {ISSUE_SPEEDUP_TARGET:.0f}x)")
    return best, speedups


def save_figure(curves, path, shape):
    from numbadn.plot import DPI, solver_stats
    stats = {}
    for label, (t, g) in curves.items():
        t = np.asarray(t, float)
        g = np.maximum(np.asarray(g, float), 1e-9)
        keep = t > 0
        stats[label] = {"time": t[keep], "cost": g[keep]}
    fig = solver_stats(stats, x="time", y="cost", log=True)
    ax = fig.axes[0]
    ax.set_xscale("log")
    ax.set_ylabel("(C - C*) / (C(0) - C*)")
    ax.set_xlabel("time (s), iterations only")
    for thr in TARGETS:
        ax.axhline(thr, color="grey", lw=0.8, ls="--")
    ax.set_title(f"Eq. 2 on a {shape[0]}x{shape[1]} photograph, 9 7x7 filters, lam = 1, "
                 f"float32", fontsize=9)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=DPI, format="png")


def _to_jsonable(x):
    if isinstance(x, dict):
        return {str(k): _to_jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_to_jsonable(v) for v in x]
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return x


# ----------------------------------------------------------------------------- main
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="fewer repeats (about 30 s)")
    mode.add_argument("--smoke", action="store_true",
                      help="40x40 crop, 1 repeat, tiny sections (for the tests)")
    ap.add_argument("--out", default="figures", help="output folder (default: figures/)")
    ap.add_argument("--scaling-threads", default=None,
                    type=lambda v: sorted({int(t) for t in v.split(",")}),
                    help="thread counts of section 5, e.g. 1,4,8,16 (default: 1, 2, 4, ... "
                         "up to the CPUs)")
    args = ap.parse_args(argv)
    t_wall = time.perf_counter()
    load_start = os.getloadavg()
    ncpu = os.cpu_count() or 1
    nmax = max_threads()
    thread_counts = sorted({1, nmax})
    # libgomp's threads sleep instead of spinning while they wait (the PASSIVE
    # entry): shows whether a slow multithreaded run is spinning threads
    # fighting over cores
    scaling_envs = scaling_envs_for(nmax, ncpu, args.scaling_threads)
    learn_threads, startup_env = None, None
    if args.smoke:
        # one thread everywhere: the smoke run checks plumbing, and stays fast on a
        # shared machine (see the NOTE printed when the load is high)
        thread_counts, learn_threads, startup_env = [1], 1, {"NUMBA_NUM_THREADS": "1"}
        scaling_envs = scaling_envs[:1]
        cfg = dict(mode="smoke", size=40, ref_iter=3000, numbadn_iter=60, peer_iter=60,
                   trace_repeats=1, call_repeats=1, layer_size=40, layer_threads=[1],
                   fit_images=2, fit_repeats=1, startup_runs=1, scaling_n=2,
                   scaling_repeats=1)
    elif args.quick:
        cfg = dict(mode="quick", size=None, ref_iter=5000, numbadn_iter=100, peer_iter=80,
                   trace_repeats=1, call_repeats=3, layer_size=150, layer_threads=thread_counts,
                   fit_images=8, fit_repeats=3, startup_runs=1, scaling_n=8,
                   scaling_repeats=1)
    else:
        cfg = dict(mode="full", size=None, ref_iter=5000, numbadn_iter=300, peer_iter=200,
                   trace_repeats=3, call_repeats=7, layer_size=150,
                   layer_threads=thread_counts, fit_images=26, fit_repeats=7,
                   startup_runs=5, scaling_n=64, scaling_repeats=3)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    versions = dict(python=platform.python_version(), numpy=np.__version__,
                    numba=numba.__version__, numbadn=numbadn.__version__, **peer_versions())

    print(f"Section 4.5 timings ({cfg['mode']} mode): numbadn {numbadn.__version__}, numba "
          f"{numba.__version__}, {ncpu} CPUs, numba threads {nmax}, load average "
          f"{load_start[0]:.2f} / {load_start[1]:.2f} / {load_start[2]:.2f}")
    for lib in ("torch", "sporco"):
        print(f"  {LIBRARY_NAMES[lib]}: {versions[lib] or 'not installed'}")
    if load_start[0] > 0.5 * ncpu:
        print(f"  NOTE: load average {load_start[0]:.2f} on {ncpu} CPUs.  If other processes are "
              f"running, runs with all threads wait\n  for busy cores and can be many times "
              f"slower than with one (compare the rows per thread count).")
    loads = {"start": list(load_start)}

    # ---- 1. the head-to-head problem and its optimum
    y = bench_image(cfg["size"])
    f = unit_filters()
    # load every kernel (solvers and their per-iteration stats paths) outside the timings
    y32, f32 = y[None].astype(np.float32), f.astype(np.float32)
    for kw in ({}, {"solver": "fista", "max_iter": 2}):
        infer(y32, f32, **kw)
        infer(y32, f32, return_stats=True, **kw)
    prob = Problem(y, f, ref_iter=cfg["ref_iter"])
    nz = float(np.mean(prob.z_star != 0))
    fft_check = abs(prob.cost_fft(prob.z_star) - prob.c_star) / (prob.c_zero - prob.c_star)
    print(f"\n1. Eq. 2 on {BENCH_IMAGE.name} ({y.shape[0]}x{y.shape[1]}, contrast-normalised), "
          f"9 unit-norm 7x7 filters, lam = 1, float32.")
    print(f"  optimum C* = {prob.c_star:.6f} (float64 FISTA, tol 1e-8: "
          f"{prob.ref_iterations} iterations, {prob.ref_seconds:.2f} s; {100 * nz:.3f}% of z "
          f"nonzero); C(z=0) = {prob.c_zero:.6f}, only {100 * prob.literal_gap(prob.c_zero):.3f}%"
          f" above C*.\n  'Within 1% of C*' therefore holds at z = 0; the table measures the "
          f"decrease left, (C - C*) / (C(0) - C*).")
    conventions = {}
    if versions["torch"]:
        conventions["torch"] = torch_conventions(prob.f32)
    if versions["sporco"]:
        conventions["sporco"] = sporco_conventions(prob.f32)
    print(f"  scipy FFT cost (used in the peers' traces) vs numbadn.cost at the optimum: "
          f"{fft_check:.1e} of the decrease")
    for lib, c in conventions.items():
        print(f"  {lib} operator check against numbadn.kernels.conv_valid / conv_full: "
              + ", ".join(f"{k} {v:.1e}" for k, v in c.items()))
        if max(c.values()) > 1e-4:
            raise RuntimeError(f"{lib}'s convolution convention does not match eq. 1: {c}")
    rows, curves = head_to_head(prob, thread_counts, cfg, versions)
    cont, ccurves = continuation_rows(prob, thread_counts, cfg["call_repeats"])
    curves.update(ccurves)
    dflt = default_fista_rows(prob, thread_counts, cfg["call_repeats"])
    print()
    best, speedups = print_table(rows, cont, dflt, issue_problem=cfg["size"] is None)
    below = min(r["min_decrease_gap"] for r in rows)
    if below < -1e-4:
        print(f"  WARNING: a method went {-below:.2g} of the decrease below the reference C*")
    fig_path = out_dir / "sec45_timings.png"
    save_figure(curves, fig_path, y.shape)

    loads["after_head_to_head"] = list(os.getloadavg())

    # ---- 2. the paper's schedule per layer
    print(f"\n2. The paper's schedule (continuation defaults) on {cfg['layer_size']}x"
          f"{cfg['layer_size']} inputs (random data, numbadn.bench.bench_inference):")
    # in a fresh process: the peers' thread pools (PyTorch's OpenMP threads) are
    # still alive in this one and slowed these timings by up to 40%
    child = ("import json, sys; from numbadn.bench import bench_inference; "
             f"rows = bench_inference({cfg['layer_size']}, {list(cfg['layer_threads'])}, "
             "out=lambda s: print(s, file=sys.stderr)); print(json.dumps(rows))")
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True,
                          check=True)
    sys.stdout.write(proc.stderr)
    layers = json.loads(proc.stdout.strip().splitlines()[-1])
    for r in layers:
        r["paper_seconds"] = B.PAPER_LAYER_SECONDS[r["layer"]]
        r["target_seconds"] = B.TARGET_LAYER_SECONDS[r["layer"]]
        r["meets_target"] = bool(r["seconds"] <= r["target_seconds"])
    spfm = min(r["s_per_filter_mpx"] for r in layers)
    per_layer = {}
    for r in layers:  # each layer at its best thread count
        per_layer[r["layer"]] = min(per_layer.get(r["layer"], np.inf), r["s_per_filter_mpx"])
    worst = max(per_layer.values())
    verdict = "met" if worst < B.TARGET_S_PER_FILTER_MPX else "NOT met"
    print(f"  best: {spfm:.4f} s/filter/megapixel; slowest layer (at its best thread count): "
          f"{worst:.4f} (paper {B.PAPER_S_PER_FILTER_MPX}, target {B.TARGET_S_PER_FILTER_MPX}: "
          f"{verdict} on every layer)")
    print("  (a filter is one 7x7 plane f_kc, the paper's unit: 5.8 s x 81 planes x 0.0225 Mpx "
          "= 10.6 s, its layer-2 figure)")

    loads["after_paper_schedule"] = list(os.getloadavg())

    # ---- 3. learning overhead
    print("\n3. Learning overhead (paper: 10%):")
    learn = learning_overhead(cfg["fit_images"], cfg["fit_repeats"], learn_threads)

    # ---- 4. start-up
    print("\n4. Start-up (fresh interpreter, numba cache warm, default solver):")
    start = startup(cfg["startup_runs"], cfg["size"], startup_env)

    # ---- 5. thread scaling
    print("\n5. Thread scaling of one batched infer call (subprocesses):")
    iters_1pct = max(r["iters_to_1pct"] or 1 for r in rows if r["library"] == "numbadn")
    scaling, scaling_summary = thread_scaling(scaling_envs, cfg["scaling_n"], cfg["size"],
                                              cfg["scaling_repeats"], iters_1pct)

    # ---- 6. memory
    print("\n6. Memory: peak resident memory of training the paper's 3 layers "
          "(1 epoch each, 150x150 images; target < 4 GiB for 1,000 images):")
    # below ~10 images the peak is set by start-up, not by the maps
    memory = training_memory((1, 2) if args.smoke else (10, 20) if args.quick else (20, 40),
                             40 if args.smoke else 150)

    wall = time.perf_counter() - t_wall
    load_end = os.getloadavg()
    result = dict(
        settings=dict(cfg, image=BENCH_IMAGE.name, image_shape=list(y.shape), K1=9, h=7,
                      lam=1.0, p=1.0, dtype="float32", targets=list(TARGETS),
                      thread_counts=thread_counts,
                      measure="decrease gap (C - C*) / (C(0) - C*); literal (C - C*) / C* too"),
        versions=versions,
        machine=dict(platform=platform.platform(), processor=platform.processor(),
                     cpu_count=ncpu, numba_threads=nmax,
                     threading_layer=_threading_layer(), loadavg_start=list(load_start),
                     loadavg_end=list(load_end), loadavg=dict(loads, end=list(load_end))),
        problem=dict(c_star=prob.c_star, c_zero=prob.c_zero,
                     zero_literal_gap=float(prob.literal_gap(prob.c_zero)),
                     nonzero_fraction=nz, reference_iterations=prob.ref_iterations,
                     reference_seconds=prob.ref_seconds,
                     cost_fft_minus_numbadn_over_decrease=fft_check),
        conventions=conventions,
        head_to_head=rows, continuation=cont, fista_default=dflt,
        best_numbadn=best, speedups=speedups,
        issue_reference=dict(ISSUE_REFERENCE, speedup_target=ISSUE_SPEEDUP_TARGET),
        paper=dict(layer_seconds=B.PAPER_LAYER_SECONDS,
                   s_per_filter_mpx=B.PAPER_S_PER_FILTER_MPX,
                   learning_overhead=PAPER_LEARNING_OVERHEAD),
        paper_schedule=dict(rows=layers, best_s_per_filter_mpx=spfm,
                            target_layer_seconds=B.TARGET_LAYER_SECONDS,
                            slowest_layer_s_per_filter_mpx=worst,
                            target_s_per_filter_mpx=B.TARGET_S_PER_FILTER_MPX),
        learning_overhead=learn, startup=start, thread_scaling=scaling,
        thread_scaling_summary=scaling_summary, memory=memory,
        curves={k: dict(time=t, decrease_gap=g) for k, (t, g) in curves.items()},
        wall_time_s=wall)
    json_path = out_dir / "sec45_timings.json"
    with open(json_path, "w") as fh:
        json.dump(_to_jsonable(result), fh, indent=1)
    print(f"\nWrote {json_path} and {fig_path} in {wall:.1f} s (load average at the end "
          f"{load_end[0]:.2f}).")
    return result


_MEMORY_CHILD = """
import resource, sys, numpy as np, numbadn
from numbadn.data import load_images
from numbadn.preprocess import contrast_normalize
n, size, low = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
ims = load_images("food", size=(size, size))
ys = [contrast_normalize(ims[i % len(ims)], mode="same")[None] for i in range(n)]
numbadn.DeconvNet.paper().fit(ys, epochs=1, verbose=False, low_memory=low)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def training_memory(counts, size, target_images=1000, target_bytes=4 * 2 ** 30):
    """Peak RSS of a fresh process training ``DeconvNet.paper()`` on n images, for
    two n, with and without ``low_memory``; the slope is the memory per image,
    extrapolated to 1,000 images."""
    out = {}
    for low, label in ((False, "low_memory=False (warm starts, inputs held)"),
                       (True, "low_memory=True (no warm starts, inputs streamed)")):
        print(f"  {label}:")
        peaks = []
        for n in counts:
            proc = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, str(n), str(size),
                                   "1" if low else "0"],
                                  capture_output=True, text=True, check=True)
            peaks.append(int(proc.stdout.split()[-1]) * 1024)  # ru_maxrss: KiB on Linux
            print(f"    {n:3d} images: peak RSS {peaks[-1] / 2 ** 20:8.1f} MiB")
        per_image = max(0.0, (peaks[1] - peaks[0]) / (counts[1] - counts[0]))
        base = peaks[0] - per_image * counts[0]
        at_target = base + per_image * target_images
        print(f"    grows by {per_image / 2 ** 20:.1f} MiB per image; {target_images} images: "
              f"{at_target / 2 ** 30:.1f} GiB (target {target_bytes / 2 ** 30:.0f} GiB: "
              f"{'met' if at_target < target_bytes else 'NOT met'})")
        out["low_memory" if low else "default"] = dict(
            counts=list(counts), peak_bytes=peaks, bytes_per_image=per_image,
            base_bytes=base, extrapolated_bytes=at_target)
    held = numbadn.DeconvNet.paper().held_bytes([(1, size, size)] * target_images)
    budget = numbadn.network.MEMORY_BUDGET
    auto = held > budget
    if auto:
        met = out["low_memory"]["extrapolated_bytes"] < target_bytes
        print(f"  default (low_memory=None) on {target_images} images: warm starts and inputs "
              f"would hold {held / 2 ** 30:.1f} GiB > {budget / 2 ** 30:.0f} GiB, so fit trains "
              f"in low-memory mode (target {target_bytes / 2 ** 30:.0f} GiB: "
              f"{'met' if met else 'NOT met'})")
    else:
        print(f"  default (low_memory=None) on {target_images} images keeps its warm starts "
              f"({held / 2 ** 30:.1f} GiB)")
    out["default_choice"] = dict(held_bytes=held, low_memory=bool(auto))
    return dict(out, image_size=size, target_images=target_images, target_bytes=target_bytes)


def _threading_layer():
    try:
        return numba.threading_layer()
    except ValueError:
        return None


if __name__ == "__main__":
    main()
