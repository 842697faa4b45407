"""Orientation measures of filters and image patches (Fig. 1, 3, 7 and 8).

Shared by ``fig1_tokens.py``, ``fig3_samples.py`` and ``fig7_fig8_filters.py``,
whose docstrings say how each uses them.  :func:`angular_energy` multiplies each
pixel-space filter by a radial window (flat to half its radius, cosine taper to
zero at the edge centres + 1/2 pixel, so the square support adds no horizontal /
vertical leakage) and evaluates its Fourier transform on a polar grid (90
orientations in 2 degree steps x 32 radii in (0, 1/2] cycle/pixel, the disc
inside Nyquist).  The energy ``|F|^2 r dr`` at frequency direction
``theta + 90`` is the energy of structure (edges, bars, lines) *oriented at*
``theta``: ``e(theta)``, ``theta`` anticlockwise from horizontal as displayed.
An isotropic filter (a blob, white noise) has a flat ``e``.  From it
:func:`hv_fraction` (the share within +-15 degrees of horizontal or vertical, 1/3
for even orientations), :func:`harmonics` (dominant orientation, coherence and
the 4-fold harmonic), :func:`cardinal_bias` and the rotation null :func:`hv_null`.
"""
from __future__ import annotations

import numpy as np

#: Orientation bins of :func:`angular_energy` (2 degrees each, centred on 0, 2, ...).
N_ANGLES = 90
#: Radii of the polar Fourier grid, in (0, 1/2] cycle/pixel.
N_RADII = 32
#: Half-width of the horizontal / vertical bands, degrees (uniform share 1/3).
HV_BAND = 15.0
#: Random rotations drawn for the null distribution of ``hv`` (:func:`hv_null`).
N_NULL = 4000


def radial_window(h, w):
    """(h, w) window: 1 within half the radius ``R = min(h, w) / 2 + 1/2``, a
    cosine taper to 0 at ``R``, 0 beyond (the corners)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    rho = np.hypot(yy - (h - 1) / 2, xx - (w - 1) / 2)
    R = min(h, w) / 2 + 0.5
    t = np.clip((rho - R / 2) / (R / 2), 0.0, 1.0)
    return 0.5 * (1.0 + np.cos(np.pi * t))


def orientation_angles(n_angles=N_ANGLES):
    """Bin centres in degrees: 0, 180/n, ..., anticlockwise from horizontal."""
    return np.arange(n_angles) * (180.0 / n_angles)


def angular_energy(filters, *, n_angles=N_ANGLES, n_radii=N_RADII, window=True):
    """Energy of each filter's structure per orientation (see the module doc).

    Parameters
    ----------
    filters : array_like of shape (n, h, w) or (h, w)
        Pixel-space filters or patches (row 0 at the top, as displayed).
    n_angles, n_radii : int
        Polar grid: orientations ``180 k / n_angles`` degrees, radii at the
        midpoints of ``n_radii`` equal steps of (0, 1/2] cycle/pixel.
    window : bool
        Multiply by :func:`radial_window` first.

    Returns
    -------
    e : ndarray of shape (n, n_angles)
        ``e[i, k]``: energy ``sum_r |F_i(r n_k)|^2 r dr`` of filter ``i`` at
        frequencies normal to orientation ``theta_k`` (its lines, edges and
        bars at ``theta_k``); ``n_k = (-sin theta_k, cos theta_k)`` with x to
        the right and y up.
    """
    f = np.asarray(filters, dtype=np.float64)
    if f.ndim == 2:
        f = f[None]
    n, h, w = f.shape
    if window:
        f = f * radial_window(h, w)
    th = np.deg2rad(orientation_angles(n_angles))
    dr = 0.5 / n_radii
    r = (np.arange(n_radii) + 0.5) * dr
    u = (-np.sin(th))[:, None] * r[None, :]          # (n_angles, n_radii)
    v = np.cos(th)[:, None] * r[None, :]
    x = np.arange(w) - (w - 1) / 2                   # columns, to the right
    y = -(np.arange(h) - (h - 1) / 2)                # rows, upwards
    phase = (u.reshape(-1, 1, 1) * x[None, None, :] + v.reshape(-1, 1, 1) * y[None, :, None])
    basis = np.exp(-2j * np.pi * phase).reshape(n_angles * n_radii, h * w)
    F = f.reshape(n, h * w) @ basis.T                # (n, n_angles * n_radii)
    p = (np.abs(F) ** 2).reshape(n, n_angles, n_radii)
    return (p * (r * dr)[None, None, :]).sum(axis=2)


def unit_rows(e):
    """Each row of ``e`` divided by its sum (rows that sum to 0 left as they are)."""
    s = e.sum(axis=-1, keepdims=True)
    return e / np.where(s > 0, s, 1.0)


def hv_mask(n_angles=N_ANGLES, band=HV_BAND):
    """Bins within +-``band`` degrees of 0 or 90 (30 of 90 bins for 15 degrees)."""
    a = orientation_angles(n_angles)
    d0 = np.minimum(a, 180.0 - a)
    d90 = np.abs(a - 90.0)
    return (np.minimum(d0, d90) <= band + 1e-9)


def hv_fraction(e, *, normalise=True, band=HV_BAND):
    """Share of the pooled energy ``e`` (n, n_angles) within +-``band`` of H/V.

    ``normalise``: each row to unit sum first (each filter counts once).
    """
    e = np.atleast_2d(np.asarray(e, dtype=np.float64))
    pooled = (unit_rows(e) if normalise else e).sum(axis=0)
    return float(pooled[hv_mask(e.shape[1], band)].sum() / pooled.sum())


def harmonics(e):
    """Per row of ``e``: (dominant orientation in degrees [0, 180), coherence, c4)."""
    e = np.atleast_2d(np.asarray(e, dtype=np.float64))
    th = np.deg2rad(orientation_angles(e.shape[1]))
    tot = e.sum(axis=1)
    tot = np.where(tot > 0, tot, 1.0)
    c2 = (e * np.exp(2j * th)).sum(axis=1) / tot
    c4 = (e * np.cos(4 * th)).sum(axis=1) / tot
    dom = np.rad2deg(np.angle(c2) / 2.0) % 180.0
    dom = np.where(dom > 180.0 - 1e-9, 0.0, dom)
    return dom, np.abs(c2), c4


def cardinal_bias(e):
    """``c4`` of the pooled, per-filter normalised energy (0 for even orientations)."""
    pooled = unit_rows(np.atleast_2d(e)).sum(axis=0, keepdims=True)
    return float(harmonics(pooled)[2][0])


def hv_null(e, *, n_draws=N_NULL, seed=0, band=HV_BAND):
    """``hv_fraction`` of ``e`` with every row rotated by its own random angle.

    Returns an array of ``n_draws`` values: the spread of ``hv`` expected from
    filters of these shapes whose orientations are uniform.
    """
    u = unit_rows(np.atleast_2d(np.asarray(e, dtype=np.float64)))
    n, m = u.shape
    rng = np.random.default_rng(seed)
    shifts = rng.integers(0, m, size=(n_draws, n))
    mask = hv_mask(m, band).astype(np.float64)
    # hv of one rotated row = sum_k u[i, k] mask[(k + s) % m]: a circular correlation
    corr = np.real(np.fft.ifft(np.conj(np.fft.fft(u, axis=1)) * np.fft.fft(mask)[None], axis=1))
    vals = corr[np.arange(n)[None, :], shifts].sum(axis=1)
    return vals / n


def smooth_circular(p, sigma_bins=2.5):
    """Circular Gaussian smoothing of profiles (last axis), for display only."""
    p = np.asarray(p, dtype=np.float64)
    m = p.shape[-1]
    k = np.arange(m)
    d = np.minimum(k, m - k)
    g = np.exp(-0.5 * (d / sigma_bins) ** 2)
    g /= g.sum()
    return np.real(np.fft.ifft(np.fft.fft(p, axis=-1) * np.fft.fft(g), axis=-1))


def filter_labels(n, ncols):
    """Paper-style names of tiles 0..n-1 in a grid of ``ncols`` columns (A1, A2, ...)."""
    from numbadn.plot import row_label
    return [f"{row_label(i // ncols)}{i % ncols + 1}" for i in range(n)]


def grid_columns(n):
    """The column count numbadn.plot.filter_grid uses by default (150 -> 15)."""
    import math
    nrows = min(10, math.ceil(math.sqrt(n)))
    return math.ceil(n / nrows)


def random_patches(images, n, size, seed=0, which=None):
    """``n`` random ``size`` x ``size`` patches of a list of (M, N) / (1, M, N)
    images (of image ``which`` only, when given)."""
    rng = np.random.default_rng(seed)
    ims = [np.asarray(im, dtype=np.float64).reshape(im.shape[-2:]) for im in images]
    out = np.empty((n, size, size))
    for j in range(n):
        im = ims[rng.integers(len(ims)) if which is None else which]
        r = rng.integers(0, im.shape[0] - size + 1)
        c = rng.integers(0, im.shape[1] - size + 1)
        out[j] = im[r:r + size, c:c + size]
    return out


def per_source(desc, values):
    """Mean of ``values`` (one per crop) per source photograph, reading the
    counts ``name xN`` of a numbadn.data description (crops in that order);
    {} when the counts do not add up to ``len(values)``."""
    import re
    counts = [(m.group(1), int(m.group(2))) for m in re.finditer(r"([\w.-]+) x(\d+)", desc)]
    if sum(c for _, c in counts) != len(values):
        return {}
    out, i = {}, 0
    for name, c in counts:
        out[name] = float(np.mean(values[i:i + c]))
        i += c
    return out


def filter_hv(e):
    """Each filter's own ``hv`` (its energy normalised to 1); their mean is
    ``hv_fraction(e)``."""
    e = np.atleast_2d(np.asarray(e, dtype=np.float64))
    return unit_rows(e)[:, hv_mask(e.shape[1])].sum(axis=1)
