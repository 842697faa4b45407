"""Inference on one layer: ``infer`` and ``cost`` (eqs. 2-8)."""
from __future__ import annotations

import numpy as np

from .. import _validation as V
from .._jit import threads
from .. import kernels as S
from ..kernels import make_operator, masked, new_rpad
from .options import make_prior, make_solver, masked_plan
from .stats import IterationStats

__all__ = ["infer", "cost", "infer_lowfreq", "IterationStats"]


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
    prior = make_prior(lam, p)
    if z is None:
        raise TypeError("z is required, got None")
    Y, f, g, Z, batched, shape = _setup(y, f, g, z, "y", "z")
    W = V.check_mask(mask, Y.shape if batched else Y.shape[1:], Y.dtype)
    op = make_operator(f, g)
    if W is not None:
        W = W if batched else W[None]
        K1, K0, h, w = f.shape
        return float(sum(S.cost(masked(op, W[i]), W[i] * Y[i], Z[i], prior,
                                new_rpad(K0, Y.shape[2], Y.shape[3], h, w, Y.dtype), True)
                         for i in range(Y.shape[0])))
    out = np.empty(Y.shape[0])
    S.cost_batch(op, Y, Z, prior, out)
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
    solver : {"continuation", "fista"}, Continuation or Fista
        A name or a solver object.  ``"continuation"`` / :class:`Continuation`
        is the paper's scheme (eq. 4, Algorithm 1 lines 4-9), ``"fista"`` /
        :class:`Fista` accelerated proximal gradient on eq. 2 itself (beyond the
        paper); their options and defaults are those classes'.
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
        same solvers on the operator ``W F`` and the image ``W y``
        (:class:`numbadn.kernels.Masked`); images of a batch are then solved one
        after another.  ``F z`` fills the missing pixels (inpainting).
    **options
        Options of the solver, overriding its own: :class:`Continuation`
        (``beta0``, ``beta_inc``, ``beta_max``, ``inner_iters``, ``cg_iters``) or
        :class:`Fista` (``max_iter``, ``tol``, ``restart``, ``lipschitz``); an
        unknown one is an error that lists the valid ones.

    Returns
    -------
    z : ndarray of shape (K1, P+h-1, Q+w-1) or (n, K1, P+h-1, Q+w-1)
    stats : list of IterationStats, only with ``return_stats``
        One per iteration, iteration 0 the start (``cg_residual`` is NaN for
        FISTA); ``time`` is cumulative seconds excluding their own evaluation.
    """
    prior = make_prior(lam, p)
    sol = make_solver(solver, options)
    Y, f, g, Z0, batched, shape = _setup(y, f, g, z0)
    W = V.check_mask(mask, Y.shape if batched else Y.shape[1:], Y.dtype)
    Z = _zeros(shape, Y.dtype) if Z0 is None else Z0.copy()
    op = make_operator(f, g)
    if return_stats and batched:
        raise ValueError("return_stats=True needs a single image y of shape (K0, P, Q)")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable, got {callback!r}")
    with threads(n_threads):
        plan = sol.plan(f, g, Y.shape, prior.lam)
        if W is not None:  # each image its own operator W_i F: one after another
            W = W if batched else W[None]
            for i in range(Y.shape[0]):
                opm, ym, pl = masked(op, W[i]), W[i] * Y[i], masked_plan(plan, W[i])
                if return_stats or callback is not None:
                    stats = sol.solve_monitored(opm, ym, Z[i], prior, pl, callback, i)
                else:
                    sol.solve(opm, ym, Z[i], prior, pl)
            _check_finite(Z, Y)
            if return_stats:
                return Z[0], stats
            return Z if batched else Z[0]
        if return_stats or callback is not None:
            for i in range(Y.shape[0]):
                stats = sol.solve_monitored(op, Y[i], Z[i], prior, plan, callback, i)
            _check_finite(Z, Y)
            if return_stats:
                return Z[0], stats
            return Z if batched else Z[0]
        sol.solve_batch(op, Y, Z, prior, plan)
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


def infer_lowfreq(y, f, g=None, *, lam=1.0, p=1.0, psi=1.0, solver="continuation",
                  z0=None, zlow0=None, zlow_cg_iters=10, mask=None, **options):
    """Layer-1 inference with the paper's z0 low-frequency maps (section 3.3).

    Minimises ``lam/2 ||F z + F0 zlow - y||^2 + sum |z|^p + psi ||grad zlow||^2``
    jointly over the sparse maps ``z`` and the low-frequency maps ``zlow`` (the
    paper's ``z0``; named ``zlow`` here because ``z0`` is the warm start
    everywhere else).  ``F0`` convolves each ``zlow_c`` with ``ones(h, h)/h``
    (``h`` the filter size), as in the authors' toolbox.

    The two blocks alternate: ``zlow_cg_iters`` CG steps on the quadratic
    zlow problem (:func:`numbadn.solvers.z0.solve_z0`), then the solver's own
    block (:meth:`Continuation.solve_lowfreq`: one beta step, as the toolbox
    does inside every beta step; :meth:`Fista.solve_lowfreq`: a few iterations).

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
    solver : {"continuation", "fista"}, Continuation or Fista
        The solver of the sparse maps (a name or an object).
    z0, zlow0 : ndarray, optional
        Warm starts for ``z`` (K1, P+h-1, Q+w-1) and ``zlow``
        (K0, P+h-1, Q+h-1); zeros by default.
    zlow_cg_iters : int, default 10
        CG steps on the zlow problem per block.
    mask : ndarray of shape (K0, P, Q) or (P, Q), optional
        Per-pixel weights ``W`` in [0, 1] (0: missing; beyond the paper): the data
        term of both blocks becomes ``lam/2 ||W (F z + F0 zlow - y)||^2``; the
        gradient prior fills the zlow maps where nothing is observed.
    **options
        Options of the solver, overriding its own.

    Returns
    -------
    z : ndarray of shape (K1, P+h-1, Q+w-1)
    zlow : ndarray of shape (K0, P+h-1, Q+h-1)
    """
    from ..ops import conv_valid
    from .z0 import low_pass, solve_z0, uniform_filter

    prior = make_prior(lam, p)
    psi = V.check_positive("psi", psi, allow_zero=True)
    sol = make_solver(solver, options)
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
    op = masked(make_operator(f, g), W)

    def update_zlow():
        solve_z0(y - conv_valid(z, f, g), f0, prior.lam, psi, zl, zlow_cg_iters, mask=W)
        yy = y - low_pass(zl, f0)
        return np.ascontiguousarray(yy if W is None else W * yy)

    plan = masked_plan(sol.plan(f, g, Y.shape, prior.lam), W)
    sol.solve_lowfreq(op, y if W is None else W * y, z, prior, plan, update_zlow)
    _check_finite(z, Y)
    return z, zl
