"""Goal-conditioned batches with hindsight relabelling (docs/method.md §4).

Value goals mix the current state, a future state of the same trajectory (geometric offset
with p = 1 - discount) and a random dataset state; actor goals are future states (uniform) or
random states. Rewards are 0 when the value goal is the current state and -1 otherwise; masks
are 0 on success. `sample_from` restricts the transitions to a subset (the fine-tuning set of
test-time training) and can pin every actor goal to one fixed goal g*.

All randomness comes from the `torch.Generator` handed to the sampler.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from gcttt.data.transitions import TransitionData


@dataclass(frozen=True)
class GoalMix:
    """Probabilities of the three goal sources; they must sum to 1."""

    p_current: float = 0.0
    """The transition's own state."""
    p_future: float = 1.0
    """A future state of the same trajectory."""
    p_random: float = 0.0
    """A uniformly random dataset state."""
    geometric: bool = False
    """Future offsets geometric with p = 1 - discount (True) or uniform up to the episode end (False)."""

    def __post_init__(self) -> None:
        probs = (self.p_current, self.p_future, self.p_random)
        if any(p < 0 or p > 1 for p in probs) or not math.isclose(sum(probs), 1.0, abs_tol=1e-6):
            raise ValueError(f"goal probabilities must lie in [0, 1] and sum to 1, got {probs}")


VALUE_GOALS = GoalMix(p_current=0.2, p_future=0.5, p_random=0.3, geometric=True)
ACTOR_GOALS = GoalMix(p_current=0.0, p_future=1.0, p_random=0.0, geometric=False)


@dataclass(frozen=True)
class SamplerConfig:
    """What a backbone needs from its batches."""

    batch_size: int = 1024
    """Transitions per batch."""
    discount: float = 0.99
    """Discount of the backbone; sets the geometric goal offsets."""
    value_goals: GoalMix = field(default_factory=lambda: VALUE_GOALS)
    """Goal mix for value/critic learning."""
    actor_goals: GoalMix = field(default_factory=lambda: ACTOR_GOALS)
    """Goal mix for the actor."""
    subgoal_steps: int | None = None
    """When set (SAW), also return waypoints k steps ahead."""

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {self.batch_size}")
        if not 0.0 < self.discount < 1.0:
            raise ValueError(f"discount must lie in (0, 1), got {self.discount}")


@dataclass(frozen=True)
class Batch:
    """One goal-conditioned batch; every tensor has the batch size as its first dimension."""

    observations: torch.Tensor
    actions: torch.Tensor
    next_observations: torch.Tensor
    value_goals: torch.Tensor
    actor_goals: torch.Tensor
    rewards: torch.Tensor
    """0 where the value goal is the current state, else -1."""
    masks: torch.Tensor
    """0 where the value goal is the current state (episode ends there), else 1."""
    subgoals: torch.Tensor | None = None
    """SAW: s_{min(t+k, episode end)}, the sub-policy's waypoint goal."""
    actor_waypoints: torch.Tensor | None = None
    """SAW: s_{min(t+k, actor goal)}, the waypoint on the way to the actor goal."""

    @property
    def size(self) -> int:
        return self.observations.shape[0]


class GoalSampler:
    """Samples relabelled batches from a `TransitionData`."""

    def __init__(self, data: TransitionData, config: SamplerConfig, generator: torch.Generator):
        if generator.device != data.device:
            raise ValueError(f"generator on {generator.device} but data on {data.device}")
        self.data = data
        self.config = config
        self.generator = generator

    def _rand(self, n: int) -> torch.Tensor:
        return torch.rand(n, generator=self.generator, device=self.data.device)

    def _random_transitions(self, n: int) -> torch.Tensor:
        return torch.randint(self.data.num_transitions, (n,), generator=self.generator, device=self.data.device)

    def future_indices(self, t: torch.Tensor, geometric: bool) -> torch.Tensor:
        """A future transition of the same episode for each t (t itself only at the episode end)."""
        final = self.data.final[t]
        if geometric:
            offsets = torch.empty(t.shape, device=t.device).geometric_(
                1.0 - self.config.discount, generator=self.generator
            )
            return torch.minimum(t + offsets.long(), final)
        # Uniform between t + 1 and the episode's last transition.
        u = self._rand(len(t))
        lo = torch.minimum(t + 1, final)
        return torch.round(lo * u + final * (1.0 - u)).long()

    def goal_indices(self, t: torch.Tensor, mix: GoalMix) -> torch.Tensor:
        """Goal transition indices for transitions t, drawn from `mix`."""
        if mix.p_current >= 1.0:
            return t.clone()
        n = len(t)
        future = self.future_indices(t, mix.geometric)
        random = self._random_transitions(n)
        p_future = mix.p_future / (1.0 - mix.p_current)
        goals = torch.where(self._rand(n) < p_future, future, random)
        return torch.where(self._rand(n) < mix.p_current, t, goals)

    def _batch(self, t: torch.Tensor, actor_goal: torch.Tensor | None) -> Batch:
        data, cfg = self.data, self.config
        value_goal_t = self.goal_indices(t, cfg.value_goals)
        success = (value_goal_t == t).float()
        actor_goal_t = None
        if actor_goal is None or cfg.subgoal_steps is not None:
            # With a pinned goal SAW still draws the goal it would have trained on: its waypoint
            # target stays s[min(t + k, that goal's index)] (the authors' code pins only the flat
            # actor's goal). Other backbones draw nothing here, so their batch stream is unchanged.
            actor_goal_t = self.goal_indices(t, cfg.actor_goals)
        if actor_goal is None:
            actor_goals = data.obs(actor_goal_t)
        else:
            actor_goals = actor_goal.reshape(1, -1).expand(len(t), -1)
        subgoals = waypoints = None
        if cfg.subgoal_steps is not None:
            ahead = torch.minimum(t + cfg.subgoal_steps, data.final[t])
            subgoals = data.obs(ahead)
            # Waypoints k steps ahead but never past a future actor goal of the same episode; for
            # a random actor goal (another episode) k steps ahead.
            same_episode = data.episode[actor_goal_t] == data.episode[t]
            toward = torch.where(same_episode & (actor_goal_t >= t), torch.minimum(ahead, actor_goal_t), ahead)
            waypoints = data.obs(toward)
        return Batch(
            observations=data.obs(t),
            actions=data.act(t),
            next_observations=data.next_obs(t),
            value_goals=data.obs(value_goal_t),
            actor_goals=actor_goals,
            rewards=success - 1.0,
            masks=1.0 - success,
            subgoals=subgoals,
            actor_waypoints=waypoints,
        )

    def sample(self, batch_size: int | None = None) -> Batch:
        """A batch of uniformly random transitions of the whole dataset."""
        t = self._random_transitions(batch_size or self.config.batch_size)
        return self._batch(t, None)

    def sample_from(
        self, subset: torch.Tensor, actor_goal: torch.Tensor | None = None, batch_size: int | None = None
    ) -> Batch:
        """A batch drawn uniformly from the transition indices in `subset`.

        Value goals are relabelled exactly as in `sample` (future states may lie past the subset,
        random goals come from the whole dataset); with `actor_goal`, every actor goal is that goal
        (SAW's waypoints still follow the actor goal drawn as in pre-training, see `_batch`).
        """
        if len(subset) == 0:
            raise ValueError("cannot sample from an empty subset")
        n = batch_size or self.config.batch_size
        pick = torch.randint(len(subset), (n,), generator=self.generator, device=self.data.device)
        return self._batch(subset[pick], actor_goal)

    def sample_from_buffer(
        self,
        indices: torch.Tensor,
        count: torch.Tensor,
        actor_goal: torch.Tensor | None = None,
        batch_size: int | None = None,
    ) -> Batch:
        """`sample_from` for a selection held in a fixed buffer: `indices[:count]`, with `count` a
        device tensor, so the draw needs no host value and can be captured in a CUDA graph.

        Uniform over the selection like `sample_from`, through another random draw (a 62-bit
        integer modulo the count, bias below 1e-12), so its batches differ from `sample_from`'s;
        the eager path keeps `sample_from`.
        """
        n = batch_size or self.config.batch_size
        draw = torch.randint(1 << 62, (n,), generator=self.generator, device=self.data.device)
        return self._batch(indices[draw % count], actor_goal)
