"""The one way the njit solver drivers call back into Python.

A driver of :mod:`._steps` takes ``monitor``: ``None`` on the fast path (numba
prunes the branch at compile time, so that specialisation contains no call back),
or the integer handle of a Python function registered here.  The driver then calls
``fn(iteration, cg_residual)`` after its start (iteration 0) and after every
iteration, from the same loop as the fast path; ``fn`` may read the maps (the driver
updates them in place), record statistics, change the data term between iterations
(the z0 alternation of section 3.3 does), and return True to stop the solve.
"""
from __future__ import annotations

import contextlib
import itertools
import threading
import numba
from numba import objmode

from .._jit import JIT

_HOOKS = {}
_NEXT = itertools.count(1)
_LOCK = threading.Lock()


@contextlib.contextmanager
def registered(fn):
    """``with registered(fn) as monitor:`` the handle to pass as a driver's ``monitor``."""
    with _LOCK:
        handle = next(_NEXT)
        _HOOKS[handle] = fn
    try:
        yield handle
    finally:
        with _LOCK:
            del _HOOKS[handle]


def _call(handle, it, res):
    return bool(_HOOKS[handle](it, res))


#: ``notify`` takes the GIL for its call back anyway (``nogil`` only matters on entry
#: from Python, and would draw numba's warning about object mode)
@numba.njit(**dict(JIT, nogil=False))
def notify(monitor, it, res):
    """Call the Python function registered as ``monitor``; True: stop the solve."""
    with objmode(stop="boolean"):
        stop = _call(monitor, it, res)
    return stop
