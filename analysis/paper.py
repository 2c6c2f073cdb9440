"""The published numbers the reproduction is compared with (docs/method.md §8), in one place.

Success rates, mean over 3 seeds, "medium" mazes; Table 1 of Bagatella et al. (arXiv 2507.18809).
"""

from __future__ import annotations

TABLE1: dict[tuple[str, str], tuple[float, float]] = {
    # (backbone, dataset): (pre-trained, + TTT)
    ("gcbc", "pointmaze-medium-navigate-v0"): (0.05, 0.81),
    ("gcbc", "pointmaze-medium-stitch-v0"): (0.33, 0.96),
    ("gcbc", "antmaze-medium-navigate-v0"): (0.30, 0.48),
    ("gcbc", "antmaze-medium-stitch-v0"): (0.50, 0.79),
    ("gcbc", "humanoidmaze-medium-navigate-v0"): (0.06, 0.21),
    ("gcbc", "humanoidmaze-medium-stitch-v0"): (0.33, 0.73),
    ("gcbc", "cube-single-play-v0"): (0.07, 0.09),
    ("gciql", "pointmaze-medium-navigate-v0"): (0.52, 0.60),
    ("gciql", "pointmaze-medium-stitch-v0"): (0.24, 0.41),
    ("gciql", "antmaze-medium-navigate-v0"): (0.65, 0.87),
    ("gciql", "antmaze-medium-stitch-v0"): (0.26, 0.73),
    ("gciql", "humanoidmaze-medium-navigate-v0"): (0.27, 0.57),
    ("gciql", "humanoidmaze-medium-stitch-v0"): (0.08, 0.53),
    ("gciql", "cube-single-play-v0"): (0.72, 0.75),
    ("saw", "pointmaze-medium-navigate-v0"): (0.97, 1.00),
    ("saw", "pointmaze-medium-stitch-v0"): (0.81, 0.98),
    ("saw", "antmaze-medium-navigate-v0"): (0.96, 0.99),
    ("saw", "antmaze-medium-stitch-v0"): (0.98, 0.99),
    ("saw", "humanoidmaze-medium-navigate-v0"): (0.86, 0.96),
    ("saw", "humanoidmaze-medium-stitch-v0"): (0.76, 0.83),
    ("saw", "cube-single-play-v0"): (0.71, 0.73),
}

SELECTION_ABLATION = {"pre-trained": 0.25, "random": 0.22, "no-optimality": 0.35, "no-relevance": 0.34, "GC-TTT": 0.57}
"""GC-IQL, mean of pointmaze-stitch and antmaze-stitch."""

REPLAN = {
    "antmaze-medium-stitch-v0": {1000: 0.36, 500: 0.44, 200: 0.53, 100: 0.73},
    "pointmaze-medium-stitch-v0": {1000: 0.24, 500: 0.37, 200: 0.40, 100: 0.41},
}
"""GC-IQL success by re-plan interval K (N = 200)."""

COMPUTE = {
    "widths": (512, 624, 732, 992),
    "scaling": (0.26, 0.30, 0.26, 0.24),
    "ttt_baseline": 0.26,
    "ttt": {1000: 0.36, 500: 0.44, 200: 0.53},
}
"""GC-IQL on antmaze-medium-stitch: model scaling without TTT, and TTT at the 512 width."""
