"""reproduce/_patches.py (Figs. 4-6): patch extraction, overlap averaging, the
measures the scripts print, each against a naive loop or a known answer."""
import argparse
import importlib.util
from pathlib import Path

import numpy as np
import pytest

import _common
import _patches as PB

ROOT = Path(__file__).resolve().parent.parent

HAS_SPAMS = importlib.util.find_spec("spams") is not None


def naive_patches(x, s):
    x = x[None] if x.ndim == 2 else x
    C, P, Q = x.shape
    out = np.zeros((P - s + 1, Q - s + 1, C * s * s))
    for i in range(P - s + 1):
        for j in range(Q - s + 1):
            out[i, j] = x[:, i:i + s, j:j + s].ravel()
    return out


def naive_average(p, s, C):
    R, S, _ = p.shape
    acc = np.zeros((C, R + s - 1, S + s - 1))
    cnt = np.zeros((R + s - 1, S + s - 1))
    for i in range(R):
        for j in range(S):
            acc[:, i:i + s, j:j + s] += p[i, j].reshape(C, s, s)
            cnt[i:i + s, j:j + s] += 1
    return acc / cnt


@pytest.mark.parametrize("shape", [(9, 11), (2, 8, 10)])
def test_extract_patches_matches_naive_loop(shape):
    x = np.random.default_rng(0).standard_normal(shape)
    np.testing.assert_array_equal(PB.extract_patches(x, 3), naive_patches(x, 3))


def test_average_patches_matches_naive_loop_on_inconsistent_patches():
    p = np.random.default_rng(1).standard_normal((6, 7, 2 * 16))
    np.testing.assert_allclose(PB.average_patches(p, 4, 2), naive_average(p, 4, 2), atol=1e-12)


def test_average_of_extracted_patches_gives_the_image_back():
    x = np.random.default_rng(2).standard_normal((12, 10))
    np.testing.assert_allclose(PB.average_patches(PB.extract_patches(x, 5), 5)[0], x,
                               atol=1e-12)


def test_reconstruct_is_the_overlap_average_of_coded_patches():
    rng = np.random.default_rng(3)
    D = rng.standard_normal((6, 9))
    maps = rng.standard_normal((6, 5, 4))
    patches = np.einsum("krs,kd->rsd", maps, D)
    np.testing.assert_allclose(PB.reconstruct(maps, D, 3), naive_average(patches, 3, 1),
                               atol=1e-12)


def test_project_layer2_matches_naive_sum_of_placed_atoms():
    rng = np.random.default_rng(4)
    K1, s1, s2 = 4, 3, 2
    D1 = rng.standard_normal((K1, s1 * s1))
    D2 = rng.standard_normal((2, K1 * s2 * s2))
    out = PB.project_layer2(D2, D1, s2, s1)
    for b in range(2):
        ref = np.zeros((s1 + s2 - 1,) * 2)
        a = D2[b].reshape(K1, s2, s2)
        for k in range(K1):
            for i in range(s2):
                for j in range(s2):
                    ref[i:i + s1, j:j + s1] += a[k, i, j] * D1[k].reshape(s1, s1)
        np.testing.assert_allclose(out[b], ref, atol=1e-12)


def test_sample_patches_returns_existing_windows_and_skips_empty_ones():
    rng = np.random.default_rng(5)
    x = np.zeros((2, 12, 12))
    x[:, 3:5, 3:5] = rng.standard_normal((2, 2, 2))
    X = PB.sample_patches([x], 3, 1000, rng, nonzero=True)
    every = naive_patches(x, 3).reshape(-1, 18)
    nonzero = every[np.abs(every).sum(1) > 0]
    assert len(X) == len(nonzero)
    for row in X:
        assert np.abs(row).sum() > 0
        assert np.any(np.all(nonzero == row, axis=1))


@pytest.mark.parametrize("theta", [0.0, 0.4, 1.2, 2.5])
def test_coherence_is_one_for_a_grating_of_any_orientation(theta):
    ii, jj = np.mgrid[0:13, 0:13]
    g = np.cos(0.9 * (np.cos(theta) * jj + np.sin(theta) * ii))
    assert PB.coherence(g) > 0.97


def test_coherence_is_low_for_a_cross_and_a_ring():
    ii, jj = np.mgrid[0:13, 0:13] - 6.0
    cross = np.cos(0.9 * ii) + np.cos(0.9 * jj)
    ring = np.cos(1.2 * np.hypot(ii, jj))
    assert PB.coherence(cross) < 0.1
    assert PB.coherence(ring) < 0.1


def test_spatial_extent_of_a_point_is_zero_and_grows_with_size():
    e = np.zeros((9, 9))
    e[4, 4] = 1.0
    assert PB.spatial_extent(e) == 0.0
    ii, jj = np.mgrid[0:21, 0:21] - 10.0
    small, large = np.exp(-(ii**2 + jj**2) / 4), np.exp(-(ii**2 + jj**2) / 16)
    assert PB.spatial_extent(large) > 1.9 * PB.spatial_extent(small)


def test_shift_change_is_zero_for_an_equivariant_code_and_known_otherwise():
    rng = np.random.default_rng(6)
    z = rng.standard_normal((3, 8, 10))
    zs = np.zeros_like(z)
    zs[..., :-1] = z[..., 1:]
    assert PB.shift_change(z, zs) == 0.0
    noise = rng.standard_normal(zs.shape)
    expect = np.linalg.norm(noise[..., :-1]) / np.linalg.norm(z[..., 1:])
    assert PB.shift_change(z, zs + noise) == pytest.approx(expect)


def test_window_change_is_zero_for_constant_codes_and_two_for_alternating_sign():
    c = np.ones((4, 5, 6))
    assert PB.window_change(c) == 0.0
    c = np.ones((4, 5, 6)) * (-1.0) ** np.arange(6)
    assert PB.window_change(c) == pytest.approx(2.0)


def test_error_at_sparsity_interpolates_in_log_and_refuses_to_extrapolate():
    s = np.array([0.01, 0.03, 0.1, 0.3])
    e = 0.5 - 0.1 * np.log(s)
    got = PB.error_at_sparsity(s[::-1], e[::-1], [0.02, 0.2, 0.001, 1.0, 0.0])
    np.testing.assert_allclose(got[:2], 0.5 - 0.1 * np.log([0.02, 0.2]))
    assert np.all(np.isnan(got[2:]))


def test_error_at_sparsity_ignores_curve_points_with_zero_sparsity():
    got = PB.error_at_sparsity([0.0, 0.01, 0.1], [9.0, 2.0, 1.0], [0.01])
    assert got[0] == pytest.approx(2.0)


def test_best_match_is_one_for_an_enlarged_atom_and_lower_for_a_composition():
    from skimage.transform import resize
    rng = np.random.default_rng(7)
    atoms = rng.standard_normal((3, 7, 7))
    big = np.zeros((13, 13))
    big[1:12, 2:13] = resize(atoms[1], (11, 11), order=1, mode="edge", anti_aliasing=False)
    assert PB.best_match(big, atoms) == pytest.approx(1.0, abs=1e-9)
    mix = np.zeros((13, 13))
    mix[:7, :7] += atoms[0]
    mix[6:, 6:] += atoms[2]
    assert PB.best_match(mix, atoms) < 0.9


@pytest.mark.parametrize("method", ["sklearn"] + (["spams"] if HAS_SPAMS else []))
def test_omp_codes_recover_a_planted_one_atom_code(method):
    rng = np.random.default_rng(8)
    D = rng.standard_normal((20, 49))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    A = np.zeros((5, 20))
    A[np.arange(5), [3, 7, 0, 19, 7]] = [1.5, -2.0, 0.7, 1.0, 3.0]
    got = PB.encode(A @ D, D, n_nonzero=1, method=method)
    np.testing.assert_allclose(got, A, atol=1e-8)


@pytest.mark.parametrize("method", ["sklearn"] + (["spams"] if HAS_SPAMS else []))
def test_lasso_codes_satisfy_the_lasso_optimality_conditions(method):
    rng = np.random.default_rng(9)
    D = rng.standard_normal((15, 25))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    X = rng.standard_normal((4, 25))
    alpha = 0.3
    A = PB.encode(X, D, alpha=alpha, method=method)
    g = (X - A @ D) @ D.T          # minus the gradient of the data term
    on = A != 0
    assert on.any()
    np.testing.assert_allclose(g[on], alpha * np.sign(A[on]), atol=1e-5)
    assert np.all(np.abs(g[~on]) <= alpha + 1e-5)


def test_dictionary_atoms_are_unit_norm():
    X = np.random.default_rng(10).standard_normal((400, 16))
    D = PB.learn_dictionary(X, 8, alpha=0.5, n_iter=10, batch_size=64, method="sklearn")
    assert D.shape == (8, 16)
    np.testing.assert_allclose(np.linalg.norm(D, axis=1), 1.0, atol=1e-9)


def test_held_out_crops_are_not_among_the_quick_training_crops():
    args = argparse.Namespace(quick=True, images=None, out=None, threads=None, seed=0)
    train, _ = _common.training_images(args, "natural")
    test, desc, _ = PB.held_out_images(args, "natural", 3)
    assert len(test) == 3 and "held-out" in desc
    for y in test:
        assert not any(np.array_equal(y, t) for t in train)
