"""A small MNIST digits classifier shipped with the package: FID/IS/KID/PR on digits offline (the
metrics), instance features (IC-GAN).

``DigitsNet``: three 3x3 conv layers (32, 64, 96 channels, ReLU, each followed by a 2x2 max
pool: 28 -> 14 -> 7 -> 3), a linear layer to the 128-d feature vector (ReLU; dropout 0.3 after
it while training) and a linear layer to 10 logits (about 186k parameters, about 750 kB as
float32 safetensors).  Trained by
``scripts/train_digits_classifier.py`` on the train split of the embedded MNIST-5k; its
held-out accuracy is stored in the weights file's metadata (``DigitsFeatures.metadata``).

Input: [N, 1, H, W] images in [-1, 1] (float) or 0..255 (uint8), white digit on black as in
MNIST; other sizes are resized bilinearly to 28x28; three-channel images are averaged to gray.
"""
from __future__ import annotations

import hashlib
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["DigitsNet", "DigitsFeatures", "WEIGHTS_PATH", "PREPROCESS_ID", "preprocess_digits"]

WEIGHTS_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            "assets", "digits_classifier.safetensors")
PREPROCESS_ID = "digits28(bilinear,align_corners=False),[-1,1],rgb->gray mean"


class DigitsNet(nn.Module):
    """``forward(x) -> (features [N, 128], logits [N, 10])`` for x already preprocessed."""

    feature_dim = 128
    num_classes = 10

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.conv3 = nn.Conv2d(64, 96, 3, padding=1)
        self.fc1 = nn.Linear(96 * 3 * 3, 128)
        self.fc = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)   # 14x14
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)   # 7x7
        x = F.max_pool2d(F.relu(self.conv3(x)), 2)   # 3x3
        f = F.relu(self.fc1(x.flatten(1)))           # 128-d features
        return f, self.fc(F.dropout(f, 0.3, self.training))


def preprocess_digits(images: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] (C = 1 or 3; float in [-1, 1] or uint8) -> float [N, 1, 28, 28] in [-1, 1]."""
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.ndim == 3:
        images = images[:, None]
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must be [N, 1 or 3, H, W] (or [N, H, W]), got shape {tuple(images.shape)}")
    x = images.float() * (2.0 / 255.0) - 1.0 if images.dtype == torch.uint8 else images.float()
    if x.shape[1] == 3:
        x = x.mean(dim=1, keepdim=True)
    if x.shape[2:] != (28, 28):
        x = F.interpolate(x, size=(28, 28), mode="bilinear", align_corners=False)
    return x


class DigitsFeatures(nn.Module):
    """The shipped classifier as a feature extractor: ``forward(images) -> (features, logits)``.

    ``feature_id`` names the weights by their sha256, so stats made with other weights are
    refused by :class:`~fastgan.metrics.FIDStats`."""

    preprocess_id = PREPROCESS_ID
    feature_dim = DigitsNet.feature_dim
    num_classes = DigitsNet.num_classes

    def __init__(self, weights: str | None = None):
        super().__init__()
        from safetensors import safe_open  # only when the classifier is built
        from safetensors.torch import load_file  # (same)
        path = weights or WEIGHTS_PATH
        if not os.path.isfile(path):
            raise FileNotFoundError(f"digits classifier weights {path} are missing; "
                                    "train them with: python scripts/train_digits_classifier.py")
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        with safe_open(path, framework="pt") as f:
            self.metadata = dict(f.metadata() or {})
        self.net = DigitsNet()
        self.net.load_state_dict(load_file(path), strict=True)
        self.net.eval().requires_grad_(False)
        self.feature_id = f"fastgan-digits-v1:sha256={digest[:16]}"
        self.weights_sha256 = digest

    def forward(self, images: torch.Tensor):
        return self.net(preprocess_digits(images).to(self.net.fc.weight.device))
