"""Differentiable augmentation of every image a discriminator sees (real and fake).

* **DiffAugment** (Zhao et al., 2020): ``color`` (brightness U(-0.5, 0.5), saturation x
  U(0, 2), contrast x U(0.5, 1.5)), ``translation`` (integer shifts of up to 1/8 of the
  image, zero fill) and ``cutout`` (a zero square of half the image side), every op on
  every image: :func:`diffaugment`.
* **ADA** (Karras et al., 2020), the geometric and colour groups of its ``bgc`` pipeline,
  each transform applied to each image independently with probability ``p``: x-flip, 90°
  rotations, integer translation (up to 1/8, reflect padding), isotropic scaling
  (lognormal, std 0.2 log 2), arbitrary rotation (probability ``1 - sqrt(1 - p)``, so
  that a pair of them occurs with probability p), anisotropic scaling, fractional
  translation (std 1/8); brightness (N(0, 0.2)), contrast (lognormal, std 0.5 log 2),
  luma flip, hue rotation (U(-π, π) about the luma axis) and saturation (lognormal, std
  log 2): :func:`ada_augment`.  The continuous geometric transforms are one affine warp
  per image (bilinear ``grid_sample`` with reflection padding at 2x between fastgan's
  ``upsample2d``/``downsample2d`` with the low-pass :data:`AA_FILTER`, as ADA filters them);
  the integer ones are exact index operations.  :class:`ADAController` steers p by the
  overfitting heuristic r_t = E[sign(D(real))].

Every op is differentiable in the image.  Random numbers come from a ``draw`` object with
``rand(*shape)`` and ``randn(*shape)`` (a ``fastgan.family.Context`` is one, so training
draws the same noise on every DDP rank); without one, ``torch.rand``/``torch.randn``.
Images are ``[N, C, H, W]`` with values in [-1, 1]; square images for the 90° rotations.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .. import ops

__all__ = ["translate", "cutout", "diffaugment", "DIFFAUG_OPS", "xflip", "rotate90", "translate_reflect",
           "affine_warp", "AA_FILTER", "color_matrix", "apply_color", "ada_augment", "ADAController"]

DIFFAUG_OPS = ("color", "translation", "cutout")
AA_FILTER = (1.0, 3.0, 3.0, 1.0)   # the anti-aliasing low-pass of ADA's continuous warp (StyleGAN2's resampling filter)


class _TorchDraw:
    def __init__(self, device):
        self.device = device

    def rand(self, *shape):
        return torch.rand(shape, device=self.device)

    def randn(self, *shape):
        return torch.randn(shape, device=self.device)


def _check_images(x, name="x"):
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a tensor, got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{name} must be [N, C, H, W], got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be floating point, got {x.dtype}")


def _per_sample(v, x):
    return v.to(device=x.device, dtype=x.dtype).view(-1, 1, 1, 1)


def _gather_shift(x, ty, tx, mode):
    """out[n, :, i, j] = x[n, :, i - ty[n], j - tx[n]]; outside the image: 0 (``zeros``) or the
    mirror image without repeating the edge (``reflect``, numpy's mode of that name)."""
    N, C, H, W = x.shape
    rows = torch.arange(H, device=x.device).view(1, H) - ty.to(x.device).long().view(N, 1)
    cols = torch.arange(W, device=x.device).view(1, W) - tx.to(x.device).long().view(N, 1)
    if mode == "reflect":
        rows, cols = _reflect(rows, H), _reflect(cols, W)
        valid = None
    else:
        valid = ((rows >= 0) & (rows < H)).view(N, 1, H, 1) & ((cols >= 0) & (cols < W)).view(N, 1, 1, W)
        rows, cols = rows.clamp(0, H - 1), cols.clamp(0, W - 1)
    out = x.gather(2, rows.view(N, 1, H, 1).expand(N, C, H, W))
    out = out.gather(3, cols.view(N, 1, 1, W).expand(N, C, H, W))
    return out if valid is None else out * valid.to(x.dtype)


def _reflect(idx, n):
    if n == 1:
        return torch.zeros_like(idx)
    period = 2 * (n - 1)
    idx = idx.remainder(period)
    return torch.where(idx >= n, period - idx, idx)


# ----------------------------------------------------------------------------- DiffAugment
def translate(x: torch.Tensor, ty: torch.Tensor, tx: torch.Tensor) -> torch.Tensor:
    """Shift each image down by ``ty[n]`` and right by ``tx[n]`` pixels (integers), zero fill."""
    _check_images(x)
    return _gather_shift(x, ty, tx, "zeros")


def cutout(x: torch.Tensor, y0: torch.Tensor, x0: torch.Tensor, size: int) -> torch.Tensor:
    """Zero the ``size`` x ``size`` square with top-left corner (y0[n], x0[n]) (clipped to the image)."""
    _check_images(x)
    N, _, H, W = x.shape
    i = torch.arange(H, device=x.device).view(1, H, 1) - y0.to(x.device).long().view(N, 1, 1)
    j = torch.arange(W, device=x.device).view(1, 1, W) - x0.to(x.device).long().view(N, 1, 1)
    inside = (i >= 0) & (i < size) & (j >= 0) & (j < size)
    return x * (~inside).unsqueeze(1).to(x.dtype)


def diffaugment(x: torch.Tensor, policy="color,translation,cutout", draw=None,
                translation_ratio: float = 0.125, cutout_ratio: float = 0.5) -> torch.Tensor:
    """DiffAugment with the paper's default strengths; ``policy`` is a comma-separated subset of
    ``color,translation,cutout`` (or a sequence of those names)."""
    _check_images(x)
    ops = [p.strip() for p in policy.split(",") if p.strip()] if isinstance(policy, str) else list(policy)
    bad = [p for p in ops if p not in DIFFAUG_OPS]
    if bad:
        raise ValueError(f"policy: unknown DiffAugment ops {bad}; valid: {', '.join(DIFFAUG_OPS)}")
    draw = draw or _TorchDraw(x.device)
    N, C, H, W = x.shape
    if "color" in ops:
        x = x + _per_sample(draw.rand(N) - 0.5, x)
        m = x.mean(dim=1, keepdim=True)
        x = (x - m) * _per_sample(draw.rand(N) * 2, x) + m
        m = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - m) * _per_sample(draw.rand(N) + 0.5, x) + m
    if "translation" in ops:
        sy, sx = int(H * translation_ratio + 0.5), int(W * translation_ratio + 0.5)
        ty = (draw.rand(N) * (2 * sy + 1)).floor().clamp(max=2 * sy) - sy
        tx = (draw.rand(N) * (2 * sx + 1)).floor().clamp(max=2 * sx) - sx
        x = translate(x, ty, tx)
    if "cutout" in ops:
        size = int(min(H, W) * cutout_ratio + 0.5)
        cy = (draw.rand(N) * (H + 1 - size % 2)).floor().clamp(max=H - size % 2)
        cx = (draw.rand(N) * (W + 1 - size % 2)).floor().clamp(max=W - size % 2)
        x = cutout(x, cy - size // 2, cx - size // 2, size)
    return x


# ----------------------------------------------------------------------------- ADA: geometry
def xflip(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Images with ``mask[n]`` true mirrored left-right."""
    _check_images(x)
    return torch.where(mask.to(x.device).view(-1, 1, 1, 1), x.flip(3), x)


def rotate90(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Image n rotated by k[n] quarter turns counter-clockwise (``torch.rot90(x, k, (2, 3))``)."""
    _check_images(x)
    if x.shape[2] != x.shape[3]:
        raise ValueError(f"x: 90-degree rotations need square images, got {tuple(x.shape[2:])}")
    k = k.to(x.device).long().remainder(4).view(-1, 1, 1, 1)
    out = x
    for q in (1, 2, 3):
        out = torch.where(k == q, torch.rot90(x, q, (2, 3)), out)
    return out


def translate_reflect(x: torch.Tensor, ty: torch.Tensor, tx: torch.Tensor) -> torch.Tensor:
    """Integer shift (down ``ty``, right ``tx``) with reflect padding (numpy's ``reflect``)."""
    _check_images(x)
    return _gather_shift(x, ty, tx, "reflect")


def affine_warp(x: torch.Tensor, matrix: torch.Tensor, filter=None) -> torch.Tensor:
    """Resample each image through a 2x3 ``matrix[n]`` acting on pixel-centred coordinates
    (origin at the image centre, unit = one pixel, x right, y down): output pixel p shows the
    input at ``A p + t``.  Bilinear, reflection padding at the image border.

    ``filter`` (a 1-D low-pass, e.g. :data:`AA_FILTER`): anti-aliased as in ADA, the image is
    reflect-padded, upsampled 2x with the filter (``fastgan.ops.upsample2d``), warped at 2x and
    filtered back down (``fastgan.ops.downsample2d``); None: one bilinear resampling."""
    _check_images(x)
    N, _, H, W = x.shape
    if matrix.shape != (N, 2, 3):
        raise ValueError(f"matrix must be [{N}, 2, 3], got {tuple(matrix.shape)}")
    if filter is None:
        return _warp(x, matrix)
    f = ops.setup_filter(filter, device=x.device).to(x.dtype)
    m = 2 if min(H, W) > 2 else 0
    xp = F.pad(x, (m, m, m, m), mode="reflect") if m else x
    up = ops.upsample2d(xp, f, up=2)
    # at 2x the same map in 2x pixel units: A (2p) + 2t = 2 (A p + t)
    warped = _warp(up, torch.cat([matrix[:, :, :2], 2 * matrix[:, :, 2:]], dim=2))
    return ops.downsample2d(warped, f, down=2)[:, :, m:m + H, m:m + W]


def _warp(x, matrix):
    N, _, H, W = x.shape
    # grid_sample's normalised coordinates (align_corners=False): u = 2 p / W
    s = torch.tensor([W / 2, H / 2], dtype=matrix.dtype, device=matrix.device)
    theta = torch.cat([matrix[:, :, :2] * s.view(1, 1, 2) / s.view(1, 2, 1),
                       (matrix[:, :, 2] / s).unsqueeze(2)], dim=2)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _rot2(theta):
    c, s = torch.cos(theta), torch.sin(theta)
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)


# ----------------------------------------------------------------------------- ADA: colour
def color_matrix(channels: int, brightness, contrast, lumaflip, hue, saturation) -> torch.Tensor:
    """Per-sample ``[N, C, C+1]`` affine colour transform: brightness b (added), contrast c
    (multiplied), luma flip (i in {0, 1}: reflection through the plane orthogonal to the luma
    axis (1, 1, 1)/sqrt(3)), hue rotation by angle h about the luma axis, saturation s
    (scaling orthogonal to it), applied in that order.  One channel: only b, c and the flip."""
    b, c, i, h, s = (torch.as_tensor(t, dtype=torch.float64) for t in (brightness, contrast, lumaflip, hue,
                                                                         saturation))
    N = b.shape[0]
    if channels == 1:
        lin = (c * (1 - 2 * i)).view(N, 1, 1)
        return torch.cat([lin, (b * c * (1 - 2 * i)).view(N, 1, 1)], dim=2)
    if channels != 3:
        raise ValueError(f"colour transforms need 1 or 3 channels, got {channels}")
    v = torch.full((3,), 1 / math.sqrt(3), dtype=torch.float64)
    P = torch.outer(v, v)
    eye = torch.eye(3, dtype=torch.float64)
    K = torch.tensor([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]], dtype=torch.float64)
    flip = eye - 2 * i.view(N, 1, 1) * P
    hue_m = eye + torch.sin(h).view(N, 1, 1) * K + (1 - torch.cos(h)).view(N, 1, 1) * (K @ K)
    sat = P + s.view(N, 1, 1) * (eye - P)
    lin = sat @ hue_m @ flip * c.view(N, 1, 1)
    offset = lin @ (b.view(N, 1, 1) * torch.ones(3, 1, dtype=torch.float64))
    return torch.cat([lin, offset], dim=2)


def apply_color(x: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """x'[n] = matrix[n, :, :C] x[n] + matrix[n, :, C] per pixel."""
    _check_images(x)
    m = matrix.to(device=x.device, dtype=x.dtype)
    C = x.shape[1]
    return torch.einsum("nij,njhw->nihw", m[:, :, :C], x) + m[:, :, C].view(-1, C, 1, 1)


# ----------------------------------------------------------------------------- ADA pipeline
def ada_augment(x: torch.Tensor, p: float, draw=None, geometric: bool = True, color: bool = True) -> torch.Tensor:
    """The ADA pipeline at probability ``p`` (each transform on each image independently)."""
    _check_images(x)
    if not 0 <= p <= 1:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if p == 0:
        return x
    draw = draw or _TorchDraw(x.device)
    N, C, H, W = x.shape
    dev = x.device

    def on(prob=p):
        return draw.rand(N) < prob

    lognormal = lambda std: torch.exp2(draw.randn(N) * std)   # noqa: E731
    if geometric:
        x = xflip(x, on() & (draw.rand(N) < 0.5))
        if H == W:
            x = rotate90(x, torch.where(on(), (draw.rand(N) * 4).floor().clamp(max=3), torch.zeros(N, device=dev)))
        m = on()
        ty = ((draw.rand(N) * 2 - 1) * 0.125 * H).round() * m
        tx = ((draw.rand(N) * 2 - 1) * 0.125 * W).round() * m
        x = translate_reflect(x, ty, tx)
        # continuous part: one affine map per image
        iso = torch.where(on(), lognormal(0.2), torch.ones(N, device=dev))
        p_rot = 1 - math.sqrt(1 - p)
        rot1 = torch.where(on(p_rot), (draw.rand(N) * 2 - 1) * math.pi, torch.zeros(N, device=dev))
        aniso = torch.where(on(), lognormal(0.2), torch.ones(N, device=dev))
        rot2 = torch.where(on(p_rot), (draw.rand(N) * 2 - 1) * math.pi, torch.zeros(N, device=dev))
        frac = on().view(N, 1) * draw.randn(N, 2) * 0.125 * torch.tensor([W, H], device=dev, dtype=torch.float32)
        # forward map: scale iso, rotate, scale aniso, rotate, translate; the warp needs its inverse
        fwd = _rot2(rot2) @ torch.diag_embed(torch.stack([aniso, 1 / aniso], -1)) @ _rot2(rot1) \
            * iso.view(N, 1, 1)
        A = torch.linalg.inv(fwd)
        t = -(A @ frac.unsqueeze(2)).squeeze(2)
        warped = (iso != 1) | (rot1 != 0) | (aniso != 1) | (rot2 != 0) | (frac != 0).any(1)
        if warped.any():
            idx = warped.nonzero().squeeze(1)
            out = affine_warp(x[idx], torch.cat([A[idx], t[idx].unsqueeze(2)], dim=2), AA_FILTER)
            x = x.index_put((idx,), out)
    if color:
        zeros, ones = torch.zeros(N, device=dev), torch.ones(N, device=dev)
        b = torch.where(on(), draw.randn(N) * 0.2, zeros)
        c = torch.where(on(), lognormal(0.5), ones)
        i = torch.where(on(), (draw.rand(N) < 0.5).float(), zeros)
        h = torch.where(on(), (draw.rand(N) * 2 - 1) * math.pi, zeros)
        s = torch.where(on(), lognormal(1.0), ones)
        x = apply_color(x, color_matrix(C, b.cpu(), c.cpu(), i.cpu(), h.cpu(), s.cpu()))
    return x


class ADAController:
    """ADA's probability p, steered by r_t = E[sign(D(real))] towards ``target``: every
    ``interval`` updates, p moves by sign(r_t - target) * (images since the last adjustment)
    / (``speed_kimg`` * 1000), clamped to [0, 1] (p can go from 0 to 1 in ``speed_kimg``).
    Under torch.distributed the sums cover all processes, so every process keeps the same p."""

    def __init__(self, target: float = 0.6, speed_kimg: float = 500.0, interval: int = 4, p: float = 0.0):
        if not 0 <= target <= 1:
            raise ValueError(f"target must be in [0, 1], got {target}")
        if not speed_kimg > 0:
            raise ValueError(f"speed_kimg must be > 0, got {speed_kimg}")
        if interval < 1:
            raise ValueError(f"interval must be >= 1, got {interval}")
        self.target, self.speed_kimg, self.interval = float(target), float(speed_kimg), int(interval)
        self.p, self.sign_sum, self.count, self.calls, self.nimg = float(p), 0.0, 0, 0, 0
        self.last_rt = float("nan")

    def update(self, real_logits: torch.Tensor) -> float:
        """Accumulate sign(D(real)) of one batch; adjust p every ``interval`` calls; returns p."""
        d = real_logits.detach()
        tot = torch.stack([torch.sign(d).sum().double(), torch.tensor(float(d.numel()), dtype=torch.float64,
                                                                          device=d.device),
                           torch.tensor(float(d.shape[0]), dtype=torch.float64, device=d.device)])
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(tot)   # every process steers p from the global batch
        self.sign_sum += float(tot[0])
        self.count += int(tot[1])
        self.nimg += int(tot[2])
        self.calls += 1
        if self.calls >= self.interval:
            self.last_rt = self.sign_sum / max(self.count, 1)
            step = math.copysign(1.0, self.last_rt - self.target) if self.last_rt != self.target else 0.0
            self.p = min(1.0, max(0.0, self.p + step * self.nimg / (self.speed_kimg * 1000)))
            self.sign_sum, self.count, self.calls, self.nimg = 0.0, 0, 0, 0
        return self.p

    def state_dict(self) -> dict:
        return {"p": self.p, "sign_sum": self.sign_sum, "count": self.count, "calls": self.calls, "nimg": self.nimg}

    def load_state_dict(self, state: dict) -> None:
        self.p = float(state["p"])
        self.sign_sum, self.count = float(state.get("sign_sum", 0.0)), int(state.get("count", 0))
        self.calls, self.nimg = int(state.get("calls", 0)), int(state.get("nimg", 0))
