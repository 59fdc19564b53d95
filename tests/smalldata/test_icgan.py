"""IC-GAN: neighbourhoods against scikit-learn, instance selection, conditioning, the family."""
import numpy as np
import pytest
import torch
from sklearn.neighbors import NearestNeighbors
from torch import nn

from fastgan import models
from fastgan.models.icgan import (ICGAN, ICDiscriminator, ICGenerator, InstanceDataset, center_features,
                                  generate_around, instance_features, neighbourhoods, select_instances)
from fastgan.train import Trainer

QUIET = {"run.progress": False, "run.tensorboard": False, "run.threads": 1, "run.fid": False}


@pytest.mark.parametrize("n, f, k", [(37, 5, 6), (64, 9, 1), (23, 4, 23)])
def test_neighbourhoods_match_sklearn(n, f, k):
    x = torch.randn(n, f, dtype=torch.float64)
    got = neighbourhoods(x, k, chunk=10)
    dist, want = NearestNeighbors(n_neighbors=k, metric="cosine").fit(x.numpy()).kneighbors(x.numpy())
    assert (got[:, 0] == torch.arange(n)).all()
    np.testing.assert_array_equal(np.sort(got.numpy(), 1), np.sort(want, 1))


def test_k_and_instances_larger_than_the_data():
    x = torch.randn(10, 3)
    with pytest.raises(ValueError, match=r"k must be an int in \[1, 10\]"):
        neighbourhoods(x, 11)
    with pytest.raises(ValueError, match=r"num_instances must be an int in \[1, 10\]"):
        select_instances(x, 12, "uniform")
    with pytest.raises(ValueError, match="selection"):
        select_instances(x, 2, "random")


def test_select_instances():
    centres = torch.tensor([[5.0, 0, 0], [0, 5.0, 0], [0, 0, 5.0]])
    x = (centres.repeat_interleave(20, 0) + 0.1 * torch.randn(60, 3))[torch.randperm(60)]
    km = select_instances(x, 3, "kmeans")
    blob = x[km].argmax(1)
    assert sorted(blob.tolist()) == [0, 1, 2]   # one instance per cluster
    # and it is the point nearest its blob's centre of mass
    for i in km.tolist():
        members = x[x.argmax(1) == x[i].argmax()]
        assert i == int(((x - members.mean(0)) ** 2).sum(1).argmin())
    u = select_instances(x, 17, "uniform", seed=3)
    assert len(set(u.tolist())) == 17 and u.max() < 60


class Indexed:
    """Images whose pixels hold their own index (to check which image a batch took)."""

    shape, name, num_classes = (1, 4, 4), "indexed", 0

    def __len__(self):
        return 30

    def get_batch(self, idx):
        return idx.view(-1, 1, 1, 1).expand(-1, 1, 4, 4).to(torch.uint8), torch.zeros(len(idx), dtype=torch.long)


def test_instance_batches_come_from_the_neighbourhoods():
    feats = torch.nn.functional.normalize(torch.randn(30, 6), dim=1)
    nbrs = neighbourhoods(feats, 4)
    inst = select_instances(feats, 7, "uniform")
    ds = InstanceDataset(Indexed(), feats, nbrs, inst)
    idx = torch.tensor([0, 3, 6, 6, 6, 6, 2])
    got = ds.get_batch(idx)
    for row, i in enumerate(idx.tolist()):
        assert int(got["image"][row, 0, 0, 0]) in nbrs[inst[i]].tolist()
        torch.testing.assert_close(got["h"][row], feats[inst[i]])


def test_conditioning_generator_bank_and_projection_discriminator():
    G = ICGenerator(z_dim=5, feat_dim=7, embed_dim=3, num_instances=4, width=4, resolution=16, channels=1)
    G.bank.copy_(torch.randn(4, 7))
    G.eval()
    z, idx = torch.randn(3, 5), torch.tensor([2, 0, 3])
    torch.testing.assert_close(G(z, idx), G(z, G.bank[idx]))
    D = ICDiscriminator(feat_dim=7, width=4, resolution=16, channels=1, norm="none")
    x, h = torch.randn(3, 1, 16, 16).contiguous(memory_format=torch.channels_last), torch.randn(3, 7)
    phi = x
    for layer in list(D.body.net)[:-2]:
        phi = layer(phi)
    head = torch.nn.functional.conv2d(phi, D.body.net[-2].weight).flatten(1)
    want = head + (phi.flatten(1) @ D.project.weight * h).sum(1, keepdim=True)
    torch.testing.assert_close(D(x, h), want)


class TinyFeatures(nn.Module):
    feature_dim = 128

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(16 * 16, 128)

    def forward(self, x):
        x = x.float() / 127.5 - 1 if x.dtype == torch.uint8 else x
        return self.fc(torch.nn.functional.interpolate(x.float(), size=(16, 16)).flatten(1))


def test_family_trains_saves_its_bank_and_generates_around_an_image(tmp_path):
    fam = ICGAN.with_features(TinyFeatures())
    out = str(tmp_path / "run")
    tr = Trainer(fam, "digits", overrides={**QUIET, "out": out, "batch": 8, "resolution": 16, "width": 4,
                                           "z_dim": 8, "embed_dim": 4, "k": 5, "num_instances": 12,
                                           "selection": "kmeans", "max_steps": 2})
    tr.fit()
    bank = tr.nets["G"].bank.clone()
    # independent reference in numpy: unit features of every image, their mean, the instances' centred rows
    base = tr.dataset.base
    e = TinyFeatures()(base.get_batch(torch.arange(len(base)))[0]).detach().double().numpy()
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    m = e.mean(0)
    c = e[tr.dataset.instances.numpy()] - m
    want = torch.from_numpy(c / np.linalg.norm(c, axis=1, keepdims=True)).float()
    torch.testing.assert_close(bank, want, atol=1e-5, rtol=1e-4)
    family, G = models.load_generator(out)
    torch.testing.assert_close(G.bank, bank)
    torch.testing.assert_close(G.h_mean, torch.from_numpy(m).float(), atol=1e-6, rtol=1e-5)
    samples = family.generate(G, torch.randn(5, 8), family.sample_labels(5))
    assert samples.shape == (5, 1, 16, 16) and samples.abs().max() <= 1
    # instance swapping: any image, in the data or not
    new = torch.rand(2, 1, 16, 16) * 2 - 1
    around = generate_around(family, G, new, n=3, features=TinyFeatures())
    assert around.shape == (6, 1, 16, 16)
    z = torch.randn(6, 8, generator=torch.Generator().manual_seed(0))[:3]
    f = TinyFeatures()(new[:1]).detach().double().numpy()[0]
    f = f / np.linalg.norm(f) - m
    h = torch.from_numpy(f / np.linalg.norm(f)).float()[None]      # centred by the training mean
    torch.testing.assert_close(around[:3], G(z, h.expand(3, -1)), atol=1e-5, rtol=1e-4)


def test_generate_instance_from_the_command_line(tmp_path, capsys):
    from PIL import Image

    from fastgan.cli import main
    fam = ICGAN.with_features(TinyFeatures())
    out = str(tmp_path / "run")
    Trainer(fam, "digits", overrides={**QUIET, "out": out, "batch": 8, "resolution": 16, "width": 4, "z_dim": 8,
                                      "embed_dim": 4, "k": 3, "num_instances": 6, "selection": "uniform",
                                      "max_steps": 1}).fit()
    img = tmp_path / "seven.png"
    Image.fromarray((np.random.rand(20, 24) * 255).astype(np.uint8)).save(img)
    grid = str(tmp_path / "around.png")
    assert main(["generate", "--ckpt", out, "--instance", str(img), "--n", "5", "--out", grid]) == 0
    assert Image.open(grid).size[0] > 16 * 3
    assert main(["generate", "--ckpt", out, "--instance", str(tmp_path / "none.png"), "--out", grid]) != 0
    assert "instance: cannot read image" in capsys.readouterr().err


def test_class_conditional_variant_conditions_on_the_drawn_image_class():
    feats = torch.nn.functional.normalize(torch.randn(30, 6), dim=1)
    labels = torch.randint(0, 3, (30,))
    nbrs = neighbourhoods(feats, 5)
    inst = select_instances(feats, 8, "uniform")
    ds = InstanceDataset(Indexed(), feats, nbrs, inst, labels, classes=3)
    assert ds.bank.shape == (8, 9)
    torch.testing.assert_close(ds.bank[:, 6:], torch.eye(3)[labels[inst]])
    got = ds.get_batch(torch.arange(8))
    drawn = got["image"][:, 0, 0, 0].long()
    torch.testing.assert_close(got["h"][:, :6], feats[inst])
    torch.testing.assert_close(got["h"][:, 6:], torch.eye(3)[labels[drawn]])
    with pytest.raises(ValueError, match="labels in"):
        InstanceDataset(Indexed(), feats, nbrs, inst, labels + 1, classes=3)


def test_class_conditional_family_swaps_classes(tmp_path):
    fam = ICGAN.with_features(TinyFeatures())
    tr = Trainer(fam, "digits", overrides={**QUIET, "out": str(tmp_path / "c"), "batch": 8, "resolution": 16,
                                           "width": 4, "z_dim": 8, "embed_dim": 4, "k": 3, "num_instances": 6,
                                           "selection": "uniform", "classes": 10, "max_steps": 1})
    tr.fit()
    G = tr.nets["G"].eval()
    img = torch.rand(1, 1, 16, 16) * 2 - 1
    a = generate_around(tr.family, G, img, n=2, features=TinyFeatures(), labels=[3])
    b = generate_around(tr.family, G, img, n=2, features=TinyFeatures(), labels=[7])
    assert a.shape == (2, 1, 16, 16) and not torch.equal(a, b)
    with pytest.raises(ValueError, match="one class in"):
        generate_around(tr.family, G, img, n=2, features=TinyFeatures())


TINY_SG2 = {"batch": 4, "resolution": 8, "z_dim": 8, "w_dim": 8, "channel_base": 64, "channel_max": 8,
            "mbstd_group": 2, "pl_weight": 0.0, "r1_gamma": 0.1}


def test_stylegan2_backbone_conditions_mapping_and_d_on_instance_features(tmp_path):
    from fastgan.models.icgan import ICStyleGAN2
    from fastgan.models.stylegan2_networks import Discriminator as SGD
    fam = ICStyleGAN2.with_features(TinyFeatures())
    seen = []
    orig = SGD.forward

    def spy(self, x, c, *a, **k):
        seen.append(c.detach().clone())
        return orig(self, x, c, *a, **k)

    out = str(tmp_path / "sg")
    tr = Trainer(fam, "digits", overrides={**QUIET, **TINY_SG2, "out": out, "k": 4, "num_instances": 9,
                                           "selection": "uniform", "max_steps": 2})
    SGD.forward = spy
    try:
        tr.fit()
    finally:
        SGD.forward = orig
    ds = tr.dataset
    # every h that D saw is the (independently computed) feature vector of a stored instance
    imgs = ds.base.get_batch(ds.instances)[0].float() / 127.5 - 1
    every = ds.base.get_batch(torch.arange(len(ds.base)))[0].float() / 127.5 - 1
    mean = torch.nn.functional.normalize(TinyFeatures()(every), dim=1).mean(0)
    want = torch.nn.functional.normalize(torch.nn.functional.normalize(TinyFeatures()(imgs), dim=1) - mean, dim=1)
    assert seen and all(torch.cdist(c.float(), want).min(1).values.max() < 1e-5 for c in seen)
    torch.testing.assert_close(tr.nets["G"].bank, want)
    assert tr.nets["G"].mapping.embed.weight.shape[1] == 128   # h (128-d) enters the mapping
    family, G = models.load_generator(out)
    torch.testing.assert_close(G.bank, want)
    torch.testing.assert_close(G.h_mean, mean.detach())
    z = torch.randn(3, 8)
    idx = torch.tensor([0, 4, 8])
    # integer labels pick bank rows: the same images as passing the rows themselves
    torch.testing.assert_close(family.generate(G, z, idx), family.generate(G, z, want[idx]))
    assert not torch.allclose(family.generate(G, z, want[[1, 1, 1]]), family.generate(G, z, want[[5, 5, 5]]))
    around = generate_around(family, G, imgs[:2], n=3, features=TinyFeatures())
    torch.testing.assert_close(around[:3], family.generate(G, torch.randn(6, 8, generator=torch.Generator()
                                                                           .manual_seed(0))[:3],
                                                           want[:1].expand(3, -1)))


@pytest.mark.parametrize("n, f", [(13, 5), (40, 128)])
def test_center_features_against_numpy(n, f):
    e = torch.nn.functional.normalize(torch.rand(n, f, dtype=torch.float64) + 0.5, dim=1)   # all-positive, like ReLU
    m = e.mean(0)
    c = e.numpy() - e.numpy().mean(0)
    want = c / np.sqrt((c ** 2).sum(1, keepdims=True))
    got = center_features(e, m)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-12)
    assert abs(float((got @ got.T).mean())) < float((e @ e.T).mean())   # no longer one shared direction
    torch.testing.assert_close(center_features(e, torch.zeros(f, dtype=torch.float64)), e)   # zero mean: as is
    with pytest.raises(ValueError, match="mean must have shape"):
        center_features(e, torch.zeros(f + 1))


def test_center_h_off_keeps_the_unit_features_and_old_checkpoints_load_without_h_mean(tmp_path):
    fam = ICGAN.with_features(TinyFeatures())
    out = str(tmp_path / "raw")
    tr = Trainer(fam, "digits", overrides={**QUIET, "out": out, "batch": 8, "resolution": 16, "width": 4,
                                           "z_dim": 8, "embed_dim": 4, "k": 3, "num_instances": 5,
                                           "selection": "uniform", "center_h": False, "max_steps": 1})
    tr.fit()
    imgs = tr.dataset.base.get_batch(tr.dataset.instances)[0].float() / 127.5 - 1
    e = TinyFeatures()(imgs).detach().double().numpy()
    unit = torch.from_numpy(e / np.linalg.norm(e, axis=1, keepdims=True)).float()
    torch.testing.assert_close(tr.nets["G"].bank, unit, atol=1e-5, rtol=1e-4)
    assert not tr.nets["G"].h_mean.any()
    # a state dict from before h_mean existed loads, with zeros (no centring: the old behaviour)
    G = ICGenerator(z_dim=8, feat_dim=128, embed_dim=4, num_instances=5, width=4, resolution=16, channels=1)
    G.h_mean.fill_(3.0)
    old = {k: v for k, v in tr.nets["G"].state_dict().items() if k != "h_mean"}
    G.load_state_dict(old)
    assert not G.h_mean.any()


def test_projection_starts_at_dcgans_init():
    torch.manual_seed(1)
    D = ICDiscriminator(feat_dim=128, width=16, resolution=32, channels=1, norm="batch")
    w = D.project.weight.detach()
    assert w.numel() == 128 * 64 * 16
    # N(0, 0.02): the sample std of 131k draws lies within 1% of 0.02 (nn.Linear's default would be 0.051)
    assert abs(float(w.std()) - 0.02) < 2e-4 and abs(float(w.mean())) < 2e-4
