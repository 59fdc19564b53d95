"""Saturating vs non-saturating generator loss: where the gradient goes when D wins.

1. With a = D's logit on a fake, the saturating loss log(1 - sigmoid(a)) has
   |dL/da| = sigmoid(a) and the non-saturating -log sigmoid(a) has 1 - sigmoid(a).  Both are
   computed by autograd through ``fastgan.losses`` and compared with these closed forms; when
   D confidently rejects fakes (a -> -inf) the first vanishes, the second tends to 1.
2. In a 1-D toy (data N(4, 0.5^2), G initially near 0) G is frozen (lr_g = 0) while D trains
   towards optimal; at each check the norm of G's parameter gradient under each loss is
   measured on the same noise.  As D(G(z)) -> 0 the saturating gradient collapses while the
   non-saturating one does not.

    python examples/saturation.py [--steps 300] [--out DIR]
"""
import numpy as np
import torch

from _common import parse_args, plt, save
from fastgan import losses
from fastgan.data import toy as toydata
from fastgan.train.toy import run_toy, toy_trainer


def logit_grads(a: torch.Tensor):
    """|dL/da| per logit for each G loss, by autograd (sum of per-sample losses)."""
    out = {}
    for name, fn in (("saturating", losses.g_minimax), ("non-saturating", losses.g_nonsaturating)):
        x = a.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(fn(x) * len(x), x)
        out[name] = g.abs()
    return out


def g_grad_norms(tr, z):
    G, D = tr.nets["G"], tr.nets["D"]
    norms = {}
    for name, fn in (("saturating", losses.g_minimax), ("non-saturating", losses.g_nonsaturating)):
        G.zero_grad(set_to_none=True)
        G.requires_grad_(True)
        fn(D(G(z))).backward()
        norms[name] = float(torch.sqrt(sum((p.grad ** 2).sum() for p in G.parameters())))
        G.zero_grad(set_to_none=True)
    with torch.no_grad():
        d_fake = float(torch.sigmoid(D(G(z))).mean())
    D.zero_grad(set_to_none=True)
    return {**norms, "D(G(z))": d_fake}


def main(argv=None):
    a = parse_args(__doc__.splitlines()[0], argv, steps=(int, 300, "D steps with G frozen"))
    steps = 30 if a.quick else a.steps
    logits = torch.linspace(-10, 10, 401, dtype=torch.float64)
    grads = logit_grads(logits)
    sig = torch.sigmoid(logits)
    err_s = float((grads["saturating"] - sig).abs().max())
    err_n = float((grads["non-saturating"] - (1 - sig)).abs().max())
    print(f"max |autograd - sigmoid(a)|     (saturating)     = {err_s:.2e}")
    print(f"max |autograd - (1 - sigmoid(a))| (non-saturating) = {err_n:.2e}")
    print(f"at a = -10: saturating {float(grads['saturating'][0]):.2e}, "
          f"non-saturating {float(grads['non-saturating'][0]):.4f}")

    data = toydata.gaussian_dataset(20000, 4.0, 0.5, seed=a.seed)
    tr = toy_trainer(data, seed=a.seed, z_dim=1, hidden=32, depth=2, batch=128, lr_g=0.0)
    z = tr.family.latent(512, torch.Generator().manual_seed(3))
    hist = run_toy(tr, steps, max(1, steps // 10), lambda t: g_grad_norms(t, z))
    for h in hist:
        print(f"D step {h['step']:4d}: D(G(z)) = {h['D(G(z))']:.4f}; |grad_G| saturating = {h['saturating']:.2e}, "
              f"non-saturating = {h['non-saturating']:.2e}")

    fig, ax = plt.subplots(1, 2, figsize=(10, 3.8))
    ax[0].plot(logits, grads["saturating"], label="saturating: sigmoid(a)")
    ax[0].plot(logits, grads["non-saturating"], label="non-saturating: 1 - sigmoid(a)")
    ax[0].set_xlabel("a = logit of D(G(z))  (D rejects fakes on the left)")
    ax[0].set_ylabel("|dL_G / da|")
    ax[0].legend(fontsize=8)
    s = np.array([h["step"] for h in hist])
    for name in ("saturating", "non-saturating"):
        ax[1].semilogy(s, [max(h[name], 1e-12) for h in hist], "o-", label=f"|grad_G| {name}")
    ax2 = ax[1].twinx()
    ax2.plot(s, [h["D(G(z))"] for h in hist], "k:", label="D(G(z))")
    ax2.set_ylabel("D(G(z))")
    ax[1].set_xlabel("D steps (G frozen)")
    ax[1].legend(fontsize=8, loc="center right")
    save(fig, a.out, "saturation.png")
    return {"err_saturating": err_s, "err_ns": err_n, "first": hist[0], "last": hist[-1]}


if __name__ == "__main__":
    main()
