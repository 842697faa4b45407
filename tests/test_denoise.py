"""numbadn.denoise (section 4.4's protocol) and its figure."""
import numpy as np
import pytest

import numbadn
from numbadn.denoise import add_noise, denoise, raw_image
from numbadn.kernels import conv_valid
from numbadn.plot import denoising, snr_db


def test_raw_image_zero_mean_unit_max():
    rng = np.random.default_rng(0)
    y = raw_image(rng.random((20, 30)) * 255)
    assert y.shape == (1, 20, 30) and y.dtype == np.float32
    assert abs(float(y.mean())) < 1e-6
    assert np.isclose(np.abs(y).max(), 1.0)


@pytest.mark.parametrize("bad, msg", [(np.ones((5, 5)), "constant"),
                                      (np.zeros((3, 5, 5)), "3 channels")])
def test_raw_image_rejects(bad, msg):
    with pytest.raises(ValueError, match=msg):
        raw_image(bad)


def test_add_noise_hits_the_requested_snr_and_clips():
    rng = np.random.default_rng(1)
    clean = np.sin(np.linspace(0, 20, 300))[None, :] * np.ones((300, 1))
    noisy = add_noise(clean, 13.84, rng=0, clip=False)
    assert abs(snr_db(clean, noisy) - 13.84) < 0.1
    clipped = add_noise(clean, 5.0, rng=rng)
    assert clipped.min() >= clean.min() and clipped.max() <= clean.max()
    assert np.array_equal(add_noise(clean, 10, rng=3), add_noise(clean, 10, rng=3))


def _planted_net(seed=0):
    """A 1-layer net whose filters generate the clean image from sparse maps."""
    rng = np.random.default_rng(seed)
    layer = numbadn.DeconvLayer(1, 4, filter_size=7, random_state=seed)
    net = numbadn.DeconvNet([layer])
    net.trained_, net.scales_ = 1, [1.0]
    z = np.zeros((4, 46, 46), np.float32)
    idx = rng.integers(0, z.size, 40)
    z.reshape(-1)[idx] = rng.standard_normal(40).astype(np.float32) * 3
    clean = raw_image(conv_valid(z, layer.filters, layer.connectivity)[0])
    return net, clean


def test_denoise_a_planted_sparse_image_raises_the_snr_and_leaves_the_net_alone():
    # solved to its optimum (FISTA), the sparse prior removes most of the noise
    net, clean = _planted_net()
    net.layers[0].solver = "fista"
    noisy = add_noise(clean, 10.0, rng=0)
    before = (net.layers[0].lam, net.layers[0].lowfreq)
    rec = denoise(net, noisy, lam=10.0)[1]
    assert rec.shape == clean.shape
    assert snr_db(clean, rec) > snr_db(clean, noisy) + 2.0
    assert (net.layers[0].lam, net.layers[0].lowfreq) == before
    with pytest.raises(ValueError, match="lam"):
        denoise(net, noisy, lam={1: -1.0})


def test_denoising_figure_titles_each_panel_with_its_own_snr(tmp_path):
    rng = np.random.default_rng(2)
    clean = rng.standard_normal((16, 16))
    noisy = clean + 0.3 * rng.standard_normal((16, 16))
    fig = denoising(clean, {"noisy": noisy, "layer 1": clean * 0.9}, path=tmp_path / "d.png")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0] == "clean"
    assert titles[1] == f"noisy: SNR {snr_db(clean, noisy):.2f} dB"
    assert titles[2] == f"layer 1: SNR {snr_db(clean, clean * 0.9):.2f} dB"
    assert (tmp_path / "d.png").stat().st_size > 0
    with pytest.raises(ValueError, match="shape"):
        denoising(clean, {"bad": clean[:4]})
