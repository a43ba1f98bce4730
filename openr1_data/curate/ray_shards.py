"""Curation over a Ray cluster: a stage's rows cut into shards (contiguous row ranges), one Ray task per shard, the
results put back together in shard order on the driver.

    map_shards = ray_shard_map(RayShardsConfig(ray_address="local", ray_shard_rows=1000))
    parts = map_shards(fn, dataset, shared)  # [fn(shard, shared) for each 1000-row shard], each a Ray task

Why the result equals one process: each shard's work is a pure function of its rows and the settings (nothing
shared between tasks, no clock, no unseeded randomness), so a shard computed twice gives the same result, and the
driver takes exactly one result per shard, in shard order. Why a killed worker or node loses and doubles nothing:
Ray re-runs a task whose process or node died (`max_retries`), and the driver writes nothing until every shard is
back; then it writes the stage folder once (atomically, `io.write_stage_folder`). The stages use it as follows:
`verify` and `filter` run per row on the shards (the gold audit and selection, which need all samples of a
problem, run on the driver after); `dedup --dedup_mode near` computes MinHash signatures per shard and does the
banding on the driver over all of them (pairs straddling shards are found); `decontaminate` matches each shard
against the benchmark index, built once on the driver and shared with `ray.put`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pyarrow as pa
from datasets import Dataset
from datasets.table import InMemoryTable

from openr1_data.dedup.duplicates import ShardMap
from openr1_data.generate.ray_runner import LOCAL_ONLY, import_ray  # the same loopback-only local cluster
from openr1_data.schema import arrow_table

R = TypeVar("R")

TASK_RETRIES = 4  # re-runs of a shard whose worker process or node died (a shard's own error is not retried)


@dataclass
class RayShardsConfig:
    """Where a curation stage runs: in this process, or as Ray tasks over shards of its rows."""

    ray_address: str | None = field(
        default=None,
        metadata={
            "help": "run the stage as Ray tasks over shards of the rows: 'local' starts a one-machine cluster "
            "(127.0.0.1 only, no dashboard) for this command, HOST:PORT or 'auto' joins a running one; the "
            "result equals a one-process run"
        },
    )
    ray_shard_rows: int = field(
        default=2000,
        metadata={"help": "Ray: rows per shard (one Ray task each; a lost task re-runs its shard)"},
    )
    ray_cpus_per_task: int = field(
        default=1,
        metadata={
            "help": "Ray: CPUs each shard's task reserves (its math-verify workers and code sandboxes)"
        },
    )

    def __post_init__(self) -> None:
        if self.ray_shard_rows < 1:
            raise ValueError(f"--ray_shard_rows must be >= 1, got {self.ray_shard_rows}")
        if self.ray_cpus_per_task < 1:
            raise ValueError(f"--ray_cpus_per_task must be >= 1, got {self.ray_cpus_per_task}")


@contextmanager
def ray_session(address: str) -> Iterator[Any]:
    """Ray, connected: to the cluster at `address`, or with "local" to a new one-machine cluster on 127.0.0.1 that
    is shut down (every process it started) when the block ends. An already connected Ray is used as it is."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    if address == "local":
        ray.init(address="local", log_to_driver=False, **LOCAL_ONLY)
    else:
        ray.init(address=address, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


def cluster_for(config: RayShardsConfig) -> AbstractContextManager[Any]:
    """A `ray_session` for the whole command when `--ray_address` is given (one local cluster, not one per
    stage), else nothing."""
    return ray_session(config.ray_address) if config.ray_address else nullcontext()


def shard_tables(dataset: Dataset, shard_rows: int) -> list[pa.Table]:
    """The rows as contiguous Arrow tables of at most `shard_rows` rows (the features ride in the schema)."""
    table = arrow_table(dataset)
    return [table.slice(lo, shard_rows) for lo in range(0, max(len(table), 1), shard_rows)]


def as_dataset(table: pa.Table) -> Dataset:
    """A shard back as a `Dataset` (in memory, the original features)."""
    return Dataset(InMemoryTable(table))


def concat_shards(tables: list[pa.Table]) -> Dataset:
    """Shards' results (Arrow tables of the same schema) as one `Dataset`, in the order given."""
    return as_dataset(pa.concat_tables(tables))


def _run_shard(fn: Callable[..., Any], item: Any, shared: Any) -> Any:
    return fn(item, shared)


def map_on_ray(
    fn: Callable[[Any, Any], R],
    items: list[Any],
    shared: Any = None,
    *,
    cpus: int = 1,
    desc: str = "shards",
    progress: bool = True,
) -> list[R]:
    """`[fn(item, shared) for item in items]`, each call a Ray task on the connected cluster (`ray_session`).

    `shared` is put in the object store once (an index, the settings) and handed to every task. A task whose
    process or node dies is re-run (`TASK_RETRIES`); an exception `fn` raises is not retried: it ends the map, as
    it would end a one-process run. Results come back in the order of `items`."""
    ray = import_ray()
    from tqdm.auto import tqdm

    task = ray.remote(num_cpus=cpus, max_retries=TASK_RETRIES, retry_exceptions=False)(_run_shard)
    shared_ref = ray.put(shared)
    refs = [task.remote(fn, item, shared_ref) for item in items]
    bar = tqdm(total=len(refs), desc=f"{desc} (ray)", unit="shard", disable=not progress, file=sys.stderr)
    pending = list(refs)
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1, timeout=1.0)
            bar.update(len(done))
        return ray.get(refs)
    except ray.exceptions.RayTaskError as err:
        # the stage's own error (a missing column, a bad setting): raised as it is, as without Ray, so a user
        # error stays one line and exit code 2
        if isinstance(err.cause, Exception):
            raise err.cause from None
        raise
    finally:
        bar.close()


def _on_dataset(table: pa.Table, job: tuple[Callable[[Dataset, Any], Any], Any]) -> Any:
    fn, shared = job
    return fn(as_dataset(table), shared)


def ray_shard_map(config: RayShardsConfig, *, desc: str = "shards", progress: bool = True) -> ShardMap:
    """The `ShardMap` of a Ray cluster: `fn(shard, shared)` as one Ray task per `ray_shard_rows` rows (joining the
    cluster at `ray_address` for the call unless a `ray_session` is open), the results in shard order."""

    def map_shards(fn: Callable[[Dataset, Any], Any], dataset: Dataset, shared: Any) -> list[Any]:
        with ray_session(config.ray_address or "local"):
            return map_on_ray(
                _on_dataset,
                shard_tables(dataset, config.ray_shard_rows),
                (fn, shared),
                cpus=config.ray_cpus_per_task,
                desc=desc,
                progress=progress,
            )

    return map_shards
