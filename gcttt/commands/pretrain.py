"""`gcttt pretrain`: offline pre-training of a backbone on an OGBench dataset.

The flags are `gcttt.pretrain.PretrainConfig`'s fields (help from their docstrings). MLflow
logging (`--mlflow-uri`) comes from the application layer through the ``gcttt.metrics_sinks``
entry point (sweeps/tracking.py registers it); the library never imports MLflow.
"""

from __future__ import annotations

import argparse

from gcttt.configargs import add_dataclass_arguments, dataclass_values


def add_parser(sub) -> None:
    from gcttt.agents import BACKBONES
    from gcttt.presets import PRESETS, preset_summary
    from gcttt.pretrain import PretrainConfig

    p = sub.add_parser(
        "pretrain",
        help="pre-train a backbone (gcbc, gciql, saw) on a dataset",
        description=(
            "Pre-train a goal-conditioned backbone offline. Progress bar with the losses, evaluation on "
            "the 5 OGBench tasks every --eval-every updates, resumable checkpoints (rerun the same command "
            "after a kill to continue), optional MLflow logging. Scale flags left out take the preset's "
            f"values. Presets: {'; '.join(f'{n}: {preset_summary(n)}' for n in PRESETS)}. Backbones: "
            f"{', '.join(BACKBONES)}."
        ),
    )
    add_dataclass_arguments(p, PretrainConfig, flags={"out_dir": "--out"})
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument(
        "--update-mode",
        choices=["auto", "eager", "compiled", "graph"],
        default="auto",
        help="how updates run: a captured CUDA graph, torch.compile or eager; auto = graph on CUDA, "
        "eager on the CPU (default: auto)",
    )
    p.add_argument(
        "--mlflow-uri",
        default=None,
        help="also log to MLflow at this tracking URI, e.g. sqlite:////abs/path/mlflow.db (default: no MLflow)",
    )
    p.add_argument("--mlflow-experiment", default="gcttt-pretrain", help="MLflow experiment name")
    p.set_defaults(handler=run)


def metrics_sink_factory(uri: str, experiment: str):
    """The app layer's MLflow sink, found through the ``gcttt.metrics_sinks`` entry point."""
    from importlib.metadata import entry_points

    from gcttt.errors import UsageError
    from gcttt.pretrain import checkpoint_key

    found = [ep for ep in entry_points(group="gcttt.metrics_sinks") if ep.name == "mlflow"]
    if not found:
        raise UsageError("--mlflow-uri needs the app layer installed: pip install -e . in the gcttt checkout")
    sink_class = found[0].load()
    sink_class.check_uri(uri)  # refuse a bad URI before any work
    return lambda config: [sink_class(uri, experiment, run_name=checkpoint_key(config))]


def run(args: argparse.Namespace) -> int:
    import torch

    from gcttt.errors import UsageError
    from gcttt.fileio import check_writable_dir
    from gcttt.pretrain import PretrainConfig, pretrain, resolved_scale

    if args.threads is not None:
        if args.threads < 1:
            raise UsageError(f"--threads must be at least 1 (got {args.threads})")
        torch.set_num_threads(args.threads)
    config = PretrainConfig(**dataclass_values(args, PretrainConfig))
    resolved_scale(config)  # refuse bad scale flags before anything is created
    check_writable_dir(config.out_dir, "--out")
    make_sinks = metrics_sink_factory(args.mlflow_uri, args.mlflow_experiment) if args.mlflow_uri else None
    result = pretrain(config, make_sinks=make_sinks, update_mode=args.update_mode)
    if result.seconds == 0.0:
        print(f"already finished: {result.final_checkpoint}")
    else:
        print(f"finished {result.steps} updates in {result.seconds / 60:.1f} min: {result.final_checkpoint}")
    if result.final_success is not None:
        print(f"final success on the 5 tasks: {result.final_success:.3f}")
    return 0
