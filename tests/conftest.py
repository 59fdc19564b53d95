import os

# Triton kernels run on CPU tensors in interpreter mode; this must be set before triton is imported.
os.environ.setdefault("TRITON_INTERPRET", "1")


def _inductor_cache_dir() -> str:
    """torch.compile's on-disk cache, one per version of fastgan/ops: its keys do not cover our custom ops'
    fake implementations, so a cache warmed by a checkout whose ops returned other shapes replays kernels
    that assert the old strides. Keyed on the ops' sources, the cache stays warm between runs of one tree."""
    import hashlib
    import tempfile
    from pathlib import Path

    ops = Path(__file__).resolve().parent.parent / "fastgan" / "ops"
    digest = hashlib.sha1(b"".join(p.read_bytes() for p in sorted(ops.rglob("*.py")))).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), f"torchinductor-fastgan-{digest}")


os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", _inductor_cache_dir())

import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(1234)
    yield


REQUIRE_GPU = os.environ.get("FASTGAN_REQUIRE_GPU", "0") == "1"
# scripts/test.sh (CI) builds the CUDA emulator and sets this: an emulator test may not skip there
REQUIRE_EMU = os.environ.get("FASTGAN_REQUIRE_EMU", "0") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With FASTGAN_REQUIRE_GPU=1 (the GPU run, scripts/gpu_check.sh) a `cuda`-marked test that skips
    fails instead, so a GPU run cannot pass by skipping what it exists to check."""
    outcome = yield
    rep = outcome.get_result()
    if REQUIRE_EMU and rep.skipped and item.get_closest_marker("cuda_emu") is not None and not hasattr(rep, "wasxfail"):
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        rep.outcome = "failed"
        rep.longrepr = f"FASTGAN_REQUIRE_EMU=1, but this emulator test skipped: {reason}"
        return
    if REQUIRE_GPU and rep.skipped and item.get_closest_marker("cuda") is not None and not hasattr(rep, "wasxfail"):
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        rep.outcome = "failed"
        rep.longrepr = f"FASTGAN_REQUIRE_GPU=1, but this cuda test skipped: {reason}"
