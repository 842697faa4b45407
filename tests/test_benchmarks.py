"""``benchmarks/``: the project's speed targets and the head-to-head run end to end.

``python -m benchmarks.scaling --smoke`` runs one fresh-process start-up, a
2-image thread-scaling run on 1 thread and a 1- and 2-image training-memory
run on 40x40 crops.  Only the shape and sanity of the results are checked,
never a speed: the machine may be shared.  (The head-to-head itself runs in
``tests/test_reproduce_sec45.py`` through ``reproduce/sec45_timings.py``.)
"""
import json
import math

import pytest

from benchmarks import _util, scaling


def _positive(x):
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("scaling")
    result = scaling.main(["--smoke", "--out", str(out)])
    return out, result


@pytest.mark.slow
def test_scaling_smoke_run_writes_json(smoke):
    out, _ = smoke
    data = json.loads((out / "bench_scaling.json").read_text())
    for key in ("settings", "versions", "machine", "startup", "thread_scaling",
                "thread_scaling_summary", "memory", "wall_time_s"):
        assert key in data, key
    assert data["settings"]["mode"] == "smoke"
    assert len(data["machine"]["loadavg_start"]) == 3


def test_startup_and_thread_scaling_are_sane(smoke):
    _, r = smoke
    med = r["startup"]["median"]
    assert _positive(med["start_to_first_result"]) and _positive(med["first_infer"])
    assert med["start_to_first_result"] >= med["first_infer"]
    for row in r["thread_scaling"]:
        assert row["threads"] >= 1
        for solver in ("continuation", "fista", "fista_1pct"):
            assert _positive(row[solver]["images_per_second"])
    summ = r["thread_scaling_summary"]
    assert summ["iters_1pct"] >= 1
    assert summ["ratio_to_h100"] == pytest.approx(
        summ["best_seconds_per_image"] / summ["h100_seconds_per_image"])


def test_training_memory_reports_peaks_for_both_modes(smoke):
    _, r = smoke
    m = r["memory"]
    for mode in ("default", "low_memory"):
        assert all(_positive(p) for p in m[mode]["peak_bytes"])
        assert m[mode]["bytes_per_image"] >= 0
    assert isinstance(m["default_choice"]["low_memory"], bool)


def test_scaling_envs_cover_one_to_the_cpus_and_a_passive_rerun():
    envs = scaling.scaling_envs_for(nmax=16, ncpu=16)
    assert [e["NUMBA_NUM_THREADS"] for e in envs] == ["1", "2", "4", "8", "16", "16"]
    assert envs[-1]["OMP_WAIT_POLICY"] == "PASSIVE"
    assert "OMP_WAIT_POLICY" not in envs[0]


@pytest.mark.slow
def test_a_failing_child_names_itself_and_shows_its_error():
    with pytest.raises(RuntimeError, match="child memory"):
        _util.run_child("memory", "not-a-number", 40, 0)

