"""Reliability for a user: nothing a user owns is overwritten, every failure is one line
(exit code 2), photographs are read upright, training never discards finished work
or reads its own output, special files and odd names are handled.  Each test is
one case of the audit; it fails on the code before the fix."""
import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

import numbadn
from numbadn import _files as F
from numbadn.cli import main

NATURAL = Path(numbadn.__file__).parent / "datasets" / "natural"
IMG = str(sorted(NATURAL.glob("*.png"))[0])
TINY = ["train", "--quiet", "--epochs", "1", "--n-images", "2", "--size", "24",
        "--checkpoint-every", "0"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished 2-layer training run (model.npz and two figures)."""
    out = tmp_path_factory.mktemp("run") / "run"
    assert main(TINY + ["--maps", "2,3", "--out", str(out)]) == 0
    return out


@pytest.fixture
def model(run, tmp_path):
    """A copy of the run's model in a folder of the user's files."""
    d = tmp_path / "mine"
    d.mkdir()
    shutil.copy(run / "model.npz", d / "model.npz")
    shutil.copy(IMG, d / "photo.png")
    return d


def _err(capsys):
    return capsys.readouterr().err.strip().splitlines()


def _one_line(capsys, *words):
    err = _err(capsys)
    assert len(err) == 1, err
    for w in words:
        assert w in err[0], err[0]
    assert "Traceback" not in err[0] and "internal error" not in err[0]
    return err[0]


def _snapshot(folder):
    return {p: p.read_bytes() for p in Path(folder).rglob("*") if p.is_file()}


# ------------------------------------------------------------ outputs never overwrite inputs
def test_infer_refuses_to_write_its_maps_over_the_model(model, capsys):
    m = model / "model.npz"
    before = m.read_bytes()
    assert main(["infer", str(m), str(model / "photo.png"), "--quiet", "--out", str(m)]) == 2
    _one_line(capsys, "is the input file", str(m))
    assert m.read_bytes() == before
    numbadn.DeconvNet.load(m)  # still a model


def test_reconstruct_refuses_to_write_over_the_photograph(model, capsys):
    photo = model / "photo.png"
    before = photo.read_bytes()
    assert main(["reconstruct", str(model / "model.npz"), str(photo), "--quiet",
                 "--out", str(photo)]) == 2
    _one_line(capsys, "never writes over its input")
    assert photo.read_bytes() == before


# (command, the argv writing to OUT) for every command that writes a file
WRITERS = {
    "infer --out": ["infer", "MODEL", "IMG", "--quiet", "--layer", "1", "--out", "OUT.npy"],
    "infer --plot": ["infer", "MODEL", "IMG", "--quiet", "--layer", "1", "--plot", "OUT.png"],
    "reconstruct": ["reconstruct", "MODEL", "IMG", "--quiet", "--layer", "1", "--out", "OUT.png"],
    "denoise": ["denoise", "MODEL", "IMG", "--size", "24", "--out", "OUT.png"],
    "show (file)": ["show", "MODEL", "--out", "OUT.png"],
    "show (folder)": ["show", "MODEL", "--out", "OUTDIR"],
    "bench --json": ["bench", "--contention-only", "--no-contention", "--json", "OUT.json"],
    "inpaint --out": ["inpaint", "MODEL", "IMG", "--missing", "0.5", "--size", "24",
                      "--out", "OUT.png", "--plot", "PLOT2"],
    "inpaint --plot": ["inpaint", "MODEL", "IMG", "--missing", "0.5", "--size", "24",
                       "--out", "FILLED", "--plot", "OUT.png"],
}


def _argv(template, model, out):
    sub = {"MODEL": str(model / "model.npz"), "IMG": str(model / "photo.png"),
           "OUT.npy": str(out / "o.npy"), "OUT.png": str(out / "o.png"),
           "OUT.json": str(out / "o.json"), "OUTDIR": str(out),
           "FILLED": str(out / "filled.png"), "PLOT2": str(out / "figure.png")}
    return [sub.get(a, a) for a in template]


def _target(template, out):
    return {"OUT.npy": out / "o.npy", "OUT.png": out / "o.png", "OUT.json": out / "o.json",
            "OUTDIR": out / "layer1_filters.png"}[next(a for a in template if "OUT" in a)]


@pytest.mark.parametrize("name", list(WRITERS))
def test_no_command_replaces_a_file_numbadn_did_not_write_without_force(
        name, model, tmp_path, capsys):
    template = WRITERS[name]
    out = tmp_path / "out"
    out.mkdir()
    target = _target(template, out)
    target.write_bytes(b"the user's own file")
    argv = _argv(template, model, out)
    assert main(argv) == 2
    _one_line(capsys, str(target), "--force")
    assert target.read_bytes() == b"the user's own file"
    # numbadn's own output of an earlier run of the same command may be replaced
    assert main(argv + ["--force"]) == 0
    first = target.read_bytes()
    assert first != b"the user's own file"
    capsys.readouterr()
    assert main(argv) == 0, _err(capsys)
    assert target.exists()


def test_api_save_functions_do_not_overwrite_by_default(run, tmp_path):
    from numbadn import plot
    net = numbadn.DeconvNet.load(run / "model.npz")
    path = tmp_path / "m.npz"
    path.write_bytes(b"mine")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        net.save(path)
    assert path.read_bytes() == b"mine"
    net.save(path, overwrite=True)
    assert numbadn.DeconvNet.load(path).trained_ == 2
    fig = plot.filter_grid(net.pixel_filters(1)[:, 0])
    png = tmp_path / "f.png"
    png.write_bytes(b"mine")
    with pytest.raises(FileExistsError, match="f.png"):
        plot.save(fig, png)
    with pytest.raises(FileExistsError, match="f.png"):
        plot.save_stacked([fig, fig], png)
    assert png.read_bytes() == b"mine"
    plot.save(fig, png, overwrite=True)
    assert png.read_bytes()[:4] == b"\x89PNG"


# ------------------------------------------------------------ one line for every failure
@pytest.mark.parametrize("snr", ["1e308", "-1000", "61", "-20.5"])
def test_denoise_snr_outside_its_range_is_refused_before_work(model, snr, capsys):
    assert main(["denoise", str(model / "model.npz"), str(model / "photo.png"),
                 "--snr", snr]) == 2
    _one_line(capsys, "--snr must be >= -20 and <= 60", f"got {snr}")
    assert not Path("denoise.png").exists()


def test_values_are_printed_as_given(tmp_path, capsys):
    assert main(["train", "--p", "1.0000001", "--out", str(tmp_path / "x")]) == 2
    _one_line(capsys, "--p must be > 0 and <= 1, got 1.0000001")
    assert main(["train", "--lam", "1e-400", "--out", str(tmp_path / "x")]) == 2
    _one_line(capsys, "got 1e-400")


def test_an_existing_file_as_train_out_is_one_line_with_what_to_do(tmp_path, capsys):
    f = tmp_path / "afile"
    f.write_text("mine")
    assert main(TINY + ["--out", str(f)]) == 2
    _one_line(capsys, f"cannot write {f}: it is a file, not a folder; choose a folder name")
    assert f.read_text() == "mine"


@pytest.mark.parametrize("code, words", [
    (errno.EROFS, "the file system is read-only; choose a folder on a writable disk"),
    (errno.EPERM, "operation not permitted; choose a folder you can write to"),
    (errno.ENOSPC, "no space left on the device; free some space"),
])
def test_os_errors_writing_outputs_are_translated(model, tmp_path, monkeypatch, code, words,
                                                  capsys):
    from numbadn import plot

    def failing(fig, path, **kw):
        raise OSError(code, os.strerror(code), str(path))

    monkeypatch.setattr(plot, "save", failing)
    monkeypatch.setattr(plot, "save_stacked", failing)
    out = tmp_path / "f.png"
    assert main(["show", str(model / "model.npz"), "--out", str(out)]) == 2
    line = _one_line(capsys, f"cannot write {out}: {words}")
    assert "Errno" not in line


def test_a_lock_file_that_cannot_be_created_is_one_line(tmp_path, monkeypatch, capsys):
    def denied(path, *a, **kw):
        raise PermissionError(errno.EPERM, "Operation not permitted", path)

    monkeypatch.setattr(F, "open", denied, raising=False)
    out = tmp_path / "ro"
    out.mkdir()
    assert main(TINY + ["--out", str(out)]) == 2
    line = _one_line(capsys, f"cannot write {out}: operation not permitted")
    assert "Errno" not in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_out_is_refused_before_work(model, tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        assert main(["show", str(model / "model.npz"), "--out", str(ro / "f.png")]) == 2
        _one_line(capsys, "cannot write", "permission denied")
    finally:
        ro.chmod(0o755)


def test_usage_errors_are_one_line_with_exit_code_2(capsys):
    assert main(["train", "--epochs", "abc"]) == 2
    _one_line(capsys, "--epochs", "'abc'")
    assert main(["infer"]) == 2
    _one_line(capsys, "required")
    assert main(["frobnicate"]) == 2
    _one_line(capsys, "invalid choice")


# ------------------------------------------------------------ photographs upright
def _portrait_jpeg(path, orientation):
    """A 40x24 (wide) stored image that EXIF says to turn: a portrait photograph."""
    rng = np.random.default_rng(0)
    a = (rng.random((24, 40)) * 255).astype(np.uint8)
    a[:, :10] = 255  # a marker on the left edge
    im = Image.fromarray(a)
    exif = Image.Exif()
    exif[0x0112] = orientation
    im.save(path, exif=exif.tobytes(), quality=95)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_applied_as_image_viewers_do(tmp_path, orientation):
    from numbadn.data import exif_orientation, load_images
    p = tmp_path / "portrait.jpg"
    _portrait_jpeg(p, orientation)
    assert exif_orientation(p) == orientation
    got = load_images(p, dtype=np.float64)[0]
    with Image.open(p) as im:
        ref = np.asarray(ImageOps.exif_transpose(im).convert("L"), np.float64) / 255.0
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, atol=1.5 / 255)


def test_the_image_line_says_the_photograph_was_turned_upright(model, tmp_path, capsys):
    p = tmp_path / "portrait.jpg"
    _portrait_jpeg(p, 6)
    assert main(["infer", str(model / "model.npz"), str(p), "--quiet", "--layer", "1",
                 "--bottom-up"]) == 0
    out = capsys.readouterr().out
    assert "image" in out and "24x40" in out
    assert "turned upright by its EXIF orientation 6 (rotated 90 degrees clockwise)" in out


# ------------------------------------------------------------ training runs
def test_a_second_train_into_a_finished_out_is_refused_and_force_replaces_it_whole(
        tmp_path, capsys):
    out = tmp_path / "run"
    assert main(TINY + ["--maps", "2,3", "--out", str(out)]) == 0
    model = (out / "model.npz").read_bytes()
    capsys.readouterr()
    assert main(TINY + ["--maps", "2", "--out", str(out)]) == 2
    _one_line(capsys, "holds a finished run", "--force")
    assert (out / "model.npz").read_bytes() == model
    assert main(TINY + ["--maps", "2", "--out", str(out), "--force"]) == 0
    assert numbadn.DeconvNet.load(out / "model.npz").trained_ == 1
    assert (out / "layer1_filters.png").exists()
    assert not (out / "layer2_filters.png").exists()  # the old run's figure went with it


def test_an_interrupted_runs_checkpoint_is_not_thrown_away(tmp_path, run, capsys):
    out = tmp_path / "cut"
    out.mkdir()
    shutil.copy(run / "model.npz", out / "checkpoint.npz")
    before = (out / "checkpoint.npz").read_bytes()
    assert main(TINY + ["--maps", "2,3", "--out", str(out)]) == 2
    _one_line(capsys, "checkpoint of an interrupted run", "--resume", "--force")
    assert (out / "checkpoint.npz").read_bytes() == before
    assert main(TINY + ["--maps", "2,3", "--out", str(out), "--resume", "--force"]) == 2
    _one_line(capsys, "give one of them")


def test_image_folders_skip_numbadn_output_folders_and_say_so(tmp_path):
    from numbadn.data import describe, load_images
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(IMG, photos / "mine.png")
    out = photos / "numbadn-out"
    out.mkdir()
    (out / F.LOCK_NAME).write_text("pid 1")
    for i in range(3):
        shutil.copy(IMG, out / f"layer{i}_filters.png")
    assert len(load_images(photos)) == 1
    text = describe(photos)
    assert "1 image files" in text and "3 image file(s) in 1 numbadn output folder(s) skipped" \
        in text and "numbadn-out" in text


@pytest.mark.parametrize("kind", ["fifo", "/dev/zero", "/dev/urandom"])
@pytest.mark.parametrize("role", ["model", "image"])
def test_special_files_are_refused_not_read_forever(kind, role, model, tmp_path):
    if kind == "fifo":
        path = tmp_path / "pipe"
        os.mkfifo(path)
        path = str(path)
    else:
        path = kind
    argv = ["show", path] if role == "model" else ["infer", str(model / "model.npz"), path]
    r = subprocess.run([sys.executable, "-m", "numbadn"] + argv, capture_output=True,
                       text=True, timeout=120)
    err = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(err) == 1, r.stderr
    assert "not a regular file" in err[0] and path in err[0]


def test_a_fifo_as_training_source_is_refused(tmp_path, capsys):
    path = tmp_path / "pipe.png"
    os.mkfifo(path)
    assert main(TINY + [str(path), "--out", str(tmp_path / "o")]) == 2
    _one_line(capsys, "FIFO", "not a regular file")
    assert not (tmp_path / "o").exists()


def test_sample_counts_have_an_upper_bound_checked_first(model, capsys):
    assert main(["show", str(model / "model.npz"), "--samples", "100000"]) == 2
    _one_line(capsys, "--samples must be from 0 to 1000, got 100000")


def test_non_utf8_names_are_handled_through_the_figure(model, tmp_path):
    photo = os.path.join(os.fsencode(tmp_path), b"ph\xffoto.png")  # not UTF-8
    shutil.copy(IMG, photo)
    out = os.path.join(os.fsencode(tmp_path), b"rec\xfe.png")
    r = subprocess.run([sys.executable, "-m", "numbadn", "reconstruct",
                        os.fsencode(model / "model.npz"), photo, "--quiet", "--layer", "1",
                        "--out", out], capture_output=True, timeout=300,
                       env=dict(os.environ, LC_ALL="C.UTF-8"))
    assert r.returncode == 0, r.stderr
    assert os.path.getsize(out) > 0
    assert b"wrote " + out in r.stdout  # the name printed as its bytes


def test_figure_titles_show_undecodable_bytes_as_replacement_characters():
    from numbadn import plot
    a = np.random.default_rng(0).random((20, 20))
    fig = plot.reconstructions([a], [a * 0.9], titles=[os.fsdecode(b"x\xff.png")])
    assert fig.axes[0].get_title() == "x\ufffd.png"
    fig = plot.filter_grid(np.random.default_rng(0).random((2, 3, 3)),
                           title=os.fsdecode(b"filters of \xff"))
    assert "\ufffd" in fig._suptitle.get_text()


@pytest.mark.parametrize("call", ["contrast_normalize", "layer.infer", "layer.reconstruct",
                                  "plot.filter_grid"])
def test_masked_arrays_are_refused_clearly(call):
    from numbadn import plot
    from numbadn.preprocess import contrast_normalize
    a = np.random.default_rng(0).random((12, 12))
    m = np.ma.masked_array(a, mask=a > 0.5)
    la = numbadn.DeconvLayer(in_channels=1, n_maps=2, filter_size=3).initialize()
    fn = {"contrast_normalize": lambda: contrast_normalize(m),
          "layer.infer": lambda: la.infer(m),
          "layer.reconstruct": lambda: la.reconstruct(np.ma.masked_array(
              np.ones((2, 6, 6)), mask=np.zeros((2, 6, 6), bool))),
          "plot.filter_grid": lambda: plot.filter_grid(np.ma.masked_array(
              np.ones((2, 3, 3)), mask=np.ones((2, 3, 3), bool)))}[call]
    with pytest.raises(TypeError, match="masked array"):
        fn()


# ------------------------------------------------------------ model files
def _rewrite(src, dst, edit=None, raw=None):
    header, arrs = numbadn.model.io.read(src)
    if edit:
        edit(header, arrs)
    if raw is None:
        F.atomic_savez(dst, header, arrs)
    else:
        np.savez(dst, __header__=np.array(raw), **arrs)
    return dst


@pytest.mark.parametrize("depth", [40, 100_000])
def test_a_deeply_nested_header_is_a_value_error_naming_the_file(run, tmp_path, depth):
    bad = tmp_path / "deep.npz"
    raw = json.dumps(numbadn.model.io.read(run / "model.npz")[0])
    raw = raw[:-1] + ', "x": ' + "[" * depth + "]" * depth + "}"
    _rewrite(run / "model.npz", bad, raw=raw)
    with pytest.raises(ValueError, match=f"{bad}.*__header__.*(deep|nests)"):
        numbadn.DeconvNet.load(bad)


def test_a_deeply_nested_header_is_one_line_in_the_cli(run, tmp_path, capsys):
    bad = tmp_path / "deep.npz"
    raw = '{"format": "numbadn-model", "meta": ' + "[" * 100_000 + "]" * 100_000 + "}"
    _rewrite(run / "model.npz", bad, raw=raw)
    assert main(["show", str(bad)]) == 2
    _one_line(capsys, str(bad), "__header__")


@pytest.mark.parametrize("scale", [1e-300, 1e300])
def test_scales_outside_their_range_are_refused_when_loading(run, tmp_path, scale):
    bad = _rewrite(run / "model.npz", tmp_path / "s.npz",
                   lambda h, a: h.__setitem__("scales", [scale] * len(h["scales"])))
    with pytest.raises(ValueError, match=r"s\.npz.*scales\[0\] must be from"):
        numbadn.DeconvNet.load(bad)


def test_a_zero_filter_plane_is_refused_when_loading(run, tmp_path):
    k1, k0 = np.argwhere(numbadn.DeconvNet.load(run / "model.npz").layers[1].connectivity_)[-1]

    def zero(h, a):
        a["f1"] = a["f1"].copy()
        a["f1"][k1, k0] = 0.0
    bad = _rewrite(run / "model.npz", tmp_path / "z.npz", zero)
    with pytest.raises(ValueError, match=rf"z\.npz.*'f1'.*plane \({k1}, {k0}\) has norm 0"):
        numbadn.DeconvNet.load(bad)


# ------------------------------------------------------------ expected conditions, validation first
def test_a_locked_out_is_an_error_not_an_internal_error(tmp_path, capsys):
    out = tmp_path / "run"
    with F.FolderLock(out):
        assert main(TINY + ["--out", str(out)]) == 2
        _one_line(capsys, "is in use by another 'numbadn train'")


@pytest.mark.parametrize("argv", [["--maps", "0"], ["--maps", "9,,45"], ["--epochs", "0"],
                                  ["/nonexistent/photos"], ["--crop", "100000"]])
def test_a_refused_run_leaves_no_out_folder(tmp_path, argv, capsys):
    out = tmp_path / "new"
    assert main(["train"] + argv + ["--out", str(out)]) == 2
    _one_line(capsys)
    assert not out.exists()


def test_bench_checks_its_json_path_before_measuring(tmp_path, capsys):
    assert main(["bench", "--contention-only", "--no-contention", "--json",
                 str(tmp_path)]) == 2
    _one_line(capsys, f"cannot write {tmp_path}: it is a folder")
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("maps", ["9,,45", ",9", "9,", "9, ,45"])
def test_empty_map_counts_are_refused(maps, tmp_path, capsys):
    assert main(["train", "--maps", maps, "--out", str(tmp_path / "o")]) == 2
    _one_line(capsys, "--maps", "none empty")


def test_denoise_lam_with_an_empty_item_is_refused(model, capsys):
    assert main(["denoise", str(model / "model.npz"), str(model / "photo.png"),
                 "--lam", "10,,40"]) == 2
    _one_line(capsys, "--lam", "none empty")


# ------------------------------------------------------------ found by the fuzzing suite
def test_an_unreadable_image_for_a_one_image_command_is_one_line(model, tmp_path, capsys):
    bad = tmp_path / "x.png"
    bad.write_bytes(b"not an image")
    assert main(["denoise", str(model / "model.npz"), str(bad)]) == 2
    _one_line(capsys, f"image {bad} cannot be read")


def test_snr_db_refuses_non_finite_and_masked_input():
    from numbadn.plot import snr_db
    with pytest.raises(ValueError, match="clean contains NaN"):
        snr_db(np.array(np.nan, np.float32), np.ones(()))
    a = np.ma.masked_array(np.ones(4), mask=[1, 0, 0, 0])
    with pytest.raises(TypeError, match="masked array"):
        snr_db(a, np.zeros(4))


def test_reconstruct_of_an_empty_nested_list_is_a_value_error():
    la = numbadn.DeconvLayer(in_channels=1, n_maps=2, filter_size=3).initialize()
    with pytest.raises(ValueError, match="z is an empty list"):
        la.reconstruct([[]])


def test_a_folder_of_unreadable_files_is_one_line_and_an_empty_source_is_refused(
        tmp_path, capsys):
    d = tmp_path / "photos"
    d.mkdir()
    for n in ("a.png", "b.jpg"):
        (d / n).write_bytes(b"not an image")
    assert main(TINY + [str(d), "--out", str(tmp_path / "o")]) == 2
    _one_line(capsys, "no images could be read", "2 file(s) could not be decoded")
    assert main(TINY + ["", "--out", str(tmp_path / "o")]) == 2
    _one_line(capsys, "image source is an empty path")
    assert not (tmp_path / "o").exists()
