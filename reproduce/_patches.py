"""The patch-based baseline of section 4.2 (Mairal et al., ref. [16]) for Figs. 4-6.

The paper compares the Deconvolutional Network with "the patch-based sparse
decomposition approach of Mairal et al. [16]", run with the SPAMS code: a
dictionary of 100 elements learned on image patches (online dictionary
learning, each patch coded by the lasso

.. math:: \\min_\\alpha \\tfrac12 \\|x - D\\alpha\\|_2^2 + a \\|\\alpha\\|_1,

SPAMS ``trainDL`` mode 2), a second layer learned the same way on the codes
"arranged into a map over the image" (Fig. 4), sliding-window codes (Fig. 5)
and images rebuilt by averaging the overlapping patches while the number of
active atoms per patch varies (OMP, Fig. 6).

SPAMS is used when ``import spams`` works (PyPI ``spams-bin``); otherwise
scikit-learn's ``MiniBatchDictionaryLearning`` and ``sparse_encode``, which
minimise the same objectives (same ``a``).  :func:`backend` says which.

Shapes: an image ``x`` is ``(P, Q)`` or ``(C, P, Q)``; the windows of a
``s x s`` patch at stride 1 number ``(P - s + 1) x (Q - s + 1)``; a patch
vector is the window flattened channel-major, ``C * s * s`` long; a
dictionary ``D`` is ``(K, C * s * s)`` with unit-norm rows (atoms); code maps
are ``(K, P - s + 1, Q - s + 1)``.

Also here: :func:`held_out_images`, the test crops of Figs. 5 and 6 (crops
the Deconvolutional Network was not trained on).  The measures the three
scripts print (:func:`coherence`, :func:`shift_change`,
:func:`window_change`, :func:`error_at_sparsity`, ...) live in
``_patch_measures.py`` and are re-exported here.  Each is tested in
``tests/test_reproduce_patches.py``.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402
from _patch_measures import (best_match, coherence, error_at_sparsity,  # noqa: E402,F401
                             montage, shift_change, spatial_extent, window_change)

#: Section 4.2: "using 100 dictionary elements".
N_ATOMS = 100
#: Patch side (the paper does not say; 7x7 like the DN filters of section 4).
PATCH = 7
#: Lasso weight relative to the median patch norm: Mairal et al.'s
#: ``lambda = 1.2 / sqrt(m)`` for unit-norm ``m``-pixel patches (SPAMS demos,
#: ``m = 49``), scaled to the norm of our (not normalised) patches.  Used for
#: both layers, so the layer-2 codes are as sparse relative to their input.
ALPHA_REL = 1.2 / PATCH


# ------------------------------------------------------------------ backend
def backend(prefer=None):
    """``"spams"`` when SPAMS imports (or ``prefer`` says so and it does), else ``"sklearn"``."""
    if prefer == "sklearn":
        return "sklearn"
    try:
        import spams  # noqa: F401
    except ImportError:
        if prefer == "spams":
            raise ImportError("SPAMS is not installed: pip install spams-bin") from None
        return "sklearn"
    return "spams"


def parse_args(doc, argv=None):
    """The shared options of ``_common.parser`` plus ``--method``; sets the thread
    count and prints which patch-based implementation runs.  Returns ``(args, method)``."""
    ap = _common.parser(doc)
    ap.add_argument("--method", choices=("spams", "sklearn"), default=None,
                    help="patch-based implementation (default: SPAMS when importable)")
    args = ap.parse_args(argv)
    _common.set_threads(args)
    method = backend(args.method)
    print(backend_notice(method))
    return args, method


def backend_notice(name):
    """One line saying which implementation of [16] is used."""
    if name == "spams":
        import spams
        ver = getattr(spams, "__version__", None)
        try:
            from importlib.metadata import version
            ver = ver or version("spams-bin")
        except Exception:  # pragma: no cover - metadata missing
            pass
        return f"patch-based baseline: SPAMS {ver or ''} (the paper's code: trainDL, lasso, omp)"
    import sklearn
    return (f"patch-based baseline: SPAMS not importable (pip install spams-bin), using "
            f"scikit-learn {sklearn.__version__} MiniBatchDictionaryLearning + sparse_encode "
            f"(same objectives)")


def _threads():
    """SPAMS threads: 1.  spams-bin's OpenMP threads on top of its OpenBLAS threads
    oversubscribe the cores (trainDL on 4900-d data: 23 s with 2 threads, 0.6 s with 1)."""
    return 1


# ------------------------------------------------------------------ patches
def _as_chw(x):
    x = np.asarray(x, np.float64)
    if x.ndim == 2:
        return x[None]
    if x.ndim != 3:
        raise ValueError(f"x must be (P, Q) or (C, P, Q), got shape {x.shape}")
    return x


def extract_patches(x, size):
    """Every ``size x size`` window of ``x`` at stride 1.

    Parameters
    ----------
    x : ndarray of shape (P, Q) or (C, P, Q)
    size : int

    Returns
    -------
    ndarray of shape (P - size + 1, Q - size + 1, C * size * size)
        ``out[i, j]`` is ``x[:, i:i+size, j:j+size]`` flattened channel-major.
    """
    x = _as_chw(x)
    C, P, Q = x.shape
    if size > min(P, Q):
        raise ValueError(f"patch size {size} is larger than the image {P}x{Q}")
    w = np.lib.stride_tricks.sliding_window_view(x, (size, size), axis=(1, 2))
    # w: (C, P-s+1, Q-s+1, s, s) -> (P-s+1, Q-s+1, C, s, s)
    return np.ascontiguousarray(w.transpose(1, 2, 0, 3, 4)).reshape(
        P - size + 1, Q - size + 1, C * size * size)


def average_patches(patches, size, n_channels=1):
    """The image whose pixels are the mean of every window covering them.

    The inverse of :func:`extract_patches` for consistent patches, and the
    usual reconstruction of patch-based methods for inconsistent ones.

    Parameters
    ----------
    patches : ndarray of shape (R, S, C * size * size)
    size : int
    n_channels : int

    Returns
    -------
    ndarray of shape (C, R + size - 1, S + size - 1)
    """
    R, S, _ = patches.shape
    p = np.asarray(patches, np.float64).reshape(R, S, n_channels, size, size)
    out = np.zeros((n_channels, R + size - 1, S + size - 1))
    cnt = np.zeros((R + size - 1, S + size - 1))
    for di in range(size):
        for dj in range(size):
            out[:, di:di + R, dj:dj + S] += p[:, :, :, di, dj].transpose(2, 0, 1)
            cnt[di:di + R, dj:dj + S] += 1
    return out / cnt


def sample_patches(images, size, n, rng, nonzero=False):
    """``n`` windows drawn uniformly from ``images`` (about ``n / len(images)`` each),
    without building every window (the 7x7x100 blocks of code maps would not fit).

    ``nonzero``: only windows holding some nonzero value.

    Returns
    -------
    ndarray of shape (n', C * size * size), ``n' <= n``
    """
    per = -(-n // len(images))
    rows = []
    for x in images:
        x = _as_chw(x)
        C, P, Q = x.shape
        R, S = P - size + 1, Q - size + 1
        idx = rng.permutation(R * S)
        if nonzero:
            nz = np.abs(x).sum(0) > 0
            cs = np.pad(nz.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
            box = (cs[size:, size:] - cs[:-size, size:] - cs[size:, :-size]
                   + cs[:-size, :-size])
            idx = idx[box.ravel()[idx] > 0]
        idx = idx[:per]
        w = np.lib.stride_tricks.sliding_window_view(x, (size, size), axis=(1, 2))
        blk = w[:, idx // S, idx % S]            # (C, n, s, s)
        rows.append(blk.transpose(1, 0, 2, 3).reshape(len(idx), C * size * size))
    X = np.concatenate(rows)
    return X[rng.permutation(len(X))[:n]]


# ------------------------------------------------------------------ coding
def learn_dictionary(X, n_atoms=N_ATOMS, *, alpha, n_iter=200, batch_size=256, seed=0,
                     method=None):
    """Online dictionary learning (Mairal et al. 2009) on the rows of ``X``.

    Minimises ``sum_i 0.5 ||x_i - D^T a_i||^2 + alpha ||a_i||_1`` over unit-norm
    atoms.  Initialised with ``n_atoms`` random rows of ``X`` (seeded).

    Parameters
    ----------
    X : ndarray of shape (n, d)
    method : "spams", "sklearn" or None (SPAMS when importable)

    Returns
    -------
    D : ndarray of shape (n_atoms, d), unit-norm rows
    """
    X = np.asarray(X, np.float64)
    rng = np.random.default_rng(seed)
    D0 = X[rng.choice(len(X), n_atoms, replace=len(X) < n_atoms)]
    D0 = D0 + 1e-3 * rng.standard_normal(D0.shape)  # no zero or repeated atoms
    D0 /= np.linalg.norm(D0, axis=1, keepdims=True)
    if backend(method) == "spams":
        import spams
        D = spams.trainDL(np.asfortranarray(X.T), D=np.asfortranarray(D0.T), lambda1=alpha,
                          mode=2, iter=n_iter, batchsize=batch_size, numThreads=_threads(),
                          verbose=False)
        D = np.asarray(D).T
    else:
        from sklearn.decomposition import MiniBatchDictionaryLearning
        dl = MiniBatchDictionaryLearning(n_components=n_atoms, alpha=alpha,
                                         batch_size=batch_size,
                                         max_iter=max(1, n_iter * batch_size // len(X)),
                                         dict_init=D0, fit_algorithm="lars",
                                         transform_algorithm="lasso_lars", random_state=seed)
        D = dl.fit(X).components_
    D = np.ascontiguousarray(D)
    D /= np.maximum(np.linalg.norm(D, axis=1, keepdims=True), 1e-12)
    return D


def encode(X, D, *, alpha=None, n_nonzero=None, method=None):
    """Sparse codes of the rows of ``X`` on the atoms ``D``.

    ``alpha``: the lasso ``0.5 ||x - D^T a||^2 + alpha ||a||_1`` (SPAMS
    ``lasso`` mode 2, scikit-learn ``lasso_lars``); ``n_nonzero``: OMP with at
    most that many atoms per patch (SPAMS ``omp``, scikit-learn ``omp``).

    Returns
    -------
    ndarray of shape (n, K)
    """
    if (alpha is None) == (n_nonzero is None):
        raise ValueError("give exactly one of alpha (lasso) or n_nonzero (OMP)")
    X = np.asarray(X, np.float64)
    if backend(method) == "spams":
        import spams
        Xf, Df = np.asfortranarray(X.T), np.asfortranarray(D.T)
        if alpha is not None:
            A = spams.lasso(Xf, D=Df, lambda1=alpha, mode=2, numThreads=_threads())
        else:
            A = spams.omp(Xf, Df, L=int(n_nonzero), numThreads=_threads())
        return np.asarray(A.T.todense())
    from sklearn.decomposition import sparse_encode
    if alpha is not None:
        return sparse_encode(X, D, algorithm="lasso_lars", alpha=alpha)
    return sparse_encode(X, D, algorithm="omp", n_nonzero_coefs=int(n_nonzero))


def code_maps(x, D, size, **code):
    """Codes of every stride-1 window of ``x``, "arranged into a map over the image".

    Returns
    -------
    ndarray of shape (K, P - size + 1, Q - size + 1)
    """
    X = extract_patches(x, size)
    R, S, d = X.shape
    A = encode(X.reshape(R * S, d), D, **code)
    return np.ascontiguousarray(A.T.reshape(len(D), R, S))


def reconstruct(maps, D, size, n_channels=1):
    """The image rebuilt from code maps: every window's patch ``D^T a``, averaged."""
    K, R, S = maps.shape
    patches = maps.reshape(K, R * S).T @ D
    return average_patches(patches.reshape(R, S, -1), size, n_channels)


def project_layer2(D2, D1, size2, size1):
    """Layer-2 atoms in pixel space (Fig. 4 right).

    A layer-2 atom is a ``(K1, size2, size2)`` block of layer-1 codes; each
    code ``a[k, i, j]`` puts layer-1 atom ``k`` at window ``(i, j)``; the
    windows are summed (the overlap average of :func:`reconstruct` inside
    the image, up to the constant ``size1**2``).

    Returns
    -------
    ndarray of shape (K2, size1 + size2 - 1, size1 + size2 - 1)
    """
    K1 = D1.shape[0]
    A = D2.reshape(len(D2), K1, size2, size2)
    atoms = D1.reshape(K1, size1, size1)
    H = size1 + size2 - 1
    out = np.zeros((len(D2), H, H))
    for i in range(size2):
        for j in range(size2):
            out[:, i:i + size1, j:j + size1] += np.einsum("bk,kuv->buv", A[:, :, i, j], atoms)
    return out


class PatchHierarchy:
    """Two layers of patch-based sparse coding (section 4.2).

    Layer 1: a dictionary of ``n_atoms`` atoms on ``size1 x size1`` image
    patches; the lasso codes of every window form ``n_atoms`` maps over the
    image.  Layer 2: a dictionary of ``n_atoms`` atoms on ``size2 x size2 x
    n_atoms`` blocks of those maps ("Applying the SPAMS code to this map
    produces the 2nd layer filters").

    Parameters
    ----------
    alpha_rel : lasso weight of each layer relative to the median norm of
        its training patches (:data:`ALPHA_REL`); the weights used are
        ``alpha1_`` and ``alpha2_``
    n_patches1, n_patches2 : training patches drawn at random (layer 2: from
        blocks with any nonzero code only)
    """

    def __init__(self, n_atoms=N_ATOMS, size1=PATCH, size2=PATCH, *, alpha_rel=ALPHA_REL,
                 n_patches1=20000, n_patches2=5000, n_iter=200, batch_size=256, seed=0,
                 method=None):
        self.n_atoms, self.size1, self.size2 = n_atoms, size1, size2
        self.alpha_rel = alpha_rel
        self.n_patches1, self.n_patches2 = n_patches1, n_patches2
        self.n_iter, self.batch_size, self.seed = n_iter, batch_size, seed
        self.method = backend(method)

    def fit_layer1(self, images):
        """Learn ``D1_`` only (Figs. 5 and 6); returns self."""
        self._rng = np.random.default_rng(self.seed)
        X1 = sample_patches(images, self.size1, self.n_patches1, self._rng)
        self.alpha1_ = self.alpha_rel * float(np.median(np.linalg.norm(X1, axis=1)))
        self.D1_ = learn_dictionary(X1, self.n_atoms, alpha=self.alpha1_, n_iter=self.n_iter,
                                    batch_size=self.batch_size, seed=self.seed,
                                    method=self.method)
        return self

    def fit(self, images):
        """Learn ``D1_`` and ``D2_`` from a list of (P, Q) images; returns self."""
        self.fit_layer1(images)
        rng = self._rng
        maps = [self.maps(y) for y in images]
        self.layer1_active_ = float(np.mean([(m != 0).sum(0).mean() for m in maps]))
        X2 = sample_patches(maps, self.size2, self.n_patches2, rng, nonzero=True)
        self.alpha2_ = self.alpha_rel * float(np.median(np.linalg.norm(X2, axis=1)))
        self.D2_ = learn_dictionary(X2, self.n_atoms, alpha=self.alpha2_, n_iter=self.n_iter,
                                    batch_size=self.batch_size, seed=self.seed + 1,
                                    method=self.method)
        self.layer2_active_ = float((encode(X2[:2000], self.D2_, alpha=self.alpha2_,
                                            method=self.method) != 0).sum(1).mean())
        return self

    def maps(self, y, **code):
        """Layer-1 code maps of ``y`` (lasso with ``alpha1_`` unless ``code`` says otherwise)."""
        code = code or {"alpha": self.alpha1_}
        return code_maps(y, self.D1_, self.size1, method=self.method, **code)

    def reconstruct(self, maps):
        """The image rebuilt from layer-1 code maps (overlapping patches averaged)."""
        return reconstruct(maps, self.D1_, self.size1)[0]

    def pixel_atoms(self, layer):
        """Atoms in pixel space: layer 1 ``(K, s1, s1)``, layer 2 ``(K, s1+s2-1, s1+s2-1)``."""
        if layer == 1:
            return self.D1_.reshape(-1, self.size1, self.size1)
        return project_layer2(self.D2_, self.D1_, self.size2, self.size1)


# ------------------------------------------------------------------ test crops
def held_out_images(args, name, n, seed=0):
    """``n`` contrast-normalised 100x100 crops of set ``name`` that the
    Deconvolutional Network of ``reproduce/train_models.py`` was not trained on.

    Which crops the model saw follows ``_common.training_images``: in
    full mode the ``-full`` photographs, so the crops come from the
    ``<name>-heldout`` photographs (``numbadn.data.PHOTOGRAPHS``: other
    photographs of the same kind, never trained on); with ``--quick`` the
    built-in crops after the first ones (quick training); with ``--images``
    the built-in crops (every one is held out).  ``n`` of the candidates are
    drawn with ``_common.split_train_test``.

    Returns
    -------
    ys : list of ndarray (96, 96)
    desc : str
    raws : list of ndarray (100, 100), the crops before contrast normalisation
    """
    import numbadn.data as data
    from numbadn.preprocess import contrast_normalize
    src = _common.image_source(args, name)
    if src.endswith("-full") and not args.quick:
        by_photo = data.crops_by_photograph(f"{name}-heldout")
        cands = [(f"{label}#{i}", c) for label, crops in by_photo.items()
                 for i, c in enumerate(crops)]
        why = (f"crops of the {name}-heldout photographs, outside the {src} training set "
               f"({', '.join(by_photo)})")
    else:
        files = sorted((Path(data.__file__).parent / "datasets" / name).glob("*.png"))
        if args.quick and not args.images:
            files = files[_common.QUICK["n_images"]:]
            why = (f"built-in crops after the first {_common.QUICK['n_images']} "
                   "(quick training)")
        elif args.images:
            why = "built-in crops (the model was trained on --images)"
        else:
            # full mode without the -full sets: the model saw the built-in crops
            why = "built-in crops: WARNING, the model was trained on these too (no held-out set)"
        cands = [(f.stem, im) for f, im in zip(files, data.load_images([str(f) for f in files]))]
    _, test = _common.split_train_test(len(cands), min(n, len(cands)), seed)
    chosen = [cands[i] for i in test]
    raws = [np.asarray(im, dtype=np.float32) for _, im in chosen]
    ys = [contrast_normalize(im, std_floor=_common.SECTION41_STD_FLOOR) for im in raws]
    desc = f"{len(ys)} held-out {why}: " + ", ".join(k for k, _ in chosen)
    return ys, desc, raws
