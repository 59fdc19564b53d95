"""Diagnostic (issue #8): does the mnist32 StyleGAN2 generator's output depend on z while it trains?

Trains with the real engine (fastgan.train.Trainer) and every `every` steps prints, for the raw
(non-EMA) G in eval mode:
  zstd   per-pixel std of G(z) over 64 different z (noise_mode none), averaged over pixels
  nstd   per-pixel std over 16 noise draws at one fixed z (noise_mode random)
  wstd   std of w over z (mean over w_dim), styles' std over z per layer (relative to |mean|)
  rms    activation rms per synthesis layer (noise none), noise strengths
then the digits FID (1,000 samples, noise const, vs the 500 held-out digits) and the predicted-class
histogram of the raw and the EMA generator; grids raw.png / ema.png in `out` at the end.

    python scripts/diag_stylegan2_zdep.py steps=750 every=250 channel_base=1024 channel_max=64 \
        [any recipe/run field=value] [nonoise=1] [gmul=0.2] [dmul=0.2] [dnoise=0.2] [wcenter=1] [affmul=10] [dtrans=4]

nonoise: no noise inputs; gmul/dmul: scale G's/D's Adam lr; dnoise: N(0, dnoise^2) added to every
image D sees; wcenter: the affines see w - w0 (w0 = mean w at init, biases adjusted: same initial
styles); affmul: the style affines learn affmul x faster (same initial function); dtrans: random integer
shifts in [-dtrans, dtrans] (padding -1) of every image D sees.  One thread.
Findings (issue #8): see the README's "StyleGAN2 on MNIST" section.
"""
import sys
import time

import torch

torch.set_num_threads(1)
args = dict(a.split("=", 1) for a in sys.argv[1:])
steps, every = int(args.pop("steps", 400)), int(args.pop("every", 50))
nonoise = int(args.pop("nonoise", 0))
affmul = float(args.pop("affmul", 1))  # lr multiplier of the style affines (weights/bias stored x1/affmul)
wcenter = int(args.pop("wcenter", 0))  # feed the affines w - w0 (w0: the mean w at init), same init styles
dtrans = int(args.pop("dtrans", 0))  # random integer shifts in [-dtrans, dtrans] (padding -1) of every image D sees
dnoise = float(args.pop("dnoise", 0))  # std of Gaussian noise added to every image D sees
gmul, dmul = float(args.pop("gmul", 1)), float(args.pop("dmul", 1))  # scale G's / D's Adam lr
from fastgan.train.engine import Trainer  # noqa: E402

ov = {"threads": 1, "out": args.pop("out", "/tmp/sg_zdep"), "overwrite": True, "fid_kimg": 0, "snap_kimg": 0,
      "ckpt_kimg": 0, "kimg": 1000}
import ast  # noqa: E402

for k, v in args.items():
    try:
        ov[k] = ast.literal_eval(v)
    except (ValueError, SyntaxError):
        ov[k] = v
tr = Trainer("stylegan2", "mnist", overrides=ov)
G = tr.nets["G"]
if affmul != 1:  # same initial function, the affines learn affmul x faster under Adam
    with torch.no_grad():
        for g in [G] + list(tr.ema.values()):
            for m in g.synthesis.modules():
                if hasattr(m, "affine"):
                    m.affine.weight /= affmul
                    m.affine.bias /= affmul
                    m.affine.weight_gain *= affmul
                    m.affine.bias_gain *= affmul
if wcenter:
    with torch.no_grad():
        w0 = G.mapping(torch.randn(4096, G.z_dim, generator=torch.Generator().manual_seed(9)), None,
                       update_w_avg=False)[:, 0].mean(0)
        for m in G.synthesis.modules():
            if hasattr(m, "affine"):
                m.affine.bias += (m.affine.weight * m.affine.weight_gain) @ w0 / m.affine.bias_gain
    _Sfwd = G.synthesis.forward
    G.synthesis.forward = lambda ws, noise_mode="random": _Sfwd(ws - w0, noise_mode)
if dtrans:
    _Dfwd0 = tr.nets["D"].forward

    def _shift(img):
        k = dtrans
        p = torch.nn.functional.pad(img, [k, k, k, k], value=-1.0)
        d = torch.randint(0, 2 * k + 1, (img.shape[0], 2))
        H, W = img.shape[2:]
        return torch.stack([p[i, :, d[i, 0]:d[i, 0] + H, d[i, 1]:d[i, 1] + W] for i in range(img.shape[0])])
    tr.nets["D"].forward = lambda img, c=None: _Dfwd0(_shift(img), c)
if dnoise:
    _Dfwd = tr.nets["D"].forward
    tr.nets["D"].forward = lambda img, c=None: _Dfwd(img + dnoise * torch.randn_like(img), c)
for k, m in (("G", gmul), ("D", dmul)):
    for grp in tr.opts[k].param_groups:
        grp["lr"] *= m
if nonoise:  # no noise inputs (the layers keep their strength parameter, which gets no gradient)
    for g in [G] + list(tr.ema.values()):
        for m in g.modules():
            if hasattr(m, "use_noise"):
                m.use_noise = False
from fastgan.data import make_dataset  # noqa: E402
from fastgan.metrics import FIDStats, fid_from_stats  # noqa: E402
from fastgan.metrics.digits import DigitsFeatures  # noqa: E402

net = DigitsFeatures()
held = make_dataset("mnist", split="heldout", resolution=32)
with torch.no_grad():
    rs = FIDStats.from_features(net(held.get_batch(torch.arange(len(held)))[0])[0].double().numpy(),
                                net.feature_id, net.preprocess_id)
zf = torch.randn(1000, G.z_dim, generator=torch.Generator().manual_seed(3))


@torch.no_grad()
def fid(g):
    g.eval()
    fk = torch.cat([g(zf[i:i + 250], noise_mode="const") for i in range(0, 1000, 250)])
    g.train()
    ff, logits = net(fk)
    fs = FIDStats.from_features(ff.double().numpy(), net.feature_id, net.preprocess_id)
    h = torch.bincount(logits.argmax(1), minlength=10).tolist()
    return f"FID {float(fid_from_stats(rs, fs)):.0f} cls {h}", fk
gen = torch.Generator().manual_seed(1)
z = torch.randn(64, G.z_dim, generator=gen)


@torch.no_grad()
def probe():
    G.eval()
    ws = G.mapping(z, None, update_w_avg=False)
    img = G.synthesis(ws, noise_mode="none")
    zstd = img.std(0).mean().item()
    imgs = torch.cat([G.synthesis(ws[:1], noise_mode="random") for _ in range(16)])
    nstd = imgs.std(0).mean().item()
    wstd = ws[:, 0].std(0).mean().item()
    srel, rms, ns = [], [], []
    hooks = []
    for name, m in G.synthesis.named_modules():
        if type(m).__name__ == "ModulatedConv2d":
            s = m.affine(ws[:, 0])
            srel.append(s.std(0).mean().item() / s.mean(0).abs().mean().item())
            ns.append(m.noise_strength.item() if m.use_noise else 0.0)
            hooks.append(m.register_forward_hook(lambda mod, i, o: rms.append(o.square().mean().sqrt().item())))
    G.synthesis(ws, noise_mode="none")
    for h in hooks:
        h.remove()
    G.train()
    f = lambda v: " ".join(f"{x:.2f}" for x in v)  # noqa: E731
    return (f"zstd {zstd:.3f} nstd {nstd:.3f} img_rms {img.square().mean().sqrt():.2f} wstd {wstd:.3f} "
            f"| style_rel {f(srel)} | rms {f(rms)} | noise {f(ns)}")


t0 = time.time()
print("step 0", probe(), flush=True)
for s in range(1, steps + 1):
    tr.train_step()
    if s % every == 0:
        print(f"step {s} t {time.time() - t0:.0f}s", probe(), flush=True)
        f_raw, fk = fid(G)
        f_ema, fe = fid(tr.ema["G"]) if tr.ema else ("", None)
        print(f"   raw {f_raw} | ema {f_ema}", flush=True)
import torchvision  # noqa: E402
torchvision.utils.save_image((fk[:64].clamp(-1, 1) + 1) / 2, ov["out"] + "/raw.png", nrow=8)
if fe is not None:
    torchvision.utils.save_image((fe[:64].clamp(-1, 1) + 1) / 2, ov["out"] + "/ema.png", nrow=8)
