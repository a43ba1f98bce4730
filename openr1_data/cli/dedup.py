"""`openr1-data dedup` and `openr1-data decontaminate`: the two stages on any dataset.

    openr1-data dedup --input data.jsonl --output_dir out/dedup [--dedup_mode exact|near|both]
    openr1-data decontaminate --input out/dedup --output_dir out/decontam --benchmarks aime_2024 math_500
    openr1-data decontaminate ... --semantic true [--judge_model M] [--measure_recall true]

Each command writes a stage folder (`cli/common.py`): kept rows in `data/`, `rejected/<stage>/` (rows with their
reason and what they match), a JSON report and `funnel.json`, and prints the funnel table. `dedup` adds the
contract's `problem_id` when the dataset has none, so `duplicate_of_id` identifies the kept row. With
`--ray_address` the near-dedup signatures and the decontamination matches are computed as Ray tasks over shards
(the exact-dedup hashes, the banding and the reports on this process); the result is the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from datasets import Value

from openr1_data.cli.common import parse_stage, write_results
from openr1_data.curate.llm_judge import JudgeClient, JudgeConfig, parse_judge_reply
from openr1_data.curate.ray_shards import RayShardsConfig, cluster_for, ray_shard_map
from openr1_data.dedup.decontaminate import DecontaminationConfig, decontaminate, format_report
from openr1_data.dedup.duplicates import (
    DedupConfig,
    DedupResult,
    ShardMap,
    dedup_exact,
    dedup_near,
    in_one_shard,
)
from openr1_data.dedup.recall import format_recall
from openr1_data.dedup.semantic import PairJudge
from openr1_data.schema import PROBLEM, PROBLEM_ID, Prompt, make_problem_id


@dataclass
class DedupModeArgs:
    """Which dedup passes `openr1-data dedup` runs."""

    dedup_mode: str = field(
        default="both", metadata={"help": "exact, near, or both (exact first, then near on what remains)"}
    )

    def __post_init__(self) -> None:
        if self.dedup_mode not in ("exact", "near", "both"):
            raise ValueError(f"--dedup_mode must be exact, near or both, got {self.dedup_mode!r}")


def dedup_main(argv: list[str]) -> int:
    """Entry point of `openr1-data dedup`."""
    io, mode, config, ray_config = parse_stage("dedup", [DedupModeArgs, DedupConfig, RayShardsConfig], argv)
    data = io.read()
    if PROBLEM in data.column_names and PROBLEM_ID not in data.column_names:
        # The contract's stable id, so `duplicate_of_id` names the kept row in every stage's side output.
        ids = [make_problem_id(p) if isinstance(p, str) and p.strip() else None for p in data[PROBLEM]]
        data = data.add_column(PROBLEM_ID, ids, feature=Value("string"))
    results: list[DedupResult] = []
    if mode.dedup_mode in ("exact", "both"):
        results.append(dedup_exact(data, config))
        data = results[-1].kept
    if mode.dedup_mode in ("near", "both"):
        # signatures per shard (Ray tasks with --ray_address), the banding over every row on this process
        with cluster_for(ray_config):
            results.append(dedup_near(data, config, map_shards=_shard_map(ray_config, "dedup_near")))
        data = results[-1].kept
    reports = [result.report.to_dict() for result in results]
    funnel = write_results(io, data, list(results), {"dedup_report": {"stages": reports}})
    print(funnel.table())
    for r in reports:
        extra = (
            f", {r['candidate_pairs']} candidate pairs, {r['verified_pairs']} verified" if r["params"] else ""
        )
        print(
            f"{r['stage']}: {r['duplicates']} duplicates in {r['clusters']} clusters; "
            f"{r['rows_empty']} rows without text kept{extra}"
        )
    print(f"wrote {io.output_dir}: data/, rejected/, dedup_report.json, funnel.json")
    return 0


def same_problem_judge(client: JudgeClient) -> PairJudge:
    """The semantic pass's judge of candidate pairs: the one judge client, a yes/no verdict per pair."""

    def judge(prompts: Sequence[Prompt]) -> list[bool | None]:
        return [parse_judge_reply(reply.text) for reply in client.ask(prompts)]

    return judge


def decontaminate_main(argv: list[str]) -> int:
    """Entry point of `openr1-data decontaminate`."""
    io, config, judge_config, ray_config = parse_stage(
        "decontaminate", [DecontaminationConfig, JudgeConfig, RayShardsConfig], argv
    )
    if judge_config.judge_model and not config.semantic:
        raise ValueError(
            "decontaminate: --judge_model judges the semantic pass's candidates; add --semantic true"
        )
    data = io.read()
    # with --ray_address the n-gram index is built here once and shared with every shard's task
    with JudgeClient(judge_config) as client, cluster_for(ray_config):
        judge = same_problem_judge(client) if judge_config.judge_model else None
        result = decontaminate(
            data,
            config,
            judge=judge,
            judge_name=judge_config.judge_model,
            map_shards=_shard_map(ray_config, "decontaminate"),
        )
    funnel = write_results(io, result.kept, [result], {"decontamination_report": result.report.to_dict()})
    print(funnel.table())
    print(format_report(result.report))
    if result.report.recall is not None:
        print(format_recall(result.report.recall))
    print(f"wrote {io.output_dir}: data/, rejected/, decontamination_report.json, funnel.json")
    return 0


def _shard_map(ray_config: RayShardsConfig, desc: str) -> ShardMap:
    """Ray tasks over shards with `--ray_address`, else this process."""
    return ray_shard_map(ray_config, desc=desc) if ray_config.ray_address else in_one_shard
