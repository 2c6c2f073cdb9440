"""The results store (gcttt/results/store.py, `gcttt results publish`): idempotent publishing, refused
conflicts and mixed weights, and sweeps that resume from published rows on a fresh machine."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analysis.synthetic import record
from gcttt.errors import UsageError
from gcttt.results.records import SCHEMA, RunContext, write_records
from gcttt.results.store import publish, published_rows

ROOT = Path(__file__).resolve().parent.parent


def _sweep_folder(root: Path, name: str, records, arm: str = "baseline-w512-s0") -> Path:
    sweep = root / name
    write_records(sweep / "episodes" / arm, records, RunContext(sweep_id=name, sweep_kind="horizon", trial_id=arm))
    return sweep


def _episodes(n: int, **changes):
    return [
        record(task_id=1 + i % 5, episode_index=i // 5, seed=100 + i, success=i % 2 == 0, machine="cpu-a", **changes)
        for i in range(n)
    ]


def test_publishing_twice_adds_nothing_and_the_manifest_says_where_rows_came_from(tmp_path):
    sweep = _sweep_folder(tmp_path, "s1", _episodes(10, checkpoint_fingerprint="w1"))
    first = publish([sweep], tmp_path / "results", "study", command="python sweeps/horizon_sweep.py")
    again = publish([sweep], tmp_path / "results", "study")
    assert (first.added, first.repeats) == (10, 0)
    assert (again.added, again.repeats, again.path) == (0, 10, None)
    rows = published_rows(tmp_path / "results" / "study")
    assert len(rows) == 10 and list(rows.columns) == [f.name for f in SCHEMA]
    assert pq.ParquetFile(first.path).metadata.row_group(0).column(0).compression == "ZSTD"
    import json

    manifest = json.loads((tmp_path / "results" / "study" / "manifest.json").read_text())
    entry = manifest["sweeps"]["s1"]
    assert entry["command"] == "python sweeps/horizon_sweep.py"  # kept from the first publication
    assert entry["rows"] == 10 and entry["machines"] == ["cpu-a"]
    assert list(entry["checkpoints"].values()) == ["w1"]
    assert entry["datasets"]["pointmaze-medium-navigate-v0"]["source"] == "generated"


def test_a_row_that_disagrees_with_a_published_one_is_refused_naming_both(tmp_path):
    publish([_sweep_folder(tmp_path, "s1", _episodes(4, checkpoint_fingerprint="w1"))], tmp_path / "r", "study")
    flipped = [
        replace(r, success=not r.success) if r.episode_index == 0 and r.task_id == 2 else r for r in _episodes(4)
    ]
    flipped = [replace(r, checkpoint_fingerprint="w1") for r in flipped]
    other = _sweep_folder(tmp_path, "s2", flipped)
    with pytest.raises(UsageError, match=r"task ogbench/2 episode 0.*sweep s2 has success.*sweep s1") as err:
        publish([other], tmp_path / "r", "study")
    assert "\n" not in str(err.value)
    assert len(published_rows(tmp_path / "r" / "study")) == 4  # nothing half-written


def test_rows_of_other_weights_for_a_published_checkpoint_are_refused(tmp_path):
    publish([_sweep_folder(tmp_path, "s1", _episodes(3, checkpoint_fingerprint="aaaa"))], tmp_path / "r", "study")
    # Other episodes of the same checkpoint, played by weights pre-trained on another CPU.
    later = [replace(r, episode_index=7, checkpoint_fingerprint="bbbb", machine="cpu-b") for r in _episodes(3)]
    with pytest.raises(UsageError, match=r"weights aaaa.*weights bbbb.*cpu-a, cpu-b.*new study"):
        publish([_sweep_folder(tmp_path, "s2", later)], tmp_path / "r", "study")
    # A new study takes them.
    assert publish([tmp_path / "s2"], tmp_path / "r", "study-b").added == 3


def test_rows_without_identity_columns_are_refused(tmp_path):
    sweep = _sweep_folder(tmp_path, "s1", _episodes(2, checkpoint_fingerprint="w1"))
    part = next((sweep / "episodes").rglob("part-*.parquet"))
    table = pq.read_table(part)
    pq.write_table(table.drop(["checkpoint_fingerprint", "machine"]), part)
    with pytest.raises(UsageError, match="lack checkpoint_fingerprint"):
        publish([sweep], tmp_path / "r", "study")


def _smoke_sweep(ray_head, out: Path, name: str, data: Path, *extra: str) -> subprocess.CompletedProcess:
    address, ray_env = ray_head
    argv = [sys.executable, str(ROOT / "sweeps" / "horizon_sweep.py"), "--preset", "smoke", "--tasks", "1", "2", "3"]
    argv += ["--K", "200", "--N", "5", "--lr", "3e-4", "--selections", "critic", "--episodes-per-task", "2"]
    argv += ["--out", str(out), "--name", name, "--data-dir", str(data), "--ray-address", address, *extra]
    env = {**os.environ, **ray_env, "GCTTT_OFFLINE": "1", "MPLBACKEND": "Agg"}
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


def _rewrite_study(study: Path, rows: pd.DataFrame) -> None:
    """Replace a study's rows by hand, as a fault would, and record the new file's checksum (as the
    one-off for studies from before checksums does) so that readers take it."""
    import json

    from gcttt.results.store import add_checksums

    for path in (study / "rows").glob("*.parquet"):
        path.unlink()
    pq.write_table(pa.Table.from_pandas(rows, schema=SCHEMA, preserve_index=False), study / "rows" / "x.parquet")
    manifest = json.loads((study / "manifest.json").read_text())
    del manifest["files"]
    (study / "manifest.json").write_text(json.dumps(manifest))
    assert add_checksums(study) == 1


def test_a_sweep_resumes_from_published_rows_and_refuses_other_weights(tmp_path, seed_smoke_sweep, ray_head):
    import shutil

    data = tmp_path / "data"
    seed_smoke_sweep(tmp_path / "machine-a", data_dir=data)  # its dataset and checkpoint, pre-trained here
    first = _smoke_sweep(ray_head, tmp_path / "machine-a", "a", data)
    assert first.returncode == 0, first.stderr[-3000:]
    store = tmp_path / "results"
    report = publish([tmp_path / "machine-a" / "sweeps" / "a"], store, "study")
    assert report.added == 2 * 3 * 2  # baseline and critic, 3 tasks x 2 episodes
    # Keep only task 1's rows in the study: the rest is what a fresh machine still has to play.
    rows = published_rows(store / "study")
    _rewrite_study(store / "study", rows[rows["task_id"] == 1])

    # A fresh machine: no checkpoints, no sweep folder; the same weights are pre-trained again (by
    # the sweep, as a Ray task: the fixture's in-process run gave the same bits).
    second = _smoke_sweep(ray_head, tmp_path / "machine-b", "b", data, "--published", str(store / "study"))
    assert second.returncode == 0, second.stderr[-3000:]
    assert "sweep: pre-training 1 checkpoint(s)" in second.stderr
    from gcttt.results.tables import read_sweep_rows

    now = read_sweep_rows(tmp_path / "machine-b" / "sweeps" / "b" / "episodes")
    assert len(now) == 12  # every episode of the grid is there
    played = now[now["sweep_id"] == "b"]
    assert len(played) == 8 and set(played["task_id"]) == {2, 3}  # only the missing ones were played
    copied = now[now["sweep_id"] == "a"]
    assert len(copied) == 4 and set(copied["task_id"]) == {1}
    assert now.duplicated(["trial_id", "task_id", "episode_index"]).sum() == 0
    # Its rows publish without conflict: the study now holds every episode once.
    assert publish([tmp_path / "machine-b" / "sweeps" / "b"], store, "study").added == 8

    # Rows played by other weights: a re-created checkpoint that does not match is refused.
    rows = published_rows(store / "study")
    rows["checkpoint_fingerprint"] = "0123456789abcdef"
    _rewrite_study(store / "study", rows)
    shutil.copytree(tmp_path / "machine-b" / "checkpoints", tmp_path / "machine-c" / "checkpoints")  # its own weights
    third = _smoke_sweep(ray_head, tmp_path / "machine-c", "c", data, "--published", str(store / "study"))
    assert third.returncode == 2
    assert "0123456789abcdef" in third.stderr and "new --name" in third.stderr
    assert not (tmp_path / "machine-c" / "sweeps" / "c" / "episodes").exists()


def test_published_rows_of_an_empty_study_have_the_schema(tmp_path):
    assert list(published_rows(tmp_path / "nothing").columns) == [f.name for f in SCHEMA]
    assert isinstance(published_rows(tmp_path / "nothing"), pd.DataFrame)


def test_the_demo_self_check_says_identical_or_names_the_rows_beyond_their_cis():
    from gcttt.results.records import records_table
    from gcttt.results.store import compare_with_reference

    def frame(records):
        return records_table(((r, {}) for r in records), RunContext(trial_id="arm-a")).to_pandas()

    reference = frame(_episodes(20, checkpoint_fingerprint="w1"))
    assert compare_with_reference(reference.copy(), reference)[0].startswith("identical: every one of the 20")
    # Other weights (another CPU): every episode fails here, half succeeded there.
    other = frame([replace(r, success=False, checkpoint_fingerprint="w2", machine="cpu-b") for r in _episodes(20)])
    lines = compare_with_reference(other, reference, "results/demo")
    assert "the checkpoint differs" in lines[0] and "w2" in lines[0] and "w1" in lines[0]
    assert "what differs: the machine: cpu-b here, cpu-a there" in lines[0]
    assert any("beyond the 95% CIs: arm-a" in line for line in lines)
    assert lines[-1].strip() == "1 of 1 rows of the table differ beyond their 95% CIs"


def test_the_self_check_compares_gcbc_actor_rows_with_full_loss_references_and_no_other_backbone():
    """GC-BC's default fine-tunes the actor alone, which plays the same episodes as the full loss
    (tests/test_finetune_part.py): a fresh demo (arms named ...-actor-...) still checks against
    reference rows made with 'all'. For GC-IQL the two are different methods and never compared."""
    from gcttt.results.records import records_table
    from gcttt.results.store import compare_with_reference

    def frame(records, arm):
        return records_table(((r, {}) for r in records), RunContext(trial_id=arm)).to_pandas()

    for backbone, compared in (("gcbc", True), ("gciql", False)):
        ttt = {"method": "gcttt", "backbone": backbone, "checkpoint_fingerprint": "w1"}
        reference = frame(_episodes(10, **ttt, finetune="all"), "gcttt-critic-K100-N50-lr0.0003-w512-s0")
        ours = frame(_episodes(10, **ttt, finetune="actor"), "gcttt-critic-K100-N50-lr0.0003-actor-w512-s0")
        lines = compare_with_reference(ours, reference, "results/demo")
        if compared:
            assert lines[0].startswith("identical: every one of the 10 episodes"), lines
        else:
            assert lines == ["no rows of these arms in results/demo: nothing to compare"], lines
