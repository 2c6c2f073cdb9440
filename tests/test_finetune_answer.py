"""analysis/finetune_answer.py: the compute answer with GC-TTT fine-tuning all networks and the actor
alone, against the same pre-trained models at the same budgets."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis import finetune_answer
from analysis.synthetic import write_compute
from gcttt.errors import UsageError


@pytest.fixture(scope="module")
def study_rows(tmp_path_factory) -> pd.DataFrame:
    """A synthetic compute study played 'all', then again 'actor' in a second sweep that repeats the
    pre-trained episodes (as a sweep continued with --published does): the same episodes, the updates at
    a fifth of their FLOPs."""
    out = tmp_path_factory.mktemp("finetune-answer")
    paths = write_compute(out, per_task=2)
    full = pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)
    actor = full.copy()
    ttt = actor["method"] == "gcttt"
    actor.loc[ttt, "finetune"] = "actor"
    actor.loc[ttt, "flops_total"] -= actor.loc[ttt, "flops_finetune"] * 4 // 5
    actor.loc[ttt, "flops_finetune"] //= 5
    actor["sweep_id"] = "compute-synthetic-actor"
    return pd.concat([full, actor], ignore_index=True)


def test_both_sides_share_the_models_and_budgets_and_the_actor_side_is_cheaper(study_rows):
    text = finetune_answer.markdown(study_rows, resamples=200)
    table = [line for line in text.splitlines() if line.startswith("| ")][1:]
    assert len(table) == 9  # the paper's point, then budgets 1x ... 16,384x (those 'all' needs)
    for line in table:
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert len(cells) == 6
        # the same models; with cheaper GC-TTT, at least as good a GC-TTT configuration fits each budget
        success = [float(c.rsplit(": ", 1)[1].split(" ")[0]) for c in (cells[2], cells[4])]
        assert success[1] >= success[0], cells[0]
    # the pre-trained episodes of both sweeps count once: 4 widths + 7 GC-TTT arms, 30 episodes each
    assert "(330 and 330 episodes)" in text
    # per configuration the actor's episodes cost less by what its updates saved, and success did not move
    parts = finetune_answer.frames(study_rows)
    assert len(parts["all"]) == len(parts["actor"]) == 330
    assert "7 GC-TTT configurations played both ways" in text
    assert "3.2x cheaper" in text
    # with 5x cheaper updates K=100 fits 4,096x, where 'all' could only afford K=500
    assert "The answer changed at exact FLOPs within 4,096x (panel c): not resolved -> GC-TTT better" in text
    # where both sides stay unresolved, the actor's side affords better arms (at 1,024x K=500, not critic-free)
    assert "now fits: exact FLOPs within 4x (0.20 -> 0.37), exact FLOPs within 1,024x (0.37 -> 0.53)." in text
    assert text.count("costs less in total beyond") == 2


def test_a_study_without_both_parts_or_without_wider_models_is_refused(study_rows):
    only_all = study_rows[study_rows["finetune"] != "actor"]
    with pytest.raises(UsageError, match="--finetune actor"):
        finetune_answer.frames(only_all)
    one_width = study_rows[(study_rows["method"] == "gcttt") | (study_rows["width"] == 512)]
    with pytest.raises(UsageError, match="one width only"):
        finetune_answer.frames(one_width)
    with pytest.raises(UsageError, match="--dataset pointmaze"):
        finetune_answer.frames(study_rows, "pointmaze-medium-navigate-v0")


def test_the_command_refuses_a_folder_that_is_not_a_study(tmp_path, capsys):
    assert finetune_answer.main([str(tmp_path)]) == 2
    assert "not a study of the results store" in capsys.readouterr().err
