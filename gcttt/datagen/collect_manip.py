"""Manipulation trajectories from the scripted oracles shipped with OGBench (docs/method.md §2).

"play" datasets use the plan oracles (open-loop plans with smoothed noise), "noisy" datasets the
Markov (closed-loop) oracles with per-episode Gaussian noise and random actions. Whenever the
oracle finishes its task the env draws a new target (`set_new_target`), so one episode chains
many pick-and-place / button / drawer / window tasks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gcttt.data.episodes import EpisodeRows


@dataclass(frozen=True)
class ManipRecipe:
    """Oracle settings of one manipulation dataset (OGBench's data_gen_scripts/commands.sh)."""

    oracle: str
    """'plan' for play datasets, 'markov' for noisy ones."""
    noise: float = 0.1
    """Plan oracles: noise scale; Markov oracles: the upper bound of the per-episode noise level."""
    noise_smoothing: float = 0.5
    """Plan oracles: temporal smoothing of the noise."""
    min_norm: float = 0.4
    """Markov oracles: minimum action norm."""
    p_random_action: float = 0.0
    """Probability of a uniformly random action at each step (noisy datasets)."""


def make_oracles(env, family: str, recipe: ManipRecipe) -> dict:
    """The oracle for each task type of the env, keyed as the env's info['privileged/target_task']."""
    from ogbench.manipspace.oracles.markov.button_markov import ButtonMarkovOracle
    from ogbench.manipspace.oracles.markov.cube_markov import CubeMarkovOracle
    from ogbench.manipspace.oracles.markov.drawer_markov import DrawerMarkovOracle
    from ogbench.manipspace.oracles.markov.window_markov import WindowMarkovOracle
    from ogbench.manipspace.oracles.plan.button_plan import ButtonPlanOracle
    from ogbench.manipspace.oracles.plan.cube_plan import CubePlanOracle
    from ogbench.manipspace.oracles.plan.drawer_plan import DrawerPlanOracle
    from ogbench.manipspace.oracles.plan.window_plan import WindowPlanOracle

    if recipe.oracle == "markov":
        kw = dict(env=env, min_norm=recipe.min_norm)
        if family == "cube":
            return {"cube": CubeMarkovOracle(**kw)}
        if family == "scene":
            return {
                "cube": CubeMarkovOracle(max_step=100, **kw),
                "button": ButtonMarkovOracle(**kw),
                "drawer": DrawerMarkovOracle(**kw),
                "window": WindowMarkovOracle(**kw),
            }
        return {"button": ButtonMarkovOracle(gripper_always_closed=True, **kw)}
    kw = dict(env=env, noise=recipe.noise, noise_smoothing=recipe.noise_smoothing)
    if family == "cube":
        return {"cube": CubePlanOracle(**kw)}
    if family == "scene":
        return {
            "cube": CubePlanOracle(**kw),
            "button": ButtonPlanOracle(**kw),
            "drawer": DrawerPlanOracle(**kw),
            "window": WindowPlanOracle(**kw),
        }
    return {"button": ButtonPlanOracle(gripper_always_closed=True, **kw)}


def stacking_probability(variant: str, rng: np.random.Generator) -> float:
    """Per-episode probability of stacking cubes when a new target is drawn (OGBench's choice)."""
    if variant == "single":
        return 0.0
    if variant == "double":
        return float(rng.uniform(0.0, 0.25))
    if variant == "triple":
        return float(rng.uniform(0.05, 0.35))
    if variant == "quadruple":
        return float(rng.uniform(0.1, 0.5))
    return 0.5


def scene_is_healthy(qpos: np.ndarray) -> bool:
    """OGBench's health check for scene episodes: the cube stays visible unless in the drawer."""
    block = qpos[:, 14:17]
    too_far_right = (block[:, 1] >= 0.29).any()
    left_outside_drawer = ((block[:, 1] <= -0.3) & ((block[:, 2] < 0.06) | (block[:, 2] > 0.08))).any()
    return not (too_far_right or left_outside_drawer)


def collect_manip_episode(
    env, oracles: dict, family: str, variant: str, recipe: ManipRecipe, rng: np.random.Generator
) -> EpisodeRows | None:
    """Play one data-collection episode (env made with mode='data_collection').

    Returns None for a scene episode that fails the health check; the caller retries it with
    a fresh seed. `rng` draws our own choices; the caller also seeds NumPy's global RNG, which
    the oracles and the env use.
    """
    ob, info = env.reset()
    p_stack = stacking_probability(variant, rng)
    xi = float(rng.uniform(0.0, recipe.noise)) if recipe.oracle == "markov" else 0.0
    has_buttons = hasattr(env.unwrapped, "_cur_button_states")
    oracle = oracles[info["privileged/target_task"]]
    oracle.reset(ob, info)
    rows = EpisodeRows()
    done = False
    while not done:
        if rng.random() < recipe.p_random_action:
            action = rng.uniform(-1.0, 1.0, size=env.action_space.shape)
        else:
            action = np.asarray(oracle.select_action(ob, info), dtype=np.float64)
            if recipe.oracle == "markov":
                action = action + rng.normal(0.0, [xi, xi, xi, xi * 3, xi * 10])
        action = np.clip(action, -1.0, 1.0)
        next_ob, _, terminated, truncated, info = env.step(action)
        done = terminated or truncated
        finished = oracle.done
        if finished:
            target_ob, target_info = env.unwrapped.set_new_target(p_stack=p_stack)
            oracle = oracles[target_info["privileged/target_task"]]
            oracle.reset(target_ob, target_info)
        rows.add(
            ob,
            action,
            done,
            info["prev_qpos"],
            info["prev_qvel"],
            button_states=info["prev_button_states"] if has_buttons else None,
            success=finished,
        )
        ob = next_ob
    if family == "scene" and not scene_is_healthy(np.asarray(rows.qpos)):
        return None
    return rows
