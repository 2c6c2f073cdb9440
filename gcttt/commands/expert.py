"""`gcttt expert train|check ant`: the SAC locomotion expert behind the antmaze datasets."""

from __future__ import annotations

import argparse
import shlex
import sys

EXPERTS = ("ant",)


def add_parser(sub) -> None:
    parser = sub.add_parser("expert", help="train or check the locomotion expert used to generate antmaze data")
    expert_sub = parser.add_subparsers(dest="expert_command", required=True, metavar="ACTION")

    train = expert_sub.add_parser(
        "train",
        help="train the ant expert with SAC on OGBench's directional task",
        description=(
            "Soft actor-critic on OGBench's online ant with a random commanded direction every 100 steps "
            "(SPEC §2). Resumable: rerun the same command after a kill. About an hour on one CPU core."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    train.add_argument("expert", choices=EXPERTS, help="which expert")
    train.add_argument("--steps", type=int, default=400_000, help="env steps (one SAC update each)")
    train.add_argument("--random-steps", type=int, default=10_000, help="uniformly random steps before updates")
    train.add_argument("--seed", type=int, default=0, help="seed of weights, env and replay sampling")
    train.add_argument("--eval-every", type=int, default=50_000, help="env steps between evaluations (0: end only)")
    train.add_argument("--eval-episodes", type=int, default=10, help="episodes per periodic evaluation")
    train.add_argument("--save-every", type=int, default=20_000, help="env steps between resumable saves")
    train.add_argument("--out", default="runs/expert/ant", help="run directory")
    train.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    train.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    train.set_defaults(handler=run_train)


def run_train(args: argparse.Namespace) -> int:
    import torch

    from gcttt.errors import UsageError
    from gcttt.expert.train import ExpertTrainConfig, train_expert
    from gcttt.provenance import resolve_device

    if args.threads < 1:
        raise UsageError(f"--threads must be at least 1 (got {args.threads})")
    torch.set_num_threads(args.threads)
    config = ExpertTrainConfig(
        steps=args.steps,
        random_steps=args.random_steps,
        seed=args.seed,
        eval_every=args.eval_every,
        eval_episodes=args.eval_episodes,
        save_every=args.save_every,
        out=args.out,
        device=str(resolve_device(args.device)),
    )
    command = "gcttt " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    out = train_expert(config, command=command)
    print(f"expert in {out}: actor.pt, manifest.json")
    return 0
