"""Short CPU runs of the image-to-image families with their measured result (JSON on stdout).

    python scripts/i2i_smoke.py cyclegan --kimg 2.4 --out runs/cyclegan-digits
    python scripts/i2i_smoke.py srgan --data mnist --pretrain-kimg 2 --kimg 2 --out runs/srgan-mnist

cyclegan: the ``cpu`` preset on the digits pair (A = MNIST, B = MNIST-M), then the digits
classifier's accuracy on G_BA(B) and on both cycle reconstructions of the 500 held-out pairs,
beside the untranslated baselines, and the FID of G_BA(B) against real A
(``fastgan.metrics.translation.digits_translation``).

srgan: the ``cpu`` preset (MSE pre-training, then the adversarial stage), then PSNR/SSIM
(Y channel, border crop = scale) of the network and of bicubic upscaling on the held-out
images of the demo (``fastgan.metrics.image_quality.evaluate_sr``).
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from fastgan.data.mnistm import digits_pair
from fastgan.data.paired import sr_demo
from fastgan.metrics.image_quality import evaluate_sr
from fastgan.metrics.translation import digits_translation
from fastgan.train import Trainer


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", choices=("cyclegan", "srgan"))
    p.add_argument("--data", default=None, help="cyclegan: digits (default); srgan: photos or mnist (default)")
    p.add_argument("--kimg", type=float, default=2.4)
    p.add_argument("--pretrain-kimg", type=float, default=2.0, help="srgan: the MSE stage")
    p.add_argument("--out", required=True)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    data = a.data or ("digits" if a.model == "cyclegan" else "mnist")
    ov = {"run.progress": False, "run.tensorboard": False, "run.threads": a.threads, "run.fid": False,
          "snap_kimg": 1.0, "ckpt_kimg": 0.0, "overwrite": True, "out": a.out, "model.kimg": a.kimg,
          "run.grid": 8}
    if a.model == "srgan":
        ov["model.pretrain_kimg"] = a.pretrain_kimg
        if data == "mnist":
            ov.update({"model.crop": 28, "model.d_depth": 2,
                       "model.content": "module:fastgan.metrics.digits:DigitsFeatures"})
    t = time.time()
    tr = Trainer(a.model, data, preset="cpu", overrides=ov)
    res = tr.fit()
    report = {"model": a.model, "data": data, "steps": res["step"], "kimg": res["kimg"],
              "train_seconds": round(time.time() - t, 1), "grid": res["grid"]}
    if a.model == "cyclegan":
        (xa, ya), (xb, yb) = digits_pair("heldout")
        report.update(digits_translation(tr.nets["G_AB"], tr.nets["G_BA"], torch.from_numpy(xa), ya,
                                         torch.from_numpy(xb), yb))
    else:
        report.update(evaluate_sr(tr.nets["G"], sr_demo(data, "heldout").images, tr.recipe.scale))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
