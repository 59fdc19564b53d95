"""The image-to-image families' network metrics (fastgan.metrics.network) through the engine and
``fastgan metrics --ckpt``: values against independent computations (the classifier's argmax by
hand, scikit-image's PSNR/SSIM on PIL-downscaled images)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from fastgan import checkpoint, cli
from fastgan.data.mnistm import digits_pair
from fastgan.metrics.digits import DigitsFeatures
from fastgan.metrics.network import NETWORK_METRICS, NotApplicable
from fastgan.models.srgan import SRResNet
from fastgan.train import Trainer

QUIET = {"run.progress": False, "run.tensorboard": False, "run.threads": 1, "snap_kimg": 0.0, "ckpt_kimg": 0.0,
         "overwrite": True, "run.grid": 2}
SR = {"model.n_blocks": 1, "model.width": 8, "model.d_width": 4, "model.fc": 8, "model.crop": 28, "model.d_depth": 2,
      "model.batch": 4, "model.pretrain_kimg": 0.008, "model.kimg": 0.0}


def test_cyclegan_run_reports_translation_accuracy(tmp_path):
    tr = Trainer("cyclegan", "digits", overrides={
        **QUIET, "model.ngf": 4, "model.ndf": 4, "model.n_blocks": 1, "model.d_depth": 2, "model.batch": 2,
        "model.kimg": 0.004, "out": str(tmp_path / "c")})
    got = tr.fit()["metrics"]
    assert {"acc_A", "acc_B", "acc_G_BA(B)", "acc_cycle_A", "acc_cycle_B", "fid_B", "fid_G_BA(B)",
            "acc_G_BA(B)_dark", "acc_G_BA(B)_light", "dark_fraction"} <= set(got)
    # by hand: G_BA over the held-out MNIST-M images, the classifier's argmax against the labels
    _, (xb, yb) = digits_pair("heldout")
    G, clf = tr.nets["G_BA"].eval(), DigitsFeatures()
    with torch.no_grad():
        fake = torch.cat([G(torch.from_numpy(xb[i:i + 100]).float() / 127.5 - 1).clamp(-1, 1)
                          for i in range(0, len(xb), 100)])
        pred = clf(fake)[1].argmax(1).numpy()
    assert got["acc_G_BA(B)"] == pytest.approx(np.mean(pred == yb), abs=1e-12)


def _y_psnr_ssim(x255, y255, crop):
    skm = pytest.importorskip("skimage.metrics", reason="scikit-image is in the test extras")
    x, y = x255[crop:-crop, crop:-crop], y255[crop:-crop, crop:-crop]
    return (skm.peak_signal_noise_ratio(y, x, data_range=255),
            skm.structural_similarity(y, x, data_range=255, gaussian_weights=True, sigma=1.5,
                                      use_sample_covariance=False))


def test_srgan_sr_quality_from_the_checkpoint_against_scikit_image(tmp_path, capsys):
    Trainer("srgan", "mnist", overrides={**QUIET, **SR, "run.fid": False, "out": str(tmp_path / "run")}).fit()
    rng = np.random.default_rng(4)
    hr_dir = tmp_path / "hr"
    hr_dir.mkdir()
    imgs = []
    for i, (h, w) in enumerate([(30, 25), (21, 36)]):        # cut to multiples of 4 by the metric
        yy, xx = np.mgrid[0:h, 0:w]
        img = (127 + 100 * np.sin(xx / 3.0 + i) * np.cos(yy / 4.0) + rng.normal(0, 8, (h, w))).clip(0, 255)
        imgs.append(img.astype(np.uint8))
        Image.fromarray(imgs[-1]).save(hr_dir / f"{i}.png")
    out = tmp_path / "m.json"
    assert cli.main(["metrics", "--ckpt", str(tmp_path / "run"), "--data", str(hr_dir), "--json", str(out)]) == 0
    got = json.loads(out.read_text())["metrics"]
    state = checkpoint.load(checkpoint.find(str(tmp_path / "run")))
    G = SRResNet(1, 4, n_blocks=1, width=8).eval()
    G.load_state_dict(state["nets"]["G"])
    want = {"psnr": [], "ssim": [], "psnr_bicubic": [], "ssim_bicubic": []}
    for img in imgs:
        h, w = img.shape[0] // 4 * 4, img.shape[1] // 4 * 4
        hr = img[:h, :w]
        lr = np.asarray(Image.fromarray(hr).resize((w // 4, h // 4), Image.Resampling.BICUBIC))
        bic = np.asarray(Image.fromarray(lr).resize((w, h), Image.Resampling.BICUBIC)).astype(np.float64)
        with torch.no_grad():
            sr = G(torch.from_numpy(np.array(lr)).float()[None, None] / 127.5 - 1).clamp(-1, 1)[0, 0].double().numpy()
        for key, x in (("", (sr + 1) * 127.5), ("_bicubic", bic)):
            p, s = _y_psnr_ssim(x, hr.astype(np.float64), 4)
            want["psnr" + key].append(p)
            want["ssim" + key].append(s)
    for k, v in want.items():
        assert got[k] == pytest.approx(np.mean(v), rel=1e-5), k
    assert "srgan on" in capsys.readouterr().out


def test_network_metric_errors(tmp_path, capsys):
    Trainer("srgan", "mnist", overrides={**QUIET, **SR, "run.fid": False, "out": str(tmp_path / "run")}).fit()
    run = str(tmp_path / "run")
    assert cli.main(["metrics", "--ckpt", run, "--data", str(tmp_path / "nowhere")]) == 2
    assert "--data: sr_quality needs held-out HR images" in capsys.readouterr().err
    assert cli.main(["metrics", "--ckpt", str(tmp_path / "none")]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    assert cli.main(["metrics", "--ckpt", run, "--real", "mnist"]) == 2
    assert "drop --real/--fake" in capsys.readouterr().err
    assert cli.main(["metrics", "--fake", run]) == 2
    assert "give --real and --fake" in capsys.readouterr().err
    with pytest.raises(NotApplicable, match="digits demo"):
        NETWORK_METRICS["digits_translation"]({}, "mnist", None)
