"""Connectivity tables g (eq. 3) and the architecture of section 4.1."""
from itertools import combinations
from math import comb

import numpy as np
import pytest

from numbadn import connectivity


def _pairs(g):
    return [tuple(np.flatnonzero(row)) for row in g]


def test_full_is_all_true_with_maps_by_inputs_shape():
    g = connectivity.full(9, 1)
    assert g.shape == (9, 1) and g.dtype == np.bool_ and g.all()


def test_singles_and_pairs_9_gives_45_maps_as_in_section_4_1():
    g = connectivity.singles_and_pairs(9)
    assert g.shape == (45, 9) and g.dtype == np.bool_
    counts = g.sum(axis=1)
    assert (counts[:9] == 1).all() and (counts[9:] == 2).all()
    assert (counts == 1).sum() == 9 and (counts == 2).sum() == 36
    np.testing.assert_array_equal(g[:9], np.eye(9, dtype=bool))
    assert _pairs(g[9:]) == list(combinations(range(9), 2))  # every pair once, in order


def test_singles_and_pairs_8_gives_36_maps_as_in_footnote_4():
    assert connectivity.singles_and_pairs(8).shape == (36, 8)


def test_random_pairs_150_of_45_has_two_per_row_distinct_and_covering():
    g = connectivity.random_pairs(150, 45, seed=3)
    assert g.shape == (150, 45) and g.dtype == np.bool_
    assert (g.sum(axis=1) == 2).all()
    assert len(set(_pairs(g))) == 150
    assert g.any(axis=0).all()


def test_random_pairs_is_deterministic_under_a_seed_and_differs_across_seeds():
    a = connectivity.random_pairs(150, 45, seed=7)
    b = connectivity.random_pairs(150, 45, seed=7)
    c = connectivity.random_pairs(150, 45, seed=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("n_maps, n_inputs", [(5, 9), (23, 45), (3, 5), (36, 9), (4, 4)])
def test_random_pairs_covers_every_input_when_enough_maps(n_maps, n_inputs):
    for seed in range(20):
        g = connectivity.random_pairs(n_maps, n_inputs, seed=seed)
        assert (g.sum(axis=1) == 2).all()
        assert len(set(_pairs(g))) == n_maps
        assert g.any(axis=0).all(), seed
        connectivity.validate(g, n_maps, n_inputs)


def test_random_pairs_with_all_pairs_uses_each_pair_once():
    g = connectivity.random_pairs(comb(10, 2), 10, seed=1)
    assert sorted(_pairs(g)) == list(combinations(range(10), 2))


def test_random_pairs_beyond_all_pairs_repeats_pairs_evenly():
    g = connectivity.random_pairs(7, 3, seed=0)  # 3 pairs: each twice, one thrice
    counts = sorted(_pairs(g).count(p) for p in combinations(range(3), 2))
    assert counts == [2, 2, 3]


def test_random_pairs_needs_two_inputs():
    with pytest.raises(ValueError, match="n_inputs must be an integer >= 2"):
        connectivity.random_pairs(3, 1)


@pytest.mark.parametrize("name, expected", [
    ("full", "full"), ("Full", "full"),
    ("singles_and_pairs", "singles_and_pairs"),
    ("Singles and All Doubles", "singles_and_pairs"),
    ("random_pairs", "random_pairs"), ("Random Doubles", "random_pairs"),
])
def test_make_accepts_package_and_toolbox_names(name, expected):
    sizes = {"full": (9, 1), "singles_and_pairs": (45, 9), "random_pairs": (150, 45)}
    n_maps, n_inputs = sizes[expected]
    g = connectivity.make(name, n_maps, n_inputs, seed=2)
    if expected == "random_pairs":
        reference = connectivity.random_pairs(n_maps, n_inputs, seed=2)
    elif expected == "singles_and_pairs":
        reference = connectivity.singles_and_pairs(n_inputs)
    else:
        reference = connectivity.full(n_maps, n_inputs)
    np.testing.assert_array_equal(g, reference)


def test_make_singles_and_pairs_with_wrong_count_explains_expected_count():
    with pytest.raises(ValueError, match=r"9 singles \+ 36 pairs = 45 maps.*n_maps=40"):
        connectivity.make("singles_and_pairs", 40, 9)


def test_make_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match="unknown connectivity name 'ring'") as err:
        connectivity.make("ring", 4, 4)
    for valid in ("'full'", "'singles_and_pairs'", "'random_pairs'",
                  "'Singles and All Doubles'", "'Random Doubles'"):
        assert valid in str(err.value)


def test_validate_returns_c_contiguous_bool_copy():
    g = np.ones((4, 3), dtype=np.int64, order="F")
    out = connectivity.validate(g, 4, 3)
    assert out.dtype == np.bool_ and out.flags.c_contiguous and out.all()
    b = np.ones((4, 3), dtype=bool)
    out = connectivity.validate(b, 4, 3)
    assert not np.shares_memory(out, b)


def test_validate_names_g_and_expected_shape():
    with pytest.raises(ValueError, match=r"g has shape \(3, 4\): expected g of shape "
                                         r"\(K1, K0\) = \(4, 3\)"):
        connectivity.validate(np.ones((3, 4), bool), 4, 3)
    with pytest.raises(ValueError, match=r"g has shape \(12,\)"):
        connectivity.validate(np.ones(12, bool), 4, 3)


def test_validate_rejects_map_with_no_input():
    g = np.ones((4, 3), bool)
    g[2] = False
    with pytest.raises(ValueError, match=r"g connects map\(s\) 2 to no input"):
        connectivity.validate(g, 4, 3)


def test_validate_rejects_input_with_no_map():
    g = np.ones((4, 3), bool)
    g[:, 1] = False
    with pytest.raises(ValueError, match=r"g connects input\(s\) 1 to no map"):
        connectivity.validate(g, 4, 3)


def test_validate_rejects_values_other_than_0_and_1():
    with pytest.raises(ValueError, match="g holds the value 2"):
        connectivity.validate(np.full((2, 2), 2), 2, 2)
    with pytest.raises(ValueError, match="g holds the value nan"):
        connectivity.validate(np.full((2, 2), np.nan), 2, 2)
    with pytest.raises(ValueError, match="g has dtype <U1"):
        connectivity.validate(np.full((2, 2), "a"), 2, 2)


def test_counts_must_be_positive_integers():
    with pytest.raises(ValueError, match="n_maps must be an integer >= 1, got 0"):
        connectivity.full(0, 3)
    with pytest.raises(TypeError, match="n_inputs must be an integer"):
        connectivity.full(3, 2.5)
