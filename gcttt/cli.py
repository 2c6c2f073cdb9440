"""The `gcttt` command: data generation, pre-training and evaluation.

Each subcommand lives in its own module under `gcttt.commands` and exposes `add_parser(sub)`
and `run(args)`. Errors meant for the user (`GctttError`) print one line and exit with code 2.
"""

from __future__ import annotations

import argparse
import sys

from gcttt.errors import GctttError


def build_parser() -> argparse.ArgumentParser:
    from gcttt.commands import data, evaluate, expert, pretrain

    parser = argparse.ArgumentParser(
        prog="gcttt",
        description="Goal-conditioned test-time training (GC-TTT) for offline RL on OGBench.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    data.add_parser(sub)
    pretrain.add_parser(sub)
    evaluate.add_parser(sub)
    expert.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except GctttError as exc:
        print(f"gcttt {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"gcttt {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
