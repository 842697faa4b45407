"""What the commands share: reading images and models as the command line
takes them, progress bars, and checks of flags that name the flag."""
from __future__ import annotations

import math
import warnings

import numpy as np


def _prepare(images, normalize):
    """Contrast-normalise (the paper's preprocessing) and make every image (K0, P, Q)."""
    from ..preprocess import contrast_normalize
    out = [contrast_normalize(im) for im in images] if normalize else images
    return [im[None] if im.ndim == 2 else im for im in out]


def _load_model(path):
    from ..model import DeconvNet
    return DeconvNet.load(path)


def _load_one(path, size=None, color=False):
    from .._files import check_regular, shown
    from ..data import load_images
    check_regular(path, "image")
    with warnings.catch_warnings(record=True) as said:  # one file: its failure is the error
        warnings.simplefilter("always")
        try:
            ims = load_images(path, size=size, grey=not color)
        except ValueError:
            ims = []
    if not ims:
        why = str(said[0].message).split(": ", 1)[-1] if said else "no image in it"
        raise ValueError(f"image {shown(path)} cannot be read: {why}")
    for w in said:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if len(ims) != 1:
        print(f"note: {shown(path)} holds {len(ims)} images; using the first")
    return ims[0]


def _orientation_note(path):
    """", turned upright by its EXIF orientation (rotated 90 degrees)" or ""."""
    from ..data import exif_orientation
    o = exif_orientation(path)
    if o in (None, 1):
        return ""
    from ..data import EXIF_ORIENTATIONS
    return f", turned upright by its EXIF orientation {o} ({EXIF_ORIENTATIONS[o]})"


def _sizes(arrs):
    """``"1024x768"`` (width x height) for one size, ``"100x100 each"``, or the
    commonest sizes with counts."""
    from collections import Counter
    c = Counter(f"{a.shape[-1]}x{a.shape[-2]}" for a in arrs)
    if len(c) == 1:
        return next(iter(c)) + (" each" if len(arrs) > 1 else "")
    top = ", ".join(k + (f" x{v}" if v > 1 else "") for k, v in c.most_common(3))
    return top + (f", ... ({len(c)} sizes)" if len(c) > 3 else "")


def _mode(color):
    return ("colour, RGB kept as 3 input channels (grey files repeated over them, any alpha "
            "dropped)" if color else
            "grey (colour converted to luma, ITU-R BT.601; any alpha dropped)")


def _image_for_model(net, path, size, model_path):
    """One image read for ``net`` (grey or RGB as its layer 1 takes), resized with
    ``size``, preprocessed as the model was trained; what was done is printed."""
    K0 = net.layers[0].in_channels
    if K0 not in (1, 3):
        raise ValueError(f"{model_path} takes {K0} input channels: the command line reads "
                         "grey (1) or RGB (3) images")
    color = K0 == 3
    img = _load_one(path, color=color)
    orig = img
    if size:
        from ..data import resize_and_tile
        img = resize_and_tile(img, size=size)[0]
    normalize = net.meta.get("preprocess") == "contrast_normalize"
    y = _prepare([img], normalize)[0]
    steps = [f"{'RGB' if color else 'grey'}"]
    steps.append(f"resized to {_sizes([img])}" if size else "full size")
    steps.append(f"contrast-normalised to {_sizes([y])}" if normalize else "not normalised")
    print(f"image {path}: {_sizes([orig])}{_orientation_note(path)}; " + ", ".join(steps))
    return img, y


def _bar(quiet, total, desc):
    if quiet:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, unit="step", leave=True)


def _agg():
    import matplotlib
    matplotlib.use("Agg")


class Number(float):
    """A float option that remembers the text it was given, so that messages
    print the value as the user typed it (``1.0000001``, not ``1``)."""

    text: str

    def __new__(cls, text):
        v = super().__new__(cls, text)
        v.text = str(text).strip()
        return v

    def __repr__(self):
        return self.text

    __str__ = __repr__


def number(text):
    """argparse ``type`` of float options (see :class:`Number`)."""
    return Number(text)


def integer(text):
    """argparse ``type`` of integer options (``int``, named for argparse's message)."""
    return int(text)


def _given(v):
    return v.text if isinstance(v, Number) else repr(v) if isinstance(v, float) else str(v)


def _check_int(flag, v, lo, hi=None, what=""):
    if v is None:
        return v
    if v < lo or (hi is not None and v > hi):
        rng = f"from {lo} to {hi}" if hi is not None else f">= {lo}"
        raise ValueError(f"{flag} must be {rng}{what}, got {v}")
    return v


def _check_float(flag, v, lo=None, positive=False, hi=None):
    """``v`` finite, > 0 with ``positive``, within ``[lo, hi]``; the message states
    the whole range and the value as given."""
    if not math.isfinite(v):
        raise ValueError(f"{flag} must be a finite number, got {_given(v)}")
    low = "> 0" if positive else None if lo is None else f">= {lo:g}"
    rng = " and ".join(r for r in (low, None if hi is None else f"<= {hi:g}") if r)
    if (positive and v <= 0) or (lo is not None and v < lo) or (hi is not None and v > hi):
        if positive and hi is None and lo is None:
            raise ValueError(f"{flag} must be positive, got {_given(v)}")
        raise ValueError(f"{flag} must be {rng}, got {_given(v)}")
    return v


#: Largest value of count options (thread counts, image sizes, epochs ...).
MAX_THREADS = 1024
MAX_SIDE = 8192
MAX_SEED = 2 ** 32 - 1


def _guard(path, args, inputs=(), command=None, file=True, what="--out"):
    """:func:`numbadn._files.check_output` for the command line (``--force``)."""
    from .._files import check_output
    return check_output(path, inputs=[i for i in inputs if i], command=command or args.command,
                        force=getattr(args, "force", False), file=file, what=what)


class _writing:
    """Context for writing ``path``: an ``OSError`` becomes one line, "cannot write
    PATH: reason; what to do"."""

    def __init__(self, path):
        self.path = path

    def __enter__(self):
        return self.path

    def __exit__(self, kind, exc, tb):
        if isinstance(exc, OSError):
            from .._files import cannot_write
            raise cannot_write(self.path, exc) from None
        return False


def _record(args, paths):
    from .._files import record_written
    record_written([p for p in paths if p], args.command)


def _check_layer(args, net):
    if args.layer is not None:
        _check_int("--layer", args.layer, 1, net.trained_,
                   f" (the model has {net.trained_} trained layer(s))")


def _check_not_flat(path, img):
    if float(np.ptp(img)) == 0.0:
        raise ValueError(f"image {path} is flat (every pixel {float(img.flat[0]):g}): there "
                         "is nothing to reconstruct and its SNR is undefined")


def _pixel_filters(net, layer):
    """Pixel-space filters to draw: RGB tiles for a colour model, else channel 0."""
    pf = net.pixel_filters(layer)
    return pf if pf.shape[1] == 3 else pf[:, 0]
