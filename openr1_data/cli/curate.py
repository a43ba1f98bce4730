"""`openr1-data verify` and `openr1-data filter`: the curation stages on any dataset that follows the contract.

    openr1-data verify --input outputs/gen --output_dir outputs/verified [--verify_num_proc 8 --timeout_seconds 5]
    openr1-data filter --input outputs/verified --output_dir outputs/curated [--max_tokens 4096 --per_problem 1]
    openr1-data filter --input outputs/verified --output_dir outputs/longest --keep all --longest_share 0.5
    openr1-data verify --input outputs/gen --output_dir outputs/verified --ray_address local  # or HOST:PORT

`verify` keeps every row and adds `correct` / `verify_error`, the gold audit's columns (`gold_suspect`, ...) and,
with `--audit_sample N`, the verifier audit's (`audit_correct`, `audit_method`: `curate/verifier_audit.py`);
`filter` runs the format/quality filter and then selection (verifying first if the rows have no `correct` column
and selection needs verdicts). The selection steps it ran are listed in `select_report.json` (the strategies and
their order: `curate/selection.py`). Both write a stage folder (`cli/common.py`). With `--ray_address` the per-row
work runs as Ray tasks over shards of the rows (`curate/ray_stages.py`); the result is the same.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from openr1_data.cli.common import parse_stage, print_counts, write_results
from openr1_data.curate.filters import FilterConfig, filter_traces
from openr1_data.curate.gold_audit import audit_golds, gold_audit_line
from openr1_data.curate.llm_judge import JudgeClient, JudgeConfig, answer_match_prompt, parse_judge_reply
from openr1_data.curate.ray_shards import RayShardsConfig, cluster_for
from openr1_data.curate.ray_stages import filter_on_ray, verify_on_ray
from openr1_data.curate.selection import SelectionConfig, select_traces
from openr1_data.curate.verifier_audit import AnswerJudge, AuditConfig, audit_line, audit_verdicts
from openr1_data.curate.verify import VerifyConfig, verify_summary, verify_traces
from openr1_data.funnel import StageResult
from openr1_data.schema import CORRECT


def verify_main(argv: list[str]) -> int:
    """`openr1-data verify`: add `correct` / `verify_error` to every trace and write them all."""
    io, config, audit_config, judge_config, ray_config = parse_stage(
        "verify", [VerifyConfig, AuditConfig, JudgeConfig, RayShardsConfig], argv
    )
    if judge_config.judge_model and not audit_config.audit_sample:
        raise ValueError(
            "verify: --judge_model is the last step of the verifier audit; add --audit_sample N "
            "(or run `openr1-data judge` to judge every trace)"
        )
    dataset = io.read()
    with cluster_for(ray_config):
        if ray_config.ray_address:
            result = verify_on_ray(dataset, config, ray_config)
        else:
            result = verify_traces(dataset, config)
    verified, audit = audit_golds(result.kept, config)  # on every sample of a problem: after the shards
    counts = verify_summary(verified)  # after the audit: majority answers may have given new verdicts
    with JudgeClient(judge_config) as client:
        judge = answer_judge(client) if judge_config.judge_model else None
        verified, verifier_audit = audit_verdicts(verified, audit_config, judge)
    result = dataclasses.replace(result, kept=verified, report=counts)
    report = {**counts, "gold_audit": audit, "verifier_audit": verifier_audit}
    write_results(io, verified, [result], {"verify_report": report})
    print_counts(f"verified {len(verified)} traces -> {io.output_dir}", counts)
    print(gold_audit_line(audit))
    print(audit_line(verifier_audit))
    return 0


def answer_judge(client: JudgeClient) -> AnswerJudge:
    """The audit cascade's last step: the one judge client's yes/no on (problem, gold, answer)."""

    def judge(triples: Sequence[tuple[str, str, str]]) -> list[bool | None]:
        prompts = [answer_match_prompt(client.config, p, g, a) for p, g, a in triples]
        return [parse_judge_reply(reply.text) for reply in client.ask(prompts)]

    return judge


def filter_main(argv: list[str]) -> int:
    """`openr1-data filter`: format/quality filter, then selection; kept and rejected rows plus the funnel."""
    io, filter_config, selection_config, ray_config = parse_stage(
        "filter", [FilterConfig, SelectionConfig, RayShardsConfig], argv
    )
    dataset = io.read()
    results: list[StageResult] = []
    on_ray = bool(ray_config.ray_address)
    with cluster_for(ray_config):
        if selection_config.needs_verdicts and CORRECT not in dataset.column_names:
            print(
                "traces have no 'correct' column: verifying them first (run `openr1-data verify` to tune it)"
            )
            if on_ray:
                results.append(verify_on_ray(dataset, VerifyConfig(), ray_config))
            else:
                results.append(verify_traces(dataset, VerifyConfig()))
            dataset = results[-1].kept
        if on_ray:
            results.append(filter_on_ray(dataset, filter_config, ray_config))
        else:
            results.append(filter_traces(dataset, filter_config))
    # selection needs every sample of a problem: on the driver, after the shards
    results.append(select_traces(results[-1].kept, selection_config))
    steps = selection_config.steps()
    funnel = write_results(io, results[-1].kept, results, {"select_report": {"steps": steps}})
    print(funnel.table())
    print("selection: " + ", then ".join(steps))
    print(f"kept {len(results[-1].kept)} traces -> {io.output_dir} (rejected rows with reasons in rejected/)")
    return 0
