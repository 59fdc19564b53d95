"""StyleGAN2 on the fused ops: ref vs cpu backends (float64), compile, training, tools."""
import copy

import pytest
import torch

from fastgan import losses, ops
from fastgan.family import DataInfo

from fastgan.models import stylegan2 as sg2


TINY = dict(z_dim=8, w_dim=8, mapping_layers=2, channel_base=64, channel_max=8, resolution=16, r1_gamma=0.5,
            mbstd_group=2)


def _family(c=0, **kw):
    recipe = sg2.StyleGAN2Recipe(**{**TINY, "cond": bool(c), **kw})
    res = kw.get("resolution", TINY["resolution"])
    return sg2.StyleGAN2(recipe, DataInfo((3, res, res), c))


def _nets(fam, dtype=torch.float64):
    torch.manual_seed(0)
    nets = fam.build()
    for n in nets.values():
        n.to(dtype)
        # non-zero noise strengths and biases so every epilogue term is exercised
        with torch.no_grad():
            for name, p in n.named_parameters():
                if p.dim() <= 1 and ("noise" in name or name.endswith("bias")):
                    p.add_(0.1 * torch.randn_like(p))
    return nets


def _all_grads(fam, nets, backend):
    """Outputs and parameter gradients of the four phases' losses under one backend."""
    G, D = nets["G"], nets["D"]
    gen = torch.Generator().manual_seed(5)
    n = 4
    z, z2 = torch.randn(n, 8, generator=gen, dtype=torch.float64), torch.randn(n, 8, generator=gen, dtype=torch.float64)
    real = torch.randn(n, 3, *fam.data.shape[1:], generator=gen, dtype=torch.float64)
    pl_noise = torch.randn(n // 2, 3, *fam.data.shape[1:], generator=gen, dtype=torch.float64)
    c = fam.onehot(torch.arange(n) % 3, n, "cpu", torch.float64) if fam.c_dim else None
    u, r = torch.tensor([0.1], dtype=torch.float64), torch.tensor([0.6], dtype=torch.float64)
    out = {}
    with ops.use_backend(backend):
        torch.manual_seed(11)  # the synthesis layers' random noise
        out["G(z)"] = G(z, c, noise_mode="const")
        out["D(x)"] = D(real, c)
        for name, fn in (
            ("Gmain", lambda: sg2.g_main_loss(G, D, z, z2, c, u, r, 0.9)),
            ("Dmain", lambda: sg2.d_main_loss(G, D, real, z, z2, c, u, r, 0.9)[0]),
            ("Dreg", lambda: losses.r1_penalty(lambda x: D(x, c), real, 0.5)),
            ("Greg", lambda: losses.path_length_penalty(
                G.synthesis, sg2.mix_styles(G.mapping, z[:2], z2[:2], c[:2] if c is not None else None, u, r, 0.9),
                torch.tensor(0.3, dtype=torch.float64), noise=pl_noise)[0]),
        ):
            for net in (G, D):
                net.zero_grad(set_to_none=True)
            torch.manual_seed(11)
            loss = fn()
            loss.backward()
            out[name] = loss.detach()
            for k, net in (("G", G), ("D", D)):
                for pn, p in net.named_parameters():
                    if p.grad is not None:
                        out[f"{name}/{k}.{pn}"] = p.grad.clone()
    return out


@pytest.mark.parametrize("c", [0, pytest.param(3, marks=pytest.mark.slow)], ids=["uncond", "cond"])
def test_ref_and_cpu_agree_float64(c):
    assert "cpu" in ops.available_backends("cpu"), "the cpu backend is not built (pip install . builds it)"
    fam = _family(c, resolution=8, channel_base=32)
    nets = _nets(fam)
    ref = _all_grads(fam, copy.deepcopy(nets), "ref")
    got = _all_grads(fam, copy.deepcopy(nets), "cpu")
    # a parameter the penalty does not depend on may get no gradient on one backend, zeros on the other
    for k in set(ref) ^ set(got):
        present = ref.get(k, got.get(k))
        assert not present.any(), k
        ref.setdefault(k, torch.zeros_like(present))
        got.setdefault(k, torch.zeros_like(present))
    # every phase reached parameters of both networks it trains
    for phase, net in (("Gmain", "G"), ("Greg", "G"), ("Dmain", "D"), ("Dreg", "D")):
        assert any(k.startswith(f"{phase}/{net}.") for k in ref), phase
    assert any(k.startswith("Greg/G.mapping") for k in ref)  # path length reaches the mapping network
    for k in ref:
        torch.testing.assert_close(got[k], ref[k], rtol=1e-7, atol=1e-9, msg=k)


def test_architectures_and_num_ws():
    for g_arch, d_arch in (("skip", "resnet"), ("orig", "orig")):
        fam = _family(g_arch=g_arch, d_arch=d_arch)
        nets = _nets(fam, torch.float32)
        G, D = nets["G"], nets["D"]
        assert G.num_ws == 2 * 4 - 2  # 2 log2(res) - 2
        with ops.use_backend("ref"):
            img = G(torch.randn(4, 8), noise_mode="none")
            assert img.shape == (4, 3, 16, 16)
            assert D(img).shape == (4, 1)


def test_mapping_w_avg_truncation_and_mixing():
    fam = _family()
    G = _nets(fam, torch.float64)["G"]
    M = G.mapping
    z = torch.randn(6, 8, dtype=torch.float64)
    with ops.use_backend("ref"):
        M.train()
        w = M(z)[:, 0]
        torch.testing.assert_close(M.w_avg, w.mean(0) * (1 - 0.995))  # lerp from 0 with beta 0.995
        M.eval()
        before = M.w_avg.clone()
        ws = M(z)
        ws_t = M(z, psi=0.5, trunc_cutoff=2)
        assert torch.equal(M.w_avg, before)  # no update in eval mode
        torch.testing.assert_close(ws_t[:, :2], before + 0.5 * (ws[:, :2] - before))
        torch.testing.assert_close(ws_t[:, 2:], ws[:, 2:])
        # style mixing: u < prob mixes from cutoff = floor(r * (num_ws - 1)) + 1 on; u >= prob keeps ws
        z2 = torch.randn(6, 8, dtype=torch.float64)
        ws2 = M(z2)
        r = torch.tensor([0.5], dtype=torch.float64)
        mixed = sg2.mix_styles(M, z, z2, None, torch.tensor([0.1], dtype=torch.float64), r, 0.9)
        cut = int(0.5 * (G.num_ws - 1)) + 1
        torch.testing.assert_close(mixed[:, :cut], ws[:, :cut])
        torch.testing.assert_close(mixed[:, cut:], ws2[:, cut:])
        kept = sg2.mix_styles(M, z, z2, None, torch.tensor([0.95], dtype=torch.float64), r, 0.9)
        torch.testing.assert_close(kept, ws)


def test_bad_input():
    with pytest.raises(ValueError, match="preset"):
        sg2.StyleGAN2Recipe(preset="nope").resolved()
    with pytest.raises(ValueError, match="style_mixing"):
        _family(style_mixing=1.5)
    with pytest.raises(ValueError, match="shape"):
        sg2.StyleGAN2(sg2.StyleGAN2Recipe(**TINY), DataInfo((3, 28, 28)))
    G = _nets(_family(), torch.float32)["G"]
    with pytest.raises(ValueError, match="z"):
        G(torch.randn(2, 5))
    with pytest.raises(ValueError, match="noise_mode"):
        G(torch.randn(2, 8), noise_mode="loud")


def test_presets_fill_only_unset_fields():
    r = sg2.StyleGAN2Recipe(preset="paper256", r1_gamma=3.0).resolved()
    assert (r.resolution, r.mapping_layers, r.r1_gamma, r.pl_weight, r.style_mixing) == (256, 8, 3.0, 2.0, 0.9)
    r = sg2.StyleGAN2Recipe(preset="cifar").resolved()
    assert (r.resolution, r.mapping_layers, r.r1_gamma) == (32, 2, 0.01)
    assert r.d_arch == "orig"  # StyleGAN2-ADA's cifar config drops D's residual skips
    assert sg2.StyleGAN2Recipe(preset="cifar", d_arch="resnet").resolved().d_arch == "resnet"
    assert sg2.StyleGAN2Recipe().resolved().d_arch == "resnet"
    phases = [p.name for p in _family().phases()]
    assert phases == ["G", "Greg", "D", "Dreg"]
    f = _family()
    intervals = {p.name: p.interval for p in f.phases()}
    assert intervals == {"G": 1, "Greg": 4, "D": 1, "Dreg": 16}


def _train(tmp_path, steps, **kw):
    from fastgan.train.engine import Trainer
    from tests.models.conftest import QUIET

    ov = {**QUIET, "out": str(tmp_path / "run"), **{f"model.{k}": v for k, v in TINY.items()},
          "model.batch": 4, "model.kimg": 1.0, "run.max_steps": steps, "model.resolution": 32,
          "model.channel_base": 128, **kw}
    t = Trainer("stylegan2", "mnist", overrides=ov)
    return t, t.fit()


def test_training_steps_update_pl_mean_and_w_avg(tmp_path):
    with ops.use_backend("ref"):
        t, s = _train(tmp_path, 2)
    assert s["step"] == 2
    assert float(t.family.state["pl_mean"]) > 0  # Greg ran at step 0
    assert t.nets["G"].mapping.w_avg.abs().sum() > 0
    assert torch.equal(t.ema["G"].mapping.w_avg, t.nets["G"].mapping.w_avg)  # the EMA copies buffers


def test_tools(tmp_path):
    fam = _family()
    G = _nets(fam, torch.float32)["G"].eval()
    with ops.use_backend("ref"):
        a = sg2.generate_images(fam, G, [1, 2], psi=0.7)
        b = sg2.generate_images(fam, G, [1, 2], psi=0.7)
        torch.testing.assert_close(a, b)  # a seed names one image
        grid = sg2.style_mixing_grid(fam, G, [1, 2], [3, 4, 5], col_styles=(0, 1))
        assert grid.shape == (3, 3 * 16, 4 * 16)
        path = sg2.interpolation_gif(fam, G, [1, 2, 3], str(tmp_path / "interp.gif"), frames=3)
    from PIL import Image

    with Image.open(path) as im:
        assert im.n_frames == 9
    with pytest.raises(ValueError, match="psi"):
        sg2.generate_images(fam, G, [1], psi=1.5)
    with pytest.raises(ValueError, match="psi"):
        sg2.style_mixing_grid(fam, G, [1], [2], psi=-0.1)


@pytest.mark.slow
def test_gmain_dmain_compile_fullgraph():
    import torch._inductor.config as inductor_config

    # inductor draws random numbers with its own generator; use eager's so noise and mixing match
    with inductor_config.patch(fallback_random=True):
        _check_gmain_dmain_compile()


def _check_gmain_dmain_compile():
    fam = _family()
    nets = _nets(fam, torch.float32)
    G, D = nets["G"], nets["D"]
    z, z2 = torch.randn(4, 8), torch.randn(4, 8)
    real = torch.randn(4, 3, 16, 16)
    u, r = torch.tensor([0.1]), torch.tensor([0.4])
    for fn, args in ((sg2.g_main_loss, (G, D, z, z2, None, u, r, 0.9)),
                     (sg2.d_main_loss, (G, D, real, z, z2, None, u, r, 0.9))):
        G.requires_grad_(fn is sg2.g_main_loss)
        torch._dynamo.reset()
        compiled = torch.compile(fn, fullgraph=True)
        G.eval()  # no w_avg update, const noise is not used: compare compiled vs eager under the same seed
        torch.manual_seed(3)
        want = fn(*args)
        want = want[0] if isinstance(want, tuple) else want
        torch.manual_seed(3)
        got = compiled(*args)
        got = got[0] if isinstance(got, tuple) else got
        got.backward()
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_cli_train_mnist32(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "cli"
    cmd = [sys.executable, "-m", "fastgan", "train", "--model", "stylegan2", "--preset", "mnist32", "--kimg",
           "0.012", "--batch", "4", "--threads", "1", "--out", str(out), "--no-progress",
           "--set", "fid=false", "--set", "tensorboard=false", "--set", "channel_base=256", "--set", "z_dim=32",
           "--set", "w_dim=32"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert (out / "samples" / "latest.png").exists()
