"""fastgan.compat's mechanics: the report, unpatching, patch-on-import, rebinding copies, no JIT build."""
import importlib
import logging
import subprocess
import sys
import types

import pytest
import torch

import fastgan.compat as fc


def test_report_lists_replaced_left_and_blocked(nv, caplog):
    caplog.set_level(logging.INFO, logger="fastgan.compat")
    r = fc.patch("stylegan2-ada", impl="cpu")
    assert r.codebase == "stylegan2-ada" and r.impl == "cpu"
    ops = "torch_utils.ops."
    assert set(r.replaced) == {ops + "bias_act.bias_act", ops + "upfirdn2d.upfirdn2d", ops + "upfirdn2d.setup_filter",
                               ops + "upfirdn2d.filter2d", ops + "upfirdn2d.upsample2d", ops + "upfirdn2d.downsample2d",
                               ops + "conv2d_resample.conv2d_resample", ops + "fma.fma",
                               "training.networks.modulated_conv2d"}
    assert {ops + "conv2d_gradfix.conv2d", ops + "conv2d_gradfix.conv_transpose2d"} <= set(r.left)
    assert {ops + "bias_act._init", ops + "upfirdn2d._init", "torch_utils.custom_ops.get_plugin"} <= set(r.blocked)
    line = [rec.getMessage() for rec in caplog.records if rec.name == "fastgan.compat"]
    assert line and "replaced 9" in line[0] and "conv2d_gradfix.conv2d" in line[0]
    assert fc.active() == {"stylegan2-ada": r}
    assert fc.patch("stylegan2-ada", impl="cpu") is r  # idempotent


def test_unpatch_restores_the_original_objects(nv):
    names = {(nv.bias_act, "bias_act"), (nv.bias_act, "_init"), (nv.upfirdn2d, "upfirdn2d"),
             (nv.upfirdn2d, "setup_filter"), (nv.upfirdn2d, "filter2d"), (nv.upfirdn2d, "upsample2d"),
             (nv.upfirdn2d, "downsample2d"), (nv.upfirdn2d, "_init"), (nv.conv2d_resample, "conv2d_resample"),
             (nv.fma, "fma"), (nv.custom_ops, "get_plugin"), (nv.networks, "modulated_conv2d")}
    before = {(m.__name__, a): getattr(m, a) for m, a in names}
    fc.patch("stylegan2-ada")
    assert all(getattr(m, a) is not before[(m.__name__, a)] for m, a in names)
    restored = fc.unpatch("stylegan2-ada")
    assert len(restored) >= len(names)
    assert all(getattr(m, a) is before[(m.__name__, a)] for m, a in names)
    assert fc.active() == {}
    assert not getattr(torch.utils.cpp_extension.load, "_fastgan_compat_guard", False)


def test_context_manager_unpatches_on_error(nv):
    original = nv.bias_act.bias_act
    with pytest.raises(KeyError):
        with fc.patched("stylegan2-ada") as r:
            assert nv.bias_act.bias_act is not original and "torch_utils.ops.bias_act.bias_act" in r.replaced
            raise KeyError("boom")
    assert nv.bias_act.bias_act is original and fc.active() == {}


def test_copies_bound_elsewhere_are_rebound_and_restored(nv):
    user = types.ModuleType("user_code_of_the_test")
    user.upfirdn2d = nv.upfirdn2d.upfirdn2d  # what `from torch_utils.ops.upfirdn2d import upfirdn2d` binds
    sys.modules[user.__name__] = user
    try:
        original = user.upfirdn2d
        fc.patch("stylegan2-ada")
        assert user.upfirdn2d is nv.upfirdn2d.upfirdn2d and user.upfirdn2d is not original
        fc.unpatch()
        assert user.upfirdn2d is original
    finally:
        del sys.modules[user.__name__]


def test_modules_imported_after_the_patch_are_patched_on_import(nvidia_path, spy):
    r = fc.patch("stylegan2-ada")
    assert "torch_utils.ops.bias_act" in r.pending and r.replaced == []
    ba = importlib.import_module("torch_utils.ops.bias_act")
    assert "torch_utils.ops.bias_act.bias_act" in r.replaced and "torch_utils.ops.bias_act" not in r.pending
    x = torch.randn(3, 4)
    ba.bias_act(x, act="relu")
    assert spy["bias_act"] == 1 and ba.CALLS["bias_act"] == 0
    assert ba.__loader__.__class__.__name__ != "_Loader"  # the module keeps its own loader
    fc.unpatch()
    ba.bias_act(x, act="relu")
    assert ba.CALLS["bias_act"] == 1


def test_no_plugin_is_ever_built(nv, tripwire):
    """The _init() plugin loaders return False without asking custom_ops; get_plugin and cpp_extension.load,
    called from the code base (even through a reference held from before the patch), refuse to build."""
    held_get_plugin = nv.custom_ops.get_plugin
    fc.patch("stylegan2-ada")
    assert nv.bias_act._init() is False and nv.upfirdn2d._init() is False
    assert nv.custom_ops.CALLS["get_plugin"] == 0
    with pytest.raises(RuntimeError, match="fastgan.compat blocks the JIT build"):
        nv.custom_ops.get_plugin("bias_act_plugin", sources=[])
    with pytest.raises(RuntimeError, match="fastgan.compat blocks cpp_extension.load"):
        held_get_plugin("bias_act_plugin", sources=[])
    assert tripwire == []
    # the guard is specific to the code base: other callers still reach cpp_extension.load
    torch.utils.cpp_extension.load("someone_elses_ext", sources=[])
    assert tripwire == ["someone_elses_ext"]
    fc.unpatch()
    held_get_plugin("bias_act_plugin", sources=[])  # unpatched, the original loader runs (into the tripwire)
    assert tripwire[-1] == "bias_act_plugin"


def test_stylegan3_filtered_lrelu_left_but_its_plugin_disabled(nvidia_path, spy, ref):
    flr = importlib.import_module("torch_utils.ops.filtered_lrelu")
    importlib.import_module("training.networks_stylegan3")
    r = fc.patch("stylegan3")
    assert "torch_utils.ops.filtered_lrelu.filtered_lrelu" in r.left
    assert "training.networks_stylegan3.modulated_conv2d" in r.left
    assert "torch_utils.ops.filtered_lrelu._init" in r.blocked and flr._init() is False
    assert flr.CALLS["_init"] == 0
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64)
    f = torch.tensor([1.0, 3.0, 3.0, 1.0]) / 8
    y = flr.filtered_lrelu(x, fu=f, fd=f, up=2, down=2, padding=[2, 1, 2, 1], clamp=0.5)
    assert spy["bias_act"] == 2 and spy["upfirdn2d"] == 2  # its reference route runs on fastgan
    z = ref.upfirdn2d(x, f.double(), up=2, padding=[2, 1, 2, 1], gain=4)
    z = ref.upfirdn2d(ref.bias_act(z, None, 1, "lrelu", 0.2, 2 ** 0.5, 0.5), f.double(), down=2)
    torch.testing.assert_close(y, z, atol=1e-12, rtol=0)
    mc = importlib.import_module("training.networks_stylegan2")
    assert "training.networks_stylegan2.modulated_conv2d" in r.replaced
    mc.modulated_conv2d(torch.randn(2, 3, 4, 4), torch.randn(4, 3, 3, 3), torch.rand(2, 3) + 1, padding=1)
    assert spy["modulated_conv2d"] == 1


def test_signature_mismatch_is_left_and_reported(nv):
    def modulated_conv2d(x, w, s, demodulate=True):  # some other project's function of the same name
        return x

    nv.networks.modulated_conv2d = modulated_conv2d
    r = fc.patch("stylegan2-ada")
    assert nv.networks.modulated_conv2d is modulated_conv2d
    assert "signature" in r.left["training.networks.modulated_conv2d"]


def test_bad_arguments(nv):
    with pytest.raises(ValueError, match="codebase must be one of"):
        fc.patch("stylegan4")
    with pytest.raises(ValueError, match="impl must be one of"):
        fc.patch("stylegan2-ada", impl="fast")
    with pytest.raises(TypeError, match="codebase"):
        fc.patch(3)
    fc.patch("stylegan2-ada")
    with pytest.raises(ValueError, match="unpatch"):
        fc.patch("stylegan3")


def test_detect_and_auto(nvidia_path, rosinality_path, tmp_path):
    from .conftest import STANDINS

    assert fc.detect([str(tmp_path)]) is None
    assert fc.detect([str(STANDINS / "rosinality")]) == "rosinality"
    assert fc.detect([str(STANDINS / "nvidia")]) == "stylegan3"  # it has filtered_lrelu.py
    assert fc.patch("auto").codebase == fc.detect()


def test_repatch_with_another_impl(nv, spy):
    fc.patch("stylegan2-ada", impl="cpu")
    r = fc.patch("stylegan2-ada", impl="ref")
    assert r.impl == "ref" and nv.bias_act.bias_act._fastgan_impl == "ref"
    fc.unpatch()
    assert not hasattr(nv.bias_act.bias_act, "_fastgan_impl")


@pytest.mark.slow
@pytest.mark.parametrize("how", ["env", "run"])
def test_environment_routes(nvidia_path, tmp_path, how):
    """FASTGAN_PATCH through the shipped .pth line (processed as the interpreter's site step does) and
    `python -m fastgan.compat run script.py`: the script sees fastgan's ops without importing fastgan."""
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    script = tmp_path / "train.py"
    script.write_text("import sys\nsys.path.insert(0, %r)\n" % nvidia_path
                      + "from torch_utils.ops import bias_act, upfirdn2d\n"
                      "import torch\n"
                      "impl = getattr(bias_act.bias_act, '_fastgan_impl', None)\n"
                      "print('SHIM', impl, impl and bias_act._init(), sys.argv[1:])\n")
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("FASTGAN_PATCH")}
    env["PYTHONPATH"] = str(repo)
    env["OMP_NUM_THREADS"] = "1"
    if how == "env":
        site = tmp_path / "site"
        site.mkdir()
        pth = (repo / "fastgan" / "compat" / "fastgan-compat.pth").read_text()
        (site / "fastgan-compat.pth").write_text(pth)
        env["FASTGAN_PATCH"] = "stylegan2-ada"
        env["FASTGAN_PATCH_IMPL"] = "ref"
        cmd = [sys.executable, "-c", f"import site; site.addsitedir({str(site)!r}); "
               f"import runpy, sys; sys.argv = [{str(script)!r}, '--x', '1']; "
               "runpy.run_path(sys.argv[0], run_name='__main__')"]
    else:
        cmd = [sys.executable, "-m", "fastgan.compat", "run", "--codebase", "stylegan2-ada", "--impl", "ref",
               str(script), "--x", "1"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "SHIM ref False ['--x', '1']" in out.stdout, out.stdout + out.stderr
    assert "fastgan.compat: stylegan2-ada" in out.stderr  # the report line, never silent

    if how == "env":  # inert without the variable
        env.pop("FASTGAN_PATCH")
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0 and "SHIM None" in out.stdout, out.stdout + out.stderr


@pytest.mark.slow
@pytest.mark.parametrize("hook", ["build_editable", "build_wheel"])
def test_the_pth_hook_is_installed_with_the_package(tmp_path, hook):
    """The PEP 517/660 hooks (what `pip install .` and `pip install -e .` call) put fastgan-compat.pth at the
    root of the wheel, i.e. into site-packages."""
    import zipfile
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    code = (f"from setuptools import build_meta; print(build_meta.{hook}({str(tmp_path)!r}))")
    env = dict(__import__("os").environ, FASTGAN_BUILD_NATIVE="0")  # the .pth's placement needs no native build
    out = subprocess.run([sys.executable, "-c", code], cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    wheel = tmp_path / out.stdout.strip().splitlines()[-1]
    with zipfile.ZipFile(wheel) as z:
        assert z.read("fastgan-compat.pth") == (repo / "fastgan" / "compat" / "fastgan-compat.pth").read_bytes()
        record = next(n for n in z.namelist() if n.endswith(".dist-info/RECORD"))
        assert "fastgan-compat.pth," in z.read(record).decode()
