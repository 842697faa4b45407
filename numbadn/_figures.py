"""What every figure of :mod:`numbadn.plot` shares: a headless
:class:`~matplotlib.figure.Figure` at :data:`DPI`, saving by file ending, input
checks with messages that name the argument, tiles and mosaics, and the two
small measures the figures print (:func:`snr_db`, :func:`row_label`)."""
from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

#: Resolution of saved PNGs, in dots per inch.
DPI = 100


def snr_db(clean, estimate) -> float:
    """Signal-to-noise ratio of ``estimate`` against ``clean``, in decibels.

    .. math::

        \\mathrm{SNR} = 10 \\log_{10}
            \\frac{\\operatorname{var}(y)}{\\operatorname{mean}((y - \\hat y)^2)}

    This is the standard definition, the signal power measured about its
    mean; it equals :math:`10 \\log_{10} \\|y - \\bar y\\|^2 / \\|y - \\hat y\\|^2`
    (both numerator and denominator are divided by the number of pixels).

    Parameters
    ----------
    clean : array_like
        Reference signal ``y``, any shape.
    estimate : array_like
        Estimate ``y_hat``, same shape as ``clean``.

    Returns
    -------
    snr : float
        ``inf`` for a perfect estimate, ``-inf`` for a constant ``clean``
        with a nonzero error.
    """
    clean = as_float(clean, "clean")  # real, finite, not masked
    estimate = as_float(estimate, "estimate")
    if clean.shape != estimate.shape:
        raise ValueError(f"estimate has shape {estimate.shape} but clean has shape "
                         f"{clean.shape}: expected the same shape")
    if clean.size == 0:
        raise ValueError("clean is empty: expected at least one value")
    mse = float(np.mean((clean - estimate) ** 2))
    var = float(np.var(clean))
    if mse == 0.0:
        return math.inf
    if var == 0.0:
        return -math.inf
    return 10.0 * math.log10(var / mse)


def row_label(i: int) -> str:
    """Letter label of grid row ``i`` (0-based): A, B, ..., Z, AA, AB, ...

    Rows A-J of Fig. 7 and 8 are rows 0-9.

    Parameters
    ----------
    i : int
        The row, 0-based.

    Returns
    -------
    str
    """
    if i < 0:
        raise ValueError(f"i must be >= 0, got {i}")
    label = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        label = chr(ord("A") + r) + label
    return label


def new_figure(width_in: float, height_in: float) -> Figure:
    return Figure(figsize=(width_in, height_in), dpi=DPI)


#: File formats by name ending; a path without one gets PNG data.
FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".pdf": "pdf", ".svg": "svg",
           ".tif": "tiff", ".tiff": "tiff", ".webp": "webp"}


def image_format(path) -> str:
    """The file format a figure saved to ``path`` gets, from its name ending
    (``.png``, ``.jpg``/``.jpeg``, ``.pdf``, ``.svg``, ``.tif``/``.tiff``, ``.webp``;
    none: PNG).  Another ending is an error naming the path and the formats."""
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if not ext:
        return "png"
    if ext not in FORMATS:
        raise ValueError(f"cannot write a figure to {os.fspath(path)}: unknown file type "
                         f"{ext!r}; use one of {', '.join(FORMATS)}")
    return FORMATS[ext]


def finish(fig: Figure, path) -> Figure:
    if path is not None:
        path = os.fspath(path)
        fmt = image_format(path)
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        kw = {"pil_kwargs": {"quality": 92}} if fmt == "jpeg" else {}
        fig.savefig(path, dpi=DPI, format=fmt, **kw)
    return fig


def check_overwrite(path, overwrite):
    """``FileExistsError`` naming ``path`` if it exists and ``overwrite`` is False."""
    if not isinstance(overwrite, (bool, np.bool_)):
        raise TypeError(f"overwrite must be True or False, got {overwrite!r}")
    if not overwrite and os.path.lexists(path):
        from ._files import shown
        raise FileExistsError(f"{shown(path)} exists: not replaced; pass overwrite=True to "
                              "replace it")


def save(fig: Figure, path, *, overwrite: bool = False) -> Figure:
    """Save ``fig`` to ``path`` in the format its ending names (:func:`image_format`).

    An existing file is replaced only with ``overwrite=True`` (else
    ``FileExistsError``)."""
    image_format(path)
    check_overwrite(os.fspath(path), overwrite)
    return finish(fig, path)


def text(s):
    """A title or label matplotlib can draw: file names that are not UTF-8 (surrogate
    escapes in ``str``) get U+FFFD in place of their undecodable bytes."""
    if s is None:
        return None
    return str(s).encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def check_finite(arr: np.ndarray, name: str) -> None:
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values: expected finite numbers")


def as_float(x, name: str) -> np.ndarray:
    from ._validation import refuse_masked
    refuse_masked(name, x)
    try:
        arr = np.asarray(x)
    except Exception as exc:
        raise ValueError(f"{name} could not be converted to an array ({exc})") from None
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} has dtype {arr.dtype}: expected real numbers")
    arr = arr.astype(np.float64)
    check_finite(arr, name)
    return arr


def image_for_display(img: np.ndarray, name: str) -> np.ndarray:
    """(M, N) or (C, M, N), C in {1, 3} -> (M, N) or (M, N, 3)."""
    if img.ndim == 2:
        return img
    if img.ndim == 3 and img.shape[0] == 1:
        return img[0]
    if img.ndim == 3 and img.shape[0] == 3:
        return np.moveaxis(img, 0, -1)
    hint = ""
    if img.ndim == 3 and img.shape[-1] in (1, 3):
        hint = "; for channels-last data use np.moveaxis(x, -1, 0)"
    raise ValueError(f"{name} has shape {img.shape}: expected (M, N) or (C, M, N) with "
                     f"C = 1 or 3 channels first{hint}")


def as_image_stack(x, name: str) -> list[np.ndarray]:
    """Array (n, M, N) / (n, C, M, N) or a sequence of images -> display images."""
    if isinstance(x, np.ndarray) or not isinstance(x, Sequence):
        arr = as_float(x, name)
        if arr.ndim not in (3, 4):
            raise ValueError(f"{name} has shape {arr.shape}: expected (n, M, N) or "
                             "(n, C, M, N) with C = 1 or 3, or a list of images")
        items = list(arr)
    else:
        items = [as_float(item, f"{name}[{i}]") for i, item in enumerate(x)]
    if not items:
        raise ValueError(f"{name} is empty: expected at least one image")
    return [image_for_display(img, f"{name}[{i}]") for i, img in enumerate(items)]


def normalise(tile: np.ndarray) -> np.ndarray:
    """Map ``tile`` to [0, 1] by its own range; a constant tile becomes 0.5."""
    lo, hi = float(tile.min()), float(tile.max())
    if hi > lo:
        return (tile - lo) / (hi - lo)
    return np.full_like(tile, 0.5)


def grid_shape(n: int, ncols) -> tuple[int, int]:
    """Rows and columns for ``n`` tiles: 150 -> 10 x 15 as in Fig. 7 and 8."""
    if ncols is None:
        nrows = min(10, math.ceil(math.sqrt(n)))
        ncols = math.ceil(n / nrows)
    else:
        if isinstance(ncols, (bool, np.bool_)) or not isinstance(ncols, (int, np.integer)) \
                or ncols < 1:
            raise ValueError(f"ncols must be a positive integer or None, got {ncols!r}")
        ncols = int(min(ncols, n))
    return math.ceil(n / ncols), ncols


def mosaic(tiles: list[np.ndarray], nrows: int, ncols: int, gap: int) -> np.ndarray:
    """Tiles normalised to [0, 1] laid out on a white RGB canvas."""
    h = max(t.shape[0] for t in tiles)
    w = max(t.shape[1] for t in tiles)
    canvas = np.ones((nrows * h + (nrows - 1) * gap, ncols * w + (ncols - 1) * gap, 3))
    for i, tile in enumerate(tiles):
        r, c = divmod(i, ncols)
        rgb = tile if tile.ndim == 3 else np.repeat(tile[:, :, None], 3, axis=2)
        y0 = r * (h + gap) + (h - tile.shape[0]) // 2
        x0 = c * (w + gap) + (w - tile.shape[1]) // 2
        canvas[y0:y0 + tile.shape[0], x0:x0 + tile.shape[1]] = rgb
    return canvas

