"""The head-to-head's problem: eq. 2 on the bench photograph, the filters, the reference optimum.

Split from :mod:`benchmarks.headtohead` (which re-exports these names and
documents the problem); :mod:`benchmarks.child` imports :func:`bench_image`
and :func:`unit_filters` through it for the fresh-process measurements.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from scipy.signal import fftconvolve

import numbadn
from numbadn import cost, infer
from numbadn.data import load_images
from numbadn.preprocess import contrast_normalize

#: The photograph of the head-to-head (see numbadn/datasets/LICENSE).
BENCH_IMAGE = Path(numbadn.__file__).resolve().parent / "datasets" / "bench" / "fruits_y0015_x0181.png"
#: The decrease gaps the head-to-head times (1% and 0.1% of the achievable decrease left).
TARGETS = (1e-2, 1e-3)


# ----------------------------------------------------------------------------- problem
def bench_image(size=None):
    """The 150x150 photograph, contrast-normalised ('same' mode), float64 (P, Q).

    ``size`` cuts a centred ``size x size`` crop first (``--smoke``).
    """
    img = load_images(BENCH_IMAGE, dtype=np.float64)[0]
    if size is not None:
        r, c = (img.shape[0] - size) // 2, (img.shape[1] - size) // 2
        img = img[r:r + size, c:c + size]
    return contrast_normalize(img, mode="same")


def unit_filters(K1=9, K0=1, h=7, seed=0):
    """``randn`` filters, every plane scaled to unit L2 norm, float64."""
    f = np.random.default_rng(seed).standard_normal((K1, K0, h, h))
    return f / np.sqrt((f ** 2).sum(axis=(2, 3), keepdims=True))


class Problem:
    """Eq. 2 on one image: float32 data, float64 reference optimum and costs."""

    def __init__(self, y, f, lam=1.0, ref_iter=5000, ref_tol=1e-8):
        self.y32 = np.ascontiguousarray(y[None], np.float32)      # (1, P, Q)
        self.f32 = np.ascontiguousarray(f, np.float32)            # (K1, 1, h, w)
        # the reference solves exactly the float32 problem, in float64
        self.y64 = self.y32.astype(np.float64)
        self.f64 = self.f32.astype(np.float64)
        self.lam = lam
        t0 = time.perf_counter()
        # one thread: robust on a shared machine, and this run is not a timing
        z, st = infer(self.y64, self.f64, lam=lam, solver="fista", tol=ref_tol,
                      max_iter=ref_iter, return_stats=True, n_threads=1)
        self.ref_seconds = time.perf_counter() - t0
        self.ref_iterations = st[-1].iteration
        self.z_star = z
        self.c_star = cost(self.y64, z, self.f64, lam=lam)
        self.c_zero = cost(self.y64, np.zeros_like(z), self.f64, lam=lam)

    def cost64(self, z):
        """Eq. 2 in float64 by numbadn (numba threads)."""
        return cost(self.y64, np.asarray(z, np.float64), self.f64, lam=self.lam)

    def cost_fft(self, z):
        """Eq. 2 in float64 by ``scipy.signal.fftconvolve`` (single-threaded).

        Used inside the peers' traces, so that evaluating the cost does not wake
        numba's thread pool in the middle of another library's iterations.
        """
        z = np.asarray(z, np.float64)
        Fz = sum(fftconvolve(z[k], self.f64[k, 0], mode="valid") for k in range(len(z)))
        return 0.5 * self.lam * float(((Fz - self.y64[0]) ** 2).sum()) + float(np.abs(z).sum())

    def decrease_gap(self, c):
        """``(C - C*) / (C(0) - C*)``: the fraction of the achievable decrease left."""
        return (np.asarray(c, float) - self.c_star) / (self.c_zero - self.c_star)

    def literal_gap(self, c):
        """``(C - C*) / C*``."""
        return (np.asarray(c, float) - self.c_star) / self.c_star
