"""The head-to-head's timing: cost traces, :class:`Method` (one solver configuration),
:func:`measure_methods` (repeats interleaved across methods, medians) and the
methods of numbadn, PyTorch and SPORCO.

Split from :mod:`benchmarks.headtohead`, which re-exports these names.
"""
from __future__ import annotations

import time

import numpy as np

from numbadn import infer

try:  # imported as ``benchmarks._methods``
    from ._peers import sporco_cbpdn_mask, torch_fista
    from ._problems import TARGETS
except ImportError:  # ``python benchmarks/headtohead.py``
    from _peers import sporco_cbpdn_mask, torch_fista
    from _problems import TARGETS


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


def numbadn_fista(threads):
    def trace(prob, n_iter, stop_gap):
        _, st = infer(prob.y32, prob.f32, lam=prob.lam, solver="fista", tol=0.0,
                      max_iter=n_iter, return_stats=True, n_threads=threads)
        return np.array([s.time for s in st]), np.array([s.cost for s in st])

    def call(prob, k):
        return infer(prob.y32, prob.f32, lam=prob.lam, solver="fista", tol=0.0,
                     max_iter=k, n_threads=threads)

    return Method("numbadn FISTA", "numbadn", threads, trace, call)


def _peer_method(name, lib, solve):
    """``threads -> Method`` for a peer library's ``solve(y, f, lam, n_iter, threads,
    trace=None)`` (:mod:`_peers`)."""
    def make(threads):
        def trace(prob, n_iter, stop_gap):
            return _trace_generic(prob, lambda n, tr: solve(
                prob.y32, prob.f32, prob.lam, n, threads, tr), n_iter, stop_gap)

        def call(prob, k):
            return solve(prob.y32, prob.f32, prob.lam, k, threads)

        return Method(name, lib, threads, trace, call)
    return make


torch_method = _peer_method("PyTorch FISTA", "torch", torch_fista)
sporco_method = _peer_method("SPORCO ConvBPDNMaskDcpl", "sporco", sporco_cbpdn_mask)
