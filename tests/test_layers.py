"""Layers that only point down: gcttt <- tracking <- sweeps/workers, analysis, and inside gcttt
from errors up to the command line (`LIBRARY_LAYERS`); no circles.

Import-time purity of the library is tested in test_architecture.py; here every import statement
counts, also those inside functions (run-time imports), and one real run-time path is followed:
`gcttt pretrain --mlflow-uri`, which must reach MLflow through the plugin without loading the
sweeps, the workers or Ray.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LAYERS = {
    "gcttt": set(),
    "tracking": {"gcttt"},
    "workers": {"gcttt", "tracking"},
    "sweeps": {"gcttt", "tracking", "workers"},
    "analysis": {"gcttt", "tracking"},
}
"""Which of the project's top-level packages each may import (at any depth, at any time)."""


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import in a file, function-level ones included."""
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def test_every_import_points_down_a_layer():
    wrong = []
    for package, allowed in LAYERS.items():
        for path in sorted((REPO / package).rglob("*.py")):
            for line, module in _imports(path):
                top = module.split(".")[0]
                if top in LAYERS and top != package and top not in allowed:
                    wrong.append(f"{path.relative_to(REPO)}:{line} imports {module}")
    assert not wrong, "\n".join(wrong)


LIBRARY_LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "seeding", "flagnames"),
    ("envs",),
    ("files",),
    ("data", "tracking_uri"),
    ("agents",),
    ("selection", "presets"),
    ("results",),
    ("control", "figures"),
    ("datagen",),
    ("pretrain",),
    ("commands",),
    ("cli",),
)
"""The library's rooms (gcttt's subpackages and top-level modules) from the ground up: a room may
import only rooms of lower layers. Data generation (`gcttt.datagen`: the collectors and the ant
expert, which drive agents and play episodes) stands above the core, which only reads datasets."""


def _library_room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_inside_the_library_every_import_points_down_a_layer():
    layer = {room: i for i, rooms in enumerate(LIBRARY_LAYERS) for room in rooms}
    library = REPO / "gcttt"
    rooms = {p.stem if p.is_file() else p.name for p in library.iterdir() if not p.name.startswith(("_", "."))}
    rooms = {r for r in rooms if (library / r).is_dir() or (library / f"{r}.py").is_file()}
    assert rooms == set(layer), f"rooms without a layer (add them to LIBRARY_LAYERS): {sorted(rooms - set(layer))}"
    wrong = []
    for path in sorted(library.rglob("*.py")):
        relative = path.relative_to(library)
        own = relative.parts[0].removesuffix(".py")
        if own == "__init__":
            continue
        for line, module in _imports(path):
            if not module.startswith("gcttt."):
                continue
            target = _library_room(module)
            if target != own and layer[target] >= layer[own]:
                wrong.append(f"gcttt/{relative}:{line} imports {module} ({own} may not import {target})")
    assert not wrong, "\n".join(wrong)


def test_the_library_names_no_app_layer_package_even_in_functions():
    banned = {"ray", "mlflow"}
    wrong = [
        f"{path.relative_to(REPO)}:{line} imports {module}"
        for path in sorted((REPO / "gcttt").rglob("*.py"))
        for line, module in _imports(path)
        if module.split(".")[0] in banned
    ]
    assert not wrong, "\n".join(wrong)


def test_the_selection_modules_form_no_import_circle():
    folder = REPO / "gcttt" / "selection"
    graph = {
        p.stem: {m.split(".")[2] for _, m in _imports(p) if m.startswith("gcttt.selection.")}
        for p in folder.glob("*.py")
        if p.stem != "__init__"
    }

    def visit(node: str, path: tuple[str, ...]) -> None:
        assert node not in path, f"import circle: {' -> '.join((*path, node))}"
        for nxt in graph.get(node, ()):
            visit(nxt, (*path, node))

    for start in graph:
        visit(start, ())


def test_pretrain_with_mlflow_loads_neither_sweeps_nor_workers_nor_ray(tmp_path, maze_dir):
    """The run-time path of `gcttt pretrain --mlflow-uri`: the sink comes from the `tracking` plugin."""
    script = f"""
import sys, importlib.abc
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("ray", "sweeps", "workers", "analysis"):
            raise ImportError(f"gcttt pretrain loaded {{name}} at run time")
        return None
sys.meta_path.insert(0, Refuse())
from gcttt.cli import main
code = main(["pretrain", "--dataset", "pointmaze-medium-navigate-v0", "--backbone", "gcbc", "--preset", "smoke",
             "--steps", "3", "--eval-every", "0", "--eval-episodes", "1", "--save-every", "3",
             "--data-dir", {str(maze_dir)!r}, "--out", {str(tmp_path / "runs")!r},
             "--mlflow-uri", "sqlite:///{tmp_path / "mlflow.db"}", "--threads", "1"])
assert "mlflow" in sys.modules and "tracking" in sys.modules, "the MLflow sink was not used"
print("rc", code)
"""
    run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "rc 0" in run.stdout, run.stdout[-2000:] + run.stderr[-2000:]


# --- one place per knob ----------------------------------------------------------------------------


def test_every_selection_knob_is_derived_from_its_one_field(capsys):
    """`SelectionKnobs` declares each knob once; the record columns, both command lines, arm names and
    the read-back of a record all follow it (a new knob adds its field, the record's column and its
    line in docs/results_schema.md: the results schema is a file format, kept explicit)."""
    import pytest

    from gcttt.cli import main as gcttt_main
    from gcttt.control.ttt import TTTConfig, ttt_columns, ttt_from_columns
    from gcttt.results.records import RECORD_COLUMNS
    from gcttt.results.summary import CONFIG_COLUMNS
    from gcttt.selection import KNOBS, SelectionConfig, SelectionKnobs, knob_columns, knobs_from_columns
    from sweeps.arms import Arm
    from sweeps.horizon_sweep import main as sweep_main

    assert tuple(f for f in SelectionKnobs.__dataclass_fields__) == KNOBS
    assert set(KNOBS) <= set(RECORD_COLUMNS) and set(KNOBS) <= set(CONFIG_COLUMNS)
    with pytest.raises(SystemExit):
        sweep_main(["--help"])
    sweep_help = capsys.readouterr().out
    with pytest.raises(SystemExit):
        gcttt_main(["evaluate", "--help"])
    evaluate_help = capsys.readouterr().out
    for knob in KNOBS:
        flag = "--" + knob.replace("_", "-")
        assert flag in evaluate_help, flag
        assert flag in sweep_help, flag  # q: the horizon sweep's grid axis, every other knob sweep-wide
        # A knob away from its default shows in the name of an arm whose strategy reads it, and
        # comes back from the record's columns.
        strategy = next(s for s in ("critic", "critic-quantile", "critic-free", "random") if knob in
                        SelectionConfig(strategy=s).reads)  # fmt: skip
        default = getattr(SelectionKnobs(), knob)
        if isinstance(default, bool):
            value = not default
        else:
            value = 0.5 if knob == "q" else 0.995 if knob == "distance_discount" else default * 2
        selection = SelectionConfig(strategy=strategy, **{knob: value})
        assert knob_columns(selection)[knob] == value
        assert knobs_from_columns(strategy, knob_columns(selection)) == selection.canonical()
        ttt = TTTConfig(horizon=100, steps=5, selection=selection, finetune="all")
        assert ttt_from_columns(ttt_columns(ttt)).selection == selection.canonical()
        assert f"{knob}{value:g}" in Arm(0, 32, ttt).name
