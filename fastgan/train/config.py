"""The engine's run options: :class:`RunConfig` (what a run does, not what it trains)."""
from __future__ import annotations

import dataclasses

__all__ = ["RunConfig"]


@dataclasses.dataclass
class RunConfig:
    """How a run is executed (not what is trained)."""

    out: str = "runs/train"     # run directory: checkpoints/, samples/, logs
    seed: int = 0               # fixes initialisation, data order and noise
    device: str = "auto"        # auto | cpu | cuda | cuda:N
    amp: str = "off"            # off | bf16 | fp16 (fp16 only on CUDA, with a GradScaler)
    threads: int = 0            # torch CPU threads; 0 keeps torch's default
    snap_kimg: float = 5.0      # sample grid every this many kimg (0: only at the end)
    ckpt_kimg: float = 25.0     # checkpoint every this many kimg (0: only at the end)
    keep_ckpts: int = 3         # checkpoints kept on disk (0: all)
    log_every: int = 20         # steps between scalar log rows
    grid: int = 64              # samples in the grid
    fid: bool = True            # the family's named metrics (FID on digit data) at the end; see metrics_hook
    fid_kimg: float = 0.0       # also every this many kimg (0: only at the end)
    fid_samples: int = 5000     # generated images per FID evaluation
    collapse_kimg: float = 5.0  # mode-collapse check every this many kimg and at the end (0: off); see collapse.py
    collapse_classes: int = 5   # warn below this many digit classes among the samples (digit data)
    collapse_spread: float = 0.25  # warn when the samples' spread is below this fraction of the real data's
    max_steps: int = 0          # stop after this many steps (0: run until recipe.kimg)
    progress: bool = True       # tqdm progress bar
    tensorboard: bool = True    # TensorBoard event files
    skip_bad_files: bool = False  # leave out unreadable/mismatched data files (counted) instead of failing
    overwrite: bool = False     # a new run may replace an earlier run's files in `out`
