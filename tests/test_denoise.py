"""numbadn.denoise (section 4.4's protocol) and its figure."""
import numpy as np
import pytest

import numbadn
from numbadn.denoise import DEFAULT_PASSES, add_noise, denoise, highpass_pair, raw_image
from numbadn.preprocess import contrast_normalize
from numbadn.ops import conv_valid
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
    layer = numbadn.DeconvLayer(1, 4, filter_size=7, random_state=seed).initialize()
    net = numbadn.DeconvNet([layer])
    net.trained_, net.scales_ = 1, [1.0]  # trained elsewhere: the planted filters
    z = np.zeros((4, 46, 46), np.float32)
    idx = rng.integers(0, z.size, 40)
    z.reshape(-1)[idx] = rng.standard_normal(40).astype(np.float32) * 3
    clean = raw_image(conv_valid(z, layer.filters_, layer.connectivity_)[0])
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


def _two_layer_net(seed=0):
    """The planted layer 1 with a random layer 2 on top (2 x 4 maps, scale 1)."""
    net, clean = _planted_net(seed)
    l2 = numbadn.DeconvLayer(4, 5, filter_size=5, random_state=seed + 1).initialize()
    net = numbadn.DeconvNet([net.layers[0], l2])
    net.trained_, net.scales_ = 2, [1.0, 1.0]
    return net, clean


@pytest.mark.parametrize("protocol", ["raw", "highpass"])
def test_one_pass_is_the_single_solve_bit_for_bit(protocol):
    # passes=1 is what denoise did before passes existed: one net.infer from zero maps
    net, clean = _two_layer_net()
    noisy = add_noise(clean, 10.0, rng=0)
    lam = {1: 10.0, 2: 20.0}
    got = denoise(net, noisy, lam=lam, passes=1, protocol=protocol)
    l1, l2 = net.layers
    l1.lowfreq = protocol == "raw"
    for layer in (1, 2):
        l1.lam, l2.lam = 10.0, 20.0
        if l1.lowfreq:
            z, zlow = net.infer_lowfreq(noisy, layer=layer)
            ref = net.reconstruct(z, layer=layer, zlow=zlow)
        else:
            ref = net.reconstruct(net.infer(noisy, layer=layer), layer=layer)
        assert np.array_equal(got[layer], ref)
    l1.lowfreq, l1.lam, l2.lam = False, 1.0, 1.0
    # and the default is the toolbox's maxepochs: 7 passes at layer 1, 1 above
    assert DEFAULT_PASSES == {1: 7, 2: 1, 3: 1}
    many = denoise(net, noisy, lam=lam, protocol=protocol)
    assert not np.array_equal(many[1], got[1])


@pytest.mark.parametrize("solver", ["continuation", "fista"])
@pytest.mark.parametrize("lowfreq", [True, False])
def test_passes_are_warm_started_solves_that_never_raise_the_cost(solver, lowfreq):
    net, clean = _planted_net(1)
    l1 = net.layers[0]
    l1.solver, l1.lam, l1.lowfreq = solver, 10.0, lowfreq
    noisy = add_noise(clean, 10.0, rng=1)
    # reference: the layer's own solver called again and again from its last maps
    z, zlow, costs = None, None, []
    for n in range(1, 5):
        if lowfreq:
            z, zlow = l1.infer_lowfreq(noisy, z0=z, zlow0=zlow)
            got, glow = net.infer_lowfreq(noisy, layer=1, passes=n)
            assert np.array_equal(glow, zlow)
        else:
            z = l1.infer(noisy, z0=z)
            got = net.infer(noisy, layer=1, passes=n)
        assert np.array_equal(got, z)
        costs.append(l1.cost(noisy, z, zlow=zlow))  # eq. 3 (+ psi |grad z0|^2)
    assert all(b <= a * (1 + 1e-6) for a, b in zip(costs, costs[1:])), costs
    if solver == "continuation":  # the paper's schedule stops short: more passes do help
        assert costs[-1] < 0.95 * costs[0], costs
    rec = denoise(net, noisy, lam=10.0, passes=4, protocol="raw" if lowfreq else "highpass")[1]
    assert np.array_equal(rec, net.reconstruct(z, layer=1, zlow=zlow))


def test_passes_per_layer_reach_each_layer():
    net, clean = _two_layer_net(2)
    noisy = add_noise(clean, 10.0, rng=2)
    a = denoise(net, noisy, [2], lam=10.0, passes={1: 1, 2: 3})[2]
    b = denoise(net, noisy, [2], lam=10.0, passes={1: 1})[2]
    c = denoise(net, noisy, [2], lam=10.0, passes=1)[2]
    assert np.array_equal(b, c) and not np.array_equal(a, c)


@pytest.mark.parametrize("kw, err, msg", [
    (dict(passes=0), ValueError, "passes must be >= 1"),
    (dict(passes={1: 2, 2: -1}), ValueError, r"passes\[2\] must be >= 1"),
    (dict(passes=1.5), TypeError, "passes must be an integer"),
    (dict(passes={"1": 2}), TypeError, "passes keys must be layer numbers"),
    (dict(protocol="cn"), ValueError, "protocol must be one of 'raw', 'highpass'"),
])
def test_denoise_rejects_bad_passes_and_protocol(kw, err, msg):
    net, clean = _two_layer_net()
    with pytest.raises(err, match=msg):
        denoise(net, clean, **kw)
    with pytest.raises(ValueError, match="passes"):
        net.infer(clean, layer=2, passes=[2])


def test_highpass_pair_is_both_images_contrast_normalised_at_the_wanted_snr():
    rng = np.random.default_rng(3)
    clean = raw_image(ndimage_smooth(rng.random((60, 70))))
    hc, hn, to_clean = highpass_pair(clean, 13.84, rng=0)
    lo, hi = clean.min(), clean.max()
    assert np.allclose(hc, contrast_normalize((clean - lo) / (hi - lo)), atol=1e-6)
    assert hc.shape == hn.shape == (1, 56, 66)
    assert abs(snr_db(hc, to_clean(hn)) - 13.84) < 1e-3
    # hn is a contrast-normalised image itself (zero mean, range 2, the model's input
    # scale), and to_clean is an affine map (one rescale undone, another applied)
    assert abs(float(hn.mean())) < 1e-5 and np.isclose(float(hn.max() - hn.min()), 2.0)
    x = np.linspace(-1, 1, hn.size).reshape(hn.shape)
    zero = to_clean(np.zeros_like(x))
    assert np.allclose(to_clean(2 * x) - zero, 2 * (to_clean(x) - zero))
    assert np.array_equal(highpass_pair(clean, 13.84, rng=0)[1], hn)
    with pytest.raises(ValueError, match="constant"):
        highpass_pair(np.zeros((1, 20, 20)), 10.0)


def ndimage_smooth(a):
    from scipy import ndimage
    return ndimage.gaussian_filter(a, 2.0)


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
