"""The CUDA emulator (csrc/emu, built as fastgan._C_cuda_emu) and what test_cuda.py's table does not show on it.

- The emulator reports each fault it exists to catch: its own faulty kernels (csrc/emu/selftest.cpp) give a
  divergent barrier, a deadlock, a shuffle over missing lanes, bad launch sizes, a missing barrier and an
  unwritten shared-memory read, each as an error or as NaNs; two correct warp reductions give the right sums.
- The `cuda` backend's kernels give the reference's answers whichever order the threads of a block run in
  between barriers (reverse, shuffled): a missing or misplaced __syncthreads would change them.
- Shapes that take the kernels' multi-pass paths: reductions over more elements than a block has threads,
  several upfirdn2d tiles per plane, pixel_norm's row kernel over more channels than threads.
- An op on the emulator really runs the kernels (launch counts), and the backend's errors name the cause.

All marked `cuda_emu`: with FASTGAN_REQUIRE_EMU=1 (scripts/test.sh, so CI) a skip here is a failure.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fastgan import ops
from fastgan.ops import _backend as B
from fastgan.ops import reference

from .test_cuda import CASES, Case, _compare, _pl_make, _rand

pytestmark = pytest.mark.cuda_emu


@pytest.fixture
def emu():
    """The emulator module, with emulation on and the forward schedule restored afterwards."""
    with B.cuda_emulation():
        why = B.unavailable_reason("cuda", "cpu")
        if why:
            pytest.skip(f"emulated cuda: {why}")
        m = B.cuda_module()
        m.set_schedule("forward", 0)
        try:
            yield m
        finally:
            m.set_schedule("forward", 0)


# ------------------------------------------------------------------ the emulator's own faulty kernels
SELFTEST = {
    # case: (what the result must contain, what it must not)
    "divergent_barrier": ("__syncthreads() that 16 of the block's 32 threads never reach", None),
    "deadlock": ("deadlock: 16 threads wait at __syncthreads() while others wait at a warp shuffle", None),
    "partial_warp_shuffle": ("lanes that do not exist", "ok:"),
    "block_too_large": ("a block of 2048 threads", "ok:"),
    "grid_y_too_large": ("grid (1, 70000, 1)", "ok:"),
    "warp_sum": ("ok: 528 1552", None),  # 1+..+32 and 33+..+64
    "xor_max": ("ok: " + " ".join(["31"] * 32), None),
    "with_barrier": ("ok: " + " ".join(str((i + 1) % 64) for i in range(64)), None),
    "unwritten_shared": ("ok: " + " ".join(["1"] * 32 + ["nan"] * 32), None),
}


@pytest.mark.parametrize("case", list(SELFTEST))
def test_selftest_kernels(emu, case):
    must, must_not = SELFTEST[case]
    got = emu.selftest(case)
    assert must in got, f"{case}: {got!r}"
    if must_not:
        assert must_not not in got, f"{case}: {got!r}"
    if not got.startswith("ok:"):
        assert got.startswith("CUDA emulator: kernel "), got  # the kernel and block are named
    # an error is sticky until read once: the next launch starts clean
    assert emu.selftest("warp_sum") == "ok: 528 1552"


@pytest.mark.parametrize("schedule,seed", [("forward", 0), ("shuffle", 3), ("shuffle", 4)])
def test_missing_barrier_is_visible(emu, schedule, seed):
    """Thread i reads what thread i+1 wrote to shared memory, with no barrier between: in forward order thread i
    runs before i+1 wrote (NaN from the fresh fill); in a shuffled order some read too early. Reverse order hides
    all but the last thread's read, which is why the tests run the ops under several schedules."""
    emu.set_schedule(schedule, seed)
    got = emu.selftest("missing_barrier")
    assert got.startswith("ok:") and "nan" in got, got
    emu.set_schedule("reverse", 0)
    assert emu.selftest("missing_barrier").count("nan") == 1


def test_selftest_unknown_case(emu):
    with pytest.raises(ValueError, match="unknown case 'nope'"):
        emu.selftest("nope")


def test_set_schedule_rejects_unknown_order(emu):
    with pytest.raises(ValueError, match="sideways"):
        emu.set_schedule("sideways", 0)
    assert emu.schedule() == "forward"


# ------------------------------------------------------------------ every op under other schedules
@pytest.mark.parametrize("schedule,seed", [("reverse", 0), ("shuffle", 1), ("shuffle", 2)])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_ops_under_schedule(emu, case, schedule, seed):
    """Forward and input gradients (float32, small and odd shapes) against the float64 reference, with the
    threads of each block run in reverse or shuffled order, and bit for bit what the forward order gives:
    a correct kernel's result cannot depend on the order its threads run in between barriers."""
    for size in ("small", "odd"):
        torch.manual_seed(7)
        inputs = case.make(case.shapes[size], torch.float32, "cpu")
        dy = None

        def run():
            y = case.run(*inputs, impl="cuda")
            nonlocal dy
            if dy is None:
                dy = torch.randn_like(y)
            leaves = [t for t in inputs if t.requires_grad]
            return [y.detach(), *torch.autograd.grad(y, leaves, dy, allow_unused=True)]

        emu.set_schedule("forward", 0)
        first = run()
        emu.set_schedule(schedule, seed)
        again = run()
        for i, (a, b) in enumerate(zip(first, again)):
            assert (a is None) == (b is None)
            if a is not None:
                assert torch.equal(a, b), f"{case.name} {size}: result {i} depends on the thread order"
        _compare(case, inputs, case.run(*inputs, impl="cuda"), torch.float32)


# ------------------------------------------------------------------ multi-pass shapes
def _mid(name, shape, **kw):
    c = next(c for c in CASES if c.name == name)
    return pytest.param(Case(c.name, kw.get("make", c.make), c.run, c.ref, {"mid": shape}, c.image),
                        id=f"{name}-{'x'.join(map(str, shape))}")


MID = [
    _mid("bias_act", (2, 300, 5, 7)),
    _mid("upsample2d", (2, 3, 40, 37)),      # 80 x 74 output: 3 x 3 tiles of 32 per plane
    _mid("downsample2d", (2, 3, 70, 67)),    # 35 x 34 output: 2 x 2 tiles
    _mid("filter2d", (1, 2, 45, 70)),        # 2 x 3 tiles
    _mid("modulated_conv2d", (2, 40, 6, 7)),
    _mid("modulated_conv2d_up2", (2, 33, 17, 9)),
    _mid("pixel_norm", (2, 300, 3, 5)),      # the column kernel
    _mid("pixel_norm", (5, 700)),            # the row kernel, 700 channels over 256 threads
    _mid("minibatch_std", (8, 40, 9, 9)),    # 20 * 81 = 1620 features a group over 256 threads
    _mid("grad_sq_norm", (3, 16, 20, 20)),   # 6400 a sample over 1024 threads
    _mid("grad_norm_penalty", (3, 16, 20, 20)),
    _mid("path_length_norm", (3, 14, 150), make=_pl_make),
    _mid("lerp_samples", (3, 16, 20, 20)),   # alpha's gradient: a sum over 6400 a sample
]


@pytest.mark.parametrize("case", MID)
def test_multi_pass_shapes(emu, case):
    emu.set_schedule("shuffle", 5)
    emu.reset_stats()
    inputs = case.make(case.shapes["mid"], torch.float32, "cpu")
    _compare(case, inputs, case.run(*inputs, impl="cuda"), torch.float32)
    s = emu.stats()
    assert s["launches"] >= 2 and s["threads"] >= 256, f"{case.name}: the kernels did not run: {s}"


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
def test_reduction_backward_16bit(emu, dtype):
    """The grad-penalty backward in 16-bit: its per-sample results are float32, the gradient is the input's
    dtype (the kernel once read and wrote both as the dtype of the incoming float32 gradient)."""
    g = _rand((3, 4, 9, 11), dtype, "cpu", 0.3)
    dout = torch.rand(3, dtype=torch.float64) + 0.5
    for fn, ref in ((ops.grad_sq_norm, reference.grad_sq_norm), (ops.path_length_norm, reference.path_length_norm),
                    (lambda t, impl=None: ops.grad_norm_penalty(t, 1.0, impl=impl),
                     lambda t: reference.grad_norm_penalty(t, 1.0, False))):
        out = fn(g, impl="cuda")
        assert out.dtype == torch.float32
        (dg,) = torch.autograd.grad(out, g, dout.float())
        g64 = g.detach().double().requires_grad_()
        (dg64,) = torch.autograd.grad(ref(g64), g64, dout)
        assert dg.dtype == dtype
        err = float((dg.double() - dg64).norm() / dg64.norm())
        assert err < (4e-3 if dtype == torch.float16 else 2e-2), err


# ------------------------------------------------------------------ the backend around the emulator
def test_ops_count_launches(emu):
    x = _rand((2, 5, 6, 7), torch.float32, "cpu")
    emu.reset_stats()
    ops.bias_act(x, act="lrelu", impl="cuda").sum().backward()
    s = emu.stats()
    assert s["launches"] == 2, s  # forward and gradient kernels
    assert s["threads"] >= 2 * x.numel(), s


def test_emulated_cuda_takes_cpu_tensors_only(emu):
    assert B.cuda_emulated() and emu.emulated is True
    why = B.unavailable_reason("cuda", "cuda")
    assert why is not None and "CPU tensors" in why


def test_cuda_on_cpu_tensors_without_emulation_names_the_cause():
    with B.cuda_emulation(False):
        assert not B.cuda_emulated()
        why = B.unavailable_reason("cuda", "cpu")
        assert why is not None and "CUDA tensors" in why
        with pytest.raises(Exception, match="CUDA tensors"):
            ops.pixel_norm(torch.randn(2, 3), impl="cuda")


def test_emulation_context_restores():
    before = B.cuda_emulated()
    with B.cuda_emulation(not before):
        assert B.cuda_emulated() is (not before)
    assert B.cuda_emulated() is before


def test_env_variable_turns_emulation_on(emu):
    code = ("import torch; from fastgan import ops; from fastgan.ops import _backend as B; "
            "x = torch.randn(3, 40); y = ops.pixel_norm(x, impl='cuda'); "
            "print(B.cuda_emulated(), B.cuda_module().__name__, B.cuda_module().stats()['launches'], "
            "float((y - x * x.square().mean(1, keepdim=True).add(1e-8).rsqrt()).abs().max()) < 1e-5)")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "FASTGAN_CUDA_EMU": "1"},
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["True", "fastgan._C_cuda_emu", "1", "True"], out.stdout


# ------------------------------------------------------------------ memcheck (scripts/emu_memcheck.sh)
@pytest.mark.parametrize("case,what", [("out_of_bounds", "AddressSanitizer: heap-buffer-overflow"),
                                       # UBSan's bounds check sees the shared array's index first
                                       ("shared_out_of_bounds", "index 32 out of bounds for type 'float [32]'")])
def test_memcheck_reports_out_of_bounds(emu, case, what):
    """Under scripts/emu_memcheck.sh the emulator is built with AddressSanitizer: a kernel that writes past a
    buffer or past a __shared__ array is stopped with ASan's (or UBSan's) report naming the kernel (run in a child process,
    since ASan ends the process). Without the sanitized build the faulty kernels are not run at all."""
    if not emu.sanitized:
        assert emu.selftest(case).startswith("skipped: "), "a faulty kernel ran without AddressSanitizer"
        return  # the memory check itself runs under scripts/emu_memcheck.sh
    code = f"from fastgan.ops import _backend as B; B.set_cuda_emulation(True); print(B.cuda_module().selftest({case!r}))"
    env = {**os.environ, **{k: os.environ.get(k, "") + ":log_path=stderr" for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS")}}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode != 0, f"{case}: the write past the end went unreported: {out.stdout}"
    assert what in out.stderr, out.stderr[-3000:]
    assert "past_the_end" in out.stderr, out.stderr[-3000:]  # the faulty kernel is named in the stack


MEMCHECK_SUBSET = ("test_cuda_emu or (forward_backward and float32) "
                   "or (forward_backward and bfloat16 and channels_last)")


@pytest.mark.slow
def test_emu_memcheck_script():
    """scripts/emu_memcheck.sh (the emulator under ASan + UBSan) over this file and test_cuda.py's forward and
    backward table in float32 and channels_last bfloat16: no memory error, no undefined behaviour, every test
    passes (the whole table: `bash scripts/emu_memcheck.sh`, about 4 minutes here)."""
    import shutil

    if not shutil.which(os.environ.get("CXX", "g++")):
        pytest.skip("no g++: the sanitized emulator cannot be built")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(["bash", str(root / "scripts" / "emu_memcheck.sh"), "-k", MEMCHECK_SUBSET],
                         cwd=root, env={**os.environ, "PY": sys.executable}, capture_output=True, text=True,
                         timeout=1200)
    tail = (out.stdout + out.stderr)[-4000:]
    assert out.returncode == 0, tail
    assert "ERROR: AddressSanitizer" not in out.stdout + out.stderr and "runtime error:" not in out.stdout, tail
    lines = out.stdout.strip().splitlines()
    assert lines[-1] == "emu_memcheck: no memory error, no undefined behaviour", tail
    summary = lines[-2]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, tail
    assert int(summary.split(" passed")[0].split()[-1]) >= 140, summary
