"""Object recognition with Deconvolutional Network features (section 4.3, Table 1).

The paper's pipeline: infer the feature maps of a 2-layer DN whose filters
were learned on natural and city images (footnote 4), cut dense descriptors
out of the absolute activations (footnote 5), quantise them with k-means into
1000 visual words, build the spatial pyramid of Lazebnik et al. (CVPR 2006)
and classify with an SVM on the histogram-intersection kernel; DN-(1+2)
concatenates the pyramids of both layers before the kernel.  The baseline is
the same pyramid on dense SIFT.  Where footnote 5 is silent the descriptors
follow the authors' toolbox (``SPM/ConvDescriptors``): each is rescaled to
[0, 1] and SIFT-normalised, and layer 2 gives four descriptors of 2x2 cells of
4x4 pixels per patch (:class:`DNDescriptors`, ``normalize`` and ``geometry``).

* :class:`DNDescriptors`: images -> dense DN descriptors (a transformer).
* :class:`DenseSIFT`: images -> dense SIFT on the same grid (OpenCV).
* :class:`SPMClassifier`: descriptors (or images) -> class labels.
* :func:`spatial_pyramid`, :func:`intersection_kernel`, :func:`pyramid_weights`:
  the pieces, for use on their own.

Both estimators follow scikit-learn's conventions (parameters only in
``__init__``, fitted attributes ending in ``_``, ``get_params`` /
``set_params``, ``clone`` and ``Pipeline`` work).  scikit-learn (k-means, SVM)
and OpenCV (SIFT) are optional: ``pip install 'numbadn[recognition]'``.

Example
-------
>>> from numbadn.recognition import DNDescriptors, SPMClassifier, pretrained_model
>>> from sklearn.pipeline import make_pipeline                     # doctest: +SKIP
>>> clf = make_pipeline(DNDescriptors(model=pretrained_model()),
...                     SPMClassifier(features="dn-1+2"))          # doctest: +SKIP
>>> clf.fit(train_images, train_labels).score(test_images, test_labels)  # doctest: +SKIP
"""
from ._common import FEATURES, FOOTNOTE4, GEOMETRY, NORMALIZE, PATCH, POOL  # noqa: F401
from .descriptors import (DenseSIFT, DNDescriptors, ImageDescriptors,  # noqa: F401
                          footnote4_net, normalize_descriptors, pretrained_model)
from .spm import (SPMClassifier, intersection_kernel, pyramid_weights,  # noqa: F401
                  spatial_pyramid)

__all__ = ["DNDescriptors", "DenseSIFT", "SPMClassifier", "ImageDescriptors",
           "spatial_pyramid", "pyramid_weights", "intersection_kernel", "pretrained_model",
           "footnote4_net", "normalize_descriptors", "FOOTNOTE4", "PATCH", "POOL", "FEATURES",
           "NORMALIZE", "GEOMETRY"]
