"""PSNR and SSIM with the super-resolution papers' convention.

Both compare a restored image with its ground truth on the luma channel Y of ITU-R
BT.601 (``Y = 16 + (65.481 R + 128.553 G + 24.966 B)`` for RGB in [0, 1], so Y lies in
[16, 235]) after cropping ``crop`` pixels from every border (the scale factor, by
convention), on the 0..255 scale (``data_range = 255``).  Grey images are their own Y.

* PSNR = ``10 log10(255^2 / MSE)`` per image (``inf`` for identical images).
* SSIM (Wang et al. 2004): local statistics under an 11x11 Gaussian window with
  sigma 1.5 (normalised), taken only where the window fits inside the image;
  ``SSIM = (2 mu_x mu_y + C1)(2 sigma_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 + sigma_y^2 + C2))``
  with ``C1 = (0.01 * 255)^2``, ``C2 = (0.03 * 255)^2`` and population (biased) moments;
  the image's SSIM is the mean of that map.  This is what scikit-image's
  ``structural_similarity(..., gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
  data_range=255)`` computes, and the reference MATLAB code of the paper.

Inputs are ``[N, C, H, W]`` (or ``[C, H, W]``) tensors with C = 1 or 3: uint8 (0..255) or
floats in ``value_range`` (default [-1, 1], the package's image convention).  Computed in
float64; both functions return a float64 tensor ``[N]`` of per-image values.
"""
from __future__ import annotations


import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..data.paired import bicubic_downscale

__all__ = ["psnr", "ssim", "rgb_to_y", "to_255", "bicubic_upscale", "evaluate_sr"]

_Y_WEIGHTS = (65.481, 128.553, 24.966)
SSIM_WINDOW, SSIM_SIGMA, SSIM_K1, SSIM_K2 = 11, 1.5, 0.01, 0.03


def to_255(images: torch.Tensor, value_range=(-1.0, 1.0), name: str = "images") -> torch.Tensor:
    """uint8 or floats in ``value_range`` -> float64 [N, C, H, W] on the 0..255 scale."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(images).__name__}")
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"{name} must be [N, 1 or 3, H, W] or [1 or 3, H, W], got shape {tuple(images.shape)}")
    if images.dtype == torch.uint8:
        return images.to(torch.float64)
    if not images.is_floating_point():
        raise TypeError(f"{name} must be uint8 or floating point, got {images.dtype}")
    lo, hi = float(value_range[0]), float(value_range[1])
    if not hi > lo:
        raise ValueError(f"value_range must be (low, high) with high > low, got {value_range!r}")
    return (images.detach().to(torch.float64) - lo) * (255.0 / (hi - lo))


def rgb_to_y(images255: torch.Tensor) -> torch.Tensor:
    """[N, 3, H, W] RGB on 0..255 -> [N, 1, H, W] BT.601 luma in [16, 235]; one channel passes through."""
    if images255.shape[1] == 1:
        return images255
    w = images255.new_tensor(_Y_WEIGHTS).view(1, 3, 1, 1) / 255.0
    return 16.0 + (images255 * w).sum(1, keepdim=True)


def _prepare(x, y, crop, y_channel, value_range):
    x, y = to_255(x, value_range, "x"), to_255(y, value_range, "y")
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    if isinstance(crop, bool) or not isinstance(crop, int) or crop < 0:
        raise ValueError(f"crop must be an int >= 0, got {crop!r}")
    h, w = x.shape[2] - 2 * crop, x.shape[3] - 2 * crop
    if h < 1 or w < 1:
        raise ValueError(f"crop={crop} leaves nothing of {x.shape[2]}x{x.shape[3]} images")
    if crop:
        x, y = x[..., crop:-crop, crop:-crop], y[..., crop:-crop, crop:-crop]
    if y_channel:
        x, y = rgb_to_y(x), rgb_to_y(y)
    return x, y


def psnr(x: torch.Tensor, y: torch.Tensor, *, crop: int = 0, y_channel: bool = True,
         value_range=(-1.0, 1.0)) -> torch.Tensor:
    """Per-image PSNR in dB of ``x`` against the ground truth ``y`` (see the module doc)."""
    x, y = _prepare(x, y, crop, y_channel, value_range)
    mse = (x - y).square().flatten(1).mean(1)
    return 10.0 * torch.log10(255.0 ** 2 / mse)


def _gaussian_window(dtype, device) -> torch.Tensor:
    r = torch.arange(SSIM_WINDOW, dtype=dtype, device=device) - (SSIM_WINDOW - 1) / 2
    g = torch.exp(-r.square() / (2 * SSIM_SIGMA ** 2))
    return g / g.sum()


def ssim(x: torch.Tensor, y: torch.Tensor, *, crop: int = 0, y_channel: bool = True,
         value_range=(-1.0, 1.0)) -> torch.Tensor:
    """Per-image SSIM of ``x`` against ``y``, averaged over channels when ``y_channel=False``."""
    x, y = _prepare(x, y, crop, y_channel, value_range)
    if min(x.shape[2:]) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} after the crop, "
                         f"got {x.shape[2]}x{x.shape[3]}")
    n, c = x.shape[:2]
    g = _gaussian_window(x.dtype, x.device)
    wy, wx = g.view(1, 1, -1, 1), g.view(1, 1, 1, -1)

    def blur(t):   # separable Gaussian, 'valid' region only
        t = t.reshape(n * c, 1, *t.shape[2:])
        return F.conv2d(F.conv2d(t, wy), wx)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    c1, c2 = (SSIM_K1 * 255.0) ** 2, (SSIM_K2 * 255.0) ** 2
    smap = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return smap.reshape(n, c, -1).mean(2).mean(1)


def bicubic_upscale(lr: torch.Tensor, scale: int) -> torch.Tensor:
    """uint8 ``[C, h, w]`` -> uint8 ``[C, scale*h, scale*w]`` with PIL's bicubic filter (the SR baseline)."""
    c, h, w = lr.shape
    img = lr.permute(1, 2, 0).numpy()
    pil = Image.fromarray(img[..., 0] if c == 1 else img)
    out = np.asarray(pil.resize((w * scale, h * scale), Image.Resampling.BICUBIC))
    return torch.from_numpy(out.reshape(h * scale, w * scale, c).copy()).permute(2, 0, 1)


@torch.no_grad()
def evaluate_sr(G: torch.nn.Module, images, scale: int, *, device=None) -> dict[str, float]:
    """Mean PSNR/SSIM (Y channel, border crop = ``scale``) of ``G`` and of bicubic upscaling on
    whole held-out images: each uint8 ``[C, H, W]`` image is cut to a multiple of ``scale``,
    downscaled (:func:`fastgan.data.paired.bicubic_downscale`) and restored.

    Returns ``{"psnr", "ssim", "psnr_bicubic", "ssim_bicubic", "images"}``."""
    device = torch.device(device) if device is not None else next(G.parameters()).device
    sums = dict.fromkeys(("psnr", "ssim", "psnr_bicubic", "ssim_bicubic"), 0.0)
    was_training = G.training
    G.eval()
    n = 0
    try:
        for img in images:
            h, w = img.shape[1] // scale * scale, img.shape[2] // scale * scale
            hr = img[:, :h, :w]
            lr = bicubic_downscale(hr, scale)
            sr = G((lr[None].to(device).float() * (2.0 / 255.0) - 1.0)).clamp(-1, 1).float().cpu()
            bic = bicubic_upscale(lr, scale)[None]
            for key, x in (("", sr), ("_bicubic", bic)):
                sums["psnr" + key] += float(psnr(x, hr[None], crop=scale)[0])
                sums["ssim" + key] += float(ssim(x, hr[None], crop=scale)[0])
            n += 1
    finally:
        G.train(was_training)
    if n == 0:
        raise ValueError("images: no image to evaluate")
    return {**{k: v / n for k, v in sums.items()}, "images": n}
