"""The command line end to end on the built-in images, and its error paths."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import numbadn
from numbadn.cli import main

IMG = str(Path(numbadn.__file__).parent / "datasets" / "natural" / sorted(
    os.listdir(Path(numbadn.__file__).parent / "datasets" / "natural"))[0])


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    rc = main(["train", "--quiet", "--epochs", "1", "--n-images", "3", "--maps", "3,4",
               "--size", "40", "--out", str(out)])
    assert rc == 0
    return out


@pytest.mark.slow
def test_train_writes_model_and_figures(model, capsys):
    assert (model / "model.npz").stat().st_size > 0
    for i in (1, 2):
        assert (model / f"layer{i}_filters.png").stat().st_size > 0
    assert not (model / "checkpoint.npz").exists()  # removed after a finished run
    net = numbadn.DeconvNet.load(model / "model.npz")
    assert net.trained_ == 2 and [la.n_maps for la in net.layers] == [3, 4]
    assert net.meta["preprocess"] == "contrast_normalize"


@pytest.mark.slow
def test_infer_reconstruct_denoise_show(model, tmp_path, capsys):
    m = str(model / "model.npz")
    maps = tmp_path / "maps.npy"
    assert main(["infer", m, IMG, "--layer", "1", "--out", str(maps),
                 "--plot", str(tmp_path / "maps.png")]) == 0
    z = np.load(maps)
    assert z.shape == (3, 102, 102) and np.isfinite(z).all()
    assert main(["reconstruct", m, IMG, "--layer", "2", "--out", str(tmp_path / "r.png")]) == 0
    assert "SNR" in capsys.readouterr().out
    assert main(["denoise", m, IMG, "--out", str(tmp_path / "d.png")]) == 0
    out = capsys.readouterr().out
    assert "paper 13.84 dB" in out and "layer 2 reconstruction" in out
    assert "passes layer 1: 7, layer 2: 1" in out  # the toolbox's maxepochs
    assert main(["denoise", m, IMG, "--passes", "2", "--out", str(tmp_path / "d2.png")]) == 0
    assert "passes layer 1: 2, layer 2: 2" in capsys.readouterr().out
    assert main(["show", m, "--out", str(tmp_path), "--samples", "2"]) == 0
    for name in ("layer1_filters.png", "layer2_filters.png", "layer2_samples.png"):
        assert (tmp_path / name).stat().st_size > 0


def test_train_interrupted_then_resumed_equals_uninterrupted(tmp_path, monkeypatch, capsys):
    args = ["train", "--quiet", "--epochs", "2", "--n-images", "2", "--maps", "3,4",
            "--size", "30", "--checkpoint-every", "0"]
    assert main(args + ["--out", str(tmp_path / "full")]) == 0
    ref = numbadn.DeconvNet.load(tmp_path / "full" / "model.npz")

    calls = {"n": 0}
    original = numbadn.DeconvLayer._update_filters

    def interrupting(self, zs, ys, *rest):
        calls["n"] += 1
        if calls["n"] == 6:  # in the middle of layer 2's first epoch
            raise KeyboardInterrupt
        return original(self, zs, ys, *rest)

    monkeypatch.setattr(numbadn.DeconvLayer, "_update_filters", interrupting)
    out = tmp_path / "cut"
    assert main(args + ["--out", str(out)]) == 130
    assert (out / "checkpoint.npz").exists() and not (out / "model.npz").exists()
    monkeypatch.setattr(numbadn.DeconvLayer, "_update_filters", original)
    assert main(args + ["--out", str(out), "--resume"]) == 0
    got = numbadn.DeconvNet.load(out / "model.npz")
    for a, b in zip(ref.layers, got.layers):
        np.testing.assert_array_equal(a.filters_, b.filters_)


@pytest.mark.parametrize("argv, words", [
    (["infer", "missing.npz", "x.png"], "does not exist"),
    (["train", "/nonexistent/folder"], "does not exist"),
    (["train", "--maps", "9,x"], "--maps"),
    (["train", "--p", "1.5", "--n-images", "1"], "--p must be > 0 and <= 1"),
    (["train", "--lam", "-1", "--n-images", "1"], "lam"),
])
def test_bad_input_gives_one_line_error(argv, words, capsys):
    assert main(argv) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0] and "Traceback" not in err[0]


def test_wrong_model_file_is_one_line_error(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a model")
    assert main(["show", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a readable numbadn model" in err[0]


def test_help_and_module_entry_point():
    r = subprocess.run([sys.executable, "-m", "numbadn", "train", "--help"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "--resume" in r.stdout and "paper" in r.stdout
    r = subprocess.run([sys.executable, "-m", "numbadn"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "train" in r.stdout


# ------------------------------------------------------ training runs: checkpoints, resume, refusals
TINY = ["train", "--quiet", "--epochs", "1", "--n-images", "2", "--maps", "2,3", "--size", "24",
        "--checkpoint-every", "0"]


def _err(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    return err


def test_resume_of_a_finished_run_reports_it_and_leaves_it_alone(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main(TINY + ["--out", out]) == 0
    model = tmp_path / "run" / "model.npz"
    before = (model.stat().st_mtime_ns, model.read_bytes())
    capsys.readouterr()
    assert main(TINY + ["--out", out, "--resume"]) == 0
    assert "finished" in capsys.readouterr().out
    assert (model.stat().st_mtime_ns, model.read_bytes()) == before
    # a finished run with other settings: the setting is named, the model kept
    assert main(TINY + ["--out", out, "--resume", "--lam", "20"]) == 2
    err = _err(capsys)
    assert len(err) == 1 and "lam was 1.0, now 20.0" in err[0]
    assert model.read_bytes() == before[1]


def test_resume_names_the_setting_that_differs_and_refuses_another_image_set(
        tmp_path, monkeypatch, capsys):
    out = str(tmp_path / "run")
    original = numbadn.DeconvLayer._update_filters

    calls = [0]

    def interrupting(self, *a):
        calls[0] += 1
        if calls[0] == 2:  # after the checkpoint of the first image
            raise KeyboardInterrupt
        return original(self, *a)

    monkeypatch.setattr(numbadn.DeconvLayer, "_update_filters", interrupting)
    args = TINY[:1] + ["city"] + TINY[1:]
    assert main(args + ["--out", out]) == 130
    monkeypatch.setattr(numbadn.DeconvLayer, "_update_filters", original)
    capsys.readouterr()
    assert main(args + ["--out", out, "--resume", "--lam", "20", "--p", "0.5"]) == 2
    err = _err(capsys)
    assert len(err) == 1 and "--lam was 1.0, now 20.0; --p was 1.0, now 0.5" in err[0]
    assert main(args + ["--out", out, "--resume", "--maps", "2,4"]) == 2
    assert "--maps was 2,3, now 2,4" in _err(capsys)[0]
    # an interrupted city run resumed with natural: the same image count, other images
    natural = TINY[:1] + ["natural"] + TINY[1:]
    assert main(natural + ["--out", out, "--resume"]) == 2
    err = _err(capsys)
    assert len(err) == 1 and "another training set: 2 of 2 images differ" in err[0]
    assert "city" in err[0] and "natural" in err[0]


def test_sigterm_writes_a_checkpoint_and_says_how_to_resume(tmp_path, monkeypatch, capsys):
    import signal
    out = str(tmp_path / "run")
    original = numbadn.DeconvLayer._update_filters
    calls = [0]

    def terminating(self, *a):
        calls[0] += 1
        if calls[0] == 1:
            os.kill(os.getpid(), signal.SIGTERM)
        return original(self, *a)

    monkeypatch.setattr(numbadn.DeconvLayer, "_update_filters", terminating)
    args = [a if a != "0" else "1e9" for a in TINY]  # no periodic checkpoint
    assert main(args + ["--out", out]) == 128 + signal.SIGTERM
    err = _err(capsys)[-1]
    ck = tmp_path / "run" / "checkpoint.npz"
    assert ck.exists() and f"checkpoint written to {ck}" in err
    assert "resume with: numbadn train" in err and err.endswith("--resume")
    assert numbadn.DeconvNet.load(ck).trained_ == 0
    monkeypatch.setattr(numbadn.DeconvLayer, "_update_filters", original)
    assert main(args + ["--out", out, "--resume"]) == 0


def test_a_second_train_on_the_same_out_is_refused_while_the_first_runs(tmp_path, capsys):
    from numbadn._files import FolderLock
    out = tmp_path / "run"
    with FolderLock(out):          # the first run holds the folder
        assert main(TINY + ["--out", str(out)]) == 2
        err = _err(capsys)
        assert len(err) == 1 and f"--out {out} is in use" in err[0]
        assert f"pid {os.getpid()}" in err[0]
    assert main(TINY + ["--out", str(out)]) == 0   # free again


def test_a_partial_temp_file_of_a_killed_write_is_gone_after_the_resume(tmp_path, capsys):
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                       capture_output=True, text=True)
    out.mkdir()
    stale = out / f".numbadn-{r.stdout.strip()}-x1y2.tmp"
    stale.write_bytes(b"PK\x03\x04 half a checkpoint")
    assert main(TINY + ["--out", str(out)]) == 0
    assert not stale.exists()
    assert not list(out.glob(".numbadn-*.tmp"))


def _flat_png(tmp_path):
    from PIL import Image
    p = tmp_path / "flat.png"
    Image.fromarray(np.full((40, 40), 128, np.uint8)).save(p)
    return str(p)


def _broken_png(tmp_path):
    d = tmp_path / "imgs"
    d.mkdir(exist_ok=True)
    (d / "broken.png").write_bytes(b"\x89PNG not really")
    import shutil
    shutil.copy(IMG, d / "good.png")
    return str(d)


# (argv, words in the one-line error); "MODEL" is a trained model, "FLAT" a flat image
CLI_BAD = [
    (["train", "--epochs", "0"], "--epochs must be from 1 to 1000, got 0"),
    (["train", "--epochs", "-2"], "--epochs must be from 1 to 1000"),
    (["train", "--n-images", "-3"], "--n-images must be from 0 to 1000000 (0: all), got -3"),
    (["train", "--n-images", "1000"], "holds only 26 images"),
    (["train", "--checkpoint-every", "nan"], "--checkpoint-every must be a finite number"),
    (["train", "--checkpoint-every", "-1"], "--checkpoint-every must be >= 0"),
    (["train", "--lam", "nan"], "--lam must be a finite number"),
    (["train", "--lam", "0"], "--lam must be > 0 and <= 1e+06, got 0"),
    (["train", "--p", "0"], "--p must be > 0 and <= 1, got 0"),
    (["train", "--p", "inf"], "--p must be a finite number"),
    (["train", "--filter-size", "0"], "--filter-size must be from 1 to 255"),
    (["train", "--filter-size", "100000"], "--filter-size must be from 1 to 255"),
    (["train", "--max-iter", "0"], "--max-iter must be from 1 to 100000"),
    (["train", "--size", "-5"], "--size must be from 0 to 8192"),
    (["train", "--seed", "-1"], "--seed must be from 0 to 4294967295"),
    (["train", "--threads", "0"], "--threads must be >= 1"),
    (["train", "--maps", "0,4"], "--maps must list positive"),
    (["train", "--maps", ""], "--maps"),
    (["train", "--resume", "--out", "OUT"], "--resume: there is no checkpoint"),
    (["show", "MODEL", "--layer", "0"], "--layer must be from 1 to 2"),
    (["show", "MODEL", "--layer", "3"], "--layer must be from 1 to 2"),
    (["show", "MODEL", "--samples", "-2"], "--samples must be from 0 to 1000"),
    (["infer", "MODEL", "IMG", "--layer", "0"], "--layer must be from 1 to 2"),
    (["infer", "MODEL", "IMG", "--threads", "-1"], "--threads must be >= 1"),
    (["reconstruct", "MODEL", "IMG", "--layer", "5"], "--layer must be from 1 to 2"),
    (["reconstruct", "MODEL", "FLAT"], "is flat"),
    (["denoise", "MODEL", "IMG", "--snr", "nan"], "--snr must be a finite number"),
    (["denoise", "MODEL", "IMG", "--snr", "inf"], "--snr must be a finite number"),
    (["denoise", "MODEL", "IMG", "--lam", "nan"], "--lam must list positive finite"),
    (["denoise", "MODEL", "IMG", "--lam", "0,5"], "--lam must list positive finite"),
    (["denoise", "MODEL", "FLAT"], "is flat"),
    (["denoise", "MODEL", "IMG", "--passes", "0"], "--passes must be from 1 to 100, got 0"),
    (["denoise", "MODEL", "IMG", "--passes", "101"], "--passes must be from 1 to 100"),
    (["bench", "--threads", "abc"], "--threads must be comma-separated positive integers"),
    (["bench", "--threads", "0,2"], "--threads must list positive thread counts"),
    (["bench", "--busy", "-1", "--contention-only"], "--busy must be from 0 to 256"),
    (["infer", "MODEL", "missing.png"], "does not exist"),
    (["show", "OUT"], "is a folder"),
]


@pytest.mark.parametrize("argv, words", CLI_BAD, ids=[" ".join(a) for a, _ in CLI_BAD])
def test_bad_cli_input_is_one_line_naming_the_option(model, tmp_path, argv, words, capsys):
    sub = {"MODEL": str(model / "model.npz"), "IMG": IMG, "OUT": str(tmp_path / "o"),
           "FLAT": _flat_png(tmp_path)}
    (tmp_path / "o").mkdir()
    argv = [sub.get(a, a) for a in argv]
    rc = main(argv + (["--out", str(tmp_path / "x")] if argv[0] == "train" and "--out"
                      not in argv else []))
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0 and len(err) == 1, err
    assert words in err[0] and "Traceback" not in err[0], err[0]
    assert not (tmp_path / "x" / "model.npz").exists()


def test_an_unreadable_image_is_one_warning_line_naming_the_file(tmp_path, capsys):
    src = _broken_png(tmp_path)
    assert main(["train", src, "--quiet", "--epochs", "1", "--maps", "2", "--size", "24",
                 "--out", str(tmp_path / "run")]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("numbadn train: warning: skipped unreadable")
    assert "broken.png" in err[0]
