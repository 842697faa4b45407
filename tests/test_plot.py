"""Figures: PNGs of the expected size under Agg, Fig. 7/8 grid labels, SNR."""
import math
from collections import namedtuple

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

import numbadn  # noqa: E402
from numbadn import plot  # noqa: E402


def _assert_png_matches(fig, path):
    assert path.exists() and path.stat().st_size > 0
    with Image.open(path) as im:
        assert im.format == "PNG"
        width, height = im.size
    exp_w, exp_h = fig.get_size_inches() * plot.DPI
    assert abs(width - exp_w) <= 1 and abs(height - exp_h) <= 1, (im.size, exp_w, exp_h)


def _ticks(labels):
    return [t.get_text() for t in labels]


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_filter_grid_150_filters_labelled_A_to_J_and_1_to_15(tmp_path, rng):
    filters = rng.standard_normal((150, 1, 7, 7))
    path = tmp_path / "layer3.png"
    fig = plot.filter_grid(filters, title="layer 3", path=path)
    _assert_png_matches(fig, path)
    ax, = fig.axes
    assert _ticks(ax.get_yticklabels()) == list("ABCDEFGHIJ")
    assert _ticks(ax.get_xticklabels()) == [str(i) for i in range(1, 16)]


@pytest.mark.parametrize("n, shape", [(9, (3, 3)), (45, (7, 7)), (36, (6, 6))])
def test_filter_grid_default_layouts(n, shape, rng):
    fig = plot.filter_grid(rng.standard_normal((n, 7, 7)))
    ax, = fig.axes
    assert (len(ax.get_yticks()), len(ax.get_xticks())) == shape


def test_filter_grid_ncols_and_no_labels(tmp_path, rng):
    fig = plot.filter_grid(rng.standard_normal((10, 5, 5)), ncols=4, labels=False,
                           path=tmp_path / "f.png")
    _assert_png_matches(fig, tmp_path / "f.png")
    ax, = fig.axes
    assert len(ax.get_xticks()) == 0 and len(ax.get_yticks()) == 0
    fig = plot.filter_grid(rng.standard_normal((10, 5, 5)), ncols=4)
    assert _ticks(fig.axes[0].get_yticklabels()) == ["A", "B", "C"]


def test_filter_grid_normalises_each_filter_to_its_own_range(rng):
    filters = np.stack([np.zeros((3, 3)), np.arange(9.0).reshape(3, 3) * 1000.0])
    fig = plot.filter_grid(filters, ncols=2)
    mosaic = fig.axes[0].get_images()[0].get_array()
    assert np.allclose(mosaic[:3, :3], 0.5)  # constant filter -> mid grey
    tile = mosaic[:3, 4:7, 0]  # gap of 1 pixel between tiles
    assert tile.min() == 0.0 and tile.max() == 1.0


def test_row_labels_continue_past_Z():
    assert [plot.row_label(i) for i in (0, 9, 25, 26, 27)] == ["A", "J", "Z", "AA", "AB"]


def test_filter_grid_rejects_unprojected_filters():
    with pytest.raises(ValueError, match=r"filters has shape \(45, 9, 7, 7\).*9 input "
                                         "channels.*pixel space"):
        plot.filter_grid(np.zeros((45, 9, 7, 7)))
    with pytest.raises(ValueError, match="filters contains NaN"):
        plot.filter_grid(np.full((2, 3, 3), np.nan))


def test_feature_maps_writes_png(tmp_path, rng):
    image = rng.standard_normal((20, 24))
    z = rng.standard_normal((9, 26, 30))
    path = tmp_path / "maps.png"
    fig = plot.feature_maps(image, z, n=4, path=path, title="layer 1")
    _assert_png_matches(fig, path)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["image", "z1", "z2", "z3", "z4"]


def test_feature_maps_checks_n_and_image_layout(rng):
    z = rng.standard_normal((3, 10, 10))
    with pytest.raises(ValueError, match=r"n must be an integer between 1 and K = 3, got 5"):
        plot.feature_maps(np.zeros((8, 8)), z, n=5)
    with pytest.raises(ValueError, match=r"image has shape \(8, 8, 3\).*np.moveaxis"):
        plot.feature_maps(np.zeros((8, 8, 3)), z)
    fig = plot.feature_maps(np.zeros((3, 8, 8)), z)  # colour, channels first
    assert sum(bool(ax.get_title()) for ax in fig.axes) == 4


def test_reconstructions_titles_carry_snr(tmp_path, rng):
    originals = rng.standard_normal((2, 16, 16))
    recons = originals + 0.1 * rng.standard_normal((2, 16, 16))
    path = tmp_path / "rec.png"
    fig = plot.reconstructions(originals, recons, titles=["a", "b"], path=path)
    _assert_png_matches(fig, path)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0] == "a" and titles[3] == "b"
    snr = plot.snr_db(originals[0], recons[0])
    assert titles[1] == f"reconstruction, SNR {snr:.2f} dB"
    assert titles[2].startswith("difference")


def test_reconstructions_rejects_mismatched_inputs(rng):
    with pytest.raises(ValueError, match="recons has 1 images but originals has 2"):
        plot.reconstructions(np.zeros((2, 8, 8)), np.zeros((1, 8, 8)))
    with pytest.raises(ValueError, match=r"recons\[0\] has display shape"):
        plot.reconstructions(np.zeros((1, 8, 8)), np.zeros((1, 8, 9)))


def test_samples_writes_png(tmp_path, rng):
    path = tmp_path / "samples.png"
    fig = plot.samples(rng.standard_normal((6, 1, 20, 20)), path=path, title="layer 2")
    _assert_png_matches(fig, path)


def test_solver_stats_plots_one_line_per_solver(tmp_path):
    t = np.linspace(0.1, 2.0, 30)
    stats = {
        "IST": {"iter": np.arange(1, 31), "time": t, "cost": 10 / t},
        "ours": {"iter": np.arange(1, 31), "time": t / 2, "cost": 5 / t,
                 "cg_residual": np.full(30, 1e-6)},
    }
    path = tmp_path / "stats.png"
    fig = plot.solver_stats(stats, path=path)
    _assert_png_matches(fig, path)
    ax, = fig.axes
    assert [line.get_label() for line in ax.get_lines()] == ["IST", "ours"]
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "time (s)"
    fig = plot.solver_stats(stats, x="iter", log=False)
    assert fig.axes[0].get_yscale() == "linear"


def test_solver_stats_plots_the_records_of_return_stats():
    rng = np.random.default_rng(0)
    y = rng.standard_normal((1, 12, 12))
    f = rng.standard_normal((2, 1, 3, 3))
    _, st = numbadn.infer(y, f, solver="fista", max_iter=5, tol=0.0, return_stats=True)
    fig = plot.solver_stats({"fista": st}, x="iter")
    line, = fig.axes[0].get_lines()
    np.testing.assert_array_equal(line.get_xdata(), [s.iteration for s in st])
    np.testing.assert_array_equal(line.get_ydata(), [s.cost for s in st])


def test_solver_stats_accepts_records_and_numbers_iterations():
    Stat = namedtuple("Stat", "time cost")
    fig = plot.solver_stats({"run": [Stat(0.1, 3.0), Stat(0.2, 2.0)]}, x="iter")
    np.testing.assert_array_equal(fig.axes[0].get_lines()[0].get_xdata(), [1, 2])


def test_solver_stats_errors_name_the_problem():
    with pytest.raises(ValueError, match="y is 'loss': expected one of"):
        plot.solver_stats({"a": {"time": [1], "cost": [1]}}, y="loss")
    with pytest.raises(ValueError, match=r"stats_by_name\['a'\] has no 'time'"):
        plot.solver_stats({"a": {"cost": [1, 2]}})
    with pytest.raises(ValueError, match="different lengths"):
        plot.solver_stats({"a": {"time": [1, 2], "cost": [1]}})


def test_snr_db_standard_definition():
    rng = np.random.default_rng(1)
    clean = rng.standard_normal(1000)
    noise = rng.standard_normal(1000) * 0.1
    expected = 10 * math.log10(np.var(clean) / np.mean(noise ** 2))
    assert plot.snr_db(clean, clean + noise) == pytest.approx(expected)
    # equal to the ||y - mean||^2 / ||y - y_hat||^2 form
    ratio = np.sum((clean - clean.mean()) ** 2) / np.sum(noise ** 2)
    assert plot.snr_db(clean, clean + noise) == pytest.approx(10 * math.log10(ratio))
    assert plot.snr_db(clean, clean) == math.inf
    with pytest.raises(ValueError, match="estimate has shape"):
        plot.snr_db(clean, clean[:10])
