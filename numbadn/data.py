"""Real photographs to train and test on: built-in sets, folders and files.

Section 4 of Zeiler et al. (CVPR 2010) trains on two sets of 100x100 real
photographs, one of fruit and vegetable scenes and one of urban scenes.  Those
sets are not public, so numbadn ships stand-ins cut from freely licensed
photographs (see ``numbadn/datasets/LICENSE``):

``"natural"``
    100x100 greyscale crops of freely licensed photographs of plants,
    fruit, animals and landscapes (a few from each of 8 photographs of the
    ``"natural-full"`` set), bundled with numbadn.
``"city"``
    100x100 greyscale crops of OpenCV's ``building.jpg``, ``home.jpg``,
    ``leuvenA.jpg`` and ``scenetext01.jpg`` .. ``scenetext06.jpg``.
``"natural-full"``, ``"city-full"``
    Every non-blank 100x100 crop of the photographs of :data:`PHOTOGRAPHS`
    (29 natural scenes, 15 city scenes), cut on the fly from Debian's
    wallpaper and sample packages (:data:`DEBIAN_PACKAGES`, ``apt-get
    install`` them) and the photographs of scikit-learn and scikit-image;
    nothing is downloaded.  Photographs whose shorter side exceeds
    :data:`FULL_SHORT_SIDE` are first scaled down to it.
``"natural-heldout"``, ``"city-heldout"``
    The same, from other photographs of each kind, kept out of training for
    tests of generalisation.

Anything else is read with Pillow: a folder (searched recursively, numbadn's
own output folders left out), one file, or a list of files, of any size and
mode, turned upright by its EXIF orientation as image viewers show it.  Every
image comes back as a float array in [0, 1] of shape (P, Q) (grey) or
(3, P, Q) (colour).

Examples
--------
>>> from numbadn.data import load_images, describe
>>> y = load_images("natural")            # doctest: +SKIP
>>> print(describe("natural"))            # doctest: +SKIP
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

__all__ = ["load_images", "crops_by_photograph", "resize_and_tile", "builtin_sets", "describe",
           "exif_orientation", "IMAGE_SUFFIXES", "PHOTOGRAPHS", "DEBIAN_PACKAGES"]

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

#: Folder of Debian's ``opencv-doc`` examples (photographs of the ``-full`` sets).
OPENCV_DOC_EXAMPLES = Path("/usr/share/doc/opencv-doc/examples")

#: Photographs whose shorter side is longer than this are scaled down (Lanczos)
#: to it before the 100x100 crops are cut, so that a crop of a 2560x1600
#: wallpaper shows about as much of the scene as a crop of a 640x480 OpenCV
#: sample (the paper's images were 100x100 views of whole scenes, not of a
#: few petals).
FULL_SHORT_SIDE = 480

# Where the photographs of the -full sets live: a Debian package's folder, or
# the folder of an installed Python package (found by importing it).
_ROOTS = {
    "opencv-doc": ("deb", OPENCV_DOC_EXAMPLES),
    "mate-backgrounds": ("deb", Path("/usr/share/backgrounds/mate")),
    "lomiri-wallpapers-16.04": ("deb", Path("/usr/share/backgrounds")),
    "lomiri-wallpapers-20.04": ("deb", Path("/usr/share/backgrounds")),
    "plasma-workspace-wallpapers": ("deb", Path("/usr/share/wallpapers")),
    "palapeli-data": ("deb", Path("/usr/share/palapeli/collection")),
    "scikit-learn": ("py", "sklearn.datasets:images"),
    "scikit-image": ("py", "skimage:data"),
}

#: The photographs behind the ``-full`` and ``-heldout`` sets: set -> tuple of
#: (label, package, path inside the package's folder, licence).  All are real
#: photographs (no drawings, renders or halftone scans), installed offline by
#: the Debian packages or Python wheels named; ``numbadn/datasets/LICENSE``
#: gives each one's author.  The ``-heldout`` photographs never enter training:
#: they are for tests of generalisation (OpenCV's butterfly.jpg and
#: squirrel_cls.jpg are among them because section 4.4's script denoises them
#: as photographs the model never saw).
PHOTOGRAPHS = {
    "natural": (
        ("Garden", "mate-backgrounds", "nature/Garden.jpg", "GPL-2+"),
        ("Dune", "mate-backgrounds", "nature/Dune.jpg", "GPL-2+"),
        ("Wood", "mate-backgrounds", "nature/Wood.jpg", "GPL-2+"),
        ("Aqua", "mate-backgrounds", "nature/Aqua.jpg", "GPL-2+"),
        ("TwoWings", "mate-backgrounds", "nature/TwoWings.jpg", "GPL-2+"),
        ("Storm", "mate-backgrounds", "nature/Storm.jpg", "GPL-2+"),
        ("GreenMeadow", "mate-backgrounds", "nature/GreenMeadow.jpg", "GPL-2+"),
        ("RainDrops", "mate-backgrounds", "nature/RainDrops.jpg", "GPL-2+"),
        ("Blinds", "mate-backgrounds", "nature/Blinds.jpg", "GPL-2+"),
        ("FreshFlower", "mate-backgrounds", "nature/FreshFlower.jpg", "GPL-2+"),
        ("LadyBird", "mate-backgrounds", "nature/LadyBird.jpg", "GPL-2+"),
        ("YellowFlower", "mate-backgrounds", "nature/YellowFlower.jpg", "GPL-2+"),
        ("seeding", "lomiri-wallpapers-16.04", "seeding_by_Clements_Engelhardt.jpg", "CC0-1.0"),
        ("aitzgorri", "lomiri-wallpapers-16.04", "aitzgorri_by_Aitzol_Berasategi.jpg",
         "CC-BY-4.0"),
        ("Dragonfly", "lomiri-wallpapers-16.04", "Dragonfly_by_Bolly.jpg", "CC-BY-SA-4.0"),
        ("sunset", "lomiri-wallpapers-16.04", "sunset_by_Aitzol_Berasategi.jpg", "CC-BY-4.0"),
        ("picosdeeuropa", "lomiri-wallpapers-16.04", "picosdeeuropa_by_Aitzol_Berasategi.jpg",
         "CC-BY-4.0"),
        ("fig", "lomiri-wallpapers-16.04", "Picture_0B_by_freespace.jpg", "CC-BY-4.0"),
        ("life", "lomiri-wallpapers-16.04", "life_by_Aitzol_Berasategi.jpg", "CC-BY-4.0"),
        ("Kleiber", "lomiri-wallpapers-20.04", "Kleiber_by_Lukas_Baubkus.jpg", "CC-BY-SA-3.0"),
        ("FallenLeaf", "plasma-workspace-wallpapers", "FallenLeaf/contents/images/2560x1600.jpg",
         "GPL-2+"),
        ("Path", "plasma-workspace-wallpapers", "Path/contents/images/2560x1600.jpg", "GPL-2+"),
        ("summer_1am", "plasma-workspace-wallpapers", "summer_1am/contents/images/2560x1600.jpg",
         "GPL-2+"),
        ("OneStandsOut", "plasma-workspace-wallpapers",
         "OneStandsOut/contents/images/2560x1600.jpg", "GPL-2+"),
        ("citrus-fruits", "palapeli-data", "citrus-fruits.jpg", "public domain"),
        ("honey-bee", "palapeli-data", "european-honey-bee.jpg", "public domain"),
        ("chameleon", "palapeli-data", "panther-chameleon-female.jpg", "GFDL"),
        ("fruits", "opencv-doc", "data/fruits.jpg", "Apache-2.0 AND BSD-3-Clause"),
        ("flower", "scikit-learn", "flower.jpg", "CC-BY-2.0"),
    ),
    "natural-heldout": (
        ("butterfly", "opencv-doc", "data/butterfly.jpg", "Apache-2.0 AND BSD-3-Clause"),
        ("squirrel", "opencv-doc", "data/squirrel_cls.jpg", "Apache-2.0 AND BSD-3-Clause"),
        ("robin", "opencv-doc", "hfs/data/000.jpg", "Apache-2.0 AND BSD-3-Clause"),
        ("lake", "opencv-doc", "hfs/data/001.jpg", "Apache-2.0 AND BSD-3-Clause"),
        ("tree", "opencv-doc", "hfs/data/002.jpg", "Apache-2.0 AND BSD-3-Clause"),
        ("chelsea", "scikit-image", "chelsea.png", "CC0-1.0"),
    ),
    "city": (
        ("building", "opencv-doc", "data/building.jpg", "Apache-2.0 AND BSD-3-Clause"),
        ("home", "opencv-doc", "data/home.jpg", "Apache-2.0 AND BSD-3-Clause"),
        ("leuvenA", "opencv-doc", "data/leuvenA.jpg", "Apache-2.0 AND BSD-3-Clause"),
        ("aero1", "opencv-doc", "data/aero1.jpg", "Apache-2.0 AND BSD-3-Clause"),
        ("aero3", "opencv-doc", "data/aero3.jpg", "Apache-2.0 AND BSD-3-Clause"),
        *((f"scenetext0{i}", "opencv-doc", f"text/scenetext0{i}.jpg",
           "Apache-2.0 AND BSD-3-Clause") for i in range(1, 7)),
        ("home-reg", "opencv-doc", "reg/home.png", "Apache-2.0 AND BSD-3-Clause"),
        ("china", "scikit-learn", "china.jpg", "CC-BY-2.0"),
        ("castle-maintenon", "palapeli-data", "castle-maintenon.jpg", "GFDL"),
        ("Grey", "plasma-workspace-wallpapers", "Grey/contents/images/2560x1600.jpg", "GPL-2+"),
    ),
    "city-heldout": (
        ("cincinnati-bridge", "palapeli-data", "cincinnati-bridge.jpg", "public domain"),
        ("Bridge", "lomiri-wallpapers-16.04", "Bridge_by_Sander_Klootwijk.jpg", "CC-BY-SA-4.0"),
    ),
}

#: Debian packages that hold the photographs of :data:`PHOTOGRAPHS`
#: (``apt-get install`` them; the rest come with scikit-learn / scikit-image).
DEBIAN_PACKAGES = tuple(sorted({pkg for photos in PHOTOGRAPHS.values() for _, pkg, _, _ in photos
                                if _ROOTS[pkg][0] == "deb"}))

_DATASETS_DIR = Path(__file__).resolve().parent / "datasets"
_BUILTIN_NAMES = ("natural", "city")
_FULL_NAMES = tuple(f"{name}-{kind}" for name in _BUILTIN_NAMES for kind in ("full", "heldout"))

# Where the bundled crops come from, keyed by the photo stem in their file
# names (``<stem>_y<row>_x<col>.png``); used by describe().
_ORIGIN = {
    "seeding": "lomiri seeding_by_Clements_Engelhardt.jpg",
    "aitzgorri": "lomiri aitzgorri_by_Aitzol_Berasategi.jpg",
    "picosdeeuropa": "lomiri picosdeeuropa_by_Aitzol_Berasategi.jpg",
    "life": "lomiri life_by_Aitzol_Berasategi.jpg",
    "fig": "lomiri Picture_0B_by_freespace.jpg",
    "sunset": "lomiri sunset_by_Aitzol_Berasategi.jpg",
    "fruits": "OpenCV fruits.jpg",
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
        ``"natural"`` or ``"city"`` (built-in sets of 100x100 crops, see
        :func:`builtin_sets`); ``"natural-full"``, ``"city-full"``,
        ``"natural-heldout"`` or ``"city-heldout"`` (every non-blank 100x100
        crop of the photographs of :data:`PHOTOGRAPHS`, needs the Debian
        packages :data:`DEBIAN_PACKAGES`); a folder, searched recursively for files
        ending in one of :data:`IMAGE_SUFFIXES` (subfolders that hold a
        numbadn run's output, its lock, record, model or checkpoint, are left
        out: :func:`describe` says how many files); one image file (a
        regular file: FIFOs and devices are refused); or a list of
        files and folders.  A set name wins over a folder of the same name
        in the working directory; pass ``"./natural"`` or a ``Path`` for that.
    size : int or (int, int), optional
        ``(P, Q)``: scale each image (aspect ratio kept, Lanczos) until it
        covers P x Q, then cut out the centre P x Q.  ``size=(100, 100)``
        gives the paper's image size (section 4).  An int means a square.
    crop : int or (int, int), optional
        ``(P, Q)``: after ``size``, cut each image into a centred grid of
        non-overlapping P x Q tiles and keep the non-blank ones (standard
        deviation at least :data:`MIN_CROP_STD` and fine detail at least
        :data:`MIN_CROP_DETAIL`).  The ``-full`` / ``-heldout`` sets are the
        100x100 crops themselves; ``size`` and ``crop`` then apply to each crop.
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
        A ``-full`` / ``-heldout`` set whose Debian packages (or scikit-learn /
        scikit-image) are not installed; the message names them.

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
    if full:
        # The -full / -heldout sets are the 100x100 crops; size and crop act on each.
        members = [t for crops in crops_by_photograph(source, grey=grey, dtype=np.float64)
                   .values() for t in crops]
        files = [None]
    else:
        files = _builtin_files(source) if (isinstance(source, str)
                                           and source in _BUILTIN_NAMES) else _resolve_files(source)
        members = (img for path in files if (img := _read_image(path, grey)) is not None)
    images = []
    for img in members:
        images.extend(resize_and_tile(img, size=size, crop=crop, dtype=dtype))
    if not images:
        extra = (f" (every tile of crop={crop} was blank: std < {MIN_CROP_STD} or "
                 f"detail < {MIN_CROP_DETAIL})"
                 if crop is not None and files else "")
        raise ValueError(f"no images could be read from source {_source_name(source)}"
                         f"{extra}")
    return images


def crops_by_photograph(source, *, grey=True, dtype=np.float32):
    """The crops of a ``-full`` / ``-heldout`` set, grouped by photograph.

    For statistics over photographs (a bootstrap that resamples photographs,
    not crops, since crops of one photograph are not independent).

    Parameters
    ----------
    source : str
        ``"natural-full"``, ``"city-full"``, ``"natural-heldout"`` or
        ``"city-heldout"``.
    grey, dtype
        As in :func:`load_images`.

    Returns
    -------
    dict of str to list of ndarray
        Photograph label (as in :data:`PHOTOGRAPHS`) to its non-blank
        100x100 crops in raster order, photographs in the order of
        :data:`PHOTOGRAPHS`; ``load_images(source)`` is these lists joined.
        A photograph scaled to :data:`FULL_SHORT_SIDE` is cut after scaling.

    Raises
    ------
    ValueError
        ``source`` is not one of those four names.
    ImportError
        A package holding the photographs is not installed.
    """
    if not isinstance(source, str) or source not in _FULL_NAMES:
        raise ValueError(f"source must be one of {list(_FULL_NAMES)}, got {source!r}")
    dtype = _check_dtype(dtype)
    out = {}
    for label, path in _full_files(source):
        img = _read_photograph(path, bool(grey))
        out[label] = [np.array(t, dtype=dtype, order="C") for _, _, t in _grid_crops(img)]
    return out


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
        Set name (``"natural"``, ``"city"``) to its number of 100x100 images.
        The ``-full`` / ``-heldout`` sets are not listed: they need Debian
        packages; see :func:`load_images`.
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
        For example ``"natural: 30 built-in 100x100 grey crops of real
        photographs (OpenCV fruits.jpg x4, ...), bundled with numbadn"``.
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
        parts = ", ".join(f"{label} x{n}" for (label, _), n in zip(files, counts))
        kind = "natural-scene" if source.startswith("natural") else "city"
        packages = sorted({pkg for _, pkg, _, _ in PHOTOGRAPHS[_photo_key(source)]})
        return (f"{source}: {sum(counts)} non-blank {CROP_SIZE[0]}x{CROP_SIZE[1]} crops "
                f"cut from {len(files)} {kind} photographs (shorter side scaled to at most "
                f"{FULL_SHORT_SIDE} px) of {', '.join(packages)} ({parts})")
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


def _photo_key(name):
    """'natural-full' -> 'natural', 'city-heldout' -> 'city-heldout' (keys of PHOTOGRAPHS)."""
    return name[: -len("-full")] if name.endswith("-full") else name


def _package_root(pkg):
    kind, where = _ROOTS[pkg]
    if kind == "deb":
        return where
    module, sub = where.split(":")
    try:
        mod = __import__(module, fromlist=["__file__"])
    except ImportError:
        return None
    return Path(mod.__file__).resolve().parent / sub


def _full_files(name):
    """[(label, path)] of the photographs of a -full / -heldout set; ImportError
    naming the packages to install when any is missing."""
    photos = PHOTOGRAPHS[_photo_key(name)]
    files, missing = [], []
    for label, pkg, rel, _ in photos:
        root = _package_root(pkg)
        path = root / rel if root is not None else None
        if path is None or not path.is_file():
            missing.append(pkg)
        else:
            files.append((label, path))
    if missing:
        debs = sorted({p for p in missing if _ROOTS[p][0] == "deb"})
        pys = sorted({p for p in missing if _ROOTS[p][0] == "py"})
        how = []
        if debs:
            how.append(f"'apt-get install {' '.join(debs)}'")
        if pys:
            how.append(f"'pip install {' '.join(pys)}'")
        raise ImportError(
            f"source {name!r} is cut from photographs installed by packages that are "
            f"missing here ({len(missing)} of {len(photos)} photographs): run "
            f"{' and '.join(how)}, or use the built-in set {name.split('-')[0]!r}")
    return files


@functools.lru_cache(maxsize=64)
def _read_photograph(path, grey):
    """A -full photograph, scaled down so its shorter side is at most FULL_SHORT_SIDE
    (read-only: cached, since decoding the large wallpapers takes seconds)."""
    img = _read_image(path, grey)
    if img is None:
        raise ValueError(f"photograph {str(path)!r} could not be decoded; reinstall its package")
    h, w = img.shape[-2:]
    scale = FULL_SHORT_SIDE / min(h, w)
    if scale < 1.0:
        img = _resize_cover(img, (round(h * scale), round(w * scale)))
    img.flags.writeable = False
    return img


@functools.lru_cache(maxsize=8)
def _full_crop_counts(files):
    return [len(_grid_crops(_read_photograph(path, True))) for _, path in files]


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
