"""Labelled image sets for recognition (section 4.3) and their train/test splits.

* :func:`load_folder`: any folder-per-class tree (``root/<class>/<image>``),
  e.g. a user's own labelled photographs.
* :func:`load_caltech101`: Caltech-101 (``101_ObjectCategories/<class>/
  image_NNNN.jpg``), grey, 150x150 (footnote 4).
* :func:`load_fashion_mnist`: Fashion-MNIST from Debian's
  ``dataset-fashion-mnist`` (gzipped IDX files), the offline stand-in for
  Caltech-101, upsampled for 16x16 descriptor patches.
* :func:`splits`: the Caltech protocol: per class, ``n_train`` random
  training images and up to ``n_test`` test images from the rest, repeated
  with ``n_splits`` seeds.

Every loader returns a :class:`Labelled`: ``images`` (a sequence of 2-D
float arrays in [0, 1], read on access for the folder loaders), ``labels``
(int array), ``class_names`` and ``paths``.
"""
from __future__ import annotations

import gzip
import struct
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np

__all__ = ["Labelled", "load_folder", "load_caltech101", "load_fashion_mnist", "splits",
           "FASHION_MNIST_DIR", "FASHION_CLASSES", "CALTECH_SIZE", "FASHION_SIZE"]

#: Debian's dataset-fashion-mnist.
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot")
#: Footnote 4: 150x150 images.
CALTECH_SIZE = 150
#: Fashion-MNIST's 28x28 upsampled 3x (bicubic): a 16x16 patch then covers 19% of the
#: image side (Caltech at 150x150: 11%), and the 35x35 grid gives 1225 descriptors.
FASHION_SIZE = 84


class Labelled(NamedTuple):
    """A labelled image set, as the loaders of this module return it.

    Parameters
    ----------
    images : sequence of ndarray of shape (P, Q)
        Grey images in [0, 1] (float32); a folder's are read from their files when
        indexed.
    labels : ndarray of shape (n_images,)
        Class index of each image (0, 1, ...), int64.
    class_names : list of str
        Name of each class, in label order.
    paths : list of str
        Where each image came from (a file, or ``file#index`` for an IDX archive).
    """

    images: Sequence
    labels: np.ndarray
    class_names: list
    paths: list

    def subset(self, idx):
        """The images ``idx``, with their labels and paths.

        Parameters
        ----------
        idx : array_like of int
            Indices of the images to keep, in the order wanted.

        Returns
        -------
        Labelled
            The images (in memory), labels and paths at ``idx``; the same class names.
        """
        idx = np.asarray(idx, dtype=np.int64)
        return Labelled([self.images[i] for i in idx], self.labels[idx], self.class_names,
                        [self.paths[i] for i in idx])


class _Files:
    """Images read from files on access (one file at a time in memory)."""

    def __init__(self, files, size, grey):
        self.files, self.size, self.grey = list(files), size, grey

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        from .data import load_images
        return load_images(self.files[i], size=self.size, grey=self.grey)[0]


def load_folder(root, *, size=None, grey=True, exclude=(), min_per_class=1):
    """A folder-per-class tree: ``root/<class name>/<image files>``.

    Classes are the sub-folders in sorted order (labels 0, 1, ...); images
    within a class are sorted by name.  Files are read when accessed, with
    :func:`numbadn.data.load_images` (``size``: cover then centre-crop).

    Parameters
    ----------
    root : str or path
        The folder holding one sub-folder of images per class.
    size : int or (int, int), optional
        Scale each image to cover this size and centre-crop it to it; ``None``:
        the images' own sizes.
    grey : bool, default True
        Convert to grey.
    exclude : collection of str, default ()
        Class folders to leave out, by name.
    min_per_class : int, default 1
        Least number of image files a class folder must hold.

    Returns
    -------
    Labelled
        The images (read from their files when indexed), labels, class names and paths.

    Raises
    ------
    FileNotFoundError
        ``root`` does not exist.
    ValueError
        ``root`` holds fewer than two class folders, or a class folder holds
        fewer than ``min_per_class`` image files (the message names it).
    """
    from .data import _is_image_file
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"root {str(root)!r} is not a folder")
    classes = sorted(p for p in root.iterdir() if p.is_dir() and p.name not in exclude
                     and not p.name.startswith("."))
    if len(classes) < 2:
        raise ValueError(f"root {str(root)!r} must hold one sub-folder per class (at least "
                         f"two); found {len(classes)}")
    files, labels = [], []
    for k, d in enumerate(classes):
        found = sorted(p for p in d.iterdir() if p.is_file() and _is_image_file(p))
        if len(found) < min_per_class:
            raise ValueError(f"class folder {str(d)!r} holds {len(found)} image file(s); "
                             f"at least {min_per_class} needed")
        files.extend(found)
        labels.extend([k] * len(found))
    return Labelled(_Files(files, size, grey), np.asarray(labels, np.int64),
                    [d.name for d in classes], [str(f) for f in files])


def load_caltech101(root, *, size=CALTECH_SIZE, exclude=(), min_per_class=31):
    """Caltech-101: ``root`` is ``101_ObjectCategories`` or the folder holding it.

    Grey, each image scaled to cover ``size`` x ``size`` and centre-cropped
    (footnote 4: 150x150).  All 102 folders (with ``BACKGROUND_Google``,
    as Lazebnik et al.) unless named in ``exclude``.  Every class must have
    at least ``min_per_class`` images (Caltech-101's smallest has 31: 30
    training images and one test image).

    Parameters
    ----------
    root : str or path
        ``101_ObjectCategories``, or the folder that holds it.
    size : int, default 150
        Side of the square images (footnote 4).
    exclude : collection of str, default ()
        Class folders to leave out, by name.
    min_per_class : int, default 31
        Least number of images per class.

    Returns
    -------
    Labelled
        The grey images (read when indexed), their labels, the class names and paths.
    """
    root = Path(root).expanduser()
    if (root / "101_ObjectCategories").is_dir():
        root = root / "101_ObjectCategories"
    return load_folder(root, size=size, grey=True, exclude=exclude,
                       min_per_class=min_per_class)


def _read_idx(path, magic, ndim):
    """An IDX array (big-endian header, uint8 data), its header checked against its size."""
    with gzip.open(path, "rb") as f:
        head = f.read(4 + 4 * ndim)
        if len(head) != 4 + 4 * ndim:
            raise ValueError(f"{path}: truncated IDX header")
        m, *dims = struct.unpack(f">I{ndim}I", head)
        if m != magic:
            raise ValueError(f"{path}: IDX magic {m:#x}, expected {magic:#x}")
        n = int(np.prod(dims, dtype=np.int64))
        if n > 200_000_000:
            raise ValueError(f"{path}: IDX header declares {dims}, too large")
        data = f.read(n + 1)
    if len(data) != n:
        raise ValueError(f"{path}: IDX header declares {dims} ({n} bytes), file holds "
                         f"{len(data)}")
    return np.frombuffer(data, np.uint8).reshape(dims)


def load_fashion_mnist(root=FASHION_MNIST_DIR, *, subset="t10k", size=FASHION_SIZE,
                       per_class=None, seed=0):
    """Fashion-MNIST (Debian's ``dataset-fashion-mnist``) as a Caltech stand-in.

    Parameters
    ----------
    root : str or path, default :data:`FASHION_MNIST_DIR`
        The folder holding the gzipped IDX files.
    subset : {"t10k", "train"}
        The 10,000 test or 60,000 training images.
    size : int, default 84
        Side after bicubic resizing from 28 (see :data:`FASHION_SIZE`).
    per_class : int, optional
        Keep this many images per class, drawn at random with ``seed``
        (a pool for :func:`splits`, like a Caltech class); ``None``: all.
    seed : int, default 0
        Seed of that draw.

    Returns
    -------
    Labelled
        The images (float32 in [0, 1], ``size`` x ``size``), their labels 0..9, the class
        names of :data:`FASHION_CLASSES` and ``file#index`` paths.
    """
    from PIL import Image
    if subset not in ("t10k", "train"):
        raise ValueError(f"subset must be 't10k' or 'train', got {subset!r}")
    root = Path(root)
    ip = root / f"{subset}-images-idx3-ubyte.gz"
    lp = root / f"{subset}-labels-idx1-ubyte.gz"
    for p in (ip, lp):
        if not p.is_file():
            raise FileNotFoundError(f"{p} not found: install Debian's dataset-fashion-mnist "
                                    f"(apt-get install dataset-fashion-mnist) or pass root=")
    X = _read_idx(ip, 0x803, 3)
    y = _read_idx(lp, 0x801, 1).astype(np.int64)
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"{ip} has {X.shape[0]} images but {lp} has {y.shape[0]} labels")
    if y.max() >= len(FASHION_CLASSES):
        raise ValueError(f"{lp}: labels must be 0..9, found {y.max()}")
    idx = np.arange(y.size)
    if per_class is not None:
        rng = np.random.default_rng(seed)
        keep = []
        for k in range(len(FASHION_CLASSES)):
            members = np.flatnonzero(y == k)
            keep.append(np.sort(rng.choice(members, min(per_class, members.size),
                                           replace=False)))
        idx = np.concatenate(keep)
    images = []
    for i in idx:
        im = Image.fromarray(X[i])
        if size != X.shape[1]:
            im = im.resize((size, size), Image.BICUBIC)
        images.append(np.asarray(im, np.float32) / np.float32(255.0))
    return Labelled(images, y[idx], list(FASHION_CLASSES),
                    [f"{ip}#{i}" for i in idx])


def splits(labels, n_train, *, n_test=50, n_splits=10, seed=0, reserve=None):
    """Caltech-style train/test splits: a list of ``(train_idx, test_idx)``.

    For split ``s`` every class's images are shuffled with seed
    ``(seed, s)``; the first ``n_train`` train, and test images are the next
    ``n_test`` after the first ``reserve`` (default ``n_train``), so that runs
    with 15 and 30 training images (``reserve=30``) share their test images.
    A class with no image left for testing is an error naming it.

    Parameters
    ----------
    labels : array_like of shape (n_images,)
        Class of each image.
    n_train : int
        Training images per class and split.
    n_test : int, default 50
        At most this many test images per class and split (fewer where a class
        has fewer left).
    n_splits : int, default 10
        Number of splits.
    seed : int, default 0
        Seed of the shuffles.
    reserve : int, optional
        Images per class set aside for training before the test images are taken
        (at least ``n_train``; default ``n_train``).

    Returns
    -------
    list of (ndarray, ndarray)
        Per split, the indices of its training and test images.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError("labels must be a non-empty 1-D array")
    for name, v in (("n_train", n_train), ("n_test", n_test), ("n_splits", n_splits)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    reserve = n_train if reserve is None else reserve
    if reserve < n_train:
        raise ValueError(f"reserve ({reserve}) must be at least n_train ({n_train})")
    classes = np.unique(labels)
    if classes.size < 2:
        raise ValueError("labels has a single class; recognition needs at least two")
    for k in classes:
        c = int((labels == k).sum())
        if c <= reserve:
            raise ValueError(f"class {k.item()!r} has {c} images: {reserve} are kept for training, "
                             f"none would be left to test")
    out = []
    for s in range(n_splits):
        rng = np.random.default_rng([seed, s])
        tr, te = [], []
        for k in classes:
            m = rng.permutation(np.flatnonzero(labels == k))
            tr.append(m[:n_train])
            te.append(m[reserve:reserve + n_test])
        out.append((np.concatenate(tr), np.concatenate(te)))
    return out
