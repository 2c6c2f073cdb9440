"""Maze pictures of recorded episodes: the path, the pre-trained path, and the data each re-plan selected.

Used by ``analysis/plot_episodes.py`` (the grid figure of a sweep) and by the sweeps' trials,
which log one picture per trial to MLflow (`trial_figure`). It reads only recorded trajectories
(`gcttt.results.trajectories`), their Parquet rows, the training file's x-y positions (segments are row
ranges of that file) and the maze layout of the env itself (`maze_layout`: OGBench's
``maze_map``, cell size and offsets, so walls are where the simulator has them).

One panel (`draw_episode`):
- walls dark grey, free cells white, the axes exactly the maze's extent (nothing outside);
- start (white square) and goal (white star, dashed circle: the env's success radius);
- the episode's path in black, the pre-trained policy's path on the same task and episode seed
  dashed grey where it was recorded;
- per re-plan i, the selected segments as thin lines in colour i (`replan_colour`), with a dot at
  each segment's end point, and the agent's position at that re-plan as a circle of colour i.
A re-plan that selected more than `MAX_DRAWN_ROWS` rows or `MAX_DRAWN_SEGMENTS` segments (the
full-dataset and random controls) is drawn with every n-th segment only, and the panel says so.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from gcttt.results.trajectories import EpisodeTrajectory

WALL = "0.33"
PATH = "black"
BASELINE = "0.45"
REPLAN_COLOURS = (
    "#1f77b4",  # blue
    "#ff7f0e",  # orange
    "#2ca02c",  # green
    "#d62728",  # red
    "#9467bd",  # purple
    "#8c564b",  # brown
    "#e377c2",  # pink
    "#17becf",  # cyan
    "#bcbd22",  # olive
    "#e6b800",  # gold
)
"""Colour of re-plan 1, 2, ...; tab10 without its grey (the pre-trained path's), plus gold."""
MAX_DRAWN_ROWS = 60_000
"""Rows drawn per re-plan at most; beyond, every n-th segment (the full-dataset control)."""
MAX_DRAWN_SEGMENTS = 2_000
"""Segments drawn per re-plan at most; beyond, every n-th (the random control's 10,000 single
transitions: drawing them all took 15 s per trial picture and looks the same)."""


def replan_colour(i: int) -> str:
    """Colour of the i-th re-plan (0-based); repeats after 10."""
    return REPLAN_COLOURS[i % len(REPLAN_COLOURS)]


@dataclass(frozen=True)
class MazeLayout:
    """Where an OGBench maze's walls are, in x-y."""

    dataset: str
    walls: np.ndarray
    """[rows i, columns j] bool, True where the env has a wall block."""
    unit: float
    """Side of a cell."""
    offset: tuple[float, float]
    """Cell (i, j) is centred at x = j * unit - offset[0], y = i * unit - offset[1] (OGBench's ij_to_xy)."""
    goal_radius: float
    """The env's success radius around the goal."""

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """(x min, x max, y min, y max) of the whole map, walls included."""
        rows, cols = self.walls.shape
        half = self.unit / 2
        return (
            -self.offset[0] - half,
            (cols - 1) * self.unit - self.offset[0] + half,
            -self.offset[1] - half,
            (rows - 1) * self.unit - self.offset[1] + half,
        )

    def inside(self, xy: np.ndarray) -> np.ndarray:
        """[n] bool: points within the map's extent."""
        x0, x1, y0, y1 = self.extent
        xy = np.asarray(xy).reshape(-1, 2)
        return (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)


@functools.lru_cache(maxsize=8)
def maze_layout(dataset: str) -> MazeLayout:
    """The layout of `dataset`'s maze, read off its OGBench env."""
    from gcttt.data.access import make_env
    from gcttt.envs import dataset_info
    from gcttt.errors import UsageError

    info = dataset_info(dataset)
    if not info.is_maze:
        raise UsageError(f"episode pictures are drawn for maze datasets only, not {dataset}")
    env = make_env(info)
    try:
        maze = env.unwrapped
        return MazeLayout(
            dataset=dataset,
            walls=np.asarray(maze.maze_map) == 1,
            unit=float(maze._maze_unit),
            offset=(float(maze._offset_x), float(maze._offset_y)),
            goal_radius=float(maze._goal_tol),
        )
    finally:
        env.close()


def draw_maze(ax, layout: MazeLayout) -> None:
    from matplotlib.colors import ListedColormap

    x0, x1, y0, y1 = layout.extent
    ax.imshow(
        layout.walls.astype(float),
        cmap=ListedColormap(["white", WALL]),
        vmin=0,
        vmax=1,
        origin="lower",  # row i grows with y, as in ij_to_xy
        extent=(x0, x1, y0, y1),
        interpolation="nearest",
        zorder=0,
    )
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_color(WALL)


def segment_lines(positions: np.ndarray, segments: np.ndarray) -> tuple[list[np.ndarray], int]:
    """The x-y polylines of `segments` (rows start .. end inclusive: the end row is the last
    transition's next state), and the stride n (1: every segment; more: every n-th, when the
    re-plan selected over MAX_DRAWN_ROWS rows or MAX_DRAWN_SEGMENTS segments)."""
    if len(segments) == 0:
        return [], 1
    rows = int((segments[:, 2] - segments[:, 1] + 1).sum())
    stride = max(1, int(np.ceil(rows / MAX_DRAWN_ROWS)), int(np.ceil(len(segments) / MAX_DRAWN_SEGMENTS)))
    return [positions[start : end + 1] for _, start, end in segments[::stride]], stride


def draw_episode(
    ax,
    layout: MazeLayout,
    trajectory: EpisodeTrajectory,
    positions: np.ndarray | None,
    *,
    baseline: EpisodeTrajectory | None = None,
    title: str = "",
) -> dict:
    """Draw one episode on `ax`; returns what was drawn: {'segments': [per re-plan: polylines],
    'strides': [per re-plan], 'thinned': bool}. `positions` is the training file's [rows, 2]
    x-y (None: no segments drawn)."""
    from matplotlib.collections import LineCollection

    draw_maze(ax, layout)
    drawn: dict = {"segments": [], "strides": [], "thinned": False}
    lines, colours = [], []
    if positions is not None:
        for i, replan in enumerate(trajectory.replans):
            polylines, stride = segment_lines(positions, replan.segments)
            drawn["segments"].append(polylines)
            drawn["strides"].append(stride)
            drawn["thinned"] |= stride > 1
            lines += polylines
            colours += [replan_colour(i)] * len(polylines)
    if lines:
        # One collection in a shuffled (fixed) order, so that no re-plan's colour hides the others'.
        order = np.random.default_rng(0).permutation(len(lines))
        lines, colours = [lines[k] for k in order], [colours[k] for k in order]
        ax.add_collection(LineCollection(lines, colors=colours, linewidths=0.8, alpha=0.8, zorder=2, rasterized=True))
        ends = np.array([line[-1] for line in lines])
        ax.scatter(ends[:, 0], ends[:, 1], s=3, c=colours, zorder=2, linewidths=0, rasterized=True)
    if baseline is not None:
        ax.plot(*baseline.path.T, color=BASELINE, lw=1.3, ls=(0, (3, 2)), zorder=3)
    ax.plot(*trajectory.path.T, color=PATH, lw=1.4, zorder=4)
    for i, replan in enumerate(trajectory.replans):
        ax.scatter(*replan.position, s=42, color=replan_colour(i), edgecolors="black", linewidths=0.8, zorder=6)
    start = trajectory.path[0]
    ax.scatter(*start, marker="s", s=60, color="white", edgecolors="black", linewidths=1.2, zorder=7)
    goal = trajectory.goal
    ax.add_patch(
        _circle(goal, layout.goal_radius, edgecolor="black", facecolor="none", lw=0.9, ls=(0, (2, 1.5)), zorder=5)
    )
    ax.scatter(*goal, marker="*", s=150, color="white", edgecolors="black", linewidths=1.0, zorder=7)
    empty = sum(1 for r in trajectory.replans if len(r.segments) == 0)
    if empty:
        what = "selected nothing" if empty == len(trajectory.replans) == 1 else f"{empty} re-plans selected nothing"
        if empty == len(trajectory.replans) > 1:
            what = "every re-plan selected nothing"
        ax.text(
            0.03, 0.03, what, transform=ax.transAxes, fontsize=8, ha="left", va="bottom", zorder=8,
            bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none", "alpha": 0.9},
        )  # fmt: skip
    if drawn["thinned"]:
        title = f"{title}\n(every {max(drawn['strides'])}th segment drawn)"
    if title:
        ax.set_title(title, fontsize=9)
    return drawn


def _circle(xy, radius, **kwargs):
    from matplotlib.patches import Circle

    return Circle(tuple(xy), radius, **kwargs)


def legend_handles(max_replans: int, baseline: bool, replan_steps: list[int] | None = None) -> list:
    """Legend entries: start, goal, path, pre-trained path, and one per re-plan colour."""
    from matplotlib.lines import Line2D

    def marker(shape, label, colour="white", size=9):
        return Line2D([], [], ls="none", marker=shape, ms=size, mfc=colour, mec="black", label=label)

    handles = [
        marker("s", "start", size=7),
        marker("*", "goal (dashed: success radius)", size=12),
        Line2D([], [], color=PATH, lw=1.4, label="path"),
    ]
    if baseline:
        handles.append(Line2D([], [], color=BASELINE, lw=1.3, ls=(0, (3, 2)), label="pre-trained path"))
    for i in range(min(max_replans, len(REPLAN_COLOURS))):
        step = f" (step {replan_steps[i]})" if replan_steps and i < len(replan_steps) else ""
        handles.append(marker("o", f"re-plan {i + 1}{step}", replan_colour(i), 7))
    return handles


# --- figures ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PanelSpec:
    """One panel: an episode, its Parquet row, and the pre-trained path to compare with."""

    trajectory: EpisodeTrajectory
    row: dict
    """The episode's Parquet row (success, episode_steps, task_id, ...)."""
    baseline: EpisodeTrajectory | None = None


def fmt_lr(value: float) -> str:
    mantissa, exponent = f"{value:.2e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def arm_label(row: dict) -> str:
    """'pre-trained', 'critic, K=200 N=100 lr=3e-4', 'critic-free, once (kept) N=100 lr=3e-4', ..."""
    if row["method"] == "baseline":
        return "pre-trained"
    when = {"once": "once", "once-keep": "once (kept)"}.get(row["schedule"], f"K={int(row['horizon'])}")
    return f"{row['selection']}, {when} N={int(row['grad_steps'])} lr={fmt_lr(float(row['lr']))}"


def knobs_text(row: dict) -> str:
    """The selection knobs the row's strategy read ('eps=1, top_k=10, ...'); '' for the baseline."""
    if row["method"] == "baseline":
        return ""
    parts = []
    from gcttt.selection import KNOBS

    for name in KNOBS:
        value = row.get(name)
        if value is None or value == 0:
            continue
        if name == "distance_discount" and value == -1:
            parts.append("distance gamma = the backbone's")
            continue
        parts.append(f"{name}={value:g}" if isinstance(value, float) else f"{name}={value}")
    return ", ".join(parts)


def panel_title(row: dict, task: bool = True) -> str:
    """'success, 412 steps, 3 re-plans', under 'task 2' in the top row."""
    outcome = "success" if row["success"] else "failed"
    replans = int(row.get("replans", 0) or 0)
    tail = f", {replans} re-plan{'s' if replans != 1 else ''}" if row["method"] != "baseline" else ""
    head = f"task {int(row['task_id'])}\n" if task else ""
    return f"{head}{outcome}, {int(row['episode_steps'])} steps{tail}"


def episodes_figure(
    layout: MazeLayout,
    grid: list[list[PanelSpec | None]],
    row_labels: list[str],
    col_labels: list[str] | None,
    positions: np.ndarray | None,
    caption: str,
    panel_inches: float = 2.2,
    replan_steps: list[int] | None = None,
):
    """A figure of panels (rows x columns); returns (fig, drawn), drawn[r][c] what `draw_episode` drew.
    `replan_steps`: the env steps of the re-plans, named in the legend when every row shares them."""
    import matplotlib.pyplot as plt

    from gcttt.figures.style import add_caption, style

    style()
    rows, cols = len(grid), max(len(r) for r in grid)
    fig, axes = plt.subplots(rows, cols, figsize=(panel_inches * cols + 0.4, panel_inches * rows + 0.9), squeeze=False)
    drawn: list[list[dict | None]] = []
    has_baseline, max_replans = False, 0
    for r, specs in enumerate(grid):
        drawn.append([])
        for c in range(cols):
            ax = axes[r][c]
            spec = specs[c] if c < len(specs) else None
            if spec is None:
                draw_maze(ax, layout)
                ax.text(0.5, 0.5, "not recorded", transform=ax.transAxes, ha="center", va="center", fontsize=9)
                drawn[-1].append(None)
            else:
                drawn[-1].append(
                    draw_episode(
                        ax,
                        layout,
                        spec.trajectory,
                        positions,
                        baseline=spec.baseline,
                        title=panel_title(spec.row, task=r == 0),
                    )
                )
                has_baseline |= spec.baseline is not None
                max_replans = max(max_replans, len(spec.trajectory.replans))
            if c == 0:
                ax.set_ylabel(row_labels[r].replace(", ", "\n", 1), fontsize=9)
            if col_labels and r == 0 and spec is None:
                ax.set_title(col_labels[c], fontsize=9)
    add_caption(fig, caption)
    handles = legend_handles(max_replans, has_baseline, replan_steps)
    ncols = min(len(handles), max(4, cols + 1))
    fig.legend(handles=handles, loc="outside upper center", ncols=ncols, fontsize=8, frameon=False)
    return fig, drawn


def trial_caption(rows: list[dict]) -> str:
    """Caption of one trial's picture: the arm, its knobs, success, the data's provenance."""
    from gcttt.figures.style import backbone_label

    first = rows[0]
    knobs = knobs_text(first)
    source = {"generated": "generated locally (gcttt's recipe)", "official": "OGBench's official file"}.get(
        first["dataset_source"], "provenance not recorded"
    )
    wins = sum(bool(r["success"]) for r in rows)
    return (
        f"{arm_label(first)}{f' [{knobs}]' if knobs else ''}: {wins}/{len(rows)} episodes succeed. "
        f"{first['dataset']} (data: {source}), {backbone_label(first['backbone'])} ({first['preset']} preset, "
        f"width {first['width']}), pre-training seed {first['pretrain_seed']}. Black: this arm's path; dashed grey: "
        "the pre-trained policy on the same task and seed (where recorded); colours: each re-plan's selected "
        "dataset segments, the circle of that colour where the agent re-planned."
    )


def trial_figure(
    layout: MazeLayout,
    rows: list[dict],
    trajectories: list[EpisodeTrajectory],
    positions: np.ndarray | None,
    baselines: dict[tuple[int, int], EpisodeTrajectory] | None = None,
):
    """One trial's episodes: a column per task, a row per episode index; returns (fig, drawn)."""
    baselines = baselines or {}
    tasks = sorted({int(r["task_id"]) for r in rows})
    indices = sorted({int(r["episode_index"]) for r in rows})
    by_key = {(int(r["task_id"]), int(r["episode_index"])): (r, t) for r, t in zip(rows, trajectories, strict=True)}
    grid = []
    for index in indices:
        line = []
        for task in tasks:
            found = by_key.get((task, index))
            if found is None:
                line.append(None)
                continue
            row, trajectory = found
            compare = baselines.get((task, index)) if row["method"] != "baseline" else None
            line.append(PanelSpec(trajectory, row, compare))
        grid.append(line)
    steps = [r.step for r in max(trajectories, key=lambda t: len(t.replans)).replans]
    labels = [f"episode {i}" for i in indices]
    return episodes_figure(layout, grid, labels, None, positions, trial_caption(rows), replan_steps=steps)
