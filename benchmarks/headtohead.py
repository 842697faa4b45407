"""Head-to-head on eq. 2: numbadn against PyTorch and SPORCO, time to the optimum.

The problem (the performance issue's): a 150x150 contrast-normalised
photograph (``numbadn/datasets/bench/``, a crop of OpenCV's ``fruits.jpg``,
:func:`numbadn.preprocess.contrast_normalize` with ``mode="same"`` so it stays
150x150), 9 random unit-norm 7x7 filters (seed 0), one input channel,
``lam = 1``, ``p = 1``, float32 data.  The optimum ``C*`` comes from a long
float64 numbadn FISTA run (tol 1e-8).  For each method: the time until the
cost is within 1% and 0.1% of the optimum, for

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

**Which "within 1%".**  At ``lam = 1`` on a contrast-normalised image (range
width 2) the optimum is ~99.9% zeros and lies only ~0.1% below the cost of
``z = 0``: "cost within 1% of C*" holds at iteration 0 for every method.  The
measure used for the table is therefore the *fraction of the achievable
decrease still missing*, ``(C_k - C*) / (C(0) - C*)``, at 1% and 0.1%; the
literal ``(C_k - C*) / C*`` is reported too (iterations only).

Two times per method: *iterations only* (cumulative time of the iterations,
cost evaluation and set-up excluded: numbadn's per-iteration
the ``time`` of its statistics, the same bookkeeping for the peers) and *end-to-end* (the
median wall time of one complete call that runs exactly the number of
iterations needed, set-up such as the step size or SPORCO's FFTs included).
Every method runs with all cores and with one thread: on a shared 2-core
machine the multithreaded runs of all three libraries can collapse when
another process holds a core (see ``loadavg`` in the JSON).  Repeats are
interleaved across methods (round robin, medians), so a change of load during
the run hits every method alike.

``reproduce/sec45_timings.py`` runs :func:`run` as its first section.  Alone::

    python -m benchmarks.headtohead            # full: figures/bench_headtohead.{json,png}
    python -m benchmarks.headtohead --quick    # fewer repeats: figures/quick/
    python -m benchmarks.headtohead --smoke    # 40x40 crop, 1 repeat, 1 thread

The problem and its optimum are in ``benchmarks/_problems.py``, the PyTorch
and SPORCO solvers in ``_peers.py``, the traces and the interleaved timings in
``_methods.py``; this module re-exports their names.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from numbadn import bench as B
from numbadn import infer
from numbadn._jit import max_threads

try:  # run as ``python -m benchmarks.headtohead`` or imported as ``benchmarks.headtohead``
    from . import _util
    from ._methods import (Method, _pct, first_reach, measure_methods,  # noqa: F401
                           numbadn_fista, sporco_method, torch_method)
    from ._peers import (sporco_cbpdn_mask, sporco_conventions,  # noqa: F401
                         torch_conventions, torch_fista)
    from ._problems import BENCH_IMAGE, TARGETS, Problem, bench_image, unit_filters
except ImportError:  # ``python benchmarks/headtohead.py``
    import _util
    from _methods import (Method, _pct, first_reach, measure_methods,  # noqa: F401
                          numbadn_fista, sporco_method, torch_method)
    from _peers import (sporco_cbpdn_mask, sporco_conventions,  # noqa: F401
                        torch_conventions, torch_fista)
    from _problems import BENCH_IMAGE, TARGETS, Problem, bench_image, unit_filters

#: The issue's reference points on a 2-core machine, seconds to (1%, 0.1%), by library.
ISSUE_REFERENCE = {"torch": (0.100, 0.200), "sporco": (0.100, 0.150)}
LIBRARY_NAMES = {"numbadn": "numbadn", "torch": "PyTorch", "sporco": "SPORCO"}
#: The issue's target: numbadn at least this many times faster than both.
ISSUE_SPEEDUP_TARGET = 10.0


def _label(p):
    return p.replace("pct", "%").replace("p", ".")


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
                         threads=nt, call_seconds=t, iter_seconds=st[-1].time,
                         final_decrease_gap=float(prob.decrease_gap(c)),
                         final_literal_gap=float(prob.literal_gap(c)),
                         cost=c, betas=len(st) - 1))
        curves[f"numbadn continuation ({nt} thr)"] = (np.array([s.time for s in st]),
                                                            prob.decrease_gap(np.array([s.cost for s in st])))
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
                         call_seconds=t, iterations=st[-1].iteration,
                         final_decrease_gap=float(prob.decrease_gap(c))))
    return rows

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




# ----------------------------------------------------------------------------- run
#: Sizes of a run by mode: the crop (None: 150x150), the reference run's
#: iterations, iterations traced per method, and the repeats.
CONFIGS = {
    "smoke": dict(size=40, ref_iter=3000, numbadn_iter=60, peer_iter=60,
                  trace_repeats=1, call_repeats=1),
    "quick": dict(size=None, ref_iter=5000, numbadn_iter=100, peer_iter=80,
                  trace_repeats=1, call_repeats=3),
    "full": dict(size=None, ref_iter=5000, numbadn_iter=300, peer_iter=200,
                 trace_repeats=3, call_repeats=7),
}


def run(cfg, thread_counts, versions):
    """The whole head-to-head: the problem and its optimum, the operator checks,
    every method (:func:`head_to_head`), the paper's schedule and FISTA with its
    defaults on the same problem, and the table.

    ``cfg``: one of :data:`CONFIGS` (more keys are ignored).  Returns a dict with
    the JSON sections ``problem``, ``conventions``, ``head_to_head``,
    ``continuation``, ``fista_default``, ``best_numbadn``, ``speedups``, the
    ``curves`` ``{label: (times, decrease gap)}`` and the ``image_shape``.
    """
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
    print(f"  Eq. 2 on {BENCH_IMAGE.name} ({y.shape[0]}x{y.shape[1]}, contrast-normalised), "
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
        print(f"  {lib} operator check against numbadn.ops.conv_valid / conv_full: "
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
    problem = dict(c_star=prob.c_star, c_zero=prob.c_zero,
                   zero_literal_gap=float(prob.literal_gap(prob.c_zero)),
                   nonzero_fraction=nz, reference_iterations=prob.ref_iterations,
                   reference_seconds=prob.ref_seconds,
                   cost_fft_minus_numbadn_over_decrease=fft_check)
    return dict(problem=problem, conventions=conventions, head_to_head=rows, continuation=cont,
                fista_default=dflt, best_numbadn=best, speedups=speedups, curves=curves,
                image_shape=list(y.shape))


def settings(cfg, shape, thread_counts):
    """The JSON ``settings`` of a run on an image of ``shape``."""
    return dict(cfg, image=BENCH_IMAGE.name, image_shape=list(shape), K1=9, h=7, lam=1.0, p=1.0,
                dtype="float32", targets=list(TARGETS), thread_counts=thread_counts,
                measure="decrease gap (C - C*) / (C(0) - C*); literal (C - C*) / C* too")


def iters_to_1pct(cfg, thread_counts):
    """Iterations numbadn FISTA needs to reach 1% of the decrease on the problem of
    ``cfg``, the largest over ``thread_counts`` (what :func:`run` reports as
    ``iters_to_1pct``; 1 where it is never reached)."""
    prob = Problem(bench_image(cfg["size"]), unit_filters(), ref_iter=cfg["ref_iter"])
    iters = []
    for nt in thread_counts:
        _, costs = numbadn_fista(nt).trace(prob, cfg["numbadn_iter"], 1e-4)
        iters.append(first_reach(prob.decrease_gap(costs), TARGETS[0]) or 1)
    return max(iters)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="fewer repeats")
    mode.add_argument("--smoke", action="store_true", help="40x40 crop, 1 repeat, 1 thread")
    ap.add_argument("--out", default=None,
                    help="output folder (default: figures/, figures/quick/ for --quick, --smoke)")
    args = ap.parse_args(argv)
    t_wall, load_start = time.perf_counter(), os.getloadavg()
    name = "smoke" if args.smoke else "quick" if args.quick else "full"
    cfg = dict(CONFIGS[name], mode=name)
    thread_counts = [1] if args.smoke else sorted({1, max_threads()})
    versions = _util.versions()
    out_dir = _util.default_out(args)
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"Head-to-head on eq. 2 ({name} mode), threads {thread_counts}; "
          + ", ".join(f"{LIBRARY_NAMES[k]} {versions[k] or 'not installed'}"
                      for k in ("torch", "sporco")))
    res = run(cfg, thread_counts, versions)
    curves, shape = res.pop("curves"), res.pop("image_shape")
    save_figure(curves, out_dir / "bench_headtohead.png", shape)
    result = dict(settings=settings(cfg, shape, thread_counts), versions=versions,
                  machine=_util.machine(load_start, {"start": list(load_start)}), **res,
                  issue_reference=dict(ISSUE_REFERENCE, speedup_target=ISSUE_SPEEDUP_TARGET),
                  curves={k: dict(time=t, decrease_gap=g) for k, (t, g) in curves.items()},
                  wall_time_s=time.perf_counter() - t_wall)
    _util.write_json(result, out_dir / "bench_headtohead.json")
    print(f"\nWrote {out_dir / 'bench_headtohead.json'} and .png in {result['wall_time_s']:.1f} s.")
    return result


if __name__ == "__main__":
    main()
