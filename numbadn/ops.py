"""The kernels' public fronts: each function checks its arguments (shapes, dtypes,
ranges: an error names the argument and what it expected), converts them to one
dtype and calls the njit kernels of :mod:`numbadn.kernels`.

Shapes (the public contract):

- input ``y``: (K0, P, Q)
- feature maps ``z``: (K1, P + h - 1, Q + w - 1)
- filters ``f``: (K1, K0, h, w)
- connectivity ``g``: (K1, K0) bool; ``None`` means all ones (eq. 3)

float32 and float64 both work; mixed inputs compute in float64.
"""
from __future__ import annotations

import numpy as np

from . import _validation as V
from .kernels import (apply_A as _apply_A, cg_solve as _cg_solve, cg_workspace, corr,
                      filter_grad_parallel, make_operator, new_rpad, shrink, table_for)

__all__ = ["conv_valid", "conv_full", "apply_A", "cg_solve", "filter_grad", "soft_shrink",
           "lp_shrink"]


def _prep(f, g, *arrays):
    """Validate ``f``, ``g`` and arrays given as (name, value, ndim) to one dtype."""
    f = V.check_filters(f)
    checked = [V.as_float_array(n, a, nd) for n, a, nd in arrays]
    dt = V.common_dtype(f, *checked)
    f = f.astype(dt, copy=False)
    checked = [a.astype(dt, copy=False) for a in checked]
    g = V.check_connectivity(g, f.shape[0], f.shape[1])
    return f, g, checked, dt


# ---------------------------------------------------------------- convolutions
def conv_valid(z, f, g=None):
    """``y_c = sum_k g[k, c] z_k (*) f_kc`` in "valid" mode (eq. 1, ``F z`` of eq. 5).

    Parameters
    ----------
    z : ndarray of shape (K1, M, N)
    f : ndarray of shape (K1, K0, h, w)
    g : ndarray of bool, shape (K1, K0), optional

    Returns
    -------
    ndarray of shape (K0, M - h + 1, N - w + 1)
        True convolution, as ``scipy.signal.convolve2d(z_k, f_kc, "valid")``.

    Notes
    -----
    Parallel over output channels and blocks of rows.
    """
    f, g, (z,), dt = _prep(f, g, ("z", z, 3))
    V.check_maps_vs_filters(z, f)
    K1, K0, h, w = f.shape
    op = make_operator(f, g)
    out = np.empty((K0, z.shape[1] - h + 1, z.shape[2] - w + 1), dt)
    corr(z, op.taps_fwd, out, op.ptr_fwd, op.idx_fwd, 0, 0, True)
    return out


def conv_full(r, f, g=None):
    """``F^T r``: ``z_k = sum_c g[k, c] r_c (*) flip(f_kc)`` in "full" mode.

    The exact adjoint of :func:`conv_valid` (footnote 3 of the paper).

    Parameters
    ----------
    r : ndarray of shape (K0, P, Q)
    f : ndarray of shape (K1, K0, h, w)
    g : ndarray of bool, shape (K1, K0), optional

    Returns
    -------
    ndarray of shape (K1, P + h - 1, Q + w - 1)
    """
    f, g, (r,), dt = _prep(f, g, ("r", r, 3))
    V.check_input_vs_filters(r, f, "r")
    K1, K0, h, w = f.shape
    P, Q = r.shape[1:]
    rpad = new_rpad(K0, P, Q, h, w, dt)
    rpad[:, h - 1:h - 1 + P, w - 1:w - 1 + Q] = r
    op = make_operator(f, g)
    out = np.empty((K1, P + h - 1, Q + w - 1), dt)
    corr(rpad, op.taps_adj, out, op.ptr_adj, op.idx_adj, 0, 0, True)
    return out


def apply_A(z, f, g=None, alpha=0.0):
    """``A z = F^T F z + alpha z`` of eqs. 6-7 (``alpha = beta / lambda``), without forming A.

    Parameters
    ----------
    z : ndarray of shape (K1, M, N)
    f : ndarray of shape (K1, K0, h, w)
    g : ndarray of bool, shape (K1, K0), optional
    alpha : float, >= 0

    Returns
    -------
    ndarray of shape (K1, M, N)
    """
    f, g, (z,), dt = _prep(f, g, ("z", z, 3))
    V.check_maps_vs_filters(z, f)
    alpha = V.check_positive("alpha", alpha, allow_zero=True)
    K1, K0, h, w = f.shape
    P, Q = z.shape[1] - h + 1, z.shape[2] - w + 1
    op = make_operator(f, g)
    out = np.empty_like(z)
    _apply_A(op, z, out, new_rpad(K0, P, Q, h, w, dt), alpha, True)
    return out


def cg_solve(b, f, g=None, alpha=0.0, z0=None, n_iter=100, tol=1e-6):
    """Solve ``(F^T F + alpha I) z = b`` (eq. 6) by conjugate gradient.

    Parameters
    ----------
    b : ndarray of shape (K1, M, N)
        Right-hand side, e.g. ``F^T y + (beta/lambda) x``.
    f, g : filters and connectivity.
    alpha : float
        ``beta / lambda``; with ``alpha = 0`` the system may be singular and CG
        returns a least-squares iterate.
    z0 : ndarray of shape (K1, M, N), optional
        Warm start (zeros by default).
    n_iter : int
        Maximum number of CG steps (each one ``A z`` product).
    tol : float
        Stop once ``||b - A z|| <= tol ||b||``.

    Returns
    -------
    z : ndarray of shape (K1, M, N)
    rel_res : float
        Final relative residual ``||b - A z|| / ||b||``.
    """
    f, g, (b,), dt = _prep(f, g, ("b", b, 3))
    V.check_maps_vs_filters(b, f, "b")
    alpha = V.check_positive("alpha", alpha, allow_zero=True)
    n_iter = V.check_int("n_iter", n_iter)
    tol = V.check_positive("tol", tol, allow_zero=True)
    if z0 is None:
        z = np.zeros_like(b)
    else:
        z = V.as_float_array("z0", z0, 3, dt).copy()
        if z.shape != b.shape:
            raise ValueError(f"z0 must have the shape of b {b.shape}, got {z.shape}")
    K1, K0, h, w = f.shape
    P, Q = b.shape[1] - h + 1, b.shape[2] - w + 1
    op = make_operator(f, g)
    rpad = new_rpad(K0, P, Q, h, w, dt)
    res = _cg_solve(op, z, b, alpha, n_iter, tol, cg_workspace(rpad, b), True)
    return z, float(res)


def filter_grad(z, r, g=None, h=None, w=None):
    """Gradient of ``1/2 sum_c ||sum_k g[k,c] z_k (*) f_kc - y_c||^2`` w.r.t. ``f``.

    Eq. 9 for one image (without the factor ``lambda``): the correlation of
    each feature map with the residual, ``Z_k^T r_c``.

    Parameters
    ----------
    z : ndarray of shape (K1, P + h - 1, Q + w - 1)
    r : ndarray of shape (K0, P, Q)
        The residual ``F z - y``.
    g : ndarray of bool, shape (K1, K0), optional
        Entries with ``g[k, c] = False`` get a zero gradient.
    h, w : int, optional
        Filter size; by default inferred from the shapes of ``z`` and ``r``.

    Returns
    -------
    ndarray of shape (K1, K0, h, w)
    """
    z = V.as_float_array("z", z, 3)
    r = V.as_float_array("r", r, 3)
    dt = V.common_dtype(z, r)
    z, r = z.astype(dt, copy=False), r.astype(dt, copy=False)
    K1, K0 = z.shape[0], r.shape[0]
    hh, ww = z.shape[1] - r.shape[1] + 1, z.shape[2] - r.shape[2] + 1
    if hh < 1 or ww < 1:
        raise ValueError(f"z {z.shape} must be larger than r {r.shape} in both spatial dimensions")
    if (h is not None and h != hh) or (w is not None and w != ww):
        raise ValueError(f"z {z.shape} and r {r.shape} imply {hh}x{ww} filters, not {h}x{w}")
    g = V.check_connectivity(g, K1, K0)
    gk, gc = np.nonzero(g)
    grad = np.zeros((K1, K0, hh, ww), dt)
    filter_grad_parallel(z, r, grad, gk.astype(np.int64), gc.astype(np.int64), 0, 0)
    return grad


# ---------------------------------------------------------------- shrinkage
def soft_shrink(v, beta):
    """Eq. 8: ``x = max(|v| - 1/beta, 0) sign(v)``, the minimiser of
    ``beta/2 (x - v)^2 + |x|`` elementwise.

    Parameters
    ----------
    v : ndarray of any shape, float32 or float64
    beta : float > 0

    Returns
    -------
    ndarray like ``v``
        A new array.
    """
    return lp_shrink(v, beta, 1.0)


def lp_shrink(v, beta, p):
    """Elementwise minimiser of ``beta/2 (x - v)^2 + |x|^p`` (x sub-problem of eq. 4).

    ``p = 1`` is eq. 8 (soft thresholding); ``0 < p < 1`` uses the lookup
    table of Krishnan & Fergus (NIPS 2009), interpolated, built once per ``p``.

    Parameters
    ----------
    v : ndarray of any shape, float32 or float64
    beta : float > 0
    p : float in (0, 1]

    Returns
    -------
    ndarray like ``v``
    """
    v = np.asarray(v)
    shape = v.shape
    v = V.as_float_array("v", v.reshape(-1) if v.ndim == 0 else v, max(v.ndim, 1))
    beta = V.check_positive("beta", beta)
    p = V.check_p(p)
    lpt = table_for(p)
    x = np.empty_like(v)
    shrink(v, beta, p, lpt, x)
    return x.reshape(shape)
