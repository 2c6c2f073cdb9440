"""OGBench's directional locomotion task for the ant expert (docs/method.md §2).

OGBench trains its locomotion expert on ``online-ant-v0`` (1000-step episodes, 10 Hz control)
wrapped so that a random unit direction z is commanded and redrawn every 100 steps. The policy
sees the ant's observation without its x-y position (27 entries) followed by z (2 entries); the
reward of a step is the displacement of the torso's x-y along z during that step, nothing else
(no healthy or control terms). The episode terminates when the torso height leaves [0.2, 1.0].

Unlike OGBench's wrapper, which draws z from NumPy's global RNG, this one draws it from its own
generator, seeded on `reset(seed=...)`, so an episode is reproducible without global state.
"""

from __future__ import annotations

import warnings

import numpy as np

RESAMPLE_EVERY = 100
"""Env steps between two commanded directions."""
EPISODE_STEPS = 1000
"""Steps of one training or evaluation episode (online-ant-v0's limit)."""
BODY_DIM = 27
"""Ant observation without x-y: qpos[2:] (13) + qvel (14)."""
OBS_DIM = BODY_DIM + 2
"""Expert input: body observation + unit direction."""
ACTION_DIM = 8


def unit_vector(rng: np.random.Generator) -> np.ndarray:
    z = rng.standard_normal(2)
    return z / np.linalg.norm(z)


class DirectionalAnt:
    """`online-ant-v0` with a commanded direction; the gymnasium step/reset interface."""

    def __init__(self, resample_every: int = RESAMPLE_EVERY):
        import gymnasium
        import ogbench.online_locomotion  # noqa: F401  (registers online-ant-v0)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.env = gymnasium.make("online-ant-v0", max_episode_steps=EPISODE_STEPS)
        self.resample_every = resample_every
        self.rng = np.random.default_rng(0)
        self.z = np.array([1.0, 0.0])
        self.steps = 0
        self.dt = float(self.env.unwrapped.dt)

    def _xy(self) -> np.ndarray:
        return self.env.unwrapped.data.qpos[:2].copy()

    def reset(self, seed: int | None = None) -> np.ndarray:
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        ob, _ = self.env.reset(seed=None if seed is None else int(self.rng.integers(2**31)))
        self.z = unit_vector(self.rng)
        self.steps = 0
        return np.concatenate([ob, self.z]).astype(np.float32)

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool]:
        """(observation, reward, terminated, truncated)."""
        before = self._xy()
        ob, _, terminated, truncated, _ = self.env.step(action)
        reward = float((self._xy() - before) @ self.z)
        self.steps += 1
        if self.steps % self.resample_every == 0:
            self.z = unit_vector(self.rng)
        return np.concatenate([ob, self.z]).astype(np.float32), reward, bool(terminated), bool(truncated)
