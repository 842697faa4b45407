"""Inpainting with a trained network (beyond the paper).

The model is generative: inferred against the observed pixels only, with the
masked data term ``lam/2 ||W (F z - y)||^2`` (``W`` 0 at a missing pixel; see
:class:`numbadn.kernels.Masked`), its reconstruction fills the missing pixels.
The protocol is section 4.4's "raw" one (:mod:`numbadn.denoise`): a grey image,
mean removed and scaled to [-1, 1] (:func:`~numbadn.denoise.raw_image`), the z0
low-frequency maps switched on at layer 1 (section 3.3; their gradient prior fills
the smooth part of a hole, the filters the detail), layers >= 2 inferred top-down
against the masked image (eq. 10 with the mask).  The mean and scale come from the
observed pixels only.

Quality is measured on the missing pixels alone: SNR (dB) ``10 log10(var(y_miss) /
mean((y_miss - fill)^2))`` and PSNR on the [-1, 1] scale (peak-to-peak 2).
"""
from __future__ import annotations

import numpy as np

from . import _validation as V

__all__ = ["random_mask", "box_mask", "raw_observed", "inpaint", "missing_snr",
           "missing_psnr", "DEFAULT_LAM"]

#: lambda per layer for inpainting raw [-1, 1] images: section 4.4's denoising choice
#: (:data:`numbadn.denoise.DEFAULT_LAM`) is tuned for noisy pixels; the observed
#: pixels here are clean, so the data term weighs more.
DEFAULT_LAM = {1: 40.0, 2: 80.0}


def random_mask(shape, missing, rng=None):
    """A 0/1 mask with a fraction ``missing`` of pixels at 0, chosen at random.

    Parameters
    ----------
    shape : tuple of int
        ``(P, Q)``.
    missing : float
        Fraction in [0, 1) of the pixels set to 0 (exactly
        ``round(missing * P * Q)`` of them).
    rng : int or numpy.random.Generator, optional
        Seed or generator of the draw.

    Returns
    -------
    ndarray of shape (P, Q), float32
        1 observed, 0 missing.
    """
    missing = float(missing)
    if not 0.0 <= missing < 1.0:
        raise ValueError(f"missing must be a fraction in [0, 1), got {missing:g}")
    P, Q = (int(s) for s in shape)
    rng = np.random.default_rng(rng)
    m = np.ones(P * Q, np.float32)
    m[rng.permutation(P * Q)[:int(round(missing * P * Q))]] = 0.0
    return m.reshape(P, Q)


def box_mask(shape, fraction=0.25):
    """A 0/1 mask with a centred rectangle of missing pixels.

    Parameters
    ----------
    shape : tuple of int
        ``(P, Q)``.
    fraction : float, default 0.25
        The rectangle's sides as a fraction in (0, 1) of the image's
        (``fraction ** 2`` of the pixels are missing).

    Returns
    -------
    ndarray of shape (P, Q), float32
        1 observed, 0 inside the rectangle.
    """
    fraction = float(fraction)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction:g}")
    P, Q = (int(s) for s in shape)
    m = np.ones((P, Q), np.float32)
    a, b = max(1, int(round(fraction * P))), max(1, int(round(fraction * Q)))
    i, j = (P - a) // 2, (Q - b) // 2
    m[i:i + a, j:j + b] = 0.0
    return m


def raw_observed(img, mask):
    """:func:`~numbadn.denoise.raw_image` from the observed pixels only.

    Parameters
    ----------
    img : array_like of shape (P, Q) or (1, P, Q)
        A grey image.
    mask : array_like
        Weights of ``img``'s shape, 1 observed and 0 missing.

    Returns
    -------
    y : ndarray of shape (1, P, Q), float32
        ``img`` with the observed pixels' mean removed, scaled to ``max |y| = 1``
        over the observed pixels; missing pixels set to 0.
    mean, scale : float
        So that ``img ~ y * scale + mean``.
    """
    a = V.as_float_array("img", img, (2, 3), np.float32)
    if a.ndim == 3:
        if a.shape[0] != 1:
            raise ValueError(f"img has {a.shape[0]} channels: inpaint takes grey images")
        a = a[0]
    W = V.check_mask(mask, a.shape, np.float32)
    seen = W > 0
    mean = float(a[seen].mean(dtype=np.float64))
    scale = float(np.abs(a[seen] - mean).max())
    if scale == 0:
        raise ValueError("img is constant on the observed pixels: there is nothing to inpaint")
    return (np.where(seen, (a - mean) / scale, 0.0)[None]).astype(np.float32), mean, scale


def inpaint(net, y, mask, layers=None, *, lam=None, n_jobs=None, top_down=True,
            lowfreq=True):
    """Fill the missing pixels of ``y`` from each layer's reconstruction.

    Parameters
    ----------
    net : DeconvNet
        A trained grey network (left as it was after the call).
    y : ndarray of shape (1, P, Q)
        The image on the raw scale (:func:`raw_observed`); missing pixels are
        not read.
    mask : ndarray of shape (P, Q) or (1, P, Q)
        1 observed, 0 missing (weights in [0, 1]).
    layers : iterable of int, optional
        Layers to reconstruct from (default: every trained layer).
    lam : dict or float, optional
        ``lambda`` per layer (default :data:`DEFAULT_LAM`, else the layer's own).
    n_jobs : int, optional
        Threads for this call, as the network's ``n_jobs``.
    top_down : bool, default True
        Infer layers >= 2 top-down (eq. 10 with the mask).
    lowfreq : bool, default True
        The z0 maps at layer 1 (section 3.3).

    Returns
    -------
    dict ``layer -> (1, P, Q)``: the observed pixels of ``y``, the missing ones
    from the reconstruction (eq. 12, plus the z0 image).
    """
    y = V.as_float_array("y", y, (2, 3), net.layers[0].filters_.dtype)
    y = y[None] if y.ndim == 2 else y
    W = V.check_mask(mask, y.shape, y.dtype)
    layers = list(range(1, net.trained_ + 1)) if layers is None else list(layers)
    if isinstance(lam, (int, float)):
        lam = {layer: float(lam) for layer in layers}
    lam = dict(DEFAULT_LAM if lam is None else lam)
    saved = [(la.lam, la.lowfreq) for la in net.layers]
    out = {}
    try:
        net.layers[0].lowfreq = bool(lowfreq)
        for layer in layers:
            for i in range(layer):
                net.layers[i].lam = V.check_positive(f"lam[{i + 1}]",
                                                     lam.get(i + 1, saved[i][0]))
            kw = dict(layer=layer, n_jobs=n_jobs, top_down=top_down, mask=W)
            z, zlow = net.infer_lowfreq(y, **kw) if lowfreq else (net.infer(y, **kw), None)
            rec = net.reconstruct(z, layer=layer, zlow=zlow)
            out[layer] = np.where(W > 0, y, rec).astype(y.dtype)
    finally:
        for la, (lm, lf) in zip(net.layers, saved):
            la.lam, la.lowfreq = lm, lf
    return out


def missing_snr(clean, filled, mask):
    """SNR of ``filled`` against ``clean`` on the missing pixels.

    Parameters
    ----------
    clean, filled : array_like
        The original image and its inpainted estimate, of one shape.
    mask : array_like
        The weights (broadcast to that shape); ``mask == 0`` marks the missing
        pixels, the only ones compared.

    Returns
    -------
    float
        ``10 log10(var(clean) / mean((filled - clean)^2))`` in dB, over the
        missing pixels.
    """
    miss = np.broadcast_to(np.asarray(mask) == 0, np.shape(clean))
    c = np.asarray(clean, np.float64)[miss]
    e = np.asarray(filled, np.float64)[miss] - c
    return float(10 * np.log10(c.var() / np.mean(e * e)))


def missing_psnr(clean, filled, mask, peak=2.0):
    """PSNR of ``filled`` against ``clean`` on the missing pixels.

    Parameters
    ----------
    clean, filled : array_like
        The original image and its inpainted estimate, of one shape.
    mask : array_like
        The weights; ``mask == 0`` marks the missing pixels.
    peak : float, default 2.0
        The signal's range (2 on the raw [-1, 1] scale).

    Returns
    -------
    float
        ``10 log10(peak^2 / mean((filled - clean)^2))`` in dB, over the
        missing pixels.
    """
    miss = np.broadcast_to(np.asarray(mask) == 0, np.shape(clean))
    e = np.asarray(filled, np.float64)[miss] - np.asarray(clean, np.float64)[miss]
    return float(10 * np.log10(peak * peak / np.mean(e * e)))
