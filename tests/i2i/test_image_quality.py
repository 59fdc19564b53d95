"""PSNR/SSIM against a float64 numpy/scipy formula from the papers and against scikit-image."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage as ndi
import torch

from fastgan.data.paired import bicubic_downscale
from fastgan.metrics.image_quality import bicubic_upscale, evaluate_sr, psnr, ssim


def np_y(img255):
    """[C, H, W] 0..255 -> BT.601 luma [H, W] (grey passes through)."""
    if img255.shape[0] == 1:
        return img255[0]
    r, g, b = img255
    return 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0


def np_psnr(a, b):
    return 10 * np.log10(255.0 ** 2 / np.mean((a - b) ** 2))


def np_ssim(a, b):
    """Wang et al. 2004: Gaussian-weighted moments (sigma 1.5, 11 taps), valid region only."""
    f = lambda t: ndi.gaussian_filter(t, 1.5, truncate=3.5, mode="constant")[5:-5, 5:-5]  # noqa: E731
    mu_a, mu_b = f(a), f(b)
    va, vb, cab = f(a * a) - mu_a ** 2, f(b * b) - mu_b ** 2, f(a * b) - mu_a * mu_b
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    return np.mean((2 * mu_a * mu_b + c1) * (2 * cab + c2) / ((mu_a ** 2 + mu_b ** 2 + c1) * (va + vb + c2)))


def pairs(channels, kind, seed=0):
    """A ground truth and a degraded copy, [3, C, 29, 37], in the representation ``kind``."""
    rng = np.random.default_rng(seed)
    smooth = ndi.gaussian_filter(rng.uniform(0, 255, (3, channels, 29, 37)), (0, 0, 2, 2))
    truth = np.clip(smooth * 2 - 100, 0, 255).round()
    noisy = np.clip(truth + rng.normal(0, 12, truth.shape), 0, 255).round()
    out = []
    for arr in (noisy, truth):
        t = torch.from_numpy(arr)
        if kind == "uint8":
            t = t.to(torch.uint8)
        elif kind == "float32":
            t = (t / 127.5 - 1).float().contiguous(memory_format=torch.channels_last)
        elif kind == "strided":
            t = torch.cat([t / 127.5 - 1, t], dim=3)[..., :37]     # a non-contiguous view
        out.append(t)
    return noisy, truth, out


@pytest.mark.parametrize("kind", ["uint8", "float32", "strided"])
@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("crop", [0, 4])
def test_against_numpy_formula(kind, channels, crop):
    noisy, truth, (x, y) = pairs(channels, kind)
    got_p = psnr(x, y, crop=crop)
    got_s = ssim(x, y, crop=crop)
    sl = (slice(None), slice(crop, 29 - crop), slice(crop, 37 - crop))
    for i in range(3):
        a, b = np_y(noisy[i][sl]), np_y(truth[i][sl])
        tol = 1e-5 if kind == "float32" else 1e-10
        assert got_p[i].item() == pytest.approx(np_psnr(a, b), rel=tol)
        assert got_s[i].item() == pytest.approx(np_ssim(a, b), rel=tol)
    assert got_p.dtype == torch.float64 and got_p.shape == (3,)


def test_rgb_channels_without_y_average_the_channels():
    noisy, truth, (x, y) = pairs(3, "uint8", seed=4)
    got = ssim(x, y, y_channel=False)
    want = [np.mean([np_ssim(noisy[i, c], truth[i, c]) for c in range(3)]) for i in range(3)]
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10)
    got_p = psnr(x, y, y_channel=False)
    np.testing.assert_allclose(got_p.numpy(), [np_psnr(noisy[i], truth[i]) for i in range(3)], rtol=1e-10)


def test_identical_and_bad_input():
    _, _, (x, y) = pairs(3, "uint8")
    assert torch.isinf(psnr(y, y)).all() and torch.allclose(ssim(y, y), torch.ones(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="same shape"):
        psnr(x, y[:, :, 1:])
    with pytest.raises(ValueError, match="crop"):
        psnr(x, y, crop=15)
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(x, y, crop=10)
    with pytest.raises(TypeError, match="uint8 or floating"):
        psnr(x.int(), y.int())
    with pytest.raises(ValueError, match="1 or 3"):
        ssim(torch.rand(1, 2, 20, 20), torch.rand(1, 2, 20, 20))


@pytest.mark.parametrize("crop", [0, 3])
def test_against_scikit_image(crop):
    skm = pytest.importorskip("skimage.metrics", reason="scikit-image is in the test extras")
    skc = pytest.importorskip("skimage.color", reason="scikit-image is in the test extras")
    noisy, truth, (x, y) = pairs(3, "uint8", seed=7)
    got_p, got_s = psnr(x, y, crop=crop), ssim(x, y, crop=crop)
    for i in range(3):
        a = skc.rgb2ycbcr(noisy[i].transpose(1, 2, 0) / 255.0)[..., 0]
        b = skc.rgb2ycbcr(truth[i].transpose(1, 2, 0) / 255.0)[..., 0]
        if crop:
            a, b = a[crop:-crop, crop:-crop], b[crop:-crop, crop:-crop]
        assert got_p[i].item() == pytest.approx(skm.peak_signal_noise_ratio(b, a, data_range=255), rel=1e-10)
        want = skm.structural_similarity(a, b, data_range=255, gaussian_weights=True, sigma=1.5,
                                         use_sample_covariance=False)
        assert got_s[i].item() == pytest.approx(want, rel=1e-8)


class BicubicNet(torch.nn.Module):
    """An 'SR network' that is PIL's bicubic upscaling: it must score what the bicubic baseline scores."""

    def __init__(self, scale):
        super().__init__()
        self.scale, self.w = scale, torch.nn.Parameter(torch.ones(()))

    def forward(self, x):
        u8 = ((x[0] + 1) * 127.5).round().to(torch.uint8)
        return (bicubic_upscale(u8, self.scale).double() / 127.5 - 1)[None] * self.w


def test_evaluate_sr_scores_bicubic_like_the_baseline():
    rng = np.random.default_rng(3)
    imgs = [torch.from_numpy(ndi.gaussian_filter(rng.uniform(0, 255, s), (0, 1.5, 1.5)).round().astype(np.uint8))
            for s in [(3, 50, 43), (3, 37, 61)]]
    got = evaluate_sr(BicubicNet(4), imgs, 4)
    assert got["images"] == 2
    assert got["psnr"] == pytest.approx(got["psnr_bicubic"], rel=1e-6)    # the SR path is float32
    assert got["ssim"] == pytest.approx(got["ssim_bicubic"], rel=1e-6)
    hr = imgs[0][:, :48, :40].numpy().astype(np.float64)      # by hand for the first image, numpy only
    lr = bicubic_downscale(imgs[0][:, :48, :40], 4)
    up = bicubic_upscale(lr, 4).numpy().astype(np.float64)
    one = np_psnr(np_y(up[:, 4:-4, 4:-4]), np_y(hr[:, 4:-4, 4:-4]))
    hr2 = imgs[1][:, :36, :60].numpy().astype(np.float64)
    up2 = bicubic_upscale(bicubic_downscale(imgs[1][:, :36, :60], 4), 4).numpy().astype(np.float64)
    two = np_psnr(np_y(up2[:, 4:-4, 4:-4]), np_y(hr2[:, 4:-4, 4:-4]))
    assert got["psnr_bicubic"] == pytest.approx((one + two) / 2, rel=1e-10)
    assert up.shape == (3, 48, 40) and 15 < one < 60
