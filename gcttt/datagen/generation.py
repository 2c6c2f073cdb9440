"""Local generation of OGBench datasets, for machines that cannot download the official files.

`generate_dataset` plays the oracle episodes in parallel worker processes (episodes are
independent), joins them in episode order, splits off the validation episodes (one tenth of
the training count, played after them, as OGBench does) and writes both files atomically.
An episode's randomness derives only from (seed, episode index), so the files are identical
whatever the number of workers.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from gcttt import __version__
from gcttt.data.episodes import join_episodes
from gcttt.data.files import OfflineData, split_paths, write_dataset_file
from gcttt.data.provenance import write_sidecar
from gcttt.datagen.collect_manip import ManipRecipe
from gcttt.envs import dataset_info
from gcttt.errors import UsageError
from gcttt.files.fileio import check_writable_dir, exclusive_lock
from gcttt.files.provenance import git_sha
from gcttt.seeding import derive_seed


@dataclass(frozen=True)
class GenerationSpec:
    """How OGBench built one dataset (data_gen_scripts/commands.sh), and so how we rebuild it."""

    dataset: str
    """Dataset name."""
    episodes: int
    """Training episodes; validation adds episodes // 10 more."""
    max_episode_steps: int
    """Rows per episode (observations, the last without a usable action)."""
    maze_noise: float = 0.5
    """Std of the Gaussian action noise of the maze oracle."""
    manip: ManipRecipe | None = None
    """Oracle recipe, for manipulation datasets."""
    expert: str | None = None
    """Locomotion expert that turns the oracle's directions into actions ('ant'); None: the point
    mass, which moves along the direction itself."""

    def extra_provenance(self) -> dict:
        """What the provenance sidecar records beyond sizes and seed."""
        if self.manip is not None:
            return {"oracle": self.manip.oracle}
        out: dict = {"maze_noise": self.maze_noise}
        if self.expert:
            from gcttt.datagen.expert.shipped import expert_dir, load_expert, read_manifest

            folder = expert_dir(self.expert)
            manifest = read_manifest(folder) if (folder / "manifest.json").exists() else {}
            out.update(
                expert=self.expert,
                expert_fingerprint=load_expert(self.expert).fingerprint,
                expert_git_sha=manifest.get("git_sha", ""),
                official_counterpart="no: OGBench's files were collected with OGBench's own JAX expert",
            )
        return out


def _supported() -> dict[str, GenerationSpec]:
    specs = {}
    for size in ("medium", "large", "giant", "teleport"):
        nav_eps, nav_len = (500, 2001) if size == "giant" else (1000, 1001)
        specs[f"pointmaze-{size}-navigate-v0"] = GenerationSpec(f"pointmaze-{size}-navigate-v0", nav_eps, nav_len)
        specs[f"pointmaze-{size}-stitch-v0"] = GenerationSpec(f"pointmaze-{size}-stitch-v0", 5000, 201)
        # The ant (OGBench's data_gen_scripts/commands.sh): action noise 0.2, explore 1.0; no giant explore.
        ant = {"maze_noise": 0.2, "expert": "ant"}
        specs[f"antmaze-{size}-navigate-v0"] = GenerationSpec(f"antmaze-{size}-navigate-v0", nav_eps, nav_len, **ant)
        specs[f"antmaze-{size}-stitch-v0"] = GenerationSpec(f"antmaze-{size}-stitch-v0", 5000, 201, **ant)
        if size != "giant":
            specs[f"antmaze-{size}-explore-v0"] = GenerationSpec(
                f"antmaze-{size}-explore-v0", 10_000, 501, maze_noise=1.0, expert="ant"
            )
    manip = {
        "cube-single": 0.1,
        "cube-double": 0.1,
        "scene": 0.1,
        "puzzle-3x3": 0.2,
        "puzzle-4x4": 0.2,
    }
    for env, p_random in manip.items():
        specs[f"{env}-play-v0"] = GenerationSpec(f"{env}-play-v0", 1000, 1001, manip=ManipRecipe(oracle="plan"))
        specs[f"{env}-noisy-v0"] = GenerationSpec(
            f"{env}-noisy-v0", 1000, 1001, manip=ManipRecipe(oracle="markov", p_random_action=p_random)
        )
    return specs


SUPPORTED: dict[str, GenerationSpec] = _supported()


def generation_spec(dataset: str) -> GenerationSpec:
    """The recipe for `dataset`; UsageError listing the supported names otherwise."""
    if dataset not in SUPPORTED:
        if dataset.startswith("humanoidmaze-"):
            from gcttt.datagen.expert.shipped import HUMANOID_REFUSAL

            raise UsageError(f"no local generator for {dataset}: {HUMANOID_REFUSAL}")
        if dataset == "antmaze-giant-explore-v0":
            raise UsageError(
                "antmaze-giant-explore-v0 is not an OGBench dataset (explore exists for medium, large, teleport)"
            )
        import difflib

        from gcttt.envs import DATASETS

        close = difflib.get_close_matches(dataset, [*SUPPORTED, *DATASETS], n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}? " if close else ""
        raise UsageError(
            f"no local generator for {dataset!r}; {hint}supported: {', '.join(sorted(SUPPORTED))} "
            "(other datasets: download the official files with network access)"
        )
    return SUPPORTED[dataset]


# --- worker side ------------------------------------------------------------------------------

_WORKER: dict = {}


def _init_worker(dataset: str, max_episode_steps: int) -> None:
    import gymnasium
    import ogbench  # noqa: F401  (registers the envs)

    warnings.filterwarnings("ignore")
    info = dataset_info(dataset)
    spec = SUPPORTED[dataset]
    policy = None
    if info.is_maze:
        env = gymnasium.make(info.env_name, terminate_at_goal=False, max_episode_steps=max_episode_steps)
        oracles = None
        if spec.expert:
            import torch

            from gcttt.datagen.expert.shipped import load_expert

            torch.set_num_threads(1)  # one process per core
            policy = load_expert(spec.expert)
    else:
        from gcttt.datagen.collect_manip import make_oracles

        env = gymnasium.make(
            info.env_name,
            terminate_at_goal=False,
            mode="data_collection",
            max_episode_steps=max_episode_steps,
        )
        oracles = make_oracles(env, info.family, spec.manip)
    _WORKER.update(info=info, spec=spec, env=env, oracles=oracles, policy=policy)


def _play(args: tuple[int, int]) -> tuple[dict[str, np.ndarray], int]:
    from gcttt.datagen.collect_manip import collect_manip_episode
    from gcttt.datagen.collect_maze import collect_maze_episode, point_policy

    seed, episode = args
    info, spec, env = _WORKER["info"], _WORKER["spec"], _WORKER["env"]
    for attempt in range(100):
        s = derive_seed(seed, episode) if attempt == 0 else derive_seed(seed, episode + 1_000_003 * attempt)
        # OGBench's envs and oracles draw from NumPy's global RNG (start noise, plan noise), the
        # env's own np_random draws object placements: seed both from the episode seed.
        np.random.seed(s)
        env.reset(seed=s)
        rng = np.random.default_rng(s)
        if info.is_maze:
            policy = _WORKER["policy"] or point_policy
            rows = collect_maze_episode(env, info.kind, spec.maze_noise, rng, policy)
        else:
            rows = collect_manip_episode(env, _WORKER["oracles"], info.family, info.variant, spec.manip, rng)
        if rows is not None:
            return rows.to_arrays(), rows.success_steps
    raise RuntimeError(f"episode {episode}: no healthy episode in 100 attempts")


# --- driver side ------------------------------------------------------------------------------


@dataclass(frozen=True)
class GenerationReport:
    """What a generation run produced, for the user and for the closing notes."""

    train_path: Path
    val_path: Path
    train: OfflineData
    val: OfflineData
    seconds: float
    workers: int
    success_fraction: float
    """Share of all collected steps at which the oracle reached its current goal (navigate: the
    steps where a goal was reached and a new one drawn; stitch: steps spent at the goal)."""
    successes_per_episode: float
    """Mean number of such steps per episode (navigate: goals reached per episode)."""


def generate_dataset(
    dataset: str,
    out_dir: str | os.PathLike,
    *,
    episodes: int | None = None,
    max_episode_steps: int | None = None,
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> GenerationReport:
    """Generate `dataset` into `out_dir` in OGBench's format; returns a report.

    Existing files of the dataset are never replaced unless `overwrite`. `workers`: processes
    (None: all cores). The files get a provenance sidecar that says they were generated.
    """
    spec = generation_spec(dataset)
    n_train = spec.episodes if episodes is None else episodes
    steps = spec.max_episode_steps if max_episode_steps is None else max_episode_steps
    if n_train < 1:
        raise UsageError(f"--episodes must be at least 1 (got {n_train})")
    if steps < 2:
        raise UsageError(f"--max-episode-steps must be at least 2 (got {steps})")
    if workers is not None and workers < 1:
        raise UsageError(f"--workers must be at least 1 (got {workers}); leave it out to use every core")
    if seed < 0:
        raise UsageError(f"--seed must be 0 or more (got {seed})")
    out_dir = check_writable_dir(out_dir, "--out")
    if spec.expert:
        from gcttt.datagen.expert.shipped import load_expert

        load_expert(spec.expert)  # a missing or damaged expert is refused before any episode
    # One writer per dataset and folder: a second `gcttt data generate` (or a sweep generating
    # its data) into the same folder is refused instead of silently replacing the first's files.
    refusal = (
        f"another process is generating {dataset} into {out_dir}; wait for it to finish (its files are then "
        "there to use), or pass --out elsewhere"
    )
    with exclusive_lock(out_dir / f".{dataset}.lock", refusal):
        return _generate_locked(spec, dataset, out_dir, n_train, steps, seed, workers, progress, overwrite)


def _generate_locked(
    spec: GenerationSpec,
    dataset: str,
    out_dir: Path,
    n_train: int,
    steps: int,
    seed: int,
    workers: int | None,
    progress: bool,
    overwrite: bool,
) -> GenerationReport:
    existing = [p for p in split_paths(out_dir, dataset) if p.exists()]
    if existing and not overwrite:
        names = " and ".join(p.name for p in existing)
        raise UsageError(f"{names} already in {out_dir}; pass --overwrite to replace, or --out elsewhere")
    n_val = max(1, n_train // 10)
    n_total = n_train + n_val
    workers = max(1, min(workers or os.cpu_count() or 1, n_total))

    start = time.perf_counter()
    jobs = [(seed, i) for i in range(n_total)]
    results: list[tuple[dict[str, np.ndarray], int]] = []
    bar = tqdm(total=n_total, desc=f"generate {dataset}", unit="ep", disable=not progress)
    if workers == 1:
        _init_worker(dataset, steps)
        for job in jobs:
            results.append(_play(job))
            bar.update()
    else:
        ctx = mp.get_context("spawn")  # fork after torch/mujoco imports is unsafe
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(dataset, steps)) as ex:
            for result in ex.map(_play, jobs, chunksize=max(1, min(16, n_total // (workers * 8)))):
                results.append(result)
                bar.update()
    bar.close()

    arrays = [r[0] for r in results]
    train, val = join_episodes(arrays[:n_train]), join_episodes(arrays[n_train:])
    train_path, val_path = split_paths(out_dir, dataset)
    # Validation first: the loader needs both files, and the train file is the one whose
    # presence signals a finished run.
    write_dataset_file(val_path, val)
    write_dataset_file(train_path, train)
    write_sidecar(
        out_dir,
        dataset,
        "generated",
        generator=f"gcttt {__version__}",
        git_sha=git_sha(),
        seed=seed,
        episodes=n_train,
        val_episodes=n_val,
        max_episode_steps=steps,
        **spec.extra_provenance(),
    )
    total_steps = sum(len(a["observations"]) for a in arrays)
    return GenerationReport(
        train_path=train_path,
        val_path=val_path,
        train=train,
        val=val,
        seconds=time.perf_counter() - start,
        workers=workers,
        success_fraction=sum(r[1] for r in results) / total_steps,
        successes_per_episode=sum(r[1] for r in results) / n_total,
    )
