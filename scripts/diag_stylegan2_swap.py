"""Diagnostic for issue #8 §4 (the stylegan2 mnist32 demo collapses): a minimal GAN loop, independent
of fastgan.train, that pairs StyleGAN2's or DCGAN's generator with either discriminator and reports
the digits-features FID (1,000 samples vs the 500 held-out digits) and the predicted-class histogram.

    python scripts/diag_stylegan2_swap.py G=sg2 D=sg2 steps=320 cb=1024          # collapses
    python scripts/diag_stylegan2_swap.py G=dcgan D=sg2 steps=320 cb=1024        # trains (FID ~190)

Options: G, D in {sg2, dcgan}; steps; batch (32); gamma (R1, lazy every 16); cb (channel_base);
gcb (G's channel_base); lr / glr (Adam lr of the sg2 nets, G's own); gb1 (G's beta1); mbstd; arch; out.
Non-saturating logistic loss; no EMA, style mixing or path length.  One thread.
"""
import sys, time, torch, torch.nn.functional as F, torchvision
torch.set_num_threads(1)
args = dict(a.split("=", 1) for a in sys.argv[1:])
Gk, Dk = args.get("G", "sg2"), args.get("D", "sg2")
steps, batch = int(args.get("steps", 160)), int(args.get("batch", 32))
gamma, cb = float(args.get("gamma", 0.01)), int(args.get("cb", 2048))
lr = float(args.get("lr", 0.0025)); mb = int(args.get("mbstd", 4))
out = args.get("out", "/tmp/sg/sa")
torch.manual_seed(0)
from fastgan.data import make_dataset
from fastgan.models.stylegan2_networks import Generator as SG, Discriminator as SD
from fastgan.models.dcgan import Generator as DG, Discriminator as DD
data = make_dataset("mnist", resolution=32)
N = len(data)
def real_batch(n):
    x = data.get_batch(torch.randint(0, N, (n,)))[0]
    return x.float() * (2 / 255) - 1
if Gk == "sg2":
    G = SG(128, 0, 128, 32, 1, mapping_layers=2, channel_base=int(args.get("gcb", cb)), channel_max=128, conv_clamp=256., arch=args.get("arch", "skip"))
    gopt = torch.optim.Adam(G.parameters(), lr=float(args.get("glr", lr)), betas=(float(args.get("gb1", 0.0)), 0.99), eps=1e-8); zdim = 128
else:
    G = DG(100, 64, 32, 1); gopt = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999)); zdim = 100
if Dk == "sg2":
    D = SD(0, 32, 1, channel_base=cb, channel_max=128, mbstd_group=mb, conv_clamp=256.)
    dopt = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.0, 0.99), eps=1e-8)
else:
    D = DD(64, 32, 1, "batch"); dopt = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
t0 = time.time()
for step in range(steps):
    real = real_batch(batch)
    # G
    G.requires_grad_(True); D.requires_grad_(False)
    gl = F.softplus(-D(G(torch.randn(batch, zdim)))).mean()
    gopt.zero_grad(); gl.backward(); gopt.step()
    # D
    G.requires_grad_(False); D.requires_grad_(True)
    with torch.no_grad():
        fake = G(torch.randn(batch, zdim))
    fo, ro = D(fake), D(real)
    dl = F.softplus(fo).mean() + F.softplus(-ro).mean()
    dopt.zero_grad(); dl.backward(); dopt.step()
    if gamma > 0 and step % 16 == 0:
        x = real.detach().requires_grad_(True)
        g, = torch.autograd.grad(D(x).sum(), x, create_graph=True)
        r1 = g.square().sum([1, 2, 3]).mean() * gamma / 2 * 16
        dopt.zero_grad(); r1.backward(); dopt.step()
    if step % 40 == 0:
        print(step, round(time.time() - t0), "G", round(gl.item(), 3), "Dr", round(ro.mean().item(), 2), "Df", round(fo.mean().item(), 2), flush=True)
# FID
from fastgan.metrics import FIDStats, fid_from_stats
from fastgan.metrics.digits import DigitsFeatures
net = DigitsFeatures()
held = make_dataset("mnist", split="heldout", resolution=32)
with torch.no_grad():
    rf = net(held.get_batch(torch.arange(len(held)))[0])[0].double()
    G.eval()
    z = torch.randn(1000, zdim, generator=torch.Generator().manual_seed(3))
    fk = torch.cat([G(z[i:i+250]) for i in range(0, 1000, 250)])
    ff, logits = net(fk)
rs = FIDStats.from_features(rf.numpy(), net.feature_id, net.preprocess_id)
fs = FIDStats.from_features(ff.double().numpy(), net.feature_id, net.preprocess_id)
print("FID", round(float(fid_from_stats(rs, fs)), 1), "classes", torch.bincount(logits.argmax(1), minlength=10).tolist(), "time", round(time.time() - t0))
torchvision.utils.save_image((fk[:64].clamp(-1, 1) + 1) / 2, out + ".png", nrow=8)
