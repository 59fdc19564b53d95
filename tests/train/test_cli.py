"""The command line with real arguments: train, resume, generate, profile, errors, info."""
import os

import pytest
import torch
from PIL import Image

from fastgan.cli import main
from fastgan import checkpoint

FAST = ["--threads", "1", "--no-progress", "--set", "tensorboard=false", "--set", "fid=false"]


def test_train_resume_generate(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main(["train", "--model", "tiny", "--data", "digits", "--kimg", "0.08", "--batch", "8",
                 "--out", out, *FAST]) == 0
    text = capsys.readouterr().out
    assert "done: step 10, 0.1 kimg" in text and "checkpoint" in text
    assert checkpoint.load(checkpoint.find(out))["step"] == 10
    # --resume latest continues the run in --out up to the new --kimg
    assert main(["train", "--resume", "latest", "--out", out, "--kimg", "0.16", *FAST]) == 0
    assert checkpoint.load(checkpoint.find(out))["step"] == 20
    grid = str(tmp_path / "grid.png")
    assert main(["generate", "--ckpt", out, "--seeds", "0-8", "--out", grid]) == 0
    assert "wrote 9 images (1x8x8)" in capsys.readouterr().out
    w, h = Image.open(grid).size
    assert (w, h) == (2 + 3 * 10, 2 + 3 * 10)
    # a seed names one image, whatever else is generated with it
    one, nine = str(tmp_path / "one.png"), str(tmp_path / "nine.png")
    main(["generate", "--ckpt", out, "--seeds", "4", "--out", one])
    main(["generate", "--ckpt", out, "--seeds", "0-8", "--out", nine])
    import numpy as np

    a, b = np.asarray(Image.open(one)), np.asarray(Image.open(nine))
    assert np.array_equal(a[2:10, 2:10], b[12:20, 12:20])
    capsys.readouterr()
    assert main(["generate", "--ckpt", out, "--temperature", "0.7", "--out", grid]) == 2   # images: no temperature
    assert "--temperature is for sequence models (seqgan); the checkpoint holds tiny" in capsys.readouterr().err


def test_config_file_and_set(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model:\n  hidden: 5\n  loss: hinge\nrun:\n  seed: 3\nbatch: 4\n")
    out = str(tmp_path / "run")
    assert main(["train", "--model", "tiny", "--data", "iris", "--config", str(cfg), "--set", "max_steps=2",
                 "--out", out, *FAST]) == 0
    s = checkpoint.load(checkpoint.find(out))
    assert s["recipe"]["hidden"] == 5 and s["recipe"]["loss"] == "hinge" and s["recipe"]["batch"] == 4
    assert s["run"]["seed"] == 3 and tuple(s["data_info"]["shape"]) == (4,)


@pytest.mark.parametrize("args, message", [
    (["train", "--model", "nope"], "unknown model 'nope'; valid models: "),
    (["train", "--model", "tiny", "--data", "nope"], "use one of mnist, digits"),
    (["train", "--model", "tiny", "--set", "wat=1"], "model options: batch"),
    (["train", "--model", "tiny", "--set", "loss=l3"], "valid losses: minimax"),
    (["generate", "--ckpt", "/nonexistent/run"], "no checkpoint or run directory"),
    (["generate", "--ckpt", "RUN", "--seeds", "5-1"], "seeds must look like"),
])
def test_errors_name_the_valid_choices(tmp_path, capsys, args, message):
    args = [a.replace("RUN", str(tmp_path)) for a in args]
    if args[0] == "train":
        args += ["--out", str(tmp_path / "o"), *FAST]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err
    if "valid models" in message:
        assert "dcgan28" in err and "tiny" in err


def test_unwritable_out(tmp_path, capsys):
    (tmp_path / "f").write_text("")
    assert main(["train", "--model", "tiny", "--out", str(tmp_path / "f" / "x"), *FAST]) == 2
    assert "not writable" in capsys.readouterr().err
    assert not (tmp_path / "f").is_dir()


def test_list_models(capsys):
    assert main(["train", "--list-models"]) == 0
    text = capsys.readouterr().out
    assert "dcgan28" in text and "tiny" in text
    assert "(presets: mnist32, cifar, paper256, cpu, paper)" in text


def test_profile_writes_trace(tmp_path, capsys, monkeypatch):
    ranges = []
    monkeypatch.setattr(torch.cuda.nvtx, "range_push", ranges.append)
    monkeypatch.setattr(torch.cuda.nvtx, "range_pop", lambda: None)
    assert main(["profile", "--model", "tiny", "--data", "digits", "--steps", "2", "--threads", "1",
                 "--out", str(tmp_path), "--nvtx", "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    assert "aten::" in text and "Chrome trace" in text
    assert os.path.getsize(tmp_path / "trace.json") > 1000
    if torch.cuda.is_available():
        assert ranges[:3] == ["train/D", "train/G", "ema"]
    else:
        assert ranges == [] and "--nvtx: no CUDA device" in text


def test_info_runs(capsys):
    assert main(["info"]) == 0
    assert capsys.readouterr().out.strip()


def test_profile_nvtx_opens_phase_and_op_ranges(tmp_path, capsys, monkeypatch):
    """With a (pretend) CUDA device, --nvtx opens a range per phase and per fused op call, and turns the ops'
    switch back off afterwards."""
    from fastgan.ops import profiling
    ranges = []
    monkeypatch.setattr(profiling, "_cuda_available", lambda: True)
    monkeypatch.setattr(torch.cuda.nvtx, "range_push", ranges.append)
    monkeypatch.setattr(torch.cuda.nvtx, "range_pop", lambda: None)
    assert main(["profile", "--model", "stylegan2", "--preset", "cpu", "--data", "digits", "--steps", "1",
                 "--threads", "1", "--out", str(tmp_path), "--nvtx", "--device", "cpu"]) == 0
    capsys.readouterr()
    phases = [r for r in ranges if not r.startswith("fastgan::")]
    ops = {r for r in ranges if r.startswith("fastgan::")}
    assert phases and phases[-1] == "ema", phases
    assert {"fastgan::minibatch_std", "fastgan::bias_act", "fastgan::bias_act_grad"} <= ops, ops
    assert not profiling.nvtx_enabled()
