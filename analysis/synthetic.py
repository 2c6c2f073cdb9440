"""Synthetic sweep results in the real row schema, to try the analysis scripts without a sweep.

Rows are `gcttt.results.records.EpisodeRecord`s (plus the sweep columns sweep_id, sweep_kind, trial_id,
node, git_sha) with made-up outcomes: success rates loosely follow the paper's numbers and FLOPs
follow the MLP closed form (2 * batch * sum(in * out)), so the figures look like real ones. Tests
build their inputs with it; a person can too:

    python -m analysis.synthetic /tmp/synthetic          # writes compute/ and horizon/ part files
    python analysis/plot_compute.py /tmp/synthetic/compute --out /tmp/figures
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import tyro

from gcttt.commands.flags import parse
from gcttt.errors import run_main
from gcttt.results.records import EpisodeRecord, RunContext, write_records

OBS_DIM = 2
ACT_DIM = 2
BATCH = 1024
EPISODE_LIMIT = 1000


def _mlp(width: int, depth: int, n_in: int, n_out: int, batch: int = 1) -> int:
    dims = [n_in] + [width] * depth + [n_out]
    return 2 * batch * sum(a * b for a, b in itertools.pairwise(dims))


def _flops(
    width: int, depth: int, steps: int, replans: int, grad_steps: int, selected: int, batch: int = BATCH
) -> dict[str, int]:
    act = steps * _mlp(width, depth, 2 * OBS_DIM, ACT_DIM)
    selection = replans * selected * _mlp(width, depth, 2 * OBS_DIM, 1)
    # Forward + backward (3x) of the value, two Q heads and the actor per update.
    per_update = 3 * (_mlp(width, depth, 2 * OBS_DIM, 1, batch) * 3 + _mlp(width, depth, 2 * OBS_DIM, ACT_DIM, batch))
    finetune = replans * grad_steps * per_update
    return {
        "flops_act": act,
        "flops_selection": selection,
        "flops_finetune": finetune,
        "flops_total": act + selection + finetune,
    }


def record(**changes) -> EpisodeRecord:
    """One made-up episode row: a pre-trained GC-IQL baseline episode unless `changes` say otherwise.

    A gcttt row (method='gcttt') gets the critic strategy's knobs unless given."""
    ttt = changes.get("method") == "gcttt"
    fields = dict(
        dataset="pointmaze-medium-navigate-v0",
        dataset_source="generated",
        dataset_fingerprint="synthetic",
        backbone="gciql",
        preset="paper",
        width=512,
        depth=3,
        pretrain_seed=0,
        checkpoint="c.pt",
        checkpoint_step=1_000_000,
        checkpoint_fingerprint="synthetic",
        pretrain_flops=0,
        method="baseline",
        selection="critic" if ttt else "",
        schedule="receding" if ttt else "",
        horizon=100 if ttt else 0,
        grad_steps=50 if ttt else 0,
        lr=3e-4 if ttt else 0.0,
        finetune_batch=BATCH if ttt else 0,
        finetune="all" if ttt else "",
        eps=1.0 if ttt else 0.0,
        min_steps=10 if ttt else 0,
        top_k=10 if ttt else 0,
        q=0.0,
        slack=0,
        random_size=0,
        distance_discount=0.99 if ttt else 0.0,
        authors_cube_match=False,
        compiled=False,
        task_suite="ogbench",
        task_id=1,
        task_pair="1,1->6,6",
        episode_index=0,
        seed=0,
        success=True,
        episode_steps=100,
        wall_seconds=1.0,
        act_seconds=0.5,
        selection_seconds=0.0,
        finetune_seconds=0.0,
        replans=0,
        flops_total=1000,
    )
    fields.update(changes)
    return EpisodeRecord(**fields)


def episodes(
    rng: np.random.Generator,
    *,
    p: float,
    dataset: str,
    backbone: str,
    width: int,
    seeds: list[int],
    tasks: list[int],
    per_task: int,
    method: str = "baseline",
    selection: str = "",
    horizon: int = 0,
    grad_steps: int = 0,
    lr: float = 0.0,
    q: float = 0.0,
    depth: int = 3,
    finetune_batch: int = BATCH,
) -> list[EpisodeRecord]:
    """Episodes of one configuration, each a success with probability `p` (shifted per seed)."""
    records = []
    keep = selection == "critic-free"
    once = horizon >= EPISODE_LIMIT or keep
    schedule = "" if method == "baseline" else ("once-keep" if keep else "once" if once else "receding")
    horizon = 0 if keep else horizon
    knobs = dict(eps=0.0, min_steps=0, top_k=0, distance_discount=0.0, slack=0, random_size=0)
    if method == "gcttt":
        knobs = dict(eps=1.0, min_steps=10, top_k=10, distance_discount=0.99, slack=0, random_size=0)
    knobs["authors_cube_match"] = False
    for seed in seeds:
        p_seed = float(np.clip(p + 0.04 * (seed - np.mean(seeds)), 0.0, 1.0))
        for task in tasks:
            for index in range(per_task):
                success = bool(rng.random() < p_seed)
                steps = int(rng.integers(150, EPISODE_LIMIT)) if success else EPISODE_LIMIT
                replans = 0 if method == "baseline" else (1 if once else math.ceil(steps / horizon))
                selected = [int(rng.integers(200, 2000)) for _ in range(replans)]
                records.append(
                    EpisodeRecord(
                        dataset=dataset,
                        dataset_source="generated",
                        dataset_fingerprint="synthetic",
                        backbone=backbone,
                        preset="paper",
                        width=width,
                        depth=depth,
                        pretrain_seed=seed,
                        checkpoint=f"ckpt-w{width}-s{seed}.pt",
                        checkpoint_step=1_000_000,
                        checkpoint_fingerprint=f"synthetic-w{width}-s{seed}",
                        pretrain_flops=1_000_000 * 3 * _mlp(width, depth, 2 * OBS_DIM, 1, BATCH) * 4,
                        method=method,
                        selection=selection,
                        schedule=schedule,
                        horizon=horizon,
                        grad_steps=grad_steps,
                        lr=lr,
                        finetune_batch=finetune_batch if method == "gcttt" else 0,
                        finetune="all" if method == "gcttt" else "",
                        q=q,
                        compiled=False,
                        task_suite="ogbench",
                        task_id=task,
                        task_pair=f"{task},1->{task},6",
                        episode_index=index,
                        seed=1000 * task + index,
                        success=success,
                        episode_steps=steps,
                        wall_seconds=0.01 * steps,
                        act_seconds=0.005 * steps,
                        selection_seconds=0.1 * replans,
                        finetune_seconds=0.5 * replans,
                        replans=replans,
                        selected_per_replan=selected,
                        mean_selected=float(np.mean(selected)) if selected else 0.0,
                        value_evaluations=replans * 100_000,
                        updates=replans * grad_steps,
                        **_flops(width, depth, steps, replans, grad_steps, 0 if keep else 100_000, finetune_batch),
                        **knobs,
                    )
                )
    return records


def _extra(sweep_id: str, kind: str, trial: str) -> RunContext:
    return RunContext(sweep_id=sweep_id, sweep_kind=kind, trial_id=trial, node="synthetic", git_sha="synthetic")


def write_compute(
    directory: str | Path,
    seeds: tuple[int, ...] = (0, 1, 2),
    tasks: tuple[int, ...] = (1, 2, 3, 4, 5),
    per_task: int = 4,
    dataset: str = "antmaze-medium-stitch-v0",
    backbone: str = "gciql",
    rng_seed: int = 0,
) -> list[Path]:
    """A compute study: baseline at 4 widths, GC-TTT at the base width re-planning every K steps."""
    rng = np.random.default_rng(rng_seed)
    directory = Path(directory)
    common = {
        "dataset": dataset,
        "backbone": backbone,
        "seeds": list(seeds),
        "tasks": list(tasks),
        "per_task": per_task,
    }
    paths = []
    for width, p in ((512, 0.26), (624, 0.30), (732, 0.26), (992, 0.24)):
        name = f"baseline-w{width}"
        records = episodes(rng, p=p, width=width, **common)
        paths.append(write_records(directory / name, records, _extra("compute-synthetic", "compute", name)))
    for horizon, p in ((1000, 0.36), (500, 0.44), (200, 0.53), (100, 0.73)):
        name = f"gcttt-K{horizon}"
        records = episodes(
            rng,
            p=p,
            width=512,
            method="gcttt",
            selection="critic",
            horizon=horizon,
            grad_steps=50,
            lr=3e-4,
            **common,
        )
        paths.append(write_records(directory / name, records, _extra("compute-synthetic", "compute", name)))
    for grad_steps, p in ((1, 0.27), (4, 0.30), (16, 0.33)):
        name = f"gcttt-critic-free-N{grad_steps}-b64"
        records = episodes(
            rng, p=p, width=512, method="gcttt", selection="critic-free", horizon=0, grad_steps=grad_steps,
            lr=3e-4, q=0.2, finetune_batch=64, **common,
        )  # fmt: skip
        paths.append(write_records(directory / name, records, _extra("compute-synthetic", "compute", name)))
    return paths


ABLATION_RATES = {
    "random": 0.22,
    "no-relevance": 0.34,
    "no-optimality": 0.35,
    "full-dataset": 0.27,
    "critic-free": 0.45,
}


def write_horizon(
    directory: str | Path,
    seeds: tuple[int, ...] = (0, 1, 2),
    tasks: tuple[int, ...] = (1, 2, 3, 4, 5),
    per_task: int = 2,
    dataset: str = "pointmaze-medium-stitch-v0",
    backbone: str = "gciql",
    horizons: tuple[int, ...] = (100, 200, 1000),
    grad_steps: tuple[int, ...] = (50, 100, 200),
    lrs: tuple[float, ...] = (3e-4, 3e-5),
    ablations: bool = True,
    rng_seed: int = 1,
) -> list[Path]:
    """A horizon sweep: the critic grid over K x N x lr, the ablations at K=100, N=100, and the baseline."""
    rng = np.random.default_rng(rng_seed)
    directory = Path(directory)
    common = {
        "dataset": dataset,
        "backbone": backbone,
        "seeds": list(seeds),
        "tasks": list(tasks),
        "per_task": per_task,
        "width": 512,
    }
    sweep = "horizon-synthetic"
    paths = [
        write_records(
            directory / "baseline",
            episodes(rng, p=0.25, **common),
            _extra(sweep, "horizon", "baseline"),
        )
    ]
    for k in horizons:
        for n in grad_steps:
            for lr in lrs:
                p = 0.25 + 0.32 * (100 / k) ** 0.5 * (1 if lr > 1e-4 else 0.6) * (0.7 + 0.3 * n / max(grad_steps))
                name = f"gcttt-critic-K{k}-N{n}-lr{lr:g}"
                records = episodes(
                    rng, p=p, method="gcttt", selection="critic", horizon=k, grad_steps=n, lr=lr, **common
                )
                paths.append(write_records(directory / name, records, _extra(sweep, "horizon", name)))
    if ablations:
        for selection, p in ABLATION_RATES.items():
            q = 0.2 if selection == "critic-free" else 0.0
            name = f"gcttt-{selection}-K100-N100-lr0.0003"
            records = episodes(
                rng,
                p=p,
                method="gcttt",
                selection=selection,
                horizon=100,
                grad_steps=100,
                lr=3e-4,
                q=q,
                **common,
            )
            paths.append(write_records(directory / name, records, _extra(sweep, "horizon", name)))
    return paths


FIGURE6_RATES = {
    "pointmaze-medium-stitch-v0": {"baseline": 0.24, "random": 0.2, "no-optimality": 0.3, "no-relevance": 0.3},
    "antmaze-medium-stitch-v0": {"baseline": 0.26, "random": 0.24, "no-optimality": 0.4, "no-relevance": 0.38},
}
FIGURE6_REPLAN = {1000: 0.3, 500: 0.38, 200: 0.45, 100: 0.57}


def write_figure6(
    directory: str | Path,
    seeds: tuple[int, ...] = (0, 1, 2),
    tasks: tuple[int, ...] = (1, 2, 3, 4, 5),
    per_task: int = 2,
    rng_seed: int = 2,
) -> list[Path]:
    """A reproduction's GC-IQL stitch cells with --figure6: baseline, the selection ablation at
    K = 100, N = 200 and the critic re-plan curve K = 1000 / 500 / 200 / 100, N = 200."""
    rng = np.random.default_rng(rng_seed)
    paths = []
    for dataset, rates in FIGURE6_RATES.items():
        sweep = f"repro-gciql-{dataset.removesuffix('-v0')}-final"
        common = {"dataset": dataset, "backbone": "gciql", "seeds": list(seeds), "tasks": list(tasks),
                  "per_task": per_task, "width": 512}  # fmt: skip
        arms = [("baseline", rates["baseline"], {})]
        arms += [(s, rates[s], {"selection": s, "horizon": 100}) for s in ("random", "no-optimality", "no-relevance")]
        arms += [("critic", p, {"selection": "critic", "horizon": k}) for k, p in FIGURE6_REPLAN.items()]
        for label, p, knobs in arms:
            ttt = dict(method="gcttt", grad_steps=200, lr=3e-4, **knobs) if knobs else {}
            name = f"{label}-K{knobs.get('horizon', 0)}"
            records = episodes(rng, p=p, **common, **ttt)
            paths.append(write_records(Path(directory) / sweep / name, records, _extra(sweep, "reproduce", name)))
    return paths


@dataclass(frozen=True)
class SyntheticConfig:
    """Write synthetic compute and horizon sweep results."""

    out: Annotated[tyro.conf.Positional[str], tyro.conf.arg(metavar="OUT")]
    """Directory; writes OUT/compute/*.parquet and OUT/horizon/*.parquet."""


def main(argv: list[str] | None = None) -> int:
    def body() -> int:
        out = Path(parse(SyntheticConfig, argv, "python -m analysis.synthetic", SyntheticConfig.__doc__).out)
        n = len(write_compute(out / "compute")) + len(write_horizon(out / "horizon"))
        print(f"wrote {n} Parquet files under {out}")
        return 0

    return run_main("python -m analysis.synthetic", body)


if __name__ == "__main__":
    raise SystemExit(main())
