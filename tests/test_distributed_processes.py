"""``numbadn.distributed`` on real ``dask scheduler`` / ``dask worker`` processes,
started with the commands of the user guide's Dask section (``dask scheduler --port PORT`` and
``dask worker tcp://HOST:PORT --nworkers 2 --nthreads 1``) on free localhost
ports, in a temporary folder:

* ``fit`` on them gives the filters of one process, bit for bit (one image per
  task);
* a worker whose environment cannot import numbadn is named, with the cause,
  before any work is sent;
* a scheduler that goes away in the middle of an epoch ends ``fit`` with an
  error naming it, the store keeps the last finished epoch's checkpoint (no
  lock, nothing half-written), and ``resume=True`` on another cluster ends
  where an uninterrupted run ends.

Every process started here is ended (its process group) when the module ends.
Skipped without Dask/Zarr or without the ``dask`` command.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

pytest.importorskip("dask")
pytest.importorskip("distributed")
pytest.importorskip("zarr")

from distributed import Client, LocalCluster  # noqa: E402

import numbadn  # noqa: E402
from numbadn import distributed as D  # noqa: E402
from numbadn.data import load_images  # noqa: E402
from numbadn.preprocess import contrast_normalize  # noqa: E402

# a Dask cluster or subprocesses per test: the slow front end (-m 'not slow' skips it)
pytestmark = pytest.mark.slow

DASK = shutil.which("dask", path=os.path.dirname(sys.executable)) or shutil.which("dask")
if DASK is None:  # pragma: no cover
    pytest.skip("no 'dask' command next to this Python", allow_module_level=True)

N = 6
START_TIMEOUT = 90  # seconds for the processes to come up on a loaded 2-core machine


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Processes:
    """Processes started in their own process groups, all ended by :meth:`close`."""

    def __init__(self, cwd):
        self.cwd, self.procs = cwd, []

    def start(self, args, env=None):
        log = open(os.path.join(self.cwd, f"proc{len(self.procs)}.log"), "w")
        p = subprocess.Popen([DASK] + args, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT,
                             env=env, start_new_session=True)
        self.procs.append(p)
        return p

    def stop(self, p, sig=signal.SIGTERM):
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(10)

    def close(self):
        for p in reversed(self.procs):
            self.stop(p)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A scheduler and one ``dask worker --nworkers 2 --nthreads 1`` (2 processes)."""
    tmp = tmp_path_factory.mktemp("cluster")
    procs = Processes(str(tmp))
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    try:
        # the user guide's commands, with HOST = 127.0.0.1 and a free port
        sched = procs.start(["scheduler", "--port", str(port)])
        procs.start(["worker", address, "--nworkers", "2", "--nthreads", "1"])
        client = Client(address, timeout=START_TIMEOUT)
        client.wait_for_workers(2, timeout=START_TIMEOUT)
        yield dict(client=client, procs=procs, scheduler=sched, address=address, tmp=tmp)
        client.close(timeout=5)
    finally:
        procs.close()


@pytest.fixture(scope="module")
def ims():
    return [np.ascontiguousarray(contrast_normalize(im)[None, :40, :40])
            for im in load_images("natural")[:N]]


def layer():
    return numbadn.DeconvLayer(1, 4, random_state=0)


def reference(ims, epochs):
    return numbadn.DeconvLayer(1, 4, random_state=0, update="batch").fit(ims, epochs=epochs,
                                                                         verbose=False)


def test_fit_on_dask_worker_processes_equals_one_process(cluster, tmp_path, ims):
    la = D.fit(layer(), ims, 2, store=tmp_path / "run", client=cluster["client"],
               images_per_task=1)
    assert la.distributed_stats_["workers"] == 2
    assert np.array_equal(la.filters_, reference(ims, 2).filters_)
    # with the task size chosen from the time per image measured on the workers
    auto = D.fit(layer(), ims, 2, store=tmp_path / "auto", client=cluster["client"])
    assert 1 <= auto.distributed_stats_["images_per_task"] <= N // 2
    assert np.abs(auto.filters_ - la.filters_).max() <= 1e-6


def test_a_worker_that_cannot_import_numbadn_is_named(cluster, tmp_path, ims):
    shadow = tmp_path / "shadow" / "numbadn"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(
        "raise ImportError('numbadn is not installed in this environment (test)')\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "shadow"))
    client, procs = cluster["client"], cluster["procs"]
    bad = procs.start(["worker", cluster["address"], "--nthreads", "1", "--name", "broken"],
                      env=env)
    try:
        client.wait_for_workers(3, timeout=START_TIMEOUT)
        with pytest.raises(RuntimeError, match=r"worker tcp://\S+ cannot run numbadn's tasks: "
                           r"importing numbadn there fails with ImportError: numbadn is not "
                           r"installed in this environment \(test\)"):
            D.fit(layer(), ims, 1, store=tmp_path / "run", client=client, images_per_task=1)
        assert not (tmp_path / "run" / "fit.lock").exists()
    finally:
        procs.stop(bad)
    deadline = time.time() + START_TIMEOUT
    while len(D._workers(client)) != 2 and time.time() < deadline:
        time.sleep(0.2)


def test_a_scheduler_lost_mid_epoch_is_named_and_the_store_resumes(cluster, tmp_path, ims):
    """Runs last: it ends the module's scheduler."""
    client, store = cluster["client"], tmp_path / "run"
    first_epoch = threading.Event()
    out = {}

    def slow(idx, epoch):  # an epoch of 6 tasks on 2 workers takes over 1 s
        time.sleep(0.4)

    def run():
        try:
            D.fit(layer(), ims, 3, store=store, client=client, images_per_task=1, _fault=slow,
                  callback=lambda la, e, c: first_epoch.set())
        except BaseException as e:  # noqa: BLE001 - checked below
            out["error"] = e

    t = threading.Thread(target=run)
    t.start()
    assert first_epoch.wait(120)
    time.sleep(0.5)  # inside epoch 2
    cluster["procs"].stop(cluster["scheduler"], signal.SIGKILL)
    t.join(120)
    assert not t.is_alive()
    err = out.get("error")
    assert isinstance(err, ConnectionError), repr(err)
    assert "lost the Dask scheduler tcp://127.0.0.1:" in str(err) and "resume=True" in str(err)
    assert not (store / "fit.lock").exists()
    assert not list(store.glob("*.tmp*"))  # no half-written checkpoint
    # the checkpoint holds epoch 1; resumed on another cluster, the run ends as an
    # uninterrupted one
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as lc, Client(lc) as c2:
        la = D.fit(layer(), ims, 3, store=store, client=c2, images_per_task=1, resume=True)
    assert [h["epoch"] for h in la.history_] == [1, 2, 3]
    assert np.array_equal(la.filters_, reference(ims, 3).filters_)
