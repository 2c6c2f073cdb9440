"""`gcttt evaluate`: play a task suite with a checkpoint, with or without test-time training.

The knobs are `TTTConfig`'s and `SelectionConfig`'s fields (help from their docstrings).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from gcttt.configargs import add_dataclass_arguments, dataclass_values, field_docs

TTT_FLAGS = {"horizon": "--K", "steps": "--N", "batch_size": "--finetune-batch"}


def parse_distance_discount(text: str) -> float | None:
    if text == "backbone":
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1) or 'backbone', got {text!r}") from None


def add_ttt_arguments(p: argparse.ArgumentParser) -> None:
    """The test-time-training and selection flags (shared with other commands)."""
    from gcttt.selection import SelectionConfig, strategies_help
    from gcttt.ttt import TTTConfig

    g = p.add_argument_group(
        "test-time training", "K equal to the episode limit means once per episode; K above it is refused."
    )
    add_dataclass_arguments(
        g, TTTConfig, exclude={"selection"}, flags=TTT_FLAGS, none_means={"batch_size": "the backbone's"}
    )
    s = p.add_argument_group("data selection", f"Strategies and the knobs each reads: {strategies_help()}.")
    add_dataclass_arguments(s, SelectionConfig, exclude={"distance_discount"}, flags={"strategy": "--selection"})
    s.add_argument(
        "--distance-discount",
        type=parse_distance_discount,
        default=SelectionConfig.distance_discount,
        help=f"{field_docs(SelectionConfig)['distance_discount']} Give a number or 'backbone'. (default: 0.99)",
    )


def ttt_from_args(args: argparse.Namespace):
    from gcttt.selection import SelectionConfig
    from gcttt.ttt import TTTConfig

    selection = SelectionConfig(**dataclass_values(args, SelectionConfig))
    return TTTConfig(**dataclass_values(args, TTTConfig, exclude={"selection"}), selection=selection)


def add_parser(sub) -> None:
    from gcttt.tasks import HELDOUT_SIZE

    p = sub.add_parser(
        "evaluate",
        help="evaluate a checkpoint on a task suite (baseline or GC-TTT)",
        description=(
            "Play each task of a suite --episodes-per-task times with a pre-trained checkpoint, either as "
            "it is (--method baseline) or with receding-horizon test-time training (--method gcttt), "
            "print per-task success and write one Parquet row per episode."
        ),
    )
    p.add_argument("--checkpoint", required=True, help="checkpoint file (final.pt of a `gcttt pretrain` run)")
    p.add_argument(
        "--method", default="gcttt", choices=["baseline", "gcttt"], help="evaluation method (default: gcttt)"
    )
    add_ttt_arguments(p)
    t = p.add_argument_group("tasks")
    t.add_argument(
        "--tasks",
        default="ogbench",
        choices=["ogbench", "heldout"],
        help="ogbench: the 5 evaluation tasks; heldout: start/goal pairs that are not OGBench's (default: ogbench)",
    )
    t.add_argument("--heldout-seed", type=int, default=0, help="seed of the held-out pairs (default: 0)")
    t.add_argument("--heldout-size", type=int, default=HELDOUT_SIZE, help=f"held-out pairs (default: {HELDOUT_SIZE})")
    t.add_argument("--task-ids", type=int, nargs="+", default=None, help="play only these tasks (default: all)")
    t.add_argument("--episodes-per-task", type=int, default=3, help="episodes per task (default: 3)")
    t.add_argument("--seed", type=int, default=0, help="evaluation seed (default: 0)")
    o = p.add_argument_group("inputs and outputs")
    o.add_argument(
        "--out",
        default=None,
        help="directory for the Parquet part file (default: $GCTTT_RESULTS_DIR or ~/gcttt-results, under evaluations/)",
    )
    o.add_argument("--data-dir", default=None, help="dataset directory (default: $GCTTT_DATA_DIR or ~/.ogbench/data)")
    o.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default: auto)")
    o.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    o.add_argument(
        "--compile",
        choices=["auto", "on", "off"],
        default="auto",
        help="fine-tuning updates through torch.compile: on, off, or auto = the device's default (a CUDA graph "
        "on CUDA, eager on the CPU) (default: auto)",
    )
    o.add_argument(
        "--update-mode",
        choices=["auto", "eager", "compiled", "graph"],
        default=None,
        help="how fine-tuning updates run (overrides --compile): a captured CUDA graph, torch.compile or "
        "eager; auto = graph on CUDA, eager on the CPU (default: from --compile)",
    )
    o.add_argument(
        "--record-trajectories",
        action="store_true",
        help="also store each episode's x-y path and per re-plan the selected dataset segments in OUT/trajectories/ "
        "(maze datasets; the rows are the same; docs/trajectories.md; draw with analysis/plot_episodes.py)",
    )
    o.add_argument(
        "--video",
        action="store_true",
        help="also render each episode offscreen (MuJoCo, MUJOCO_GL=egl or osmesa) into OUT/videos/*.gif, the "
        "selected segments' end points marked; implies --record-trajectories. Where rendering cannot work, one "
        "line says why and only the trajectories are stored",
    )
    o.add_argument("--video-every", type=int, default=20, help="env steps between video frames (default: 20)")
    o.add_argument("--video-size", type=int, default=240, help="video frame side in pixels (default: 240)")
    p.set_defaults(handler=run)


def _video_player(runner, out: Path, every: int, size: int):
    """`runner.run_traced` that also writes OUT/videos/task{T}-ep{I}.gif."""
    from gcttt.video import VideoRecorder, write_gif

    positions = runner.data.observations[:, :2].cpu().numpy()

    def play(spec):
        recorder = VideoRecorder(runner.data.rows, runner.data.episode, every=every, size=size)
        recorder.attach(runner.env, positions)
        record, trajectory = runner.run_traced(spec, recorder)
        recorder.frame_now()
        write_gif(out / "videos" / f"task{spec.task_id}-ep{spec.episode_index}-{spec.method}.gif", recorder.frames)
        return record, trajectory

    return play


def run(args: argparse.Namespace) -> int:
    import torch
    from tqdm.auto import tqdm

    from gcttt.checkpoint import check_trained_on, read_checkpoint
    from gcttt.data.access import load_datasets, resolve_data_dir
    from gcttt.data.provenance import dataset_provenance
    from gcttt.errors import UsageError
    from gcttt.fileio import check_writable_dir
    from gcttt.provenance import resolve_device
    from gcttt.records import RunContext, write_records
    from gcttt.runner import EpisodeRunner, EpisodeSpec

    # Refuse bad knobs and unusable outputs before loading anything or playing an episode.
    ttt = ttt_from_args(args)
    if args.episodes_per_task < 1:
        raise UsageError(f"--episodes-per-task must be at least 1 (got {args.episodes_per_task})")
    if args.seed < 0 or args.heldout_seed < 0:
        flag, value = ("--seed", args.seed) if args.seed < 0 else ("--heldout-seed", args.heldout_seed)
        raise UsageError(f"{flag} must be 0 or more (got {value})")
    if args.heldout_size < 1:
        raise UsageError(f"--heldout-size must be at least 1 (got {args.heldout_size})")
    if args.video_every < 1 or args.video_size < 16:
        raise UsageError(f"--video-every must be at least 1 and --video-size at least 16 (got {args.video_every}, "
                         f"{args.video_size})")  # fmt: skip
    if args.threads is not None:
        if args.threads < 1:
            raise UsageError(f"--threads must be at least 1 (got {args.threads})")
        torch.set_num_threads(args.threads)
    suite = "ogbench" if args.tasks == "ogbench" else f"heldout-{args.heldout_seed}"
    meta = read_checkpoint(args.checkpoint)
    name = f"{Path(args.checkpoint).resolve().parent.name}-{args.method}-{int(time.time())}"
    results = os.environ.get("GCTTT_RESULTS_DIR", "~/gcttt-results")
    out = check_writable_dir(args.out or Path(results) / "evaluations" / name, "--out")
    device = resolve_device(args.device)
    train, _ = load_datasets(meta["dataset"], args.data_dir)
    provenance = dataset_provenance(resolve_data_dir(args.data_dir), meta["dataset"])
    check_trained_on(meta, args.checkpoint, provenance)
    runner = EpisodeRunner(
        args.checkpoint,
        train,
        device=device,
        provenance=provenance,
        heldout_size=args.heldout_size,
        compile=args.compile,
        update_mode=args.update_mode,
    )
    size = runner.suite(suite).size
    task_ids = args.task_ids or list(range(1, size + 1))
    specs = [
        EpisodeSpec(task_id=t, episode_index=i, seed=args.seed, method=args.method, ttt=ttt, suite=suite)
        for t in task_ids
        for i in range(args.episodes_per_task)
    ]
    for spec in specs[:: args.episodes_per_task]:
        runner.check(spec)
    args.record_trajectories = args.record_trajectories or args.video
    if args.record_trajectories and not runner.info.is_maze:
        raise UsageError(f"--record-trajectories records x-y paths of maze datasets only, not {meta['dataset']}")
    play = runner.run_traced if args.record_trajectories else runner.run
    if args.video:
        from gcttt.video import offscreen_problem

        problem = offscreen_problem()
        if problem:
            print(f"gcttt evaluate: no video: {problem}; recording the trajectories only (draw them with "
                  f"analysis/plot_episodes.py {out} --data-dir DIR)", file=sys.stderr)  # fmt: skip
        else:
            play = _video_player(runner, out, args.video_every, args.video_size)
    played = [play(spec) for spec in tqdm(specs, desc=f"evaluate {args.method}", unit="ep")]
    records = [p[0] for p in played] if args.record_trajectories else played
    path = write_records(out, records, RunContext(sweep_id=name, sweep_kind="evaluate", trial_id=name))
    if args.record_trajectories:
        from gcttt.trajectories import write_trajectories_beside

        write_trajectories_beside(path, [p[1] for p in played], name, name, records[0])
    label = (
        "baseline"
        if args.method == "baseline"
        else (f"gcttt/{ttt.selection.strategy} {records[0].schedule} K={ttt.horizon} N={ttt.steps} lr={ttt.lr:g}")
    )
    print(f"{meta['dataset']} ({provenance.label()})  {runner.agent.name}  {label}  tasks: {suite}")
    for task in task_ids:
        rows = [r for r in records if r.task_id == task]
        print(f"  task {task} ({rows[0].task_pair}): success {sum(r.success for r in rows) / len(rows):.2f}")
    total = sum(r.success for r in records) / len(records)
    print(f"  overall: {total:.3f} over {len(records)} episodes; records in {path}")
    sys.stdout.flush()
    return 0
