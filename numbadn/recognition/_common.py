"""What the recognition modules share: footnote 4-5 constants, optional imports,
the estimator base class, image checks and the parallel map over images."""
from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .. import _validation as V
from .._jit import max_threads, threads
from .._params import (NotFittedError, ParamsMixin, check_random_state, n_jobs_to_threads,
                       rng_from)

PATCH = 16
POOL = 4
#: Footnote 4: the DN used for Caltech-101.
FOOTNOTE4 = dict(n_maps=(8, 36), lam=(10.0, 1.0), p=0.8, filter_size=7, epochs=3)
#: The feature types of Table 1 and the descriptor sets each one uses.
FEATURES = {"dn-1": ("dn-1",), "dn-2": ("dn-2",), "dn-1+2": ("dn-1", "dn-2"),
            "sift": ("sift",)}
#: Footnote 5's grouping: cells per side of a descriptor on layer 1 / layer 2 maps.
CELLS = {"dn-1": 4, "dn-2": 2}
#: Descriptor normalisations of :class:`DNDescriptors` (see ``normalize_descriptors``).
NORMALIZE = ("toolbox", "none")
#: Layer-2 descriptor geometries of :class:`DNDescriptors`: the toolbox's four descriptors of
#: 2x2 cells of 4x4 pixels per patch, or one of 2x2 cells of 8x8 pixels over the whole patch.
GEOMETRY = ("toolbox", "patch")
_EXTRA = "pip install 'numbadn[recognition]'"



def need(module, what):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        raise ImportError(f"{what} needs the optional package {module.split('.')[0]!r}: "
                          f"{_EXTRA}") from None



try:  # scikit-learn's base classes when present (tags, HTML repr); duck-typed ones otherwise
    from sklearn.base import BaseEstimator as Base
    from sklearn.base import ClassifierMixin
except ImportError:  # pragma: no cover - exercised only without scikit-learn
    Base = ParamsMixin

    class ClassifierMixin:
        _estimator_type = "classifier"

__all__ = ["PATCH", "POOL", "FOOTNOTE4", "FEATURES", "CELLS", "NORMALIZE", "GEOMETRY", "Base",
           "ClassifierMixin",
           "NotFittedError", "need",
           "grey_images", "map_images", "seed_of"]


def grey_images(images, name="images"):
    """Images as a list of 2-D float arrays; colour ones converted to grey (said once)."""
    from ..preprocess import to_grey
    if isinstance(images, np.ndarray):
        if images.ndim == 2:
            items = [images]
        elif images.ndim == 3 and images.shape[0] != 3:
            items = list(images)  # a stack of grey images
        else:
            items = list(images) if images.ndim == 4 else [images]
    elif isinstance(images, (list, tuple)) or hasattr(images, "__getitem__"):
        items = images
    else:
        raise TypeError(f"{name} must be a list of images (2-D arrays), got "
                        f"{type(images).__name__}")
    n = len(items)
    if n == 0:
        raise ValueError(f"{name} is empty: give at least one image")
    out, n_colour = [], 0
    for i in range(n):
        a = V.as_float_array(f"{name}[{i}]", items[i], (2, 3))
        if a.ndim == 3:
            if a.shape[0] not in (1, 3) and a.shape[-1] in (3, 4):
                a = np.moveaxis(a[..., :3], -1, 0)
            if a.shape[0] not in (1, 3):
                raise ValueError(f"{name}[{i}] has shape {a.shape}: expected a grey (P, Q) "
                                 f"or colour (3, P, Q) image")
            a = to_grey(a)
            n_colour += 1
        if min(a.shape) < PATCH:
            raise ValueError(f"{name}[{i}] is {a.shape[0]}x{a.shape[1]}: descriptors need "
                             f"images of at least {PATCH}x{PATCH} pixels (footnote 5's patch)")
        out.append(a)
    if n_colour:
        print(f"numbadn.recognition: {n_colour} colour image(s) of {name} converted to grey "
              f"(ITU-R BT.601 luma; footnote 4 uses grey images)", file=sys.stderr)
    return out


def map_images(fn, items, n_jobs, verbose, desc):
    """``[fn(x) for x in items]``, images side by side on ``n_jobs`` threads.

    Each worker runs numba's kernels on one thread (the kernels release the
    GIL); small images scale better across images than inside one.  The
    first image runs alone (it may compile or load the kernels), and the
    threading layer must be thread-safe (OpenMP or TBB; numba's workqueue
    layer is not), else the images run one after another on every thread.
    """
    import numba
    from ..model.training import progress
    n = len(items)
    bar = progress(n, verbose, desc)
    out = [None] * n
    try:
        out[0] = fn(items[0])
        bar.update(1)
        workers = min(n_jobs_to_threads(n_jobs) or max_threads(), max_threads(), n - 1)
        safe = numba.threading_layer() in ("omp", "tbb") if workers > 1 else False
        if not safe:
            for i in range(1, n):
                out[i] = fn(items[i])
                bar.update(1)
            return out

        def one(i):
            with threads(1):
                return i, fn(items[i])
        with ThreadPoolExecutor(workers) as ex:
            for i, r in ex.map(one, range(1, n)):
                out[i] = r
                bar.update(1)
    finally:
        bar.close()
    return out


def seed_of(random_state):
    """An int seed from ``random_state`` (checked as everywhere in numbadn): the int
    itself, one drawn from a Generator, or a fresh one for None."""
    random_state = check_random_state(random_state)
    if isinstance(random_state, (int, np.integer)):
        return int(random_state)
    return int(rng_from(random_state).integers(2 ** 31))
