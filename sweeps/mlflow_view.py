"""What a sweep's MLflow runs show, chosen so that MLflow's runs table and compare view read like the
command line and the sweep's results table:

- run names are short and say the configuration: 'critic K200 N100 lr3e-4 w256 s0', 'pre-trained
  w256 s0' (the arm's full id, which keys its rows and finds its run again, is the tag gcttt.arm);
- params carry the command line's names (K, N, lr, q, selection, finetune, ...) and only where the
  arm's strategy reads them: no K for a strategy that selects once (its `schedule` says 'once
  (kept)'), no q where q is not read, no knob at all for the pre-trained policy; never a None;
- metrics: success and its CI unprefixed, so MLflow's charts show them first, then the times under
  time/, the costs under cost/ and the selection's sizes under selection/;
- artifacts keep one name in every trial (`EPISODES`, ...), so the compare view lines them up;
- the parent run lists what ran (every selection, the values of each grid axis, the arm count) and
  names the best configuration.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from gcttt.control.ttt import ttt_columns
from gcttt.selection import KNOBS
from sweeps.arms import Arm
from sweeps.common import Sweep

EPISODES = "episodes.parquet"
"""The trial's rows, under episodes/ (the same file name in every trial)."""
TRAJECTORIES = "trajectories.npz"
"""The trial's trajectory side file, under trajectories/."""
PICTURE = "picture.png"
"""The trial's maze picture, under pictures/."""

_SCHEDULES = {"once": "once", "once-keep": "once (kept)", "receding": "receding"}
_TIME = {
    "episode_seconds",
    "act_seconds",
    "selection_seconds",
    "finetune_seconds",
    "trial_seconds",
    "episodes_wall_seconds",
    "prepare_seconds",
    "overhead_share",
    "trajectory_seconds",
    "picture_seconds",
    "fit_seconds",
    "tune_overhead_share",
}
_COST = {"flops_per_episode", "value_evaluations", "value_evaluations_computed", "episodes", "trajectory_bytes"}
_SELECTION = {"mean_selected"}


def flag(name: str) -> str:
    """A knob's name as on the command line: min_steps -> min-steps."""
    return name.replace("_", "-")


def _number(value: float) -> str:
    """0.2 as 0.2, 1e-05 as 1e-5."""
    text = f"{value:g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent)}"
    return text


def _lr(value: float) -> str:
    """A learning rate as the sweeps' tables write it: 3e-4 rather than 0.0003."""
    if not value:
        return "0"
    mantissa, exponent = f"{value:.2e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def _step(step: int | None) -> str:
    if step is None:
        return ""
    return f" c{step // 1000}k" if step and step % 1000 == 0 else f" c{step}"


def method_label(arm: Arm) -> str:
    """The configuration alone: 'critic K200 N100 lr3e-4', 'critic-free once (kept) N50 lr3e-4 q0.2'."""
    if arm.ttt is None:
        return "pre-trained"
    params = trial_params(arm)
    parts = [params["selection"], f"K{params['K']}" if "K" in params else params["schedule"]]
    parts += [f"N{params['N']}", f"lr{params['lr']}"]
    if "q" in params:
        parts.append(f"q{params['q']}")
    if params.get("finetune", "all") != "all":
        parts.append(params["finetune"])
    return " ".join(parts)


def run_name(arm: Arm) -> str:
    """The run's short name: the configuration, width, seed, checkpoint step and (when not OGBench's
    5 tasks) the suite."""
    suite = "" if arm.suite == "ogbench" else f" {arm.suite}"
    return f"{method_label(arm)} w{arm.width} s{arm.seed}{_step(arm.checkpoint_step)}{suite}"


def trial_params(arm: Arm, tasks: Iterable[int] = (), episodes_per_task: int | None = None) -> dict[str, str]:
    """The trial's params: what the arm's configuration reads, by its command-line names."""
    params: dict[str, Any] = {
        "method": arm.method,
        "seed": arm.seed,
        "width": arm.width,
        "checkpoint": "final" if arm.checkpoint_step is None else arm.checkpoint_step,
        "suite": arm.suite,
    }
    if tasks:
        params["tasks"] = " ".join(map(str, tasks))
    if episodes_per_task is not None:
        params["episodes-per-task"] = episodes_per_task
    if arm.ttt is not None:
        columns = ttt_columns(arm.ttt)
        selection = arm.ttt.selection
        params["selection"] = columns["selection"]
        if selection.receding:
            params["K"] = columns["horizon"]
        else:  # selects once: K is never read; say when it fine-tunes instead
            params["schedule"] = _SCHEDULES.get(arm.ttt.schedule, arm.ttt.schedule)
        params["N"] = columns["grad_steps"]
        params["lr"] = _lr(columns["lr"])
        params["finetune-batch"] = columns["finetune_batch"] or "backbone"
        if columns.get("finetune"):
            params["finetune"] = columns["finetune"]
        for knob in KNOBS:
            if knob in selection.reads:
                value = columns[knob]
                params[flag(knob)] = _number(value) if isinstance(value, float) else value
    return {k: str(v) for k, v in params.items() if v is not None}


def trial_metrics(metrics: dict[str, float]) -> dict[str, float]:
    """The trial's metrics as MLflow shows them: success (overall, CI, per task) unprefixed, then
    time/, cost/ and selection/ (`summarize`'s task3_success becomes success_task3)."""
    out = {}
    for key, value in metrics.items():
        if key.startswith("task") and key.endswith("_success"):
            key = f"success_{key.removesuffix('_success')}"
        elif key in _TIME:
            key = f"time/{key}"
        elif key in _COST:
            key = f"cost/{key}"
        elif key in _SELECTION:
            key = f"selection/{key}"
        out[key] = value
    # MLflow lists a run's metrics in the order they were logged: success first, then each group.
    return dict(sorted(out.items(), key=lambda item: (not item[0].startswith("success"), item[0])))


def _order(value: Any) -> tuple[int, float, str]:
    try:
        return 0, float(value), ""
    except (TypeError, ValueError):
        return 1, 0.0, str(value)


def _values(values: Iterable[Any]) -> str | None:
    """Distinct values, numbers in numeric order, as one param: '100 200', '3e-5 3e-4'."""
    found = sorted({_number(v) if isinstance(v, float) else str(v) for v in values}, key=_order)
    return " ".join(found) or None


def sweep_params(sweep: Sweep, arms: list[Arm]) -> dict[str, str]:
    """The parent run's params: the sweep's settings by their command-line names, and what ran (every
    selection, each grid axis's values, the arm count); nothing that is None."""
    ttt = [a for a in arms if a.ttt is not None]
    trials = [trial_params(a) for a in ttt]
    selections = [p["selection"] for p in trials] + (["pre-trained"] if len(ttt) < len(arms) else [])
    params: dict[str, Any] = {
        "kind": sweep.kind,
        "dataset": sweep.what.dataset,
        "backbone": sweep.what.backbone,
        "preset": sweep.what.preset,
        "seeds": _values(sweep.what.seeds),
        "checkpoints": _values(sweep.what.checkpoint_steps) or "final",
        "suite": sweep.episodes.suite,
        "tasks": _values(sweep.episodes.tasks),
        "episodes-per-task": sweep.episodes.episodes_per_task,
        "eval-seed": sweep.episodes.eval_seed,
        "pretrain-steps": sweep.what.pretrain_steps,
        "published": sweep.outputs.published,
        "workers": sweep.resources.workers,
        "cpus-per-worker": sweep.resources.cpus_per_worker,
        "gpus-per-worker": sweep.resources.gpus_per_worker,
        "max-concurrent-trials": sweep.resources.max_concurrent_trials,
        "compile": sweep.resources.compile,
        "record-trajectories": sweep.outputs.record_trajectories,
        "arms": len(arms),
        "selections": _values(selections),
    }
    for name in ("K", "schedule", "N", "lr", "q", "finetune-batch", "finetune", *map(flag, KNOBS)):
        if name not in params:
            params[name] = _values(p[name] for p in trials if name in p)
    # Values still left to the preset or the cluster say nothing: they are not logged.
    return {k: str(v) for k, v in params.items() if v is not None and v not in ("auto", "preset")}


def config_label(row: Any) -> str:
    """A configuration of the sweep's summary table (`gcttt.results.tables.summary_frame`) as
    `method_label` writes it: 'critic K200 N100 lr3e-4'."""
    if row["method"] == "baseline":
        return "pre-trained"
    schedule = str(row["schedule"])
    when = f"K{int(row['horizon'])}" if schedule == "receding" else _SCHEDULES.get(schedule, schedule)
    parts = [str(row["selection"]), when, f"N{int(row['grad_steps'])}", f"lr{_lr(float(row['lr']))}"]
    if float(row.get("q", 0) or 0):
        parts.append(f"q{_number(float(row['q']))}")
    if str(row.get("finetune", "all") or "all") != "all":
        parts.append(str(row["finetune"]))
    return " ".join(parts)


def sweep_outcome(summary) -> tuple[dict[str, float], dict[str, str]]:
    """The parent run's success metrics (the pre-trained policy's, the best GC-TTT configuration's)
    and the tag naming that configuration, from the sweep's summary table."""
    metrics: dict[str, float] = {}
    tags: dict[str, str] = {}
    if summary is None or not len(summary):
        return metrics, tags
    base = summary[summary["method"] == "baseline"]
    ttt = summary[summary["method"] != "baseline"]
    if len(base):
        metrics["success_pretrained"] = float(base["success"].mean())
    if len(ttt):
        best = ttt.sort_values("success", ascending=False, kind="stable").iloc[0]
        metrics["success_best_gcttt"] = float(best["success"])
        tags["gcttt.best_gcttt"] = config_label(best)
    return metrics, tags


def runs_link(experiment_id: str, sweep_id: str, host: str = "http://127.0.0.1:5000") -> str:
    """`mlflow ui`'s page of the sweep's runs, best success first."""
    search = quote(f"tags.`gcttt.sweep_id` = '{sweep_id}'", safe="")
    order = quote("metrics.`success`", safe="")
    return f"{host}/#/experiments/{experiment_id}/runs?searchFilter={search}&orderByKey={order}&orderByAsc=false"
