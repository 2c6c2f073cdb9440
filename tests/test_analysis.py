"""Analysis scripts: figures and table from synthetic sweep results, bad inputs, the MLflow source."""

import dataclasses
import math
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from analysis import compute_answer, plot_compute, plot_figure6, plot_horizon, synthetic, table, time_share
from gcttt.results.records import EpisodeRecord, RunContext, read_results, write_records
from gcttt.results.stats import success_ci

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = {
    "compute_answer": compute_answer,
    "plot_compute": plot_compute,
    "plot_figure6": plot_figure6,
    "plot_horizon": plot_horizon,
    "table": table,
    "time_share": time_share,
}
FAST = ["--resamples", "200"]


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """A compute study and a horizon sweep, small, in the sweeps' row schema."""
    root = tmp_path_factory.mktemp("results")
    synthetic.write_compute(root / "compute", seeds=(0, 1), tasks=(1, 2), per_task=3)
    synthetic.write_horizon(
        root / "horizon", seeds=(0, 1), tasks=(1, 2), per_task=3, horizons=(100, 1000), grad_steps=(50, 100)
    )
    return root


def _check_figure(path: Path) -> None:
    assert path.with_suffix(".pdf").stat().st_size > 5_000
    assert path.stat().st_size > 20_000
    image = matplotlib.image.imread(path)
    assert image.shape[0] > 500 and image.shape[1] > 800
    assert image[..., :3].std() > 0.05  # not a blank canvas


def test_plot_compute_renders_three_panels(results, tmp_path, capsys):
    assert plot_compute.main([str(results / "compute"), "--out", str(tmp_path), *FAST]) == 0
    _check_figure(tmp_path / "compute.png")
    points = pd.read_csv(tmp_path / "compute.csv")
    assert set(points["panel"]) == {"paper", "exact", "matched"}
    paper = points[points["panel"] == "paper"]
    models = paper[paper["family"] == "model scaling"]
    assert list(models["width"]) == [512, 624, 732, 992]
    assert list(models["x"]) == pytest.approx([(w / 512) ** 2 for w in (512, 624, 732, 992)])
    ttt = paper[paper["family"] == "GC-TTT"]
    # The TTT curve starts at the 1x baseline, its K points parked at the paired widths' x.
    assert list(ttt["horizon"]) == [0, 1000, 500, 200]
    assert list(ttt["x"]) == pytest.approx([1.0, (624 / 512) ** 2, (732 / 512) ** 2, (992 / 512) ** 2])
    exact = points[points["panel"] == "exact"]
    assert (exact["x"] == exact["flops_total"]).all()
    assert exact.loc[(exact["method"] == "baseline") & (exact["width"] == 512), "multiple"].iloc[0] == pytest.approx(1)
    assert (points["seeds"] == 2).all()
    assert (points["low"] <= points["mean"]).all() and (points["mean"] <= points["high"]).all()
    assert "compute.png" in capsys.readouterr().out


def _config(method, width, flops, mean, **knobs):
    base = {
        "method": method, "width": width, "selection": "", "schedule": "", "horizon": 0, "grad_steps": 0,
        "lr": 0.0, "finetune_batch": 0, "q": 0.0, "mean": mean, "low": mean - 0.1, "high": mean + 0.1,
        "seeds": 3, "episodes": 15, "flops_total": flops, "flops_act": flops, "flops_selection": 0.0,
        "flops_finetune": 0.0, "pretrain_flops": 0.0,
    }  # fmt: skip
    return {**base, **knobs}


def test_paper_axis_places_models_and_k_points_from_the_widths_alone():
    rows = [_config("baseline", w, 10.0 * w, 0.3) for w in (128, 156, 183, 248, 333)]
    for k, flops in ((1000, 1e9), (500, 5e9), (200, 2e10), (100, 3e10)):  # FLOPs play no part in (a)
        rows.append(_config("gcttt", 128, flops, 0.4, selection="critic", schedule="receding", horizon=k,
                            grad_steps=200, lr=3e-4))  # fmt: skip
    points = plot_compute.paper_points(pd.DataFrame(rows), base_width=128)
    models = points[points["family"] == "model scaling"]
    assert list(models["x"]) == pytest.approx([(w / 128) ** 2 for w in (128, 156, 183, 248, 333)])
    ttt = points[points["family"] == "GC-TTT"]
    assert list(ttt["horizon"]) == [0, 1000, 500, 200, 100]
    assert list(ttt["x"]) == pytest.approx([1.0, *((w / 128) ** 2 for w in (156, 183, 248, 333))])


def test_matched_budgets_take_the_best_configuration_that_fits():
    unit = 100.0  # the base model's acting FLOPs per episode
    rows = [
        _config("baseline", 128, unit, 0.30),
        _config("baseline", 181, 2 * unit, 0.25),  # 2x, worse than the base
        _config("baseline", 256, 4 * unit, 0.40),  # 4x
        _config("gcttt", 128, 1.5 * unit, 0.35, selection="critic-free", schedule="once-keep", grad_steps=1),
        _config("gcttt", 128, 7 * unit, 0.50, selection="critic-free", schedule="once-keep", grad_steps=8),
        _config("gcttt", 128, 900 * unit, 0.90, selection="critic", schedule="receding", horizon=100),
    ]
    matched = plot_compute.matched_points(pd.DataFrame(rows), base_width=128, budgets=[1, 2, 4, 8, 1000])
    best = {(r.family, r.budget): (r.width, r.mean) for r in matched.itertuples()}
    assert best[("model scaling", 1)] == (128, 0.30)
    assert best[("model scaling", 2)] == (128, 0.30)  # the 2x model is worse: the base still wins
    assert best[("model scaling", 4)] == (256, 0.40)
    assert best[("model scaling", 1000)] == (256, 0.40)
    assert best[("GC-TTT", 1)] == (128, 0.30)  # nothing of TTT fits 1x: the base model itself
    assert best[("GC-TTT", 2)] == (128, 0.35)
    assert best[("GC-TTT", 4)][1] == 0.35 and best[("GC-TTT", 8)][1] == 0.50
    assert best[("GC-TTT", 1000)][1] == 0.90


def test_plotted_intervals_are_gcttt_stats(results, tmp_path):
    """The CSV's CIs are success_ci over the configuration's episodes grouped by seed."""
    assert plot_compute.main([str(results / "compute"), "--out", str(tmp_path), *FAST]) == 0
    points = pd.read_csv(tmp_path / "compute.csv")
    frame = read_results(results / "compute" / "baseline-w624")
    expected = success_ci(frame["success"], groups=frame["pretrain_seed"], n_resamples=200)
    row = points[(points["panel"] == "exact") & (points["method"] == "baseline") & (points["width"] == 624)].iloc[0]
    assert (row["mean"], row["low"], row["high"]) == pytest.approx(tuple(expected))


def test_plot_horizon_renders_grid_and_ablation(results, tmp_path):
    assert plot_horizon.main([str(results / "horizon"), "--out", str(tmp_path), *FAST]) == 0
    _check_figure(tmp_path / "horizon_grid.png")
    _check_figure(tmp_path / "selection_ablation.png")
    cells = pd.read_csv(tmp_path / "horizon_grid.csv")
    assert len(cells) == 2 * 2 * 2  # K x N x lr
    assert set(cells["selection"]) == {"critic"}
    bars = pd.read_csv(tmp_path / "selection_ablation.csv")
    assert list(bars["selection"]) == [
        "baseline",
        "random",
        "no-relevance",
        "no-optimality",
        "full-dataset",
        "critic",
        "critic-free",
    ]
    assert set(bars["horizon"]) == {100} and set(bars["grad_steps"]) == {100}


def test_plot_horizon_without_ablation_arms(tmp_path, capsys):
    synthetic.write_horizon(tmp_path / "in", seeds=(0,), tasks=(1,), per_task=2, lrs=(3e-4,), ablations=False)
    assert plot_horizon.main([str(tmp_path / "in"), "--out", str(tmp_path / "out"), *FAST]) == 0
    assert (tmp_path / "out" / "horizon_grid.png").exists()
    assert not (tmp_path / "out" / "selection_ablation.png").exists()
    assert "no ablation figure" in capsys.readouterr().err


def _row(seed: int, success: bool, index: int, method: str = "baseline") -> EpisodeRecord:
    return synthetic.record(pretrain_seed=seed, success=success, episode_index=index, seed=index, method=method)


CONTEXT = RunContext(sweep_id="hand", sweep_kind="horizon", trial_id="t", node="n", git_sha="x")


def _hand_example(directory: Path) -> None:
    # baseline: seed 0 -> 1/2, seed 1 -> 2/2: mean 0.75, se = std([.5, 1], ddof=1) / sqrt(2) = 0.25
    base = [_row(0, True, 0), _row(0, False, 1), _row(1, True, 0), _row(1, True, 1)]
    # + TTT: every episode succeeds: 1.00 ± 0.00
    ttt = [_row(s, True, i, "gcttt") for s in (0, 1) for i in (0, 1)]
    write_records(directory / "base", base, CONTEXT)
    write_records(directory / "ttt", ttt, CONTEXT)


def test_table_hand_computed(tmp_path, capsys):
    _hand_example(tmp_path / "in")
    assert table.main([str(tmp_path / "in"), "--out", str(tmp_path / "out")]) == 0
    md = (tmp_path / "out" / "table.md").read_text()
    assert "| Method | pm-medium-nav |" in md
    assert "| GC-IQL | 0.75 ± 0.25 |" in md
    assert "| GC-IQL + TTT | **1.00 ± 0.00** |" in md
    assert "2 seeds, 8 episodes" in md
    assert "K=100, N=50, lr=3e-4" in md
    assert md in capsys.readouterr().out
    tex = (tmp_path / "out" / "table.tex").read_text()
    assert r"GC-IQL & $0.75 \pm 0.25$ \\" in tex
    assert r"GC-IQL + TTT & $\mathbf{1.00 \pm 0.00}$ \\" in tex
    assert r"\begin{tabular}{lc}" in tex and r"\bottomrule" in tex
    csv = pd.read_csv(tmp_path / "out" / "table.csv")
    assert csv.set_index("method")["mean"].to_dict() == pytest.approx({"baseline": 0.75, "ttt": 1.0})


def test_time_share_hand_computed(tmp_path, capsys):
    # two gcttt episodes: 10 s and 30 s of wall time, of which 4 + 12 s acting, 2 + 2 s selecting,
    # 2 + 14 s fine-tuning: shares 16/40, 4/40, 16/40 and the rest 4/40.
    rows = []
    for i, (wall, act, sel, fine) in enumerate([(10.0, 4.0, 2.0, 2.0), (30.0, 12.0, 2.0, 14.0)]):
        flops = {"flops_act": 100 * (i + 1), "flops_selection": 10, "flops_finetune": 1000}
        rows.append(
            dataclasses.replace(
                _row(0, True, i, "gcttt"),
                wall_seconds=wall,
                act_seconds=act,
                selection_seconds=sel,
                finetune_seconds=fine,
                flops_total=sum(flops.values()),
                **flops,
            )
        )
    write_records(tmp_path / "in" / "a", rows, CONTEXT)
    write_records(tmp_path / "in" / "b", [_row(0, False, 0)], CONTEXT)
    assert time_share.main([str(tmp_path / "in"), "--out", str(tmp_path / "out")]) == 0
    csv = pd.read_csv(tmp_path / "out" / "time_share.csv").set_index("method")
    ttt = csv.loc["gcttt"]
    assert ttt["episodes"] == 2 and ttt["wall_seconds_mean"] == pytest.approx(20.0)
    assert [ttt["act_share"], ttt["selection_share"], ttt["finetune_share"], ttt["other_share"]] == pytest.approx(
        [0.4, 0.1, 0.4, 0.1]
    )
    assert ttt["flops_act_mean"] == pytest.approx(150) and ttt["flops_total_mean"] == pytest.approx(1160)
    assert csv.loc["baseline", "act_share"] == pytest.approx(0.5)
    md = (tmp_path / "out" / "time_share.md").read_text()
    assert "| critic K=100 N=50 lr=3e-4 (width 512) | 2 | 20.00 | 40.0 % | 10.0 % | 40.0 % | 10.0 % |" in md
    assert md in capsys.readouterr().out


def test_table_picks_best_configuration_or_refuses(results, tmp_path, capsys):
    args = [str(results / "horizon"), "--out", str(tmp_path)]
    assert table.main(args) == 2  # never picks the best on the reported tasks unless asked
    assert "pin one with --horizon" in capsys.readouterr().err
    assert table.main([*args, "--pick", "best"]) == 0
    assert "best of 8" in (tmp_path / "table.md").read_text()
    assert table.main([*args, "--horizon", "100", "--grad-steps", "50", "--lr", "3e-4"]) == 0


def test_repeated_and_in_flight_files_are_ignored(tmp_path, capsys):
    _hand_example(tmp_path / "in")
    # a part rewritten after a driver restart, a write in flight, and a hidden file
    (tmp_path / "in" / "restart").mkdir()
    (base_part,) = (tmp_path / "in" / "base").glob("part-*.parquet")
    shutil.copy(base_part, tmp_path / "in" / "restart" / "part-base-again.parquet")
    (tmp_path / "in" / ".part-x.parquet.123.tmp").write_bytes(b"partial")
    (tmp_path / "in" / ".hidden.parquet").write_bytes(b"not parquet")
    assert table.main([str(tmp_path / "in"), "--out", str(tmp_path / "out")]) == 0
    assert "| GC-IQL | 0.75 ± 0.25 |" in (tmp_path / "out" / "table.md").read_text()
    assert "dropped 4 repeated episode rows" in capsys.readouterr().err


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_bad_inputs_give_one_line_errors(script, tmp_path, capsys):
    main = SCRIPTS[script].main
    (tmp_path / "empty").mkdir()
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    pd.DataFrame({"dataset": ["x"], "success": [True]}).to_parquet(wrong / "part-0.parquet")
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "part-0.parquet").write_bytes(b"not parquet at all")
    cases = {
        "empty": "no Parquet files found",
        "missing": "no such results directory",
        "wrong": "not an episode-results file, missing columns [",
        "corrupt": "not a readable Parquet file",
    }
    for name, message in cases.items():
        assert main([str(tmp_path / name), "--out", str(tmp_path / "out")]) == 2, name
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()


def test_missing_and_repeated_flags_of_the_dataclass_command_lines(results, tmp_path, capsys):
    from analysis import machine_check

    assert machine_check.main(["results/compute-cpu"]) == 2
    err = capsys.readouterr().err
    assert err == "machine_check.py: error: missing CHECK, --dataset, --backbone (see machine_check.py --help)\n"
    assert table.main([str(results / "compute"), "--pick", "some", "--out", str(tmp_path)]) == 2
    assert "invalid choice 'some' for argument '--pick'" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
    # --sweep-id repeats (each names one more sweep), as its help says.
    args = ["--sweep-id", "nope-a", "--sweep-id", "nope-b", "--out", str(tmp_path)]
    assert table.main([str(results / "compute"), *args]) == 2
    assert "no rows with sweep_id in ['nope-a', 'nope-b']" in capsys.readouterr().err


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_scripts_run_as_files_without_traceback(script, tmp_path):
    (tmp_path / "empty").mkdir()
    run = subprocess.run(
        [sys.executable, str(REPO / "analysis" / f"{script}.py"), str(tmp_path / "empty")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert run.stderr.startswith(f"{script}.py: error: ") and "Traceback" not in run.stderr
    help_run = subprocess.run(
        [sys.executable, str(REPO / "analysis" / f"{script}.py"), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert help_run.returncode == 0 and "--mlflow-experiment" in help_run.stdout


def test_wrong_kind_and_mixed_sweeps_are_refused(results, tmp_path, capsys):
    assert plot_compute.main([str(results / "horizon"), "--out", str(tmp_path)]) == 2
    assert "no rows of a 'compute' sweep" in capsys.readouterr().err
    other = tmp_path / "two"
    shutil.copytree(results / "compute", other / "a")
    frame = read_results(other / "a" / "baseline-w512").assign(sweep_id="compute-other")
    (other / "b").mkdir()
    frame.to_parquet(other / "b" / "part-0.parquet")
    assert plot_compute.main([str(other), "--out", str(tmp_path), *FAST]) == 2
    assert "pick one with --sweep-id" in capsys.readouterr().err
    assert plot_compute.main([str(other), "--sweep-id", "compute-synthetic", "--out", str(tmp_path), *FAST]) == 0


def test_mlflow_experiment_source(results, tmp_path, capsys, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{(tmp_path / 'mlflow.db').resolve()}"
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("gcttt-compute", artifact_location=(tmp_path / "artifacts").as_uri())
    parent = client.create_run(experiment, run_name="sweep").info.run_id
    for part in sorted((results / "compute").glob("*/part-*.parquet")):
        name = part.parent.name
        child = client.create_run(experiment, run_name=name, tags={"mlflow.parentRunId": parent}).info.run_id
        client.log_artifact(child, str(part), artifact_path="episodes")
        client.set_terminated(child)
    client.set_terminated(parent)
    del mlflow

    out = tmp_path / "out"
    args = ["--mlflow-experiment", "gcttt-compute", "--mlflow-uri", uri, "--out", str(out), *FAST]
    assert plot_compute.main(args) == 0
    _check_figure(out / "compute.png")
    from_dir = tmp_path / "from_dir"
    assert plot_compute.main([str(results / "compute"), "--out", str(from_dir), *FAST]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "compute.csv"), pd.read_csv(from_dir / "compute.csv"))

    capsys.readouterr()
    assert plot_compute.main(["--mlflow-experiment", "nope", "--mlflow-uri", uri, "--out", str(out)]) == 2
    assert "experiments there: " in capsys.readouterr().err
    missing = f"sqlite:///{tmp_path / 'absent.db'}"
    assert plot_compute.main(["--mlflow-experiment", "x", "--mlflow-uri", missing, "--out", str(out)]) == 2
    assert not (tmp_path / "absent.db").exists()
    assert plot_compute.main(["--mlflow-experiment", "x", "--mlflow-uri", "sqlite:///rel.db"]) == 2
    assert "absolute path" in capsys.readouterr().err
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)  # no --mlflow-uri: the environment's
    assert plot_compute.main(["--mlflow-experiment", "gcttt-compute", "--out", str(tmp_path / "env"), *FAST]) == 0


def test_synthetic_cli_writes_both_sweeps(tmp_path):
    assert synthetic.main([str(tmp_path)]) == 0
    compute = sorted(p.parent.name for p in (tmp_path / "compute").glob("*/part-*.parquet"))
    assert len(compute) == 11 and list((tmp_path / "horizon" / "baseline").glob("part-*.parquet"))
    frame = read_results(tmp_path / "compute" / "gcttt-K100")
    assert (frame["flops_total"] == frame[["flops_act", "flops_selection", "flops_finetune"]].sum(axis=1)).all()
    assert np.all(frame["method"] == "gcttt")


def test_figure6_panels_from_a_reproductions_rows(tmp_path):
    synthetic.write_figure6(tmp_path / "in", seeds=(0, 1), tasks=(1, 2), per_task=2)
    assert plot_figure6.main([str(tmp_path / "in"), "--out", str(tmp_path / "out"), *FAST]) == 0
    plotted = pd.read_csv(tmp_path / "out" / "figure6.csv")
    assert set(plotted["panel"]) == {"ablation", "replan"}
    bars = plotted[plotted["panel"] == "ablation"]
    # Two datasets and their mean, five bars each; the paper's numbers only on the mean.
    assert set(bars["dataset"]) == {"pointmaze-medium-stitch-v0", "antmaze-medium-stitch-v0", "mean"}
    assert len(bars) == 15 and bars[bars["dataset"] != "mean"]["paper"].isna().all()
    mean = bars[bars["dataset"] == "mean"].set_index("selection")
    assert mean.loc["critic", "paper"] == 0.57 and mean.loc["pre-trained", "paper"] == 0.25
    assert (bars["horizon"] == 100).all() and (bars["grad_steps"] == 200).all()
    # Pooling the two datasets (equal episodes) is the mean of their rates.
    per = bars[bars["dataset"] != "mean"].groupby("selection")["mean"].mean()
    assert np.allclose(mean.loc[per.index, "mean"], per)
    replan = plotted[plotted["panel"] == "replan"]
    assert sorted(replan["horizon"].unique()) == [100, 200, 500, 1000]
    am = replan[replan["dataset"] == "antmaze-medium-stitch-v0"].set_index("horizon")
    assert am.loc[100, "paper"] == 0.73 and am.loc[1000, "paper"] == 0.36
    assert (tmp_path / "out" / "figure6.png").stat().st_size > 0


def test_figure6_bars_use_each_datasets_own_budget(tmp_path):
    # The authors' budgets differ per dataset (lr 3e-4 on pointmaze-stitch, 3e-5 on antmaze-stitch):
    # every dataset keeps its five bars at its own lr, not only the dataset whose lr won overall.
    synthetic.write_figure6(tmp_path / "in", seeds=(0, 1), tasks=(1, 2), per_task=2)
    for path in (tmp_path / "in").rglob("*.parquet"):
        frame = pd.read_parquet(path)
        antmaze = (frame["dataset"] == "antmaze-medium-stitch-v0") & (frame["method"] == "gcttt")
        frame.loc[antmaze, "lr"] = frame.loc[antmaze, "lr"] / 10
        frame.to_parquet(path)
    assert plot_figure6.main([str(tmp_path / "in"), "--out", str(tmp_path / "out"), *FAST]) == 0
    plotted = pd.read_csv(tmp_path / "out" / "figure6.csv")
    bars = plotted[(plotted["panel"] == "ablation") & (plotted["dataset"] != "mean")]
    assert bars.groupby("dataset")["selection"].nunique().to_dict() == {
        "antmaze-medium-stitch-v0": 5,
        "pointmaze-medium-stitch-v0": 5,
    }
    lrs = bars.groupby("dataset")["lr"].unique()
    assert len(lrs["antmaze-medium-stitch-v0"]) == 1 and len(lrs["pointmaze-medium-stitch-v0"]) == 1
    assert np.isclose(lrs["antmaze-medium-stitch-v0"][0] * 10, lrs["pointmaze-medium-stitch-v0"][0])
    replan = plotted[plotted["panel"] == "replan"].groupby("dataset")["lr"].unique()
    assert np.isclose(replan["antmaze-medium-stitch-v0"][0] * 10, replan["pointmaze-medium-stitch-v0"][0])


def test_figure6_without_ablation_rows_is_one_line(tmp_path, capsys):
    synthetic.write_compute(tmp_path / "in", seeds=(0,), tasks=(1,), per_task=1)
    assert plot_figure6.main([str(tmp_path / "in"), "--out", str(tmp_path / "out"), *FAST]) == 2
    assert "--figure6" in capsys.readouterr().err


def test_width_filter_keeps_one_network_size(results, capsys):
    from analysis.results import Source, load
    from gcttt.commands.flags import parse

    def args(*argv: str) -> Source:
        return parse(Source, [str(results / "compute"), *argv], "test", "")

    widths = set(load(args(), ["width"])["width"])
    assert len(widths) > 1
    narrow = min(widths)
    assert set(load(args("--width", str(narrow)), ["width"])["width"]) == {narrow}
    with pytest.raises(Exception, match="no rows with width in \\[7\\]"):
        load(args("--width", "7"), ["width"])


def test_figure6_counts_an_episode_played_by_two_sweeps_once(tmp_path):
    synthetic.write_figure6(tmp_path / "in", seeds=(0,), tasks=(1, 2), per_task=2)
    frame = pd.concat([pd.read_parquet(p) for p in sorted((tmp_path / "in").rglob("*.parquet"))], ignore_index=True)
    twice = pd.concat([frame, frame.assign(sweep_id="another-sweep")], ignore_index=True)
    assert len(plot_figure6.one_row_per_episode_across_sweeps(twice)) == len(frame)


def test_compute_answer_pairs_episodes_and_says_when_a_gap_is_resolved(results, tmp_path, capsys):
    frame = read_results(results / "compute" / "gcttt-K100")
    model = read_results(results / "compute" / "baseline-w992")
    configs = plot_compute.configurations(pd.concat([frame, model]), 0.95, 200)
    ttt_row = configs[configs["method"] == "gcttt"].iloc[0]
    model_row = configs[configs["method"] == "baseline"].iloc[0]
    # Hand-made outcomes on the same (seed, checkpoint, task, episode): GC-TTT always, the model never.
    sure = pd.concat([frame.assign(success=True), model.assign(success=False)])
    verdict = compute_answer.compare(sure, ttt_row, model_row, 0.95, 200)
    assert verdict["difference"] == 1.0 and verdict["pairs"] == len(frame) and verdict["verdict"] == "GC-TTT better"
    worse = compute_answer.compare(pd.concat([frame.assign(success=False), model.assign(success=True)]),
                                   ttt_row, model_row, 0.95, 200)  # fmt: skip
    assert worse["verdict"] == "model scaling better"
    # One success apart in 12 pairs: not resolved, and the episodes needed follow (1.96 sd / gap)^2.
    close = pd.concat([frame.assign(success=False), model.assign(success=False)]).reset_index(drop=True)
    close.loc[0, "success"] = True
    diff = np.zeros(len(frame))
    diff[0] = 1.0
    needed = math.ceil((1.96 * diff.std(ddof=1) / diff.mean()) ** 2)
    assert compute_answer.compare(close, ttt_row, model_row, 0.95, 200)["verdict"] == (
        f"not resolved; about {needed:,} paired episodes would resolve a gap of {diff.mean():+.2f}"
    )
    # The whole study: the paper's accounting row pairs GC-TTT's K = 100 with the widest model.
    assert compute_answer.main([str(results / "compute"), "--out", str(tmp_path), *FAST]) == 0
    text = capsys.readouterr().out
    assert text == (tmp_path / "compute_answer.md").read_text()
    assert "| paper's, at x = " in text and "K=100" in text and "width 992 (pre-trained)" in text


def test_panel_b_labels_near_equal_costs_once():
    """The cheap arms' costs lie a few percent apart: one label for them, one for each distant cost."""
    points = pd.DataFrame({"x": [1e8, 1.05e8, 1.1e8, 5e8, 4e10, 1e11], "mean": [0.1] * 6})
    clusters = plot_compute.cost_clusters(points.sample(frac=1.0, random_state=0))
    assert [list(c["x"]) for c in clusters] == [[1e8, 1.05e8, 1.1e8], [5e8], [4e10], [1e11]]


def test_machine_check_sets_two_studies_side_by_side_per_width(tmp_path, capsys):
    """Each study's pre-trained policies per width, from its own rows only; TTT rows and other
    datasets left out; a study without such rows is one line."""
    from analysis import machine_check

    def study(name, machine, wins):  # wins[width] = successes of 4 episodes per (seed, checkpoint)
        records = [
            synthetic.record(
                backbone="gcbc",
                width=w,
                pretrain_seed=s,
                checkpoint_step=c,
                task_id=t,
                success=t <= wins[w],
                machine=machine,
            )
            for w in wins
            for s in (0, 1)
            for c in (16_000, 20_000)
            for t in (1, 2, 3, 4)
        ]
        records.append(synthetic.record(backbone="gcbc", width=128, method="gcttt", success=True, machine=machine))
        records.append(synthetic.record(backbone="gcbc", width=128, dataset="other-v0", success=True, machine=machine))
        write_records(tmp_path / name / "rows", records, RunContext(sweep_id=f"{name}-sweep", sweep_kind="compute"))
        return tmp_path / name

    reference = study("published", "cpu-a", {128: 1, 512: 0})
    check = study("check", "cpu-b", {128: 1, 512: 2, 256: 4})
    text = machine_check.markdown(reference, check, "pointmaze-medium-navigate-v0", "gcbc", resamples=200)
    lines = text.splitlines()
    assert lines[0] == "| width | published (cpu-a) | check (cpu-b) |"
    assert lines[2].startswith("| 128 | 0.25 [") and "(0.25 / 0.25; 16) | 0.25 [" in lines[2]
    assert lines[3].startswith("| 512 | 0.00 [0.00, 0.00] (0.00 / 0.00; 16) | 0.50 [")
    assert not any(line.startswith("| 256 ") for line in lines)  # only widths both studies have
    assert "published-sweep" in text and "check-sweep" in text

    assert machine_check.main([str(reference), str(tmp_path / "nothing"), "--dataset", "x", "--backbone", "gcbc"]) == 2
    assert "not a study of the results store" in capsys.readouterr().err
    assert machine_check.main([str(reference), str(check), "--dataset", "x-v0", "--backbone", "gcbc"]) == 2
    assert "no pre-trained-policy rows of gcbc on x-v0" in capsys.readouterr().err
