"""Best-of-N sampling (``fastgan.family.sampling.best_of``, ``fastgan generate --best-of N``): the kept samples
are those a stub discriminator ranks highest, checked against a ranking computed by hand from the seeds."""
import pytest
import torch
from PIL import Image

from fastgan import models
from fastgan.cli import main
from fastgan.family import sampling

FAST = ["--threads", "1", "--no-progress", "--set", "tensorboard=false", "--set", "fid=false"]


class _Family:
    """What ``best_of`` needs of a family: z ~ N(0, I) of size 3 from a torch.Generator, G(z) or G(z, labels)."""

    conditional = False

    def __init__(self, conditional=False):
        self.conditional = conditional

    def latent(self, n, gen):
        return torch.randn(n, 3, generator=gen)

    def generate(self, G, z, labels=None, trunc=None):
        return G(z) if labels is None else G(z, labels)

    def sample_labels(self, n):
        return torch.arange(n) % 2 if self.conditional else None


class _G(torch.nn.Module):
    """z [n, 3] -> an image [n, 1, 1, 3] equal to z (plus the label in the conditional case)."""

    def forward(self, z, labels=None):
        x = z if labels is None else z + labels[:, None].float()
        return x.reshape(len(z), 1, 1, 3)


class _D(torch.nn.Module):
    """Scores x[..., 0] - 2 x[..., 2] in eval mode; a different (wrong) score in train mode, so that a
    ranking made in train mode fails."""

    def _score(self, x):
        x = x.reshape(len(x), 3)
        return (x[:, 0] - 2 * x[:, 2] if not self.training else x[:, 1])[:, None]

    def forward(self, x):
        return self._score(x)


class _SigmoidD(_D):
    """A D that ends with a Sigmoid: ``logits`` is what ranks (its forward here is saturated, useless to rank)."""

    def logits(self, x):
        return self._score(x)

    def forward(self, x):
        return torch.ones(len(x), 1)


def _hand_ranking(seeds, labels=None):
    """Seeds sorted by the stub D's eval score, computed one seed at a time in plain Python."""
    scores = {}
    for i, s in enumerate(seeds):
        z = torch.randn(1, 3, generator=torch.Generator().manual_seed(s))[0].tolist()
        if labels is not None:
            z = [v + int(labels[i]) for v in z]
        scores[s] = z[0] - 2 * z[2]
    return sorted(seeds, key=lambda s: -scores[s]), scores


@pytest.mark.parametrize("with_sigmoid", [False, True])
def test_best_of_keeps_what_d_ranks_highest(with_sigmoid):
    seeds = [3, 17, 5, 40, 11, 2, 29, 8, 13]
    D = (_SigmoidD() if with_sigmoid else _D()).train()
    imgs, scores, kept = sampling.best_of((_Family(), _G()), D, seeds, 4, batch=2)
    order, hand = _hand_ranking(seeds)
    assert kept == order[:4]
    torch.testing.assert_close(scores, torch.tensor([hand[s] for s in order[:4]]))
    for img, s in zip(imgs, kept):                       # each kept image is its seed's sample
        torch.testing.assert_close(img.reshape(3), torch.randn(1, 3, generator=torch.Generator().manual_seed(s))[0])
    assert D.training                                    # mode restored


def test_best_of_passes_labels_to_g_and_d():
    seeds = list(range(10, 22))
    fam = _Family(conditional=True)

    class CondD(_D):
        def forward(self, x, labels):                    # the label adds nothing to the score here
            return self._score(x)
    _, _, kept = sampling.best_of((fam, _G()), CondD().eval(), seeds, 5)
    assert kept == _hand_ranking(seeds, labels=[i % 2 for i in range(len(seeds))])[0][:5]


@pytest.mark.parametrize("keep, message", [(0, "keep must be"), (10, "keep must be"), (True, "keep must be")])
def test_best_of_rejects_bad_keep(keep, message):
    with pytest.raises(ValueError, match=message):
        sampling.best_of((_Family(), _G()), _D(), range(9), keep)
    with pytest.raises(TypeError, match="D must be"):
        sampling.best_of((_Family(), _G()), None, range(9), 2)


def test_generate_best_of_from_a_checkpoint(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main(["train", "--model", "tiny", "--data", "digits", "--kimg", "0.08", "--batch", "8",
                 "--out", out, *FAST]) == 0
    capsys.readouterr()
    grid = str(tmp_path / "best.png")
    assert main(["generate", "--ckpt", out, "--n", "3", "--best-of", "4", "--out", grid]) == 0
    text = capsys.readouterr().out
    assert "the 3 of 12 candidates that D scores highest" in text
    assert Image.open(grid).size == (2 + 2 * 10, 2 + 2 * 10)      # 3 images of 8x8 on a 2x2 grid
    # the ranking by hand: the checkpoint's EMA G and its D, one seed at a time, eval mode
    family, nets, _ = models.load_networks(out)
    scores = {}
    for s in range(12):
        z = family.latent(1, torch.Generator().manual_seed(s))
        scores[s] = float(nets["D"](nets["G"](z)).mean())
    best = sorted(scores, key=lambda s: -scores[s])[:3]
    assert f"seeds {','.join(map(str, best))})" in text
    # with --seeds: len(seeds) / N kept
    assert main(["generate", "--ckpt", out, "--seeds", "0-9", "--best-of", "5", "--out", grid]) == 0
    assert "the 2 of 10 candidates" in capsys.readouterr().out


@pytest.mark.parametrize("extra, message", [
    (["--best-of", "0"], "--best-of must be >= 1"),
    (["--best-of", "8", "--seeds", "0-3"], "needs at least 8 candidate --seeds"),
    (["--best-of", "2", "--trunc-grid", "1,0.5"], "does not go with --trunc-grid"),
])
def test_generate_best_of_errors(tmp_path, capsys, extra, message):
    out = str(tmp_path / "run")
    assert main(["train", "--model", "tiny", "--data", "digits", "--kimg", "0.016", "--batch", "8",
                 "--out", out, *FAST]) == 0
    capsys.readouterr()
    assert main(["generate", "--ckpt", out, *extra]) == 2
    assert message in capsys.readouterr().err


def test_generate_best_of_needs_a_discriminator(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main(["train", "--model", "gmmn", "--data", "digits", "--kimg", "0.016", "--batch", "8",
                 "--set", "hidden=[8]", "--out", out, *FAST]) == 0
    capsys.readouterr()
    assert main(["generate", "--ckpt", out, "--best-of", "2", "--n", "2"]) == 2
    assert "ranks samples with the discriminator D; model gmmn has the networks G" in capsys.readouterr().err
