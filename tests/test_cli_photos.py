"""The command line on a user's own photographs: crops, --size,
--full-size and --color on files of several sizes and modes; infer's --out,
--bottom-up and progress; outputs named as given; file permissions; help."""
import os
import stat
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

import numbadn
from numbadn.cli import main

FAST = ["--quiet", "--epochs", "1", "--maps", "2,3", "--filter-size", "5"]


def _texture(h, w, seed, channels=3):
    """A photograph-like texture in [0, 255]: smoothed noise plus a gradient."""
    rng = np.random.default_rng(seed)
    planes = []
    for c in range(channels):
        a = ndimage.gaussian_filter(rng.standard_normal((h, w)), 1.5)
        a = (a - a.min()) / (np.ptp(a) + 1e-12)
        a = 0.7 * a + 0.3 * np.linspace(0, 1, w)[None] * (c + 1) / channels
        planes.append(a)
    arr = np.stack(planes, axis=-1) if channels > 1 else planes[0]
    return (255 * (arr - arr.min()) / np.ptp(arr)).astype(np.uint8)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Five photographs: RGB JPEG 250x180, RGBA PNG 130x120, grey PNG 90x60 (smaller
    than a crop), 16-bit grey PNG 210x210, palette GIF 120x220 (width x height)."""
    d = tmp_path_factory.mktemp("photos")
    Image.fromarray(_texture(180, 250, 1)).save(d / "a_rgb.jpg", quality=95)
    rgba = np.dstack([_texture(120, 130, 2), np.full((120, 130), 200, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(d / "b_rgba.png")
    Image.fromarray(_texture(60, 90, 3, 1), "L").save(d / "c_small.png")
    Image.fromarray(_texture(210, 210, 4, 1).astype(np.uint16) * 257).save(d / "d_16bit.png")
    Image.fromarray(_texture(220, 120, 5)).convert("P").save(d / "e_palette.gif")
    return d


def _train(photos, out, *extra):
    return main(["train", str(photos), *FAST, "--out", str(out), *extra])


@pytest.fixture(scope="module")
def grey_model(photos, tmp_path_factory):
    out = tmp_path_factory.mktemp("grey")
    assert _train(photos, out) == 0
    return out / "model.npz"


@pytest.fixture(scope="module")
def colour_model(photos, tmp_path_factory):
    out = tmp_path_factory.mktemp("colour")
    assert _train(photos, out, "--color", "--size", "120", "--crop", "60") == 0
    return out / "model.npz"


# ---------------------------------------------------------------- training images
def test_default_training_tiles_every_photograph_into_100x100_grey_crops(photos, tmp_path,
                                                                         capsys):
    assert _train(photos, tmp_path / "run") == 0
    out = capsys.readouterr().out
    assert "read 5 photograph(s)" in out and "grey (colour converted to luma" in out
    assert "tiled into 100x100 crops" in out
    assert "1 photograph(s) smaller than 100x100 gave none" in out
    # 250x180 -> 2, 130x120 -> 1, 90x60 -> 0, 210x210 -> 4, 120x220 -> 2 tiles
    assert "9 training image(s) of 100x100 each" in out
    assert "contrast-normalised (the paper's preprocessing) to 96x96 each" in out
    net = numbadn.DeconvNet.load(tmp_path / "run" / "model.npz")
    assert net.layers[0].in_channels == 1 and net.meta["n_images"] == 9
    assert net.meta["crop"] == 100 and net.meta["color"] is False


def test_size_resizes_each_photograph_and_full_size_keeps_it(photos, tmp_path, capsys):
    assert _train(photos, tmp_path / "s", "--size", "64") == 0
    out = capsys.readouterr().out
    assert "resized to cover 64x64, centre kept: 5 training image(s) of 64x64 each" in out
    assert _train(photos, tmp_path / "f", "--full-size") == 0
    out = capsys.readouterr().out
    assert "kept at full size: 5 training image(s) of" in out
    assert "250x180" in out and "90x60" in out
    assert numbadn.DeconvNet.load(tmp_path / "f" / "model.npz").meta["n_images"] == 5
    assert _train(photos, tmp_path / "c", "--size", "150", "--crop", "50") == 0
    assert "resized to cover 150x150, centre kept; tiled into 50x50 crops" in \
        capsys.readouterr().out


@pytest.mark.parametrize("argv, words", [
    (["--crop", "400"], "--crop 400: no training images"),
    (["--full-size", "--crop", "50"], "--full-size trains on every photograph as it is"),
    (["--crop", "-1"], "--crop must be from 0 to 8192"),
])
def test_bad_image_options_are_one_line(photos, tmp_path, argv, words, capsys):
    assert _train(photos, tmp_path / "x", *argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0], err


def test_color_keeps_three_channels_end_to_end(colour_model, photos, tmp_path, capsys):
    net = numbadn.DeconvNet.load(colour_model)
    assert net.layers[0].in_channels == 3 and net.layers[0].filters_.shape == (2, 3, 5, 5)
    assert net.meta["color"] is True
    figure = Image.open(colour_model.parent / "layer1_filters.png").convert("RGB")
    px = np.asarray(figure, np.int16)
    assert (np.abs(px[..., 0] - px[..., 1]) > 20).any()  # the filter figure is in colour
    maps = tmp_path / "maps.npy"
    assert main(["infer", str(colour_model), str(photos / "a_rgb.jpg"), "--layer", "1",
                 "--out", str(maps), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "image" in out and "250x180; RGB, full size, contrast-normalised to 246x176" in out
    z = np.load(maps)
    assert z.shape == (2, 180, 250)  # 176 + 5 - 1, 246 + 5 - 1
    assert main(["reconstruct", str(colour_model), str(photos / "b_rgba.png"), "--quiet",
                 "--out", str(tmp_path / "rec.jpg")]) == 0
    assert Image.open(tmp_path / "rec.jpg").format == "JPEG"
    assert main(["denoise", str(colour_model), str(photos / "a_rgb.jpg")]) == 2
    assert "denoising (section 4.4) is on grey images" in capsys.readouterr().err


# ---------------------------------------------------------------- infer
def test_infer_writes_maps_only_where_out_says(grey_model, photos, tmp_path, monkeypatch,
                                               capsys):
    monkeypatch.chdir(tmp_path)
    img = str(photos / "d_16bit.png")
    assert main(["infer", str(grey_model), img, "--quiet"]) == 0
    assert "maps not written" in capsys.readouterr().out
    assert os.listdir(tmp_path) == []  # nothing lands in the working folder
    assert main(["infer", str(grey_model), img, "--quiet", "--out", "sub/"]) == 0
    z = np.load(tmp_path / "sub" / "d_16bit_layer2_maps.npy")
    assert z.shape == (3, 214, 214)
    assert main(["infer", str(grey_model), img, "--quiet", "--out", "m.npz"]) == 0
    with np.load(tmp_path / "m.npz") as f:
        np.testing.assert_array_equal(f["z"], z)
    assert main(["infer", str(grey_model), img, "--quiet", "--out", "maps"]) == 2
    assert "--out maps: the maps are written as a .npy or .npz" in capsys.readouterr().err
    assert not (tmp_path / "maps.npy").exists()


def test_infer_bottom_up_and_progress(grey_model, photos, tmp_path, capsys):
    img = str(photos / "d_16bit.png")
    assert main(["infer", str(grey_model), img, "--out", str(tmp_path / "td.npy")]) == 0
    cap = capsys.readouterr()
    assert "top-down (eqs. 10-11)" in cap.out
    assert "7/7" in cap.err  # the progress bar: 2 bottom-up + 5 top-down steps
    assert main(["infer", str(grey_model), img, "--bottom-up", "--quiet", "--size", "80",
                 "--out", str(tmp_path / "bu.npy")]) == 0
    out = capsys.readouterr().out
    assert "bottom-up" in out and "210x210; grey, resized to 80x80" in out
    net = numbadn.DeconvNet.load(grey_model)
    from numbadn.data import load_images, resize_and_tile
    from numbadn.preprocess import contrast_normalize
    y = contrast_normalize(resize_and_tile(load_images(img)[0], size=80)[0])[None]
    np.testing.assert_array_equal(np.load(tmp_path / "bu.npy"),
                                  net.infer(y, layer=2, top_down=False))


# ---------------------------------------------------------------- outputs by name
def test_show_and_reconstruct_write_the_file_named(grey_model, photos, tmp_path, capsys):
    f = tmp_path / "filters.png"
    assert main(["show", str(grey_model), "--out", str(f), "--samples", "2"]) == 0
    assert f.is_file() and Image.open(f).format == "PNG"
    tall = Image.open(f).size[1]
    one = tmp_path / "one.jpg"
    assert main(["show", str(grey_model), "--layer", "1", "--out", str(one)]) == 0
    assert Image.open(one).format == "JPEG" and Image.open(one).size[1] < tall
    assert main(["show", str(grey_model), "--out", str(tmp_path / "dir")]) == 0
    # the figures, and numbadn's record of what it wrote there (.numbadn-outputs.json)
    assert sorted(os.listdir(tmp_path / "dir")) == [".numbadn-outputs.json",
                                                     "layer1_filters.png", "layer2_filters.png"]
    rec = tmp_path / "rec.jpg"
    assert main(["reconstruct", str(grey_model), str(photos / "a_rgb.jpg"), "--quiet",
                 "--out", str(rec)]) == 0
    assert Image.open(rec).format == "JPEG"
    assert main(["reconstruct", str(grey_model), str(photos / "a_rgb.jpg"), "--quiet",
                 "--out", str(tmp_path / "rec.xyz")]) == 2
    assert "unknown file type '.xyz'" in capsys.readouterr().err


@pytest.mark.parametrize("mask", [0o022, 0o027])
def test_written_files_get_the_usual_permissions(photos, tmp_path, mask, capsys):
    old = os.umask(mask)
    try:
        assert _train(photos, tmp_path / "run", "--size", "40") == 0
        assert main(["infer", str(tmp_path / "run" / "model.npz"), str(photos / "a_rgb.jpg"),
                     "--quiet", "--out", str(tmp_path / "maps.npy")]) == 0
    finally:
        os.umask(old)
    for p in [tmp_path / "run" / "model.npz", tmp_path / "run" / "layer1_filters.png",
              tmp_path / "maps.npy"]:
        assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~mask, p


# ---------------------------------------------------------------- help and version
def test_every_help_has_an_example_and_version_is_printed(capsys):
    from numbadn.cli import build_parser
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    names = ["train", "infer", "reconstruct", "denoise", "inpaint", "show", "bench"]
    for name in names:
        assert main([name, "--help"]) == 0
        text = capsys.readouterr().out
        assert "example" in text and f"numbadn {name}" in text, name
    assert set(sub.choices) == set(names)
    r = subprocess.run([sys.executable, "-m", "numbadn", "--version"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == f"numbadn {numbadn.__version__}"
