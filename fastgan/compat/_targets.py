"""What fastgan.compat patches in a code base: one Target per attribute."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Tuple


@dataclass(frozen=True)
class Target:
    """One attribute of one module of a code base.

    module: the dotted module name (e.g. "torch_utils.ops.bias_act").
    attr: the attribute, or "Class.method" for a method of a class in that module.
    make: make(original, impl) -> replacement; None for what stays original (`note` says why).
    params: the leading parameter names the original must have; a different signature is left alone.
    kind: "op" (replaced by fastgan) or "jit" (a plugin loader that is neutralised).
    """

    module: str
    attr: str
    make: Optional[Callable] = None
    params: Tuple[str, ...] = ()
    kind: str = "op"
    note: str = ""

    @property
    def name(self) -> str:
        return f"{self.module}.{self.attr}"
