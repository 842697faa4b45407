"""Figures in the style of the paper: filter grids, feature maps, reconstructions.

Every function builds a :class:`matplotlib.figure.Figure` directly (not through
``pyplot``), so no GUI backend is touched, nothing accumulates in pyplot's
figure registry in long runs, and the module works headless under Agg. Each
returns the figure and, given ``path``, also saves it as a PNG at
:data:`DPI` dots per inch (the PNG is ``figsize * DPI`` pixels). Nothing here
calls ``plt.show()``.

Images follow the package's channels-first convention: ``(M, N)`` for grey or
``(C, M, N)`` with ``C = 1`` (grey) or ``C = 3`` (RGB).
"""
from __future__ import annotations

import math
import os
import textwrap
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from ._figures import DPI, FORMATS, image_format, row_label, save, snr_db  # noqa: F401
from ._figures import as_float as _as_float
from ._figures import as_image_stack as _as_image_stack
from ._figures import finish as _finish
from ._figures import grid_shape as _grid_shape
from ._figures import image_for_display as _image_for_display
from ._figures import mosaic as _mosaic
from ._figures import new_figure as _new_figure
from ._figures import check_overwrite as _check_overwrite
from ._figures import normalise as _normalise
from ._figures import text as _text

__all__ = [
    "filter_grid",
    "feature_maps",
    "reconstructions",
    "denoising",
    "samples",
    "solver_stats",
    "snr_db",
    "row_label",
    "DPI",
]

#: Keys a solver statistics dict may hold (see :func:`solver_stats`).
STAT_KEYS = ("iter", "time", "cost", "sparsity", "cg_residual")

_STAT_LABELS = {
    "iter": "iteration",
    "time": "time (s)",
    "cost": "cost",
    "sparsity": "sparsity",
    "cg_residual": "CG relative residual",
}


# ---------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------
def filter_grid(filters, *, labels=True, title=None, path=None, ncols=None) -> Figure:
    """Pixel-space filters in a lettered grid, as in Fig. 7 and 8.

    Each filter is normalised to its own range and drawn in grey, with small
    white gaps between tiles. Rows are labelled A, B, ... down the left and
    columns 1, 2, ... along the top, so a filter is named as in the paper's
    text ("blobs (D8, E7, H9)"): 150 filters fill rows A-J and columns 1-15.

    Parameters
    ----------
    filters : array_like of shape (n, h, w) or (n, 1, h, w)
        Filters in pixel space (higher-layer filters must first be projected
        down through the layers below). ``(n, 3, h, w)`` is drawn in colour.
    labels : bool, default True
        Draw the row letters and column numbers as tick labels.
    title : str, optional
        Figure title.
    path : str or path-like, optional
        Save the figure here, in the format its ending names (PNG by default).
    ncols : int, optional
        Columns of the grid. By default ``min(10, ceil(sqrt(n)))`` rows are
        used (150 -> 10 x 15, 45 -> 7 x 7, 9 -> 3 x 3).

    Returns
    -------
    fig : matplotlib.figure.Figure
        One axes; tile ``i`` is in row ``i // ncols``, column ``i % ncols``.
    """
    arr = _as_float(filters, "filters")
    if arr.ndim == 4:
        if arr.shape[1] not in (1, 3):
            raise ValueError(
                f"filters has shape {arr.shape}, i.e. {arr.shape[1]} input channels: "
                "expected pixel-space filters of shape (n, h, w) or (n, 1, h, w) "
                "(or (n, 3, h, w) for colour); project higher-layer filters into "
                "pixel space first")
        tiles = [_normalise(np.moveaxis(f, 0, -1)) if f.shape[0] == 3 else _normalise(f[0])
                 for f in arr]
    elif arr.ndim == 3:
        tiles = [_normalise(f) for f in arr]
    else:
        raise ValueError(f"filters has shape {arr.shape}: expected (n, h, w) or (n, 1, h, w)")
    n = len(tiles)
    if n == 0:
        raise ValueError("filters is empty: expected at least one filter")
    h, w = arr.shape[-2:]
    nrows, ncols = _grid_shape(n, ncols)
    gap = max(1, round(min(h, w) / 7))
    mosaic = _mosaic(tiles, nrows, ncols, gap)

    # inches per mosaic pixel: about 0.45 in per tile, larger for small grids
    scale = max(0.45, 3.0 / ncols) / (w + gap)
    left = 0.45 if labels else 0.1
    right = 0.1
    top = (0.3 if labels else 0.1) + (0.3 if title else 0.0)
    bottom = 0.1
    width = mosaic.shape[1] * scale + left + right
    height = mosaic.shape[0] * scale + top + bottom
    fig = _new_figure(width, height)
    ax = fig.add_axes((left / width, bottom / height,
                       1 - (left + right) / width, 1 - (top + bottom) / height))
    ax.imshow(mosaic, interpolation="nearest", aspect="auto")
    for spine in ax.spines.values():
        spine.set_visible(False)
    if labels:
        ax.xaxis.tick_top()
        ax.set_xticks([c * (w + gap) + (w - 1) / 2 for c in range(ncols)],
                      [str(c + 1) for c in range(ncols)])
        ax.set_yticks([r * (h + gap) + (h - 1) / 2 for r in range(nrows)],
                      [row_label(r) for r in range(nrows)])
        ax.tick_params(length=0, labelsize=8, pad=2)
    else:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(textwrap.fill(_text(title), max(20, int(width * 11))), y=1 - 0.08 / height,
                     va="top", fontsize=10)
    return _finish(fig, path)


def feature_maps(image, z, *, n=None, path=None, title=None) -> Figure:
    """An image beside its first ``n`` feature maps (Fig. 5(b) style).

    The maps share one symmetric diverging colour scale (red positive, blue
    negative, white zero) so their magnitudes and sparsity can be compared;
    the image is shown in grey (or colour) scaled to its own range.

    Parameters
    ----------
    image : array_like of shape (M, N) or (C, M, N), C = 1 or 3
        The input image.
    z : array_like of shape (K, M', N')
        Its feature maps (``M' = M + h - 1`` for layer 1, eq. 1).
    n : int, optional
        Number of maps to show, the first ``n``; default all ``K``.
    path : str or path-like, optional
        Save the figure here, in the format its ending names (PNG by default).
    title : str, optional
        Figure title.

    Returns
    -------
    fig : matplotlib.figure.Figure
        Axes 0 is the image, axes 1..n the maps z_1..z_n, then a colorbar.
    """
    img = _image_for_display(_as_float(image, "image"), "image")
    z = _as_float(z, "z")
    if z.ndim != 3:
        raise ValueError(f"z has shape {z.shape}: expected feature maps of shape (K, M', N')")
    K = z.shape[0]
    if K == 0:
        raise ValueError("z has no feature maps: expected K >= 1")
    if n is None:
        n = K
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) \
            or not 1 <= n <= K:
        raise ValueError(f"n must be an integer between 1 and K = {K}, got {n!r}")
    n = int(n)
    panels = n + 1
    ncols = math.ceil(math.sqrt(panels))
    nrows = math.ceil(panels / ncols)
    panel_in = min(2.5, max(1.0, 10.0 / ncols))
    extra_top = 0.4 if title else 0.0
    fig = _new_figure(ncols * panel_in + 0.8, nrows * panel_in + extra_top + 0.2)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    fig.subplots_adjust(left=0.02, right=1 - 0.7 / fig.get_figwidth(), bottom=0.02,
                        top=1 - (extra_top + 0.25) / fig.get_figheight(),
                        wspace=0.08, hspace=0.25)
    for ax in axes:
        ax.set_axis_off()
    if img.ndim == 2:
        axes[0].imshow(img, cmap="gray", interpolation="nearest")
    else:
        axes[0].imshow(_normalise(img), interpolation="nearest")
    axes[0].set_title("image", fontsize=8)
    vmax = float(np.abs(z[:n]).max()) or 1.0
    im = None
    for k in range(n):
        ax = axes[k + 1]
        im = ax.imshow(z[k], cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
        ax.set_title(f"z{k + 1}", fontsize=8)
    cax = fig.add_axes((1 - 0.55 / fig.get_figwidth(), 0.1, 0.15 / fig.get_figwidth(), 0.8))
    fig.colorbar(im, cax=cax)
    cax.tick_params(labelsize=7)
    if title:
        fig.suptitle(_text(title), fontsize=10)
    return _finish(fig, path)


def reconstructions(originals, recons, *, titles=None, path=None) -> Figure:
    """Rows of original / reconstruction / difference, SNR in the titles.

    The original and its reconstruction share the original's grey (or
    colour) range, so a loss of contrast is visible; the difference
    ``original - reconstruction`` uses a symmetric diverging scale (for
    colour images, averaged over the channels). The SNR is :func:`snr_db`.

    Parameters
    ----------
    originals : array_like of shape (n, M, N) or (n, C, M, N), or list of images
        Reference images, channels first (C = 1 or 3); a single (M, N) image
        is also accepted.
    recons : array_like
        Reconstructions, same shapes as ``originals``.
    titles : sequence of str, optional
        One title per row, used for the original's panel.
    path : str or path-like, optional
        Save the figure here, in the format its ending names (PNG by default).

    Returns
    -------
    fig : matplotlib.figure.Figure
        ``3 * n`` axes, row by row.
    """
    if isinstance(originals, np.ndarray) and originals.ndim == 2:
        originals = [originals]
    if isinstance(recons, np.ndarray) and recons.ndim == 2:
        recons = [recons]
    orig = _as_image_stack(originals, "originals")
    rec = _as_image_stack(recons, "recons")
    n = len(orig)
    if len(rec) != n:
        raise ValueError(f"recons has {len(rec)} images but originals has {n}: "
                         "expected one reconstruction per original")
    for i, (a, b) in enumerate(zip(orig, rec)):
        if a.shape != b.shape:
            raise ValueError(f"recons[{i}] has display shape {b.shape} but originals[{i}] "
                             f"has {a.shape}: expected the same shape")
    if titles is not None:
        titles = list(titles)
        if len(titles) != n:
            raise ValueError(f"titles has {len(titles)} entries: expected {n}, one per image")

    aspect = orig[0].shape[0] / orig[0].shape[1]
    panel_in = 2.2
    fig = _new_figure(3 * panel_in + 0.2, n * (panel_in * aspect + 0.45) + 0.1)
    axes = fig.subplots(n, 3, squeeze=False)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02,
                        top=1 - 0.4 / fig.get_figheight(), wspace=0.05,
                        hspace=0.45 / (panel_in * aspect))
    for i in range(n):
        a, b = orig[i], rec[i]
        lo, hi = float(a.min()), float(a.max())
        if hi <= lo:
            lo, hi = lo - 0.5, hi + 0.5
        diff = a - b
        if diff.ndim == 3:
            diff = diff.mean(axis=2)
        dmax = float(np.abs(diff).max()) or 1.0
        ax_o, ax_r, ax_d = axes[i]
        if a.ndim == 2:
            ax_o.imshow(a, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
            ax_r.imshow(b, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
        else:
            ax_o.imshow(np.clip((a - lo) / (hi - lo), 0, 1), interpolation="nearest")
            ax_r.imshow(np.clip((b - lo) / (hi - lo), 0, 1), interpolation="nearest")
        ax_d.imshow(diff, cmap="RdBu_r", vmin=-dmax, vmax=dmax, interpolation="nearest")
        ax_o.set_title(_text(titles[i]) if titles is not None else "original", fontsize=9)
        ax_r.set_title(f"reconstruction, SNR {snr_db(a, b):.2f} dB", fontsize=9)
        ax_d.set_title(f"difference (max |.| {dmax:.3g})", fontsize=9)
        for ax in (ax_o, ax_r, ax_d):
            ax.set_axis_off()
    return _finish(fig, path)


def denoising(clean, panels, *, path=None, title=None) -> Figure:
    """One row: the clean image, then each estimate titled with its SNR (section 4.4).

    Parameters
    ----------
    clean : array_like of shape (M, N) or (1, M, N)
        The clean image; every panel shares its grey range.
    panels : mapping of str to array_like
        Label -> estimate of the same shape, e.g. ``{"noisy": ..., "layer 1": ...}``;
        each panel is titled ``label`` and its :func:`snr_db` against ``clean``.
    path : str or path-like, optional
        Save the figure here, in the format its ending names (PNG by default).
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    c = _as_float(clean, "clean")
    c = c[0] if c.ndim == 3 else c
    if c.ndim != 2:
        raise ValueError(f"clean must be one grey image (M, N) or (1, M, N), got shape {c.shape}")
    est = {}
    for label, v in panels.items():
        a = _as_float(v, f"panels[{label!r}]")
        a = a[0] if a.ndim == 3 else a
        if a.shape != c.shape:
            raise ValueError(f"panels[{label!r}] has shape {a.shape} but clean has {c.shape}")
        est[str(label)] = a
    lo, hi = float(c.min()), float(c.max())
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    n = 1 + len(est)
    aspect = c.shape[0] / c.shape[1]
    fig = _new_figure(2.2 * n + 0.2, 2.2 * aspect + (0.75 if title else 0.5))
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, (label, img) in zip(axes, [("clean", c), *est.items()]):
        ax.imshow(img, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
        ax.set_title(_text(label if label == "clean" else f"{label}: SNR {snr_db(c, img):.2f} dB"),
                     fontsize=9)
        ax.set_axis_off()
    if title:
        fig.suptitle(_text(title), fontsize=10)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01,
                        top=1 - (0.7 if title else 0.4) / fig.get_figheight(), wspace=0.05)
    return _finish(fig, path)


def samples(imgs, *, path=None, title=None) -> Figure:
    """A grid of images sampled from a model (Fig. 3).

    Each image is normalised to its own range, in grey (or colour for three
    channels), with small white gaps and no labels.

    Parameters
    ----------
    imgs : array_like of shape (n, M, N) or (n, C, M, N), or list of images
        Sampled images projected into pixel space, channels first (C = 1 or 3).
    path : str or path-like, optional
        Save the figure here, in the format its ending names (PNG by default).
    title : str, optional
        Figure title.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    tiles = _as_image_stack(imgs, "imgs")
    n = len(tiles)
    ncols = math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    h = max(t.shape[0] for t in tiles)
    w = max(t.shape[1] for t in tiles)
    gap = max(1, round(min(h, w) / 20))
    mosaic = _mosaic([_normalise(t) for t in tiles], nrows, ncols, gap)
    scale = min(2.0, max(0.6, 8.0 / ncols)) / (w + gap)  # inches per mosaic pixel
    top = 0.4 if title else 0.1
    width = mosaic.shape[1] * scale + 0.2
    height = mosaic.shape[0] * scale + top + 0.1
    fig = _new_figure(width, height)
    ax = fig.add_axes((0.1 / width, 0.1 / height, 1 - 0.2 / width, 1 - (top + 0.1) / height))
    ax.imshow(mosaic, interpolation="nearest", aspect="auto")
    ax.set_axis_off()
    if title:
        fig.suptitle(_text(title), y=1 - 0.08 / height, va="top", fontsize=10)
    return _finish(fig, path)


def _stats_as_arrays(label, stats) -> dict[str, np.ndarray]:
    """A dict of 1-D arrays, or a sequence of per-iteration records -> dict of arrays."""
    if isinstance(stats, Mapping):
        data = dict(stats)
    elif isinstance(stats, Sequence) and not isinstance(stats, str):
        records = [r._asdict() if hasattr(r, "_asdict") else r for r in stats]
        # IterationStats (infer's return_stats) name the iteration "iteration"
        records = [{("iter" if k == "iteration" else k): v for k, v in r.items()}
                   if isinstance(r, Mapping) else r for r in records]
        if not all(isinstance(r, Mapping) for r in records):
            raise ValueError(f"stats_by_name[{label!r}] is a sequence of "
                             f"{type(stats[0]).__name__}: expected a dict of 1-D arrays "
                             "(or a list of named tuples / dicts, one per iteration)")
        keys = [k for k in STAT_KEYS if records and all(k in r for r in records)]
        data = {k: [r[k] for r in records] for k in keys}
    else:
        raise ValueError(f"stats_by_name[{label!r}] is a {type(stats).__name__}: expected a "
                         f"dict of 1-D arrays with keys among {STAT_KEYS}")
    out = {}
    for key, values in data.items():
        if key not in STAT_KEYS:
            continue
        arr = np.asarray(values, dtype=np.float64)
        if arr.ndim != 1:
            raise ValueError(f"stats_by_name[{label!r}][{key!r}] has shape {arr.shape}: "
                             "expected a 1-D array, one value per iteration")
        out[key] = arr
    lengths = {k: len(v) for k, v in out.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"stats_by_name[{label!r}] has arrays of different lengths "
                         f"{lengths}: expected one value per iteration in each")
    return out


def solver_stats(stats_by_name, *, x="time", y="cost", path=None, log=True) -> Figure:
    """Curves of one solver statistic against another, one per solver.

    Parameters
    ----------
    stats_by_name : mapping of str to dict
        Label -> statistics of one run: a dict of equal-length 1-D arrays
        with keys among ``'iter', 'time', 'cost', 'sparsity', 'cg_residual'``.
        A list of per-iteration named tuples or dicts with those fields is
        also accepted, e.g. the :class:`numbadn.IterationStats` of
        ``infer(..., return_stats=True)``. When ``x='iter'`` and a run has no ``'iter'`` key,
        iterations are numbered 1, 2, ...
    x, y : str, default 'time' and 'cost'
        The statistics on the horizontal and vertical axes.
    path : str or path-like, optional
        Save the figure here, in the format its ending names (PNG by default).
    log : bool, default True
        Logarithmic vertical axis (nonpositive values are not drawn).

    Returns
    -------
    fig : matplotlib.figure.Figure
        One axes with one line per label, in the mapping's order.
    """
    for name, value in (("x", x), ("y", y)):
        if value not in STAT_KEYS:
            raise ValueError(f"{name} is {value!r}: expected one of {STAT_KEYS}")
    if not isinstance(stats_by_name, Mapping) or len(stats_by_name) == 0:
        raise ValueError("stats_by_name must be a non-empty dict mapping a label to a "
                         f"dict of 1-D arrays with keys among {STAT_KEYS}")
    fig = _new_figure(6.0, 4.0)
    ax = fig.add_subplot(1, 1, 1)
    for label, stats in stats_by_name.items():
        data = _stats_as_arrays(label, stats)
        if x == "iter" and "iter" not in data and data:
            data["iter"] = np.arange(1, len(next(iter(data.values()))) + 1, dtype=np.float64)
        for key in (x, y):
            if key not in data:
                raise ValueError(f"stats_by_name[{label!r}] has no {key!r}: it has "
                                 f"{sorted(data)}; expected keys among {STAT_KEYS}")
        ax.plot(data[x], data[y], marker="." if len(data[y]) < 50 else None, label=str(label))
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(_STAT_LABELS[x])
    ax.set_ylabel(_STAT_LABELS[y])
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _finish(fig, path)


def save_stacked(figures, path, *, overwrite: bool = False) -> None:
    """Save several figures one above the other as one image file, in the format
    ``path``'s ending names (:func:`image_format`), on a white background.  An
    existing file is replaced only with ``overwrite=True`` (else ``FileExistsError``)."""
    import io

    from PIL import Image

    fmt = image_format(path)
    if fmt in ("pdf", "svg"):
        raise ValueError(f"cannot stack figures into {os.fspath(path)}: give a raster file "
                         "type (.png, .jpg, .tif, .webp) or a folder")
    _check_overwrite(os.fspath(path), overwrite)
    parts = []
    for fig in figures:
        buf = io.BytesIO()
        fig.savefig(buf, dpi=DPI, format="png")
        buf.seek(0)
        parts.append(Image.open(buf).convert("RGB"))
    width = max(im.width for im in parts)
    out = Image.new("RGB", (width, sum(im.height for im in parts)), "white")
    top = 0
    for im in parts:
        out.paste(im, ((width - im.width) // 2, top))
        top += im.height
    path = os.fspath(path)
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    out.save(path, format={"jpeg": "JPEG", "png": "PNG", "tiff": "TIFF",
                           "webp": "WEBP"}[fmt])
