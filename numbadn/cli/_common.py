"""What the commands share: reading images and models as the command line
takes them, progress bars, and checks of flags that name the flag."""
from __future__ import annotations

import math
import sys

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
    from ..data import load_images
    ims = load_images(path, size=size, grey=not color)
    if len(ims) != 1:
        print(f"note: {path} holds {len(ims)} images; using the first", file=sys.stderr)
    return ims[0]


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
    print(f"image {path}: {_sizes([orig])}; " + ", ".join(steps))
    return img, y


def _bar(quiet, total, desc):
    if quiet:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, unit="step", leave=True)


def _agg():
    import matplotlib
    matplotlib.use("Agg")


def _check_int(flag, v, lo, hi=None, what=""):
    if v is None:
        return v
    if v < lo or (hi is not None and v > hi):
        rng = f"from {lo} to {hi}" if hi is not None else f">= {lo}"
        raise ValueError(f"{flag} must be {rng}{what}, got {v}")
    return v


def _check_float(flag, v, lo=None, positive=False, hi=None):
    if not math.isfinite(v):
        raise ValueError(f"{flag} must be a finite number, got {v}")
    if positive and v <= 0:
        raise ValueError(f"{flag} must be positive, got {v:g}")
    if lo is not None and v < lo:
        raise ValueError(f"{flag} must be >= {lo:g}, got {v:g}")
    if hi is not None and v > hi:
        raise ValueError(f"{flag} must be <= {hi:g}, got {v:g}")
    return v


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
