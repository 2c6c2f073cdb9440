"""Load dataset files with OGBench's own loader and print their episode counts and lengths.

    python bench/ogbench_load_check.py pointmaze-medium-navigate-v0 pointmaze-medium-stitch-v0

The point is that files written by `gcttt data generate` are OGBench files: `ogbench.utils.load_dataset`
reads them without help, and the counts match OGBench's (navigate: 1000 episodes x 1001
observations, stitch: 5000 x 201; the val files a tenth of that). Nothing of gcttt is used to read.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import tyro

from gcttt.commands.flags import parse
from gcttt.errors import UsageError, run_main


def episode_shape(path: Path) -> tuple[int, set[int], int]:
    """(episodes, the set of their lengths in observations, transitions) as OGBench's loader sees them."""
    from ogbench.utils import load_dataset

    compact = load_dataset(str(path), compact_dataset=True)
    ends = np.flatnonzero(compact["valids"] == 0)  # the loader marks the last observation of each episode invalid
    lengths = np.diff(np.concatenate([[-1], ends]))
    # The loader's regular form has one (s, a, s') transition per observation but each episode's last.
    return len(ends), set(lengths.tolist()), len(compact["observations"]) - len(ends)


@dataclass(frozen=True)
class LoadCheck:
    """Which files to load."""

    datasets: Annotated[tyro.conf.Positional[tuple[str, ...]], tyro.conf.arg(metavar="DATASET [DATASET ...]")]
    """OGBench dataset names, e.g. pointmaze-medium-navigate-v0."""
    data_dir: str | None = None
    """Where the files are [default: $GCTTT_DATA_DIR, else ~/.ogbench/data]."""


def main(argv: list[str] | None = None) -> int:
    return run_main("ogbench_load_check.py", lambda: check(parse(LoadCheck, argv, "ogbench_load_check.py", __doc__)))


def check(args: LoadCheck) -> int:
    if not args.datasets:  # tyro lets a positional tuple be empty
        raise UsageError("name at least one dataset, e.g. pointmaze-medium-navigate-v0")
    data_dir = Path(args.data_dir or os.environ.get("GCTTT_DATA_DIR") or "~/.ogbench/data").expanduser()
    for name in args.datasets:
        for suffix in ("", "-val"):
            path = data_dir / f"{name}{suffix}.npz"
            if not path.is_file():
                print(f"ogbench_load_check: {path} not found; run `gcttt data generate {name}` first", file=sys.stderr)
                return 1
            episodes, lengths, transitions = episode_shape(path)
            shown = ", ".join(str(n) for n in sorted(lengths))
            print(f"{path.name}: {episodes} episodes x {shown} observations, {transitions} transitions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
