"""Command-line flags derived from config dataclasses, so `--help` cannot drift from the code.

Each flag's help text is the field's docstring (the string literal under the field, the house
style of every config here) followed by its default, both read from the dataclass itself:

    add_dataclass_arguments(parser, PretrainConfig, exclude={"out_dir"})
    config = PretrainConfig(**dataclass_values(args, PretrainConfig, exclude={"out_dir"}))

Types understood: int, float, str, bool (``--flag / --no-flag``), Literal[...] (choices),
tuple[int, ...] / tuple[float, ...] (several values), and ``X | None`` of those (default None).
"""

from __future__ import annotations

import argparse
import ast
import functools
import inspect
import itertools
import textwrap
import types
import typing
from collections.abc import Iterable
from dataclasses import MISSING, fields
from typing import Any


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """Field name -> docstring (the string literal right after the field), one line each."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        tree = ast.parse(source)
        body = next((n.body for n in tree.body if isinstance(n, ast.ClassDef)), [])
        for node, following in itertools.pairwise(body):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                docs[node.target.id] = " ".join(following.value.value.split())
    return docs


def flag_name(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def _unwrap(tp: Any) -> tuple[Any, bool]:
    """(inner type, optional?) of `X | None`."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def _default(f) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return MISSING


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return " ".join(map(str, value)) or "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def add_dataclass_arguments(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    cls: type,
    *,
    only: Iterable[str] | None = None,
    exclude: Iterable[str] = (),
    defaults: dict[str, Any] | None = None,
    none_means: dict[str, str] | None = None,
    flags: dict[str, str] | None = None,
) -> None:
    """One flag per field of `cls` (restricted to `only`, minus `exclude`).

    `defaults` replaces a field's default for this command; `none_means` says in words what a
    None default stands for (e.g. "the preset's"), shown in the help; `flags` renames flags
    (e.g. {"out_dir": "--out"}).
    """
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    wanted = set(only) if only is not None else None
    defaults, none_means, flags = defaults or {}, none_means or {}, flags or {}
    for f in fields(cls):
        if (wanted is not None and f.name not in wanted) or f.name in exclude:
            continue
        tp, optional = _unwrap(hints[f.name])
        default = defaults.get(f.name, _default(f))
        required = default is MISSING
        help_text = docs.get(f.name, "")
        if not required and "(default:" not in help_text:
            shown = none_means.get(f.name, "none") if default is None else _show(default)
            help_text = f"{help_text} (default: {shown})"
        kwargs: dict[str, Any] = {"help": help_text.replace("%", "%%"), "dest": f.name}
        if not required:
            kwargs["default"] = default
        else:
            kwargs["required"] = True
        origin = typing.get_origin(tp)
        if tp is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif origin is typing.Literal:
            kwargs["choices"] = list(typing.get_args(tp))
        elif origin is tuple:
            kwargs["type"] = typing.get_args(tp)[0]
            kwargs["nargs"] = "*"
        elif tp in (int, float, str):
            kwargs["type"] = tp
            if optional:
                kwargs["metavar"] = tp.__name__.upper()
        else:
            raise TypeError(f"{cls.__name__}.{f.name}: no flag for type {tp}")
        parser.add_argument(flags.get(f.name, flag_name(f.name)), **kwargs)


def dataclass_values(
    args: argparse.Namespace, cls: type, *, only: Iterable[str] | None = None, exclude: Iterable[str] = ()
) -> dict[str, Any]:
    """The parsed values of the fields `add_dataclass_arguments` added, ready for `cls(**values)`."""
    hints = typing.get_type_hints(cls)
    wanted = set(only) if only is not None else None
    out = {}
    for f in fields(cls):
        if (wanted is not None and f.name not in wanted) or f.name in exclude:
            continue
        value = getattr(args, f.name)
        tp, _ = _unwrap(hints[f.name])
        if typing.get_origin(tp) is tuple and value is not None:
            value = tuple(value)
        out[f.name] = value
    return out
