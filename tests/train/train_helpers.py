import os
import subprocess
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# quick, quiet runs of the tiny family; single-threaded (the machine is shared and
# small ops are faster on one thread)
QUIET = {"run.progress": False, "run.tensorboard": False, "run.threads": 1, "run.fid": False}


def all_state(trainer) -> tuple[dict, dict]:
    """Everything that defines a trainer's future (but its output directory):
    the JSON-able skeleton (counters, loader position, python RNG...) and the tensors."""
    from fastgan import checkpoint as ckpt

    out: dict = {}
    skeleton = ckpt.pack({k: v for k, v in trainer.state_dict().items() if k != "run"}, out)
    return skeleton, out


def assert_same_state(a, b):
    (sa, ta), (sb, tb) = all_state(a), all_state(b)
    assert sa == sb
    assert ta.keys() == tb.keys()
    for k in ta:
        assert torch.equal(ta[k], tb[k]), f"{k} differs"
    assert (a.step, a.nimg) == (b.step, b.nimg)


def run_fastgan(args, timeout=120, **kw):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "fastgan", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, **kw)


# the DDP test's run: everything but per-batch statistics (no BatchNorm in tiny, no dropout)
DDP_OVERRIDES = {**QUIET, "batch": 8, "max_steps": 6, "kimg": 100.0, "n_critic": 2, "r1_gamma": 0.5,
                 "r1_interval": 2, "ema_kimg": 0.05, "hflip": True, "overwrite": True, "snap_kimg": 0.0}
