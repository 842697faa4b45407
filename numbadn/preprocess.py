"""Image preprocessing of Zeiler et al. (CVPR 2010), section 4 and its toolbox.

The paper trains on "contrast normalized" 100x100 grey images (section 4 and
footnote 4).  The authors' MATLAB toolbox (``CreateImages.m``, 2010) does, per
image: convert to grey, subtract each plane's mean, then local contrast
normalisation with a 5x5 Gaussian of sigma 1.591 -- subtract the local mean,
divide by the local standard deviation where it exceeds a floor -- in 'valid'
mode, so the image loses 2 pixels on every side.  The result is then
rescaled to zero mean and a range of width 2, the scale of numbadn's layer-1
inputs.  Feature maps passed up a layer are multiplied by one scalar per layer
(``DeconvNet.scales_``, which keeps the top-down chain of eqs. 10-12 linear),
not rescaled per image; :func:`rescale_maps` is the toolbox's per-image
version, for analysis.  This module does all of it with :mod:`scipy.signal`;
everything is float64 inside and comes back in the input's dtype.

Functions
---------
to_grey
    Colour (3, P, Q) to grey (P, Q).
contrast_normalize
    The toolbox's local contrast normalisation (+ rescale), invertible for
    display with ``return_info=True``.
rescale_maps
    Zero mean, range width 2, per image (the toolbox's rescale of feature maps).
for_display
    Any image or map to [0, 1] for plotting.
"""
from __future__ import annotations

import dataclasses
import numbers

import numpy as np
from scipy import signal

from ._validation import as_float_array, check_int, check_positive

__all__ = ["to_grey", "contrast_normalize", "ContrastInfo", "rescale_maps",
           "for_display", "gaussian_kernel", "LUMA_WEIGHTS"]

#: ITU-R BT.601 luma weights, as in MATLAB's ``rgb2gray`` used by the toolbox.
LUMA_WEIGHTS = (0.298936021293775, 0.587043074451121, 0.114020904255103)

#: Default divisive floor of :func:`contrast_normalize` (see its Notes).
DEFAULT_STD_FLOOR = "toolbox"
#: The toolbox's grey-path floor (1 on pixels of 0..255, ``CreateImages.m``) on the [0, 1] scale.
TOOLBOX_GREY_FLOOR = 1.0 / 255.0


def to_grey(img):
    """Convert a colour image to grey.

    Parameters
    ----------
    img : ndarray of shape (3, P, Q), (1, P, Q) or (P, Q)
        Float image, channels first (R, G, B).

    Returns
    -------
    ndarray of shape (P, Q)
        ``0.2989 R + 0.5870 G + 0.1140 B`` (ITU-R BT.601 luma, MATLAB's
        ``rgb2gray``); a grey input is returned as a copy.  Same dtype as
        ``img``.
    """
    img = as_float_array("img", img, (2, 3))
    if img.ndim == 2:
        return img.copy()
    if img.shape[0] == 1:
        return img[0].copy()
    if img.shape[0] != 3:
        raise ValueError(f"img must have shape (3, P, Q) (channels first) or (P, Q), "
                         f"got {img.shape}")
    w = np.asarray(LUMA_WEIGHTS, dtype=np.float64)
    return np.tensordot(w, img, axes=1).astype(img.dtype)


def gaussian_kernel(kernel_size=5, sigma=1.591):
    """Normalised square Gaussian, as MATLAB's ``fspecial('gaussian', n, sigma)``.

    Parameters
    ----------
    kernel_size : int
        Odd side n of the kernel.
    sigma : float
        Standard deviation in pixels.

    Returns
    -------
    ndarray of shape (n, n)
        float64 weights summing to 1.
    """
    n = check_int("kernel_size", kernel_size, minimum=1)
    if n % 2 == 0:
        raise ValueError(f"kernel_size must be odd so the kernel has a centre pixel, got {n}")
    sigma = check_positive("sigma", sigma)
    t = np.arange(n, dtype=np.float64) - (n - 1) / 2
    g = np.exp(-(t[:, None] ** 2 + t[None, :] ** 2) / (2.0 * sigma ** 2))
    return g / g.sum()


@dataclasses.dataclass(frozen=True, eq=False)
class ContrastInfo:
    """What :func:`contrast_normalize` removed, to put it back for display.

    Parameters
    ----------
    plane_mean : ndarray of shape (C,)
        Mean of each input plane (subtracted first).
    local_mean : ndarray, same shape as the output
        Gaussian-weighted local mean that was subtracted.
    divisor : ndarray, same shape as the output
        Local standard deviation after the floor, which divided the image.
    std_floor : ndarray of shape (C,)
        Floor used for each plane.
    offset, scale : float
        The final rescale was ``(x - offset) / scale``.
    mode : {'valid', 'same'}
        Convolution mode; ``'valid'`` drops ``margin`` pixels on every side.
    margin : int
        ``kernel_size // 2`` for ``'valid'``, else 0.
    """

    plane_mean: np.ndarray
    local_mean: np.ndarray
    divisor: np.ndarray
    std_floor: np.ndarray
    offset: float
    scale: float
    mode: str
    margin: int

    def invert(self, y):
        """Undo the normalisation: map a normalised image back to [0, 1] scale.

        Parameters
        ----------
        y : ndarray, same shape as the normalised image
            The output of :func:`contrast_normalize`, or a reconstruction of it.

        Returns
        -------
        ndarray, same shape as ``y``
            ``(y * scale + offset) * divisor + local_mean + plane_mean``; for
            ``y`` equal to the output this is the input image cropped by
            ``margin`` pixels per side (exactly, up to rounding).
        """
        y = as_float_array("y", y, (2, 3))
        if y.shape != self.local_mean.shape:
            raise ValueError(f"y must have the normalised image's shape "
                             f"{self.local_mean.shape}, got {y.shape}")
        pm = self.plane_mean if y.ndim == 3 else self.plane_mean[0]
        if y.ndim == 3:
            pm = pm[:, None, None]
        x = (y.astype(np.float64) * self.scale + self.offset) * self.divisor \
            + self.local_mean + pm
        return x.astype(y.dtype)


def contrast_normalize(img, *, kernel_size=5, sigma=1.591, std_floor=DEFAULT_STD_FLOOR,
                       mode="valid", return_info=False):
    """Local contrast normalisation of the authors' toolbox (CVPR 2010).

    Per plane c of the image x (values in [0, 1]):

    .. math::

        x_c &\\leftarrow x_c - \\operatorname{mean}(x_c) \\\\
        m_c &= k * x_c, \\qquad
        s_c = \\sqrt{\\max(0,\\, k * x_c^2 - m_c^2)} \\\\
        v_c &= (x_c - m_c) / \\max(s_c, \\text{floor}_c)

    with k the normalised ``kernel_size`` x ``kernel_size`` Gaussian of
    standard deviation ``sigma`` and ``*`` a 'valid' (or 'same')
    convolution; finally all planes together are rescaled,
    ``y = (v - mean(v)) / ((max(v) - min(v)) / 2)``, to zero mean and a range
    of width 2.

    Parameters
    ----------
    img : ndarray of shape (P, Q) or (C, P, Q)
        Float image with values in [0, 1] (as :func:`numbadn.data.load_images`
        returns), channels first.
    kernel_size : int, default 5
        Odd side of the Gaussian window (toolbox: 5).
    sigma : float, default 1.591
        Standard deviation of the Gaussian window in pixels (toolbox: 1.591).
    std_floor : float or {'toolbox', 'mean', 'median'}, default 'toolbox'
        Local standard deviations below this are raised to it before dividing.
        ``'mean'`` / ``'median'``: the mean / median local standard deviation
        of each plane of this image.  ``'toolbox'``: the grey path of the
        toolbox's ``CreateImages.m``, which keeps the pixels on 0..255 and
        floors the local standard deviation at 1; here that is done on the
        [0, 1] scale as a floor of 1/255 (the same division: both sides scale
        by 255, and the final rescale removes the factor).  A number is on the
        [0, 1] intensity scale: ``1`` is the toolbox's colour path (pixels in
        [0, 1], floor 1), where the division never happens (see Notes).
    mode : {'valid', 'same'}, default 'valid'
        ``'valid'`` (toolbox): the output is (P - 2r, Q - 2r) with
        r = ``kernel_size // 2`` (2 for the 5x5 window).  ``'same'``: the
        image keeps its size, borders reflected symmetrically.
    return_info : bool, default False
        Also return a :class:`ContrastInfo` whose ``invert`` maps the result
        (or a reconstruction of it) back to image intensities for display.

    Returns
    -------
    y : ndarray of shape (P', Q') or (C, P', Q')
        Normalised image in ``img``'s dtype: zero mean, ``max - min == 2``
        (all zeros if the image has no local contrast at all: a constant,
        or in 'valid' mode a linear ramp).
    info : ContrastInfo
        Only with ``return_info=True``.

    Notes
    -----
    *The toolbox's two paths, and numbadn's default.*  ``CreateImages.m``
    floors the local std at 1 on whatever scale the pixels are.  Its colour
    path scales them to [0, 1], where the std of a window cannot exceed 0.5,
    so the division never happens and the method reduces to a Gaussian
    high-pass: busy regions (foliage, brickwork, a cup's rim) keep several
    times the amplitude of quiet ones and dominate the reconstruction term
    of eq. 3.  Its grey path -- the paper's images are grey (section 4,
    footnote 4) -- leaves the pixels on 0..255, where the floor of 1 is
    1/255 of the range and most pixels get divided: a strong local
    normalisation (``std_floor='toolbox'``, the default).  The image's mean
    local std (``'mean'``, numbadn's former default; the choice of Jarrett et
    al., ICCV 2009, and Pinto et al., 2008) lies between the two and, being
    relative to each image, does not depend on its intensity scale.
    ``reproduce/contrast_choice.py`` measured both on two of the paper's items
    (``figures/contrast_choice.json``) and keeps the toolbox's floor unless
    the mean floor is ahead on both, by the rule it states before measuring.

    *The trade-off.*  A lower floor evens the local contrast and whitens the
    spectrum more, but amplifies noise more: quiet regions (sky, halftone
    grain, JPEG 8x8 blocks) are raised towards the contrast of real edges.
    ``python reproduce/contrast_floors.py`` measures spread,
    spectral flatness, noise gain and the fraction of pixels divided for the
    floors from 1 down to 1/255 on the built-in crops
    (``figures/contrast_floors.json``).  Pass ``std_floor='mean'`` for the
    mean floor, ``std_floor=1.0`` for the toolbox's colour path.

    Subtracting the plane mean first does not change the result (the kernel
    sums to 1); it is kept to mirror the toolbox and is stored in ``info``.
    """
    img = as_float_array("img", img, (2, 3))
    lo, hi = float(img.min()), float(img.max())
    tol = 1e-6
    if lo < -tol or hi > 1.0 + tol:
        raise ValueError(
            f"img must hold intensities in [0, 1], got values in [{lo:.4g}, {hi:.4g}]; "
            f"divide 8-bit images by 255 (numbadn.data.load_images does), or use "
            f"rescale_maps for feature maps")
    k = gaussian_kernel(kernel_size, sigma)
    r = k.shape[0] // 2
    if mode not in ("valid", "same"):
        raise ValueError(f"mode must be 'valid' or 'same', got {mode!r}")
    P, Q = img.shape[-2:]
    if mode == "valid" and (P <= 2 * r or Q <= 2 * r):
        raise ValueError(f"img of size {P}x{Q} is too small for mode='valid' with "
                         f"kernel_size={kernel_size}: need more than {2 * r} pixels a side")
    floor_kind = _check_floor(std_floor)

    planes = img.astype(np.float64).reshape(-1, P, Q)
    plane_mean = planes.mean(axis=(1, 2))
    out, numer, lmeans, divisors, floors = [], [], [], [], []
    for x, mu in zip(planes, plane_mean):
        x = x - mu
        m = _filter(x, k, mode)
        s = np.sqrt(np.maximum(_filter(x * x, k, mode) - m * m, 0.0))
        if floor_kind == "mean":
            fl = s.mean()
        elif floor_kind == "median":
            fl = float(np.median(s))
        elif floor_kind == "toolbox":
            fl = TOOLBOX_GREY_FLOOR
        else:
            fl = floor_kind
        fl = max(fl, 1e-12)  # a flat image: 0 / floor stays 0
        d = np.maximum(s, fl)
        xc = x[r:P - r, r:Q - r] if mode == "valid" else x
        numer.append(xc - m)
        out.append(numer[-1] / d)
        lmeans.append(m)
        divisors.append(d)
        floors.append(fl)
    v = np.stack(out)
    # No local contrast above the input's rounding level (a constant, a linear
    # ramp in 'valid' mode): what is left is round-off, which the rescale
    # would blow up to width 2, so the result is zero.
    tol = 16 * np.finfo(img.dtype).eps * max(abs(lo), abs(hi))
    flat = max(float(np.abs(xd).max()) for xd in numer) <= tol
    v, offset, scale = _rescale(v, flat=flat)
    shape = v.shape if img.ndim == 3 else v.shape[1:]
    y = v.reshape(shape).astype(img.dtype)
    if not return_info:
        return y
    info = ContrastInfo(plane_mean=plane_mean, local_mean=np.stack(lmeans).reshape(shape),
                        divisor=np.stack(divisors).reshape(shape),
                        std_floor=np.asarray(floors), offset=offset, scale=scale,
                        mode=mode, margin=r if mode == "valid" else 0)
    return y, info


def rescale_maps(z):
    """Rescale feature maps to zero mean and a range of width 2.

    The maps of layer l are the input of layer l + 1 (section 3.1, eq. 3);
    rescaling them like the contrast-normalised image that feeds layer 1
    (:func:`contrast_normalize`) puts every layer's input on the same scale,
    so the paper's single setting lambda = 1 (section 4) suits all layers.

    Parameters
    ----------
    z : ndarray of shape (M, N), (K, M, N) or (I, K, M, N)
        One map, the K maps of one image (rescaled together, so the relative
        strength of the maps is kept), or a batch of I images (each image's
        stack rescaled on its own).

    Returns
    -------
    ndarray, same shape and dtype as ``z``
        ``(z - mean) / ((max - min) / 2)`` per image; all zeros where the
        maps are constant.
    """
    z = as_float_array("z", z, (2, 3, 4))
    if z.ndim == 4:
        return np.stack([_rescale(zi.astype(np.float64))[0] for zi in z]).astype(z.dtype)
    return _rescale(z.astype(np.float64))[0].astype(z.dtype)


def for_display(img, *, symmetric=False):
    """Map any image, filter or feature map to [0, 1] for plotting.

    Parameters
    ----------
    img : ndarray of shape (P, Q) or (3, P, Q)
        Any finite float values.
    symmetric : bool, default False
        False: min-max scaling.  True: zero maps to 0.5 and the largest
        magnitude to 0 or 1 (for filters, residuals and signed maps).

    Returns
    -------
    ndarray, same shape and dtype as ``img``
        Values in [0, 1]; a constant image becomes 0.5 everywhere.
    """
    img = as_float_array("img", img, (2, 3))
    x = img.astype(np.float64)
    if symmetric:
        a = np.abs(x).max()
        out = 0.5 + 0.5 * x / a if a > 0 else np.full_like(x, 0.5)
    else:
        lo, hi = x.min(), x.max()
        out = (x - lo) / (hi - lo) if hi > lo else np.full_like(x, 0.5)
    return np.clip(out, 0.0, 1.0).astype(img.dtype)


# --------------------------------------------------------------------------
def _check_floor(std_floor):
    if isinstance(std_floor, str):
        if std_floor not in ("mean", "median", "toolbox"):
            raise ValueError(f"std_floor must be a positive number, 'mean', 'median' or "
                             f"'toolbox', got {std_floor!r}")
        return std_floor
    if isinstance(std_floor, bool) or not isinstance(std_floor, numbers.Real):
        raise TypeError(f"std_floor must be a positive number, 'mean', 'median' or "
                        f"'toolbox', got {std_floor!r}")
    return check_positive("std_floor", std_floor)


def _filter(x, k, mode):
    if mode == "valid":
        return signal.convolve2d(x, k, mode="valid")
    return signal.convolve2d(x, k, mode="same", boundary="symm")


def _rescale(v, flat=False):
    """(v - mean) / (range / 2) in float64; returns (result, offset, scale).

    A constant ``v`` (or ``flat=True``) gives zeros, offset = mean, scale 1.
    """
    offset = float(v.mean())
    width = float(v.max() - v.min())
    if flat or width == 0.0:
        return np.zeros_like(v), offset, 1.0
    scale = width / 2.0
    return (v - offset) / scale, offset, scale
