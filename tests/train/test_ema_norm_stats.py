"""The EMA generator's BatchNorm statistics are measured on its own samples (``state.standing_norm_stats``,
``Trainer.refresh_ema_norm_stats``), checked against means and variances computed by hand."""
import pytest
import torch
from torch import nn

from fastgan import checkpoint
from fastgan.train import Trainer, engine
from fastgan.train.state import standing_norm_stats

from train_helpers import QUIET


def _net():
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(3, 5, bias=True), nn.BatchNorm1d(5), nn.Dropout(0.5), nn.ReLU(),
                        nn.Linear(5, 4, bias=False), nn.BatchNorm1d(4, momentum=0.3)).double()
    with torch.no_grad():                      # BN affine parameters away from (1, 0)
        net[1].weight.uniform_(0.5, 2.0), net[1].bias.uniform_(-1, 1)
        net[1].running_mean.fill_(7.0), net[5].running_var.fill_(9.0)   # stale statistics to be replaced
    return net.eval()


def test_standing_stats_are_the_averages_of_batch_statistics():
    net = _net()
    batches = [torch.randn(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(i)) for i in range(5)]
    assert standing_norm_stats(net, lambda i: net(batches[i]), 5) is True
    # by hand: layer 1's batch statistics, then layer 2's input built with layer 1's batch statistics,
    # dropout off (identity), ReLU
    W1, b1, g1, be1, W2 = (t.detach() for t in (net[0].weight, net[0].bias, net[1].weight, net[1].bias, net[4].weight))
    m1, v1, m2, v2 = [], [], [], []
    for x in batches:
        a = x @ W1.T + b1
        mu, var_b = a.mean(0), ((a - a.mean(0)) ** 2).mean(0)
        m1.append(mu), v1.append(((a - mu) ** 2).sum(0) / (len(a) - 1))
        h = torch.relu((a - mu) / torch.sqrt(var_b + 1e-5) * g1 + be1) @ W2.T
        m2.append(h.mean(0)), v2.append(((h - h.mean(0)) ** 2).sum(0) / (len(h) - 1))
    torch.testing.assert_close(net[1].running_mean, torch.stack(m1).mean(0))
    torch.testing.assert_close(net[1].running_var, torch.stack(v1).mean(0))
    torch.testing.assert_close(net[5].running_mean, torch.stack(m2).mean(0))
    torch.testing.assert_close(net[5].running_var, torch.stack(v2).mean(0))
    assert not net.training and not net[1].training and not net[2].training       # modes restored
    assert net[1].momentum == 0.1 and net[5].momentum == 0.3                        # momenta restored


def test_standing_stats_leave_a_net_without_batchnorm_alone():
    net = nn.Sequential(nn.Linear(3, 2), nn.LayerNorm(2))
    calls = []
    assert standing_norm_stats(net, calls.append, 3) is False and calls == []
    with pytest.raises(ValueError, match="n_batches must be"):
        standing_norm_stats(_net(), lambda i: None, 0)


def test_trainer_samples_with_the_ema_generators_own_statistics(tmp_path):
    out = str(tmp_path / "run")
    tr = Trainer("dcgan28", "digits", overrides={**QUIET, "run.out": out, "run.max_steps": 4, "batch": 8,
                                                 "ema_kimg": 1.0, "run.ckpt_kimg": 0.0, "run.snap_kimg": 0.0})
    tr.fit()
    G = tr.sampler
    # dcgan28's G starts Linear(z, no bias) -> BatchNorm1d: the running mean is the mean of W z over the
    # NORM_STATS_SAMPLES latents drawn in batches of 8 from the seeded generator (equal batches)
    gen = torch.Generator().manual_seed(engine.NORM_STATS_SEED)
    z = torch.cat([tr.family.latent(8, gen) for _ in range(engine.NORM_STATS_SAMPLES // 8)])
    a = z.double() @ G.net[0].weight.double().T
    torch.testing.assert_close(G.net[1].running_mean.double(), a.mean(0), rtol=1e-5, atol=1e-6)
    per_batch_var = torch.stack([c.var(0, unbiased=True) for c in a.split(8)]).mean(0)
    torch.testing.assert_close(G.net[1].running_var.double(), per_batch_var, rtol=1e-4, atol=1e-6)
    assert not torch.allclose(G.net[1].running_mean, tr.nets["G"].net[1].running_mean)   # not the live G's
    # the checkpoint's EMA generator carries the same statistics
    saved = checkpoint.load(checkpoint.find(out))["ema"]["G"]
    torch.testing.assert_close(saved["net.1.running_mean"], G.net[1].running_mean)
