"""The digits translation report: accuracies by hand with a known classifier, identity translations."""
from __future__ import annotations

import pytest
import torch

from fastgan.data.mnistm import digits_pair
from fastgan.metrics.translation import classifier_accuracy, digits_translation, translate_images


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
