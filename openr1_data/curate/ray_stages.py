"""The curation stages on Ray (`--ray_address`): each stage's per-row work as Ray tasks over shards of its rows
(`ray_shards`), and what needs every row (the gold audit, selection, LSH banding) on the driver.

`dedup --dedup_mode near` and `decontaminate` take the cluster as their `map_shards` (`ray_shards.ray_shard_map`):
their signatures and matches per shard, the banding and the report on the driver. Every function here returns what the stage's one-process function returns, row for row: the shard functions are
module-level (Ray ships them by reference) and pure functions of their rows and settings.
"""

from __future__ import annotations

import dataclasses

import pyarrow as pa
from datasets import Dataset

from openr1_data.curate.filters import FilterConfig, filter_reasons
from openr1_data.curate.ray_shards import RayShardsConfig, concat_shards, ray_shard_map
from openr1_data.curate.verify import VerifyConfig, has_other_domains, verify_part, verify_summary
from openr1_data.funnel import StageResult, keep_every_row, split_by_reason
from openr1_data.schema import arrow_table


def _verify_shard(shard: Dataset, job: tuple[VerifyConfig, bool]) -> pa.Table:
    config, mixed = job
    return arrow_table(verify_part(shard, config, mixed))


def verify_on_ray(dataset: Dataset, config: VerifyConfig, ray_config: RayShardsConfig) -> StageResult:
    """`verify_traces` as Ray tasks over shards: math-verify and the code sandbox run in the workers, each task with
    `ray_cpus_per_task` math-verify processes and sandboxes at once; the shards' columns are put back in order."""
    cpus = ray_config.ray_cpus_per_task
    in_task = dataclasses.replace(config, verify_num_proc=cpus, code_num_proc=cpus, progress=False)
    map_shards = ray_shard_map(ray_config, desc="verify", progress=config.progress)
    verified = concat_shards(map_shards(_verify_shard, dataset, (in_task, has_other_domains(dataset))))
    return keep_every_row(verified, "verify", verify_summary(verified))


def _filter_shard(shard: Dataset, config: FilterConfig) -> list[str | None]:
    return filter_reasons(shard, config)


def filter_on_ray(dataset: Dataset, config: FilterConfig, ray_config: RayShardsConfig) -> StageResult:
    """`filter_traces` as Ray tasks over shards: every row's rejection reason in the workers, the split on the
    driver (selection, which needs a problem's every sample, runs after it, on the driver too)."""
    in_task = dataclasses.replace(config, filter_num_proc=None)
    parts = ray_shard_map(ray_config, desc="filter")(_filter_shard, dataset, in_task)
    return split_by_reason(dataset, [reason for part in parts for reason in part], "filter")
