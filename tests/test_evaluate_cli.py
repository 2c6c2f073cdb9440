"""`gcttt evaluate` end to end on the smoke checkpoint, and its refusal of bad knobs."""

from __future__ import annotations

import pytest

from gcttt.cli import main
from gcttt.results.records import SCHEMA, read_results

MAZE = "pointmaze-medium-navigate-v0"


def evaluate(checkpoint, maze_dir, *extra: str) -> int:
    argv = ["evaluate", "--checkpoint", str(checkpoint), "--data-dir", str(maze_dir), "--device", "cpu", *extra]
    return main(argv)


def test_baseline_writes_one_row_per_episode_and_prints_per_task_success(smoke_checkpoint, maze_dir, tmp_path, capsys):
    out = tmp_path / "baseline"
    code = evaluate(
        smoke_checkpoint, maze_dir, "--method", "baseline", "--episodes-per-task", "1", "--task-ids", "1", "2",
        "--out", str(out),
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "task 1 (" in printed and "task 2 (" in printed and "overall" in printed
    rows = read_results(out)
    assert list(rows.columns) == SCHEMA.names
    assert (rows["task_suite"] == "ogbench").all() and (rows["dataset_source"] == "generated").all()
    assert len(rows) == 2
    assert rows["task_id"].tolist() == [1, 2] and rows["episode_index"].tolist() == [0, 0]
    assert (rows["method"] == "baseline").all() and (rows["dataset"] == MAZE).all()
    assert (rows["backbone"] == "gciql").all() and (rows["checkpoint_step"] == 200).all()
    assert (rows["episode_steps"] > 0).all() and (rows["episode_steps"] <= 1000).all()
    assert (rows["updates"] == 0).all() and (rows["flops_finetune"] == 0).all()
    assert (rows["flops_total"] == rows["flops_act"]).all() and (rows["flops_act"] > 0).all()
    assert rows["seed"].nunique() == 2  # each episode its own seed
    for task, pair, success in zip(rows["task_id"], rows["task_pair"], rows["success"], strict=True):
        assert f"task {task} ({pair}): success {float(success):.2f}" in printed


def test_gcttt_episode_records_its_test_time_work(smoke_checkpoint, maze_dir, tmp_path, capsys):
    out = tmp_path / "gcttt"
    code = evaluate(
        smoke_checkpoint, maze_dir, "--method", "gcttt", "--K", "400", "--N", "2", "--eps", "100",
        "--episodes-per-task", "1", "--task-ids", "1", "--out", str(out),
    )  # fmt: skip
    assert code == 0
    assert "gcttt/critic receding K=400 N=2" in capsys.readouterr().out
    (row,) = read_results(out).to_dict("records")
    assert row["schedule"] == "receding" and row["top_k"] == 10 and row["min_steps"] == 10
    assert row["distance_discount"] == 0.99 and row["finetune_batch"] == 64  # the smoke preset's batch
    assert row["method"] == "gcttt" and row["selection"] == "critic"
    assert (row["horizon"], row["grad_steps"], row["eps"]) == (400, 2, 100.0)
    expected_replans = -(-row["episode_steps"] // 400)
    assert row["replans"] == expected_replans == len(row["selected_per_replan"])
    assert row["updates"] == 2 * sum(1 for n in row["selected_per_replan"] if n > 0)
    assert row["flops_total"] == row["flops_act"] + row["flops_selection"] + row["flops_finetune"]
    # eps 100 makes every dataset state relevant: every re-plan selects and fine-tunes.
    assert all(n > 0 for n in row["selected_per_replan"]) and row["updates"] == 2 * row["replans"]
    assert row["value_evaluations"] > 0 and row["flops_selection"] > 0 and row["flops_finetune"] > 0
    assert row["finetune_seconds"] > 0


@pytest.mark.parametrize(
    ("flag", "value", "needle"),
    [
        ("--K", "0", "K (re-plan horizon) must be at least 1"),
        ("--N", "-1", "N (gradient steps) must be 0 or more"),
        ("--lr", "0", "lr must be positive"),
        ("--q", "1.5", "q must lie in (0, 1]"),
        ("--eps", "0", "eps must be positive"),
        ("--episodes-per-task", "0", "--episodes-per-task"),
        ("--task-ids", "6", "task 6 is not in suite ogbench"),
        ("--K", "1001", "exceeds the episode limit"),
        ("--finetune-batch", "0", "fine-tuning batch size"),
        ("--distance-discount", "1.5", "distance discount must lie in (0, 1)"),
    ],
)
def test_invalid_knobs_exit_nonzero_with_one_line_and_write_nothing(
    flag, value, needle, smoke_checkpoint, maze_dir, tmp_path, capsys
):
    before = sorted(p.name for p in smoke_checkpoint.parent.iterdir())
    out = tmp_path / "never"
    code = evaluate(smoke_checkpoint, maze_dir, flag, value, "--out", str(out))
    assert code == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert "\n" not in err and err.startswith("gcttt evaluate: error: ")
    assert needle in err
    assert not out.exists() and list(tmp_path.iterdir()) == []
    assert sorted(p.name for p in smoke_checkpoint.parent.iterdir()) == before
    assert captured.out == ""


def test_missing_checkpoint_is_a_one_line_error(maze_dir, tmp_path, capsys):
    code = evaluate(tmp_path / "nope.pt", maze_dir, "--method", "baseline", "--out", str(tmp_path / "x"))
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no such checkpoint file" in err
    assert list(tmp_path.iterdir()) == []


def test_a_checkpoint_directory_names_the_file_to_give(smoke_checkpoint, maze_dir, tmp_path, capsys):
    code = evaluate(smoke_checkpoint.parent, maze_dir, "--method", "baseline", "--out", str(tmp_path / "x"))
    assert code == 2
    assert "is a directory; give the checkpoint file in it" in capsys.readouterr().err


def test_an_output_under_a_regular_file_is_refused_before_any_episode(smoke_checkpoint, maze_dir, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code = evaluate(smoke_checkpoint, maze_dir, "--method", "baseline", "--out", str(blocker / "out"))
    assert code == 2
    err = capsys.readouterr().err
    assert "lies under the file" in err and "\n" not in err.strip()


def test_heldout_tasks_are_played_and_labelled(smoke_checkpoint, maze_dir, tmp_path):
    out = tmp_path / "heldout"
    code = evaluate(
        smoke_checkpoint, maze_dir, "--method", "baseline", "--tasks", "heldout", "--heldout-size", "3",
        "--episodes-per-task", "1", "--out", str(out),
    )  # fmt: skip
    assert code == 0
    rows = read_results(out)
    assert rows["task_suite"].tolist() == ["heldout-0"] * 3 and rows["task_id"].tolist() == [1, 2, 3]
    assert rows["task_pair"].str.contains("->").all()
