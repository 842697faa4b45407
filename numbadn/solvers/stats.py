"""Per-iteration statistics of a solve: :class:`IterationStats`, the one record
that ``return_stats``, callbacks and a layer's training history all use."""
from __future__ import annotations

import time
from typing import NamedTuple, Optional

import numpy as np

from .. import kernels as S
from ..kernels import Masked, new_rpad


class IterationStats(NamedTuple):
    """One iteration's statistics, the same fields for every solver.

    ``infer(..., return_stats=True)`` returns a list of them (iteration 0 is the
    start); ``infer(..., callback=cb)`` calls ``cb(stats)`` after every iteration
    (a beta step of the continuation scheme, a FISTA iteration);
    ``DeconvLayer.fit(..., callback=cb)`` after every training image.

    Parameters
    ----------
    epoch : int or None
        Epoch of :meth:`DeconvLayer.fit` (1-based); None in inference.
    image : int
        Index of the image in the batch or training set.
    iteration : int
        Solver iteration (inference) or images done in this epoch (fit).
    time : float
        Seconds since the solve (inference, cost evaluation excluded) or the
        epoch began.
    cost : float
        Eq. 2/3: ``lam/2 ||F z - y||^2 + sum |z|^p``.
    sparsity : float
        Fraction of map entries that are exactly zero.
    residual : float
        ``||F z - y|| / ||y||``, the relative reconstruction residual.
    cg_residual : float
        Relative residual of the last CG solve (continuation; NaN otherwise).
    """

    #: Epoch of :meth:`DeconvLayer.fit` (1-based); None in inference.
    epoch: Optional[int]
    #: Index of the image in the batch or training set.
    image: int
    #: Solver iteration (inference) or images done in this epoch (fit).
    iteration: int
    #: Seconds since the solve (inference, cost evaluation excluded) or the epoch began.
    time: float
    #: Eq. 2/3: ``lam/2 ||F z - y||^2 + sum |z|^p``.
    cost: float
    #: Fraction of map entries that are exactly zero.
    sparsity: float
    #: ``||F z - y|| / ||y||``, the relative reconstruction residual.
    residual: float
    #: Relative residual of the last CG solve (continuation; NaN otherwise).
    cg_residual: float


def taps_shape(op):
    """The filters' shape of a layer's operator.

    Parameters
    ----------
    op : numbadn.kernels.Operator or numbadn.kernels.Masked
        The operator (a masked one's inner operator is read).

    Returns
    -------
    tuple of int
        The shape of its forward taps.
    """
    return (op.op if isinstance(op, Masked) else op).taps_fwd.shape


class Monitor:
    """Per-iteration statistics of one image's solve, called back by the driver
    (:func:`numbadn.kernels.registered`) from the loop the fast path runs; ``records``
    holds one :class:`IterationStats` per call.

    ``time`` counts the driver's own seconds: the clock stops while this records.

    Parameters
    ----------
    op : Operator or Chain
        The operator the solve runs on.
    y : ndarray
        The image (or target) of the solve.
    z : ndarray
        The maps the driver updates in place.
    prior : Prior
        ``(lam, p, table)`` of the cost.
    callback : callable, optional
        Called with each :class:`IterationStats`; returning True stops the solve.
    image : int, default 0
        Index of the image, recorded in the statistics.
    """

    def __init__(self, op, y, z, prior, callback=None, image=0):
        self.op, self.y, self.z, self.prior = op, y, z, prior
        self.callback, self.image = callback, image
        K0, P, Q = y.shape
        h, w = taps_shape(op)[2:]
        self.rpad = new_rpad(K0, P, Q, h, w, z.dtype)
        self.ny = float(np.linalg.norm(y))
        self.records = []
        self.elapsed = 0.0
        self.clock = time.perf_counter()

    def __call__(self, it, res):
        self.elapsed += time.perf_counter() - self.clock
        stop = self._record(it, res)
        self.clock = time.perf_counter()
        return stop

    def _record(self, it, res):
        """Append one iteration; call the callback; True: it asks to stop."""
        z, lam, p = self.z, self.prior.lam, self.prior.p
        c = float(S.cost(self.op, self.y, z, self.prior, self.rpad, True))
        sparsity = 1.0 - S.count_nonzero(z) / z.size
        # ||F z - y||^2 from the cost: 2 (C - sum |z|^p) / lam
        data = max(2.0 * (c - float(S.sum_abs_p(z, float(p)))) / lam, 0.0)
        stats = IterationStats(
            epoch=None, image=self.image, iteration=int(it), time=self.elapsed, cost=c,
            sparsity=sparsity,
            residual=float(np.sqrt(data)) / self.ny if self.ny > 0 else float("nan"),
            cg_residual=float(res))
        self.records.append(stats)
        return self.callback is not None and bool(self.callback(stats))
