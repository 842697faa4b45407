"""A layer's parameters checked (in :meth:`DeconvLayer.fit`, as scikit-learn
checks them: the constructor stores them as given) and its connectivity table
resolved."""
from __future__ import annotations

import numbers

import numpy as np

from .. import _validation as V
from .. import connectivity as C
from .._params import check_n_jobs, check_random_state
from ..solvers.options import make_solver

__all__ = ["check_layer_params", "resolve_connectivity", "params_equal", "UPDATES",
           "MAX_FILTER_BYTES"]


UPDATES = ("online", "batch")
#: Largest filter bank a layer may hold (1 GiB): a typo in ``filter_size`` is an
#: error on the size, not a ``MemoryError``.
MAX_FILTER_BYTES = 2 ** 30


def params_equal(a, b):
    """``a == b`` for parameter values (arrays compared whole)."""
    if a is b:
        return True
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and \
            a.shape == b.shape and bool((a == b).all())
    return a == b


def check_layer_params(d):
    """A layer's parameters checked, in canonical form (the layer keeps them as given).

    Numbers, strings and flags come back as given (ints and floats as Python
    numbers); ``filter_size`` as the pair ``(h, w)``, ``dtype`` as a
    ``numpy.dtype`` and ``solver_options=None`` as an empty dict.
    ``connectivity`` is checked but comes back as given: a name is resolved
    into its table only by :func:`resolve_connectivity` (``random_pairs`` draws
    from ``random_state``, which may be a shared Generator).

    Parameters
    ----------
    d : dict
        ``get_params(deep=False)`` of a :class:`DeconvLayer`.

    Returns
    -------
    dict
        The same keys, checked.
    """
    out = dict(d)
    out["in_channels"] = K0 = V.check_int("in_channels", d["in_channels"], 1)
    out["n_maps"] = K1 = V.check_int("n_maps", d["n_maps"], 1)
    fs = d["filter_size"]
    if isinstance(fs, numbers.Integral) and not isinstance(fs, bool):
        fs = (V.check_int("filter_size", fs, 1),) * 2
    if not isinstance(fs, (tuple, list)) or len(fs) != 2:
        raise TypeError(f"filter_size must be an int or a pair (h, w), got {fs!r}")
    pair = (V.check_int("filter_size", fs[0], 1), V.check_int("filter_size", fs[1], 1))
    out["filter_size"] = pair
    dt = d["dtype"]
    try:
        dt = dt if isinstance(dt, np.dtype) else np.dtype(dt)
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64, got {d['dtype']!r}") from None
    if dt not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    out["dtype"] = dt
    n_bytes = K1 * K0 * pair[0] * pair[1] * dt.itemsize
    if n_bytes > MAX_FILTER_BYTES:
        raise ValueError(
            f"filter_size {pair} with n_maps={K1} and in_channels={K0} needs "
            f"{n_bytes / 2 ** 30:,.1f} GiB of filters; at most "
            f"{MAX_FILTER_BYTES / 2 ** 30:g} GiB are allowed")
    out["random_state"] = rs = check_random_state(d["random_state"])
    out["lam"] = V.check_positive("lam", d["lam"])
    out["p"] = V.check_p(d["p"])
    g = d["connectivity"]
    if isinstance(g, str):
        # a Generator is not drawn from here: the name is checked on a stand-in
        C.make(g, K1, K0, seed=np.random.default_rng(0) if isinstance(
            rs, np.random.Generator) else rs)
    elif g is not None:
        C.validate(g, K1, K0)
    solver, opts = d["solver"], d["solver_options"]
    if opts is not None and not isinstance(opts, dict):
        raise TypeError(f"solver_options must be a dict, got {type(opts).__name__}")
    out["solver_options"] = {} if opts is None else opts
    make_solver(solver, out["solver_options"])  # validate early
    if d["update"] not in UPDATES:
        raise ValueError(f"update must be one of {UPDATES}, got {d['update']!r}")
    out["filter_cg_iters"] = V.check_int("filter_cg_iters", d["filter_cg_iters"], 1)
    for k in ("lowfreq", "warm_start"):
        if not isinstance(d[k], (bool, np.bool_)):
            raise TypeError(f"{k} must be True or False, got {d[k]!r}")
        out[k] = bool(d[k])
    if d["update"] == "batch" and not out["warm_start"]:
        raise ValueError("update='batch' needs warm_start=True: the batch filter step "
                         "uses every image's maps")
    out["psi"] = V.check_positive("psi", d["psi"], allow_zero=True)
    out["epochs"] = V.check_int("epochs", d["epochs"], 0)
    out["n_jobs"] = check_n_jobs(d["n_jobs"])
    v = d["verbose"]
    if isinstance(v, np.bool_):
        v = bool(v)
    if not isinstance(v, numbers.Integral):
        raise TypeError(f"verbose must be True/False (or an int level), got {v!r}")
    out["verbose"] = v
    return out




def resolve_connectivity(connectivity, n_maps, in_channels, random_state):
    """``g`` of eq. 3 as the boolean ``(n_maps, in_channels)`` table: None is full, a
    name is built by :func:`numbadn.connectivity.make` (``random_pairs`` from
    ``random_state``), a table is checked and kept.

    Parameters
    ----------
    connectivity : None, str or array of bool
        The layer's ``connectivity`` parameter (already checked).
    n_maps, in_channels : int
        ``K1`` and ``K0``.
    random_state : int, None or numpy.random.Generator
        The layer's ``random_state``.

    Returns
    -------
    ndarray of bool, shape (n_maps, in_channels)
    """
    if connectivity is None:
        return C.full(n_maps, in_channels)
    if isinstance(connectivity, str):
        return C.make(connectivity, n_maps, in_channels, seed=random_state)
    return C.validate(connectivity, n_maps, in_channels)
