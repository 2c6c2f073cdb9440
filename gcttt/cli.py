"""The `gcttt` command: data generation, pre-training, evaluation and the results store.

Each subcommand lives in its own module under `gcttt.commands` and registers its parser and
handler in `add_parser(sub)`. Errors meant for the user (`GctttError`) print one line and exit
with code 2 (`gcttt.errors.run_main`).
"""

from __future__ import annotations

import argparse
import sys

from gcttt.errors import run_main


def build_parser() -> argparse.ArgumentParser:
    from gcttt.commands import data, evaluate, expert, pretrain, results

    parser = argparse.ArgumentParser(
        prog="gcttt",
        description="Goal-conditioned test-time training (GC-TTT) for offline RL on OGBench.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    data.add_parser(sub)
    pretrain.add_parser(sub)
    evaluate.add_parser(sub)
    expert.add_parser(sub)
    results.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return run_main(f"gcttt {args.command}", lambda: args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
