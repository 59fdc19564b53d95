"""SeqGAN rollout speed: batch 64, length 20, vocabulary 5,000, N = 16 rollouts per prefix.

* batched: ``seqgan_networks.rollout_rewards``: for each prefix length, all N rollouts of all B
  sequences run as one batch of N * B rows that continue from the rollout policy's state after
  the prefix (computed once per sequence);
* loop: the straightforward way (as in the paper's code): a Python loop over the N rollouts and
  the prefix lengths, each re-reading its prefix and sampling a batch of B rows.

Both give D the same number of sequences.  Tokens/s counts sampled rollout tokens,
``N * B * sum_{t=1}^{T-1} (T - t)``; timed with the paper's discriminator, with the oracle
experiment's (filters x0.25) and with a free one (a constant), so the generation cost shows on its own.

Each with two samplers: ``two-level`` (``seqgan_networks.draw`` on chunks of 64 rows: softmax, block
sums of 64 tokens, the block, then the token inside it) and ``previous`` (the code before it: softmax
and a cumulative sum over all 5,000 tokens of all rows at once, then searchsorted).  Both return the
first token whose cumulative probability exceeds the uniform.

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/seqgan_rollouts.py

Writes benchmarks/results/seqgan_rollouts.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from fastgan.models import seqgan_networks as sn  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


@torch.no_grad()
def loop_rollout_rewards(R, D, x, n, uniforms):
    """The loop over rollouts: the same rewards' estimator, one rollout and one prefix at a time."""
    B, T = x.shape
    rewards = torch.zeros(B, T, device=x.device)
    for _ in range(n):
        for t in range(1, T):
            y = R.sample(uniforms(B, T), prefix=x[:, :t])
            rewards[:, t - 1] += torch.sigmoid(D(y).float()) / n
    rewards[:, T - 1] = torch.sigmoid(D(x).float())
    return rewards


def previous_draw(logits, u, temperature=1.0):
    """The sampler before the two-level search: a cumulative sum over the whole vocabulary."""
    cdf = torch.softmax(logits.float() / temperature, dim=-1).cumsum(-1)
    idx = torch.searchsorted(cdf, (u.float() * cdf[:, -1]).unsqueeze(-1).contiguous(), right=True)
    return idx.squeeze(-1).clamp_(max=logits.shape[-1] - 1)


def previous_draw_next(self, h, u, temperature=1.0):
    return previous_draw(self.out(h), u, temperature)


class Free(torch.nn.Module):
    def forward(self, x):
        return torch.zeros(len(x), device=x.device)


def timed(fn, repeats):
    fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts), ts


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--length", type=int, default=20)
    p.add_argument("--vocab", type=int, default=5000)
    p.add_argument("--rollouts", type=int, default=16)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--results", default=os.path.join(HERE, "results"))
    a = p.parse_args(argv)
    torch.manual_seed(0)
    dev = torch.device(a.device)
    B, T, V, N = a.batch, a.length, a.vocab, a.rollouts
    R = sn.SeqGenerator(V, 32, 32).to(dev).eval()
    D = sn.SeqDiscriminator(V, T).to(dev).eval()
    x = R.sample(torch.rand(B, T, device=dev))
    g = torch.Generator(device=dev).manual_seed(1)

    def uniforms(r, c):
        return torch.rand(r, c, generator=g, device=dev)
    tokens = N * B * sum(T - t for t in range(1, T))
    rows = {}
    two_level = sn.SeqGenerator.draw_next
    discs = (("paper D", D), ("D x0.25", sn.SeqDiscriminator(V, T, width=0.25).to(dev).eval()), ("free D", Free()))
    for sampler, method in (("two-level", two_level), ("previous", previous_draw_next)):
        sn.SeqGenerator.draw_next = method
        try:
            for dname, disc in discs:
                for how, fn in (("batched", sn.rollout_rewards), ("loop", loop_rollout_rewards)):
                    med, all_t = timed(lambda: fn(R, disc, x, N, uniforms), a.repeats)
                    rows[f"{how}, {dname}, {sampler}"] = {"seconds": med, "tokens_per_s": tokens / med, "runs": all_t}
                    print(f"{how:8s} {dname:8s} {sampler:9s} {med:7.2f} s  {tokens / med:10.0f} tokens/s", flush=True)
        finally:
            sn.SeqGenerator.draw_next = two_level
    res = {"batch": B, "length": T, "vocab": V, "rollouts": N, "tokens_per_call": tokens,
           "threads": torch.get_num_threads(), "device": str(dev), "rows": rows}
    os.makedirs(a.results, exist_ok=True)
    with open(os.path.join(a.results, "seqgan_rollouts.json"), "w") as f:
        json.dump(res, f, indent=1)
    lines = [f"# SeqGAN rollouts: batch {B}, length {T}, vocabulary {V}, N = {N} ({tokens:,} rollout tokens per "
             f"G step), {dev}, {torch.get_num_threads()} thread(s), shared machine (under load)", "",
             "| rollouts | discriminator | sampler | s per G step (median of "
             f"{a.repeats}) | rollout tokens/s | batched vs loop | two-level vs previous |",
             "|---|---|---|---:|---:|---:|---:|"]
    for dname, _ in discs:
        for sampler in ("two-level", "previous"):
            for how in ("batched", "loop"):
                r = rows[f"{how}, {dname}, {sampler}"]
                vs_loop = rows[f"loop, {dname}, {sampler}"]["seconds"] / r["seconds"] if how == "batched" else None
                vs_prev = rows[f"{how}, {dname}, previous"]["seconds"] / r["seconds"] if sampler == "two-level" \
                    else None
                lines.append(f"| {how} | {dname} | {sampler} | {r['seconds']:.2f} | {r['tokens_per_s']:,.0f} | "
                             f"{'' if vs_loop is None else f'{vs_loop:.2f}x'} | "
                             f"{'' if vs_prev is None else f'{vs_prev:.2f}x'} |")
    with open(os.path.join(a.results, "seqgan_rollouts.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
