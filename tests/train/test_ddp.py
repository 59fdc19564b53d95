"""DDP under torchrun with 2 CPU processes (gloo): ranks agree and match one process
training with the same total batch (the documented semantics of `batch`)."""
import os
import subprocess
import sys

import pytest
import torch
from train_helpers import DDP_OVERRIDES, ROOT

from fastgan.train import Trainer


@pytest.mark.slow
def test_two_gloo_processes_match_one_process(tmp_path):
    out = str(tmp_path / "ddp")
    os.makedirs(out)
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1",
                           "--nproc_per_node", "2", os.path.join(ROOT, "tests", "train", "ddp_worker.py"), out],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0 = torch.load(os.path.join(out, "rank0.pt"), weights_only=True)
    r1 = torch.load(os.path.join(out, "rank1.pt"), weights_only=True)
    assert r0["world"] == r1["world"] == 2 and r0["nimg"] == 6 * 2 * 8
    for k in r0["params"]:
        assert torch.equal(r0["params"][k], r1["params"][k]), f"ranks differ in {k}"

    single = Trainer("tiny", "mnist", overrides={**DDP_OVERRIDES, "out": str(tmp_path / "single")})
    single.fit()
    ref = {f"{k}.{n}": p for k, net in single.nets.items() for n, p in net.state_dict().items()}
    ref.update({f"ema.{n}": p for n, p in single.ema["G"].state_dict().items()})
    moved = 0
    init = Trainer("tiny", "mnist", overrides={**DDP_OVERRIDES, "out": str(tmp_path / "init")})
    for k, v in ref.items():
        torch.testing.assert_close(r0["params"][k], v, rtol=1e-4, atol=1e-5, msg=f"DDP != single process in {k}")
        start = {f"{a}.{n}": p for a, net in init.nets.items() for n, p in net.state_dict().items()}.get(k)
        moved += start is not None and not torch.allclose(start, v)
    assert moved > 0  # training changed the weights, so the comparison is not trivially equal
    # only rank 0 wrote logs and checkpoints
    assert os.path.exists(os.path.join(out, "scalars.csv")) and os.listdir(os.path.join(out, "checkpoints"))
