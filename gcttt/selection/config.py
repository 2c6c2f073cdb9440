"""The knobs of data selection and the shape of its answer."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gcttt.errors import UsageError

AUTHORS_DISTANCE_DISCOUNT = 0.99
"""The discount the authors' code fixes in the goal distance for every backbone (SPEC §5)."""


@dataclass(frozen=True)
class SelectionConfig:
    """Which data test-time training fine-tunes on (SPEC §5). Each strategy reads some knobs only."""

    strategy: str = "critic"
    """Selection strategy; `gcttt.selection.STRATEGIES` lists them with the knobs each reads."""
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
    distance_discount: float | None = AUTHORS_DISTANCE_DISCOUNT
    """gamma of the goal distance d = log(1 + (1 - gamma) V) / log(gamma): 0.99 as in the authors'
    code (their choice for every backbone), or None for the backbone's own discount (the cleaner
    choice where the backbone trains with 0.995: giant and humanoid mazes)."""

    def __post_init__(self) -> None:
        from gcttt.selection.strategies import get_strategy

        get_strategy(self.strategy)
        if not self.eps > 0:
            raise UsageError(f"eps must be positive (got {self.eps})")
        if not 0 < self.q <= 1:
            raise UsageError(f"q must lie in (0, 1] (got {self.q})")
        for name in ("min_steps", "slack"):
            if getattr(self, name) < 0:
                raise UsageError(f"{name} must be 0 or more (got {getattr(self, name)})")
        for name in ("top_k", "random_size"):
            if getattr(self, name) < 1:
                raise UsageError(f"{name} must be at least 1 (got {getattr(self, name)})")
        if self.distance_discount is not None and not 0 < self.distance_discount < 1:
            raise UsageError(
                "distance discount must lie in (0, 1), or 'backbone' for the backbone's own "
                f"(got {self.distance_discount})"
            )

    @property
    def receding(self) -> bool:
        """Whether the strategy selects again at every re-plan (critic-free selects once)."""
        from gcttt.selection.strategies import get_strategy

        return get_strategy(self.strategy).receding

    def knob_values(self) -> dict[str, float | int]:
        """Every knob, with 0 for those this strategy does not read (so that rows of runs that differ
        only in an unread knob still count as the same configuration)."""
        from gcttt.selection.strategies import KNOBS, get_strategy

        read = get_strategy(self.strategy).knobs
        out: dict[str, float | int] = {}
        for name in KNOBS:
            value = getattr(self, name)
            if name == "distance_discount":
                value = -1.0 if value is None else value  # -1: the backbone's own discount
            out[name] = value if name in read else type(value)(0)
        return out


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
