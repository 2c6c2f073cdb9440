"""Choosing the fine-tuning data for the current state and test goal (SPEC §5).

- `config`: `SelectionConfig` (the knobs) and `Selection` (the answer);
- `strategies`: the registry of strategy functions (`STRATEGIES`, `@strategy`);
- `selector`: `Selector`, the per-worker machinery every strategy is built from;
- `distances`: goal distances computed once per test episode, and `DistanceCache`, which shares
  them between the trials of a sweep.
"""

from gcttt.agents.losses import goal_distance
from gcttt.selection.config import AUTHORS_DISTANCE_DISCOUNT, Selection, SelectionConfig
from gcttt.selection.distances import BLOCK, DistanceCache, GoalDistances
from gcttt.selection.selector import Selector, segment_indices
from gcttt.selection.strategies import KNOBS, STRATEGIES, Strategy, get_strategy, strategies_help, strategy

__all__ = [
    "AUTHORS_DISTANCE_DISCOUNT",
    "BLOCK",
    "KNOBS",
    "STRATEGIES",
    "DistanceCache",
    "GoalDistances",
    "Selection",
    "SelectionConfig",
    "Selector",
    "Strategy",
    "get_strategy",
    "goal_distance",
    "segment_indices",
    "strategies_help",
    "strategy",
]
