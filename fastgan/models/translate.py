"""Run a fully convolutional image-to-image network over a folder of images.

:func:`translate_folder` is what ``fastgan generate --input PATH --direction AtoB|BtoA`` (CycleGAN)
and ``fastgan generate --input PATH`` (SRGAN's upscaler) call: each image of the input folder or
``.zip`` (or the one image file given; any size) goes through the
network on its own, and the result is written as a PNG under the same relative path in
the output folder.  Images are converted to the network's channel count, scaled to
[-1, 1] and padded (reflection) up to the multiple the network needs (``G.multiple``,
e.g. 4 for a ResNet generator with two stride-2 stages); the padding is cropped off the
output, whose size may be a multiple of the input's (super-resolution).  Every file is
written to a temporary name and renamed, so an interrupted run never leaves a partial PNG.
"""
from __future__ import annotations

import io
import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..data.images import IMAGE_EXTENSIONS, image_source
from ..data.transforms import to_float, to_uint8

__all__ = ["translate_folder", "translate_image", "network_channels"]


def network_channels(G: torch.nn.Module) -> int:
    """The input channel count a network declares (``in_channels`` or ``channels``)."""
    for attr in ("in_channels", "channels"):
        c = getattr(G, attr, None)
        if isinstance(c, int) and c in (1, 3):
            return c
    raise ValueError(f"{type(G).__name__} declares no in_channels/channels of 1 or 3; pass channels=")


@torch.no_grad()
def translate_image(G, image: torch.Tensor, multiple: int = 1) -> torch.Tensor:
    """uint8 ``[C, H, W]`` -> uint8 ``[C', s*H, s*W]`` through ``G`` (padding to ``multiple`` and back)."""
    h, w = image.shape[1:]
    ph, pw = (-h) % multiple, (-w) % multiple
    device = next((p.device for p in G.parameters()), torch.device("cpu")) if isinstance(G, torch.nn.Module) \
        else torch.device("cpu")
    x = to_float(image[None]).to(device)
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    y = G(x)
    if y.ndim != 4 or y.shape[2] % x.shape[2] or y.shape[3] % x.shape[3] or \
            y.shape[2] // x.shape[2] != y.shape[3] // x.shape[3]:
        raise ValueError(f"the network maps {tuple(x.shape)} to {tuple(y.shape)}: not a whole-number rescale")
    s = y.shape[2] // x.shape[2]
    return to_uint8(y[0, :, :s * h, :s * w].clamp(-1, 1)).cpu()


class _OneFile:
    """A single image file as an image source (``read``/``where``)."""

    def __init__(self, path: str):
        self.path = path

    def read(self, rel: str) -> bytes:
        with open(self.path, "rb") as f:
            return f.read()

    def where(self, rel: str) -> str:
        return self.path


def _write_png(array: np.ndarray, path: str) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(tmp, format="PNG")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def translate_folder(G: torch.nn.Module, input: str, out: str, *, channels: int | None = None,
                     multiple: int | None = None, on_error: str = "raise") -> list[str]:
    """Translate every image of ``input`` (a folder or ``.zip``) into PNGs under ``out``; a single
    image file goes to ``out`` itself when it ends in ``.png``, else to ``out/<name>.png``.

    Args:
        G: the network, images in [-1, 1] -> images in [-1, 1] (evaluated in eval mode; its mode
            is restored afterwards).
        channels: the network's input channels (default: ``G.in_channels`` or ``G.channels``).
        multiple: sides are padded to a multiple of this (default: ``G.multiple`` or 1).
        on_error: ``"raise"`` on an unreadable image, or ``"skip"`` it.

    Returns:
        The paths written, in sorted input order.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    input, out = os.fspath(input), os.fspath(out)
    if not os.path.exists(input):
        raise ValueError(f"input {input!r}: no such image, folder or zip")
    single = os.path.isfile(input) and input.lower().endswith(IMAGE_EXTENSIONS)
    target = None   # one image: out is the PNG to write, or a folder for <name>.png
    if single:
        target = out if out.lower().endswith(".png") else \
            os.path.join(out, os.path.splitext(os.path.basename(input))[0] + ".png")
    if os.path.realpath(target or out) == os.path.realpath(input):
        raise ValueError(f"out must differ from input ({input!r}): the translations would overwrite the images")
    channels = channels or network_channels(G)
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    multiple = multiple or getattr(G, "multiple", 1)
    if single:
        src, files = _OneFile(input), [os.path.basename(input)]
    else:
        if os.path.isfile(input) and not input.lower().endswith(".zip"):
            raise ValueError(f"input {input!r}: not an image ({', '.join(IMAGE_EXTENSIONS)}), folder or .zip")
        src = image_source(input)
        files = [f for f in src.list() if f.lower().endswith(IMAGE_EXTENSIONS)]
    if not files:
        raise ValueError(f"{input}: no image files ({', '.join(IMAGE_EXTENSIONS)}) found")
    was_training = G.training if isinstance(G, torch.nn.Module) else False
    if isinstance(G, torch.nn.Module):
        G.eval()
    written = []
    try:
        for rel in files:
            try:
                with Image.open(io.BytesIO(src.read(rel))) as im:
                    arr = np.asarray(im.convert("RGB" if channels == 3 else "L"), dtype=np.uint8)
            except Exception as e:  # noqa: BLE001 - PIL raises many kinds; reported with the file name
                if on_error == "skip":
                    continue
                raise ValueError(f"{src.where(rel)}: unreadable image ({type(e).__name__}: {e})") from e
            img = torch.from_numpy(np.array(arr.reshape(arr.shape[0], arr.shape[1], -1).transpose(2, 0, 1)))
            result = translate_image(G, img, multiple).permute(1, 2, 0).numpy()
            path = target or os.path.join(out, os.path.splitext(rel)[0] + ".png")
            _write_png(result, path)
            written.append(path)
    finally:
        if isinstance(G, torch.nn.Module):
            G.train(was_training)
    return written
