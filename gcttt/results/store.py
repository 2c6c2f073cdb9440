"""The results store: the episode rows behind every published number, kept in the repository.

A store (``results/`` in the repo) holds one folder per *study* (a series of runs whose rows may
be pooled into one number): ``results/STUDY/rows/*.parquet`` (zstd; every column of
`gcttt.results.records.SCHEMA`) and ``results/STUDY/manifest.json`` (per published sweep: the command,
git SHAs, dates, machines, torch build and threads, dataset provenance and fingerprints,
checkpoint fingerprints). Rows only: no checkpoints, datasets or MLflow stores.

Publishing is idempotent and refuses to mix:
- an episode is identified by `PUBLISH_KEY`; a row equal to a published one on the key and on
  `OUTCOME` is a repeat and is not added again; one that differs in any of them is refused,
  naming both;
- a checkpoint (dataset, backbone, preset, width, depth, seed, step) has one weights fingerprint
  in a study: rows played by other weights (pre-trained on another CPU or build) are refused,
  naming both fingerprints and the way out (another study).

`published_rows(study)` reads a study back; the sweeps use it to skip episodes that a study
already holds (`--published`), on any machine whose checkpoints match the study's fingerprints.
"""

from __future__ import annotations

import functools
import json
import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from gcttt.errors import UsageError
from gcttt.files.fileio import atomic_write, atomic_write_text
from gcttt.results.records import SCHEMA, part_files, read_part

CHECKPOINT_IDENTITY: tuple[str, ...] = (
    "dataset",
    "backbone",
    "preset",
    "width",
    "depth",
    "pretrain_seed",
    "checkpoint_step",
)
"""Columns that name one pre-trained checkpoint (its weights are `checkpoint_fingerprint`)."""

PUBLISH_KEY: tuple[str, ...] = (*CHECKPOINT_IDENTITY, "trial_id", "task_suite", "task_id", "episode_index", "seed")
"""Columns that name one episode of a study. `trial_id` is the arm's name, which spells every
knob of the method; `seed` is the episode seed (it encodes the evaluation seed)."""

OUTCOME: tuple[str, ...] = ("checkpoint_fingerprint", "dataset_fingerprint", "success", "episode_steps")
"""What two rows of the same episode must agree on to be the same result."""

REQUIRED: tuple[str, ...] = (*PUBLISH_KEY, *OUTCOME, "machine", "git_sha", "sweep_id", "written_at")


@dataclass(frozen=True)
class PublishReport:
    study: Path
    added: int
    repeats: int
    path: Path | None
    """The new rows file (None when nothing was added)."""


def study_dir(store: str | os.PathLike, study: str) -> Path:
    if not study or "/" in study or study.startswith("."):
        raise UsageError(f"study {study!r}: give a plain folder name (no '/', not starting with '.')")
    return Path(store).expanduser().resolve() / study


def published_rows(study: str | os.PathLike) -> pd.DataFrame:
    """Every row of a study (empty frame with the schema's columns when it has none yet).

    Read once per state of its files: every trial of a `--published` sweep asks for it."""
    rows = Path(study) / "rows"
    files = sorted(rows.glob("*.parquet")) if rows.exists() else []
    if not files:
        return SCHEMA.empty_table().to_pandas()
    state = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    return _read_rows(state).copy()


@functools.lru_cache(maxsize=4)
def _read_rows(state: tuple[tuple[str, int, int], ...]) -> pd.DataFrame:
    frames = []
    for name, _, _ in state:
        try:
            frames.append(read_part(name).to_pandas())
        except (OSError, pa.ArrowInvalid) as exc:
            raise UsageError(f"{name}: not a readable Parquet file ({exc}); restore it with git checkout") from None
    return pd.concat(frames, ignore_index=True)


def read_sweep(sweep_dir: str | os.PathLike) -> pd.DataFrame:
    """The rows of a finished (or partly finished) sweep folder: ``SWEEP/episodes/ARM/part-*.parquet``."""
    sweep_dir = Path(sweep_dir).expanduser()
    episodes = sweep_dir / "episodes"
    if not episodes.is_dir():
        raise UsageError(f"{sweep_dir}: no episodes/ folder; give a sweep folder (OUT/sweeps/NAME)")
    frames = []
    for arm in sorted(p for p in episodes.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for path in part_files(arm):
            try:
                frames.append(read_part(path).to_pandas())
            except (OSError, pa.ArrowInvalid) as exc:
                raise UsageError(
                    f"{path}: not a readable Parquet file ({exc}); resume the sweep to replay its episodes"
                ) from None
    if not frames:
        raise UsageError(f"{sweep_dir}: no episode rows yet")
    rows = pd.concat(frames, ignore_index=True)
    missing = [c for c in REQUIRED if c not in rows.columns or rows[c].isna().any()]
    if missing:
        raise UsageError(
            f"{sweep_dir}: rows lack {', '.join(missing)} (written before rows carried their identity); "
            "rerun the sweep with this version to publish it"
        )
    return rows


def _key_text(row: pd.Series) -> str:
    return (
        f"{row['trial_id']} task {row['task_suite']}/{row['task_id']} episode {row['episode_index']} "
        f"(seed {row['seed']})"
    )


def check_fingerprints(published: pd.DataFrame, rows: pd.DataFrame, study: str) -> None:
    """One weights fingerprint per checkpoint: refuse rows whose checkpoint has another one in the study."""
    both = pd.concat([published, rows], ignore_index=True)
    if both.empty:
        return
    prints = both.groupby(list(CHECKPOINT_IDENTITY), sort=True)["checkpoint_fingerprint"].unique()
    for identity, values in prints.items():
        if len(values) > 1:
            name = dict(zip(CHECKPOINT_IDENTITY, identity, strict=True))
            old = set(published["checkpoint_fingerprint"]) & set(values)
            new = sorted(set(values) - old) or sorted(values)
            machines = ", ".join(sorted(set(both[both["checkpoint_fingerprint"].isin(values)]["machine"])))
            held = ", ".join(sorted(old)) or values[0]
            raise UsageError(
                f"checkpoint {name['backbone']}/{name['dataset']} w{name['width']} seed {name['pretrain_seed']} step "
                f"{name['checkpoint_step']}: study {study} holds rows of weights {held}, these come from weights "
                f"{', '.join(new)} (machines: {machines}; another CPU or build pre-trains other weights); publish "
                "into a new study (--study NEW-NAME) and never pool the two in one number"
            )


def split_new(published: pd.DataFrame, rows: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The rows not yet published and the count of repeats; refuses a row that conflicts with one."""
    key = list(PUBLISH_KEY)
    rows = rows.drop_duplicates(subset=[*key, *OUTCOME], keep="last")
    clash = rows[rows.duplicated(subset=key, keep=False)]
    if len(clash):
        a, b = clash.iloc[0], clash.iloc[1]
        raise UsageError(
            f"the rows to publish disagree on {_key_text(a)}: sweep {a['sweep_id']} and sweep {b['sweep_id']}; "
            "publish one of them"
        )
    if published.empty:
        return rows, 0
    merged = rows.merge(published[[*key, *OUTCOME, "sweep_id"]], on=key, how="left", suffixes=("", "_published"))
    known = merged["success_published"].notna().to_numpy()
    for column in OUTCOME:
        ours, theirs = merged[column], merged[f"{column}_published"]
        if column in ("success", "episode_steps"):  # the join made the study's side float (NaN where absent)
            same = ours.astype(float).to_numpy() == theirs.astype(float).to_numpy()
        else:
            same = (ours.astype(str) == theirs.astype(str)).to_numpy()
        differs = known & ~same
        if differs.any():
            row = merged[differs].iloc[0]
            raise UsageError(
                f"{_key_text(row)}: sweep {row['sweep_id']} has {column} = {row[column]!r}, the study's row from sweep "
                f"{row['sweep_id_published']} has {row[f'{column}_published']!r}; these are not the same result: "
                "publish into another study (--study NEW-NAME)"
            )
    return rows[~known], int(known.sum())


def _as_table(rows: pd.DataFrame) -> pa.Table:
    """Rows as an Arrow table with exactly the columns of `SCHEMA`."""
    return pa.Table.from_pandas(rows[[f.name for f in SCHEMA]], schema=SCHEMA, preserve_index=False)


def _write_rows(study: Path, rows: pd.DataFrame, label: str) -> Path:
    table = _as_table(rows)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = study / "rows" / f"{label}-{stamp}-{uuid.uuid4().hex[:6]}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "wb") as f:
        pq.write_table(table, f, compression="zstd")
    return path


def sweep_summary(rows: pd.DataFrame, sweep_dir: Path | None, command: str | None) -> dict[str, Any]:
    """What the manifest says of one published sweep: where and how its rows were made."""
    settings: dict[str, Any] = {}
    if sweep_dir is not None and (sweep_dir / "sweep.json").exists():
        try:
            saved = json.loads((sweep_dir / "sweep.json").read_text())
            settings = saved.get("settings", {})
            command = command or saved.get("command")
        except (OSError, ValueError):
            pass
    checkpoints = rows.groupby(list(CHECKPOINT_IDENTITY), sort=True)["checkpoint_fingerprint"].first().reset_index()
    datasets = rows.groupby("dataset", sort=True)[["dataset_source", "dataset_fingerprint"]].first()
    written = pd.to_datetime(rows["written_at"], utc=True)
    versions = {
        c.removeprefix("version_"): ", ".join(sorted(rows[c].unique().tolist()))
        for c in rows
        if c.startswith("version_")
    }
    return {
        "command": command or "(not recorded)",
        "rows": len(rows),
        "arms": int(rows["trial_id"].nunique()),
        "git_shas": sorted(rows["git_sha"].unique().tolist()),
        "first_row": written.min().isoformat(),
        "last_row": written.max().isoformat(),
        "machines": sorted(rows["machine"].unique().tolist()),
        "devices": sorted(rows["device"].unique().tolist()),
        "versions": versions,
        "datasets": {
            name: {"source": r["dataset_source"], "fingerprint": r["dataset_fingerprint"]}
            for name, r in datasets.iterrows()
        },
        "checkpoints": {
            f"{r.dataset}/{r.backbone}-{r.preset}-w{r.width}-d{r.depth}-s{r.pretrain_seed}@{r.checkpoint_step}": (
                r.checkpoint_fingerprint
            )
            for r in checkpoints.itertuples()
        },
        "episode_seconds": round(float(rows["wall_seconds"].sum()), 1),
        "settings": {k: settings[k] for k in ("workers", "cpus_per_worker", "episodes_per_task") if k in settings},
    }


def publish(
    sources: list[str | os.PathLike],
    store: str | os.PathLike,
    study: str,
    command: str | None = None,
    description: str | None = None,
) -> PublishReport:
    """Publish the rows of sweep folders into `store`/`study` (see the module's docstring)."""
    target = study_dir(store, study)
    published = published_rows(target)
    new_rows, per_sweep = [], {}
    for source in sources:
        rows = read_sweep(source)
        for sweep_id, part in rows.groupby("sweep_id", sort=True):
            per_sweep[sweep_id] = (part, Path(source).expanduser().resolve())
        new_rows.append(rows)
    rows = pd.concat(new_rows, ignore_index=True)
    check_fingerprints(published, rows, study)
    fresh, repeats = split_new(published, rows)
    path = None
    if len(fresh):
        label = fresh["sweep_id"].iloc[0] if fresh["sweep_id"].nunique() == 1 else "rows"
        path = _write_rows(target, fresh, label)
    manifest_path = target / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"study": study, "sweeps": {}}
    if description:
        manifest["description"] = description
    for sweep_id, (part, source) in per_sweep.items():
        all_rows = pd.concat([published[published["sweep_id"] == sweep_id], fresh[fresh["sweep_id"] == sweep_id]])
        previous = manifest["sweeps"].get(sweep_id, {})
        entry = sweep_summary(all_rows if len(all_rows) else part, source, command or previous.get("command"))
        manifest["sweeps"][sweep_id] = entry
    target.mkdir(parents=True, exist_ok=True)
    atomic_write_text(manifest_path, json.dumps(manifest, indent=2, sort_keys=False) + "\n")
    return PublishReport(target, len(fresh), repeats, path)


def read_study(store: str | os.PathLike, study: str) -> pd.DataFrame:
    """A study's rows; a missing study is a one-line error naming the studies there are."""
    target = study_dir(store, study)
    if not (target / "rows").is_dir():
        there = sorted(p.parent.name for p in Path(target.parent).glob("*/rows"))
        raise UsageError(f"no study {study!r} in {target.parent} (studies: {', '.join(there) or 'none'})")
    return published_rows(target)


def rows_to_records(rows: pd.DataFrame) -> list:
    """Published rows back as `EpisodeRecord`s (for a trial's summary when it replays none of them)."""
    from gcttt.results.records import RECORD_COLUMNS, EpisodeRecord

    out = []
    for row in rows.to_dict("records"):
        values = {c: row[c] for c in RECORD_COLUMNS}
        values["selected_per_replan"] = [int(v) for v in values["selected_per_replan"]]
        out.append(EpisodeRecord(**values))
    return out


def arm_rows(published: pd.DataFrame, dataset: str, backbone: str, preset: str, trial_id: str) -> pd.DataFrame:
    """The published rows of one sweep arm (its name spells every knob of the method)."""
    if published.empty:
        return published
    keep = (
        (published["dataset"] == dataset)
        & (published["backbone"] == backbone)
        & (published["preset"] == preset)
        & (published["trial_id"] == trial_id)
    )
    return published[keep]


def check_checkpoint(
    published: pd.DataFrame, identity: dict[str, Any], fingerprint: str, path: str, study: str
) -> None:
    """Refuse a (re-created) checkpoint whose weights differ from those that played a study's rows."""
    if published.empty:
        return
    keep = True
    for column in CHECKPOINT_IDENTITY:
        keep = keep & (published[column] == identity[column])
    prints = sorted(set(published[keep]["checkpoint_fingerprint"]))
    if prints and fingerprint not in prints:
        machines = ", ".join(sorted(set(published[keep]["machine"])))
        raise UsageError(
            f"{path} has weights {fingerprint}, but the rows of study {study} were played by weights "
            f"{', '.join(prints)} (pre-trained on {machines}); rows of two weights must never be pooled: "
            "run without --published under a new --name and publish it as a new study"
        )


def copy_rows(rows: pd.DataFrame, directory: str | os.PathLike) -> Path | None:
    """Write published rows as one part file of a sweep arm's folder (columns and values unchanged)."""
    from gcttt.results.records import write_part_file

    return write_part_file(directory, _as_table(rows))


def compare_with_reference(rows: pd.DataFrame, reference: pd.DataFrame, name: str = "the reference") -> list[str]:
    """Lines saying whether a sweep's rows reproduce a study's (the demo's self-check).

    Where every checkpoint's weights match the reference's, the rows must be identical episode by
    episode. Otherwise the checkpoints differ (another CPU or build pre-trains other weights) and
    only the configurations whose success differs beyond both 95% CIs are listed."""
    from gcttt.results.summary import summarize

    key = list(PUBLISH_KEY)
    ours = rows.drop_duplicates(subset=key, keep="last")
    theirs = reference[reference["trial_id"].isin(set(ours["trial_id"]))].drop_duplicates(subset=key, keep="last")
    if theirs.empty:
        return [f"no rows of these arms in {name}: nothing to compare"]
    mine = sorted(set(ours["checkpoint_fingerprint"]))
    ref = sorted(set(theirs["checkpoint_fingerprint"]))
    merged = ours.merge(theirs[[*key, "success"]], on=key, how="inner", suffixes=("", "_ref"))
    if mine == ref:
        same = int((merged["success"] == merged["success_ref"]).sum())
        lines = [f"identical checkpoints ({', '.join(mine)}): {same} of {len(merged)} episodes as in {name}"]
        if same == len(merged) and len(merged) == len(ours):
            lines[0] = f"identical: every one of the {len(ours)} episodes equals {name} (checkpoint {', '.join(mine)})"
        else:
            differ = merged[merged["success"] != merged["success_ref"]]
            lines += [f"  differs: {_key_text(r)}" for _, r in differ.head(10).iterrows()]
        return lines
    from gcttt.files.provenance import why_weights_differ

    here, there = ", ".join(sorted(set(ours["machine"]))), ", ".join(sorted(set(theirs["machine"])))
    lines = [
        f"the checkpoint differs from {name}'s: weights {', '.join(mine)} here ({here}), {', '.join(ref)} there "
        f"({there}), so episodes differ; {why_weights_differ(ours, theirs)}"
    ]
    a = summarize(ours, ["trial_id"], n_resamples=2000).set_index("trial_id")
    b = summarize(theirs, ["trial_id"], n_resamples=2000).set_index("trial_id")
    beyond = [
        t for t in a.index if t in b.index and (a.at[t, "low"] > b.at[t, "high"] or b.at[t, "low"] > a.at[t, "high"])
    ]
    for t in beyond:
        lines.append(
            f"  beyond the 95% CIs: {t}: {a.at[t, 'mean']:.2f} [{a.at[t, 'low']:.2f}, {a.at[t, 'high']:.2f}] here, "
            f"{b.at[t, 'mean']:.2f} [{b.at[t, 'low']:.2f}, {b.at[t, 'high']:.2f}] in {name}"
        )
    lines.append(f"  {len(beyond)} of {len(a)} rows of the table differ beyond their 95% CIs")
    return lines
