"""A small real-text SeqGAN demo on a corpus that ships with Python itself: the help topics of
the Python documentation (``pydoc_data.topics``, Python Software Foundation, PSF licence).

Its prose lines of 30-70 characters (about 2,000; wrapped lines, not sentences), char-level; all
but 250 for training, 250 held out.  MLE
pre-training, D pre-training, then SeqGAN (and, from the same checkpoint, the MLE-only baseline
with the same number of G steps).  Reported: mean sentence BLEU-4 (``fastgan.metrics.sequence.bleu``,
smoothing 1; NLTK is not a dependency) of 200 samples against the held-out sentences, NLL-test,
and a few samples.

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/seqgan_text.py

Writes benchmarks/results/seqgan_text.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from fastgan.family.config import parse_set  # noqa: E402
from fastgan.metrics.sequence import bleu, sample_sequences  # noqa: E402
from fastgan.train import Trainer  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def corpus(lo=30, hi=70):
    """The prose lines (as wrapped in the docs) of lo..hi characters without code symbols."""
    from pydoc_data.topics import topics   # the standard library's documentation text, only for this demo
    lines = {ln.strip() for ln in "\n".join(topics.values()).split("\n")}
    ok = sorted(s for s in lines if lo <= len(s) <= hi and s.isascii() and " " in s
                and not re.search(r"[*`|<>\\{}\[\]=_()#:]", s))
    random.Random(0).shuffle(ok)
    return ok


def variant(spec: str):
    """``NAME[=key:value/key:value]`` -> (name, "seqgan", {"model.key": value}), values parsed as --set's."""
    name, _, body = spec.strip().partition("=")
    items = []
    for kv in filter(None, body.split("/")):
        k, sep, v = kv.partition(":")
        if not sep:
            raise SystemExit(f"--variants: {kv!r} in {spec!r} is not key:value")
        items.append(f"model.{k}={v}")
    return name, "seqgan", parse_set(items)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", default="/tmp/seqgan_text")
    p.add_argument("--results", default=os.path.join(HERE, "results"))
    p.add_argument("--mle-steps", type=int, default=1000)
    p.add_argument("--d-pre-steps", type=int, default=200)
    p.add_argument("--adv-steps", type=int, default=20)
    p.add_argument("--d-steps", type=int, default=5)
    p.add_argument("--n-samples", type=int, default=200)
    p.add_argument("--variants", default="seqgan",
                   help="SeqGAN runs from the same checkpoint, comma separated: seqgan (the paper's settings) or "
                        "NAME=key:value/key:value with recipe fields, e.g. "
                        "steady=reward_baseline:mean/reward:logit/lr_g_adv:0.001")
    a = p.parse_args(argv)
    os.makedirs(a.work, exist_ok=True)
    t0 = time.time()
    sents = corpus()
    train, held = sents[250:], sents[:250]
    chars = set("".join(train))
    held = [s for s in held if set(s) <= chars]   # the held-out text must be in the training vocabulary
    with open(os.path.join(a.work, "train.txt"), "w") as f:
        f.write("\n".join(train) + "\n")
    with open(os.path.join(a.work, "heldout.txt"), "w") as f:
        f.write("\n".join(held) + "\n")
    ov = {"model.max_len": 71, "model.heldout": os.path.join(a.work, "heldout.txt"), "model.mle_steps": a.mle_steps,
          "model.d_pre_steps": a.d_pre_steps, "model.adv_steps": a.adv_steps, "model.d_steps": a.d_steps,
          "model.d_width": 0.25, "model.emb": 32, "model.hidden": 64, "run.progress": False, "run.fid": False,
          "run.overwrite": True, "run.out": os.path.join(a.work, "pretrain")}
    tr = Trainer("seqgan", os.path.join(a.work, "train.txt"), overrides=ov)
    while not tr.finished and tr.stage.name != "adversarial":
        tr.train_step()
    start = tr.save_checkpoint()
    refs = [list(s) for s in held]
    res = {"corpus": "pydoc_data.topics (Python documentation, PSF licence)", "train": len(train),
           "heldout": len(held), "vocab": len(tr.family.vocab), "budget": vars(a), "runs": {}}

    def report(trainer, name):
        G = trainer.nets["G"].eval()
        x = sample_sequences(G, a.n_samples, trainer.family.length, seed=7)
        text = trainer.family.decode(x)
        row = {"bleu4": bleu([list(s) for s in text], refs),
               "nll_test": trainer.family.evaluate(G, None, trainer.device)["nll_test"], "samples": text[:8]}
        G.train()
        res["runs"][name] = row
        print(name, json.dumps({k: v for k, v in row.items() if k != "samples"}), flush=True)
    report(tr, "mle-pretrained")
    variants = [variant(v) for v in a.variants.split(",")]
    for name, mode, extra in variants + [("mle", "mle", {})]:
        cont = Trainer(resume=start, overrides={"model.mode": mode, "run.out": os.path.join(a.work, name),
                                                "run.progress": False, **extra})
        while not cont.finished:
            cont.train_step()
        report(cont, name)
    # the real held-out text against itself (other half as references): the ceiling of BLEU here
    res["heldout_bleu4_ceiling"] = bleu([list(s) for s in train[:a.n_samples]], refs)
    res["seconds"] = time.time() - t0
    os.makedirs(a.results, exist_ok=True)
    with open(os.path.join(a.results, "seqgan_text.json"), "w") as f:
        json.dump(res, f, indent=1)
    lines = ["# SeqGAN on lines of Python's documentation (char level)", "",
             f"{len(train)} training lines of 30-70 characters from `pydoc_data.topics` (shipped with Python; "
             f"PSF licence), {len(held)} held out, vocabulary {res['vocab']}; MLE {a.mle_steps} steps, D "
             f"{a.d_pre_steps}, then {a.adv_steps} G steps (SeqGAN: {a.d_steps} D steps each); "
             f"{res['seconds']:.0f} s on 2 shared CPU cores.", "",
             "| generator | BLEU-4 vs held-out (200 samples) | NLL-test |", "|---|---:|---:|"]
    for name, row in res["runs"].items():
        lines.append(f"| {name} | {row['bleu4']:.3f} | {row['nll_test']:.3f} |")
    lines.append(f"| real lines (200 training lines vs the held-out) | {res['heldout_bleu4_ceiling']:.3f} | |")
    for name, _, extra in variants:
        how = ": " + ", ".join(f"{k[6:]}={v}" for k, v in extra.items()) if extra else " (the paper's settings)"
        lines += ["", f"Samples ({name}{how}):", "", "```"] + res["runs"][name]["samples"] + ["```"]
    with open(os.path.join(a.results, "seqgan_text.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
