"""Kernels of the recognition pipeline (section 4.3): pooled cells and the
histogram-intersection kernel of spatial pyramid matching.

* :func:`pool_cells`: sums of ``|z|`` over ``cell x cell`` windows whose top
  left corners lie on a grid of ``stride`` pixels: the "absolute value of
  activations ... pooled" of footnote 5, computed once per map so that every
  overlapping 16x16 patch reads its cells from this grid.
* :func:`gather_descriptors`: the dense descriptors of footnote 5 read from
  the pooled grid (``n_cells x n_cells`` cells per patch and map).
* :func:`intersection_kernel`: ``K[i, j] = sum_d min(A[i, d], B[j, d])``, the
  histogram-intersection kernel of Lazebnik et al. (CVPR 2006, eq. 1).

Inputs are not validated (see :mod:`numbadn.recognition`).
"""
from __future__ import annotations

import numba
import numpy as np
from numba import prange

from .._jit import JIT, PJIT


@numba.njit(**JIT)
def pool_cells(z, cell, stride, out):
    """``out[k, a, b] = sum |z[k, a*stride : a*stride+cell, b*stride : b*stride+cell]|``.

    ``z``: (K, M, N) maps; ``out``: (K, (M - cell) // stride + 1,
    (N - cell) // stride + 1), overwritten.  Running sums along columns, then
    rows: O(K M N) whatever ``cell``.
    """
    K, M, N = z.shape
    A, B = out.shape[1], out.shape[2]
    col = np.zeros(N, np.float64)  # column sums of the current row band
    for k in range(K):
        for a in range(A):
            r0 = a * stride
            for j in range(N):
                s = 0.0
                for r in range(r0, r0 + cell):
                    s += abs(z[k, r, j])
                col[j] = s
            for b in range(B):
                c0 = b * stride
                s = 0.0
                for j in range(c0, c0 + cell):
                    s += col[j]
                out[k, a, b] = s


@numba.njit(**JIT)
def gather_descriptors(cells, n_cells, step, out):
    """Descriptors of every patch from the pooled grid.

    Patch ``(a, b)`` (grid units) reads ``cells[k, a + i*step, b + j*step]``
    for ``i, j < n_cells`` and every map ``k``, in the order (k, i, j);
    ``out``: (A * B, K * n_cells**2) with ``A = cells.shape[1] - (n_cells -
    1) * step`` (likewise ``B``), rows in raster order of the patches.
    """
    K = cells.shape[0]
    span = (n_cells - 1) * step
    A = cells.shape[1] - span
    B = cells.shape[2] - span
    for a in range(A):
        for b in range(B):
            row = a * B + b
            d = 0
            for k in range(K):
                for i in range(n_cells):
                    for j in range(n_cells):
                        out[row, d] = cells[k, a + i * step, b + j * step]
                        d += 1


@numba.njit(**PJIT)
def intersection_kernel(A, B, out):
    """``out[i, j] = sum_d min(A[i, d], B[j, d])`` (rows of A against rows of B).

    Zeros of a row of ``A`` add nothing, so each row's nonzeros are listed
    once and only they are visited (pyramid histograms are mostly zero).
    """
    n, D = A.shape
    m = B.shape[0]
    for i in prange(n):
        idx = np.empty(D, np.int64)
        nnz = 0
        for d in range(D):
            if A[i, d] != 0.0:
                idx[nnz] = d
                nnz += 1
        for j in range(m):
            s = 0.0
            for t in range(nnz):
                d = idx[t]
                a = A[i, d]
                b = B[j, d]
                s += a if a < b else b
            out[i, j] = s
