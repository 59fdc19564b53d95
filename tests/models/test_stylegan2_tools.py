"""StyleGAN2 generation tools through ``fastgan generate`` and the end-of-training truncation grid.

Every picture is checked cell by cell against G.mapping / G.synthesis called by hand on ws mixed,
truncated and interpolated here (not by the tools), read back from the PNG/GIF with PIL."""
import numpy as np
import pytest
import torch
from PIL import Image

from fastgan.models import stylegan2 as sg2
from fastgan.cli import main

from .conftest import QUIET  # noqa: E402

RES, PAD, PSIS = 32, 2, (1.0, 0.7, 0.5, 0.0)
SMALL = {"model.z_dim": 8, "model.w_dim": 8, "model.mapping_layers": 2, "model.channel_base": 128,
         "model.channel_max": 8, "model.resolution": RES, "model.mbstd_group": 2, "model.batch": 4,
         "model.kimg": 1.0, "run.max_steps": 3}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A stylegan2 run of 3 steps on MNIST at 32 px (its checkpoint holds a non-zero w_avg)."""
    from fastgan.train.engine import Trainer

    out = tmp_path_factory.mktemp("sg2") / "run"
    torch.set_num_threads(1)
    t = Trainer("stylegan2", "mnist", overrides={**QUIET, **SMALL, "out": str(out)})
    return t, t.fit(), out


def _u8(img: torch.Tensor) -> np.ndarray:
    """[1, H, W] in [-1, 1] -> uint8 [H, W] (round to nearest, like the writers)."""
    return ((img.double().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)[0].numpy()


def _close(a: np.ndarray, b: np.ndarray) -> None:
    """Equal up to one grey level (batched vs single-image float sums may round apart)."""
    assert a.shape == b.shape
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def _ws(G, seeds, psi=1.0):
    """ws of the seeds (the CLI's seed convention), truncated by hand: w_avg + psi (w - w_avg)."""
    z = torch.cat([torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(s)) for s in seeds])
    with torch.no_grad():
        w = G.mapping(z, update_w_avg=False)
    return G.mapping.w_avg + psi * (w - G.mapping.w_avg)


def _synth(G, ws):
    with torch.no_grad():
        return G.synthesis(ws, noise_mode="const")


def _cell(a: np.ndarray, r: int, c: int, pad: int = PAD) -> np.ndarray:
    y, x = pad + r * (RES + pad), pad + c * (RES + pad)
    return a[y:y + RES, x:x + RES]


def test_truncation_grid_at_end_of_training(run):
    t, s, out = run
    G = t.ema["G"]
    assert G.mapping.w_avg.abs().sum() > 0
    path = s["trunc_grid"]
    assert path == str(out / "samples" / f"truncation-{s['step']:09d}.png")
    a = np.asarray(Image.open(path))
    rows = t.family.truncation_rows
    assert (rows, t.family.truncation_psis) == (8, PSIS)
    assert a.shape == (PAD + rows * (RES + PAD), PAD + len(PSIS) * (RES + PAD))  # 274 x 138
    for j, psi in enumerate(PSIS):
        want = _synth(G, _ws(G, range(rows), psi))
        for i in range(rows):
            _close(_cell(a, i, j), _u8(want[i]))
    # psi = 0: every seed becomes the average image, synthesised from w_avg itself
    avg = _u8(_synth(G, G.mapping.w_avg.expand(1, G.num_ws, -1))[0])
    for i in range(rows):
        _close(_cell(a, i, 3), avg)
    assert not np.array_equal(_cell(a, 0, 0), _cell(a, 1, 0))  # psi = 1: the seeds differ
    # the CLI makes the same grid from the checkpoint
    cli = out.parent / "trunc-cli.png"
    assert main(["generate", "--ckpt", str(out), "--seeds", "0-7", "--trunc-grid", "1,0.7,0.5,0",
                 "--out", str(cli)]) == 0
    _close(np.asarray(Image.open(cli)), a)


def test_cli_trunc_zero_is_the_average_image(run, tmp_path, capsys):
    t, _, out = run
    G = t.ema["G"]
    p = tmp_path / "avg.png"
    assert main(["generate", "--ckpt", str(out), "--seeds", "3,9", "--truncation", "0", "--out", str(p)]) == 0
    a = np.asarray(Image.open(p))
    assert a.shape == (PAD + 1 * (RES + PAD), PAD + 2 * (RES + PAD))  # 2 images: one row of ceil(sqrt(2)) = 2
    avg = _u8(_synth(G, G.mapping.w_avg.expand(1, G.num_ws, -1))[0])
    _close(_cell(a, 0, 0), avg)
    _close(_cell(a, 0, 1), avg)


def test_cli_style_mixing_grid(run, tmp_path, capsys):
    t, _, out = run
    G = t.ema["G"]
    rows, cols, styles, psi = [1, 2], [3, 4, 5], [0, 1, 2], 0.8
    p = tmp_path / "mix.png"
    assert main(["generate", "--ckpt", str(out), "--style-mix", "1,2:3-5", "--styles", "0-2",
                 "--trunc", str(psi), "--out", str(p)]) == 0
    assert "style-mixing grid (2 row seeds x 3 column seeds" in capsys.readouterr().out
    a = np.asarray(Image.open(p))
    assert a.shape == ((1 + len(rows)) * RES, (1 + len(cols)) * RES)  # no padding between cells
    cell = lambda r, c: a[r * RES:(r + 1) * RES, c * RES:(c + 1) * RES]  # noqa: E731
    assert (cell(0, 0) == 0).all()  # the empty corner is black
    ws_r, ws_c = _ws(G, rows, psi), _ws(G, cols, psi)
    for j in range(len(cols)):
        _close(cell(0, 1 + j), _u8(_synth(G, ws_c[j:j + 1])[0]))
    for i in range(len(rows)):
        _close(cell(1 + i, 0), _u8(_synth(G, ws_r[i:i + 1])[0]))
        for j in range(len(cols)):
            mixed = ws_r[i:i + 1].clone()
            mixed[:, styles] = ws_c[j, styles]          # coarse styles from the column seed
            _close(cell(1 + i, 1 + j), _u8(_synth(G, mixed)[0]))
    # a cell really mixes: it differs from both of its sources
    assert not np.array_equal(cell(1, 1), cell(1, 0)) and not np.array_equal(cell(1, 1), cell(0, 1))


def test_cli_interpolation_gif(run, tmp_path, capsys):
    t, _, out = run
    G = t.ema["G"]
    seeds, frames = [1, 2, 3], 4
    p = tmp_path / "walk.gif"
    assert main(["generate", "--ckpt", str(out), "--interpolate", "--seeds", "1-3", "--frames", str(frames),
                 "--duration", "50", "--out", str(p)]) == 0
    assert f"{len(seeds) * frames} frames" in capsys.readouterr().out
    ws = _ws(G, seeds)
    ends = torch.cat([ws, ws[:1]])  # the walk loops back to the first seed
    with Image.open(p) as im:
        assert im.format == "GIF" and im.is_animated
        assert im.n_frames == len(seeds) * frames
        assert im.size == (RES, RES)
        assert im.info.get("loop") == 0
        got = []
        for k in range(im.n_frames):
            im.seek(k)
            got.append(np.asarray(im.convert("L")))
    for k, g in enumerate(got):
        seg, step = divmod(k, frames)
        w = ends[seg] + (step / frames) * (ends[seg + 1] - ends[seg])
        _close(g, _u8(_synth(G, w.unsqueeze(0))[0]))
    _close(got[0], _u8(_synth(G, ws[:1])[0]))        # frame 0 is seed 1's image
    _close(got[frames], _u8(_synth(G, ws[1:2])[0]))  # a segment later: seed 2's


@pytest.mark.parametrize("args, message", [
    (["--interpolate", "--seeds", "1-3", "--out", "walk.png"], "GIF"),
    (["--style-mix", "0-3"], "ROWSEEDS:COLSEEDS"),
    (["--style-mix", "0:1", "--styles", "0-99"], "col_styles"),
    (["--trunc", "1.5"], r"\[0, 1\]"),
    (["--trunc-grid", "1,2"], r"\[0, 1\]"),
    (["--interpolate", "--seeds", "4"], "at least 2 seeds"),
])
def test_cli_generate_errors(run, tmp_path, capsys, args, message):
    _, _, out = run
    argv = ["generate", "--ckpt", str(out), *args]
    if "--out" not in args:
        argv += ["--out", str(tmp_path / ("x.gif" if "--interpolate" in args else "x.png"))]
    assert main(argv) == 2
    import re

    assert re.search(message, capsys.readouterr().err)


def test_style_tools_need_stylegan2(tmp_path, capsys):
    out = str(tmp_path / "tiny")
    assert main(["train", "--model", "tiny", "--data", "digits", "--kimg", "0.016", "--batch", "8", "--out", out,
                 "--threads", "1", "--no-progress", "--set", "tensorboard=false", "--set", "fid=false"]) == 0
    capsys.readouterr()
    assert main(["generate", "--ckpt", out, "--style-mix", "0:1", "--out", str(tmp_path / "m.png")]) == 2
    assert "--style-mix is a mode of stylegan2; the checkpoint holds tiny" in capsys.readouterr().err
    # the truncation grid is generic: other families scale z by psi
    assert main(["generate", "--ckpt", out, "--seeds", "0-2", "--trunc-grid", "1,0.5",
                 "--out", str(tmp_path / "t.png")]) == 0
    assert Image.open(tmp_path / "t.png").size == (PAD + 2 * (8 + PAD), PAD + 3 * (8 + PAD))


@pytest.mark.slow
def test_cli_train_the_readme_demo_reports_fid_and_writes_both_grids(tmp_path):
    """The README demo in miniature: the cpu preset at mnist32's full width through the CLI for 4 steps, FID on."""
    import math
    import re
    import subprocess
    import sys

    out = tmp_path / "demo"
    cmd = [sys.executable, "-m", "fastgan", "train", "--model", "stylegan2", "--preset", "cpu", "--set", "channel_base=1024",
           "--set", "channel_max=64", "--data", "mnist", "--kimg", "0.016", "--batch", "4", "--threads", "1", "--out", str(out), "--no-progress",
           "--set", "tensorboard=false", "--set", "fid_samples=500", "--set", "grid=16"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                         env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr[-2000:]
    text = res.stdout
    m1 = re.search(r"kimg 0\.0: fid_digits (\d+\.\d+)", text)
    m2 = re.search(r"metrics\s+fid_digits = (\d+\.\d+)", text)
    assert m1 and m2, text
    assert math.isfinite(float(m1.group(1))) and float(m1.group(1)) > 0
    assert float(m1.group(1)) == pytest.approx(float(m2.group(1)), abs=0.01)
    samples = out / "samples" / "fakes-000000004.png"
    trunc = out / "samples" / "truncation-000000004.png"
    assert f"samples     {samples}" in text and f"truncation  {trunc}" in text
    # 16 samples: a 4x4 grid; truncation: 8 seeds (rows) x 4 psi values (columns); 32 px cells, 2 px padding
    assert Image.open(samples).size == (2 + 4 * 34, 2 + 4 * 34)
    assert Image.open(trunc).size == (2 + 4 * 34, 2 + 8 * 34)
    assert Image.open(trunc).mode == "L"
