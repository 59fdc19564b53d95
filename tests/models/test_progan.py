"""Progressive GAN: growth schedule, fade-in of G, D and the reals, resume mid-transition, backends."""
import copy

import pytest
import torch

from fastgan import losses, ops
from fastgan.family import DataInfo

from fastgan.models import progan as pg


TINY = dict(z_dim=8, resolution=16, fmap_base=64, fmap_max=8, phase_kimg=0.008, batch=4)


def _family(**kw):
    return pg.ProGAN(pg.ProGANRecipe(**{**TINY, **kw}), DataInfo((1, 16, 16)))


def test_schedule():
    s = pg.schedule
    assert s(0.0, 1.0, 2) == (0, 1.0)            # 4x4 stabilises first
    assert s(1.0, 1.0, 2) == (1, 0.0)            # 8x8 fades in
    assert s(1.25, 1.0, 2) == (1, 0.25)
    assert s(2.5, 1.0, 2) == (1, 1.0)            # 8x8 stabilises
    assert s(3.5, 1.0, 2) == (2, 0.5)
    assert s(99.0, 1.0, 2) == (2, 1.0)           # capped at full resolution


def test_fade_in_blends_old_and_new_paths():
    fam = _family()
    nets = fam.build()
    G, D = nets["G"], nets["D"]
    z = torch.randn(4, 8)
    with ops.use_backend("ref"):
        old = G(z, 0, 1.0)
        new = G(z, 1, 1.0)
        half = G(z, 1, 0.25)
        up = torch.repeat_interleave(torch.repeat_interleave(old, 2, 2), 2, 3)  # nearest
        torch.testing.assert_close(half, 0.75 * up + 0.25 * new, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(G(z, 1, 0.0), up, rtol=1e-5, atol=1e-5)
        x = torch.randn(4, 1, 8, 8)
        pooled = torch.nn.functional.avg_pool2d(x, 2)
        torch.testing.assert_close(D(x, 1, 0.0), D(pooled, 0, 1.0), rtol=1e-5, atol=1e-5)
        # reals: served at the current resolution, blended with the previous one during fade-in
        fam.state.update(lod=1, alpha=0.25)
        raw = torch.randint(0, 256, (4, 1, 16, 16), dtype=torch.uint8)
        real, _ = fam.prepare(raw, torch.zeros(4), "cpu")
        full = raw.float() * (2 / 255) - 1
        x8 = torch.nn.functional.avg_pool2d(full, 2)
        x4 = torch.nn.functional.avg_pool2d(x8, 2)
        up4 = torch.repeat_interleave(torch.repeat_interleave(x4, 2, 2), 2, 3)
        torch.testing.assert_close(real, 0.75 * up4 + 0.25 * x8, rtol=1e-5, atol=1e-5)
        assert fam.generate(G, z).shape == (4, 1, 16, 16)  # upsampled to the full resolution


def test_ref_and_cpu_agree_float64():
    assert "cpu" in ops.available_backends("cpu"), "the cpu backend is not built (pip install . builds it)"
    fam = _family()
    torch.manual_seed(0)
    nets = {k: v.double() for k, v in fam.build().items()}
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(4, 8, generator=gen, dtype=torch.float64)
    real = torch.randn(4, 1, 16, 16, generator=gen, dtype=torch.float64)
    a = torch.rand(4, generator=gen, dtype=torch.float64)

    def run(backend):
        G, D = copy.deepcopy(nets["G"]), copy.deepcopy(nets["D"])
        out = {}
        with ops.use_backend(backend):
            for lod, alpha in ((2, 0.5), (2, 1.0)):
                fake = G(z, lod, alpha)
                d = lambda x: D(x, lod, alpha)  # noqa: E731
                loss = (d(fake).mean() - d(real).mean() + losses.wgan_gp_penalty(d, real, fake, alpha=a)
                        + losses.drift_penalty(d(real)))
                loss.backward()
                out[(lod, alpha)] = loss.detach()
            out.update({f"G.{k}": p.grad for k, p in G.named_parameters() if p.grad is not None})
            out.update({f"D.{k}": p.grad for k, p in D.named_parameters() if p.grad is not None})
        return out

    ref, got = run("ref"), run("cpu")
    assert set(ref) == set(got)
    for k in ref:
        torch.testing.assert_close(got[k], ref[k], rtol=1e-7, atol=1e-9, msg=str(k))


def _trainer(tmp_path, resume=None, **kw):
    from fastgan.train.engine import Trainer
    from tests.models.conftest import QUIET

    ov = {**QUIET, "out": str(tmp_path / "run"), **{f"model.{k}": v for k, v in TINY.items()}, **kw}
    if resume:
        return Trainer(resume=resume, overrides={k: v for k, v in kw.items()})
    return Trainer("progan", "mnist", overrides=ov)


def test_growth_and_resume_mid_transition(tmp_path):
    with ops.use_backend("ref"):
        t = _trainer(tmp_path, **{"run.max_steps": 3})
        t.fit()  # 12 images: phase 1 (8 images at 4x4) done, 8x8 fading in with alpha 0.5
        assert (t.family.state["lod"], t.family.state["alpha"]) == (1, 0.5)
        assert t.family.resolution == 8
        t2 = _trainer(tmp_path, resume=str(tmp_path / "run"), **{"run.max_steps": 1, "run.progress": False})
        assert (t2.family.state["lod"], t2.family.state["alpha"]) == (1, 0.5)
        t2.fit()
        assert (t2.family.state["lod"], t2.family.state["alpha"]) == (1, 1.0)
    assert t.recipe.ema_kimg == pytest.approx(4 * 692.8 / 1000, rel=1e-3)  # beta 0.999 per step of 4


def test_bad_input():
    with pytest.raises(ValueError, match="resolution"):
        _family(resolution=24)
    with pytest.raises(ValueError, match="ema_beta"):
        pg.ProGANRecipe(ema_beta=1.5)


@pytest.mark.parametrize("reg_every, step", [(1, 3), (4, 8), (4, 9), (3, 0)])
def test_lazy_gradient_penalty_matches_a_float64_reference(reg_every, step):
    """D's loss at a fade-in: E[D(fake)] - E[D(real)] + drift * E[D(real)^2], plus on the steps that are
    multiples of reg_every reg_every * lambda * E[(|grad D(x_hat)| - 1)^2], with the input gradient taken by
    plain autograd in float64 (not the fused per-sample reductions the family uses)."""
    from fastgan.family.contract import Context
    torch.manual_seed(0)
    fam = _family(reg_every=reg_every, gp_lambda=7.0, drift=0.01, mbstd_group=3)
    fam.state.update(lod=2, alpha=0.5)
    nets = fam.build()
    real = torch.rand(6, 1, 16, 16) * 2 - 1
    ctx = Context(nets, real, None, step, 0, 0, 1, "cpu", torch.Generator().manual_seed(3), fam)
    loss, logs = fam.d_loss(ctx)

    g = torch.Generator().manual_seed(3)          # the same draws: z for the fakes, then the GP's alpha
    z = torch.randn(6, 8, generator=g)
    alpha = torch.rand(6, generator=g).double()
    G, D = copy.deepcopy(nets["G"]).double(), copy.deepcopy(nets["D"]).double()
    with ops.use_backend("ref"):
        fake = G(z.double(), 2, 0.5).detach()
        x = real.double()
        d = lambda v: D(v, 2, 0.5).reshape(-1)  # noqa: E731
        want = d(fake).mean() - d(x).mean() + 0.01 * d(x).square().mean()
        if step % reg_every == 0:
            x_hat = (x + alpha.view(-1, 1, 1, 1) * (fake - x)).requires_grad_(True)
            (grad,) = torch.autograd.grad(d(x_hat).sum(), x_hat)
            want = want + reg_every * 7.0 * ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
    assert ("gp" in logs) == (step % reg_every == 0)
    torch.testing.assert_close(loss.double(), want.detach(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("bad", [0, -1, 2.0, True])
def test_reg_every_must_be_a_positive_int(bad):
    with pytest.raises(ValueError, match="reg_every"):
        _family(reg_every=bad)
