"""numbadn on a Dask cluster (``numbadn.distributed``): speed, bytes moved, and the
online approximations' quality, one process against a ``LocalCluster``.

1. **Inference**: images per second of layer 1 (``DeconvLayer.infer``, one
   batched call) and layer 2 (``DeconvNet.infer(layer=2)``, top-down, per
   image) in one process with 2 numba threads, against ``distributed.transform``
   on a ``LocalCluster`` of 2 workers x 1 thread (1 numba thread per task,
   ``images_per_task`` images per task, maps written to Zarr on the workers);
   the maps are checked bit-identical.
2. **A training epoch** (``update="batch"``, the second epoch of two, so the
   warm starts are read back): layer 1 (9 maps) and layer 2 (45 maps, singles
   and pairs, on the scaled layer-1 maps), one process with 2 threads against
   ``distributed.fit``; the largest filter difference after the two epochs
   (the batch-equality figure); bytes sent and received per epoch and per
   worker, and the bytes of maps each epoch writes to Zarr.
3. **Per-image work per layer** on 1 thread (what one task does per image and
   epoch: inference, the eq. 9 gradient, 2 CG products), for the paper's 3
   layers (9, 45, 150 maps) on 96x96 images, and Dask's cost per empty task:
   the inputs of the 1,000,000-image estimate printed at the end (and in
   ``docs/scaling.md``).
4. **Online against its distributed approximations**, as
   ``reproduce/online_vs_batch.py`` scores them: 20 natural crops, 3 epochs,
   ``lam = 1``, held-out eq. 2 cost on 6 crops (continuation, and the optimum
   by FISTA) of the filters learned by one-process online and batch updates,
   and by ``distributed.fit`` with ``update="batch"``, ``"minibatch"`` (B = 2,
   5) and ``"averaged"`` (2 streams, synchronised every 1, 5 images and once
   per epoch).

Writes ``bench_distributed.json``::

    python -m benchmarks.distributed            # full: figures/bench_distributed.json
    python -m benchmarks.distributed --quick    # fewer images: figures/quick/
    python -m benchmarks.distributed --smoke    # 40x40 crops, a few images (tests)
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time

import numpy as np

import numbadn
from numbadn import distributed as D
from numbadn._jit import threads
from numbadn.data import load_images
from numbadn.preprocess import contrast_normalize

try:  # run as python -m benchmarks.distributed, or imported by the tests
    from . import _util
except ImportError:  # pragma: no cover
    from benchmarks import _util

CONFIGS = {
    "full": dict(n=64, size=96, repeats=3, per_task=4, train_n=20, test_n=6, epochs=3,
                 per_image_repeats=3, empty_tasks=2000),
    "quick": dict(n=32, size=96, repeats=1, per_task=4, train_n=8, test_n=4, epochs=2,
                  per_image_repeats=1, empty_tasks=500),
    "smoke": dict(n=4, size=40, repeats=1, per_task=2, train_n=4, test_n=2, epochs=1,
                  per_image_repeats=1, empty_tasks=20),
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


# ------------------------------------------------------------------ 1. inference
def inference(client, net, Y, cfg, tmp):
    la1, la2 = net.layers
    s1 = np.float32(net.scales_[0])
    Y2 = [np.ascontiguousarray(la1.infer(y) * s1) for y in Y]
    rows = {}
    for name, one, model, data, layer, per_task in (
            ("layer 1 (4x the images)", lambda: la1.infer(np.stack(Y * 4), n_threads=2), la1,
             Y * 4, None, 4 * cfg["per_task"]),
            ("layer 2 (bottom-up: layer.infer on the scaled layer-1 maps)",
             lambda: la2.infer(np.stack(Y2), n_threads=2), la2, Y2, None, cfg["per_task"]),
            ("layer 2 (top-down: net.infer(layer=2), eqs. 10-11)",
             lambda: np.stack([net.infer(y, layer=2, n_threads=2) for y in Y]), net, Y, 2,
             cfg["per_task"])):
        one()  # warm-up (compiled kernels loaded)
        ref, t_one = timed(one, cfg["repeats"])
        store = os.path.join(tmp, "maps.zarr")

        def dist():
            return D.transform(model, data, store, client=client, layer=layer,
                               images_per_task=per_task, n_threads=1)
        dist()  # warm-up: the workers load the kernels
        out, t_dist = timed(dist, cfg["repeats"])
        same = bool(np.array_equal(out[:], ref))
        n = len(data)
        rows[name] = dict(one_process_img_s=n / t_one, distributed_img_s=n / t_dist, n_images=n,
                          one_process_s=t_one, distributed_s=t_dist, bit_identical=same,
                          images_per_task=per_task, zarr_bytes=du(store),
                          maps_bytes=int(ref.nbytes))
        print(f"  {name}: one process (2 threads) {n / t_one:7.1f} img/s, 2 workers x 1 "
              f"thread {n / t_dist:7.1f} img/s (x{t_one / t_dist:.2f}, {per_task} images "
              f"per task); maps bit-identical: {same}; Zarr {du(store) / 2 ** 20:.1f} MiB for "
              f"{ref.nbytes / 2 ** 20:.1f} MiB of maps")
    return rows


# ------------------------------------------------------------------ 2. training
def training(client, net, Y, cfg, tmp):
    s1 = np.float32(net.scales_[0])
    Y2 = [np.ascontiguousarray(net.layers[0].infer(y) * s1) for y in Y]
    rows = {}
    for name, make, data in (
            ("layer 1", lambda u: numbadn.DeconvLayer(1, 9, random_state=0, update=u), Y),
            ("layer 2", lambda u: numbadn.DeconvLayer(9, 45, random_state=1, update=u,
                                                      connectivity="singles_and_pairs"), Y2)):
        one = make("batch").fit(data, epochs=2, verbose=False, n_threads=2)
        online = make("online").fit(data, epochs=2, verbose=False, n_threads=2)
        store = os.path.join(tmp, "run")
        shutil.rmtree(store, ignore_errors=True)
        per_task = 4 * cfg["per_task"] if name == "layer 1" else cfg["per_task"]
        dist = D.fit(make("batch"), data, 2, store=store, client=client,
                     images_per_task=per_task, n_threads=1)
        t_one, t_on, t_dist = (la.history_[-1]["seconds"] for la in (one, online, dist))
        err = float(np.abs(dist.filters - one.filters).max())
        st = dist.distributed_stats_
        n_workers = len(D._workers(client))
        maps = du(os.path.join(store, "maps1"))
        rows[name] = dict(
            one_process_batch_img_s=len(data) / t_one, one_process_online_img_s=len(data) / t_on,
            distributed_batch_img_s=len(data) / t_dist, max_filter_difference=err,
            relative_cost_difference=abs(dist.history_[-1]["cost"] - one.history_[-1]["cost"])
            / one.history_[-1]["cost"],
            rounds_per_epoch=dist.history_[-1]["rounds"],
            bytes_to_workers_per_epoch_per_worker=st["bytes_to_workers"] / 2,
            bytes_to_client_per_epoch=st["bytes_to_client"] / 2,
            filter_bytes=int(dist.filters.nbytes), images_per_task=per_task,
            zarr_map_bytes_per_epoch=maps, zarr_map_bytes_per_epoch_per_worker=maps / n_workers,
            input_bytes=du(os.path.join(store, "inputs")))
        r = rows[name]
        print(f"  {name}: one process batch {r['one_process_batch_img_s']:6.1f} img/s (online "
              f"{r['one_process_online_img_s']:6.1f}), 2 workers batch "
              f"{r['distributed_batch_img_s']:6.1f} img/s; filters after 2 epochs differ by "
              f"{err:.2g} (float32); {r['rounds_per_epoch']} rounds/epoch, "
              f"{r['bytes_to_workers_per_epoch_per_worker'] / 1e3:.1f} kB to each worker, "
              f"{r['bytes_to_client_per_epoch'] / 1e3:.1f} kB to the client, "
              f"{maps / 2 ** 20:.1f} MiB of maps to Zarr per epoch")
    return rows


# ------------------------------------------------------------------ 3. per image
def per_image(cfg, size):
    """Seconds per image of one training step (what a task does) per paper layer, 1 thread."""
    from numbadn.solvers.filters import filter_grad_sum, filter_gram_sum
    rng = np.random.default_rng(0)
    net = numbadn.DeconvNet.paper(n_maps=(9, 45, 150), random_state=0)
    rows = []
    P = size
    for li, la in enumerate(net.layers):
        y = rng.standard_normal((la.in_channels, P, P)).astype(np.float32)
        y /= np.abs(y).max()
        la.infer(y, n_threads=1)  # warm-up
        z, t_inf = timed(lambda: la.infer(y, n_threads=1), cfg["per_image_repeats"])
        with threads(1, adapt=False):
            filter_grad_sum(la.filters, la.connectivity, [z], [y])
            _, t_grad = timed(lambda: filter_grad_sum(la.filters, la.connectivity, [z], [y]),
                              cfg["per_image_repeats"])
            _, t_gram = timed(lambda: filter_gram_sum(la.filters, la.connectivity, [z]),
                              cfg["per_image_repeats"])
        rows.append(dict(layer=li + 1, maps=la.n_maps, input=[la.in_channels, P, P],
                         infer_s=t_inf, grad_s=t_grad, gram_s=t_gram,
                         step_s=t_inf + t_grad + la.filter_cg_iters * t_gram,
                         map_bytes=int(z.nbytes), filter_bytes=int(la.filters.nbytes)))
        print(f"  layer {li + 1} ({la.n_maps} maps, input {la.in_channels}x{P}x{P}): infer "
              f"{t_inf * 1e3:7.1f} ms, gradient {t_grad * 1e3:6.1f} ms, CG product "
              f"{t_gram * 1e3:6.1f} ms: {rows[-1]['step_s'] * 1e3:7.1f} ms per image and epoch; "
              f"maps {z.nbytes / 2 ** 20:.2f} MiB, filters {la.filters.nbytes / 2 ** 20:.2f} MiB")
        P += la.filter_size[0] - 1
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
            la.fit(train, epochs=E, verbose=False, n_threads=2)
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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="fewer images and repeats")
    mode.add_argument("--smoke", action="store_true", help="40x40 crops, a few images (tests)")
    ap.add_argument("--out", default=None,
                    help="output folder (default: figures/, figures/quick/ for --quick, --smoke)")
    ap.add_argument("--workers", type=int, default=2, help="LocalCluster workers (1 thread each)")
    args = ap.parse_args(argv)
    # measure exactly 2 / 1 threads (also in the workers, which inherit it)
    os.environ.setdefault("NUMBADN_ADAPTIVE_THREADS", "0")
    from distributed import Client, LocalCluster
    name = "smoke" if args.smoke else "quick" if args.quick else "full"
    cfg = dict(CONFIGS[name], mode=name, workers=args.workers)
    out_dir = _util.default_out(args)
    out_dir.mkdir(parents=True, exist_ok=True)
    t_wall, load_start = time.perf_counter(), os.getloadavg()
    print(f"numbadn.distributed ({name} mode): {os.cpu_count()} CPUs, LocalCluster of "
          f"{args.workers} workers x 1 thread; load average {load_start[0]:.2f}")
    Y = crops(cfg["n"], cfg["size"])
    net = numbadn.DeconvNet.paper(n_maps=(9, 45), random_state=0)
    net.fit(Y[:8], epochs=1, verbose=False)
    res = dict(settings=cfg, versions=_util.versions())
    import dask
    import zarr
    res["versions"].update(dask=dask.__version__, zarr=zarr.__version__)
    with tempfile.TemporaryDirectory() as tmp, \
            LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                         dashboard_address=":0") as cluster, Client(cluster) as client:
        print(f"\n1. Inference, {len(Y)} images of {cfg['size']}x{cfg['size']}:")
        res["inference"] = inference(client, net, Y, cfg, tmp)
        print(f"\n2. A training epoch (update='batch', epoch 2 of 2), {len(Y)} images:")
        res["training"] = training(client, net, Y, cfg, tmp)
        print("\n3. Per-image work of a training step per paper layer (1 thread), Dask per task:")
        res["per_image"] = per_image(cfg, cfg["size"])
        res["dask_seconds_per_empty_task"] = empty_task_cost(client, cfg["empty_tasks"])
        print(f"  Dask: {res['dask_seconds_per_empty_task'] * 1e3:.2f} ms per empty task "
              "(LocalCluster, client and scheduler on this machine)")
        print("\n4. Online against its distributed approximations (held-out eq. 2 cost):")
        res["quality"] = quality(client, cfg, tmp)
    li = res["inference"]["layer 2 (bottom-up: layer.infer on the scaled layer-1 maps)"]
    est = estimate(res["per_image"], res["dask_seconds_per_empty_task"],
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
