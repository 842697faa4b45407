"""The filter sub-problem of Algorithm 1 (eq. 9): with the maps fixed,

.. math:: \\min_f \\frac{\\lambda}{2} \\sum_i \\sum_c \\| \\sum_k g_{kc}\\, z^i_k \\oplus f_{kc} - y^i_c \\|^2

is a linear least-squares problem in ``f``; it is solved approximately by a
few CG steps on its normal equations ``sum_i Z_i^T Z_i f = sum_i Z_i^T y_i``
(``Z_i^T r`` is eq. 9's correlation of the maps with the residual), starting
from the current filters.  ``lambda`` scales both sides and cancels.

With per-pixel weights ``W_i`` (beyond the paper: missing pixels have weight 0)
the data term is ``||W_i (Z_i f - y_i)||^2`` and the normal equations become
``sum_i Z_i^T W_i^2 Z_i f = sum_i Z_i^T W_i^2 y_i``: the residual and every
``Z_i d`` are weighted by ``W_i^2`` before the correlation with the maps.
"""
from __future__ import annotations

import numpy as np

from ..kernels import corr, filter_grad_parallel, make_operator
from ._cg import cg


class _Z:
    """``Z_i`` for a list of maps: ``f -> Z_i f`` and ``r -> Z_i^T r``."""

    def __init__(self, zs, g, masks=None):
        self.zs = zs
        self.g = g
        # W_i^2, None where image i has no mask
        self.w2 = [None if m is None else m * m for m in masks] if masks is not None \
            else [None] * len(zs)
        gk, gc = np.nonzero(g)
        self.gk = gk.astype(np.int64)
        self.gc = gc.astype(np.int64)

    def residual(self, f, i, y):
        """``Z_i f - y`` of shape (K0, P, Q)."""
        op = make_operator(f, self.g)
        out = np.empty_like(y)
        corr(self.zs[i], op.taps_fwd, out, op.ptr_fwd, op.idx_fwd, 0, 0, True)
        out -= y
        return out

    def gram(self, d):
        """``sum_i Z_i^T Z_i d``."""
        out = np.zeros_like(d)
        tmp = np.zeros_like(d)
        op = make_operator(d, self.g)
        h, w = d.shape[2:]
        for z, w2 in zip(self.zs, self.w2):
            zd = np.empty((d.shape[1], z.shape[1] - h + 1, z.shape[2] - w + 1), d.dtype)
            corr(z, op.taps_fwd, zd, op.ptr_fwd, op.idx_fwd, 0, 0, True)
            if w2 is not None:
                zd *= w2
            filter_grad_parallel(z, zd, tmp, self.gk, self.gc, 0, 0)
            out += tmp
        return out

    def grad(self, f, ys, residuals=None):
        """``sum_i Z_i^T (Z_i f - y_i)`` (eq. 9 without lambda); ``residuals``
        may hold ``Z_i f - y_i`` already computed."""
        out = np.zeros_like(f)
        tmp = np.zeros_like(f)
        for i, y in enumerate(ys):
            r = self.residual(f, i, y) if residuals is None else \
                np.ascontiguousarray(residuals[i], dtype=f.dtype)
            if self.w2[i] is not None:
                r = np.ascontiguousarray(r * self.w2[i])
            filter_grad_parallel(self.zs[i], r, tmp, self.gk, self.gc, 0, 0)
            out += tmp
        return out


def update_filters(f, g, zs, ys, n_iter=2, residuals=None, masks=None):
    """A few CG steps on the filter sub-problem (eq. 9), from the current ``f``.

    Parameters
    ----------
    f : ndarray of shape (K1, K0, h, w)
        Current filters (not modified).
    g : ndarray of bool, shape (K1, K0)
    zs : list of ndarray of shape (K1, P_i+h-1, Q_i+w-1)
        Feature maps of the images, same dtype as ``f``.
    ys : list of ndarray of shape (K0, P_i, Q_i)
    n_iter : int
        CG steps (the toolbox uses 2).
    residuals : list of ndarray, optional
        ``Z_i f - y_i`` if the caller has them (saves one convolution each).
    masks : list of (ndarray of shape (K0, P_i, Q_i) or None), optional
        Per-pixel weights ``W_i`` in [0, 1] in ``f``'s dtype, checked by the
        caller (beyond the paper): eq. 9 with ``||W_i (Z_i f - y_i)||^2``.

    Returns
    -------
    ndarray of shape (K1, K0, h, w)
        Updated filters; unconnected planes stay zero.  Not normalised.
    """
    Z = _Z(zs, g, masks)
    f = f.copy()
    return cg(Z.gram, f, -Z.grad(f, ys, residuals), n_iter)


def filter_grad_sum(f, g, zs, ys):
    """``sum_i Z_i^T (Z_i f - y_i)`` over the given images: the gradient of
    eq. 9 (without ``lambda``) that :func:`update_filters` starts its CG from.

    Sums image by image, in the order given, from zeros; a caller that adds
    such sums over consecutive groups of images (:mod:`numbadn.distributed`)
    gets the same sum up to rounding, and exactly the same with one image per
    group.

    Parameters
    ----------
    f, g, zs, ys
        As in :func:`update_filters`.

    Returns
    -------
    ndarray of shape (K1, K0, h, w)
    """
    return _Z(zs, g).grad(f, ys)


def filter_gram_sum(d, g, zs):
    """``sum_i Z_i^T Z_i d`` over the given maps: one product with the matrix of
    eq. 9's normal equations (a CG step of :func:`update_filters`), summed as
    :func:`filter_grad_sum`.

    Parameters
    ----------
    d : ndarray of shape (K1, K0, h, w)
        A filter-shaped vector.
    g, zs
        As in :func:`update_filters`.

    Returns
    -------
    ndarray of shape (K1, K0, h, w)
    """
    return _Z(zs, g).gram(d)


def normalize_planes(f, g):
    """Rescale every connected plane ``f[k, c]`` to unit L2 norm, in place.

    Removes the scale ambiguity between filters and maps (the toolbox does
    the same); unconnected planes are set to zero.

    Parameters
    ----------
    f : ndarray of shape (K1, K0, h, w)
        Filters, changed in place.
    g : ndarray of bool, shape (K1, K0)
        Connectivity.

    Returns
    -------
    ndarray
        ``f``.
    """
    n = np.sqrt((f.astype(np.float64) ** 2).sum(axis=(2, 3)))
    n[n == 0] = 1.0
    f /= n[:, :, None, None].astype(f.dtype)
    f[~g] = 0
    return f
