"""numbadn.labelled: folder-per-class trees, Caltech-101, Fashion-MNIST IDX files, splits."""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from numbadn import labelled as L



def write_tree(root, counts, size=(60, 45), mode="RGB", ext=".jpg"):
    g = np.random.default_rng(0)
    for name, n in counts.items():
        d = root / name
        d.mkdir(parents=True)
        for i in range(n):
            arr = (g.random((size[1], size[0], 3)) * 255).astype(np.uint8)
            Image.fromarray(arr).convert(mode).save(d / f"image_{i + 1:04d}{ext}")


def test_folder_tree_gives_sorted_classes_and_labels(tmp_path):
    write_tree(tmp_path, {"zebra": 3, "ant": 2, "moth": 4})
    (tmp_path / "notes.txt").write_text("not a class")
    data = L.load_folder(tmp_path)
    assert data.class_names == ["ant", "moth", "zebra"]
    assert data.labels.tolist() == [0, 0, 1, 1, 1, 1, 2, 2, 2]
    assert len(data.images) == 9
    im = data.images[0]
    assert im.shape == (45, 60) and im.dtype == np.float32 and 0 <= im.min() <= im.max() <= 1
    assert Path(data.paths[2]).parent.name == "moth"


def test_empty_class_folder_is_an_error_naming_it(tmp_path):
    write_tree(tmp_path, {"a": 2, "b": 2})
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty.*holds 0 image"):
        L.load_folder(tmp_path)
    with pytest.raises(ValueError, match="at least two"):
        L.load_folder(tmp_path / "a")
    with pytest.raises(FileNotFoundError, match="not a folder"):
        L.load_folder(tmp_path / "missing")


def test_caltech101_tree_is_read_grey_at_150x150(tmp_path):
    root = tmp_path / "caltech" / "101_ObjectCategories"
    write_tree(root, {"accordion": 3, "BACKGROUND_Google": 3, "airplanes": 3},
               size=(300, 200))
    data = L.load_caltech101(tmp_path / "caltech", min_per_class=3)
    assert data.class_names == ["BACKGROUND_Google", "accordion", "airplanes"]
    assert data.images[4].shape == (150, 150)
    data = L.load_caltech101(root, exclude=("BACKGROUND_Google",), min_per_class=3)
    assert data.class_names == ["accordion", "airplanes"]
    with pytest.raises(ValueError, match="at least 31 needed"):
        L.load_caltech101(root)


def write_idx(path, arr, magic):
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(f">I{arr.ndim}I", magic, *arr.shape))
        f.write(arr.astype(np.uint8).tobytes())


def test_fashion_mnist_idx_files_are_read_and_upsampled(tmp_path):
    g = np.random.default_rng(1)
    X = (g.random((40, 28, 28)) * 255).astype(np.uint8)
    y = np.arange(40) % 10
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", X, 0x803)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", y, 0x801)
    data = L.load_fashion_mnist(tmp_path, size=28)
    np.testing.assert_allclose(data.images[7], X[7] / 255.0, rtol=1e-6)
    assert data.labels.tolist() == y.tolist() and data.class_names[9] == "Ankle boot"
    data = L.load_fashion_mnist(tmp_path, per_class=2, seed=3)
    assert data.images[0].shape == (84, 84) and np.bincount(data.labels).tolist() == [2] * 10


def test_damaged_idx_files_are_refused(tmp_path):
    X = np.zeros((5, 28, 28), np.uint8)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", X, 0x801)          # wrong magic
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(5), 0x801)
    with pytest.raises(ValueError, match="magic"):
        L.load_fashion_mnist(tmp_path)
    with gzip.open(tmp_path / "t10k-images-idx3-ubyte.gz", "wb") as f:     # truncated
        f.write(struct.pack(">IIII", 0x803, 5, 28, 28) + bytes(100))
    with pytest.raises(ValueError, match="file holds 100"):
        L.load_fashion_mnist(tmp_path)
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        L.load_fashion_mnist(tmp_path / "nowhere")


@pytest.mark.skipif(not Path(L.FASHION_MNIST_DIR).is_dir(), reason="no dataset-fashion-mnist")
def test_the_debian_fashion_mnist_has_ten_balanced_classes():
    data = L.load_fashion_mnist(per_class=3)
    assert len(data.images) == 30 and sorted(set(data.labels.tolist())) == list(range(10))


def test_splits_follow_the_caltech_protocol():
    labels = np.repeat(np.arange(3), [40, 35, 90])
    s15 = L.splits(labels, 15, n_test=50, n_splits=3, seed=7, reserve=30)
    s30 = L.splits(labels, 30, n_test=50, n_splits=3, seed=7, reserve=30)
    for (tr15, te15), (tr30, te30) in zip(s15, s30):
        assert np.bincount(labels[tr15]).tolist() == [15, 15, 15]
        assert np.bincount(labels[te15]).tolist() == [10, 5, 50]   # the rest, at most 50
        assert not set(tr30) & set(te30)
        assert set(tr15) <= set(tr30)
        np.testing.assert_array_equal(te15, te30)                # same test images
    assert not np.array_equal(s15[0][0], s15[1][0])                  # splits differ
    again = L.splits(labels, 15, n_test=50, n_splits=3, seed=7, reserve=30)
    np.testing.assert_array_equal(again[2][1], s15[2][1])            # and repeat
    with pytest.raises(ValueError, match="class 0 has 40 images"):
        L.splits(labels, 40)
    with pytest.raises(ValueError, match="single class"):
        L.splits(np.zeros(10, int), 2)


def test_table1_score_is_the_mean_per_class_accuracy():
    from sklearn.metrics import balanced_accuracy_score
    import _stats
    g = np.random.default_rng(2)
    y = np.repeat(np.arange(4), [5, 10, 20, 3])
    pred = np.where(g.random(y.size) < 0.6, y, g.integers(0, 4, y.size))
    assert _stats.per_class_accuracy(y, pred) == pytest.approx(balanced_accuracy_score(y, pred))


def test_table1_verdicts_are_three_valued_from_paired_tests_over_splits():
    """A clear lead over 10 splits holds, a clear deficit does not hold, noise around
    zero is not supported; the best-feature claim needs DN-(1+2) above both layers."""
    import table1_recognition as T
    g = np.random.default_rng(3)
    base = 70 + g.normal(0, 2, 10)

    def run(sift_shift, dn1_shift, dn2_shift, noise=0.3):
        acc = {"dn-1+2": {15: list(base)},
               "sift": {15: list(base - sift_shift + g.normal(0, noise, 10))},
               "dn-1": {15: list(base - dn1_shift + g.normal(0, noise, 10))},
               "dn-2": {15: list(base - dn2_shift + g.normal(0, noise, 10))}}
        res = {f: {15: {"mean": float(np.mean(v[15]))}} for f, v in acc.items()}
        return [c[1] for c in T.claims(acc, res, 15)], T.claims(acc, res, 15)

    (beats, best), c = run(2.0, 2.0, 3.0)
    assert (beats, best) == ("holds", "holds")
    assert "Wilcoxon" in c[0][3] and "10 splits" in c[0][3]
    assert run(-2.0, 2.0, -3.0)[0] == ["does not hold", "does not hold"]
    assert run(0.0, 0.0, 3.0, noise=2.0)[0] == ["not supported", "not supported"]
