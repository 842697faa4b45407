"""Slow, obviously right references for the kernels in :mod:`numbadn.kernels`.

Nothing here imports numbadn: every reference is plain loops over
``scipy.signal.convolve2d``, dense matrices built column by column from those
loops (tiny sizes only), ``numpy.linalg`` and ``scipy.optimize``.

Shapes follow the package: ``y`` (K0, P, Q), ``z`` (K1, P+h-1, Q+w-1),
``f`` (K1, K0, h, w), ``g`` (K1, K0) bool or None (all ones).
"""
from __future__ import annotations

import math

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.signal import convolve2d


def _g(g, K1, K0):
    return np.ones((K1, K0), bool) if g is None else np.asarray(g, bool)


# ---------------------------------------------------------------- convolutions
def conv_valid(z, f, g=None):
    """Eq. 1: ``y_c = sum_k g[k, c] convolve2d(z_k, f_kc, "valid")``, in float64."""
    z = np.asarray(z, np.float64)
    f = np.asarray(f, np.float64)
    K1, K0, h, w = f.shape
    g = _g(g, K1, K0)
    out = np.zeros((K0, z.shape[1] - h + 1, z.shape[2] - w + 1))
    for c in range(K0):
        for k in range(K1):
            if g[k, c]:
                out[c] += convolve2d(z[k], f[k, c], mode="valid")
    return out


def conv_full(r, f, g=None):
    """Footnote 3: ``z_k = sum_c g[k, c] convolve2d(r_c, flip(f_kc), "full")``."""
    r = np.asarray(r, np.float64)
    f = np.asarray(f, np.float64)
    K1, K0, h, w = f.shape
    g = _g(g, K1, K0)
    out = np.zeros((K1, r.shape[1] + h - 1, r.shape[2] + w - 1))
    for k in range(K1):
        for c in range(K0):
            if g[k, c]:
                out[k] += convolve2d(r[c], f[k, c, ::-1, ::-1], mode="full")
    return out


def conv_valid_abs(z, f, g=None):
    """:func:`conv_valid` of ``|z|`` and ``|f|``: the magnitude scale of each
    output element, for float32 tolerances."""
    return conv_valid(np.abs(np.asarray(z, np.float64)), np.abs(np.asarray(f, np.float64)), g)


def conv_full_abs(r, f, g=None):
    """:func:`conv_full` of ``|r|`` and ``|f|``."""
    return conv_full(np.abs(np.asarray(r, np.float64)), np.abs(np.asarray(f, np.float64)), g)


# ---------------------------------------------------------------- dense matrices
def dense_F(f, g, M, N):
    """The matrix of ``z -> conv_valid(z, f, g)`` on maps of size (M, N).

    Built by applying :func:`conv_valid` to every unit vector; shape
    (K0*P*Q, K1*M*N) acting on C-order ravelled arrays.
    """
    K1, K0, h, w = np.shape(f)
    n = K1 * M * N
    cols = []
    for j in range(n):
        e = np.zeros(n)
        e[j] = 1.0
        cols.append(conv_valid(e.reshape(K1, M, N), f, g).ravel())
    return np.stack(cols, axis=1)


def dense_A(f, g, M, N, alpha):
    """``A = F^T F + alpha I`` of eqs. 6-7, dense."""
    F = dense_F(f, g, M, N)
    return F.T @ F + alpha * np.eye(F.shape[1])


def dense_Z(z, g, h, w, K0):
    """The matrix of ``f -> conv_valid(z, f, g)`` for (K1, K0, h, w) filters
    (the ``Z`` of eq. 9), built from unit filters; shape (K0*P*Q, K1*K0*h*w)."""
    K1 = np.shape(z)[0]
    n = K1 * K0 * h * w
    cols = []
    for j in range(n):
        e = np.zeros(n)
        e[j] = 1.0
        cols.append(conv_valid(z, e.reshape(K1, K0, h, w), g).ravel())
    return np.stack(cols, axis=1)


def filter_grad(z, r, g=None):
    """Gradient of ``1/2 ||F z - y||^2`` w.r.t. ``f`` given ``r = F z - y``:
    ``Z^T r`` with the dense ``Z`` of :func:`dense_Z`."""
    z = np.asarray(z, np.float64)
    r = np.asarray(r, np.float64)
    K1, K0 = z.shape[0], r.shape[0]
    h, w = z.shape[1] - r.shape[1] + 1, z.shape[2] - r.shape[2] + 1
    Z = dense_Z(z, _g(g, K1, K0), h, w, K0)
    return (Z.T @ r.ravel()).reshape(K1, K0, h, w)


def filter_grad_fd(z, y, f, g=None, eps=1e-6):
    """Central finite differences of ``1/2 ||conv_valid(z, f, g) - y||^2`` in ``f``."""
    f = np.asarray(f, np.float64)

    def cost(ff):
        return 0.5 * np.sum((conv_valid(z, ff, g) - y) ** 2)

    grad = np.zeros_like(f)
    for idx in np.ndindex(*f.shape):
        fp = f.copy()
        fm = f.copy()
        fp[idx] += eps
        fm[idx] -= eps
        grad[idx] = (cost(fp) - cost(fm)) / (2 * eps)
    return grad


def solve(b, f, g, alpha):
    """``z = A^{-1} b`` (eq. 6) by ``numpy.linalg.solve`` on the dense ``A``."""
    b = np.asarray(b, np.float64)
    K1, M, N = b.shape
    A = dense_A(f, g, M, N, alpha)
    return np.linalg.solve(A, b.ravel()).reshape(b.shape)


# ---------------------------------------------------------------- shrinkage
def soft_shrink(v, beta):
    """Eq. 8: ``max(|v| - 1/beta, 0) sign(v)`` in float64."""
    v = np.asarray(v, np.float64)
    return np.maximum(np.abs(v) - 1.0 / beta, 0.0) * np.sign(v)


def lp_cost(x, v, beta, p):
    """``beta/2 (x - v)^2 + |x|^p`` elementwise, in float64."""
    x = np.asarray(x, np.float64)
    v = np.asarray(v, np.float64)
    return 0.5 * beta * (x - v) ** 2 + np.abs(x) ** p


def lp_min_1d(v, beta, p, n_grid=2001):
    """Exact minimiser of ``beta/2 (x - v)^2 + |x|^p`` for one scalar ``v``.

    The minimiser lies in ``[0, |v|]`` with the sign of ``v`` (moving ``x``
    towards 0 lowers both terms outside that interval), so: evaluate a fine
    grid on ``[0, |v|]``, refine every local minimum of the grid with a
    bounded ``minimize_scalar`` (in ``x`` and in ``|v| - x``) and keep the best
    of those, the grid points and the candidates ``x = 0`` and ``x = |v|``.  Robust for the nonconvex
    ``p < 1`` (two local minima at most).  Returns ``(x, cost)``.
    """
    v = float(v)
    a = abs(v)
    if a == 0.0:
        return 0.0, 0.0

    def cost(x):
        return 0.5 * beta * (x - a) ** 2 + x ** p

    def cost_d(d):          # the same cost in d = |v| - x, precise when x is close to |v|
        return 0.5 * beta * d ** 2 + (a - d) ** p

    xs = np.linspace(0.0, a, n_grid)
    cs = cost(xs)
    # every local minimum of the grid gets a bounded refine (at most two for p < 1),
    # once in x and once in d, since minimize_scalar resolves its variable only
    # to about sqrt(eps) relative
    left = np.r_[np.inf, cs[:-1]]
    right = np.r_[cs[1:], np.inf]
    cands = [(0.0, cost(0.0)), (a, cost(a))]
    opts = {"xatol": 1e-14 * a, "maxiter": 500}
    for i in np.flatnonzero((cs <= left) & (cs <= right)):
        cands.append((xs[i], cs[i]))
        lo, hi = xs[max(i - 1, 0)], xs[min(i + 1, n_grid - 1)]
        res = minimize_scalar(cost, bounds=(lo, hi), method="bounded", options=opts)
        cands.append((float(res.x), float(res.fun)))
        res = minimize_scalar(cost_d, bounds=(a - hi, a - lo), method="bounded", options=opts)
        cands.append((a - float(res.x), float(res.fun)))
    best_x, best_c = min(cands, key=lambda t: t[1])
    best_x, best_c = float(best_x), float(best_c)
    return float(np.copysign(best_x, v)), best_c


def lp_min(v, beta, p):
    """:func:`lp_min_1d` over an array: ``(x, cost)`` arrays like ``v``."""
    v = np.asarray(v, np.float64)
    x = np.empty_like(v)
    c = np.empty_like(v)
    for idx in np.ndindex(*v.shape):
        x[idx], c[idx] = lp_min_1d(v[idx], beta, p)
    return x, c


def lp_threshold(beta, p):
    """Closed-form threshold of the ``|x|^p`` shrinkage, ``0 < p < 1``.

    At the threshold the nonzero stationary point ``x`` (``beta (x - v) +
    p x^(p-1) = 0``) has the same cost as ``x = 0`` (``beta/2 v^2``);
    eliminating ``v`` gives ``x^(2-p) = 2 (1 - p) / beta``, hence
    ``v_t = x + p x^(p-1) / beta``.  For ``p = 1/2`` this is
    ``x = beta^(-2/3)``, ``v_t = (3/2) beta^(-2/3)``.
    """
    x = (2.0 * (1.0 - p) / beta) ** (1.0 / (2.0 - p))
    return x + p * x ** (p - 1.0) / beta


# ------------------------------------------------- eq. 9, z0, top-down chains
def cg_dense(A, b, x, n_iter):
    """``n_iter`` textbook CG steps on ``A x = b`` (dense ``A``) from ``x``."""
    x = np.array(x, np.float64)
    r = b - A @ x
    p = r.copy()
    rr = r @ r
    for _ in range(n_iter):
        if rr == 0.0:
            break
        Ap = A @ p
        a = rr / (p @ Ap)
        x += a * p
        r -= a * Ap
        rr_new = r @ r
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x


def filter_normal_equations(zs, ys, g, h, w):
    """Eq. 9's normal equations ``(sum Z_i^T Z_i) f = sum Z_i^T y_i``, dense,
    restricted to the connected planes: ``(G, b, cols)`` with ``cols`` the
    indices of the unknowns of ``f.ravel()`` that ``g`` connects."""
    K1 = np.shape(zs[0])[0]
    K0 = np.shape(ys[0])[0]
    n = K1 * K0 * h * w
    G = np.zeros((n, n))
    b = np.zeros(n)
    for z, y in zip(zs, ys):
        Z = dense_Z(z, g, h, w, K0)
        G += Z.T @ Z
        b += Z.T @ np.asarray(y, np.float64).ravel()
    mask = np.repeat(np.asarray(g, bool).ravel(), h * w)
    cols = np.flatnonzero(mask)
    return G[np.ix_(cols, cols)], b[cols], cols


def dense_grad(K, M, N):
    """The matrix ``D`` of forward differences along rows and columns of K maps
    of size (M, N) (free boundaries): ``||D v||^2`` is the z0 prior's energy."""
    rows = []
    n = K * M * N
    idx = np.arange(n).reshape(K, M, N)
    for a, b in ((idx[:, :, 1:], idx[:, :, :-1]), (idx[:, 1:, :], idx[:, :-1, :])):
        for i, j in zip(a.ravel(), b.ravel()):
            r = np.zeros(n)
            r[i], r[j] = 1.0, -1.0
            rows.append(r)
    return np.stack(rows)


# --------------------------------------------------------------- recognition (Table 1)
def toolbox_normalize(D):
    """The toolbox's descriptor normalisation, row by row, as its files read:
    rescale_row_0_1.m (minus the row's min, divided by the new max), then Lazebnik's
    sp_normalize_sift (rows of norm > 1 only: L2, clip at 0.2, L2).  Constant rows,
    which the toolbox turns into NaN, become zeros."""
    out = []
    for row in np.asarray(D, np.float64):
        row = row - row.min()
        if row.max() == 0:
            out.append(np.zeros_like(row))
            continue
        row = row / row.max()
        n = math.sqrt(sum(v * v for v in row))
        if n > 1:
            row = np.minimum(row / n, 0.2)
            row = row / math.sqrt(sum(v * v for v in row))
        out.append(row)
    return np.array(out)


def dn_descriptors(absz, stride, layer, geometry="toolbox"):
    """Footnote 5's descriptors of one image's |maps| (K, P, Q), patch by patch, as
    the toolbox's dessimate_spread.m -> pooling by 4 -> make_descriptors.m do it.

    Each 16x16 patch (top-left corners every ``stride`` pixels, raster order) is
    pooled into its 4x4 cells of 4x4 pixels (sums).  Layer 1: one descriptor of the
    4x4 cells (gridSize [4 4]).  Layer 2, geometry "toolbox": four descriptors of 2x2
    cells (gridSize [2 2]), the patch's corners in raster order; "patch": one of 2x2
    cells of 8x8 pixels.  Values in (map, cell row, cell column) order.  Returns
    (descriptors, centres)."""
    K, P, Q = absz.shape
    rows, centres = [], []
    for r in range(0, P - 16 + 1, stride):
        for c in range(0, Q - 16 + 1, stride):
            patch = absz[:, r:r + 16, c:c + 16]
            cells = np.array([[[patch[k, 4 * i:4 * i + 4, 4 * j:4 * j + 4].sum()
                                for j in range(4)] for i in range(4)] for k in range(K)])
            if layer == 1:
                rows.append(cells.ravel())
                centres.append((r + 7.5, c + 7.5))
            elif geometry == "patch":
                big = np.array([[[patch[k, 8 * i:8 * i + 8, 8 * j:8 * j + 8].sum()
                                  for j in range(2)] for i in range(2)] for k in range(K)])
                rows.append(big.ravel())
                centres.append((r + 7.5, c + 7.5))
            else:
                for u in range(2):
                    for v in range(2):
                        rows.append(cells[:, 2 * u:2 * u + 2, 2 * v:2 * v + 2].ravel())
                        centres.append((r + 8 * u + 3.5, c + 8 * v + 3.5))
    return np.array(rows), np.array(centres)
