"""DiffAugment and ADA against independent computations (numpy / scipy / torch built-ins)."""
import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from fastgan.nn import augment as aug


def images(n=5, c=3, h=11, w=11, layout="contiguous", dtype=torch.float64):
    x = torch.rand(n, c, h, w, dtype=dtype) * 2 - 1
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    elif layout == "noncontiguous":
        x = torch.rand(n, c, w, h, dtype=dtype).transpose(2, 3) * 2 - 1
    return x


LAYOUTS = ("contiguous", "channels_last", "noncontiguous")


def np_shift(a, ty, tx, mode):
    """Shift each image of a [N, C, H, W] array down ty / right tx by padding and slicing."""
    N, C, H, W = a.shape
    out = np.empty_like(a)
    p = max(H, W)
    for n in range(N):
        if mode == "zeros":
            padded = np.pad(a[n], ((0, 0), (p, p), (p, p)))
        else:
            padded = np.pad(a[n], ((0, 0), (p, p), (p, p)), mode=mode)
        out[n] = padded[:, p - ty[n]:p - ty[n] + H, p - tx[n]:p - tx[n] + W]
    return out


@pytest.mark.parametrize("layout", LAYOUTS)
def test_translate_equals_roll_with_zero_fill(layout):
    x = images(layout=layout, h=9, w=13) if layout != "noncontiguous" else images(layout=layout, h=13, w=13)
    ty, tx = torch.tensor([0, 2, -3, 1, -1]), torch.tensor([1, -2, 0, 3, -4])
    got = aug.translate(x, ty, tx)
    for n in range(len(x)):
        rolled = torch.roll(x[n], (int(ty[n]), int(tx[n])), dims=(1, 2)).clone()
        if ty[n] > 0:
            rolled[:, :ty[n]] = 0
        elif ty[n] < 0:
            rolled[:, ty[n]:] = 0
        if tx[n] > 0:
            rolled[:, :, :tx[n]] = 0
        elif tx[n] < 0:
            rolled[:, :, tx[n]:] = 0
        torch.testing.assert_close(got[n], rolled, rtol=0, atol=0)


def test_translate_reflect_equals_numpy_reflect_pad():
    x = images(h=10, w=7)
    ty, tx = torch.tensor([0, 3, -2, 1, -4]), torch.tensor([2, -1, 0, 3, -3])
    want = np_shift(x.numpy(), ty.numpy(), tx.numpy(), "reflect")
    np.testing.assert_array_equal(aug.translate_reflect(x, ty, tx).numpy(), want)


def test_cutout_zeroes_exactly_the_square():
    x = images(h=12, w=9)
    y0, x0, size = torch.tensor([0, 5, -2, 8, 3]), torch.tensor([1, -1, 4, 6, 0]), 4
    want = x.numpy().copy()
    for n in range(len(x)):
        want[n, :, max(int(y0[n]), 0):max(int(y0[n]) + size, 0), max(int(x0[n]), 0):max(int(x0[n]) + size, 0)] = 0
    np.testing.assert_array_equal(aug.cutout(x, y0, x0, size).numpy(), want)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_rotate90_and_xflip_equal_torch(layout):
    x = images(layout=layout)
    k = torch.tensor([0, 1, 2, 3, -1])
    got = aug.rotate90(x, k)
    for n in range(len(x)):
        torch.testing.assert_close(got[n], torch.rot90(x[n], int(k[n]), (1, 2)), rtol=0, atol=0)
    m = torch.tensor([True, False, True, True, False])
    got = aug.xflip(x, m)
    for n in range(len(x)):
        torch.testing.assert_close(got[n], x[n].flip(2) if m[n] else x[n], rtol=0, atol=0)


def test_geometric_integer_ops_are_invertible():
    x = images()
    k = torch.tensor([0, 1, 2, 3, 1])
    torch.testing.assert_close(aug.rotate90(aug.rotate90(x, k), -k), x, rtol=0, atol=0)
    m = torch.rand(5) < 0.5
    torch.testing.assert_close(aug.xflip(aug.xflip(x, m), m), x, rtol=0, atol=0)


def test_affine_warp_quarter_turn_equals_rot90():
    x = images(h=10, w=10)
    # np.rot90: out[i, j] = in[j, n-1-i]; in centred (x right, y down) coordinates the output
    # pixel (x, y) shows the input at (-y, x)
    A = torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=torch.float64)
    M = torch.cat([A, torch.zeros(2, 1, dtype=torch.float64)], 1).expand(len(x), 2, 3)
    torch.testing.assert_close(aug.affine_warp(x, M), torch.rot90(x, 1, (2, 3)), rtol=0, atol=1e-12)


def test_affine_warp_integer_translation_equals_symmetric_pad():
    x = images(h=9, w=12)
    t = torch.tensor([[-2.0, 1.0], [3.0, -1.0], [0.0, 0.0], [1.0, 2.0], [-1.0, -3.0]], dtype=torch.float64)
    M = torch.cat([torch.eye(2, dtype=torch.float64).expand(5, 2, 2), t.unsqueeze(2)], 2)
    # input at p + t shows at p: the image moves by -t
    want = np_shift(x.numpy(), (-t[:, 1]).long().numpy(), (-t[:, 0]).long().numpy(), "symmetric")
    np.testing.assert_allclose(aug.affine_warp(x, M).numpy(), want, rtol=0, atol=1e-12)


def test_affine_warp_is_invertible_inside():
    """A small rotation and scale undone by its inverse matrix: the centre of the image is restored."""
    x = torch.nn.functional.interpolate(images(n=2, h=8, w=8), size=(32, 32), mode="bilinear")
    th = torch.tensor([0.3, -0.5], dtype=torch.float64)
    A = torch.stack([torch.stack([torch.cos(th), -torch.sin(th)], -1),
                     torch.stack([torch.sin(th), torch.cos(th)], -1)], -2) * 0.9
    M = torch.cat([A, torch.zeros(2, 2, 1, dtype=torch.float64)], 2)
    Minv = torch.cat([torch.linalg.inv(A), torch.zeros(2, 2, 1, dtype=torch.float64)], 2)
    back = aug.affine_warp(aug.affine_warp(x, M), Minv)
    centre = (slice(None), slice(None), slice(10, 22), slice(10, 22))
    assert (back[centre] - x[centre]).abs().max() < 0.12   # two bilinear resamplings of a smooth image


def test_color_matrix_against_independent_formulas():
    n = 6
    b, c = torch.randn(n) * 0.2, torch.exp2(torch.randn(n) * 0.5)
    i, h, s = (torch.rand(n) < 0.5).double(), (torch.rand(n) * 2 - 1) * math.pi, torch.exp2(torch.randn(n))
    x = images(n=n, h=5, w=7)
    got = aug.apply_color(x, aug.color_matrix(3, b, c, i, h, s)).numpy()
    v = np.ones(3) / math.sqrt(3)
    for k in range(n):
        px = x[k].numpy().reshape(3, -1)
        y = (px + b[k].item()) * c[k].item()
        if i[k]:
            y = y - 2 * np.outer(v, v) @ y
        y = Rotation.from_rotvec(v * h[k].item()).as_matrix() @ y
        luma = np.outer(v, v) @ y
        y = luma + s[k].item() * (y - luma)
        np.testing.assert_allclose(got[k].reshape(3, -1), y, rtol=1e-10, atol=1e-10)


def test_color_one_channel():
    x = images(n=3, c=1)
    b, c, i = torch.tensor([0.1, -0.3, 0.2]), torch.tensor([1.5, 0.7, 1.0]), torch.tensor([1.0, 0.0, 1.0])
    got = aug.apply_color(x, aug.color_matrix(1, b, c, i, torch.zeros(3), torch.ones(3)))
    want = (x + b.double().view(3, 1, 1, 1)) * c.double().view(3, 1, 1, 1) * (1 - 2 * i.double()).view(3, 1, 1, 1)
    torch.testing.assert_close(got, want)


class Draw:
    """Controlled random numbers: a seeded generator."""

    def __init__(self, seed=0):
        self.g = torch.Generator().manual_seed(seed)

    def rand(self, *shape):
        return torch.rand(shape, generator=self.g)

    def randn(self, *shape):
        return torch.randn(shape, generator=self.g)


def test_diffaugment_color_against_numpy():
    x = images(n=4, h=6, w=9)
    got = aug.diffaugment(x, "color", Draw(3)).numpy()
    d = Draw(3)
    u1, u2, u3 = d.rand(4).double().numpy(), d.rand(4).double().numpy(), d.rand(4).double().numpy()
    y = x.numpy() + (u1 - 0.5)[:, None, None, None]
    m = y.mean(axis=1, keepdims=True)
    y = (y - m) * (2 * u2)[:, None, None, None] + m
    m = y.mean(axis=(1, 2, 3), keepdims=True)
    y = (y - m) * (u3 + 0.5)[:, None, None, None] + m
    np.testing.assert_allclose(got, y, rtol=1e-6, atol=1e-6)


def test_diffaugment_translation_range_and_cutout_area():
    x = images(n=400, c=1, h=16, w=16) + 3.0   # no zero pixels before augmentation
    y = aug.diffaugment(x, "cutout", Draw(1))
    zeros = (y == 0).all(1).sum((1, 2)).double()
    # Zhao et al.: square of side 8 centred uniformly on 0..16; rows covered |[c-4, c+4) & [0, 16)|
    rows = np.array([min(c + 4, 16) - max(c - 4, 0) for c in range(17)], dtype=float)
    assert (zeros <= 64).all() and (zeros >= 16).all()
    assert abs(zeros.mean().item() - rows.mean() ** 2) < 3.0   # E = (E rows)^2 = 49.8; sd of mean ~0.6
    x = x[:64]
    y = aug.diffaugment(x, "translation", Draw(2))
    blank_rows = (y == 0).all(1).all(2).sum(1)
    assert blank_rows.max() <= 2 and blank_rows.max() >= 1   # |shift| <= 16/8 = 2


@pytest.mark.parametrize("fn", [lambda x: aug.diffaugment(x, "color,translation,cutout", Draw(0)),
                                lambda x: aug.ada_augment(x, 1.0, Draw(0))], ids=["diffaug", "ada"])
def test_gradients_flow_to_the_generator(fn):
    G = torch.nn.Linear(4, 3 * 8 * 8).double()
    z = torch.randn(6, 4, dtype=torch.float64)
    fn(G(z).view(6, 3, 8, 8)).square().sum().backward()
    assert G.weight.grad is not None and G.weight.grad.abs().sum() > 0 and torch.isfinite(G.weight.grad).all()


def test_ada_gradcheck_of_geometry_and_color():
    x = images(n=2, h=6, w=6).requires_grad_(True)
    torch.autograd.gradcheck(lambda t: aug.ada_augment(t, 1.0, Draw(5)), (x,))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_p_zero_is_identity(layout):
    x = images(layout=layout, c=3)
    assert aug.ada_augment(x, 0.0, Draw()) is x


def test_ada_at_p_one_changes_every_image_and_keeps_shape():
    x = images(n=8, c=1, h=16, w=16, dtype=torch.float32)
    y = aug.ada_augment(x, 1.0, Draw(2))
    assert y.shape == x.shape and ((y - x).abs().amax((1, 2, 3)) > 1e-3).all()


def test_bad_input():
    with pytest.raises(ValueError, match="p must be"):
        aug.ada_augment(images(), 1.5)
    with pytest.raises(ValueError, match="policy"):
        aug.diffaugment(images(), "color,blur")
    with pytest.raises(ValueError, match="x must be"):
        aug.translate(torch.rand(3, 4, 4), torch.zeros(3), torch.zeros(3))
    with pytest.raises(ValueError, match="square"):
        aug.rotate90(images(h=5, w=6), torch.zeros(5))


def test_controller_moves_p_towards_target():
    up = aug.ADAController(target=0.6, speed_kimg=1.0, interval=2)
    for _ in range(4):   # D confident on reals: r_t = 1 > 0.6, overfitting -> p up
        up.update(torch.rand(50) + 0.1)
    # two adjustments of 2 batches of 50 = 100 images each, 0.1 per adjustment at 1 kimg from 0 to 1
    assert up.p == pytest.approx(0.2)
    down = aug.ADAController(target=0.6, speed_kimg=1.0, interval=2, p=0.5)
    signs = torch.cat([torch.full((20,), 1.0), torch.full((30,), -1.0)])   # r_t = -0.2 < 0.6
    for _ in range(2):
        down.update(signs[torch.randperm(50)] * torch.rand(50))
    assert down.p == pytest.approx(0.4) and down.last_rt == pytest.approx(-0.2)
    low = aug.ADAController(speed_kimg=0.01, interval=1, p=0.0)
    low.update(-torch.rand(10))
    assert low.p == 0.0   # clamped at 0


def test_controller_state_roundtrips_through_checkpoint(tmp_path):
    from fastgan import checkpoint as ckpt
    c = aug.ADAController(interval=3, speed_kimg=0.5)
    for _ in range(4):
        c.update(torch.rand(16))
    path = ckpt.save(str(tmp_path / "x.ckpt"), {"family": {"ada": c.state_dict()}})
    d = aug.ADAController(interval=3, speed_kimg=0.5)
    d.load_state_dict(ckpt.load(path)["family"]["ada"])
    assert d.state_dict() == c.state_dict() and d.p > 0
    for ctl in (c, d):
        ctl.update(torch.rand(16))
        ctl.update(torch.rand(16))
    assert d.p == c.p


def test_filtered_warp_response_equals_the_filters_frequency_response():
    """Identity warp through the anti-aliased path: a constant passes unchanged, and the checkerboard
    (-1)^(i+j) is scaled by the closed-form response of [1,3,3,1]: up at 2x it sits at pi/2, where
    |H| = cos(pi/4)^3 (x2 for the up gain), and again at pi/2 on the way down -> (2 c^3 * c^3)^2."""
    n, h, w = 3, 11, 14
    eye = torch.cat([torch.eye(2, dtype=torch.float64), torch.zeros(2, 1, dtype=torch.float64)], 1).expand(n, 2, 3)
    const = torch.full((n, 2, h, w), 0.37, dtype=torch.float64) * torch.arange(1, n + 1).view(n, 1, 1, 1)
    torch.testing.assert_close(aug.affine_warp(const, eye, aug.AA_FILTER), const, rtol=0, atol=1e-12)
    i, j = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    board = ((-1.0) ** (i + j)).to(torch.float64).expand(n, 1, h, w) * torch.rand(n, 1, 1, 1, dtype=torch.float64)
    c3 = math.cos(math.pi / 4) ** 3
    want = board * (2 * c3 * c3) ** 2
    torch.testing.assert_close(aug.affine_warp(board, eye, aug.AA_FILTER), want, rtol=0, atol=1e-12)
    # the plain bilinear warp keeps the checkerboard: nothing filters it
    torch.testing.assert_close(aug.affine_warp(board, eye), board, rtol=0, atol=1e-12)


def test_filtered_quarter_turn_matches_rot90_of_the_filtered_image():
    x = images(h=12, w=12)
    eye = torch.cat([torch.eye(2, dtype=torch.float64), torch.zeros(2, 1, dtype=torch.float64)], 1).expand(len(x), 2, 3)
    A = torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=torch.float64)
    M = torch.cat([A, torch.zeros(2, 1, dtype=torch.float64)], 1).expand(len(x), 2, 3)
    # the filter is separable and symmetric, so filtering commutes with a quarter turn
    torch.testing.assert_close(aug.affine_warp(x, M, aug.AA_FILTER),
                               torch.rot90(aug.affine_warp(x, eye, aug.AA_FILTER), 1, (2, 3)), rtol=0, atol=1e-12)
