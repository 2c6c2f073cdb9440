"""Offline pre-training of a backbone, with periodic evaluation, checkpoints and resume.

`pretrain(config)` trains `config.backbone` on `config.dataset` at a preset's scale. Its run
directory is named by the checkpoint key (dataset, backbone, preset, width, depth, steps, seed),
so a sweep can find a finished run and reuse it. Every `save_every` updates the whole state
(weights, targets, Adam, sampler RNG, step) goes to ``latest.pt``; a rerun after a kill resumes
from there and continues the same random stream. Checkpoints at `checkpoint_steps` are kept as
``step_XXXXXXXX.pt``; ``final.pt`` is the last one.

Metrics go to ``metrics.jsonl`` in the run directory and to any extra `MetricsSink` the
application supplies (the CLI finds an MLflow sink through the ``gcttt.metrics_sinks`` entry
point that the app layer registers; the library never imports MLflow).

A checkpoint belongs to the dataset file it was trained on: its fingerprint is stored, a resumed
or finished run refuses a different file, and so do evaluation and the sweeps.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

import torch
from tqdm.auto import tqdm

from gcttt.agents import Agent, make_agent
from gcttt.agents.graphed import GraphedUpdates, resolve_update_mode
from gcttt.control.evaluation import evaluate_policy, overall_success
from gcttt.data.access import make_env_and_datasets, resolve_data_dir
from gcttt.data.files import split_paths
from gcttt.data.provenance import dataset_provenance
from gcttt.data.sampler import GoalSampler
from gcttt.data.transitions import TransitionData
from gcttt.datagen import ensure_dataset_files
from gcttt.envs import dataset_info
from gcttt.errors import UsageError
from gcttt.files.checkpoint import check_trained_on, read_checkpoint, save_checkpoint
from gcttt.files.provenance import git_sha, resolve_device, versions
from gcttt.flagnames import flag
from gcttt.presets import backbone_config, get_preset


class MetricsSink(Protocol):
    """Somewhere metrics go (a JSON-lines file, MLflow, ...)."""

    def log_params(self, params: dict[str, Any]) -> None: ...

    def log_metrics(self, metrics: dict[str, float], step: int) -> None: ...

    def close(self, status: str) -> None: ...


class JsonlSink:
    """Appends one JSON object per logging event to a file."""

    def __init__(self, path: Path):
        self.path = path

    def _write(self, record: dict[str, Any]) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")

    def log_params(self, params: dict[str, Any]) -> None:
        self._write({"params": params})

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        self._write({"step": step, **metrics})

    def close(self, status: str) -> None:
        self._write({"status": status})


@dataclass(frozen=True)
class PretrainConfig:
    """One pre-training run. Scale fields left at 'preset' take the preset's value."""

    dataset: str
    """OGBench dataset name."""
    backbone: str
    """gcbc, gciql or saw."""
    preset: str = "cpu"
    """Scale preset: paper, cpu or smoke."""
    seed: int = 0
    """Seed of the initial weights and of the batch stream."""
    steps: int | Literal["preset"] = "preset"
    """Gradient updates ('preset': the preset's)."""
    width: int | Literal["preset"] = "preset"
    """Hidden units per layer ('preset': the preset's)."""
    depth: int | Literal["preset"] = "preset"
    """Hidden layers per network ('preset': the preset's)."""
    batch_size: int | Literal["preset"] = "preset"
    """Transitions per update ('preset': the preset's)."""
    lr: float | Literal["preset"] = "preset"
    """Adam learning rate ('preset': the preset's)."""
    eval_every: int | Literal["preset"] = "preset"
    """Updates between evaluations on the 5 tasks; 0 evaluates only at the end ('preset': the preset's)."""
    eval_episodes: int | Literal["preset"] = "preset"
    """Episodes per task in each evaluation ('preset': the preset's)."""
    checkpoint_steps: tuple[int, ...] | Literal["preset"] = "preset"
    """Steps whose checkpoints are kept ('preset': the preset's; the last step always)."""
    save_every: int | Literal["preset"] = "preset"
    """Updates between resumable saves of latest.pt ('preset': the preset's)."""
    log_every: int = 100
    """Updates between metric logs."""

    def __post_init__(self) -> None:
        if self.log_every < 1:
            raise UsageError(f"--log-every must be at least 1 (got {self.log_every})")
        if self.seed < 0:  # a seed names the run (...-s0): -1 would give '-s-1' and no meaning
            raise UsageError(f"--seed must be 0 or more (got {self.seed})")

    out_dir: Annotated[str, flag("out")] = "runs/pretrain"
    """Root of the run directories."""
    data_dir: str | None = None
    """Dataset directory (None: $GCTTT_DATA_DIR, else ~/.ogbench/data)."""
    device: str = "auto"
    """cpu, cuda, cuda:N or auto (CUDA when available)."""


@dataclass(frozen=True)
class PretrainResult:
    run_dir: Path
    final_checkpoint: Path
    steps: int
    seconds: float
    """Wall time of this invocation (0 when the run had already finished)."""
    final_success: float | None
    """Success over the 5 tasks at the last evaluation."""


def resolved_scale(config: PretrainConfig) -> dict[str, Any]:
    """The preset's scale with the config's explicit values applied."""
    preset = get_preset(config.preset)

    def pick(name: str):
        # Only 'preset' means the preset's: an explicit 0 is a value, validated below.
        value = getattr(config, name)
        return getattr(preset, name) if value == "preset" else value

    scale = {
        name: pick(name)
        for name in ("width", "depth", "batch_size", "lr", "steps", "eval_every", "eval_episodes", "save_every")
    }
    steps = scale["steps"]
    if config.checkpoint_steps != "preset":
        outside = [s for s in config.checkpoint_steps if not 0 < s <= steps]
        if outside:
            raise UsageError(f"--checkpoint-steps must lie in 1-{steps} (the run's steps); got {outside}")
    kept = config.checkpoint_steps if config.checkpoint_steps != "preset" else preset.checkpoint_steps
    scale["checkpoint_steps"] = tuple(sorted({s for s in kept if 0 < s <= steps} | {steps}))
    for key in ("width", "depth", "batch_size", "steps", "save_every", "eval_episodes"):
        if scale[key] < 1:
            raise UsageError(f"--{key.replace('_', '-')} must be at least 1 (got {scale[key]})")
    if scale["eval_every"] < 0:
        raise UsageError(f"--eval-every must be 0 or more (got {scale['eval_every']})")
    if scale["lr"] <= 0:
        raise UsageError(f"--lr must be positive (got {scale['lr']})")
    return scale


def checkpoint_key(config: PretrainConfig) -> str:
    """Run-directory name: everything that makes two pre-trained checkpoints different."""
    s = resolved_scale(config)
    preset = get_preset(config.preset)
    name = f"{config.backbone}-{config.preset}-w{s['width']}"
    if s["depth"] != preset.depth:
        name += f"-d{s['depth']}"
    if s["batch_size"] != preset.batch_size:
        name += f"-b{s['batch_size']}"
    if s["lr"] != preset.lr:
        name += f"-lr{s['lr']:g}"
    if s["steps"] != preset.steps:
        name += f"-n{s['steps']}"
    return f"{name}-s{config.seed}"


def run_directory(config: PretrainConfig) -> Path:
    return Path(config.out_dir).expanduser().resolve() / config.dataset / checkpoint_key(config)


def _eval_metrics(agent: Agent, env, episodes: int, seed: int) -> tuple[dict[str, float], float]:
    results = evaluate_policy(agent, env, episodes, seed=10_000 + seed)
    metrics = {f"eval/task{r.task_id}_success": r.success_rate for r in results}
    success = overall_success(results)
    metrics["eval/success"] = success
    return metrics, success


SinkFactory = Callable[[PretrainConfig], Sequence[MetricsSink]]
"""Builds the extra metric sinks of a run; called only when the run actually trains (a finished
run's tracking is never touched again)."""


def pretrain(
    config: PretrainConfig,
    make_sinks: SinkFactory | None = None,
    progress: bool = True,
    update_mode: str = "auto",
) -> PretrainResult:
    """Pre-train (or resume, or find finished) the run `config` describes.

    `update_mode` (see `gcttt.agents.graphed`): eager, compiled, graph, or auto (a CUDA graph on
    CUDA, eager on the CPU). It says how the updates run, not what they compute, so it is not part
    of the checkpoint key; on the CPU auto is the eager loop, bit for bit."""
    info = dataset_info(config.dataset)
    scale = resolved_scale(config)
    preset = get_preset(config.preset)
    agent_config = backbone_config(
        config.backbone,
        info,
        preset,
        width=scale["width"],
        depth=scale["depth"],
        batch_size=scale["batch_size"],
        lr=scale["lr"],
    )
    run_dir = run_directory(config)
    final_path = run_dir / "final.pt"
    latest_path = run_dir / "latest.pt"
    data_dir = resolve_data_dir(config.data_dir)
    if final_path.exists():
        done = read_checkpoint(final_path)
        if split_paths(data_dir, config.dataset)[0].exists():
            check_trained_on(done, final_path, dataset_provenance(data_dir, config.dataset))
        return PretrainResult(run_dir, final_path, done["step"], 0.0, done.get("final_success"))

    device = resolve_device(config.device)
    mode = resolve_update_mode(update_mode, device)
    # Only the train split: pre-training logs success on the 5 tasks, not a validation loss (OGBench's
    # main.py logs one; the split is not read here, so it costs neither time nor memory).
    ensure_dataset_files(config.dataset, config.data_dir)  # downloaded or generated where missing
    env, train, _ = make_env_and_datasets(config.dataset, config.data_dir, validation=False)
    provenance = dataset_provenance(data_dir, config.dataset)
    fingerprint = provenance.fingerprint
    agent = make_agent(config.backbone, agent_config, train.obs_dim, train.action_dim, device=device, seed=config.seed)
    generator = torch.Generator(device).manual_seed(config.seed)
    start_step, last_success = 0, None
    if latest_path.exists():
        saved = read_checkpoint(latest_path)
        check_trained_on(saved, latest_path, provenance)
        agent.load_state_dict(saved["agent"])
        generator.set_state(saved["sampler_generator"])
        start_step, last_success = saved["step"], saved.get("final_success")
        print(f"gcttt pretrain: resuming {run_dir.name} from step {start_step}")
    run_dir.mkdir(parents=True, exist_ok=True)
    sampler = GoalSampler(TransitionData.from_offline(train, device), agent.sampler_config(), generator)

    all_sinks = (JsonlSink(run_dir / "metrics.jsonl"), *(make_sinks(config) if make_sinks else ()))
    params = {**asdict(config), **scale, "agent": asdict(agent_config), "git_sha": git_sha(), **versions()}
    params["checkpoint_steps"] = list(scale["checkpoint_steps"])
    params["update_mode"] = mode
    for sink in all_sinks:
        sink.log_params(params)

    def payload(step: int) -> dict[str, Any]:
        return {
            "agent": agent.state_dict(),
            "sampler_generator": generator.get_state(),
            "step": step,
            "dataset": config.dataset,
            "dataset_fingerprint": fingerprint,
            "dataset_provenance": asdict(provenance),
            "pretrain_config": asdict(config),
            "scale": scale,
            "git_sha": git_sha(),
            "final_success": last_success,
        }

    graphed = GraphedUpdates(agent, sampler) if mode == "graph" else None
    compiled = agent.compiled_update() if mode == "compiled" else None
    steps = scale["steps"]
    started = time.perf_counter()
    status = "FAILED"
    bar = tqdm(total=steps, initial=start_step, desc=f"pretrain {config.backbone}", unit="upd", disable=not progress)
    try:
        agent.train_mode(True)
        for step in range(start_step + 1, steps + 1):
            if graphed is not None:
                metrics = graphed.pretrain_step()
            elif compiled is not None:
                metrics = compiled(sampler.sample())
            else:
                metrics = agent.update(sampler.sample())
            bar.update()
            if step % config.log_every == 0 or step == steps:
                scalars = {k: float(v) for k, v in metrics.items()}
                for sink in all_sinks:
                    sink.log_metrics(scalars, step)
                losses = {k.removesuffix("/loss").removesuffix("_loss"): v for k, v in scalars.items() if "loss" in k}
                bar.set_postfix({k: f"{v:.3g}" for k, v in losses.items()})
            evaluate_now = step == steps or (scale["eval_every"] > 0 and step % scale["eval_every"] == 0)
            if evaluate_now:
                eval_metrics, last_success = _eval_metrics(agent, env, scale["eval_episodes"], config.seed)
                agent.train_mode(True)
                for sink in all_sinks:
                    sink.log_metrics(eval_metrics, step)
                bar.write(f"step {step}: success {last_success:.2f} on the 5 tasks")
            if step in scale["checkpoint_steps"]:
                save_checkpoint(run_dir / f"step_{step:08d}.pt", payload(step))
            if step % scale["save_every"] == 0 or step == steps:
                save_checkpoint(latest_path, payload(step))
        save_checkpoint(final_path, payload(steps))
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        bar.close()
        for sink in all_sinks:
            sink.close(status)
    return PretrainResult(run_dir, final_path, steps, time.perf_counter() - started, last_success)
