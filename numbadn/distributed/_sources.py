"""Where the tasks of :mod:`numbadn.distributed` find their images: arrays
carried in the tasks, a Zarr array, or files loaded on the workers; and the
checks every image passes."""
from __future__ import annotations

import os

import numpy as np

from .. import _validation as V
from ._store import _create, _open


def load_image(path):
    """The default loader of image files on the workers: greyscale in [0, 1],
    then :func:`numbadn.preprocess.contrast_normalize` (96x96 from 100x100).

    Parameters
    ----------
    path : str or path-like
        An image file.

    Returns
    -------
    ndarray of shape (P - 4, Q - 4)
        The contrast-normalised image.
    """
    from ..data import load_images
    from ..preprocess import contrast_normalize
    return contrast_normalize(load_images(os.fspath(path))[0])


class _Arrays:
    """Images carried in the task itself (a list of arrays)."""

    def __init__(self, ims, offset=0):
        self.ims, self.offset = ims, offset

    def __len__(self):
        return len(self.ims)

    def part(self, idx):
        return _Arrays([self.ims[i] for i in idx], idx[0])

    def load(self, idx):
        return [self.ims[i - self.offset] for i in idx]


class _Zarr:
    """Images in a Zarr array ``(n, K0, P, Q)``, read by the tasks."""

    def __init__(self, path, n):
        self.path, self.n = path, n

    def __len__(self):
        return self.n

    def part(self, idx):
        return self

    def load(self, idx):
        a = _open(self.path)
        return [np.asarray(a[i]) for i in idx]


class _Files:
    """Image files, loaded by the tasks with ``loader(path)``."""

    def __init__(self, paths, loader):
        self.paths, self.loader = paths, loader

    def __len__(self):
        return len(self.paths)

    def part(self, idx):
        return _Files({i: self.paths[i] for i in idx}, self.loader)

    def load(self, idx):
        return [self.loader(self.paths[i]) for i in idx]


def _is_paths(images):
    return isinstance(images, (list, tuple)) and bool(images) and all(
        isinstance(p, (str, os.PathLike)) for p in images)


def _is_dask_array(images):
    try:
        import dask.array as da
    except ImportError:
        return False
    return isinstance(images, da.Array)


def _as_arrays(images, name="images"):
    """A list of arrays from an (n, K0, P, Q) / (n, P, Q) array or a list."""
    if isinstance(images, np.ndarray):
        if images.ndim not in (3, 4):
            raise ValueError(f"{name} as one array must be (n, P, Q) or (n, K0, P, Q), got "
                             f"shape {images.shape}")
        return list(images)
    if isinstance(images, (list, tuple)):
        if not images:
            raise ValueError(f"{name} is empty: give at least one image")
        return list(images)
    raise TypeError(f"{name} must be an array, a list of arrays, a list of file paths or a "
                    f"Dask array, got {type(images).__name__}")


def _check_image(y, i, in_channels, dtype, shape=None, name="images"):
    nm = f"{name}[{i}]"
    a = V.as_float_array(nm, y, (2, 3), dtype)
    if a.ndim == 2:
        a = a[None]
    if a.shape[0] != in_channels:
        raise ValueError(f"{nm} has {a.shape[0]} channel(s) but the model has in_channels="
                         f"{in_channels}: expected shape ({in_channels}, P, Q)")
    if shape is not None and a.shape != tuple(shape):
        raise ValueError(f"{nm} has shape {a.shape} but images[0] has {tuple(shape)}: "
                         "numbadn.distributed needs images of one size")
    return np.ascontiguousarray(a)


def _fit_source(client, layer, images, store, loader):
    """Where the tasks find the images, and their (K0, P, Q) shape."""
    os.makedirs(store, exist_ok=True)
    K0 = layer.in_channels
    path = os.path.join(store, "inputs")
    if isinstance(images, _Zarr):  # the inputs fit_network wrote for a higher layer
        a = _open(images.path, mode="r")
        if a.shape[1] != K0:
            raise ValueError(f"{images.path} holds {a.shape[1]} channels, layer has {K0}")
        return images, tuple(a.shape[1:])
    if _is_paths(images):
        src = _Files(list(images), loader)
        first = _check_image(client.submit(loader, src.paths[0], pure=False).result(), 0, K0,
                             layer.dtype)
        return src, first.shape
    if _is_dask_array(images):
        x = images[:, None] if images.ndim == 3 else images
        if x.ndim != 4 or x.shape[1] != K0:
            raise ValueError(f"images as a Dask array must be (n, P, Q) or (n, {K0}, P, Q), "
                             f"got shape {images.shape}")
        x = x.astype(layer.dtype).rechunk((1, -1, -1, -1))
        client.compute(x.to_zarr(path, overwrite=True, compute=False)).result()
        return _Zarr(path, x.shape[0]), tuple(x.shape[1:])
    ims = _as_arrays(images)
    first = _check_image(ims[0], 0, K0, layer.dtype)
    a = _create(path, (len(ims),) + first.shape, layer.dtype)
    for i, y in enumerate(ims):
        a[i] = _check_image(y, i, K0, layer.dtype, first.shape)
    return _Zarr(path, len(ims)), first.shape
