"""Choosing the fine-tuning data for the current state and test goal (docs/method.md §5).

- `config`: `SelectionKnobs` (every knob, declared once), `SelectionConfig` (a strategy and its
  knobs), their record columns (`knob_columns`) and `Selection` (the answer);
- `registry`: `STRATEGIES`, name -> `Strategy` (a leaf module, so the others form no circle);
- `strategies`: the strategy functions, each registered with `@strategy`;
- `selector`: `Selector`, the per-worker machinery every strategy is built from;
- `distances`: goal distances computed once per test episode, and `DistanceCache`, which shares
  them between the trials of a sweep.
"""

from gcttt.agents.losses import goal_distance
from gcttt.selection.config import (
    AUTHORS_DISTANCE_DISCOUNT,
    KNOBS,
    Selection,
    SelectionConfig,
    SelectionKnobs,
    knob_columns,
    knobs_from_columns,
)
from gcttt.selection.distances import BLOCK, DistanceCache, GoalDistances
from gcttt.selection.registry import STRATEGIES, Strategy, get_strategy, strategies_help
from gcttt.selection.selector import Selector, segment_indices
from gcttt.selection.strategies import strategy

__all__ = [
    "AUTHORS_DISTANCE_DISCOUNT",
    "BLOCK",
    "KNOBS",
    "STRATEGIES",
    "DistanceCache",
    "GoalDistances",
    "Selection",
    "SelectionConfig",
    "SelectionKnobs",
    "Selector",
    "Strategy",
    "get_strategy",
    "goal_distance",
    "knob_columns",
    "knobs_from_columns",
    "segment_indices",
    "strategies_help",
    "strategy",
]
