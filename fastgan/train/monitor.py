"""Visible progress: progress bar, TensorBoard + CSV scalars, sample grids, loss plot.

Only rank 0 makes a Monitor with ``enabled=True``; the others get a silent one.
The CSV (``scalars.csv``) is in long form, one row per value:
``step,kimg,name,value``, so phases that run at different intervals (lazy
regularisation) never leave holes; ``read_scalars`` turns it back into series.
"""
from __future__ import annotations

import csv
import os
from collections import defaultdict

import torch
from tqdm import tqdm

from ..data.transforms import save_grid, to_uint8

__all__ = ["Monitor", "read_scalars", "plot_scalars", "plot_metrics"]


def read_scalars(path: str) -> dict[str, list[tuple[float, float]]]:
    """``{name: [(kimg, value), ...]}`` from a ``scalars.csv``."""
    out = defaultdict(list)
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            out[row["name"]].append((float(row["kimg"]), float(row["value"])))
    return dict(out)


def plot_scalars(series: dict, path: str, title: str = "") -> str | None:
    """Plot the loss series (names starting with ``loss/``) against kimg into a PNG."""
    import matplotlib  # heavy (~0.5 s): only at the end of a run

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # after choosing the Agg backend

    losses = {k: v for k, v in series.items() if k.startswith("loss/") and v}
    if not losses:
        return None
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    for name, pts in sorted(losses.items()):
        xs, ys = zip(*pts)
        ax.plot(xs, ys, label=name[5:], linewidth=1.2)
    ax.set_xlabel("kimg (thousands of real images shown)")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_metrics(series: dict, path: str, title: str = "") -> str | None:
    """Plot the metric series (names starting with ``metrics/``, e.g. the FID curve) against kimg
    into a PNG, one panel per metric; None when no metric was logged."""
    import matplotlib  # heavy (~0.5 s): only at the end of a run

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # after choosing the Agg backend

    found = {k: v for k, v in sorted(series.items(), key=lambda kv: ("fid" not in kv[0], kv[0]))
             if k.startswith("metrics/") and v}   # the FID panel first
    if not found:
        return None
    fig, axes = plt.subplots(1, len(found), figsize=(4.5 * len(found), 3.5), dpi=110, squeeze=False)
    for ax, (name, pts) in zip(axes[0], found.items()):
        xs, ys = zip(*pts)
        ax.plot(xs, ys, marker="o", linewidth=1.2)
        for x, y in zip(xs, ys):
            ax.annotate(f"{y:.0f}" if abs(y) >= 10 else f"{y:.2g}", (x, y), textcoords="offset points",
                        xytext=(0, 5), ha="center", fontsize=7)
        ax.set_xlabel("kimg")
        ax.set_ylabel(name[8:])
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


class Monitor:
    """Collects scalars between log points, writes them, draws the bar."""

    def __init__(self, out_dir: str, *, enabled: bool = True, total_kimg: float = 0.0, start_kimg: float = 0.0,
                 tensorboard: bool = True, progress: bool = True):
        self.enabled, self.out_dir = enabled, out_dir
        self._acc: dict[str, list] = defaultdict(list)
        self._last = {}
        self.alert = ""           # shown in the progress bar's postfix while set (warn)
        self._tb = self._csv = self._bar = None
        self._want_bar = False
        self._kimg0, self.total_kimg = start_kimg, total_kimg
        if not enabled:
            return
        path = os.path.join(out_dir, "scalars.csv")
        new = not os.path.exists(path)
        self._csv_file = open(path, "a", newline="")
        self._csv = csv.writer(self._csv_file)
        if new:
            self._csv.writerow(["step", "kimg", "name", "value"])
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter  # heavy: only when TensorBoard is on

                self._tb = SummaryWriter(os.path.join(out_dir, "tensorboard"))
            except ImportError:  # pragma: no cover - tensorboard is a dependency
                self._tb = None
        self._want_bar = progress  # the bar starts with the first progress() call, after the header lines

    def add(self, scalars: dict) -> None:
        for k, v in scalars.items():
            self._acc[k].append(v.detach() if isinstance(v, torch.Tensor) else v)

    def flush(self, step: int, kimg: float, extra: dict | None = None) -> dict:
        """Average what was added since the last flush and write it; returns the means."""
        means = {k: float(torch.stack([torch.as_tensor(x, dtype=torch.float64) for x in v]).mean())
                 for k, v in self._acc.items() if v}
        means.update(extra or {})
        self._acc.clear()
        self._last.update(means)
        if self.enabled:
            for k, v in means.items():
                self._csv.writerow([step, f"{kimg:.4f}", k, f"{v:.6g}"])
                if self._tb is not None:
                    self._tb.add_scalar(k, v, global_step=int(round(kimg * 1000)))
            self._csv_file.flush()
        return means

    def progress(self, kimg: float, img_per_s: float) -> None:
        if self._bar is None and self.enabled and self._want_bar:
            self._bar = tqdm(total=round(self.total_kimg, 3), initial=round(self._kimg0, 3), unit="kimg",
                             dynamic_ncols=True, bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} kimg "
                             "[{elapsed}<{remaining}{postfix}]")
        if self._bar is None:
            return
        self._bar.n = round(min(kimg, self.total_kimg), 3)
        post = {"img/s": f"{img_per_s:.0f}"}
        post.update({k[5:]: f"{v:.3f}" for k, v in self._last.items() if k.startswith("loss/")})
        if self.alert:
            post["WARNING"] = self.alert
        self._bar.set_postfix(post, refresh=False)
        self._bar.refresh()

    def warn(self, msg: str, kimg: float) -> None:
        """A warning that must be seen: above the bar, in the bar's postfix (until ``clear_warning``)
        and appended to ``<out>/warnings.log``."""
        self.alert = msg.split(":")[0]
        if not self.enabled:
            return
        line = f"WARNING kimg {kimg:.1f}: {msg}"
        self.write(line)
        with open(os.path.join(self.out_dir, "warnings.log"), "a") as f:
            f.write(line + "\n")

    def clear_warning(self) -> None:
        self.alert = ""

    def write(self, msg: str) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.write(msg)
        else:
            print(msg, flush=True)

    def image(self, tag: str, images: torch.Tensor, path: str, kimg: float, nrow: int | None = None) -> None:
        """Save a PNG grid of ``images`` in [-1, 1] to ``path``; with a ``tag`` also to TensorBoard."""
        if not self.enabled:
            return
        save_grid(images, path, nrow=nrow)
        if tag and self._tb is not None:
            n = min(len(images), 64)
            self._tb.add_images(tag, to_uint8(images[:n].cpu()), global_step=int(round(kimg * 1000)),
                                dataformats="NCHW")

    @property
    def pending(self) -> bool:
        """Scalars added since the last flush."""
        return any(self._acc.values())

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None
        if self._csv is not None:
            self._csv_file.close()
            self._csv = None
