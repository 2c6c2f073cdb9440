"""Command-line names of configuration fields, without making the library depend on tyro.

A configuration dataclass names a field's flag where the field is declared,
``horizon: Annotated[int, flag("K")]``, so the library, the command lines and the sweeps all
agree on it. The command-line layer (gcttt/commands/, sweeps/) parses with tyro, which reads that
marker; the library itself must import where tyro is not installed (the GPU image has none:
bench/gpu_check.py runs there with the image's packages only). So `flag` gives tyro's own marker
when tyro is importable and an inert `FlagName` otherwise, which nothing but a command line reads.

Every module that uses it has ``from __future__ import annotations``: the marker is built only
when something resolves the type hints (tyro, `typing.get_type_hints`), never at import.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FlagName:
    """A field's flag name where tyro is not installed (no command line can be built there)."""

    name: str


def flag(name: str) -> object:
    """The marker that gives a configuration field the flag ``--NAME``."""
    try:
        import tyro
    except ModuleNotFoundError as exc:
        if exc.name != "tyro":  # tyro is there but broken: a command line must not lose its flag names
            raise
        return FlagName(name)
    return tyro.conf.arg(name=name)
