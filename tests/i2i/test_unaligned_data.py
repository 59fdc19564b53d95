"""The MNIST-M construction, the digits pair and unaligned folders/zips with their loader."""
from __future__ import annotations

import os
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from fastgan.data.embedded import load_mnist_5k
from fastgan.data.mnistm import blend_digits, digits_pair, make_mnistm, random_patches, sample_photos
from fastgan.data.unaligned import UnalignedData, UnalignedLoader, load_unaligned


def test_blend_is_inverted_patch_on_ink_and_patch_on_background():
    rng = np.random.default_rng(0)
    digits = rng.integers(0, 256, size=(5, 9, 7)).astype(np.uint8)
    digits[:, 0, :] = 255
    digits[:, 1, :] = 0
    patches = rng.integers(0, 256, size=(5, 9, 7, 3)).astype(np.uint8)
    out = blend_digits(digits, patches).transpose(0, 2, 3, 1).astype(np.int64)
    np.testing.assert_array_equal(out[:, 0], 255 - patches[:, 0].astype(np.int64))   # digit on: inverted colour
    np.testing.assert_array_equal(out[:, 1], patches[:, 1])                          # digit off: the patch
    expected = np.abs(patches.astype(np.float64) - digits[..., None].astype(np.float64))
    np.testing.assert_array_equal(out, expected)


def _find(patch, photos):
    """Where the patch sits in one of the photos (brute force from the matching top-left pixels)."""
    h, w = patch.shape[:2]
    for k, photo in enumerate(photos):
        for y, x in np.argwhere((photo[:photo.shape[0] - h + 1, :photo.shape[1] - w + 1] == patch[0, 0]).all(-1)):
            if np.array_equal(photo[y:y + h, x:x + w], patch):
                return k, y, x
    return None


def test_patches_are_crops_of_the_photos_and_cover_both():
    rng = np.random.default_rng(1)
    photos = tuple(rng.integers(0, 256, size=s).astype(np.uint8) for s in [(30, 41, 3), (35, 29, 3)])
    patches = random_patches(60, (9, 11), seed=3, photos=photos)
    where = [_find(p, photos) for p in patches]
    assert all(w is not None for w in where)
    assert {w[0] for w in where} == {0, 1}
    with pytest.raises(ValueError, match="smaller than the patch"):
        random_patches(2, 36, photos=photos)


def test_mnistm_on_real_digits_is_deterministic_and_built_from_sklearn_photos():
    digits, _ = load_mnist_5k("heldout")
    digits = digits[:6]
    a, b = make_mnistm(digits, seed=11), make_mnistm(digits, seed=11)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, make_mnistm(digits, seed=12))
    off = digits == 0
    for k in range(3):   # background pixels give back the patch: find it in the photos
        img = a[k].transpose(1, 2, 0)
        ys, xs = np.nonzero(off[k])
        found = False
        for photo in sample_photos():
            cand = np.argwhere((photo[:-27, :-27] == img[ys[0], xs[0]]).all(-1))
            for y, x in cand - [ys[0], xs[0]]:
                if y >= 0 and x >= 0 and np.array_equal(photo[y:y + 28, x:x + 28][off[k]], img[off[k]]):
                    ink = digits[k] == 255
                    np.testing.assert_array_equal(img[ink], 255 - photo[y:y + 28, x:x + 28][ink])
                    found = True
                    break
            if found:
                break
        assert found, f"image {k}: background is no crop of sklearn's photos"


def test_digits_pair_layout():
    (a, ya), (b, yb) = digits_pair("train")
    x, y = load_mnist_5k("train")
    assert a.shape == (2250, 3, 28, 28) and b.shape == (2250, 3, 28, 28) and a.dtype == b.dtype == np.uint8
    np.testing.assert_array_equal(a[:, 1], x[0::2])
    assert (a[:, 0] == a[:, 1]).all() and (a[:, 2] == a[:, 1]).all()
    np.testing.assert_array_equal(ya, y[0::2])
    np.testing.assert_array_equal(yb, y[1::2])
    (ha, hya), (hb, hyb) = digits_pair("heldout")
    np.testing.assert_array_equal(hya, hyb)
    assert len(ha) == len(hb) == 500
    with pytest.raises(ValueError, match="split"):
        digits_pair("test")


# -- folders and zips -----------------------------------------------------------------------

def _write(folder, arrays):
    os.makedirs(folder, exist_ok=True)
    for i, arr in enumerate(arrays):
        Image.fromarray(arr).save(os.path.join(folder, f"{i:03d}.png"))


@pytest.fixture
def layout(tmp_path):
    rng = np.random.default_rng(2)
    data = {"trainA": [rng.integers(0, 256, (9, 7, 3), dtype=np.uint8) for _ in range(3)],
            "trainB": [rng.integers(0, 256, (11, 13, 3), dtype=np.uint8) for _ in range(2)],
            "testA": [rng.integers(0, 256, (9, 7, 3), dtype=np.uint8)],
            "testB": [rng.integers(0, 256, (11, 13, 3), dtype=np.uint8) for _ in range(4)]}
    root = tmp_path / "horse2zebra"
    for k, v in data.items():
        _write(root / k, v)
    zpath = tmp_path / "h2z.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for k, v in data.items():
            for i in range(len(v)):
                zf.write(root / k / f"{i:03d}.png", f"{k}/{i:03d}.png")
    return root, zpath, data


@pytest.mark.parametrize("kind", ["folder", "zip"])
@pytest.mark.parametrize("split", ["train", "test"])
def test_reference_layout(layout, kind, split):
    root, zpath, data = layout
    A, B = load_unaligned(root if kind == "folder" else zpath, split)
    want_a, want_b = data[f"{split}A"], data[f"{split}B"]
    assert (len(A), len(B)) == (len(want_a), len(want_b))
    for ds, want in ((A, want_a), (B, want_b)):
        imgs, _ = ds.get_batch(torch.arange(len(want)))
        np.testing.assert_array_equal(imgs.numpy().transpose(0, 2, 3, 1), np.stack(want))


def test_unaligned_data_object(layout):
    root, _, _ = layout
    data = UnalignedData.load(root, "test")
    assert len(data) == 4 and data.shape == (3, 9, 7) and data.name == "horse2zebra/test"
    assert data.describe() == "horse2zebra/test: A 1 images 3x9x7, B 4 images 3x11x13"


def test_two_paths_and_bad_input(layout, tmp_path):
    root, _, data = layout
    A, B = load_unaligned(a=root / "testB", b=root / "trainA")
    assert (len(A), len(B)) == (4, 3)
    _write(tmp_path / "grey", [np.zeros((5, 5), np.uint8) + 7])
    with pytest.raises(ValueError, match="channels"):
        load_unaligned(a=root / "trainA", b=tmp_path / "grey")
    A, B = load_unaligned(a=root / "trainA", b=tmp_path / "grey", channels=3)
    assert B.shape == (3, 5, 5)
    os.makedirs(tmp_path / "empty" / "trainA")
    _write(tmp_path / "empty" / "trainB", data["trainB"])
    with pytest.raises(ValueError, match="trainA: no image files"):
        load_unaligned(tmp_path / "empty")
    with pytest.raises(ValueError, match="does not exist"):
        load_unaligned(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="either root"):
        load_unaligned(root, a=root / "trainA", b=root / "trainB")
    with pytest.raises(ValueError, match="either root"):
        load_unaligned(a=root / "trainA")
    with pytest.raises(ValueError, match="split"):
        load_unaligned(root, "val")


# -- the loader ---------------------------------------------------------------------------

def _tagged(n, c, tag):
    x = np.arange(n, dtype=np.float64)[:, None, None, None] + tag
    return torch.from_numpy(np.broadcast_to(x, (n, c, 4, 4)).astype(np.uint8).copy())


class _DS:
    def __init__(self, images):
        self.images = images

    def __len__(self):
        return len(self.images)

    def get_batch(self, idx):
        return self.images[idx], torch.full((len(idx),), -1)


def test_loader_epochs_resume_and_shards():
    A, B = _DS(_tagged(7, 3, 0)), _DS(_tagged(5, 3, 100))
    loader = UnalignedLoader(A, B, 4, seed=3)
    seen_a, seen_b = [], []
    for _ in range(5):   # 20 draws: A's first 2 epochs (14) and B's first 4 epochs (20) complete
        batch = next(loader)
        assert set(batch) == {"A", "B"}
        seen_a += batch["A"][:, 0, 0, 0].tolist()
        seen_b += batch["B"][:, 0, 0, 0].tolist()
    assert sorted(seen_a[:7]) == list(range(7)) and sorted(seen_a[7:14]) == list(range(7))
    assert all(sorted(seen_b[5 * e:5 * e + 5]) == list(range(100, 105)) for e in range(4))
    state = loader.state_dict()
    resumed = UnalignedLoader(A, B, 4, seed=3)
    resumed.load_state_dict(state)
    for _ in range(3):
        x, y = next(loader), next(resumed)
        assert all(torch.equal(x[k], y[k]) for k in "AB")
    full = next(UnalignedLoader(A, B, 4, seed=9))
    parts = [next(UnalignedLoader(A, B, 4, seed=9, rank=r, world=2)) for r in range(2)]
    for k in "AB":
        assert torch.equal(torch.cat([p[k] for p in parts]), full[k])
