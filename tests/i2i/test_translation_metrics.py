"""The digits translation report: accuracies by hand with a known classifier, identity translations."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from fastgan.data.mnistm import digits_pair
from fastgan.metrics.translation import classifier_accuracy, dark_digits, digits_translation, translate_images


class ByBrightness(torch.nn.Module):
    """A 'classifier' whose label is the image's mean brightness bucket: known by hand."""

    def forward(self, x):
        m = ((x.mean((1, 2, 3)) + 1) * 5).clamp(0, 9.999).floor().long()
        return x.flatten(1), torch.nn.functional.one_hot(m, 10).float()


def test_classifier_accuracy_by_hand():
    levels = torch.tensor([0.05, 0.15, 0.95, 0.55, 0.35])        # buckets 0, 1, 9, 5, 3 of [0, 1)
    x = (levels * 2 - 1)[:, None, None, None].expand(-1, 3, 5, 7).contiguous()
    labels = torch.tensor([0, 2, 9, 5, 1])
    assert classifier_accuracy(x, labels, features=ByBrightness()) == pytest.approx(3 / 5)
    u8 = ((x + 1) * 127.5).round().to(torch.uint8)
    assert classifier_accuracy(u8, labels, features=ByBrightness(), batch=2) == pytest.approx(3 / 5)
    with pytest.raises(ValueError, match="labels must have shape"):
        classifier_accuracy(x, labels[:3], features=ByBrightness())


class Identity(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(()))

    def forward(self, x):
        return x * self.w


def test_identity_translation_equals_the_untranslated_baseline():
    (a, ya), (b, yb) = digits_pair("heldout")
    a, b = torch.from_numpy(a[:120]), torch.from_numpy(b[:120])
    G = Identity().train()
    got = digits_translation(G, G, a, ya[:120], b, yb[:120])
    assert G.training
    assert got["acc_G_BA(B)"] == got["acc_B"] and got["acc_cycle_A"] == got["acc_A"]
    assert got["acc_A"] > 0.95 and got["acc_B"] < got["acc_A"]      # MNIST-M is harder for an MNIST classifier
    assert got["fid_G_BA(B)"] == pytest.approx(got["fid_B"], rel=1e-9) and got["fid_B"] > 10
    torch.testing.assert_close(translate_images(G, b, batch=7), b.float() / 127.5 - 1)


def test_dark_digits_by_hand():
    (a, _), _ = digits_pair("heldout")
    a = torch.from_numpy(a[:37])
    assert not dark_digits(a, a).any()                       # light strokes on black
    assert dark_digits(a, 255 - a).all()                     # inverted: dark strokes on white
    mixed = torch.where(torch.arange(37)[:, None, None, None] % 3 == 0, 255 - a, a)
    assert dark_digits(a, mixed).tolist() == [i % 3 == 0 for i in range(37)]
    # channels_last and a non-contiguous slice give the same answer
    assert dark_digits(a.contiguous(memory_format=torch.channels_last), mixed[:, [2, 1, 0]]).tolist() == \
        [i % 3 == 0 for i in range(37)]
    with pytest.raises(ValueError, match="paired"):
        dark_digits(a, mixed[:5])
    with pytest.raises(ValueError, match="uint8"):
        dark_digits(a.float(), mixed)


def test_the_polarity_split_matches_accuracies_by_hand():
    (a, ya), (b, yb) = digits_pair("heldout")
    a, b, yb = torch.from_numpy(a[:150]), torch.from_numpy(b[:150]), torch.from_numpy(yb[:150])
    # the mask by hand, in numpy: B's grey over A's strokes against the rest
    grey, stroke = b.numpy().astype(np.float64).mean(1), a.numpy().astype(np.float64).mean(1) > 128
    dark = np.array([grey[i][stroke[i]].mean() < grey[i][~stroke[i]].mean() for i in range(150)])
    assert 0.15 < dark.mean() < 0.6                         # MNIST-M inverts a digit over a bright patch
    G = Identity()
    got = digits_translation(G, G, a, ya[:150], b, yb, fid=False, paired=True)
    m = torch.from_numpy(dark)
    assert got["dark_fraction"] == pytest.approx(dark.mean())
    assert got["acc_G_BA(B)_dark"] == pytest.approx(classifier_accuracy(b[m], yb[m]))
    assert got["acc_G_BA(B)_light"] == pytest.approx(classifier_accuracy(b[~m], yb[~m]))
    assert got["acc_G_BA(B)_light"] > got["acc_G_BA(B)_dark"] + 0.2   # an MNIST classifier reads light digits
    n_dark = int(m.sum())
    assert got["acc_G_BA(B)"] == pytest.approx((got["acc_G_BA(B)_dark"] * n_dark
                                                + got["acc_G_BA(B)_light"] * (150 - n_dark)) / 150)
    assert "acc_G_BA(B)_dark" not in digits_translation(G, G, a, ya[:150], b, yb, fid=False)
