"""`gcttt pretrain`: offline pre-training of a backbone on an OGBench dataset.

The flags are `gcttt.pretrain.PretrainConfig`'s fields and the command's own (`PretrainCommand`). MLflow
logging (`--mlflow-uri`) comes from the application layer through the ``gcttt.metrics_sinks``
entry point (the `tracking` package registers it); the library never imports MLflow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gcttt.pretrain import PretrainConfig


@dataclass(frozen=True)
class PretrainCommand:
    """Pre-train a goal-conditioned backbone offline. Progress bar with the losses, evaluation on the 5
    OGBench tasks every --eval-every updates, resumable checkpoints (rerun the same command after a kill
    to continue), optional MLflow logging. Scale flags left at None take the preset's values."""

    run: PretrainConfig
    threads: int | Literal["torch"] = "torch"
    """Torch CPU threads ('torch': torch's choice)."""
    update_mode: Literal["auto", "eager", "compiled", "graph"] = "auto"
    """How updates run: a captured CUDA graph, torch.compile or eager; auto = graph on CUDA, eager on the CPU."""
    mlflow_uri: str | None = None
    """Also log to MLflow at this tracking URI, e.g. sqlite:////abs/path/mlflow.db (None: no MLflow)."""
    mlflow_experiment: str = "gcttt-pretrain"
    """MLflow experiment name."""


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


def run(args: PretrainCommand) -> int:
    import torch

    from gcttt.errors import UsageError
    from gcttt.files.fileio import check_writable_dir
    from gcttt.pretrain import pretrain, resolved_scale

    if args.threads != "torch":
        if args.threads < 1:
            raise UsageError(f"--threads must be at least 1 (got {args.threads})")
        torch.set_num_threads(args.threads)
    config = args.run
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


ACTIONS = {None: (PretrainCommand, run, "pre-train a backbone (gcbc, gciql, saw) on a dataset")}
