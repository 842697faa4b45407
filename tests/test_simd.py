"""The explicit-SIMD 7-tap row kernels (``numbadn.kernels._simd``) against numpy.

Every row width from 1 to past two vector blocks is tried, so the full blocks,
the masked last block and rows shorter than one vector are all covered, for
one and two output rows and both dtypes.  The input row is followed by NaN:
a lane that read past the row's last needed element would turn its output
into NaN.  The output row is followed and preceded by sentinels that a store
past the row would overwrite.
"""
import numba
import numpy as np
import pytest

from numbadn.kernels import LANES, corr7_rows, simd_width
from numbadn.kernels import fma7_rows as _fma7_rows
from numbadn.kernels import fma7x2_rows as _fma7x2_rows


@numba.njit
def _one_row(s, o, ob, t, n):
    _fma7_rows(s, 0, 0, o, ob, 0, 1, t, n)


@numba.njit
def _two_rows(s, o, ob0, ob1, t, n):
    _fma7x2_rows(s, 0, 0, o, ob0, ob1, 0, 1, t, n)


@numba.njit
def _width(a):
    return simd_width(a)


def _reference(s, t, n):
    """``sum_b t[b] * s[j + b]`` for ``j < n`` in float64."""
    s64 = s.astype(np.float64)
    return np.array([sum(float(t[b]) * s64[j + b] for b in range(7)) for j in range(n)])


DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
def test_simd_width_is_the_documented_lanes(dtype):
    assert _width(np.zeros(1, dtype)) == LANES[np.dtype(dtype).name]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows", [1, 2])
def test_row_kernels_match_numpy_for_every_width(dtype, rows):
    rng = np.random.default_rng(rows)
    L = LANES[np.dtype(dtype).name]
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for n in list(range(1, 2 * L + 4)) + [100, 150]:
        s = np.full(n + 6 + 2 * L, np.nan, dtype)
        s[: n + 6] = rng.standard_normal(n + 6)
        t = rng.standard_normal(7 * rows).astype(dtype)
        start = rng.standard_normal((rows, n))
        sentinel = dtype(12345.0)
        o = np.full(rows * (n + 2 * L) + 2 * L, sentinel, dtype)
        obs = [L + r * (n + 2 * L) for r in range(rows)]
        for r, ob in enumerate(obs):
            o[ob:ob + n] = start[r]
        taps = tuple(t)
        if rows == 1:
            _one_row(s, o, obs[0], taps, n)
        else:
            _two_rows(s, o, obs[0], obs[1], taps, n)
        guard = np.ones(o.shape, bool)
        for r, ob in enumerate(obs):
            want = start[r].astype(dtype).astype(np.float64) + _reference(s, t[7 * r:7 * r + 7], n)
            got = o[ob:ob + n].astype(np.float64)
            scale = 1.0 + np.abs(want)
            assert np.all(np.abs(got - want) <= tol * 8 * scale), (n, r)
            guard[ob:ob + n] = False
        assert np.all(o[guard] == sentinel), f"a store went past a row of width {n}"


@numba.njit
def _corr(r, rows, z, zb, q, acc, ai):
    corr7_rows(r, rows, z, zb, q, acc, ai)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rows", [1, 2])
def test_filter_gradient_rows_match_numpy_for_every_width(dtype, rows):
    """``corr7_rows`` adds ``sum_j r[j] z[j + 6 - b]`` into the lanes of tap
    ``b``'s vector; the map row is followed by NaN (a read past it would show)."""
    rng = np.random.default_rng(10 + rows)
    L = LANES[np.dtype(dtype).name]
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for q in list(range(1, 2 * L + 4)) + [100, 150]:
        z = np.full(q + 6 + 2 * L, np.nan, dtype)
        z[: q + 6] = rng.standard_normal(q + 6)
        r = np.full(rows * q + 2 * L, np.nan, dtype)
        r[: rows * q] = rng.standard_normal(rows * q)
        acc = rng.standard_normal(2 * 7 * L).astype(dtype)
        start = acc.copy()
        offs = tuple(range(0, rows * q, q))
        ai = (0, 7)[:rows]
        _corr(r, offs, z, 0, q, acc, ai)
        for i in range(rows):
            for b in range(7):
                want = float(np.dot(r[offs[i]:offs[i] + q].astype(np.float64),
                                    z[6 - b:6 - b + q].astype(np.float64)))
                lanes = slice((ai[i] + b) * L, (ai[i] + b + 1) * L)
                got = float(acc[lanes].astype(np.float64).sum() - start[lanes].astype(np.float64).sum())
                scale = 1.0 + float(np.abs(r[offs[i]:offs[i] + q]).astype(np.float64)
                                    @ np.abs(z[6 - b:6 - b + q]).astype(np.float64))
                assert abs(got - want) <= tol * 8 * scale, (q, i, b)
        untouched = np.ones(acc.shape, bool)
        for i in range(rows):
            untouched[ai[i] * L:(ai[i] + 7) * L] = False
        assert np.array_equal(acc[untouched], start[untouched])


def test_row_kernel_compiles_to_packed_fma_without_a_scalar_remainder():
    """Packed FMA in the inner loop, or the kernel runs at a fraction of its peak (checked with
    ``inspect_asm``): on x86 the pair kernel must use vector FMAs of the
    chosen width and no scalar FMA (the last block is masked, not a loop)."""
    import platform
    import re

    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("assembly check written for x86-64")
    from numbadn.kernels import AVX512

    @numba.njit  # not cached: inspect_asm needs the compiled library
    def probe(s, o, t, n):
        _fma7x2_rows(s, 0, 0, o, 0, n, 0, 1, t, n)

    s = np.zeros(64, np.float32)
    probe(s, s.copy(), tuple(np.ones(14, np.float32)), 20)
    asm = probe.inspect_asm(probe.signatures[0])
    reg = "zmm" if AVX512 else "ymm"
    assert len(re.findall(rf"vfmadd\w*ps\s+[^\n]*%{reg}", asm)) >= 14
    assert not re.findall(r"vfmadd\w*ss", asm)


HASWELL = ("+avx,+avx2,+fma,+sse4.2,+popcnt,+f16c,+bmi,+bmi2,+sse4.1,+ssse3,+sse3,+sse2,"
           "+sse,+cx16,+lzcnt,+movbe")


@pytest.mark.slow
def test_kernels_without_avx512_give_the_same_answers(tmp_path):
    """Compiled for an AVX2 CPU (``NUMBA_CPU_NAME=haswell``) the kernels use
    8 lanes instead of 16; a subprocess runs the width tests above and one
    convolution against scipy that way."""
    import os
    import platform
    import subprocess
    import sys

    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("x86-64 CPU names")
    code = (
        "import numpy as np, scipy.signal as ss, test_simd as t\n"
        "from numbadn.kernels import LANES\n"
        "from numbadn.ops import conv_valid\n"
        "assert LANES['float32'] == 8, LANES\n"
        "for dt in (np.float32, np.float64):\n"
        "    for rows in (1, 2):\n"
        "        t.test_row_kernels_match_numpy_for_every_width(dt, rows)\n"
        "        t.test_filter_gradient_rows_match_numpy_for_every_width(dt, rows)\n"
        "rng = np.random.default_rng(0)\n"
        "z = rng.standard_normal((3, 40, 45)); f = rng.standard_normal((3, 1, 7, 7))\n"
        "want = sum(ss.convolve2d(z[k], f[k, 0], mode='valid') for k in range(3))\n"
        "assert np.allclose(conv_valid(z, f)[0], want, atol=1e-10)\n"
        "print('ok')\n")
    env = dict(os.environ, NUMBA_CPU_NAME="haswell", NUMBA_CPU_FEATURES=HASWELL,
               NUMBA_CACHE_DIR=str(tmp_path))
    here = os.path.dirname(os.path.abspath(__file__))
    env["PYTHONPATH"] = here + os.pathsep + env.get("PYTHONPATH", "")
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0 and res.stdout.strip().endswith("ok"), res.stderr[-3000:]
