"""Argument checks for the public boundary.  Kernels trust their inputs; every
public function runs its arguments through these first, so that bad input
gives a message naming the argument instead of a numba typing error."""
from __future__ import annotations

import numbers

import numpy as np

FLOAT_DTYPES = (np.float32, np.float64)


def refuse_masked(name, a):
    """A ``numpy.ma.MaskedArray`` is refused: ``np.asarray`` would silently use the
    masked values; missing pixels are given as weights (``mask=`` / ``masks=``)."""
    if isinstance(a, np.ma.MaskedArray):
        raise TypeError(f"{name} is a masked array, whose masked values would be used; "
                        f"pass {name}.filled(value) and, for missing pixels, the weights "
                        f"mask=1 - np.ma.getmaskarray({name}) (inference, fit's masks=)")
    return a


def as_float_array(name, a, ndims, dtype=None):
    """Return ``a`` as a C-contiguous float32/float64 array with finite values.

    Parameters
    ----------
    name : str
        Argument name used in messages.
    ndims : int or tuple of int
        Accepted numbers of dimensions.
    dtype : numpy dtype, optional
        Target dtype; by default float32 stays float32 and anything else
        floating becomes float64.
    """
    if isinstance(ndims, int):
        ndims = (ndims,)
    if a is None:
        raise TypeError(f"{name} is required, got None")
    refuse_masked(name, a)
    if not isinstance(a, np.ndarray):
        try:
            a = np.asarray(a)
        except Exception as exc:  # pragma: no cover - exotic objects
            raise TypeError(f"{name} must be an array, got {type(a).__name__}") from exc
    if a.dtype == object or not np.issubdtype(a.dtype, np.number) and a.dtype != bool:
        raise TypeError(f"{name} must be a real floating-point array, got dtype {a.dtype}")
    if np.issubdtype(a.dtype, np.complexfloating):
        raise TypeError(
            f"{name} must be real (float32 or float64), got complex dtype {a.dtype}; "
            f"pass {name}.real if the imaginary part is meant to be zero")
    if not np.issubdtype(a.dtype, np.floating):
        raise TypeError(
            f"{name} must be float32 or float64, got dtype {a.dtype}; "
            f"convert it with {name}.astype(np.float32)")
    if a.ndim not in ndims:
        want = " or ".join(str(d) for d in ndims)
        raise ValueError(f"{name} must have {want} dimensions, got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} is empty (shape {a.shape})")
    if dtype is None:
        dtype = np.float32 if a.dtype == np.float32 else np.float64
    a = np.ascontiguousarray(a, dtype=dtype)
    if not np.isfinite(a).all():
        bad = "NaN" if np.isnan(a).any() else "inf"
        raise ValueError(f"{name} contains {bad} values; it must be finite")
    return a


def common_dtype(*arrays):
    """float32 if every array is float32, else float64."""
    return np.float32 if all(a.dtype == np.float32 for a in arrays) else np.float64


def check_filters(f, dtype=None):
    """``f`` of shape (K1, K0, h, w)."""
    f = as_float_array("f", f, 4, dtype)
    return f


def check_connectivity(g, K1, K0):
    """``g`` of shape (K1, K0) (``None``: all ones) as a bool array."""
    if g is None:
        return np.ones((K1, K0), dtype=bool)
    g = np.asarray(g)
    if g.dtype != bool:
        if not np.issubdtype(g.dtype, np.integer) or not np.isin(g, (0, 1)).all():
            raise TypeError(f"g must be a boolean (K1, K0) matrix of 0/1, got dtype {g.dtype}")
        g = g.astype(bool)
    if g.shape != (K1, K0):
        raise ValueError(
            f"g must have shape (K1, K0) = ({K1}, {K0}) to match f, got {g.shape}")
    return np.ascontiguousarray(g)


def check_input_vs_filters(y, f, name="y"):
    """``y`` of shape (K0, P, Q) with ``P >= 1``, consistent with ``f``."""
    K1, K0, h, w = f.shape
    if y.shape[-3] != K0:
        raise ValueError(
            f"f has {K0} input channel(s) but {name} has {y.shape[-3]}: expected f of "
            f"shape (K1, {y.shape[-3]}, h, w) or {name} of shape (..., {K0}, P, Q)")


def check_maps_vs_filters(z, f, name="z"):
    """``z`` of shape (K1, P+h-1, Q+w-1) with ``P, Q >= 1``."""
    K1, K0, h, w = f.shape
    if z.shape[-3] != K1:
        raise ValueError(
            f"f has {K1} feature maps but {name} has {z.shape[-3]}: expected {name} of "
            f"shape (..., {K1}, M, N)")
    if z.shape[-2] < h or z.shape[-1] < w:
        raise ValueError(
            f"{name} maps of size {z.shape[-2:]} are smaller than the {h}x{w} filters: "
            f"feature maps must be at least the filter size (P + h - 1 with P >= 1)")


def check_positive(name, v, allow_zero=False):
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {v!r}")
    v = float(v)
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        need = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be a finite {need} number, got {v!r}")
    return v


def check_p(p):
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"p must be a real number in (0, 1], got {p!r}")
    p = float(p)
    if not (0.0 < p <= 1.0):
        raise ValueError(f"p must be in (0, 1] (sparsity |z|^p of eq. 2), got {p!r}")
    return p


def check_int(name, v, minimum=0):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {v!r}")
    v = int(v)
    if v < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {v}")
    return v


def check_mask(mask, shape, dtype, name="mask"):
    """A per-pixel weight ``W`` in [0, 1] for an image or batch of ``shape``
    ((K0, P, Q) or (n, K0, P, Q)): 1 observed, 0 missing.

    ``mask`` may have the image's shape or leave out the channels ((P, Q), or
    (n, P, Q) for a batch): it then applies to every channel.  Booleans are 0/1.
    Returns None for None, else a C-contiguous array of ``shape`` in ``dtype``.
    """
    if mask is None:
        return None
    if isinstance(mask, np.ma.MaskedArray):
        raise TypeError(f"{name} is a numpy masked array: pass the weights themselves, an "
                        f"array of the image's shape with 1 for observed and 0 for missing "
                        f"pixels (e.g. (~a.mask).astype(float))")
    m = np.asarray(mask)
    if m.dtype == bool:
        m = m.astype(dtype)
    if m.dtype == object or not (np.issubdtype(m.dtype, np.floating)
                                 or np.issubdtype(m.dtype, np.integer)):
        raise TypeError(f"{name} must be a real array of weights in [0, 1], got dtype {m.dtype}")
    shape = tuple(shape)
    no_channels = shape[:-3] + shape[-2:]
    if len(shape) >= 3 and m.shape == no_channels:
        m = np.expand_dims(m, -3)
    elif m.shape != shape:
        raise ValueError(f"{name} has shape {m.shape} but the image has shape {shape}: expected "
                         f"{shape} or {no_channels}")
    m = np.ascontiguousarray(np.broadcast_to(m, shape), dtype=dtype)
    if not np.isfinite(m).all():
        raise ValueError(f"{name} contains {'NaN' if np.isnan(m).any() else 'inf'} values; "
                         "it must hold finite weights in [0, 1]")
    if m.min() < 0 or m.max() > 1:
        raise ValueError(f"{name} must hold weights in [0, 1] (1 observed, 0 missing), got "
                         f"values from {float(m.min()):g} to {float(m.max()):g}")
    if m.ndim == 4:
        empty = [i for i in range(m.shape[0]) if not m[i].any()]
        if empty:
            raise ValueError(f"{name}[{empty[0]}] is all zeros: nothing of that image is "
                             "observed")
    elif not m.any():
        raise ValueError(f"{name} is all zeros: nothing of the image is observed")
    return m
