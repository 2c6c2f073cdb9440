"""The results store under faults (docs/faults.md, cases 20-26): concurrent publishes, damaged
bytes and manifests, unfinished sweeps, another dataset, trials that play nothing, a full disk,
and the checks a sweep makes before Ray starts."""

from __future__ import annotations

import errno
import json
from dataclasses import replace
from pathlib import Path

import pytest

from analysis.synthetic import record
from gcttt.errors import UsageError
from gcttt.results.records import RunContext, write_records
from gcttt.results.store import publish, published_rows

MAZE = "pointmaze-medium-navigate-v0"
ARM_A, ARM_B = "baseline-w512-s0", "gcttt-critic-K200-N5-lr0.0003-w512-s0"


def _episodes(n: int, seed0: int = 100, **changes):
    return [
        record(task_id=1 + i % 3, episode_index=i // 3, seed=seed0 + i, machine="cpu-a", **changes) for i in range(n)
    ]


def _sweep(root: Path, name: str, arms: dict[str, list], tasks=(1, 2, 3), per_task: int = 2, state=None) -> Path:
    """A sweep folder as the driver leaves it: rows per arm, sweep.json, and the driver's state."""
    sweep = root / name
    for arm, records in arms.items():
        context = RunContext(sweep_id=name, sweep_kind="horizon", trial_id=arm)
        write_records(sweep / "episodes" / arm, records, context)
    settings = {"name": name, "tasks": list(tasks), "suite": "ogbench", "episodes_per_task": per_task}
    manifest = {"settings": settings, "arms": [ARM_A, ARM_B], "command": f"python sweeps/horizon_sweep.py {name}"}
    (sweep / "sweep.json").write_text(json.dumps(manifest))
    if state is not None:
        (sweep / "state.json").write_text(json.dumps({"finished_arms": state}))
    return sweep


def _whole(root: Path, name: str, seed0: int = 100, **changes) -> Path:
    """A finished sweep of two arms, 3 tasks x 2 episodes each."""
    arms = {arm: _episodes(6, seed0, checkpoint_fingerprint="w1", **changes) for arm in (ARM_A, ARM_B)}
    return _sweep(root, name, arms, state=[ARM_A, ARM_B])


def _manifest(study: Path) -> dict:
    return json.loads((study / "manifest.json").read_text())


def _one_line(text: str, *needles: str) -> str:
    text = text.strip()
    assert len(text.splitlines()) == 1 and "Traceback" not in text, text
    for needle in needles:
        assert needle in text, text
    return text


# --- case 20: two publishes at the same moment ---------------------------------------------------


def test_two_publishes_released_together_each_land_whole(tmp_path):
    """Two processes (imports done) wait at a barrier, then publish into one fresh study: the same
    sweep twice, or two sweeps. Without the study lock this corrupted 20 of 20 and 17 of 20 pairs
    (bench/publish_race.py at 27448a3)."""
    from bench.publish_race import run

    counts = run(pairs=10, revision=None, root=tmp_path, start_method="fork")
    for mode in ("same", "different"):
        assert counts[mode]["corrupted"] == 0, counts
        assert counts[mode]["both_landed"] + counts[mode]["refused"] == 10, counts


def test_a_publish_that_waits_too_long_for_the_lock_is_one_line_and_writes_nothing(tmp_path):
    from gcttt.results.store import study_lock

    store = tmp_path / "results"
    publish([_whole(tmp_path, "s1")], store, "study")
    before = _manifest(store / "study")
    with study_lock(store / "study", exclusive=True), pytest.raises(UsageError) as err:
        publish([_whole(tmp_path, "s2", seed0=500)], store, "study", lock_wait=0.2)
    _one_line(str(err.value), "study study has been in use", "wait for it to finish")
    assert _manifest(store / "study") == before and len(list((store / "study" / "rows").iterdir())) == 1


# --- case 21: damaged bytes, a damaged manifest ----------------------------------------------------


def _results_list(store: Path, capsys) -> tuple[int, str, str]:
    from gcttt.cli import main

    code = main(["results", "list", "--store", str(store)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("offset", [9000, 100, -20])
def test_a_flipped_byte_is_refused_by_every_reader_naming_the_file_and_the_way_out(tmp_path, capsys, offset):
    store = tmp_path / "results"
    report = publish([_whole(tmp_path, "s1")], store, "study")
    data = bytearray(report.path.read_bytes())
    data[offset % len(data)] ^= 0x01
    report.path.write_bytes(bytes(data))
    with pytest.raises(UsageError) as err:
        published_rows(store / "study")  # make figures, --published and --check-against read through it
    _one_line(str(err.value), str(report.path), "do not match the sha256", "git checkout", "publish its sweep (s1)")
    code, _, stderr = _results_list(store, capsys)
    assert code == 2
    _one_line(stderr, "gcttt results: error:", str(report.path))
    with pytest.raises(UsageError, match="do not match the sha256"):
        publish([_whole(tmp_path, "s2", seed0=500)], store, "study")
    assert [p.name for p in (store / "study" / "rows").iterdir()] == [report.path.name]  # nothing added


def test_make_figures_refuses_a_damaged_study_in_one_line(tmp_path, capsys):
    from analysis.make_figures import tables

    store = tmp_path / "results"
    report = publish([_whole(tmp_path, "s1")], store, "demo")
    data = bytearray(report.path.read_bytes())
    data[len(data) // 2] ^= 0x10
    report.path.write_bytes(bytes(data))
    with pytest.raises(UsageError, match=r"do not match the sha256.*git checkout"):
        tables(store)


@pytest.mark.parametrize("text", ["{", '{"study": "x"}', '{"sweeps": {}, "files": {"rows/a.parquet": {}}}'])
def test_an_invalid_manifest_is_one_line_for_readers_and_publish_writes_nothing(tmp_path, capsys, text):
    store = tmp_path / "results"
    publish([_whole(tmp_path, "s1")], store, "study")
    (store / "study" / "manifest.json").write_text(text)
    rows_before = sorted((store / "study" / "rows").iterdir())
    with pytest.raises(UsageError) as err:
        published_rows(store / "study")
    _one_line(str(err.value), "manifest.json", "git checkout")
    code, _, stderr = _results_list(store, capsys)
    assert code == 2
    _one_line(stderr, "manifest.json")
    with pytest.raises(UsageError, match=r"manifest\.json"):
        publish([_whole(tmp_path, "s2", seed0=500)], store, "study")
    assert sorted((store / "study" / "rows").iterdir()) == rows_before  # no rows file without its entry


def test_a_stray_or_missing_rows_file_is_named_and_deleting_a_damaged_one_then_publishing_repairs(tmp_path):
    store = tmp_path / "results"
    first = publish([_whole(tmp_path, "s1")], store, "study")
    publish([_whole(tmp_path, "s2", seed0=500)], store, "study")
    stray = store / "study" / "rows" / "copied-in.parquet"
    stray.write_bytes(first.path.read_bytes())
    with pytest.raises(UsageError, match=r"copied-in.parquet: in the study but not listed"):
        published_rows(store / "study")
    stray.unlink()
    first.path.unlink()  # the way out of a damaged file: delete it, publish its sweep again
    with pytest.raises(UsageError, match=r"listed in .*manifest.json but missing; restore it"):
        published_rows(store / "study")
    again = publish([tmp_path / "s1"], store, "study")
    assert again.added == 12 and any("missing, dropped from the manifest" in n for n in again.notes)
    rows = published_rows(store / "study")
    assert len(rows) == 24 and not rows.duplicated(["trial_id", "task_id", "episode_index", "seed"]).any()
    assert {s: e["rows"] for s, e in _manifest(store / "study")["sweeps"].items()} == {"s1": 12, "s2": 12}


def test_older_manifests_without_checksums_keep_reading_and_get_them_on_the_next_publish(tmp_path):
    store = tmp_path / "results"
    publish([_whole(tmp_path, "s1")], store, "study")
    manifest = _manifest(store / "study")
    del manifest["files"]
    (store / "study" / "manifest.json").write_text(json.dumps(manifest))
    assert len(published_rows(store / "study")) == 12
    publish([_whole(tmp_path, "s2", seed0=500)], store, "study")
    files = _manifest(store / "study")["files"]
    assert len(files) == 2 and sorted(f["rows"] for f in files.values()) == [12, 12]


def test_the_published_studies_manifests_hold_checksums_of_their_files():
    root = Path(__file__).resolve().parent.parent / "results"
    for manifest in sorted(root.glob("*/manifest.json")):
        files = json.loads(manifest.read_text())["files"]
        assert sorted(files) == sorted(f"rows/{p.name}" for p in (manifest.parent / "rows").glob("*.parquet"))
        assert len(published_rows(manifest.parent)) == sum(f["rows"] for f in files.values())


# --- case 22: unfinished sweeps ---------------------------------------------------------------------


def test_an_unfinished_sweep_is_refused_unless_partial_and_the_finished_one_completes_the_entry(tmp_path, capsys):
    store = tmp_path / "results"
    # Arm B played 4 of its 6 episodes (a trial killed between its two part files).
    arms = {ARM_A: _episodes(6, checkpoint_fingerprint="w1"), ARM_B: _episodes(4, checkpoint_fingerprint="w1")}
    sweep = _sweep(tmp_path, "s1", arms)
    with pytest.raises(UsageError) as err:
        publish([sweep], store, "study")
    _one_line(str(err.value), "sweep s1 is unfinished (1 of 2 arms", ARM_B, "--resume", "--partial")
    assert not (store / "study" / "manifest.json").exists()

    from gcttt.cli import main

    assert main(["results", "publish", str(sweep), "--study", "study", "--store", str(store), "--partial"]) == 0
    out = capsys.readouterr().out
    assert "published 6 new rows" in out and "1 of 2 arms published (partial" in out
    entry = _manifest(store / "study")["sweeps"]["s1"]
    assert entry["rows"] == 6 and entry["arms"] == 1
    assert entry["partial"] == {"arms_published": 1, "arms_of_sweep": 2, "unfinished": [ARM_B]}
    code, listed, _ = _results_list(store, capsys)
    assert code == 0 and "study: 6 rows in 1 sweeps (1 partial)" in listed

    # --resume finished it: the same folder, now whole.
    finished = _whole(tmp_path / "later", "s1")
    report = publish([finished], store, "study")
    assert (report.added, report.repeats) == (6, 6)
    entry = _manifest(store / "study")["sweeps"]["s1"]
    assert entry["rows"] == 12 and entry["arms"] == 2 and "partial" not in entry


def test_an_arm_the_driver_called_unfinished_is_not_published_even_with_all_its_rows(tmp_path):
    arms = {arm: _episodes(6, checkpoint_fingerprint="w1") for arm in (ARM_A, ARM_B)}
    sweep = _sweep(tmp_path, "s1", arms, state=[ARM_A])  # arm B wrote its rows, never reported (Ctrl-C)
    with pytest.raises(UsageError, match=f"unfinished: {ARM_B}"):
        publish([sweep], tmp_path / "results", "study")
    assert publish([sweep], tmp_path / "results", "study", partial=True).added == 6


def test_an_entry_counts_the_rows_it_added_not_the_rows_offered(tmp_path, capsys):
    store = tmp_path / "results"
    publish([_whole(tmp_path, "s1")], store, "study")
    # Another run of the same grid (a kill -9 and a fresh name): every row a repeat of s1's.
    again = publish([_whole(tmp_path, "s2")], store, "study")
    assert (again.added, again.repeats) == (0, 12)
    assert list(_manifest(store / "study")["sweeps"]) == ["s1"]
    code, listed, _ = _results_list(store, capsys)
    assert code == 0 and listed.startswith("study: 12 rows in 1 sweeps")


# --- case 23: another dataset --------------------------------------------------------------------------


def test_rows_of_another_file_of_the_same_dataset_are_refused_naming_both_fingerprints(tmp_path):
    store = tmp_path / "results"
    publish([_whole(tmp_path, "s1", dataset_fingerprint="d1d1")], store, "study")
    with pytest.raises(UsageError) as err:
        publish([_whole(tmp_path, "s2", seed0=500, dataset_fingerprint="d2d2")], store, "study")
    _one_line(str(err.value), "fingerprint d1d1", "d2d2", "new study")
    assert _manifest(store / "study")["datasets"] == {
        "pointmaze-medium-navigate-v0": {"source": "generated", "fingerprint": "d1d1"}
    }
    # Another dataset by name is no mix: the manifest lists both.
    other = _whole(tmp_path, "s3", seed0=900, dataset="antmaze-medium-navigate-v0", dataset_fingerprint="a1a1")
    publish([other], store, "study")
    assert sorted(_manifest(store / "study")["datasets"]) == ["antmaze-medium-navigate-v0", MAZE]


def test_a_published_sweep_on_another_dataset_file_is_refused_before_pre_training(tmp_path):
    from gcttt.results.store import check_study_dataset

    store = tmp_path / "results"
    publish([_whole(tmp_path, "s1", dataset_fingerprint="d1d1")], store, "study")
    check_study_dataset(store / "study", MAZE, "d1d1", "/data")  # the same file: fine
    check_study_dataset(store / "study", "antmaze-medium-navigate-v0", "zzzz", "/data")  # rows of none: fine
    with pytest.raises(UsageError) as err:
        check_study_dataset(store / "study", MAZE, "d2d2", "/data")
    _one_line(str(err.value), "fingerprint d1d1", "/data has fingerprint d2d2", "--data-dir", "new --name")


def test_the_driver_compares_the_dataset_before_ray_or_pre_training(tmp_path, monkeypatch):
    """`_run_locked` checks the study's dataset right after preparing the data, before Ray."""
    import sweeps.driver as driver
    from gcttt.data.provenance import DatasetProvenance

    store = tmp_path / "results"
    publish([_whole(tmp_path, "s1", dataset_fingerprint="d1d1")], store, "study")
    settings = _settings(tmp_path, published=str(store / "study"))
    provenance = DatasetProvenance(dataset=MAZE, source="generated", fingerprint="d2d2")
    monkeypatch.setattr(driver, "prepare_dataset", lambda s: (None, provenance))
    monkeypatch.setattr(driver, "_connect", lambda s: pytest.fail("Ray started"))
    with pytest.raises(UsageError, match=r"fingerprint d1d1.*fingerprint d2d2"):
        driver._run_locked(settings, [], "horizon_sweep.py", 0.0)


def _settings(tmp_path: Path, **changes):
    from tests.test_faults import _settings as faults_settings

    return faults_settings(tmp_path, **changes)


# --- case 24: a trial that plays nothing ---------------------------------------------------------------


def test_a_trial_whose_episodes_were_all_copied_records_no_trajectories(tmp_path):
    from sweeps import trajectories
    from sweeps.arms import baseline_arms

    arm = baseline_arms([0], [32])[0]
    settings = _settings(tmp_path, record_trajectories=True)
    assert trajectories.save_trial(settings, arm, [], tmp_path / "part-x.parquet", "run", None) == {}
    assert not settings.trajectories_dir.exists() and not (settings.sweep_dir / "pictures").exists()


# --- case 25: a full or read-only disk ---------------------------------------------------------------


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device", str(args[0]) if args else None)


@pytest.mark.parametrize("writer", ["atomic_write_bytes", "atomic_write_text"])
def test_a_full_disk_while_publishing_is_one_line_and_leaves_the_study_as_it_was(tmp_path, monkeypatch, writer):
    import gcttt.results.store as store_module

    store = tmp_path / "results"
    publish([_whole(tmp_path, "s1")], store, "study")
    before = (_manifest(store / "study"), sorted((store / "study" / "rows").iterdir()))
    monkeypatch.setattr(store_module, writer, _no_space)  # the rows file, or the manifest after it
    with pytest.raises(UsageError) as err:
        publish([_whole(tmp_path, "s2", seed0=500)], store, "study")
    _one_line(str(err.value), f"cannot write in {store / 'study'}", "no space left", "free space (or make it writable)")
    assert (_manifest(store / "study"), sorted((store / "study" / "rows").iterdir())) == before
    monkeypatch.undo()
    assert publish([tmp_path / "s2"], store, "study").added == 12


def test_a_full_disk_during_a_sweep_is_one_line_naming_the_folder_and_resume(tmp_path, monkeypatch):
    import sweeps.driver as driver

    path = tmp_path / "sweeps" / "t" / "episodes" / "arm" / "part-1.parquet"
    monkeypatch.setattr(driver, "_run_locked", lambda *a: _no_space(path))
    with pytest.raises(UsageError) as err:
        driver.run_sweep(_settings(tmp_path), [], "horizon_sweep.py")
    _one_line(str(err.value), f"cannot write in {path.parent} (no space left)", "then rerun with --resume")


def test_a_trial_that_failed_on_a_full_disk_is_named_from_its_text():
    """A trial's OSError reaches the driver as text inside Ray's and Tune's own exceptions."""
    from gcttt.files.write_errors import write_failure

    error = RuntimeError("TuneError: ... OSError: [Errno 30] Read-only file system: '/out/sweeps/t/episodes/a/p.tmp'")
    assert "cannot write in /out/sweeps/t/episodes/a (read-only file system)" in str(write_failure(error, "/o", "x"))
    sqlite = RuntimeError("(sqlite3.OperationalError) database or disk is full")
    assert "cannot write in /o (no space left" in str(write_failure(sqlite, "/o", "rerun with --resume"))
    assert write_failure(RuntimeError("[Errno 2] No such file"), "/o", "x") is None
    assert write_failure(ValueError("a bug"), "/o", "x") is None


def test_a_trial_that_cannot_write_fails_with_the_one_line_and_a_bug_stays_a_bug(tmp_path):
    """The trial's wrapper: a full disk is gcttt's line (no chain, which Tune would print per
    attempt); any other error, and a trial that ends, pass through unchanged."""
    from sweeps.trial import _one_line_when_it_cannot_write

    @_one_line_when_it_cannot_write
    def trial(config, sweep, **shared):
        raise config["raise"]

    sweep = _settings(tmp_path)
    with pytest.raises(UsageError, match=r"cannot write in /out/x \(no space left") as caught:
        trial({"raise": OSError(errno.ENOSPC, "No space left on device", "/out/x/part.tmp")}, sweep, actors=[])
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    with pytest.raises(ValueError, match="a bug"):
        trial({"raise": ValueError("a bug")}, sweep, actors=[])


def test_mlflow_failing_while_a_failed_sweep_shuts_down_does_not_hide_why(tmp_path, monkeypatch, capsys):
    import sweeps.driver as driver

    def full(*args):
        raise RuntimeError("(sqlite3.OperationalError) database or disk is full\n[SQL: UPDATE runs ...]")

    monkeypatch.setattr(driver.tracking, "end_run", full)
    driver._end_parent(_settings(tmp_path), "run", "FAILED")  # the sweep's own error goes on
    _one_line(capsys.readouterr().err, "could not be marked FAILED", "database or disk is full")
    with pytest.raises(RuntimeError):
        driver._end_parent(_settings(tmp_path), "run", "FINISHED")  # nothing else failed: this is the error


# --- case 26: checked before Ray starts ------------------------------------------------------------------


def test_check_against_and_published_are_checked_before_ray_starts(tmp_path, capsys, monkeypatch):
    import sweeps.driver as driver
    from sweeps.horizon_sweep import main

    monkeypatch.setattr(driver, "_connect", lambda s: pytest.fail("Ray started"))
    out = tmp_path / "out"
    common = ["--preset", "smoke", "--out", str(out), "--data-dir", str(tmp_path / "data")]
    assert main([*common, "--check-against", str(tmp_path / "nope")]) == 2
    _one_line(capsys.readouterr().err, "no study 'nope'")
    store = tmp_path / "results"
    report = publish([_whole(tmp_path, "s1")], store, "study")
    report.path.write_bytes(report.path.read_bytes()[:-9])
    for flag in ("--check-against", "--published"):
        assert main([*common, flag, str(store / "study")]) == 2
        _one_line(capsys.readouterr().err, "do not match the sha256")
    assert not (out / "sweeps").exists()


def test_store_naming_a_file_is_one_line(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="is a file"):
        publish([_whole(tmp_path, "s1")], tmp_path / "file", "study")


def test_a_study_entry_keeps_its_command_and_records_synthetic_rows_as_they_are(tmp_path):
    """A sweep folder without sweep.json (rows written by other tools) has nothing to be unfinished against."""
    sweep = tmp_path / "bare"
    records = [replace(r, checkpoint_fingerprint="w1") for r in _episodes(3)]
    write_records(sweep / "episodes" / ARM_A, records, RunContext(sweep_id="bare", trial_id=ARM_A))
    assert publish([sweep], tmp_path / "results", "study", command="by hand").added == 3
    assert _manifest(tmp_path / "results" / "study")["sweeps"]["bare"]["command"] == "by hand"


def test_a_failure_that_lost_its_cause_on_a_full_disk_is_still_the_disk(tmp_path, monkeypatch):
    """On a full disk Tune's trial error files are truncated, so the driver sees an UnpicklingError."""
    import pickle

    import sweeps.driver as driver

    settings = _settings(tmp_path)
    settings.sweep_dir.mkdir(parents=True)

    def lost(*args):
        raise pickle.UnpicklingError("pickle data was truncated")

    monkeypatch.setattr(driver, "_run_locked", lost)
    with pytest.raises(pickle.UnpicklingError):  # a disk with room: the error as it is
        driver.run_sweep(settings, [], "horizon_sweep.py")
    monkeypatch.setattr(driver, "probe_write", lambda folder: OSError(errno.ENOSPC, "full", f"{folder}/x"))
    with pytest.raises(UsageError) as err:
        driver.run_sweep(settings, [], "horizon_sweep.py")
    _one_line(str(err.value), f"cannot write in {settings.sweep_dir} (no space left)", "rerun with --resume")


def test_a_tune_state_cut_short_by_a_full_disk_does_not_matter_to_resume(tmp_path):
    """After a full disk, Tune's experiment state can be cut short. The driver never reads it: the
    part files say what is done, and each run plays what is missing in a new Tune experiment."""
    import sweeps.driver as driver
    from sweeps.arms import baseline_arms

    settings = _settings(tmp_path, resume=True)
    arms = baseline_arms([0], [32])
    tune_dir = settings.sweep_dir / "tune"
    tune_dir.mkdir(parents=True)
    (tune_dir / "experiment_state-2026-12-07_02-08-16.json").write_text('{"trial_data": ["cut')
    (settings.sweep_dir / "sweep.json").write_text(json.dumps({"arms": [a.name for a in arms]}))
    driver.check_sweep_state(settings, arms)  # resumable: its manifest names the same arms
    assert driver.sweep_state(settings, arms) == "new"  # no rows yet: nothing was played

    class Progress:
        closed = False

        def close(self):
            self.closed = True

    progress = Progress()
    assert driver._play(None, settings, [], progress) == ([], False) and progress.closed  # nothing to play
    source = Path(driver.__file__).read_text()
    assert "Tuner.restore" not in source and "can_restore" not in source and "_local_tuner" not in source


def test_a_study_holding_an_episode_twice_is_refused_by_readers_in_one_line(tmp_path):
    """What two publishes at once left before the lock: the same rows in two files of one study."""
    from gcttt.results.store import add_checksums

    store = tmp_path / "results"
    report = publish([_whole(tmp_path, "s1")], store, "study")
    (store / "study" / "rows" / "copy.parquet").write_bytes(report.path.read_bytes())
    manifest = _manifest(store / "study")
    del manifest["files"]  # as a manifest of before checksums
    (store / "study" / "manifest.json").write_text(json.dumps(manifest))
    add_checksums(store / "study")
    with pytest.raises(UsageError) as err:
        published_rows(store / "study")
    _one_line(str(err.value), "holds 12 episode(s) twice", "of sweep s1", "git checkout")
    with pytest.raises(UsageError, match="twice"):
        publish([_whole(tmp_path, "s2", seed0=500)], store, "study")
