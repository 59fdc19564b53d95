"""Stand-in for torch_utils.custom_ops: get_plugin would JIT-compile a CUDA plugin with cpp_extension.load."""
import collections
import inspect

import torch.utils.cpp_extension

CALLS = collections.Counter()


def get_plugin(module_name, sources, **build_kwargs):
    CALLS["get_plugin"] += 1
    load = torch.utils.cpp_extension.load
    if not getattr(inspect.unwrap(load), "_fastgan_test_tripwire", False):  # only ever the tests' tripwire
        raise RuntimeError("stand-in get_plugin: refusing to call the real cpp_extension.load")
    return load(name=module_name, sources=sources, **build_kwargs)
