"""numbadn.preprocess against slow loop references, plus its documented behaviour."""
from __future__ import annotations

import math

import numpy as np
import pytest

from numbadn.data import load_images
from numbadn.preprocess import (ContrastInfo, contrast_normalize, for_display,
                                gaussian_kernel, rescale_maps, to_grey)


# --------------------------------------------------------------------------
# slow, obviously right reference (plain loops, the toolbox's steps)
# --------------------------------------------------------------------------
def naive_gaussian(n, sigma):
    k = [[math.exp(-((i - (n - 1) / 2) ** 2 + (j - (n - 1) / 2) ** 2) / (2 * sigma ** 2))
          for j in range(n)] for i in range(n)]
    total = sum(sum(row) for row in k)
    return [[v / total for v in row] for row in k]


def naive_contrast_normalize(img, n=5, sigma=1.591, floor=1.0, mode="valid"):
    """CreateImages.m, one loop per pixel; floor a number, 'mean' or 'median'."""
    img = np.asarray(img, dtype=np.float64)
    planes = img[None] if img.ndim == 2 else img
    k = naive_gaussian(n, sigma)
    r = n // 2
    outs = []
    for x in planes:
        P, Q = x.shape
        mu = sum(x[i, j] for i in range(P) for j in range(Q)) / (P * Q)
        x = x - mu
        if mode == "same":  # mirror the border: ... x1 x0 | x0 x1 ... (MATLAB 'symmetric')
            x_src = x
            idx = lambda t, size: -t - 1 if t < 0 else (2 * size - t - 1 if t >= size else t)
            xp = np.array([[x_src[idx(i, P), idx(j, Q)] for j in range(-r, Q + r)]
                           for i in range(-r, P + r)])
        else:
            xp = x
        Po, Qo = xp.shape[0] - 2 * r, xp.shape[1] - 2 * r
        m = np.zeros((Po, Qo))
        s = np.zeros((Po, Qo))
        for i in range(Po):
            for j in range(Qo):
                a = b = 0.0
                for u in range(n):
                    for v in range(n):
                        a += k[u][v] * xp[i + u, j + v]
                        b += k[u][v] * xp[i + u, j + v] ** 2
                m[i, j] = a
                s[i, j] = math.sqrt(max(b - a * a, 0.0))
        if floor == "mean":
            fl = s.mean()
        elif floor == "median":
            fl = float(np.median(s))
        else:
            fl = floor
        out = np.zeros((Po, Qo))
        for i in range(Po):
            for j in range(Qo):
                out[i, j] = (xp[i + r, j + r] - m[i, j]) / max(s[i, j], fl)
        outs.append(out)
    v = np.stack(outs)
    v = (v - v.mean()) / ((v.max() - v.min()) / 2)
    return v[0] if img.ndim == 2 else v


@pytest.fixture
def small():
    return np.random.default_rng(3).random((11, 14))


# --------------------------------------------------------------------------
# contrast_normalize
# --------------------------------------------------------------------------
def test_gaussian_kernel_matches_fspecial_definition():
    k = gaussian_kernel(5, 1.591)
    np.testing.assert_allclose(k, naive_gaussian(5, 1.591), rtol=1e-14)
    assert k.shape == (5, 5) and abs(k.sum() - 1) < 1e-15
    np.testing.assert_allclose(k, k.T)
    np.testing.assert_allclose(k, k[::-1, ::-1])


@pytest.mark.parametrize("floor", [1.0, 0.05, 1 / 255, "mean", "median"])
def test_contrast_normalize_matches_loop_reference(small, floor):
    got = contrast_normalize(small, std_floor=floor)
    want = naive_contrast_normalize(small, floor=floor)
    assert got.shape == (7, 10)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode", ["valid", "same"])
def test_toolbox_floor_is_the_grey_path_on_0_255_pixels_with_a_floor_of_1(small, mode):
    """std_floor='toolbox': CreateImages.m's grey path, pixels on 0..255 and floor 1."""
    got, info = contrast_normalize(small, mode=mode, std_floor="toolbox", return_info=True)
    want = naive_contrast_normalize(255.0 * small, floor=1.0, mode=mode)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    assert info.std_floor[0] == pytest.approx(1 / 255)
    # the strong normalisation: most pixels of a photograph are divided (the colour
    # path's floor of 1 on [0, 1] divides none)
    img = load_images("city", dtype=np.float64)[0]
    _, info = contrast_normalize(img, std_floor="toolbox", return_info=True)
    assert (info.divisor > info.std_floor[0]).mean() > 0.8


def test_contrast_normalize_same_mode_matches_mirrored_reference(small):
    got = contrast_normalize(small, mode="same", std_floor="mean")
    want = naive_contrast_normalize(small, floor="mean", mode="same")
    assert got.shape == small.shape
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_contrast_normalize_other_window_matches_reference(small):
    got = contrast_normalize(small, kernel_size=3, sigma=0.8, std_floor=0.1)
    want = naive_contrast_normalize(small, n=3, sigma=0.8, floor=0.1)
    assert got.shape == (9, 12)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_contrast_normalize_colour_planes_then_joint_rescale():
    img = np.random.default_rng(4).random((3, 9, 12))
    got = contrast_normalize(img, std_floor="mean")
    want = naive_contrast_normalize(img, floor="mean")
    assert got.shape == (3, 5, 8)
    # the default is the toolbox's grey path: 0..255 pixels, floor 1
    np.testing.assert_allclose(contrast_normalize(img),
                               naive_contrast_normalize(255 * img, floor=1.0),
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["natural", "city"])
def test_output_has_zero_mean_range_width_two_and_valid_shape(name, dtype):
    for img in load_images(name, dtype=dtype)[:8]:
        y = contrast_normalize(img)
        assert y.shape == (96, 96) and y.dtype == dtype
        tol = 1e-5 if dtype == np.float32 else 1e-12
        assert abs(float(y.mean())) < tol
        assert abs(float(y.max() - y.min()) - 2.0) < 10 * tol


def test_constant_image_becomes_zero():
    for mode in ("valid", "same"):
        y = contrast_normalize(np.full((20, 30), 0.37), mode=mode)
        assert not y.any()
        assert y.shape == ((16, 26) if mode == "valid" else (20, 30))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_ramp_is_removed_entirely(dtype):
    P, Q = 40, 50
    ramp = (0.2 + 0.01 * np.arange(P)[:, None] + 0.004 * np.arange(Q)[None, :]).astype(dtype)
    assert not contrast_normalize(ramp).any()


def test_ramp_under_texture_leaves_only_the_texture():
    rng = np.random.default_rng(5)
    P, Q = 60, 60
    ramp = 0.005 * np.arange(P)[:, None] + 0.003 * np.arange(Q)[None, :]
    texture = 0.1 * rng.random((P, Q))
    # Without division (toolbox floor 1) the local-mean subtraction removes
    # the ramp exactly.
    np.testing.assert_allclose(contrast_normalize(ramp + texture, std_floor=1.0),
                               contrast_normalize(texture, std_floor=1.0), atol=1e-12)
    # With the default floor the ramp also leaves no trace in the output.
    y = contrast_normalize(ramp + texture)
    r = ramp[2:-2, 2:-2].ravel()
    assert abs(np.corrcoef(y.ravel(), r)[0, 1]) < 0.05


def test_floor_one_is_no_division_on_unit_range_images():
    for img in load_images("city")[:5]:
        _, info = contrast_normalize(img, std_floor=1.0, return_info=True)
        assert np.all(info.divisor == 1.0)
        _, info = contrast_normalize(img, return_info=True)
        assert info.std_floor[0] < 0.5 and (info.divisor > info.std_floor[0]).mean() > 0.1


def test_default_floor_evens_contrast_more_than_toolbox_and_amplifies_noise_less():
    """The trade-off in contrast_normalize's Notes (measured in full by
    reproduce/contrast_floors.py), on built-in crops."""
    rng = np.random.default_rng(0)

    def spread(y):
        from scipy import ndimage
        m = ndimage.gaussian_filter(y, 3.0)
        ls = np.sqrt(np.maximum(ndimage.gaussian_filter(y * y, 3.0) - m * m, 0))
        return ls.std() / ls.mean()

    def noise_gain(x, floor):
        y, i = contrast_normalize(x, std_floor=floor, return_info=True)
        noisy = np.clip(x + rng.normal(0, 1 / 255, x.shape), 0, 1)
        yn, j = contrast_normalize(noisy, std_floor=floor, return_info=True)
        v, vn = y * i.scale + i.offset, yn * j.scale + j.offset
        return np.linalg.norm(vn - v) / np.linalg.norm(v)

    imgs = load_images("natural", dtype=np.float64)[::3] + load_images("city", dtype=np.float64)[::3]
    sp = {f: np.mean([spread(contrast_normalize(x, std_floor=f)) for x in imgs])
          for f in (1.0, "mean", 1 / 255)}
    ng = {f: np.mean([noise_gain(x, f) for x in imgs]) for f in (1.0, "mean", 1 / 255)}
    assert sp[1 / 255] < sp["mean"] < sp[1.0]
    assert ng[1.0] < ng["mean"] < ng[1 / 255]


@pytest.mark.parametrize("mode", ["valid", "same"])
def test_info_inverts_the_normalisation(mode):
    img = load_images("natural", dtype=np.float64)[0]
    y, info = contrast_normalize(img, mode=mode, return_info=True)
    assert isinstance(info, ContrastInfo)
    m = info.margin
    assert m == (2 if mode == "valid" else 0)
    want = img[m:img.shape[0] - m, m:img.shape[1] - m]
    np.testing.assert_allclose(info.invert(y), want, atol=1e-12)


def test_info_inverts_colour():
    img = load_images("city", grey=False, dtype=np.float64)[3] * np.array([1, .8, .6])[:, None, None]
    y, info = contrast_normalize(img, return_info=True)
    np.testing.assert_allclose(info.invert(y), img[:, 2:-2, 2:-2], atol=1e-12)
    with pytest.raises(ValueError, match="shape"):
        info.invert(y[0])


def test_contrast_normalize_rejects_bad_input(small):
    with pytest.raises(TypeError, match="img"):
        contrast_normalize((small * 255).astype(np.uint8))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        contrast_normalize(small * 255)
    bad = small.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        contrast_normalize(bad)
    with pytest.raises(ValueError, match="dimensions"):
        contrast_normalize(small[None, None])
    with pytest.raises(ValueError, match="kernel_size"):
        contrast_normalize(small, kernel_size=4)
    with pytest.raises(ValueError, match="sigma"):
        contrast_normalize(small, sigma=0)
    with pytest.raises(ValueError, match="mode"):
        contrast_normalize(small, mode="full")
    with pytest.raises(ValueError, match="'toolbox'"):
        contrast_normalize(small, std_floor="max")
    with pytest.raises(ValueError, match="std_floor"):
        contrast_normalize(small, std_floor=-1.0)
    with pytest.raises(TypeError, match="std_floor"):
        contrast_normalize(small, std_floor=True)
    with pytest.raises(ValueError, match="too small"):
        contrast_normalize(small[:4])


# --------------------------------------------------------------------------
# to_grey, rescale_maps, for_display
# --------------------------------------------------------------------------
def test_to_grey_uses_bt601_luma():
    rgb = np.random.default_rng(6).random((3, 4, 5)).astype(np.float32)
    g = to_grey(rgb)
    want = 0.2989 * rgb[0] + 0.5870 * rgb[1] + 0.1140 * rgb[2]
    assert g.shape == (4, 5) and g.dtype == np.float32
    np.testing.assert_allclose(g, want, atol=2e-4)
    np.testing.assert_allclose(to_grey(np.ones((3, 2, 2))), 1.0, atol=1e-12)
    grey = rgb[0]
    out = to_grey(grey)
    np.testing.assert_array_equal(out, grey)
    assert out is not grey
    np.testing.assert_array_equal(to_grey(rgb[:1]), grey)
    with pytest.raises(ValueError, match=r"\(3, P, Q\)"):
        to_grey(np.zeros((4, 5, 5)))
    with pytest.raises(TypeError, match="img"):
        to_grey(np.zeros((3, 5, 5), dtype=np.uint8))


@pytest.mark.parametrize("shape", [(7, 9), (4, 7, 9)])
def test_rescale_maps_zero_mean_width_two(shape):
    z = np.random.default_rng(7).normal(size=shape) * 5 + 3
    r = rescale_maps(z)
    assert r.shape == z.shape
    assert abs(r.mean()) < 1e-12 and abs(r.max() - r.min() - 2) < 1e-12
    # an affine map of z: the relative strength of the maps is kept
    np.testing.assert_allclose(np.corrcoef(r.ravel(), z.ravel())[0, 1], 1.0)


def test_rescale_maps_batch_per_image_and_dtype():
    z = np.random.default_rng(8).random((2, 3, 5, 5)).astype(np.float32)
    z[1] *= 100
    r = rescale_maps(z)
    assert r.dtype == np.float32
    for i in range(2):
        assert abs(float(r[i].mean())) < 1e-6
        assert abs(float(r[i].max() - r[i].min()) - 2) < 1e-5
    np.testing.assert_allclose(r[0], rescale_maps(z[0]), atol=1e-6)
    assert not rescale_maps(np.full((3, 4, 4), 2.5)).any()
    with pytest.raises(ValueError, match="dimensions"):
        rescale_maps(np.zeros(5))
    with pytest.raises(TypeError, match="z"):
        rescale_maps(np.zeros((3, 3), dtype=int))


def test_for_display_maps_to_unit_range():
    x = np.random.default_rng(9).normal(size=(3, 6, 7))
    d = for_display(x)
    assert d.shape == x.shape and d.min() == 0.0 and d.max() == 1.0
    s = for_display(np.array([[-2.0, 0.0], [1.0, 0.5]]), symmetric=True)
    np.testing.assert_allclose(s, [[0.0, 0.5], [0.75, 0.625]])
    np.testing.assert_array_equal(for_display(np.full((3, 3), 7.0)), 0.5)
    y = contrast_normalize(load_images("natural")[0])
    d = for_display(y)
    assert d.dtype == np.float32 and 0 <= d.min() and d.max() <= 1
    with pytest.raises(ValueError, match="dimensions"):
        for_display(np.zeros((2, 3, 4, 5)))
