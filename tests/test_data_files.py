"""Dataset files: validation with one-line errors, atomic writing, data-directory resolution."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest

from gcttt.data.access import load_datasets, make_env_and_datasets, resolve_data_dir
from gcttt.data.files import OfflineData, read_dataset_file, split_paths, write_dataset_file
from gcttt.datagen import ensure_dataset_files
from gcttt.envs import dataset_info
from gcttt.errors import DatasetError, GctttError, UsageError

MAZE = "pointmaze-medium-navigate-v0"


def episodes_data(lengths=(4, 3, 5), obs_dim=2, action_dim=2, seed=0) -> OfflineData:
    rng = np.random.default_rng(seed)
    rows = sum(lengths)
    terminals = np.zeros(rows, dtype=bool)
    terminals[np.cumsum(lengths) - 1] = True
    return OfflineData(
        observations=rng.normal(size=(rows, obs_dim)).astype(np.float32),
        actions=rng.uniform(-1, 1, size=(rows, action_dim)).astype(np.float32),
        terminals=terminals,
        qpos=rng.normal(size=(rows, obs_dim)).astype(np.float32),
        qvel=rng.normal(size=(rows, obs_dim)).astype(np.float32),
    )


def assert_one_line_error(excinfo, *needles: str) -> None:
    assert isinstance(excinfo.value, GctttError)
    message = str(excinfo.value)
    assert "\n" not in message and message.strip() == message
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"


def test_round_trip_keeps_every_array(tmp_path):
    data = episodes_data()
    path = tmp_path / "d.npz"
    write_dataset_file(path, data)
    back = read_dataset_file(path, expected_obs_dim=2)
    assert back.arrays().keys() == data.arrays().keys()
    for key, value in data.arrays().items():
        np.testing.assert_array_equal(back.arrays()[key], value)
        assert back.arrays()[key].dtype == value.dtype
    assert back.num_episodes == 3 and back.num_transitions == 12 - 3
    np.testing.assert_array_equal(back.episode_lengths, [4, 3, 5])
    # Written with normal permissions (not mkstemp's 0600), and no temporary file left.
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.npz"]


def test_failed_write_leaves_nothing_under_the_final_name(tmp_path, monkeypatch):
    def broken_savez(file, **arrays):
        file.write(b"PK\x03\x04 half an archive")  # some bytes reach the temporary file
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", broken_savez)
    path = tmp_path / "new.npz"
    with pytest.raises(OSError, match="disk full"):
        write_dataset_file(path, episodes_data())
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_failed_rewrite_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "d.npz"
    old = episodes_data(seed=1)
    write_dataset_file(path, old)
    before = path.read_bytes()

    def interrupted(file, **arrays):
        file.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez_compressed", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_dataset_file(path, episodes_data(seed=2))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["d.npz"]


def write_raw(path: Path, **arrays) -> Path:
    np.savez_compressed(path, **arrays)
    return path


def valid_arrays(seed=0) -> dict[str, np.ndarray]:
    return dict(episodes_data(seed=seed).arrays())


def test_random_bytes_are_refused(tmp_path):
    path = tmp_path / "corrupt.npz"
    path.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(DatasetError) as excinfo:
        read_dataset_file(path)
    assert_one_line_error(excinfo, str(path), "corrupt", "gcttt data generate")


def test_truncated_file_is_refused(tmp_path):
    path = tmp_path / "cut.npz"
    write_dataset_file(path, episodes_data(lengths=(50, 60)))
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    with pytest.raises(DatasetError) as excinfo:
        read_dataset_file(path)
    assert_one_line_error(excinfo, str(path), "truncated", "gcttt data generate")


def test_missing_keys_are_named(tmp_path):
    arrays = valid_arrays()
    del arrays["actions"], arrays["terminals"]
    path = write_raw(tmp_path / "missing.npz", **arrays)
    with pytest.raises(DatasetError) as excinfo:
        read_dataset_file(path)
    assert_one_line_error(excinfo, str(path), "missing actions, terminals", "gcttt data generate")


@pytest.mark.parametrize("key", ["observations", "actions", "qpos", "qvel"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_values_are_refused(tmp_path, key, bad):
    arrays = valid_arrays()
    arrays[key][[2, 5], 0] = bad
    path = write_raw(tmp_path / "nan.npz", **arrays)
    with pytest.raises(DatasetError) as excinfo:
        read_dataset_file(path)
    assert_one_line_error(excinfo, f"'{key}' has non-finite values in 2 rows", "gcttt data generate")


def test_wrong_observation_size_is_refused(tmp_path):
    path = write_raw(tmp_path / "dim.npz", **valid_arrays())
    read_dataset_file(path, expected_obs_dim=2)
    with pytest.raises(DatasetError) as excinfo:
        read_dataset_file(path, expected_obs_dim=28)
    assert_one_line_error(excinfo, "2 columns", "28", "gcttt data generate")
    # Through the loader: a pointmaze file with 3-dimensional observations.
    three = episodes_data(obs_dim=3)
    write_dataset_file(tmp_path / f"{MAZE}.npz", three)
    write_dataset_file(tmp_path / f"{MAZE}-val.npz", three)
    with pytest.raises(DatasetError) as excinfo:
        load_datasets(MAZE, tmp_path)
    assert_one_line_error(excinfo, "3 columns", "have 2")


def test_file_ending_mid_trajectory_is_refused(tmp_path):
    arrays = valid_arrays()
    arrays["terminals"][-1] = False
    path = write_raw(tmp_path / "open.npz", **arrays)
    with pytest.raises(DatasetError) as excinfo:
        read_dataset_file(path)
    assert_one_line_error(excinfo, "last row is not marked terminal", "gcttt data generate")


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda a: a.update(qpos=a["qpos"][:-1]), "'qpos' has 11 rows"),
        (lambda a: a.update(terminals=np.ones(12, dtype=bool)), "fewer than 2 observations"),
        (lambda a: a.update(actions=a["actions"][:, 0]), "bad array ranks"),
    ],
)
def test_inconsistent_arrays_are_refused(tmp_path, change, needle):
    arrays = valid_arrays()
    change(arrays)
    path = write_raw(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DatasetError) as excinfo:
        read_dataset_file(path)
    assert_one_line_error(excinfo, needle)


def test_missing_file(tmp_path):
    with pytest.raises(DatasetError) as excinfo:
        read_dataset_file(tmp_path / "absent.npz")
    assert_one_line_error(excinfo, "no such dataset file")


def test_missing_files_with_fetch_never_name_the_generate_command(tmp_path):
    with pytest.raises(DatasetError) as excinfo:
        ensure_dataset_files(MAZE, tmp_path, fetch="never")
    assert_one_line_error(excinfo, MAZE, f"gcttt data generate {MAZE} --out {tmp_path.resolve()}")
    # Only one split present counts as missing too.
    write_dataset_file(split_paths(tmp_path, MAZE)[0], episodes_data())
    with pytest.raises(DatasetError, match="gcttt data generate"):
        load_datasets(MAZE, tmp_path)
    # The reader alone (no fetching: gcttt.datagen's job) names the same command.
    with pytest.raises(DatasetError) as excinfo:
        load_datasets(MAZE, tmp_path / "empty")
    assert_one_line_error(excinfo, f"gcttt data generate {MAZE}")
    # Without a local generator the hint is OGBench's downloader.
    with pytest.raises(DatasetError) as excinfo:
        ensure_dataset_files("humanoidmaze-medium-navigate-v0", tmp_path, fetch="never")
    assert_one_line_error(excinfo, "ogbench.download_datasets")
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{MAZE}.npz"]


def test_offline_auto_fetch_without_generator_fails_clearly(tmp_path):
    with pytest.raises(DatasetError) as excinfo:
        ensure_dataset_files("humanoidmaze-medium-navigate-v0", tmp_path, fetch="auto")
    assert_one_line_error(excinfo, "no local generator", "unreachable")
    with pytest.raises(DatasetError) as excinfo:
        ensure_dataset_files(MAZE, tmp_path, fetch="download")
    assert_one_line_error(excinfo, "cannot reach", "gcttt data generate")
    assert list(tmp_path.iterdir()) == []


def test_unknown_dataset_names_are_usage_errors(tmp_path):
    for name in ("nope-v0", "pointmaze-tiny-navigate-v0", "cube-seven-play-v0"):
        with pytest.raises(UsageError) as excinfo:
            load_datasets(name, tmp_path)
        assert_one_line_error(excinfo, name)


def test_data_dir_resolution_order(tmp_path, monkeypatch):
    monkeypatch.delenv("GCTTT_DATA_DIR", raising=False)
    assert resolve_data_dir() == Path("~/.ogbench/data").expanduser().resolve()
    monkeypatch.setenv("GCTTT_DATA_DIR", str(tmp_path / "from-env"))
    assert resolve_data_dir() == (tmp_path / "from-env").resolve()
    assert resolve_data_dir(None) == (tmp_path / "from-env").resolve()
    assert resolve_data_dir(tmp_path / "explicit") == (tmp_path / "explicit").resolve()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve_data_dir("~/data") == tmp_path / "home" / "data"


def test_env_var_data_dir_is_used_by_the_loader(maze_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("GCTTT_DATA_DIR", str(maze_dir))
    train, val = load_datasets(MAZE)
    assert train.num_episodes == 4 and val.num_episodes == 1
    # An explicit directory wins over the variable.
    with pytest.raises(DatasetError, match=str(tmp_path.resolve())):
        load_datasets(MAZE, tmp_path)


def test_make_env_and_datasets_checks_the_env(maze_dir, tmp_path):
    env, train, _val = make_env_and_datasets(MAZE, maze_dir)
    try:
        assert env.observation_space.shape == (train.obs_dim,) == (dataset_info(MAZE).obs_dim,)
    finally:
        env.close()
    # A cube-sized file under a maze name is refused before any env is built.
    for path in split_paths(maze_dir, MAZE):
        shutil.copy(path, tmp_path / path.name)
    cube = episodes_data(obs_dim=28, action_dim=5)
    write_dataset_file(split_paths(tmp_path, MAZE)[1], cube)
    with pytest.raises(DatasetError, match="28 columns"):
        make_env_and_datasets(MAZE, tmp_path)
