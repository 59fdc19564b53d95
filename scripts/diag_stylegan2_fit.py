"""Diagnostic (issue #8): how fast the 64-channel mnist32 StyleGAN2 generator fits 64 fixed latents to 64
real digits by MSE (no D).  Adam(lr, betas (0, 0.99)); lrmul: mapping lr multiplier; affmul: the style
affines learn affmul x faster (same initial function).  Baseline: the mean image scores MSE 0.20.

    python scripts/diag_stylegan2_fit.py steps=300 [lr=0.0025] [lrmul=0.01] [affmul=10]
"""
import sys, time, torch
torch.set_num_threads(1)
args = dict(a.split("=", 1) for a in sys.argv[1:])
from fastgan.data import make_dataset
from fastgan.models.stylegan2_networks import Generator
torch.manual_seed(0)
data = make_dataset("mnist", resolution=32)
T = data.get_batch(torch.arange(64))[0].float() * (2 / 255) - 1
G = Generator(128, 0, 128, 32, 1, mapping_layers=2, channel_base=1024, channel_max=64, conv_clamp=256.,
              lr_mul=float(args.get("lrmul", 0.01)))
if args.get("affmul"):
    m_ = float(args["affmul"])
    for m in G.synthesis.modules():
        if hasattr(m, "affine"):
            a = m.affine
            with torch.no_grad(): a.weight /= m_; a.bias /= m_
            a.weight_gain *= m_; a.bias_gain *= m_
opt = torch.optim.Adam(G.parameters(), lr=float(args.get("lr", 0.0025)), betas=(0.0, 0.99), eps=1e-8)
z = torch.randn(64, 128, generator=torch.Generator().manual_seed(1))
t0 = time.time()
for s in range(int(args.get("steps", 300)) + 1):
    out = G(z, noise_mode="const")
    loss = (out - T).square().mean()
    if s % 100 == 0:
        with torch.no_grad():
            print(s, f"mse {loss.item():.3f} zstd {out.std(0).mean().item():.3f} (target {T.std(0).mean().item():.3f}) t {time.time()-t0:.0f}", flush=True)
    opt.zero_grad(); loss.backward(); opt.step()
