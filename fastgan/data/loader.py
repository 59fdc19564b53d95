"""A deterministic, shardable, resumable batch loader.

The loader walks an endless sequence of epochs. Epoch ``e`` visits the data set
in the order ``torch.randperm(N)`` drawn from a generator seeded with
``seed * 1_000_003 + e`` and, with ``hflip=True``, mirrors the image at position
``i`` when a second draw from the same generator says so.  A *global* batch is
the next ``batch`` positions of that sequence (crossing epoch boundaries, nothing
dropped); under DDP, rank ``r`` of ``W`` takes rows ``[r*b, (r+1)*b)`` of it with
``b = batch / W``.  So the union over ranks is exactly the batch a single process
would draw, and the order depends only on ``(seed, epoch, position)``: the state
to checkpoint is the pair ``(epoch, position)``.
"""
from __future__ import annotations

import torch

from .transforms import hflip as _hflip

__all__ = ["BatchLoader"]


class BatchLoader:
    """``next(loader) -> (data [b, ...], labels [b])`` for this rank's share of a global batch
    (or the dict of tensors the data set returns for those rows).

    Args:
        dataset: anything with ``len()`` and ``get_batch(LongTensor) -> (data, labels)`` or a dict.
        batch: the global batch (over all ranks); must be divisible by ``world``.
        seed: fixes the order; the same seed gives the same batches.
        rank, world: this process's shard.
        hflip: mirror images (4-D data) at random, decided per (epoch, position).
    """

    def __init__(self, dataset, batch: int, *, seed: int = 0, rank: int = 0, world: int = 1,
                 hflip: bool = False):
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ValueError(f"batch must be a positive int, got {batch!r}")
        if world < 1 or not 0 <= rank < world:
            raise ValueError(f"need 0 <= rank < world, got rank={rank}, world={world}")
        if batch % world:
            raise ValueError(f"batch ({batch}) must be divisible by the number of processes ({world})")
        if len(dataset) == 0:
            raise ValueError("dataset is empty")
        self.dataset, self.batch, self.seed = dataset, batch, int(seed)
        self.rank, self.world, self.hflip = rank, world, bool(hflip)
        self.local_batch = batch // world
        self.epoch, self.position = 0, 0
        self._cache = None  # (epoch, order, flips)

    def _epoch_plan(self, epoch: int):
        if self._cache is None or self._cache[0] != epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            n = len(self.dataset)
            order = torch.randperm(n, generator=g)
            flips = torch.rand(n, generator=g) < 0.5 if self.hflip else None
            self._cache = (epoch, order, flips)
        return self._cache[1], self._cache[2]

    def _take(self, count: int):
        """Advance by ``count`` positions; return their (indices, flips)."""
        idx, flip = [], []
        n = len(self.dataset)
        while count:
            order, flips = self._epoch_plan(self.epoch)
            k = min(count, n - self.position)
            idx.append(order[self.position:self.position + k])
            if flips is not None:
                flip.append(flips[self.position:self.position + k])
            self.position += k
            count -= k
            if self.position == n:
                self.epoch, self.position = self.epoch + 1, 0
        return torch.cat(idx), (torch.cat(flip) if flip else None)

    def __iter__(self):
        return self

    def __next__(self):
        idx, flips = self._take(self.batch)
        lo, hi = self.rank * self.local_batch, (self.rank + 1) * self.local_batch
        got = self.dataset.get_batch(idx[lo:hi])
        if isinstance(got, dict):  # structured rows (A/B images, token sequences ...): the family's own
            return got
        data, labels = got
        if flips is not None and data.ndim == 4:
            data = _hflip(data, flips[lo:hi])
        return data, labels

    @property
    def images_seen(self) -> int:
        """Global images drawn so far (over all ranks)."""
        return self.epoch * len(self.dataset) + self.position

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed, "size": len(self.dataset)}

    def load_state_dict(self, state: dict) -> None:
        if state.get("size") != len(self.dataset):
            raise ValueError(f"loader state is for a data set of {state.get('size')} items, "
                             f"this one has {len(self.dataset)}; resume with the same data")
        self.epoch, self.position, self.seed = int(state["epoch"]), int(state["position"]), int(state["seed"])
        self._cache = None
