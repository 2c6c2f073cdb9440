"""Episode trajectories: the x-y path and, per re-plan, the data selected, in a side file.

Recording is opt-in (`EpisodeRunner.run_traced`, ``--record-trajectories`` on the sweeps and on
``gcttt evaluate``) and never changes the episode or its Parquet row: the recorder only watches
the controller's observations and the selector's answers.

What one episode keeps (`EpisodeTrajectory`):
- ``path``: float32 [steps + 1, 2], the agent's x-y (observation columns 0 and 1 of the maze
  envs) at every step from the reset to the end: ``path[0]`` is the reset position, ``path[t]``
  the position the controller saw before its action t, and ``path[steps]`` the position the
  episode ended at (read from the env after the last step);
- ``goal``: the goal's x-y (the goal observation's first two columns);
- per re-plan (`Replan`): the env step, the agent's x-y there, and the selected transitions as
  segments ``(dataset episode, row start, row end)`` of the training file's stored rows:
  the transitions whose observation rows are ``start .. end - 1``. These are the selector's own
  row segments (gcttt.selection.selector): for the critic rules ``start`` is the episode's first
  start match and ``end`` the end point t*, so rows ``start .. end`` inclusive are the states
  the segment passes through. Ranges of rows, never copies of the data. Transitions drawn more
  than once (the random control samples with replacement) are kept once.

The side file (`write_trajectories`, `read_trajectories`) is one compressed NumPy archive per
Parquet part file, with the part file's name and suffix ``.npz``; docs/trajectories.md describes
its arrays. A sweep puts it under ``SWEEP/trajectories/ARM/``, beside ``SWEEP/episodes/ARM/``;
``gcttt evaluate`` under ``OUT/trajectories/``. An episode's row in the Parquet file is the one
with the same (sweep_id, trial_id, task_suite, task_id, episode_index).
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gcttt.errors import UsageError
from gcttt.files.fileio import atomic_write

FORMAT = "gcttt-trajectories"
VERSION = 1
SIDE_DIR = "trajectories"
"""Folder name of the side files (beside a sweep's ``episodes/``, or inside an evaluation's output)."""
SUFFIX = ".npz"
POSITION_INDEX = (0, 1)
"""Observation columns of the agent's x-y in OGBench's maze envs (point, ant and humanoid)."""
KEY_COLUMNS = ("sweep_id", "trial_id", "task_suite", "task_id", "episode_index")
"""Columns that join an episode's trajectory to its Parquet row."""


@dataclass(frozen=True)
class Replan:
    """One re-plan: where the agent was and which dataset rows were selected."""

    step: int
    """Env step of the re-plan (0 for the first)."""
    position: np.ndarray
    """[2] float32, the agent's x-y at that step."""
    segments: np.ndarray
    """[S, 3] int64 (dataset episode, row start, row end): the transitions of rows start .. end - 1."""
    selected: int
    """Transitions the selector returned (duplicates counted), as in the record's selected_per_replan."""


@dataclass(frozen=True)
class EpisodeTrajectory:
    """What one episode did, for pictures; joined to its Parquet row by `KEY_COLUMNS`."""

    task_suite: str
    task_id: int
    episode_index: int
    seed: int
    """The episode seed (the record's `seed`)."""
    path: np.ndarray
    """[steps + 1, 2] float32 x-y from the reset position to the final one."""
    goal: np.ndarray
    """[2] float32 goal x-y."""
    replans: tuple[Replan, ...] = ()

    @property
    def steps(self) -> int:
        return len(self.path) - 1


@dataclass(frozen=True)
class TrajectoryFile:
    """The contents of one side file."""

    meta: dict[str, Any]
    """format, version, sweep_id, trial_id, dataset, dataset_fingerprint, dataset_source, parquet."""
    episodes: tuple[EpisodeTrajectory, ...]


def segments_of(indices: torch.Tensor, rows: torch.Tensor, episode: torch.Tensor) -> np.ndarray:
    """Selected transitions as maximal runs of consecutive rows within one episode.

    `rows` and `episode` are the dataset's per-transition row and episode (`TransitionData`);
    returns [S, 3] int64 (episode, row start, row end) with rows start .. end - 1 selected.
    """
    unique = torch.unique(indices)  # sorted; the random control's repeats count once
    if unique.numel() == 0:
        return np.zeros((0, 3), dtype=np.int64)
    r, e = rows[unique], episode[unique]
    breaks = torch.nonzero((r[1:] != r[:-1] + 1) | (e[1:] != e[:-1])).squeeze(1)
    first = torch.cat([breaks.new_zeros(1), breaks + 1])
    last = torch.cat([breaks, breaks.new_full((1,), len(unique) - 1)])
    return torch.stack([e[first], r[first], r[last] + 1], 1).cpu().numpy().astype(np.int64)


def transitions_of(segments: np.ndarray) -> np.ndarray:
    """The transition indices of `segments` (row r of dataset episode e is transition r - e)."""
    if len(segments) == 0:
        return np.zeros(0, dtype=np.int64)
    e, start, end = segments[:, 0], segments[:, 1], segments[:, 2]
    return np.concatenate([np.arange(a, b) for a, b in zip(start - e, end - e, strict=True)])


class _WatchedSelector:
    """A selector that tells the recorder what it selected; everything else is the selector's."""

    def __init__(self, inner, recorder: TrajectoryRecorder):
        self._inner = inner
        self._recorder = recorder

    def begin_episode(self, goal: torch.Tensor) -> None:
        self._inner.begin_episode(goal)

    def select(self, state: torch.Tensor):
        selection = self._inner.select(state)
        self._recorder.replanned(selection.indices, selection.size)
        return selection

    def __getattr__(self, name: str):
        return getattr(self._inner, name)


class _WatchedController:
    """A controller that tells the recorder every observation it acts on."""

    def __init__(self, inner, recorder: TrajectoryRecorder):
        self._inner = inner
        self._recorder = recorder

    def begin(self, observation: np.ndarray, goal: np.ndarray) -> None:
        self._recorder.began(goal)
        self._inner.begin(observation, goal)

    def act(self, observation: np.ndarray, step: int) -> np.ndarray:
        self._recorder.acting(observation, step)
        return self._inner.act(observation, step)


@dataclass
class TrajectoryRecorder:
    """Records one episode: wrap its controller (and selector), play, then `finish`.

    `rows` and `episode` are the dataset's per-transition tensors (`TransitionData.rows`,
    `.episode`); the segments are computed at each re-plan, on the data's device, and only the
    (small) segment table is copied to the host.
    """

    rows: torch.Tensor
    episode: torch.Tensor
    position_index: tuple[int, ...] = POSITION_INDEX
    _path: list[np.ndarray] = field(default_factory=list)
    _replans: list[Replan] = field(default_factory=list)
    _goal: np.ndarray | None = None
    _step: int = 0

    def controller(self, inner):
        return _WatchedController(inner, self)

    def selector(self, inner):
        return _WatchedSelector(inner, self)

    def began(self, goal: np.ndarray) -> None:
        self._path, self._replans, self._step = [], [], 0
        self._goal = np.asarray(goal, dtype=np.float32)[list(self.position_index)]

    def acting(self, observation: np.ndarray, step: int) -> None:
        self._step = step
        self._path.append(np.asarray(observation, dtype=np.float32)[list(self.position_index)])

    def replanned(self, indices: torch.Tensor, selected: int) -> None:
        position = self._path[-1] if self._path else np.full(2, np.nan, np.float32)
        segments = segments_of(indices, self.rows, self.episode)
        self._replans.append(Replan(self._step, position.copy(), segments, int(selected)))

    def finish(self, final_position: np.ndarray, task_suite: str, task_id: int, episode_index: int, seed: int):
        """The episode's trajectory; `final_position` is the x-y after the last step."""
        if self._goal is None:
            raise RuntimeError("the recorder saw no episode: wrap the controller before playing")
        path = np.stack([*self._path, np.asarray(final_position, dtype=np.float32)[:2]]).astype(np.float32)
        return EpisodeTrajectory(
            task_suite=task_suite,
            task_id=int(task_id),
            episode_index=int(episode_index),
            seed=int(seed),
            path=path,
            goal=self._goal,
            replans=tuple(self._replans),
        )


# --- the side file --------------------------------------------------------------------------


def _offsets(lengths: Sequence[int]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)]).astype(np.int64)


def side_file_name(parquet: str | os.PathLike) -> str:
    """Name of the side file of Parquet part file `parquet`: its stem + '.npz'."""
    return Path(parquet).stem + SUFFIX


def write_trajectories(path: str | os.PathLike, episodes: Iterable[EpisodeTrajectory], meta: dict[str, Any]) -> Path:
    """Write `episodes` as one compressed side file at `path`, atomically.

    `meta` should name sweep_id, trial_id, dataset, dataset_fingerprint, dataset_source and the
    Parquet part file (`parquet`) the episodes belong to.
    """
    episodes = list(episodes)
    replans = [r for e in episodes for r in e.replans]
    segments = [np.asarray(r.segments, dtype=np.int64).reshape(-1, 3) for r in replans]
    episode_step, gap, length = _encode_segments(segments)
    arrays = {
        "meta": np.array(json.dumps({"format": FORMAT, "version": VERSION, **meta}, sort_keys=True)),
        "task_suite": np.array([e.task_suite for e in episodes], dtype=str),
        "task_id": np.array([e.task_id for e in episodes], dtype=np.int32),
        "episode_index": np.array([e.episode_index for e in episodes], dtype=np.int32),
        "seed": np.array([e.seed for e in episodes], dtype=np.int64),
        "goal": np.array([e.goal for e in episodes], dtype=np.float32).reshape(-1, 2),
        "path_offsets": _offsets([len(e.path) for e in episodes]),
        "path": np.concatenate([e.path for e in episodes]) if episodes else np.zeros((0, 2), np.float32),
        "replan_offsets": _offsets([len(e.replans) for e in episodes]),
        "replan_step": np.array([r.step for r in replans], dtype=np.int32),
        "replan_position": np.array([r.position for r in replans], dtype=np.float32).reshape(-1, 2),
        "replan_selected": np.array([r.selected for r in replans], dtype=np.int64),
        "segment_offsets": _offsets([len(x) for x in segments]),
        "segment_episode_step": episode_step,
        "segment_gap": gap,
        "segment_length": length,
    }
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    with atomic_write(path, "wb") as f:
        f.write(buffer.getvalue())
    return Path(path)


def write_trajectories_beside(
    parquet: str | os.PathLike, episodes: Iterable[EpisodeTrajectory], sweep_id: str, trial_id: str, record
) -> Path:
    """The side file of Parquet part file `parquet`, in the ``trajectories/`` folder beside it;
    `record` (any EpisodeRecord of the batch) names the dataset and its provenance."""
    parquet = Path(parquet)
    meta = side_meta(record, sweep_id, trial_id, parquet)
    return write_trajectories(parquet.parent / SIDE_DIR / side_file_name(parquet), episodes, meta)


def side_meta(record, sweep_id: str, trial_id: str, parquet: str | os.PathLike) -> dict[str, Any]:
    """The side file's `meta` for episodes of `record`'s dataset written with Parquet file `parquet`."""
    return {
        "sweep_id": sweep_id,
        "trial_id": trial_id,
        "dataset": record.dataset,
        "dataset_fingerprint": record.dataset_fingerprint,
        "dataset_source": record.dataset_source,
        "parquet": Path(parquet).name,
    }


def _encode_segments(segments: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Segments as small numbers that compress well: per re-plan, the episode's step from the previous
    segment's episode, the gap from the previous segment's end row to this start row (the first of a
    re-plan: from 0), and the length end - start."""
    if not segments:
        return (np.zeros(0, np.int32),) * 3
    steps, gaps, lengths = [], [], []
    for s in segments:
        steps.append(np.diff(s[:, 0], prepend=0))
        gaps.append(s[:, 1] - np.concatenate([[0], s[:-1, 2]]))
        lengths.append(s[:, 2] - s[:, 1])
    out = tuple(np.concatenate(x) for x in (steps, gaps, lengths))
    kind = np.int32 if all(np.abs(x).max(initial=0) < 2**31 for x in out) else np.int64
    return tuple(x.astype(kind) for x in out)


def _decode_segments(step: np.ndarray, gap: np.ndarray, length: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """[S, 3] int64 (episode, row start, row end) from `_encode_segments`' arrays and the re-plans' offsets."""
    step, gap, length = (x.astype(np.int64) for x in (step, gap, length))
    replan = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    first = offsets[:-1][replan]  # index of each segment's re-plan's first segment

    def within(values: np.ndarray) -> np.ndarray:  # cumulative sum restarted at every re-plan
        total = np.cumsum(values)
        before = np.concatenate([[0], total])[first]
        return total - before

    episode = within(step)
    end = within(gap + length)
    return np.stack([episode, end - length, end], 1)


REQUIRED_ARRAYS = (
    "meta",
    "task_suite",
    "task_id",
    "episode_index",
    "seed",
    "goal",
    "path_offsets",
    "path",
    "replan_offsets",
    "replan_step",
    "replan_position",
    "replan_selected",
    "segment_offsets",
    "segment_episode_step",
    "segment_gap",
    "segment_length",
)


def read_trajectories(path: str | os.PathLike) -> TrajectoryFile:
    """Read one side file; a damaged or foreign file is a one-line UsageError naming it."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in REQUIRED_ARRAYS if k not in z.files]
            if missing:
                raise UsageError(f"{path}: not a gcttt trajectory file (missing {missing}); see docs/trajectories.md")
            a = {k: z[k] for k in REQUIRED_ARRAYS}
    except UsageError:
        raise
    except Exception as exc:  # zipfile / numpy raise several types for damaged files
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"{path}: not a readable trajectory file ({reason}); delete or move it") from None
    meta = json.loads(str(a["meta"]))
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise UsageError(
            f"{path}: trajectory format {meta.get('format')!r} version {meta.get('version')!r}; this gcttt reads "
            f"{FORMAT} version {VERSION}"
        )
    segments = _decode_segments(a["segment_episode_step"], a["segment_gap"], a["segment_length"], a["segment_offsets"])
    episodes = []
    for i in range(len(a["task_id"])):
        p0, p1 = a["path_offsets"][i : i + 2]
        r0, r1 = a["replan_offsets"][i : i + 2]
        replans = []
        for r in range(r0, r1):
            s0, s1 = a["segment_offsets"][r : r + 2]
            replans.append(
                Replan(
                    step=int(a["replan_step"][r]),
                    position=a["replan_position"][r],
                    segments=segments[s0:s1],
                    selected=int(a["replan_selected"][r]),
                )
            )
        episodes.append(
            EpisodeTrajectory(
                task_suite=str(a["task_suite"][i]),
                task_id=int(a["task_id"][i]),
                episode_index=int(a["episode_index"][i]),
                seed=int(a["seed"][i]),
                path=a["path"][p0:p1],
                goal=a["goal"][i],
                replans=tuple(replans),
            )
        )
    return TrajectoryFile(meta=meta, episodes=tuple(episodes))


def trajectory_files(root: str | os.PathLike) -> list[Path]:
    """Every side file under `root` (in any ``trajectories/`` folder), sorted; hidden files skipped."""
    root = Path(root).expanduser()
    found = []
    for path in root.rglob(f"*{SUFFIX}"):
        relative = path.relative_to(root)
        if SIDE_DIR not in path.parts[:-1] or any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file():
            found.append(path)
    return sorted(found)
