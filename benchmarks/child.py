"""The fresh-process measurements: ``python benchmarks/child.py WHAT ARGS...``.

Started by :func:`benchmarks._util.run_child` with an explicit environment (the
repository root on ``PYTHONPATH``, ``NUMBA_NUM_THREADS`` and the like on top).
Each child prints one JSON line last.  Only the standard library is imported
at the top: each child imports what it measures, so the start-up child times
the imports and the memory child's peak holds only numbadn's own modules.

``startup SIZE``
    times from the first line to the results of the first and second ``infer``
    (continuation, then FISTA) on the bench photograph (``SIZE``: ``none`` for
    150x150, else a centred crop);
``scaling SIZE N REPEATS ITERS_1PCT``
    images per second of one batched ``infer`` on N rotated copies, and of one
    call per image, for the paper's schedule, FISTA and FISTA stopped after
    ``ITERS_1PCT`` iterations;
``memory N SIZE LOW``
    peak resident memory (bytes) of ``DeconvNet.paper().fit`` for one epoch on
    N contrast-normalised ``natural`` crops of SIZE x SIZE (``LOW``: 1 for
    ``low_memory=True``);
``paper-schedule SIZE THREADS``
    :func:`numbadn.bench.bench_inference` (``THREADS``: e.g. ``1,2``), its
    lines on stderr.
"""
import time

T_FIRST_LINE = time.time()

import json  # noqa: E402
import sys  # noqa: E402


def _size(v):
    return None if v == "none" else int(v)


def startup(size):
    import numpy as np
    from numbadn import infer
    t_imported = time.time()
    from benchmarks.headtohead import bench_image, unit_filters
    y = bench_image(_size(size))[None].astype(np.float32)
    f = unit_filters().astype(np.float32)
    t_loaded = time.time()
    infer(y, f)
    t_first = time.time()
    infer(y, f)
    t_second = time.time()
    infer(y, f, solver="fista")
    t_fista_first = time.time()
    infer(y, f, solver="fista")
    t_fista_second = time.time()
    return dict(first_line=T_FIRST_LINE, imported=t_imported, loaded=t_loaded,
                first=t_first, second=t_second, fista_first=t_fista_first,
                fista_second=t_fista_second)


def scaling(size, n, repeats, iters_1pct):
    import numba
    import numpy as np
    from numbadn import infer
    from numbadn.bench import median_time
    from benchmarks.headtohead import bench_image, unit_filters
    n, repeats = int(n), int(repeats)
    y = bench_image(_size(size))
    views = [np.rot90(y, k) for k in range(4)] + [np.rot90(y.T, k) for k in range(4)]
    Y = np.stack([views[i % 8] for i in range(n)])[:, None].astype(np.float32)
    f = unit_filters().astype(np.float32)
    res = dict(threads=numba.get_num_threads(), n=len(Y))
    configs = dict(continuation=dict(solver="continuation"), fista=dict(solver="fista"),
                   fista_1pct=dict(solver="fista", max_iter=int(iters_1pct), tol=0.0))
    for name, kw in configs.items():
        t = median_time(lambda: infer(Y, f, **kw), repeats=repeats, min_time=0.0)
        t1 = median_time(lambda: [infer(Y[i], f, **kw) for i in range(len(Y))],
                         repeats=repeats, min_time=0.0)
        res[name] = dict(batch_seconds=t, images_per_second=len(Y) / t,
                         one_by_one_seconds=t1, one_by_one_images_per_second=len(Y) / t1)
    return res


def memory(n, size, low):
    import resource
    import numbadn
    from numbadn.data import load_images
    from numbadn.preprocess import contrast_normalize
    n, size, low = int(n), int(size), low == "1"
    ims = load_images("natural", size=(size, size))
    ys = [contrast_normalize(ims[i % len(ims)], mode="same")[None] for i in range(n)]
    numbadn.DeconvNet.paper().fit(ys, epochs=1, verbose=False, low_memory=low)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def paper_schedule(size, threads):
    from numbadn.bench import bench_inference
    return bench_inference(int(size), [int(t) for t in threads.split(",")],
                           out=lambda s: print(s, file=sys.stderr))


CHILDREN = {"startup": startup, "scaling": scaling, "memory": memory,
            "paper-schedule": paper_schedule}

if __name__ == "__main__":
    what, *args = sys.argv[1:]
    print(json.dumps(CHILDREN[what](*args)))
