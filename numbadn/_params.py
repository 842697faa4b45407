"""scikit-learn's estimator conventions by duck typing (numbadn does not import
scikit-learn): ``get_params`` / ``set_params``, a readable ``repr``, the
"not fitted" error, ``random_state`` and ``n_jobs``.

scikit-learn's ``clone`` builds a new object from ``get_params(deep=False)`` and
checks that the new object holds each given value itself (``is``): the
constructors store their arguments as given and ``fit`` checks them.  Fitted
attributes (named with a trailing ``_``) are set by ``fit`` (or ``load``); read
before, they raise :class:`NotFittedError`.
"""
from __future__ import annotations

import functools
import inspect
import numbers

import numpy as np

__all__ = ["ParamsMixin", "NotFittedError", "check_random_state", "check_n_jobs",
           "n_jobs_to_threads"]


class NotFittedError(ValueError, AttributeError):
    """An estimator was used before ``fit`` (as scikit-learn's ``NotFittedError``,
    a ``ValueError`` and an ``AttributeError``, so ``hasattr(est, "filters_")`` is
    False before fitting)."""


def check_random_state(random_state, name="random_state"):
    """``random_state`` checked: an int >= 0, None or a ``numpy.random.Generator``
    (returned unchanged)."""
    if random_state is None or isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(f"{name} must be >= 0, got {random_state}")
        return random_state
    raise TypeError(f"{name} must be an int >= 0, None or a numpy.random.Generator, got "
                    f"{random_state!r}")


def rng_from(random_state):
    """A ``numpy.random.Generator`` for ``random_state`` (the Generator itself if given)."""
    return np.random.default_rng(random_state)


def check_n_jobs(n_jobs, name="n_jobs"):
    """``n_jobs``: None, a positive int, or a negative int counting back from all
    cores (-1 all, -2 all but one), as in scikit-learn."""
    if n_jobs is None:
        return None
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral):
        raise TypeError(f"{name} must be an int (-1: all cores) or None, got {n_jobs!r}")
    if n_jobs == 0:
        raise ValueError(f"{name} must not be 0: give a positive thread count, -1 for all "
                         "cores, or None")
    return n_jobs


def n_jobs_to_threads(n_jobs):
    """Numba threads for ``n_jobs`` (None stays None: numba's default, every core)."""
    n_jobs = check_n_jobs(n_jobs)
    if n_jobs is None or n_jobs > 0:
        return n_jobs
    from ._jit import max_threads
    return max(1, max_threads() + 1 + n_jobs)


def _short(v):
    """repr of a parameter value for ``__repr__``: arrays by dtype and shape."""
    if isinstance(v, np.ndarray):
        return f"<{v.dtype} array {v.shape}>"
    if isinstance(v, np.dtype):
        return f"np.{v.name}"
    if isinstance(v, np.random.Generator):
        return "Generator(...)"
    if isinstance(v, (list, tuple)) and any(hasattr(x, "get_params") for x in v):
        inner = ", ".join(repr(x) for x in v)
        return f"[{inner}]" if isinstance(v, list) else f"({inner})"
    return repr(v)


def _same(a, b):
    """``a`` equals the default ``b`` (numbers by value, other things by type and value)."""
    if a is b:
        return True
    if isinstance(a, (np.ndarray, np.random.Generator)):
        return False
    if isinstance(a, numbers.Real) and isinstance(b, numbers.Real):
        return isinstance(a, bool) == isinstance(b, bool) and a == b
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:
        return False


@functools.lru_cache(maxsize=None)
def _param_names(cls):
    """The constructor's parameter names of ``cls``, sorted (scikit-learn's
    ``_get_param_names``), cached per class: ``get_params`` runs for every
    image a layer infers, and ``inspect.signature`` took 0.1 ms a call."""
    sig = inspect.signature(cls.__init__)
    return tuple(sorted(p.name for p in sig.parameters.values()
                        if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)))


class ParamsMixin:
    """``get_params``, ``set_params`` and ``__repr__`` from the constructor's signature.

    A subclass names its fitted attributes in ``_FITTED``: reading one before
    it is set raises :class:`NotFittedError` (an ``AttributeError``, so
    ``hasattr`` is False) instead of a bare ``AttributeError``.
    """

    _FITTED = ()

    def __getattr__(self, name):
        # only called when normal lookup fails: a fitted attribute not set yet
        if name in type(self)._FITTED:
            raise not_fitted(self)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @classmethod
    def _get_param_names(cls):
        return list(_param_names(cls))

    def get_params(self, deep=True):
        """Parameters of this estimator (``deep``: also those of nested estimators,
        as ``name__param``)."""
        out = {}
        for k in self._get_param_names():
            v = getattr(self, k)
            if deep and hasattr(v, "get_params") and not isinstance(v, type):
                out.update((f"{k}__{kk}", vv) for kk, vv in v.get_params().items())
            out[k] = v
        return out

    def set_params(self, **params):
        """Set parameters (``name__param`` for nested estimators); returns self.

        Values are stored as given and checked by ``fit``, as the constructor's;
        an unknown name is an error that lists the valid ones."""
        if not params:
            return self
        names = self._get_param_names()
        own, nested = {}, {}
        for key, v in params.items():
            name, _, sub = key.partition("__")
            if name not in names:
                raise ValueError(f"invalid parameter {name!r} for {type(self).__name__}; "
                                 f"valid parameters: {', '.join(names)}")
            if sub:
                nested.setdefault(name, {})[sub] = v
            else:
                own[name] = v
        for k, v in own.items():
            setattr(self, k, v)
        for name, sub in nested.items():
            getattr(self, name).set_params(**sub)
        return self

    def __sklearn_tags__(self):
        """scikit-learn's tags (read by ``check_is_fitted`` and meta-estimators since
        scikit-learn 1.6); scikit-learn is imported only when it asks."""
        from sklearn.utils import InputTags, Tags, TargetTags, TransformerTags
        return Tags(estimator_type=None, target_tags=TargetTags(required=False),
                    transformer_tags=TransformerTags(preserves_dtype=["float32", "float64"]),
                    input_tags=InputTags(two_d_array=False, three_d_array=True),
                    non_deterministic=False, requires_fit=True)

    def __repr__(self):
        sig = inspect.signature(type(self).__init__)
        parts = []
        for name in (p for p in sig.parameters if p != "self"):
            param = sig.parameters[name]
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            v = getattr(self, name)
            default = param.default
            if default is not param.empty and _same(v, default):
                continue
            parts.append(f"{name}={_short(v)}")
        return f"{type(self).__name__}({', '.join(parts)})"


def not_fitted(est, what="fit(X) first"):
    """The error for ``est`` used before fitting; ``what`` says what to call."""
    return NotFittedError(f"this {type(est).__name__} is not fitted yet: call {what} "
                          "(or load a trained model)")
