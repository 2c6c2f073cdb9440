"""`gcttt evaluate`: play a task suite with a checkpoint, with or without test-time training.

The flags are `EvaluateCommand`'s fields, with `TTTConfig`'s and `SelectionConfig`'s knobs among them
(help from their docstrings).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from gcttt.control.tasks import HELDOUT_SIZE
from gcttt.control.ttt import TTTConfig


@dataclass(frozen=True)
class EvaluateCommand:
    """Play each task of a suite --episodes-per-task times with a pre-trained checkpoint, either as it is
    (--method baseline) or with receding-horizon test-time training (--method gcttt; K equal to the
    episode limit means once per episode, K above it is refused), print per-task success and write one
    Parquet row per episode."""

    checkpoint: str
    """Checkpoint file (final.pt of a `gcttt pretrain` run)."""
    method: Literal["baseline", "gcttt"] = "gcttt"
    """Evaluation method."""
    ttt: TTTConfig = field(default_factory=TTTConfig)
    tasks: Literal["ogbench", "heldout"] = "ogbench"
    """ogbench: the 5 evaluation tasks; heldout: start/goal pairs that are not OGBench's."""
    heldout_seed: int = 0
    """Seed of the held-out pairs."""
    heldout_size: int = HELDOUT_SIZE
    """Held-out pairs."""
    task_ids: tuple[int, ...] | Literal["all"] = "all"
    """Play only these tasks."""
    episodes_per_task: int = 3
    """Episodes per task."""
    seed: int = 0
    """Evaluation seed."""
    out: str | Literal["default"] = "default"
    """Directory for the Parquet part file ('default': $GCTTT_RESULTS_DIR or ~/gcttt-results, under evaluations/)."""
    data_dir: str | Literal["default"] = "default"
    """Dataset directory ('default': $GCTTT_DATA_DIR or ~/.ogbench/data)."""
    device: str = "auto"
    """cpu, cuda, cuda:N or auto."""
    threads: int | Literal["torch"] = "torch"
    """Torch CPU threads ('torch': torch's choice)."""
    compile: Literal["auto", "on", "off"] = "auto"
    """Fine-tuning updates through torch.compile: on, off, or auto = the device's default (a CUDA graph on
    CUDA, eager on the CPU)."""
    update_mode: Literal["auto", "eager", "compiled", "graph", "from-compile"] = "from-compile"
    """How fine-tuning updates run (overrides --compile): a captured CUDA graph, torch.compile or eager; auto =
    graph on CUDA, eager on the CPU ('from-compile': as --compile says)."""
    record_trajectories: bool = False
    """Also store each episode's x-y path and per re-plan the selected dataset segments in OUT/trajectories/
    (maze datasets; the rows are the same; docs/trajectories.md; draw with analysis/plot_episodes.py)."""
    video: bool = False
    """Also render each episode offscreen (MuJoCo, MUJOCO_GL=egl or osmesa) into OUT/videos/*.gif, the selected
    segments' end points marked; implies --record-trajectories. Where rendering cannot work, one line says why
    and only the trajectories are stored."""
    video_every: int = 20
    """Env steps between video frames."""
    video_size: int = 240
    """Video frame side in pixels."""


def _video_player(runner, out: Path, every: int, size: int):
    """`runner.run_traced` that also writes OUT/videos/task{T}-ep{I}.gif."""
    from gcttt.figures.video import VideoRecorder, write_gif

    positions = runner.data.observations[:, :2].cpu().numpy()

    def play(spec):
        recorder = VideoRecorder(runner.data.rows, runner.data.episode, every=every, size=size)
        recorder.attach(runner.env, positions)
        record, trajectory = runner.run_traced(spec, recorder)
        recorder.frame_now()
        write_gif(out / "videos" / f"task{spec.task_id}-ep{spec.episode_index}-{spec.method}.gif", recorder.frames)
        return record, trajectory

    return play


def run(args: EvaluateCommand) -> int:
    import torch
    from tqdm.auto import tqdm

    from gcttt.control.runner import EpisodeRunner, EpisodeSpec
    from gcttt.data.access import load_datasets, resolve_data_dir
    from gcttt.data.provenance import dataset_provenance
    from gcttt.datagen import ensure_dataset_files
    from gcttt.errors import UsageError
    from gcttt.files.checkpoint import check_trained_on, read_checkpoint
    from gcttt.files.fileio import check_writable_dir
    from gcttt.files.provenance import resolve_device
    from gcttt.results.records import RunContext, write_records

    # Bad knobs were refused where the configuration was built; refuse unusable outputs before
    # loading anything or playing an episode.
    ttt = args.ttt
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
    if args.threads != "torch":
        if args.threads < 1:
            raise UsageError(f"--threads must be at least 1 (got {args.threads})")
        torch.set_num_threads(args.threads)
    suite = "ogbench" if args.tasks == "ogbench" else f"heldout-{args.heldout_seed}"
    meta = read_checkpoint(args.checkpoint)
    name = f"{Path(args.checkpoint).resolve().parent.name}-{args.method}-{int(time.time())}"
    results = os.environ.get("GCTTT_RESULTS_DIR", "~/gcttt-results")
    out = check_writable_dir(Path(results) / "evaluations" / name if args.out == "default" else args.out, "--out")
    device = resolve_device(args.device)
    data_dir = None if args.data_dir == "default" else args.data_dir
    ensure_dataset_files(meta["dataset"], data_dir)
    train, _ = load_datasets(meta["dataset"], data_dir)
    provenance = dataset_provenance(resolve_data_dir(data_dir), meta["dataset"])
    check_trained_on(meta, args.checkpoint, provenance)
    runner = EpisodeRunner(
        args.checkpoint,
        train,
        device=device,
        provenance=provenance,
        heldout_size=args.heldout_size,
        compile=args.compile,
        update_mode=None if args.update_mode == "from-compile" else args.update_mode,
    )
    size = runner.suite(suite).size
    task_ids = list(range(1, size + 1)) if args.task_ids == "all" else list(args.task_ids)
    specs = [
        EpisodeSpec(task_id=t, episode_index=i, seed=args.seed, method=args.method, ttt=ttt, suite=suite)
        for t in task_ids
        for i in range(args.episodes_per_task)
    ]
    for spec in specs[:: args.episodes_per_task]:
        runner.check(spec)
    record_trajectories = args.record_trajectories or args.video
    if record_trajectories and not runner.info.is_maze:
        raise UsageError(f"--record-trajectories records x-y paths of maze datasets only, not {meta['dataset']}")
    play = runner.run_traced if record_trajectories else runner.run
    if args.video:
        from gcttt.figures.video import offscreen_problem

        problem = offscreen_problem()
        if problem:
            print(f"gcttt evaluate: no video: {problem}; recording the trajectories only (draw them with "
                  f"analysis/plot_episodes.py {out} --data-dir DIR)", file=sys.stderr)  # fmt: skip
        else:
            play = _video_player(runner, out, args.video_every, args.video_size)
    played = [play(spec) for spec in tqdm(specs, desc=f"evaluate {args.method}", unit="ep")]
    records = [p[0] for p in played] if record_trajectories else played
    path = write_records(out, records, RunContext(sweep_id=name, sweep_kind="evaluate", trial_id=name))
    if record_trajectories:
        from gcttt.results.trajectories import write_trajectories_beside

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


ACTIONS = {None: (EvaluateCommand, run, "evaluate a checkpoint on a task suite (baseline or GC-TTT)")}
