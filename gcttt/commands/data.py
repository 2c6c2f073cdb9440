"""`gcttt data generate|info`: build OGBench datasets locally, and summarise dataset files."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import tyro

from gcttt.data.access import resolve_data_dir
from gcttt.data.files import read_dataset_file, split_paths
from gcttt.datagen.generation import SUPPORTED, generate_dataset, generation_spec
from gcttt.envs import dataset_info


@dataclass(frozen=True)
class DataGenerate:
    """Play OGBench's data-collection oracles and write DATASET.npz and DATASET-val.npz (one tenth of
    the episodes) in OGBench's format, so that ogbench.make_env_and_datasets(DATASET, dataset_dir=OUT)
    loads them."""

    dataset: tyro.conf.Positional[str]
    """OGBench dataset name, e.g. pointmaze-medium-navigate-v0."""
    episodes: int | Literal["ogbench"] = "ogbench"
    """Training episodes ('ogbench': OGBench's count for the dataset)."""
    max_episode_steps: int | Literal["ogbench"] = "ogbench"
    """Observations per episode ('ogbench': OGBench's length for the dataset)."""
    seed: int = 0
    """Seed; the files depend only on it and the sizes."""
    out: str | Literal["default"] = "default"
    """Output directory ('default': $GCTTT_DATA_DIR, else ~/.ogbench/data)."""
    workers: int | Literal["all"] = "all"
    """Worker processes, at least 1 ('all': every core)."""
    overwrite: bool = False
    """Replace the dataset's files if they exist."""


@dataclass(frozen=True)
class DataInfo:
    """Summarise a dataset's files: sizes, provenance and (mazes) the cells the data visits."""

    dataset: tyro.conf.Positional[str]
    """OGBench dataset name."""
    data_dir: str | Literal["default"] = "default"
    """Data directory ('default': $GCTTT_DATA_DIR, else ~/.ogbench/data)."""


def _given(value, word: str):
    return None if value == word else value


def run_generate(args: DataGenerate) -> int:
    generation_spec(args.dataset)  # refuse unknown names before anything starts
    out = resolve_data_dir(_given(args.out, "default"))
    report = generate_dataset(
        args.dataset,
        out,
        episodes=_given(args.episodes, "ogbench"),
        max_episode_steps=_given(args.max_episode_steps, "ogbench"),
        seed=args.seed,
        workers=_given(args.workers, "all"),
        overwrite=args.overwrite,
    )
    print(f"wrote {report.train_path}: {report.train.summary()}")
    print(f"wrote {report.val_path}: {report.val.summary()}")
    print(
        f"{report.seconds:.1f} s with {report.workers} workers; oracle reached its goal at "
        f"{100 * report.success_fraction:.2f}% of steps ({report.successes_per_episode:.2f} per episode)"
    )
    return 0


def run_info(args: DataInfo) -> int:
    from gcttt.data.provenance import dataset_provenance

    info = dataset_info(args.dataset)
    root = resolve_data_dir(_given(args.data_dir, "default"))
    splits = [read_dataset_file(path, expected_obs_dim=info.obs_dim) for path in split_paths(root, args.dataset)]
    for path, data in zip(split_paths(root, args.dataset), splits, strict=True):
        print(f"{path}: {data.summary()}")
    prov = dataset_provenance(root, args.dataset)
    print(f"source: {prov.label()}; fingerprint {prov.fingerprint}" + (f" ({prov.note})" if prov.note else ""))
    for key, value in prov.details.items():
        print(f"  {key}: {value}")
    if info.is_maze:
        _print_coverage(info, splits[0])
    return 0


def _print_coverage(info, data) -> None:
    """How much of the maze the training split visits: cells reached, and rows per cell."""
    from gcttt.data.access import make_env
    from gcttt.datagen.collect_maze import cell_coverage

    maze = make_env(info).unwrapped
    visited, free, visits = cell_coverage(maze.maze_map, data.observations[:, :2], maze.xy_to_ij)
    share = visits / max(1, visits.sum())
    print(
        f"coverage: {visited} of {free} free cells visited; rows per visited cell: min {visits[visits > 0].min()}, "
        f"median {int(np.median(visits[visits > 0]))}, max {visits.max()} (the busiest cell holds {share.max():.1%})"
    )


ACTIONS = {
    "generate": (
        DataGenerate,
        run_generate,
        f"generate a dataset locally in OGBench's format ({len(SUPPORTED)} supported)",
    ),
    "info": (DataInfo, run_info, "summarise a dataset's files"),
}
