"""bench/gpu_check.py: its CPU half end to end with tiny budgets, and its synthetic world."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from gcttt.control.episode import play_episode
from gcttt.data.transitions import TransitionIndex

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "gpu_check.py"


def load_module():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_synthetic_world_is_an_ogbench_shaped_dataset_and_env():
    check = load_module()
    data = check.synthetic_dataset(episodes=3, length=50)
    assert data.observations.shape == (150, 2) and data.observations.dtype == np.float32
    assert data.actions.shape == (150, 2) and np.abs(data.actions).max() <= 1
    assert data.terminals.sum() == 3 and data.terminals[49] and data.terminals[-1]
    assert len(TransitionIndex.from_terminals(data.terminals).rows) == 147
    env = check.SyntheticPointEnv(max_episode_steps=200)

    class Oracle:  # heads straight for the goal: every task is solvable in the limit
        def begin(self, observation, goal):
            self.goal = goal

        def act(self, observation, step):
            d = self.goal - observation
            return d / (np.linalg.norm(d) + 1e-8)

    for task in range(1, 6):
        assert play_episode(env, Oracle(), {"task_id": task}, seed=task).success


def test_the_cpu_half_runs_every_section_and_writes_one_report(tmp_path):
    out = tmp_path / "report.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = ["--quick", "--synthetic", "--threads", "1", "--budget", "8", "--workers", "1", "--out", str(out)]
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "gpu_check: no CUDA device: running the CPU half only"
    report = json.loads(out.read_text())
    assert report["meta"]["cuda_available"] is False
    sections = report["sections"]
    assert {name: s["status"] for name, s in sections.items()} == dict.fromkeys(
        ["data", "updates", "pretrain", "episodes", "workers"], "ok"
    )
    assert sections["data"]["world"] == "synthetic"
    rows = sections["updates"]["rows"]
    assert rows and all(r["device"] == "cpu" and r["mode"] == "eager" and r["updates_per_s"] > 0 for r in rows)
    episodes = sections["episodes"]
    assert set(episodes["success_rates"]) == {"cpu"} and episodes["runs"]["cpu"]["episodes"]
    assert episodes["selection_agreement"]["compared"] is False
    assert [r["workers"] for r in sections["workers"]["runs"]] == [1]


def test_help_says_what_it_measures():
    result = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "updates/s" in result.stdout and "--budget" in result.stdout
