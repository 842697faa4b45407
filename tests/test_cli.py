"""The command line end to end on the built-in images, and its error paths."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import numbadn
from numbadn.cli import main

IMG = str(Path(numbadn.__file__).parent / "datasets" / "food" / sorted(
    os.listdir(Path(numbadn.__file__).parent / "datasets" / "food"))[0])


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    rc = main(["train", "--quiet", "--epochs", "1", "--n-images", "3", "--maps", "3,4",
               "--size", "40", "--out", str(out)])
    assert rc == 0
    return out


def test_train_writes_model_and_figures(model, capsys):
    assert (model / "model.npz").stat().st_size > 0
    for i in (1, 2):
        assert (model / f"layer{i}_filters.png").stat().st_size > 0
    assert not (model / "checkpoint.npz").exists()  # removed after a finished run
    net = numbadn.DeconvNet.load(model / "model.npz")
    assert net.trained_ == 2 and [la.n_maps for la in net.layers] == [3, 4]
    assert net.meta["preprocess"] == "contrast_normalize"


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
        np.testing.assert_array_equal(a.filters, b.filters)


@pytest.mark.parametrize("argv, words", [
    (["infer", "missing.npz", "x.png"], "does not exist"),
    (["train", "/nonexistent/folder"], "does not exist"),
    (["train", "--maps", "9,x"], "--maps"),
    (["train", "--p", "1.5", "--n-images", "1"], "p must be in (0, 1]"),
    (["train", "--lam", "-1", "--n-images", "1"], "lam"),
])
def test_bad_input_gives_one_line_error(argv, words, capsys):
    assert main(argv) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0] and "Traceback" not in err[0]


def test_wrong_model_file_is_one_line_error(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a model")
    assert main(["show", str(bad)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a readable numbadn model" in err[0]


def test_help_and_module_entry_point():
    r = subprocess.run([sys.executable, "-m", "numbadn", "train", "--help"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "--resume" in r.stdout and "paper" in r.stdout
    r = subprocess.run([sys.executable, "-m", "numbadn"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "train" in r.stdout


def test_readme_test_command_is_what_ci_runs():
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text().splitlines()
    ci = (root / ".ci" / "run").read_text()
    test_cmd = next(line for line in readme[:6] if "pytest" in line).split("#")[0].strip()
    assert test_cmd in ci
