"""Denoising with a trained network (section 4.4), in the authors' protocol.

Section 4.4: "Applying Gaussian noise to an image with a SNR of 13.84dB, the
first layer of our model was able to reduce the noise to 16.31dB. Further,
using the latent features of our second layer to reconstruct the image, the
noise was reduced to a SNR of 18.01dB."  The paper says no more; the authors'
toolbox (``recon.m``, ``train_recon_layer.m``, ``CreateImages.m``) shows:

* the image is raw (not contrast-normalised): grey, its mean removed and
  rescaled to [-1, 1] (``rescale_all_n1_1``) -- :func:`raw_image`;
* Gaussian noise is added to that image and the result clipped to the clean
  image's range (its "Random" noise type, ``0.25 randn`` there; here the
  standard deviation is set from the wanted SNR) -- :func:`add_noise`;
* without contrast normalisation the z0 maps are switched on at layer 1
  (section 3.3: "the filters were learned on high-pass filtered images, the
  z0 maps assist in reconstructing raw images");
* layer ``l`` reconstructs the image from its maps through every filter
  below (eq. 12) plus the z0 image, and the SNR compares it with the clean
  image.  The toolbox's ``compute_snr`` is not in its published copy; SNR
  here is :func:`numbadn.plot.snr_db`, ``10 log10(var(y) / mean((y - y^)^2))``.

Which ``lambda`` to denoise with is a choice the paper does not state; the
weight of the data term sets how much noise the maps may explain, so it is
tuned per layer on images other than the test images
(``reproduce/sec44_denoising.py``); :data:`DEFAULT_LAM` holds its choice.
"""
from __future__ import annotations

import numpy as np

from . import _validation as V

__all__ = ["raw_image", "add_noise", "denoise", "DEFAULT_LAM", "PAPER_SNR"]

#: Section 4.4: input, layer-1 and layer-2 SNR in dB.
PAPER_SNR = {"input": 13.84, 1: 16.31, 2: 18.01}

#: lambda per layer for denoising raw [-1, 1] images at 13.84 dB with the
#: paper's continuation solver: the best mean SNR over the grid of
#: ``reproduce/sec44_denoising.py`` on validation crops of the food training
#: photographs (numbadn's fruit set before issue 20; ``figures/sec44_denoising.json``, "tuned").
DEFAULT_LAM = {1: 10.0, 2: 40.0}


def raw_image(img):
    """The toolbox's raw input: grey ``(P, Q)`` or ``(1, P, Q)`` in any range ->
    ``(1, P, Q)`` float32 with zero mean and ``max |y| = 1``."""
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
    """``clean`` plus white Gaussian noise of variance ``var(clean) / 10^(snr/10)``,
    clipped to ``clean``'s range (the toolbox clips), as ``clean``'s dtype."""
    snr = float(snr)
    rng = np.random.default_rng(rng)
    clean = np.asarray(clean)
    sigma = np.sqrt(clean.var(dtype=np.float64) / 10 ** (snr / 10))
    noisy = clean + sigma * rng.standard_normal(clean.shape)
    if clip:
        noisy = np.clip(noisy, clean.min(), clean.max())
    return noisy.astype(clean.dtype)


def denoise(net, noisy, layers=None, *, lam=None, n_threads=None, top_down=True):
    """Reconstruct ``noisy`` (a raw image from :func:`raw_image`) from each layer.

    Parameters
    ----------
    net : DeconvNet
        A trained network; its layer 1 gets z0 maps for this call (the
        network itself is left as it was).
    layers : iterable of int, optional
        Layers to reconstruct from (default: every trained layer).
    lam : dict or float, optional
        ``lambda`` per layer (``{1: 10, 2: 40}``) or one for all; default
        :data:`DEFAULT_LAM`, else the layer's own.

    Returns
    -------
    dict ``layer -> (1, P, Q)`` reconstruction (eq. 12 plus the z0 image).
    """
    y = V.as_float_array("noisy", noisy, (2, 3), net.layers[0].dtype)
    y = y[None] if y.ndim == 2 else y
    layers = list(range(1, net.trained_ + 1)) if layers is None else list(layers)
    if isinstance(lam, (int, float)):
        lam = {layer: float(lam) for layer in layers}
    lam = dict(DEFAULT_LAM if lam is None else lam)
    l1 = net.layers[0]
    saved = [(la.lam, la.lowfreq) for la in net.layers]
    out = {}
    try:
        l1.lowfreq = True
        for layer in layers:
            for i in range(layer):
                la = net.layers[i]
                la.lam = V.check_positive(f"lam[{i + 1}]", lam.get(i + 1, saved[i][0]))
            z, zlow = net.infer(y, layer=layer, n_threads=n_threads, top_down=top_down,
                                return_lowfreq=True)
            out[layer] = net.reconstruct(z, layer=layer, zlow=zlow)
    finally:
        for la, (lm, lf) in zip(net.layers, saved):
            la.lam, la.lowfreq = lm, lf
    return out

