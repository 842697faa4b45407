"""Real photographs to train and test on: built-in sets, folders and files.

Section 4 of Zeiler et al. (CVPR 2010) trains on two sets of 100x100 real
photographs, one of fruit and vegetable scenes and one of urban scenes.  Those
sets are not public, so numbadn ships stand-ins cut from freely licensed
photographs (see ``numbadn/datasets/LICENSE``):

``"food"``
    100x100 greyscale crops of OpenCV's sample photographs ``fruits.jpg``,
    ``apple.jpg``, ``orange.jpg`` and scikit-image's ``coffee`` (CC0).
``"city"``
    100x100 greyscale crops of OpenCV's ``building.jpg``, ``home.jpg``,
    ``leuvenA.jpg`` and ``scenetext01.jpg`` .. ``scenetext06.jpg``.
``"food-full"``, ``"city-full"``
    Every non-blank 100x100 crop of the larger list of OpenCV sample
    photographs, cut on the fly from Debian's ``opencv-doc`` package
    (``apt-get install opencv-doc``); nothing is downloaded.

Anything else is read with Pillow: a folder (searched recursively, numbadn's
own output folders left out), one file, or a list of files, of any size and
mode, turned upright by its EXIF orientation as image viewers show it.  Every
image comes back as a float array in [0, 1] of shape (P, Q) (grey) or
(3, P, Q) (colour).

Examples
--------
>>> from numbadn.data import load_images, describe
>>> y = load_images("food")               # doctest: +SKIP
>>> print(describe("food"))               # doctest: +SKIP
"""
from __future__ import annotations

import functools
import numbers
import os
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps
from scipy import ndimage

from ._files import LOCK_NAME, OUTPUTS_NAME, check_regular, shown
from .preprocess import to_grey

__all__ = ["load_images", "resize_and_tile", "builtin_sets", "describe", "exif_orientation",
           "IMAGE_SUFFIXES"]

#: Side of the paper's training images (section 4: "two datasets of 100x100 images").
CROP_SIZE = (100, 100)

#: Crops whose grey-level standard deviation (on the [0, 1] scale) is below this
#: are treated as blank (white paper, night-dark foliage, a flat wall) and left
#: out of the ``-full`` sets, of the bundled sets and of ``crop=`` tiles.
#: Measured on the OpenCV photographs: blank crops sit below 0.03, crops with
#: visible structure above 0.05.
MIN_CROP_STD = 0.04

#: A crop must also have this much fine detail: the standard deviation of the
#: crop minus its Gaussian blur (sigma 2 px).  This rejects smooth gradients
#: such as the sky of leuvenA.jpg (std 0.055 but detail 0.002), which have
#: nothing for 7x7 filters to learn; textured crops measure 0.015 and up.
MIN_CROP_DETAIL = 0.01

#: File name endings read as images when a folder is searched (case-insensitive).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff",
                  ".webp", ".pgm", ".ppm", ".pbm", ".pnm")

#: Folder of Debian's ``opencv-doc`` examples (the source of the ``-full`` sets).
OPENCV_DOC_EXAMPLES = Path("/usr/share/doc/opencv-doc/examples")

#: Photographs (relative to :data:`OPENCV_DOC_EXAMPLES`) behind the ``-full`` sets.
FULL_SOURCES = {
    "food": ("data/fruits.jpg", "data/apple.jpg", "data/orange.jpg",
             "data/smarties.png"),
    "city": ("data/building.jpg", "data/home.jpg", "data/leuvenA.jpg",
             "data/leuvenB.jpg", "data/aero1.jpg", "data/aero3.jpg",
             "text/scenetext01.jpg", "text/scenetext02.jpg",
             "text/scenetext03.jpg", "text/scenetext04.jpg",
             "text/scenetext05.jpg", "text/scenetext06.jpg", "reg/home.png"),
}

_DATASETS_DIR = Path(__file__).resolve().parent / "datasets"
_BUILTIN_NAMES = ("food", "city")
_FULL_NAMES = tuple(f"{name}-full" for name in _BUILTIN_NAMES)

# Where the bundled crops come from, keyed by the photo stem in their file
# names (``<stem>_y<row>_x<col>.png``); used by describe().
_ORIGIN = {
    "fruits": "OpenCV fruits.jpg", "apple": "OpenCV apple.jpg",
    "orange": "OpenCV orange.jpg", "coffee": "scikit-image coffee",
    "building": "OpenCV building.jpg", "home": "OpenCV home.jpg",
    "leuvenA": "OpenCV leuvenA.jpg",
    **{f"scenetext0{i}": f"OpenCV scenetext0{i}.jpg" for i in range(1, 7)},
}


# --------------------------------------------------------------------------
# public functions
# --------------------------------------------------------------------------
def load_images(source, *, size=None, crop=None, grey=True, dtype=np.float32):
    """Load real photographs as float arrays in [0, 1].

    Parameters
    ----------
    source : str, path-like or sequence of path-like
        ``"food"`` or ``"city"`` (built-in sets of 100x100 crops, see
        :func:`builtin_sets`); ``"food-full"`` or ``"city-full"`` (every
        non-blank 100x100 crop of the OpenCV sample photographs, needs
        Debian's ``opencv-doc``); a folder, searched recursively for files
        ending in one of :data:`IMAGE_SUFFIXES` (subfolders that hold a
        numbadn run's output, its lock, record, model or checkpoint, are left
        out: :func:`describe` says how many files); one image file (a
        regular file: FIFOs and devices are refused); or a list of
        files and folders.  A set name wins over a folder of the same name
        in the working directory; pass ``"./food"`` or a ``Path`` for that.
    size : int or (int, int), optional
        ``(P, Q)``: scale each image (aspect ratio kept, Lanczos) until it
        covers P x Q, then cut out the centre P x Q.  ``size=(100, 100)``
        gives the paper's image size (section 4).  An int means a square.
    crop : int or (int, int), optional
        ``(P, Q)``: after ``size``, cut each image into a centred grid of
        non-overlapping P x Q tiles and keep the non-blank ones (standard
        deviation at least :data:`MIN_CROP_STD` and fine detail at least
        :data:`MIN_CROP_DETAIL`).  The ``-full`` sets are the 100x100 crops
        themselves; ``size`` and ``crop`` then apply to each crop.
    grey : bool, default True
        True: greyscale (ITU-R BT.601 luma, as MATLAB's ``rgb2gray`` that the
        authors' toolbox used), shape (P, Q).  False: colour, shape
        (3, P, Q); grey files are repeated over the three channels.  Any
        alpha channel is dropped.
    dtype : {numpy.float32, numpy.float64}
        Floating type of the returned arrays.

    Returns
    -------
    list of ndarray
        One C-contiguous array per image (or per tile with ``crop``), of
        shape (P, Q) or (3, P, Q), values in [0, 1].  Folders are read in
        sorted path order.  Images of different sizes keep their own sizes
        unless ``size`` is given.

    Raises
    ------
    FileNotFoundError
        A path in ``source`` does not exist (the message names it).
    ValueError
        No image could be read from ``source``, or an argument is invalid.
    ImportError
        ``"food-full"`` / ``"city-full"`` without the ``opencv-doc`` package.

    Warns
    -----
    UserWarning
        Once per file that exists but cannot be decoded; it is skipped.

    Notes
    -----
    8-bit files are divided by 255 and 16-bit ones by 65535; 32-bit float
    files are min-max scaled to [0, 1] if they fall outside it.  A file's
    EXIF orientation is applied (:func:`exif_orientation`), so a portrait
    photograph comes back in portrait.
    """
    size = _check_shape_arg("size", size)
    crop = _check_shape_arg("crop", crop)
    dtype = _check_dtype(dtype)
    if not isinstance(grey, (bool, np.bool_)):
        raise TypeError(f"grey must be True or False, got {grey!r}")

    if not isinstance(source, (str, os.PathLike)) and hasattr(source, "__iter__"):
        source = list(source)  # a generator is read twice (files, then messages)
    full = isinstance(source, str) and source in _FULL_NAMES
    if isinstance(source, str) and source in _BUILTIN_NAMES:
        files = _builtin_files(source)
    elif full:
        files = _full_files(source)
    else:
        files = _resolve_files(source)

    images = []
    for path in files:
        img = _read_image(path, grey)
        if img is None:
            continue
        # The -full sets are the 100x100 crops; size and crop then act on each.
        members = [t for _, _, t in _grid_crops(img)] if full else [img]
        for img in members:
            images.extend(resize_and_tile(img, size=size, crop=crop, dtype=dtype))
    if not images:
        extra = (f" (every tile of crop={crop} was blank: std < {MIN_CROP_STD} or "
                 f"detail < {MIN_CROP_DETAIL})"
                 if crop is not None and files else "")
        raise ValueError(f"no images could be read from source {_source_name(source)}"
                         f"{extra}")
    return images


def resize_and_tile(img, *, size=None, crop=None, dtype=np.float32):
    """What :func:`load_images` does to each image with ``size`` and ``crop``.

    Parameters
    ----------
    img : ndarray of shape (P, Q) or (C, P, Q)
        An image in [0, 1].
    size, crop : int or (int, int), optional
        As in :func:`load_images`: scale to cover ``size`` and cut out its
        centre, then tile into ``crop`` tiles, blank ones left out.
    dtype : {numpy.float32, numpy.float64}
        Floating type of the returned arrays.

    Returns
    -------
    list of ndarray
        One image (no ``crop``), or the non-blank tiles (possibly none: an
        image smaller than ``crop`` has no tile).
    """
    size = _check_shape_arg("size", size)
    crop = _check_shape_arg("crop", crop)
    dtype = _check_dtype(dtype)
    if size is not None:
        img = _resize_cover(img, size)
    tiles = [t for _, _, t in _grid_crops(img, crop)] if crop is not None else [img]
    return [np.ascontiguousarray(t, dtype=dtype) for t in tiles]


def builtin_sets():
    """List the sets that ship with numbadn.

    Returns
    -------
    dict of str to int
        Set name (``"food"``, ``"city"``) to its number of 100x100 images.
        The ``-full`` sets are not listed: they need ``opencv-doc``; see
        :func:`load_images`.
    """
    return {name: len(_builtin_files(name)) for name in _BUILTIN_NAMES}


def describe(source):
    """One line saying which images ``source`` stands for.

    Every command prints it, so that each result names the data it came from.
    Folders and file lists are listed, not decoded, so unreadable files are
    counted here although :func:`load_images` skips them.

    Parameters
    ----------
    source : str, path-like or sequence of path-like
        Anything :func:`load_images` accepts.

    Returns
    -------
    str
        For example ``"food: 26 built-in 100x100 grey crops (OpenCV fruits.jpg
        x8, ...), bundled with numbadn"``.
    """
    if isinstance(source, str) and source in _BUILTIN_NAMES:
        files = _builtin_files(source)
        counts = Counter(_ORIGIN.get(f.stem.rsplit("_y", 1)[0], f.stem) for f in files)
        parts = ", ".join(f"{k} x{v}" for k, v in counts.items())
        return (f"{source}: {len(files)} built-in {CROP_SIZE[0]}x{CROP_SIZE[1]} grey "
                f"crops of real photographs ({parts}), bundled with numbadn")
    if isinstance(source, str) and source in _FULL_NAMES:
        files = _full_files(source)
        counts = _full_crop_counts(tuple(files))
        parts = ", ".join(f"{f.name} x{n}" for f, n in zip(files, counts))
        return (f"{source}: {sum(counts)} non-blank {CROP_SIZE[0]}x{CROP_SIZE[1]} crops "
                f"cut from {len(files)} OpenCV sample photographs "
                f"in {OPENCV_DOC_EXAMPLES} ({parts})")
    files = _resolve_files(source)
    if isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
        kinds = Counter(f.suffix.lower() for f in files)
        parts = ", ".join(f"{v} {k}" for k, v in sorted(kinds.items()))
        skipped = _scan_folder(Path(source).expanduser())[1]
        return (f"folder {shown(Path(source))}: {len(files)} image files ({parts}), searched "
                f"recursively" + (f"; {_skipped_text(skipped)}" if skipped else ""))
    if len(files) == 1:
        return f"1 image file: {shown(files[0])}"
    names = ", ".join(shown(f) for f in files[:3]) + (", ..." if len(files) > 3 else "")
    return f"{len(files)} image files: {names}"


# --------------------------------------------------------------------------
# cropping (shared with datasets/make_builtin.py)
# --------------------------------------------------------------------------
def _grid_crops(img, crop=CROP_SIZE, min_std=MIN_CROP_STD, min_detail=MIN_CROP_DETAIL):
    """Non-overlapping tiles of a centred grid, blank ones left out.

    Parameters
    ----------
    img : ndarray of shape (P, Q) or (C, P, Q)
        Image in [0, 1].
    crop : (int, int)
        Tile size (p, q).
    min_std : float
        Tiles whose standard deviation is below this are dropped.  Colour
        tiles are judged on their grey version, so grey and colour loads of
        a ``-full`` set hold the same crops.
    min_detail : float
        Tiles whose fine detail (``_detail``) is below this are
        dropped.

    Returns
    -------
    list of (int, int, ndarray)
        ``(row, col, tile)``: top-left corner in ``img`` and the tile, in
        raster order.
    """
    p, q = crop
    P, Q = img.shape[-2:]
    nr, nc = P // p, Q // q
    r0, c0 = (P - nr * p) // 2, (Q - nc * q) // 2
    grey = img if img.ndim == 2 else to_grey(img)
    out = []
    for i in range(nr):
        for j in range(nc):
            r, c = r0 + i * p, c0 + j * q
            g = grey[r:r + p, c:c + q]
            if g.std() >= min_std and _detail(g) >= min_detail:
                out.append((r, c, img[..., r:r + p, c:c + q]))
    return out


def _detail(tile):
    """Standard deviation of a grey ``tile`` minus its Gaussian blur (sigma 2 px)."""
    return float((tile - ndimage.gaussian_filter(tile, 2.0, mode="reflect")).std())


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
def _check_shape_arg(name, v):
    if v is None:
        return None
    if isinstance(v, numbers.Integral) and not isinstance(v, bool):
        v = (v, v)
    try:
        pair = tuple(v)
    except TypeError:
        pair = ()
    if (len(pair) != 2 or any(isinstance(n, bool) or not isinstance(n, numbers.Integral)
                              for n in pair) or min(pair) < 1):
        raise ValueError(f"{name} must be a positive int or a pair of positive ints "
                         f"(P, Q), e.g. {name}=(100, 100), got {v!r}")
    return int(pair[0]), int(pair[1])


def _check_dtype(dtype):
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be numpy.float32 or numpy.float64, got {dtype!r}") from None
    if dt not in (np.float32, np.float64):
        raise TypeError(f"dtype must be numpy.float32 or numpy.float64, got {dt}")
    return dt


def _source_name(source):
    if isinstance(source, (str, os.PathLike)):
        return repr(str(source))
    items = [str(s) for s in source]
    shown = ", ".join(items[:3]) + (", ..." if len(items) > 3 else "")
    return f"[{shown}] ({len(items)} paths)"


def _builtin_files(name):
    folder = _DATASETS_DIR / name
    files = sorted(folder.glob("*.png"))
    if not files:  # pragma: no cover - broken install
        raise FileNotFoundError(
            f"built-in set {name!r} is missing from {folder}; reinstall numbadn or "
            f"rebuild it with numbadn/datasets/make_builtin.py")
    return files


def _full_files(name):
    base = name[: -len("-full")]
    if not OPENCV_DOC_EXAMPLES.is_dir():
        raise ImportError(
            f"source {name!r} is cut from the photographs of Debian's opencv-doc package, "
            f"which is not installed ({OPENCV_DOC_EXAMPLES} is missing): run "
            f"'apt-get install opencv-doc', or use the built-in set {base!r}")
    files = [OPENCV_DOC_EXAMPLES / rel for rel in FULL_SOURCES[base]]
    files = [f for f in files if f.is_file()]
    if not files:
        raise ImportError(
            f"source {name!r}: none of the photographs {list(FULL_SOURCES[base])} is in "
            f"{OPENCV_DOC_EXAMPLES}; reinstall Debian's opencv-doc package")
    return files


@functools.lru_cache(maxsize=4)
def _full_crop_counts(files):
    return [len(_grid_crops(img)) if (img := _read_image(f, True)) is not None else 0
            for f in files]


def _is_image_file(path):
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def _resolve_files(source):
    """Paths of the image files ``source`` names, in order."""
    if isinstance(source, (str, os.PathLike)):
        entries = [source]
    else:
        try:
            entries = list(source)
        except TypeError:
            raise TypeError(
                f"source must be a built-in set name {list(_BUILTIN_NAMES + _FULL_NAMES)}, "
                f"a folder, a file or a list of files, got {type(source).__name__}") from None
        if not entries:
            raise ValueError("source is an empty list: expected at least one image file")
    files = []
    for entry in entries:
        if not isinstance(entry, (str, os.PathLike)):
            raise TypeError(f"source entries must be paths, got {entry!r}")
        if os.fspath(entry) in ("", b""):
            raise ValueError("image source is an empty path: give a folder, a file or a "
                             "built-in set name")
        path = Path(entry).expanduser()
        if path.is_dir():
            found, skipped = _scan_folder(path)
            files.extend(found)
            if not found and len(entries) == 1:
                raise ValueError(
                    f"no images could be read from source {shown(path)!r}: the folder holds "
                    f"no files ending in {', '.join(IMAGE_SUFFIXES)}"
                    + (f" outside numbadn's output folders ({_skipped_text(skipped)})"
                       if skipped else ""))
        elif path.is_file():
            files.append(path)
        elif os.path.lexists(path):
            check_regular(path, "image source")  # a FIFO, device, socket: refused
            raise FileNotFoundError(f"image source {shown(path)!r} is a broken link")
        else:
            hint = ""
            if isinstance(entry, str) and os.sep not in entry and "." not in entry:
                hint = (f"; it is not a built-in set either (built-in: "
                        f"{', '.join(_BUILTIN_NAMES + _FULL_NAMES)})")
            raise FileNotFoundError(f"image source {shown(path)!r} does not exist{hint}")
    if not files:
        raise ValueError(f"no images could be read from source {_source_name(source)}: "
                         f"no image files found")
    return files


def _is_output_folder(names):
    """Whether a folder holding the files ``names`` is the output of a numbadn run
    (its lock, its record of outputs, or a model or checkpoint file)."""
    return bool({LOCK_NAME, OUTPUTS_NAME, "model.npz", "checkpoint.npz"} & set(names))


def _scan_folder(folder):
    """Image files under ``folder`` (sorted paths, links to folders not followed),
    and ``[(subfolder, n_image_files)]`` of the numbadn output folders below it
    that were left out: training must not read its own (or another run's) figures."""
    found, skipped = [], []
    for dirpath, dirnames, filenames in os.walk(folder):
        if dirpath != os.fspath(folder) and _is_output_folder(filenames):
            n = sum(_is_image_file(Path(d, f)) for d, _, fs in os.walk(dirpath) for f in fs)
            skipped.append((Path(dirpath), n))
            dirnames[:] = []
            continue
        dirnames.sort()
        for f in filenames:
            p = Path(dirpath, f)
            if _is_image_file(p) and p.is_file():
                found.append(p)
    return sorted(found), skipped


def _skipped_text(skipped):
    n = sum(k for _, k in skipped)
    names = ", ".join(shown(d) for d, _ in skipped[:3]) + (", ..." if len(skipped) > 3 else "")
    return (f"{n} image file(s) in {len(skipped)} numbadn output folder(s) skipped: "
            f"{names}")


#: What each EXIF orientation value (TIFF tag 274) asks a viewer to do.
EXIF_ORIENTATIONS = {1: "as stored", 2: "mirrored", 3: "rotated 180 degrees",
                     4: "flipped upside down", 5: "mirrored and rotated 90 degrees",
                     6: "rotated 90 degrees clockwise", 7: "mirrored and rotated 270 degrees",
                     8: "rotated 90 degrees counter-clockwise"}


def exif_orientation(path):
    """The EXIF orientation of an image file.

    :func:`load_images` applies it (as image viewers and Pillow's
    ``ImageOps.exif_transpose`` do), so photographs come back upright.

    Parameters
    ----------
    path : str or path-like
        An image file.

    Returns
    -------
    int or None
        1-8, or None if the file has none or it cannot be read.
    """
    try:
        with Image.open(path) as im:
            o = im.getexif().get(0x0112)
    except Exception:  # noqa: BLE001 - unreadable files are reported when read
        return None
    return o if o in EXIF_ORIENTATIONS else None


def _read_image(path, grey):
    """Decode one file to float64 (P, Q) or (3, P, Q) in [0, 1], turned upright by
    its EXIF orientation; None if unreadable."""
    try:
        with Image.open(path) as im:
            im.seek(0)
            im.load()
            im = ImageOps.exif_transpose(im)
            arr = _to_float(im)
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
        warnings.warn(f"skipped unreadable image file {shown(path)!r}: {exc}",
                      UserWarning, stacklevel=3)
        return None
    if arr.ndim == 3:  # (P, Q, C) -> channels first
        arr = np.moveaxis(arr, -1, 0)
    if grey:
        if arr.ndim == 3:
            arr = to_grey(arr)
    elif arr.ndim == 2:
        arr = np.repeat(arr[None], 3, axis=0)
    return arr


def _to_float(im):
    """Pillow image of any mode -> float64 array in [0, 1], alpha dropped."""
    mode = im.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        return np.asarray(im, dtype=np.float64) / 65535.0
    if mode == "I":
        a = np.asarray(im, dtype=np.float64)
        return np.clip(a / 65535.0, 0.0, 1.0)
    if mode == "F":
        a = np.asarray(im, dtype=np.float64)
        if not np.isfinite(a).all():
            raise ValueError("float image holds NaN or inf values")
        lo, hi = a.min(), a.max()
        if lo < 0.0 or hi > 1.0:
            a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
        return a
    if mode in ("1", "L"):
        im = im.convert("L")
    elif mode in ("LA", "La", "PA"):
        im = im.convert("LA" if mode != "PA" else "RGBA")
    elif mode != "RGB":
        im = im.convert("RGBA" if "A" in mode or mode == "P" else "RGB")
    a = np.asarray(im, dtype=np.float64) / 255.0
    if a.ndim == 3 and a.shape[-1] in (2, 4):  # drop alpha
        a = a[..., :-1]
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    return a


def _resize_cover(img, size):
    """Scale (Lanczos) to cover ``size`` keeping the aspect ratio, then centre-crop."""
    P, Q = size
    h, w = img.shape[-2:]
    scale = max(P / h, Q / w)
    nh, nw = max(P, round(h * scale)), max(Q, round(w * scale))
    planes = img[None] if img.ndim == 2 else img
    if (nh, nw) != (h, w):
        planes = np.stack([
            np.asarray(Image.fromarray(np.ascontiguousarray(p, dtype=np.float32))
                       .resize((nw, nh), Image.Resampling.LANCZOS), dtype=np.float64)
            for p in planes])
        planes = np.clip(planes, 0.0, 1.0)
    r, c = (nh - P) // 2, (nw - Q) // 2
    planes = planes[:, r:r + P, c:c + Q]
    return planes[0] if img.ndim == 2 else planes
