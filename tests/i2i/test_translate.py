"""translate_folder with networks whose output is known by hand; cycle_grid's rows."""
from __future__ import annotations

import os
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from fastgan.models.cyclegan import ResnetGenerator, cycle_grid
from fastgan.models.translate import translate_folder


class Invert(torch.nn.Module):
    """x -> -x (255 - v on uint8), needs sides that are multiples of 4, upscales by ``scale`` (nearest)."""

    def __init__(self, channels=3, scale=1):
        super().__init__()
        self.in_channels, self.multiple, self.scale = channels, 4, scale
        self.w = torch.nn.Parameter(torch.ones(()))
        self.seen = []

    def forward(self, x):
        assert x.shape[2] % 4 == 0 and x.shape[3] % 4 == 0
        self.seen.append(self.training)
        y = -x * self.w
        return y.repeat_interleave(self.scale, 2).repeat_interleave(self.scale, 3)


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    src = tmp_path / "in"
    data = {"a.png": rng.integers(0, 256, (13, 10, 3), dtype=np.uint8),
            "sub/b.jpg": None,
            "c.png": rng.integers(0, 256, (8, 17), dtype=np.uint8)}
    (src / "sub").mkdir(parents=True)
    Image.fromarray(data["a.png"]).save(src / "a.png")
    Image.fromarray(rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)).save(src / "sub" / "b.jpg", quality=95)
    data["sub/b.jpg"] = np.asarray(Image.open(src / "sub" / "b.jpg").convert("RGB"))
    Image.fromarray(data["c.png"]).save(src / "c.png")
    (src / "notes.txt").write_text("not an image")
    return src, data


def _rgb(a):
    return np.repeat(a[..., None], 3, axis=2) if a.ndim == 2 else a


@pytest.mark.parametrize("scale", [1, 2])
def test_translate_folder_inverts_every_image(images, tmp_path, scale):
    src, data = images
    G = Invert(scale=scale).train()
    written = translate_folder(G, src, tmp_path / "out")
    assert [os.path.relpath(p, tmp_path / "out") for p in written] == ["a.png", "c.png", os.path.join("sub", "b.png")]
    for rel, arr in data.items():
        got = np.asarray(Image.open(tmp_path / "out" / (os.path.splitext(rel)[0] + ".png")))
        want = 255 - _rgb(arr).repeat(scale, 0).repeat(scale, 1)
        np.testing.assert_array_equal(got, want)
    assert G.training and G.seen == [False] * 3          # evaluated in eval mode, mode restored
    assert not [f for f in os.listdir(tmp_path / "out") if ".tmp" in f]


def test_translate_zip_and_grey_network(images, tmp_path):
    src, data = images
    zpath = tmp_path / "in.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.write(src / "c.png", "c.png")
    written = translate_folder(Invert(channels=1), zpath, tmp_path / "grey")
    np.testing.assert_array_equal(np.asarray(Image.open(written[0])), 255 - data["c.png"])


def test_translate_bad_input_and_failed_write(images, tmp_path, monkeypatch):
    src, _ = images
    with pytest.raises(ValueError, match="out must differ"):
        translate_folder(Invert(), src, src)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no image files"):
        translate_folder(Invert(), tmp_path / "empty", tmp_path / "o")
    with pytest.raises(ValueError, match="no such image, folder or zip"):
        translate_folder(Invert(), tmp_path / "nowhere", tmp_path / "o")
    with pytest.raises(ValueError, match="declares no in_channels"):
        translate_folder(torch.nn.Identity(), src, tmp_path / "o")
    (src / "bad.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(ValueError, match="bad.png: unreadable image"):
        translate_folder(Invert(), src, tmp_path / "o")
    assert len(translate_folder(Invert(), src, tmp_path / "o", on_error="skip")) == 3



def test_failed_write_leaves_no_file(images, tmp_path, monkeypatch):
    src, _ = images

    def save_half_then_fail(self, fp, *a, **k):   # a write that dies after some bytes are on disk
        with open(fp, "wb") as f:
            f.write(b"\x89PNG partial")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", save_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        translate_folder(Invert(), src, tmp_path / "out")
    assert os.listdir(tmp_path / "out") == []


def test_cycle_grid_rows():
    G_AB = ResnetGenerator(3, 3, ngf=2, n_blocks=1, depth=1).eval()
    G_BA = ResnetGenerator(3, 3, ngf=2, n_blocks=1, depth=1).eval()
    A, B = torch.rand(3, 3, 8, 12) * 2 - 1, torch.rand(2, 3, 8, 12) * 2 - 1
    grid = cycle_grid(G_AB, G_BA, A, B)
    assert grid.shape == (6, 2, 3, 8, 12)
    with torch.no_grad():
        torch.testing.assert_close(grid[0], A[:2])
        torch.testing.assert_close(grid[2], G_BA(G_AB(A[:2])))
        torch.testing.assert_close(grid[4], G_BA(B))
        torch.testing.assert_close(grid[5], G_AB(G_BA(B)))
    small_B = torch.rand(2, 3, 4, 8) * 2 - 1                 # another size: B's rows shown at A's size
    grid = cycle_grid(G_AB, G_BA, A, small_B)
    assert grid.shape == (6, 2, 3, 8, 12)
    with torch.no_grad():
        torch.testing.assert_close(grid[3], torch.nn.functional.interpolate(small_B, size=(8, 12), mode="bilinear"))


def test_translate_one_image_file(images, tmp_path):
    src, data = images
    (written,) = translate_folder(Invert(), src / "a.png", tmp_path / "o")      # a folder: o/a.png
    assert written == str(tmp_path / "o" / "a.png")
    np.testing.assert_array_equal(np.asarray(Image.open(written)), 255 - data["a.png"])
    (written,) = translate_folder(Invert(), src / "c.png", tmp_path / "x.png")  # a file name
    np.testing.assert_array_equal(np.asarray(Image.open(written))[..., 0], 255 - data["c.png"])
    with pytest.raises(ValueError, match="out must differ"):
        translate_folder(Invert(), src / "a.png", src)
    with pytest.raises(ValueError, match="not an image"):
        translate_folder(Invert(), src / "notes.txt", tmp_path / "o")
