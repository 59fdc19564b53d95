"""fastgan.losses against closed forms (binary cross-entropy, hinge, least squares, W1)."""
import pytest
import torch
import torch.nn.functional as F

from fastgan import losses

real, fake = torch.randn(7, 1, dtype=torch.float64) * 3, torch.randn(7, 1, dtype=torch.float64) * 3
ones, zeros = torch.ones_like(real), torch.zeros_like(real)
bce = F.binary_cross_entropy_with_logits
sig = torch.sigmoid


@pytest.mark.parametrize("name, d_expected, g_expected", [
    ("ns", bce(real, ones) + bce(fake, zeros), bce(fake, ones)),
    ("minimax", bce(real, ones) + bce(fake, zeros), torch.log(1 - sig(fake)).mean()),
    ("ls", 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake ** 2).mean(), 0.5 * ((fake - 1) ** 2).mean()),
    ("hinge", torch.clamp(1 - real, min=0).mean() + torch.clamp(1 + fake, min=0).mean(), -fake.mean()),
    ("wasserstein", fake.mean() - real.mean(), -fake.mean()),
])
def test_losses_match_closed_forms(name, d_expected, g_expected):
    d, g = losses.get(name)
    torch.testing.assert_close(d(real, fake), d_expected)
    torch.testing.assert_close(g(fake), g_expected)


def test_saturating_gradient_vanishes_when_d_rejects_fakes():
    a = torch.tensor([-12.0], requires_grad=True)  # D(G(z)) ~ 0
    (gs,) = torch.autograd.grad(losses.g_minimax(a), a)
    (gn,) = torch.autograd.grad(losses.g_nonsaturating(a), a)
    assert abs(gs.item()) < 1e-5 < 0.99 < abs(gn.item())  # sigma(a) vs 1 - sigma(a)


def test_logistic_losses_stay_finite_for_huge_logits():
    big = torch.tensor([1e4, -1e4])
    assert torch.isfinite(losses.d_logistic(big, -big)) and torch.isfinite(losses.g_nonsaturating(-big))


def test_unknown_loss_lists_names():
    with pytest.raises(ValueError, match="valid losses: minimax, ns, ls, hinge, wasserstein"):
        losses.get("bce")
