"""A mixed table prepared for CTGAN: encoded rows, the conditional sampler and its batch loader.

:class:`EncodedTable` fits a :class:`~fastgan.data.tabular_transform.TableTransformer` on a
:class:`~fastgan.data.mixed_table.MixedTable` and holds the encoded rows.
:class:`ConditionalLoader` yields training-by-sampling batches as dicts:

* ``cond`` [B, C], ``mask`` [B, n_discrete]: the conditions G is given;
* ``real`` [B, dim]: real rows drawn for a permutation of those conditions, ``cond_real``
  their conditions (the critic sees each row beside its own condition).

Batch k of a run is drawn from ``numpy.random.default_rng((seed, k))``, so the loader's state is
its position alone and a resumed run draws exactly the batches it would have drawn.  Under DDP
every rank draws the global batch and keeps its share.
"""
from __future__ import annotations

import numpy as np
import torch

from .mixed_table import MixedTable
from .tabular_transform import ConditionalSampler, TableTransformer

__all__ = ["EncodedTable", "ConditionalLoader"]


class EncodedTable:
    """Args: table; ``transformer`` (fitted on ``table`` when None); ``seed`` of the mode draws."""

    def __init__(self, table: MixedTable, transformer: TableTransformer | None = None, *, seed: int = 0,
                 max_modes: int = 10, weight_threshold: float = 0.005):
        if not isinstance(table, MixedTable):
            raise TypeError(f"table must be a MixedTable, got {type(table).__name__}")
        if transformer is None:
            transformer = TableTransformer(max_modes, weight_threshold, seed=seed).fit(table)
        self.table, self.transformer = table, transformer
        self.rows = torch.from_numpy(transformer.encode(table, np.random.default_rng(seed)))
        self.sampler = ConditionalSampler(transformer, table)
        self.name = table.name
        self.shape = (transformer.dim,)
        self.num_classes = 0

    def __len__(self) -> int:
        return len(self.table)

    def get_batch(self, indices):
        return self.rows[indices], torch.full((len(indices),), -1, dtype=torch.int64)

    def describe(self) -> str:
        return (f"{self.table.describe()}; encoded width {self.transformer.dim}, "
                f"condition width {self.sampler.dim}")


class ConditionalLoader:
    """Training-by-sampling batches of ``batch`` rows (this rank's share of them) as dicts."""

    def __init__(self, data: EncodedTable, batch: int, *, seed: int = 0, rank: int = 0, world: int = 1):
        if not isinstance(data, EncodedTable):
            raise TypeError(f"data must be an EncodedTable, got {type(data).__name__}")
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1 or batch % world:
            raise ValueError(f"batch must be a positive multiple of the world size {world}, got {batch!r}")
        self.data, self.batch, self.seed, self.rank, self.world = data, batch, int(seed), rank, world
        self.position = 0

    def __iter__(self):
        return self

    def draw(self, k: int) -> dict:
        """Global batch ``k`` (all ranks' rows)."""
        rng = np.random.default_rng((self.seed, k))
        s = self.data.sampler
        cb = s.sample_train(self.batch, rng)
        perm = rng.permutation(self.batch)
        real_cb = type(cb)(cb.cond[perm], cb.mask[perm], cb.column[perm], cb.category[perm])
        rows = s.sample_rows(real_cb, rng)
        return {"real": self.data.rows[torch.from_numpy(rows)], "cond_real": torch.from_numpy(real_cb.cond),
                "cond": torch.from_numpy(cb.cond), "mask": torch.from_numpy(cb.mask)}

    def __next__(self) -> dict:
        full = self.draw(self.position)
        self.position += 1
        per = self.batch // self.world
        return {k: v[self.rank * per:(self.rank + 1) * per] for k, v in full.items()}

    def state_dict(self) -> dict:
        return {"position": self.position, "seed": self.seed, "size": len(self.data)}

    def load_state_dict(self, state: dict) -> None:
        if state.get("size") != len(self.data):
            raise ValueError(f"loader state is for a table of {state.get('size')} rows, this one has "
                             f"{len(self.data)}; resume with the same data")
        self.position, self.seed = int(state["position"]), int(state["seed"])
