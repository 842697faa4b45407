"""Connectivity tables ``g`` between the feature maps of successive layers.

In eq. 3 of Zeiler et al. (2010) the reconstruction of input map ``c`` of
layer ``l`` sums only over the maps ``k`` with :math:`g^l_{k,c} = 1`:

.. math::

    C_l(y) = \\frac{\\lambda}{2} \\sum_i \\sum_{c=1}^{K_{l-1}}
        \\Big\\| \\sum_{k=1}^{K_l} g^l_{k,c}\\,(z^i_{k,l} \\oplus f^l_{k,c})
        - z^i_{c,l-1} \\Big\\|_2^2 + \\sum_i \\sum_{k=1}^{K_l} |z^i_{k,l}|^p
    \\qquad (3)

Here ``g`` is a boolean array of shape ``(K1, K0)``: ``g[k, c]`` is True when
map ``k`` of this layer connects to channel (map) ``c`` of the layer below,
matching the filters ``f`` of shape ``(K1, K0, h, w)``.

The architecture of section 4.1 uses three tables:

* layer 1: 9 maps fully connected to the image (:func:`full`);
* layer 2: 45 maps, 9 connected to a single layer-1 map and 36 to a pair of
  them (:func:`singles_and_pairs`; footnote 4 uses the same scheme with 8
  layer-1 maps, giving 36 layer-2 maps);
* layer 3: 150 maps, each connected to a random pair of layer-2 maps
  (:func:`random_pairs`).

:func:`make` builds a table by name (also accepting the names used in the
authors' MATLAB toolbox) and :func:`validate` checks a user-supplied one.
"""
from __future__ import annotations

from itertools import combinations
from math import comb

import numpy as np

__all__ = ["full", "singles_and_pairs", "random_pairs", "make", "validate", "NAMES"]


def _check_count(value, name: str, minimum: int = 1) -> int:
    """Return ``value`` as an int, or raise naming ``name`` and the minimum."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def full(n_maps: int, n_inputs: int) -> np.ndarray:
    """Connect every map to every input (layer 1 of the paper).

    Section 3.1: "In layer-1 we assume that :math:`g^1_{k,c}` is always 1".

    Parameters
    ----------
    n_maps : int
        Number of feature maps ``K1`` of this layer.
    n_inputs : int
        Number of input channels or maps ``K0`` below.

    Returns
    -------
    g : ndarray of bool, shape (n_maps, n_inputs)
        All True.
    """
    n_maps = _check_count(n_maps, "n_maps")
    n_inputs = _check_count(n_inputs, "n_inputs")
    return np.ones((n_maps, n_inputs), dtype=np.bool_)


def singles_and_pairs(n_inputs: int) -> np.ndarray:
    """One map per single input, then one map per pair of inputs.

    Section 4.1: with 9 layer-1 maps the second layer has 45 maps, 9 singly
    connected and 36 connected to a pair of layer-1 maps; footnote 4 uses 8
    layer-1 maps and 36 layer-2 maps. The authors' toolbox calls this
    connectivity 'Singles and All Doubles'.

    Parameters
    ----------
    n_inputs : int
        Number of input maps ``K0``.

    Returns
    -------
    g : ndarray of bool, shape (n_inputs + C(n_inputs, 2), n_inputs)
        Row ``i < n_inputs`` has its single True at column ``i``; the
        following rows hold every pair ``(i, j)``, ``i < j``, in lexicographic
        order: ``(0, 1), (0, 2), ..., (n_inputs - 2, n_inputs - 1)``.
    """
    n_inputs = _check_count(n_inputs, "n_inputs")
    n_maps = n_inputs + comb(n_inputs, 2)
    g = np.zeros((n_maps, n_inputs), dtype=np.bool_)
    g[np.arange(n_inputs), np.arange(n_inputs)] = True
    for row, (i, j) in enumerate(combinations(range(n_inputs), 2), start=n_inputs):
        g[row, i] = True
        g[row, j] = True
    return g


def random_pairs(n_maps: int, n_inputs: int, seed=0) -> np.ndarray:
    """Connect each map to a random pair of distinct inputs.

    Section 4.1: "The third layer had 150 feature maps, each of which was
    connected to a random pair of second layer feature maps." The authors'
    toolbox calls this connectivity 'Random Doubles'.

    Parameters
    ----------
    n_maps : int
        Number of feature maps ``K1``.
    n_inputs : int
        Number of input maps ``K0``; at least 2.
    seed : int, numpy.random.Generator or None, default 0
        Seed for :func:`numpy.random.default_rng`; the same seed gives the
        same table.

    Returns
    -------
    g : ndarray of bool, shape (n_maps, n_inputs)
        Exactly two True per row.

    Notes
    -----
    * While ``n_maps <= C(n_inputs, 2)`` no pair is used twice. Beyond that
      every pair is used ``n_maps // C(n_inputs, 2)`` times and a random
      subset of pairs once more.
    * When ``2 * n_maps >= n_inputs`` every input is used by at least one map
      (no input is left unmodelled): the first ``ceil(n_inputs / 2)`` pairs
      are drawn from a random perfect matching of the inputs, the others
      uniformly from the pairs not yet used, and the rows are then shuffled.
      With fewer maps the pairs are disjoint, covering ``2 * n_maps`` inputs;
      :func:`validate` would reject such a table.
    """
    n_maps = _check_count(n_maps, "n_maps")
    n_inputs = _check_count(n_inputs, "n_inputs", minimum=2)
    rng = np.random.default_rng(seed)
    all_pairs = np.array(list(combinations(range(n_inputs), 2)), dtype=np.intp)
    n_pairs = len(all_pairs)

    pairs = []
    # Whole rounds of every pair when there are more maps than pairs.
    n_rounds, n_rest = divmod(n_maps, n_pairs)
    for _ in range(n_rounds):
        pairs.extend(map(tuple, all_pairs))

    if n_rest:
        # Cover the inputs first with a random matching, then draw the rest.
        perm = rng.permutation(n_inputs)
        cover = [tuple(sorted((int(perm[i]), int(perm[i + 1]))))
                 for i in range(0, n_inputs - 1, 2)]
        if n_inputs % 2:
            last = int(perm[-1])
            other = int(rng.choice(np.delete(np.arange(n_inputs), last)))
            cover.append(tuple(sorted((last, other))))
        if n_rounds:
            cover = []  # every input is already covered by the full rounds
        cover = cover[:n_rest]
        used = set(cover)
        free = [k for k, p in enumerate(map(tuple, all_pairs)) if p not in used]
        extra = rng.choice(len(free), size=n_rest - len(cover), replace=False)
        pairs.extend(cover)
        pairs.extend(tuple(all_pairs[free[k]]) for k in extra)

    pairs = np.asarray(pairs, dtype=np.intp)
    pairs = pairs[rng.permutation(n_maps)]
    g = np.zeros((n_maps, n_inputs), dtype=np.bool_)
    rows = np.arange(n_maps)
    g[rows, pairs[:, 0]] = True
    g[rows, pairs[:, 1]] = True
    return g


# Normalised name -> canonical name. Toolbox spellings ('Full',
# 'Singles and All Doubles', 'Random Doubles') normalise to these keys.
_ALIASES = {
    "full": "full",
    "singles_and_pairs": "singles_and_pairs",
    "singles_and_all_doubles": "singles_and_pairs",
    "random_pairs": "random_pairs",
    "random_doubles": "random_pairs",
}

#: Names accepted by :func:`make` (toolbox spellings in parentheses).
NAMES = ("full", "singles_and_pairs", "random_pairs")
_VALID = ("'full' ('Full'), 'singles_and_pairs' ('Singles and All Doubles'), "
          "'random_pairs' ('Random Doubles')")


def _normalise_name(name: str) -> str:
    return "_".join(name.strip().lower().replace("-", " ").replace("_", " ").split())


def make(name: str, n_maps: int, n_inputs: int, seed=0) -> np.ndarray:
    """Build a connectivity table ``g`` (eq. 3) by name.

    Parameters
    ----------
    name : str
        One of ``'full'``, ``'singles_and_pairs'``, ``'random_pairs'``, or the
        toolbox spellings ``'Full'``, ``'Singles and All Doubles'``,
        ``'Random Doubles'`` (case, spaces, hyphens and underscores are not
        significant).
    n_maps : int
        Number of feature maps ``K1``. For ``'singles_and_pairs'`` it must be
        ``n_inputs + C(n_inputs, 2)`` (45 for 9 inputs, section 4.1).
    n_inputs : int
        Number of input channels or maps ``K0``.
    seed : int, numpy.random.Generator or None, default 0
        Used by ``'random_pairs'`` only.

    Returns
    -------
    g : ndarray of bool, shape (n_maps, n_inputs)

    Raises
    ------
    ValueError
        For an unknown name (the valid names are listed) or a map count that
        ``'singles_and_pairs'`` cannot produce.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, one of {_VALID}; got {name!r}")
    canonical = _ALIASES.get(_normalise_name(name))
    if canonical is None:
        raise ValueError(f"unknown connectivity name {name!r}: expected one of {_VALID}")
    if canonical == "full":
        return full(n_maps, n_inputs)
    if canonical == "singles_and_pairs":
        n_inputs = _check_count(n_inputs, "n_inputs")
        n_maps = _check_count(n_maps, "n_maps")
        expected = n_inputs + comb(n_inputs, 2)
        if n_maps != expected:
            raise ValueError(
                f"connectivity 'singles_and_pairs' with n_inputs={n_inputs} gives "
                f"{n_inputs} singles + {comb(n_inputs, 2)} pairs = {expected} maps, "
                f"but n_maps={n_maps}: set n_maps={expected} or use 'random_pairs'")
        return singles_and_pairs(n_inputs)
    return random_pairs(n_maps, n_inputs, seed=seed)


def validate(g, n_maps: int, n_inputs: int) -> np.ndarray:
    """Check a connectivity table ``g`` (eq. 3) and return a clean copy.

    Parameters
    ----------
    g : array_like of shape (n_maps, n_inputs)
        Boolean table, or numbers that are all 0 or 1; ``g[k, c]`` is true
        when map ``k`` connects to input ``c``.
    n_maps : int
        Expected number of feature maps ``K1`` (rows).
    n_inputs : int
        Expected number of input channels or maps ``K0`` (columns).

    Returns
    -------
    g : ndarray of bool, shape (n_maps, n_inputs)
        A C-contiguous copy, never a view of the argument.

    Raises
    ------
    ValueError
        If ``g`` has the wrong shape, holds values other than 0/1, has a map
        connected to no input (a row of all False: its filters would never be
        used) or an input connected to no map (a column of all False: that
        input could never be reconstructed).
    """
    n_maps = _check_count(n_maps, "n_maps")
    n_inputs = _check_count(n_inputs, "n_inputs")
    expected = f"expected g of shape (K1, K0) = ({n_maps}, {n_inputs})"
    try:
        arr = np.asarray(g)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"g could not be converted to an array ({exc}); {expected}") from None
    if arr.ndim != 2 or arr.shape != (n_maps, n_inputs):
        raise ValueError(f"g has shape {arr.shape}: {expected} (maps x input channels)")
    if arr.dtype != np.bool_:
        if arr.dtype.kind not in "iuf":
            raise ValueError(f"g has dtype {arr.dtype}: expected a boolean array "
                             "(or numbers that are all 0 or 1)")
        if not np.all((arr == 0) | (arr == 1)):
            bad = arr[~((arr == 0) | (arr == 1))].ravel()[0].item()
            raise ValueError(f"g holds the value {bad!r}: expected a boolean array "
                             "(or numbers that are all 0 or 1)")
    out = np.ascontiguousarray(arr, dtype=np.bool_).copy()
    empty_rows = np.flatnonzero(~out.any(axis=1))
    if empty_rows.size:
        raise ValueError(
            f"g connects map(s) {_short_list(empty_rows)} to no input (rows of all "
            "False): every map k needs at least one g[k, c] = True")
    empty_cols = np.flatnonzero(~out.any(axis=0))
    if empty_cols.size:
        raise ValueError(
            f"g connects input(s) {_short_list(empty_cols)} to no map (columns of all "
            "False): every input c needs at least one g[k, c] = True, else it cannot "
            "be reconstructed")
    return out


def _short_list(idx: np.ndarray, limit: int = 10) -> str:
    items = ", ".join(str(int(i)) for i in idx[:limit])
    return items + (f", ... ({idx.size} in all)" if idx.size > limit else "")
