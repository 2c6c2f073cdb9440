"""`gcttt expert train|check ant`: the SAC locomotion expert behind the antmaze datasets."""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, field
from typing import Literal

import tyro

from gcttt.datagen.expert.train import ExpertTrainConfig


@dataclass(frozen=True)
class ExpertTrain:
    """Soft actor-critic on OGBench's online ant with a random commanded direction every 100 steps
    (docs/method.md §2). Resumable: rerun the same command after a kill. About an hour on one CPU core."""

    expert: tyro.conf.Positional[Literal["ant"]]
    """Which expert."""
    run: ExpertTrainConfig = field(default_factory=ExpertTrainConfig)
    threads: int = 1
    """Torch CPU threads."""


@dataclass(frozen=True)
class ExpertCheck:
    """Measure the expert: its mean speed along the commanded direction and early-termination rate over
    --episodes directional episodes, and its success on antmaze-medium's 5 evaluation tasks when driven
    by OGBench's BFS oracle with no action noise (the bar: 95%). Exit status 1 below the bar."""

    expert: tyro.conf.Positional[Literal["ant"]]
    """Which expert."""
    expert_dir: str | Literal["shipped"] = "shipped"
    """Folder with actor.pt ('shipped': the one shipped with gcttt)."""
    episodes: int = 50
    """Directional episodes."""
    maze_episodes: int = 10
    """Antmaze episodes per task."""
    seed: int = 0
    """Seed of the checked episodes."""
    write_manifest: bool = False
    """Record the results and the weights' fingerprint in the manifest."""


def run_train(args: ExpertTrain) -> int:
    from dataclasses import replace

    import torch

    from gcttt.datagen.expert.train import train_expert
    from gcttt.errors import UsageError
    from gcttt.files.provenance import resolve_device

    if args.threads < 1:
        raise UsageError(f"--threads must be at least 1 (got {args.threads})")
    torch.set_num_threads(args.threads)
    config = replace(args.run, device=str(resolve_device(args.run.device)))
    command = "gcttt " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    out = train_expert(config, command=command)
    print(f"expert in {out}: actor.pt, manifest.json; check it with `gcttt expert check ant --expert-dir {out}`")
    return 0


def run_check(args: ExpertCheck) -> int:
    import json
    from pathlib import Path

    import torch

    from gcttt.datagen.expert.checks import MAZE_BAR, check_expert
    from gcttt.datagen.expert.shipped import expert_dir, load_expert, read_manifest
    from gcttt.errors import UsageError
    from gcttt.files.fileio import atomic_write_text
    from gcttt.files.provenance import file_fingerprint

    if args.episodes < 1 or args.maze_episodes < 1:
        raise UsageError("--episodes and --maze-episodes must be at least 1")
    torch.set_num_threads(1)
    folder = expert_dir(args.expert) if args.expert_dir == "shipped" else Path(args.expert_dir)
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


ACTIONS = {
    "train": (ExpertTrain, run_train, "train the ant expert with SAC on OGBench's directional task"),
    "check": (
        ExpertCheck,
        run_check,
        "re-run the expert's checks (directional speed, antmaze-medium with the BFS oracle)",
    ),
}
