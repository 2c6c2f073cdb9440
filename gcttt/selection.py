"""Choosing the fine-tuning data for the current state and test goal (SPEC §5).

Every strategy answers one question, `select(state) -> Selection`, for a goal fixed by
`begin_episode(goal)`:

- ``critic`` (the paper's default): a dataset state is a *start match* when its relevance
  coordinates p(.) lie within `eps` of the current state's. For each dataset episode take its
  first start match, then the end point at least `min_steps` later with the smallest goal
  distance d(s, g*) = log(1 + (1 - gamma) V(s, g*)) / log(gamma); keep the `top_k` episodes with
  the smallest such distance and select the transitions from the first match up to the end point.
- ``critic-quantile``: the same, keeping the best `q` fraction of the episodes with a start match.
- ``critic-free``: start matches near the current state and goal matches near p(g*); per
  episode the shortest start-to-goal segment; keep the episodes whose segment is within the `q`
  quantile of lengths; select the segment plus `slack` steps. Done once, at the episode's start.
- Controls: ``random`` (`random_size` uniformly random transitions), ``no-relevance`` (every
  state is a start match), ``no-optimality`` (`top_k` random episodes among those with a start
  match, each from its first match to a random end point at least `min_steps` later: no goal
  information), ``full-dataset`` (every transition).

Speed by design: d(s, g*) depends only on g* and the pre-trained value net, so it is computed
lazily, once per test episode, for the dataset episodes that ever contain a start match, and
cached; relevance tests and per-episode minima are vectorised tensor operations on the
dataset's device. Episodes may have any lengths.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from gcttt.agents.base import Agent
from gcttt.data.transitions import TransitionData
from gcttt.errors import UsageError

STRATEGIES = (
    "critic",
    "critic-quantile",
    "critic-free",
    "random",
    "no-relevance",
    "no-optimality",
    "full-dataset",
)

_NONE = torch.iinfo(torch.int64).max  # "no transition" in per-episode index minima


@dataclass(frozen=True)
class SelectionConfig:
    """Which data test-time training fine-tunes on."""

    strategy: str = "critic"
    """One of STRATEGIES."""
    eps: float = 1.0
    """Relevance radius on p(.) (x-y for mazes, cube positions for cube tasks)."""
    min_steps: int = 10
    """Critic strategies: end points lie at least this many steps after the first start match."""
    top_k: int = 10
    """critic, no-relevance, no-optimality: episodes kept."""
    q: float = 0.2
    """critic-quantile: fraction of matching episodes kept; critic-free: length quantile."""
    slack: int = 10
    """critic-free: steps selected after the shortest segment."""
    random_size: int = 10_000
    """random: transitions drawn per re-plan."""
    value_chunk: int = 65_536
    """States per value-network call when computing goal distances."""

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise UsageError(f"unknown selection {self.strategy!r}; choose one of {', '.join(STRATEGIES)}")
        if not self.eps > 0:
            raise UsageError(f"eps must be positive (got {self.eps})")
        if not 0 < self.q <= 1:
            raise UsageError(f"q must lie in (0, 1] (got {self.q})")
        for name in ("min_steps", "slack"):
            if getattr(self, name) < 0:
                raise UsageError(f"{name} must be 0 or more (got {getattr(self, name)})")
        for name in ("top_k", "random_size", "value_chunk"):
            if getattr(self, name) < 1:
                raise UsageError(f"{name} must be at least 1 (got {getattr(self, name)})")

    @property
    def receding(self) -> bool:
        """Whether selection is redone at every re-plan (critic-free selects once per episode)."""
        return self.strategy != "critic-free"


@dataclass(frozen=True)
class Selection:
    """The outcome of one selection."""

    indices: torch.Tensor
    """Transition indices to fine-tune on (int64, on the dataset's device)."""
    episodes: int
    """Dataset episodes that contributed."""
    value_evaluations: int
    """V(s, g*) evaluations this call had to run (0 when all were cached)."""
    longest_segment: int
    """Length of the longest selected segment (for the once-per-episode reset)."""

    @property
    def size(self) -> int:
        return len(self.indices)


def goal_distance(values: torch.Tensor, discount: float) -> torch.Tensor:
    """Steps-to-goal implied by V(s, g) = -(1 - gamma^d) / (1 - gamma); NaN (V too low) -> inf."""
    d = torch.log1p((1.0 - discount) * values) / math.log(discount)
    return torch.nan_to_num(d, nan=math.inf)


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

    `agent` must hold the pre-trained weights whenever `select` needs new goal distances;
    test-time training restores them before each re-plan, which is when it selects.
    """

    def __init__(
        self,
        config: SelectionConfig,
        data: TransitionData,
        relevance_index: tuple[int, ...],
        agent: Agent,
        generator: torch.Generator,
    ):
        self.config = config
        self.data = data
        self.agent = agent
        self.generator = generator
        self.relevance_index = torch.as_tensor(relevance_index, device=data.device)
        # p(s_t) of every transition, computed once per worker.
        self.coords = data.observations[:, self.relevance_index][data.rows]
        self.positions = torch.arange(data.num_transitions, device=data.device)
        self.goal: torch.Tensor | None = None
        self.distance: torch.Tensor | None = None
        self.distance_known: torch.Tensor | None = None

    @property
    def receding(self) -> bool:
        return self.config.receding

    def begin_episode(self, goal: torch.Tensor) -> None:
        """Fix the test goal g* (a full observation) and forget cached goal distances."""
        self.goal = goal.reshape(1, -1).to(self.data.device, torch.float32)
        self.distance = torch.full((self.data.num_transitions,), math.nan, device=self.data.device)
        self.distance_known = torch.zeros(self.data.num_episodes, dtype=torch.bool, device=self.data.device)

    # --- shared pieces --------------------------------------------------------------------------

    def _near(self, point: torch.Tensor) -> torch.Tensor:
        """[N] bool: p(s_t) within eps of p(point)."""
        target = point.reshape(-1)[self.relevance_index]
        return ((self.coords - target) ** 2).sum(1) < self.config.eps**2

    def _first_per_episode(self, mask: torch.Tensor) -> torch.Tensor:
        """[E] first transition of each episode where `mask` holds (_NONE where it never does)."""
        idx = torch.nonzero(mask).squeeze(1)
        first = torch.full((self.data.num_episodes,), _NONE, dtype=torch.long, device=self.data.device)
        return first.scatter_reduce_(0, self.data.episode[idx], idx, "amin")

    def _ensure_distances(self, episodes: torch.Tensor) -> int:
        """Compute d(s, g*) for every transition of `episodes` not cached yet; return how many."""
        missing = episodes[~self.distance_known[episodes]]
        if len(missing) == 0:
            return 0
        idx = segment_indices(self.data.first[missing], self.data.last[missing] + 1)
        chunk = self.config.value_chunk
        for start in range(0, len(idx), chunk):
            part = idx[start : start + chunk]
            values = self.agent.value(self.data.obs(part), self.goal.expand(len(part), -1))
            self.distance[part] = goal_distance(values, self.agent.discount)
        self.distance_known[missing] = True
        return len(idx)

    def _best_end_points(self, matched: torch.Tensor, first: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per episode: smallest goal distance at least min_steps after `first`, and where.

        Works on the candidate end points of the `matched` episodes only, never on the whole
        dataset.
        """
        data = self.data
        candidates = segment_indices(first[matched] + self.config.min_steps, data.last[matched] + 1)
        episode = data.episode[candidates]
        dist = self.distance[candidates]
        best = torch.full((data.num_episodes,), math.inf, device=data.device)
        best.scatter_reduce_(0, episode, dist, "amin")
        at_best = candidates[dist == best[episode]]
        end = torch.full((data.num_episodes,), _NONE, dtype=torch.long, device=data.device)
        end.scatter_reduce_(0, data.episode[at_best], at_best, "amin")
        return best, end

    def _segments(self, episodes: torch.Tensor, starts: torch.Tensor, ends: torch.Tensor, evaluated: int) -> Selection:
        if len(episodes) == 0:
            return Selection(torch.zeros(0, dtype=torch.long, device=self.data.device), 0, evaluated, 0)
        return Selection(
            indices=segment_indices(starts, ends),
            episodes=len(episodes),
            value_evaluations=evaluated,
            longest_segment=int((ends - starts).max()),
        )

    # --- strategies -----------------------------------------------------------------------------

    def select(self, state: torch.Tensor) -> Selection:
        """Transitions to fine-tune on from `state` (a full observation) towards the goal."""
        if self.goal is None:
            raise RuntimeError("call begin_episode(goal) before select()")
        state = state.reshape(-1).to(self.data.device, torch.float32)
        strategy = self.config.strategy
        if strategy == "full-dataset":
            n = self.data.num_transitions
            return Selection(self.positions, self.data.num_episodes, 0, n)
        if strategy == "random":
            pick = torch.randint(
                self.data.num_transitions,
                (self.config.random_size,),
                generator=self.generator,
                device=self.data.device,
            )
            return Selection(pick, int(torch.unique(self.data.episode[pick]).numel()), 0, 1)
        if strategy == "critic-free":
            return self._critic_free(state)
        if strategy == "no-relevance":
            match = torch.ones(self.data.num_transitions, dtype=torch.bool, device=self.data.device)
        else:
            match = self._near(state)
        first = self._first_per_episode(match)
        if strategy == "no-optimality":
            return self._random_episodes(first)
        matched = torch.nonzero(first != _NONE).squeeze(1)
        evaluated = self._ensure_distances(matched)
        best, end = self._best_end_points(matched, first)
        valid = torch.nonzero(torch.isfinite(best)).squeeze(1)
        if strategy == "critic-quantile":
            keep = max(1, math.ceil(self.config.q * len(valid))) if len(valid) else 0
        else:
            keep = min(self.config.top_k, len(valid))
        chosen = valid[torch.topk(best[valid], keep, largest=False).indices] if keep else valid[:0]
        return self._segments(chosen, first[chosen], end[chosen], evaluated)

    def _random_episodes(self, first: torch.Tensor) -> Selection:
        data = self.data
        usable = torch.nonzero((first != _NONE) & (first + self.config.min_steps <= data.last)).squeeze(1)
        keep = min(self.config.top_k, len(usable))
        perm = torch.randperm(len(usable), generator=self.generator, device=data.device)[:keep]
        chosen = usable[perm]
        starts = first[chosen]
        lo = starts + self.config.min_steps
        span = (data.last[chosen] - lo + 1).float()
        ends = lo + (torch.rand(keep, generator=self.generator, device=data.device) * span).long()
        return self._segments(chosen, starts, ends, 0)

    def _critic_free(self, state: torch.Tensor) -> Selection:
        data = self.data
        start_match = self._near(state)
        goal_match = self._near(self.goal)
        # Last start match at or before each transition (across episode borders; checked below).
        last_start = torch.where(start_match, self.positions, -1).cummax(0).values
        episode_first = data.first[data.episode]
        pair = goal_match & (last_start >= episode_first) & (self.positions > last_start)
        length = torch.where(pair, self.positions - last_start, _NONE)
        shortest = torch.full((data.num_episodes,), _NONE, dtype=torch.long, device=data.device)
        shortest.scatter_reduce_(0, data.episode, length, "amin")
        episodes = torch.nonzero(shortest != _NONE).squeeze(1)
        if len(episodes) == 0:
            return self._segments(episodes, episodes, episodes, 0)
        at_shortest = torch.nonzero(pair & (length == shortest[data.episode])).squeeze(1)
        goal_at = torch.full((data.num_episodes,), _NONE, dtype=torch.long, device=data.device)
        goal_at.scatter_reduce_(0, data.episode[at_shortest], at_shortest, "amin")
        lengths = shortest[episodes]
        cutoff = torch.quantile(lengths.float(), self.config.q)
        chosen = episodes[lengths.float() <= cutoff]
        starts = goal_at[chosen] - shortest[chosen]
        # [start, start + length + slack), never past the episode's last transition.
        ends = torch.minimum(goal_at[chosen] + self.config.slack, data.last[chosen] + 1)
        return self._segments(chosen, starts, ends, 0)
