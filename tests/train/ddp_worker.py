"""Run by test_ddp.py under torchrun: train the tiny family, save this rank's parameters."""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_helpers import DDP_OVERRIDES  # noqa: E402

from fastgan.train import Trainer  # noqa: E402

out = sys.argv[1]
tr = Trainer("tiny", "mnist", overrides={**DDP_OVERRIDES, "out": out})
summary = tr.fit()
params = {f"{k}.{n}": p.detach().clone() for k, net in tr.nets.items() for n, p in net.state_dict().items()}
params.update({f"ema.{n}": p.detach().clone() for n, p in tr.ema["G"].state_dict().items()})
torch.save({"params": params, "world": tr.world, "nimg": tr.nimg, "status": summary["status"]},
           os.path.join(out, f"rank{tr.rank}.pt"))
