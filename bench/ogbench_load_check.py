"""Load dataset files with OGBench's own loader and print their episode counts and lengths.

    python bench/ogbench_load_check.py pointmaze-medium-navigate-v0 pointmaze-medium-stitch-v0

The point is that files written by `gcttt data generate` are OGBench files: `ogbench.utils.load_dataset`
reads them without help, and the counts match OGBench's (navigate: 1000 episodes x 1001
observations, stitch: 5000 x 201; the val files a tenth of that). Nothing of gcttt is used to read.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np


def episode_shape(path: Path) -> tuple[int, set[int], int]:
    """(episodes, the set of their lengths in observations, transitions) as OGBench's loader sees them."""
    from ogbench.utils import load_dataset

    compact = load_dataset(str(path), compact_dataset=True)
    ends = np.flatnonzero(compact["valids"] == 0)  # the loader marks the last observation of each episode invalid
    lengths = np.diff(np.concatenate([[-1], ends]))
    # The loader's regular form has one (s, a, s') transition per observation but each episode's last.
    return len(ends), set(lengths.tolist()), len(compact["observations"]) - len(ends)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("datasets", nargs="+", help="OGBench dataset names, e.g. pointmaze-medium-navigate-v0")
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("GCTTT_DATA_DIR", str(Path("~/.ogbench/data").expanduser())),
        help="where the files are (default: $GCTTT_DATA_DIR, else ~/.ogbench/data)",
    )
    args = parser.parse_args(argv)
    data_dir = Path(args.data_dir).expanduser()
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
