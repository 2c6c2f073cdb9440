"""`gcttt pretrain`: offline pre-training of a backbone on an OGBench dataset."""

from __future__ import annotations

import argparse

import torch

from gcttt.agents import BACKBONES
from gcttt.presets import PRESETS


def add_parser(sub) -> None:
    p = sub.add_parser(
        "pretrain",
        help="pre-train a backbone (gcbc, gciql, saw) on a dataset",
        description=(
            "Pre-train a goal-conditioned backbone offline. Progress bar with the losses, evaluation on "
            "the 5 OGBench tasks every --eval-every updates, resumable checkpoints (rerun the same command "
            "after a kill to continue), optional MLflow logging."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--dataset", required=True, help="OGBench dataset name, e.g. pointmaze-medium-navigate-v0")
    p.add_argument("--backbone", required=True, choices=sorted(BACKBONES), help="backbone to pre-train")
    p.add_argument("--preset", default="cpu", choices=sorted(PRESETS), help="scale preset")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights and the batch stream")
    p.add_argument("--steps", type=int, default=None, help="gradient updates (default: the preset's)")
    p.add_argument("--width", type=int, default=None, help="hidden units per layer (default: the preset's)")
    p.add_argument("--depth", type=int, default=None, help="hidden layers (default: the preset's)")
    p.add_argument("--batch-size", type=int, default=None, help="batch size (default: the preset's)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: the preset's)")
    p.add_argument("--eval-every", type=int, default=None, help="updates between evaluations, 0: end only")
    p.add_argument("--eval-episodes", type=int, default=None, help="episodes per task per evaluation")
    p.add_argument("--checkpoint-steps", type=int, nargs="*", default=None, help="steps whose checkpoints are kept")
    p.add_argument("--save-every", type=int, default=None, help="updates between resumable saves")
    p.add_argument("--out", default="runs/pretrain", help="root of the run directories")
    p.add_argument("--data-dir", default=None, help="dataset directory (default: $GCTTT_DATA_DIR or ~/.ogbench/data)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument(
        "--mlflow-uri",
        default=None,
        help="also log to MLflow at this tracking URI, e.g. sqlite:////abs/path/mlflow.db",
    )
    p.add_argument("--mlflow-experiment", default="gcttt-pretrain", help="MLflow experiment name")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from gcttt.pretrain import PretrainConfig, checkpoint_key, pretrain

    if args.threads:
        torch.set_num_threads(args.threads)
    config = PretrainConfig(
        dataset=args.dataset,
        backbone=args.backbone,
        preset=args.preset,
        seed=args.seed,
        steps=args.steps,
        width=args.width,
        depth=args.depth,
        batch_size=args.batch_size,
        lr=args.lr,
        eval_every=args.eval_every,
        eval_episodes=args.eval_episodes,
        checkpoint_steps=tuple(args.checkpoint_steps) if args.checkpoint_steps is not None else None,
        save_every=args.save_every,
        out_dir=args.out,
        data_dir=args.data_dir,
        device=args.device,
    )
    sinks = ()
    if args.mlflow_uri:
        # MLflow lives in the app layer (sweeps/); the library itself never imports it.
        from sweeps.tracking import MlflowSink

        sinks = (MlflowSink(args.mlflow_uri, args.mlflow_experiment, run_name=checkpoint_key(config)),)
    result = pretrain(config, sinks=sinks)
    if result.seconds == 0.0:
        print(f"already finished: {result.final_checkpoint}")
    else:
        print(f"finished {result.steps} updates in {result.seconds / 60:.1f} min: {result.final_checkpoint}")
    if result.final_success is not None:
        print(f"final success on the 5 tasks: {result.final_success:.3f}")
    return 0
