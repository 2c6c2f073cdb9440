"""Faults a new user runs into: each ends in a correct result or one line naming the fix, a non-zero
exit and nothing half-written (issue: no lost, duplicated or mislabelled results).

The sweep-level faults that need Ray (Ctrl-C in the last trial, two drivers at once, resume with
another grid) are in test_sweeps.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gcttt.cli import main as gcttt_main
from gcttt.errors import UsageError

REPO = Path(__file__).resolve().parent.parent
MAZE = "pointmaze-medium-navigate-v0"


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def one_line_error(capsys, prefix: str) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith(prefix), err
    assert "\n" not in err and "Traceback" not in err, err
    return err


def sweep_main(argv):
    from sweeps.horizon_sweep import main

    return main(argv)


# --- datasets --------------------------------------------------------------------------------


def test_missing_validation_split_never_overwrites_the_training_file(maze_dir, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(maze_dir / f"{MAZE}.npz", data)
    before = sha(data / f"{MAZE}.npz")
    argv = ["pretrain", "--dataset", MAZE, "--backbone", "gcbc", "--preset", "smoke"]
    code = gcttt_main([*argv, "--data-dir", str(data), "--out", str(tmp_path / "runs")])
    assert code == 2
    err = one_line_error(capsys, "gcttt pretrain: error: ")
    assert f"{MAZE}.npz exists" in err and f"{MAZE}-val.npz does not" in err and "gcttt data generate" in err
    assert sha(data / f"{MAZE}.npz") == before and sorted(p.name for p in data.iterdir()) == [f"{MAZE}.npz"]
    assert not (tmp_path / "runs").exists()
    # A sweep the same: refused before Ray, pre-training or MLflow; the file untouched.
    assert sweep_main(["--preset", "smoke", "--data-dir", str(data), "--out", str(tmp_path / "out")]) == 2
    assert f"{MAZE}-val.npz does not" in one_line_error(capsys, "horizon_sweep.py: error: ")
    assert sha(data / f"{MAZE}.npz") == before and sorted(p.name for p in data.iterdir()) == [f"{MAZE}.npz"]
    assert not (tmp_path / "out" / "checkpoints").exists() and not (tmp_path / "out" / "mlflow.db").exists()


def test_a_lock_left_by_a_killed_driver_does_not_block(tmp_path):
    from sweeps.lock import SweepLock

    code = f"from sweeps.lock import SweepLock; SweepLock({str(tmp_path)!r}, 's').acquire(); print('held', flush=True)"
    holder = subprocess.Popen([sys.executable, "-c", code + "; import time; time.sleep(60)"], cwd=REPO,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(UsageError, match=f"sweep s is already running \\(pid {holder.pid} "):
        SweepLock(tmp_path, "s").acquire()
    holder.kill()  # SIGKILL: no clean-up runs; the lock file stays behind
    holder.wait()
    assert (tmp_path / ".lock").exists()
    SweepLock(tmp_path, "s").acquire().release()


def test_generate_refuses_to_replace_existing_files(maze_dir, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(maze_dir, data)
    before = sha(data / f"{MAZE}.npz")
    assert gcttt_main(["data", "generate", MAZE, "--out", str(data), "--episodes", "2"]) == 2
    err = one_line_error(capsys, "gcttt data: error: ")
    assert "already in" in err and "--overwrite" in err
    assert sha(data / f"{MAZE}.npz") == before


def test_generated_files_say_so_and_data_info_shows_it(maze_dir, capsys):
    from gcttt.data.provenance import dataset_provenance

    prov = dataset_provenance(maze_dir, MAZE)
    assert prov.source == "generated" and prov.details["seed"] == 0 and prov.details["episodes"] == 4
    assert gcttt_main(["data", "info", MAZE, "--data-dir", str(maze_dir)]) == 0
    assert "source: generated (seed 0, gcttt " in capsys.readouterr().out


def test_a_changed_or_unlabelled_file_is_unknown_never_official(maze_dir, tmp_path):
    from gcttt.data.provenance import dataset_provenance, sidecar_path

    data = tmp_path / "data"
    shutil.copytree(maze_dir, data)
    sidecar_path(data, MAZE).unlink()
    assert dataset_provenance(data, MAZE).source == "unknown"
    shutil.copy(maze_dir / f"{MAZE}.provenance.json", data)
    with open(data / f"{MAZE}.npz", "ab") as f:
        f.write(b"\0")  # the file is no longer the one the sidecar describes
    prov = dataset_provenance(data, MAZE)
    assert prov.source == "unknown" and "changed since" in prov.note


@pytest.mark.parametrize("workers", ["0", "-1"])
def test_generate_workers_below_one_are_refused(tmp_path, capsys, workers):
    assert gcttt_main(["data", "generate", MAZE, "--out", str(tmp_path), "--workers", workers]) == 2
    assert "--workers must be at least 1" in one_line_error(capsys, "gcttt data: error: ")
    assert list(tmp_path.iterdir()) == []


# --- checkpoints -----------------------------------------------------------------------------


def test_finished_checkpoint_refuses_another_dataset_file(smoke_run, maze_dir, tmp_path, capsys):
    from gcttt.pretrain import pretrain

    config, _ = smoke_run
    other = tmp_path / "data"
    from gcttt.datagen.generation import generate_dataset

    generate_dataset(MAZE, other, episodes=4, max_episode_steps=101, seed=1, workers=1, progress=False)
    argv = ["pretrain", "--dataset", MAZE, "--backbone", "gciql", "--preset", "smoke"]
    code = gcttt_main([*argv, "--data-dir", str(other), "--out", config.out_dir])
    assert code == 2
    err = one_line_error(capsys, "gcttt pretrain: error: ")
    assert "was pre-trained on a pointmaze-medium-navigate-v0 file with fingerprint" in err
    assert "put the original file back" in err
    # The library call refuses the same way; the original data still works.
    from dataclasses import replace

    from gcttt.errors import CheckpointError

    with pytest.raises(CheckpointError):
        pretrain(replace(config, data_dir=str(other)), progress=False)
    assert pretrain(config, progress=False).seconds == 0.0


def test_sweep_cache_checks_what_sits_in_a_checkpoint_slot(smoke_run, maze_dir, tmp_path):
    from dataclasses import replace

    from gcttt.data.provenance import dataset_provenance
    from gcttt.errors import CheckpointError
    from sweeps.prepare import verify_cached

    config, result = smoke_run
    prov = dataset_provenance(maze_dir, MAZE)
    verify_cached(result.final_checkpoint, replace(config, width=32), prov)  # the right one passes
    with pytest.raises(CheckpointError, match="was pre-trained on pointmaze-medium-navigate-v0, not"):
        verify_cached(result.final_checkpoint, config, replace(prov, dataset="pointmaze-large-navigate-v0"))
    with pytest.raises(CheckpointError, match=r"with fingerprint .* but the file now there has deadbeef"):
        verify_cached(result.final_checkpoint, config, replace(prov, fingerprint="deadbeef"))
    with pytest.raises(CheckpointError, match="holds a gciql of width 32, not the sweep's gcbc of width 32"):
        verify_cached(result.final_checkpoint, replace(config, backbone="gcbc", width=32), prov)
    truncated = tmp_path / "slot" / "final.pt"
    truncated.parent.mkdir()
    truncated.write_bytes(result.final_checkpoint.read_bytes()[:1000])
    with pytest.raises(CheckpointError) as excinfo:
        verify_cached(truncated, config, prov)
    message = str(excinfo.value)
    assert "unreadable checkpoint" in message and f"delete {truncated.parent}" in message
    assert "--resume" not in message and message.count("pre-train") == 1  # the fix, said once


def test_rerunning_a_finished_pretrain_leaves_its_mlflow_run_finished(maze_dir, tmp_path):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    argv = ["pretrain", "--dataset", MAZE, "--backbone", "gcbc", "--preset", "smoke", "--steps", "20"]
    argv += ["--eval-every", "0", "--eval-episodes", "1", "--data-dir", str(maze_dir), "--out", str(tmp_path / "runs")]
    assert gcttt_main([*argv, "--mlflow-uri", uri]) == 0
    client = MlflowClient(tracking_uri=uri)
    (experiment,) = [e for e in client.search_experiments() if e.name == "gcttt-pretrain"]
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert gcttt_main([*argv, "--mlflow-uri", uri]) == 0
    (again,) = client.search_runs([experiment.experiment_id])
    assert again.info.run_id == run.info.run_id and again.info.status == "FINISHED"


def test_results_and_checkpoints_are_readable_by_others(smoke_checkpoint, tmp_path):
    from analysis.synthetic import record
    from gcttt.results.records import write_records

    old = os.umask(0o022)
    try:
        path = write_records(tmp_path / "rows", [record()])
        from gcttt.files.checkpoint import read_checkpoint, save_checkpoint

        save_checkpoint(
            tmp_path / "c.pt", {k: v for k, v in read_checkpoint(smoke_checkpoint).items() if k != "format"}
        )
    finally:
        os.umask(old)
    for p in (path, tmp_path / "c.pt"):
        assert stat.S_IMODE(p.stat().st_mode) == 0o644, p


# --- zero and bad values ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--steps", "0"), ("--lr", "0"), ("--width", "0"), ("--batch-size", "0"), ("--checkpoint-steps", "0")],
)
def test_zero_is_refused_not_replaced_by_the_preset(maze_dir, tmp_path, capsys, flag, value):
    argv = ["pretrain", "--dataset", MAZE, "--backbone", "gcbc", "--preset", "smoke", flag, value]
    assert gcttt_main([*argv, "--data-dir", str(maze_dir), "--out", str(tmp_path / "runs")]) == 2
    assert flag in one_line_error(capsys, "gcttt pretrain: error: ")
    assert not (tmp_path / "runs").exists()


def test_unknown_device_is_refused(smoke_checkpoint, maze_dir, tmp_path, capsys):
    argv = ["evaluate", "--checkpoint", str(smoke_checkpoint), "--data-dir", str(maze_dir), "--device", "tpu"]
    assert gcttt_main([*argv, "--out", str(tmp_path / "x")]) == 2
    assert "'tpu' is not a device" in one_line_error(capsys, "gcttt evaluate: error: ")


@pytest.mark.parametrize("command", ["pretrain", "generate", "sweep"])
def test_outputs_under_a_regular_file_are_refused_before_any_work(maze_dir, tmp_path, capsys, command):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    under = str(blocker / "sub")
    if command == "pretrain":
        argv = ["pretrain", "--dataset", MAZE, "--backbone", "gcbc", "--preset", "smoke", "--out", under]
        assert gcttt_main([*argv, "--data-dir", str(maze_dir)]) == 2
        err = one_line_error(capsys, "gcttt pretrain: error: ")
    elif command == "generate":
        assert gcttt_main(["data", "generate", MAZE, "--out", under]) == 2
        err = one_line_error(capsys, "gcttt data: error: ")
    else:
        assert sweep_main(["--preset", "smoke", "--out", under]) == 2
        err = one_line_error(capsys, "horizon_sweep.py: error: ")
    assert "lies under the file" in err
    assert blocker.read_text() == "x"


@pytest.mark.parametrize(
    ("values", "needle"),
    [
        ({"seeds": "zero"}, "Error parsing --seeds"),
        ({"K": ["x"]}, "Error parsing --K"),
        ({"lr": ["fast"]}, "Error parsing --lr"),
        ({"episodes-per-task": [1, 2]}, "Unrecognized options: 2"),
        ([1, 2], "expected a JSON object of flag values, got a list"),
        ({"nonsense": 1}, "Unrecognized options: --nonsense"),
        ({"tasks": {"a": 1}}, "'tasks' takes a value or a list, not an object"),
    ],
)
def test_config_files_of_the_wrong_shape_are_one_line_errors(tmp_path, capsys, values, needle):
    config = tmp_path / "c.json"
    config.write_text(json.dumps(values))
    assert sweep_main(["--config", str(config), "--out", str(tmp_path / "out")]) == 2
    assert needle in one_line_error(capsys, "horizon_sweep.py: error: --config ")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--episodes-per-task", "0"], "--episodes-per-task must be at least 1 (got 0)"),
        (["--pretrain-device", "cuda"], "no CUDA GPU; use --pretrain-device cpu or auto"),
        (["--K", "0"], "K (re-plan horizon) must be at least 1 (got 0)"),
        (["--pretrain-device", "tpu"], "'tpu' is not a device"),
        (["--mlflow-uri", "http://127.0.0.1:9"], "did not answer within"),
        (["--top-k", "0"], "--top-k must be at least 1"),
        (["--distance-discount", "1.5"], "distance discount must lie in (0, 1)"),
    ],
)
def test_sweep_input_refused_before_anything_starts(tmp_path, capsys, argv, needle):
    if "cuda" in argv and __import__("torch").cuda.is_available():
        pytest.skip("this machine has a GPU")
    started = time.monotonic()
    assert sweep_main([*argv, "--preset", "smoke", "--out", str(tmp_path / "out")]) == 2
    assert needle in one_line_error(capsys, "horizon_sweep.py: error: ")
    assert time.monotonic() - started < 20
    assert not (tmp_path / "out").exists()


def test_sqlite_database_under_a_file_is_refused(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    uri = f"sqlite:///{blocker / 'mlflow.db'}"
    assert sweep_main(["--preset", "smoke", "--mlflow-uri", uri, "--out", str(tmp_path / "out")]) == 2
    assert "MLflow database folder" in one_line_error(capsys, "horizon_sweep.py: error: ")


def test_nan_data_found_by_a_sweep_is_one_line_before_any_training(maze_dir, tmp_path, capsys):
    from gcttt.data.files import read_dataset_file, write_dataset_file
    from gcttt.data.provenance import write_sidecar

    data = tmp_path / "data"
    shutil.copytree(maze_dir, data)
    train = read_dataset_file(data / f"{MAZE}.npz")
    observations = train.observations.copy()
    observations[5] = np.nan
    write_dataset_file(data / f"{MAZE}.npz", type(train)(observations, train.actions, train.terminals))
    write_sidecar(data, MAZE, "generated", seed=0)
    code = sweep_main(["--preset", "smoke", "--data-dir", str(data), "--out", str(tmp_path / "out"), "--name", "n"])
    assert code == 2
    err = one_line_error(capsys, "horizon_sweep.py: error: ")
    assert "'observations' has non-finite values in 1 rows" in err and "Ray" not in err
    assert f"gcttt data generate {MAZE} --out {data} --overwrite" in err  # a fix that works as written
    assert not (tmp_path / "out" / "checkpoints").exists() and not (tmp_path / "out" / "mlflow.db").exists()


# --- help text -------------------------------------------------------------------------------


def _leaf_fields(cls, default):
    """(flag, default) of every flag a configuration dataclass gives, nested groups flattened."""
    import dataclasses
    import typing

    hints = typing.get_type_hints(cls, include_extras=True)
    for f in dataclasses.fields(cls):
        value = getattr(default, f.name) if default is not None else f.default
        tp = hints[f.name]
        base = typing.get_args(tp)[0] if typing.get_origin(tp) is typing.Annotated else tp
        if dataclasses.is_dataclass(base) and isinstance(base, type):
            if value is dataclasses.MISSING:
                value = None if f.default_factory is dataclasses.MISSING else f.default_factory()
            yield from _leaf_fields(type(value) if value is not None else base, value)
            continue
        if value is dataclasses.MISSING and f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
        name = f.name
        for meta in typing.get_args(tp)[1:] if typing.get_origin(tp) is typing.Annotated else ():
            name = getattr(meta, "name", None) or name
        if "Suppress" in repr(tp) or "Positional" in repr(tp):
            continue
        yield "--" + name.replace("_", "-"), value


def _shown(value) -> str:
    if isinstance(value, tuple):
        return " ".join(str(v) for v in value)
    return str(value)


ENTRY_POINTS = [
    ("gcttt.commands.data", "DataGenerate", ["data", "generate"]),
    ("gcttt.commands.data", "DataInfo", ["data", "info"]),
    ("gcttt.commands.pretrain", "PretrainCommand", ["pretrain"]),
    ("gcttt.commands.evaluate", "EvaluateCommand", ["evaluate"]),
    ("gcttt.commands.expert", "ExpertTrain", ["expert", "train"]),
    ("gcttt.commands.expert", "ExpertCheck", ["expert", "check"]),
    ("gcttt.commands.results", "ResultsPublish", ["results", "publish"]),
    ("sweeps.horizon_sweep", "HorizonSweep", None),
    ("sweeps.compute_sweep", "ComputeSweep", None),
    ("sweeps.reproduce", "ReproduceConfig", None),
]


@pytest.mark.parametrize(("module", "cls", "argv"), ENTRY_POINTS, ids=[e[1] for e in ENTRY_POINTS])
def test_help_shows_each_flag_with_its_dataclass_default(module, cls, argv, capsys, monkeypatch):
    """`--help` is derived from the configuration dataclasses: every field is a flag, shown once, with
    the field's own default (a default changed in the dataclass changes the help, and nothing else
    can)."""
    import dataclasses
    import importlib

    monkeypatch.setenv("COLUMNS", "100")  # one column of groups (a wide console puts them side by side)
    config_class = getattr(importlib.import_module(module), cls)
    with pytest.raises(SystemExit) as excinfo:
        if argv is None:
            importlib.import_module(module).main(["--help"])
        else:
            gcttt_main([*argv, "--help"])
    assert excinfo.value.code == 0
    raw = capsys.readouterr().out.splitlines()
    options = next(i for i, line in enumerate(raw) if "-h, --help" in line)  # after the description
    lines = [line.strip(" │╭╮╰╯─|+-").strip() for line in raw[options:]]
    flags = list(_leaf_fields(config_class, None))
    assert flags
    for flag, default in flags:
        # The option's own entry: a line that starts with the flag (or "-v, --verbose").
        starts = [i for i, line in enumerate(lines) if line.startswith((flag[2:] + " ", flag[2:] + ",", f"v, {flag}"))]
        assert starts, f"{flag} missing from the help"
        rest = " ".join(" ".join(lines[starts[0] :]).split())
        ends = {m: rest.find(m) for m in ("(default: ", "(required)", "(repeatable)") if m in rest}
        first = min(ends, key=ends.get)
        if default is dataclasses.MISSING:
            assert first == "(required)", f"{flag} is required but its help says {first}"
            continue
        if first == "(default: ":
            shown = rest[ends[first] + len(first) :].split(")", 1)[0]
            assert shown.strip("'") == _shown(default), f"{flag}: help says {shown!r}, the dataclass {default!r}"


def test_help_shows_a_field_docstring_whole_as_tyro_formats_it(capsys, monkeypatch):
    """tyro formats the help (no private function of it is replaced): a field docstring's words all reach
    the help, in order, however its source lines break."""
    import inspect

    import docstring_parser

    from gcttt.commands.evaluate import EvaluateCommand

    monkeypatch.setenv("COLUMNS", "1000")  # nothing wrapped by the console: lines are the help's own
    with pytest.raises(SystemExit):
        gcttt_main(["evaluate", "--help"])
    lines = (line.strip(" │|") for line in capsys.readouterr().out.splitlines())
    shown = " ".join(" ".join(lines).split())
    fields = docstring_parser.parse_from_object(EvaluateCommand).params
    doc = next(f.description for f in fields if f.arg_name == "video")
    assert "\n" in doc  # a docstring over several source lines
    assert " ".join(inspect.cleandoc(doc).split()) in shown
