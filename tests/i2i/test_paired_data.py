"""LR/HR pairs: bicubic downscaling against torch's antialiased bicubic, HR folders, the crop loader."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from fastgan.data.paired import HRImages, SRLoader, bicubic_downscale, sr_demo


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("channels", [1, 3])
def test_bicubic_downscale_matches_antialiased_bicubic(scale, channels):
    torch.manual_seed(scale)
    smooth = F.interpolate(torch.rand(2, channels, 5, 7, dtype=torch.float64) * 255, scale_factor=6 * scale // 2,
                           mode="bilinear")[..., :6 * scale, :9 * scale]
    hr = smooth.round().to(torch.uint8)
    lr = bicubic_downscale(hr, scale)
    ref = F.interpolate(hr.double(), scale_factor=1 / scale, mode="bicubic", antialias=True, align_corners=False)
    assert lr.shape == (2, channels, 6, 9)
    diff = lr.double() - ref          # PIL rounds after each of its two 1-D passes: within one level
    assert diff.abs().max() <= 1.0 and abs(diff.mean()) < 0.15
    assert (lr.double() == ref.round().clamp(0, 255)).double().mean() > 0.75
    const = torch.full((1, channels, 4 * scale, 2 * scale), 173, dtype=torch.uint8)
    assert (bicubic_downscale(const, scale) == 173).all()


def test_bicubic_downscale_bad_input():
    with pytest.raises(ValueError, match="not a multiple of the scale 4"):
        bicubic_downscale(torch.zeros(1, 3, 10, 8, dtype=torch.uint8), 4)
    with pytest.raises(TypeError, match="uint8"):
        bicubic_downscale(torch.zeros(1, 3, 8, 8), 4)
    with pytest.raises(ValueError, match="scale"):
        bicubic_downscale(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), 0)


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    sizes = [(37, 41), (30, 52), (44, 33)]
    imgs = [rng.integers(0, 256, (*s, 3), dtype=np.uint8) for s in sizes]
    for i, a in enumerate(imgs):
        Image.fromarray(a).save(tmp_path / f"{i}.png")
    return tmp_path, imgs


def test_hr_images_from_folder(folder, tmp_path):
    path, imgs = folder
    ds = HRImages(path, min_size=30)
    assert len(ds) == 3 and ds.shape == (3, 30, 30) and "shortest side 30..37" in ds.describe()
    for got, want in zip(ds.images, imgs):
        np.testing.assert_array_equal(got.numpy().transpose(1, 2, 0), want)
    grey = HRImages(path, channels=1)
    assert grey.images[0].shape == (1, 37, 41)
    with pytest.raises(ValueError, match=r"1\.png: 30x52 is smaller than the crop 32x32"):
        HRImages(path, min_size=32)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no image files"):
        HRImages(tmp_path / "empty")
    with pytest.raises(ValueError, match="channels"):
        HRImages([imgs[0]], channels=1)


def _locate(patch, images):
    for k, img in enumerate(images):
        img = img.numpy()
        c, h, w = patch.shape
        for y in range(img.shape[1] - h + 1):
            for x in range(img.shape[2] - w + 1):
                if np.array_equal(img[:, y:y + h, x:x + w], patch):
                    return k, y, x
    return None


def test_loader_crops_pairs_resume_and_shards(folder):
    path, _ = folder
    ds = HRImages(path)
    loader = SRLoader(ds, 4, crop=12, scale=3, seed=5, hflip=False)
    batch = next(loader)
    assert batch["hr"].shape == (4, 3, 12, 12) and batch["lr"].shape == (4, 3, 4, 4)
    assert torch.equal(batch["lr"], bicubic_downscale(batch["hr"], 3))
    where = [_locate(p.numpy(), ds.images) for p in batch["hr"]]
    assert all(w is not None for w in where)
    assert len({w[1:] for w in where}) > 1            # random corners
    for _ in range(2):
        next(loader)
    resumed = SRLoader(ds, 4, crop=12, scale=3, seed=5)
    resumed.load_state_dict(loader.state_dict())
    for _ in range(3):
        a, b = next(loader), next(resumed)
        assert torch.equal(a["hr"], b["hr"]) and torch.equal(a["lr"], b["lr"])
    full = next(SRLoader(ds, 4, crop=12, scale=3, seed=8, hflip=True))
    parts = [next(SRLoader(ds, 4, crop=12, scale=3, seed=8, hflip=True, rank=r, world=2)) for r in range(2)]
    assert torch.equal(torch.cat([p["hr"] for p in parts]), full["hr"])
    with pytest.raises(ValueError, match="multiple of the scale 4"):
        SRLoader(ds, 4, crop=10, scale=4)
    with pytest.raises(ValueError, match="smaller than the crop 32x32"):
        SRLoader(ds, 4, crop=32, scale=4)


def test_demos():
    train, held = sr_demo("photos", "train"), sr_demo("photos", "heldout")
    assert len(train) == len(held) == 1 and not torch.equal(train[0], held[0])
    assert train[0].shape == (3, 427, 640)
    m = sr_demo("mnist", "heldout")
    assert len(m) == 500 and m[0].shape == (1, 28, 28)
    batch = next(SRLoader(m, 8, crop=28, scale=4))
    assert batch["lr"].shape == (8, 1, 7, 7)
    with pytest.raises(ValueError, match="demo"):
        sr_demo("div2k")
