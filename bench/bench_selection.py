"""Selection cost per re-plan: gcttt's cached selection vs the reference's recomputation.

The reference implementation recomputes goal distances with two full value passes over the
whole dataset at every re-plan. gcttt computes d(s, g*) once per test episode, lazily, only for
the dataset episodes that contain a start match, and reuses it at every later re-plan. Both
paths below run the same vectorised selection on the same states and must select the same
transitions; only the value work differs.

    python bench/bench_selection.py                      # full pointmaze dataset, 3x512 value net
    python bench/bench_selection.py --replans 10 --reference-replans 2

The states are those a trajectory of the dataset visits every K steps (an episode of TTT that
moves through the maze), the goal is task 1's goal. The value net is a freshly initialised
GC-IQL value net of the paper's size: costs do not depend on the weights.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from gcttt.agents import make_agent
from gcttt.commands.flags import parse
from gcttt.data.access import load_datasets, make_env
from gcttt.data.transitions import TransitionData
from gcttt.datagen import ensure_dataset_files
from gcttt.envs import dataset_info
from gcttt.errors import run_main
from gcttt.presets import PRESETS, backbone_config
from gcttt.selection import SelectionConfig, Selector, goal_distance


class ReferenceSelector(Selector):
    """Selection as the reference code does it: two full value passes at every re-plan."""

    def select(self, state: torch.Tensor):
        self.begin_episode(self.goal)  # nothing cached across re-plans
        everything = torch.arange(self.data.num_episodes, device=self.data.device)
        evaluated = self._ensure_distances(everything)
        # The reference's second pass (values towards the current state); its result feeds the
        # same selection, so we only pay for it.
        chunk = self.config.value_chunk
        state_goal = state.reshape(1, -1)
        for start in range(0, self.data.num_transitions, chunk):
            part = self.positions[start : start + chunk]
            goal_distance(self.agent.value(self.data.obs(part), state_goal.expand(len(part), -1)), self.agent.discount)
        evaluated += self.data.num_transitions
        selection = super().select(state)
        return selection, evaluated


@dataclass(frozen=True)
class BenchSelection:
    """What to time."""

    dataset: str = "pointmaze-medium-navigate-v0"
    """OGBench dataset name."""
    data_dir: str | None = None
    """Dataset directory [default: $GCTTT_DATA_DIR or ~/.ogbench/data]."""
    width: int = PRESETS["paper"].width
    """Value net width (the paper preset's)."""
    depth: int = PRESETS["paper"].depth
    """Value net hidden layers (the paper preset's)."""
    replans: int = 10
    """Re-plans of gcttt's selection (one episode)."""
    reference_replans: int = 2
    """Re-plans timed for the reference."""
    horizon: int = 100
    """Env steps between re-plan states."""
    device: str = "cpu"
    """cpu or cuda."""
    threads: int | None = None
    """Torch CPU threads [default: torch's choice]."""


def main(argv: list[str] | None = None) -> int:
    return run_main("bench_selection.py", lambda: bench(parse(BenchSelection, argv, "bench_selection.py", __doc__)))


def bench(args: BenchSelection) -> None:
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)  # the same fresh value net, hence the same selections, on every run

    info = dataset_info(args.dataset)
    ensure_dataset_files(args.dataset, args.data_dir)
    train, _ = load_datasets(args.dataset, args.data_dir)
    data = TransitionData.from_offline(train, args.device)
    preset = PRESETS["paper"]
    config = backbone_config("gciql", info, preset, width=args.width, depth=args.depth)
    agent = make_agent("gciql", config, data.obs_dim, data.action_dim, device=args.device)
    env = make_env(info)
    _, reset_info = env.reset(seed=0, options=dict(task_id=1))
    goal = torch.as_tensor(reset_info["goal"], dtype=torch.float32, device=args.device)
    # Re-plan states: every `horizon` steps along the first dataset episode.
    states = [data.obs(torch.tensor([int(data.first[0]) + i * args.horizon])) for i in range(args.replans)]

    ours = Selector(SelectionConfig(), data, info.relevance_index, agent, torch.Generator(args.device))
    ours.begin_episode(goal)
    our_times, our_evals, our_sizes = [], 0, []
    for state in states:
        start = time.perf_counter()
        selection = ours.select(state)
        our_times.append(time.perf_counter() - start)
        our_evals += selection.value_evaluations
        our_sizes.append(selection.size)

    reference = ReferenceSelector(SelectionConfig(), data, info.relevance_index, agent, torch.Generator(args.device))
    reference.begin_episode(goal)
    ref_times, ref_evals = [], 0
    for i, state in enumerate(states[: args.reference_replans]):
        start = time.perf_counter()
        selection, evaluated = reference.select(state)
        ref_times.append(time.perf_counter() - start)
        ref_evals += evaluated
        if not torch.equal(selection.indices, ours.select(state).indices):
            raise AssertionError(f"re-plan {i}: reference and gcttt selected different transitions")

    ours_per = sum(our_times) / len(our_times)
    ref_per = sum(ref_times) / len(ref_times)
    print(
        f"{args.dataset}: {data.num_transitions} transitions, value net {args.depth}x{args.width}, "
        f"{args.device}, {torch.get_num_threads()} threads"
    )
    print(
        f"gcttt:     {ours_per:8.3f} s per re-plan over {len(states)} re-plans "
        f"(first {our_times[0]:.3f} s, later mean {sum(our_times[1:]) / max(1, len(our_times) - 1):.3f} s);"
        " "
        f"{our_evals / len(states):,.0f} value evaluations per re-plan; selected {our_sizes}"
    )
    print(
        f"reference: {ref_per:8.3f} s per re-plan over {len(ref_times)} re-plans; "
        f"{ref_evals / len(ref_times):,.0f} value evaluations per re-plan"
    )
    print(
        f"ratio (reference / gcttt, per re-plan): {ref_per / ours_per:.1f}x; "
        f"value work ratio {ref_evals / len(ref_times) / max(1, our_evals / len(states)):.1f}x"
    )
    if not math.isfinite(ref_per / ours_per):
        raise SystemExit(1)


if __name__ == "__main__":
    raise SystemExit(main())
