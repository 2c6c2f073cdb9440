"""The `gcttt` command: data generation, pre-training, evaluation, the expert and the results store.

Each command module under `gcttt.commands` declares its actions as configuration dataclasses with a
handler (`ACTIONS`: action name -> (dataclass, handler, one line); None for a command without
actions); the flags, their help and `--config FILE` come from the dataclasses
(`gcttt.commands.flags.parse`). Errors meant for the user (`GctttError`) print one line and exit
with code 2 (`gcttt.errors.run_main`).
"""

from __future__ import annotations

import importlib
import inspect
import sys

from gcttt.errors import run_main

COMMANDS = {
    "data": "generate or inspect OGBench datasets",
    "pretrain": "pre-train a backbone (gcbc, gciql, saw) on a dataset",
    "evaluate": "evaluate a checkpoint on a task suite (baseline or GC-TTT)",
    "expert": "train or check the locomotion expert used to generate antmaze data",
    "results": "publish sweep rows into the results store (results/), list it",
}
DESCRIPTION = "Goal-conditioned test-time training (GC-TTT) for offline RL on OGBench."


def _usage(prog: str, choices: dict[str, str], what: str) -> str:
    lines = [f"usage: {prog} {what.upper()} ...", "", DESCRIPTION if prog == "gcttt" else "", "", f"{what}s:"]
    lines += [f"  {name:<10} {summary}" for name, summary in choices.items()]
    lines += ["", f"`{prog} {what.upper()} --help` for its flags."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from gcttt.commands.flags import parse

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage("gcttt", COMMANDS, "command"))
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    prog = f"gcttt {command}"
    if command not in COMMANDS:
        print(f"gcttt: error: unknown command {command!r}; choose one of {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    actions = importlib.import_module(f"gcttt.commands.{command}").ACTIONS
    if None in actions:
        cls, handler, _ = actions[None]
        title = prog
    else:
        if not rest or rest[0] in ("-h", "--help"):
            print(_usage(prog, {name: line for name, (_, _, line) in actions.items()}, "action"))
            return 0 if rest else 2
        if rest[0] not in actions:
            print(f"{prog}: error: unknown action {rest[0]!r}; choose one of {', '.join(actions)}", file=sys.stderr)
            return 2
        cls, handler, _ = actions[rest[0]]
        title, rest = f"{prog} {rest[0]}", rest[1:]

    return run_main(prog, lambda: handler(parse(cls, rest, title, inspect.cleandoc(cls.__doc__ or ""))))


if __name__ == "__main__":
    sys.exit(main())
