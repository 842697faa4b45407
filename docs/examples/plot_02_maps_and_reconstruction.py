"""
Feature maps and reconstruction of a photograph
===============================================

Infer the sparse feature maps of a photograph with a trained network and
reconstruct the photograph from them: layer 1 by eq. 1, layer 2 through both
layers' filters by eq. 12, after top-down inference (eqs. 10-11).  The network is
the one of the paper's footnote 4 that ships with numbadn
(:func:`numbadn.recognition.pretrained_model`): 8 and 36 maps, ``p = 0.8``.
"""
import numpy as np

from numbadn.data import load_images
from numbadn.plot import feature_maps, reconstructions, snr_db
from numbadn.preprocess import contrast_normalize
from numbadn.recognition import pretrained_model

net = pretrained_model()
print([(la.n_maps, la.lam, la.p) for la in net.layers])

photo = load_images("city")[3]                   # a 100x100 crop of a building
y = contrast_normalize(photo)[None]              # (1, 96, 96): K0 = 1 channel

# %%
# Layer 1: 8 maps of (96 + 7 - 1) x (96 + 7 - 1).  Most of each map is zero or
# close to it; the maps share one colour scale.
z1 = net.infer(y, layer=1)
print("layer-1 maps", z1.shape, f"{np.mean(np.abs(z1) < 1e-3):.0%} of the entries below 1e-3")
fig = feature_maps(y[0], z1, title="layer 1")

# %%
# Layer 2, inferred top-down: its 36 maps explain the image through layer 1's
# filters.  The first 8 are shown.
z2 = net.infer(y, layer=2)
print("layer-2 maps", z2.shape)
fig = feature_maps(y[0], z2, n=8, title="layer 2 (first 8 of 36 maps)")

# %%
# Reconstructions from each layer, with their SNR against the input.  Footnote 4
# sets ``lambda`` to 10 for layer 1 but 1 for layer 2, so layer 2's maps are far
# sparser and its reconstruction keeps much less of the image (this network was
# made for recognition features, not for reconstruction).
r1 = net.reconstruct(z1, layer=1)
r2 = net.reconstruct(z2, layer=2)
print(f"SNR layer 1: {snr_db(y, r1):.2f} dB, layer 2: {snr_db(y, r2):.2f} dB")
fig = reconstructions(np.stack([y, y]), np.stack([r1, r2]),
                      titles=["layer 1 (eq. 1)", "layer 2 (eq. 12)"])
