#!/usr/bin/env python
"""What test-time training updates: 'all' networks against 'actor' alone, on the same weights.

For every configuration a study holds both ways (the same checkpoint, selection, K, N, lr, ...),
one line: the episodes played both ways, how many of them end alike (success and steps), success
[95% CI] each way and the paired difference (actor minus all, episode by episode), the mean
fine-tuning seconds and counted fine-tuning FLOPs per episode each way, and how many times cheaper
'actor' is. Below the table: the pre-trained policy's success on the same checkpoints, and for a
setting with several configurations the paired difference over all of them at once. For GC-BC the
two must be the same episodes (its actor-only updates are exact, docs/method.md §6); for GC-IQL and
SAW they are two methods.

    python analysis/finetune_parts.py results/finetune-epyc-avx2

Prints a Markdown table (also what `make figures` puts into docs/results/finetune.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import pandas as pd
import tyro

from analysis.results import require_study
from analysis.summary import k_label
from gcttt.agents.base import FINETUNE_PARTS as PARTS
from gcttt.commands.flags import parse
from gcttt.errors import UsageError, run_main
from gcttt.figures.style import backbone_label
from gcttt.results.stats import DEFAULT_RESAMPLES, Interval, success_ci
from gcttt.results.store import CHECKPOINT_IDENTITY, published_rows
from gcttt.results.summary import CONFIG_COLUMNS, checkpoint_groups, drop_repeats, summarize

EPISODE = ("task_suite", "task_id", "episode_index", "seed")
"""With the checkpoint and the configuration: one episode."""
CONFIG = tuple(c for c in dict.fromkeys((*CHECKPOINT_IDENTITY, *CONFIG_COLUMNS)) if c != "finetune")
"""A configuration, what it fine-tunes aside."""
KEY = list(dict.fromkeys((*CONFIG, "checkpoint_fingerprint", *EPISODE)))
"""One episode of one configuration on one set of weights."""
LABEL = ("backbone", "dataset", "selection", "schedule", "horizon", "grad_steps", "lr")


def pairs(rows: pd.DataFrame) -> pd.DataFrame:
    """GC-TTT episodes played both ways on the same weights: one row per episode, columns suffixed
    _all and _actor."""
    ttt = drop_repeats(rows[rows["method"] == "gcttt"])
    keep = [*KEY, "success", "episode_steps", "finetune_seconds", "flops_finetune", "flops_per_update", "flops_total"]
    full = ttt[ttt["finetune"] == "all"][keep]
    actor = ttt[ttt["finetune"] == "actor"][keep]
    return full.merge(actor, on=KEY, suffixes=("_all", "_actor"))


def configurations(
    rows: pd.DataFrame, resamples: int = DEFAULT_RESAMPLES, both: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per configuration played both ways on the same weights: its LABEL columns, `episodes`,
    `alike`, `checkpoints` (pre-trained networks it was played from), the paired difference
    (`diff`, `diff_low`, `diff_high`) and per part P in PARTS: `success_P`, `low_P`, `high_P`,
    `seconds_P`, `gflops_P` (fine-tuning, per episode) and `cost_P` (a whole episode's FLOPs in
    multiples of the pre-trained model's acting FLOPs per episode). `both`: `pairs(rows)`, if at hand."""
    both = pairs(rows) if both is None else both
    if both.empty:
        raise UsageError("no configuration was played with both --finetune all and actor on the same weights")
    ttt = drop_repeats(rows[rows["method"] == "gcttt"])
    # The episodes played both ways only, in one order for both: the bootstrap draws by position, so
    # the same episodes in the same order give the same interval.
    ttt = ttt.merge(both[KEY], on=KEY).sort_values([*KEY, "finetune"], kind="stable")
    success = summarize(ttt, [*LABEL, "finetune"], n_resamples=resamples, means=()).set_index([*LABEL, "finetune"])
    acting = _acting_flops(rows)
    out = []
    for config, group in both.groupby(list(LABEL), sort=True):
        label = dict(zip(LABEL, config, strict=True))
        base = acting[label["dataset"], label["backbone"], group["width"].iloc[0]]
        diff = _paired(group, resamples)
        line = {
            **label,
            "episodes": len(group),
            "alike": _alike(group),
            "checkpoints": len(set(checkpoint_groups(group))),
            "diff": diff.mean,
            "diff_low": diff.low,
            "diff_high": diff.high,
        }
        for part in PARTS:
            r = success.loc[(*config, part)]
            line |= {
                f"success_{part}": r["mean"],
                f"low_{part}": r["low"],
                f"high_{part}": r["high"],
                f"seconds_{part}": group[f"finetune_seconds_{part}"].mean(),
                f"gflops_{part}": group[f"flops_finetune_{part}"].mean() / 1e9,
                f"cost_{part}": group[f"flops_total_{part}"].mean() / base,
            }
        out.append(line)
    return pd.DataFrame(out)


def markdown(rows: pd.DataFrame, resamples: int = DEFAULT_RESAMPLES) -> str:
    both = pairs(rows)
    table = configurations(rows, resamples, both)
    lines = [
        "| backbone | dataset | selection | K | N | lr | episodes | alike | success all | success actor "
        "| actor minus all | fine-tune s/episode all / actor | fine-tune GFLOPs/episode all / actor "
        "| episode cost all / actor (x acting) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for _, c in table.iterrows():
        ci = {p: f"{c[f'success_{p}']:.2f} [{c[f'low_{p}']:.2f}, {c[f'high_{p}']:.2f}]" for p in PARTS}
        secs, flops, cost = ((c[f"{m}_all"], c[f"{m}_actor"]) for m in ("seconds", "gflops", "cost"))
        lines.append(
            f"| {backbone_label(c['backbone'])} | {c['dataset'].removesuffix('-v0')} | {c['selection']} "
            f"| {k_label(c, prefix='')} | {int(c['grad_steps'])} | {c['lr']:g} | {c['episodes']} | {c['alike']} "
            f"| {ci['all']} "
            f"| {ci['actor']} | {_signed(c['diff'], c['diff_low'], c['diff_high'])} "
            f"| {secs[0]:.1f} / {secs[1]:.1f} ({_times(*secs)}) "
            f"| {flops[0]:.3g} / {flops[1]:.3g} ({_times(*flops)}) "
            f"| {cost[0]:,.0f} / {cost[1]:,.0f} ({_times(*cost)}) |"
        )
    sweeps = drop_repeats(rows[rows["method"] == "gcttt"]).merge(both[KEY], on=KEY)["sweep_id"].unique()
    total = both["finetune_seconds_all"].sum(), both["finetune_seconds_actor"].sum()
    # per backbone: for GC-BC every episode must end alike, for the others 'actor' is another method
    same = ", ".join(f"{backbone_label(b)} {_alike(g)} of {len(g)}" for b, g in both.groupby("backbone", sort=True))
    # over all of a setting's configurations at once: does the part change success on the whole?
    pooled = ", ".join(
        f"{backbone_label(b)} on {d.removesuffix('-v0')} {_signed(*_paired(g, resamples))} over {len(g)} pairs"
        for (b, d), g in both.groupby(["backbone", "dataset"], sort=True)
        if len(g.groupby(list(LABEL))) > 1
    )
    machines = ", ".join(sorted(rows["machine"].unique()))
    start = _pretrained(rows, both, resamples)
    caption = (
        f"\n{len(both)} GC-TTT episodes played with `--finetune all` and `--finetune actor` on the same "
        f"checkpoints ({machines}; sweeps {', '.join(sorted(sweeps))}); ending alike (success "
        f"and steps): {same}. Fine-tuning took {total[0] / 60:.1f} min with `all` and {total[1] / 60:.1f} min with "
        f"`actor` ({_times(*total)}). Pre-trained policy, the same checkpoints' baseline episodes: {start}. "
        + (f"Actor minus all over every configuration of a setting that has several: {pooled}. " if pooled else "")
        + "Success: mean over checkpoints per seed, then over seeds, with a 95% "
        "stratified bootstrap CI; actor minus all: the episode-by-episode difference (paired on checkpoint, task and "
        "episode), mean over checkpoints, its CI resampling the pairs within each checkpoint; "
        "seconds and GFLOPs: means per episode (FLOPs counted by "
        "`gcttt.control.flops.CostModel`; seconds as the machine's load let them be, which each sweep's "
        "manifest entry states: the FLOP ratio is the cost that does not depend on it). Episode cost: all of "
        "an episode's FLOPs (acting, selection, fine-tuning) in multiples of the pre-trained model's acting "
        "FLOPs per episode at the same width (the study's baseline episodes), the compute study's unit.\n"
    )
    return "\n".join(lines) + "\n" + caption


def _acting_flops(rows: pd.DataFrame) -> dict[tuple[str, str, int], float]:
    """FLOPs of one pre-trained (baseline) episode per dataset, backbone and width."""
    base = rows[rows["method"] == "baseline"]
    if base.empty:
        raise UsageError("the study holds no baseline episodes to count the acting cost from")
    return base.groupby(["dataset", "backbone", "width"])["flops_total"].mean().to_dict()


def _pretrained(rows: pd.DataFrame, both: pd.DataFrame, resamples: int) -> str:
    """Success of the pre-trained policy per setting, on the checkpoints GC-TTT was played both ways from."""
    base = drop_repeats(rows[rows["method"] == "baseline"])
    out = []
    for (backbone, dataset), group in both.groupby(["backbone", "dataset"], sort=True):
        weights = base["checkpoint_fingerprint"].isin(group["checkpoint_fingerprint"].unique())
        played = base[weights & (base["backbone"] == backbone) & (base["dataset"] == dataset)]
        if played.empty:
            continue
        ci = success_ci(played["success"].to_numpy(dtype=float), checkpoint_groups(played), n_resamples=resamples)
        out.append(
            f"{backbone_label(backbone)} on {dataset.removesuffix('-v0')} {ci.mean:.2f} [{ci.low:.2f}, {ci.high:.2f}]"
            f" ({len(played)} episode{'s' * (len(played) > 1)})"
        )
    return ", ".join(out) or "none in the study"


def _paired(group: pd.DataFrame, resamples: int) -> Interval:
    """Actor minus all, paired episode by episode on the same checkpoint, task and seed."""
    diff = group["success_actor"].astype(float) - group["success_all"].astype(float)
    return success_ci(diff.to_numpy(), groups=checkpoint_groups(group), n_resamples=resamples)


def _signed(mean: float, low: float, high: float) -> str:
    return f"{mean:+.2f} [{low:+.2f}, {high:+.2f}]"


def _alike(both: pd.DataFrame) -> int:
    """Episodes that end alike both ways: the same success after the same number of steps."""
    success = both["success_all"] == both["success_actor"]
    return int((success & (both["episode_steps_all"] == both["episode_steps_actor"])).sum())


def _times(before: float, after: float) -> str:
    return f"{before / after:.1f}x less" if after > 0 else "-"


@dataclass(frozen=True)
class FinetunePartsConfig:
    """GC-TTT with every network fine-tuned against the actor alone, configuration by configuration."""

    study: Annotated[tyro.conf.Positional[str], tyro.conf.arg(metavar="STUDY")]
    """A study of the results store holding both, e.g. results/finetune-epyc-avx2."""
    resamples: int = DEFAULT_RESAMPLES
    """Bootstrap resamples."""


def main(argv: list[str] | None = None) -> int:
    def body() -> int:
        args = parse(FinetunePartsConfig, argv, "finetune_parts.py", FinetunePartsConfig.__doc__)
        print(markdown(published_rows(require_study(args.study)), args.resamples), end="")
        return 0

    return run_main("finetune_parts.py", body)


if __name__ == "__main__":
    raise SystemExit(main())
