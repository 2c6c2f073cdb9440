"""TransitionIndex / TransitionData on episodes of different lengths."""

from __future__ import annotations

import numpy as np
import torch

from gcttt.data.files import OfflineData
from gcttt.data.transitions import TransitionData, TransitionIndex

LENGTHS = (3, 6, 2, 5)  # rows per episode: 2, 5, 1 and 4 transitions


def labelled(lengths=LENGTHS) -> OfflineData:
    """Observation of row r in episode e is (e, r); actions are (r, -r)."""
    episode = np.repeat(np.arange(len(lengths)), lengths)
    rows = np.arange(sum(lengths))
    terminals = np.zeros(len(rows), dtype=bool)
    terminals[np.cumsum(lengths) - 1] = True
    return OfflineData(
        observations=np.stack([episode, rows], 1).astype(np.float32),
        actions=np.stack([rows, -rows], 1).astype(np.float32),
        terminals=terminals,
    )


def test_index_of_uneven_episodes():
    index = TransitionIndex.from_terminals(labelled().terminals)
    # Rows 2, 8, 10 and 15 are the episodes' last observations: no transition starts there.
    np.testing.assert_array_equal(index.rows, [0, 1, 3, 4, 5, 6, 7, 9, 11, 12, 13, 14])
    np.testing.assert_array_equal(index.episode, [0, 0, 1, 1, 1, 1, 1, 2, 3, 3, 3, 3])
    np.testing.assert_array_equal(index.first, [0, 2, 7, 8])
    np.testing.assert_array_equal(index.last, [1, 6, 7, 11])
    for array in (index.rows, index.episode, index.first, index.last):
        assert array.dtype == np.int64


def test_transition_data_reads_through_the_index():
    offline = labelled()
    data = TransitionData.from_offline(offline)
    assert data.num_transitions == offline.num_transitions == 12
    assert data.num_episodes == 4
    assert (data.obs_dim, data.action_dim) == (2, 2)
    t = torch.arange(data.num_transitions)
    obs, nxt, act = data.obs(t), data.next_obs(t), data.act(t)
    # Same episode, next row: the next observation never crosses an episode border.
    torch.testing.assert_close(nxt[:, 0], obs[:, 0])
    torch.testing.assert_close(nxt[:, 1], obs[:, 1] + 1)
    torch.testing.assert_close(act[:, 0], obs[:, 1])
    # No transition starts at a terminal row.
    assert not torch.as_tensor(offline.terminals)[data.rows].any()
    torch.testing.assert_close(obs[:, 0].long(), data.episode)
    torch.testing.assert_close(data.final, data.last[data.episode])
    # The first/last transitions of each episode are its first row and its second-to-last row.
    starts = np.concatenate([[0], np.cumsum(LENGTHS)[:-1]])
    ends = np.cumsum(LENGTHS) - 2
    np.testing.assert_array_equal(data.obs(data.first)[:, 1].numpy(), starts)
    np.testing.assert_array_equal(data.obs(data.last)[:, 1].numpy(), ends)


def test_cpu_tensors_share_the_arrays_memory():
    offline = labelled()
    data = TransitionData.from_offline(offline)
    assert data.observations.data_ptr() == offline.observations.ctypes.data
    assert data.actions.data_ptr() == offline.actions.ctypes.data
