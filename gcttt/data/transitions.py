"""A dataset as torch tensors on a device, with an index of transitions and episodes.

OGBench files store one row per observation; a trajectory of L rows holds L - 1 transitions
(row r -> row r + 1). `TransitionIndex` (NumPy, computed once, small) maps transition t to its
row and its episode, and gives each episode's first and last transition. Episodes may have
different lengths. `TransitionData` keeps the file's observation and action arrays as they are
(on the CPU it shares their memory, so many workers can read one copy from Ray's object store)
and reads transitions through the index.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

from gcttt.data.files import OfflineData


@dataclass(frozen=True)
class TransitionIndex:
    """Where the transitions and episodes of an `OfflineData` are (NumPy int64 arrays)."""

    rows: np.ndarray
    """[N] row of the observation of transition t; its next observation is row + 1."""
    episode: np.ndarray
    """[N] episode of transition t."""
    first: np.ndarray
    """[E] first transition of each episode."""
    last: np.ndarray
    """[E] last transition of each episode (inclusive)."""

    @classmethod
    def from_terminals(cls, terminals: np.ndarray) -> TransitionIndex:
        terminals = np.asarray(terminals, dtype=bool)
        rows = np.flatnonzero(~terminals).astype(np.int64)
        ends = np.flatnonzero(terminals)
        # Episode of a row = number of terminal rows strictly before it.
        episode = np.searchsorted(ends, rows, side="left").astype(np.int64)
        lengths = np.bincount(episode, minlength=len(ends))
        last = np.cumsum(lengths) - 1
        first = last - lengths + 1
        return cls(rows=rows, episode=episode, first=first.astype(np.int64), last=last.astype(np.int64))


def _as_tensor(array: np.ndarray, device: torch.device) -> torch.Tensor:
    if device.type == "cpu":
        with warnings.catch_warnings():
            # Arrays from Ray's object store are read-only; we never write through these views.
            warnings.simplefilter("ignore", UserWarning)
            return torch.from_numpy(array)
    return torch.as_tensor(array, device=device)


@dataclass(frozen=True)
class TransitionData:
    """Observations, actions and the transition index as tensors on one device."""

    observations: torch.Tensor
    """[T, obs_dim] float32, one row per stored observation."""
    actions: torch.Tensor
    """[T, action_dim] float32."""
    rows: torch.Tensor
    """[N] int64 row of each transition's observation."""
    episode: torch.Tensor
    """[N] int64 episode of each transition."""
    first: torch.Tensor
    """[E] int64 first transition of each episode."""
    last: torch.Tensor
    """[E] int64 last transition of each episode."""
    final: torch.Tensor
    """[N] int64 last transition of each transition's episode (last[episode])."""

    @classmethod
    def from_offline(
        cls, data: OfflineData, device: str | torch.device = "cpu", index: TransitionIndex | None = None
    ) -> TransitionData:
        device = torch.device(device)
        index = index or TransitionIndex.from_terminals(data.terminals)
        episode = _as_tensor(index.episode, device)
        last = _as_tensor(index.last, device)
        return cls(
            observations=_as_tensor(np.ascontiguousarray(data.observations, dtype=np.float32), device),
            actions=_as_tensor(np.ascontiguousarray(data.actions, dtype=np.float32), device),
            rows=_as_tensor(index.rows, device),
            episode=episode,
            first=_as_tensor(index.first, device),
            last=last,
            final=last[episode],
        )

    @property
    def device(self) -> torch.device:
        return self.observations.device

    @property
    def num_transitions(self) -> int:
        return len(self.rows)

    @property
    def num_episodes(self) -> int:
        return len(self.first)

    @property
    def obs_dim(self) -> int:
        return self.observations.shape[1]

    @property
    def action_dim(self) -> int:
        return self.actions.shape[1]

    def obs(self, t: torch.Tensor) -> torch.Tensor:
        """Observations of transitions t."""
        return self.observations[self.rows[t]]

    def next_obs(self, t: torch.Tensor) -> torch.Tensor:
        """Next observations of transitions t."""
        return self.observations[self.rows[t] + 1]

    def act(self, t: torch.Tensor) -> torch.Tensor:
        """Actions of transitions t."""
        return self.actions[self.rows[t]]
