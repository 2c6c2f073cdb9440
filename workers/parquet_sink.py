"""Episode results from the workers to Parquet: one atomic part file per batch.

`ParquetSink(directory).write(results, context)` writes one part file per call with a row per
`PoolResult` (its record plus the spec index, attempts and node it ran on) or bare
`EpisodeRecord`. The schema, the atomic writer and the reader are the library's
(`gcttt.results.records`: one writer for every producer of results); docs/results_schema.md describes
every column.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from gcttt.errors import UsageError
from gcttt.results.records import (
    SCHEMA,
    EpisodeRecord,
    RunContext,
    part_files,
    read_results,
    records_table,
    write_part_file,
)
from workers.episode_worker import PoolResult


def _row(item: PoolResult | EpisodeRecord):
    if isinstance(item, PoolResult):
        return item.record, {"spec_index": item.spec_index, "attempts": item.attempts, "node": item.node}
    if isinstance(item, EpisodeRecord):
        return item, {}
    raise UsageError(f"cannot write a {type(item).__name__}; give PoolResult or EpisodeRecord items")


class ParquetSink:
    """Writes batches of episode results as atomic Parquet part files into one directory."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory).expanduser().resolve()
        if self.directory.exists() and not self.directory.is_dir():
            raise UsageError(f"{self.directory} is a file; give the sink a directory")

    def write(self, results: Iterable[PoolResult | EpisodeRecord], context: RunContext) -> Path | None:
        """Write one part file with a row per result; None (and no file) for an empty batch."""
        return write_part_file(self.directory, records_table((_row(r) for r in results), context))


__all__ = ["SCHEMA", "ParquetSink", "RunContext", "part_files", "read_results"]
