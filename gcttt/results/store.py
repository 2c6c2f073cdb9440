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

- a dataset (by name) has one fingerprint in a study: rows of another file of the same name
  (another seed, a changed copy) are refused, naming both fingerprints; the manifest lists every
  dataset its rows came from.

The manifest is the study's record of its rows: ``files`` holds the sha256 and row count of every
rows file, and every reader (`published_rows`: `make figures`, `gcttt results list`, `--published`,
publish itself) checks the files against it before using a row, so a changed byte, a missing
file or a file that no publish listed is one line naming the file and the way out. Manifests
written before checksums (no ``files``) are read as they are.

Every read-modify-write of a study holds ``STUDY/.lock`` (`study_lock`, an `fcntl.flock`, exclusive
for a publish, shared for a reader): two publishes into one study run one after the other, each
seeing what the other wrote, so neither loses an entry or adds a row twice; one that waits longer
than `LOCK_WAIT_SECONDS` is refused in one line. A publish writes its rows file, then the manifest
(each through a temporary file renamed into place); if the manifest cannot be written, the new
rows file is removed again.

A sweep folder is published whole: one whose arms do not all hold every episode (interrupted,
killed, failed) is refused unless `partial` is asked for; then only its finished arms are
published and its manifest entry says ``partial``; publishing the finished sweep later completes
the entry. An entry's counts are the study's rows of that sweep, never the rows offered.

`published_rows(study)` reads a study back; the sweeps use it to skip episodes that a study
already holds (`--published`), on any machine whose checkpoints match the study's fingerprints.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from gcttt.errors import UsageError
from gcttt.files.fileio import atomic_write_bytes, atomic_write_text
from gcttt.files.write_errors import write_failure
from gcttt.results.records import SCHEMA, part_files, read_part
from gcttt.results.summary import CONFIG_COLUMNS

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


MANIFEST = "manifest.json"
LOCK = ".lock"
LOCK_WAIT_SECONDS = 60.0
"""How long a publish waits for another one (or a reader) to finish with the study before it is refused."""

SWEEP_STATE = "state.json"
"""Written by a sweep's driver at the end of each run: whether it finished and which arms did."""


@dataclass(frozen=True)
class PublishReport:
    study: Path
    added: int
    repeats: int
    path: Path | None
    """The new rows file (None when nothing was added)."""
    notes: tuple[str, ...] = ()
    """What else the publish did that the user should know (a partial sweep, a dropped listing)."""


def study_dir(store: str | os.PathLike, study: str) -> Path:
    if not study or "/" in study or study.startswith("."):
        raise UsageError(f"study {study!r}: give a plain folder name (no '/', not starting with '.')")
    store = Path(store).expanduser().resolve()
    if store.exists() and not store.is_dir():
        raise UsageError(f"--store {store} is a file; give the results folder (results/ of this checkout)")
    return store / study


def _way_out(path: Path, sweeps: list[str] | None = None) -> str:
    again = f"its sweep ({', '.join(sweeps)})" if sweeps else "its sweep"
    return f"restore it with `git checkout -- {path}`, or delete it and publish {again} again"


@contextlib.contextmanager
def study_lock(study: str | os.PathLike, exclusive: bool, wait: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    """Hold ``STUDY/.lock``: exclusive for a publish (the study folder is created), shared for a
    reader. Waits up to `wait` seconds, then refuses in one line. A reader that cannot create the
    lock file (a read-only checkout, a study that does not exist) reads without it: nothing can
    publish there either."""
    import fcntl

    study = Path(study)
    path = study / LOCK
    if exclusive:
        study.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    else:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
        except OSError:
            fd = None
    if fd is None:
        yield
        return
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    try:
                        holder = json.loads(os.pread(fd, 4096, 0) or b"{}")
                    except ValueError:
                        holder = {}
                    raise UsageError(
                        f"study {study.name} has been in use for over {wait:.0f} s (lock {path}; last publish by pid "
                        f"{holder.get('pid', '?')} on {holder.get('host', '?')}); wait for it to finish, then try again"
                    ) from None
                time.sleep(0.02)
        if exclusive:  # who holds it, for the refusal above
            os.ftruncate(fd, 0)
            holder = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
            os.pwrite(fd, json.dumps(holder).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def read_manifest(study: str | os.PathLike) -> dict[str, Any] | None:
    """A study's manifest (None when it has none), refused in one line when it is not one."""
    path = Path(study) / MANIFEST
    if not path.exists():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(
            f"{path}: not a readable manifest ({reason}); restore it with `git checkout -- {path}`, or (a study "
            "not in git) delete the study folder and publish its sweeps again"
        ) from None
    problem = ""
    if not isinstance(manifest, dict) or not isinstance(manifest.get("sweeps"), dict):
        problem = "no 'sweeps' object"
    elif not all(isinstance(e, dict) for e in manifest["sweeps"].values()):
        problem = "a sweep entry that is not an object"
    elif "files" in manifest and not (
        isinstance(manifest["files"], dict)
        and all(isinstance(f, dict) and isinstance(f.get("sha256"), str) for f in manifest["files"].values())
    ):
        problem = "a 'files' entry without its sha256"
    if problem:
        raise UsageError(
            f"{path}: not a manifest of the results store ({problem}); restore it with `git checkout -- {path}`, "
            "or (a study not in git) delete the study folder and publish its sweeps again"
        )
    return manifest


def rows_files(study: str | os.PathLike, manifest: dict[str, Any] | None) -> list[tuple[Path, str | None]]:
    """The rows files of a study with the sha256 its manifest records for each (None: a manifest
    from before checksums, or none). A file in rows/ that the manifest does not list, or one it
    lists that is missing, is refused in one line."""
    study = Path(study)
    folder = study / "rows"
    on_disk = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
    if manifest is None or "files" not in manifest:
        return [(p, None) for p in on_disk]
    listed = manifest["files"]
    for path in on_disk:
        if f"rows/{path.name}" not in listed:
            raise UsageError(
                f"{path}: in the study but not listed in {study / MANIFEST} (left by a publish that did not finish, "
                "or copied in by hand); delete it, then publish its sweep again"
            )
    out = []
    for name in sorted(listed):
        path = study / name
        if not path.is_file():
            way_out = _way_out(path, listed[name].get("sweeps"))
            raise UsageError(f"{path}: listed in {study / MANIFEST} but missing; {way_out}")
        out.append((path, listed[name]["sha256"]))
    return out


def published_rows(study: str | os.PathLike) -> pd.DataFrame:
    """Every row of a study (empty frame with the schema's columns when it has none yet), each
    file checked against the sha256 its manifest records.

    Read once per state of its files: every trial of a `--published` sweep asks for it."""
    study = Path(study)
    with study_lock(study, exclusive=False):
        files = rows_files(study, read_manifest(study))
        if not files:
            return SCHEMA.empty_table().to_pandas()
        state = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size, sha) for p, sha in files)
        return _read_rows(state).copy()


def _sweeps_of(path: Path) -> list[str] | None:
    """The sweeps a rows file holds, as its study's manifest lists them (for the way out)."""
    try:
        return json.loads((path.parent.parent / MANIFEST).read_text())["files"][f"rows/{path.name}"].get("sweeps")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


@functools.lru_cache(maxsize=4)
def _read_rows(state: tuple[tuple[str, int, int, str | None], ...]) -> pd.DataFrame:
    frames = []
    for name, _, _, sha in state:
        path = Path(name)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise UsageError(f"{path}: cannot be read ({exc.strerror}); {_way_out(path, _sweeps_of(path))}") from None
        if sha is not None and hashlib.sha256(data).hexdigest() != sha:
            raise UsageError(
                f"{path}: its bytes do not match the sha256 in {path.parent.parent / MANIFEST} (the file was changed "
                f"or damaged); {_way_out(path, _sweeps_of(path))}"
            )
        try:
            frames.append(read_part(pa.BufferReader(data)).to_pandas())
        except (OSError, pa.ArrowException) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            way_out = _way_out(path, _sweeps_of(path))
            raise UsageError(f"{path}: not a readable Parquet file ({reason}); {way_out}") from None
    rows = pd.concat(frames, ignore_index=True)
    twice = rows.duplicated(list(PUBLISH_KEY), keep=False)
    if twice.any():  # what two publishes at once could leave before the study lock
        study = Path(state[0][0]).parent.parent
        raise UsageError(
            f"study {study} holds {int(rows[twice].duplicated(list(PUBLISH_KEY)).sum())} episode(s) twice, e.g. "
            f"{_key_text(rows[twice].iloc[0])} of sweep {rows[twice].iloc[0]['sweep_id']}; restore the study with "
            f"`git checkout -- {study}`, or delete it and publish its sweeps again"
        )
    return rows


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


def _write_rows(study: Path, rows: pd.DataFrame, label: str) -> tuple[Path, str]:
    """A new rows file (atomic) and the sha256 of its bytes."""
    sink = pa.BufferOutputStream()
    pq.write_table(_as_table(rows), sink, compression="zstd")
    data = sink.getvalue().to_pybytes()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = study / "rows" / f"{label}-{stamp}-{uuid.uuid4().hex[:6]}.parquet"
    atomic_write_bytes(path, data)
    return path, hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class SweepStatus:
    """Which arms of a sweep folder hold every one of their episodes."""

    name: str
    """The sweep's id (its rows' sweep_id)."""
    arms: tuple[str, ...]
    """The arms it plays (those its rows name, where the folder has no sweep.json)."""
    finished: tuple[str, ...]

    @property
    def unfinished(self) -> tuple[str, ...]:
        return tuple(a for a in self.arms if a not in self.finished)


def record_sweep_state(sweep_dir: str | os.PathLike, arms: list[str], finished: set[str] | None) -> None:
    """The driver's word on a run (`SWEEP_STATE`): None while a run is under way (the record of an
    earlier run is removed, so a run killed before its end leaves none), else its finished arms."""
    path = Path(sweep_dir) / SWEEP_STATE
    if finished is None:
        path.unlink(missing_ok=True)
        return
    state = {
        "finished": all(a in finished for a in arms),
        "arms": list(arms),
        "finished_arms": [a for a in arms if a in finished],
        "written_at": datetime.now(timezone.utc).isoformat(),
    }
    atomic_write_text(path, json.dumps(state, indent=2) + "\n")


def sweep_status(sweep_dir: str | os.PathLike, rows: pd.DataFrame) -> SweepStatus:
    """Whether a sweep folder's arms are finished: an arm is when its rows hold each of its episodes
    (tasks x episodes per task of its suite, from sweep.json's settings) and, where the driver
    recorded its last run (`SWEEP_STATE`), the driver counted it finished too. A folder without
    sweep.json (rows written by other tools) has nothing to check against: its arms count as finished."""
    sweep_dir = Path(sweep_dir)
    held = sorted(rows["trial_id"].unique().tolist())
    name = sweep_dir.name
    try:
        saved = json.loads((sweep_dir / "sweep.json").read_text())
        settings, arms = saved["settings"], list(saved["arms"])
        name = settings.get("name", name)
    except (OSError, ValueError, KeyError, TypeError):
        return SweepStatus(name, tuple(held), tuple(held))
    suite, tasks = settings.get("suite", "ogbench"), settings.get("tasks") or []
    per_task = int(settings.get("episodes_per_task") or 0)
    episodes = rows.drop_duplicates(["trial_id", "task_suite", "task_id", "episode_index"])
    counts = episodes.groupby("trial_id").size().to_dict()
    suites = episodes.groupby("trial_id")["task_suite"].first().to_dict()
    finished = set()
    for arm in arms:
        if arm not in counts:
            continue
        arm_suite = suites[arm]
        if arm_suite == suite:
            n_tasks = len(tasks)
        else:  # an arm of another suite plays all of its tasks (`sweeps.config.Tasks.task_ids`)
            n_tasks = 5 if arm_suite == "ogbench" else int(settings.get("heldout_size", 10))
        if counts[arm] >= n_tasks * per_task:
            finished.add(arm)
    try:
        state = json.loads((sweep_dir / SWEEP_STATE).read_text())
        finished &= set(state["finished_arms"])
    except (OSError, ValueError, KeyError, TypeError):
        pass  # a run killed before its end, or a sweep from before the record: the rows decide
    return SweepStatus(name, tuple(arms), tuple(a for a in arms if a in finished))


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
        "datasets": _datasets(rows),
        "checkpoints": {
            f"{r.dataset}/{r.backbone}-{r.preset}-w{r.width}-d{r.depth}-s{r.pretrain_seed}@{r.checkpoint_step}": (
                r.checkpoint_fingerprint
            )
            for r in checkpoints.itertuples()
        },
        "episode_seconds": round(float(rows["wall_seconds"].sum()), 1),
        "settings": {k: settings[k] for k in ("workers", "cpus_per_worker", "episodes_per_task") if k in settings},
    }


def _datasets(rows: pd.DataFrame) -> dict[str, dict[str, str]]:
    """Dataset name -> its source and fingerprint (one per name: `check_datasets` keeps it so)."""
    out = {}
    for name, group in rows.groupby("dataset", sort=True):
        pairs = group[["dataset_source", "dataset_fingerprint"]].drop_duplicates()
        out[name] = {
            "source": ", ".join(sorted(pairs["dataset_source"].astype(str).unique())),
            "fingerprint": ", ".join(sorted(pairs["dataset_fingerprint"].astype(str).unique())),
        }
    return out


def check_datasets(published: pd.DataFrame, rows: pd.DataFrame, study: str) -> None:
    """One dataset file per dataset name in a study: refuse rows of another file of the same name."""
    both = pd.concat([published.assign(_held=True), rows.assign(_held=False)], ignore_index=True)
    for name, group in both.groupby("dataset", sort=True):
        prints = sorted(group["dataset_fingerprint"].astype(str).unique())
        if len(prints) < 2:
            continue
        held = sorted(group[group["_held"]]["dataset_fingerprint"].astype(str).unique())
        new = sorted(set(prints) - set(held))
        there = (
            f"study {study} holds rows of {name} with dataset fingerprint {', '.join(held)}"
            if held
            else (f"the rows to publish come from two files of {name}")
        )
        raise UsageError(
            f"{there}, these come from {', '.join(new if held else prints)} (another seed, generator or a changed "
            "copy); publish them into a new study (--study NEW-NAME), and never pool the two in one number"
        )


def check_study_dataset(study: str | os.PathLike, dataset: str, fingerprint: str, path: str) -> None:
    """Before a `--published` sweep pre-trains or plays anything: its dataset must be the file that
    played the study's rows of that dataset."""
    rows = published_rows(study)
    held = sorted(rows[rows["dataset"] == dataset]["dataset_fingerprint"].astype(str).unique()) if len(rows) else []
    if held and fingerprint not in held:
        raise UsageError(
            f"--published {study}: its rows of {dataset} were played on the dataset with fingerprint "
            f"{', '.join(held)}, this sweep's {path} has fingerprint {fingerprint}; give the dataset the study was "
            "played on (--data-dir), or run without --published under a new --name"
        )


def publish(
    sources: list[str | os.PathLike],
    store: str | os.PathLike,
    study: str,
    command: str | None = None,
    description: str | None = None,
    partial: bool = False,
    lock_wait: float = LOCK_WAIT_SECONDS,
) -> PublishReport:
    """Publish the rows of sweep folders into `store`/`study` (see the module's docstring)."""
    target = study_dir(store, study)
    new_rows, per_sweep, notes, partial_of = [], {}, [], {}
    for source in sources:
        source = Path(source).expanduser().resolve()
        rows = read_sweep(source)
        status = sweep_status(source, rows)
        if status.unfinished:
            names = ", ".join(status.unfinished[:3]) + (", ..." if len(status.unfinished) > 3 else "")
            k, n = len(status.finished), len(status.arms)
            if not partial:
                raise UsageError(
                    f"{source}: sweep {status.name} is unfinished ({k} of {n} arms hold all their episodes; "
                    f"unfinished: {names}); finish it with the same command and --resume, or pass --partial to "
                    f"publish its {k} finished arm{'' if k == 1 else 's'} now (recorded as partial)"
                )
            if not k:
                raise UsageError(f"{source}: sweep {status.name} has no finished arm yet; nothing to publish")
            rows = rows[rows["trial_id"].isin(status.finished)]
            partial_of[status.name] = {"arms_published": k, "arms_of_sweep": n, "unfinished": list(status.unfinished)}
            notes.append(f"sweep {status.name}: {k} of {n} arms published (partial: {names} unfinished)")
        for sweep_id, part in rows.groupby("sweep_id", sort=True):
            per_sweep[sweep_id] = (part, source)
        new_rows.append(rows)
    rows = pd.concat(new_rows, ignore_index=True)
    try:
        with study_lock(target, exclusive=True, wait=lock_wait):
            return _publish_locked(target, study, rows, per_sweep, partial_of, command, description, notes)
    except OSError as exc:
        raise write_failure(exc, target / "rows", "publish again") or exc from None


def _publish_locked(
    target: Path,
    study: str,
    rows: pd.DataFrame,
    per_sweep: dict[str, tuple[pd.DataFrame, Path]],
    partial_of: dict[str, dict[str, Any]],
    command: str | None,
    description: str | None,
    notes: list[str],
) -> PublishReport:
    """The read-modify-write of a publish, under the study's lock."""
    manifest = read_manifest(target) or {"study": study, "sweeps": {}}
    files = manifest.get("files")
    dropped = []
    if files is not None:  # a listed file the user deleted (the way out of a damaged one) is dropped
        dropped = sorted(n for n in files if not (target / n).is_file())
        for name in dropped:
            notes.append(f"{target / name}: missing, dropped from the manifest with its rows")
        files = {n: f for n, f in files.items() if n not in dropped}
        manifest["files"] = files
    listed = rows_files(target, manifest)
    state = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size, sha) for p, sha in listed)
    published = _read_rows(state).copy() if state else SCHEMA.empty_table().to_pandas()
    check_datasets(published, rows, study)
    check_fingerprints(published, rows, study)
    fresh, repeats = split_new(published, rows)
    path = None
    try:
        if files is None:  # a study from before checksums: its files as they are now (git holds them)
            files = {
                f"rows/{p.name}": {
                    "sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
                    "rows": pq.ParquetFile(p).metadata.num_rows,
                    "sweeps": sorted(set(pq.read_table(p, columns=["sweep_id"]).column("sweep_id").to_pylist())),
                }
                for p, _ in listed
            }
        if len(fresh):
            label = fresh["sweep_id"].iloc[0] if fresh["sweep_id"].nunique() == 1 else "rows"
            path, sha = _write_rows(target, fresh, label)
            sweeps = sorted(fresh["sweep_id"].unique().tolist())
            files[f"rows/{path.name}"] = {"sha256": sha, "rows": len(fresh), "sweeps": sweeps}
        manifest["files"] = dict(sorted(files.items()))
        if description:
            manifest["description"] = description
        after = pd.concat([published, fresh], ignore_index=True) if len(fresh) else published
        affected = set(per_sweep) | {s for s in manifest["sweeps"] if dropped}
        for sweep_id in sorted(affected):
            held = after[after["sweep_id"] == sweep_id] if len(after) else after
            previous = manifest["sweeps"].get(sweep_id, {})
            if not len(held):  # none of its rows are in the study (all repeats of another sweep's)
                manifest["sweeps"].pop(sweep_id, None)
                continue
            source = per_sweep[sweep_id][1] if sweep_id in per_sweep else None
            entry = sweep_summary(held, source, command if sweep_id in per_sweep else None)
            if previous.get("command") and (sweep_id not in per_sweep or not command):
                entry["command"] = previous["command"]
            if source is None:  # a sweep whose rows a dropped file took: what was recorded of it
                entry["settings"] = previous.get("settings", {})
            if sweep_id in partial_of:
                entry["partial"] = partial_of[sweep_id]
            elif previous.get("partial") and sweep_id not in per_sweep:
                entry["partial"] = previous["partial"]
            manifest["sweeps"][sweep_id] = entry
        manifest["datasets"] = _datasets(after) if len(after) else {}
        atomic_write_text(target / MANIFEST, json.dumps(manifest, indent=2, sort_keys=False) + "\n")
    except BaseException:
        if path is not None:  # the rows file never made it into the manifest: no stray file
            path.unlink(missing_ok=True)
        raise
    return PublishReport(target, len(fresh), repeats, path, tuple(notes))


def add_checksums(study: str | os.PathLike) -> int:
    """Record the sha256 and row count of each rows file in a manifest from before checksums (the
    files as they are now: for studies whose bytes git holds). Returns the files recorded (0 when
    the manifest already has them)."""
    study = Path(study)
    with study_lock(study, exclusive=True):
        manifest = read_manifest(study)
        if manifest is None:
            raise UsageError(f"{study}: no {MANIFEST}; publish its sweeps to make one")
        if "files" in manifest:
            return 0
        files = {}
        for path, _ in rows_files(study, manifest):
            files[f"rows/{path.name}"] = {
                "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                "rows": pq.ParquetFile(path).metadata.num_rows,
                "sweeps": sorted(set(pq.read_table(path, columns=["sweep_id"]).column("sweep_id").to_pylist())),
            }
        manifest["files"] = files
        atomic_write_text(study / MANIFEST, json.dumps(manifest, indent=2, sort_keys=False) + "\n")
        return len(files)


def read_study(store: str | os.PathLike, study: str) -> pd.DataFrame:
    """A study's rows; a missing study is a one-line error naming the studies there are."""
    target = study_dir(store, study)
    if not (target / "rows").is_dir():
        there = sorted(p.parent.name for p in Path(target.parent).glob("*/rows"))
        raise UsageError(f"no study {study!r} in {target.parent} (studies: {', '.join(there) or 'none'})")
    return published_rows(target)


def list_studies(store: str | os.PathLike) -> list[dict[str, Any]]:
    """Each study of a store, read and checked as `published_rows` does: its rows, sweeps (and how
    many of them are partial), machines and bytes on disk."""
    store = Path(store).expanduser()
    out = []
    for study in sorted(p.parent for p in store.glob(f"*/{MANIFEST}")):
        rows = published_rows(study)
        manifest = read_manifest(study) or {"sweeps": {}}
        out.append(
            {
                "study": study.name,
                "rows": len(rows),
                "sweeps": len(manifest["sweeps"]),
                "partial": sum(1 for e in manifest["sweeps"].values() if e.get("partial")),
                "machines": sorted(rows["machine"].unique().tolist()) if len(rows) else [],
                "bytes": sum(f.stat().st_size for f in study.rglob("*") if f.is_file() and f.name != LOCK),
                "datasets": sorted(rows["dataset"].unique().tolist()) if len(rows) else [],
            }
        )
    return out


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


def _same_episodes(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with GC-TTT's `finetune` set to 'all' where the backbone's actor-only updates are
    exact (GC-BC): there 'all' and 'actor' play the same episodes, so a sweep at today's default
    compares with reference rows made before it, or with the other part."""
    from gcttt.agents import BACKBONES

    exact = [name for name, entry in BACKBONES.items() if entry.agent.actor_update_exact]
    out = frame.copy()
    out.loc[out["backbone"].isin(exact) & (out["method"] == "gcttt"), "finetune"] = "all"
    return out


COMPARE_KEY: tuple[str, ...] = tuple(
    dict.fromkeys((*CHECKPOINT_IDENTITY, *CONFIG_COLUMNS, "task_suite", "task_id", "episode_index", "seed"))
)
"""What names one episode when two sweeps are compared: the checkpoint, the configuration's columns
(not the arm's name, which spells 'actor' where the reference may say nothing) and the episode."""


def compare_with_reference(rows: pd.DataFrame, reference: pd.DataFrame, name: str = "the reference") -> list[str]:
    """Lines saying whether a sweep's rows reproduce a study's (the demo's self-check).

    Where every checkpoint's weights match the reference's, the rows must be identical episode by
    episode. Otherwise the checkpoints differ (another CPU or build pre-trains other weights) and
    only the configurations whose success differs beyond both 95% CIs are listed."""
    from gcttt.results.summary import summarize

    key = list(COMPARE_KEY)
    ours = _same_episodes(rows).drop_duplicates(subset=key, keep="last")
    theirs = _same_episodes(reference).drop_duplicates(subset=key, keep="last")
    config = [c for c in dict.fromkeys((*CHECKPOINT_IDENTITY, *CONFIG_COLUMNS))]
    arms = ours[[*config, "trial_id"]].drop_duplicates(subset=config)
    theirs = theirs.drop(columns=["trial_id"]).merge(arms, on=config, how="inner")  # named as our arms
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
