"""scripts/gpu_check.sh's dry run (--device cpu --tiny): every stage of the GPU run except the GPU itself,
so the script cannot break unseen between GPU runs."""
import csv
import math
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_gpu_check_dry_run(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path), "PYTHON": sys.executable, "OMP_NUM_THREADS": "1",
           "FASTGAN_CUDA_TESTS": "tests/ops/test_cuda.py", "PYTHONPATH": str(ROOT),
           "GPU_CHECK_TOTAL_S": "3000", "GPU_CHECK_BENCH_S": "1500"}  # a slow CI machine must not cut the bench
    env.pop("FASTGAN_REQUIRE_GPU", None)
    r = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--device", "cpu", "--tiny"], cwd=ROOT,
                       env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "all stages passed" in r.stdout
    # the cuda tests were collected, and without a GPU every one skipped
    suite = ET.parse(tmp_path / "cuda-tests.xml").getroot()
    suite = suite if suite.tag == "testsuite" else suite[0]
    assert int(suite.get("tests")) > 100 and int(suite.get("skipped")) == int(suite.get("tests"))
    # the bench wrote its tables: every op, positive finite timings, and the training step per impl
    rows = list(csv.DictReader(open(tmp_path / "results_gpu_ops.csv")))
    assert {r["op"] for r in rows} == {"bias_act", "upfirdn2d", "modulated_conv2d", "pixel_norm", "minibatch_std",
                                       "grad_penalty"}
    for row in rows:
        for k in ("eager_ref_fwd_ms", "eager_ref_fwdbwd_ms", "cpu_fwd_ms", "cpu_fwdbwd_ms"):
            assert math.isfinite(float(row[k])) and float(row[k]) > 0, (row["case"], k)
    assert any(row.get("compiled_ref_fwd_ms") for row in rows)
    train = {r["impl"]: float(r["s_per_kimg"]) for r in csv.DictReader(open(tmp_path / "results_gpu_train.csv"))}
    assert set(train) == {"cpu", "ref"} and all(v > 0 for v in train.values())
    md = (tmp_path / "RESULTS_gpu.md").read_text()
    assert "## Ops" in md and "## StyleGAN2 training step" in md
    assert (tmp_path / "gpu_check.log").stat().st_size > 0


def test_gpu_check_rejects_bad_arguments(tmp_path):
    r = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--device", "tpu"], cwd=ROOT,
                       env={**os.environ, "OUT": str(tmp_path)}, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--device must be cuda or cpu" in r.stderr
