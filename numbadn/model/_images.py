"""Images as the model takes them: one image, a batch array or a list of images
(sizes may differ) turned into a list of (K0, P, Q) arrays, images computed on
demand, and maps stacked back when they share a size."""
from __future__ import annotations

import numpy as np

from .. import _validation as V

__all__ = ["LazyImages", "as_image_list", "check_masks", "stack_if_same"]


class LazyImages:
    """A sequence of images computed on demand (``get(i)``), for :meth:`DeconvLayer.fit`
    on inputs too large to hold in memory (e.g. the maps of the layer below).

    Parameters
    ----------
    n : int
        Number of images.
    get : callable
        ``get(i)`` returns image ``i``, a (K0, P, Q) array.
    """

    def __init__(self, n, get):
        self.n = n
        self.get = get

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return self.get(i)


def as_image_list(images, in_channels, dtype, name="images"):
    """Images as a list of C-contiguous (K0, P, Q) arrays of ``dtype``.

    Parameters
    ----------
    images : array or list of arrays
        One (P, Q) or (K0, P, Q) array, an (n, K0, P, Q) array, or a list of
        (P, Q) / (K0, P, Q) arrays of possibly different sizes.
    in_channels : int
        ``K0`` expected.
    dtype : numpy dtype
        Floating type of the returned arrays.
    name : str
        The argument's name, for error messages.

    Returns
    -------
    list of ndarray of shape (K0, P, Q)
    """
    if isinstance(images, np.ndarray) and images.ndim == 4:
        items = list(images)
    elif isinstance(images, np.ndarray):
        items = [images]
    elif isinstance(images, (list, tuple)):
        items = list(images)
    else:
        raise TypeError(f"{name} must be an array or a list of arrays, got {type(images).__name__}")
    if not items:
        raise ValueError(f"{name} is empty: give at least one image")
    out = []
    for i, im in enumerate(items):
        nm = f"{name}[{i}]" if len(items) > 1 else name
        a = V.as_float_array(nm, im, (2, 3), dtype)
        if a.ndim == 2:
            a = a[None]
        if a.shape[0] != in_channels:
            raise ValueError(
                f"{nm} has {a.shape[0]} channel(s) but the layer has in_channels="
                f"{in_channels}: expected shape ({in_channels}, P, Q)"
                + (" or (P, Q); for a batch pass a list of images or an (n, 1, P, Q) array"
                   if in_channels == 1 and a.ndim == 3 and len(items) == 1 else
                   " or (P, Q)" if in_channels == 1 else ""))
        out.append(a)
    return out


def check_masks(masks, images):
    """Per-pixel weights for a list of images (``fit``'s ``masks=``), checked.

    Parameters
    ----------
    masks : list of array_like or None, an (n, ...) array, or None
        One per image: weights in [0, 1] of the image's shape (or without its
        channel axis); None in the list for a whole image.
    images : list of ndarray
        The (K0, P, Q) images.

    Returns
    -------
    list of ndarray or None
        Weights of each image's shape and dtype, or None without masks.
    """
    if masks is None:
        return None
    if isinstance(images, LazyImages):
        raise ValueError("masks need the images in memory, not LazyImages")
    if isinstance(masks, np.ndarray) and masks.ndim >= 3:
        masks = list(masks)  # an (n, P, Q) or (n, K0, P, Q) stack
    if not isinstance(masks, (list, tuple)):
        raise TypeError("masks must be a list with one mask (or None) per image, "
                        f"got {type(masks).__name__}")
    if len(masks) != len(images):
        raise ValueError(f"masks must give one mask per image: {len(images)} images, "
                         f"{len(masks)} masks")
    return [V.check_mask(np.ones(y.shape, y.dtype) if m is None else m, y.shape, y.dtype,
                         f"masks[{i}]")
            for i, (m, y) in enumerate(zip(masks, images))]


def stack_if_same(arrays):
    """One array when every array has the same shape, else the list."""
    if len({a.shape for a in arrays}) == 1:
        return np.stack(arrays)
    return list(arrays)
