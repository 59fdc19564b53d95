"""Stand-in for StyleGAN3's training.networks_stylegan3: its modulated_conv2d has another signature."""
import torch


def modulated_conv2d(x, w, s, demodulate=True, padding=0, input_gain=None):
    w = w[None] * s[:, None, :, None, None]
    if demodulate:
        w = w * (w.square().sum(dim=[2, 3, 4], keepdim=True) + 1e-8).rsqrt()
    if input_gain is not None:
        w = w * input_gain.reshape(1, 1, -1, 1, 1)
    n = x.shape[0]
    xg, wg = x.reshape(1, -1, *x.shape[2:]), w.reshape(-1, *w.shape[2:])
    y = torch.nn.functional.conv2d(xg, wg, padding=padding, groups=n)
    return y.reshape(n, -1, *y.shape[2:])
