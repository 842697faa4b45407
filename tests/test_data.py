"""numbadn.data: built-in sets, folders, files, odd modes, bad input."""
from __future__ import annotations

import importlib.util
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from numbadn import data
from numbadn.data import builtin_sets, describe, load_images

DATASETS = Path(data.__file__).resolve().parent / "datasets"


def _have_full_sets():
    try:
        for name in data.PHOTOGRAPHS:
            data._full_files(name if name.endswith("-heldout") else f"{name}-full")
    except ImportError:
        return False
    return True


HAVE_FULL_SETS = _have_full_sets()
needs_full_sets = pytest.mark.skipif(
    not HAVE_FULL_SETS, reason="the Debian packages of the -full sets are not installed "
    f"(apt-get install {' '.join(data.DEBIAN_PACKAGES)})")


# --------------------------------------------------------------------------
# built-in sets
# --------------------------------------------------------------------------
def test_builtin_sets_lists_natural_and_city_with_20_to_30_images():
    sets = builtin_sets()
    assert set(sets) == {"natural", "city"}
    for name, n in sets.items():
        assert 20 <= n <= 30, (name, n)


@pytest.mark.parametrize("name", ["natural", "city"])
def test_builtin_set_loads_100x100_float32_in_unit_range(name):
    y = load_images(name)
    assert len(y) == builtin_sets()[name]
    for img in y:
        assert img.shape == (100, 100)
        assert img.dtype == np.float32
        assert img.flags.c_contiguous
        assert 0.0 <= img.min() and img.max() <= 1.0
        # non-blank: every bundled crop passed the blank test when it was cut
        assert img.std() >= data.MIN_CROP_STD - 1e-3


def test_builtin_set_in_colour_and_float64():
    y = load_images("city", grey=False, dtype=np.float64)
    assert y[0].shape == (3, 100, 100) and y[0].dtype == np.float64
    # grey crops are repeated over the three channels
    np.testing.assert_array_equal(y[0][0], y[0][2])
    np.testing.assert_allclose(y[0][0], load_images("city")[0], atol=1e-7)


def test_builtin_set_resized_and_tiled():
    assert all(a.shape == (64, 64) for a in load_images("natural", size=64))
    tiles = load_images("natural", crop=(50, 50))
    assert all(a.shape == (50, 50) for a in tiles)
    assert len(builtin_sets()) and len(tiles) <= 4 * builtin_sets()["natural"]


@pytest.mark.parametrize("name, words", [
    ("natural", ["natural", "26", "fruits.jpg", "seeding_by_Clements_Engelhardt.jpg",
                 "sunset_by_Aitzol_Berasategi.jpg"]),
    ("city", ["city", "26", "building.jpg", "leuvenA.jpg", "scenetext01.jpg"]),
])
def test_describe_builtin_names_count_and_photographs(name, words):
    line = describe(name)
    assert "\n" not in line
    for w in words:
        if w == "26":
            w = str(builtin_sets()[name])
        assert w in line, (w, line)


def test_bundled_data_is_small_and_every_source_is_licensed():
    files = list(DATASETS.glob("*/*.png"))
    total = sum(f.stat().st_size for f in files)
    assert total < 600 * 1024, f"bundled crops take {total / 1024:.0f} KB"
    licence = (DATASETS / "LICENSE").read_text()
    for f in files:
        stem = f.stem.rsplit("_y", 1)[0]
        assert re.search(rf"\b{stem}_\*\.png", licence), f"{stem} not in LICENSE"
    for words in ("Apache-2.0", "BSD-3-Clause", "CC0", "CC-BY-4.0"):
        assert words in licence
    # every photograph of the larger sets is named there with its licence
    for photos in data.PHOTOGRAPHS.values():
        for label, pkg, rel, lic in photos:
            assert pkg in licence, pkg
            assert lic.split(" AND ")[0] in licence or lic == "public domain", lic


def test_no_halftone_scan_or_lena_among_the_photographs():
    names = " ".join(rel for photos in data.PHOTOGRAPHS.values() for _, _, rel, _ in photos)
    for banned in ("apple.jpg", "orange.jpg", "lena", "smarties"):
        assert banned not in names
    assert not list(DATASETS.glob("*/apple_*")) and not list(DATASETS.glob("*/lena*"))


def test_bundled_file_names_give_the_crop_position():
    for f in [*DATASETS.glob("natural/*.png"), *DATASETS.glob("city/*.png")]:
        assert re.fullmatch(r"[A-Za-z0-9]+_y\d{4}_x\d{4}", f.stem), f.name
        with Image.open(f) as im:
            assert im.size == (100, 100) and im.mode == "L"


@needs_full_sets
@pytest.mark.slow
def test_make_builtin_reproduces_the_bundled_crops(capsys):
    spec = importlib.util.spec_from_file_location("make_builtin",
                                                  DATASETS / "make_builtin.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--check"]) == 0, capsys.readouterr().out


# --------------------------------------------------------------------------
# -full and -heldout sets (Debian packages)
# --------------------------------------------------------------------------
def test_full_sets_have_15_photographs_each_and_disjoint_held_out_ones():
    # at least 15 photographs per set, and held-out photographs that never enter training
    for name in ("natural", "city"):
        train, held = data.PHOTOGRAPHS[name], data.PHOTOGRAPHS[f"{name}-heldout"]
        assert len(train) >= 15 and len(held) >= 2
        where = lambda ps: {(pkg, rel) for _, pkg, rel, _ in ps}  # noqa: E731
        assert not where(train) & where(held)
        labels = [lab for lab, *_ in train + held]
        assert len(set(labels)) == len(labels)
    everything = [(pkg, rel) for ps in data.PHOTOGRAPHS.values() for _, pkg, rel, _ in ps]
    assert len(set(everything)) == len(everything)
    assert set(data.DEBIAN_PACKAGES) >= {"opencv-doc", "mate-backgrounds"}


@needs_full_sets
@pytest.mark.slow
@pytest.mark.parametrize("name", ["natural-full", "city-full"])
def test_full_set_has_300_crops_100x100_grouped_by_photograph(name):
    y = load_images(name)
    assert len(y) >= 300
    assert all(a.shape == (100, 100) and a.dtype == np.float32 for a in y)
    assert all(a.std() >= data.MIN_CROP_STD for a in y)
    by_photo = data.crops_by_photograph(name)
    assert list(by_photo) == [lab for lab, *_ in data.PHOTOGRAPHS[name[:-5]]]
    joined = [c for crops in by_photo.values() for c in crops]
    assert len(joined) == len(y)
    assert all(np.array_equal(a, b) for a, b in zip(joined, y))
    line = describe(name)
    assert str(len(y)) in line and "opencv-doc" in line
    assert all(f"{lab} x{len(c)}" in line for lab, c in by_photo.items())


@needs_full_sets
def test_full_photographs_are_scaled_to_the_short_side_before_cropping():
    files = dict(data._full_files("natural-full"))
    big = files["Path"]  # a 2560x1600 wallpaper
    with Image.open(big) as im:
        assert min(im.size) > data.FULL_SHORT_SIDE
    img = data._read_photograph(big, True)
    assert min(img.shape) == data.FULL_SHORT_SIDE
    assert abs(img.shape[1] / img.shape[0] - 2560 / 1600) < 0.01
    # one at most that size is read as it is
    small = files["fruits"]
    np.testing.assert_array_equal(data._read_photograph(small, True),
                                  data._read_image(small, True))


@needs_full_sets
@pytest.mark.slow
def test_held_out_sets_load():
    for name in ("natural-heldout", "city-heldout"):
        by_photo = data.crops_by_photograph(name)
        assert len(by_photo) == len(data.PHOTOGRAPHS[name])
        assert all(len(c) for c in by_photo.values())


@needs_full_sets
def test_full_set_same_crops_in_grey_and_colour():
    grey = load_images("city-full")
    colour = load_images("city-full", grey=False, size=(64, 64))
    assert len(grey) == len(colour)
    assert colour[0].shape == (3, 64, 64)


def test_crops_by_photograph_rejects_other_sources():
    with pytest.raises(ValueError, match="source must be one of"):
        data.crops_by_photograph("natural")


def test_full_set_without_its_package_names_the_package(monkeypatch, tmp_path):
    roots = dict(data._ROOTS)
    roots["opencv-doc"] = ("deb", tmp_path / "missing")
    monkeypatch.setattr(data, "_ROOTS", roots)
    with pytest.raises(ImportError, match="opencv-doc"):
        load_images("city-full")
    with pytest.raises(ImportError, match="apt-get install opencv-doc"):
        describe("natural-heldout")


# --------------------------------------------------------------------------
# folders and files
# --------------------------------------------------------------------------
@pytest.fixture
def mixed_folder(tmp_path):
    """A folder of images in several formats, modes and sizes, plus junk."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "photos"
    (folder / "sub" / "deeper").mkdir(parents=True)
    arrays = {}
    # 8-bit grey PNG, 30 x 40
    arrays["a_grey.png"] = rng.integers(0, 256, (30, 40), dtype=np.uint8)
    Image.fromarray(arrays["a_grey.png"]).save(folder / "a_grey.png")
    # RGB PNG, 50 x 20
    arrays["b_rgb.png"] = rng.integers(0, 256, (50, 20, 3), dtype=np.uint8)
    Image.fromarray(arrays["b_rgb.png"]).save(folder / "b_rgb.png")
    # grey with alpha (LA) PNG, 25 x 35, in a subfolder
    la = rng.integers(0, 256, (25, 35, 2), dtype=np.uint8)
    arrays["sub/c_grey_alpha.png"] = la
    Image.fromarray(la).save(folder / "sub" / "c_grey_alpha.png")
    # RGB JPEG, 64 x 48, two levels deep, upper-case suffix
    jpg = np.zeros((64, 48, 3), dtype=np.uint8)
    jpg[:, 24:] = (200, 100, 50)
    arrays["sub/deeper/d.JPG"] = jpg
    Image.fromarray(jpg).save(folder / "sub" / "deeper" / "d.JPG", quality=95)
    # 16-bit grey PNG, 10 x 12
    arrays["e16.png"] = rng.integers(0, 65536, (10, 12), dtype=np.uint16)
    Image.fromarray(arrays["e16.png"]).save(folder / "e16.png")
    # a corrupt PNG and a text file that is not an image
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    (folder / "notes.txt").write_text("not an image")
    return folder, arrays


def test_load_folder_reads_every_mode_and_size_recursively(mixed_folder):
    folder, arrays = mixed_folder
    with pytest.warns(UserWarning, match=r"broken\.png") as rec:
        y = load_images(folder)
    assert len([w for w in rec if "broken.png" in str(w.message)]) == 1
    # sorted path order: a_grey, b_rgb, e16, sub/c_grey_alpha, sub/deeper/d.JPG
    assert [a.shape for a in y] == [(30, 40), (50, 20), (10, 12), (25, 35), (64, 48)]
    assert all(a.dtype == np.float32 and 0 <= a.min() and a.max() <= 1 for a in y)
    np.testing.assert_allclose(y[0], arrays["a_grey.png"] / 255.0, atol=1e-6)
    rgb = arrays["b_rgb.png"] / 255.0
    luma = 0.298936021293775 * rgb[..., 0] + 0.587043074451121 * rgb[..., 1] \
        + 0.114020904255103 * rgb[..., 2]
    np.testing.assert_allclose(y[1], luma, atol=1e-6)
    np.testing.assert_allclose(y[2], arrays["e16.png"] / 65535.0, atol=1e-6)
    # alpha dropped, grey values kept
    np.testing.assert_allclose(y[3], arrays["sub/c_grey_alpha.png"][..., 0] / 255.0,
                               atol=1e-6)
    # JPEG: lossy, but the two halves keep their levels
    d = y[4]
    assert abs(d[:, :20].mean()) < 0.02
    want = (0.299 * 200 + 0.587 * 100 + 0.114 * 50) / 255
    assert abs(d[:, 28:].mean() - want) < 0.02


def test_load_folder_in_colour(mixed_folder):
    folder, arrays = mixed_folder
    with pytest.warns(UserWarning, match="broken.png"):
        y = load_images(folder, grey=False, dtype=np.float64)
    assert [a.shape for a in y] == [(3, 30, 40), (3, 50, 20), (3, 10, 12), (3, 25, 35),
                                    (3, 64, 48)]
    np.testing.assert_allclose(np.moveaxis(y[1], 0, -1), arrays["b_rgb.png"] / 255.0)
    assert y[1].dtype == np.float64 and y[1].flags.c_contiguous


def test_load_folder_to_paper_size(mixed_folder):
    folder, _ = mixed_folder
    with pytest.warns(UserWarning, match="broken.png"):
        y = load_images(folder, size=(100, 100))
    assert len(y) == 5 and all(a.shape == (100, 100) for a in y)
    assert all(0 <= a.min() and a.max() <= 1 for a in y)


def test_size_centre_crops_without_rescaling_when_one_side_fits(tmp_path):
    img = np.zeros((100, 300), dtype=np.uint8)
    img[:, 100:200] = np.arange(100, dtype=np.uint8)[None, :] * 2
    Image.fromarray(img).save(tmp_path / "wide.png")
    (y,) = load_images(tmp_path / "wide.png", size=(100, 100))
    np.testing.assert_allclose(y, img[:, 100:200] / 255.0, atol=1e-6)


def test_size_downscales_keeping_values(tmp_path):
    Image.fromarray(np.full((240, 200), 128, np.uint8)).save(tmp_path / "flat.png")
    (y,) = load_images(tmp_path / "flat.png", size=100)
    assert y.shape == (100, 100)
    np.testing.assert_allclose(y, 128 / 255, atol=1e-5)


def test_crop_tiles_the_image_and_drops_blank_tiles(tmp_path):
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (230, 310), dtype=np.uint8)
    img[:, :155] = 90  # left half blank
    Image.fromarray(img).save(tmp_path / "half.png")
    y = load_images(tmp_path / "half.png", crop=100)
    assert all(a.shape == (100, 100) for a in y)
    # centred 2 x 3 grid starting at column 5: tiles at columns 5, 105, 205;
    # the first is blank, the second straddles (has texture), the third textured
    assert len(y) == 4
    np.testing.assert_allclose(y[-1], img[115:215, 205:305] / 255.0, atol=1e-6)


def test_single_file_and_list_of_files(mixed_folder):
    folder, _ = mixed_folder
    (one,) = load_images(folder / "a_grey.png")
    assert one.shape == (30, 40)
    y = load_images([folder / "b_rgb.png", str(folder / "a_grey.png")], grey=False)
    assert [a.shape for a in y] == [(3, 50, 20), (3, 30, 40)]
    assert describe(folder / "a_grey.png") == f"1 image file: {folder / 'a_grey.png'}"
    assert "2 image files" in describe([folder / "b_rgb.png", folder / "a_grey.png"])


def test_describe_folder_counts_files_by_type(mixed_folder):
    folder, _ = mixed_folder
    line = describe(folder)
    assert str(folder) in line and "6 image files" in line and "1 .jpg" in line


def test_empty_folder_raises_value_error_naming_it(tmp_path):
    empty = tmp_path / "nothing_here"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images")
    with pytest.raises(ValueError, match="nothing_here"):
        load_images(empty)


def test_folder_of_only_corrupt_files_warns_then_raises(tmp_path):
    (tmp_path / "bad1.jpg").write_bytes(b"garbage")
    (tmp_path / "bad2.png").write_bytes(b"")
    with pytest.warns(UserWarning) as rec, pytest.raises(ValueError, match=str(tmp_path)):
        load_images(tmp_path)
    text = " ".join(str(w.message) for w in rec)
    assert "bad1.jpg" in text and "bad2.png" in text


def test_nonexistent_path_raises_file_not_found_naming_it(tmp_path):
    missing = tmp_path / "no_such_folder"
    with pytest.raises(FileNotFoundError, match="no_such_folder"):
        load_images(missing)
    with pytest.raises(FileNotFoundError, match="gone.png"):
        load_images([tmp_path / "gone.png"])
    with pytest.raises(FileNotFoundError, match="built-in"):
        load_images("fod")  # a typo of a set name says what the sets are


def test_bad_arguments_name_the_argument(tmp_path):
    with pytest.raises(ValueError, match="size"):
        load_images("natural", size=(0, 100))
    with pytest.raises(ValueError, match="crop"):
        load_images("natural", crop=(100, 100, 3))
    with pytest.raises(TypeError, match="dtype"):
        load_images("natural", dtype=np.int32)
    with pytest.raises(TypeError, match="grey"):
        load_images("natural", grey="yes")
    with pytest.raises(TypeError, match="source"):
        load_images(42)
    with pytest.raises(ValueError, match="empty list"):
        load_images([])


def test_no_warning_for_good_folders(tmp_path):
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "ok.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(load_images(tmp_path)) == 1
