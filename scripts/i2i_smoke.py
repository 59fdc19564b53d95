"""Short CPU runs of the image-to-image families with their measured result (JSON on stdout).

    python scripts/i2i_smoke.py cyclegan --out runs/cyclegan-digits
    python scripts/i2i_smoke.py srgan --data mnist --pretrain-kimg 2 --kimg 2 --out runs/srgan-mnist

The numbers are the families' registered network metrics (``fastgan.metrics.network``), which
the engine computes at the end of the run (the same as ``fastgan metrics --ckpt OUT``):

cyclegan: the ``cpu`` preset on the digits pair (A = MNIST, B = MNIST-M), then
``digits_translation``: the digits classifier's accuracy on G_BA(B) and on both cycle
reconstructions of the 500 held-out pairs, beside the untranslated baselines, and the FID of
G_BA(B) against real A.

srgan: the ``cpu`` preset (``mnist`` for ``--data mnist``; MSE pre-training, then the adversarial
stage), then ``sr_quality``:
PSNR/SSIM (Y channel, border crop = scale) of the network and of bicubic upscaling on the
held-out images of the demo.  ``--pretrain-only`` stops after the MSE stage (SRResNet);
``--compare-with RUN`` (that SRResNet run) writes ``OUT/compare.png``: crops of held-out
images side by side, one row each for the LR input (enlarged), bicubic, SRResNet, SRGAN and HR.

    python scripts/i2i_smoke.py srgan --pretrain-only --out runs/srresnet-mnist
    python scripts/i2i_smoke.py srgan --out runs/srgan-mnist --compare-with runs/srresnet-mnist
"""
from __future__ import annotations

import argparse
import json
import os
import time

import torch

from fastgan import models
from fastgan.data import save_grid
from fastgan.data.paired import bicubic_downscale, sr_demo
from fastgan.family.config import parse_set
from fastgan.metrics.image_quality import bicubic_upscale
from fastgan.train import Trainer


@torch.no_grad()
def sr_comparison(nets: dict, images, scale: int, out: str, *, size: int = 96, n: int = 8) -> str:
    """Crops (side ``size`` or the image's) of up to ``n`` places in held-out HR ``images``: rows
    LR (nearest), bicubic, then each of ``nets`` (name -> SR network), then HR."""
    images = list(images)
    images = [images[i * len(images) // n] for i in range(n)] if len(images) > n else images   # spread out
    per = max(1, n // len(images))
    rows = {k: [] for k in ("lr", "bicubic", *nets, "hr")}
    for img in images:
        h, w = img.shape[1] // scale * scale, img.shape[2] // scale * scale
        hr = img[:, :h, :w]
        lr = bicubic_downscale(hr, scale)
        full = {"lr": lr.repeat_interleave(scale, 1).repeat_interleave(scale, 2), "bicubic": bicubic_upscale(lr, scale),
                "hr": hr}
        for name, G in nets.items():
            G.eval()
            y = G(lr[None].float() * (2 / 255) - 1)[0].clamp(-1, 1)
            full[name] = ((y + 1) * 127.5).round().to(torch.uint8)
        s = min(size, h, w) // scale * scale
        for k in range(per):   # crops spread along the diagonal
            y0, x0 = (h - s) * (k + 1) // (per + 1) // scale * scale, (w - s) * (k + 1) // (per + 1) // scale * scale
            for key, im in full.items():
                rows[key].append(im[:, y0:y0 + s, x0:x0 + s])
    grid = torch.stack([c for key in rows for c in rows[key]]).float() / 127.5 - 1
    return save_grid(grid, out, nrow=len(rows["hr"]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", choices=("cyclegan", "srgan"))
    p.add_argument("--data", default=None, help="cyclegan: digits (default); srgan: photos or mnist (default)")
    p.add_argument("--kimg", type=float, default=None, help="default: the preset's")
    p.add_argument("--pretrain-kimg", type=float, default=None, help="srgan: the MSE stage (default: the preset's)")
    p.add_argument("--out", required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--pretrain-only", action="store_true", help="srgan: no adversarial stage (SRResNet)")
    p.add_argument("--compare-with", default=None, metavar="RUN", help="srgan: an SRResNet run for OUT/compare.png")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="more recipe overrides")
    a = p.parse_args()
    data = a.data or ("digits" if a.model == "cyclegan" else "mnist")
    ov = {"run.progress": False, "run.tensorboard": False, "run.threads": a.threads, "run.fid": True,
          "snap_kimg": 1.0, "ckpt_kimg": 0.0, "overwrite": True, "out": a.out, "run.grid": 8}
    if a.kimg is not None:
        ov["model.kimg"] = a.kimg
    if a.model == "srgan":
        if a.pretrain_kimg is not None:
            ov["model.pretrain_kimg"] = a.pretrain_kimg
        if a.pretrain_only:
            ov["model.kimg"] = 0.0
    ov.update(parse_set(a.set))
    t = time.time()
    tr = Trainer(a.model, data, preset="mnist" if (a.model, data) == ("srgan", "mnist") else "cpu", overrides=ov)
    res = tr.fit()
    report = {"model": a.model, "data": data, "steps": res["step"], "kimg": res["kimg"],
              "seconds": round(time.time() - t, 1), "fit_seconds": round(res["seconds"], 1), "grid": res["grid"],
              **res["metrics"]}
    if a.compare_with:
        _, other, _ = models.load_networks(a.compare_with)
        report["compare"] = sr_comparison({"srresnet": other["G"], "srgan": tr.nets["G"]},
                                          sr_demo(data, "heldout").images, tr.recipe.scale,
                                          os.path.join(a.out, "compare.png"))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
