"""Sequence metrics of SeqGAN's synthetic experiment (Yu et al. 2017).

* :func:`nll_oracle`: the oracle's average per-token negative log-likelihood of generated
  sequences, ``-1/(N T) sum log p_oracle(x)`` (lower is better: the samples are likely under the
  true distribution);
* :func:`nll_test`: the generator's per-token NLL of held-out real sequences (lower is better;
  a generator that drops modes is punished here, not by NLL-oracle);
* :func:`entropy_rate`: the per-token entropy of a model, estimated on its own samples as
  ``1/T sum_t H(p(. | x_<t))`` (an estimate of what NLL-oracle of the oracle's own samples is);
* :func:`bleu`: mean sentence BLEU-4 of samples against held-out text (NLTK is not a dependency;
  the formula is written out).
"""
from __future__ import annotations

import math

import torch

from ..models.seqgan_networks import SeqGenerator, sequence_nll

__all__ = ["nll_oracle", "nll_test", "entropy_rate", "sample_sequences", "bleu"]


def _check_model(model, name):
    if not isinstance(model, SeqGenerator):
        raise TypeError(f"{name} must be a SeqGenerator, got {type(model).__name__}")


@torch.no_grad()
def sample_sequences(generator: SeqGenerator, n: int, length: int, *, seed: int = 0, temperature: float = 1.0,
                     batch: int = 1000) -> torch.Tensor:
    """``n`` sequences [n, length] of ``generator``, drawn from uniforms of ``seed``."""
    _check_model(generator, "generator")
    if n < 1 or length < 1:
        raise ValueError(f"n and length must be >= 1, got {n}, {length}")
    dev = next(generator.parameters()).device
    u = torch.rand(n, length, generator=torch.Generator().manual_seed(seed))
    return torch.cat([generator.sample(ui.to(dev), temperature).cpu() for ui in u.split(batch)])


def nll_oracle(oracle: SeqGenerator, samples, *, n: int = 10000, length: int = 20, seed: int = 0,
               temperature: float = 1.0) -> float:
    """NLL-oracle of ``samples``: int64 sequences [N, T], or a SeqGenerator to draw ``n`` of
    ``length`` from (seeded by ``seed``)."""
    _check_model(oracle, "oracle")
    if isinstance(samples, SeqGenerator):
        if samples.vocab != oracle.vocab:
            raise ValueError(f"generator vocabulary {samples.vocab} differs from the oracle's {oracle.vocab}")
        samples = sample_sequences(samples, n, length, seed=seed, temperature=temperature)
    return sequence_nll(oracle, samples)


def nll_test(generator: SeqGenerator, heldout: torch.Tensor) -> float:
    """The generator's per-token NLL of held-out sequences [N, T]."""
    _check_model(generator, "generator")
    return sequence_nll(generator, heldout)


@torch.no_grad()
def entropy_rate(model: SeqGenerator, *, n: int = 2000, length: int = 20, seed: int = 0,
                 temperature: float = 1.0) -> tuple[float, float]:
    """``(estimate, standard error)`` of the per-token entropy of ``model``'s sequences of
    ``length``: the mean over its samples of ``1/T sum_t H(p(. | x_<t))``; with ``temperature``,
    of the sequences sampled at that temperature (p is then softmax(logits / temperature))."""
    _check_model(model, "model")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    x = sample_sequences(model, n, length, seed=seed, temperature=temperature)
    dev = next(model.parameters()).device
    per_seq = []
    for xi in x.split(250):   # [250, T, V] float64 at a time
        logp = torch.log_softmax(model(xi.to(dev)).double() / temperature, -1)
        per_seq.append(-(logp.exp() * logp).sum(-1).mean(1).cpu())
    h = torch.cat(per_seq)
    return float(h.mean()), float(h.std() / len(h) ** 0.5)


def _ngrams(seq, n):
    out: dict = {}
    for i in range(len(seq) - n + 1):
        g = tuple(seq[i:i + n])
        out[g] = out.get(g, 0) + 1
    return out


def bleu(hypotheses, references, *, n: int = 4, eps: float = 0.1) -> float:
    """Mean sentence BLEU-``n`` of ``hypotheses`` (token lists), each against all ``references``
    (Papineni et al. 2002: clipped n-gram precisions, uniform weights, brevity penalty with the
    closest reference length), a zero n-gram count replaced by ``eps`` (Chen and Cherry's
    smoothing 1, as in the SeqGAN/Texygen evaluations)."""
    hypotheses, references = [list(h) for h in hypotheses], [list(r) for r in references]
    if not hypotheses or not references:
        raise ValueError("bleu: need at least one hypothesis and one reference")
    maxref = [dict() for _ in range(n)]
    for r in references:
        for k in range(n):
            for g, c in _ngrams(r, k + 1).items():
                if c > maxref[k].get(g, 0):
                    maxref[k][g] = c
    ref_lens = sorted({len(r) for r in references})
    scores = []
    for h in hypotheses:
        if not h:
            scores.append(0.0)
            continue
        logp = 0.0
        for k in range(n):
            grams = _ngrams(h, k + 1)
            total = max(len(h) - k, 0)
            if total == 0:
                logp = float("-inf")
                break
            hit = sum(min(c, maxref[k].get(g, 0)) for g, c in grams.items())
            logp += math.log((hit if hit else eps) / total) / n
        closest = min(ref_lens, key=lambda L: (abs(L - len(h)), L))
        bp = 1.0 if len(h) > closest else math.exp(1 - closest / len(h))
        scores.append(bp * math.exp(logp))
    return sum(scores) / len(scores)
