"""OGBench dataset files: reading with validation, and atomic writing.

The file format is OGBench's (docs/method.md §2): one ``np.savez_compressed`` archive per split with
``observations`` float32 [T, obs_dim], ``actions`` float32 [T, act_dim], ``terminals`` bool [T]
(True on the last step of each trajectory), ``qpos``/``qvel`` float32 and, for scene and puzzle,
``button_states`` int. Every trajectory's last row is an observation without a usable action:
a trajectory of L rows holds L - 1 transitions.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from gcttt.errors import DatasetError
from gcttt.files.fileio import atomic_write

REQUIRED_KEYS = ("observations", "actions", "terminals")
OPTIONAL_KEYS = ("qpos", "qvel", "button_states")


@dataclass(frozen=True)
class OfflineData:
    """One split of an OGBench dataset, exactly as stored on disk (NumPy arrays)."""

    observations: np.ndarray
    """float32 [T, obs_dim]."""
    actions: np.ndarray
    """float32 [T, act_dim]; the action of a trajectory's last row is never used."""
    terminals: np.ndarray
    """bool [T]; True on the last row of each trajectory."""
    qpos: np.ndarray | None = None
    """float32 [T, nq] simulator positions, when the file has them."""
    qvel: np.ndarray | None = None
    """float32 [T, nv] simulator velocities, when the file has them."""
    button_states: np.ndarray | None = None
    """int [T, n_buttons] for scene and puzzle datasets."""

    @property
    def num_rows(self) -> int:
        return len(self.observations)

    @property
    def obs_dim(self) -> int:
        return self.observations.shape[1]

    @property
    def action_dim(self) -> int:
        return self.actions.shape[1]

    @property
    def episode_ends(self) -> np.ndarray:
        """Row index of the last observation of each trajectory."""
        return np.flatnonzero(self.terminals)

    @property
    def episode_lengths(self) -> np.ndarray:
        """Number of rows (observations) of each trajectory."""
        ends = self.episode_ends
        return np.diff(np.concatenate([[-1], ends]))

    @property
    def num_episodes(self) -> int:
        return int(self.terminals.sum())

    @property
    def num_transitions(self) -> int:
        return self.num_rows - self.num_episodes

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays present, keyed as in the file."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    def summary(self) -> str:
        lengths = self.episode_lengths
        return (
            f"{self.num_episodes} episodes, {self.num_rows} observations "
            f"({self.num_transitions} transitions), obs_dim {self.obs_dim}, action_dim {self.action_dim}, "
            f"episode length {lengths.min()}-{lengths.max()} (mean {lengths.mean():.1f})"
        )


def regenerate_hint(where: str | os.PathLike) -> str:
    """The command that replaces a bad dataset file (both splits, since they are made together)."""
    path = Path(where)
    if path.suffix != ".npz":
        return "regenerate it with `gcttt data generate DATASET --overwrite`"
    name = path.name.removesuffix(".npz").removesuffix("-val")
    return f"regenerate both splits with `gcttt data generate {name} --out {path.parent} --overwrite`"


def read_dataset_file(path: str | os.PathLike, expected_obs_dim: int | None = None) -> OfflineData:
    """Read and validate one split. Any problem raises DatasetError with a one-line message."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such dataset file")
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in REQUIRED_KEYS if k not in archive.files]
            if missing:
                raise DatasetError(
                    f"{path}: not an OGBench dataset file (missing {', '.join(missing)}); {regenerate_hint(path)}"
                )
            raw = {k: archive[k] for k in (*REQUIRED_KEYS, *OPTIONAL_KEYS) if k in archive.files}
    except DatasetError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError, KeyError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DatasetError(
            f"{path}: unreadable dataset file (truncated or corrupt: {reason}); {regenerate_hint(path)}"
        ) from None
    data = OfflineData(
        observations=raw["observations"].astype(np.float32, copy=False),
        actions=raw["actions"].astype(np.float32, copy=False),
        terminals=raw["terminals"].astype(bool, copy=False),
        qpos=raw.get("qpos"),
        qvel=raw.get("qvel"),
        button_states=raw.get("button_states"),
    )
    validate(data, str(path), expected_obs_dim)
    return data


def validate(data: OfflineData, where: str, expected_obs_dim: int | None = None) -> None:
    """Check shapes, finiteness and trajectory structure; raise DatasetError naming the fault."""

    def fail(problem: str) -> None:
        raise DatasetError(f"{where}: {problem}; {regenerate_hint(where)}")

    obs, act, term = data.observations, data.actions, data.terminals
    if obs.ndim != 2 or act.ndim != 2 or term.ndim != 1:
        fail(
            f"bad array ranks (observations {obs.shape}, actions {act.shape}, terminals {term.shape}); "
            "expected [T, d], [T, a], [T]"
        )
    n = len(obs)
    if n == 0:
        fail("the dataset is empty")
    for name, arr in data.arrays().items():
        if len(arr) != n:
            fail(f"'{name}' has {len(arr)} rows but 'observations' has {n}")
    if expected_obs_dim is not None and obs.shape[1] != expected_obs_dim:
        fail(f"observations have {obs.shape[1]} columns but the env's observations have {expected_obs_dim}")
    for name in ("observations", "actions", "qpos", "qvel"):
        arr = getattr(data, name)
        if arr is not None and not np.isfinite(arr).all():
            bad = int((~np.isfinite(arr)).any(axis=tuple(range(1, arr.ndim))).sum())
            fail(f"'{name}' has non-finite values in {bad} rows")
    if not term[-1]:
        fail("the last row is not marked terminal (the file ends in the middle of a trajectory)")
    lengths = data.episode_lengths
    if (lengths < 2).any():
        fail(f"{int((lengths < 2).sum())} trajectories have fewer than 2 observations (no transition)")


def write_dataset_file(path: str | os.PathLike, data: OfflineData) -> None:
    """Write one split atomically (`gcttt.files.fileio.atomic_write`): an interrupted write leaves no
    half-written file under the final name that a later load would trust."""
    with atomic_write(path, "wb", suffix=".tmp.npz") as f:
        np.savez_compressed(f, **data.arrays())


def split_paths(data_dir: str | os.PathLike, dataset: str) -> tuple[Path, Path]:
    """Paths of the train and validation files of `dataset` under `data_dir` (OGBench's layout)."""
    data_dir = Path(data_dir)
    return data_dir / f"{dataset}.npz", data_dir / f"{dataset}-val.npz"
