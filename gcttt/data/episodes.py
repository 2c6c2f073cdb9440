"""Accumulating the rows of one data-collection episode, and joining episodes into a split."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gcttt.data.files import OfflineData


@dataclass
class EpisodeRows:
    """Rows of one collected episode in OGBench's file layout (one row per observation)."""

    observations: list = field(default_factory=list)
    actions: list = field(default_factory=list)
    terminals: list = field(default_factory=list)
    qpos: list = field(default_factory=list)
    qvel: list = field(default_factory=list)
    button_states: list = field(default_factory=list)
    success_steps: int = 0
    """Steps at which the oracle had reached its current goal (a data-quality statistic)."""

    def add(self, ob, action, done, qpos, qvel, button_states=None, success: bool = False) -> None:
        self.observations.append(ob)
        self.actions.append(action)
        self.terminals.append(done)
        self.qpos.append(qpos)
        self.qvel.append(qvel)
        if button_states is not None:
            self.button_states.append(button_states)
        self.success_steps += int(success)

    def __len__(self) -> int:
        return len(self.observations)

    def to_arrays(self) -> dict[str, np.ndarray]:
        out = {
            "observations": np.asarray(self.observations, dtype=np.float32),
            "actions": np.asarray(self.actions, dtype=np.float32),
            "terminals": np.asarray(self.terminals, dtype=bool),
            "qpos": np.asarray(self.qpos, dtype=np.float32),
            "qvel": np.asarray(self.qvel, dtype=np.float32),
        }
        if self.button_states:
            out["button_states"] = np.asarray(self.button_states, dtype=np.int64)
        return out


def join_episodes(episodes: list[dict[str, np.ndarray]]) -> OfflineData:
    """Concatenate per-episode arrays (from `EpisodeRows.to_arrays`) into one split."""
    keys = episodes[0].keys()
    joined = {k: np.concatenate([ep[k] for ep in episodes]) for k in keys}
    # Every episode ends with a terminal row, whatever the env's own flags said.
    ends = np.cumsum([len(ep["observations"]) for ep in episodes]) - 1
    joined["terminals"] = np.zeros(len(joined["observations"]), dtype=bool)
    joined["terminals"][ends] = True
    return OfflineData(**joined)
