""":func:`fit_network`: every layer of a :class:`~numbadn.DeconvNet` in turn on
the workers, the next layer's inputs written to Zarr by tasks, and the scales
and activation statistics pooled from the workers' shards."""
from __future__ import annotations

import os

import numpy as np

from .. import _validation as V
from .._jit import threads
from ..model import DeconvNet
from ._cluster import _chunks, _client, _identity, _require, _slim
from ._fit import fit
from ._sources import _Files, _Zarr, _check_image, _is_paths, load_image
from ._store import (_checkpoint_inputs_match, _create, _maps_path, _open, _read_rows,
                     _store_lock, _write_rows)


def _stats_task(store, buf, idx, K, seed, sample):
    """Per-image maxima, per-map firing counts and a subsample of each map's
    firing values (at most ``sample``) of the maps in ``store/maps{buf}``, as
    ``DeconvNet``'s activation statistics count them."""
    from ..model.sampling import ActivationStats
    acc = ActivationStats(K, seed=seed)
    for z in _read_rows(_maps_path(store, buf), idx):
        acc.add(z)
    return acc.maxima, acc.counts, acc.seen, acc.total, acc.values


def _inputs_task(net, src, idx, out, upto, n_threads):
    """The inputs of layer ``upto + 1``: each image through the trained layers
    below, each layer's maps times its scale (as ``DeconvNet.fit`` computes them)."""
    K0 = net.layers[0].in_channels
    us = []
    with threads(n_threads):
        for i, y in zip(idx, src.load(idx)):
            u = _check_image(y, i, K0, net.layers[0].dtype)
            for li in range(upto):
                u = net.layers[li].infer(u, n_jobs=n_threads) * u.dtype.type(net.scales_[li])
            us.append(u)
    _write_rows(out, idx, us)
    return len(idx)


def fit_network(net, images, epochs=3, *, store, client=None, images_per_task=None, n_threads=1,
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
    verbose : bool
        One line per epoch on stdout.
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
    if not isinstance(net, DeconvNet):
        raise TypeError(f"net must be a DeconvNet, got {type(net).__name__}")
    if store is None:
        raise ValueError("store is None: give a folder that the client and the workers see")
    store = os.path.abspath(os.fspath(store))
    epochs = V.check_int("epochs", epochs, 1)
    client = _client(client)
    os.makedirs(store, exist_ok=True)
    with _store_lock(store):  # a second fit_network on it would rewrite the inputs
        _fit_layers(net, images, epochs, store, client, images_per_task, n_threads, loader,
                    verbose, fit_options)
    return net


def _fit_layers(net, images, epochs, store, client, images_per_task, n_threads, loader,
                verbose, fit_options):
    from ..model.sampling import STATS_SAMPLE
    net.trained_, net.scales_, net.stats_ = 0, [], []
    inputs, src = images, None
    n = shape = per_task = None  # known after layer 1
    for li, la in enumerate(net.layers):
        lstore = os.path.join(store, f"layer{li + 1}")
        if li:
            P, Q = shape[1:]
            for lo in net.layers[:li]:
                P, Q = P + lo.filters_.shape[2] - 1, Q + lo.filters_.shape[3] - 1
            path = os.path.join(lstore, "inputs")
            os.makedirs(lstore, exist_ok=True)
            _create(path, (n, la.in_channels, P, Q), la.dtype)
            fn = client.submit(_identity, _slim(net), pure=False)
            client.gather([client.submit(_inputs_task, fn, src.part(idx), idx, path, li,
                                         n_threads, pure=False)
                           for idx in _chunks(range(n), per_task)])
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
        # the size fit chose (or was given) serves the layer's other tasks too
        per_task = la.distributed_stats_["images_per_task"]
        parts = client.gather([client.submit(_stats_task, lstore, buf, idx, la.n_maps, li,
                                             STATS_SAMPLE, pure=False)
                               for idx in _chunks(range(n), per_task)])
        net.scales_.append(_pooled_scale(parts))
        net.stats_.append(_pooled_histograms(parts, la.n_maps, li, STATS_SAMPLE))
        net.trained_ = li + 1


def _inputs_id(net, li):
    """SHA-256 of what layer ``li``'s inputs depend on: the filters and scales of
    the layers below ("" for layer 1, whose inputs are the images)."""
    if li == 0:
        return ""
    import hashlib
    h = hashlib.sha256()
    for la, s in zip(net.layers[:li], net.scales_[:li]):
        h.update(np.ascontiguousarray(la.filters_).tobytes())
        h.update(np.float64(s).tobytes())
    return h.hexdigest()


def _pooled_scale(parts):
    maxima = [m for p in parts for m in p[0]]
    m = float(np.median(maxima)) if maxima else 0.0
    return 1.0 / m if m > 0 else 1.0


def _pooled_histograms(parts, K, seed, sample):
    from ..model.sampling import N_BINS, value_histogram
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
