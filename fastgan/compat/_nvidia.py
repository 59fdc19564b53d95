"""Shims for NVIDIA's StyleGAN2-ADA / StyleGAN3 code bases (`torch_utils.ops`, `training.networks*`).

Each shim takes the original function's arguments, by the same names and with the same defaults,
and runs fastgan's op. The original's `impl` argument ('cuda' by default, or 'ref') keeps its
meaning: 'cuda' runs fastgan's backend chosen at patch time (`impl=` of `fastgan.compat.patch`),
'ref' runs fastgan's float reference. A call whose arguments fall outside what fastgan's op
accepts goes to the original function, whose plugin loader is disabled while patched, so it runs
the original's own reference path; each shim's docstring names those cases.
"""
from __future__ import annotations

import importlib

import torch

from ._targets import Target

_fops = importlib.import_module("fastgan.ops")
_fmc = importlib.import_module("fastgan.ops.modulated_conv2d")

_ALPHA_ACTS = ("lrelu",)  # the only activation whose shape parameter the originals read


def _backend(impl, patch_impl):
    """fastgan backend for the original's `impl` argument, or None when the original must run."""
    if impl == "cuda":
        return patch_impl
    if impl == "ref":
        return "ref"
    return None


def _number(v):
    """A Python float for fastgan's argument checks (the originals accept numpy scalars)."""
    return v if v is None or isinstance(v, (int, float)) and not isinstance(v, bool) else float(v)


def _shim(original, impl, fn, name):
    fn.__name__ = name
    fn.__qualname__ = name
    fn._fastgan_original = original
    fn._fastgan_impl = impl
    return fn


# ------------------------------------------------------------------ torch_utils.ops.bias_act
def make_bias_act(original, impl):
    def bias_act(x, b=None, dim=1, act="linear", alpha=None, gain=None, clamp=None, impl="cuda"):
        """fastgan.ops.bias_act in place of torch_utils.ops.bias_act.bias_act.

        Follows the original where fastgan's op differs: `alpha` is read only by 'lrelu' (the
        original's 'elu' is F.elu with alpha 1 whatever `alpha` says); `dim` is ignored without a
        bias. A bias of another dtype than x, a 0-d x or a non-float x runs the original.
        """
        backend = _backend(impl, _impl)
        if (backend is None or not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() == 0
                or (b is not None and (not isinstance(b, torch.Tensor) or b.dtype != x.dtype))):
            return original(x, b, dim=dim, act=act, alpha=alpha, gain=gain, clamp=clamp, impl=impl)
        return _fops.bias_act(x, b, dim=dim if b is not None else 0, act=act,
                              alpha=_number(alpha) if act in _ALPHA_ACTS else None, gain=_number(gain),
                              clamp=_number(clamp), impl=backend)

    _impl = impl
    return _shim(original, impl, bias_act, "bias_act")


# ------------------------------------------------------------------ torch_utils.ops.upfirdn2d
def _filter_ok(f, x):
    return f is None or (isinstance(f, torch.Tensor) and f.is_floating_point() and f.dim() in (1, 2)
                         and f.device == x.device and not f.requires_grad)


def make_upfirdn2d(original, impl):
    def upfirdn2d(x, f, up=1, down=1, padding=0, flip_filter=False, gain=1, impl="cuda"):
        """fastgan.ops.upfirdn2d in place of torch_utils.ops.upfirdn2d.upfirdn2d (same semantics).

        A filter that requires grad, lives on another device or is not 1-D/2-D float runs the
        original (which rejects it).
        """
        backend = _backend(impl, _impl)
        if backend is None or not isinstance(x, torch.Tensor) or x.dim() != 4 or not _filter_ok(f, x):
            return original(x, f, up=up, down=down, padding=padding, flip_filter=flip_filter, gain=gain, impl=impl)
        return _fops.upfirdn2d(x, f, up=up, down=down, padding=padding, flip_filter=bool(flip_filter),
                               gain=_number(gain), impl=backend)

    _impl = impl
    return _shim(original, impl, upfirdn2d, "upfirdn2d")


def _resample_shim(original, impl, name, call):
    def run(x, f, impl, **kwargs):
        backend = _backend(impl, _impl)
        if backend is None or not isinstance(x, torch.Tensor) or x.dim() != 4 or not _filter_ok(f, x):
            return original(x, f, impl=impl, **kwargs)
        kwargs["gain"] = _number(kwargs["gain"])
        kwargs["flip_filter"] = bool(kwargs["flip_filter"])
        return getattr(_fops, name)(x, f, impl=backend, **kwargs)

    _impl = impl
    return _shim(original, impl, call(run), name)


def make_filter2d(original, impl):
    def wrap(run):
        def filter2d(x, f, padding=0, flip_filter=False, gain=1, impl="cuda"):
            """fastgan.ops.filter2d in place of torch_utils.ops.upfirdn2d.filter2d: the same centred padding
            (fw // 2 before, (fw - 1) // 2 after) on top of `padding`; an unusable filter runs the original."""
            return run(x, f, impl, padding=padding, flip_filter=flip_filter, gain=gain)
        return filter2d
    return _resample_shim(original, impl, "filter2d", wrap)


def make_upsample2d(original, impl):
    def wrap(run):
        def upsample2d(x, f, up=2, padding=0, flip_filter=False, gain=1, impl="cuda"):
            """fastgan.ops.upsample2d in place of torch_utils.ops.upfirdn2d.upsample2d: the same padding
            ((fw + up - 1) // 2, (fw - up) // 2) and gain * up_x * up_y; an unusable filter runs the original."""
            return run(x, f, impl, up=up, padding=padding, flip_filter=flip_filter, gain=gain)
        return upsample2d
    return _resample_shim(original, impl, "upsample2d", wrap)


def make_downsample2d(original, impl):
    def wrap(run):
        def downsample2d(x, f, down=2, padding=0, flip_filter=False, gain=1, impl="cuda"):
            """fastgan.ops.downsample2d in place of torch_utils.ops.upfirdn2d.downsample2d: the same padding
            ((fw - down + 1) // 2, (fw - down) // 2); an unusable filter runs the original."""
            return run(x, f, impl, down=down, padding=padding, flip_filter=flip_filter, gain=gain)
        return downsample2d
    return _resample_shim(original, impl, "downsample2d", wrap)


def make_setup_filter(original, impl):
    def setup_filter(f, device=torch.device("cpu"), normalize=True, flip_filter=False, gain=1, separable=None):
        """fastgan.ops.setup_filter in place of torch_utils.ops.upfirdn2d.setup_filter.

        Follows the original in one edge case: given a float32 tensor that stays as it is (1-D
        separable or 2-D), normalize=True divides that tensor by its sum in place, as the original does.
        """
        t = torch.as_tensor(f, dtype=torch.float32) if f is not None else None
        if normalize and t is not None and t is f and t.numel() > 0 and t.dim() in (1, 2):
            sep = separable if separable is not None else (t.dim() == 1 and t.numel() >= 8)
            if t.dim() == 2 or sep:
                with torch.no_grad():
                    t.div_(t.sum())
                return _fops.setup_filter(t, device=device, normalize=False, flip_filter=flip_filter,
                                          gain=_number(gain), separable=separable)
        return _fops.setup_filter(f, device=device, normalize=normalize, flip_filter=flip_filter, gain=_number(gain),
                                  separable=separable)

    return _shim(original, impl, setup_filter, "setup_filter")


# ------------------------------------------------------------------ torch_utils.ops.conv2d_resample
def make_conv2d_resample(original, impl):
    def conv2d_resample(x, w, f=None, up=1, down=1, padding=0, groups=1, flip_weight=True, flip_filter=False):
        """fastgan's conv2d_resample (fastgan.ops.modulated_conv2d.conv2d_resample) in place of the original.

        Same arguments and semantics: the padding is applied once, with respect to the upsampled
        image; up > 1 is a transposed strided convolution then FIR filtering, down > 1 FIR filtering
        then a strided convolution; flip_weight=True correlates as F.conv2d does. The convolutions are
        fastgan's CPU ones (Winograd / batched GEMM) on the cpu backend, PyTorch's elsewhere.
        Non-int up/down/groups or a weight whose dtype differs from x's run the original.
        """
        ints = all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in (up, down, groups))
        if (not ints or not isinstance(x, torch.Tensor) or not isinstance(w, torch.Tensor) or x.dim() != 4
                or w.dim() != 4 or w.dtype != x.dtype or not _filter_ok(f, x)):
            return original(x, w, f=f, up=up, down=down, padding=padding, groups=groups, flip_weight=flip_weight,
                            flip_filter=flip_filter)
        return _fmc.conv2d_resample(x, w, f, up, down, padding, groups, bool(flip_weight), bool(flip_filter),
                                    impl=_impl)

    _impl = impl
    return _shim(original, impl, conv2d_resample, "conv2d_resample")


# ------------------------------------------------------------------ torch_utils.ops.fma
def make_fma(original, impl):
    def fma(a, b, c):
        """a * b + c as torch.addcmul(c, a, b).

        fastgan has no op of its own for this: PyTorch's addcmul is one pass, its autograd sums the
        gradients over broadcast dimensions as the original's custom Function does, differentiates
        to any order and traces under torch.compile.
        """
        return torch.addcmul(c, a, b)

    return _shim(original, impl, fma, "fma")


# ------------------------------------------------------------------ training.networks.modulated_conv2d
def _noise_ok(noise, n):
    if noise is None:
        return True
    if not isinstance(noise, torch.Tensor) or noise.dim() > 4:
        return False
    shape = (1,) * (4 - noise.dim()) + tuple(noise.shape)
    return shape[0] in (1, n) and shape[1] == 1


def make_modulated_conv2d(original, impl):
    def modulated_conv2d(x, weight, styles, noise=None, up=1, down=1, padding=0, resample_filter=None,
                         demodulate=True, flip_weight=True, fused_modconv=True):
        """fastgan.ops.modulated_conv2d (noise fused into its epilogue) in place of the networks' own.

        Same semantics: styles scale the weight per sample, dcoefs = rsqrt(sum w^2 + 1e-8)
        demodulate, the convolution is conv2d_resample, then noise is added; both fused_modconv
        strategies. Follows the original in its edge cases: the fp16 pre-normalisation applies only
        when x is float16 (a float16 weight or styles with a float32 x runs the original), and noise
        that does not broadcast as [N, 1, H, W] (e.g. per channel) runs the original.
        """
        if not (isinstance(x, torch.Tensor) and isinstance(weight, torch.Tensor) and isinstance(styles, torch.Tensor)
                and x.dim() == 4 and weight.dim() == 4 and styles.dim() == 2 and _noise_ok(noise, x.shape[0])
                and _filter_ok(resample_filter, x) and isinstance(up, int) and isinstance(down, int)
                and not (demodulate and x.dtype != torch.float16
                         and torch.float16 in (weight.dtype, styles.dtype))):
            return original(x, weight, styles, noise=noise, up=up, down=down, padding=padding,
                            resample_filter=resample_filter, demodulate=demodulate, flip_weight=flip_weight,
                            fused_modconv=fused_modconv)
        return _fops.modulated_conv2d(x, weight, styles, noise=noise, up=up, down=down, padding=padding,
                                      resample_filter=resample_filter, demodulate=bool(demodulate),
                                      flip_weight=bool(flip_weight), fused_modconv=bool(fused_modconv), impl=_impl)

    _impl = impl
    return _shim(original, impl, modulated_conv2d, "modulated_conv2d")


# ------------------------------------------------------------------ the plugin loaders
def make_init_disabled(original, impl):
    def _init():
        """Disabled by fastgan.compat: the op's CUDA plugin is never built (the module's reference path runs)."""
        return False

    return _shim(original, impl, _init, "_init")


def make_get_plugin_blocked(original, impl):
    def get_plugin(module_name, sources=None, **build_kwargs):
        """Blocked by fastgan.compat: raises instead of JIT-compiling a plugin."""
        raise RuntimeError(f"fastgan.compat blocks the JIT build of {module_name!r} while the code base is patched "
                           f"(fastgan.compat.unpatch() restores the original loader)")

    return _shim(original, impl, get_plugin, "get_plugin")


# ------------------------------------------------------------------ the target tables
_OPS = "torch_utils.ops."
_UPF = ("x", "f", "up", "down", "padding", "flip_filter", "gain", "impl")
_HELPER = {"filter2d": ("x", "f", "padding", "flip_filter", "gain", "impl"),
           "upsample2d": ("x", "f", "up", "padding", "flip_filter", "gain", "impl"),
           "downsample2d": ("x", "f", "down", "padding", "flip_filter", "gain", "impl")}
_MODCONV = ("x", "weight", "styles", "noise", "up", "down", "padding", "resample_filter", "demodulate",
            "flip_weight", "fused_modconv")
_NO_OP = "fastgan has no op for it; it runs PyTorch's own ops and builds nothing"


def _common_targets(networks_module):
    t = [
        Target(_OPS + "bias_act", "bias_act", make_bias_act,
               ("x", "b", "dim", "act", "alpha", "gain", "clamp", "impl")),
        Target(_OPS + "bias_act", "_init", make_init_disabled, (), kind="jit"),
        Target(_OPS + "upfirdn2d", "upfirdn2d", make_upfirdn2d, _UPF),
        Target(_OPS + "upfirdn2d", "setup_filter", make_setup_filter,
               ("f", "device", "normalize", "flip_filter", "gain", "separable")),
    ]
    t += [Target(_OPS + "upfirdn2d", name, globals()[f"make_{name}"], params) for name, params in _HELPER.items()]
    t += [
        Target(_OPS + "upfirdn2d", "_init", make_init_disabled, (), kind="jit"),
        Target(_OPS + "conv2d_resample", "conv2d_resample", make_conv2d_resample,
               ("x", "w", "f", "up", "down", "padding", "groups", "flip_weight", "flip_filter")),
        Target(_OPS + "fma", "fma", make_fma, ("a", "b", "c")),
        Target("torch_utils.custom_ops", "get_plugin", make_get_plugin_blocked, ("module_name", "sources"),
               kind="jit"),
        Target(networks_module, "modulated_conv2d", make_modulated_conv2d, _MODCONV),
        Target(_OPS + "conv2d_gradfix", "conv2d", None, note=_NO_OP + " (conv2d_gradfix)"),
        Target(_OPS + "conv2d_gradfix", "conv_transpose2d", None, note=_NO_OP + " (conv2d_gradfix)"),
        Target(_OPS + "grid_sample_gradfix", "grid_sample", None, note=_NO_OP + " (grid_sample_gradfix)"),
    ]
    return t


STYLEGAN2_ADA = _common_targets("training.networks")

STYLEGAN3 = _common_targets("training.networks_stylegan2") + [
    Target(_OPS + "filtered_lrelu", "filtered_lrelu", None,
           note="fastgan has no filtered_lrelu op; its plugin loader is disabled, so it runs its reference path, "
                "which calls the patched upfirdn2d and bias_act (on CUDA that path is slower than NVIDIA's "
                "filtered_lrelu kernel)"),
    Target(_OPS + "filtered_lrelu", "_init", make_init_disabled, (), kind="jit"),
    Target("training.networks_stylegan3", "modulated_conv2d", None,
           note="StyleGAN3's own modulated_conv2d (input_gain, no resampling) has no fastgan op; "
                "it runs PyTorch's conv2d"),
]

ROOTS = ("torch_utils", "training")
