""":func:`transform`: feature maps of many images, inferred on the workers."""
from __future__ import annotations

import os

import numpy as np

from .. import _validation as V
from .._jit import check_n_threads, threads
from ..model import DeconvLayer, DeconvNet
from ._cluster import (_chunks, _client, _identity, _in_channels, _model_dtype, _out_shape,
                       _require, _slim)
from ._sources import (_Arrays, _Files, _as_arrays, _check_image, _is_dask_array, _is_paths,
                       load_image)
from ._store import _create, _open


def _infer_one(model, y, layer, n_threads, options):
    if isinstance(model, DeconvNet):
        return model.infer(y, layer=layer, n_threads=n_threads, **options)
    return model.infer(y, n_threads=n_threads, **options)


def _transform_task(model, src, idx, out, layer, n_threads, options, dtype):
    """Infer images ``idx`` of ``src`` and write their maps to the Zarr array ``out``."""
    a = _open(out, mode="r+")
    K0 = _in_channels(model)
    with threads(n_threads):  # also for any kernel the model runs without n_threads
        for i, y in zip(idx, src.load(idx)):
            y = _check_image(y, i, K0, _model_dtype(model))
            a[i] = _infer_one(model, y, layer, n_threads, options).astype(dtype, copy=False)
    return len(idx)


def _transform_block(block, model, layer, n_threads, options, dtype):
    """``map_blocks`` body: (b, K0, P, Q) -> (b, K, M, N)."""
    K0 = _in_channels(model)
    with threads(n_threads):
        return np.stack([_infer_one(model, _check_image(y, i, K0, _model_dtype(model)),
                                    layer, n_threads, options).astype(dtype, copy=False)
                         for i, y in enumerate(block)])


def transform(model, images, store=None, *, client=None, layer=None, images_per_task=4,
              n_threads=1, loader=load_image, dtype=np.float32, **options):
    """Feature maps of many images, inferred on the workers of a Dask cluster.

    Each map is ``model.infer(image)`` (or ``model.infer(image, layer=layer)``
    for a :class:`~numbadn.DeconvNet`), bit for bit, cast to ``dtype``.

    Parameters
    ----------
    model : DeconvLayer or DeconvNet
        Sent to the workers without its warm-start maps.
    images : list of arrays, (n, P, Q) / (n, K0, P, Q) array, list of file paths, or Dask array
        Images of one size.  Arrays travel inside the tasks (``images_per_task``
        per task); files are read on the workers with ``loader``; a Dask
        array is transformed lazily with ``map_blocks`` (one task per chunk
        of its first axis).
    store : str or path, optional
        Zarr array to write: shape ``(n, K, M, N)``, one chunk per image.
        Needed except for a Dask array input.
    client : distributed.Client, optional
        Default: the running client.
    layer : int, optional
        For a DeconvNet, which layer's maps (default: the top trained one).
    images_per_task : int
        Images per task.  Dask spends a fixed time on every task (measured
        in ``docs/scaling.md``): give each task at least ~100 times that in work.
    n_threads : int
        Numba threads per task (1: one Dask thread per core does the rest).
    loader : callable
        ``loader(path) -> (P, Q) or (K0, P, Q) array`` for file paths, run on
        the workers (default :func:`load_image`).
    dtype : float32 or float64
        Of the stored maps.
    **options
        Inference options (``solver=``, ...), as for ``model.infer``.

    Returns
    -------
    zarr.Array or dask.array.Array
        The Zarr array written (opened read-only); for a Dask array input
        without ``store``, the lazy Dask array of maps.
    """
    _require()
    if not isinstance(model, (DeconvLayer, DeconvNet)):
        raise TypeError(f"model must be a DeconvLayer or DeconvNet, got {type(model).__name__}")
    images_per_task = V.check_int("images_per_task", images_per_task, 1)
    n_threads = check_n_threads(n_threads)
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {np.dtype(dtype)}")
    if isinstance(model, DeconvNet):
        layer = model._layer_index(layer)
        if model.trained_ < layer - 1:
            raise ValueError(f"layer {layer} needs layers 1..{layer - 1} trained first "
                             f"(trained: {model.trained_})")
    elif layer not in (None, 1):
        raise ValueError(f"layer must be None or 1 for a DeconvLayer, got {layer!r}")
    slim = _slim(model)
    K0 = _in_channels(model)
    if _is_dask_array(images):
        x = images
        if x.ndim == 3:
            x = x[:, None]
        if x.ndim != 4 or x.shape[1] != K0:
            raise ValueError(f"images as a Dask array must be (n, P, Q) or (n, {K0}, P, Q), "
                             f"got shape {images.shape}")
        x = x.rechunk({1: -1, 2: -1, 3: -1})
        K, M, N = _out_shape(model, layer, x.shape[1:])
        import dask
        lazy = x.map_blocks(_transform_block, dask.delayed(slim, pure=False, traverse=False),
                            layer, n_threads, options, np.dtype(dtype), dtype=np.dtype(dtype),
                            chunks=(x.chunks[0], (K,), (M,), (N,)))
        if store is None:
            return lazy
        client = _client(client)
        lazy = lazy.rechunk({0: 1})
        client.compute(lazy.to_zarr(os.fspath(store), overwrite=True, compute=False)).result()
        return _open(store, mode="r")
    if store is None:
        raise ValueError("store is None: give the path of the Zarr array to write")
    client = _client(client)
    if _is_paths(images):
        src = _Files(list(images), loader)
        first = _check_image(client.submit(loader, src.paths[0], pure=False).result(), 0, K0,
                             _model_dtype(model))
    else:
        ims = _as_arrays(images)
        first = _check_image(ims[0], 0, K0, _model_dtype(model))
        ims = [_check_image(y, i, K0, _model_dtype(model), first.shape)
               for i, y in enumerate(ims)]
        src = _Arrays(ims)
    n = len(src)
    out = _create(store, (n,) + _out_shape(model, layer, first.shape), dtype)
    fm = client.submit(_identity, slim, pure=False)
    futs = [client.submit(_transform_task, fm, src.part(idx), idx, os.fspath(store), layer,
                          n_threads, options, np.dtype(dtype), pure=False)
            for idx in _chunks(range(n), images_per_task)]
    client.gather(futs)
    del out
    return _open(store, mode="r")
