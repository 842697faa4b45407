""":func:`fit`: one layer's filters learned on the workers (Algorithm 1): the
update rules, the client's all-reduce of the filter step, and the tasks."""
from __future__ import annotations

import math
import os
import time
import uuid

import numpy as np

from .. import _validation as V
from .._jit import check_n_threads, threads
from ..ops import conv_valid
from ..kernels import sum_abs_p
from ..model import DeconvLayer
from ..solvers._cg import cg
from ..solvers.filters import filter_grad_sum, filter_gram_sum, normalize_planes, update_filters
from ._cluster import (_chunks, _client, _gather, _identity, _nbytes, _require, _slim,
                       _sum_in_order, _workers)
from ._sources import _check_image, _fit_source, load_image
from ._store import (CHECKPOINT, _clear_cache, _create, _maps_path, _read_maps, _restore,
                     _save, _store_lock, _write_maps)
from ._warm import images_per_task as auto_per_task
from ._warm import prepare, stage

#: Filter updates :func:`fit` offers.
UPDATES = ("batch", "minibatch", "averaged")


# ------------------------------------------------------------ fit tasks
def _image_costs(layer, Y, Z):
    """Eq. 3 per image (float64), as ``numbadn.inference.cost`` sums them."""
    from ..solvers.inference import cost
    return np.array([cost(Y[j:j + 1], Z[j:j + 1], layer.filters_, layer.connectivity_,
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
        with stage("infer", len(idx)):
            Z = layer.infer(Y, z0=Z0, n_jobs=n_threads)
        zs = list(Z)
        _write_maps(store, epoch % 2, run, epoch, idx, zs)
        with stage("cost", len(idx)):
            costs = _image_costs(layer, Y, Z)
        with stage("grad", len(idx)):
            grad = filter_grad_sum(layer.filters_, layer.connectivity_, zs, ys)
    return costs, grad


def _gram_task(d, g, idx, store, run, epoch, n_threads):
    """``sum_i Z_i^T Z_i d`` over images ``idx`` (their maps of ``epoch``)."""
    zs = _read_maps(store, epoch % 2, run, epoch, idx)
    with threads(n_threads), stage("gram", len(idx)):
        return filter_gram_sum(d, g, zs)


def _online_task(layer, src, idx, store, run, epoch, n_threads, fault=None):
    """Online updates (as ``DeconvLayer(update="online")``) over images ``idx`` from
    ``layer``'s filters; return (per-image costs, the filters reached)."""
    if fault is not None:
        fault(idx, epoch)
    f, g = np.array(layer.filters_), layer.connectivity_
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
    from ..solvers.inference import infer
    return infer(y, f, layer.connectivity_, lam=layer.lam, p=layer.p, solver=layer.solver,
                 z0=z0, n_threads=n_threads, **(layer.solver_options or {}))


# ------------------------------------------------------------------- fit
class _Run:
    """The client's side of one distributed fit."""

    def __init__(self, client, layer, src, store, n_threads, images_per_task, fanin, fault,
                 keep, workers):
        self.client, self.layer, self.src, self.store = client, layer, src, os.fspath(store)
        self.workers = workers  # refreshed every epoch: who the tasks are pinned to
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
        workers = self.workers
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
        parts = _gather(self.client, futs)
        self.bytes_in += sum(_nbytes(p) for p in parts)
        return _sum_in_order(*parts)

    def _spec(self, f):
        la = _slim(self.layer)
        la.filters_ = f
        self.bytes_out += f.nbytes
        return self.client.submit(_identity, la, pure=False)

    def step(self, groups, epoch):
        """Infer ``groups`` of images, then the CG filter step (eq. 9) over them."""
        la, g = self.layer, self.layer.connectivity_
        spec = self._spec(la.filters_)
        costs, grad = self._submit(_infer_grad_task, groups,
                                   lambda idx: (spec, self.src.part(idx)),
                                   self.store, self.run, epoch, self.n_threads, self.fault)

        def gram(d):
            dd = self.client.submit(_identity, d, pure=False)
            self.bytes_out += d.nbytes
            return self._submit(_gram_task, groups, lambda idx: (dd, g), self.store,
                                self.run, epoch, self.n_threads)

        f = cg(gram, la.filters_.copy(), -grad, la.filter_cg_iters)
        la.filters_ = normalize_planes(f, g)
        return costs

    def averaged(self, streams, epoch):
        spec = self._spec(self.layer.filters_)
        costs, f = self._submit(_online_task, streams, lambda idx: (spec, self.src.part(idx)),
                                self.store, self.run, epoch, self.n_threads, self.fault)
        f /= len(streams)
        self.layer.filters_ = normalize_planes(f.astype(self.layer.filters_.dtype),
                                               self.layer.connectivity_)
        return costs


def fit(layer, images, epochs=3, *, store, client=None, update="batch", batch_size=None,
        n_streams=None, sync_every=None, images_per_task=None, n_threads=1, loader=load_image,
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
    batch_size : int, optional
        Images per filter step with ``update="minibatch"`` (1: online, n: batch).
    n_streams : int, optional
        Streams with ``update="averaged"`` (default: the number of workers).
    sync_every : int, optional
        Images per stream between two averagings with ``update="averaged"``.
    images_per_task : int, optional
        Images per task (batch and minibatch).  None: as many as take about
        0.2 s (the work per image is timed on the workers when the fit
        starts), at most ``n / workers``, so that Dask's fixed cost per task
        is small against the work.  Give a number to fix how the float sums
        of each round are grouped (1: bit for bit the sums of one process).
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
    _fault, _inputs_id
        For numbadn's own tests (a simulated worker failure; the name of the
        inputs of a layer of :func:`fit_network`); leave them alone.

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
    if images_per_task is not None:
        images_per_task = V.check_int("images_per_task", images_per_task, 1)
    n_threads = check_n_threads(n_threads)
    reduce_fanin = V.check_int("reduce_fanin", reduce_fanin, 2)
    if store is None:
        raise ValueError("store is None: give a folder that the client and the workers see")
    store = os.path.abspath(os.fspath(store))
    client = _client(client)
    os.makedirs(store, exist_ok=True)
    with _store_lock(store):
        return _fit(layer, images, epochs, store, client, update, batch_size, n_streams,
                    sync_every, images_per_task, n_threads, loader, reduce_fanin,
                    keep_maps_in_memory, resume, callback, verbose, _fault, _inputs_id)


def _fit(layer, images, epochs, store, client, update, batch_size, n_streams, sync_every,
         images_per_task, n_threads, loader, reduce_fanin, keep_maps_in_memory, resume,
         callback, verbose, _fault, _inputs_id):
    layer.initialize()  # the filters to start from (a fitted layer's own)
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
                    p=layer.p, n_maps=layer.filters_.shape[0],
                    filter_size=list(layer.filters_.shape[2:]),
                    dtype=str(layer.filters_.dtype), inputs=_inputs_id)
    start = 0
    ckpt = os.path.join(store, CHECKPOINT)
    if resume and os.path.exists(ckpt):
        start = _restore(ckpt, layer, settings)
    elif os.path.exists(ckpt):
        os.remove(ckpt)  # a fresh start: the old checkpoint would not match the new maps
    workers, per_image, _ = prepare(client, layer, src, store, n_threads, "fit",
                                    time_image=images_per_task is None)
    if images_per_task is None:
        images_per_task = auto_per_task(per_image, n, len(workers))
    run = _Run(client, layer, src, store, n_threads, images_per_task, reduce_fanin, _fault,
               bool(keep_maps_in_memory), workers)
    maps_shape = (n, layer.filters_.shape[0]) + tuple(
        s + k - 1 for s, k in zip(shape[1:], layer.filters_.shape[2:]))
    for b in (0, 1):
        mp = _maps_path(store, b)
        if not (start and os.path.exists(mp)):
            _create(mp, maps_shape, layer.filters_.dtype)
    try:
        _epochs(run, layer, n, start, epochs, update, images_per_task, batch_size, n_streams,
                sync_every, ckpt, settings, verbose, callback)
    finally:
        try:  # the workers' copies of the maps (Zarr keeps them)
            if client.status == "running":
                client.run(_clear_cache)
        except Exception:  # noqa: BLE001 - never hide the error that ended the fit
            pass
    layer.distributed_stats_ = dict(bytes_to_workers=run.bytes_out,
                                    bytes_to_client=run.bytes_in, rounds=run.rounds,
                                    images_per_task=images_per_task, workers=len(workers),
                                    seconds_per_image=per_image)
    return layer


def _epochs(run, layer, n, start, epochs, update, images_per_task, batch_size, n_streams,
            sync_every, ckpt, settings, verbose, callback):
    for epoch in range(start, epochs):
        t0 = time.perf_counter()
        r0 = run.rounds
        run.epoch = epoch
        if epoch > start:
            run.workers = _workers(run.client) or run.workers
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
