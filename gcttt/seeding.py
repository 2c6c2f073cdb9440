"""Derived seeds: every random stream of an episode or a generated trajectory comes from a key."""

from __future__ import annotations

import numpy as np


def derive_seed(*keys: int) -> int:
    """A 32-bit seed that depends only on `keys` (e.g. run seed, task, episode index)."""
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(1)[0])
