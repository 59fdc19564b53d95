"""VGG19's convolutional features (Simonyan and Zisserman 2015) as a frozen extractor for
SRGAN's content loss, loaded from a user's weights file checked by its full sha256.

The layers are numbered as in torchvision's ``vgg19().features`` (so its state dicts
load: keys ``features.<i>.weight`` / ``.bias``; other keys, such as the classifier's, are
ignored), and cut after the named layer (``relu5_4`` = index 35, the layer SRGAN's
``VGG54`` loss uses).  Inputs are images in [-1, 1], grey or RGB; they are mapped to
[0, 1] and normalised with the ImageNet mean and standard deviation the weights were
trained with.  Nothing is downloaded: the caller names the file and its digest.
"""
from __future__ import annotations

import hashlib
import os
import re

import torch
from safetensors.torch import load_file
from torch import nn

__all__ = ["VGG19Features", "VGG19_LAYERS", "file_sha256"]

_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _layer_names() -> dict[str, int]:
    names, block, conv, i = {}, 1, 1, 0
    for v in _CFG:
        if v == "M":
            names[f"pool{block}"] = i
            block, conv, i = block + 1, 1, i + 1
        else:
            names[f"conv{block}_{conv}"], names[f"relu{block}_{conv}"] = i, i + 1
            conv, i = conv + 1, i + 2
    return names


VGG19_LAYERS = _layer_names()   # {"conv1_1": 0, "relu1_1": 1, ..., "relu5_4": 35, "pool5": 36}


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _load_state(path: str) -> dict:
    if path.endswith(".safetensors"):
        return load_file(path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(state).__name__}")
    return state


class VGG19Features(nn.Module):
    """``forward(images in [-1, 1]) -> VGG19 activations at ``layer```, frozen.

    Args:
        weights: a torchvision-layout state dict file (``.pth`` read with ``weights_only=True``,
            or ``.safetensors``); ``None`` leaves random weights (tests only).
        sha256: the file's full hex digest; a mismatch is an error naming both digests.
        layer: where to cut, a key of :data:`VGG19_LAYERS` (default ``relu5_4``).
    """

    def __init__(self, weights: str | None, sha256: str | None = None, layer: str = "relu5_4"):
        super().__init__()
        if layer not in VGG19_LAYERS:
            raise ValueError(f"layer must be one of {', '.join(VGG19_LAYERS)}, got {layer!r}")
        mods, ch = [], 3
        for v in _CFG:
            if v == "M":
                mods.append(nn.MaxPool2d(2, 2))
            else:
                mods += [nn.Conv2d(ch, v, 3, padding=1), nn.ReLU(inplace=False)]
                ch = v
        self.features = nn.Sequential(*mods[:VGG19_LAYERS[layer] + 1])
        self.layer = layer
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        if weights is not None:
            self._load(os.fspath(weights), sha256)
        self.requires_grad_(False).eval()

    def _load(self, path: str, sha256: str | None) -> None:
        if not isinstance(sha256, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
            raise ValueError(f"sha256 must be the weights file's full 64-hex digest, got {sha256!r}")
        if not os.path.isfile(path):
            raise ValueError(f"VGG19 weights {path!r}: no such file")
        actual = file_sha256(path)
        if actual != sha256.lower():
            raise ValueError(f"VGG19 weights {path}: sha256 {actual} does not match the expected {sha256.lower()}")
        state = _load_state(path)
        own = self.features.state_dict()
        wanted = {f"features.{k}": k for k in own}
        missing = [k for k in wanted if k not in state]
        if missing:
            more = " ..." if len(missing) > 4 else ""
            raise ValueError(f"VGG19 weights {path}: missing {', '.join(missing[:4])}{more} "
                             f"(expected torchvision's vgg19 state dict keys)")
        for full, k in wanted.items():
            if tuple(state[full].shape) != tuple(own[k].shape):
                raise ValueError(f"VGG19 weights {path}: {full} has shape {tuple(state[full].shape)}, "
                                 f"expected {tuple(own[k].shape)}")
        self.features.load_state_dict({k: state[full] for full, k in wanted.items()})

    def train(self, mode: bool = True):   # frozen: always evaluates
        return super().train(False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f"images must be [N, 1 or 3, H, W], got shape {tuple(images.shape)}")
        x = (images.expand(-1, 3, -1, -1) + 1) * 0.5
        return self.features((x - self.mean.to(x.dtype)) / self.std.to(x.dtype))
