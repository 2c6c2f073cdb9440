"""Task suites: OGBench's 5 tasks, and held-out pairs that never repeat them and are stable for a seed."""

from __future__ import annotations

import numpy as np
import pytest

from gcttt.control.tasks import OGBENCH, bfs_distances, parse_suite, task_suite
from gcttt.data.access import make_env
from gcttt.envs import dataset_info
from gcttt.errors import UsageError


@pytest.fixture(scope="module", params=["pointmaze-medium-navigate-v0", "antmaze-medium-stitch-v0"])
def maze(request):
    info = dataset_info(request.param)
    return make_env(info), info


def _pairs(suite) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    return [(tuple(map(int, t["init_ij"])), tuple(map(int, t["goal_ij"]))) for t in suite.infos]


def test_heldout_maze_pairs_are_new_and_as_far_as_ogbenchs(maze):
    env, info = maze
    official = task_suite(env, info, OGBENCH)
    assert official.size == 5 and official.reset_options(2) == {"task_id": 2}
    lengths = [bfs_distances(env.unwrapped.maze_map, s)[g] for s, g in _pairs(official)]
    for seed in range(5):
        heldout = task_suite(env, info, f"heldout-{seed}", size=20)
        pairs = _pairs(heldout)
        assert heldout.size == 20 and len(set(pairs)) == 20
        assert not set(pairs) & set(_pairs(official))  # never one of OGBench's tasks
        for start, goal in pairs:
            assert min(lengths) <= bfs_distances(env.unwrapped.maze_map, start)[goal] <= max(lengths)
        assert heldout.reset_options(1) == {"task_info": heldout.infos[0]}


def test_a_heldout_suite_is_the_same_for_its_seed_and_another_for_another(maze):
    env, info = maze
    first, again = task_suite(env, info, "heldout-3"), task_suite(env, info, "heldout-3")
    assert _pairs(first) == _pairs(again)
    assert _pairs(first) != _pairs(task_suite(env, info, "heldout-4"))


def test_heldout_cube_targets_are_new_and_stable():
    info = dataset_info("cube-single-play-v0")
    env = make_env(info)
    official = task_suite(env, info, OGBENCH)
    suite = task_suite(env, info, "heldout-0", size=8)
    again = task_suite(env, info, "heldout-0", size=8)
    for a, b in zip(suite.infos, again.infos, strict=True):
        assert np.array_equal(a["init_xyzs"], b["init_xyzs"]) and np.array_equal(a["goal_xyzs"], b["goal_xyzs"])
    for task in suite.infos:
        for known in official.infos:
            same = np.allclose(task["init_xyzs"], known["init_xyzs"], atol=0.02) and np.allclose(
                task["goal_xyzs"], known["goal_xyzs"], atol=0.02
            )
            assert not same


def test_bad_suites_are_one_line_errors(maze):
    env, info = maze
    for name in ("heldout", "heldout-x", "mine"):
        with pytest.raises(UsageError, match="unknown task suite"):
            parse_suite(name)
    with pytest.raises(UsageError, match="task 6 is not in suite ogbench"):
        task_suite(env, info, OGBENCH).reset_options(6)
    with pytest.raises(UsageError, match="at least one task"):
        task_suite(env, info, "heldout-0", size=0)
