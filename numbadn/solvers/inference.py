"""Inference on one layer: ``infer`` and ``cost`` (eqs. 2-8)."""
from __future__ import annotations

import threading
import time
from typing import NamedTuple, Optional

import numpy as np

from .. import _validation as V
from .._jit import current_threads, threads
from ..kernels import make_operator, new_rpad, table_for
from ..kernels import _steps as S
from ..kernels._hook import registered
from ..kernels._masked import Masked, lipschitz_bound
from .options import parse, spectral_norm2

__all__ = ["infer", "cost", "IterationStats"]


class IterationStats(NamedTuple):
    """One iteration's statistics, the same fields for every solver.

    ``infer(..., callback=cb)`` calls ``cb(stats)`` after every iteration (a beta
    step of the continuation scheme, a FISTA iteration; iteration 0 is the start);
    ``DeconvLayer.fit(..., callback=cb)`` after every training image.

    Parameters
    ----------
    epoch : int or None
        Epoch of :meth:`DeconvLayer.fit` (1-based); None in inference.
    image : int
        Index of the image in the batch or training set.
    iteration : int
        Solver iteration (inference) or images done in this epoch (fit).
    time : float
        Seconds since the solve (inference, cost evaluation excluded) or the
        epoch began.
    cost : float
        Eq. 2/3: ``lam/2 ||F z - y||^2 + sum |z|^p``.
    sparsity : float
        Fraction of map entries that are exactly zero.
    residual : float
        ``||F z - y|| / ||y||``, the relative reconstruction residual.
    cg_residual : float
        Relative residual of the last CG solve (continuation; NaN otherwise).
    """

    #: Epoch of :meth:`DeconvLayer.fit` (1-based); None in inference.
    epoch: Optional[int]
    #: Index of the image in the batch or training set.
    image: int
    #: Solver iteration (inference) or images done in this epoch (fit).
    iteration: int
    #: Seconds since the solve (inference, cost evaluation excluded) or the epoch began.
    time: float
    #: Eq. 2/3: ``lam/2 ||F z - y||^2 + sum |z|^p``.
    cost: float
    #: Fraction of map entries that are exactly zero.
    sparsity: float
    #: ``||F z - y|| / ||y||``, the relative reconstruction residual.
    residual: float
    #: Relative residual of the last CG solve (continuation; NaN otherwise).
    cg_residual: float


def _setup(y, f, g, z0, name="y", zname="z0"):
    """Validate and convert; return (Y batch, f, g, Z0 batch or None, batched)."""
    f = V.check_filters(f)
    y = V.as_float_array(name, y, (3, 4))
    dt = V.common_dtype(f, y)
    y = y.astype(dt, copy=False)
    f = f.astype(dt, copy=False)
    V.check_input_vs_filters(y, f, name)
    K1, K0, h, w = f.shape
    g = V.check_connectivity(g, K1, K0)
    batched = y.ndim == 4
    Y = y if batched else y[None]
    shape = (Y.shape[0], K1, Y.shape[2] + h - 1, Y.shape[3] + w - 1)
    Z = None
    if z0 is not None:
        z0 = V.as_float_array(zname, z0, (3, 4), dt)
        Z = z0 if z0.ndim == 4 else z0[None]
        if Z.shape != shape:
            want = shape if batched else shape[1:]
            raise ValueError(f"{zname} must have shape {want} (K1, P+h-1, Q+w-1) for {name} of "
                             f"shape {y.shape} and f of shape {f.shape}, got {z0.shape}")
    return Y, f, g, Z, batched, shape


def cost(y, z, f, g=None, lam=1.0, p=1.0, mask=None):
    """The cost of eq. 2 (eq. 3 with connectivity ``g``) for one image or a batch.

    .. math:: C = \\frac{\\lambda}{2} \\sum_c \\| \\sum_k g_{kc} z_k \\oplus f_{kc} - y_c \\|^2
              + \\sum_k |z_k|^p

    Parameters
    ----------
    y : ndarray of shape (K0, P, Q) or (n, K0, P, Q)
    z : ndarray of shape (K1, P+h-1, Q+w-1) or (n, K1, P+h-1, Q+w-1)
    f : ndarray of shape (K1, K0, h, w)
    g : ndarray of bool, shape (K1, K0), optional
    lam : float > 0
    p : float in (0, 1]
    mask : ndarray like y (or without its channel axis), optional
        Per-pixel weights ``W`` in [0, 1] (0: missing); the data term becomes
        ``lam/2 ||W (F z - y)||^2`` (beyond the paper).

    Returns
    -------
    float
        Summed over the batch (eq. 3 sums over images).
    """
    lam = V.check_positive("lam", lam)
    p = V.check_p(p)
    if z is None:
        raise TypeError("z is required, got None")
    Y, f, g, Z, batched, shape = _setup(y, f, g, z, "y", "z")
    W = V.check_mask(mask, Y.shape if batched else Y.shape[1:], Y.dtype)
    op = make_operator(f, g)
    if W is not None:
        W = W if batched else W[None]
        K1, K0, h, w = f.shape
        return float(sum(S.cost(Masked(op, W[i]), W[i] * Y[i], Z[i], lam, p,
                                new_rpad(K0, Y.shape[2], Y.shape[3], h, w, Y.dtype), True)
                         for i in range(Y.shape[0])))
    out = np.empty(Y.shape[0])
    S.cost_batch(op, Y, Z, lam, p, out)
    return float(out.sum())


def infer(y, f, g=None, *, lam=1.0, p=1.0, solver="continuation", z0=None,
          n_threads=None, return_stats=False, callback=None, mask=None, **options):
    """Infer the feature maps of one layer: minimise eq. 2 (eq. 3) over ``z``.

    Parameters
    ----------
    y : ndarray of shape (K0, P, Q) or (n, K0, P, Q)
        Input image(s) (or the maps of the layer below).  A batch is solved
        image by image, in parallel over images.
    f : ndarray of shape (K1, K0, h, w)
        Filters.
    g : ndarray of bool, shape (K1, K0), optional
        Connectivity (eq. 3); all ones by default (layer 1).
    lam : float
        Weight of the data term (section 4: 1).
    p : float in (0, 1]
        Sparsity exponent (section 4: 1).
    solver : {"continuation", "fista"}
        ``"continuation"`` is the paper's scheme (eq. 4, Algorithm 1 lines
        4-9): alternate the x sub-problem (eq. 8 or the p < 1 lookup table)
        and CG on the z sub-problem (eq. 6) while beta grows from ``beta0`` by
        ``beta_inc`` up to ``beta_max``.  Options: ``beta0=1, beta_inc=6,
        beta_max=1e5, inner_iters=1, cg_iters=2``.

        ``"fista"`` (beyond the paper) is accelerated proximal gradient on
        eq. 2 itself with adaptive restart.  Options: ``max_iter=200,
        tol=1e-4, restart=True, lipschitz="backtracking"``.  It minimises the
        actual cost, where the paper's fixed schedule stops wherever its 7
        beta values leave it, well above the optimum (how far, and the time
        of each: ``reproduce/sec45_timings.py``, ``figures/sec45_timings.json``).
    z0 : ndarray like the result, optional
        Warm start (zeros by default, as the authors' toolbox).
    n_threads : int, optional
        Numba threads for this call (default: all).
    return_stats : bool
        Also return per-iteration statistics (one image only).
    callback : callable, optional
        ``callback(stats)`` after every iteration with an :class:`IterationStats`
        (its ``image`` is the index in a batch); returning True stops that
        image's solve.  Images of a batch are then solved one after another.
    mask : ndarray like y (or without its channel axis), optional
        Per-pixel weights ``W`` in [0, 1], 0 for a missing pixel (beyond the
        paper): minimise ``lam/2 ||W (F z - y)||^2 + sum |z|^p`` instead, the
        same drivers on the operator ``W F`` (:mod:`numbadn.kernels._masked`);
        images of a batch are then solved one after another.  ``F z`` fills
        the missing pixels (inpainting).
    **options
        The solver's options: :class:`ContinuationOptions` (``beta0``,
        ``beta_inc``, ``beta_max``, ``inner_iters``, ``cg_iters``) or
        :class:`FistaOptions` (``max_iter``, ``tol``, ``restart``,
        ``lipschitz``); an unknown one is an error that lists the valid ones.

    Returns
    -------
    z : ndarray of shape (K1, P+h-1, Q+w-1) or (n, K1, P+h-1, Q+w-1)
    stats : dict of ndarray, only with ``return_stats``
        ``iter, time, cost, sparsity, cg_residual`` (``cg_residual`` is NaN
        for FISTA); ``time`` is cumulative seconds excluding cost evaluation.
    """
    lam = V.check_positive("lam", lam)
    p = V.check_p(p)
    opts = parse(solver, options)
    Y, f, g, Z0, batched, shape = _setup(y, f, g, z0)
    W = V.check_mask(mask, Y.shape if batched else Y.shape[1:], Y.dtype)
    Z = _zeros(shape, Y.dtype) if Z0 is None else Z0.copy()
    op = make_operator(f, g)
    lpt = table_for(p)
    if return_stats and batched:
        raise ValueError("return_stats=True needs a single image y of shape (K0, P, Q)")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable, got {callback!r}")
    with threads(n_threads):
        L = lam * _lipschitz(opts, op, f, g, Y) if solver == "fista" else 0.0
        bt = solver == "fista" and opts.lipschitz == "backtracking"
        if W is not None:  # each image its own operator W_i F: one after another
            W = W if batched else W[None]
            for i in range(Y.shape[0]):
                opm, ym = Masked(op, W[i]), W[i] * Y[i]
                Li = lipschitz_bound(L, W[i])
                if return_stats or callback is not None:
                    stats = _solve_monitored(solver, opm, ym, Z[i], Li, lam, p, lpt, opts,
                                             callback, i)
                elif solver == "continuation":
                    ws, FTy = _workspace(opm, ym, Z[i])
                    S.continuation_solve(opm, ym, Z[i], opts.betas(), lam, p, lpt,
                                         opts.inner_iters, opts.cg_iters, True, ws, FTy, None)
                else:
                    S.fista_run(opm, ym, Z[i], Li, lam, p, lpt, opts.max_iter, opts.tol,
                                opts.restart, bt, True, _fista_workspace(opm, ym, Z[i]), None)
            _check_finite(Z, Y)
            if return_stats:
                return Z[0], stats
            return Z if batched else Z[0]
        if return_stats or callback is not None:
            for i in range(Y.shape[0]):
                stats = _solve_monitored(solver, op, Y[i], Z[i], L, lam, p, lpt, opts,
                                         callback, i)
            _check_finite(Z, Y)
            if return_stats:
                return Z[0], stats
            return Z if batched else Z[0]
        n_batch = batch_split(Y.shape[0], current_threads())
        n_chunks = min(n_batch, current_threads())
        Yb, Zb = Y[:n_batch], Z[:n_batch]
        if solver == "continuation":
            if n_batch:
                S.continuation_batch(op, Yb, Zb, opts.betas(), lam, p, lpt,
                                     opts.inner_iters, opts.cg_iters, n_chunks)
            for i in range(n_batch, Y.shape[0]):
                ws, FTy = _workspace(op, Y[i], Z[i])
                S.continuation_solve(op, Y[i], Z[i], opts.betas(), lam, p, lpt,
                                      opts.inner_iters, opts.cg_iters, True, ws, FTy, None)
        else:
            if n_batch:
                S.fista_batch(op, Yb, Zb, L, lam, p, lpt, opts.max_iter,
                              opts.tol, opts.restart, bt, n_chunks)
            for i in range(n_batch, Y.shape[0]):
                S.fista_run(op, Y[i], Z[i], L, lam, p, lpt, opts.max_iter,
                            opts.tol, opts.restart, bt, True, _fista_workspace(op, Y[i], Z[i]),
                            None)
    _check_finite(Z, Y)
    return Z if batched else Z[0]


def _check_finite(Z, Y):
    """Inference on finite input can still overflow (float32 beyond 3e38): say so
    instead of returning NaN maps."""
    if not np.isfinite(Z).all():
        raise ValueError(
            f"inference overflowed: the maps are not finite (y spans "
            f"{float(np.abs(Y).max()):.3g} in magnitude, {Y.dtype}); rescale y, e.g. with "
            "numbadn.preprocess.contrast_normalize to a range of width 2")


_LOCAL = threading.local()


def batch_split(n_images, n_threads):
    """How many of ``n_images`` to solve side by side (one image per thread,
    serial kernels); the rest go one at a time through the parallel kernels.

    Images in parallel scale best, but a batch of ``n`` keeps only ``n``
    threads busy, and ``n_threads + 1`` images take two rounds.  So whole
    rounds of ``n_threads`` images go as a batch, and a last partial round of
    at most half the threads goes image by image on all threads (both paths
    give the same maps).  ``n_threads = 1``: everything is one batch.
    """
    if n_images <= 1:
        return 0
    if n_threads <= 1:
        return n_images
    rest = n_images % n_threads
    return n_images - rest if rest <= n_threads // 2 else n_images


def _zeros(shape, dtype):
    """Zero maps whose memory is written now, not at first touch in a kernel.

    ``np.zeros`` of a large array maps untouched pages: the solver's first
    read then maps the shared zero page and its first write faults again, from
    both threads inside a parallel loop.  Writing the zeros here faults each
    page once, in one sequential pass (the warm starts of ``fit`` and every
    list of results keep their maps, so their memory is always fresh).
    """
    z = np.empty(shape, dtype)
    z.fill(0)
    return z


def _per_thread(name, key, make):
    """``make()``, kept per thread under ``name`` for the next call with the same
    ``key`` (the most recent key only)."""
    cached = getattr(_LOCAL, name, None)
    if cached is None or cached[0] != key:
        cached = (key, make())
        setattr(_LOCAL, name, cached)
    return cached[1]


def _taps(op):
    """The filters' shape of ``op`` (a :class:`Masked` one's inner operator's)."""
    return (op.op if isinstance(op, Masked) else op).taps_fwd.shape


def _workspace(op, y, z):
    """Work arrays of the continuation solver (and ``F^T y``) for this image size,
    kept per thread for the next call of the same size."""
    key = (type(op), y.shape, z.shape, _taps(op), z.dtype.str)
    return _per_thread("ws", key, lambda: (S.workspace(op, y, z), np.empty_like(z)))


def _fista_workspace(op, y, z):
    """FISTA's work arrays (:func:`numbadn.kernels._steps.fista_work`) for this
    image size, kept per thread like :func:`_workspace`: fresh arrays cost a
    page fault per page inside the first parallel passes."""
    key = (type(op), y.shape, z.shape, _taps(op), z.dtype.str)
    return _per_thread("fista", key, lambda: S.fista_work(op, y, z))


#: The last few spectral bounds, by filter bank: inference over many images
#: with the same filters computes it once (it grows with the channels: layer 3's
#: 45-channel eigenproblems cost far more than layer 1's).
_SPECTRAL_CACHE = {}
_SPECTRAL_CACHE_SIZE = 4
_SPECTRAL_LOCK = threading.Lock()


def _spectral_cached(f, g):
    key = (f.dtype.str, f.shape, f.tobytes(), np.asarray(g, bool).tobytes())
    with _SPECTRAL_LOCK:
        L = _SPECTRAL_CACHE.get(key)
    if L is None:
        L = spectral_norm2(f, g)
        with _SPECTRAL_LOCK:
            if len(_SPECTRAL_CACHE) >= _SPECTRAL_CACHE_SIZE:
                _SPECTRAL_CACHE.pop(next(iter(_SPECTRAL_CACHE)))  # oldest first
            _SPECTRAL_CACHE[key] = L
    return L


#: With ``lipschitz="backtracking"`` the search for ``L`` starts at the spectral
#: bound over this (steps up to this many times longer than ``1/||F||^2``; the local
#: curvature on sparse maps is far below the global bound).
BACKTRACK_START = 16.0
#: Power iterations behind :func:`power_bound`, and its margin over the estimate
#: (power iteration approaches ``||F||^2`` from below).
POWER_ITERS = 50
POWER_SAFETY = 1.01


def power_bound(f, g, y_shape):
    """``||F||^2`` of the operator on images of shape ``y_shape`` (K0, P, Q), by
    :data:`POWER_ITERS` steps of power iteration on ``F^T F`` from a fixed random
    start, times :data:`POWER_SAFETY`; cached per filter set and image size
    (the last few, as the spectral bound).

    Tighter than the spectral bound (:func:`~numbadn.solvers.options.spectral_norm2`):
    the finite operator's norm, not its infinite extension's, so FISTA's steps
    are longer (the measurement: ``benchmarks/fista_variants.py``).
    """
    f = np.ascontiguousarray(f)
    g = np.asarray(g, bool)
    K1, K0, h, w = f.shape
    P, Q = int(y_shape[-2]), int(y_shape[-1])
    key = ("power", f.dtype.str, f.shape, f.tobytes(), g.tobytes(), P, Q)
    with _SPECTRAL_LOCK:
        L = _SPECTRAL_CACHE.get(key)
    if L is None:
        from ..kernels._operator import power_norm2
        z = np.random.default_rng(0).standard_normal((K1, P + h - 1, Q + w - 1)).astype(f.dtype)
        L = POWER_SAFETY * float(power_norm2(make_operator(f, g), z, np.empty_like(z),
                                             new_rpad(K0, P, Q, h, w, f.dtype), POWER_ITERS,
                                             True))
        with _SPECTRAL_LOCK:
            if len(_SPECTRAL_CACHE) >= _SPECTRAL_CACHE_SIZE:
                _SPECTRAL_CACHE.pop(next(iter(_SPECTRAL_CACHE)))
            _SPECTRAL_CACHE[key] = L
    return L


def _lipschitz(opts, op, f, g, Y):
    """``||F||^2`` for FISTA's step (see :class:`FistaOptions`)."""
    if not f.any():
        # F = 0: every z explains nothing and the optimum is z = 0; any step
        # length keeps FISTA there (its gradient is zero)
        return 1.0
    if opts.lipschitz == "spectral":
        return _spectral_cached(f, g)
    if opts.lipschitz == "backtracking":  # the start of the search: longer steps than 1/L
        return _spectral_cached(f, g) / BACKTRACK_START
    return power_bound(f, g, Y.shape)


class _Monitor:
    """Per-iteration statistics of one image's solve, called back by the driver
    (:mod:`numbadn.kernels._hook`) from the loop the fast path runs.

    ``time`` counts the driver's own seconds: the clock stops while this records.
    """

    def __init__(self, op, y, z, lam, p, callback=None, image=0):
        self.op, self.y, self.z, self.lam, self.p = op, y, z, lam, p
        self.callback, self.image = callback, image
        K0, P, Q = y.shape
        h, w = _taps(op)[2:]
        self.rpad = new_rpad(K0, P, Q, h, w, z.dtype)
        self.stats = {k: [] for k in ("iter", "time", "cost", "sparsity", "cg_residual")}
        self.elapsed = 0.0
        self.clock = time.perf_counter()

    def __call__(self, it, res):
        self.elapsed += time.perf_counter() - self.clock
        stop = self._record(it, res)
        self.clock = time.perf_counter()
        return stop

    def _record(self, it, res):
        """Append one iteration; call the callback; True: it asks to stop."""
        op, y, z, lam, p = self.op, self.y, self.z, self.lam, self.p
        c = S.cost(op, y, z, lam, p, self.rpad, True)
        sparsity = 1.0 - S.count_nonzero(z) / z.size
        for k, v in zip(("iter", "time", "cost", "sparsity", "cg_residual"),
                        (it, self.elapsed, c, sparsity, res)):
            self.stats[k].append(v)
        if self.callback is None:
            return False
        # ||F z - y||^2 from the cost: 2 (C - sum |z|^p) / lam
        data = max(2.0 * (c - float(S.sum_abs_p(z, float(p)))) / lam, 0.0)
        ny = float(np.linalg.norm(y))
        return bool(self.callback(IterationStats(
            epoch=None, image=self.image, iteration=it, time=self.elapsed, cost=float(c),
            sparsity=sparsity, residual=float(np.sqrt(data)) / ny if ny > 0 else float("nan"),
            cg_residual=float(res))))

    def result(self):
        return {k: np.asarray(v, dtype=float) for k, v in self.stats.items()}


def _solve_monitored(solver, op, y, z, L, lam, p, lpt, opts, callback=None, image=0):
    """One image through the same driver as the fast path, with a :class:`_Monitor`."""
    mon = _Monitor(op, y, z, lam, p, callback, image)
    with registered(mon) as handle:
        mon.clock = time.perf_counter()
        if solver == "continuation":
            ws, FTy = _workspace(op, y, z)
            S.continuation_solve(op, y, z, opts.betas(), lam, p, lpt, opts.inner_iters,
                                 opts.cg_iters, True, ws, FTy, handle)
        else:
            S.fista_run(op, y, z, L, lam, p, lpt, opts.max_iter, opts.tol, opts.restart,
                        opts.lipschitz == "backtracking", True, _fista_workspace(op, y, z),
                        handle)
    return mon.result()


def infer_lowfreq(y, f, g=None, *, lam=1.0, p=1.0, psi=1.0, solver="continuation",
                  z0=None, zlow0=None, zlow_cg_iters=10, fista_block=10, mask=None,
                  **options):
    """Layer-1 inference with the paper's z0 low-frequency maps (section 3.3).

    Minimises ``lam/2 ||F z + F0 zlow - y||^2 + sum |z|^p + psi ||grad zlow||^2``
    jointly over the sparse maps ``z`` and the low-frequency maps ``zlow`` (the
    paper's ``z0``; named ``zlow`` here because ``z0`` is the warm start
    everywhere else).  ``F0`` convolves each ``zlow_c`` with ``ones(h, h)/h``
    (``h`` the filter size), as in the authors' toolbox.

    The two blocks alternate: ``zlow_cg_iters`` CG steps on the quadratic
    zlow problem (:func:`numbadn.solvers.z0.solve_z0`), then one beta step of
    the continuation scheme (as the toolbox does inside every beta step) or
    ``fista_block`` FISTA iterations.

    Parameters
    ----------
    y : ndarray of shape (K0, P, Q)
        One raw (not high-passed) image.
    f : ndarray of shape (K1, K0, h, w)
        The filters.
    g : ndarray of shape (K1, K0) of bool, optional
        Connectivity (eq. 3); None means all ones.
    lam, p : float
        ``lambda`` and ``p`` of eq. 2.
    psi : float
        Weight of the gradient prior (toolbox: 1).
    solver : {"continuation", "fista"}
        The solver of the sparse maps.
    z0, zlow0 : ndarray, optional
        Warm starts for ``z`` (K1, P+h-1, Q+w-1) and ``zlow``
        (K0, P+h-1, Q+h-1); zeros by default.
    zlow_cg_iters : int, default 10
        CG steps on the zlow problem per block.
    fista_block : int, default 10
        FISTA iterations per block (``solver="fista"``).
    mask : ndarray of shape (K0, P, Q) or (P, Q), optional
        Per-pixel weights ``W`` in [0, 1] (0: missing; beyond the paper): the data
        term of both blocks becomes ``lam/2 ||W (F z + F0 zlow - y)||^2``; the
        gradient prior fills the zlow maps where nothing is observed.
    **options
        The solver's options (:class:`ContinuationOptions` or :class:`FistaOptions`).

    Returns
    -------
    z : ndarray of shape (K1, P+h-1, Q+w-1)
    zlow : ndarray of shape (K0, P+h-1, Q+h-1)
    """
    from ..kernels import conv_valid
    from .z0 import low_pass, solve_z0, uniform_filter

    lam = V.check_positive("lam", lam)
    p = V.check_p(p)
    psi = V.check_positive("psi", psi, allow_zero=True)
    opts = parse(solver, options)
    Y, f, g, Z0, batched, shape = _setup(y, f, g, z0)
    if batched:
        raise ValueError("infer_lowfreq takes one image y of shape (K0, P, Q)")
    y, z = Y[0], (_zeros(shape[1:], Y.dtype) if Z0 is None else Z0[0].copy())
    W = V.check_mask(mask, y.shape, y.dtype)
    K1, K0, h, w = f.shape
    f0 = uniform_filter(K0, h, Y.dtype)
    zshape = (K0, y.shape[1] + h - 1, y.shape[2] + h - 1)
    if zlow0 is None:
        zl = _zeros(zshape, Y.dtype)
    else:
        zl = V.as_float_array("zlow0", zlow0, 3, Y.dtype).copy()
        if zl.shape != zshape:
            raise ValueError(f"zlow0 must have shape {zshape}, got {zl.shape}")
    op = make_operator(f, g)
    lpt = table_for(p)
    if W is not None:
        op = Masked(op, W)

    def update_zlow():
        solve_z0(y - conv_valid(z, f, g), f0, lam, psi, zl, zlow_cg_iters, mask=W)
        yy = y - low_pass(zl, f0)
        return np.ascontiguousarray(yy if W is None else W * yy)

    if solver == "continuation":
        # the zlow update runs between the beta steps, from the driver's own loop:
        # after the start and after each step (the last one is the final update)
        ws, FTy = _workspace(op, y, z)
        betas = opts.betas()

        def between(it, res):
            yy = update_zlow()
            if it < len(betas):  # the data term of the next step (ws.rpad is free here)
                S.adjoint_of_input(op, yy, FTy, ws.rpad, True)
            return False

        with registered(between) as monitor:
            S.continuation_solve(op, y if W is None else W * y, z, betas, lam, p, lpt, opts.inner_iters,
                                 opts.cg_iters, True, ws, FTy, monitor)
    else:
        L = lam * lipschitz_bound(_lipschitz(opts, op, f, g, Y), W)
        done = 0
        while done < opts.max_iter:
            yy = update_zlow()
            n = min(fista_block, opts.max_iter - done)
            it = S.fista_solve(op, yy, z, L, lam, p, lpt, n, opts.tol,
                               opts.restart, opts.lipschitz == "backtracking", True)
            done += n
            if it < n:
                break
        update_zlow()
    _check_finite(z, Y)
    return z, zl
