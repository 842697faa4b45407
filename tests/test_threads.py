"""Thread control under contention: numbadn's libgomp default,
the cap at the idle CPUs, and the contention measurement of ``numbadn bench``.
No timings are asserted here: ``numbadn bench`` measures them."""
import json
import os
import subprocess
import sys

import numba
import pytest

import numbadn._jit as J
from numbadn import bench


def _env_after_import(**env):
    """``GOMP_SPINCOUNT`` / ``OMP_WAIT_POLICY`` seen by a fresh process after
    ``import numbadn``, started with ``env`` on top of a clean environment."""
    base = {k: v for k, v in os.environ.items()
            if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    base.update(env)
    code = ("import os, numbadn; print(os.environ.get('GOMP_SPINCOUNT'), "
            "os.environ.get('OMP_WAIT_POLICY'))")
    out = subprocess.run([sys.executable, "-c", code], env=base, capture_output=True,
                         text=True, check=True).stdout.split()
    return out[-2], out[-1]


def test_import_sets_a_short_spin_unless_the_user_chose():
    assert _env_after_import() == (J.SPINCOUNT, "None")
    assert _env_after_import(OMP_WAIT_POLICY="ACTIVE") == ("None", "ACTIVE")
    assert _env_after_import(GOMP_SPINCOUNT="123") == ("123", "None")


@pytest.fixture
def load(monkeypatch):
    """Set the number of other runnable threads the cap sees (with the cap on, whatever
    the environment of the test process says)."""
    monkeypatch.delenv("NUMBADN_ADAPTIVE_THREADS", raising=False)

    def set_others(n):
        monkeypatch.setattr(J, "_runnable_others", lambda: n)
        J._LOAD["t"] = -1e9
    yield set_others
    J._LOAD["t"] = -1e9


needs2 = pytest.mark.skipif(J.max_threads() < 2, reason="needs 2 numba threads")


@needs2
def test_threads_use_no_more_than_the_idle_cpus(load, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    load(3)                       # three CPU-bound processes on two cores
    with J.threads(2) as n:
        assert n == 1 and numba.get_num_threads() == 1
    load(0)
    with J.threads(2) as n:
        assert n == 2 and numba.get_num_threads() == 2
    load(None)                    # load unknown: no cap
    with J.threads(2) as n:
        assert n == 2


@needs2
def test_the_cap_applies_to_the_default_count_and_can_be_switched_off(load, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    load(5)
    with J.threads(None) as n:
        assert n == 1
    monkeypatch.setenv("NUMBADN_ADAPTIVE_THREADS", "0")
    with J.threads(2) as n:
        assert n == 2 and numba.get_num_threads() == 2
    monkeypatch.delenv("NUMBADN_ADAPTIVE_THREADS")
    with J.threads(2, adapt=False) as n:
        assert n == 2


def test_load_is_read_from_proc_and_leaves_out_this_process():
    if not os.path.exists("/proc/loadavg"):
        pytest.skip("no /proc")
    others = J._runnable_others()
    with open("/proc/loadavg") as fh:
        running = int(fh.read().split()[3].split("/")[0])
    assert others is not None and 0 <= others < running + 2


@needs2
def test_fit_runs_its_filter_updates_under_the_cap(load, monkeypatch):
    """The filter step of ``fit`` (parallel kernels outside ``infer``) runs under
    the thread cap too."""
    import numpy as np
    from numbadn import DeconvLayer
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    load(3)
    seen = []
    orig = DeconvLayer._update_filters

    def spy(self, *a, **k):
        seen.append(numba.get_num_threads())
        return orig(self, *a, **k)

    monkeypatch.setattr(DeconvLayer, "_update_filters", spy)
    DeconvLayer(1, 2, 3).fit(list(np.random.default_rng(0).standard_normal((2, 10, 10))),
                             epochs=1, verbose=False, n_jobs=2)
    assert seen == [1, 1]


def test_contention_child_times_both_thread_counts(capsys):
    bench._contention_child(2, 0.03)
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(res) == {"1", "2"} and all(len(v) >= 3 for v in res.values())
    assert all(t > 0 for v in res.values() for t in v)


def test_bench_contention_starts_and_stops_the_busy_processes(monkeypatch):
    started = []
    real_popen = subprocess.Popen

    def popen(args, **kw):
        p = real_popen([sys.executable, "-c", "import time; time.sleep(30)"], **kw)
        started.append(p)
        return p

    def child(n_threads, seconds, env):
        busy = sum(p.poll() is None for p in started)   # busy processes running now
        assert busy in (0, 2)
        slow = 6.0 if env and busy else 1.0
        return {1: bench._summary([0.002, 0.003]), 2: bench._summary([0.002 * slow] * 2)}

    monkeypatch.setattr(subprocess, "Popen", popen)
    monkeypatch.setattr(bench, "_run_contention_child", child)
    lines = []
    rows = bench.bench_contention(2, n_busy=2, out=lines.append)
    assert [(r["config"], r["busy"]) for r in rows] == [
        (c, b) for c, _ in bench.CONTENTION_CONFIGS for b in (0, 2)]
    assert all(p.poll() is not None for p in started) and len(started) == 4
    assert "bound 1.5: met" in lines[1] and "NOT met" in lines[3]
    assert rows[3]["ratio"] == pytest.approx(0.012 / 0.0025)
