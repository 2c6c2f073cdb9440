"""GC-BC as the paper uses it: the GC-IQL agent with a pure behaviour-cloning actor.

The actor minimises -log pi(a | s, g) with future-state goals; V and Q are still trained beside
it by the IQL losses, because data selection at test time reads the value function.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gcttt.agents.gciql import GCIQLAgent, GCIQLConfig


@dataclass(frozen=True)
class GCBCConfig(GCIQLConfig):
    """GC-IQL's configuration with the actor objective fixed to behaviour cloning."""

    actor_loss: Literal["bc"] = "bc"
    """Always 'bc': the actor ignores Q."""


class GCBCAgent(GCIQLAgent):
    name = "gcbc"
    config: GCBCConfig
