"""`fastgan bench` runs the checkout's benchmark scripts; a command whose module cannot import is listed
and says why instead of vanishing."""
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fastgan import bench_cli, cli, models

ROOT = Path(__file__).resolve().parent.parent


def _fastgan(*args, env=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "fastgan", *args], capture_output=True, text=True, env=env,
                          timeout=300, cwd=ROOT)


def test_every_command_module_imports():
    assert cli.unavailable_commands() == {}


@pytest.mark.parametrize("name", sorted(bench_cli.BENCHES))
def test_bench_help_works(name, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["bench", name, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert f"benchmarks/{bench_cli.BENCHES[name][0]}" in out and f"fastgan bench {name}" in out


def test_bench_ops_help_from_the_command_line_and_the_scripts_own_options():
    r = _fastgan("bench", "ops", "--help")
    assert r.returncode == 0 and "bench_ops.py" in r.stdout, r.stderr
    r = _fastgan("bench", "ops", "--", "--help")
    assert r.returncode == 0 and "--ops" in r.stdout and "--no-write" in r.stdout, r.stderr


def test_arguments_pass_through_to_the_script(tmp_path):
    """A real (tiny) run: the arguments reach bench_ops.py, which prints its pixel_norm table."""
    r = _fastgan("bench", "ops", "--ops", "pixel_norm", "--repeat", "1", "--no-compile", "--no-write",
                 env={"OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-2000:]
    assert "## pixel_norm" in r.stdout and "[4096, 512]" in r.stdout


def test_split_argv():
    assert bench_cli.split_argv(["bench", "ops", "--ops", "x"]) == (["bench", "ops"], ["--ops", "x"])
    assert bench_cli.split_argv(["bench", "ops", "--", "--help"]) == (["bench", "ops"], ["--help"])
    assert bench_cli.split_argv(["bench", "ops", "-h"]) == (["bench", "ops", "-h"], [])
    assert bench_cli.split_argv(["train", "--kimg", "1"]) == (["train", "--kimg", "1"], [])


def test_missing_benchmarks_folder_says_where_it_looked(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FASTGAN_BENCHMARKS", str(tmp_path))
    monkeypatch.setattr(bench_cli, "__file__", str(tmp_path / "site" / "fastgan" / "bench_cli.py"))
    assert cli.main(["bench", "train"]) == 2
    err = capsys.readouterr().err
    assert "FASTGAN_BENCHMARKS" in err and str(tmp_path) in err


def test_a_command_whose_module_fails_to_import_says_why(monkeypatch, capsys):
    real = importlib.import_module

    def fake(name, *a, **k):
        if name == "fastgan.metrics.cli":
            raise ModuleNotFoundError("No module named 'somedep'", name="somedep")
        return real(name, *a, **k)

    monkeypatch.setattr(cli.importlib, "import_module", fake)
    assert "metrics" in cli.unavailable_commands()
    help_text = cli.build_parser().format_help()
    assert "metrics" in help_text and "unavailable" in help_text
    assert cli.main(["metrics", "--real", "a", "--fake", "b"]) == 2
    err = capsys.readouterr().err
    assert "unavailable" in err and "somedep" in err and "fastgan.metrics.cli" in err


def _bench_module(name):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


def _sweep_module():
    return _bench_module("sweep_family")


def test_a_stopped_family_run_writes_no_row(tmp_path, monkeypatch):
    """A bench run stopped by a signal (the trainer returns status "stopped by ...") raises instead of
    writing its partial row, grid or curve over the family's published ones."""
    bf = _bench_module("bench_families")
    from fastgan.train import Trainer

    monkeypatch.setattr(bf, "GRIDS", str(tmp_path))
    real_fit = Trainer.fit

    def stopped_fit(self):
        self._stop = "SIGTERM"            # what the signal handler sets: the loop stops after this step
        return real_fit(self)
    monkeypatch.setattr(Trainer, "fit", stopped_fit)
    with pytest.raises(RuntimeError, match="stopped by SIGTERM.*no row written"):
        bf.run_image("mlp", "mlp", "mlp", "cpu", {"batch": 16}, threads=1, scale=0.0001)
    assert os.listdir(tmp_path) == []


def test_sweep_set_values_parse_as_json_else_strings():
    sw = _sweep_module()
    assert sw.parse_set(["lr=0.005", "augment=none", "cond=true", "betas=[0.5, 0.9]"]) == {
        "lr": 0.005, "augment": "none", "cond": True, "betas": [0.5, 0.9]}
    with pytest.raises(ValueError, match="--set takes KEY=VALUE"):
        sw.parse_set(["lr"])


@pytest.mark.parametrize("args, match", [(["--kimg", "0"], "--kimg"), (["--kimg", "1", "--samples", "700"], "--samples")])
def test_sweep_rejects_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        _sweep_module().main(["--model", "mlp", *args])


def test_sweep_writes_one_row_per_point(tmp_path, monkeypatch):
    sw = _sweep_module()
    monkeypatch.setattr(sw, "OUT", str(tmp_path))
    sw.main(["--model", "mlp", "--kimg", "0.128", "--points", "2", "--samples", "500", "--set", "lr_g=0.0007",
             "--name", "t"])
    rows = [json.loads(line) for line in open(tmp_path / "mlp-t.jsonl")]
    assert [r["kimg"] for r in rows] == [0.064, 0.128]
    for r in rows:
        assert r["overrides"] == {"lr_g": 0.0007} and len(r["histogram"]) == 10 and sum(r["histogram"]) == 500
        assert r["preset"] == "cpu" and r["preset_values"] == models.get("mlp").preset("cpu")
        assert r["classes"] == sum(h >= 10 for h in r["histogram"]) and r["fid"] > 0
