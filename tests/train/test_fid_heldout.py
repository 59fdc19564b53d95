"""The engine's FID hook scores MNIST runs against the held-out split (never trained on)."""
import numpy as np
import pytest
import torch

from fastgan.metrics import digits
from fastgan.train import Trainer


def _fid(a: np.ndarray, b: np.ndarray) -> float:
    """FID of two feature sets (unbiased covariances), independent of fastgan.metrics:
    tr sqrt(S1 S2) = sum of sqrt(eigenvalues of S1^1/2 S2 S1^1/2), robust to singular S (dead ReLUs)."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    lam, v = np.linalg.eigh(s1)
    r1 = (v * np.sqrt(np.clip(lam, 0, None))) @ v.T
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh(r1 @ s2 @ r1), 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt)


def test_fid_hook_uses_the_heldout_digits(tmp_path, quiet):
    from fastgan.data import load_mnist_5k
    from fastgan.train.metrics_hook import EVAL_SEED, evaluate, real_images

    tr = Trainer("tiny", "mnist", overrides={**quiet, "out": str(tmp_path / "run"), "fid": True,
                                             "fid_samples": 300, "batch": 16, "max_steps": 3, "snap_kimg": 0.0})
    s = tr.fit()
    got = s["metrics"]["fid_digits"]
    assert evaluate(tr)["fid_digits"] == pytest.approx(got, rel=1e-9)  # cached stats, fixed latents

    net = digits.DigitsFeatures()
    with torch.no_grad():
        fake = tr.sample(tr.family.latent(300, torch.Generator().manual_seed(EVAL_SEED)))
        f_fake = net(fake)[0].double().numpy()
        held = torch.from_numpy(load_mnist_5k("heldout")[0])[:, None]
        train = torch.from_numpy(load_mnist_5k("train")[0])[:, None]
        f_held, f_train = (net(x)[0].double().numpy() for x in (held, train))
    assert len(held) == 500 and len(train) == 4500
    want_held, want_train = _fid(f_held, f_fake), _fid(f_train, f_fake)
    assert got == pytest.approx(want_held, rel=1e-6)
    assert abs(want_held - want_train) > 1e-3 * want_held  # the two references are distinguishable
    assert got != pytest.approx(want_train, rel=1e-4)
    assert len(real_images(tr)) == 500


def test_heldout_reference_follows_the_family_resolution(tmp_path, quiet):
    """A 32 px family's reference digits are prepared like its training images (resized to 32)."""
    from fastgan.data import make_dataset
    from fastgan.train.metrics_hook import real_images

    tr = Trainer("dcgan", "mnist", overrides={**quiet, "out": str(tmp_path / "run"), "resolution": 32})
    ref = real_images(tr)
    assert tuple(ref.shape) == tuple(tr.dataset.shape) == (1, 32, 32)
    want = make_dataset("mnist", split="heldout", resolution=32)
    assert torch.equal(ref.images, want.images) and len(ref) == 500
    # digits data have no held-out split: the training images stay the reference
    tr2 = Trainer("tiny", "digits", overrides={**quiet, "out": str(tmp_path / "run2")})
    assert real_images(tr2) is tr2.dataset
