"""Reading sweep results for the analysis scripts: Parquet directories or MLflow experiments.

Every row is one episode with the columns of `gcttt.results.records.EpisodeRecord` plus the sweep's
provenance columns (docs/results_schema.md). The scripts read results only through `load`, which

- finds every ``*.parquet`` file under a directory (subdirectories included; names starting with
  '.' or ending in '.tmp', and hidden directories, are in-flight or foreign files and skipped),
  or downloads the ``episodes/`` artifacts of every run of an MLflow experiment;
- checks that each file has the columns the script needs, naming the file and the missing
  columns otherwise;
- drops repeated episodes (a spec written again after a driver restart), keeping the newest;
- applies the --sweep-id / --dataset / --backbone filters.

Problems reach the user as a one-line `gcttt.errors.UsageError` naming the problem and the fix;
`run_main` turns it into ``prog: error: ...`` and exit status 2, never a traceback.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import pandas as pd
import tyro

from gcttt.errors import GctttError, UsageError, run_main  # noqa: F401  (run_main: the scripts' entry)
from gcttt.results.records import part_files, read_part
from gcttt.results.summary import CONFIG_COLUMNS, EPISODE_KEY, drop_repeats  # noqa: F401  (EPISODE_KEY re-exported)

SUCCESS_COLUMNS: tuple[str, ...] = (*CONFIG_COLUMNS, "pretrain_seed", "success")
"""Columns every success summary needs: what was run, with which knobs, and whether it succeeded."""

ARTIFACT_DIR = "episodes"
"""MLflow artifact path under which each trial run logs its Parquet file."""

DEFAULT_RESULTS = os.path.join(os.environ.get("GCTTT_RESULTS_DIR", "~/gcttt-results"), "sweeps")
"""The sweeps' rows only: the results root also holds MLflow's artifact copies of the same rows
(mlartifacts/) and `gcttt evaluate` outputs (evaluations/), which must not be read twice."""


@dataclass(frozen=True)
class Source:
    """The flags every analysis script shares: where results come from, filters, output folder. A
    script's configuration extends it (and may give --out another default)."""

    results: Annotated[tyro.conf.Positional[str | None], tyro.conf.arg(metavar="[RESULTS]")] = None
    """Directory of Parquet episode files, searched recursively [default: $GCTTT_RESULTS_DIR/sweeps, else
    ~/gcttt-results/sweeps]."""
    mlflow_experiment: Annotated[str | None, tyro.conf.arg(metavar="NAME")] = None
    """Read the 'episodes/' Parquet artifacts of every run of this MLflow experiment instead."""
    mlflow_uri: Annotated[str | None, tyro.conf.arg(metavar="URI")] = None
    """MLflow tracking URI, e.g. sqlite:////abs/path/mlflow.db or http://host:5000 [default: $MLFLOW_TRACKING_URI]."""
    sweep_id: tyro.conf.UseAppendAction[tuple[str, ...]] = ()
    """Keep only this sweep (repeat to combine several)."""
    dataset: str | None = None
    """Keep only this OGBench dataset."""
    backbone: str | None = None
    """Keep only this backbone (gcbc, gciql, saw)."""
    width: int | None = None
    """Keep only networks of this width (table.py: default the smallest with TTT rows)."""
    out: str = "results/figures"
    """Output directory."""

    def tracking_uri(self) -> str | None:
        """--mlflow-uri, else $MLFLOW_TRACKING_URI (read when the rows are, not when the flags are defined)."""
        return self.mlflow_uri or os.environ.get("MLFLOW_TRACKING_URI")


def output_dir(out: str | os.PathLike, flag: str = "--out", create: bool = False) -> Path:
    """The scripts' output directory, proven writable before any work (one line otherwise: a path
    that is a file or lies under one, a read-only folder or file system): a test file is written
    into it, or into the nearest folder above it that exists. `create`: make the directory too."""
    from gcttt.files.fileio import check_writable_dir

    path = check_writable_dir(out, flag)
    probe = path
    while not probe.exists():
        probe = probe.parent
    try:
        with tempfile.NamedTemporaryFile(dir=probe, prefix=".write-test-"):
            pass
        if create:
            path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"{flag} {path} cannot be written ({exc.strerror or exc}); give a directory you can write to"
        ) from None
    return path


def require_study(study: str | os.PathLike) -> Path:
    """`study` as a path, or a one-line refusal when it is not a study of the results store."""
    if not (Path(study) / "rows").is_dir():
        raise UsageError(f"{study}: not a study of the results store (no rows/ folder)")
    return Path(study)


def load(args: Source, required: Sequence[str]) -> pd.DataFrame:
    """Rows from the source named by `args`, checked for `required` columns, deduplicated, filtered."""
    if args.mlflow_experiment:
        if args.results:
            raise UsageError("give either a results directory or --mlflow-experiment, not both")
        with tempfile.TemporaryDirectory(prefix="gcttt-mlflow-") as tmp:
            download_mlflow(args.tracking_uri(), args.mlflow_experiment, Path(tmp))
            frame = read_directory(tmp, required, origin=f"MLflow experiment {args.mlflow_experiment!r}")
    else:
        frame = read_directory(args.results or DEFAULT_RESULTS, required)
    frame = drop_repeats(frame)
    for column, wanted in (
        ("sweep_id", args.sweep_id),
        ("dataset", args.dataset),
        ("backbone", args.backbone),
        ("width", args.width),
    ):
        if wanted is None or wanted == ():
            continue
        values = list(wanted) if isinstance(wanted, tuple) else [wanted]
        kept = frame[frame[column].isin(values)]
        if kept.empty:
            found = ", ".join(sorted(map(str, frame[column].unique())))
            raise UsageError(f"no rows with {column} in {values}; the results hold: {found}")
        frame = kept
    return frame.reset_index(drop=True)


def with_once(frame: pd.DataFrame) -> pd.DataFrame:
    """Add `once`: the row fine-tuned once per episode (schedule 'once' or 'once-keep')."""
    return frame.assign(once=frame["schedule"].isin(["once", "once-keep"]))


def read_directory(directory: str | os.PathLike, required: Sequence[str], origin: str | None = None) -> pd.DataFrame:
    """All episode rows of the Parquet files under `directory`, each file checked for `required`."""

    root = Path(directory).expanduser()
    where = origin or str(root)
    if not root.exists():
        raise UsageError(f"{root}: no such results directory; pass the folder a sweep wrote (OUT/sweeps/NAME)")
    if not root.is_dir():
        raise UsageError(f"{root} is a file; pass the directory that holds the Parquet part files")
    files = part_files(root, recursive=True)
    if not files:
        raise UsageError(f"{where}: no Parquet files found; run a sweep first or point at its results directory")
    frames = []
    for path in files:
        try:
            table = read_part(path)
        except Exception as exc:  # pyarrow raises several types for damaged files
            raise UsageError(
                f"{path}: not a readable Parquet file ({str(exc).splitlines()[0]}); delete or move it"
            ) from None
        missing = [c for c in required if c not in table.column_names]
        if missing:
            raise UsageError(
                f"{path}: not an episode-results file, missing columns {missing}; point at a sweep's "
                "results directory (schema: docs/results_schema.md)"
            )
        frames.append(table.to_pandas())
    frame = pd.concat(frames, ignore_index=True)
    if frame.empty:
        raise UsageError(f"{where}: the Parquet files hold no rows; the sweep has not finished any episode yet")
    return frame


def download_mlflow(uri: str | None, experiment: str, destination: Path) -> list[str]:
    """Download the 'episodes/' artifacts of every run of `experiment` into destination/RUN_ID/.

    Returns the ids of the runs that had episode files.
    """
    from gcttt.tracking_uri import check_reachable, check_tracking_uri

    uri = check_tracking_uri(uri, must_exist=True)
    check_reachable(uri)
    import logging

    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        import mlflow.artifacts
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=uri)
        found = client.get_experiment_by_name(experiment)
        if found is None:
            names = sorted(e.name for e in client.search_experiments())
            raise UsageError(f"MLflow experiment {experiment!r} not found at {uri}; experiments there: {names}")
        runs, token = [], None
        while True:
            page = client.search_runs([found.experiment_id], max_results=1000, page_token=token)
            runs.extend(page)
            token = page.token
            if not token:
                break
        with_episodes = []
        for run in runs:
            run_id = run.info.run_id
            if not client.list_artifacts(run_id, ARTIFACT_DIR):
                continue
            mlflow.artifacts.download_artifacts(
                run_id=run_id,
                artifact_path=ARTIFACT_DIR,
                dst_path=str(destination / run_id),
                tracking_uri=uri,
            )
            with_episodes.append(run_id)
    except GctttError:
        raise
    except Exception as exc:  # MLflow raises many types (connection, REST, SQL)
        raise UsageError(f"cannot read MLflow experiment {experiment!r} at {uri}: {str(exc).splitlines()[0]}") from None
    if not with_episodes:
        raise UsageError(
            f"MLflow experiment {experiment!r} has {len(runs)} runs but none logged '{ARTIFACT_DIR}/' Parquet "
            "artifacts; run a sweep with MLflow tracking first"
        )
    return with_episodes


def single(frame: pd.DataFrame, column: str, flag: str) -> str:
    """The one value of `column`, or a UsageError asking the user to pick one with `flag`."""
    values = sorted(map(str, frame[column].unique()))
    if len(values) != 1:
        raise UsageError(
            f"the results hold {len(values)} values of {column} ({', '.join(values)}); pick one with {flag}"
        )
    return values[0]
