"""``fastgan metrics``: FID, KID, IS, precision/recall, density/coverage, mode coverage; table metrics.

    fastgan metrics --real DIR|ZIP|stats.npz|mnist --fake DIR|ZIP|CHECKPOINT \\
        --metrics fid,kid,is,pr --features inception|digits|module:pkg.mod:attr [--n 10000]

    fastgan metrics --table --real test.csv --fake rows.csv [--train train.csv] [--discrete a,b]

    fastgan metrics --ckpt RUN [--data NAME|DIR]   (the family's network metrics: PSNR/SSIM, translation accuracy)

Writes the results (values and conventions) as JSON (``--json``, default ``metrics.json``) and
prints a table.  ``--save-real-stats`` keeps the real FIDStats as .npz for later ``--real``.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import time

import torch

from .. import models
from .api import METRICS, compute_metrics, compute_stats, resolve_source
from .network import NETWORK_METRICS, NotApplicable

_EPILOG = """metrics:
  fid    Frechet distance of the features (float64, exact trace-sqrt; conventions recorded)
  kid    kernel inception distance: unbiased MMD^2, cubic kernel, 100 subsets of min(1000, n)
  is     inception score from the feature network's logits, 10 splits
  pr     precision/recall (Kynkaanniemi et al. 2019), k=3
  dc     density/coverage (Naeem et al. 2020), k=5
  modes  classes covered by the fake images and KL(histogram || uniform)

examples:
  fastgan metrics --real mnist --fake runs/dcgan28-mnist --metrics fid,kid,is,pr --features digits --n 2000
  fastgan metrics --real data/ffhq.zip --fake samples/ --features inception --inception-weights pt_inception.pth

network metrics of a checkpoint (--ckpt; the family names them, fastgan.metrics.network):
  digits_translation  cyclegan on --data digits: classifier accuracy on G_BA(B), the cycles and the
                      untranslated images; digits FID of G_BA(B) and of B against A
  sr_quality          srgan: PSNR/SSIM (Y, border crop = scale) of SR and bicubic on held-out images
                      (the run's demo's held-out split, or --data DIR of HR images)
  fastgan metrics --ckpt runs/srgan-mnist
  fastgan metrics --ckpt runs/srgan-photos --data my_hr_test_images/
"""


def register(subparsers) -> None:
    p = subparsers.add_parser("metrics", help="FID, KID, IS, precision/recall between two image sets",
                              description=__doc__.splitlines()[0], epilog=_EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--real", default=None, metavar="DIR|ZIP|NPY|stats.npz|mnist",
                   help="real images, or FIDStats saved with --save-real-stats (fid only)")
    p.add_argument("--fake", default=None, metavar="DIR|ZIP|NPY|CHECKPOINT",
                   help="generated images, or a checkpoint file / run directory to sample from")
    p.add_argument("--ckpt", default=None, metavar="CHECKPOINT",
                   help="the network metrics its family names (image-to-image models), instead of --real/--fake")
    p.add_argument("--data", default=None, metavar="NAME|DIR",
                   help="--ckpt: held-out data (default: the run's data, its held-out split)")
    p.add_argument("--metrics", default="fid", help=f"comma-separated, from {','.join(METRICS)} (default fid)")
    p.add_argument("--features", default="inception", metavar="inception|digits|module:pkg.mod:attr",
                   help="feature network (default inception)")
    p.add_argument("--n", type=int, default=None,
                   help="images per set (default: all; 10000 when sampling a checkpoint)")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0, help="seed for KID subsets and checkpoint sampling")
    p.add_argument("--inception-weights", default=None, metavar="PATH",
                   help="FID Inception weights file (else $FASTGAN_INCEPTION_WEIGHTS or the cache)")
    p.add_argument("--no-download", action="store_true", help="never download the Inception weights")
    p.add_argument("--json", default="metrics.json", metavar="PATH", help="where to write the results")
    p.add_argument("--save-real-stats", default=None, metavar="PATH.npz", help="also save the real FIDStats")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--table", action="store_true",
                   help="--real/--fake are CSV tables: per-column KS/TV, correlation differences, detection AUC "
                        "(and DCR with --train)")
    p.add_argument("--discrete", default="", metavar="COL1,COL2",
                   help="--table: columns to treat as discrete (non-numeric ones are)")
    p.add_argument("--train", default=None, metavar="CSV",
                   help="--table: the generator's training table, for the distance to the closest record")
    p.set_defaults(func=cmd_metrics)


def _is_checkpoint(path: str) -> bool:
    if os.path.isfile(path):
        return path.endswith(".safetensors")
    if os.path.isdir(path):
        return any(glob.glob(os.path.join(glob.escape(d), "ckpt-*.safetensors"))
                   for d in (path, os.path.join(path, "checkpoints")))
    return False


def _checkpoint_sampler(path: str, device, seed: int):
    family, G = models.load_generator(path, device=device)
    gen = torch.Generator().manual_seed(seed)
    counter = [0]

    @torch.no_grad()
    def sample(b):
        z = family.latent(b, gen).to(device)
        labels = family.sample_labels(counter[0] + b, device)
        counter[0] += b
        return family.generate(G, z, None if labels is None else labels[-b:]).float()
    return sample


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, list):
        return "[" + ",".join(str(x) for x in v) + "]"
    return str(v)


def cmd_table_metrics(args) -> int:
    """``--table``: fidelity (and privacy with ``--train``) of a generated CSV against a real one."""
    from ..data.mixed_table import read_table_csv  # on use: keeps scikit-learn out of every fastgan command's start
    from . import tabular  # (same reason)
    discrete = [c.strip() for c in args.discrete.split(",") if c.strip()]
    real = read_table_csv(args.real, discrete=discrete)
    fake = read_table_csv(args.fake, discrete=real.discrete, infer=False)
    real.check_same_columns(fake, f"--fake {args.fake}")
    res = {"columns": tabular.column_distances(real, fake), **tabular.fidelity(real, fake, seed=args.seed)}
    if args.train:
        train = read_table_csv(args.train, discrete=real.discrete, infer=False)
        res.update(tabular.dcr(fake, train, real))
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"real": args.real, "fake": args.fake, "train": args.train, "metrics": res}, f, indent=2)
    for c, v in res.pop("columns").items():
        print(f"{c:<24s} {'TV' if c in real.discrete else 'KS'} {v:.4f}")
    for k, v in res.items():
        print(f"{k:<24s} {v:.4f}")
    print(f"wrote {args.json}")
    return 0


def cmd_network_metrics(args) -> int:
    """``--ckpt``: the network metrics the checkpoint's family names, on held-out data."""
    if args.real or args.fake or args.table:
        raise ValueError("--ckpt measures a checkpoint's networks; drop --real/--fake/--table")
    if not _is_checkpoint(args.ckpt):
        raise FileNotFoundError(f"--ckpt {args.ckpt}: no checkpoint (a .safetensors file or a run directory)")
    device = torch.device(args.device)
    family, nets, spec = models.load_networks(args.ckpt, device=device)
    names = [m for m in family.metrics if m in NETWORK_METRICS]
    if not names:
        raise ValueError(f"--ckpt: model {family.name} has no network metrics (it names "
                         f"{', '.join(family.metrics) or 'none'}); compare samples with --real/--fake")
    if args.data is None and os.path.isabs(spec):
        raise ValueError(f"--data: the run trained on the folder {spec}; give --data DIR of held-out images "
                         f"(the training images would flatter the model)")
    data = args.data or spec
    t0 = time.time()
    res = {}
    for m in names:
        try:
            res.update(NETWORK_METRICS[m](nets, data, family.recipe, device=device, cache={}))
        except NotApplicable as e:
            raise ValueError(f"--data: {e}") from e
    payload = {"ckpt": str(args.ckpt), "model": family.name, "data": data,
               "seconds": round(time.time() - t0, 3), "metrics": res}
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(payload, f, indent=2)
    w = max(len(k) for k in res)
    print(f"{family.name} on {data} (held out):")
    for k, v in res.items():
        print(f"{k:<{w}}  {_fmt(float(v))}")
    print(f"wrote {args.json}")
    return 0


def cmd_metrics(args) -> int:
    if args.ckpt is not None:
        return cmd_network_metrics(args)
    if args.data is not None:
        raise ValueError("--data goes with --ckpt")
    if args.real is None or args.fake is None:
        raise ValueError("give --real and --fake (or --ckpt RUN for a family's network metrics)")
    if args.table:
        return cmd_table_metrics(args)
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    bad = [m for m in metrics if m not in METRICS]
    if bad or not metrics:
        raise ValueError(f"--metrics must be a comma-separated list from {','.join(METRICS)}, got {args.metrics!r}")
    if args.n is not None and args.n < 2:
        raise ValueError(f"--n must be at least 2, got {args.n}")
    device = torch.device(args.device)
    ext_kw = {"inception_weights": args.inception_weights, "download": not args.no_download} \
        if args.features == "inception" else {}
    n = args.n
    fake = args.fake
    if _is_checkpoint(fake):
        fake = _checkpoint_sampler(fake, device, args.seed)
        n = n or 10_000
    elif not os.path.exists(fake):
        raise FileNotFoundError(f"--fake {fake}: no such file or directory")
    real = args.real
    if real != "mnist" and not os.path.exists(real):
        raise FileNotFoundError(f"--real {real}: no such file or directory")
    common = dict(features=args.features, n=n, batch_size=args.batch_size, device=device,
                  progress=not args.no_progress, **ext_kw)
    t0 = time.time()
    if args.save_real_stats:
        if real.endswith(".npz"):
            raise ValueError("--save-real-stats needs real images, not a stats file")
        stats = compute_stats(resolve_source(real), **common)
        stats.save(args.save_real_stats)
        print(f"saved real stats to {args.save_real_stats}")
        if metrics == ["fid"]:
            real = stats
    results = compute_metrics(real, fake, metrics, seed=args.seed, **common)
    payload = {"real": str(args.real), "fake": str(args.fake), "seconds": round(time.time() - t0, 3),
               "metrics": {k: v.to_dict() for k, v in results.items()}}
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(payload, f, indent=2)
    rows = [(k, name, _fmt(val)) for k, r in results.items() for name, val in r.values.items()]
    w1 = max(len(r[0]) for r in rows)
    w2 = max(len(r[1]) for r in rows)
    print(f"{'metric':<{w1}}  {'value':<{w2}}  number")
    for k, name, val in rows:
        print(f"{k:<{w1}}  {name:<{w2}}  {val}")
    first = next(iter(results.values())).conventions
    print(f"features: {first.get('feature_id')}  preprocessing: {first.get('preprocess_id')}")
    print(f"wrote {args.json}")
    return 0
