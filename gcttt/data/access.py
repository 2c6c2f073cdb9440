"""One entry point to an OGBench env and its train/validation datasets.

Files live in a data directory: the ``--data-dir`` flag, else ``$GCTTT_DATA_DIR``, else
OGBench's default ``~/.ogbench/data``. This module only reads them: getting missing files
(OGBench's download, or local generation) is `gcttt.datagen.ensure_dataset_files`, one layer
up, which the entry points call first; here a missing file is an error naming the command that
makes it.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from gcttt.data.files import OfflineData, read_dataset_file, split_paths
from gcttt.envs import DatasetInfo, dataset_info
from gcttt.errors import DatasetError, UsageError

DEFAULT_DATA_DIR = "~/.ogbench/data"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data directory: explicit argument, else $GCTTT_DATA_DIR, else ~/.ogbench/data."""
    chosen = data_dir or os.environ.get("GCTTT_DATA_DIR") or DEFAULT_DATA_DIR
    return Path(chosen).expanduser().resolve()


def make_env(dataset: str | DatasetInfo, **env_kwargs):
    """The OGBench evaluation env of a dataset (state observations)."""
    import gymnasium
    import numpy as np
    import ogbench  # noqa: F401  (registers the envs)

    info = dataset if isinstance(dataset, DatasetInfo) else dataset_info(dataset)
    saved = np.random.get_state()  # some OGBench envs draw from NumPy's global RNG when built
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # gymnasium's float64-bounds notices
            return gymnasium.make(info.env_name, **env_kwargs)
    finally:
        np.random.set_state(saved)


def check_dataset_files(dataset: str, data_dir: str | os.PathLike | None = None) -> Path:
    """The data directory, once both split files of `dataset` are there; DatasetError otherwise,
    naming the command that makes them."""
    dataset_info(dataset)  # validates the name
    root = resolve_data_dir(data_dir)
    train_path, val_path = split_paths(root, dataset)
    if train_path.exists() and val_path.exists():
        return root
    if train_path.exists() or val_path.exists():
        # Never overwrite a file that exists: the user decides what to do with it.
        present, absent = (train_path, val_path) if train_path.exists() else (val_path, train_path)
        raise DatasetError(
            f"{present.name} exists in {root} but {absent.name} does not; restore the missing split, or move "
            f"{present.name} away and run `gcttt data generate {dataset} --out {root}` to make both"
        )
    raise DatasetError(
        f"dataset files for {dataset} are missing in {root}; run `gcttt data generate {dataset} --out {root}` "
        f"(or, with network, download them: python -c \"import ogbench; ogbench.download_datasets(['{dataset}'], "
        f"'{root}')\")"
    )


def load_datasets(
    dataset: str, data_dir: str | os.PathLike | None = None, validation: bool = True
) -> tuple[OfflineData, OfflineData | None]:
    """Train and validation splits of `dataset`, validated against the env's observation size.
    `validation=False` reads only the train split (the validation split is then None)."""
    info = dataset_info(dataset)
    root = check_dataset_files(dataset, data_dir)
    train_path, val_path = split_paths(root, dataset)
    train = read_dataset_file(train_path, expected_obs_dim=info.obs_dim)
    if not validation:
        return train, None
    val = read_dataset_file(val_path, expected_obs_dim=info.obs_dim)
    if train.action_dim != val.action_dim:
        raise DatasetError(f"{val_path}: action size {val.action_dim} differs from the train split's")
    return train, val


def make_env_and_datasets(
    dataset: str,
    data_dir: str | os.PathLike | None = None,
    validation: bool = True,
    **env_kwargs,
) -> tuple[object, OfflineData, OfflineData | None]:
    """OGBench evaluation env plus validated train/validation splits of `dataset` (see `load_datasets`)."""
    train, val = load_datasets(dataset, data_dir, validation)
    env = make_env(dataset, **env_kwargs)
    env_obs_dim = env.observation_space.shape[0]
    if env_obs_dim != train.obs_dim:
        raise DatasetError(
            f"{dataset}: the env's observations have {env_obs_dim} entries but the dataset's have "
            f"{train.obs_dim}; regenerate the dataset"
        )
    if env.action_space.shape[0] != train.action_dim:
        raise UsageError(f"{dataset}: the env's action size differs from the dataset's; regenerate it")
    return env, train, val
