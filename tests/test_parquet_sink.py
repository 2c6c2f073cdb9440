"""The Parquet sink: documented schema, round trip, atomic part files (no Ray needed)."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import gcttt.results.records as records_module
from analysis import synthetic
from gcttt.errors import UsageError
from gcttt.results.records import RECORD_COLUMNS, EpisodeRecord
from workers.episode_worker import PoolResult
from workers.parquet_sink import SCHEMA, ParquetSink, RunContext, part_files, read_results

REPO = Path(__file__).resolve().parent.parent


def record(**changes) -> EpisodeRecord:
    defaults = dict(method="gcttt", preset="smoke", width=32, depth=2, checkpoint="/x/final.pt", checkpoint_step=50,
                    task_id=1, seed=123, episode_steps=321, wall_seconds=1.5, act_seconds=0.5, selection_seconds=0.25,
                    finetune_seconds=0.75, replans=4, selected_per_replan=[10, 0, 7, 3], mean_selected=5.0,
                    value_evaluations=1000, updates=15, flops_act=10, flops_selection=20, flops_finetune=30,
                    flops_total=60, device="cpu (x86_64, 1 threads)")  # fmt: skip
    return synthetic.record(**{**defaults, **changes})


CONTEXT = RunContext(sweep_id="sweep-1", trial_id="trial-7", node="writer-host")


def test_round_trip(tmp_path):
    results = [
        PoolResult(0, record(), "node-a", 11, 1),
        PoolResult(3, record(task_id=2, selected_per_replan=[], replans=0, success=False), "node-b", 12, 2),
    ]
    bare = record(method="baseline", selection="", selected_per_replan=[])
    sink = ParquetSink(tmp_path / "out")
    first = sink.write(results, CONTEXT)
    second = sink.write([bare], CONTEXT)
    assert first.name.startswith("part-") and first != second
    assert pq.read_schema(first).remove_metadata() == SCHEMA

    frame = read_results(tmp_path / "out").sort_values("spec_index").reset_index(drop=True)
    assert list(frame.columns) == SCHEMA.names
    originals = [bare, results[0].record, results[1].record]
    for row, original in zip(frame.to_dict("records"), originals, strict=True):
        assert {k: row[k] for k in RECORD_COLUMNS} == asdict(original)
        assert type(row["selected_per_replan"]) is list
    assert list(frame["spec_index"]) == [-1, 0, 3]
    assert list(frame["attempts"]) == [1, 1, 2]
    assert list(frame["node"]) == ["writer-host", "node-a", "node-b"]
    assert set(frame["sweep_id"]) == {"sweep-1"} and set(frame["trial_id"]) == {"trial-7"}
    assert set(frame["git_sha"]) == {CONTEXT.git_sha}
    assert set(frame["version_torch"]) == {CONTEXT.versions["torch"]}
    assert str(frame["written_at"].dtype) == "datetime64[us, UTC]"


def test_empty_batch_writes_nothing_and_empty_directory_reads_empty(tmp_path):
    sink = ParquetSink(tmp_path)
    assert sink.write([], CONTEXT) is None
    frame = read_results(tmp_path)
    assert len(frame) == 0 and list(frame.columns) == SCHEMA.names


def test_schema_is_documented():
    doc = (REPO / "docs" / "results_schema.md").read_text()
    for name in SCHEMA.names:
        assert f"`{name}`" in doc, f"{name} missing from docs/results_schema.md"


def test_failed_write_leaves_no_part_file(tmp_path, monkeypatch):
    sink = ParquetSink(tmp_path)
    kept = sink.write([record()], CONTEXT)

    def half_then_fail(table, where, **kwargs):
        where.write(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(records_module.pq, "write_table", half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        sink.write([record(task_id=2)], CONTEXT)
    assert sorted(tmp_path.iterdir()) == [kept]  # no new part file, no temporary file


def test_writer_killed_mid_write_leaves_only_a_temporary_file(tmp_path):
    sink = ParquetSink(tmp_path)
    kept = sink.write([record()], CONTEXT)
    marker = tmp_path.parent / "half-written"
    script = f"""
import sys, time
from pathlib import Path
sys.path.insert(0, {str(Path(__file__).parent)!r})
import gcttt.results.records as r
import workers.parquet_sink as s
from test_parquet_sink import record

def half_then_hang(table, where, **kwargs):
    where.write(b"PAR1 half a file")
    where.flush()
    Path({str(marker)!r}).touch()
    time.sleep(60)

r.pq.write_table = half_then_hang
s.ParquetSink({str(tmp_path)!r}).write([record(task_id=5)], s.RunContext())
"""
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert proc.poll() is None, "the writer exited before writing"
            assert time.monotonic() < deadline, "the writer never started writing"
            time.sleep(0.1)
        proc.kill()  # SIGKILL: no cleanup handler runs
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    leftovers = [p for p in tmp_path.iterdir() if p != kept]
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".part-")
    assert leftovers[0].name.endswith(".tmp")
    assert part_files(tmp_path) == [kept]
    assert list(read_results(tmp_path)["task_id"]) == [1]


def test_bad_input_is_refused(tmp_path):
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(UsageError, match="is a file; give the sink a directory"):
        ParquetSink(file)
    sink = ParquetSink(tmp_path / "out")
    with pytest.raises(UsageError, match="cannot write a dict"):
        sink.write([{"task_id": 1}], CONTEXT)
    with pytest.raises(UsageError, match=r"context must be a gcttt\.results\.records\.RunContext"):
        sink.write([record()], {"sweep_id": "x"})
    with pytest.raises(UsageError, match=r"context\.versions lacks"):
        sink.write([record()], RunContext(versions={"python": "3"}))
    with pytest.raises(UsageError, match="no such results directory"):
        read_results(tmp_path / "missing")
