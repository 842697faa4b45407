"""numbadn on a Dask cluster (``numbadn.distributed``): speed, where a task's time
goes, bytes moved, and the online approximations' quality, one process against a
``LocalCluster`` of W single-thread workers.

For every W of ``--workers`` (default 2; ``--workers 1,2,4,8,16`` prints the
scaling curve) a fresh ``LocalCluster`` of W worker processes x 1 thread is
set against **one process with W numba threads** (the same cores):

1. **Inference**: layer 1 (``DeconvLayer.infer`` of a batch), layer 2
   bottom-up (``layer.infer`` of the scaled layer-1 maps) and layer 2
   top-down (``DeconvNet.infer(images, layer=2)``, eqs. 10-11) against
   ``distributed.transform`` (maps written to Zarr on the workers); the maps
   are checked bit-identical.
2. **A batch training epoch** (the second of two, so the warm starts are read
   back): layer 1 (9 maps) and layer 2 (45 maps, singles and pairs) against
   ``distributed.fit``; the largest filter difference, bytes per round.

Each workload gets ``images_per_task`` from its time per image on one thread
(``numbadn.distributed._warm.images_per_task``: a task works about 0.2 s)
and enough images that every worker has at least ``tasks_per_worker`` tasks
(full mode: 8).  The one-process and cluster runs alternate, ``repeats``
times, and medians are reported (the machine may be shared).  After each
cluster run the tasks' own per-stage times (inference, cost, gradient, CG
products, Zarr reads and writes, summed over the workers) are read back, the
rest of W x wall time being Dask (scheduling, transfers, idle workers); a cold
worker's first task (numba cache load and first call, zarr import) and the
pickling of a task's arguments and result are timed once per cluster.

3. **Per-image work per layer** on 1 thread for the paper's 3 layers (9, 45,
   150 maps) on 96x96 images, and Dask's cost per empty task: the inputs of
   the 1,000,000-image estimate printed at the end (and in ``docs/scaling.md``).
4. **Online against its distributed approximations**, as
   ``reproduce/online_vs_batch.py`` scores them (on the first W's cluster):
   20 natural crops, 3 epochs, ``lam = 1``, held-out eq. 2 cost on 6 crops.

Writes ``bench_distributed.json``::

    python -m benchmarks.distributed                       # full, 2 workers: figures/
    python -m benchmarks.distributed --workers 1,2,4,8,16  # the scaling curve
    python -m benchmarks.distributed --quick --workers 16  # figures/quick/ (device check)
    python -m benchmarks.distributed --smoke               # 40x40 crops, a few images (tests)
"""
from __future__ import annotations

import argparse
import os
import pickle
import shutil
import statistics
import tempfile
import time

import numpy as np

import numbadn
from numbadn import distributed as D
from numbadn._jit import max_threads, threads
from numbadn.data import load_images
from numbadn.distributed import _warm as DW
from numbadn.preprocess import contrast_normalize

try:  # run as python -m benchmarks.distributed, or imported by the tests
    from . import _util
except ImportError:  # pragma: no cover
    from benchmarks import _util

CONFIGS = {
    "full": dict(size=96, repeats=3, tasks_per_worker=8, max_n=None, train_n=20, test_n=6,
                 epochs=3, per_image_repeats=3, empty_tasks=2000),
    "quick": dict(size=96, repeats=1, tasks_per_worker=2, max_n=None, train_n=8, test_n=4,
                  epochs=2, per_image_repeats=1, empty_tasks=500),
    "smoke": dict(size=40, repeats=1, tasks_per_worker=1, max_n=4, train_n=4, test_n=2,
                  epochs=1, per_image_repeats=1, empty_tasks=20),
}


def crops(n, size):
    """``n`` contrast-normalised built-in crops (natural, then city, then their mirror
    images), ``size`` x ``size``, as (1, size, size) float32."""
    base = [contrast_normalize(im) for im in load_images("natural") + load_images("city")]
    base += [b[:, ::-1] for b in base]
    return [np.ascontiguousarray(b[None, :size, :size]) for b in base[:n]]


def timed(fn, repeats):
    out, ts = None, []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t0)
    return out, statistics.median(ts)


def du(path):
    return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(path) for f in fs)


def sizing(per_image_s, W, cfg, n_base=2):
    """(images, images per task) of a workload: tasks of about 0.2 s, at least
    ``tasks_per_worker`` of them per worker."""
    k = DW.images_per_task(per_image_s, 10 ** 9, W)
    n = max(n_base, cfg["tasks_per_worker"] * W * k)
    if cfg["max_n"]:
        n = min(n, cfg["max_n"])
    return n, DW.images_per_task(per_image_s, n, W)


def cycle(Y, n):
    return [Y[i % len(Y)] for i in range(n)]


def stages(client, n_images, W, wall_s):
    """The workers' per-stage seconds per image since the last call, and the rest
    of ``W x wall_s`` (Dask: scheduling, transfers, waiting)."""
    per = {}
    for st in client.run(DW._take_stages).values():
        for k, (sec, _n, _c) in st.items():
            per[k] = per.get(k, 0.0) + sec
    task = per.pop("task", None)  # whole transform tasks, around the stages above
    out = {f"{k}_ms_per_image": 1e3 * v / n_images for k, v in sorted(per.items())}
    if task is not None:
        out["in_tasks_unstaged_ms_per_image"] = 1e3 * (task - sum(per.values())) / n_images
        out["dask_and_idle_ms_per_image"] = 1e3 * (W * wall_s - task) / n_images
    else:
        out["dask_and_idle_ms_per_image"] = 1e3 * (W * wall_s - sum(per.values())) / n_images
    return out


def _fmt_stages(st):
    return ", ".join(f"{k.replace('_ms_per_image', '')} {v:.2f}" for k, v in st.items())


def serialisation(model, block, result):
    """Seconds to pickle and unpickle a task's arguments (the model, an image
    block) and its result, as Dask does on the way."""
    t0 = time.perf_counter()
    for x in (model, block, result):
        pickle.loads(pickle.dumps(x, protocol=5))
    return time.perf_counter() - t0


def one_thread_per_image(fn, y):
    """Seconds per image of ``fn(y)`` on one numba thread (after a warm-up call)."""
    with threads(1, adapt=False):
        fn(y)
        t0 = time.perf_counter()
        fn(y)
        return time.perf_counter() - t0


# ------------------------------------------------------------------ 1. inference
def inference(client, net, Y, cfg, tmp, W):
    la1, la2 = net.layers
    s1 = np.float32(net.scales_[0])
    Y2 = [np.ascontiguousarray(la1.infer(y) * s1) for y in Y]
    nt = min(W, max_threads())
    rows = {}
    for name, model, base, layer, one in (
            ("layer 1 inference", la1, Y, None,
             lambda d, t=W: la1.infer(np.stack(d), n_jobs=t)),
            ("layer 2 inference (bottom-up: layer.infer on the scaled layer-1 maps)", la2, Y2,
             None, lambda d, t=W: la2.infer(np.stack(d), n_jobs=t)),
            ("layer 2 inference (top-down: net.infer(images, layer=2), eqs. 10-11)", net, Y, 2,
             lambda d, t=W: net.infer(d, layer=2, n_jobs=t))):
        t1 = one_thread_per_image(lambda y: one([y], 1), base[0])
        n, per_task = sizing(t1, W, cfg)
        data = cycle(base, n)
        store = os.path.join(tmp, "maps.zarr")

        def dist():
            # a new path each time: replacing the last run's array (deleting its files,
            # 1.2 s of a 7 s call, profiled) is not part of inferring maps
            shutil.rmtree(store, ignore_errors=True)
            t0 = time.perf_counter()
            out = D.transform(model, data, store, client=client, layer=layer,
                              images_per_task=per_task, n_threads=1)
            return out, time.perf_counter() - t0
        one(data)  # warm-up
        dist()  # warm-up
        client.run(DW._take_stages)
        ts_one, ts_dist = [], []
        for _ in range(cfg["repeats"]):  # alternate: the machine may be shared
            ref, t = timed(lambda: one(data), 1)
            ts_one.append(t)
            out, t = dist()
            ts_dist.append(t)
        t_one, t_dist = statistics.median(ts_one), statistics.median(ts_dist)
        st = stages(client, n * cfg["repeats"], W, sum(ts_dist))
        same = bool(np.array_equal(out[:], ref))
        ser = serialisation(D._slim(model), data[:per_task], None)
        rows[name] = dict(one_process_img_s=n / t_one, distributed_img_s=n / t_dist,
                          ratio=t_one / t_dist, n_images=n, workers=W, one_process_threads=nt,
                          one_process_s=t_one, distributed_s=t_dist,
                          one_process_runs_s=ts_one, distributed_runs_s=ts_dist,
                          bit_identical=same, images_per_task=per_task,
                          tasks_per_worker=-(-n // per_task) / W,
                          one_thread_s_per_image=t1, stages=st,
                          serialisation_ms_per_task=1e3 * ser, zarr_bytes=du(store),
                          maps_bytes=int(ref.nbytes))
        print(f"  {name}: one process ({nt} threads) {n / t_one:7.1f} img/s, {W} workers x 1 "
              f"thread {n / t_dist:7.1f} img/s (x{t_one / t_dist:.2f}); {n} images, "
              f"{per_task} per task; bit-identical: {same}\n"
              f"      per image on the workers (ms): {_fmt_stages(st)}; pickling "
              f"{1e3 * ser:.2f} ms per task")
    return rows


# ------------------------------------------------------------------ 2. training
def training(client, net, Y, cfg, tmp, W):
    s1 = np.float32(net.scales_[0])
    Y2 = [np.ascontiguousarray(net.layers[0].infer(y) * s1) for y in Y]
    nt = min(W, max_threads())
    rows = {}
    for name, make, base in (
            ("layer 1 batch epoch", lambda: numbadn.DeconvLayer(1, 9, random_state=0,
                                                                update="batch"), Y),
            ("layer 2 batch epoch", lambda: numbadn.DeconvLayer(
                9, 45, random_state=1, update="batch", connectivity="singles_and_pairs"), Y2)):
        probe = make().initialize()
        t1 = one_thread_per_image(lambda y: _train_step(probe, y), base[0])
        n, per_task = sizing(t1, W, cfg)
        data = cycle(base, n)
        store = os.path.join(tmp, "run")

        def dist():
            shutil.rmtree(store, ignore_errors=True)
            return D.fit(make(), data, 2, store=store, client=client,
                         images_per_task=per_task, n_threads=1)

        def one():
            return make().fit(data, epochs=2, verbose=False, n_jobs=W)
        ts_one, ts_dist, walls = [], [], []
        client.run(DW._take_stages)
        for _ in range(cfg["repeats"]):  # alternate: the machine may be shared
            ref = one()
            ts_one.append(ref.history_[-1]["seconds"])
            t0 = time.perf_counter()
            dist_la = dist()
            walls.append(time.perf_counter() - t0)
            ts_dist.append(dist_la.history_[-1]["seconds"])
        t_one, t_dist = statistics.median(ts_one), statistics.median(ts_dist)
        st = stages(client, 2 * n * cfg["repeats"], W, sum(walls))
        err = float(np.abs(dist_la.filters_ - ref.filters_).max())
        s = dist_la.distributed_stats_
        maps = du(os.path.join(store, "maps1"))
        ser = serialisation(D._slim(dist_la), None, (np.zeros(per_task), dist_la.filters_))
        rows[name] = dict(
            one_process_batch_img_s=n / t_one, distributed_batch_img_s=n / t_dist,
            ratio=t_one / t_dist, n_images=n, workers=W, one_process_threads=nt,
            one_process_runs_s=ts_one, distributed_runs_s=ts_dist,
            max_filter_difference=err,
            relative_cost_difference=abs(dist_la.history_[-1]["cost"] - ref.history_[-1]["cost"])
            / ref.history_[-1]["cost"],
            rounds_per_epoch=dist_la.history_[-1]["rounds"],
            bytes_to_workers_per_epoch_per_worker=s["bytes_to_workers"] / 2,
            bytes_to_client_per_epoch=s["bytes_to_client"] / 2,
            filter_bytes=int(dist_la.filters_.nbytes), images_per_task=per_task,
            tasks_per_worker=-(-n // per_task) / W, one_thread_s_per_image=t1,
            stages_both_epochs_and_start=st, serialisation_ms_per_task=1e3 * ser,
            zarr_map_bytes_per_epoch=maps, zarr_map_bytes_per_epoch_per_worker=maps / W,
            input_bytes=du(os.path.join(store, "inputs")))
        r = rows[name]
        print(f"  {name}: one process ({nt} threads) {n / t_one:6.1f} img/s, {W} workers x 1 "
              f"thread {n / t_dist:6.1f} img/s (x{t_one / t_dist:.2f}); {n} images, {per_task} "
              f"per task; filters differ by {err:.2g}; {r['rounds_per_epoch']} rounds/epoch, "
              f"{r['bytes_to_workers_per_epoch_per_worker'] / 1e3:.1f} kB to each worker, "
              f"{r['bytes_to_client_per_epoch'] / 1e3:.1f} kB to the client per epoch\n"
              f"      per image on the workers (ms, 2 epochs and the start): {_fmt_stages(st)}")
    return rows


def _train_step(la, y):
    """What a fit task does per image: inference, cost, gradient, 2 CG products."""
    from numbadn.solvers.filters import filter_grad_sum, filter_gram_sum
    z = la.infer(y[None], n_jobs=1)
    la.cost(y, z[0])
    filter_grad_sum(la.filters_, la.connectivity_, [z[0]], [y])
    for _ in range(la.filter_cg_iters):
        filter_gram_sum(la.filters_, la.connectivity_, [z[0]])


def cold_start(client, la, y):
    """A cold worker's first task, per stage (numba cache load + first call, zarr
    import, operator set-up, one image), from ``numbadn.distributed``'s warm-up."""
    from numbadn.distributed._sources import _Arrays
    _, _, replies = DW.prepare(client, la, _Arrays([y]), None, 1, "fit")
    keys = sorted({k for r in replies.values() for k in r["stages"]})
    return {k: max(r["stages"].get(k, 0.0) for r in replies.values()) for k in keys}


# ------------------------------------------------------------------ 3. per image
def per_image(cfg, size):
    """Seconds per image of one training step (what a task does) per paper layer, 1 thread."""
    from numbadn.solvers.filters import filter_grad_sum, filter_gram_sum
    rng = np.random.default_rng(0)
    net = numbadn.DeconvNet.paper(n_maps=(9, 45, 150), random_state=0)
    rows = []
    P = size
    for li, la in enumerate(net.layers):
        la.initialize()  # the initial filters: a task's work does not depend on them
        y = rng.standard_normal((la.in_channels, P, P)).astype(np.float32)
        y /= np.abs(y).max()
        la.infer(y, n_jobs=1)  # warm-up
        z, t_inf = timed(lambda: la.infer(y, n_jobs=1), cfg["per_image_repeats"])
        with threads(1, adapt=False):
            filter_grad_sum(la.filters_, la.connectivity_, [z], [y])
            _, t_grad = timed(lambda: filter_grad_sum(la.filters_, la.connectivity_, [z], [y]),
                              cfg["per_image_repeats"])
            _, t_gram = timed(lambda: filter_gram_sum(la.filters_, la.connectivity_, [z]),
                              cfg["per_image_repeats"])
        rows.append(dict(layer=li + 1, maps=la.n_maps, input=[la.in_channels, P, P],
                         infer_s=t_inf, grad_s=t_grad, gram_s=t_gram,
                         step_s=t_inf + t_grad + la.filter_cg_iters * t_gram,
                         map_bytes=int(z.nbytes), filter_bytes=int(la.filters_.nbytes)))
        print(f"  layer {li + 1} ({la.n_maps} maps, input {la.in_channels}x{P}x{P}): infer "
              f"{t_inf * 1e3:7.1f} ms, gradient {t_grad * 1e3:6.1f} ms, CG product "
              f"{t_gram * 1e3:6.1f} ms: {rows[-1]['step_s'] * 1e3:7.1f} ms per image and epoch; "
              f"maps {z.nbytes / 2 ** 20:.2f} MiB, filters {la.filters_.nbytes / 2 ** 20:.2f} MiB")
        P += la.filters_.shape[2] - 1
    return rows


def empty_task_cost(client, n):
    futs = client.map(_noop, range(n), pure=False)
    client.gather(futs)  # warm-up
    t0 = time.perf_counter()
    client.gather(client.map(_noop, range(n), pure=False))
    return (time.perf_counter() - t0) / n


def _noop(i):
    return i


def estimate(per_img, task_s, zarr_ratio, *, n_images=1_000_000, machines=100, cores=16,
             epochs=3, images_per_task=100, round_latency_s=0.5, write_Bps=0.5e9):
    """Wall time, memory and bytes of learning the paper's 3 layers on ``n_images``
    images (the size of ``per_img``'s) with ``distributed.fit_network(update="batch")``
    on ``machines`` x ``cores`` (one single-thread Dask worker per core, each as
    fast as one thread here).  Assumed: ``images_per_task`` images per task; a
    round trip of ``round_latency_s`` per round on top of the work; each machine
    writes its maps to the shared store at ``write_Bps`` bytes/s (its share of
    the file system), compressed by ``zarr_ratio`` (measured here); the
    scheduler spends ``task_s`` (measured here) on every task, serially."""
    workers = machines * cores
    tasks = n_images / images_per_task
    out = dict(n_images=n_images, machines=machines, cores_per_machine=cores, epochs=epochs,
               images_per_task=images_per_task, round_latency_s=round_latency_s,
               write_bytes_per_s_per_machine=write_Bps, zarr_ratio=zarr_ratio,
               dask_seconds_per_task=task_s, layers=[])
    total = 0.0
    for li, r in enumerate(per_img):
        rounds = epochs * 3  # inference + 2 CG products per epoch
        compute = epochs * n_images * r["step_s"] / workers
        sched = rounds * tasks * task_s
        # the layer's inputs: every image through the layers below, once
        inputs = sum(q["infer_s"] for q in per_img[:li]) * n_images / workers
        maps_per_machine = n_images / machines * r["map_bytes"]
        write = epochs * maps_per_machine * zarr_ratio / write_Bps
        t = compute + sched + rounds * round_latency_s + inputs + write
        total += t
        out["layers"].append(dict(
            layer=li + 1, compute_s=compute, scheduler_s=sched, bottom_up_inputs_s=inputs,
            latency_s=rounds * round_latency_s, zarr_write_s=write, total_s=t,
            zarr_bytes=2 * n_images * r["map_bytes"] * zarr_ratio,
            memory_per_machine_bytes=maps_per_machine,
            filter_bytes_per_round_per_worker=2 * r["filter_bytes"]))
    out["total_s"] = total
    return out


# ------------------------------------------------------------------ 4. quality
def quality(client, cfg, tmp, lam=1.0):
    ims = [contrast_normalize(im)[None] for im in load_images("natural")]
    train, test = ims[:cfg["train_n"]], ims[20:20 + cfg["test_n"]]
    if cfg["size"] < 96:
        train = [np.ascontiguousarray(y[:, :cfg["size"], :cfg["size"]]) for y in train]
        test = [np.ascontiguousarray(y[:, :cfg["size"], :cfg["size"]]) for y in test]
    E = cfg["epochs"]
    n_per = max(1, cfg["train_n"] // 2)
    variants = [("one process, online", "one", dict(update="online")),
                ("one process, batch", "one", dict(update="batch")),
                ("distributed, batch", "dist", dict(update="batch")),
                ("distributed, minibatch B=2", "dist", dict(update="minibatch", batch_size=2)),
                ("distributed, minibatch B=5", "dist", dict(update="minibatch", batch_size=5)),
                ("distributed, averaged 2 streams, sync 1", "dist",
                 dict(update="averaged", n_streams=2, sync_every=1)),
                ("distributed, averaged 2 streams, sync 5", "dist",
                 dict(update="averaged", n_streams=2, sync_every=5)),
                (f"distributed, averaged 2 streams, sync {n_per} (once per epoch)", "dist",
                 dict(update="averaged", n_streams=2))]
    rows = {}
    for name, where, kw in variants:
        la = numbadn.DeconvLayer(1, 9, lam=lam, random_state=0)
        t0 = time.perf_counter()
        if where == "one":
            la.update = kw["update"]
            la.fit(train, epochs=E, verbose=False, n_jobs=2)
        else:
            store = os.path.join(tmp, "q")
            shutil.rmtree(store, ignore_errors=True)
            D.fit(la, train, E, store=store, client=client, images_per_task=2, **kw)
        secs = time.perf_counter() - t0
        cont = sum(la.cost(y, la.infer(y)) for y in test)
        opt = sum(la.cost(y, la.infer(y, solver="fista", tol=1e-6, max_iter=500))
                  for y in test)
        rows[name] = dict(settings=kw, train_seconds=secs, heldout_continuation_cost=cont,
                          heldout_optimum_cost=opt,
                          train_cost_per_epoch=[h["cost"] for h in la.history_],
                          rounds_per_epoch=la.history_[-1].get("rounds"))
    on = rows["one process, online"]
    for name, r in rows.items():
        r["continuation_vs_online"] = r["heldout_continuation_cost"] / \
            on["heldout_continuation_cost"] - 1
        r["optimum_vs_online"] = r["heldout_optimum_cost"] / on["heldout_optimum_cost"] - 1
        print(f"  {name:52s} held-out cost: continuation {r['heldout_continuation_cost']:9.2f} "
              f"({100 * r['continuation_vs_online']:+5.1f}% vs online), optimum "
              f"{r['heldout_optimum_cost']:9.2f} ({100 * r['optimum_vs_online']:+5.1f}%); "
              f"{r['rounds_per_epoch'] or '-'} rounds/epoch, {r['train_seconds']:.1f} s")
    return dict(settings=dict(lam=lam, n_train=len(train), n_test=len(test), epochs=E,
                              maps=9, filter_size=7), results=rows)


def _worker_counts(text):
    try:
        ws = [int(w) for w in str(text).split(",") if w.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--workers takes counts like 2 or 1,2,4,8,16, got "
                                         f"{text!r}") from None
    if not ws or min(ws) < 1:
        raise argparse.ArgumentTypeError(f"--workers needs counts >= 1, got {text!r}")
    return ws


def run_workers(W, cfg, net, Y, res, with_quality):
    """Sections 1 and 2 (and 4) on a fresh LocalCluster of ``W`` workers x 1 thread."""
    from distributed import Client, LocalCluster
    out = {}
    with tempfile.TemporaryDirectory() as tmp, \
            LocalCluster(n_workers=W, threads_per_worker=1, processes=True,
                         dashboard_address=":0") as cluster, Client(cluster) as client:
        client.wait_for_workers(W)
        print(f"\n=== {W} workers x 1 thread against one process with "
              f"{min(W, max_threads())} threads ===")
        out["cold_worker_s"] = cold_start(client, net.layers[0], Y[0])
        print("  a cold worker's first task (s): " + ", ".join(
            f"{k} {v:.3f}" for k, v in out["cold_worker_s"].items()))
        print(f"\n1. Inference ({cfg['size']}x{cfg['size']} crops):")
        out["inference"] = inference(client, net, Y, cfg, tmp, W)
        print("\n2. A batch training epoch (the second of two):")
        out["training"] = training(client, net, Y, cfg, tmp, W)
        out["dask_seconds_per_empty_task"] = empty_task_cost(client, cfg["empty_tasks"])
        print(f"  Dask: {out['dask_seconds_per_empty_task'] * 1e3:.2f} ms per empty task "
              "(LocalCluster, client and scheduler on this machine)")
        if with_quality:
            print("\n4. Online against its distributed approximations (held-out eq. 2 cost):")
            res["quality"] = quality(client, cfg, tmp)
    return out


def curve(runs):
    """``{workload: [(W, one-process img/s, cluster img/s, ratio), ...]}``."""
    out = {}
    for W, r in runs.items():
        for sec, key_one, key_dist in (("inference", "one_process_img_s", "distributed_img_s"),
                                       ("training", "one_process_batch_img_s",
                                        "distributed_batch_img_s")):
            for name, row in r[sec].items():
                out.setdefault(name, []).append(dict(
                    workers=int(W), one_process_img_s=row[key_one],
                    distributed_img_s=row[key_dist], ratio=row["ratio"]))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true",
                      help="2 tasks per worker instead of 8, 1 repeat")
    mode.add_argument("--smoke", action="store_true", help="40x40 crops, a few images (tests)")
    ap.add_argument("--out", default=None,
                    help="output folder (default: figures/, figures/quick/ for --quick, --smoke)")
    ap.add_argument("--workers", type=_worker_counts, default=[2], metavar="W[,W...]",
                    help="LocalCluster worker counts (1 thread each), each against one "
                         "process with W threads; several print the scaling curve "
                         "(default: 2)")
    ap.add_argument("--repeats", type=int, default=None,
                    help="alternating one-process / cluster runs per workload (medians)")
    ap.add_argument("--no-quality", action="store_true", help="skip section 4")
    args = ap.parse_args(argv)
    # measure exactly W / 1 threads (also in the workers, which inherit it)
    os.environ.setdefault("NUMBADN_ADAPTIVE_THREADS", "0")
    name = "smoke" if args.smoke else "quick" if args.quick else "full"
    cfg = dict(CONFIGS[name], mode=name, workers=args.workers)
    if args.repeats:
        cfg["repeats"] = args.repeats
    out_dir = _util.default_out(args)
    out_dir.mkdir(parents=True, exist_ok=True)
    t_wall, load_start = time.perf_counter(), os.getloadavg()
    print(f"numbadn.distributed ({name} mode): {os.cpu_count()} CPUs, numba up to "
          f"{max_threads()} threads; LocalClusters of {args.workers} workers x 1 thread; load "
          f"average {load_start[0]:.2f}")
    Y = crops(64, cfg["size"])
    net = numbadn.DeconvNet.paper(n_maps=(9, 45), random_state=0)
    net.fit(Y[:8], epochs=1, verbose=False)
    res = dict(settings=cfg, versions=_util.versions())
    import dask
    import zarr
    res["versions"].update(dask=dask.__version__, zarr=zarr.__version__)
    res["runs"] = {}
    for k, W in enumerate(args.workers):
        res["runs"][str(W)] = run_workers(W, cfg, net, Y, res,
                                          with_quality=k == 0 and not args.no_quality)
    res["curve"] = curve(res["runs"])
    print("\nThroughput (img/s), one process with W threads against W workers x 1 thread:")
    for wl, pts in res["curve"].items():
        print(f"  {wl}:")
        for p in pts:
            print(f"    W = {p['workers']:2d}: one process {p['one_process_img_s']:8.1f}, "
                  f"workers {p['distributed_img_s']:8.1f}, ratio {p['ratio']:.2f}")
    print("\n3. Per-image work of a training step per paper layer (1 thread):")
    res["per_image"] = per_image(cfg, cfg["size"])
    first = res["runs"][str(args.workers[0])]
    li = first["inference"]["layer 2 inference (bottom-up: layer.infer on the scaled layer-1 "
                            "maps)"]
    est = estimate(res["per_image"], first["dask_seconds_per_empty_task"],
                   li["zarr_bytes"] / li["maps_bytes"])
    res["estimate_1e6"] = est
    print(f"\nEstimate: the paper's 3 layers, {est['epochs']} epochs each, on "
          f"{est['n_images']:,} images of {cfg['size']}x{cfg['size']}, {est['machines']} "
          f"machines x {est['cores_per_machine']} cores: {est['total_s'] / 3600:.1f} h ("
          + ", ".join(f"layer {r['layer']} {r['total_s'] / 3600:.2f} h" for r in est["layers"])
          + f"); layer 3: {est['layers'][-1]['zarr_bytes'] / 1e12:.1f} TB of maps in Zarr, "
          f"{est['layers'][-1]['memory_per_machine_bytes'] / 2 ** 30:.0f} GiB of maps in each "
          "machine's memory")
    res["wall_time_s"] = time.perf_counter() - t_wall
    res["machine"] = _util.machine(load_start, {})
    _util.write_json(res, out_dir / "bench_distributed.json")
    print(f"\nwrote {out_dir / 'bench_distributed.json'} ({res['wall_time_s']:.0f} s)")
    return res


if __name__ == "__main__":
    main()
