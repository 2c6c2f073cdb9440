"""Local generation of OGBench datasets: format, OGBench's own loader, split, determinism."""

from __future__ import annotations

import numpy as np
import ogbench
import pytest

from gcttt.data.files import read_dataset_file, split_paths
from gcttt.datagen.generation import SUPPORTED, generate_dataset, generation_spec
from gcttt.envs import dataset_info
from gcttt.errors import GctttError, UsageError

STEPS = 51  # rows per generated episode


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """Tiny datasets of two maze kinds and two manipulation envs, in one data directory."""
    root = tmp_path_factory.mktemp("generated")
    sizes = {
        "pointmaze-medium-navigate-v0": 20,  # 20 train + 2 validation episodes
        "pointmaze-medium-stitch-v0": 10,
        "cube-single-play-v0": 2,
        "puzzle-3x3-play-v0": 2,
    }
    reports = {
        name: generate_dataset(name, root, episodes=n, max_episode_steps=STEPS, workers=1, progress=False)
        for name, n in sizes.items()
    }
    return root, sizes, reports


DATASETS = [
    "pointmaze-medium-navigate-v0",
    "pointmaze-medium-stitch-v0",
    "cube-single-play-v0",
    "puzzle-3x3-play-v0",
]


@pytest.mark.parametrize("name", DATASETS)
def test_files_have_ogbench_format(generated, name):
    root, sizes, _ = generated
    info = dataset_info(name)
    train_path, val_path = split_paths(root, name)
    for path, episodes in ((train_path, sizes[name]), (val_path, max(1, sizes[name] // 10))):
        with np.load(path) as f:
            arrays = {k: f[k] for k in f.files}
        rows = episodes * STEPS
        assert arrays["observations"].dtype == np.float32
        assert arrays["observations"].shape == (rows, info.obs_dim)
        assert arrays["actions"].dtype == np.float32
        assert arrays["actions"].shape[0] == rows
        assert np.abs(arrays["actions"]).max() <= 1.0
        assert arrays["terminals"].dtype == bool
        # One terminal row at the end of every episode, nowhere else.
        np.testing.assert_array_equal(np.flatnonzero(arrays["terminals"]), np.arange(1, episodes + 1) * STEPS - 1)
        for key in ("qpos", "qvel"):
            assert arrays[key].dtype == np.float32
            assert arrays[key].shape[0] == rows
            assert np.isfinite(arrays[key]).all()
        if info.family == "puzzle":
            buttons = arrays["button_states"]
            assert np.issubdtype(buttons.dtype, np.integer)
            assert buttons.shape == (rows, 9)
            assert set(np.unique(buttons)) <= {0, 1}
            # The observation's on/off bit of each button is the stored button state.
            bits = arrays["observations"][:, [19 + 4 * i + 1 for i in range(9)]]
            np.testing.assert_array_equal(bits, buttons)
        else:
            assert "button_states" not in arrays


@pytest.mark.parametrize("name", ["pointmaze-medium-navigate-v0", "pointmaze-medium-stitch-v0"])
def test_maze_qpos_is_the_observation_of_the_same_row(generated, name):
    # Point-maze observations are the x-y position, i.e. qpos: rows must not be shifted.
    data = read_dataset_file(split_paths(generated[0], name)[0])
    np.testing.assert_array_equal(data.qpos, data.observations)
    # The oracle moves the point: consecutive observations differ inside episodes.
    moved = np.linalg.norm(np.diff(data.observations, axis=0), axis=1)[~data.terminals[:-1]]
    assert (moved > 0).mean() > 0.9


@pytest.mark.parametrize("name", DATASETS)
def test_ogbench_loader_reads_generated_files(generated, name):
    root, sizes, _ = generated
    info = dataset_info(name)
    env, train, val = ogbench.make_env_and_datasets(name, dataset_dir=str(root), add_info=True)
    try:
        assert env.observation_space.shape == (info.obs_dim,)
        for split, episodes in ((train, sizes[name]), (val, max(1, sizes[name] // 10))):
            transitions = episodes * (STEPS - 1)
            assert split["observations"].shape == (transitions, info.obs_dim)
            assert split["next_observations"].shape == (transitions, info.obs_dim)
            assert split["actions"].shape == (transitions, env.action_space.shape[0])
            assert split["terminals"].sum() == episodes
            assert "qpos" in split and "qvel" in split
            assert ("button_states" in split) == (info.family == "puzzle")
            # next_observations never cross an episode border.
            inside = split["terminals"][:-1] == 0
            np.testing.assert_array_equal(split["next_observations"][:-1][inside], split["observations"][1:][inside])
    finally:
        env.close()
    direct = ogbench.load_dataset(str(split_paths(root, name)[0]), add_info=True)
    np.testing.assert_array_equal(direct["observations"], train["observations"])


def test_validation_split_is_one_tenth_of_the_episodes(generated):
    _root, _, reports = generated
    report = reports["pointmaze-medium-navigate-v0"]
    train = read_dataset_file(report.train_path)
    val = read_dataset_file(report.val_path)
    assert train.num_episodes == 20
    assert val.num_episodes == 2
    # Validation episodes are other episodes, not copies of training ones.
    assert not np.isin(val.observations[:, 0], train.observations[:, 0]).all()


def test_generation_is_deterministic_and_independent_of_workers(tmp_path):
    name = "pointmaze-medium-navigate-v0"
    kwargs = dict(episodes=3, max_episode_steps=31, progress=False)
    generate_dataset(name, tmp_path / "w1", workers=1, seed=7, **kwargs)
    generate_dataset(name, tmp_path / "w1again", workers=1, seed=7, **kwargs)
    generate_dataset(name, tmp_path / "w2", workers=2, seed=7, **kwargs)
    generate_dataset(name, tmp_path / "other", workers=1, seed=8, **kwargs)

    def arrays(folder, split):
        with np.load(split_paths(tmp_path / folder, name)[split]) as f:
            return {k: f[k] for k in f.files}

    for split in (0, 1):
        reference = arrays("w1", split)
        for folder in ("w1again", "w2"):
            other = arrays(folder, split)
            assert other.keys() == reference.keys()
            for key in reference:
                np.testing.assert_array_equal(other[key], reference[key], err_msg=f"{folder} {key}")
        assert not np.array_equal(arrays("other", split)["observations"], reference["observations"])


def test_unknown_or_unsupported_names_list_the_supported_ones(tmp_path):
    for name in ("nope-v0", "scene-medium-play-v0"):
        with pytest.raises(UsageError) as excinfo:
            generate_dataset(name, tmp_path, episodes=1, max_episode_steps=5, workers=1, progress=False)
        message = str(excinfo.value)
        assert name in message
        assert "\n" not in message
        assert "pointmaze-medium-navigate-v0" in message and "cube-single-play-v0" in message
    assert list(tmp_path.iterdir()) == []
    assert generation_spec("cube-single-play-v0") is SUPPORTED["cube-single-play-v0"]


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [(dict(episodes=0), "--episodes"), (dict(max_episode_steps=1), "--max-episode-steps")],
)
def test_bad_sizes_are_refused(tmp_path, kwargs, needle):
    with pytest.raises(GctttError, match=needle):
        generate_dataset("pointmaze-medium-navigate-v0", tmp_path, workers=1, progress=False, **kwargs)


def test_cell_coverage_counts_rows_per_free_cell():
    from gcttt.datagen.collect_maze import cell_coverage

    maze = np.array([[1, 1, 1, 1], [1, 0, 0, 1], [1, 1, 0, 1], [1, 1, 1, 1]])
    xy = np.array([[1.0, 1.0], [1.2, 1.0], [2.0, 1.0], [9.0, 9.0]])  # x = column, y = row

    def cell_of(p):
        return round(float(p[1])), round(float(p[0]))

    visited, free, visits = cell_coverage(maze, xy, cell_of)
    assert (visited, free) == (2, 3) and visits.tolist() == [2, 1, 0]  # free cells in row order; (9, 9) not one
