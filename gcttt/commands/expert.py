"""`gcttt expert train|check ant`: the SAC locomotion expert behind the antmaze datasets.

`train`'s flags are `gcttt.expert.train.ExpertTrainConfig`'s fields (help from their docstrings).
"""

from __future__ import annotations

import argparse
import shlex
import sys

from gcttt.configargs import add_dataclass_arguments, dataclass_values

EXPERTS = ("ant",)


def add_parser(sub) -> None:
    from gcttt.expert.train import ExpertTrainConfig

    parser = sub.add_parser("expert", help="train or check the locomotion expert used to generate antmaze data")
    expert_sub = parser.add_subparsers(dest="expert_command", required=True, metavar="ACTION")

    train = expert_sub.add_parser(
        "train",
        help="train the ant expert with SAC on OGBench's directional task",
        description=(
            "Soft actor-critic on OGBench's online ant with a random commanded direction every 100 steps "
            "(SPEC §2). Resumable: rerun the same command after a kill. About an hour on one CPU core."
        ),
    )
    train.add_argument("expert", choices=EXPERTS, help="which expert")
    add_dataclass_arguments(train, ExpertTrainConfig)
    train.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    train.set_defaults(handler=run_train)

    check = expert_sub.add_parser(
        "check",
        help="re-run the expert's checks (directional speed, antmaze-medium with the BFS oracle)",
        description=(
            "Measure the expert: its mean speed along the commanded direction and early-termination rate "
            "over --episodes directional episodes, and its success on antmaze-medium's 5 evaluation tasks "
            "when driven by OGBench's BFS oracle with no action noise (the bar: 95%). Exit status 1 below "
            "the bar."
        ),
    )
    check.add_argument("expert", choices=EXPERTS, help="which expert")
    check.add_argument("--expert-dir", default=None, help="folder with actor.pt (default: the one shipped with gcttt)")
    check.add_argument("--episodes", type=int, default=50, help="directional episodes (default: 50)")
    check.add_argument("--maze-episodes", type=int, default=10, help="antmaze episodes per task (default: 10)")
    check.add_argument("--seed", type=int, default=0, help="seed of the checked episodes (default: 0)")
    check.add_argument(
        "--write-manifest", action="store_true", help="record the results and the weights' fingerprint in the manifest"
    )
    check.set_defaults(handler=run_check)


def run_train(args: argparse.Namespace) -> int:
    import torch

    from gcttt.errors import UsageError
    from gcttt.expert.train import ExpertTrainConfig, train_expert
    from gcttt.provenance import resolve_device

    if args.threads < 1:
        raise UsageError(f"--threads must be at least 1 (got {args.threads})")
    torch.set_num_threads(args.threads)
    values = dataclass_values(args, ExpertTrainConfig)
    values["device"] = str(resolve_device(values["device"]))
    config = ExpertTrainConfig(**values)
    command = "gcttt " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    out = train_expert(config, command=command)
    print(f"expert in {out}: actor.pt, manifest.json; check it with `gcttt expert check ant --expert-dir {out}`")
    return 0


def run_check(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    import torch

    from gcttt.errors import UsageError
    from gcttt.expert.checks import MAZE_BAR, check_expert
    from gcttt.expert.shipped import expert_dir, load_expert, read_manifest
    from gcttt.fileio import atomic_write_text
    from gcttt.provenance import file_fingerprint

    if args.episodes < 1 or args.maze_episodes < 1:
        raise UsageError("--episodes and --maze-episodes must be at least 1")
    torch.set_num_threads(1)
    folder = Path(args.expert_dir) if args.expert_dir else expert_dir(args.expert)
    expert = load_expert(args.expert, folder)
    report = check_expert(expert, args.episodes, args.maze_episodes, args.seed)
    print(
        f"{folder}: speed along the command {report.speed:.3f} m/s, early terminations "
        f"{report.early_termination_rate:.0%} over {report.directional_episodes} episodes"
    )
    tasks = " ".join(f"{s:.2f}" for s in report.maze_success_per_task)
    print(
        f"{report.maze} with the BFS oracle, no noise: success {report.maze_success:.3f} "
        f"(tasks {tasks}; {report.maze_episodes_per_task} episodes each; bar {MAZE_BAR:.2f}); {report.seconds:.0f} s"
    )
    if args.write_manifest:
        manifest = read_manifest(folder) if (folder / "manifest.json").exists() else {}
        manifest["actor_fingerprint"] = file_fingerprint(folder / "actor.pt")
        manifest["checks"] = {**report.as_dict(), "command": "gcttt " + " ".join(sys.argv[1:])}
        atomic_write_text(folder / "manifest.json", json.dumps(manifest, indent=2) + "\n")
        print(f"recorded in {folder / 'manifest.json'}")
    return 0 if report.passed else 1
