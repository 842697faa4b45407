"""
Learn filters on photographs and plot them
==========================================

One layer of a Deconvolutional Network (Algorithm 1) learned on the built-in
``natural`` photographs: 100x100 greyscale crops, contrast-normalised as in the
paper's section 4, then 9 filters of 7x7 learned with ``lambda = 1`` and
``p = 1`` and the paper's continuation schedule.  Point :func:`numbadn.data.load_images`
at a folder to learn on your own photographs instead (``load_images("my_photos/")``).
"""
import time

import numbadn
from numbadn.data import load_images
from numbadn.plot import filter_grid
from numbadn.preprocess import contrast_normalize

photos = load_images("natural")                     # 26 grey 100x100 crops in [0, 1]
ys = [contrast_normalize(im) for im in photos]   # 96x96 each, zero mean, range 2
print(len(ys), "training images of", ys[0].shape)

# %%
# Learning: two epochs over the images, the maps of each image kept between epochs
# (warm start) and the filters updated after every image (the authors' toolbox).
layer = numbadn.DeconvLayer(in_channels=1, n_maps=9, filter_size=7, lam=1.0, p=1.0,
                            epochs=2, random_state=0, verbose=False)
t0 = time.perf_counter()
layer.fit(ys)
print(f"learned in {time.perf_counter() - t0:.1f} s; filters {layer.filters_.shape}")
print("eq. 3 cost per image, each epoch:",
      [round(h["cost"] / len(ys), 2) for h in layer.history_])

# %%
# The filters, one tile each (rows A, B, ..., columns 1, 2, ... as the paper names
# them).  With more images and the paper's three epochs they become oriented edges
# (``numbadn train`` learns them on all 26 crops in about a minute).
fig = filter_grid(layer.filters_, title="layer 1: 9 filters learned on natural crops")
