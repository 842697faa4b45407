"""The measures Figs. 4-6 print, of the Deconvolutional Network and of the
patch-based baseline alike: orientation coherence and spatial extent of a
filter, how codes change under a one-pixel shift or between adjacent windows,
the error of a sparsity/error curve at a given sparsity, how well a pattern is
one enlarged atom, and the filter montage of the figures.

Split from ``_patches.py``, which re-exports every name here (the scripts use
them as ``PB.coherence`` and so on); each is tested in
``tests/test_reproduce_patches.py``.
"""
from __future__ import annotations

import numpy as np


def coherence(e):
    """Orientation coherence of a 2-D pattern: 1 for one orientation, 0 for none.

    The energy-weighted double-angle average of the gradient,

    .. math:: \\frac{|\\sum (g_x + i g_y)^2|}{\\sum (g_x^2 + g_y^2)}

    (the structure-tensor coherence ``(l1 - l2) / (l1 + l2)`` of the whole
    pattern): a grating or a straight edge of any orientation gives 1, a
    corner, a cross or a blob much less.  Threshold-free.
    """
    e = np.asarray(e, np.float64)
    gy, gx = np.gradient(e)
    c = (gx + 1j * gy) ** 2
    den = (gx * gx + gy * gy).sum()
    return float(abs(c.sum()) / den) if den > 0 else 0.0


def spatial_extent(e):
    """Energy-weighted RMS distance of a pattern's pixels from its energy centroid."""
    e = np.asarray(e, np.float64)
    w = e * e
    if w.sum() == 0:
        return 0.0
    ii, jj = np.indices(e.shape)
    ci, cj = (w * ii).sum() / w.sum(), (w * jj).sum() / w.sum()
    return float(np.sqrt((w * ((ii - ci) ** 2 + (jj - cj) ** 2)).sum() / w.sum()))


def shift_change(z, z_shifted, margin=0):
    """``||z(shift x) - shift(z(x))|| / ||z(x)||`` for a shift of one column.

    ``z`` are the maps of ``x``, ``z_shifted`` those of ``x`` moved left by
    one pixel (``x'[:, j] = x[:, j + 1]``), both ``(K, M, N)``; a perfectly
    shift-equivariant code has ``z_shifted[..., j] = z[..., j + 1]``.  The
    ``margin`` columns and rows at each border are left out.
    """
    a = z[..., 1:]
    b = z_shifted[..., :-1]
    if margin:
        a = a[..., margin:-margin, margin:-margin]
        b = b[..., margin:-margin, margin:-margin]
    den = np.linalg.norm(a)
    return float(np.linalg.norm(b - a) / den) if den > 0 else 0.0


def window_change(c, margin=0):
    """``||c(j + 1) - c(j)|| / ||c(j)||`` over all windows: code maps ``(K, R, S)``
    of a sliding window, compared between horizontally adjacent windows."""
    a = c[..., :-1]
    b = c[..., 1:]
    if margin:
        a = a[..., margin:-margin, margin:-margin]
        b = b[..., margin:-margin, margin:-margin]
    den = np.linalg.norm(a)
    return float(np.linalg.norm(b - a) / den) if den > 0 else 0.0


def error_at_sparsity(s_ref, e_ref, s):
    """The reference curve's error at sparsity ``s`` (linear in ``log s``).

    ``(s_ref, e_ref)`` are points of a sparsity/error curve (any order);
    returns NaN where ``s`` is outside the sparsity range of the curve (no
    extrapolation) or not positive.
    """
    s_ref, e_ref = np.asarray(s_ref, float), np.asarray(e_ref, float)
    ok = s_ref > 0
    s_ref, e_ref = s_ref[ok], e_ref[ok]
    order = np.argsort(s_ref)
    ls, le = np.log(s_ref[order]), e_ref[order]
    s = np.atleast_1d(np.asarray(s, float))
    out = np.full(s.shape, np.nan)
    for i, v in enumerate(s):
        if v > 0 and len(ls) and ls[0] <= np.log(v) <= ls[-1]:
            out[i] = np.interp(np.log(v), ls, le)
    return out


def best_match(e, atoms, sizes=None):
    """How well ``e`` is one of ``atoms``, enlarged, anywhere in ``e``.

    Each atom is resized (bilinear) to every side in ``sizes`` (default: from
    the atom's side to ``e``'s, step 2) and slid over ``e`` (positions where it
    fits); the result is the largest ``|<e, a>| / (||e|| ||a||)``: 1 when
    ``e`` is a resized atom (zero elsewhere), lower for compositions of
    several atoms.
    """
    from scipy.signal import correlate
    from skimage.transform import resize
    e = np.asarray(e, np.float64)
    ne = np.linalg.norm(e)
    if ne == 0:
        return 0.0
    H = min(e.shape)
    best = 0.0
    for a in atoms:
        a = np.asarray(a, np.float64)
        for s in sizes or range(min(a.shape), H + 1, 2):
            r = a if s == a.shape[0] else resize(a, (s, s), order=1, mode="edge",
                                                  anti_aliasing=False)
            na = np.linalg.norm(r)
            if na > 0:
                best = max(best, float(np.abs(correlate(e, r, mode="valid")).max() / (ne * na)))
    return best


def montage(tiles, ncols, gap=1):
    """Tiles ``(n, h, w)`` side by side, each scaled to [-1, 1] by its largest
    magnitude, on a grid of ``ncols`` columns with ``gap`` pixels of NaN between
    (drawn as background by ``imshow``)."""
    tiles = np.asarray(tiles, np.float64)
    n, h, w = tiles.shape
    nrows = -(-n // ncols)
    out = np.full((nrows * (h + gap) - gap, ncols * (w + gap) - gap), np.nan)
    for i, t in enumerate(tiles):
        r, c = divmod(i, ncols)
        m = np.abs(t).max()
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = t / m if m else t
    return out
