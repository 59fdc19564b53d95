"""Checkpoint files: round trip, atomic writes, clear errors for bad files, SIGTERM."""
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from train_helpers import ROOT

from fastgan import checkpoint
from fastgan.train import Trainer
from fastgan.checkpoint import CheckpointError


def _state():
    m = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(m.parameters())
    m(torch.randn(4, 3)).sum().backward()
    opt.step()
    return {"net": m.state_dict(), "opt": opt.state_dict(), "t": (1, 2.5, None), "ints": {0: "a", 5: [1, 2]},
            "rng": torch.get_rng_state(), "empty": torch.zeros(0), "bf16": torch.ones(2, dtype=torch.bfloat16)}


def test_round_trip_keeps_types_and_values(tmp_path):
    s = _state()
    path = checkpoint.save(str(tmp_path / "c.safetensors"), s)
    r = checkpoint.load(path)
    assert r["t"] == (1, 2.5, None) and r["ints"] == {0: "a", 5: [1, 2]}
    assert torch.equal(r["rng"], s["rng"]) and r["bf16"].dtype == torch.bfloat16 and r["empty"].numel() == 0
    assert r["opt"]["param_groups"][0]["betas"] == (0.9, 0.999)
    opt = torch.optim.Adam(torch.nn.Linear(3, 2).parameters())
    opt.load_state_dict(r["opt"])
    assert [p for p in os.listdir(tmp_path)] == ["c.safetensors"]


def test_unstorable_object_is_named(tmp_path):
    with pytest.raises(TypeError, match="object.*'s/x'"):
        checkpoint.save(str(tmp_path / "c.safetensors"), {"x": object()})
    assert os.listdir(tmp_path) == []


def test_failed_write_leaves_old_checkpoint_intact(tmp_path, monkeypatch):
    path = str(tmp_path / "c.safetensors")
    checkpoint.save(path, {"v": torch.ones(3)})

    def broken(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint, "save_file", broken)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save(path, {"v": torch.zeros(3)})
    assert os.listdir(tmp_path) == ["c.safetensors"]
    assert torch.equal(checkpoint.load(path)["v"], torch.ones(3))


@pytest.mark.parametrize("damage, match", [
    (lambda b: b[: len(b) // 2], "truncated or corrupted"),
    (lambda b: b[:-1], "truncated or corrupted"),
    (lambda b: b[:-4] + bytes(x ^ 0xFF for x in b[-4:]), "does not match the stored checksum"),
    (lambda b: b"", "truncated or corrupted"),
    (lambda b: b"PK\x03\x04 a zip, not a checkpoint" * 10, "truncated or corrupted"),
])
def test_damaged_files_give_clear_errors(tmp_path, damage, match):
    good = checkpoint.save(str(tmp_path / "good.safetensors"), _state())
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(damage(open(good, "rb").read()))
    with pytest.raises(CheckpointError, match=match) as e:
        checkpoint.load(str(bad))
    assert str(bad) in str(e.value)


def test_foreign_safetensors_and_missing_files(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.ones(2)}, str(tmp_path / "f.safetensors"), metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match="not a fastgan checkpoint"):
        checkpoint.load(str(tmp_path / "f.safetensors"))
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        checkpoint.find(str(tmp_path / "nothing-here"))
    with pytest.raises(FileNotFoundError, match=r"no checkpoint \(ckpt-"):
        checkpoint.find(str(tmp_path))


def test_resume_from_truncated_checkpoint_fails_clearly(tmp_path, quiet):
    Trainer("tiny", "digits", overrides={**quiet, "out": str(tmp_path), "max_steps": 2}).fit()
    path = checkpoint.find(str(tmp_path))
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) - 100])
    with pytest.raises(CheckpointError, match="truncated"):
        Trainer(resume=str(tmp_path))


def test_find_prefers_latest_and_prune_keeps_newest(tmp_path):
    d = tmp_path / "checkpoints"
    for step in (5, 40, 100):
        checkpoint.save(str(d / checkpoint.checkpoint_name(step)), {"s": step})
    assert checkpoint.find(str(tmp_path)).endswith(checkpoint.checkpoint_name(100))
    checkpoint.prune(str(d), keep=2)
    assert sorted(os.listdir(d)) == [checkpoint.checkpoint_name(40), checkpoint.checkpoint_name(100)]


@pytest.mark.parametrize("sig", [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.slow)])
def test_signal_saves_checkpoint_and_exits_cleanly(tmp_path, sig):
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "fastgan", "train", "--model", "tiny", "--data", "digits",
                             "--kimg", "10000", "--out", str(out), "--threads", "1", "--no-progress",
                             "--set", "log_every=1", "--set", "tensorboard=false", "--set", "fid=false"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.time() + 60
        while not (out / "scalars.csv").exists() or (out / "scalars.csv").stat().st_size < 60:
            assert proc.poll() is None, proc.communicate()
            assert time.time() < deadline, "training did not start"
            time.sleep(0.1)
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert f"stopped by {sig.name}" in stdout
    assert "resume with: fastgan train --resume" in stdout
    state = checkpoint.load(checkpoint.find(str(out)))
    assert state["step"] > 0
