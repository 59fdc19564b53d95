"""Fine-tuning methods on tiny DCGAN / StyleGAN2 models through the engine."""
import pytest
import torch
from torch import nn

from fastgan import checkpoint
from fastgan.cli import build_parser
from fastgan.models.dcgan import Discriminator
from fastgan.models.finetune import Miner, d_blocks, l2sp_penalty, parse_groups
from fastgan.train import Trainer
from fastgan.train.cli import _overrides

QUIET = {"run.progress": False, "run.tensorboard": False, "run.threads": 1, "run.fid": False}
TINY = {"batch": 8, "resolution": 16, "width": 4, "z_dim": 8}
TINY_SG2 = {"batch": 4, "resolution": 8, "z_dim": 8, "w_dim": 8, "channel_base": 64, "channel_max": 8,
            "mbstd_group": 2, "pl_weight": 0.0, "r1_gamma": 0.0}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("src") / "run")
    Trainer("dcgan", "digits", overrides={**QUIET, **TINY, "out": out, "max_steps": 2}).fit()
    return out, checkpoint.load(checkpoint.find(out))["nets"]


def _target(tmp_path, src, method, steps=3, model="dcgan", tiny=TINY, **ov):
    tr = Trainer(model, "digits", overrides={**QUIET, **tiny, "out": str(tmp_path / method), "init": src,
                                             "finetune": method, **ov})
    for _ in range(steps):
        tr.train_step()
    return tr


def _moved(tr, src, net):
    now = dict(tr.nets[net].named_parameters())
    return {n: not torch.equal(p.detach(), src[net][n]) for n, p in now.items()}


@pytest.mark.parametrize("n", [1, 2])
def test_freezed_keeps_first_blocks_bit_identical(tmp_path, source, n):
    out, src = source
    tr = _target(tmp_path, out, "freezed", freeze_d=n)
    blocks = d_blocks(tr.nets["D"])
    moved = _moved(tr, src, "D")
    assert all(not moved[p] for b in blocks[:n] for p in b)
    assert all(moved[p] for b in blocks[n:] for p in b)
    assert all(_moved(tr, src, "G").values())


def test_d_blocks_of_dcgan_follow_the_convolutions():
    D = Discriminator(width=4, resolution=32, channels=3)
    convs = [n for n, m in D.named_modules() if isinstance(m, nn.Conv2d)]
    blocks = d_blocks(D)
    assert [b[0] for b in blocks] == [f"{c}.weight" for c in convs]
    assert sorted(p for b in blocks for p in b) == sorted(n for n, _ in D.named_parameters())


def test_freezing_more_blocks_than_d_has(tmp_path, source):
    with pytest.raises(ValueError, match="freeze_d=9: D has only 3 blocks"):
        _target(tmp_path, source[0], "freezed", freeze_d=9)


def test_scale_shift_trains_only_norm_parameters(tmp_path, source):
    out, src = source
    tr = _target(tmp_path, out, "scale-shift")
    for net in ("G", "D"):
        norms = {f"{m}.{p}" for m, mod in tr.nets[net].named_modules() if isinstance(mod, nn.BatchNorm2d)
                 for p in ("weight", "bias")}
        for name, moved in _moved(tr, src, net).items():
            assert moved == (name in norms), (net, name)


def test_l2sp_gradient_equals_formula():
    torch.manual_seed(0)
    net, src = nn.Sequential(nn.Linear(5, 7), nn.Linear(7, 3)), nn.Sequential(nn.Linear(5, 7), nn.Linear(7, 3))
    groups = parse_groups(["G.0.*=0.3", "G.*=0.05"])
    pen = l2sp_penalty(net, src, "G", groups)
    pen.backward()
    want = 0.0
    for (n, p), (_, q) in zip(net.named_parameters(), src.named_parameters()):
        lam = 0.3 if n.startswith("0.") else 0.05
        torch.testing.assert_close(p.grad, 2 * lam * (p.detach() - q.detach()))
        want += lam * float(((p - q) ** 2).sum().detach())
    assert pen.item() == pytest.approx(want, rel=1e-6)
    with pytest.raises(ValueError, match="PATTERN=LAMBDA"):
        parse_groups(["G.*"])


def test_l2sp_engine_uses_source_weights(tmp_path, source):
    out, src = source
    tr = _target(tmp_path, out, "l2sp", steps=2, l2sp=["D.*=0.5", "G.*=0.1"])
    for k in ("G", "D"):
        helper = tr.helpers[f"{k}_source"]
        assert all(torch.equal(p, src[k][n]) for n, p in helper.named_parameters())
        assert not any(p.requires_grad for p in helper.parameters())
    ctx_pen = l2sp_penalty(tr.nets["D"], tr.helpers["D_source"], "D", parse_groups(["D.*=0.5"]))
    assert ctx_pen.item() > 0   # D has moved away from the source


class _Ctx:
    def __init__(self, nets, helpers, n):
        self.nets, self.helpers, self.batch, self.labels = nets, helpers, torch.zeros(n, 1, 16, 16), None

    def latent(self, n):
        return torch.randn(n, 8, generator=torch.Generator().manual_seed(5))


def test_distill_loss_matches_manual_features(tmp_path, source):
    out, src = source
    tr = _target(tmp_path, out, "distill", steps=0)
    fam, G, S = tr.family, tr.nets["G"], tr.helpers["G_source"]
    with torch.no_grad():
        for p in G.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    fam._fake(_Ctx(tr.nets, tr.helpers, 6), None)
    z = _Ctx(tr.nets, tr.helpers, 6).latent(6)

    def relus(net):
        feats, h = [], z
        for layer in net.net:
            h = layer(h)
            if isinstance(layer, nn.ReLU):
                feats.append(h)
        return feats

    want = torch.stack([(a - b).square().mean() for a, b in zip(relus(G), relus(S))]).mean()
    torch.testing.assert_close(fam._distill, want)
    loss, logs = fam.g_loss(type("C", (), {"nets": tr.nets, "helpers": tr.helpers, "batch": torch.zeros(6, 1, 16, 16),
                                           "labels": None, "latent": lambda self, n: z, "rand": None,
                                           "kimg": 0.0})())
    assert logs["distill"] > 0 and fam._distill is None


def test_minegan_stage_switch(tmp_path, source):
    out, src = source
    tr = _target(tmp_path, out, "minegan", steps=0, mine_kimg=0.024, kimg=0.048)   # 3 + 3 steps of 8
    miner0 = {n: p.detach().clone() for n, p in tr.nets["G"].miner.named_parameters()}
    assert [s.name for s in tr.stages] == ["mine", "finetune"]
    for _ in range(3):
        assert tr.stage.name == "mine"
        tr.train_step()
    moved = _moved_g(tr, src)
    assert not any(moved.values())   # G's own parameters: still the source's
    assert any(not torch.equal(p, miner0[n]) for n, p in tr.nets["G"].miner.named_parameters())
    assert tr.stage.name == "finetune"
    tr.train_step()
    assert all(_moved_g(tr, src).values())


def _moved_g(tr, src):
    return {n: not torch.equal(p.detach(), src["G"][n]) for n, p in tr.nets["G"].named_parameters()
            if not n.startswith("miner.")}


def test_miner_starts_as_identity():
    z = torch.randn(4, 6)
    torch.testing.assert_close(Miner(6, 5)(z), z, rtol=0, atol=0)


def test_stylegan2_freezed(tmp_path):
    out = str(tmp_path / "sg-src")
    Trainer("stylegan2", "digits", overrides={**QUIET, **TINY_SG2, "out": out, "max_steps": 1}).fit()
    src = checkpoint.load(checkpoint.find(out))["nets"]
    tr = _target(tmp_path, out, "freezed", steps=2, model="stylegan2", tiny=TINY_SG2, freeze_d=1)
    blocks = d_blocks(tr.nets["D"])
    assert len(blocks) == 2   # one resolution block at 8 px, then the epilogue
    moved = _moved(tr, src, "D")
    assert not any(moved[p] for p in blocks[0]) and any(moved[p] for p in blocks[1])


def test_bad_options(tmp_path, source):
    with pytest.raises(ValueError, match="give init"):
        Trainer("dcgan", "digits", overrides={**QUIET, **TINY, "out": str(tmp_path / "a"), "finetune": "freezed"})
    with pytest.raises(ValueError, match="finetune for dcgan must be one of"):
        _target(tmp_path, source[0], "bitfit")
    with pytest.raises(ValueError, match="finetune for stylegan2 must be one of"):
        Trainer("stylegan2", "digits", overrides={**QUIET, **TINY_SG2, "out": str(tmp_path / "b"),
                                                 "init": source[0], "finetune": "distill"})
    with pytest.raises(ValueError, match="shape"):   # another resolution's checkpoint
        _target(tmp_path, source[0], "full", **{"width": 8})


def test_cli_flags_map_to_the_recipe():
    args = build_parser().parse_args(["train", "--model", "dcgan", "--init-from", "runs/x", "--finetune", "freezed",
                                      "--augment", "ada"])
    ov = _overrides(args)
    assert ov["model.init"] == "runs/x" and ov["model.finetune"] == "freezed" and ov["model.augment"] == "ada"


def test_init_from_another_resolution_lists_every_mismatch_and_partial_loads_what_fits(tmp_path, source):
    from fastgan.models.dcgan import Generator
    # the independent expectation: shapes of plain DCGAN networks at 16 px (the source) and 32 px
    small = {**{f"G.{n}": t.shape for n, t in Generator(8, 4, 16, 1).state_dict().items()},
             **{f"D.{n}": t.shape for n, t in Discriminator(4, 16, 1).state_dict().items()}}
    big = {**{f"G.{n}": t.shape for n, t in Generator(8, 4, 32, 1).state_dict().items()},
           **{f"D.{n}": t.shape for n, t in Discriminator(4, 32, 1).state_dict().items()}}
    differ = sorted(n for n in big if n in small and small[n] != big[n])
    fits = sorted(n for n in big if n in small and small[n] == big[n])
    assert len(differ) >= 2 and fits
    ov = {**QUIET, **TINY, "resolution": 32, "init": source[0]}
    with pytest.raises(ValueError) as e:
        Trainer("dcgan", "digits", overrides={**ov, "out": str(tmp_path / "a")})
    for n in differ:   # every mismatch is named, with both shapes
        assert f"{n} has shape {tuple(small[n])} in" in str(e.value) and f"{tuple(big[n])} here" in str(e.value)
    assert "init_partial=true" in str(e.value)
    skipped = len(differ) + len(set(big) ^ set(small))
    with pytest.warns(UserWarning, match=f"took {len(fits)} tensors from .*, skipped {skipped}:"):
        tr = Trainer("dcgan", "digits", overrides={**ov, "out": str(tmp_path / "b"), "init_partial": True})
    assert sorted(tr.initialised) == fits
    for n in fits:
        net, name = n.split(".", 1)
        assert torch.equal(tr.nets[net].state_dict()[name], source[1][net][name])


def test_init_from_another_family_names_both(tmp_path, source):
    with pytest.raises(ValueError, match=r"checkpoint is of model 'dcgan', this is 'icgan'.*init_partial"):
        Trainer("icgan", "digits", overrides={**QUIET, **TINY, "out": str(tmp_path / "a"), "init": source[0],
                                              "k": 3, "num_instances": 5, "embed_dim": 4})


def test_minegan_may_add_networks_the_source_lacks(tmp_path, source):
    tr = _target(tmp_path, source[0], "minegan", steps=0)
    assert not any("miner" in n for n in tr.initialised)
    assert len(tr.initialised) == sum(len(sd) for sd in source[1].values())   # every source tensor landed
