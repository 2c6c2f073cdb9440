"""A sweep's inputs: the dataset (generated if absent) and its pre-trained checkpoints (trained if absent).

Checkpoints are cached under ``OUT/checkpoints/DATASET/KEY`` where KEY is
`gcttt.pretrain.checkpoint_key` (backbone, preset, width, steps, seed). A cached ``final.pt`` is
used only if it is readable and was trained on this dataset file (name and fingerprint) with this
backbone and width; anything else is refused once, with the fix. An interrupted run resumes from
its ``latest.pt``; a missing one is trained. Missing runs train in parallel as Ray tasks, one CPU
(or one GPU) each.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from gcttt.data.access import load_datasets
from gcttt.data.files import OfflineData, split_paths
from gcttt.data.provenance import DatasetProvenance, dataset_provenance
from gcttt.datagen import ensure_dataset_files
from gcttt.datagen.generation import generate_dataset
from gcttt.errors import CheckpointError, GctttError, UsageError
from gcttt.files.checkpoint import check_trained_on, read_checkpoint
from gcttt.pretrain import PretrainConfig, pretrain, resolved_scale, run_directory
from sweeps.common import SMOKE_EPISODES, Sweep
from workers.ctrl_c import CtrlC


def prepare_dataset(sweep: Sweep) -> tuple[OfflineData, DatasetProvenance]:
    """The sweep's training split (validated: shapes, finite values, trajectory ends) and provenance."""
    root = Path(sweep.outputs.data_dir)
    train, val = split_paths(root, sweep.what.dataset)
    if sweep.what.preset == "smoke" and not train.exists() and not val.exists():
        # A smoke sweep needs seconds, not the full dataset: a small one in the official format.
        print(f"sweep: generating a {SMOKE_EPISODES}-episode {sweep.what.dataset} into {root}", file=sys.stderr)
        generate_dataset(sweep.what.dataset, root, episodes=SMOKE_EPISODES, progress=False)
    else:
        ensure_dataset_files(sweep.what.dataset, root, fetch="auto")
    split, _ = load_datasets(sweep.what.dataset, root)
    return split, dataset_provenance(root, sweep.what.dataset)


def pretrain_config(sweep: Sweep, seed: int, width: int) -> PretrainConfig:
    return PretrainConfig(
        dataset=sweep.what.dataset,
        backbone=sweep.what.backbone,
        preset=sweep.what.preset,
        seed=seed,
        steps=sweep.what.pretrain_steps,
        width=width,
        out_dir=str(sweep.checkpoint_root),
        data_dir=sweep.outputs.data_dir,
        device=sweep.resources.pretrain_device,
    )


def _pretrain_task(config: PretrainConfig, threads: int) -> str:

    torch.set_num_threads(threads)
    return str(pretrain(config, progress=False).final_checkpoint)


def verify_cached(path: Path, config: PretrainConfig, provenance: DatasetProvenance) -> None:
    """Refuse a cached checkpoint that is damaged or belongs to something else, naming the fix."""
    fix = f"delete {path.parent} and run the sweep again to pre-train it"
    try:
        payload = read_checkpoint(path)
    except CheckpointError as exc:
        problem = str(exc).removesuffix("; pre-train it again")  # the fix below says how, here
        raise CheckpointError(f"cached checkpoint {problem}; {fix}") from None
    check_trained_on(payload, path, provenance)
    agent = payload.get("agent", {})
    width = agent.get("config", {}).get("width")
    if agent.get("backbone") != config.backbone or width != config.width:
        raise CheckpointError(
            f"cached checkpoint {path} holds a {agent.get('backbone')} of width {width}, not the sweep's "
            f"{config.backbone} of width {config.width}; {fix}"
        )


def prepare_checkpoints(
    sweep: Sweep, slots: list[tuple[int, int, int | None]], provenance: DatasetProvenance
) -> dict[str, str]:
    """Checkpoint file per (seed, width, step), keyed by `checkpoint_slot`; trains the missing runs.

    A step of None is the run's final checkpoint; another step must be one the run keeps
    (the preset's `checkpoint_steps`), else the sweep is refused before anything is trained."""
    found: dict[str, str] = {}
    missing: dict[str, PretrainConfig] = {}
    wanted: dict[tuple[int, int], set[int | None]] = {}
    for seed, width, step in slots:
        wanted.setdefault((seed, width), set()).add(step)
    for (seed, width), steps in sorted(wanted.items()):
        config = pretrain_config(sweep, seed, width)
        kept = resolved_scale(config)["checkpoint_steps"]
        odd = sorted(s for s in steps if s is not None and s not in kept)
        if odd:
            raise UsageError(
                f"checkpoint step(s) {odd} of {run_directory(config).name} are not kept by the {sweep.what.preset} "
                f"preset (it keeps {list(kept)}); evaluate one of those steps"
            )
        final = run_directory(config) / "final.pt"
        key = checkpoint_slot(seed, width)
        if final.exists():
            verify_cached(final, config, provenance)
            found[key] = str(final)
        else:
            latest = run_directory(config) / "latest.pt"
            if latest.exists():
                verify_cached(latest, config, provenance)
            missing[key] = config
    if missing:
        _train_missing(sweep, missing, found)
    for (seed, width), steps in wanted.items():
        config = pretrain_config(sweep, seed, width)
        for step in steps - {None}:
            path = run_directory(config) / f"step_{step:08d}.pt"
            if not path.exists():
                raise CheckpointError(
                    f"{path} is missing (the run kept no checkpoint at step {step}); delete {path.parent} and run "
                    "the sweep again to pre-train it"
                )
            verify_cached(path, config, provenance)
            found[checkpoint_slot(seed, width, step)] = str(path)
    return found


def _train_missing(sweep: Sweep, missing: dict[str, PretrainConfig], found: dict[str, str]) -> None:
    """Pre-train the `missing` runs as Ray tasks, one CPU (or GPU) each; their final files go to `found`."""
    import ray
    from tqdm.auto import tqdm

    use_gpu = sweep.resources.pretrain_device.startswith("cuda") or (
        sweep.resources.pretrain_device == "auto" and ray.cluster_resources().get("GPU", 0) >= 1
    )
    # One thread per run: these networks are small, a second thread gains little, and torch's
    # thread pools slow down by orders of magnitude when cores are oversubscribed.
    task = ray.remote(_pretrain_task).options(num_cpus=1, num_gpus=1 if use_gpu else 0, max_retries=0)
    names = ", ".join(run_directory(c).name for c in missing.values())
    print(f"sweep: pre-training {len(missing)} checkpoint(s) into {sweep.checkpoint_root}: {names}", file=sys.stderr)
    refs = {task.remote(config, 1): key for key, config in missing.items()}
    pending = list(refs)
    with tqdm(total=len(refs), desc="pre-training", unit="ckpt") as bar, CtrlC() as ctrl_c:
        try:
            while pending:
                # A timeout keeps the wait short, so that Ctrl-C reaches Python (an unbounded
                # ray.wait does not return to the interpreter until a run finishes), and
                # `ctrl_c` stops the loop if Ray's wait swallowed the KeyboardInterrupt.
                ready, pending = ray.wait(pending, num_returns=1, timeout=1.0)
                ctrl_c.check()
                if not ready:
                    continue
                try:
                    found[refs[ready[0]]] = ray.get(ready[0])
                except ray.exceptions.RayTaskError as exc:
                    for ref in pending:
                        ray.cancel(ref, force=True)
                    cause = getattr(exc, "cause", None)
                    if isinstance(cause, GctttError):  # the library's one-line message, not Ray's traceback
                        raise cause from None
                    raise
                bar.update()
        except KeyboardInterrupt:
            for ref in pending:
                ray.cancel(ref, force=True)
            raise PretrainInterrupted(
                f"interrupted while pre-training ({bar.n} of {len(refs)} checkpoints done, kept in "
                f"{sweep.checkpoint_root}); rerun the same command: unfinished runs resume from their latest.pt"
            ) from None


class PretrainInterrupted(GctttError):
    """Ctrl-C while a sweep pre-trained its checkpoints; nothing of the sweep itself exists yet."""

    exit_code = 1


def checkpoint_slot(seed: int, width: int, step: int | None = None) -> str:
    """Key of one checkpoint file: the final one of (seed, width), or its kept `step`."""
    return f"s{seed}-w{width}" + ("" if step is None else f"-c{step}")
