"""The solvers of one layer's maps: :class:`Continuation` (the paper's scheme) and
:class:`Fista`.  Each is a frozen keyword-only dataclass with the paper's
defaults that also runs its njit driver (:mod:`numbadn.kernels`) on one image, a
batch, a monitored image, the z0 alternation or the top-down chain of eq. 10,
with its own per-thread work arrays; :func:`make_solver` is the one place a
solver's name is looked up."""
from __future__ import annotations

import dataclasses
import functools
import threading
import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import _validation as V
from .._jit import current_threads
from .. import kernels as S
from ..kernels import (ContinuationPlan, FistaPlan, Prior, make_operator, new_rpad, power_norm2,
                       lipschitz_bound, registered, table_for)
from ..kernels import fused as FU
from .stats import Monitor, taps_shape

__all__ = ["Continuation", "Fista", "make_solver", "make_prior", "Prior", "SOLVERS",
           "LIPSCHITZ", "spectral_norm2", "chain_norm2", "power_bound"]

#: Longest continuation schedule (beta values) and iteration counts accepted: a
#: ``beta_inc`` of 1.0000001 would otherwise ask for 10^8 beta steps.
MAX_BETAS = 1000
MAX_ITERS = 100_000

#: :meth:`Continuation.solve` (without a monitor) and :meth:`Continuation.solve_batch`
#: run the fused driver (:mod:`numbadn.kernels.fused`): the same iterations in fewer
#: passes over memory, equal to the unfused driver to rounding
#: (``benchmarks/fused.py`` measures both; the fused one was the faster there).
FUSED_CONTINUATION = True
#: The same for :class:`Fista` with backtracking.  Off: on the 2-core machine it moved
#: fewer bytes but was not faster (``figures/fused.json``);
#: ``benchmarks/device_check.sh`` measures it on many cores.
FUSED_FISTA = False


def make_prior(lam, p):
    """The prior of eq. 2 as the drivers take it, ``lam`` and ``p`` checked (the
    lookup table of ``p < 1`` is built once per ``p``).

    Parameters
    ----------
    lam : float > 0
        The data weight.
    p : float in (0, 1]
        The exponent of ``sum |z|^p``.

    Returns
    -------
    Prior
        ``(lam, p, table)``.
    """
    lam = V.check_positive("lam", lam)
    p = V.check_p(p)
    return Prior(lam, p, table_for(p))


def batch_split(n_images, n_threads):
    """How many of ``n_images`` to solve side by side (one image per thread,
    serial kernels); the rest go one at a time through the parallel kernels.

    Images in parallel scale best, but a batch of ``n`` keeps only ``n``
    threads busy, and ``n_threads + 1`` images take two rounds.  So whole
    rounds of ``n_threads`` images go as a batch, and a last partial round of
    at most half the threads goes image by image on all threads (both paths
    give the same maps).  ``n_threads = 1``: everything is one batch.
    """
    if n_images <= 1:
        return 0
    if n_threads <= 1:
        return n_images
    rest = n_images % n_threads
    return n_images - rest if rest <= n_threads // 2 else n_images


class _Solver:
    """What both solvers share: options as a dict and back, their own per-thread
    work arrays, and the batch and monitored paths around their one-image driver.

    A solver is a frozen value (equal options: equal solvers) and pickles as its
    options; its work arrays are kept per thread for the next solve of the same
    size (fresh arrays cost a page fault per page inside the first parallel passes).
    """

    name: ClassVar[str]

    @classmethod
    def from_dict(cls, options):
        """The solver with these options (unknown keys are an error that lists the
        valid ones).

        Parameters
        ----------
        options : dict
            Option names and values.

        Returns
        -------
        Continuation or Fista
        """
        valid = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(options) - set(valid))
        if unknown:
            raise TypeError(
                f"solver={cls.name!r} does not take option(s) {', '.join(unknown)}; "
                f"its options are: {', '.join(valid)}")
        return cls(**options)

    def to_dict(self):
        """The options as a dict (:meth:`from_dict` reads it back).

        Returns
        -------
        dict
        """
        return dataclasses.asdict(self)

    def replace(self, **options):
        """This solver with some options changed (an unknown one is an error).

        Parameters
        ----------
        **options
            The options to change.

        Returns
        -------
        Continuation or Fista
        """
        return self.from_dict({**self.to_dict(), **options}) if options else self

    def __getstate__(self):
        return self.to_dict()

    def _work(self, kind, key, make):
        """``make()``, kept per thread and per ``kind`` for the next call with the
        same ``key`` (the most recent key only)."""
        tls = self.__dict__.get("_tls")
        if tls is None:
            tls = threading.local()
            object.__setattr__(self, "_tls", tls)
        cached = getattr(tls, kind, None)
        if cached is None or cached[0] != key:
            cached = (key, make())
            setattr(tls, kind, cached)
        return cached[1]

    def solve_batch(self, op, Y, Z, prior, plan):
        """Solve every image of ``Y`` in place on ``Z``: whole rounds of the thread
        count side by side (:func:`batch_split`), the rest one at a time on all
        threads; the same maps either way.

        Parameters
        ----------
        op : Operator
            The layer's operator (:func:`numbadn.kernels.make_operator`).
        Y : ndarray of shape (n, K0, P, Q)
            The images.
        Z : ndarray of shape (n, K1, P+h-1, Q+w-1)
            Warm starts, overwritten with the maps.
        prior : Prior
            ``(lam, p, table)`` (:func:`make_prior`).
        plan : ContinuationPlan or FistaPlan
            From :meth:`plan`.
        """
        n_batch = batch_split(Y.shape[0], current_threads())
        if n_batch:
            self._batch(op, Y[:n_batch], Z[:n_batch], prior, plan,
                        min(n_batch, current_threads()))
        for i in range(n_batch, Y.shape[0]):
            self.solve(op, Y[i], Z[i], prior, plan)

    def solve_monitored(self, op, y, z, prior, plan, callback=None, image=0):
        """:meth:`solve` through the same driver, recording an
        :class:`~numbadn.solvers.IterationStats` per iteration (0: the start) and
        calling ``callback(stats)`` after each; True from it stops the solve.

        Parameters
        ----------
        op : Operator
            The layer's operator.
        y : ndarray of shape (K0, P, Q)
            The image.
        z : ndarray of shape (K1, P+h-1, Q+w-1)
            The warm start, overwritten with the maps.
        prior : Prior
            ``(lam, p, table)`` (:func:`make_prior`).
        plan : ContinuationPlan or FistaPlan
            From :meth:`plan`.
        callback : callable, optional
            ``callback(stats)`` after every iteration.
        image : int, default 0
            The ``image`` field of the statistics.

        Returns
        -------
        list of IterationStats
        """
        mon = Monitor(op, y, z, prior, callback, image)
        with registered(mon) as handle:
            mon.clock = time.perf_counter()
            self.solve(op, y, z, prior, plan, monitor=handle)
        return mon.records


@dataclass(frozen=True, kw_only=True)
class Continuation(_Solver):
    """The paper's continuation scheme (eq. 4, Algorithm 1 lines 4-9): alternate
    the x sub-problem (eq. 8 or the p < 1 lookup table) and CG on the z
    sub-problem (eq. 6) while beta grows from ``beta0`` by ``beta_inc`` up to
    ``beta_max``.

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

    name: ClassVar[str] = "continuation"

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

    def plan(self, f=None, g=None, y_shape=None, lam=1.0):
        """The settings as the driver takes them; it needs neither the filters nor
        the size (the signature is :meth:`Fista.plan`'s).

        Parameters
        ----------
        f, g, y_shape, lam : optional
            Not used.

        Returns
        -------
        ContinuationPlan
            ``(betas, inner_iters, cg_iters)``.
        """
        return ContinuationPlan(self.betas(), int(self.inner_iters), int(self.cg_iters))

    def chain_plan(self, chain, lam=1.0):
        """The plan for eq. 10 on a top-down chain: the same schedule.

        Parameters
        ----------
        chain, lam : optional
            Not used.

        Returns
        -------
        ContinuationPlan
        """
        return self.plan()

    def _workspace(self, op, y, z):
        """The CG work arrays and ``F^T y`` for this image size, kept per thread."""
        key = (type(op), y.shape, z.shape, taps_shape(op), z.dtype.str)
        return self._work("ws", key, lambda: (S.workspace(op, y, z), np.empty_like(z)))

    def solve(self, op, y, z, prior, plan, *, monitor=None):
        """The scheme on one image, in place on ``z`` (parallel kernels).

        Parameters
        ----------
        op : Operator
            The layer's operator (:func:`numbadn.kernels.make_operator`).
        y : ndarray of shape (K0, P, Q)
            The image, in the operator's dtype.
        z : ndarray of shape (K1, P+h-1, Q+w-1)
            The maps: the warm start, overwritten with the result.
        prior : Prior
            ``(lam, p, table)`` (:func:`make_prior`).
        plan : ContinuationPlan or FistaPlan
            From :meth:`plan` for this operator and size.
        monitor : int, optional
            A handle of :func:`numbadn.kernels.registered` the driver calls after
            every iteration; None for the fast path.

        Returns
        -------
        float
            The last CG relative residual.
        """
        ws, FTy = self._workspace(op, y, z)
        # the fused driver runs the unfused one when a monitor is given
        solve = FU.continuation_solve_fused if FUSED_CONTINUATION else S.continuation_solve
        return solve(op, y, z, prior, plan, ws, FTy, monitor, True)

    def _batch(self, op, Y, Z, prior, plan, n_chunks):
        batch = FU.continuation_batch_fused if FUSED_CONTINUATION else S.continuation_batch
        batch(op, Y, Z, prior, plan, n_chunks)

    def solve_chain(self, ch, y, z, prior, plan):
        """Eq. 10 on a top-down chain, in place on ``z``: the one-layer driver with
        CG on the chain (section 3.3: "using conjugate gradient descent in both").

        Parameters
        ----------
        ch : Chain
            The chain operator (:func:`numbadn.kernels.make_chain`).
        y : ndarray of shape (K0, P, Q)
            The image.
        z : ndarray
            The top layer's maps: the warm start, overwritten with the result.
        prior : Prior
            The top layer's ``(lam, p, table)``.
        plan : ContinuationPlan
            From :meth:`chain_plan`.
        """
        S.continuation_solve(ch, y, z, prior, plan, S.workspace(ch, y, z),
                             np.empty_like(z), None, True)

    def solve_lowfreq(self, op, y, z, prior, plan, update_zlow):
        """One image with the z0 maps of section 3.3: ``update_zlow()`` runs between
        the beta steps, from the driver's own loop, as the toolbox does inside every
        beta step: after the start and after each step (the last one is the final
        update).

        Parameters
        ----------
        op : Operator
            The layer's operator.
        y : ndarray of shape (K0, P, Q)
            The image.
        z : ndarray of shape (K1, P+h-1, Q+w-1)
            The warm start, overwritten with the maps.
        prior : Prior
            ``(lam, p, table)``.
        plan : ContinuationPlan
            From :meth:`plan`.
        update_zlow : callable
            Updates the z0 maps for the current ``z`` and returns the new data
            term ``y - F0 zlow``.
        """
        ws, FTy = self._workspace(op, y, z)
        n_betas = plan.betas.shape[0]

        def between(it, res):
            yy = update_zlow()
            if it < n_betas:  # the data term of the next step (ws.rpad is free here)
                S.adjoint_of_input(op, yy, FTy, ws.rpad, True)
            return False

        with registered(between) as monitor:
            S.continuation_solve(op, y, z, prior, plan, ws, FTy, monitor, True)


#: FISTA's step rules (:class:`Fista`).
LIPSCHITZ = ("backtracking", "spectral", "power")


@dataclass(frozen=True, kw_only=True)
class Fista(_Solver):
    """FISTA (Beck & Teboulle 2009), beyond the paper: accelerated proximal
    gradient on eq. 2 itself with adaptive restart.  It minimises the actual
    cost, where the paper's fixed schedule stops wherever its 7 beta values
    leave it, well above the optimum (how far, and the time of each:
    ``reproduce/sec45_timings.py``, ``figures/sec45_timings.json``).

    Parameters
    ----------
    max_iter : int
        Iterations at most (each one ``F`` and one ``F^T`` pass); in top-down
        inference, also per solve of eq. 10.
    tol : float
        Stop when ``||z_k - z_{k-1}|| <= tol ||z_k||``.
    restart : bool
        Adaptive momentum restart (O'Donoghue & Candes 2015).
    lipschitz : {"backtracking", "spectral", "power"}
        The step. ``"backtracking"`` (default): Beck & Teboulle's backtracking
        (section 4 of their paper): ``L`` starts at the spectral bound over 16 and
        doubles until the quadratic upper bound of the data term holds at the
        trial point (one extra ``F`` pass per rejected trial): steps as long as
        the local curvature allows, so fewer operator products per converged
        image than the fixed step (the measurement: ``benchmarks/fista_variants.py``,
        ``figures/fista_variants.json``).  Fixed step ``1/L``: ``"spectral"``,
        ``L`` the supremum over frequencies of the largest eigenvalue of
        ``F_hat(w)^H F_hat(w)`` on a fine grid (an upper bound for the truncated
        convolution, costs no image convolutions), or ``"power"``, power
        iteration on ``F^T F`` for the image size (tighter; cached per filter set
        and size).  On the top-down chain of eq. 10 the bound is the product of
        the layers' spectral bounds for ``"spectral"`` and ``"power"`` alike
        (``"backtracking"`` searches from it over 16).
    """

    name: ClassVar[str] = "fista"

    max_iter: int = 200
    tol: float = 1e-4
    restart: bool = True
    lipschitz: str = "backtracking"

    def __post_init__(self):
        V.check_int("max_iter", self.max_iter, 1)
        if self.max_iter > MAX_ITERS:
            raise ValueError(f"max_iter must be at most {MAX_ITERS}, got {self.max_iter}")
        if not isinstance(self.restart, (bool, np.bool_)):
            raise TypeError(f"restart must be True or False, got {self.restart!r}")
        V.check_positive("tol", self.tol, allow_zero=True)
        if self.lipschitz not in LIPSCHITZ:
            raise ValueError(f"lipschitz must be one of {', '.join(map(repr, LIPSCHITZ))}, "
                             f"got {self.lipschitz!r}")

    def _plan(self, L):
        return FistaPlan(float(L), int(self.max_iter), float(self.tol), bool(self.restart),
                         self.lipschitz == "backtracking")

    def plan(self, f, g, y_shape, lam=1.0):
        """The settings as the driver takes them, with the step bound
        ``L = lam ||F||^2`` by :attr:`lipschitz` (the start of the search with
        backtracking).

        Parameters
        ----------
        f : ndarray of shape (K1, K0, h, w)
            The filters.
        g : ndarray of bool, shape (K1, K0)
            The connectivity.
        y_shape : tuple
            The images' shape (its last two axes count).
        lam : float
            The data weight.

        Returns
        -------
        FistaPlan
            ``(L, max_iter, tol, restart, backtrack)``.
        """
        if not f.any():
            # F = 0: every z explains nothing and the optimum is z = 0; any step
            # length keeps FISTA there (its gradient is zero)
            bound = 1.0
        elif self.lipschitz == "spectral":
            bound = spectral_cached(f, g)
        elif self.lipschitz == "backtracking":  # the start of the search: longer steps
            bound = spectral_cached(f, g) / BACKTRACK_START
        else:
            bound = power_bound(f, g, y_shape)
        return self._plan(lam * bound)

    def chain_plan(self, chain, lam=1.0):
        """The plan for eq. 10 on a top-down chain: ``L`` from the product of the
        layers' spectral bounds (:func:`chain_norm2`).

        Parameters
        ----------
        chain : list of (f, g, s)
            Filters from the top layer down.
        lam : float
            The top layer's data weight.

        Returns
        -------
        FistaPlan
        """
        bound = chain_norm2(chain)
        if self.lipschitz == "backtracking":
            bound /= BACKTRACK_START
        return self._plan(lam * bound)

    def _workspace(self, op, y, z):
        """FISTA's work arrays (``fista_work`` of the kernels) for this image size,
        kept per thread."""
        key = (type(op), y.shape, z.shape, taps_shape(op), z.dtype.str)
        return self._work("fista", key, lambda: S.fista_work(op, y, z))

    def solve(self, op, y, z, prior, plan, *, monitor=None):
        """FISTA on one image, in place on ``z`` (parallel kernels).

        Parameters
        ----------
        op : Operator
            The layer's operator (:func:`numbadn.kernels.make_operator`).
        y : ndarray of shape (K0, P, Q)
            The image, in the operator's dtype.
        z : ndarray of shape (K1, P+h-1, Q+w-1)
            The maps: the warm start, overwritten with the result.
        prior : Prior
            ``(lam, p, table)`` (:func:`make_prior`).
        plan : ContinuationPlan or FistaPlan
            From :meth:`plan` for this operator and size.
        monitor : int, optional
            A handle of :func:`numbadn.kernels.registered` the driver calls after
            every iteration; None for the fast path.

        Returns
        -------
        int
            The iterations done.
        """
        if plan.backtrack and FUSED_FISTA:
            key = (y.shape, z.shape, op.taps_fwd.shape, z.dtype.str)
            work = self._work("fused", key, lambda: FU.fused_fista_work(op, y, z))
            return FU.fista_bt_run_fused(op, y, z, prior, plan, work, monitor, True)[0]
        return S.fista_run(op, y, z, prior, plan, self._workspace(op, y, z), monitor, True)

    def _batch(self, op, Y, Z, prior, plan, n_chunks):
        if plan.backtrack and FUSED_FISTA:
            FU.fista_bt_batch_fused(op, Y, Z, prior, plan, n_chunks)
        else:
            S.fista_batch(op, Y, Z, prior, plan, n_chunks)

    def solve_chain(self, ch, y, z, prior, plan):
        """Eq. 10 on a top-down chain, in place on ``z``.

        Parameters
        ----------
        ch : Chain
            The chain operator (:func:`numbadn.kernels.make_chain`).
        y : ndarray of shape (K0, P, Q)
            The image.
        z : ndarray
            The top layer's maps: the warm start, overwritten with the result.
        prior : Prior
            The top layer's ``(lam, p, table)``.
        plan : FistaPlan
            From :meth:`chain_plan`.
        """
        S.fista_run(ch, y, z, prior, plan, S.fista_work(ch, y, z), None, True)

    #: FISTA iterations per block between two updates of the z0 maps.
    LOWFREQ_BLOCK = 10

    def solve_lowfreq(self, op, y, z, prior, plan, update_zlow):
        """One image with the z0 maps of section 3.3: blocks of
        :attr:`LOWFREQ_BLOCK` iterations, each on the data term ``update_zlow()``
        returns, and a last update after them.

        Parameters
        ----------
        op : Operator
            The layer's operator.
        y : ndarray of shape (K0, P, Q)
            The image (the data term comes from ``update_zlow``).
        z : ndarray of shape (K1, P+h-1, Q+w-1)
            The warm start, overwritten with the maps.
        prior : Prior
            ``(lam, p, table)``.
        plan : FistaPlan
            From :meth:`plan`.
        update_zlow : callable
            Updates the z0 maps for the current ``z`` and returns the new data
            term ``y - F0 zlow``.
        """
        done = 0
        while done < self.max_iter:
            yy = update_zlow()
            n = min(self.LOWFREQ_BLOCK, self.max_iter - done)
            it = S.fista_solve(op, yy, z, prior, plan._replace(max_iter=n), True)
            done += n
            if it < n:
                break
        update_zlow()


def masked_plan(plan, w):
    """``plan`` for the masked operator ``W F`` (beyond the paper): FISTA's step
    bound ``L`` times ``max(W)^2`` (:func:`numbadn.kernels.lipschitz_bound`); a
    continuation plan (or ``w`` None) unchanged."""
    if w is None or not isinstance(plan, FistaPlan):
        return plan
    return plan._replace(L=lipschitz_bound(plan.L, w))


#: The solvers by name.
SOLVERS = {cls.name: cls for cls in (Continuation, Fista)}


@functools.lru_cache(maxsize=16)
def _named(name, items):
    return SOLVERS[name].from_dict(dict(items))


def make_solver(solver="continuation", options=None):
    """The one factory of solvers: a name (``"continuation"``, ``"fista"``) or a
    :class:`Continuation` / :class:`Fista`, with ``options`` (a dict) overriding
    its own.  The same name and options give the same object, so its work arrays
    serve the next call.

    Parameters
    ----------
    solver : {"continuation", "fista"}, Continuation or Fista
        A name or a solver.
    options : dict, optional
        Options overriding the solver's (an unknown one is an error).

    Returns
    -------
    Continuation or Fista
    """
    options = dict(options or {})
    if isinstance(solver, _Solver):
        return solver.replace(**options)
    if not isinstance(solver, str):
        raise TypeError(f"solver must be a name ({', '.join(map(repr, SOLVERS))}) or a "
                        f"Continuation(...) or Fista(...), got {solver!r}")
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; choose one of: {', '.join(SOLVERS)}, "
                         "or pass a Continuation(...) or Fista(...)")
    try:
        key = tuple(sorted(options.items()))
        hash(key)
    except TypeError:  # an unhashable option value: the constructor says what is wrong
        return SOLVERS[solver].from_dict(options)
    return _named(solver, key)


#: The last few spectral bounds, by filter bank: inference over many images
#: with the same filters computes it once (it grows with the channels: layer 3's
#: 45-channel eigenproblems cost far more than layer 1's).
_SPECTRAL_CACHE = {}
_SPECTRAL_CACHE_SIZE = 4
_SPECTRAL_LOCK = threading.Lock()


def spectral_cached(f, g):
    """:func:`spectral_norm2`, cached per filter bank (the last few)."""
    key = (f.dtype.str, f.shape, f.tobytes(), np.asarray(g, bool).tobytes())
    with _SPECTRAL_LOCK:
        L = _SPECTRAL_CACHE.get(key)
    if L is None:
        L = spectral_norm2(f, g)
        with _SPECTRAL_LOCK:
            if len(_SPECTRAL_CACHE) >= _SPECTRAL_CACHE_SIZE:
                _SPECTRAL_CACHE.pop(next(iter(_SPECTRAL_CACHE)))  # oldest first
            _SPECTRAL_CACHE[key] = L
    return L


#: With ``lipschitz="backtracking"`` the search for ``L`` starts at the spectral
#: bound over this (steps up to this many times longer than ``1/||F||^2``; the local
#: curvature on sparse maps is far below the global bound).
BACKTRACK_START = 16.0
#: Power iterations behind :func:`power_bound`, and its margin over the estimate
#: (power iteration approaches ``||F||^2`` from below).
POWER_ITERS = 50
POWER_SAFETY = 1.01


def power_bound(f, g, y_shape):
    """``||F||^2`` of the operator on images of shape ``y_shape`` (K0, P, Q), by
    :data:`POWER_ITERS` steps of power iteration on ``F^T F`` from a fixed random
    start, times :data:`POWER_SAFETY`; cached per filter set and image size
    (the last few, as the spectral bound).

    Tighter than the spectral bound (:func:`spectral_norm2`): the finite
    operator's norm, not its infinite extension's, so FISTA's steps are longer
    (the measurement: ``benchmarks/fista_variants.py``).

    Parameters
    ----------
    f : ndarray of shape (K1, K0, h, w)
        The filters.
    g : ndarray of shape (K1, K0), bool
        The connectivity.
    y_shape : tuple
        Shape of the images, ``(K0, P, Q)``.

    Returns
    -------
    float
    """
    f = np.ascontiguousarray(f)
    g = np.asarray(g, bool)
    K1, K0, h, w = f.shape
    P, Q = int(y_shape[-2]), int(y_shape[-1])
    key = ("power", f.dtype.str, f.shape, f.tobytes(), g.tobytes(), P, Q)
    with _SPECTRAL_LOCK:
        L = _SPECTRAL_CACHE.get(key)
    if L is None:
        z = np.random.default_rng(0).standard_normal((K1, P + h - 1, Q + w - 1)).astype(f.dtype)
        L = POWER_SAFETY * float(power_norm2(make_operator(f, g), z, np.empty_like(z),
                                             new_rpad(K0, P, Q, h, w, f.dtype), POWER_ITERS,
                                             True))
        with _SPECTRAL_LOCK:
            if len(_SPECTRAL_CACHE) >= _SPECTRAL_CACHE_SIZE:
                _SPECTRAL_CACHE.pop(next(iter(_SPECTRAL_CACHE)))
            _SPECTRAL_CACHE[key] = L
    return L


def chain_norm2(chain):
    """Upper bound of ``||D||^2`` for a top-down chain of ``(f, g, s)`` (eq. 10):
    the product of the layers' spectral bounds over their scales squared.

    Parameters
    ----------
    chain : list of (ndarray, ndarray, float)
        Filters ``f``, connectivity ``g`` and scale ``s`` of each layer below, top first.

    Returns
    -------
    float
    """
    out = 1.0
    for f, g, s in chain:
        out *= spectral_norm2(f, g) / (s * s)
    return out


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
