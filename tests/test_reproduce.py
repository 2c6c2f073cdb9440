"""sweeps/reproduce.py end to end at the smoke preset: tune on held-out pairs, evaluate on OGBench's
tasks, write the report; killed in the middle of its final phase, the same command finishes it
with every episode exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CELL = "gcbc-pointmaze-medium-navigate"


def _reproduce(out: Path, ray_head=None) -> subprocess.Popen:
    """The smoke reproduction; on a Ray of its own (started and stopped by the driver) without
    `ray_head`, else connected to that cluster."""
    argv = [sys.executable, str(ROOT / "sweeps" / "reproduce.py"), "--preset", "smoke", "--seeds", "0", "1"]
    argv += ["--heldout-size", "2", "--out", str(out), "--data-dir", str(out / "data"), "--name", "r"]
    argv += ["--ray-address", ray_head[0] if ray_head else "local"]
    env = {**os.environ, **(ray_head[1] if ray_head else {}), "GCTTT_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    env["MPLBACKEND"] = "Agg"
    # A session of its own, so that a kill of its group takes the driver's own Ray with it.
    return subprocess.Popen(
        argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )


def _rows(out: Path, phase: str):
    from gcttt.results.tables import read_sweep_rows

    return read_sweep_rows(out / "sweeps" / f"r-{CELL}-{phase}" / "episodes")


def test_smoke_reproduction_killed_in_its_final_phase_finishes_exactly_once(tmp_path, seed_smoke_sweep, ray_head):
    seed_smoke_sweep(tmp_path, seeds=(0, 1), data_dir=tmp_path / "data")
    first = _reproduce(tmp_path)
    final = tmp_path / "sweeps" / f"r-{CELL}-final" / "episodes"
    deadline = time.time() + 900
    while time.time() < deadline and first.poll() is None and not list(final.glob("*/part-*.parquet")):
        time.sleep(0.5)
    assert first.poll() is None, first.communicate()[0][-3000:]
    os.killpg(first.pid, signal.SIGKILL)  # the driver and Ray with it, mid-way through the final phase
    first.wait()

    second = _reproduce(tmp_path, ray_head)  # the same command on another cluster (a Ray start the less)
    out, _ = second.communicate(timeout=900)
    assert second.returncode == 0, out[-3000:]

    tune, rows = _rows(tmp_path, "tune"), _rows(tmp_path, "final")
    # Tuning played the held-out pairs only, with the first seed; the final phase OGBench's tasks.
    assert set(tune["task_suite"]) == {"heldout-0"} and set(tune["pretrain_seed"]) == {0}
    assert set(tune["selection"]) == {"critic", "critic-free"} and set(tune["task_id"]) == {1, 2}
    assert set(rows["task_suite"]) == {"ogbench"} and set(rows["task_id"]) == {1, 2, 3, 4, 5}
    assert not rows.duplicated(["trial_id", "task_id", "episode_index"]).any()
    chosen = json.loads((tmp_path / "reproduce" / "r" / "choices.json").read_text())[CELL]["arm"]
    ttt = rows[rows["method"] == "gcttt"]
    assert set(ttt["selection"]) == {chosen["selection"]} and set(ttt["pretrain_seed"]) == {0, 1}
    assert len(rows) == 2 * 2 * 5  # (baseline, chosen) x 2 seeds x 5 tasks x 1 kept checkpoint x 1 episode
    assert set(rows["checkpoint_step"]) == {200}  # the smoke preset keeps its last step only
    from analysis import table1

    assert table1.main([str(tmp_path / "sweeps"), "--name", "r", "--out", str(tmp_path / "t1"), "--no-figure"]) == 0
    report = (tmp_path / "t1" / "table1.md").read_text()
    assert "| GC-BC, pm-medium-nav | " in report and "0.05 -> 0.81" in report
    assert "held-out" in report and "generated" in report
    assert "analysis/table1.py" in out
    assert "cell 1/1 gcbc/pointmaze-medium-navigate-v0: pre-trained" in out
