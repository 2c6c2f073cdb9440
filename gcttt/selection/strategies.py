"""Selection strategies: small functions behind one signature, in one registry (docs/method.md §5).

A strategy is ``fn(selector, state) -> Selection``; `@strategy(...)` registers it with what it
is: whether it selects again at every re-plan (`receding`) and which `SelectionKnobs` it
reads (records, `--help` and the sweeps list exactly those). A new strategy is one more
decorated function here.

- ``critic`` (the paper's default): for each dataset episode take its first start match (a row
  within eps of the current state), then the row at least `min_steps` later with the smallest
  goal distance; keep the `top_k` episodes with the smallest such distance and select from the
  first match up to that row.
- ``critic-quantile``: the same, keeping the best `q` fraction of the episodes with a start match.
- ``critic-free``: start matches near the current state and goal matches near p(g*); per episode
  the shortest start-to-goal segment; keep the episodes whose segment is within the `q`
  quantile of lengths; select [start, start + length + `slack`). Selected once, at the start of
  the test episode, and the fine-tuned policy then acts for the whole episode (the authors' code).
- Controls: ``random`` (`random_size` uniformly random transitions, with replacement),
  ``no-relevance`` (every row is a start match), ``no-optimality`` (the authors' construction:
  `top_k` random episodes from all episodes, those with a start match cut at their goal-distance
  end point as usual), ``full-dataset`` (every transition).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from gcttt.selection.config import KNOBS, Selection
from gcttt.selection.registry import STRATEGIES, Strategy
from gcttt.selection.selector import NONE, Selector

StrategyFn = Callable[[Selector, torch.Tensor], Selection]


def strategy(name: str, *, knobs: tuple[str, ...], summary: str, receding: bool = True):
    """Register a strategy function under `name`; `knobs` are the `SelectionKnobs` it reads."""
    unknown = set(knobs) - set(KNOBS)
    if unknown:
        raise ValueError(f"strategy {name}: unknown knobs {sorted(unknown)}")

    def register(fn: StrategyFn) -> StrategyFn:
        STRATEGIES[name] = Strategy(name, fn, receding, tuple(k for k in KNOBS if k in knobs), summary)
        return fn

    return register


# --- the critic family ----------------------------------------------------------------------

CRITIC_KNOBS = ("eps", "min_steps", "distance_discount", "authors_cube_match")


def _critic(sel: Selector, match: torch.Tensor, keep: Callable[[int], int]) -> Selection:
    first = sel.first_per_episode(match)
    matched = torch.nonzero(first != NONE).squeeze(1)
    best, end, cost = sel.best_end_points(matched, first)
    valid = torch.nonzero(torch.isfinite(best)).squeeze(1)
    n = keep(len(valid)) if len(valid) else 0
    chosen = valid[torch.topk(best[valid], n, largest=False).indices] if n else valid[:0]
    return sel.segments(chosen, first[chosen], end[chosen], cost)


@strategy("critic", knobs=(*CRITIC_KNOBS, "top_k"), summary="the paper's: top-k episodes by goal distance")
def critic(sel: Selector, state: torch.Tensor) -> Selection:
    return _critic(sel, sel.near(state), lambda n: min(sel.config.top_k, n))


@strategy("critic-quantile", knobs=(*CRITIC_KNOBS, "q"), summary="the best q fraction of matching episodes")
def critic_quantile(sel: Selector, state: torch.Tensor) -> Selection:
    return _critic(sel, sel.near(state), lambda n: max(1, math.ceil(sel.config.q * n)))


@strategy("no-relevance", knobs=("min_steps", "top_k", "distance_discount"), summary="ablation: every state matches")
def no_relevance(sel: Selector, state: torch.Tensor) -> Selection:
    every = torch.ones(sel.num_rows, dtype=torch.bool, device=sel.device)
    return _critic(sel, every, lambda n: min(sel.config.top_k, n))


@strategy(
    "no-optimality",
    knobs=(*CRITIC_KNOBS, "top_k"),
    summary="ablation: top_k random episodes, those with a start match cut at their goal-distance end",
)
def no_optimality(sel: Selector, state: torch.Tensor) -> Selection:
    num_episodes = sel.data.num_episodes
    drawn = torch.randperm(num_episodes, generator=sel.generator, device=sel.device)[: sel.config.top_k]
    first = sel.first_per_episode(sel.near(state))
    kept = drawn[first[drawn] != NONE].sort().values
    best, end, cost = sel.best_end_points(kept, first)
    chosen = kept[torch.isfinite(best[kept])]
    return sel.segments(chosen, first[chosen], end[chosen], cost)


# --- without a critic ------------------------------------------------------------------------


@strategy(
    "critic-free",
    knobs=("eps", "q", "slack"),
    receding=False,
    summary="once per episode: shortest start-to-goal segments, kept for the whole episode",
)
def critic_free(sel: Selector, state: torch.Tensor) -> Selection:
    start_match = sel.near(state)
    goal_match = sel.near(sel.goal)
    rows = sel.row_positions
    # Last start match at or before each row (across episode borders; checked below).
    last_start = torch.where(start_match, rows, -1).cummax(0).values
    pair = goal_match & (last_start >= sel.row_first[sel.row_episode]) & (rows > last_start)
    length = torch.where(pair, rows - last_start, NONE)
    num_episodes = sel.data.num_episodes
    shortest = torch.full((num_episodes,), NONE, dtype=torch.long, device=sel.device)
    shortest.scatter_reduce_(0, sel.row_episode, length, "amin")
    episodes = torch.nonzero(shortest != NONE).squeeze(1)
    if len(episodes) == 0:
        return sel.segments(episodes, episodes, episodes, 0)
    at_shortest = torch.nonzero(pair & (length == shortest[sel.row_episode])).squeeze(1)
    goal_at = torch.full((num_episodes,), NONE, dtype=torch.long, device=sel.device)
    goal_at.scatter_reduce_(0, sel.row_episode[at_shortest], at_shortest, "amin")
    lengths = shortest[episodes]
    cutoff = torch.quantile(lengths.float(), sel.config.q)
    chosen = episodes[lengths.float() <= cutoff]
    starts = goal_at[chosen] - shortest[chosen]
    return sel.segments(chosen, starts, goal_at[chosen] + sel.config.slack, 0)


@strategy("random", knobs=("random_size",), summary="control: uniformly random transitions")
def random_transitions(sel: Selector, state: torch.Tensor) -> Selection:
    data = sel.data
    pick = torch.randint(data.num_transitions, (sel.config.random_size,), generator=sel.generator, device=sel.device)
    touched = torch.zeros(data.num_episodes, dtype=torch.bool, device=sel.device).index_fill_(
        0, data.episode[pick], True
    )
    return Selection(pick, int(touched.sum()), 0, 1)  # episodes drawn from: a count, no sort (torch.unique)


@strategy("full-dataset", knobs=(), summary="control: every transition")
def full_dataset(sel: Selector, state: torch.Tensor) -> Selection:
    data = sel.data
    every = torch.arange(data.num_transitions, device=sel.device)
    return Selection(every, data.num_episodes, 0, data.num_transitions)
