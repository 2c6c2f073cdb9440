"""Everything gcttt knows about an OGBench dataset name, in one place.

`dataset_info(name)` parses an OGBench dataset name (``pointmaze-medium-navigate-v0``,
``cube-single-play-v0``, ...) and returns the facts the rest of the library reads: the env to
build, the episode limit of the evaluation protocol (docs/method.md §3) and the relevance coordinates
p(obs) used by data selection (docs/method.md §5). Facts about datasets only: each backbone's per-dataset
hyperparameters live in its own file (`gcttt/agents/*.py`, `dataset_overrides`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gcttt.errors import UsageError

MAZE_FAMILIES = ("pointmaze", "antmaze", "humanoidmaze")
MANIP_FAMILIES = ("cube", "scene", "puzzle")

# Observation layout of OGBench's manipulation envs (state observations): 19 proprioceptive
# entries (6 joint pos, 6 joint vel, 3 effector pos, 2 effector yaw, 1 gripper opening,
# 1 gripper contact), then 9 per cube (3 pos, 4 quat, 2 yaw), then 4 per button
# (2 one-hot state, 1 pos, 1 vel), then for scene drawer pos/vel and window pos/vel.
_PROPRIO = 19
_PER_CUBE = 9
_PER_BUTTON = 4

_NUM_CUBES = {"single": 1, "double": 2, "triple": 3, "quadruple": 4}


@dataclass(frozen=True)
class DatasetInfo:
    """Facts about one OGBench dataset that the library needs."""

    dataset: str
    """Dataset name, e.g. ``pointmaze-medium-navigate-v0``."""
    env_name: str
    """Gymnasium id of the env, e.g. ``pointmaze-medium-v0`` (the dataset name minus its type)."""
    family: str
    """One of pointmaze, antmaze, humanoidmaze, cube, scene, puzzle."""
    variant: str
    """Maze size (medium, large, giant, teleport), cube count word, or puzzle size; '' for scene."""
    kind: str
    """Dataset type: navigate, stitch, explore, play, noisy."""
    obs_dim: int
    """Observation size of the state-based env."""
    episode_limit: int
    """Evaluation episode limit (docs/method.md §3)."""
    relevance_index: tuple[int, ...]
    """Columns of the observation that form p(obs), the relevance coordinates of docs/method.md §5."""

    @property
    def is_maze(self) -> bool:
        return self.family in MAZE_FAMILIES

    @property
    def is_giant_maze(self) -> bool:
        """Giant mazes: the long-horizon layouts whose backbones discount at 0.995 (docs/method.md §4)."""
        return self.is_maze and self.variant == "giant"


_NAME = re.compile(r"^(?P<body>[a-z0-9-]+)-(?P<kind>navigate|stitch|explore|play|noisy)-v0$")

DATASETS = (
    *(
        f"{f}-{s}-{k}-v0"
        for f in ("pointmaze", "antmaze")
        for s in ("medium", "large", "giant", "teleport")
        for k in ("navigate", "stitch")
    ),
    *(f"antmaze-{s}-explore-v0" for s in ("medium", "large", "teleport")),
    *(f"humanoidmaze-{s}-{k}-v0" for s in ("medium", "large", "giant") for k in ("navigate", "stitch")),
    *(f"cube-{n}-{k}-v0" for n in _NUM_CUBES for k in ("play", "noisy")),
    "scene-play-v0",
    "scene-noisy-v0",
    *(f"puzzle-{n}-{k}-v0" for n in ("3x3", "4x4", "4x5", "4x6") for k in ("play", "noisy")),
)
"""OGBench's state-based datasets (the names the refusal of an unknown name offers)."""

KNOWN_NAMES_TEXT = (
    "{point,ant}maze-{medium,large,giant,teleport}-{navigate,stitch}-v0, "
    "humanoidmaze-{medium,large,giant}-{navigate,stitch}-v0, "
    "antmaze-{medium,large,teleport}-explore-v0, cube-{single,double,triple,quadruple}-{play,noisy}-v0, "
    "scene-{play,noisy}-v0, puzzle-{3x3,4x4,4x5,4x6}-{play,noisy}-v0"
)


def unknown_dataset(name: str, what: str = "unknown dataset name") -> UsageError:
    """The refusal of a dataset name gcttt does not know: the closest known name and all of them."""
    import difflib

    close = difflib.get_close_matches(name, DATASETS, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]}? " if close else ""
    return UsageError(f"{what} {name!r}; {hint}known names: {KNOWN_NAMES_TEXT}")


def dataset_info(name: str) -> DatasetInfo:
    """Parse an OGBench dataset name. Raises UsageError for names gcttt does not know."""
    m = _NAME.match(name)
    if m is None:
        raise unknown_dataset(name)
    body, kind = m["body"], m["kind"]
    parts = body.split("-")
    family, variant = parts[0], "-".join(parts[1:])
    env_name = f"{body}-v0"

    if family in MAZE_FAMILIES:
        if variant not in ("medium", "large", "giant", "teleport") or kind not in (
            "navigate",
            "stitch",
            "explore",
        ):
            raise unknown_dataset(name, "unknown maze dataset")
        obs_dim = {"pointmaze": 2, "antmaze": 29, "humanoidmaze": 69}[family]
        limit = 2000 if family == "humanoidmaze" and variant in ("medium", "large") else 1000
        if family == "humanoidmaze" and variant == "giant":
            limit = 4000
        return DatasetInfo(
            dataset=name,
            env_name=env_name,
            family=family,
            variant=variant,
            kind=kind,
            obs_dim=obs_dim,
            episode_limit=limit,
            relevance_index=(0, 1),
        )

    if family not in MANIP_FAMILIES or kind not in ("play", "noisy"):
        raise unknown_dataset(name)
    if family == "cube":
        if variant not in _NUM_CUBES:
            raise unknown_dataset(name, "unknown cube dataset")
        n_cubes = _NUM_CUBES[variant]
        obs_dim = _PROPRIO + _PER_CUBE * n_cubes
        relevance = tuple(c for i in range(n_cubes) for c in range(_PROPRIO + 9 * i, _PROPRIO + 9 * i + 3))
        limit = {1: 200, 2: 500, 3: 1000, 4: 1000}[n_cubes]
    elif family == "scene":
        if variant != "":
            raise unknown_dataset(name, "unknown scene dataset")
        # Cube position, the two buttons' on/off bits, drawer and window positions: the
        # scene's oracle representation, read off the observation.
        button0 = _PROPRIO + _PER_CUBE
        relevance = (19, 20, 21, button0 + 1, button0 + _PER_BUTTON + 1, 36, 38)
        obs_dim, limit = 40, 750
    else:
        sizes = {"3x3": 9, "4x4": 16, "4x5": 20, "4x6": 24}
        if variant not in sizes:
            raise unknown_dataset(name, "unknown puzzle dataset")
        n_buttons = sizes[variant]
        obs_dim = _PROPRIO + _PER_BUTTON * n_buttons
        # The on/off bit of every button (the second entry of its one-hot state): with eps = 1
        # a start match means the very same board.
        relevance = tuple(_PROPRIO + _PER_BUTTON * i + 1 for i in range(n_buttons))
        limit = {9: 500, 16: 500, 20: 1000, 24: 1000}[n_buttons]
    return DatasetInfo(
        dataset=name,
        env_name=env_name,
        family=family,
        variant=variant,
        kind=kind,
        obs_dim=obs_dim,
        episode_limit=limit,
        relevance_index=relevance,
    )
