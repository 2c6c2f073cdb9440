"""Backbones: one file each, one interface (`gcttt.agents.base.Agent`), one registry.

Adding a backbone: write its file (a config dataclass, `dataset_overrides`, the agent, and
``BACKBONE = Backbone(...)``), add it to `BACKBONES` below, and the contract tests in
`tests/test_agents.py` run it through update / act / value / save / load / snapshot.
"""

from __future__ import annotations

import os
from dataclasses import fields
from typing import Any

import torch

from gcttt.agents import gcbc, gciql, saw
from gcttt.agents.base import Agent, Backbone
from gcttt.data.sampler import GoalMix
from gcttt.envs import dataset_info
from gcttt.errors import CheckpointError, UsageError
from gcttt.files.checkpoint import read_checkpoint

BACKBONES: dict[str, Backbone] = {b.name: b for b in (gcbc.BACKBONE, gciql.BACKBONE, saw.BACKBONE)}


def get_backbone(name: str) -> Backbone:
    """The registry entry of a backbone name; UsageError listing the known names."""
    if name not in BACKBONES:
        raise UsageError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    return BACKBONES[name]


def backbone_classes(name: str) -> tuple[type[Agent], type]:
    """(agent class, config class) of a backbone name."""
    entry = get_backbone(name)
    return entry.agent, entry.config


def make_agent(
    name: str, config: Any, obs_dim: int, action_dim: int, device: str | torch.device = "cpu", seed: int = 0
) -> Agent:
    agent_cls, config_cls = backbone_classes(name)
    if not isinstance(config, config_cls):
        raise TypeError(f"{name} needs a {config_cls.__name__}, got {type(config).__name__}")
    return agent_cls(config, obs_dim, action_dim, device=device, seed=seed)


def config_from_dict(name: str, values: dict[str, Any]) -> Any:
    """Rebuild a backbone config from `dataclasses.asdict` output (as stored in checkpoints)."""
    _, config_cls = backbone_classes(name)
    known = {f.name for f in fields(config_cls)}
    unknown = set(values) - known
    if unknown:
        raise CheckpointError(
            f"checkpoint config has fields this version does not know: {sorted(unknown)}; "
            "it was written by another gcttt version: pre-train it again"
        )
    values = dict(values)
    for key in ("value_goals", "actor_goals"):
        if isinstance(values.get(key), dict):
            values[key] = GoalMix(**values[key])
    return config_cls(**values)


def agent_from_state(state: dict[str, Any], device: str | torch.device = "cpu") -> Agent:
    """Build the agent a `state_dict()` came from and load it (weights, targets, Adam state)."""
    name = state.get("backbone")
    if name not in BACKBONES:
        raise CheckpointError(f"checkpoint names an unknown backbone {name!r}; known: {', '.join(BACKBONES)}")
    config = config_from_dict(name, state["config"])
    agent = make_agent(name, config, state["obs_dim"], state["action_dim"], device=device)
    agent.load_state_dict(state)
    return agent


def load_agent(
    path: str | os.PathLike, device: str | torch.device = "cpu", dataset: str | None = None
) -> tuple[Agent, dict[str, Any]]:
    """The agent stored in a checkpoint, on `device`, plus the checkpoint's metadata.

    With `dataset`, refuse a checkpoint whose observation size does not fit that dataset's env.
    """
    payload = read_checkpoint(path)
    state = payload["agent"]
    if dataset is not None:
        info = dataset_info(dataset)
        if state["obs_dim"] != info.obs_dim:
            raise CheckpointError(
                f"{path}: trained on {payload.get('dataset')} with observation size {state['obs_dim']}, "
                f"but {dataset} has observation size {info.obs_dim}; "
                f"use a checkpoint pre-trained on {dataset}"
            )
    agent = agent_from_state(state, device=device)
    meta = {k: v for k, v in payload.items() if k not in ("agent", "sampler_generator")}
    return agent, meta


__all__ = [
    "BACKBONES",
    "Agent",
    "Backbone",
    "agent_from_state",
    "backbone_classes",
    "config_from_dict",
    "get_backbone",
    "load_agent",
    "make_agent",
]
