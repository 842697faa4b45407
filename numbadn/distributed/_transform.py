""":func:`transform`: feature maps of many images, inferred on the workers."""
from __future__ import annotations

import contextlib
import os

import numpy as np

from .. import _validation as V
from .._jit import check_n_threads, threads
from ..model import DeconvLayer, DeconvNet
from ._cluster import (_chunks, _client, _gather, _identity, _in_channels, _model_dtype,
                       _out_shape, _require, _slim)
from ._sources import (_Arrays, _Files, _as_arrays, _check_image, _is_dask_array, _is_paths,
                       load_image)
from ._store import _create, _open, _write_rows
from ._warm import images_per_task as auto_per_task
from ._warm import prepare, stage


def _infer_one(model, y, layer, n_threads, options):
    if isinstance(model, DeconvNet):
        return model.infer(y, layer=layer, n_jobs=n_threads, **options)
    return model.infer(y, n_jobs=n_threads, **options)


def _transform_task(model, src, idx, out, layer, n_threads, options, dtype):
    """Infer images ``idx`` of ``src`` and write their maps to the Zarr array ``out``."""
    with stage("task", len(idx)):  # the whole task: the stages inside and what they miss
        K0 = _in_channels(model)
        zs = []
        with threads(n_threads):  # also for any kernel the model runs without n_threads
            for i, y in zip(idx, src.load(idx)):
                y = _check_image(y, i, K0, _model_dtype(model))
                with stage("infer", 1):
                    zs.append(_infer_one(model, y, layer, n_threads, options).astype(
                        dtype, copy=False))
        _write_rows(out, idx, zs)  # one zarr call for the task's consecutive images
    return len(idx)


def _transform_block(block, model, layer, n_threads, options, dtype):
    """``map_blocks`` body: (b, K0, P, Q) -> (b, K, M, N)."""
    K0 = _in_channels(model)
    with threads(n_threads):
        return np.stack([_infer_one(model, _check_image(y, i, K0, _model_dtype(model)),
                                    layer, n_threads, options).astype(dtype, copy=False)
                         for i, y in enumerate(block)])


def transform(model, images, store=None, *, client=None, layer=None, images_per_task=None,
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
        Needed except for a Dask array input.  Written under a temporary name
        next to it and renamed when complete: an error or an interruption
        leaves no half-written array at ``store`` (an older array there is
        replaced only by a complete one).
    client : distributed.Client, optional
        Default: the running client.
    layer : int, optional
        For a DeconvNet, which layer's maps (default: the top trained one).
    images_per_task : int, optional
        Images per task.  None: as many as take about 0.2 s (timed on the
        workers when the call starts: Dask spends a fixed time on every task,
        measured in ``docs/scaling.md``), at most ``n / workers``.
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
    if images_per_task is not None:
        images_per_task = V.check_int("images_per_task", images_per_task, 1)
    n_threads = check_n_threads(n_threads)
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {np.dtype(dtype)}")
    if isinstance(model, DeconvNet):
        trained = getattr(model, "trained_", 0)
        if layer is None:
            layer = trained or len(model.layers)
        layer = V.check_int("layer", layer, 1)
        if layer > len(model.layers):
            raise ValueError(f"layer must be from 1 to {len(model.layers)}, got {layer}")
        if trained < layer - 1:
            raise ValueError(f"layer {layer} needs layers 1..{layer - 1} trained first "
                             f"(trained: {trained})")
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
        with _staged(store) as tmp:
            client.compute(lazy.to_zarr(tmp, overwrite=True, compute=False)).result()
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
    with _staged(store) as tmp:
        _create(tmp, (n,) + _out_shape(model, layer, first.shape), dtype)
        workers, per_image, _ = prepare(client, model, src, tmp, n_threads, "transform",
                                        layer, options, time_image=images_per_task is None)
        if images_per_task is None:
            images_per_task = auto_per_task(per_image, n, len(workers))
        fm = client.submit(_identity, slim, pure=False)
        futs = []
        for k, idx in enumerate(_chunks(range(n), images_per_task)):
            futs.append(client.submit(_transform_task, fm, src.part(idx), idx, tmp, layer,
                                      n_threads, options, np.dtype(dtype), pure=False,
                                      workers=[workers[k % len(workers)]],
                                      allow_other_workers=True))
        try:
            _gather(client, futs)
        except BaseException:
            _settle(futs)  # tasks still running would write into the removed array
            raise
    return _open(store, mode="r")


def _settle(futs, timeout=120):
    """Wait (at most ``timeout`` s) until every task of a failed call has ended."""
    from distributed import wait
    try:
        wait(futs, timeout=timeout)
    except Exception:  # noqa: BLE001 - the call's own error is the one to report
        pass


@contextlib.contextmanager
def _staged(store):
    """A temporary path next to ``store`` to write the array into, renamed to
    ``store`` when the body ends without error (removed otherwise)."""
    import shutil
    import uuid
    store = os.path.abspath(os.fspath(store))
    if os.path.exists(store) and not _is_zarr(store):
        raise FileExistsError(f"store {store} exists and is not a Zarr array: give a new "
                              "path (transform replaces only a Zarr array)")
    tmp = f"{store}.partial-{uuid.uuid4().hex[:8]}"
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if os.path.exists(store):
        shutil.rmtree(store)
    os.rename(tmp, store)


def _is_zarr(path):
    return os.path.isdir(path) and any(os.path.exists(os.path.join(path, m)) for m in
                                       ("zarr.json", ".zarray"))
