"""`gcttt data generate|info`: build OGBench datasets locally, and summarise dataset files."""

from __future__ import annotations

import argparse

import numpy as np

from gcttt.data.access import resolve_data_dir
from gcttt.data.files import read_dataset_file, split_paths
from gcttt.data.generation import SUPPORTED, generate_dataset, generation_spec
from gcttt.envs import dataset_info


def add_parser(sub) -> None:
    parser = sub.add_parser("data", help="generate or inspect OGBench datasets")
    data_sub = parser.add_subparsers(dest="data_command", required=True, metavar="ACTION")

    gen = data_sub.add_parser(
        "generate",
        help="generate a dataset locally in OGBench's file format",
        description=(
            "Play OGBench's data-collection oracles and write DATASET.npz and DATASET-val.npz "
            "(one tenth of the episodes) in OGBench's format, so that "
            "ogbench.make_env_and_datasets(DATASET, dataset_dir=OUT) loads them. "
            f"Supported: {', '.join(sorted(SUPPORTED))}."
        ),
    )
    gen.add_argument("dataset", help="OGBench dataset name, e.g. pointmaze-medium-navigate-v0")
    gen.add_argument(
        "--episodes",
        type=int,
        default=None,
        help="training episodes (default: OGBench's count for the dataset)",
    )
    gen.add_argument(
        "--max-episode-steps",
        type=int,
        default=None,
        help="observations per episode (default: OGBench's length for the dataset)",
    )
    gen.add_argument("--seed", type=int, default=0, help="seed; the files depend only on it and the sizes (default: 0)")
    gen.add_argument("--out", default=None, help="output directory (default: $GCTTT_DATA_DIR, else ~/.ogbench/data)")
    gen.add_argument("--workers", type=int, default=None, help="worker processes, at least 1 (default: all cores)")
    gen.add_argument("--overwrite", action="store_true", help="replace the dataset's files if they exist")
    gen.set_defaults(handler=run_generate)

    info = data_sub.add_parser(
        "info",
        help="summarise a dataset's files",
    )
    info.add_argument("dataset", help="OGBench dataset name")
    info.add_argument(
        "--data-dir", default=None, help="data directory (default: $GCTTT_DATA_DIR, else ~/.ogbench/data)"
    )
    info.set_defaults(handler=run_info)


def run_generate(args: argparse.Namespace) -> int:
    generation_spec(args.dataset)  # refuse unknown names before anything starts
    out = resolve_data_dir(args.out)
    report = generate_dataset(
        args.dataset,
        out,
        episodes=args.episodes,
        max_episode_steps=args.max_episode_steps,
        seed=args.seed,
        workers=args.workers,
        overwrite=args.overwrite,
    )
    print(f"wrote {report.train_path}: {report.train.summary()}")
    print(f"wrote {report.val_path}: {report.val.summary()}")
    print(
        f"{report.seconds:.1f} s with {report.workers} workers; oracle reached its goal at "
        f"{100 * report.success_fraction:.2f}% of steps ({report.successes_per_episode:.2f} per episode)"
    )
    return 0


def run_info(args: argparse.Namespace) -> int:
    from gcttt.data.provenance import dataset_provenance

    info = dataset_info(args.dataset)
    root = resolve_data_dir(args.data_dir)
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
    from gcttt.data.collect_maze import cell_coverage

    maze = make_env(info).unwrapped
    visited, free, visits = cell_coverage(maze.maze_map, data.observations[:, :2], maze.xy_to_ij)
    share = visits / max(1, visits.sum())
    print(
        f"coverage: {visited} of {free} free cells visited; rows per visited cell: min {visits[visits > 0].min()}, "
        f"median {int(np.median(visits[visits > 0]))}, max {visits.max()} (the busiest cell holds {share.max():.1%})"
    )
