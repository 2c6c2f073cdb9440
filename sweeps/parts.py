"""Which arms of a sweep hold all their rows: part files checked before they are trusted.

A trial writes its arm's rows as part files under ``SWEEP/episodes/ARM/`` (one atomic file after
its last episode). A part file can still be damaged afterwards (a truncated copy, a full disk, a
hand edit) or go missing. An arm counts as done only when its part files are readable Parquet
and hold each of the arm's episodes (``spec_index`` 0..n-1) exactly once; anything else is
replayed. A damaged file is moved out of ``episodes/`` into ``SWEEP/damaged/ARM/`` (kept for a
post-mortem, never read as results), so that neither the sweep's table nor the analysis
scripts read it, and the arm's trial writes its rows again from scratch.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from gcttt.results.records import part_files
from sweeps.arms import Arm
from sweeps.common import Sweep


@dataclass(frozen=True)
class ArmParts:
    """What an arm's part files hold, checked against the episodes the arm plays."""

    arm: str
    expected: int
    """Episodes the arm plays (its specs)."""
    damaged: tuple[tuple[Path, str], ...] = ()
    """(file, reason) for each part file that cannot be read."""
    problem: str = ""
    """Why the readable rows do not make the arm complete ('' when they do)."""

    @property
    def complete(self) -> bool:
        return not self.damaged and not self.problem


def expected_episodes(sweep: Sweep, arm: Arm) -> int:
    return len(sweep.specs(arm))


def _reason(exc: Exception) -> str:
    """pyarrow's first line, without the path it repeats ('Could not open Parquet input source '...': ')."""
    line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    line = re.sub(r"^Could not open Parquet input source '[^']*': ", "", line)
    return line.split(". Either the file")[0]


def check_arm(sweep: Sweep, arm: Arm) -> ArmParts:
    """Read every part file of `arm` (its spec indices only) and say whether the arm is complete."""

    expected = expected_episodes(sweep, arm)
    folder = sweep.episodes_dir / arm.name
    files = part_files(folder) if folder.is_dir() else []
    if not files:
        return ArmParts(arm.name, expected, problem="no part file")
    damaged, indices = [], []
    for path in files:
        try:
            indices += pq.read_table(path, columns=["spec_index"]).column("spec_index").to_pylist()
            pq.read_table(path)  # every column, not only the footer and one column chunk
        except Exception as exc:  # pyarrow raises several kinds for a damaged file
            damaged.append((path, _reason(exc)))
    if damaged:
        return ArmParts(arm.name, expected, damaged=tuple(damaged))
    if sorted(indices) != list(range(expected)):
        seen = len(set(indices))
        problem = f"{len(indices)} rows for {seen} of its {expected} episodes in {len(files)} file(s)"
        return ArmParts(arm.name, expected, problem=problem)
    return ArmParts(arm.name, expected)


def complete_arms(sweep: Sweep, arms: list[Arm]) -> set[str]:
    """Names of the arms whose part files hold every episode exactly once."""
    return {a.name for a in arms if check_arm(sweep, a).complete}


def set_aside_damaged(sweep: Sweep, arms: list[Arm], finished: set[str]) -> list[str]:
    """Move the damaged part files of `arms` to ``SWEEP/damaged/ARM/``; one message per arm of
    `finished` (arms whose trial Tune thinks done) that will be replayed, naming what was wrong."""
    messages = []
    for arm in arms:
        parts = check_arm(sweep, arm)
        for path, _ in parts.damaged:
            target = sweep.sweep_dir / "damaged" / arm.name / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(path), target)
        if parts.complete or arm.name not in finished:
            continue  # an unfinished trial rewrites its rows anyway
        if parts.damaged:
            names = ", ".join(f"{p.relative_to(sweep.sweep_dir)} ({why})" for p, why in parts.damaged)
            messages.append(
                f"{names}: damaged, moved to {sweep.sweep_dir / 'damaged' / arm.name}; "
                f"the {parts.expected} episodes of {arm.name} are played again"
            )
        else:
            messages.append(f"{arm.name}: {parts.problem}; its {parts.expected} episodes are played again")
    return messages
