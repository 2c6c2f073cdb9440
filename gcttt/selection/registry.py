"""The registry of selection strategies: name -> `Strategy` (a leaf: it imports no other selection module).

Strategies register themselves with `gcttt.selection.strategies.strategy`; the configuration
(`SelectionConfig`) and the `Selector` only look them up here, so the modules form no circle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gcttt.errors import UsageError


@dataclass(frozen=True)
class Strategy:
    name: str
    fn: Callable[[Any, Any], Any]
    """fn(selector, state) -> Selection."""
    receding: bool
    """True: selects again at every re-plan. False: once, at the episode's start, and the
    fine-tuned policy then acts for the whole episode."""
    knobs: tuple[str, ...]
    """The `SelectionKnobs` it reads."""
    summary: str
    """One line for `--help`."""


STRATEGIES: dict[str, Strategy] = {}


def get_strategy(name: str) -> Strategy:
    if name not in STRATEGIES:
        raise UsageError(f"unknown selection {name!r}; choose one of {', '.join(STRATEGIES)}")
    return STRATEGIES[name]


def strategies_help() -> str:
    """One line per strategy with the knobs it reads."""
    return "; ".join(f"{s.name}: {s.summary} [{', '.join(s.knobs) or 'no knobs'}]" for s in STRATEGIES.values())
