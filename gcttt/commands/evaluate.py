"""`gcttt evaluate`: play the 5 OGBench tasks with a checkpoint, with or without test-time training."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from gcttt.selection import STRATEGIES


def add_parser(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="evaluate a checkpoint on the 5 tasks (baseline or GC-TTT)",
        description=(
            "Play each OGBench task --episodes-per-task times with a pre-trained checkpoint, either as "
            "it is (--method baseline) or with receding-horizon test-time training (--method gcttt), "
            "print per-task success and write one Parquet row per episode."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--checkpoint", required=True, help="checkpoint file (final.pt of a `gcttt pretrain` run)")
    p.add_argument("--method", default="gcttt", choices=["baseline", "gcttt"], help="evaluation method")
    p.add_argument("--selection", default="critic", choices=STRATEGIES, help="data selection strategy")
    p.add_argument("--K", type=int, default=100, help="re-plan horizon: env steps between re-plans")
    p.add_argument("--N", type=int, default=200, help="gradient steps per re-plan")
    p.add_argument("--lr", type=float, default=3e-4, help="fine-tuning learning rate")
    p.add_argument("--q", type=float, default=0.2, help="quantile of critic-quantile and critic-free")
    p.add_argument("--eps", type=float, default=1.0, help="relevance radius on p(.)")
    p.add_argument("--top-k", type=int, default=10, help="episodes kept by the critic selection")
    p.add_argument("--once", action="store_true", help="fine-tune once per episode (ablation)")
    p.add_argument("--episodes-per-task", type=int, default=3, help="episodes per task")
    p.add_argument("--tasks", type=int, nargs="+", default=[1, 2, 3, 4, 5], help="task ids")
    p.add_argument("--seed", type=int, default=0, help="evaluation seed")
    p.add_argument("--out", default=None, help="Parquet file for the records (default: next to the checkpoint)")
    p.add_argument("--data-dir", default=None, help="dataset directory (default: $GCTTT_DATA_DIR or ~/.ogbench/data)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from gcttt.checkpoint import read_checkpoint
    from gcttt.data.access import load_datasets
    from gcttt.errors import UsageError
    from gcttt.provenance import resolve_device
    from gcttt.records import write_records
    from gcttt.runner import EpisodeRunner, EpisodeSpec
    from gcttt.selection import SelectionConfig
    from gcttt.ttt import TTTConfig

    # Refuse bad knobs before loading anything.
    ttt = TTTConfig(
        horizon=args.K,
        steps=args.N,
        lr=args.lr,
        once=args.once,
        selection=SelectionConfig(strategy=args.selection, eps=args.eps, q=args.q, top_k=args.top_k),
    )
    if args.episodes_per_task < 1:
        raise UsageError(f"--episodes-per-task must be at least 1 (got {args.episodes_per_task})")
    bad = [t for t in args.tasks if not 1 <= t <= 5]
    if bad:
        raise UsageError(f"task ids are 1-5 (got {bad})")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    meta = read_checkpoint(args.checkpoint)
    train, _ = load_datasets(meta["dataset"], args.data_dir)
    runner = EpisodeRunner(args.checkpoint, train, device=device)
    specs = [
        EpisodeSpec(task_id=t, episode_index=i, seed=args.seed, method=args.method, ttt=ttt)
        for t in args.tasks
        for i in range(args.episodes_per_task)
    ]
    out = (
        Path(args.out) if args.out else Path(args.checkpoint).parent / f"eval-{args.method}-{int(time.time())}.parquet"
    )
    records = []
    for spec in tqdm(specs, desc=f"evaluate {args.method}", unit="ep"):
        records.append(runner.run(spec))
    write_records(out, records)
    label = "baseline" if args.method == "baseline" else f"gcttt/{args.selection} K={args.K} N={args.N} lr={args.lr:g}"
    print(f"{meta['dataset']}  {runner.agent.name}  {label}")
    for task in args.tasks:
        rows = [r for r in records if r.task_id == task]
        print(f"  task {task}: success {sum(r.success for r in rows) / len(rows):.2f} ({len(rows)} episodes)")
    total = sum(r.success for r in records) / len(records)
    print(f"  overall: {total:.3f} over {len(records)} episodes; records in {out}")
    sys.stdout.flush()
    return 0
