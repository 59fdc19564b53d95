"""``fastgan train``, ``fastgan generate`` and ``fastgan profile``."""
from __future__ import annotations

import argparse
import os

import torch
import torch.distributed as dist
from torch.profiler import ProfilerActivity, profile, record_function

from .. import models
from ..data import save_grid
from ..family.config import load_yaml, parse_set
from ..family.sampling import best_of, generate, parse_floats, parse_seeds, truncation_images
from ..ops import _backend
from ..ops.profiling import use_nvtx
from . import ddp
from .engine import Trainer
from .metrics_hook import fid_status

__all__ = ["register"]

_TRAIN_EPILOG = """\
The model's recipe supplies every default; --config (YAML) and --set key=value
override any recipe or run field (model.<field> / run.<field> when ambiguous),
e.g. --set lr_g=1e-4 --set betas=[0.0,0.99] --set amp=bf16.
--batch is the total batch over all processes: under torchrun each of W
processes gets batch/W.  SIGTERM/SIGINT save a checkpoint and exit; continue
with --resume DIR (or --resume latest for the run in --out)."""


_GENERATE_EPILOG = """\
Seed s always names the image of the latent torch.Generator().manual_seed(s).
  fastgan generate --ckpt RUN --seeds 0-15 --trunc 0.7 --out samples.png
  fastgan generate --ckpt RUN --n 64 --best-of 16 --out best.png   (the 64 of 1,024 samples D scores highest)
  fastgan generate --ckpt RUN --seeds 0-7 --trunc-grid 1,0.7,0.5,0 --out truncation.png
  fastgan generate --ckpt RUN --style-mix 0-4:10-15 --styles 0-3 --out mix.png    (a family's mode)
  fastgan generate --ckpt RUN --interpolate --seeds 0-3 --frames 16 --out walk.gif  (a family's mode)
--style-mix and --interpolate are modes of the families that list them in
generate_modes (stylegan2); --trunc also applies to them.
Image-to-image models translate images (an image file, a folder or a zip; any size):
  fastgan generate --ckpt RUN --input photos/ --direction AtoB --out translated/   (cyclegan: AtoB|BtoA)
  fastgan generate --ckpt RUN --input small/ --out upscaled/                        (srgan: x scale)
Sequence models print decoded text (or write it to --out):
  fastgan generate --ckpt RUN --n 20 --temperature 0.9                              (seqgan)"""


def _add_run_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help="model family (default: fastgan.models.DEFAULT; --list-models in train)")
    p.add_argument("--data", default=None, help="mnist | digits (scikit-learn's 8x8; cyclegan: MNIST <-> MNIST-M) | iris | wine | "
                   "breast_cancer | diabetes | autompg | penguins (ctgan's tables) | photos (srgan) | PATH: a "
                   "folder, zip, .npy, .csv, or .txt of lines (each family says what it reads)")
    p.add_argument("--batch", type=int, default=None, help="total batch over all processes")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--device", default=None, help="auto | cpu | cuda[:N]")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--config", default=None, help="YAML file of key: value overrides")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a field (repeatable)")
    p.add_argument("--loss", default=None, help="adversarial loss of families that take one (minimax, ns, ls, hinge, "
                   "wasserstein; see fastgan.losses)")
    p.add_argument("--preset", default=None, help="the family's named preset of overrides, below --config/--set "
                   "(every family: cpu; most: paper; stylegan2: mnist32, cifar, paper256)")


def register(subparsers) -> None:
    t = subparsers.add_parser("train", help="train a GAN", epilog=_TRAIN_EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_run_flags(t)
    t.add_argument("--kimg", type=float, default=None, help="training length in thousands of real images")
    t.add_argument("--out", default=None, help="run directory (default: runs/<model>-<data>)")
    t.add_argument("--resume", default=None, metavar="DIR|FILE|latest", help="continue a run")
    t.add_argument("--amp", default=None, choices=("off", "bf16", "fp16"))
    t.add_argument("--overwrite", action="store_true", help="replace an earlier run's files in --out")
    t.add_argument("--skip-bad-files", action="store_true", help="skip unreadable/mismatched files and count them")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument("--truncate", action="store_true", help="sequence families: cut sequences longer than "
                   "max_len instead of failing")
    t.add_argument("--list-models", action="store_true", help="list the model families and exit")
    t.add_argument("--init-from", default=None, metavar="CKPT", help="initialise the networks from this checkpoint "
                   "or run directory (the recipe's init)")
    t.add_argument("--finetune", default=None, help="fine-tuning method of families that have one: full | freezed | "
                   "scale-shift | l2sp | distill | minegan (see fastgan.models.finetune)")
    t.add_argument("--augment", default=None, choices=("none", "diffaug", "ada"),
                   help="augmentation of every image D sees (the recipe's augment)")
    t.set_defaults(func=cmd_train)

    g = subparsers.add_parser("generate", help="images from a checkpoint", epilog=_GENERATE_EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    g.add_argument("--ckpt", required=True, help="checkpoint file or run directory (latest checkpoint)")
    g.add_argument("--n", type=int, default=None, help="number of images, seeds 0..n-1 unless --seeds "
                   "(default 64; 4 with --interpolate)")
    g.add_argument("--seeds", default=None, help="e.g. 0-63 or 1,5,9")
    g.add_argument("--trunc", "--truncation", dest="trunc", type=float, default=None,
                   help="truncation psi in [0, 1] (stylegan2: 0 is the average image)")
    g.add_argument("--temperature", type=float, default=None,
                   help="sequence models (seqgan): sampling temperature > 0 (default: the run's, 1.0); below 1 "
                        "trades diversity for likelier sequences")
    g.add_argument("--labels", default=None, help="class labels for conditional models, one per image or cycled "
                   "(e.g. 0-9 or 3,3,7); default: 0,1,2,... cycled")
    mode = g.add_mutually_exclusive_group()
    mode.add_argument("--trunc-grid", default=None, metavar="PSIS",
                      help="truncation grid: rows = seeds, columns = these psi values (e.g. 1,0.7,0.5,0)")
    mode.add_argument("--style-mix", default=None, metavar="ROWSEEDS:COLSEEDS",
                      help="stylegan2 style-mixing grid, e.g. 0-4:10-15 (see --styles)")
    mode.add_argument("--instance", default=None, metavar="IMAGE",
                      help="instance-conditioned models (icgan): --n samples around this image file")
    mode.add_argument("--interpolate", action="store_true",
                      help="stylegan2: an animated GIF walking through the seeds' ws and back (--frames per seed)")
    mode.add_argument("--input", default=None, metavar="IMAGE|DIR|ZIP",
                      help="image-to-image models: translate (cyclegan, with --direction) or upscale (srgan) "
                           "these images into PNGs under --out (default translated/)")
    g.add_argument("--direction", default=None, metavar="AtoB|BtoA",
                   help="cyclegan with --input: G_AB (AtoB, also AB) or G_BA (BtoA, also BA)")
    g.add_argument("--styles", default="0-3", help="--style-mix: layers (ws) taken from the column seeds "
                   "(default 0-3, the coarse styles)")
    g.add_argument("--frames", type=int, default=16, help="--interpolate: frames per seed-to-seed segment")
    g.add_argument("--duration", type=int, default=80, help="--interpolate: ms per frame")
    g.add_argument("--condition", default=None, metavar="COLUMN=VALUE",
                   help="table models: only rows of this category (with --out NAME.csv)")
    g.add_argument("--out", default=None, help="file to write (default grid.png, truncation.png, style-mix.png "
                   "or interpolation.gif; NAME.csv: table rows); with --input a folder (default translated/) "
                   "or, for one image, NAME.png")
    g.add_argument("--best-of", type=int, default=None, metavar="N",
                   help="best-of-N sampling: draw N candidates per image kept and keep those the checkpoint's "
                        "discriminator D scores highest, best first (candidates: --seeds, or seeds 0..N*n-1; "
                        "keeps len(seeds) / N); the Keras DCGAN of dcgan-mnist kept the best 64 of 16 x 64")
    g.add_argument("--no-ema", action="store_true", help="use the raw generator instead of its EMA")
    g.add_argument("--device", default="cpu")
    g.set_defaults(func=cmd_generate)

    p = subparsers.add_parser("profile", help="torch.profiler over a few training steps")
    _add_run_flags(p)
    p.add_argument("--steps", type=int, default=10, help="profiled steps (after 2 warm-up steps)")
    p.add_argument("--out", default="runs/profile", help="directory for trace.json")
    p.add_argument("--top", type=int, default=20, help="rows of the top-ops table")
    p.add_argument("--nvtx", action="store_true", help="NVTX ranges per stage/phase (CUDA; see them in Nsight Systems)")
    p.set_defaults(func=cmd_profile)


def _overrides(args) -> dict:
    ov = load_yaml(args.config) if args.config else {}
    for flag, key in (("batch", "model.batch"), ("kimg", "model.kimg"), ("seed", "run.seed"),
                      ("device", "run.device"), ("threads", "run.threads"), ("amp", "run.amp")):
        if getattr(args, flag, None) is not None:
            ov[key] = getattr(args, flag)
    if getattr(args, "loss", None) is not None:
        ov["model.loss"] = args.loss
    for flag, key in (("init_from", "model.init"), ("finetune", "model.finetune"), ("augment", "model.augment")):
        if getattr(args, flag, None) is not None:
            ov[key] = getattr(args, flag)
    if getattr(args, "truncate", False):
        ov["model.truncate"] = True
    if getattr(args, "overwrite", False):
        ov["run.overwrite"] = True
    if getattr(args, "no_progress", False):
        ov["run.progress"] = False
    ov.update(parse_set(args.set))
    return ov


def cmd_train(args) -> int:
    if args.list_models:
        for name, desc in models.describe():
            print(f"{name:16s} {desc} (presets: {', '.join(models.get(name).presets)})")
        return 0
    ov = _overrides(args)
    resume = args.resume
    model = args.model or (None if resume else models.DEFAULT)
    data = args.data or (None if resume else "mnist")
    out = args.out or (None if resume and resume != "latest" else
                       os.path.join("runs", f"{model or models.DEFAULT}-{os.path.basename(os.path.normpath(data or 'mnist'))}"))
    if out is not None:
        ov["run.out"] = out
    if resume == "latest":
        resume = out
    if args.skip_bad_files:
        ov["run.skip_bad_files"] = True
    trainer = Trainer(model, data, overrides=ov, resume=resume, preset=args.preset)
    summary = trainer.fit()
    if trainer.rank == 0:
        _print_summary(summary)
    if ddp.is_distributed():
        dist.destroy_process_group()
    return 0


def _print_summary(s: dict) -> None:
    print(f"{s['status']}: step {s['step']}, {s['kimg']:.1f} kimg in {s['seconds']:.0f} s")
    for key, label in (("checkpoint", "checkpoint"), ("grid", "samples"), ("trunc_grid", "truncation"),
                       ("loss_plot", "loss plot"), ("metric_plot", "FID curve")):
        if s.get(key):
            print(f"{label:11s} {s[key]}")
    print(f"{'logs':11s} {os.path.join(s['out'], 'scalars.csv')} (+ tensorboard/)")
    if s["metrics"]:
        print("metrics    " + ", ".join(f"{k} = {v:.2f}" for k, v in s["metrics"].items()))
    elif s["status"] == "done":
        print(fid_status() or "metrics: none computed (FID runs for mnist/digits data, or with --set fid_kimg=K)")
    if s["status"] != "done":
        print(f"resume with: fastgan train --resume {s['out']}")


def _label_list(family, text) -> list[int] | None:
    """The classes of ``--labels`` for a conditional family, checked, or None."""
    if not text:
        return None
    if not family.conditional:
        raise ValueError(f"--labels: model {family.name} is not class-conditional")
    want = parse_seeds(text)
    k = family.data.num_classes
    bad = [c for c in want if not 0 <= c < k]
    if bad:
        raise ValueError(f"--labels: {bad} out of range for {k} classes")
    return want


def _labels_for(family, text, n):
    """Class labels for ``n`` images of a conditional family from ``--labels`` (cycled), or None."""
    want = _label_list(family, text)
    return None if want is None else torch.tensor([want[i % len(want)] for i in range(n)], dtype=torch.long)


def _condition(text):
    """``--condition COLUMN=VALUE`` -> ``{COLUMN: VALUE}``, or None."""
    if text is None:
        return None
    col, sep, val = text.partition("=")
    if not sep or not col.strip():
        raise ValueError(f"--condition must look like COLUMN=VALUE, got {text!r}")
    return {col.strip(): val.strip()}


def cmd_generate(args) -> int:
    if args.n is not None and args.n < 1:
        raise ValueError(f"--n must be >= 1, got {args.n}")
    if args.trunc is not None and not 0 <= args.trunc <= 1:
        raise ValueError(f"--trunc must be in [0, 1], got {args.trunc}")
    if args.temperature is not None and not args.temperature > 0:
        raise ValueError(f"--temperature must be > 0, got {args.temperature}")
    default_n = 4 if args.interpolate else 64
    if args.best_of is not None:
        return _generate_best_of(args)
    seeds = parse_seeds(args.seeds) if args.seeds else list(range(args.n or default_n))
    out = args.out or ("truncation.png" if args.trunc_grid else "style-mix.png" if args.style_mix
                       else "interpolation.gif" if args.interpolate else "translated" if args.input
                       else "grid.png")
    if args.interpolate and not out.lower().endswith(".gif"):
        raise ValueError(f"--interpolate writes an animated GIF: give --out NAME.gif, got {out!r}")
    if args.direction is not None and args.input is None:
        raise ValueError("--direction goes with --input (the images to translate)")
    if args.input is not None and not os.path.exists(args.input):
        raise ValueError(f"--input {args.input}: no such image, folder or zip")
    pair = models.load_generator(args.ckpt, device=args.device, ema=not args.no_ema)
    family, G = pair
    psi = 1.0 if args.trunc is None else args.trunc
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)

    rows = args.condition is not None or out.lower().endswith(".csv")
    mode = ("style-mix" if args.style_mix else "interpolate" if args.interpolate
            else "instance" if args.instance else "translate" if args.input else "rows" if rows else None)
    if mode is None and "text" in family.generate_modes:   # sequence families print decoded samples
        mode, out = "text", args.out or "-"
    if args.temperature is not None and mode != "text":
        raise ValueError(f"--temperature is for sequence models (seqgan); the checkpoint holds {family.name}"
                         + (f" and --{mode} was asked" if mode else ""))
    if mode is not None:
        if mode not in family.generate_modes:
            having = [n for n in models.names() if mode in models.get(n).generate_modes]
            flag = {"rows": "--out NAME.csv (table rows)", "translate": "--input"}.get(mode, f"--{mode}")
            raise ValueError(f"{flag} is a mode of {', '.join(having) or 'no model'}; the checkpoint "
                             f"holds {family.name}, whose modes are: {', '.join(family.generate_modes) or 'none'}")
        if mode == "interpolate" and args.labels:
            raise ValueError("--interpolate does not take --labels (a conditional model interpolates class 0)")
        what = family.render(G, mode, out, spec=args.style_mix, seeds=seeds, styles=parse_seeds(args.styles),
                             psi=psi, frames=args.frames, duration=args.duration,
                             labels=_label_list(family, args.labels), instance=args.instance,
                             condition=_condition(args.condition), input=args.input, direction=args.direction,
                             temperature=args.temperature)
        if out != "-":
            print(f"wrote {what} from {args.ckpt} to {out}")
        return 0

    labels = _labels_for(family, args.labels, len(seeds))
    if args.trunc_grid:
        if args.trunc is not None:
            raise ValueError("--trunc-grid gives the psi values itself; drop --trunc")
        psis = parse_floats(args.trunc_grid)
        bad = [p for p in psis if not 0 <= p <= 1]
        if bad:
            raise ValueError(f"--trunc-grid: psi values must be in [0, 1], got {bad}")
        imgs = truncation_images(pair, seeds, psis, labels=labels, device=args.device)
        if imgs.ndim != 4:
            raise ValueError(f"model {family.name} does not make images (output shape {tuple(imgs.shape)})")
        save_grid(imgs, out, nrow=len(psis))
        print(f"wrote a truncation grid ({len(seeds)} seeds x psi {','.join(f'{p:g}' for p in psis)}) "
              f"from {args.ckpt} to {out}")
        return 0
    imgs = generate(pair, seeds, trunc=args.trunc, labels=labels, device=args.device)
    if imgs.ndim != 4:
        raise ValueError(f"model {family.name} does not make images (output shape {tuple(imgs.shape)})")
    save_grid(imgs, out)
    print(f"wrote {len(seeds)} images ({'x'.join(map(str, imgs.shape[1:]))}) from {args.ckpt} to {out}")
    return 0


def _generate_best_of(args) -> int:
    """``fastgan generate --best-of N``: the len(seeds) / N candidates D scores highest."""
    n_best = args.best_of
    if isinstance(n_best, bool) or n_best < 1:
        raise ValueError(f"--best-of must be >= 1, got {n_best}")
    other = [f for f, v in (("--trunc-grid", args.trunc_grid), ("--style-mix", args.style_mix),
                            ("--instance", args.instance), ("--interpolate", args.interpolate),
                            ("--input", args.input), ("--condition", args.condition)) if v]
    if other:
        raise ValueError(f"--best-of makes a grid of plain samples; it does not go with {', '.join(other)}")
    if args.seeds:
        seeds = parse_seeds(args.seeds)
        if len(seeds) < n_best:
            raise ValueError(f"--best-of {n_best} needs at least {n_best} candidate --seeds, got {len(seeds)}")
    else:
        seeds = list(range((args.n or 64) * n_best))
    keep = len(seeds) // n_best
    family, nets, _ = models.load_networks(args.ckpt, device=args.device, ema=not args.no_ema)
    if "D" not in nets:
        raise ValueError(f"--best-of ranks samples with the discriminator D; model {family.name} has the "
                         f"networks {', '.join(sorted(nets))}")
    labels = _labels_for(family, args.labels, len(seeds))
    imgs, scores, kept = best_of((family, nets[family.generator_net]), nets["D"], seeds, keep,
                                 trunc=args.trunc, labels=labels, device=args.device)
    if imgs.ndim != 4:
        raise ValueError(f"model {family.name} does not make images (output shape {tuple(imgs.shape)})")
    out = args.out or "grid.png"
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    save_grid(imgs, out)
    print(f"wrote the {keep} of {len(seeds)} candidates that D scores highest (scores {float(scores[0]):.3g} "
          f"to {float(scores[-1]):.3g}; seeds {','.join(map(str, kept[:8]))}{',...' if keep > 8 else ''}) "
          f"from {args.ckpt} to {out}")
    return 0


def _op_backend(name: str, device) -> str:
    """Backend a ``fastgan::<op>`` resolves to on ``device`` (best effort)."""
    try:
        return _backend.resolve(name.split("::", 1)[1], None, device)
    except Exception:  # noqa: BLE001 - profiling must not fail on an op the registry does not know
        return "?"


def cmd_profile(args) -> int:
    if args.steps < 1:
        raise ValueError(f"--steps must be >= 1, got {args.steps}")
    if args.nvtx and not torch.cuda.is_available():
        print("--nvtx: no CUDA device, so no NVTX ranges are emitted")
    ov = _overrides(args)
    ov.update({"run.out": args.out, "run.overwrite": True, "run.progress": False, "run.tensorboard": False})
    trainer = Trainer(args.model or models.DEFAULT, args.data or "mnist", overrides=ov, preset=args.preset)
    trainer.nvtx = args.nvtx
    for _ in range(2):
        trainer.train_step()
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if trainer.device.type == "cuda" else [])
    # --nvtx: ranges per stage/phase (trainer.nvtx) and per fused op call (the ops' process switch)
    with use_nvtx(args.nvtx), profile(activities=acts, record_shapes=False) as prof:
        for i in range(args.steps):
            with record_function(f"fastgan_train_step_{i}"):
                trainer.train_step()
    trace = os.path.join(args.out, "trace.json")
    prof.export_chrome_trace(trace)
    sort = "self_device_time_total" if trainer.device.type == "cuda" else "self_cpu_time_total"
    rows = sorted((e for e in prof.key_averages() if not e.key.startswith("fastgan_train_step_")),
                  key=lambda e: getattr(e, sort, 0), reverse=True)
    total = sum(getattr(e, sort) for e in rows) or 1
    print(f"{trainer.model_name}: {args.steps} steps, batch {trainer.recipe.batch}, device {trainer.device}")
    print(f"{'op':48s} {'self ms':>9s} {'%':>6s} {'calls':>6s}  backend")
    for e in rows[:args.top]:
        backend = _op_backend(e.key, trainer.device) if e.key.startswith("fastgan::") else ""
        t = getattr(e, sort)
        print(f"{e.key[:48]:48s} {t / 1000:9.2f} {100 * t / total:6.1f} {e.count:6d}  {backend}")
    fg = [e.key for e in rows if e.key.startswith("fastgan::")]
    print(f"fastgan ops in this model: {', '.join(sorted(set(fg))) or 'none (the model uses plain torch layers)'}")
    print(f"Chrome trace: {trace} (open in chrome://tracing or ui.perfetto.dev)")
    return 0
