"""The ant expert: SAC with tiny budgets, resume, the shipped weights, antmaze generation."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gcttt.cli import main as gcttt_main
from gcttt.errors import UsageError

ANTMAZE = "antmaze-medium-navigate-v0"


def test_sac_trains_saves_and_resumes(tmp_path):
    from gcttt.datagen.expert.train import ExpertTrainConfig, train_expert

    config = ExpertTrainConfig(steps=300, random_steps=100, eval_every=0, eval_episodes=1, save_every=100,
                               out=str(tmp_path / "run"))  # fmt: skip
    out = train_expert(config, command="test", progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["steps"] == 300 and manifest["command"] == "test" and manifest["actor_fingerprint"]
    state = torch.load(out / "latest.pt", weights_only=False)
    assert state["step"] == 300 and state["agent"]["updates"] == 201  # updates from step 100 on
    assert state["buffer"]["size"] == 300
    # A finished run is found, not retrained; another configuration in the same folder is refused.
    assert train_expert(config, progress=False) == out
    (out / "actor.pt").unlink()
    with pytest.raises(UsageError, match="other settings"):
        train_expert(ExpertTrainConfig(steps=400, out=str(tmp_path / "run")), progress=False)


def test_resume_continues_from_the_last_save(tmp_path, monkeypatch):
    from gcttt.datagen.expert import train as train_module
    from gcttt.datagen.expert.train import ExpertTrainConfig, train_expert

    config = ExpertTrainConfig(steps=250, random_steps=50, eval_every=0, eval_episodes=1, save_every=100,
                               out=str(tmp_path / "run"))  # fmt: skip
    calls = {"n": 0}
    original = train_module.DirectionalAnt.step

    def dying_step(self, action):
        calls["n"] += 1
        if calls["n"] == 180:
            raise KeyboardInterrupt
        return original(self, action)

    monkeypatch.setattr(train_module.DirectionalAnt, "step", dying_step)
    with pytest.raises(KeyboardInterrupt):
        train_expert(config, progress=False)
    assert torch.load(tmp_path / "run" / "latest.pt", weights_only=False)["step"] == 100
    monkeypatch.setattr(train_module.DirectionalAnt, "step", original)
    train_expert(config, progress=False)
    assert torch.load(tmp_path / "run" / "latest.pt", weights_only=False)["step"] == 250


def test_directional_reward_is_displacement_along_the_command():
    from gcttt.datagen.expert.directional import OBS_DIM, DirectionalAnt

    env = DirectionalAnt()
    obs = env.reset(seed=0)
    assert obs.shape == (OBS_DIM,) and np.isclose(np.linalg.norm(obs[-2:]), 1.0)
    before = env.env.unwrapped.data.qpos[:2].copy()
    z = env.z.copy()
    _, reward, _, _ = env.step(np.zeros(8))
    after = env.env.unwrapped.data.qpos[:2]
    assert reward == pytest.approx(float((after - before) @ z))
    # Directions are reproducible for a seed.
    assert np.array_equal(DirectionalAnt().reset(seed=3), DirectionalAnt().reset(seed=3))


def test_the_shipped_expert_loads_and_acts():
    from gcttt.datagen.expert.shipped import load_expert

    expert = load_expert("ant")
    action = expert(np.zeros(27), np.array([1.0, 0.0]))
    assert action.shape == (8,) and np.all(np.abs(action) <= 1)
    manifest = json.loads((expert_dir() / "manifest.json").read_text())
    assert manifest["actor_fingerprint"] == expert.fingerprint
    assert manifest["checks"]["maze_success"] >= 0.95


def expert_dir():
    from gcttt.datagen.expert.shipped import expert_dir

    return expert_dir("ant")


def test_a_bad_expert_file_is_refused(tmp_path, monkeypatch, capsys):
    from gcttt.datagen.expert.shipped import load_expert
    from gcttt.files.provenance import file_fingerprint

    (tmp_path / "actor.pt").write_bytes(b"not a checkpoint")
    (tmp_path / "manifest.json").write_text(json.dumps({"actor_fingerprint": file_fingerprint(tmp_path / "actor.pt")}))
    with pytest.raises(UsageError, match="not a gcttt expert actor"):
        load_expert("ant", tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"actor_fingerprint": "0000"}))
    with pytest.raises(UsageError, match="changed or damaged"):
        load_expert("ant", tmp_path)
    # Generation refuses too, before playing anything.
    monkeypatch.setenv("GCTTT_ANT_EXPERT", str(tmp_path))
    assert gcttt_main(["data", "generate", ANTMAZE, "--out", str(tmp_path / "data"), "--episodes", "2"]) == 2
    assert "changed or damaged" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("manifest", [None, {"actor_fingerprint": ""}, {"actor_fingerprint": "  "}, {"steps": 1}])
def test_an_expert_without_manifest_or_fingerprint_is_refused_in_one_line(tmp_path, monkeypatch, capsys, manifest):
    """Issue 24 case 4: damaged weights with nothing to check them against are never trusted."""
    import shutil

    from gcttt.datagen.expert.shipped import load_expert

    shutil.copyfile(expert_dir() / "actor.pt", tmp_path / "actor.pt")
    damaged = bytearray((tmp_path / "actor.pt").read_bytes())
    damaged[-100] ^= 0xFF  # flipped bytes inside a tensor: torch still loads it
    (tmp_path / "actor.pt").write_bytes(bytes(damaged))
    if manifest is not None:
        (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    expected = "no manifest.json" if manifest is None else "has no actor_fingerprint"
    with pytest.raises(UsageError, match=expected):
        load_expert("ant", tmp_path)
    assert gcttt_main(["expert", "check", "ant", "--expert-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1
    monkeypatch.setenv("GCTTT_ANT_EXPERT", str(tmp_path))
    assert gcttt_main(["data", "generate", ANTMAZE, "--out", str(tmp_path / "data"), "--episodes", "2"]) == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "data").exists()


def test_antmaze_generation_in_ogbench_format(tmp_path):
    import ogbench.utils

    from gcttt.data.provenance import dataset_provenance
    from gcttt.datagen.generation import generate_dataset

    report = generate_dataset(ANTMAZE, tmp_path, episodes=2, max_episode_steps=60, workers=1, progress=False)
    train = report.train
    assert train.observations.shape == (120, 29) and train.actions.shape == (120, 8)
    assert train.qpos.shape == (120, 15) and train.qvel.shape == (120, 14)
    assert np.flatnonzero(train.terminals).tolist() == [59, 119]
    again = generate_dataset(ANTMAZE, tmp_path / "again", episodes=2, max_episode_steps=60, workers=1, progress=False)
    assert np.array_equal(again.train.observations, train.observations)  # deterministic for a seed
    loaded = ogbench.utils.load_dataset(str(tmp_path / f"{ANTMAZE}.npz"))
    assert loaded["observations"].shape == (118, 29)  # OGBench's loader: 59 transitions per episode
    prov = dataset_provenance(tmp_path, ANTMAZE)
    assert prov.source == "generated" and prov.details["expert"] == "ant" and prov.details["expert_fingerprint"]


def test_humanoidmaze_and_unknown_mazes_are_refused_with_the_reason(tmp_path, capsys):
    assert gcttt_main(["data", "generate", "humanoidmaze-medium-navigate-v0", "--out", str(tmp_path)]) == 2
    assert "40M SAC steps" in capsys.readouterr().err
    assert gcttt_main(["data", "generate", "antmaze-giant-explore-v0", "--out", str(tmp_path)]) == 2
    assert "not an OGBench dataset" in capsys.readouterr().err
