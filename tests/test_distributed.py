"""``numbadn.distributed`` on a real ``LocalCluster`` (2 worker processes x 1 thread).

Every result is checked against the same computation in one process, the
reference being the package's single-process API (``DeconvLayer.infer``,
``DeconvNet.infer``, ``DeconvLayer(update=...).fit``):

* transform: maps bit-identical to ``infer`` for arrays, files loaded on the
  workers, a lazy Dask array and layer 2 of a network;
* ``update="batch"``: the same filters as one process, bit for bit with one
  image per task (the reduction then adds the same numbers in the same
  order), within float32 rounding with several, also when the first shard
  answers last and in float64;
* ``update="minibatch"`` with ``batch_size=1`` is the online chain, with
  ``batch_size=n`` the batch step; ``"averaged"`` with one stream is online;
* a worker killed (SIGKILL) in the middle of an epoch: Dask recomputes its
  tasks on the other worker, which reads the warm-start maps from Zarr, and
  the filters are still bit-identical to one process;
* resuming from the store's checkpoint gives the uninterrupted filters.

Skipped when Dask, distributed or Zarr is not installed (``pip install
'numbadn[dask]'``).  The cluster starts once per module (about 5 s).
"""
import os
import signal
import threading
import time

import numpy as np
import pytest

pytest.importorskip("dask")
pytest.importorskip("distributed")
pytest.importorskip("zarr")

import dask.array as da  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

import numbadn  # noqa: E402
from numbadn import distributed as D  # noqa: E402
from numbadn.data import load_images  # noqa: E402
from numbadn.preprocess import contrast_normalize  # noqa: E402

# a Dask cluster or subprocesses per test: the slow front end (-m 'not slow' skips it)
pytestmark = pytest.mark.slow

N = 6


@pytest.fixture(scope="module")
def client():
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=":0")
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def ims():
    """Six 40x40 contrast-normalised natural crops, (1, 40, 40) float32."""
    return [np.ascontiguousarray(contrast_normalize(im)[None, :40, :40])
            for im in load_images("natural")[:N]]


def layer(**kw):
    return numbadn.DeconvLayer(1, 4, random_state=0, **kw)


def reference(ims, epochs=2, **kw):
    return layer(**kw).fit(ims, epochs=epochs, verbose=False)


def fit(client, tmp_path, ims, epochs=2, layer_kw=None, **kw):
    la = layer(**(layer_kw or {}))
    return D.fit(la, ims, epochs, store=tmp_path / "run", client=client, **kw)


# -------------------------------------------------------------- transform
def test_transform_maps_are_bit_identical_to_infer(client, tmp_path, ims):
    la = reference(ims, epochs=1)
    out = D.transform(la, ims, tmp_path / "maps.zarr", client=client, images_per_task=2)
    assert out.shape == (N, 4, 46, 46) and out.dtype == np.float32
    assert out.chunks == (1, 4, 46, 46)
    for i, y in enumerate(ims):
        assert np.array_equal(out[i], la.infer(y))


def test_transform_of_files_loads_them_on_the_workers(client, tmp_path, ims):
    la = reference(ims, epochs=1)
    paths = []
    for i, y in enumerate(ims):
        paths.append(str(tmp_path / f"im{i}.npy"))
        np.save(paths[-1], y[0])
    out = D.transform(la, paths, tmp_path / "maps.zarr", client=client, loader=np.load,
                      solver="fista", max_iter=20)
    for i, y in enumerate(ims):
        assert np.array_equal(out[i], la.infer(y, solver="fista", max_iter=20))


def test_transform_of_a_dask_array_is_lazy_and_equal(client, tmp_path, ims):
    la = reference(ims, epochs=1)
    x = da.from_array(np.stack(ims), chunks=(2, 1, 40, 40))
    lazy = D.transform(la, x, client=client)
    assert isinstance(lazy, da.Array) and lazy.chunks[0] == (2, 2, 2)
    want = np.stack([la.infer(y) for y in ims])
    assert np.array_equal(lazy.compute(), want)
    out = D.transform(la, x, tmp_path / "maps.zarr", client=client)
    assert np.array_equal(out[:], want)


def test_transform_of_layer_2_of_a_network_equals_net_infer(client, tmp_path, ims):
    net = numbadn.DeconvNet.paper(n_maps=(4, 6), random_state=0)
    net.fit(ims[:3], epochs=1, verbose=False)
    out = D.transform(net, ims[3:], tmp_path / "maps.zarr", client=client, layer=2,
                      images_per_task=1)
    assert out.shape == (3, 6, 52, 52)
    for i, y in enumerate(ims[3:]):
        assert np.array_equal(out[i], net.infer(y, layer=2))


# ------------------------------------------------------------ batch update
def test_batch_fit_is_bit_identical_with_one_image_per_task(client, tmp_path, ims):
    ref = reference(ims, update="batch")
    la = fit(client, tmp_path, ims, update="batch", images_per_task=1)
    assert np.array_equal(la.filters_, ref.filters_)
    assert [h["cost"] for h in la.history_] == [h["cost"] for h in ref.history_]
    # 2 epochs x (1 inference + 2 CG products) rounds, filter-sized messages only
    assert [h["rounds"] for h in la.history_] == [3, 3]


def test_batch_fit_reading_every_map_from_zarr_is_bit_identical(client, tmp_path, ims):
    ref = reference(ims, update="batch")
    la = fit(client, tmp_path, ims, update="batch", images_per_task=1,
             keep_maps_in_memory=False)
    assert np.array_equal(la.filters_, ref.filters_)


def test_batch_fit_does_not_depend_on_which_shard_answers_first(client, tmp_path, ims):
    ref = reference(ims, update="batch")

    def slow_first(idx, epoch):
        if idx[0] == 0:
            time.sleep(0.5)

    la = fit(client, tmp_path, ims, update="batch", images_per_task=1, _fault=slow_first)
    assert np.array_equal(la.filters_, ref.filters_)


@pytest.mark.parametrize("dtype, tol", [(np.float32, 1e-6), (np.float64, 1e-13)])
def test_batch_fit_with_shards_matches_one_process_to_rounding(client, tmp_path, ims, dtype,
                                                                tol):
    ims = [y.astype(dtype) for y in ims]
    ref = reference(ims, update="batch", dtype=dtype)
    la = fit(client, tmp_path, ims, update="batch", images_per_task=4,
             layer_kw=dict(dtype=dtype))
    assert la.filters_.dtype == dtype
    err = np.abs(la.filters_ - ref.filters_).max()
    assert err <= tol, err
    assert not np.array_equal(reference(ims, epochs=1, update="batch", dtype=dtype).filters_,
                              la.filters_)  # two epochs moved the filters
    np.testing.assert_allclose([h["cost"] for h in la.history_],
                               [h["cost"] for h in ref.history_], rtol=10 * tol)


def test_batch_fit_reduced_in_a_tree_of_tasks_matches_one_process(client, tmp_path, ims):
    ref = reference(ims, update="batch")
    la = fit(client, tmp_path, ims, update="batch", images_per_task=1, reduce_fanin=2)
    err = np.abs(la.filters_ - ref.filters_).max()
    assert err <= 1e-6, err
    # 6 tasks -> 3 sums -> 2 sums: 2 filter-sized arrays reach the client per round
    # (3 rounds per epoch), plus every image's cost once per epoch
    assert la.distributed_stats_["bytes_to_client"] == 2 * 3 * 2 * la.filters_.nbytes + 2 * N * 8


def test_fit_network_matches_deconvnet_fit(client, tmp_path, ims):
    ref = numbadn.DeconvNet.paper(n_maps=(4, 6), random_state=0, update="batch")
    ref.fit(ims, epochs=2, verbose=False)
    net = numbadn.DeconvNet.paper(n_maps=(4, 6), random_state=0, update="batch")
    D.fit_network(net, ims, 2, store=tmp_path / "net", client=client, images_per_task=1)
    assert net.trained_ == 2
    for a, b in zip(net.layers, ref.layers):
        assert np.array_equal(a.filters_, b.filters_)
    assert net.scales_ == ref.scales_
    for (fa, ha, ea), (fb, hb, eb) in zip(net.stats_, ref.stats_):
        assert np.array_equal(fa, fb)  # firing frequencies: exact
        # histograms from other draws of the same values: same support, same mass
        assert ha.shape == hb.shape and np.allclose(ha.sum(1), hb.sum(1), rtol=0.05, atol=2)
    y = ims[0]
    assert np.array_equal(net.infer(y, layer=2), ref.infer(y, layer=2))


def test_fit_on_files_and_on_a_dask_array_equals_fit_on_arrays(client, tmp_path, ims):
    ref = fit(client, tmp_path, ims, update="batch", images_per_task=2)
    paths = []
    for i, y in enumerate(ims):
        paths.append(str(tmp_path / f"im{i}.npy"))
        np.save(paths[-1], y)
    la = layer()
    D.fit(la, paths, 2, store=tmp_path / "files", client=client, images_per_task=2,
          loader=np.load)
    assert np.array_equal(la.filters_, ref.filters_)
    la = layer()
    D.fit(la, da.from_array(np.stack(ims)[:, 0], chunks=(4, 40, 40)), 2,
          store=tmp_path / "dask", client=client, images_per_task=2)
    assert np.array_equal(la.filters_, ref.filters_)


def test_fit_network_resumed_with_more_epochs_equals_a_fresh_run(client, tmp_path, ims):
    ref = numbadn.DeconvNet.paper(n_maps=(4, 6), random_state=0, update="batch")
    ref.fit(ims, epochs=3, verbose=False)
    store = tmp_path / "net"
    D.fit_network(numbadn.DeconvNet.paper(n_maps=(4, 6), random_state=0), ims, 2, store=store,
                  client=client, images_per_task=1)
    net = numbadn.DeconvNet.paper(n_maps=(4, 6), random_state=0)
    D.fit_network(net, ims, 3, store=store, client=client, images_per_task=1, resume=True)
    # layer 1 went on from its epoch 2; layer 2, trained on other inputs, started afresh
    assert [len(la.history_) for la in net.layers] == [3, 3]
    for a, b in zip(net.layers, ref.layers):
        assert np.array_equal(a.filters_, b.filters_)
    assert net.scales_ == ref.scales_
    again = numbadn.DeconvNet.paper(n_maps=(4, 6), random_state=0)
    D.fit_network(again, ims, 3, store=store, client=client, images_per_task=1, resume=True)
    assert [la.distributed_stats_["rounds"] for la in again.layers] == [0, 0]  # nothing re-run
    for a, b in zip(again.layers, ref.layers):
        assert np.array_equal(a.filters_, b.filters_)


# --------------------------------------------------------- online variants
def test_minibatch_of_one_image_is_the_online_chain(client, tmp_path, ims):
    ref = reference(ims)  # update="online", the default
    la = fit(client, tmp_path, ims, update="minibatch", batch_size=1, images_per_task=1)
    np.testing.assert_allclose(la.filters_, ref.filters_, atol=1e-6)
    np.testing.assert_allclose([h["cost"] for h in la.history_],
                               [h["cost"] for h in ref.history_], rtol=1e-6)


def test_minibatch_of_all_images_is_the_batch_step(client, tmp_path, ims):
    ref = reference(ims, update="batch")
    la = fit(client, tmp_path, ims, update="minibatch", batch_size=N, images_per_task=2)
    np.testing.assert_allclose(la.filters_, ref.filters_, atol=1e-6)


def test_averaged_with_one_stream_is_the_online_chain(client, tmp_path, ims):
    ref = reference(ims)
    la = fit(client, tmp_path, ims, update="averaged", n_streams=1)
    np.testing.assert_allclose(la.filters_, ref.filters_, atol=1e-6)
    two = fit(client, tmp_path, ims, update="averaged", n_streams=2, sync_every=1)
    assert np.isfinite(two.filters_).all()
    norms = np.sqrt((two.filters_.astype(np.float64) ** 2).sum(axis=(2, 3)))
    np.testing.assert_allclose(norms, 1.0, rtol=1e-5)  # averaged, then renormalised


# ------------------------------------------------------------ faults, resume
def test_worker_killed_mid_epoch_loses_nothing(client, tmp_path, ims):
    ref = reference(ims, epochs=3, update="batch")
    first_epoch = threading.Event()
    out = {}

    def slow(idx, epoch):  # 0.4 s per task: an epoch of 6 tasks on 2 workers takes >1 s
        time.sleep(0.4)

    def run():
        try:
            out["layer"] = fit(client, tmp_path, ims, epochs=3, update="batch",
                               images_per_task=1, _fault=slow,
                               callback=lambda la, e, c: first_epoch.set())
        except BaseException as e:  # noqa: BLE001 - reported below
            out["error"] = e

    t = threading.Thread(target=run)
    t.start()
    assert first_epoch.wait(120)
    time.sleep(0.6)  # inside epoch 2: tasks running, maps of epoch 1 in the workers' memory
    pids = client.run(os.getpid)
    victim = max(pids)
    assert t.is_alive() and len(out) == 0
    os.kill(pids[victim], signal.SIGKILL)
    t.join(300)
    assert not t.is_alive()
    assert "error" not in out, out.get("error")
    client.wait_for_workers(2, timeout=120)
    assert pids[victim] not in client.run(os.getpid).values()  # the worker really died
    la = out["layer"]
    assert np.array_equal(la.filters_, ref.filters_)
    assert [h["cost"] for h in la.history_] == [h["cost"] for h in ref.history_]


def test_resume_from_the_checkpoint_gives_the_uninterrupted_filters(client, tmp_path, ims):
    ref = reference(ims, epochs=3, update="batch")
    la = layer()
    D.fit(la, ims, 1, store=tmp_path / "run", client=client, images_per_task=1)
    again = layer()  # a fresh client-side layer: all state comes from the store
    D.fit(again, ims, 3, store=tmp_path / "run", client=client, images_per_task=1,
          resume=True)
    assert len(again.history_) == 3
    assert np.array_equal(again.filters_, ref.filters_)
    with pytest.raises(ValueError, match="update was 'batch', now 'minibatch'"):
        D.fit(layer(), ims, 3, store=tmp_path / "run", client=client, update="minibatch",
              batch_size=2, resume=True)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("kw, match", [
    (dict(update="sgd"), "update must be one of"),
    (dict(update="minibatch"), "needs batch_size"),
    (dict(update="batch", batch_size=2), "batch_size is for update='minibatch'"),
    (dict(sync_every=2), "sync_every are for update='averaged'"),
    (dict(images_per_task=0), "images_per_task"),
    (dict(reduce_fanin=1), "reduce_fanin"),
    (dict(n_threads=0), "n_threads"),
    (dict(store=None), "store is None"),
    (dict(epochs=-1), "epochs"),
])
def test_fit_bad_arguments_are_named(client, tmp_path, ims, kw, match):
    args = dict(store=tmp_path / "run", client=client)
    epochs = kw.pop("epochs", 1)
    args.update(kw)
    with pytest.raises((ValueError, TypeError), match=match):
        D.fit(layer(), ims, epochs, **args)


def test_bad_inputs_are_named(client, tmp_path, ims):
    with pytest.raises(ValueError, match=r"images\[1\] has shape \(1, 30, 40\)"):
        D.fit(layer(), [ims[0], ims[1][:, :30]], 1, store=tmp_path / "r", client=client)
    with pytest.raises(ValueError, match="lowfreq"):
        D.fit(layer(lowfreq=True), ims, 1, store=tmp_path / "r", client=client)
    with pytest.raises(TypeError, match="layer must be a DeconvLayer"):
        D.fit("layer", ims, 1, store=tmp_path / "r", client=client)
    with pytest.raises(ValueError, match="store is None"):
        D.transform(layer(), ims, client=client)
    with pytest.raises(TypeError, match="model must be"):
        D.transform(None, ims, tmp_path / "m.zarr", client=client)
    with pytest.raises(ValueError, match=r"images\[0\] has 2 channel"):
        D.transform(layer(), [np.zeros((2, 20, 20), np.float32)], tmp_path / "m.zarr",
                    client=client)


# ------------------------------------------------------- one fit per store
def test_a_second_fit_on_a_store_in_use_is_refused(client, tmp_path, ims):
    started, out = threading.Event(), {}

    def slow(idx, epoch):
        time.sleep(0.3)

    def run():
        out["layer"] = fit(client, tmp_path, ims, epochs=2, update="batch", images_per_task=1,
                           _fault=slow, callback=lambda la, e, c: started.set())
    t = threading.Thread(target=run)
    t.start()
    assert started.wait(120)
    with pytest.raises(RuntimeError, match=r"run is in use by another fit \(host .*, pid "
                                           f"{os.getpid()}"):
        fit(client, tmp_path, ims, epochs=1, images_per_task=1)
    t.join(120)
    assert np.array_equal(out["layer"].filters_, reference(ims, update="batch").filters_)
    assert not (tmp_path / "run" / "fit.lock").exists()  # released


def test_a_lock_left_by_a_dead_process_is_taken_over(client, tmp_path, ims):
    import json
    import socket
    import subprocess
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "fit.lock").write_text(json.dumps(
        dict(host=socket.gethostname(), pid=dead.pid, started="earlier")))
    la = fit(client, tmp_path, ims, epochs=1, images_per_task=1)
    assert np.array_equal(la.filters_, reference(ims, epochs=1, update="batch").filters_)


def test_a_store_the_worker_does_not_see_is_named(tmp_path, ims):
    from numbadn.distributed._sources import _Arrays
    from numbadn.distributed._warm import _warm_task
    la = layer().initialize()  # as the distributed fit sends it
    with pytest.raises(FileNotFoundError, match="the store is not visible on this worker"):
        _warm_task(la, _Arrays(ims[:1]), str(tmp_path / "missing" / ".probe"), "t", 1, "fit",
                   None, {})
    (tmp_path / ".probe").write_text("another")
    with pytest.raises(FileNotFoundError, match="is another folder than the client's"):
        _warm_task(la, _Arrays(ims[:1]), str(tmp_path / ".probe"), "t", 1, "fit", None, {})
    (tmp_path / ".probe").write_text("t")
    r = _warm_task(la, _Arrays(ims[:1]), str(tmp_path / ".probe"), "t", 1, "fit", None, {})
    assert r["version"] == numbadn.__version__ and r["stages"]["image_s"] > 0


def test_images_per_task_gives_tasks_of_the_chosen_length():
    from numbadn.distributed._warm import images_per_task as k
    assert k(0.01, 10_000, 2) == 20  # 0.2 s of work per task
    assert k(1.0, 100, 4) == 1  # an image already takes longer
    assert k(0.01, 10, 2) == 5  # every worker gets a task
    assert k(0.01, 30, 4) == 8  # one task per worker: 8, 8, 8, 6 images
    assert k(0.02, 90, 4) == 8  # 12 tasks of 8 (3 per worker), not 9 of 10 (3, 2, 2, 2)


def test_a_failed_transform_leaves_no_array(client, tmp_path, ims):
    la = reference(ims, epochs=1)
    paths = []
    for i, y in enumerate(ims):
        paths.append(str(tmp_path / f"im{i}.npy"))
        np.save(paths[-1], y[0])
    np.save(paths[4], np.zeros((3, 3, 3, 3), np.float32))  # 4-D: not an image
    with pytest.raises(ValueError, match=r"images\[4\]"):
        D.transform(la, paths, tmp_path / "maps.zarr", client=client, loader=np.load,
                    images_per_task=1)
    assert sorted(p.name for p in tmp_path.iterdir() if "maps" in p.name) == []


# ---------------------------------------------------------------- benchmark
def test_benchmark_sections_run_and_check_their_results(client, tmp_path, ims):
    from benchmarks import distributed as B
    cfg = dict(B.CONFIGS["smoke"])
    net = numbadn.DeconvNet.paper(n_maps=(9, 45), random_state=0)
    net.fit(ims[:2], epochs=1, verbose=False)
    inf = B.inference(client, net, ims[:4], cfg, str(tmp_path), 2)
    assert len(inf) == 3 and all(r["bit_identical"] for r in inf.values())
    assert all(r["workers"] == 2 and 2 <= r["n_images"] <= 4 for r in inf.values())
    # the workers' stage times were read back (inference is the bulk of them)
    assert all(r["stages"]["infer_ms_per_image"] > 0 for r in inf.values())
    tr = B.training(client, net, ims[:4], cfg, str(tmp_path), 2)
    assert all(r["max_filter_difference"] <= 1e-5 for r in tr.values())
    assert tr["layer 2 batch epoch"]["bytes_to_workers_per_epoch_per_worker"] == \
        3 * 45 * 9 * 49 * 4
    assert B._worker_counts("1,2,16") == [1, 2, 16]
    # every worker gets its tasks: 8 per worker in full mode
    n, k = B.sizing(0.01, 16, B.CONFIGS["full"])
    assert k == 20 and n == 8 * 16 * 20


def test_the_model_sent_to_the_workers_carries_no_warm_start_maps(ims):
    import pickle
    la = layer(update="online").fit(ims, epochs=1, verbose=False)
    la.training_state().maps = [la.infer(y) for y in ims]  # as in the middle of a fit
    slim = D._slim(la)
    assert len(pickle.dumps(slim)) < len(pickle.dumps(la)) / 10
    assert len(la.training_state().maps) == N  # the layer itself keeps its maps
    assert np.array_equal(slim.filters_, la.filters_) and slim.filters_ is not la.filters_
    assert np.array_equal(slim.infer(ims[0]), la.infer(ims[0]))
