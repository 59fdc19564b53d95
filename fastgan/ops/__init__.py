"""fastgan.ops: the fused ops (see ../shared/DESIGN.md §2 for the contract every op keeps).

Every op takes `impl=` (ref, cpu, triton, cuda, auto); `use_backend(name)` sets it for a block
and FASTGAN_BACKEND for the process.
"""
from ._backend import (BACKENDS, BackendUnavailableError, available_backends,  # noqa: F401
                       unavailable_reason, use_backend)
from .bias_act import bias_act  # noqa: F401
from . import reference  # noqa: F401
