"""Trace shards in a stage folder's `data/`: atomic Parquet files, written by count or time, read back by id.

A shard is written to a temp file, fsynced and renamed into place, so a kill (even SIGKILL) never leaves half a
shard: a trace is either in a complete shard or not written at all. Shard names hold a hash of their trace ids,
so writers on several processes or machines sharing one folder never collide.
"""

from __future__ import annotations

import hashlib
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from datasets import Dataset, Features

from openr1_data.io import DATA_DIR, read_parquet_folder

# shards up to this size are read into memory; larger runs are read memory-mapped through the datasets cache
IN_MEMORY_BYTES = 512 * 2**20


def shard_folder(output_dir: str | Path) -> Path:
    """Where generation writes its trace shards: the stage folder's `data/`."""
    return Path(output_dir) / DATA_DIR


def written_trace_ids(output_dir: str | Path) -> set[str]:
    """Trace ids of every shard already written (only the id column is read)."""
    ids: set[str] = set()
    for shard in sorted(shard_folder(output_dir).glob("*.parquet")):
        ids.update(pq.read_table(shard, columns=["trace_id"]).column("trace_id").to_pylist())
    return ids


def write_shard(rows: list[dict], features: Features, folder: Path, name: str) -> None:
    """Write rows as one Parquet shard atomically (temp file, fsync, rename): a kill never leaves half a shard."""
    write_table_shard(Dataset.from_list(rows, features=features).data.table, folder, name)


def write_table_shard(table: pa.Table, folder: Path, name: str) -> None:
    """Write an Arrow table as one Parquet shard atomically (see `write_shard`)."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{name}.tmp"
    pq.write_table(table, tmp)
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, folder / name)


def remove_partial_shards(output_dir: str | Path) -> int:
    """Delete the hidden temp files of shards a killed run was writing (call it holding the folder's lock, before
    any writer of this run starts); returns how many were removed."""
    partial = list(shard_folder(output_dir).glob(".*.tmp"))
    for path in partial:
        path.unlink(missing_ok=True)
    return len(partial)


def shard_name(rows: list[dict]) -> str:
    """`traces-<unix ms>-<hash of the trace ids>.parquet`: sorts by time, unique across writers."""
    digest = hashlib.sha256(",".join(sorted(r["trace_id"] for r in rows)).encode()).hexdigest()[:16]
    return f"traces-{time.time_ns() // 1_000_000:013d}-{digest}.parquet"


class ShardWriter:
    """Collects finished trace rows and writes them as a shard every `every_traces` rows or `every_seconds`."""

    def __init__(
        self, folder: Path, features: Features, every_traces: int = 1000, every_seconds: float = 30.0
    ):
        if every_traces < 1 or every_seconds <= 0:
            raise ValueError(
                f"need shard_traces >= 1 and shard_seconds > 0, got {every_traces}, {every_seconds}"
            )
        self.folder = folder
        self.features = features
        self.every_traces = every_traces
        self.every_seconds = every_seconds
        self.rows: list[dict] = []
        self.shards_written = 0
        self._last = time.monotonic()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="openr1-shards")
        self._writes: list[Future] = []

    def add(self, row: dict) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.every_traces:
            self.flush()

    def flush_if_due(self) -> None:
        """Write what is buffered when the last shard is `every_seconds` old (called on every heartbeat)."""
        if self.rows and time.monotonic() - self._last >= self.every_seconds:
            self.flush()

    def flush(self) -> None:
        """Start writing every buffered row as one shard."""
        if self.rows:
            rows, self.rows = self.rows, []
            self._writes.append(
                self._pool.submit(write_shard, rows, self.features, self.folder, shard_name(rows))
            )
            self.shards_written += 1
            for done in [w for w in self._writes if w.done()]:
                self._writes.remove(done)
                done.result()  # a failed write fails the run now, not at the end
        self._last = time.monotonic()

    def close(self) -> None:
        """Write what is buffered and wait for every write (also when a run stops on an error, so no finished
        trace is lost)."""
        try:
            self.flush()
            for write in self._writes:
                write.result()
        finally:
            self._writes = []
            self._pool.shutdown(wait=True)


def load_traces(output_dir: str | Path, trace_ids: set[str] | None = None) -> Dataset:
    """All traces written in `output_dir` (optionally only those in `trace_ids`), one row per trace id, as one
    Dataset (a trace written twice, e.g. by a worker that died after writing its shard but before it said so, is
    read once)."""
    shards = sorted(shard_folder(output_dir).glob("*.parquet"))
    if not shards:
        return Dataset.from_dict({"trace_id": []})
    if sum(s.stat().st_size for s in shards) <= IN_MEMORY_BYTES:
        # in memory: no cache copy to build; the fingerprint from the shard names (hashing the table is slow)
        fingerprint = hashlib.sha256(",".join(s.name for s in shards).encode()).hexdigest()[:16]
        traces = Dataset(pa.concat_tables([pq.read_table(s) for s in shards]), fingerprint=fingerprint)
    else:
        traces = read_parquet_folder(shard_folder(output_dir))  # memory-mapped
    seen: set[str] = set()
    keep = []
    for i, t in enumerate(traces["trace_id"]):
        if t not in seen and (trace_ids is None or t in trace_ids):
            seen.add(t)
            keep.append(i)
    return traces if len(keep) == len(traces) else traces.select(keep)
