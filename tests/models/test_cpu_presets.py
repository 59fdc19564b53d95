"""Every image family has a ``cpu`` preset (and a ``paper`` one); each ``cpu`` preset builds and trains a few
steps on the embedded digits: finite losses, every generator parameter updated, samples of the data's shape."""
import math

import pytest
import torch

from fastgan import models
from fastgan.train import Trainer

IMAGE_FAMILIES = ("mlp", "dcgan-mnist", "dcgan", "cgan", "wgan", "wgan-gp", "gmmn", "progan", "stylegan2", "dcgan28")
CASES = [(f, "cpu") for f in IMAGE_FAMILIES] + [("cgan", "cpu-projection"), ("gmmn", "cpu-ae")]
QUIET = {"run.progress": False, "run.tensorboard": False, "run.threads": 1, "run.fid": False,
         "run.collapse_kimg": 0.0, "run.snap_kimg": 0.0, "run.ckpt_kimg": 0.0, "run.max_steps": 2}


@pytest.mark.parametrize("family", IMAGE_FAMILIES)
def test_family_has_cpu_and_paper_presets(family):
    presets = models.get(family).presets
    assert "cpu" in presets and "paper" in presets


@pytest.mark.parametrize("family, preset", CASES)
def test_cpu_preset_trains(family, preset, tmp_path, capsys):
    torch.manual_seed(0)
    tr = Trainer(family, "mnist", preset=preset, overrides={**QUIET, "run.out": str(tmp_path / "run")})
    for key, value in models.get(family).preset(preset).items():     # the preset reached the recipe
        got = getattr(tr.recipe, key)
        assert got == (tuple(value) if isinstance(value, list) else value), key
    G = tr.nets[tr.family.generator_net]
    before = {k: p.detach().clone() for k, p in G.named_parameters() if p.requires_grad}
    s = tr.fit()
    assert s["status"] == "done" and s["step"] == 2
    changed = [k for k, p in G.named_parameters() if k in before and not torch.equal(before[k], p.detach())]
    assert changed, "no generator parameter was updated"
    assert all(torch.isfinite(p).all() for p in G.parameters())
    z = tr.family.latent(3, torch.Generator().manual_seed(1))
    x = tr.sample(z, tr.family.sample_labels(3))
    assert x.shape[0] == 3 and x.shape[1] == 1 and torch.isfinite(x).all()
    rows = [line for line in open(tmp_path / "run" / "scalars.csv").read().splitlines()[1:] if ",loss/" in line]
    assert rows and all(math.isfinite(float(r.rsplit(",", 1)[1])) for r in rows)
