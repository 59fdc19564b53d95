"""The engine's side work (snapshots, checkpoints, metrics, the collapse check) leaves the training's random
streams alone, so a run does not depend on when it evaluates."""
import random

import numpy as np
import torch

from fastgan.train import Trainer

# GMMN+AE's auto-encoder stage: its dropout draws from torch's global generator
TINY_AE = {"model.space": "autoencoder", "model.code_dim": 4, "model.ae_hidden": [16], "model.hidden": [8],
           "model.z_dim": 3, "batch": 32, "ae_kimg": 0.32, "kimg": 0.032, "ae_dropout": 0.5}


def test_evaluations_leave_the_training_stream_alone(quiet, tmp_path):
    """Periodic side work that draws from the global generators (here a metric) does not change the training:
    the auto-encoder's dropout draws from torch's global generator, and the run with an evaluation every
    step ends with the same weights as the run without."""
    def greedy_metric(trainer):
        return {"noise": float(torch.rand(())) + float(np.random.rand()) + random.random()}

    weights = []
    for fid_kimg, out in ((0.0, "a"), (0.032, "b")):
        tr = Trainer("gmmn", "digits", metric_fn=greedy_metric,
                     overrides={**quiet, **TINY_AE, "out": str(tmp_path / out), "fid_kimg": fid_kimg,
                                "collapse_kimg": 0.0, "overwrite": True})
        tr.fit()
        weights.append([p.detach().clone() for p in tr.nets["E"].parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*weights))
