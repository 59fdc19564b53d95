"""Stand-in for StyleGAN3's training.networks_stylegan2: the same modulated_conv2d, as its own function."""
import collections

from training import networks as _ada

CALLS = collections.Counter()


def modulated_conv2d(x, weight, styles, noise=None, up=1, down=1, padding=0, resample_filter=None, demodulate=True,
                     flip_weight=True, fused_modconv=True):
    CALLS["modulated_conv2d"] += 1
    return _ada._modconv(x, weight, styles, noise, up, down, padding, resample_filter, demodulate, flip_weight,
                         fused_modconv)
