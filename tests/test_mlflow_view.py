"""What a sweep's MLflow runs show (sweeps/mlflow_view.py): names and params as on the command line,
only what a strategy reads, success first, one artifact name per trial, a parent that says what ran."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sweeps import mlflow_view
from sweeps.arms import at_checkpoints, baseline_arms, ttt_grid
from sweeps.common import Sweep


def _arms():
    arms = baseline_arms([0], [256]) + ttt_grid(
        [0], 256, ["critic", "critic-free", "random"], [100, 200], [50], [3e-4, 3e-5], [0.2], 1000
    )
    return at_checkpoints(arms, (100000,))


def _by_name(arms):
    return {mlflow_view.run_name(a): a for a in arms}


def test_run_names_are_short_and_say_the_configuration():
    names = _by_name(_arms())
    assert "pre-trained w256 s0 c100k" in names
    assert "critic K200 N50 lr3e-4 w256 s0 c100k" in names
    # A strategy that selects once has no K (critic-free fine-tunes once and keeps the weights).
    assert "critic-free once (kept) N50 lr3e-5 q0.2 w256 s0 c100k" in names
    assert len(names) == len(_arms())  # no two arms share a run name


def test_params_are_the_command_lines_names_and_only_what_the_strategy_reads():
    names = _by_name(_arms())
    baseline = mlflow_view.trial_params(names["pre-trained w256 s0 c100k"], (1, 2), 3)
    assert baseline == {
        "method": "baseline",
        "seed": "0",
        "width": "256",
        "checkpoint": "100000",
        "suite": "ogbench",
        "tasks": "1 2",
        "episodes-per-task": "3",
    }
    critic = mlflow_view.trial_params(names["critic K200 N50 lr3e-4 w256 s0 c100k"])
    assert (critic["selection"], critic["K"], critic["N"], critic["lr"]) == ("critic", "200", "50", "3e-4")
    assert "q" not in critic and "schedule" not in critic and "slack" not in critic
    free = mlflow_view.trial_params(names["critic-free once (kept) N50 lr3e-4 q0.2 w256 s0 c100k"])
    assert "K" not in free and (free["schedule"], free["q"]) == ("once (kept)", "0.2")
    random = mlflow_view.trial_params(names["random K100 N50 lr3e-5 w256 s0 c100k"])
    assert "q" not in random and random["random-size"]  # its own knob, by its flag's name
    for params in (baseline, critic, free, random):
        assert "None" not in params.values() and all("." not in k and "_" not in k for k in params)


def test_metrics_put_success_first_and_times_and_costs_under_their_prefixes():
    metrics = {
        "success": 0.5,
        "success_ci_low": 0.2,
        "success_ci_high": 0.8,
        "task3_success": 1.0,
        "episodes": 10.0,
        "flops_per_episode": 1e9,
        "act_seconds": 1.0,
        "trial_seconds": 9.0,
        "mean_selected": 300.0,
    }
    shown = mlflow_view.trial_metrics(metrics)
    assert set(shown) == {
        "success",
        "success_ci_low",
        "success_ci_high",
        "success_task3",
        "cost/episodes",
        "cost/flops_per_episode",
        "time/act_seconds",
        "time/trial_seconds",
        "selection/mean_selected",
    }
    # Unprefixed metrics form MLflow's first chart section: all of them say success. A run's page
    # lists its metrics in the order they were logged: success first.
    assert all(k.startswith("success") for k in shown if "/" not in k)
    assert list(shown)[:4] == ["success", "success_ci_high", "success_ci_low", "success_task3"]


def _settings(tmp_path: Path) -> Sweep:
    from tests.test_faults import _settings as smoke_sweep

    sweep = smoke_sweep(tmp_path, dataset="pointmaze-medium-navigate-v0", preset="cpu", checkpoints="kept")
    sweep = sweep.replace("episodes", tasks=(1, 2, 3, 4, 5), episodes_per_task=2)
    return Sweep(sweep.config, "horizon", {"selections": ["critic"], "ablations": None})


def test_the_parent_lists_what_ran_and_nothing_that_is_none(tmp_path):
    params = mlflow_view.sweep_params(_settings(tmp_path), _arms())
    assert params["selections"] == "critic critic-free pre-trained random"
    assert params["arms"] == "11" and params["K"] == "100 200" and params["lr"] == "3e-5 3e-4"
    assert params["schedule"] == "once (kept)" and params["q"] == "0.2"
    assert params["checkpoints"] == "16000 18000 20000" and params["tasks"] == "1 2 3 4 5"
    assert "None" not in params.values() and "workers" not in params and "pretrain-steps" not in params
    assert not any(k.startswith("extra") or "." in k for k in params)


def test_the_parent_names_its_best_configuration():
    summary = pd.DataFrame(
        [
            {"method": "baseline", "selection": "", "schedule": "", "horizon": 0, "grad_steps": 0, "lr": 0.0, "q": 0.0}
            | {"success": 0.3},
            {"method": "gcttt", "selection": "critic", "schedule": "receding", "horizon": 200, "grad_steps": 50}
            | {"lr": 3e-4, "q": 0.0, "success": 0.6},
            {"method": "gcttt", "selection": "critic-free", "schedule": "once-keep", "horizon": 0, "grad_steps": 50}
            | {"lr": 3e-5, "q": 0.2, "success": 0.9},
        ]
    )
    metrics, tags = mlflow_view.sweep_outcome(summary)
    assert metrics == {"success_pretrained": 0.3, "success_best_gcttt": 0.9}
    assert tags == {"gcttt.best_gcttt": "critic-free once (kept) N50 lr3e-5 q0.2"}
    assert mlflow_view.sweep_outcome(None) == ({}, {})


def test_the_link_opens_the_sweeps_runs_sorted_by_success():
    link = mlflow_view.runs_link("3", "demo")
    assert link.startswith("http://127.0.0.1:5000/#/experiments/3/runs?searchFilter=tags.%60gcttt.sweep_id%60")
    assert "%27demo%27" in link and link.endswith("orderByKey=metrics.%60success%60&orderByAsc=false")
