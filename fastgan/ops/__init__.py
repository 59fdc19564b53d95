"""fastgan.ops: the fused ops (docs/ARCHITECTURE.md §2 is the contract every op keeps; _op.py its skeleton).

Every op takes `impl=` (ref, cpu, triton, cuda, auto); `use_backend(name)` sets it for a block
and FASTGAN_BACKEND for the process. In eager code the ops skip the dispatcher when that is safe
(see _dispatch.py); FASTGAN_DIRECT_DISPATCH=0 or `use_direct_dispatch(False)` turns that off.
`set_nvtx(True)` or FASTGAN_NVTX=1 puts an NVTX range `fastgan::<op>` around every fused op call
(profiling.py).
"""
from ._backend import (BACKENDS, BackendUnavailableError, available_backends,  # noqa: F401
                       unavailable_reason, use_backend)
from ._dispatch import use_direct_dispatch  # noqa: F401
from .bias_act import bias_act  # noqa: F401
from .upfirdn2d import downsample2d, filter2d, setup_filter, upfirdn2d, upsample2d  # noqa: F401
from .modulated_conv2d import modulated_conv2d  # noqa: F401
from .pixel_norm import pixel_norm  # noqa: F401
from .minibatch_std import minibatch_std  # noqa: F401
from .grad_penalty import grad_norm_penalty, grad_sq_norm, lerp_samples, path_length_norm  # noqa: F401
from . import reference  # noqa: F401
from .profiling import nvtx_range, set_nvtx, use_nvtx  # noqa: F401
