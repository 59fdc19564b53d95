"""The family contract on a tiny family: dict batches, stages, LR schedules, init/freeze from a
checkpoint, frozen helper networks, family snapshots and metrics, presets, NVTX ranges."""
import dataclasses
import os

import pytest
import torch
from torch import nn
from train_helpers import QUIET, assert_same_state

from fastgan import checkpoint, models
from fastgan.cli import main
from fastgan.data import BatchLoader
from fastgan.family import Family, Phase, Recipe, Stage
from fastgan.family.config import apply_overrides
from fastgan.family.schedules import linear_decay
from fastgan.train import RunConfig, Trainer
from fastgan.train.state import to_device


class Pairs:
    """Rows ``{"x": float [4], "tokens": int64 [3], "meta": {"row": int64}}``: a structured data set."""

    name, shape, num_classes = "pairs", (4,), 0

    def __init__(self, n=37):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 4, generator=g) * 0.5 + 1.0
        self.tokens = torch.randint(0, 9, (n, 3), generator=g)

    def __len__(self):
        return len(self.x)

    def get_batch(self, idx):
        return {"x": self.x[idx], "tokens": self.tokens[idx], "meta": {"row": idx.clone()}}

    def describe(self):
        return f"{len(self)} pairs"


@dataclasses.dataclass
class PairRecipe(Recipe):
    z_dim: int = 3
    batch: int = 8
    kimg: float = 0.064          # the adversarial stage: 8 steps of batch 8
    pre_steps: int = 3           # the MLE stage
    lr: float = 0.05
    constant: int = 4            # schedule: lr constant for this many steps, then linear to 0
    decay: int = 8


def lr_factor(step, constant, decay):
    """CycleGAN's rule, written out independently of the family's lambda."""
    if step < constant:
        return 1.0
    return max(0.0, 1.0 - (step - constant) / decay)


class PairGAN(Family):
    name = "pairs-test"
    Recipe = PairRecipe
    metrics = ()
    presets = {"cpu": {}, "small": {"z_dim": 2, "lr": 0.01}}

    @classmethod
    def make_dataset(cls, spec, recipe, **options):
        return Pairs() if spec == "pairs" else None

    def prepare(self, batch, labels, device):
        assert isinstance(batch, dict) and labels is None
        assert batch["tokens"].dtype == torch.int64 and batch["meta"]["row"].device == torch.device(device)
        self.state.setdefault("rows", []).append(batch["meta"]["row"].tolist())
        return batch, labels

    def build(self):
        return {"G": nn.Linear(self.recipe.z_dim, 4),
                "D": nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 1))}

    def helpers(self):
        return {"feat": nn.Linear(4, 2)}

    def optimizers(self, nets):
        return {k: torch.optim.SGD(nets[k].parameters(), lr=self.recipe.lr) for k in ("G", "D")}

    def schedulers(self, opts):
        return {"G": linear_decay(opts["G"], self.recipe.constant, self.recipe.decay)}

    def stages(self):
        return [Stage("mle", [Phase("G", opt="G", loss="mle")], steps=self.recipe.pre_steps),
                Stage("adv", [Phase("D", opt="D", loss="d_loss"),
                              Phase("G", opt="G", loss="g_loss", fresh_batch=False)], kimg=self.recipe.kimg)]

    def mle(self, ctx):
        self.state.setdefault("log", []).append((ctx.stage, ctx.phase.name, ctx.step))
        fake = ctx.nets["G"](ctx.latent(ctx.batch_size))
        return (fake - ctx.batch["x"]).square().mean()

    def d_loss(self, ctx):
        self.state.setdefault("log", []).append((ctx.stage, ctx.phase.name, ctx.step))
        with torch.no_grad():
            fake = ctx.nets["G"](ctx.latent(ctx.batch_size))
        D = ctx.nets["D"]
        return nn.functional.softplus(D(fake)).mean() + nn.functional.softplus(-D(ctx.batch["x"])).mean()

    def g_loss(self, ctx):
        self.state.setdefault("log", []).append((ctx.stage, ctx.phase.name, ctx.step))
        fake = ctx.nets["G"](ctx.latent(ctx.batch_size))
        content = (ctx.helpers["feat"](fake) - ctx.helpers["feat"](ctx.batch["x"])).square().mean()
        return nn.functional.softplus(-ctx.nets["D"](fake)).mean() + content

    def state_dict(self):
        return {}   # the test's records are not run state

    def snapshot(self, G, inputs, snap):
        z, _ = inputs
        path = snap.base + ".txt"
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(f"{snap.step} {snap.final} {float(G(z).sum()):.6f}\n")
        return {"samples": path}

    def evaluate(self, G, dataset, device):
        return {"gap": float((G.bias.detach() - dataset.x.mean(0)).abs().mean())}


@pytest.fixture
def quiet(tmp_path):
    return {**QUIET, "out": str(tmp_path / "run"), "overwrite": True}


def _pairs(quiet, **ov):
    return Trainer(PairGAN, "pairs", overrides={**quiet, **ov})


def test_dict_batches_reach_the_family_on_the_device(quiet):
    tr = _pairs(quiet)
    tr.train_step()
    rows = tr.family.state["rows"]
    assert len(rows) == 1 and len(rows[0]) == 8
    loader = BatchLoader(Pairs(), 8, seed=quiet.get("seed", 0))
    assert rows[0] == next(loader)["meta"]["row"].tolist()   # the loader's order, untouched


def test_dict_batches_shard_under_ddp():
    """Rank r of W takes rows [r*b, (r+1)*b) of the global batch, for every tensor of the dict."""
    data = Pairs()
    one = BatchLoader(data, 8, seed=3)
    ranks = [BatchLoader(data, 8, seed=3, rank=r, world=2) for r in range(2)]
    for _ in range(6):   # crosses an epoch boundary (37 rows)
        full, parts = next(one), [next(r) for r in ranks]
        for key in ("x", "tokens"):
            assert torch.equal(torch.cat([p[key] for p in parts]), full[key])
        assert torch.equal(torch.cat([p["meta"]["row"] for p in parts]), full["meta"]["row"])
        assert all(len(p["x"]) == 4 for p in parts)


def test_to_device_moves_nested_batches():
    batch = {"a": torch.randn(3, 2), "b": [torch.arange(3), ({"c": torch.ones(1)},)], "n": 7}
    out = to_device(batch, "meta")
    assert out["a"].device.type == out["b"][0].device.type == out["b"][1][0]["c"].device.type == "meta"
    assert out["n"] == 7 and isinstance(out["b"][1], tuple) and out["a"].shape == (3, 2)


def test_stages_run_in_order_with_their_phases_and_lengths(quiet):
    tr = _pairs(quiet)
    s = tr.fit()
    log = tr.family.state["log"]
    assert [e for e in log if e[0] == "mle"] == [("mle", "G", k) for k in range(3)]
    adv = [e for e in log if e[0] == "adv"]
    assert adv == [("adv", n, k) for k in range(3, 11) for n in ("D", "G")]
    assert s["step"] == 11 and tr.nimg == 11 * 8 and tr.finished
    with pytest.raises(ValueError, match="training is complete"):
        tr.train_step()


@pytest.mark.parametrize("split", [2, 6])   # inside the MLE stage, inside the adversarial stage
def test_resume_lands_mid_stage_exactly(tmp_path, quiet, split):
    whole = _pairs(quiet, out=str(tmp_path / "whole"))
    for _ in range(9):
        whole.train_step()
    part = _pairs(quiet, out=str(tmp_path / "part"))
    for _ in range(split):
        part.train_step()
    part.save_checkpoint()
    resumed = Trainer(PairGAN, "pairs", resume=str(tmp_path / "part"), overrides={"run.threads": 1})
    assert resumed.stage.name == ("mle" if split < 3 else "adv")
    for _ in range(9 - split):
        resumed.train_step()
    assert_same_state(whole, resumed)
    assert resumed.stage_starts == whole.stage_starts == [(0, 0), (3, 24)]


def test_lr_schedule_is_stepped_and_saved(tmp_path, quiet):
    r = PairRecipe()
    tr = _pairs(quiet, out=str(tmp_path / "a"))
    lrs = []
    for _ in range(7):
        tr.train_step()
        lrs.append(tr.opts["G"].param_groups[0]["lr"])
    assert lrs == pytest.approx([r.lr * lr_factor(s, r.constant, r.decay) for s in range(1, 8)], rel=1e-12)
    assert tr.opts["D"].param_groups[0]["lr"] == r.lr   # no schedule: constant
    tr.save_checkpoint()
    state = checkpoint.load(checkpoint.find(str(tmp_path / "a")))
    assert state["scheds"]["G"]["last_epoch"] == 7
    assert state["scheds"]["G"]["lr_lambdas"] == [{"constant": 4, "decay": 8}]   # its settings are saved too
    back = Trainer(PairGAN, "pairs", resume=str(tmp_path / "a"), overrides={"run.threads": 1})
    assert back.opts["G"].param_groups[0]["lr"] == pytest.approx(lrs[-1], rel=1e-12)
    back.train_step()
    assert back.opts["G"].param_groups[0]["lr"] == pytest.approx(r.lr * lr_factor(8, r.constant, r.decay), rel=1e-12)


@pytest.mark.parametrize("constant, decay", [(-1, 3), (2, 1.5), (True, 2)])
def test_linear_decay_checks_its_arguments(constant, decay):
    with pytest.raises(ValueError, match="must be an int >= 0"):
        linear_decay(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0), constant, decay)


def test_helper_networks_are_frozen_and_never_saved(tmp_path, quiet):
    tr = _pairs(quiet, out=str(tmp_path / "h"))
    feat0 = {k: v.clone() for k, v in tr.helpers["feat"].state_dict().items()}
    tr.fit()
    assert all(torch.equal(v, tr.helpers["feat"].state_dict()[k]) for k, v in feat0.items())
    assert not any(p.requires_grad for p in tr.helpers["feat"].parameters())
    ids = {id(p) for p in tr.helpers["feat"].parameters()}
    assert not any(id(p) in ids for o in tr.opts.values() for g in o.param_groups for p in g["params"])
    state = checkpoint.load(checkpoint.find(str(tmp_path / "h")))
    assert set(state["nets"]) == {"G", "D"} and "feat" not in state["ema"]


def test_family_snapshots_and_metrics(tmp_path, quiet):
    out = str(tmp_path / "s")
    s = _pairs(quiet, out=out, snap_kimg=0.032).fit()
    files = sorted(os.listdir(os.path.join(out, "samples")))
    assert files == ["fakes-000000004.txt", "fakes-000000008.txt", "fakes-000000011.txt"]
    last = open(os.path.join(out, "samples", files[-1])).read().split()
    assert last[:2] == ["11", "True"] and s["grid"].endswith("fakes-000000011.txt")
    tr = Trainer(PairGAN, "pairs", resume=out, overrides={"run.threads": 1})
    want = float((tr.nets["G"].bias.detach() - Pairs().x.mean(0)).abs().mean())
    assert s["metrics"] == {"gap": pytest.approx(want, rel=1e-6)}


def test_unknown_metric_name_is_an_error(quiet):
    class Bad(PairGAN):
        name = "pairs-bad"
        metrics = ("fid_sound",)

    with pytest.raises(ValueError, match=r"unknown metrics \['fid_sound'\]; known: fid_digits"):
        Trainer(Bad, "pairs", overrides=quiet)


@pytest.fixture
def first_run(tmp_path, quiet):
    out = str(tmp_path / "a")
    Trainer("tiny", "digits", overrides={**quiet, "out": out, "batch": 8, "max_steps": 3}).fit()
    return out, checkpoint.load(checkpoint.find(out))["nets"]


def test_init_partial_by_pattern_and_freeze(tmp_path, quiet, first_run):
    out, src = first_run
    seen = []

    class Watch(models.get("tiny")):
        def d_loss(self, ctx):
            D = ctx.nets["D"]
            seen.append((D[1].weight.requires_grad, D[4].weight.requires_grad))
            return super().d_loss(ctx)

    tr = Trainer(Watch, "digits", overrides={**quiet, "out": str(tmp_path / "b"), "batch": 8, "max_steps": 4,
                                               "init": out, "init_match": ["D.*"], "freeze": ["D.1.*"]})
    assert sorted(tr.initialised) == ["D.1.bias", "D.1.weight", "D.4.bias", "D.4.weight"]
    assert all(torch.equal(p, src["D"][n]) for n, p in tr.nets["D"].state_dict().items())
    assert not torch.equal(tr.nets["G"][0].weight, src["G"]["0.weight"])   # G was not taken
    tr.fit()
    assert seen and all(s == (False, True) for s in seen)   # _set_trainable keeps D.1 frozen
    assert torch.equal(tr.nets["D"][1].weight, src["D"]["1.weight"])
    assert torch.equal(tr.nets["D"][1].bias, src["D"]["1.bias"])
    assert not torch.equal(tr.nets["D"][4].weight, src["D"]["4.weight"])


@pytest.mark.parametrize("ov, match", [({"freeze": ["X.*"]}, "freeze: pattern 'X.\\*' matches no parameter"),
                                       ({"init_match": ["G.9.*"]}, "init_match: pattern 'G.9.\\*' matches no"),
                                       ({"hidden": 7}, r"init: G\.0\.weight has shape \(32, 8\) in .*, \(7, 8\) here")])
def test_init_and_freeze_errors(tmp_path, quiet, first_run, ov, match):
    with pytest.raises(ValueError, match=match):
        Trainer("tiny", "digits", overrides={**quiet, "out": str(tmp_path / "c"), "init": first_run[0], **ov})


@pytest.mark.parametrize("name", models.names())
def test_every_family_has_a_cpu_preset_of_valid_keys(name):
    fam = models.get(name)
    for preset in fam.presets:
        apply_overrides(fam.Recipe(), RunConfig(), fam.preset(preset))   # raises on an unknown key
    assert "cpu" in fam.presets


def test_preset_sits_below_set(quiet):
    assert _pairs_preset(quiet, "small", {}).recipe.z_dim == 2
    tr = _pairs_preset(quiet, "small", {"z_dim": 3})
    assert (tr.recipe.z_dim, tr.recipe.lr) == (3, 0.01)
    with pytest.raises(ValueError, match="unknown preset 'big' for model pairs-test; valid presets: cpu, small"):
        _pairs_preset(quiet, "big", {})


def _pairs_preset(quiet, preset, ov):
    return Trainer(PairGAN, "pairs", overrides={**quiet, **ov}, preset=preset)


def test_preset_flag_on_the_command_line(tmp_path, capsys):
    args = ["train", "--model", "tiny", "--data", "digits", "--kimg", "0.016", "--batch", "8", "--threads", "1",
            "--no-progress", "--set", "tensorboard=false", "--set", "fid=false"]
    assert main([*args, "--out", str(tmp_path / "a"), "--preset", "cpu"]) == 0
    assert main([*args, "--out", str(tmp_path / "b"), "--preset", "nope"]) == 2
    assert "unknown preset 'nope' for model tiny; valid presets: cpu" in capsys.readouterr().err


def test_nvtx_ranges_per_phase(quiet, monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda.nvtx, "range_push", lambda name: calls.append(("push", name)))
    monkeypatch.setattr(torch.cuda.nvtx, "range_pop", lambda: calls.append(("pop",)))
    tr = _pairs(quiet, device="cpu")
    tr.train_step()
    assert calls == []   # off unless asked
    for _ in range(3):
        tr.train_step()
    tr.nvtx = True
    tr.train_step()
    assert calls == [("push", "adv/D"), ("pop",), ("push", "adv/G"), ("pop",), ("push", "ema"), ("pop",)]
