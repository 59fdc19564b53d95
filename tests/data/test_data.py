"""fastgan.data: embedded sets, users' files, transforms and the loader."""
import io
import json
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from fastgan import data as fd


# -- embedded -----------------------------------------------------------------------------
def test_mnist_split_is_fixed_stratified_and_disjoint():
    tr_x, tr_y = fd.load_mnist_5k("train")
    he_x, he_y = fd.load_mnist_5k("heldout")
    all_x, all_y = fd.load_mnist_5k("all")
    assert tr_x.shape == (4500, 28, 28) and he_x.shape == (500, 28, 28) and all_x.shape == (5000, 28, 28)
    assert tr_x.dtype == np.uint8 and tr_y.dtype == np.int64
    assert np.bincount(tr_y).tolist() == [450] * 10 and np.bincount(he_y).tolist() == [50] * 10
    rows = {r.tobytes(): i for i, r in enumerate(all_x.reshape(5000, -1))}
    tr_rows = {rows[r.tobytes()] for r in tr_x.reshape(4500, -1)}
    he_rows = {rows[r.tobytes()] for r in he_x.reshape(500, -1)}
    assert not tr_rows & he_rows and len(tr_rows | he_rows) >= 4990  # MNIST has a few duplicate images
    # pinned: changing the split silently would change every reported FID
    assert he_y[:10].tolist() == fd.load_mnist_5k("heldout")[1][:10].tolist()
    assert int(he_x.astype(np.int64).sum()) == int(fd.load_mnist_5k("heldout")[0].astype(np.int64).sum())
    assert 0 < tr_x.mean() < 80 and tr_x.max() == 255


def test_mnist_returns_copies_and_rejects_bad_split():
    x, _ = fd.load_mnist_5k("all")
    x[:] = 0
    assert fd.load_mnist_5k("all")[0].max() == 255
    with pytest.raises(ValueError, match="split must be one of"):
        fd.load_mnist_5k("test")


def test_digits_and_upscaling():
    x, y = fd.load_digits()
    assert x.shape == (1797, 8, 8) and x.max() == 255 and y.max() == 9
    big, _ = fd.load_digits(28)
    assert big.shape == (1797, 28, 28) and abs(big.mean() - x.mean()) < 10
    assert fd.load_digits((16, 12), "nearest")[0].shape == (1797, 16, 12)
    with pytest.raises(ValueError, match="size must be"):
        fd.load_digits(0)


@pytest.mark.parametrize("name, rows, cols, task", [
    ("iris", 150, 4, "classification"), ("wine", 178, 13, "classification"),
    ("breast_cancer", 569, 30, "classification"), ("diabetes", 442, 10, "regression"),
])
def test_tables(name, rows, cols, task):
    t = fd.load_table(name)
    assert t.X.shape == (rows, cols) and t.X.dtype == np.float32 and t.task == task
    ds = fd.make_dataset(name)
    assert len(ds) == rows and ds.shape == (cols,) and (ds.num_classes > 0) == (task == "classification")


# -- users' files ----------------------------------------------------------------------------
def _png(arr) -> bytes:
    b = io.BytesIO()
    Image.fromarray(arr).save(b, "PNG")
    return b.getvalue()


def _images(n, h=6, w=5, c=3, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, c) if c > 1 else (h, w), dtype=np.uint8) for _ in range(n)]


def test_folder_with_labels_is_exact_and_non_square(tmp_path):
    imgs = _images(4)
    for i, a in enumerate(imgs):
        (tmp_path / "sub").mkdir(exist_ok=True)
        (tmp_path / "sub" / f"{i}.png").write_bytes(_png(a))
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": [[f"sub/{i}.png", i % 3] for i in range(4)]}))
    ds = fd.make_dataset(str(tmp_path))
    assert len(ds) == 4 and ds.shape == (3, 6, 5) and ds.num_classes == 3
    img, lab = ds[2]
    assert torch.equal(img, torch.from_numpy(imgs[2]).permute(2, 0, 1)) and lab == 2


def _zip(path, files: dict):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return str(path)


def test_zip_bad_file_raises_with_name_or_is_skipped(tmp_path):
    files = {f"{i}.png": _png(a) for i, a in enumerate(_images(3, c=1))}
    files["broken.png"] = b"\x89PNG not really"
    path = _zip(tmp_path / "d.zip", files)
    with pytest.raises(ValueError, match=r"d\.zip:broken\.png: unreadable image"):
        fd.make_dataset(path)
    ds = fd.make_dataset(path, on_error="skip")
    assert len(ds) == 3 and len(ds.skipped) == 1 and "broken.png" in ds.skipped[0][0]
    assert "1 files skipped" in ds.describe()


@pytest.mark.parametrize("odd, kwargs, match", [
    (_images(1, h=7)[0], {}, "size 7x5 differs"),
    (_images(1, c=1)[0], {}, "mode L differs"),
])
def test_mismatched_images(tmp_path, odd, kwargs, match):
    files = {f"{i}.png": _png(a) for i, a in enumerate(_images(2))}
    files["z_odd.png"] = _png(odd)
    path = _zip(tmp_path / "d.zip", files)
    with pytest.raises(ValueError, match="z_odd.png: " + match):
        fd.make_dataset(path, **kwargs)
    fixed = fd.make_dataset(path, resolution=(6, 5), channels=3)  # resizing/conversion accepts them
    assert len(fixed) == 3 and fixed.get_batch(torch.arange(3))[0].shape == (3, 3, 6, 5)


def test_zip_labels_missing_or_malformed(tmp_path):
    files = {f"{i}.png": _png(a) for i, a in enumerate(_images(2))}
    path = _zip(tmp_path / "a.zip", {**files, "dataset.json": json.dumps({"labels": [["0.png", 1]]})})
    with pytest.raises(ValueError, match="1.png: no label"):
        fd.make_dataset(path)
    path = _zip(tmp_path / "b.zip", {**files, "dataset.json": json.dumps({"labels": [["0.png", 0.5]]})})
    with pytest.raises(ValueError, match="each label must be"):
        fd.make_dataset(path)
    path = _zip(tmp_path / "c.zip", {**files, "dataset.json": json.dumps({"labels": None})})
    assert fd.make_dataset(path).num_classes == 0


def test_numpy_arrays(tmp_path):
    x = np.random.default_rng(0).random((5, 4, 6, 3))  # floats in [0, 1], NHWC
    np.savez(tmp_path / "a.npz", images=x, labels=np.arange(5))
    ds = fd.make_dataset(str(tmp_path / "a.npz"))
    assert ds.shape == (3, 4, 6) and ds.num_classes == 5
    assert ds[1][0][:, 2, 3].tolist() == np.rint(x[1, 2, 3] * 255).astype(int).tolist()
    np.save(tmp_path / "b.npy", np.full((2, 1, 8, 8), 3.0))
    with pytest.raises(ValueError, match=r"b\.npy: float images must be within"):
        fd.make_dataset(str(tmp_path / "b.npy"))
    np.save(tmp_path / "c.npy", np.zeros((2, 5, 5, 5), np.uint8))
    with pytest.raises(ValueError, match="cannot tell the channel axis"):
        fd.make_dataset(str(tmp_path / "c.npy"))


def test_csv_tables(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("a,b,cls\n1,2,0\n3,4,1\n5,x,1\n7,8\n")
    with pytest.raises(ValueError, match=r"t\.csv, line 4: could not convert"):
        fd.make_dataset(str(p), label_column="cls")
    ds = fd.make_dataset(str(p), label_column="cls", on_error="skip")
    assert len(ds) == 2 and ds.feature_names == ("a", "b") and ds.labels.tolist() == [0, 1]
    assert [f.rsplit(":", 1)[1] for f, _ in ds.skipped] == ["4", "5"]
    with pytest.raises(ValueError, match="label_column 'nope' not in"):
        fd.read_csv(str(p), label_column="nope", on_error="skip")


def test_unknown_data_lists_choices():
    with pytest.raises(ValueError, match="use one of mnist, digits, iris"):
        fd.make_dataset("cifar")


# -- transforms and loader ----------------------------------------------------------------------
def test_transforms():
    x = torch.tensor([[[[0, 255], [128, 1]]]], dtype=torch.uint8)
    f = fd.to_float(x)
    assert f.min() == -1 and f.max() == 1 and torch.equal(fd.to_uint8(f), x)
    flipped = fd.hflip(torch.cat([x, x]), torch.tensor([True, False]))
    assert torch.equal(flipped[0], x[0].flip(-1)) and torch.equal(flipped[1], x[0])
    with pytest.raises(TypeError, match="uint8"):
        fd.to_float(f)


def _ids(loader, steps):
    ds = loader.dataset
    return [tuple(int((ds.images == img).flatten(1).all(1).nonzero()[0]) for img in next(loader)[0])
            for _ in range(steps)]


def test_loader_is_deterministic_sharded_and_resumable():
    ds = fd.ArrayImages(np.arange(10 * 4, dtype=np.uint8).reshape(10, 2, 2) * 6, np.arange(10))
    a = fd.BatchLoader(ds, 4, seed=3)
    assert _ids(a, 5) == _ids(fd.BatchLoader(ds, 4, seed=3), 5)
    assert _ids(fd.BatchLoader(ds, 4, seed=4), 5) != _ids(fd.BatchLoader(ds, 4, seed=3), 5)
    seq = [i for b in _ids(fd.BatchLoader(ds, 5, seed=1), 2) for i in b]
    assert sorted(seq) == list(range(10))  # one epoch visits everything once
    full = _ids(fd.BatchLoader(ds, 4, seed=3), 6)
    r0, r1 = fd.BatchLoader(ds, 4, seed=3, rank=0, world=2), fd.BatchLoader(ds, 4, seed=3, rank=1, world=2)
    assert [x + y for x, y in zip(_ids(r0, 6), _ids(r1, 6))] == full
    b = fd.BatchLoader(ds, 4, seed=3)
    _ids(b, 3)
    c = fd.BatchLoader(ds, 4, seed=3)
    c.load_state_dict(b.state_dict())
    assert _ids(c, 3) == full[3:]
    with pytest.raises(ValueError, match="divisible"):
        fd.BatchLoader(ds, 5, world=2, rank=0)


def test_loader_hflip_is_seeded():
    ds = fd.make_dataset("digits")
    a = next(fd.BatchLoader(ds, 64, seed=0, hflip=True))[0]
    b = next(fd.BatchLoader(ds, 64, seed=0, hflip=False))[0]
    same = (a == b).flatten(1).all(1)
    mirrored = (a == b.flip(-1)).flatten(1).all(1)
    assert (same | mirrored).all() and 10 < int((~same).sum()) < 54
    assert torch.equal(a, next(fd.BatchLoader(ds, 64, seed=0, hflip=True))[0])


def test_truncated_image_is_caught_up_front(tmp_path):
    good = _png(_images(1, h=20, w=20)[0])
    (tmp_path / "a.png").write_bytes(good)
    (tmp_path / "b.png").write_bytes(good[: len(good) // 2])  # header intact, data cut
    with pytest.raises(ValueError, match=r"b\.png: unreadable image"):
        fd.make_dataset(str(tmp_path))
    ds = fd.make_dataset(str(tmp_path), on_error="skip")
    assert len(ds) == 1 and ds.get_batch(torch.tensor([0]))[0].shape == (1, 3, 20, 20)
