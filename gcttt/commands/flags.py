"""Command lines derived from configuration dataclasses (tyro), for every entry point.

A dataclass's fields are its flags: the type gives the parsing, the default the default, the
docstring under the field the `--help` text, formatted by tyro (a docstring's source lines stay
lines of the help, so a long docstring reads best broken where a phrase ends); nested dataclasses
are flag groups, flat on the command line (``--seeds``, not ``--what.seeds``). `parse` adds what
every entry point wants: ``--config FILE`` (a JSON object of flag values that explicit flags
override) and errors as one line (`UsageError`: `PROG: error: ...`, exit status 2) rather than
tyro's framed message.
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, TypeVar

import tyro

from gcttt.errors import UsageError

C = TypeVar("C")


def parse(cls: type[C], argv: list[str] | None, prog: str, description: str, default: C | None = None) -> C:
    """The configuration from the command line: flat flags derived from `cls` by tyro; ``--config
    FILE`` gives values that explicit flags override. A bad value raises `UsageError` with one line
    (tyro's message, without its frame); ``--help`` prints and exits as usual."""
    argv = list(sys.argv[1:] if argv is None else argv)
    from_file, path = _config_file_args(argv)
    if from_file:
        try:
            _tyro(cls, from_file, prog, description, default)
        except UsageError as exc:
            raise UsageError(f"--config {path}: {exc}") from None
    return _tyro(cls, from_file + argv, prog, description, default)


def _tyro(cls, argv: list[str], prog: str, description: str, default):
    stderr, columns = sys.stderr, os.environ.get("COLUMNS")
    sys.stderr = captured = io.StringIO()
    if not {"-h", "--help"} & set(argv):
        os.environ["COLUMNS"] = "1000"  # one message line, not wrapped by the console's width
    try:
        return tyro.cli(
            cls, args=argv, prog=prog, description=description, default=default, config=(tyro.conf.OmitArgPrefixes,)
        )
    except SystemExit as exc:
        if exc.code in (0, None):
            stderr.write(captured.getvalue())
            raise
        raise UsageError(_one_line(captured.getvalue(), prog)) from None
    finally:
        sys.stderr = stderr
        if columns is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = columns


def _one_line(message: str, prog: str) -> str:
    """The first line of tyro's framed error under its title, e.g. "Error parsing --K: ... ['abc']"
    (the frame is unicode, ASCII or blank depending on the console; colours are dropped)."""
    message = re.sub(r"\x1b\[[0-9;]*m", "", message)
    lines = [line.strip().strip("│|╭╮╰╯─+- ").strip() for line in message.splitlines()]
    lines = [line for line in lines if line and not line.startswith(("usage:", "For full helptext"))]
    if len(lines) >= 2 and lines[1].startswith("Missing from"):  # required flags, listed one per line below
        return f"missing {', '.join(_missing(message))} (see {prog} --help)"
    if len(lines) >= 2:  # lines[0] is the frame's title ("Value error", "Unrecognized options", ...)
        return f"{lines[1]} (see {prog} --help)"
    return f"{lines[0] if lines else 'bad arguments'} (see {prog} --help)"


def _missing(message: str) -> list[str]:
    """The names under tyro's "Missing from PROG:": the lines indented one step (4 spaces) deeper than it;
    each name's help lies a step deeper still."""
    rows = [re.sub(r"^[│|]", "", line.rstrip().rstrip("│|").rstrip()) for line in message.splitlines()]
    header = next(row for row in rows if row.strip().startswith("Missing from"))
    step = len(header) - len(header.lstrip()) + 4
    names = []
    for row in rows[rows.index(header) + 1 :]:
        indent = len(row) - len(row.lstrip())
        if row.strip() and indent < step:
            break
        if row.strip() and indent == step:
            names.append(row.split()[0])
    return names


def _config_file_args(argv: list[str]) -> tuple[list[str], str]:
    """``--config FILE`` (a JSON object whose keys are the long flags) as flags, removed from
    `argv`; tyro parses and checks them like typed ones."""
    if "--config" not in argv:
        return [], ""
    at = argv.index("--config")
    if at + 1 >= len(argv):
        raise UsageError('--config needs a file: a JSON object of flag values, e.g. {"seeds": [0, 1]}')
    path = argv[at + 1]
    del argv[at : at + 2]
    try:
        values = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"--config {path}: cannot read it as JSON ({str(exc).splitlines()[0]})") from None
    if not isinstance(values, dict):
        raise UsageError(f"--config {path}: expected a JSON object of flag values, got a {type(values).__name__}")
    out: list[str] = []
    for key, value in values.items():
        out += _flag_tokens(path, key, "--" + key.lstrip("-").replace("_", "-"), value)
    return out, path


def _flag_tokens(path: str, key: str, flag: str, value: Any) -> list[str]:
    if isinstance(value, bool):
        return [flag] if value else ["--no-" + flag[2:]]
    if isinstance(value, dict):
        raise UsageError(f"--config {path}: {key!r} takes a value or a list, not an object")
    if isinstance(value, list):
        return [flag, *(str(v) for v in value)]
    return [flag, "None" if value is None else str(value)]
