"""Shared pieces of the analysis scripts: per-configuration summaries, labels, figure output.

`summarize` turns episode rows into one row per configuration with the success rate (mean over
pre-training seeds of the per-seed rate), its stratified 95% bootstrap CI from
`gcttt.results.stats.success_ci`, the standard error over seeds, the counts, and the mean counted FLOPs.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from gcttt.errors import UsageError
from gcttt.figures.style import BACKBONE_LABELS, add_caption, backbone_label, style  # noqa: F401  (re-exported)
from gcttt.results.summary import summarize  # noqa: F401  (the one definition, re-exported for the scripts)

_FAMILY_ABBREVIATIONS = {"pointmaze": "pm", "antmaze": "am", "humanoidmaze": "hm"}
_TASK_ABBREVIATIONS = {"navigate": "nav"}
_FAMILY_ORDER = ("pointmaze", "antmaze", "humanoidmaze", "cube", "scene", "puzzle")


def dataset_label(name: str) -> str:
    """Short column name: 'antmaze-medium-stitch-v0' -> 'am-medium-stitch'."""
    words = name.removesuffix("-v0").split("-")
    words[0] = _FAMILY_ABBREVIATIONS.get(words[0], words[0])
    return "-".join(_TASK_ABBREVIATIONS.get(w, w) for w in words)


def dataset_order(name: str) -> tuple[int, str]:
    family = name.split("-")[0]
    rank = _FAMILY_ORDER.index(family) if family in _FAMILY_ORDER else len(_FAMILY_ORDER)
    return rank, name


def fmt_lr(value: float) -> str:
    """3e-4 rather than 0.0003."""
    if not value:
        return "0"
    mantissa, exponent = f"{value:.2e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def k_label(config: pd.Series, prefix: str = "K=", kept: str = "once (kept)") -> str:
    """K as tables and legends write it: `prefix` and the env steps between re-plans, 'once' for one
    selection per episode, `kept` for one whose selection is kept across the episode's fine-tuning."""
    return {"once": "once", "once-keep": kept}.get(config["schedule"], f"{prefix}{int(config['horizon'])}")


def counts(frame: pd.DataFrame) -> tuple[int, int]:
    """(pre-training seeds, episodes) in `frame`."""
    return int(frame["pretrain_seed"].nunique()), len(frame)


def count_text(seeds: int, episodes: int) -> str:
    """'1 seed, 10 episodes' for captions."""
    return f"{seeds} seed{'s' if seeds != 1 else ''}, {episodes} episode{'s' if episodes != 1 else ''}"


def data_text(frame: pd.DataFrame) -> str:
    """'Data: generated locally (gcttt's recipe).' for captions: readers must not take local files for OGBench's."""
    if "dataset_source" not in frame.columns:
        return "Data: provenance not recorded."
    names = {"generated": "generated locally (gcttt's recipe)", "official": "OGBench's official files"}
    found = sorted(str(v) for v in frame["dataset_source"].dropna().unique())
    return "Data: " + (", ".join(names.get(v, v) for v in found) or "provenance not recorded") + "."


def filter_kind(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Rows of sweeps of `kind` where the results say (`sweep_kind` column); all rows otherwise."""
    if "sweep_kind" not in frame.columns:
        return frame
    kept = frame[frame["sweep_kind"] == kind]
    if kept.empty:
        found = ", ".join(sorted(map(str, frame["sweep_kind"].unique())))
        raise UsageError(f"no rows of a '{kind}' sweep (sweep_kind found: {found}); pass a {kind} sweep's results")
    return kept


def require_one_sweep(frame: pd.DataFrame, asked: list[str] | None) -> None:
    """Refuse to mix sweeps silently: several sweep ids need explicit --sweep-id flags."""
    if asked or "sweep_id" not in frame.columns:
        return
    ids = sorted(map(str, frame["sweep_id"].unique()))
    if len(ids) > 1:
        raise UsageError(
            f"the results hold {len(ids)} sweeps ({', '.join(ids)}); pick one with --sweep-id "
            "(repeat the flag to combine several)"
        )


def save(fig, out: str | Path, stem: str) -> list[Path]:
    """Write `stem`.png and `stem`.pdf into `out`; returns the paths."""
    import matplotlib.pyplot as plt

    from analysis.results import output_dir

    directory = output_dir(out, create=True)
    paths = [directory / f"{stem}.png", directory / f"{stem}.pdf"]
    for path in paths:
        fig.savefig(path)
    plt.close(fig)
    return paths
