"""A batch given as a list of images: :meth:`DeconvLayer.infer` on one stacked
array when the images share a size (and no callback), else one image at a time."""
from __future__ import annotations

import numpy as np

from .. import _validation as V
from ._checks import stack_if_same

__all__ = ["infer_list"]


def infer_list(layer, images, z0, n_threads, return_stats, zlow0, return_lowfreq, callback,
               options):
    """``layer.infer`` of a list of images: an (n, K1, M, N) array when they share
    a size, else a list (likewise the z0 maps with ``return_lowfreq``)."""
    ims = layer._images(images, "image")
    options = dict(options)
    masks = options.pop("mask", None)
    if masks is not None and len(masks) != len(ims):
        raise ValueError(f"mask must give one mask per image: {len(ims)} images, "
                         f"{len(masks)} masks")
    if return_stats:
        raise ValueError("return_stats=True needs a single image of shape (K0, P, Q); "
                         "use callback= for a batch")
    if len({y.shape for y in ims}) == 1 and callback is None:
        z0 = None if z0 is None else np.stack(list(z0))
        zlow0 = None if zlow0 is None else np.stack(list(zlow0))
        if masks is not None:
            options["mask"] = np.stack([V.check_mask(m, y.shape, y.dtype, f"mask[{i}]")
                                        for i, (m, y) in enumerate(zip(masks, ims))])
        return layer.infer(np.stack(ims), z0=z0, n_threads=n_threads, zlow0=zlow0,
                           return_lowfreq=return_lowfreq, **options)
    out = []
    for i, y in enumerate(ims):
        cb = None if callback is None else _with_image(callback, i)
        out.append(layer.infer(y, z0=None if z0 is None else z0[i], n_threads=n_threads,
                               zlow0=None if zlow0 is None else zlow0[i],
                               return_lowfreq=return_lowfreq, callback=cb,
                               mask=None if masks is None else masks[i], **dict(options)))
    if return_lowfreq:
        zs, zls = [o[0] for o in out], [o[1] for o in out]
        return (stack_if_same(zs), stack_if_same(zls))
    return stack_if_same(out)


def _with_image(callback, i):
    """``callback`` with the ``image`` field of its stats set to ``i``."""
    return lambda st: callback(st._replace(image=i))
