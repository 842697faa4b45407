"""numba's cache: the stale-cache guard (numbadn._numba_cache: an edited numba source
removes the caches), and the same bits from a cold compile as from a cache load."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from numbadn import _numba_cache as C


def make_pkg(root):
    (root / "kernels" / "__pycache__").mkdir(parents=True)
    (root / "solvers" / "__pycache__").mkdir(parents=True)
    (root / "kernels" / "_a.py").write_text("import numba\ndef f(): return 1\n")
    (root / "solvers" / "_b.py").write_text("import numba\ndef g(): return 2\n")
    (root / "_jit.py").write_text("import numba\nJIT = {}\n")
    (root / "data.py").write_text("x = 1\n")
    caches = [root / "kernels" / "__pycache__" / "_a.f-1.py311.nbi",
              root / "kernels" / "__pycache__" / "_a.f-1.py311.1.nbc",
              root / "solvers" / "__pycache__" / "_b.g-1.py311.nbi"]
    for c in caches:
        c.write_bytes(b"cache")
    return caches


def test_caches_survive_while_the_sources_are_unchanged(tmp_path):
    caches = make_pkg(tmp_path)
    C.guard(tmp_path)                       # first import: no stamp yet, caches of unknown age go
    for c in caches:
        c.write_bytes(b"cache")             # numba writes new ones
    assert C.guard(tmp_path) == 0
    assert all(c.exists() for c in caches)
    (tmp_path / "data.py").write_text("x = 2\n")   # does not import numba: no effect
    assert C.guard(tmp_path) == 0


def test_an_edit_in_a_callee_file_removes_every_cache(tmp_path):
    caches = make_pkg(tmp_path)
    C.guard(tmp_path)
    for c in caches:
        c.write_bytes(b"cache")
    (tmp_path / "solvers" / "_b.py").write_text("import numba\ndef g(): return 3\n")
    assert C.guard(tmp_path) == 3
    assert not any(c.exists() for c in caches)
    assert C.guard(tmp_path) == 0           # stamped: the next import keeps the new caches


def test_a_read_only_package_is_left_alone(tmp_path, monkeypatch):
    make_pkg(tmp_path)

    def refuse(*a, **k):
        raise PermissionError("read-only")
    monkeypatch.setattr(C.Path, "unlink", refuse)
    assert C.guard(tmp_path) == 0


def test_the_package_itself_is_stamped_with_its_current_sources():
    from pathlib import Path
    import numbadn  # noqa: F401  (importing runs the guard)
    root = Path(C.__file__).parent
    stamp = root / "__pycache__" / C.STAMP
    assert stamp.read_text().strip() == C.sources_hash(root)


_COLD_OR_CACHED = """
import sys, numpy as np
from numbadn import DeconvLayer
y = np.random.default_rng(0).standard_normal((1, 24, 24)).astype(np.float32)
layer = DeconvLayer(1, 3, 5, lam=5.0, lowfreq=True, random_state=0, verbose=False)
z, zl = layer.initialize().infer_lowfreq(y)
np.savez(sys.argv[1], z=z, zl=zl)
"""


@pytest.mark.slow
def test_a_cold_compile_and_a_cache_load_give_the_same_bits(tmp_path):
    """The same call in a process that compiles the kernels and in one that loads
    them from numba's cache gives identical maps.  With fastmath's contraction the
    z0 maps' Laplacian (kernels._linop.add_grad_gram) compiled to different
    arithmetic in the two (up to 5e-7 in float32); it is compiled exactly now."""
    script = tmp_path / "run.py"
    script.write_text(_COLD_OR_CACHED)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    for name in ("cold", "cached"):
        r = subprocess.run([sys.executable, str(script), str(tmp_path / f"{name}.npz")],
                           env=env, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
    cold, cached = np.load(tmp_path / "cold.npz"), np.load(tmp_path / "cached.npz")
    assert any((tmp_path / "cache").rglob("*.nbi"))  # the second run had a cache to load
    for k in ("z", "zl"):
        np.testing.assert_array_equal(cold[k], cached[k])
