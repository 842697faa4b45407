"""Bytes moved per iteration and time, unfused and fused solver passes (issue 21).

The fused drivers (:mod:`numbadn.kernels.fused`) do the element-wise work of FISTA
with backtracking and of the continuation scheme inside fewer passes over memory.
This benchmark gives, for the paper's layer-1/2/3 shapes at 150x150 (section 4.1:
1 -> 9 maps full, 9 -> 45 singles and pairs, 45 -> 150 random pairs, 7x7 filters):

- **bytes moved**, an analytic count (:func:`traffic`): each pass reads each array it
  reads once and writes each array it writes once, at the array's full size (the
  convolutions' halo and filter re-reads hit the cache and are not counted, nor are
  the filters and per-row sums: kilobytes).  It is what a pass must move through
  main memory when the arrays do not fit in cache (layer 1: a map is 95 kB in
  float32, the nine 0.9 MB), so the unfused and fused counts compare the passes, not
  the machine.  :data:`PASSES` lists every pass with its arrays; the test checks
  the count against one made by hand for a small case;
- **time**: FISTA with backtracking (numbadn's default) on a batch of photograph
  crops (the images of :mod:`benchmarks.fista_variants`), as many iterations as its
  median to 1% of the optimum there (from ``figures/fista_variants.json``, or
  ``--fista-iters``), ms per image; and the paper's continuation schedule (beta
  1 .. 6^6, 1 inner iteration, 2 CG steps) on one 150x150 image at a time with the
  parallel kernels, per layer.  Unfused and fused runs alternate, medians of
  ``--repeats``, at each thread count of ``--threads``.

Writes ``fused.json`` into ``--out`` (default ``figures/``, ``figures/quick/`` with
``--quick`` / ``--smoke``)::

    python -m benchmarks.fused                 # layers 1-3, 8 images, 1 and 2 threads
    python -m benchmarks.fused --quick         # layers 1-2, 4 images
    python -m benchmarks.fused --smoke         # 40x40, seconds (tests)
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from numbadn import connectivity as C
from numbadn._jit import threads
from numbadn import kernels as S
from numbadn.kernels import ContinuationPlan, FistaPlan, Prior, make_operator, table_for
from numbadn.kernels import fused as FU
from numbadn.solvers.options import power_bound

try:  # run as ``python -m benchmarks.fused`` or imported
    from . import _util
except ImportError:  # ``python benchmarks/fused.py``
    import _util

#: The passes of one iteration, as (name, arrays read, arrays written).  Array
#: names: ``Z`` a map-sized array (K1, P+h-1, Q+w-1), ``I`` an image-sized one
#: (K0, P, Q), ``R`` the zero-bordered buffer the adjoint reads (K0, P+2(h-1),
#: Q+2(w-1)); the lower-case suffix says which one.
PASSES = {
    # fista_bt_run, an iteration whose first trial is accepted, dense maps
    "fista unfused": [
        ("residual D v - y (by linearity)", ["I:Fz", "I:Fzp", "I:y"], ["I:rpad"]),
        ("adjoint D^T r", ["R:rpad"], ["Z:grad"]),
        ("trial step (prox, sums)", ["Z:z", "Z:zprev", "Z:grad"], ["Z:x"]),
        ("nonzero rows of x", ["Z:x"], []),
        ("forward D x", ["Z:x"], ["I:rpad"]),
        ("take D x, ||D x - y||^2", ["I:rpad", "I:y"], ["I:Fx"]),
    ],
    "fista fused": [
        ("adjoint + trial step", ["R:rpad", "Z:z", "Z:zprev"], ["Z:grad", "Z:x"]),
        ("forward D x + both residuals", ["Z:x", "I:Fz", "I:y"], ["I:Fx", "I:rpad"]),
    ],
    # continuation_step, one beta step of the paper's schedule (1 inner iteration,
    # 2 CG steps), in the steady state (a step followed by another)
    "continuation unfused": [
        ("x step + CG start", ["Z:z", "Z:FTy", "Z:q"], ["Z:r", "Z:pp"]),
        ("CG 1 forward D p", ["Z:pp"], ["I:rpad"]),
        ("CG 1 adjoint + alpha p", ["R:rpad", "Z:pp"], ["Z:Ap"]),
        ("CG 1 update", ["Z:z", "Z:r", "Z:pp", "Z:Ap", "Z:q"], ["Z:z", "Z:r", "Z:q"]),
        ("CG 1 direction", ["Z:r", "Z:pp"], ["Z:pp"]),
        ("CG 2 forward D p", ["Z:pp"], ["I:rpad"]),
        ("CG 2 adjoint + alpha p", ["R:rpad", "Z:pp"], ["Z:Ap"]),
        ("CG 2 update", ["Z:z", "Z:r", "Z:pp", "Z:Ap", "Z:q"], ["Z:z", "Z:r", "Z:q"]),
    ],
    "continuation fused": [
        ("CG 1 forward D p", ["Z:pp"], ["I:rpad"]),
        ("CG 1 adjoint + alpha p", ["R:rpad", "Z:pp"], ["Z:Ap"]),
        ("CG 1 update", ["Z:z", "Z:r", "Z:pp", "Z:Ap", "Z:q"], ["Z:z", "Z:r", "Z:q"]),
        ("CG 1 direction", ["Z:r", "Z:pp"], ["Z:pp"]),
        ("CG 2 forward D p", ["Z:pp"], ["I:rpad"]),
        ("CG 2 adjoint + alpha p", ["R:rpad", "Z:pp"], ["Z:Ap"]),
        ("CG 2 update + next x step + CG start", ["Z:z", "Z:pp", "Z:Ap", "Z:q", "Z:FTy"],
         ["Z:z", "Z:q", "Z:r", "Z:pp"]),
    ],
}

#: The paper's layers at ``size`` x ``size`` (section 4.1): (name, K0, K1, g).
LAYERS = (("layer 1", 1, 9, lambda: C.full(9, 1)),
          ("layer 2", 9, 45, lambda: C.singles_and_pairs(9)),
          ("layer 3", 45, 150, lambda: C.random_pairs(150, 45, seed=0)))


def array_sizes(K0, K1, P, Q, h=7, w=7):
    """Elements of the kinds of array of :data:`PASSES`."""
    return {"Z": K1 * (P + h - 1) * (Q + w - 1), "I": K0 * P * Q,
            "R": K0 * (P + 2 * (h - 1)) * (Q + 2 * (w - 1))}


def traffic(scheme, K0, K1, P, Q, h=7, w=7, itemsize=4):
    """Bytes each pass of ``PASSES[scheme]`` reads and writes, and the total.

    Returns ``(rows, total)``, ``rows`` a list of ``(pass, bytes read, bytes written)``.
    """
    n = array_sizes(K0, K1, P, Q, h, w)
    rows = []
    for name, reads, writes in PASSES[scheme]:
        rows.append((name, itemsize * sum(n[a.split(":")[0]] for a in reads),
                     itemsize * sum(n[a.split(":")[0]] for a in writes)))
    return rows, sum(r + w for _, r, w in rows)


def traffic_table(size, itemsize=4):
    """Bytes per iteration for the paper's layers, unfused and fused."""
    out = {}
    for name, K0, K1, _ in LAYERS:
        cell = {}
        for algo in ("fista", "continuation"):
            before = traffic(f"{algo} unfused", K0, K1, size, size, itemsize=itemsize)[1]
            after = traffic(f"{algo} fused", K0, K1, size, size, itemsize=itemsize)[1]
            cell[algo] = dict(unfused=before, fused=after, ratio=after / before)
        out[name] = cell
    return out


def _fista_iters(default):
    path = _util.FIGURES / "fista_variants.json"
    try:
        d = json.loads(path.read_text())
        return int(np.ceil(d["summary"]["fista-backtracking"]["median_iterations"]["0.01"]))
    except (OSError, KeyError, TypeError, ValueError):
        return default


def _alternate(runs, repeats):
    """Run each callable of ``runs`` (a dict) ``repeats`` times, alternating; medians (s)."""
    ts = {k: [] for k in runs}
    for fn in runs.values():  # warm-up (compilation, first touch)
        fn()
    for _ in range(repeats):
        for k, fn in runs.items():
            t0 = time.perf_counter()
            fn()
            ts[k].append(time.perf_counter() - t0)
    return {k: float(np.median(v)) for k, v in ts.items()}


def time_fista(Y, f, n_iter, thread_counts, repeats):
    """ms per image of FISTA with backtracking on the batch ``Y`` (``n_iter``
    iterations, tol 0), unfused and fused, per thread count."""
    g = np.ones((f.shape[0], f.shape[1]), bool)
    op = make_operator(f, g)
    prior = Prior(1.0, 1.0, table_for(1.0))
    plan = FistaPlan(power_bound(f, g, Y[0].shape) / 16.0, n_iter, 0.0, True, True)
    K1, h, w = f.shape[0], f.shape[2], f.shape[3]
    Z = np.zeros((len(Y), K1, Y.shape[2] + h - 1, Y.shape[3] + w - 1), Y.dtype)
    out = {}
    for nt in thread_counts:
        with threads(nt) as n:
            def unfused():
                Z.fill(0)
                S.fista_batch(op, Y, Z, prior, plan, n)

            def fused():
                Z.fill(0)
                FU.fista_bt_batch_fused(op, Y, Z, prior, plan, n)
            med = _alternate({"unfused": unfused, "fused": fused}, repeats)
        out[nt] = {k: v / len(Y) * 1e3 for k, v in med.items()}
    return out


def time_continuation(size, layers, thread_counts, repeats, seed=0):
    """ms per image of the paper's schedule on one image (parallel kernels),
    unfused and fused, per layer and thread count."""
    rng = np.random.default_rng(seed)
    prior = Prior(1.0, 1.0, table_for(1.0))
    plan = ContinuationPlan(np.array([6.0 ** j for j in range(7)]), 1, 2)
    out = {}
    for name, K0, K1, gfun in LAYERS[:layers]:
        g = gfun()
        f = rng.standard_normal((K1, K0, 7, 7)).astype(np.float32)
        f /= np.sqrt((f ** 2).sum(axis=(1, 2, 3), keepdims=True))
        op = make_operator(f, g)
        y = rng.standard_normal((K0, size, size)).astype(np.float32)
        z = np.zeros((K1, size + 6, size + 6), np.float32)
        ws = S.workspace(op, y, z)
        FTy = np.empty_like(z)
        cell = {}
        for nt in thread_counts:
            with threads(nt):
                def unfused():
                    z.fill(0)
                    S.continuation_solve(op, y, z, prior, plan, ws, FTy, None, True)

                def fused():
                    z.fill(0)
                    FU.continuation_solve_fused(op, y, z, prior, plan, ws, FTy, None, True)
                med = _alternate({"unfused": unfused, "fused": fused}, repeats)
            cell[nt] = {k: v * 1e3 for k, v in med.items()}
        out[name] = cell
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="layers 1-2, 4 images")
    ap.add_argument("--smoke", action="store_true", help="40x40, 2 images, 1 repeat (tests)")
    ap.add_argument("--threads", default="1,2", help="thread counts (N,N,...)")
    ap.add_argument("--repeats", type=int, default=None, help="timed runs of each (median)")
    ap.add_argument("--images", type=int, default=None, help="images of the FISTA batch")
    ap.add_argument("--layers", type=int, default=None, help="layers timed (1-3)")
    ap.add_argument("--fista-iters", type=int, default=None,
                    help="FISTA iterations (default: the median to 1%% in "
                         "figures/fista_variants.json)")
    ap.add_argument("--out", default=None, help="folder of the JSON (default figures/)")
    args = ap.parse_args(argv)
    size = 40 if args.smoke else 150
    n = args.images or (2 if args.smoke else 4 if args.quick else 8)
    repeats = args.repeats or (1 if args.smoke else 5)
    layers = args.layers or (1 if args.smoke else 2 if args.quick else 3)
    n_iter = args.fista_iters or _fista_iters(4)
    tcs = sorted({int(t) for t in args.threads.split(",")})
    t_start = time.perf_counter()

    bytes_150 = traffic_table(150)
    print("Bytes moved per iteration, float32, 150x150 (FISTA: one iteration of FISTA "
          "with backtracking, first trial accepted; continuation: one beta step, "
          "1 inner iteration, 2 CG steps):")
    for lname, cell in bytes_150.items():
        print(f"  {lname}: " + "; ".join(
            f"{a} {c['unfused'] / 1e6:.2f} -> {c['fused'] / 1e6:.2f} MB ({c['ratio']:.2f}x)"
            for a, c in cell.items()))

    from benchmarks.fista_variants import images
    from benchmarks._problems import unit_filters
    Y = np.concatenate([y[None] for y in images(n, size)])
    f = unit_filters().astype(np.float32)
    fista = time_fista(Y, f, n_iter, tcs, repeats)
    print(f"FISTA with backtracking, {n_iter} iterations (median to 1%), batch of {n} "
          f"photographs {size}x{size}, ms per image (median of {repeats}, alternated):")
    for nt, c in fista.items():
        print(f"  {nt} thread(s): unfused {c['unfused']:.2f}, fused {c['fused']:.2f} "
              f"({c['unfused'] / c['fused']:.2f}x)")
    cont = time_continuation(size, layers, tcs, repeats)
    print(f"Paper schedule (7 betas, 1 inner, 2 CG), one {size}x{size} image, ms:")
    for lname, cell in cont.items():
        for nt, c in cell.items():
            print(f"  {lname}, {nt} thread(s): unfused {c['unfused']:.1f}, fused "
                  f"{c['fused']:.1f} ({c['unfused'] / c['fused']:.2f}x)")
    result = dict(settings=dict(size=size, images=n, repeats=repeats, threads=tcs,
                                fista_iterations=n_iter, layers=layers),
                  bytes_per_iteration_150=bytes_150,
                  passes={k: [dict(name=p, reads=r, writes=w) for p, r, w in v]
                          for k, v in PASSES.items()},
                  fista_ms_per_image=fista, continuation_ms=cont,
                  wall_seconds=time.perf_counter() - t_start, versions=_util.versions())
    out = _util.default_out(args)
    out.mkdir(parents=True, exist_ok=True)
    _util.write_json(result, out / "fused.json")
    print(f"wrote {out / 'fused.json'}")
    return result


if __name__ == "__main__":
    main()
