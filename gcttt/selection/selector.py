"""The selection machinery one worker holds: the dataset by rows, relevance coordinates, distances.

Selection works on the dataset's stored rows, as the authors' code does: the last observation of
each trajectory (which has no usable action) can be a start match and an end point (docs/method.md §5).
What it returns are transitions (rows with an action and a next observation): a selected
segment of rows [a, b) of episode e is the transitions a - e .. b - e - 1, because each earlier
episode holds exactly one row more than it has transitions.

`Selector.select(state)` calls the configured strategy (`gcttt.selection.strategies`) with the
selector itself, which offers the building blocks every strategy uses: relevance masks, first
matches per episode, goal distances, best end points, and the conversion of row segments into
transition indices.
"""

from __future__ import annotations

import math
import warnings

import torch

from gcttt.data.transitions import TransitionData
from gcttt.selection.config import Selection, SelectionConfig
from gcttt.selection.distances import DistanceCache, GoalDistances, ValueFn, array_fingerprint
from gcttt.selection.registry import get_strategy

NONE = torch.iinfo(torch.int64).max
"""'No row' in per-episode index minima."""


def segment_indices(starts: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
    """Concatenation of arange(start, end) for each pair (ends exclusive), vectorised."""
    lengths = (ends - starts).clamp(min=0)
    total = int(lengths.sum())
    if total == 0:
        return torch.zeros(0, dtype=torch.long, device=starts.device)
    offsets = torch.repeat_interleave(starts - (torch.cumsum(lengths, 0) - lengths), lengths)
    return torch.arange(total, device=starts.device) + offsets


class Selector:
    """Data selection for one worker: dataset, relevance coordinates and the pre-trained value.

    `value` must read the pre-trained weights whenever `select` needs new goal distances; test-time
    training restores them before each re-plan, which is when it selects.
    """

    def __init__(
        self,
        config: SelectionConfig,
        data: TransitionData,
        relevance_index: tuple[int, ...],
        value: ValueFn,
        discount: float,
        generator: torch.Generator,
        cache: DistanceCache | None = None,
        weights_fingerprint: str = "",
    ):
        """`value(obs, goals)` is V(s, g); `discount` the backbone's (used when the config asks
        for the backbone's own discount). `cache` shares whole distance tables between runs; its
        key needs `weights_fingerprint` (of the value weights)."""
        self.config = config
        self.strategy = get_strategy(config.strategy)
        self.data = data
        self.value = value
        self.discount = discount if config.distance_discount == "backbone" else config.distance_discount
        self.generator = generator
        self.cache = cache
        self.weights_fingerprint = weights_fingerprint
        device = data.device
        self.device = device
        if config.authors_cube_match and "authors_cube_match" in self.strategy.knobs:
            relevance_index = (0, 1)  # the authors' start match (SelectionKnobs.authors_cube_match)
        self.relevance_index = torch.as_tensor(relevance_index, device=device)
        episodes = torch.arange(data.num_episodes, device=device)
        # Rows of episode e: row_first[e] .. row_end[e] - 1 (its last row is the terminal one).
        self.row_first = data.first + episodes
        self.row_end = data.last + episodes + 2
        self.num_rows = data.observations.shape[0]
        lengths = self.row_end - self.row_first
        self.row_episode = torch.repeat_interleave(episodes, lengths)
        self.row_positions = torch.arange(self.num_rows, device=device)
        # p(s_r) of every row, computed once per worker.
        self.coords = data.observations[:, self.relevance_index]
        self._data_fingerprint: str | None = None
        self.goal: torch.Tensor | None = None
        self.distances: GoalDistances | None = None
        self._cache_key: str | None = None
        """The cache key of the current goal's table while it is being filled (a cache miss)."""

    @property
    def receding(self) -> bool:
        return self.strategy.receding

    def begin_episode(self, goal: torch.Tensor) -> None:
        """Fix the test goal g* (a full observation) and forget the previous goal's distances."""
        self.goal = goal.reshape(1, -1).to(self.device, torch.float32)
        self.distances = None
        self._cache_key = None

    # --- goal distances -----------------------------------------------------------------------

    def _new_distances(self) -> GoalDistances:
        args = (self.data.observations, self.row_first, self.row_end, self.value, self.goal, self.discount)
        if self.cache is None:
            return GoalDistances(*args)
        if self._data_fingerprint is None:
            self._data_fingerprint = array_fingerprint(self.data.observations)
        self._cache_key = DistanceCache.key(self.weights_fingerprint, self._data_fingerprint, self.discount, self.goal)
        table = self.cache.get(self._cache_key)
        if table is None:  # filled lazily like an uncached table; `end_episode` completes and stores it
            return GoalDistances(*args)
        self._cache_key = None
        with warnings.catch_warnings():
            # The cached table is a read-only memory map shared by every worker (zero-copy). It is
            # complete, so GoalDistances only reads it; torch's warning about writes does not apply.
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable", category=UserWarning)
            shared = torch.from_numpy(table)
        return GoalDistances(*args, table=shared.to(self.device))

    def end_episode(self) -> None:
        """After an episode (outside its timed selection): a goal the cache missed has its table
        completed and stored, so later trials with the same goal and checkpoint read it."""
        if self.cache is not None and self._cache_key is not None and self.distances is not None:
            self.cache.put(self._cache_key, self.distances.complete().cpu().numpy())
        self._cache_key = None

    def distances_for(self, episodes: torch.Tensor) -> tuple[torch.Tensor, int]:
        """(distance of every row, evaluations newly needed by the method for `episodes`)."""
        if self.distances is None:
            self.distances = self._new_distances()
        cost = self.distances.ensure(episodes)
        return self.distances.values, cost

    @property
    def computed(self) -> int:
        """Value evaluations this worker actually ran for the current goal."""
        return 0 if self.distances is None else self.distances.computed

    # --- building blocks ----------------------------------------------------------------------

    def near(self, point: torch.Tensor) -> torch.Tensor:
        """[rows] bool: p(s_r) within eps of p(point)."""
        target = point.reshape(-1)[self.relevance_index]
        return ((self.coords - target) ** 2).sum(1) < self.config.eps**2

    def first_per_episode(self, mask: torch.Tensor) -> torch.Tensor:
        """[E] first row of each episode where `mask` holds (NONE where it never does)."""
        idx = torch.nonzero(mask).squeeze(1)
        first = torch.full((self.data.num_episodes,), NONE, dtype=torch.long, device=self.device)
        return first.scatter_reduce_(0, self.row_episode[idx], idx, "amin")

    def best_end_points(self, episodes: torch.Tensor, first: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
        """For `episodes`: the smallest goal distance among rows at least min_steps after `first`,
        and the first row where it is reached; inf / NONE where an episode has no such row.
        Also the value evaluations this needed."""
        distance, cost = self.distances_for(episodes)
        candidates = segment_indices(first[episodes] + self.config.min_steps, self.row_end[episodes])
        episode = self.row_episode[candidates]
        dist = distance[candidates]
        best = torch.full((self.data.num_episodes,), math.inf, device=self.device)
        best.scatter_reduce_(0, episode, dist, "amin")
        at_best = candidates[dist == best[episode]]
        end = torch.full((self.data.num_episodes,), NONE, dtype=torch.long, device=self.device)
        end.scatter_reduce_(0, self.row_episode[at_best], at_best, "amin")
        return best, end, cost

    def segments(self, episodes: torch.Tensor, starts: torch.Tensor, ends: torch.Tensor, cost: int) -> Selection:
        """Rows [starts, ends) of `episodes` as transition indices (ends clipped to the last
        transition of each episode)."""
        if len(episodes) == 0:
            return Selection(torch.zeros(0, dtype=torch.long, device=self.device), 0, cost, 0)
        ends = torch.minimum(ends, self.row_end[episodes] - 1)
        return Selection(
            indices=segment_indices(starts - episodes, ends - episodes),
            episodes=len(episodes),
            value_evaluations=cost,
            longest_segment=int((ends - starts).max()),
        )

    def select(self, state: torch.Tensor) -> Selection:
        """Transitions to fine-tune on from `state` (a full observation) towards the goal."""
        if self.goal is None:
            raise RuntimeError("call begin_episode(goal) before select()")
        return self.strategy.fn(self, state.reshape(-1).to(self.device, torch.float32))
