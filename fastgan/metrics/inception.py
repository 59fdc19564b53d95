"""The FID InceptionV3: pool3 features (2048) and the 1008 logits, block for block as in TF FID.

The network is the Inception v3 of TensorFlow's FID graph (2015-12-05) as ported to PyTorch by
pytorch-fid, written here from its architecture: parameter names follow torchvision's layout,
so the published weights file ``pt_inception-2015-12-05-6726825d.pth`` loads directly.  The
FID-specific differences from torchvision's Inception v3: the average-pooling branches of the
A, C and E blocks use ``count_include_pad=False``; the last E block pools its branch with a
3x3 max pool; the classifier has 1008 outputs.  BatchNorm eps is 0.001.

Preprocessing (``PREPROCESS_ID``): images in [-1, 1] (or uint8 0..255) are mapped to [0, 1],
resized to 299x299 bilinearly (``align_corners=False``, no antialias), scaled to [-1, 1];
one-channel images are repeated to three.

Weights are looked up, in order, at: the ``weights`` argument (CLI ``--inception-weights``),
``$FASTGAN_INCEPTION_WEIGHTS``, ``$FASTGAN_CACHE`` (default ``~/.cache/fastgan``) and torch
hub's checkpoint directory; if absent and ``download=True`` they are downloaded from the
pytorch-fid release.  Every file is checked by sha256 before it is loaded (``weights_only``).
"""
from __future__ import annotations

import hashlib
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["FIDInceptionV3", "find_inception_weights", "load_inception", "WEIGHTS_FILE",
           "WEIGHTS_SHA256", "WEIGHTS_URL", "PREPROCESS_ID", "preprocess"]

WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
WEIGHTS_URL = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + WEIGHTS_FILE
WEIGHTS_SHA256 = "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2"
PREPROCESS_ID = "bilinear-299(align_corners=False),[-1,1],gray->rgb"


class Conv(nn.Module):
    """Conv (no bias) + BatchNorm(eps=1e-3) + ReLU; attribute names match torchvision."""

    def __init__(self, cin: int, cout: int, kernel, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


def _avg3(x):
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class BlockA(nn.Module):  # Mixed_5b..5d
    def __init__(self, cin: int, pool_features: int):
        super().__init__()
        self.branch1x1 = Conv(cin, 64, 1)
        self.branch5x5_1 = Conv(cin, 48, 1)
        self.branch5x5_2 = Conv(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = Conv(cin, 64, 1)
        self.branch3x3dbl_2 = Conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = Conv(96, 96, 3, padding=1)
        self.branch_pool = Conv(cin, pool_features, 1)

    def forward(self, x):
        return torch.cat([self.branch1x1(x),
                          self.branch5x5_2(self.branch5x5_1(x)),
                          self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                          self.branch_pool(_avg3(x))], 1)


class BlockB(nn.Module):  # Mixed_6a: grid reduction 35 -> 17
    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3 = Conv(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = Conv(cin, 64, 1)
        self.branch3x3dbl_2 = Conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = Conv(96, 96, 3, stride=2)

    def forward(self, x):
        return torch.cat([self.branch3x3(x),
                          self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                          F.max_pool2d(x, 3, stride=2)], 1)


class BlockC(nn.Module):  # Mixed_6b..6e: factorised 7x7
    def __init__(self, cin: int, c7: int):
        super().__init__()
        self.branch1x1 = Conv(cin, 192, 1)
        self.branch7x7_1 = Conv(cin, c7, 1)
        self.branch7x7_2 = Conv(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = Conv(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = Conv(cin, c7, 1)
        self.branch7x7dbl_2 = Conv(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = Conv(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = Conv(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = Conv(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = Conv(cin, 192, 1)

    def forward(self, x):
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        d = x
        for layer in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3,
                      self.branch7x7dbl_4, self.branch7x7dbl_5):
            d = layer(d)
        return torch.cat([self.branch1x1(x), b7, d, self.branch_pool(_avg3(x))], 1)


class BlockD(nn.Module):  # Mixed_7a: grid reduction 17 -> 8
    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3_1 = Conv(cin, 192, 1)
        self.branch3x3_2 = Conv(192, 320, 3, stride=2)
        self.branch7x7x3_1 = Conv(cin, 192, 1)
        self.branch7x7x3_2 = Conv(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = Conv(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = Conv(192, 192, 3, stride=2)

    def forward(self, x):
        b7 = x
        for layer in (self.branch7x7x3_1, self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
            b7 = layer(b7)
        return torch.cat([self.branch3x3_2(self.branch3x3_1(x)), b7, F.max_pool2d(x, 3, stride=2)], 1)


class BlockE(nn.Module):  # Mixed_7b (avg pool branch), Mixed_7c (max pool branch)
    def __init__(self, cin: int, pool: str):
        super().__init__()
        if pool not in ("avg", "max"):
            raise ValueError(f"pool must be 'avg' or 'max', got {pool!r}")
        self.pool = pool
        self.branch1x1 = Conv(cin, 320, 1)
        self.branch3x3_1 = Conv(cin, 384, 1)
        self.branch3x3_2a = Conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = Conv(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = Conv(cin, 448, 1)
        self.branch3x3dbl_2 = Conv(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = Conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = Conv(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = Conv(cin, 192, 1)

    def forward(self, x):
        t = self.branch3x3_1(x)
        u = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        p = _avg3(x) if self.pool == "avg" else F.max_pool2d(x, 3, stride=1, padding=1)
        return torch.cat([self.branch1x1(x),
                          self.branch3x3_2a(t), self.branch3x3_2b(t),
                          self.branch3x3dbl_3a(u), self.branch3x3dbl_3b(u),
                          self.branch_pool(p)], 1)


def preprocess(images: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] images in [-1, 1] (float) or 0..255 (uint8), C in {1, 3} -> [N, 3, 299, 299]."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must be [N, 1 or 3, H, W], got shape {tuple(images.shape)}")
    x = images.float() / 255.0 if images.dtype == torch.uint8 else (images.float() + 1.0) / 2.0
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if x.shape[2:] != (299, 299):
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
    return 2.0 * x - 1.0


class FIDInceptionV3(nn.Module):
    """``forward(images) -> (pool3 [N, 2048], logits [N, 1008])``; images as in :func:`preprocess`."""

    feature_dim = 2048
    num_classes = 1008

    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = Conv(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = Conv(32, 32, 3)
        self.Conv2d_2b_3x3 = Conv(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = Conv(64, 80, 1)
        self.Conv2d_4a_3x3 = Conv(80, 192, 3)
        self.Mixed_5b = BlockA(192, 32)
        self.Mixed_5c = BlockA(256, 64)
        self.Mixed_5d = BlockA(288, 64)
        self.Mixed_6a = BlockB(288)
        self.Mixed_6b = BlockC(768, 128)
        self.Mixed_6c = BlockC(768, 160)
        self.Mixed_6d = BlockC(768, 160)
        self.Mixed_6e = BlockC(768, 192)
        self.Mixed_7a = BlockD(768)
        self.Mixed_7b = BlockE(1280, "avg")
        self.Mixed_7c = BlockE(2048, "max")
        self.fc = nn.Linear(2048, 1008)

    def forward(self, images: torch.Tensor, *, preprocessed: bool = False):
        x = images if preprocessed else preprocess(images)
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, 3, stride=2)
        for name in ("Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c",
                     "Mixed_6d", "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"):
            x = getattr(self, name)(x)
        pool3 = x.mean(dim=(2, 3))
        return pool3, self.fc(pool3)


# ----------------------------------------------------------------------------- weights
def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _candidates(weights: str | None) -> list[str]:
    out = []
    if weights:
        out.append(os.path.expanduser(weights))
    env = os.environ.get("FASTGAN_INCEPTION_WEIGHTS")
    if env:
        out.append(os.path.expanduser(env))
    cache = os.path.expanduser(os.environ.get("FASTGAN_CACHE", os.path.join("~", ".cache", "fastgan")))
    out.append(os.path.join(cache, WEIGHTS_FILE))
    out.append(os.path.join(torch.hub.get_dir(), "checkpoints", WEIGHTS_FILE))
    return out


def check_weights_file(path: str) -> str:
    """Return the file's sha256 if it is the FID Inception weights file (the full digest matches),
    else raise ValueError naming the expected and the actual digest."""
    digest = _sha256(path)
    if digest == WEIGHTS_SHA256:
        return digest
    raise ValueError(f"{path}: wrong sha256: expected {WEIGHTS_SHA256} (the FID Inception weights, {WEIGHTS_FILE}), "
                     f"got {digest}. Delete the file and get the right one from {WEIGHTS_URL}")


def find_inception_weights(weights: str | None = None, *, download: bool = True) -> tuple[str, str]:
    """Locate (or download) and hash-check the weights; return ``(path, sha256)``."""
    cands = _candidates(weights)
    if weights and not os.path.isfile(cands[0]):
        raise FileNotFoundError(f"Inception weights file {cands[0]} does not exist")
    for path in cands:
        if os.path.isfile(path):
            return path, check_weights_file(path)
    target = cands[-2]  # the fastgan cache
    if download:
        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            torch.hub.download_url_to_file(WEIGHTS_URL, target, hash_prefix=WEIGHTS_SHA256, progress=True)
            return target, check_weights_file(target)
        except Exception as e:  # no network, proxy, ...: fall through to the explanation
            reason = f" (download failed: {type(e).__name__}: {e})"
    else:
        reason = " (download disabled)"
    raise FileNotFoundError(
        f"FID Inception weights not found{reason}. Get {WEIGHTS_FILE} (sha256 {WEIGHTS_SHA256}) from "
        f"{WEIGHTS_URL} and put it at {target}, or point FASTGAN_INCEPTION_WEIGHTS (or "
        "--inception-weights) at it. Looked at: " + ", ".join(cands))


def load_inception(weights: str | None = None, *, download: bool = True) -> tuple[FIDInceptionV3, str]:
    """Build the network with the checked weights; return ``(model in eval mode, sha256)``."""
    path, digest = find_inception_weights(weights, download=download)
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = FIDInceptionV3()
    model.load_state_dict(state, strict=True)
    return model.eval().requires_grad_(False), digest
