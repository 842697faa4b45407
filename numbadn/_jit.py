"""One home for numba settings and thread control.

Every kernel in :mod:`numbadn.kernels` is compiled with :data:`JIT` (serial) or
:data:`PJIT` (``parallel=True``): ``cache=True`` so a fresh process loads
machine code from disk, ``nogil=True`` so Python threads can run kernels side
by side.  ``fastmath`` is limited to the flags that allow re-association and
contraction into FMA (``contract``, ``reassoc``, ``nsz``, ``arcp``); ``nnan``
and ``ninf`` stay off so that NaN checks remain honest.

**Threads on a busy machine.**  numba's OpenMP threads (libgomp, the layer
numba picks when TBB is not installed) spin while they wait for each other:
300,000 spins by default.  With other CPU-bound processes on the cores a
spinning thread burns the time slice its partner needs, and a 2-thread call
of the paper's schedule took many times a 1-thread call.  Two settings,
both overridable by the user:

1. ``GOMP_SPINCOUNT=10000`` (:data:`SPINCOUNT`), set at import unless the
   user set ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT``: waiting threads spin
   about 0.1 ms, enough to bridge the gaps between the parallel loops of one
   call on an idle machine, then sleep.  ``OMP_WAIT_POLICY=PASSIVE`` (sleep at
   once) was robust under load but made the idle 2-thread call much slower.
   libgomp reads it when numba first starts its threads, so it applies only
   if no parallel kernel ran before numbadn was imported.
2. :func:`threads` never uses more threads than there are idle CPUs
   (:func:`idle_cpus`: the CPUs less the runnable threads of other
   processes, from ``/proc/loadavg``, looked at most every 0.25 s), and at
   least one.  Results do not depend on the thread count (fixed-order
   reductions), so this changes only the speed.  ``NUMBADN_ADAPTIVE_THREADS=0``
   switches it off.

:func:`thread_settings` says what is in effect (``numbadn bench`` prints it).
"""
from __future__ import annotations

import contextlib
import os
import threading
import time

import numba

from ._numba_cache import guard as _guard_cache

#: Numba's caches of numbadn removed at this import because its sources changed
#: (a callee in another file is invisible to numba's own check; see _numba_cache).
STALE_CACHES_REMOVED = _guard_cache()

FASTMATH = {"contract", "reassoc", "nsz", "arcp"}

JIT = dict(cache=True, nogil=True, fastmath=FASTMATH)
PJIT = dict(cache=True, nogil=True, fastmath=FASTMATH, parallel=True)

#: libgomp spin count numbadn sets when the user set neither ``OMP_WAIT_POLICY``
#: nor ``GOMP_SPINCOUNT`` (libgomp's own default: 300,000).
SPINCOUNT = "10000"
#: Seconds between two looks at the machine's load (:func:`idle_cpus`).
LOAD_PERIOD = 0.25


def _set_defaults(environ=os.environ):
    """Set numbadn's libgomp default into ``environ`` unless the user chose;
    returns what was set (a dict, empty when the user's settings stand)."""
    if "OMP_WAIT_POLICY" in environ or "GOMP_SPINCOUNT" in environ:
        return {}
    environ["GOMP_SPINCOUNT"] = SPINCOUNT
    return {"GOMP_SPINCOUNT": SPINCOUNT}


def _threads_started():
    try:
        from numba.np.ufunc import parallel
        return bool(parallel._is_initialized)
    except Exception:  # noqa: BLE001 - numba internals moved: assume not started
        return False


#: Whether libgomp had already been started (by numba) when numbadn was imported,
#: in which case the spin count numbadn sets cannot apply.
_STARTED_BEFORE = _threads_started()
_SET = {} if _STARTED_BEFORE else _set_defaults()


def start_threading_layer():
    """Load numba's threading layer now (after the libgomp default above is set).

    A cached serial kernel that reaches a parallel one through other kernels (the
    solver drivers on a chain of layers do) is linked against the layer's symbols
    when loaded from the cache; numba loads the layer itself only for kernels that
    hold a ``prange``, so without this a fresh process could fail with "Symbol not
    found: allocate_sched".  Loading starts no thread (libgomp starts them at the
    first parallel loop).  Called when :mod:`numbadn.kernels` is imported.
    """
    numba.get_num_threads()


def adaptive():
    """Whether :func:`threads` caps the thread count at the idle CPUs."""
    return os.environ.get("NUMBADN_ADAPTIVE_THREADS", "1").strip().lower() not in (
        "0", "false", "no", "off")


def thread_settings():
    """What numbadn's thread control does in this process (a dict for printing)."""
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet
        layer = f"not started (numba's choice: {numba.config.THREADING_LAYER})"
    return {"threading_layer": layer,
            "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
            "GOMP_SPINCOUNT": os.environ.get("GOMP_SPINCOUNT"),
            "set_by_numbadn": dict(_SET),
            "threads_started_before_import": _STARTED_BEFORE,
            "adaptive": adaptive()}


def current_threads() -> int:
    """The numba threads a kernel called now would use (inside :func:`threads`: its count)."""
    return numba.get_num_threads()


def max_threads() -> int:
    """Largest thread count numba may use (``NUMBA_NUM_THREADS``)."""
    return numba.config.NUMBA_NUM_THREADS


def _runnable_others():
    """Runnable threads of other processes now, or None where unknown.

    ``/proc/loadavg``'s fourth field counts the machine's runnable threads;
    this process's own runnable threads (``/proc/self/task/*/stat``, e.g.
    OpenMP workers still spinning after the last call) are taken off.
    """
    try:
        with open("/proc/loadavg", "rb") as fh:
            running = int(fh.read().split()[3].split(b"/")[0])
        own = 0
        for tid in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{tid}/stat", "rb") as fh:
                    s = fh.read()
            except OSError:
                continue
            if s[s.rindex(b")") + 2:s.rindex(b")") + 3] == b"R":
                own += 1
    except (OSError, ValueError, IndexError):
        return None
    return max(0, running - max(own, 1))


_LOAD = {"t": -1e9, "idle": None}
_LOAD_LOCK = threading.Lock()


def idle_cpus():
    """CPUs not busy with other processes' runnable threads (at least 1; all of
    them where the load cannot be read), looked at most every :data:`LOAD_PERIOD`."""
    now = time.monotonic()
    with _LOAD_LOCK:
        if now - _LOAD["t"] < LOAD_PERIOD and _LOAD["idle"] is not None:
            return _LOAD["idle"]
    ncpu = os.cpu_count() or 1
    others = _runnable_others()
    idle = ncpu if others is None else max(1, ncpu - others)
    with _LOAD_LOCK:
        _LOAD["t"], _LOAD["idle"] = now, idle
    return idle


def check_n_threads(n):
    """``n_threads`` as a positive int (or None); the error names the argument."""
    if n is None:
        return None
    import numbers
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"n_threads must be a positive integer or None, got {n!r}")
    n = int(n)
    if n < 1:
        raise ValueError(f"n_threads must be a positive integer, got {n}")
    return n


@contextlib.contextmanager
def threads(n: int | None, adapt: bool | None = None):
    """Run the body with at most ``n`` numba threads (``None``: numba's current
    count), and no more than :func:`idle_cpus` when ``adapt`` (default:
    :func:`adaptive`; benchmarks pass False to measure exactly ``n``).

    Yields the count used; the previous count is restored afterwards, even on
    error.
    """
    n = check_n_threads(n)
    old = numba.get_num_threads()
    want = old if n is None else min(n, max_threads())
    if (adaptive() if adapt is None else adapt) and want > 1:
        want = min(want, idle_cpus())
    if want == old:
        yield old
        return
    numba.set_num_threads(want)
    try:
        yield want
    finally:
        numba.set_num_threads(old)
