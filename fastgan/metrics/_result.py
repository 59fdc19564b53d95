"""The value every metric returns: a float that carries its other numbers and its conventions.

A :class:`MetricResult` *is* its primary number (``float(r)``, ``r < 1``, logging as a float all
work), and it also records

* ``values``: every number the metric produced (``{"precision": .., "recall": ..}``,
  ``{"is": .., "is_std": ..}``, ``{"fid": .., "mean_term": .., "trace_term": ..}``);
* ``conventions``: how it was computed (feature network and weights id, resize method,
  covariance convention, sample counts, seeds, the numerical path taken, whether an eps
  offset was added, ...), so two numbers are only compared when their conventions agree.
"""
from __future__ import annotations

import math
from typing import Any, Mapping


class MetricResult(float):
    """A float (the metric's primary value) with ``values`` and ``conventions`` attached."""

    name: str
    values: dict
    conventions: dict

    def __new__(cls, name: str, value: float, values: Mapping[str, Any] | None = None,
                conventions: Mapping[str, Any] | None = None):
        obj = super().__new__(cls, float(value))
        obj.name = name
        obj.values = {name: float(value), **dict(values or {})}
        obj.conventions = dict(conventions or {})
        return obj

    def __getitem__(self, key: str):
        if key in self.values:
            return self.values[key]
        return self.conventions[key]

    def __reduce__(self):
        return (MetricResult, (self.name, float(self), self.values, self.conventions))

    def to_dict(self) -> dict:
        """JSON-friendly view: ``{"name", "value", "values", "conventions"}``."""
        return {"name": self.name, "value": _jsonable(float(self)),
                "values": {k: _jsonable(v) for k, v in self.values.items()},
                "conventions": {k: _jsonable(v) for k, v in self.conventions.items()}}

    def __repr__(self) -> str:
        extra = ", ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in self.values.items() if k != self.name)
        return f"{self.name}={float(self):.6g}" + (f" ({extra})" if extra else "")


def _jsonable(v):
    if isinstance(v, float):
        return v if math.isfinite(v) else str(v)
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if hasattr(v, "item") and getattr(v, "ndim", 1) == 0:  # numpy / torch scalar
        return _jsonable(v.item())
    if hasattr(v, "tolist"):
        return v.tolist()
    return v
