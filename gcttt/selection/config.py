"""The knobs of data selection and the shape of its answer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Annotated, Any, Literal

import torch

from gcttt.errors import UsageError
from gcttt.flagnames import flag
from gcttt.selection.registry import get_strategy

AUTHORS_DISTANCE_DISCOUNT = 0.99
"""The discount the authors' code fixes in the goal distance for every backbone (docs/method.md §5)."""


@dataclass(frozen=True, kw_only=True)
class SelectionKnobs:
    """The knobs of data selection (docs/method.md §5): one field each, the one place a knob is declared.

    Record columns, arm names, sweep flags and `--help` are all derived from these fields
    (`knob_columns`, `knobs_from_columns`); each strategy reads some of them only
    (`gcttt.selection.STRATEGIES` says which)."""

    eps: float = 1.0
    """Relevance radius on p(.) (x-y for mazes, cube positions for cube tasks)."""
    min_steps: int = 10
    """Critic strategies: end points lie at least this many steps after the first start match."""
    top_k: int = 10
    """critic, no-relevance: episodes kept; no-optimality: episodes drawn."""
    q: float = 0.2
    """critic-quantile: fraction of matching episodes kept; critic-free: length quantile."""
    slack: int = 10
    """critic-free: steps selected after the shortest start-to-goal segment."""
    random_size: int = 10_000
    """random: transitions drawn (with replacement) per re-plan."""
    distance_discount: float | Literal["backbone"] = AUTHORS_DISTANCE_DISCOUNT
    """gamma of the goal distance d = log(1 + (1 - gamma) V) / log(gamma): 0.99 as in the authors'
    code (their choice for every backbone), or 'backbone' for the backbone's own discount (the
    cleaner choice where the backbone trains with 0.995: giant and humanoid mazes)."""
    authors_cube_match: bool = False
    """Critic strategies: find start matches on the first two observation coordinates, as the
    authors' code does (on cube tasks a branch there replaces its cube-position match, so it
    matches the arm's first two joint angles; their critic-free selection keeps cube positions,
    and so does gcttt's). Off: the dataset's relevance coordinates, as the paper describes. The
    same on mazes, whose relevance coordinates are x-y, the first two."""

    def __post_init__(self) -> None:
        if not self.eps > 0:
            raise UsageError(f"eps must be positive (got {self.eps})")
        if not 0 < self.q <= 1:
            raise UsageError(f"q must lie in (0, 1] (got {self.q})")
        for name in ("min_steps", "slack"):
            if getattr(self, name) < 0:
                raise UsageError(f"--{name.replace('_', '-')} must be 0 or more (got {getattr(self, name)})")
        for name in ("top_k", "random_size"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be at least 1 (got {getattr(self, name)})")
        if self.distance_discount != "backbone" and not 0 < self.distance_discount < 1:
            raise UsageError(
                "distance discount must lie in (0, 1), or 'backbone' for the backbone's own "
                f"(got {self.distance_discount})"
            )

    def knobs(self) -> dict[str, Any]:
        """The knob values by name (no strategy)."""
        return {name: getattr(self, name) for name in KNOBS}


KNOBS: tuple[str, ...] = tuple(f.name for f in fields(SelectionKnobs))
"""Every selection knob, in record-column order."""


@dataclass(frozen=True)
class SelectionConfig(SelectionKnobs):
    """A strategy and its knobs: which data test-time training fine-tunes on (docs/method.md §5)."""

    strategy: Annotated[str, flag("selection")] = "critic"
    """Selection strategy; `gcttt.selection.STRATEGIES` lists them with the knobs each reads."""

    def __post_init__(self) -> None:
        get_strategy(self.strategy)
        super().__post_init__()

    @property
    def receding(self) -> bool:
        """Whether the strategy selects again at every re-plan (critic-free selects once)."""
        return get_strategy(self.strategy).receding

    @property
    def reads(self) -> tuple[str, ...]:
        """The knobs this strategy reads."""
        return get_strategy(self.strategy).knobs

    def canonical(self) -> SelectionConfig:
        """The same selection with every knob it does not read at its default, so that two
        configurations that differ only in unread knobs compare (and deduplicate) as equal."""
        defaults = SelectionKnobs()
        return replace(self, **{k: getattr(defaults, k) for k in KNOBS if k not in self.reads})


def knob_columns(config: SelectionConfig | None) -> dict[str, float | int]:
    """The record columns of the knobs: 0 where the strategy does not read one (or for the
    pre-trained policy, `config` None), so rows that differ only in an unread knob still count as
    one configuration; the distance discount 'backbone' is stored as -1 (a numeric column)."""
    out: dict[str, float | int] = {}
    for f in fields(SelectionKnobs):
        kind = float if f.name == "distance_discount" else type(f.default)
        value = getattr(config, f.name) if config is not None and f.name in config.reads else kind(0)
        out[f.name] = -1.0 if value == "backbone" else value
    return out


def knobs_from_columns(strategy: str, columns: Mapping[str, Any]) -> SelectionConfig:
    """`knob_columns` read back: the selection of a record or an arm (unread knobs at defaults)."""
    read = get_strategy(strategy).knobs
    values = {k: columns[k] for k in read if k in columns}
    if values.get("distance_discount") == -1:
        values["distance_discount"] = "backbone"
    return SelectionConfig(strategy=strategy, **values)


@dataclass(frozen=True)
class Selection:
    """The outcome of one selection."""

    indices: torch.Tensor
    """Transition indices to fine-tune on (int64, on the dataset's device); every one has an action."""
    episodes: int
    """Dataset episodes that contributed."""
    value_evaluations: int
    """V(s, g*) evaluations this selection needs on its own (the method's cost; 0 when the
    distances it reads were already needed by an earlier re-plan of the same episode)."""
    longest_segment: int
    """Length of the longest selected segment (for the once-per-episode reset)."""

    @property
    def size(self) -> int:
        return len(self.indices)
