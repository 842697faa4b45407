"""
Denoising a photograph (section 4.4)
====================================

The authors' protocol: a raw (not contrast-normalised) grey image in [-1, 1],
Gaussian noise at 13.84 dB SNR, and each layer's reconstruction from its maps with
the z0 maps of section 3.3 switched on for the low frequencies
(:mod:`numbadn.denoise`).  Here with the footnote-4 network shipped with numbadn,
on a city crop it was not trained on.  ``figures/sec44_denoising.json`` has the
measured comparison over many images with tuned Gaussian blur and total variation.
"""
import numpy as np

from numbadn.data import load_images
from numbadn.denoise import PAPER_SNR, add_noise, denoise, raw_image
from numbadn.plot import denoising, snr_db
from numbadn.recognition import pretrained_model

net = pretrained_model()
clean = raw_image(load_images("city")[7])                       # (1, 100, 100), max |y| = 1
noisy = add_noise(clean, PAPER_SNR["input"], rng=np.random.default_rng(0))
print(f"noisy input: {snr_db(clean, noisy):.2f} dB (paper: {PAPER_SNR['input']} dB)")

# %%
# Reconstruct from layers 1 and 2 with the ``lambda`` per layer tuned by
# ``reproduce/sec44_denoising.py`` (:data:`numbadn.denoise.DEFAULT_LAM`) and the
# toolbox's warm-started inference passes (:data:`numbadn.denoise.DEFAULT_PASSES`).
out = denoise(net, noisy)
for layer, rec in out.items():
    print(f"layer {layer}: {snr_db(clean, rec):.2f} dB (paper: {PAPER_SNR[layer]} dB)")
fig = denoising(clean, {"noisy": noisy, "layer 1": out[1], "layer 2": out[2]},
                title="denoising a city crop")
