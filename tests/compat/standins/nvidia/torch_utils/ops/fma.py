"""Stand-in for torch_utils.ops.fma: a * b + c."""
import collections

CALLS = collections.Counter()


def fma(a, b, c):
    CALLS["fma"] += 1
    return a * b + c
