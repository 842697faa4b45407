"""What a layer accepts: images as the kernels take them, and the constructor's
parameters checked once (the public boundary of :class:`DeconvLayer`)."""
from __future__ import annotations

import numbers

import numpy as np

from .. import _validation as V
from .. import connectivity as C
from .._params import check_n_jobs, check_random_state
from ..solvers.options import make_solver

__all__ = ["LazyImages", "as_image_list", "check_layer_params", "params_equal",
           "stack_if_same", "UPDATES", "MAX_FILTER_BYTES"]


class LazyImages:
    """A sequence of images computed on demand (``get(i)``), for :meth:`DeconvLayer.fit`
    on inputs too large to hold in memory (e.g. the maps of the layer below).

    Parameters
    ----------
    n : int
        Number of images.
    get : callable
        ``get(i)`` returns image ``i``, a (K0, P, Q) array.
    """

    def __init__(self, n, get):
        self.n = n
        self.get = get

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return self.get(i)

UPDATES = ("online", "batch")
#: Largest filter bank a layer may hold (1 GiB): a typo in ``filter_size`` is an
#: error on the size, not a ``MemoryError``.
MAX_FILTER_BYTES = 2 ** 30


def as_image_list(images, in_channels, dtype, name="images"):
    """Images as a list of C-contiguous (K0, P, Q) arrays of ``dtype``.

    Parameters
    ----------
    images : array or list of arrays
        One (P, Q) or (K0, P, Q) array, an (n, K0, P, Q) array, or a list of
        (P, Q) / (K0, P, Q) arrays of possibly different sizes.
    in_channels : int
        ``K0`` expected.
    dtype : numpy dtype
        Floating type of the returned arrays.
    name : str
        The argument's name, for error messages.

    Returns
    -------
    list of ndarray of shape (K0, P, Q)
    """
    if isinstance(images, np.ndarray) and images.ndim == 4:
        items = list(images)
    elif isinstance(images, np.ndarray):
        items = [images]
    elif isinstance(images, (list, tuple)):
        items = list(images)
    else:
        raise TypeError(f"{name} must be an array or a list of arrays, got {type(images).__name__}")
    if not items:
        raise ValueError(f"{name} is empty: give at least one image")
    out = []
    for i, im in enumerate(items):
        nm = f"{name}[{i}]" if len(items) > 1 else name
        a = V.as_float_array(nm, im, (2, 3), dtype)
        if a.ndim == 2:
            a = a[None]
        if a.shape[0] != in_channels:
            raise ValueError(
                f"{nm} has {a.shape[0]} channel(s) but the layer has in_channels="
                f"{in_channels}: expected shape ({in_channels}, P, Q)"
                + (" or (P, Q); for a batch pass a list of images or an (n, 1, P, Q) array"
                   if in_channels == 1 and a.ndim == 3 and len(items) == 1 else
                   " or (P, Q)" if in_channels == 1 else ""))
        out.append(a)
    return out


def params_equal(a, b):
    """``a == b`` for parameter values (arrays compared whole)."""
    if a is b:
        return True
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and \
            a.shape == b.shape and bool((a == b).all())
    return a == b


def check_layer_params(d):
    """The constructor's arguments checked, in the form the layer keeps.

    Numbers, strings and flags are kept as given (ints and floats as Python
    numbers); ``filter_size`` becomes the pair ``(h, w)``, ``connectivity`` the
    boolean ``(n_maps, in_channels)`` matrix, ``dtype`` a ``numpy.dtype`` and
    ``solver_options=None`` an empty dict.  A value already in that form is kept
    as the same object (so :func:`sklearn.base.clone` sees its own values).
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
    out["filter_size"] = fs if isinstance(fs, tuple) and pair == fs and \
        all(type(v) is int for v in fs) else pair
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
    if g is None:
        g = C.full(K1, K0)
    elif isinstance(g, str):
        g = C.make(g, K1, K0, seed=rs)
    else:
        checked = C.validate(g, K1, K0)
        same = isinstance(g, np.ndarray) and g.dtype == np.bool_ and g.flags.c_contiguous
        g = g if same else checked
    out["connectivity"] = g
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


def stack_if_same(arrays):
    """One array when every array has the same shape, else the list."""
    if len({a.shape for a in arrays}) == 1:
        return np.stack(arrays)
    return list(arrays)
