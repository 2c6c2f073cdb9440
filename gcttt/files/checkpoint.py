"""Checkpoint files: the agent's whole state plus where it came from.

A checkpoint is a ``torch.save`` dict with the agent's `state_dict()` (weights, targets, Adam
state, step, backbone config), the sampler's generator state (so a resumed run continues the
same stream), the dataset name and file fingerprint, the pre-training settings and the git SHA.
Files are written atomically, so a kill mid-write never leaves a checkpoint that loads wrong.
The agent inside one is built by `gcttt.agents.load_agent` (files know formats, not backbones).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from gcttt.errors import CheckpointError
from gcttt.files.fileio import torch_save_atomic

FORMAT = "gcttt-checkpoint-v1"


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> None:
    """Atomically write `payload` (which must hold 'agent' and 'dataset') to `path`."""
    torch_save_atomic(path, {"format": FORMAT, **payload})


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a checkpoint dict onto the CPU; CheckpointError for anything that is not one."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path} is a directory; give the checkpoint file in it (e.g. {path / 'final.pt'})")
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file (pre-train one with `gcttt pretrain`)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises many kinds for a damaged file
        raise CheckpointError(f"{path}: unreadable checkpoint ({type(exc).__name__}); pre-train it again") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a gcttt checkpoint (expected format {FORMAT})")
    return payload


def check_trained_on(payload: dict[str, Any], path: str | os.PathLike, provenance) -> None:
    """Refuse a checkpoint trained on another dataset, or on another file of the same dataset.

    `provenance` is the `gcttt.data.provenance.DatasetProvenance` of the file at hand.
    """
    if payload.get("dataset") != provenance.dataset:
        raise CheckpointError(
            f"{path} was pre-trained on {payload.get('dataset')}, not {provenance.dataset}; "
            f"use a checkpoint of {provenance.dataset} (or delete this one to train it again)"
        )
    trained_on = payload.get("dataset_fingerprint")
    if trained_on and trained_on != provenance.fingerprint:
        raise CheckpointError(
            f"{path} was pre-trained on a {provenance.dataset} file with fingerprint {trained_on}, but the file "
            f"now there has {provenance.fingerprint} ({provenance.source}); put the original file back, or delete "
            f"{Path(path).parent} to pre-train on this one"
        )
