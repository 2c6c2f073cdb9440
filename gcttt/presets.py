"""Scale presets and the assembly of a backbone's configuration.

A backbone's configuration combines three layers, later ones winning:
1. the backbone's config defaults (OGBench's, docs/method.md §4), in the backbone's file;
2. the backbone's `dataset_overrides(info)`, also in its file (discount, DDPG+BC alpha, actor
   goal mix, SAW's k, beta and expectile);
3. the preset's scale (width, depth, batch size, learning rate), then explicit overrides.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from gcttt.agents import get_backbone
from gcttt.envs import DatasetInfo
from gcttt.errors import UsageError


@dataclass(frozen=True)
class Preset:
    """The scale of a pre-training run."""

    name: str
    """Preset name."""
    width: int
    """Hidden units per layer."""
    depth: int
    """Hidden layers per network."""
    batch_size: int
    """Transitions per update (pre-training and test-time fine-tuning)."""
    lr: float
    """Adam learning rate."""
    steps: int
    """Pre-training updates."""
    eval_every: int
    """Updates between evaluations on the 5 tasks during pre-training (0: only at the end)."""
    eval_episodes: int
    """Episodes per task in those evaluations."""
    checkpoint_steps: tuple[int, ...]
    """Steps at which checkpoints are kept (the last step is always kept)."""
    save_every: int
    """Updates between resumable 'latest' checkpoints."""


PRESETS: dict[str, Preset] = {
    # Exactly the published scale (docs/method.md §3-§4).
    "paper": Preset(
        name="paper",
        width=512,
        depth=3,
        batch_size=1024,
        lr=3e-4,
        steps=1_000_000,
        eval_every=100_000,
        eval_episodes=3,
        checkpoint_steps=(800_000, 900_000, 1_000_000),
        save_every=50_000,
    ),
    # Pre-trains one pointmaze or antmaze backbone in minutes on one CPU core; see
    # docs/presets.md for how the scale was chosen by measurement (on antmaze too).
    "cpu": Preset(
        name="cpu",
        width=128,
        depth=3,
        batch_size=256,
        lr=1e-3,
        steps=20_000,
        eval_every=5_000,
        eval_episodes=2,
        checkpoint_steps=(16_000, 18_000, 20_000),
        save_every=1_000,
    ),
    # Seconds: for tests and smoke runs of every entry point.
    "smoke": Preset(
        name="smoke",
        width=32,
        depth=2,
        batch_size=64,
        lr=3e-4,
        steps=200,
        eval_every=0,
        eval_episodes=1,
        checkpoint_steps=(200,),
        save_every=100,
    ),
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise UsageError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


def preset_summary(name: str) -> str:
    """The preset's scale in words (for --help)."""
    p = PRESETS[name]
    return f"{p.width}x{p.depth}, batch {p.batch_size}, lr {p.lr:g}, {p.steps:,} steps"


def backbone_config(backbone: str, info: DatasetInfo, preset: Preset, **overrides: Any) -> Any:
    """The full configuration of `backbone` for `info`'s dataset at `preset`'s scale.

    `overrides` (e.g. width=624, lr=1e-4) win over everything; None values are ignored.
    """
    entry = get_backbone(backbone)
    config_cls = entry.config
    values = {
        **entry.dataset_overrides(info),
        "width": preset.width,
        "depth": preset.depth,
        "batch_size": preset.batch_size,
        "lr": preset.lr,
    }
    known = {f.name for f in fields(config_cls)}
    for key, value in overrides.items():
        if value is None:
            continue
        if key not in known:
            raise UsageError(f"{backbone} has no setting {key!r}; it has {', '.join(sorted(known))}")
        values[key] = value
    config = replace(config_cls(), **values)
    for key in ("width", "depth", "batch_size"):
        if getattr(config, key) < 1:
            raise UsageError(f"{key} must be at least 1 (got {getattr(config, key)})")
    if config.lr <= 0:
        raise UsageError(f"lr must be positive (got {config.lr})")
    return config
