"""Checkpoints (save, load, refusal of misfits) and pre-training (files, resume after a kill, CLI)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from gcttt.agents import load_agent
from gcttt.cli import main
from gcttt.control.runner import EpisodeRunner
from gcttt.data.files import OfflineData
from gcttt.errors import CheckpointError, GctttError, UsageError
from gcttt.files.checkpoint import read_checkpoint, save_checkpoint
from gcttt.pretrain import PretrainConfig, pretrain, run_directory

MAZE = "pointmaze-medium-navigate-v0"


def one_line(excinfo, *needles: str) -> str:
    assert isinstance(excinfo.value, GctttError)
    message = str(excinfo.value)
    assert "\n" not in message and message
    for needle in needles:
        assert needle in message, message
    return message


def probe_inputs(n: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 2, generator=g) * 20, torch.rand(n, 2, generator=g) * 20


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# --- checkpoints --------------------------------------------------------------------------------


def test_saved_and_loaded_agent_acts_identically(smoke_checkpoint, tmp_path):
    agent, meta = load_agent(smoke_checkpoint)
    assert meta["dataset"] == MAZE and meta["step"] == 200
    assert "agent" not in meta and "sampler_generator" not in meta
    obs, goals = probe_inputs()
    actions, values = agent.act(obs, goals), agent.value(obs, goals)
    assert actions.abs().max() > 0  # a trained actor, not an all-zero output

    path = tmp_path / "again.pt"
    save_checkpoint(path, {"agent": agent.state_dict(), "dataset": MAZE})
    assert [p.name for p in tmp_path.iterdir()] == ["again.pt"]  # no temporary file left behind
    again, _ = load_agent(path, dataset=MAZE)
    assert torch.equal(again.act(obs, goals), actions)
    assert torch.equal(again.value(obs, goals), values)
    for key, value in agent.nets.state_dict().items():
        assert torch.equal(again.nets.state_dict()[key], value), key


def test_loading_for_a_dataset_of_another_observation_size_fails_in_one_line(smoke_checkpoint):
    with pytest.raises(CheckpointError) as excinfo:
        load_agent(smoke_checkpoint, dataset="antmaze-medium-navigate-v0")
    one_line(excinfo, "observation size 2", "29", "antmaze-medium-navigate-v0")


def test_episode_runner_refuses_a_dataset_of_another_observation_size(smoke_checkpoint):
    rows = 10
    terminals = np.zeros(rows, dtype=bool)
    terminals[-1] = True
    wide = OfflineData(
        observations=np.zeros((rows, 4), np.float32), actions=np.zeros((rows, 2), np.float32), terminals=terminals
    )
    with pytest.raises(UsageError) as excinfo:
        EpisodeRunner(str(smoke_checkpoint), wide)
    one_line(excinfo, "size 2", "has 4")


def test_unreadable_checkpoints_fail_in_one_line(tmp_path):
    with pytest.raises(CheckpointError) as excinfo:
        read_checkpoint(tmp_path / "missing.pt")
    one_line(excinfo, "no such checkpoint")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError) as excinfo:
        load_agent(garbage)
    one_line(excinfo, "unreadable")
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError) as excinfo:
        load_agent(foreign)
    one_line(excinfo, "not a gcttt checkpoint")


# --- pre-training -----------------------------------------------------------------------------


def test_finished_run_leaves_its_files_and_is_found_again(smoke_run):
    config, result = smoke_run
    assert result.run_dir == run_directory(config)
    names = {p.name for p in result.run_dir.iterdir()}
    assert {"final.pt", "latest.pt", "step_00000200.pt", "metrics.jsonl"} <= names
    assert not any(name.endswith(".tmp") for name in names)
    records = read_jsonl(result.run_dir / "metrics.jsonl")
    assert "params" in records[0] and records[-1] == {"status": "FINISHED"}
    assert [r["step"] for r in records if "value/loss" in r] == [100, 200]
    assert any("eval/success" in r for r in records)
    again = pretrain(config, progress=False)
    assert again.seconds == 0.0 and again.steps == 200 and again.final_checkpoint == result.final_checkpoint


class KillAt:
    """A metrics sink that interrupts the run when a given step is logged, like Ctrl-C would."""

    def __init__(self, step: int):
        self.step = step

    def log_params(self, params):
        pass

    def log_metrics(self, metrics, step):
        if step == self.step:
            raise KeyboardInterrupt

    def close(self, status):
        self.status = status


def test_resume_after_a_kill_continues_the_same_run(smoke_run, tmp_path, capsys):
    reference_config, reference = smoke_run
    # The fixture's run (200 updates, saves every 100), but logged every 10 updates in another root.
    config = replace(reference_config, out_dir=str(tmp_path), log_every=10)
    kill = KillAt(130)
    with pytest.raises(KeyboardInterrupt):
        pretrain(config, make_sinks=lambda _: [kill], progress=False)
    run_dir = run_directory(config)
    assert kill.status == "KILLED"
    assert not (run_dir / "final.pt").exists()
    assert read_checkpoint(run_dir / "latest.pt")["step"] == 100

    capsys.readouterr()
    # The guard interrupts again if the run restarts from the beginning instead of resuming.
    result = pretrain(config, make_sinks=lambda _: [KillAt(10)], progress=False)
    assert "from step 100" in capsys.readouterr().out
    assert result.steps == 200 and result.seconds > 0

    records = read_jsonl(run_dir / "metrics.jsonl")
    statuses = [r["status"] for r in records if "status" in r]
    assert statuses == ["KILLED", "FINISHED"]
    killed_at = next(i for i, r in enumerate(records) if r.get("status") == "KILLED")
    first = [r["step"] for r in records[:killed_at] if "value/loss" in r]
    second = [r["step"] for r in records[killed_at:] if "value/loss" in r]
    assert first == list(range(10, 131, 10))
    assert second == list(range(110, 201, 10))  # continues from the save, does not restart at 10

    # Same updates as the uninterrupted run: identical weights, targets and Adam state.
    resumed, ref = read_checkpoint(result.final_checkpoint), read_checkpoint(reference.final_checkpoint)
    assert resumed["step"] == ref["step"] == 200
    for key, value in ref["agent"]["nets"].items():
        assert torch.equal(resumed["agent"]["nets"][key], value), key
    ref_adam, resumed_adam = ref["agent"]["optimizer"]["state"], resumed["agent"]["optimizer"]["state"]
    assert ref_adam.keys() == resumed_adam.keys()
    for param, state in ref_adam.items():
        for name, value in state.items():
            assert torch.equal(resumed_adam[param][name], value), (param, name)
    assert resumed["final_success"] == ref["final_success"]


def test_pretrain_refuses_bad_settings_in_one_line(tmp_path):
    with pytest.raises(UsageError) as excinfo:
        pretrain(PretrainConfig(dataset=MAZE, backbone="gciql", preset="smoke", steps=-3, out_dir=str(tmp_path)))
    one_line(excinfo, "--steps")
    with pytest.raises(UsageError) as excinfo:
        pretrain(PretrainConfig(dataset=MAZE, backbone="gciql", preset="huge", out_dir=str(tmp_path)))
    one_line(excinfo, "'huge'", "smoke")
    assert list(tmp_path.iterdir()) == []


# --- command line -----------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["pretrain", "evaluate"])
def test_help_exits_zero(command, capsys):
    with pytest.raises(SystemExit) as excinfo:
        main([command, "--help"])
    assert excinfo.value.code == 0
    out = capsys.readouterr().out
    assert f"gcttt {command}" in out
    assert ("--backbone" in out) if command == "pretrain" else ("--checkpoint" in out and "--K" in out)


def test_installed_entry_point_runs():
    gcttt = Path(sys.executable).parent / "gcttt"
    assert gcttt.exists()
    done = subprocess.run([str(gcttt), "pretrain", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "--dataset" in done.stdout


def test_cli_prints_one_line_errors(capsys, tmp_path):
    code = main(["pretrain", "--dataset", "pointmaze-tiny-navigate-v0", "--backbone", "gciql", "--out", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("gcttt pretrain: error: ") and "\n" not in err
    assert "pointmaze-tiny-navigate-v0" in err
    assert os.listdir(tmp_path) == []
