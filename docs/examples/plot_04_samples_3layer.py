"""
Samples from a 3-layer model (Fig. 3)
=====================================

The paper's architecture (section 4.1): 9, 45 and 150 maps, 7x7 filters, layer 2
on single layer-1 maps and pairs of them, layer 3 on random pairs, learned layer by
layer (Algorithm 1).  Here on the 26 built-in ``city`` crops and a single epoch
per layer, so that it runs in seconds; ``numbadn train city --paper`` learns it with
the paper's three epochs.  Samples are drawn as in Fig. 3: each layer-3 feature
fires as often as it did on the training images, with values from its activation
histogram, and the result is projected down to pixels through all three layers.
"""
import time

import numbadn
from numbadn.data import load_images
from numbadn.plot import filter_grid, samples
from numbadn.preprocess import contrast_normalize

ys = [contrast_normalize(im) for im in load_images("city")]
net = numbadn.DeconvNet.paper(n_maps=(9, 45, 150), epochs=1, random_state=0, verbose=False)
t0 = time.perf_counter()
net.fit(ys)
print(f"3 layers learned in {time.perf_counter() - t0:.1f} s")
print("layers:", [(la.in_channels, la.n_maps) for la in net.layers])

# %%
# Layer-3 filters projected to pixels (the first 50 of 150).
fig = filter_grid(net.pixel_filters(layer=3)[:50], title="layer 3, projected to pixels")

# %%
# Four samples from layer 3.
imgs = net.sample(layer=3, n=4, random_state=0)
print("samples", imgs.shape)
fig = samples(imgs, title="samples from layer 3")
