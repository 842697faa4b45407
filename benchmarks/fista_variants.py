"""Operator products per converged image: first-order schemes on eq. 2
(which step rule the FISTA driver should use).

Eq. 2 on layer 1 (9 unit-norm random 7x7 filters, lambda 1, float32 arithmetic as
numbadn runs it) for a set of 150x150 photographs: the bench photograph and
``natural`` / ``city`` images scaled to 150x150, contrast-normalised.  For each
image the optimum ``C*`` comes from numbadn's float64 FISTA run far past
convergence; a scheme "reaches 1%" when ``(C - C*) / (C(0) - C*) <= 0.01`` (the
fraction of the achievable decrease left, as :mod:`benchmarks.headtohead`).

Schemes (all with the same proximal step, soft thresholding, eq. 8):

- ``fista-spectral``: FISTA (Beck & Teboulle, SIAM J. Imaging Sci. 2009) with
  adaptive restart (O'Donoghue & Candes, Found. Comput. Math. 2015), step
  ``1/L``, ``L = lam ||F||^2`` bounded by the supremum of the symbol
  (:func:`numbadn.solvers.options.spectral_norm2`): numbadn's former default;
- ``fista-power``: the same with ``||F||^2`` from power iteration on ``F^T F``
  for the image size (x 1.01), a tighter bound (the finite operator's norm,
  not its infinite extension's), computed once per filter set and size;
- ``fista-backtracking``: Beck & Teboulle's backtracking (section 4 of the
  2009 paper: ``L`` starts at ``L_power / 16`` and doubles until the
  quadratic upper bound holds; never decreases), with restart;
- ``fista-adaptive``: backtracking that may also lower ``L`` (by 0.9 each
  iteration before the test: Scheinberg, Goldfarb & Bai, Found. Comput. Math.
  2014, "Fast first-order methods for composite convex optimization with
  backtracking"), with restart;
- ``greedy-fista``: Liang, Luo & Schonlieb, SIAM J. Sci. Comput. 2022,
  "Improving FISTA: faster, smarter and greedier", Algorithm 4: momentum 1,
  step ``gamma = 1.3 / L_power``, restart when ``<v - x_{k+1}, x_{k+1} - x_k> >= 0``,
  and the safeguard ``gamma = max(0.96 gamma, 1/L)`` whenever
  ``||x_{k+1} - x_k|| >= ||x_1 - x_0||``.

Counts: ``F`` passes and ``F^T`` passes; "A-products" is their sum over 2 (one
``F`` and one ``F^T`` make one ``A z``; FISTA needs one of each per iteration, a
backtracking trial one more ``F``: ``F v`` is formed from ``F z_k`` and
``F z_{k-1}`` by linearity).  Time per converged image, for the schemes numbadn's
driver runs (``lipschitz="spectral" / "power" / "backtracking"``): one batched
``infer(Y, f, solver="fista", max_iter=N, tol=0)`` on all the images, ``N`` the
median iterations to 1%, per image, at each thread count given (median of 5).

Writes ``fista_variants.json`` into ``--out`` (default ``figures/``, or
``figures/quick/`` with ``--quick`` / ``--smoke``)::

    python -m benchmarks.fista_variants             # 8 images
    python -m benchmarks.fista_variants --quick     # 3 images
    python -m benchmarks.fista_variants --smoke     # 2 images of 40x40 (tests)
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from numbadn import cost, infer
from numbadn._jit import threads
from numbadn.data import load_images
from numbadn.ops import conv_full, conv_valid
from numbadn.preprocess import contrast_normalize
from numbadn.solvers.options import spectral_norm2
from numbadn.solvers.options import power_bound

try:  # run as ``python -m benchmarks.fista_variants`` or imported
    from . import _util
    from ._problems import TARGETS, bench_image, unit_filters
except ImportError:  # ``python benchmarks/fista_variants.py``
    import _util
    from _problems import TARGETS, bench_image, unit_filters

SCHEMES = ("fista-spectral", "fista-power", "fista-backtracking", "fista-adaptive",
           "greedy-fista")
#: Schemes numbadn's driver runs (``infer(..., solver="fista", lipschitz=...)``).
DRIVER = {"fista-spectral": "spectral", "fista-power": "power",
          "fista-backtracking": "backtracking"}


def images(n, size):
    """``n`` contrast-normalised photographs of ``size x size``, float32."""
    out = [bench_image(size)]
    names = ("natural", "city")
    k = 0
    while len(out) < n:
        ims = load_images(names[k % 2], size=(size, size), dtype=np.float64)
        out.append(contrast_normalize(ims[k // 2 % len(ims)], mode="same"))
        k += 1
    return [np.ascontiguousarray(y[None], np.float32) for y in out[:n]]


class Counter:
    """``F`` and ``F^T`` on float32 arrays, counted."""

    def __init__(self, f):
        self.f, self.nF, self.nFT = f, 0, 0

    def F(self, z):
        self.nF += 1
        return conv_valid(z, self.f)

    def FT(self, r):
        self.nFT += 1
        return conv_full(r, self.f)

    @property
    def products(self):
        return 0.5 * (self.nF + self.nFT)


def _soft(x, th):
    return np.maximum(x - th, 0) + np.minimum(x + th, 0)


def run_scheme(name, y, f, lam, L_spec, L_pow, trace, max_iter):
    """Run scheme ``name`` from z = 0; ``trace(z, products)`` after every iteration
    returns True to stop.  Returns the :class:`Counter`."""
    op = Counter(f)
    K1, h, w = f.shape[0], f.shape[2], f.shape[3]
    z = np.zeros((K1, y.shape[1] + h - 1, y.shape[2] + w - 1), np.float32)
    zp = z.copy()
    Fz = np.zeros_like(y)
    Fzp = Fz.copy()
    t, m = 1.0, 0.0
    L = {"fista-spectral": L_spec, "fista-power": L_pow, "greedy-fista": L_pow,
         "fista-backtracking": L_pow / 16, "fista-adaptive": L_pow / 16}[name]
    gamma = 1.3 / L_pow
    first = None
    for _ in range(max_iter):
        v = z + np.float32(m) * (z - zp)
        if name in ("fista-backtracking", "fista-adaptive"):
            Fv = np.float32(1 + m) * Fz - np.float32(m) * Fzp
            rv = Fv - y
            grad = lam * op.FT(rv)
            fv = 0.5 * lam * float((rv.astype(np.float64) ** 2).sum())
            if name == "fista-adaptive":
                L *= 0.9
            while True:
                x = _soft(v - grad / np.float32(L), np.float32(1.0 / L))
                Fx = op.F(x)
                d = (x - v).astype(np.float64)
                fx = 0.5 * lam * float(((Fx - y).astype(np.float64) ** 2).sum())
                if fx <= fv + float((grad.astype(np.float64) * d).sum()) + 0.5 * L * float(
                        (d * d).sum()) * (1 + 1e-6):
                    break
                L *= 2.0
            Fzp, Fz = Fz, Fx
        else:
            grad = lam * op.FT(op.F(v) - y)
            step = gamma if name == "greedy-fista" else 1.0 / L
            x = _soft(v - np.float32(step) * grad, np.float32(step))
        dx = x - z
        up = float(((v - x).astype(np.float64) * dx).sum())
        if name == "greedy-fista":
            nrm = float(np.sqrt((dx.astype(np.float64) ** 2).sum()))
            first = nrm if first is None else first
            if nrm >= first:
                gamma = max(0.96 * gamma, 1.0 / L_pow)
            m = 0.0 if up >= 0.0 else 1.0
        else:
            t_next = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
            m, t = (0.0, 1.0) if up > 0.0 else ((t - 1.0) / t_next, t_next)
        zp, z = z, x
        if trace(z, op.products):
            break
    return op


def products_to_targets(name, y, f, lam, L_spec, L_pow, c_star, c_zero, max_iter):
    """A-products at which each target of :data:`TARGETS` is first reached (None if not)."""
    hit = {thr: None for thr in TARGETS}
    iters = {thr: None for thr in TARGETS}
    y64, f64 = y.astype(np.float64), f.astype(np.float64)
    costs = []

    def trace(z, products):
        c = cost(y64, z.astype(np.float64), f64, lam=lam)
        costs.append(c)
        gap = (c - c_star) / (c_zero - c_star)
        for thr in TARGETS:
            if hit[thr] is None and gap <= thr:
                hit[thr] = products
                iters[thr] = len(costs)
        return hit[min(TARGETS)] is not None

    op = run_scheme(name, y, f, lam, L_spec, L_pow, trace, max_iter)
    return hit, iters, op, bool(np.all(np.isfinite(costs)))


def driver_ms_per_image(Y, f, lam, lipschitz, n_iter, thread_counts, repeats):
    """Milliseconds per image of numbadn's batched driver running ``n_iter``
    iterations (``infer(Y, f, solver="fista", lipschitz=..., max_iter=n_iter, tol=0)``),
    median of ``repeats``, per thread count."""
    out = {}
    for nt in thread_counts:
        kw = dict(lam=lam, solver="fista", lipschitz=lipschitz, max_iter=int(n_iter), tol=0.0,
                  n_threads=nt)
        infer(Y, f, **kw)
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            infer(Y, f, **kw)
            ts.append(time.perf_counter() - t0)
        out[nt] = float(np.median(ts)) / len(Y) * 1e3
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 images")
    ap.add_argument("--smoke", action="store_true", help="2 images of 40x40 (seconds)")
    ap.add_argument("--images", type=int, default=None, help="number of images (default 8)")
    ap.add_argument("--threads", default="1,2", help="thread counts of the timing (N,N)")
    ap.add_argument("--out", default=None, help="folder of the JSON (default figures/)")
    args = ap.parse_args(argv)
    size = 40 if args.smoke else 150
    n = args.images or (2 if args.smoke else 3 if args.quick else 8)
    ref_iter = 400 if args.smoke else 3000
    max_iter = 300 if args.smoke else 1000
    tcs = sorted({int(t) for t in args.threads.split(",")})
    lam = 1.0
    f = unit_filters().astype(np.float32)
    Ys = images(n, size)
    t_start = time.perf_counter()
    L_spec = lam * spectral_norm2(f.astype(np.float64), np.ones((9, 1), bool))
    t0 = time.perf_counter()
    L_pow = lam * power_bound(f, np.ones((9, 1), bool), Ys[0].shape)
    t_pow = time.perf_counter() - t0
    print(f"eq. 2, layer 1, {n} images of {size}x{size}, lambda {lam}; ||F||^2 bounds: "
          f"spectral {L_spec:.4f}, power iteration {L_pow:.4f} ({L_pow / L_spec:.3f} of it, "
          f"{t_pow * 1e3:.0f} ms once per filter set and size)")
    rows = []
    for i, y in enumerate(Ys):
        y64 = y.astype(np.float64)
        f64 = f.astype(np.float64)
        with threads(1):
            z = infer(y64, f64, lam=lam, solver="fista", tol=1e-9, max_iter=ref_iter)
        c_star = cost(y64, z, f64, lam=lam)
        c_zero = cost(y64, np.zeros_like(z), f64, lam=lam)
        for name in SCHEMES:
            with threads(1):
                hit, iters, op, finite = products_to_targets(name, y, f, lam, L_spec, L_pow, c_star,
                                                      c_zero, max_iter)
            rows.append(dict(image=i, scheme=name, products=hit, iterations=iters, F=op.nF,
                             FT=op.nFT, finite=finite))
        print(f"  image {i}: " + ", ".join(
            f"{r['scheme']} {r['products'][TARGETS[0]]}/{r['products'][TARGETS[1]]}"
            for r in rows if r["image"] == i) + "  (A-products to 1% / 0.1%)")
    Y = np.concatenate([y[None] for y in Ys])
    summary = {}
    print("Median A-products per image to 1% / 0.1% of the decrease left; for the schemes "
          "numbadn's driver runs, ms per image of one batched infer call running the median "
          "iterations to 1% (tol 0):")
    for name in SCHEMES:
        rs = [r for r in rows if r["scheme"] == name]
        med, med_it = {}, {}
        for thr in TARGETS:
            vals = [r["products"][thr] for r in rs]
            its = [r["iterations"][thr] for r in rs]
            med[thr] = None if any(v is None for v in vals) else float(np.median(vals))
            med_it[thr] = None if any(v is None for v in its) else float(np.median(its))
        robust = all(r["finite"] for r in rs) and all(
            r["products"][thr] is not None for r in rs for thr in TARGETS)
        ms = None
        if name in DRIVER and med_it[TARGETS[0]] is not None:
            ms = driver_ms_per_image(Y, f, lam, DRIVER[name], int(np.ceil(med_it[TARGETS[0]])),
                                     tcs, 1 if args.smoke else 5)
        summary[name] = dict(median_products={str(k): v for k, v in med.items()},
                             median_iterations={str(k): v for k, v in med_it.items()},
                             max_products={str(thr): max((r["products"][thr] or np.inf)
                                                         for r in rs) for thr in TARGETS},
                             all_reached=robust, ms_per_image_1pct=ms,
                             in_driver=name in DRIVER)
        print(f"  {name:20s} {med[TARGETS[0]]} / {med[TARGETS[1]]}  reached on every image: "
              f"{robust}" + ("" if ms is None else "  ms/image: " + ", ".join(
                  f"{nt} thr {v:.2f}" for nt, v in ms.items())))
    result = dict(settings=dict(images=n, size=size, lam=lam, targets=list(TARGETS),
                                reference_iterations=ref_iter, max_iter=max_iter, threads=tcs),
                  bounds=dict(spectral=L_spec, power=L_pow, power_seconds=t_pow),
                  rows=rows, summary=summary,
                  wall_seconds=time.perf_counter() - t_start, versions=_util.versions())
    out = _util.default_out(args)
    out.mkdir(parents=True, exist_ok=True)
    _util.write_json(result, out / "fista_variants.json")
    print(f"wrote {out / 'fista_variants.json'}")
    return result


if __name__ == "__main__":
    main()
