"""bench/gpu_check.py: its CPU half end to end with tiny budgets and the GPU image's packages only
(bench/gpu_image/: no tyro, gymnasium, mujoco, ogbench, ray or mlflow), and its synthetic world."""

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
IMAGE = ROOT / "bench" / "gpu_image"


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


def image_env(also_hidden: str = "") -> dict[str, str]:
    """The environment of a Python that finds only the GPU image's packages (bench/gpu_image/)."""
    env = {k: v for k, v in os.environ.items() if k != "_GCTTT_NOT_IN_IMAGE"}
    env["PYTHONPATH"] = os.pathsep.join([str(IMAGE), str(ROOT)])
    env["GCTTT_ALSO_UNIMPORTABLE"] = also_hidden
    return env


def test_the_gpu_image_environment_hides_what_the_image_lacks_and_the_library_imports_there():
    """The harness the next test rests on: the packages the image lacks are gone (an import fails,
    find_spec answers None as torch's optional probes expect), and so every library module, and
    the flag names of the configuration dataclasses, still resolve there (the command-line layer,
    gcttt.commands, is the one place tyro is imported)."""
    code = """
import importlib, importlib.util, pkgutil, typing
for name in ("tyro", "gymnasium", "mujoco", "ogbench", "ray", "mlflow"):
    assert importlib.util.find_spec(name) is None, name
    try:
        importlib.import_module(name)
        raise SystemExit(f"{name} imported")
    except ModuleNotFoundError as exc:
        assert exc.name == name
import gcttt
modules = [m.name for m in pkgutil.walk_packages(gcttt.__path__, "gcttt.") if not m.name.startswith("gcttt.commands")]
for name in modules:
    importlib.import_module(name)
from gcttt.control.ttt import TTTConfig
from gcttt.flagnames import FlagName
hints = typing.get_type_hints(TTTConfig, include_extras=True)
assert typing.get_args(hints["horizon"])[1] == FlagName("K")
print(len(modules))
"""
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, env=image_env(), timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert int(result.stdout.split()[-1]) > 50  # the walk found the library


def test_the_check_runs_every_section_with_the_gpu_images_packages_only(tmp_path):
    """What a lent GPU machine runs, as that machine is: no tyro, gymnasium, mujoco, ogbench, ray or
    mlflow (the synthetic world stands in for OGBench's), every section to the end on the CPU."""
    out = tmp_path / "report.json"
    # --quick's sizes with a budget that a loaded 2-core CI machine cannot exhaust: at --quick's own
    # 10 s the last section (workers) was once skipped for budget there, which is the check working
    # as designed, not what this test is about (every section running on the image's packages).
    args = ["--quick", "--budget", "60", "--threads", "1", "--workers", "1", "--out", str(out)]
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=image_env(), timeout=300, cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "gpu_check: no CUDA device: running the CPU half only"
    assert lines[1] == "gpu_check: mujoco, ogbench not importable: using the synthetic point-mass world"
    report = json.loads(out.read_text())
    assert report["meta"]["cuda_available"] is False and report["meta"]["budget_s"] == 60
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
    runs = sections["workers"]["runs"]
    assert [r["workers"] for r in runs] == [1] and runs[0]["episodes"] > 0 and not runs[0]["errors"]


def test_a_missing_package_is_refused_in_one_line_before_anything_runs(tmp_path):
    out = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        env=image_env(also_hidden="torch"),
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("gpu_check: error: the Python package 'torch' is not installed here: carry")
    assert result.stderr.count("\n") == 1 and "pip install --no-index" in result.stderr
    assert not out.exists()


def test_help_says_what_it_measures():
    result = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "updates/s" in result.stdout and "--budget" in result.stdout
