"""Learning and inference over a Dask cluster (``pip install 'numbadn[dask]'``).

Per-image inference is independent and the filter sub-problem of eq. 9 needs
only sums over images, so both split over machines.  This module runs them on
`Dask's distributed scheduler <https://distributed.dask.org>`_ (a
``LocalCluster`` on one machine, or ``dask scheduler`` / ``dask worker`` on
many) and keeps everything that grows with the number of images on the
workers, in Zarr:

* :func:`transform` infers the maps of many images (arrays, a Dask array, or
  files loaded on the workers) and writes them to a Zarr array chunked per
  image; each map is bit-identical to ``model.infer(image)`` in one process.
* :func:`fit` learns a :class:`~numbadn.DeconvLayer`'s filters.  Each task
  infers a shard of images warm-started from their maps of the previous epoch
  (read from the worker's memory, or from Zarr when the task landed elsewhere)
  and writes the new maps to Zarr; maps never travel to the client.  The
  filter step (eq. 9) is CG on the normal equations ``sum_i Z_i^T Z_i f =
  sum_i Z_i^T y_i``, run on the client as an all-reduce: every CG product is
  one round of tasks that each return ``Z_i^T Z_i d`` summed over their shard
  (a filter-sized array), and the client adds the shards in shard order.  So
  ``update="batch"`` takes the same steps as ``DeconvLayer(update="batch")``
  in one process: the same filters up to float rounding, whatever the number
  of workers and the order in which they answer (bit for bit with one image
  per task).

The single-process default, online updates after every image, is a sequential
chain; two parallel approximations are offered: ``update="minibatch"`` (the
batch step after every ``batch_size`` images: 1 is online, ``n`` is batch) and
``update="averaged"`` (each of ``n_streams`` tasks runs online updates on its
own images from the shared filters for ``sync_every`` images; the client
averages the streams' filters in stream order and renormalises).

Faults: every task is a pure function of its arguments and of Zarr data that
no running task overwrites (maps alternate between two buffers, epoch ``e``
reads buffer ``(e-1) % 2`` and writes ``e % 2``), so when a worker dies Dask
recomputes its tasks elsewhere and the result is the same.  After every epoch
the client writes ``checkpoint.npz`` into the store (filters, epoch, history);
``fit(..., resume=True)`` continues from it with the workers' maps in Zarr,
without recomputing the warm-start chain.

Pitfalls this module avoids: numba threads times Dask threads oversubscribe
the cores (every task runs ``n_threads`` numba threads, 1 by default: run one
Dask thread per core); ``NUMBA_NUM_THREADS`` set in a worker's environment
after numba was imported is ignored (hence the per-task count); a model sent
to the workers is stripped of its warm-start maps; inputs are never
``scatter``-ed (scattered data dies with its worker): arrays are written to
Zarr once, files are loaded inside the tasks.

The store is a folder on a file system that the client and every worker see
(local disk for a ``LocalCluster``, NFS or similar for a real cluster).
"""
from __future__ import annotations

import copy
import math
import os
import threading
import time
import uuid

import numpy as np

from . import _validation as V
from ._jit import check_n_threads, threads
from .kernels import conv_valid
from .model import DeconvLayer, DeconvNet
from .solvers._cg import cg
from .kernels._steps import sum_abs_p
from .solvers.filters import filter_grad_sum, filter_gram_sum, normalize_planes, update_filters

__all__ = ["fit", "fit_network", "transform", "load_image", "UPDATES", "CHECKPOINT"]

#: Filter updates :func:`fit` offers.
UPDATES = ("batch", "minibatch", "averaged")
#: Name of the checkpoint file :func:`fit` writes into its store.
CHECKPOINT = "checkpoint.npz"
_CKPT_VERSION = 1


def _require():
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
        import zarr  # noqa: F401
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise ImportError("numbadn.distributed needs Dask and Zarr: "
                          "pip install 'numbadn[dask]'") from e


def _client(client):
    _require()
    from distributed import Client, get_client
    if client is None:
        try:
            return get_client()
        except ValueError:
            raise ValueError("client is None and no Dask client is running: pass client="
                             "distributed.Client(...) (e.g. Client(LocalCluster()))") from None
    if not isinstance(client, Client):
        raise TypeError(f"client must be a distributed.Client, got {type(client).__name__}")
    return client


# ---------------------------------------------------------------- images
def load_image(path):
    """The default loader of image files on the workers: greyscale in [0, 1],
    then :func:`numbadn.preprocess.contrast_normalize` (96x96 from 100x100)."""
    from .data import load_images
    from .preprocess import contrast_normalize
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


# ------------------------------------------------------------------ zarr
def _open(path, **kw):
    import zarr
    return zarr.open_array(store=os.fspath(path), **kw)


def _create(path, shape, dtype, chunk0=1):
    """A new Zarr array, one chunk per image, uncompressed (maps and images are
    dense floats: compression saves little and costs time on every read and
    write; measured in ``docs/scaling.md``)."""
    import zarr
    chunks = (chunk0,) + tuple(shape[1:])
    if hasattr(zarr, "create_array"):  # zarr 3
        return zarr.create_array(store=os.fspath(path), shape=shape, chunks=chunks,
                                 dtype=np.dtype(dtype), compressors=None, overwrite=True)
    return zarr.open_array(store=os.fspath(path), mode="w", shape=shape, chunks=chunks,
                           dtype=np.dtype(dtype), compressor=None)


# ------------------------------------------------------------------ models
def _slim(model):
    """A copy of a layer or network for the workers: no warm-start maps, no history."""
    if isinstance(model, DeconvNet):
        net = copy.copy(model)
        net.layers = [_slim(la) for la in model.layers]
        net._image_ids = []
        return net
    la = copy.copy(model)  # shallow: replace, never modify, what it shares with model
    if hasattr(la, "_state"):  # numbadn.model.training.TrainingState holds the maps
        la._state = type(la._state)()
    else:  # layers before numbadn.model
        la._maps = la._low = None
    la.history_ = []
    la.filters = np.array(model.filters)
    return la


def _in_channels(model):
    return model.layers[0].in_channels if isinstance(model, DeconvNet) else model.in_channels


def _out_shape(model, layer, in_shape):
    """(K, M, N) of the maps of ``layer`` for inputs of shape (K0, P, Q)."""
    layers = model.layers[:layer] if isinstance(model, DeconvNet) else [model]
    P, Q = in_shape[1:]
    for la in layers:
        h, w = la.filter_size
        P, Q = P + h - 1, Q + w - 1
    return (layers[-1].n_maps, P, Q)


def _model_dtype(model):
    return (model.layers[0] if isinstance(model, DeconvNet) else model).dtype


# --------------------------------------------------------------- transform
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
        lazy = x.map_blocks(_transform_block, dask.delayed(slim, pure=False, traverse=False), layer, n_threads,
                            options, np.dtype(dtype), dtype=np.dtype(dtype),
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


def _identity(x):
    return x


def _chunks(seq, size):
    seq = list(seq)
    return [seq[a:a + size] for a in range(0, len(seq), size)]


# ------------------------------------------------------ worker-side maps
_CACHE = {}
_CACHE_LOCK = threading.Lock()


def _maps_path(store, buf):
    return os.path.join(os.fspath(store), f"maps{buf}")


def _read_maps(store, buf, run, epoch, idx):
    """Maps of images ``idx`` at ``epoch``: from this worker's memory when it
    wrote them, else from Zarr (a task rescheduled after a worker died)."""
    out, missing = {}, []
    with _CACHE_LOCK:
        for i in idx:
            hit = _CACHE.get((os.fspath(store), i))
            if hit is not None and hit[0] == run and hit[1] == epoch:
                out[i] = hit[2]
            else:
                missing.append(i)
    if missing:
        a = _open(_maps_path(store, buf), mode="r")
        for i in missing:
            out[i] = np.asarray(a[i])
    return [out[i] for i in idx]


def _write_maps(store, buf, run, epoch, idx, zs):
    a = _open(_maps_path(store, buf), mode="r+")
    for i, z in zip(idx, zs):
        a[i] = z
    if run is None:  # keep_maps_in_memory=False
        return
    with _CACHE_LOCK:
        if any(v[0] != run for v in _CACHE.values()):
            _CACHE.clear()  # memory for one fit at a time: an older run's maps go
        for i, z in zip(idx, zs):
            _CACHE[(os.fspath(store), i)] = (run, epoch, z)


def _clear_cache():
    with _CACHE_LOCK:
        n = len(_CACHE)
        _CACHE.clear()
    return n


# ------------------------------------------------------------ fit tasks
def _image_costs(layer, Y, Z):
    """Eq. 3 per image (float64), as ``numbadn.inference.cost`` sums them."""
    from .solvers.inference import cost
    return np.array([cost(Y[j:j + 1], Z[j:j + 1], layer.filters, layer.connectivity,
                          lam=layer.lam, p=layer.p) for j in range(len(Y))])


def _infer_grad_task(layer, src, idx, store, run, epoch, n_threads, fault=None):
    """Infer images ``idx`` warm-started from their maps of ``epoch - 1``, write the
    maps of ``epoch``; return (per-image costs, their summed eq. 9 gradient)."""
    if fault is not None:
        fault(idx, epoch)
    ys = [_check_image(y, i, layer.in_channels, layer.dtype) for i, y in
          zip(idx, src.load(idx))]
    Y = np.stack(ys)
    Z0 = None if epoch == 0 else np.stack(_read_maps(store, (epoch - 1) % 2, run, epoch - 1,
                                                      idx))
    with threads(n_threads):
        Z = layer.infer(Y, z0=Z0, n_threads=n_threads)
        zs = list(Z)
        _write_maps(store, epoch % 2, run, epoch, idx, zs)
        costs = _image_costs(layer, Y, Z)
        grad = filter_grad_sum(layer.filters, layer.connectivity, zs, ys)
    return costs, grad


def _gram_task(d, g, idx, store, run, epoch, n_threads):
    """``sum_i Z_i^T Z_i d`` over images ``idx`` (their maps of ``epoch``)."""
    zs = _read_maps(store, epoch % 2, run, epoch, idx)
    with threads(n_threads):
        return filter_gram_sum(d, g, zs)


def _online_task(layer, src, idx, store, run, epoch, n_threads, fault=None):
    """Online updates (as ``DeconvLayer(update="online")``) over images ``idx`` from
    ``layer``'s filters; return (per-image costs, the filters reached)."""
    if fault is not None:
        fault(idx, epoch)
    f, g = np.array(layer.filters), layer.connectivity
    ys = [_check_image(y, i, layer.in_channels, layer.dtype) for i, y in
          zip(idx, src.load(idx))]
    z0s = [None] * len(idx) if epoch == 0 else \
        _read_maps(store, (epoch - 1) % 2, run, epoch - 1, idx)
    costs, zs = [], []
    with threads(n_threads):
        for y, z0 in zip(ys, z0s):
            z = _infer_with(layer, f, y, z0, n_threads)
            r = conv_valid(z, f, g) - y
            costs.append(0.5 * layer.lam * float(np.vdot(r, r)) + float(sum_abs_p(z, layer.p)))
            f = normalize_planes(update_filters(f, g, [z], [y], layer.filter_cg_iters, [r]), g)
            zs.append(z)
    _write_maps(store, epoch % 2, run, epoch, idx, zs)
    return np.array(costs), f.astype(np.float64)


def _infer_with(layer, f, y, z0, n_threads):
    from .solvers.inference import infer
    return infer(y, f, layer.connectivity, lam=layer.lam, p=layer.p, solver=layer.solver,
                 z0=z0, n_threads=n_threads, **layer.solver_options)


# ------------------------------------------------------------------- fit
class _Run:
    """The client's side of one distributed fit."""

    def __init__(self, client, layer, src, store, n_threads, images_per_task, fanin, fault,
                 keep):
        self.client, self.layer, self.src, self.store = client, layer, src, os.fspath(store)
        self.fanin = fanin
        self.n_threads, self.per_task, self.fault = n_threads, images_per_task, fault
        self.run = uuid.uuid4().hex if keep else None  # None: read every map from Zarr
        self.n = len(src)
        self.bytes_out = 0  # filter-sized messages sent to the workers
        self.bytes_in = 0  # returned to the client
        self.rounds = 0

    def _submit(self, fn, groups, first, *args):
        """One task per group of images, ``fn(*first(idx), idx, *args)``, each pinned
        (loosely) to a worker so that it finds the maps it wrote in memory; their
        results summed in group order (:func:`_sum_in_order`): on the client for
        up to ``fanin`` groups, else in a tree of tasks of ``fanin`` parts each."""
        workers = _workers(self.client)
        futs = []
        for gi, idx in enumerate(groups):
            # no worker known yet (a cluster still starting): let the scheduler choose
            pin = (dict(workers=[workers[gi % len(workers)]], allow_other_workers=True)
                   if workers else {})
            futs.append(self.client.submit(fn, *first(idx), idx, *args, pure=False, **pin))
        self.rounds += 1
        while len(futs) > self.fanin:
            futs = [self.client.submit(_sum_in_order, *futs[a:a + self.fanin], pure=False)
                    for a in range(0, len(futs), self.fanin)]
        parts = self.client.gather(futs)
        self.bytes_in += sum(_nbytes(p) for p in parts)
        return _sum_in_order(*parts)

    def _spec(self, f):
        la = _slim(self.layer)
        la.filters = f
        self.bytes_out += f.nbytes
        return self.client.submit(_identity, la, pure=False)

    def step(self, groups, epoch):
        """Infer ``groups`` of images, then the CG filter step (eq. 9) over them."""
        la, g = self.layer, self.layer.connectivity
        spec = self._spec(la.filters)
        costs, grad = self._submit(_infer_grad_task, groups,
                                   lambda idx: (spec, self.src.part(idx)),
                                   self.store, self.run, epoch, self.n_threads, self.fault)

        def gram(d):
            dd = self.client.submit(_identity, d, pure=False)
            self.bytes_out += d.nbytes
            return self._submit(_gram_task, groups, lambda idx: (dd, g), self.store,
                                self.run, epoch, self.n_threads)

        f = cg(gram, la.filters.copy(), -grad, la.filter_cg_iters)
        la.filters = normalize_planes(f, g)
        return costs

    def averaged(self, streams, epoch):
        spec = self._spec(self.layer.filters)
        costs, f = self._submit(_online_task, streams, lambda idx: (spec, self.src.part(idx)),
                                self.store, self.run, epoch, self.n_threads, self.fault)
        f /= len(streams)
        self.layer.filters = normalize_planes(f.astype(self.layer.dtype),
                                              self.layer.connectivity)
        return costs


def _sum_in_order(*parts):
    """``parts[0] + parts[1] + ...`` from zeros, in the order given; for
    ``(costs, array)`` pairs the costs are concatenated in that order."""
    if isinstance(parts[0], tuple):
        return (np.concatenate([p[0] for p in parts]), _sum_in_order(*[p[1] for p in parts]))
    out = np.zeros_like(parts[0])
    for p in parts:
        out += p
    return out


def _nbytes(part):
    return sum(_nbytes(p) for p in part) if isinstance(part, tuple) else part.nbytes


def _workers(client):
    """Addresses of the cluster's workers, sorted (every one: recent
    ``scheduler_info`` lists 5 unless told otherwise)."""
    import inspect
    kw = {"n_workers": -1} if "n_workers" in inspect.signature(
        client.scheduler_info).parameters else {}
    return sorted(client.scheduler_info(**kw)["workers"])


def fit(layer, images, epochs=3, *, store, client=None, update="batch", batch_size=None,
        n_streams=None, sync_every=None, images_per_task=4, n_threads=1, loader=load_image,
        reduce_fanin=64, keep_maps_in_memory=True, resume=False, callback=None, verbose=False,
        _fault=None, _inputs_id=""):
    """Learn ``layer``'s filters (Algorithm 1) on a Dask cluster.

    Parameters
    ----------
    layer : DeconvLayer
        Its filters are the start and are replaced by the learned ones;
        ``history_`` gets one entry per epoch (``cost``, ``seconds``, and
        ``rounds``: client-worker round trips).  Its own ``update`` setting
        is not used (see ``update``).  ``lowfreq`` layers are not supported.
    images : list of arrays, (n, P, Q) / (n, K0, P, Q) array, list of file paths, or Dask array
        Training images of one size (already preprocessed, except files,
        which ``loader`` reads and preprocesses on the workers).  Arrays
        and Dask arrays are written once to ``store/inputs`` (Zarr).
    epochs : int
        ``E`` (section 4: 3).
    store : str or path
        Folder on a file system the client and every worker see: the
        workers' maps (Zarr, two buffers), the inputs, ``checkpoint.npz``.
    client : distributed.Client, optional
        Default: the running client.
    update : {"batch", "minibatch", "averaged"}
        ``"batch"``: Algorithm 1 as printed, the same filters as
        ``DeconvLayer(update="batch").fit`` (float rounding).
        ``"minibatch"``: the same step after every ``batch_size`` images in
        order (each minibatch's images inferred in parallel).
        ``"averaged"``: images cut into ``n_streams`` contiguous streams (default:
        the number of workers); per round every stream takes online steps on
        its next ``sync_every`` images (default: all its images, one round per
        epoch) from the shared filters; the client averages them.
    images_per_task : int
        Images per task (batch and minibatch).
    n_threads : int
        Numba threads per task (1 by default; run one Dask thread per core).
    loader : callable
        ``loader(path) -> array`` for file paths (default :func:`load_image`).
    reduce_fanin : int
        The tasks' filter-sized results of each round are added in task order:
        on the client when there are at most this many tasks (then, with one
        image per task, the same additions as one process: bit for bit), else
        in a fixed tree of tasks adding this many each (float rounding), so the
        client receives at most this many arrays per round however many tasks
        there are.
    keep_maps_in_memory : bool
        True: each worker also keeps the maps it wrote in memory (what it holds
        is its share of the warm starts), and reads Zarr only for maps another
        worker wrote.  False: every task reads its maps from Zarr (memory
        independent of the number of images; 3 reads of each map per epoch).
    resume : bool
        Continue from ``store/checkpoint.npz`` if there is one (same images
        count, shape and settings), with the maps the workers left in Zarr.
    callback : callable, optional
        ``callback(layer, epoch, cost)`` after each epoch; True stops.
    verbose : bool
        One line per epoch on stdout.

    Returns
    -------
    layer
    """
    _require()
    if not isinstance(layer, DeconvLayer):
        raise TypeError(f"layer must be a DeconvLayer, got {type(layer).__name__}")
    if layer.lowfreq:
        raise ValueError("layer has lowfreq=True: numbadn.distributed.fit does not support "
                         "the z0 maps yet")
    epochs = V.check_int("epochs", epochs, 0)
    if update not in UPDATES:
        raise ValueError(f"update must be one of {UPDATES}, got {update!r}")
    images_per_task = V.check_int("images_per_task", images_per_task, 1)
    n_threads = check_n_threads(n_threads)
    reduce_fanin = V.check_int("reduce_fanin", reduce_fanin, 2)
    if store is None:
        raise ValueError("store is None: give a folder that the client and the workers see")
    store = os.path.abspath(os.fspath(store))
    client = _client(client)
    src, shape = _fit_source(client, layer, images, store, loader)
    n = len(src)
    if update == "minibatch":
        if batch_size is None:
            raise ValueError("update='minibatch' needs batch_size (1: online, n: batch)")
        batch_size = V.check_int("batch_size", batch_size, 1)
    elif batch_size is not None:
        raise ValueError(f"batch_size is for update='minibatch', not update={update!r}")
    if update == "averaged":
        n_streams = len(_workers(client)) if n_streams is None else \
            V.check_int("n_streams", n_streams, 1)
        n_streams = max(1, min(n_streams, n))
        sync_every = None if sync_every is None else V.check_int("sync_every", sync_every, 1)
    elif n_streams is not None or sync_every is not None:
        raise ValueError(f"n_streams and sync_every are for update='averaged', not "
                         f"update={update!r}")
    settings = dict(update=update, batch_size=batch_size or 0, n_streams=n_streams or 0,
                    sync_every=sync_every or 0, n=n, shape=list(shape), lam=layer.lam,
                    p=layer.p, n_maps=layer.n_maps, filter_size=list(layer.filter_size),
                    dtype=str(layer.dtype), inputs=_inputs_id)
    run = _Run(client, layer, src, store, n_threads, images_per_task, reduce_fanin, _fault,
               bool(keep_maps_in_memory))
    start = 0
    ckpt = os.path.join(store, CHECKPOINT)
    if resume and os.path.exists(ckpt):
        start = _restore(ckpt, layer, settings)
    maps_shape = (n, layer.n_maps) + tuple(s + k - 1 for s, k in zip(shape[1:],
                                                                      layer.filter_size))
    for b in (0, 1):
        mp = _maps_path(store, b)
        if not (start and os.path.exists(mp)):
            _create(mp, maps_shape, layer.dtype)
    try:
        _epochs(run, layer, n, start, epochs, update, images_per_task, batch_size, n_streams,
                sync_every, ckpt, settings, verbose, callback)
    finally:
        try:  # the workers' copies of the maps (Zarr keeps them)
            client.run(_clear_cache)
        except Exception:  # noqa: BLE001 - never hide the error that ended the fit
            pass
    layer.distributed_stats_ = dict(bytes_to_workers=run.bytes_out,
                                    bytes_to_client=run.bytes_in, rounds=run.rounds)
    return layer


def _epochs(run, layer, n, start, epochs, update, images_per_task, batch_size, n_streams,
            sync_every, ckpt, settings, verbose, callback):
    for epoch in range(start, epochs):
        t0 = time.perf_counter()
        r0 = run.rounds
        if update == "batch":
            costs = run.step(_chunks(range(n), images_per_task), epoch)
        elif update == "minibatch":
            costs = np.concatenate([run.step(_chunks(mb, images_per_task), epoch)
                                    for mb in _chunks(range(n), batch_size)])
        else:
            streams = [list(s) for s in np.array_split(np.arange(n), n_streams)]
            every = sync_every or max(len(s) for s in streams)
            parts = []
            for k in range(math.ceil(max(len(s) for s in streams) / every)):
                groups = [s[k * every:(k + 1) * every] for s in streams]
                parts.append(run.averaged([gr for gr in groups if gr], epoch))
            costs = _stream_order(parts, streams, every)
        total = float(costs.sum())
        layer.history_.append({"epoch": len(layer.history_) + 1, "cost": total,
                               "seconds": time.perf_counter() - t0,
                               "rounds": run.rounds - r0})
        _save(ckpt, layer, epoch + 1, settings)
        if verbose:
            print(f"epoch {epoch + 1}/{epochs}: cost {total:.6g}, "
                  f"{layer.history_[-1]['seconds']:.2f} s, {run.rounds - r0} rounds")
        if callback is not None and callback(layer, epoch, total):
            break


def _stream_order(parts, streams, every):
    """Per-image costs of the averaged update, back in image order."""
    out = {}
    for k, c in enumerate(parts):
        pos = 0
        for s in streams:
            gr = s[k * every:(k + 1) * every]
            for i, v in zip(gr, c[pos:pos + len(gr)]):
                out[i] = v
            pos += len(gr)
    return np.array([out[i] for i in sorted(out)])


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


def _save(path, layer, epoch, settings):
    import json
    tmp = f"{path}.{os.getpid()}.tmp.npz"
    np.savez(tmp, filters=layer.filters, epoch=np.int64(epoch),
             header=np.array(json.dumps(dict(version=_CKPT_VERSION, settings=settings,
                                             history=layer.history_))))
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _restore(path, layer, settings):
    import json
    with np.load(path, allow_pickle=False) as d:
        header = json.loads(str(d["header"]))
        if header.get("version") != _CKPT_VERSION:
            raise ValueError(f"{path}: checkpoint version {header.get('version')}, expected "
                             f"{_CKPT_VERSION}")
        old = header["settings"]
        diff = [f"{k} was {old.get(k)!r}, now {v!r}" for k, v in settings.items()
                if old.get(k) != v]
        if diff:
            raise ValueError(f"{path} was written with other settings: " + "; ".join(diff))
        f = d["filters"]
        if f.shape != layer.filters.shape:
            raise ValueError(f"{path}: filters of shape {f.shape}, layer has "
                             f"{layer.filters.shape}")
        layer.filters = f.astype(layer.dtype)
        layer.history_ = list(header["history"])
        return int(d["epoch"])


# ------------------------------------------------------------- networks
def _stats_task(store, buf, idx, K, seed, sample):
    """Per-image maxima, per-map firing counts and a subsample of each map's
    firing values (at most ``sample``) of the maps in ``store/maps{buf}``, as
    ``DeconvNet``'s activation statistics count them."""
    from .model.sampling import ActivationStats
    acc = ActivationStats(K, seed=seed)
    a = _open(_maps_path(store, buf), mode="r")
    for i in idx:
        acc.add(np.asarray(a[i]))
    return acc.maxima, acc.counts, acc.seen, acc.total, acc.values


def _inputs_task(net, src, idx, out, upto, n_threads):
    """The inputs of layer ``upto + 1``: each image through the trained layers
    below, each layer's maps times its scale (as ``DeconvNet.fit`` computes them)."""
    a = _open(out, mode="r+")
    K0 = net.layers[0].in_channels
    with threads(n_threads):
        for i, y in zip(idx, src.load(idx)):
            u = _check_image(y, i, K0, net.layers[0].dtype)
            for li in range(upto):
                u = net.layers[li].infer(u, n_threads=n_threads) * u.dtype.type(net.scales_[li])
            a[i] = u
    return len(idx)


def fit_network(net, images, epochs=3, *, store, client=None, images_per_task=4, n_threads=1,
                loader=load_image, verbose=False, **fit_options):
    """Train every layer of ``net`` in turn, bottom-up, on a Dask cluster (as
    :meth:`DeconvNet.fit`, each layer by :func:`fit`).

    After each layer, the scale of its maps (``1 / median_i max|z_i|`` over the
    maps of the last epoch) and the firing frequencies are computed on the
    workers (exactly as one process computes them); the activation histograms
    (for :meth:`DeconvNet.sample`) come from per-shard uniform subsamples,
    pooled in proportion to each shard's count (the same distribution as one
    process, not the same draws).  The next layer's inputs (the images
    through the trained layers, times the scales) are written to Zarr in
    ``store/layerL/inputs`` by tasks; maps never travel to the client.

    Parameters
    ----------
    net : DeconvNet
    images, epochs, store, client, images_per_task, n_threads, loader
        As for :func:`fit`; ``store/layer1``, ``store/layer2``, ... hold each
        layer's run.
    **fit_options
        Passed to :func:`fit` for every layer (``update=``, ``batch_size=``, ...).
        With ``resume=True`` a finished layer is not trained again and an
        unfinished one continues from its checkpoint, if the layers below are
        those it was trained on (else it starts afresh).

    Returns
    -------
    net
    """
    _require()
    from .model.sampling import STATS_SAMPLE
    if not isinstance(net, DeconvNet):
        raise TypeError(f"net must be a DeconvNet, got {type(net).__name__}")
    if store is None:
        raise ValueError("store is None: give a folder that the client and the workers see")
    store = os.path.abspath(os.fspath(store))
    epochs = V.check_int("epochs", epochs, 1)
    client = _client(client)
    net.trained_, net.scales_, net.stats_, net._image_ids = 0, [], [], []
    inputs, src = images, None
    for li, la in enumerate(net.layers):
        lstore = os.path.join(store, f"layer{li + 1}")
        if li:
            P, Q = shape[1:]
            for lo in net.layers[:li]:
                P, Q = P + lo.filter_size[0] - 1, Q + lo.filter_size[1] - 1
            path = os.path.join(lstore, "inputs")
            os.makedirs(lstore, exist_ok=True)
            _create(path, (n, la.in_channels, P, Q), la.dtype)
            fn = client.submit(_identity, _slim(net), pure=False)
            client.gather([client.submit(_inputs_task, fn, src.part(idx), idx, path, li,
                                         n_threads, pure=False)
                           for idx in _chunks(range(n), images_per_task)])
            inputs = _Zarr(path, n)
        if verbose:
            print(f"layer {li + 1}/{len(net.layers)}")
        # a layer's checkpoint is only resumed when the layers below are the ones
        # it was trained on (e.g. not after they were trained for more epochs)
        iid = _inputs_id(net, li)
        opts = dict(fit_options)
        if opts.get("resume") and not _checkpoint_inputs_match(lstore, iid):
            opts["resume"] = False
        fit(la, inputs, epochs, store=lstore, client=client, images_per_task=images_per_task,
            n_threads=n_threads, loader=loader, verbose=verbose, _inputs_id=iid, **opts)
        if src is None:  # where the images are now: files, or layer 1's Zarr inputs
            if _is_paths(images):
                src = _Files(list(images), loader)
            else:
                src = _Zarr(os.path.join(lstore, "inputs"), 0)
                src.n = _open(src.path, mode="r").shape[0]
            n = len(src)
            first = client.submit(src.load, [0], pure=False).result()[0]
            shape = _check_image(first, 0, la.in_channels, la.dtype).shape
        buf = (epochs - 1) % 2  # the buffer of the last epoch's maps
        parts = client.gather([client.submit(_stats_task, lstore, buf, idx, la.n_maps, li,
                                             STATS_SAMPLE, pure=False)
                               for idx in _chunks(range(n), images_per_task)])
        net.scales_.append(_pooled_scale(parts))
        net.stats_.append(_pooled_histograms(parts, la.n_maps, li, STATS_SAMPLE))
        net.trained_ = li + 1
    return net


def _inputs_id(net, li):
    """SHA-256 of what layer ``li``'s inputs depend on: the filters and scales of
    the layers below ("" for layer 1, whose inputs are the images)."""
    if li == 0:
        return ""
    import hashlib
    h = hashlib.sha256()
    for la, s in zip(net.layers[:li], net.scales_[:li]):
        h.update(np.ascontiguousarray(la.filters).tobytes())
        h.update(np.float64(s).tobytes())
    return h.hexdigest()


def _checkpoint_inputs_match(store, iid):
    import json
    path = os.path.join(store, CHECKPOINT)
    if not os.path.exists(path):
        return True  # nothing to resume: fit starts afresh anyway
    with np.load(path, allow_pickle=False) as d:
        return json.loads(str(d["header"]))["settings"].get("inputs", "") == iid


def _pooled_scale(parts):
    maxima = [m for p in parts for m in p[0]]
    m = float(np.median(maxima)) if maxima else 0.0
    return 1.0 / m if m > 0 else 1.0


def _pooled_histograms(parts, K, seed, sample):
    from .model.sampling import N_BINS, value_histogram
    counts = sum(p[1] for p in parts)
    total = sum(p[3] for p in parts)
    rng = np.random.default_rng(seed)
    freq = counts / max(total, 1)
    hist, edges = np.zeros((K, N_BINS)), np.zeros((K, N_BINS + 1))
    for k in range(K):
        seen = np.array([p[2][k] for p in parts], np.float64)
        if seen.sum() == 0:
            continue
        take = np.floor(sample * seen / seen.sum()).astype(int)
        vals = np.concatenate([rng.choice(p[4][k], min(t, p[4][k].size), replace=False)
                               for p, t in zip(parts, take)])
        if vals.size:
            hist[k], edges[k] = value_histogram(vals, N_BINS)
    return freq, hist, edges
