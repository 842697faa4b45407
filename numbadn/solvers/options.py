"""Solver options: frozen keyword-only dataclasses with the paper's defaults."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .. import _validation as V


#: Longest continuation schedule (beta values) and iteration counts accepted: a
#: ``beta_inc`` of 1.0000001 would otherwise ask for 10^8 beta steps (issue 12).
MAX_BETAS = 1000
MAX_ITERS = 100_000


class _Options:
    @classmethod
    def from_kwargs(cls, solver, kwargs):
        valid = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(kwargs) - set(valid))
        if unknown:
            raise TypeError(
                f"solver={solver!r} does not take option(s) {', '.join(unknown)}; "
                f"its options are: {', '.join(valid)}")
        return cls(**kwargs)

    def to_dict(self):
        return dataclasses.asdict(self)


@dataclass(frozen=True, kw_only=True)
class ContinuationOptions(_Options):
    """Options of the paper's continuation scheme (eq. 4, Algorithm 1 lines 4-9).

    Parameters
    ----------
    beta0, beta_inc, beta_max : float
        Section 4: ``beta_0 = 1, beta_inc = 6, beta_Max = 1e5``; beta takes the
        values ``beta0 * beta_inc**j`` while ``beta < beta_max`` (Algorithm 1
        line 5), i.e. 7 values by default.  The authors' toolbox steps by 10
        and includes 1e5: ``beta_inc=10, beta_max=1e5 * 1.0000001``.
    inner_iters : int
        x/z alternations per beta (Algorithm 1: 1).
    cg_iters : int
        CG steps per z sub-problem (the toolbox's ``min_iterations = 2``,
        "2 is best"; the paper is silent).
    """

    beta0: float = 1.0
    beta_inc: float = 6.0
    beta_max: float = 1e5
    inner_iters: int = 1
    cg_iters: int = 2

    def __post_init__(self):
        V.check_positive("beta0", self.beta0)
        V.check_positive("beta_max", self.beta_max)
        if V.check_positive("beta_inc", self.beta_inc) <= 1.0:
            raise ValueError(f"beta_inc must be > 1, got {self.beta_inc}")
        V.check_int("inner_iters", self.inner_iters, 1)
        V.check_int("cg_iters", self.cg_iters, 1)
        for name in ("inner_iters", "cg_iters"):
            if getattr(self, name) > MAX_ITERS:
                raise ValueError(f"{name} must be at most {MAX_ITERS}, got {getattr(self, name)}")
        if self.beta_max > self.beta0:
            n = int(np.ceil(np.log(self.beta_max / self.beta0) / np.log(self.beta_inc)))
            if n > MAX_BETAS:
                raise ValueError(
                    f"beta_inc={self.beta_inc!r} from beta0={self.beta0!r} to beta_max="
                    f"{self.beta_max!r} gives {n:,} beta values; at most {MAX_BETAS} are "
                    f"allowed (the paper's schedule has 7)")

    def betas(self):
        """The continuation schedule as an array (Algorithm 1, lines 4-8).

        Returns
        -------
        ndarray of float
            ``beta0 * beta_inc**j`` while below ``beta_max``.
        """
        out = []
        beta = float(self.beta0)
        while beta < self.beta_max:
            out.append(beta)
            beta *= self.beta_inc
        return np.array(out, np.float64)


@dataclass(frozen=True, kw_only=True)
class FistaOptions(_Options):
    """Options of FISTA (Beck & Teboulle 2009), beyond the paper.

    Parameters
    ----------
    max_iter : int
        Iterations at most (each one ``F`` and one ``F^T`` pass).
    tol : float
        Stop when ``||z_k - z_{k-1}|| <= tol ||z_k||``.
    restart : bool
        Adaptive momentum restart (O'Donoghue & Candes 2015).
    lipschitz : {"spectral", "power"}
        How ``||F||^2`` is found: ``"spectral"``, the supremum over frequencies
        of the largest eigenvalue of ``F_hat(w)^H F_hat(w)`` on a fine grid (an
        upper bound for the truncated convolution, costs no image
        convolutions), or ``"power"``, power iteration on ``F^T F``.
    """

    max_iter: int = 200
    tol: float = 1e-4
    restart: bool = True
    lipschitz: str = "spectral"

    def __post_init__(self):
        V.check_int("max_iter", self.max_iter, 1)
        if self.max_iter > MAX_ITERS:
            raise ValueError(f"max_iter must be at most {MAX_ITERS}, got {self.max_iter}")
        if not isinstance(self.restart, (bool, np.bool_)):
            raise TypeError(f"restart must be True or False, got {self.restart!r}")
        V.check_positive("tol", self.tol, allow_zero=True)
        if self.lipschitz not in ("spectral", "power"):
            raise ValueError(f"lipschitz must be 'spectral' or 'power', got {self.lipschitz!r}")


SOLVERS = {"continuation": ContinuationOptions, "fista": FistaOptions}


def parse(solver, kwargs):
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; choose one of: {', '.join(SOLVERS)}")
    return SOLVERS[solver].from_kwargs(solver, kwargs)


#: Margin over the grid maximum of the symbol (the supremum may fall between
#: grid points; for 7x7 filters on a 128-point grid it differs by < 0.5%).
SAFETY = 1.01


def spectral_norm2(f, g, grid=128):
    """``||F||^2`` bound: ``max_w lambda_max(F_hat(w) F_hat(w)^H)`` (numpy FFT).

    ``F`` restricted to finite images is a compression of the infinite
    convolution operator, so its norm is at most the supremum of the symbol.

    Parameters
    ----------
    f : ndarray of shape (K1, K0, h, w)
        The filters.
    g : ndarray of bool, shape (K1, K0)
        Connectivity (eq. 3).
    grid : int, default 128
        Points per axis of the frequency grid (64 when ``K0 > 8``; at least 8
        times the filter size).

    Returns
    -------
    float
        The bound.
    """
    K1, K0, h, w = f.shape
    if K0 > 8:  # the K0 x K0 eigenproblems dominate: a coarser grid suffices
        grid = 64
    n = max(grid, 8 * max(h, w))
    fh = np.fft.rfft2(f * g[:, :, None, None], s=(n, n))  # (K1, K0, n, n//2+1)
    if K0 == 1:
        return float((np.abs(fh[:, 0]) ** 2).sum(axis=0).max()) * SAFETY
    M = np.einsum("kcuv,kduv->uvcd", fh, fh.conj())  # (n, m, K0, K0)
    return float(np.linalg.eigvalsh(M)[..., -1].max()) * SAFETY
