"""What a sweep prints while Tune runs: one progress bar, and a warning when trials cannot start.

Tune's own status table (every few seconds, one block per trial start and result) is what
`--verbose` shows; by default the driver prints one bar for the whole sweep instead:

    sweep t: 2/3 trials, 10/15 episodes, success 0.40 | 00:09<00:04

(trials done, episodes of the finished trials, their success so far, elapsed < ETA). A trial that
stays PENDING while nothing runs (its CPU share fits on no node, or the cluster is busy) gets
one warning line after `pending_warn_s`, naming what it asks for and what each node has free.
"""

from __future__ import annotations

import sys
import time

from ray import tune
from tqdm.auto import tqdm


def free_cpus_by_node() -> str:
    """'1 of 1, 0.05 of 1' style: free and total CPUs of each alive node."""
    import ray

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    total = [float(n["Resources"].get("CPU", 0.0)) for n in nodes]
    free = ray.available_resources().get("CPU", 0.0)
    return f"{free:g} CPU free of {' + '.join(f'{c:g}' for c in total)} on {len(nodes)} node(s)"


class SweepProgress(tune.Callback):
    """Tune callback: one tqdm bar over the sweep's trials, and the pending-trial warning."""

    def __init__(
        self,
        name: str,
        trials: int,
        total_episodes: int,
        show_bar: bool = True,
        pending_warn_s: float = 60.0,
        trial_cpus: float = 0.0,
        prog: str = "sweep",
        stream=None,
    ):
        self.trials = trials
        self.pending_warn_s = pending_warn_s
        self.trial_cpus = trial_cpus
        self.prog = prog
        self.stream = stream or sys.stderr
        self.done = 0
        self.episodes = 0
        self.successes = 0.0
        self.total_episodes = total_episodes
        self.pending_since: float | None = None
        self.warned = False
        self.counted: set[str] = set()
        self.started = False
        self.show_bar = show_bar
        self.name = name
        self.bar = None

    def setup(self, **info):
        self.bar = tqdm(
            total=self.trials,
            initial=self.done,
            desc=f"sweep {self.name}",
            unit="trial",
            disable=not self.show_bar,
            file=self.stream,
            bar_format="{desc}: {n_fmt}/{total_fmt} trials{postfix} | {elapsed}<{remaining}",
            dynamic_ncols=True,
        )
        self._update()

    def __getstate__(self):  # Tune pickles its run config (tuner.pkl): no bar, no stream
        return {k: v for k, v in self.__dict__.items() if k not in ("bar", "stream")}

    def __setstate__(self, state):
        self.__dict__.update(state, bar=None, stream=sys.stderr)

    def _update(self) -> None:
        success = f"success {self.successes / self.episodes:.2f}" if self.episodes else "success -"
        if self.bar is not None:
            self.bar.set_postfix_str(f"{self.episodes}/{self.total_episodes} episodes, {success}", refresh=False)

    def _count(self, trial) -> None:
        result = trial.last_result or {}
        if "success" not in result or trial.trial_id in self.counted:
            return
        self.counted.add(trial.trial_id)
        self.add(result)

    def add(self, result: dict) -> None:
        """Count one finished trial from its reported metrics (also those finished before a --resume)."""
        n = int(result.get("episodes", 0))
        self.done += 1
        self.episodes += n
        self.successes += float(result["success"]) * n
        self._update()
        if self.bar is not None:
            self.bar.update()

    def on_step_begin(self, iteration, trials, **info):
        if not self.started:  # trials that finished before a --resume
            self.started = True
            for t in trials:
                if t.status == "TERMINATED":
                    self._count(t)

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._count(trial)

    def on_step_end(self, iteration, trials, **info):
        running = any(t.status == "RUNNING" for t in trials)
        pending = [t for t in trials if t.status == "PENDING"]
        if running or not pending:
            self.pending_since = None
            return
        now = time.monotonic()
        self.pending_since = self.pending_since or now
        if not self.warned and now - self.pending_since >= self.pending_warn_s:
            self.warned = True
            tqdm.write(
                f"{self.prog}: warning: {len(pending)} trial(s) have waited {now - self.pending_since:.0f} s with "
                f"nothing running (each asks for {self.trial_cpus:g} CPU; {free_cpus_by_node()}); a share that "
                "fits on no single node never starts: lower --trial-cpus, --workers or --cpus-per-worker",
                file=self.stream,
            )

    def on_experiment_end(self, trials, **info):
        self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
