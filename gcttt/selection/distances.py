"""Goal distances d(s, g*) over the dataset's rows, and a cache that shares them between runs.

d(s, g*) = log(1 + (1 - gamma) V(s, g*)) / log(gamma) depends only on the pre-trained value
weights, the dataset's observations, gamma and the goal, so within one test episode it is
computed once (lazily, for the dataset episodes that selection ever looks at) and reused at
every re-plan; and across the trials of a sweep that play the same goals with the same
checkpoint, a `DistanceCache` shares whole tables.

Values are always computed in fixed blocks of `BLOCK` rows (a row's value never depends on which
other rows happened to be evaluated with it), so a lazily filled table, a full table and a cached
table hold bit-identical numbers.

Two counts are kept apart:
- `needed`: the value evaluations the method needs on its own (the rows of the episodes it
  looked at): what a deployed agent pays, and what records charge the method for;
- `computed`: the evaluations this process actually ran (0 on a cache hit).
"""

from __future__ import annotations

import hashlib
import math
import os
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from gcttt.agents.losses import goal_distance
from gcttt.files.fileio import atomic_write

BLOCK = 2048
"""Rows per value-network call; fixed so that every row is always evaluated in the same batch."""

ValueFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def array_fingerprint(*arrays: np.ndarray | torch.Tensor) -> str:
    """BLAKE2b of the arrays' bytes (first 16 hex digits)."""
    digest = hashlib.blake2b(digest_size=8)
    for a in arrays:
        a = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
        digest.update(str((a.dtype, a.shape)).encode())
        digest.update(np.ascontiguousarray(a).view(np.uint8).reshape(-1).data)
    return digest.hexdigest()


class GoalDistances:
    """d(s_r, g*) for every row r of a dataset and one goal, filled in lazily block by block."""

    def __init__(
        self,
        observations: torch.Tensor,
        row_first: torch.Tensor,
        row_end: torch.Tensor,
        value: ValueFn,
        goal: torch.Tensor,
        discount: float,
        table: torch.Tensor | None = None,
    ):
        """`row_first[e]`, `row_end[e]`: episode e's rows are row_first[e] .. row_end[e] - 1.
        `table`: a complete table (from a cache) to read instead of computing."""
        self.observations = observations
        self.row_first, self.row_end = row_first, row_end
        self.value, self.goal, self.discount = value, goal.reshape(1, -1), discount
        n = observations.shape[0]
        num_blocks = math.ceil(n / BLOCK)
        if table is not None:
            self.values = table
            self.block_known = torch.ones(num_blocks, dtype=torch.bool)
        else:
            self.values = torch.full((n,), math.nan, device=observations.device)
            self.block_known = torch.zeros(num_blocks, dtype=torch.bool)
        self.episode_seen = torch.zeros(len(row_first), dtype=torch.bool, device=observations.device)
        self.needed = 0
        self.computed = 0

    def _compute_blocks(self, blocks: list[int]) -> None:
        n = self.observations.shape[0]
        for b in blocks:
            lo, hi = b * BLOCK, min(n, (b + 1) * BLOCK)
            obs = self.observations[lo:hi]
            v = self.value(obs, self.goal.expand(hi - lo, -1))
            self.values[lo:hi] = goal_distance(v, self.discount)
            self.block_known[b] = True
            self.computed += hi - lo

    def complete(self) -> torch.Tensor:
        """The whole table (every row), computing what is missing."""
        self._compute_blocks(torch.nonzero(~self.block_known).squeeze(1).tolist())
        return self.values

    def ensure(self, episodes: torch.Tensor) -> int:
        """Make the rows of `episodes` available; returns the evaluations the method needs for the
        episodes it had not looked at before (its own cost)."""
        # Everything is worked out on the device and read back in one transfer (one host sync per
        # re-plan on a GPU): the cost, and which blocks the newly seen episodes touch.
        fresh = ~self.episode_seen[episodes]
        self.episode_seen[episodes] = True
        firsts, ends = self.row_first[episodes], self.row_end[episodes]
        weight = fresh.to(torch.int64)
        marks = torch.zeros(len(self.block_known) + 1, dtype=torch.int64, device=episodes.device)
        marks.index_add_(0, firsts // BLOCK, weight)
        marks.index_add_(0, (ends - 1) // BLOCK + 1, -weight)
        cost = ((ends - firsts) * weight).sum().reshape(1)
        packed = torch.cat([cost, (marks.cumsum(0)[:-1] > 0).to(torch.int64)]).cpu()
        self.needed += int(packed[0])
        wanted = packed[1:].bool() & ~self.block_known
        self._compute_blocks(torch.nonzero(wanted).squeeze(1).tolist())
        return int(packed[0])


class DistanceCache:
    """Whole goal-distance tables as files, shared by every worker and trial on a machine.

    A table is keyed by (value weights, dataset observations, discount, goal): a different
    checkpoint or dataset never hits. Files are written atomically, so two workers computing the
    same goal at once both succeed and a reader never sees half a table. The folder is kept under
    `max_bytes` by deleting the least recently used tables; each process keeps at most
    `max_open` tables mapped in memory.
    """

    def __init__(self, directory: str | os.PathLike, max_bytes: int = 2 << 30, max_open: int = 8):
        self.directory = Path(directory).expanduser().resolve()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.max_open = max_open
        self._open: OrderedDict[str, np.ndarray] = OrderedDict()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(weights_fp: str, data_fp: str, discount: float, goal: torch.Tensor) -> str:
        goal_fp = array_fingerprint(goal.to(torch.float32))
        return f"{weights_fp}-{data_fp}-g{discount!r}-{goal_fp}"

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.npy"

    def get(self, key: str) -> np.ndarray | None:
        if key in self._open:
            self._open.move_to_end(key)
            self.hits += 1
            return self._open[key]
        path = self._path(key)
        try:
            table = np.load(path, mmap_mode="r")
            os.utime(path)  # recency for eviction
        except (FileNotFoundError, ValueError, OSError):
            self.misses += 1
            return None
        self.hits += 1
        self._remember(key, table)
        return table

    def put(self, key: str, table: np.ndarray) -> None:
        with atomic_write(self._path(key), "wb") as f:
            np.save(f, np.ascontiguousarray(table, dtype=np.float32))
        self._remember(key, np.load(self._path(key), mmap_mode="r"))
        self._evict()

    def _remember(self, key: str, table: np.ndarray) -> None:
        self._open[key] = table
        self._open.move_to_end(key)
        while len(self._open) > self.max_open:
            self._open.popitem(last=False)

    def _evict(self) -> None:
        files = [(p.stat().st_mtime, p.stat().st_size, p) for p in self.directory.glob("*.npy")]
        total = sum(size for _, size, _ in files)
        for _, size, path in sorted(files):
            if total <= self.max_bytes:
                break
            if path.stem in self._open:
                continue
            path.unlink(missing_ok=True)
            total -= size
