"""Denoising with a trained network (section 4.4), in the authors' protocols.

Section 4.4: "Applying Gaussian noise to an image with a SNR of 13.84dB, the
first layer of our model was able to reduce the noise to 16.31dB. Further,
using the latent features of our second layer to reconstruct the image, the
noise was reduced to a SNR of 18.01dB."  The paper says no more; the authors'
toolbox (``Reconstructing/recon.m``, ``Layer/train_recon_layer.m``,
``CreateImages.m``, ``CreateResidualImages.m``,
``Helper/other_computations/compute_snr.m``) shows two protocols, chosen by
its ``CONTRAST_NORMALIZE`` switch, and the paper does not say which it used:

``"raw"`` (``CONTRAST_NORMALIZE=0``)
    the image is grey, its mean removed and rescaled to [-1, 1]
    (``rescale_all_n1_1``) -- :func:`raw_image`; Gaussian noise is added and
    the result clipped to the clean image's range (its "Random" noise type,
    ``0.25 randn`` there; here the standard deviation is set from the wanted
    SNR) -- :func:`add_noise`; the z0 maps are switched on at layer 1
    (section 3.3: "the filters were learned on high-pass filtered images, the
    z0 maps assist in reconstructing raw images") and the SNR compares the
    reconstruction (eq. 12 plus the z0 image) with the clean raw image.
``"highpass"`` (``CONTRAST_NORMALIZE=1``)
    noise is added to the raw image as above, then the clean and the noisy
    image are both contrast-normalised (``CreateResidualImages.m``; here
    :func:`numbadn.preprocess.contrast_normalize`), z0 is off, and the SNR
    compares the reconstruction with the contrast-normalised clean image --
    :func:`highpass_pair`.

In reconstruction mode the toolbox runs each layer's inference for
``maxepochs`` warm-started passes (its ``set_defaults_here.m``: 7 at layer 1,
1 at layers 2 and 3), the continuation schedule restarting at its first beta
each pass: ``passes`` of :func:`denoise`, default :data:`DEFAULT_PASSES`.

SNR is :func:`numbadn.plot.snr_db`, ``10 log10(var(y) / mean((y - y^)^2))``:
the toolbox's ``compute_snr.m`` computes ``10 log10(sum((A - mean(A))^2) /
sum((A - B)^2))`` of the clean image ``A`` and the estimate ``B``, the same
number.

Which ``lambda`` to denoise with is a choice the paper does not state; the
weight of the data term sets how much noise the maps may explain, so it is
tuned per layer on images other than the test images
(``reproduce/sec44_denoising.py``); :data:`DEFAULT_LAM` holds its choice.
"""
from __future__ import annotations

import numpy as np

from . import _validation as V

__all__ = ["raw_image", "add_noise", "highpass_pair", "denoise", "DEFAULT_LAM",
           "DEFAULT_PASSES", "PAPER_SNR", "PROTOCOLS"]

#: Section 4.4: input, layer-1 and layer-2 SNR in dB.
PAPER_SNR = {"input": 13.84, 1: 16.31, 2: 18.01}

#: lambda per layer for denoising raw [-1, 1] images at 13.84 dB (the "raw"
#: protocol) with the paper's continuation solver and :data:`DEFAULT_PASSES`:
#: the best mean SNR over the grid of ``reproduce/sec44_denoising.py`` on
#: validation crops of held-out natural photographs (neither trained on nor
#: test photographs; ``figures/sec44_denoising.json``, "tuned").  The
#: "highpass" protocol needs its own (that file).
DEFAULT_LAM = {1: 5.0, 2: 20.0}

#: Warm-started inference passes per layer: the toolbox's ``maxepochs``
#: (``set_defaults_here.m``: ``[7 1 1 5]``), which ``recon.m`` hands to
#: ``train_recon_layer.m`` for reconstruction.
DEFAULT_PASSES = {1: 7, 2: 1, 3: 1}

#: The toolbox's two denoising protocols (module doc).
PROTOCOLS = ("raw", "highpass")


def raw_image(img):
    """The toolbox's raw input: the image with zero mean and ``max |y| = 1``.

    Parameters
    ----------
    img : array_like of shape (P, Q) or (1, P, Q)
        A grey image in any range.

    Returns
    -------
    ndarray of shape (1, P, Q), float32
    """
    a = V.as_float_array("img", img, (2, 3), np.float32)
    if a.ndim == 3:
        if a.shape[0] != 1:
            raise ValueError(f"img has {a.shape[0]} channels: denoise takes grey images")
        a = a[0]
    a = a - a.mean(dtype=np.float64)
    m = float(np.abs(a).max())
    if m == 0:
        raise ValueError("img is constant: there is nothing to denoise")
    return (a / m)[None].astype(np.float32)


def add_noise(clean, snr, rng=None, clip=True):
    """``clean`` plus white Gaussian noise of variance ``var(clean) / 10^(snr/10)``.

    Parameters
    ----------
    clean : ndarray
        The clean image.
    snr : float
        The wanted SNR in dB (section 4.4: 13.84).
    rng : int, numpy.random.Generator or None
        The random numbers.
    clip : bool, default True
        Clip to ``clean``'s range (the toolbox clips).

    Returns
    -------
    ndarray
        Of ``clean``'s shape and dtype.
    """
    snr = float(snr)
    rng = np.random.default_rng(rng)
    clean = np.asarray(V.refuse_masked("clean", clean))
    sigma = np.sqrt(clean.var(dtype=np.float64) / 10 ** (snr / 10))
    noisy = clean + sigma * rng.standard_normal(clean.shape)
    if clip:
        noisy = np.clip(noisy, clean.min(), clean.max())
    return noisy.astype(clean.dtype)


def highpass_pair(clean, snr, rng=None, *, tol=1e-3):
    """The toolbox's contrast-normalised protocol (``CONTRAST_NORMALIZE=1`` in
    ``recon.m``) for one raw image from :func:`raw_image`.

    Noise is added to the raw image and clipped to its range (:func:`add_noise`'s
    model), then the clean and the noisy image are each contrast-normalised by
    :func:`numbadn.preprocess.contrast_normalize` (with its defaults, as the
    training crops were; both mapped to [0, 1] by the clean image's range
    first), as ``recon.m`` does with ``CreateResidualImages.m``.  Each comes out
    rescaled to a range of width 2, the scale the model was trained on; the
    toolbox does not rescale, so the SNR is measured on one scale: ``to_clean``
    undoes the noisy image's final rescale and applies the clean one's.  The
    noise level is set (bisection on its standard deviation, to ``tol`` dB) so
    that the SNR measured there, ``snr_db(hp_clean, to_clean(hp_noisy))``, is
    ``snr``: the toolbox reports the SNR of the images it compares
    (``train_recon_layer.m`` calls ``compute_snr`` on them).

    Parameters
    ----------
    clean : ndarray of shape (1, P, Q)
        A raw image from :func:`raw_image`.
    snr : float
        The wanted SNR in dB, measured after contrast normalisation.
    rng : int, numpy.random.Generator or None
        The random numbers.
    tol : float, default 1e-3
        Tolerance of the bisection on the noise level, in dB.

    Returns
    -------
    hp_clean, hp_noisy : ndarray of shape (1, P - 4, Q - 4)
        The contrast-normalised clean and noisy images.
    to_clean : callable
        Maps ``hp_noisy`` or a reconstruction of it to ``hp_clean``'s scale.
    """
    from ._figures import snr_db
    from .preprocess import contrast_normalize
    target = float(snr)
    rng = np.random.default_rng(rng)
    clean = V.as_float_array("clean", clean, 3, np.float32)
    lo, hi = float(clean.min()), float(clean.max())
    if not hi > lo:
        raise ValueError("clean is constant: there is nothing to denoise")
    hp_clean, info_c = contrast_normalize((clean - lo) / (hi - lo), return_info=True)
    e = rng.standard_normal(clean.shape)

    def noisy_at(sigma):
        x = np.clip(clean + sigma * e, lo, hi).astype(clean.dtype)
        hp, info = contrast_normalize((x - lo) / (hi - lo), return_info=True)

        def to_clean(r, a=info.scale, b=info.offset):
            r = np.asarray(r)
            return ((r.astype(np.float64) * a + b - info_c.offset) / info_c.scale).astype(r.dtype)
        return hp, to_clean, snr_db(hp_clean, to_clean(hp))

    # the SNR falls as sigma grows: bisect log(sigma) between 1e-4 and 10 x the range
    a, b = np.log(1e-4 * (hi - lo)), np.log(10.0 * (hi - lo))
    while True:
        m = 0.5 * (a + b)
        hp, to_clean, s = noisy_at(np.exp(m))
        if abs(s - target) <= tol or b - a < 1e-9:
            return hp_clean, hp, to_clean
        a, b = (m, b) if s > target else (a, m)


def _per_layer(name, value, layers, default, check):
    """``value`` (a number for every layer, a dict per layer, or None: ``default``)
    as a dict over ``layers``, each checked by ``check(name, v)``."""
    if value is None:
        value = default
    if isinstance(value, dict):
        bad = [k for k in value if not isinstance(k, (int, np.integer)) or isinstance(k, bool)]
        if bad:
            raise TypeError(f"{name} keys must be layer numbers, got {bad[0]!r}")
        return dict(value)
    return {layer: check(name, value) for layer in layers}


def denoise(net, noisy, layers=None, *, lam=None, passes=None, protocol="raw",
            n_jobs=None, top_down=True):
    """Reconstruct ``noisy`` from each layer.

    Parameters
    ----------
    net : DeconvNet
        A trained network (left as it was after the call).
    noisy : ndarray
        ``"raw"`` protocol: a raw image from :func:`raw_image` plus noise;
        ``"highpass"``: a contrast-normalised one (:func:`highpass_pair`).
    layers : iterable of int, optional
        Layers to reconstruct from (default: every trained layer).
    lam : dict or float, optional
        ``lambda`` per layer (``{1: 10, 2: 40}``) or one for all; default
        :data:`DEFAULT_LAM`, else the layer's own.
    passes : dict or int, optional
        Warm-started inference passes per layer (``{1: 7, 2: 1}``) or one
        count for all (:meth:`DeconvNet.infer`'s ``passes``; a layer not
        named gets 1); default :data:`DEFAULT_PASSES`, the toolbox's.
        ``passes=1`` is a single solve from zero maps.
    protocol : {"raw", "highpass"}
        ``"raw"``: z0 maps at layer 1 for this call (section 3.3);
        ``"highpass"``: no z0 maps (module doc).
    n_jobs : int, optional
        Threads for this call (as :class:`DeconvNet`'s ``n_jobs``).
    top_down : bool, default True
        Infer layers >= 2 top-down (eqs. 10-11).

    Returns
    -------
    dict ``layer -> (1, P, Q)`` reconstruction (eq. 12, plus the z0 image
    in the raw protocol).
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(map(repr, PROTOCOLS))}, "
                         f"got {protocol!r}")
    y = V.as_float_array("noisy", noisy, (2, 3), net.layers[0].dtype)
    y = y[None] if y.ndim == 2 else y
    layers = list(range(1, net.trained_ + 1)) if layers is None else list(layers)
    if isinstance(lam, (int, float)):
        lam = {layer: float(lam) for layer in layers}
    lam = dict(DEFAULT_LAM if lam is None else lam)
    top = max(layers, default=1)
    passes = _per_layer("passes", passes, range(1, top + 1), DEFAULT_PASSES,
                        lambda n, v: V.check_int(n, v, minimum=1))
    counts = [V.check_int(f"passes[{i}]", passes.get(i, 1), minimum=1)
              for i in range(1, top + 1)]
    zlow_on = protocol == "raw"
    l1 = net.layers[0]
    saved = [(la.lam, la.lowfreq) for la in net.layers]
    out = {}
    try:
        l1.lowfreq = zlow_on
        for layer in layers:
            for i in range(layer):
                la = net.layers[i]
                la.lam = V.check_positive(f"lam[{i + 1}]", lam.get(i + 1, saved[i][0]))
            kw = dict(layer=layer, n_jobs=n_jobs, top_down=top_down, passes=counts[:layer])
            z, zlow = net.infer_lowfreq(y, **kw) if zlow_on else (net.infer(y, **kw), None)
            out[layer] = net.reconstruct(z, layer=layer, zlow=zlow)
    finally:
        for la, (lm, lf) in zip(net.layers, saved):
            la.lam, la.lowfreq = lm, lf
    return out
