"""``fastgan generate --input`` for the image-to-image families: CycleGAN translates with the
direction's generator, SRGAN upscales; outputs against networks rebuilt here from the
checkpoint's tensors; the errors name the argument or the file."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image

from fastgan import checkpoint, cli
from fastgan.models.cyclegan import ResnetGenerator
from fastgan.models.srgan import SRResNet
from fastgan.train import Trainer

QUIET = {"run.progress": False, "run.tensorboard": False, "run.threads": 1, "run.fid": False,
         "snap_kimg": 0.0, "ckpt_kimg": 0.0, "overwrite": True, "run.grid": 2}


def _save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _expected(net, array):
    """uint8 HxWxC -> uint8 output of ``net`` (no padding needed), by the package's [-1, 1] convention."""
    x = torch.from_numpy(array.reshape(array.shape[0], array.shape[1], -1)).permute(2, 0, 1)[None].double()
    with torch.no_grad():
        y = net.double().eval()(x / 127.5 - 1.0)[0].clamp(-1, 1)
    return ((y + 1) * 127.5).round().permute(1, 2, 0).numpy().astype(np.uint8)


@pytest.fixture(scope="module")
def cyclegan_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cyc")
    rng = np.random.default_rng(1)
    for dom in ("trainA", "trainB"):
        for i in range(3):
            _save(root / "data" / dom / f"{i}.png", rng.integers(0, 256, (12, 12, 3), dtype=np.uint8))
    tr = Trainer("cyclegan", str(root / "data"), overrides={
        **QUIET, "model.ngf": 4, "model.ndf": 4, "model.n_blocks": 1, "model.d_depth": 2, "model.batch": 2,
        "model.kimg": 0.004, "model.pool_size": 2, "out": str(root / "run")})
    tr.fit()
    return root


def _generator(state, name):
    G = ResnetGenerator(3, 3, ngf=4, n_blocks=1, depth=2)
    G.load_state_dict(state["nets"][name])
    return G


def test_cyclegan_translates_both_directions(cyclegan_run, tmp_path, capsys):
    state = checkpoint.load(checkpoint.find(str(cyclegan_run / "run")))
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, (8, 20, 3), dtype=np.uint8)      # sides multiples of 4: no padding
    _save(tmp_path / "in" / "x.png", img)
    for direction, name in (("AtoB", "G_AB"), ("BtoA", "G_BA"), ("BA", "G_BA")):
        out = tmp_path / f"out-{direction}"
        assert cli.main(["generate", "--ckpt", str(cyclegan_run / "run"), "--input", str(tmp_path / "in"),
                         "--direction", direction, "--out", str(out)]) == 0
        got = np.asarray(Image.open(out / "x.png")).astype(int)
        want = _expected(_generator(state, name), img).astype(int)
        assert got.shape == want.shape and np.abs(got - want).max() <= 1, direction
    assert "translated BtoA by G_BA" in capsys.readouterr().out
    a = np.asarray(Image.open(tmp_path / "out-AtoB" / "x.png"))
    assert not np.array_equal(a, np.asarray(Image.open(tmp_path / "out-BtoA" / "x.png")))
    # one image file to one PNG
    assert cli.main(["generate", "--ckpt", str(cyclegan_run / "run"), "--input", str(tmp_path / "in" / "x.png"),
                     "--direction", "AtoB", "--out", str(tmp_path / "one.png")]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "one.png")), a)


@pytest.mark.parametrize("argv, message", [
    (["--input", "IN"], "--direction: cyclegan translates both ways; give --direction AtoB"),
    (["--input", "IN", "--direction", "up"], "--direction must be one of AtoB, BtoA, AB, BA for cyclegan, got 'up'"),
    (["--input", "NOWHERE", "--direction", "AtoB"], "--input .*nowhere: no such image, folder or zip"),
    (["--direction", "AtoB"], "--direction goes with --input"),
    (["--input", "BAD", "--direction", "AtoB"], r"bad\.png: unreadable image"),
    (["--input", "TXT", "--direction", "AtoB"], r"notes\.txt.*not an image"),
])
def test_cyclegan_generate_errors(cyclegan_run, tmp_path, capsys, argv, message):
    _save(tmp_path / "in" / "x.png", np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "bad.png").write_bytes(b"not a png at all")
    (tmp_path / "notes.txt").write_text("hello")
    paths = {"IN": tmp_path / "in", "NOWHERE": tmp_path / "nowhere", "BAD": tmp_path / "bad",
             "TXT": tmp_path / "notes.txt"}
    argv = [str(paths.get(a, a)) for a in argv]
    assert cli.main(["generate", "--ckpt", str(cyclegan_run / "run"), *argv, "--out", str(tmp_path / "o")]) == 2

    assert re.search(message, capsys.readouterr().err)


def test_srgan_upscales_any_size_and_refuses_a_direction(tmp_path, capsys):
    tr = Trainer("srgan", "mnist", overrides={
        **QUIET, "model.n_blocks": 1, "model.width": 8, "model.d_width": 4, "model.fc": 8, "model.crop": 28,
        "model.d_depth": 2, "model.batch": 4, "model.pretrain_kimg": 0.008, "model.kimg": 0.0,
        "out": str(tmp_path / "run")})
    tr.fit()
    state = checkpoint.load(checkpoint.find(str(tmp_path / "run")))
    G = SRResNet(1, 4, n_blocks=1, width=8)
    G.load_state_dict(state["nets"]["G"])
    img = np.random.default_rng(3).integers(0, 256, (7, 9), dtype=np.uint8)
    _save(tmp_path / "lr" / "d.png", img)
    assert cli.main(["generate", "--ckpt", str(tmp_path / "run"), "--input", str(tmp_path / "lr"),
                     "--out", str(tmp_path / "up")]) == 0
    assert "1 image upscaled x4" in capsys.readouterr().out
    got = np.asarray(Image.open(tmp_path / "up" / "d.png")).astype(int)
    want = _expected(G, img)[..., 0].astype(int)
    assert got.shape == (28, 36) and np.abs(got - want).max() <= 1
    assert cli.main(["generate", "--ckpt", str(tmp_path / "run"), "--input", str(tmp_path / "lr"),
                     "--direction", "AtoB", "--out", str(tmp_path / "up2")]) == 2
    assert "--direction: srgan only upscales" in capsys.readouterr().err


