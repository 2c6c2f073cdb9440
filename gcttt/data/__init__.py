"""Datasets: files on disk, local generation, and goal-conditioned sampling on a torch device."""

from gcttt.data.access import load_datasets, make_env, make_env_and_datasets, resolve_data_dir
from gcttt.data.files import OfflineData, read_dataset_file, write_dataset_file
from gcttt.data.sampler import Batch, GoalMix, GoalSampler, SamplerConfig
from gcttt.data.transitions import TransitionData, TransitionIndex

__all__ = [
    "Batch",
    "GoalMix",
    "GoalSampler",
    "OfflineData",
    "SamplerConfig",
    "TransitionData",
    "TransitionIndex",
    "load_datasets",
    "make_env",
    "make_env_and_datasets",
    "read_dataset_file",
    "resolve_data_dir",
    "write_dataset_file",
]
