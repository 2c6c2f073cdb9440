"""The locomotion experts that ship inside the package, and the checks behind their manifests.

``gcttt/datagen/expert/ant/actor.pt`` holds the actor of the SAC ant expert trained with
`gcttt expert train ant` (weights only, about 300 KB), ``manifest.json`` the command, seed,
steps, git SHA and the results of the checks. `load_expert("ant")` checks the file against the
manifest's fingerprint, so a damaged or foreign file is refused with the fix, never used.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gcttt.datagen.expert.directional import ACTION_DIM, OBS_DIM
from gcttt.datagen.expert.sac import TanhGaussianActor, config_from_dict
from gcttt.errors import UsageError
from gcttt.files.provenance import file_fingerprint

SHIPPED = Path(__file__).resolve().parent
EXPERTS = {"ant": SHIPPED / "ant"}
"""Experts that ship with gcttt: their folder in the package."""

HUMANOID_REFUSAL = (
    "humanoidmaze datasets need OGBench's humanoid expert, which takes 40M SAC steps (weeks on a CPU) "
    "and cannot be downloaded here; download the official humanoidmaze files on a machine with network"
)


def expert_dir(name: str) -> Path:
    override = os.environ.get(f"GCTTT_{name.upper()}_EXPERT")  # a retrained expert, e.g. for tests
    if override:
        return Path(override)
    if name not in EXPERTS:
        raise UsageError(f"no shipped expert {name!r}; gcttt ships: {', '.join(EXPERTS)}")
    return EXPERTS[name]


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / "manifest.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: unreadable expert manifest ({exc}); reinstall gcttt or retrain the expert") from None


@dataclass
class ExpertPolicy:
    """The expert's deterministic action: tanh of the actor's mean (OGBench samples at temperature 0)."""

    actor: TanhGaussianActor
    fingerprint: str
    """SHA-256 prefix of the weights file (recorded in datasets generated with it)."""

    @torch.no_grad()
    def __call__(self, body: np.ndarray, direction: np.ndarray) -> np.ndarray:
        x = torch.as_tensor(np.concatenate([body, direction]), dtype=torch.float32).unsqueeze(0)
        return self.actor.deterministic(x)[0].numpy().astype(np.float64)


def load_expert(name: str = "ant", folder: str | os.PathLike | None = None) -> ExpertPolicy:
    """The expert's actor on the CPU; UsageError for a missing, damaged or mismatched file."""
    folder = Path(folder) if folder is not None else expert_dir(name)
    weights = folder / "actor.pt"
    if not weights.is_file():
        raise UsageError(
            f"{weights}: no expert weights; train them with `gcttt expert train {name} --out {folder}` "
            "(about an hour on one core)"
        )
    fix = f"reinstall gcttt, or retrain the expert with `gcttt expert train {name} --out {folder}`"
    if not (folder / "manifest.json").is_file():
        raise UsageError(f"{weights}: no manifest.json beside it, so nothing vouches for these weights; {fix}")
    manifest = read_manifest(folder)
    fingerprint = file_fingerprint(weights)
    expected = manifest.get("actor_fingerprint") if isinstance(manifest, dict) else None
    if not isinstance(expected, str) or not expected.strip():
        raise UsageError(
            f"{folder / 'manifest.json'} has no actor_fingerprint, so nothing vouches for {weights}; {fix}"
        )
    if expected != fingerprint:
        raise UsageError(
            f"{weights} has fingerprint {fingerprint} but its manifest says {expected}: the file was changed "
            "or damaged; reinstall gcttt or retrain the expert"
        )
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        actor = TanhGaussianActor(OBS_DIM, ACTION_DIM, config_from_dict(state["config"]))
        actor.load_state_dict(state["actor"])
    except Exception as exc:  # torch raises many kinds for a damaged or foreign file
        raise UsageError(f"{weights}: not a gcttt expert actor ({type(exc).__name__}); retrain the expert") from None
    actor.eval()
    return ExpertPolicy(actor, fingerprint)
