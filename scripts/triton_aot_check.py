"""Compile every Triton kernel of fastgan for a GPU target without a GPU (default sm_90, an H200).

Triton's interpreter (TRITON_INTERPRET=1, how the CPU tests run the kernels) accepts code that the
compiler rejects, so a kernel that passes every CPU test can still fail to compile on the GPU. This
script records each kernel launch (arguments' types, constexpr values, launch options) while the
public ops run on CPU tensors in the interpreter, across the cases of tests/ops/test_cuda.py (dtypes,
layouts, forward, backward and second order), then compiles each distinct specialisation to cubin
for the target with `triton.compile`, in a second process where the kernels are real JIT functions.

    python scripts/triton_aot_check.py [--arch 90] [--json launches.json]

Exit status 1 if a kernel fails to compile, with the compiler's message. What it cannot see: run-time
behaviour (wrong results, out-of-bounds accesses); `pytest -m cuda` on a GPU checks those.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _describe(v):
    import torch

    if isinstance(v, torch.Tensor):
        return {"kind": "tensor", "dtype": str(v.dtype).split(".")[-1]}
    if isinstance(v, bool):
        return {"kind": "bool", "value": v}
    if isinstance(v, int):
        return {"kind": "int", "value": v}
    if isinstance(v, float):
        return {"kind": "float", "value": v}
    if v is None:
        return {"kind": "none"}
    if isinstance(v, str):
        return {"kind": "str", "value": v}
    return {"kind": "other", "repr": repr(v)}


def record(path: str) -> None:
    """Run the ops on CPU tensors under the interpreter and write every distinct launch to `path`."""
    assert os.environ.get("TRITON_INTERPRET") == "1"
    import torch
    from triton.runtime.interpreter import InterpretedFunction

    seen: dict = {}
    orig = InterpretedFunction.run

    def run(self, *args, grid, warmup, **kwargs):
        desc = {"module": self.fn.__module__, "name": self.fn.__name__, "arg_names": list(self.arg_names),
                "args": [_describe(a) for a in args], "kwargs": {k: _describe(v) for k, v in kwargs.items()}}
        seen.setdefault(json.dumps(desc, sort_keys=True), desc)
        return orig(self, *args, grid=grid, warmup=warmup, **kwargs)

    InterpretedFunction.run = run
    sys.path.insert(0, str(ROOT))
    from tests.ops import test_cuda as T

    torch.manual_seed(0)
    for case in T.CASES:
        for dtype in T.DTYPES:
            for layout in ("contiguous", "channels_last") if case.image else ("contiguous",):
                inputs = T._layout(case.make(case.shapes["small"], dtype, "cpu"), layout)
                y = case.run(*inputs, impl="triton")
                leaves = [t for t in inputs if t.requires_grad]
                g = torch.autograd.grad(y, leaves, torch.randn_like(y), create_graph=dtype in (torch.float32,
                                                                                               torch.float64))
                if g[0].requires_grad:  # second order
                    torch.autograd.grad(sum(t.square().sum() for t in g), leaves, allow_unused=True)
    Path(path).write_text(json.dumps(list(seen.values()), indent=1))
    print(f"recorded {len(seen)} distinct launches of "
          f"{len({(d['module'], d['name']) for d in seen.values()})} kernels")


_PTR = {"float32": "*fp32", "float64": "*fp64", "float16": "*fp16", "bfloat16": "*bf16", "int64": "*i64",
        "int32": "*i32", "bool": "*i1", "uint8": "*u8"}


def _value(d):
    return None if d["kind"] == "none" else d.get("value")


def compile_all(path: str, arch: int) -> int:
    """Compile every recorded launch for sm_<arch>; return the number of failures."""
    assert os.environ.get("TRITON_INTERPRET", "0") in ("", "0")
    import importlib

    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    target = GPUTarget("cuda", arch, 32)
    launches = json.loads(Path(path).read_text())
    failures, done, compiled = 0, 0, set()
    for d in launches:
        jit = getattr(importlib.import_module(d["module"]), d["name"])
        names = list(d["arg_names"])
        given = dict(zip(names, d["args"]))
        options = {}
        for k, v in d["kwargs"].items():
            if k in names:
                given[k] = v
            else:
                options[k] = _value(v)
        const_idx = {p.num for p in jit.params if p.is_constexpr}
        signature, constexprs = {}, {}
        for i, name in enumerate(names):
            a = given.get(name)
            if a is None:  # a parameter left to its default
                p = jit.params[i]
                a = _describe(p.default) if p.default is not p.default.__class__ else {"kind": "none"}
            if i in const_idx:
                signature[name], constexprs[name] = "constexpr", _value(a)
            elif a["kind"] == "tensor":
                signature[name] = _PTR[a["dtype"]]
            elif a["kind"] == "bool":
                signature[name] = "i1"
            elif a["kind"] == "int":
                signature[name] = "i64" if not -2**31 <= a["value"] < 2**31 else "i32"
            elif a["kind"] == "float":
                signature[name] = "fp32"
            elif a["kind"] == "none":
                signature[name], constexprs[name] = "constexpr", None
            else:
                raise TypeError(f"{d['name']}: argument {name} of kind {a['kind']}")
        opts = {k: v for k, v in options.items() if k in ("num_warps", "num_stages", "num_ctas")}
        key = json.dumps([d["module"], d["name"], signature, constexprs, opts], sort_keys=True, default=str)
        if key in compiled:  # launches that differ only in integer values compile to the same kernel
            continue
        compiled.add(key)
        label = f"{d['module'].rsplit('.', 1)[-1]}.{d['name']} " + ", ".join(
            f"{k}={v}" for k, v in constexprs.items() if v is not None)
        try:
            k = triton.compile(ASTSource(jit, signature, constexprs), target=target, options=opts)
            regs = getattr(k, "n_regs", None)
            spills = getattr(k, "n_spills", None)
            done += 1
            print(f"ok    {label}  [{', '.join(f'{n}:{t}' for n, t in signature.items() if t != 'constexpr')}]"
                  + (f" regs {regs} spills {spills}" if regs is not None else ""))
        except Exception as e:  # the compiler's message is the point of this script
            failures += 1
            msg = str(e).strip().splitlines()
            print(f"FAIL  {label}\n      signature {signature}\n      " + "\n      ".join(msg[-12:]))
    print(f"compiled {done} distinct specialisations ({len(launches)} recorded launches) for sm_{arch}; "
          f"{failures} failed")
    return failures


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", type=int, default=90, help="compute capability, e.g. 90 (H100/H200), 80 (A100)")
    p.add_argument("--json", default=None, help="where the recorded launches go (default: a temp file)")
    p.add_argument("--stage", choices=["all", "record", "compile"], default="all", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    path = a.json or os.path.join(os.environ.get("TMPDIR", "/tmp"), f"fastgan-triton-launches-{os.getpid()}.json")
    if a.stage == "record":
        record(path)
        return 0
    if a.stage == "compile":
        return 1 if compile_all(path, a.arch) else 0
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    me = [sys.executable, os.path.abspath(__file__), "--json", path, "--arch", str(a.arch), "--stage"]
    subprocess.run(me + ["record"], env={**env, "TRITON_INTERPRET": "1"}, check=True)
    return subprocess.run(me + ["compile"], env={**env, "TRITON_INTERPRET": "0"}).returncode


if __name__ == "__main__":
    sys.exit(main())
