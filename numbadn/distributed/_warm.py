"""The workers before the first task of a :func:`fit` / :func:`transform`: every
worker checked (numbadn importable, the same version as the client, the store
visible) and warmed (numba's cached kernels loaded and first called on a small
crop), the work per image measured there to size the tasks; and the per-stage
times the tasks record on their worker (read by ``benchmarks/distributed.py``).

A cold worker spends seconds loading numba's cache (minutes compiling when the
cache is empty) on its first task; before, that landed inside the first round,
whose tasks the other workers then waited for.
"""
from __future__ import annotations

import math
import os
import threading
import time
import uuid
from contextlib import contextmanager

import numpy as np

from ._cluster import _in_channels, _model_dtype, _slim, _workers

#: Seconds of work a task gets when ``images_per_task`` is None.
TASK_SECONDS = 0.2

# ------------------------------------------------------------ stage times
_STAGES = {}
_STAGES_LOCK = threading.Lock()


@contextmanager
def stage(name, images=0):
    """Add the body's seconds (and ``images`` images) to this worker's stage ``name``."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        dt = time.perf_counter() - t0
        with _STAGES_LOCK:
            s, n, c = _STAGES.get(name, (0.0, 0, 0))
            _STAGES[name] = (s + dt, n + images, c + 1)


def _take_stages():
    """This worker's ``{stage: (seconds, images, calls)}`` since the last call; resets them."""
    with _STAGES_LOCK:
        out = dict(_STAGES)
        _STAGES.clear()
    return out


# ------------------------------------------------------------ warm-up
def _tiny(y, model):
    """A small crop of ``y`` (at least twice the filters) to load the kernels on."""
    from ..model import DeconvNet
    la = model.layers[0] if isinstance(model, DeconvNet) else model
    h, w = la.filters_.shape[2:]
    return np.ascontiguousarray(y[:, :min(y.shape[1], 2 * h + 2), :min(y.shape[2], 2 * w + 2)])


def _warm_task(model, src, probe, token, n_threads, kind, layer, options, time_image=True):
    """On one worker: check the store is the client's, load numba's kernels (the
    first call, on a small crop), then (``time_image``) time one image of the real work.

    ``kind`` is ``"fit"`` (inference, eq. 9 gradient and a CG product of a
    :class:`DeconvLayer`) or ``"transform"`` (``model.infer``).  Returns what the
    client checks and the seconds per stage."""
    import socket

    import numba

    import numbadn
    from .._jit import threads
    from ..kernels import make_operator
    from ._sources import _check_image
    from ._transform import _infer_one
    t = {}
    t0 = time.perf_counter()
    import zarr  # noqa: F401 - its first import is part of a cold worker's cost
    t["zarr_import_s"] = time.perf_counter() - t0
    if probe is not None:
        try:
            with open(probe) as fh:
                got = fh.read()
        except OSError as e:
            raise FileNotFoundError(
                f"the store is not visible on this worker ({socket.gethostname()}): "
                f"cannot read {probe} ({type(e).__name__}: {e}); give a store on a file "
                "system that the client and every worker share") from None
        if got != token:
            raise FileNotFoundError(
                f"the store {os.path.dirname(probe)} on this worker ({socket.gethostname()}) "
                "is another folder than the client's (its probe file holds another token): "
                "give a store on a file system that the client and every worker share")
        if not os.access(os.path.dirname(probe), os.W_OK):
            raise PermissionError(f"the store {os.path.dirname(probe)} is not writable on "
                                  f"this worker ({socket.gethostname()})")
    la = model if kind == "fit" else None
    K0, dtype = _in_channels(model), _model_dtype(model)
    t0 = time.perf_counter()
    y = _check_image(src.load([0])[0], 0, K0, dtype)
    t["load_s"] = time.perf_counter() - t0
    f = la.filters_ if la is not None else None
    with threads(n_threads):
        t0 = time.perf_counter()
        small = _tiny(y, model)
        if la is not None:
            _fit_work(la, small, n_threads)
        else:
            _infer_one(model, small, layer, n_threads, options)
        t["first_call_s"] = time.perf_counter() - t0  # numba cache load + first call
        if not time_image:
            pass
        elif la is not None:
            t0 = time.perf_counter()
            make_operator(f, la.connectivity_)
            t["operator_s"] = time.perf_counter() - t0
            t.update(_fit_work(la, y, n_threads))
            t["image_s"] = t["infer_s"] + t["grad_s"] + t["cost_s"]
        else:
            t0 = time.perf_counter()
            _infer_one(model, y, layer, n_threads, options)
            t["image_s"] = t["infer_s"] = time.perf_counter() - t0
    return dict(version=numbadn.__version__, numba=numba.__version__,
                host=socket.gethostname(), pid=os.getpid(), stages=t)


def _fit_work(la, y, n_threads):
    """What a fit task does for one image, timed per stage."""
    from ..solvers.filters import filter_grad_sum, filter_gram_sum
    from ._fit import _image_costs
    t = {}
    t0 = time.perf_counter()
    z = la.infer(y[None], n_jobs=n_threads)
    t["infer_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    _image_costs(la, y[None], z)
    t["cost_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    filter_grad_sum(la.filters_, la.connectivity_, [z[0]], [y])
    t["grad_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    filter_gram_sum(la.filters_, la.connectivity_, [z[0]])
    t["gram_s"] = time.perf_counter() - t0
    return t


def prepare(client, model, src, probe_dir, n_threads, kind, layer=None, options=None,
            time_image=True):
    """Check and warm every worker of ``client`` (one task each, pinned), in parallel.

    ``probe_dir``: a folder of the store the workers must see (None: no store
    to check).  ``time_image``: also time one real image, on the first worker
    only (timing one on every worker costs each worker an image of work per
    call: 1/8 of a 16-image top-down transform on 2 workers).  Returns
    ``(workers, seconds of work per image or None, the replies)``.  Raises an
    error naming the worker and the cause when one cannot run numbadn's tasks
    or does not see the store."""
    import numbadn
    workers = _workers(client)
    if not workers:
        client.wait_for_workers(1)
        workers = _workers(client)
    _check_imports(client)
    probe = token = None
    if probe_dir is not None:
        token = uuid.uuid4().hex
        probe = os.path.join(probe_dir, f".numbadn-probe-{token}")
        with open(probe, "w") as fh:
            fh.write(token)
    try:
        m = client.submit(_identity_model, _slim(model), pure=False)
        part = src.part([0])
        futs = {w: client.submit(_warm_task, m, part, probe, token, n_threads, kind, layer,
                                 options or {}, time_image and k == 0, workers=[w],
                                 allow_other_workers=True,
                                 pure=False)
                for k, w in enumerate(workers)}
        replies = {}
        for w, fut in futs.items():
            try:
                replies[w] = fut.result()
            except (FileNotFoundError, PermissionError) as e:
                raise type(e)(f"worker {w}: {e}") from None
            except Exception as e:  # noqa: BLE001 - named below with the worker
                raise RuntimeError(
                    f"worker {w} cannot run numbadn's tasks ({type(e).__name__}: {e}): "
                    f"install numbadn {numbadn.__version__} with its dependencies "
                    "(pip install 'numbadn[dask]') in every worker's environment") from e
    finally:
        if probe is not None:
            try:
                os.remove(probe)
            except OSError:
                pass
    per_image = max((r["stages"]["image_s"] for r in replies.values()
                     if "image_s" in r["stages"]), default=None)
    return workers, per_image, replies


#: Run on every worker by :func:`_check_imports`: a builtin (``eval``) and a
#: string reach a worker whatever it can import, where a numbadn function could
#: not even be unpickled (Dask then drops the message and the task waits forever).
_IMPORT_PROBE = "__import__('numbadn').__version__"


def _check_imports(client):
    """Every worker imports numbadn, of the client's version; else an error naming
    the worker and the cause."""
    import numbadn
    got = client.run(eval, _IMPORT_PROBE, on_error="return")
    for w, v in sorted(got.items()):
        if isinstance(v, BaseException):
            raise RuntimeError(
                f"worker {w} cannot run numbadn's tasks: importing numbadn there fails with "
                f"{type(v).__name__}: {v}; install numbadn {numbadn.__version__} with its "
                "dependencies (pip install 'numbadn[dask]') in every worker's environment")
        if v != numbadn.__version__:
            raise RuntimeError(f"worker {w} runs numbadn {v}, the client "
                               f"{numbadn.__version__}: install the same version everywhere")


def _identity_model(m):
    return m


def images_per_task(per_image_s, n, n_workers, seconds=TASK_SECONDS):
    """Images per task so that a task works about ``seconds`` (at least 1), but no
    more than leaves every worker a task, and with the tasks spread evenly
    over the workers (their count a multiple of ``n_workers`` where possible)."""
    k = max(1, math.ceil(seconds / max(per_image_s, 1e-9)))
    k = min(k, max(1, math.ceil(n / max(n_workers, 1))))
    tasks = math.ceil(n / k)
    tasks = math.ceil(tasks / n_workers) * n_workers if tasks > n_workers else tasks
    return max(1, math.ceil(n / tasks))
