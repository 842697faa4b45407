"""Sampling from a trained network (Fig. 3) and the activation statistics it
draws from (each feature's firing frequency and activation histogram)."""
from __future__ import annotations

import numpy as np

from .. import _validation as V
from .._params import check_random_state
from ..solvers.topdown import project_down

__all__ = ["ActivationStats", "sample", "value_histogram", "N_BINS", "SAMPLE_KEEP",
           "STATS_SAMPLE"]

#: Histogram bins of each feature's activations (the toolbox's 100).
N_BINS = 100
#: Activations kept per sample (the toolbox keeps the ~100 largest).
SAMPLE_KEEP = 100
#: Activation values kept per map for the sampling histograms (a uniform subsample
#: beyond this, so the statistics take bounded memory).
STATS_SAMPLE = 20000


def sample(stats, chain, n=1, *, size=100, random_state=0, keep=SAMPLE_KEEP):
    """Draw ``n`` images from a layer's activation statistics (Fig. 3): what
    :meth:`DeconvNet.sample` does (its docstring says how).

    Parameters
    ----------
    stats : (ndarray, ndarray, ndarray)
        The layer's firing frequencies, histograms and bin edges
        (``DeconvNet.stats_[l]``, :meth:`ActivationStats.histograms`).
    chain : list of (f, g, s)
        The filters, connectivity and scale of the layer and each layer below,
        top first (see :func:`numbadn.solvers.topdown.project_down`).
    n, size, random_state, keep
        As for :meth:`DeconvNet.sample`.

    Returns
    -------
    ndarray of shape (n, K0, size, size)
    """
    n = V.check_int("n", n, 1)
    size = V.check_int("size", size, 1)
    freq, hist, edges = stats
    M = size + sum(f.shape[2] - 1 for f, _, _ in chain)
    N = size + sum(f.shape[3] - 1 for f, _, _ in chain)
    K = freq.shape[0]
    random_state = check_random_state(random_state)
    rng = np.random.default_rng(random_state)
    dt = chain[-1][0].dtype
    out = []
    for _ in range(n):
        z = np.zeros((K, M, N), dt)
        for k in range(K):
            cnt = rng.binomial(M * N, min(max(freq[k], 0.0), 1.0))
            if cnt == 0 or hist[k].sum() == 0:
                continue
            cdf = np.cumsum(hist[k]) / hist[k].sum()
            b = np.searchsorted(cdf, rng.random(cnt))
            b = np.minimum(b, hist.shape[1] - 1)
            vals = edges[k, b] + rng.random(cnt) * (edges[k, b + 1] - edges[k, b])
            pos = rng.integers(0, M * N, cnt)
            z[k].reshape(-1)[pos] = vals
        flat = np.abs(z).reshape(-1)
        if np.count_nonzero(flat) > keep:
            thr = np.partition(flat, flat.size - keep)[flat.size - keep]
            z[np.abs(z) < thr] = 0
        out.append(project_down(z, chain))
    return np.stack(out)


class ActivationStats:
    """Streaming statistics of one layer's maps over the training images.

    * the layer scale ``s = 1 / median_i max|z_i|`` (the next layer's inputs then
      span about [-1, 1]);
    * per map, the firing frequency (an activation "fires" when ``|z| > 1e-3
      max|z_i|`` of its image: continuation leaves tiny nonzero values that are
      not features) and a 100-bin histogram of the firing values, from a
      uniform subsample of at most ``STATS_SAMPLE`` values per map.

    Parameters
    ----------
    K : int
        Maps of the layer.
    seed : int, default 0
        Seed of the subsampling.
    """

    def __init__(self, K, seed=0):
        self.maxima = []
        self.counts = np.zeros(K)
        self.seen = np.zeros(K)
        self.total = 0
        self.values = [np.zeros(0) for _ in range(K)]
        self.rng = np.random.default_rng(seed)

    def add(self, z):
        top = float(np.abs(z).max())
        self.maxima.append(top)
        self.total += z[0].size
        thr = 1e-3 * top
        for k in range(z.shape[0]):
            v = z[k][np.abs(z[k]) > thr].astype(np.float64)
            self.counts[k] += v.size
            self._keep(k, v)

    def _keep(self, k, new):
        old, n_old, n_new = self.values[k], self.seen[k], new.size
        self.seen[k] += n_new
        if old.size + n_new <= STATS_SAMPLE:
            self.values[k] = np.concatenate([old, new])
            return
        take_new = min(n_new, self.rng.binomial(STATS_SAMPLE, n_new / (n_old + n_new)))
        take_old = min(old.size, STATS_SAMPLE - take_new)
        self.values[k] = np.concatenate([
            self.rng.choice(old, take_old, replace=False),
            self.rng.choice(new, take_new, replace=False)])

    def scale(self):
        m = float(np.median(self.maxima)) if self.maxima else 0.0
        return 1.0 / m if m > 0 else 1.0

    def histograms(self, n_bins=N_BINS):
        K = self.counts.shape[0]
        freq = self.counts / max(self.total, 1)
        hist = np.zeros((K, n_bins))
        edges = np.zeros((K, n_bins + 1))
        for k, vals in enumerate(self.values):
            if vals.size:
                hist[k], edges[k] = value_histogram(vals, n_bins)
        return freq, hist, edges


def value_histogram(vals, n_bins=N_BINS):
    """``np.histogram`` of a map's sampled nonzero values over their own range
    (widened by 1e-12 when all values are equal).

    Parameters
    ----------
    vals : ndarray
        The values.
    n_bins : int
        Bins (:data:`N_BINS`).

    Returns
    -------
    counts, edges : ndarray
        As ``np.histogram`` returns them.
    """
    lo, hi = vals.min(), vals.max()
    if hi <= lo:
        hi = lo + 1e-12
    return np.histogram(vals, bins=n_bins, range=(lo, hi))
