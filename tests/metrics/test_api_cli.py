"""compute_metrics / compute_fid / fastgan metrics CLI, with user modules and the digits network."""
import json
import os

import numpy as np
import pytest
import scipy.linalg as sla
import torch

from fastgan import metrics
from fastgan.metrics.digits import WEIGHTS_PATH as DIGITS_WEIGHTS
from fastgan.metrics.features import get_extractor

USER_MODULE = '''
import torch
class Net(torch.nn.Module):
    """Fixed random projection of the flattened image: 6-d features and 4 logits."""
    feature_id = "unit-test-net"
    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.register_buffer("w", torch.randn(64, 6, generator=g))
        self.register_buffer("v", torch.randn(6, 4, generator=g))
    def forward(self, x):
        x = torch.nn.functional.interpolate(x.float().mean(1, keepdim=True), size=(8, 8), mode="area")
        f = x.flatten(1) @ self.w
        return f, f @ self.v
'''


@pytest.fixture()
def user_net(tmp_path):
    path = tmp_path / "usernet.py"
    path.write_text(USER_MODULE)
    return f"module:{path}:Net"


def sqrtm_fid(a, b):
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(sla.sqrtm(s1 @ s2)).real)


def test_compute_metrics_with_user_module(user_net):
    g = torch.Generator().manual_seed(1)
    real = torch.rand(60, 1, 8, 8, generator=g) * 2 - 1
    fake = torch.rand(50, 1, 8, 8, generator=g) * 1.5 - 1
    ext = get_extractor(user_net)
    assert ext.feature_id == "unit-test-net"
    with torch.no_grad():
        fr, _ = ext(real)
        ff, lf = ext(fake)
    out = metrics.compute_metrics(real, fake, ["fid", "kid", "pr", "dc", "is", "modes"], features=user_net,
                                  batch_size=16, kid_subsets=5)
    assert float(out["fid"]) == pytest.approx(sqrtm_fid(fr.double().numpy(), ff.double().numpy()), rel=1e-6)
    assert out["fid"].conventions["feature_id"] == "unit-test-net"
    assert out["fid"].conventions["real_n"] == 60 and out["fid"].conventions["fake_n"] == 50
    assert out["kid"].conventions["num_subsets"] == 5 and out["kid"].conventions["subset_size"] == 50
    assert float(out["is"]) == pytest.approx(float(metrics.inception_score(lf.double())), rel=1e-6)
    assert int(out["modes"]) == int(metrics.mode_coverage(lf.argmax(1).numpy(), num_classes=4))
    only = metrics.compute_metrics(real, fake, ["fid", "is"], features=user_net)  # logits without kid/pr
    assert float(only["is"]) == pytest.approx(float(out["is"]), rel=1e-12)
    # a generator function needs n; FIDStats as real reuse the cached factor
    stats = metrics.compute_stats(real, user_net)
    fid = metrics.compute_fid(lambda b: fake[:b], stats, features=user_net, n=50)
    assert float(fid) == pytest.approx(sqrtm_fid(fr.double().numpy(), ff[:50].double().numpy()), rel=1e-6)
    assert stats.factor_kind == "cholesky"
    with pytest.raises(ValueError, match="n is required"):
        metrics.compute_fid(lambda b: fake[:b], stats, features=user_net)
    with pytest.raises(ValueError, match="only 'fid'"):
        metrics.compute_metrics(stats, fake, ["kid"], features=user_net)
    with pytest.raises(ValueError, match="metrics must be"):
        metrics.compute_metrics(real, fake, ["fidd"], features=user_net)


def test_stats_of_other_network_are_refused(user_net, tmp_path):
    real = torch.rand(30, 1, 8, 8) * 2 - 1
    stats = metrics.compute_stats(real, user_net)
    other = metrics.FIDStats(stats.mu, stats.sigma, stats.n, "another-net", stats.preprocess_id)
    other.save(str(tmp_path / "o.npz"))
    with pytest.raises(ValueError, match="feature network"):
        metrics.compute_fid(real, str(tmp_path / "o.npz"), features=user_net)


def _write_pngs(folder, images):
    from PIL import Image
    os.makedirs(folder, exist_ok=True)
    for i, im in enumerate(images):
        Image.fromarray(im).save(os.path.join(folder, f"{i:03d}.png"))


def test_cli_writes_json_and_prints_table(user_net, tmp_path, capsys):
    from fastgan.cli import main
    rng = np.random.default_rng(0)
    _write_pngs(tmp_path / "real", rng.integers(0, 256, (40, 8, 8), dtype=np.uint8))
    np.save(tmp_path / "fake.npy", rng.integers(0, 200, (30, 1, 8, 8), dtype=np.uint8))
    out = tmp_path / "res.json"
    rc = main(["metrics", "--real", str(tmp_path / "real"), "--fake", str(tmp_path / "fake.npy"),
               "--metrics", "fid,kid,pr,is", "--features", user_net, "--json", str(out), "--no-progress",
               "--save-real-stats", str(tmp_path / "real_stats.npz")])
    assert rc == 0
    res = json.loads(out.read_text())
    assert set(res["metrics"]) == {"fid", "kid", "pr", "is"}
    assert res["metrics"]["fid"]["conventions"]["real_covariance"] == "unbiased (N-1)"
    printed = capsys.readouterr().out
    assert "precision" in printed and "recall" in printed and "unit-test-net" in printed
    # the saved real stats give the same FID
    rc = main(["metrics", "--real", str(tmp_path / "real_stats.npz"), "--fake", str(tmp_path / "fake.npy"),
               "--features", user_net, "--json", str(out), "--no-progress"])
    assert rc == 0
    again = json.loads(out.read_text())["metrics"]["fid"]["value"]
    assert again == pytest.approx(res["metrics"]["fid"]["value"], rel=1e-9)
    assert main(["metrics", "--real", str(tmp_path / "nope"), "--fake", str(tmp_path / "fake.npy"),
                 "--features", user_net, "--json", str(out)]) == 2
    assert main(["metrics", "--real", str(tmp_path / "real"), "--fake", str(tmp_path / "fake.npy"),
                 "--metrics", "bogus", "--features", user_net, "--json", str(out)]) == 2


digits_weights = pytest.mark.skipif(not os.path.isfile(DIGITS_WEIGHTS),
                                    reason="digits classifier weights not trained yet")


@digits_weights
def test_shipped_digits_classifier_is_accurate_and_small():
    from fastgan.data.embedded import load_mnist_5k
    from fastgan.metrics.digits import WEIGHTS_PATH, DigitsFeatures
    assert os.path.getsize(WEIGHTS_PATH) < 1_000_000
    net = DigitsFeatures()
    x, y = load_mnist_5k("heldout")
    with torch.no_grad():
        f, logits = net(torch.from_numpy(x))
    acc = float((logits.argmax(1).numpy() == y).mean())
    assert acc >= 0.95
    assert f.shape == (500, 128)
    assert net.feature_id.startswith("fastgan-digits-v1:sha256=")


@digits_weights
def test_fid_digits_training_metric():
    from fastgan.data import ArrayImages
    from fastgan.data.embedded import load_mnist_5k
    real_train, _ = load_mnist_5k("train")  # sorted by class: take a random subset of all classes
    pick = np.random.default_rng(0).choice(len(real_train), 600, replace=False)
    pool = torch.from_numpy(real_train[pick]).float()[:, None] / 127.5 - 1

    real = ArrayImages(*load_mnist_5k("heldout"))
    good = metrics.fid_digits(lambda i, b: pool[i:i + b], real, n=300, batch_size=100)
    noise = torch.rand(300, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    cache = {}
    bad = metrics.fid_digits(lambda i, b: noise[i:i + b], real, n=300, batch_size=100, cache=cache)
    assert "real" in cache  # the real statistics are kept for the next call
    again = metrics.fid_digits(lambda i, b: noise[i:i + b], real, n=300, batch_size=100, cache=cache)
    assert float(again) == pytest.approx(float(bad), rel=1e-12)
    assert 0 <= float(good) < 0.2 * float(bad)
    assert good.conventions["features"] == "digits"
