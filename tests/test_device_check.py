"""``benchmarks/device_check.sh --smoke`` and ``benchmarks/fista_variants.py --smoke``
(the many-core check) run end to end: the shape and sanity of what they write, never a speed
(the machine may be shared)."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import fista_variants
from benchmarks._problems import TARGETS

# subprocesses running the benchmarks: the slow front end (-m 'not slow' skips it)
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


def _positive(x):
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


def test_device_check_smoke_writes_one_json_and_a_table(tmp_path):
    env = dict(os.environ, PYTHON=sys.executable)
    proc = subprocess.run([str(ROOT / "benchmarks" / "device_check.sh"), "--smoke",
                           "--out", str(tmp_path)], capture_output=True, text=True, env=env,
                          timeout=2400)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads((tmp_path / "device_check.json").read_text())
    table = (tmp_path / "device_check.txt").read_text()
    # 1. numbadn bench at the smoke's thread counts
    bench = data["bench"]["json"]
    assert {r["threads"] for r in bench["kernels"]} == {1, 2}
    assert {r["kernel"] for r in bench["kernels"]} == {"conv_valid", "conv_full", "Az"}
    assert all(_positive(r["gflops"]) for r in bench["kernels"])
    assert sorted({r["layer"] for r in bench["inference"]}) == [1, 2, 3]
    # 2. the FISTA batch: iterations to 1% for both step rules, ms per image per thread count
    fb = data["fista_batch"]["json"]
    assert set(fb["numbadn"]) == {"backtracking", "spectral"}
    for lip, rows in fb["numbadn"].items():
        assert 1 <= fb["iterations"][lip] < 300
        assert set(rows) == {"1", "2"} and all(_positive(v) for v in rows.values())
    torch = fb["torch"]
    assert "skipped" in torch or _positive(next(iter(torch["cpu"].values())))
    # 3. the distributed benchmark ran (its exit status is recorded, whatever it was)
    assert "rc" in data["distributed"] and "benchmarks.distributed" in data["distributed"]["cmd"]
    assert "FISTA to 1%" in table and "kernels" in table


def test_fista_variants_smoke_counts_products_to_both_targets(tmp_path):
    res = fista_variants.main(["--smoke", "--out", str(tmp_path), "--threads", "1"])
    assert (tmp_path / "fista_variants.json").exists()
    s = res["summary"]
    assert set(s) == set(fista_variants.SCHEMES)
    for name, row in s.items():
        assert row["all_reached"], name
        p1, p01 = (row["median_products"][str(t)] for t in TARGETS)
        assert 0 < p1 <= p01
    # every scheme's count is its passes: one F and one F^T per iteration, plus
    # one F per rejected backtracking trial
    for r in res["rows"]:
        assert r["F"] >= r["FT"] >= 1
        if r["scheme"] in ("fista-spectral", "fista-power", "greedy-fista"):
            assert r["F"] == r["FT"]
    # the default (backtracking) needs no more products than the fixed step of before
    assert (s["fista-backtracking"]["median_products"][str(TARGETS[0])]
            <= s["fista-spectral"]["median_products"][str(TARGETS[0])])
    assert s["fista-backtracking"]["in_driver"] and _positive(
        s["fista-backtracking"]["ms_per_image_1pct"][1])
