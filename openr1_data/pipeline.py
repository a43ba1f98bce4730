"""The chains every pipeline in pipelines/ composes: problem curation and trace curation.

A pipeline script parses its configs, then reads as the data flow:

    run = PipelineRecord()
    problems, report = curate_problems(run, problems_cfg, dedup_cfg, decontam_cfg)
    generated = generate_traces(problems, gen_cfg)
    all_traces, kept = curate_traces(run, run.record(generated), verify_cfg, filter_cfg, select_cfg)
    return publish_run(run, kept, all_traces, ...)          # openr1_data.publish.run

The other pieces pipelines use live with their stage: `publish.run` (OutputConfig, publish_run),
`generate.served` (a teacher behind `transformers serve`), `curate.rl_problems` (the pass-rate stage),
`sources.problems.require_gold_answers`, `dedup.decontaminate.check_benchmarks`.
"""

from __future__ import annotations

from datasets import Dataset

from openr1_data.curate.filters import FilterConfig, filter_traces
from openr1_data.curate.gold_audit import audit_golds, gold_audit_line
from openr1_data.curate.llm_judge import JudgeConfig, judge_traces
from openr1_data.curate.selection import (
    SelectionConfig,
    select_traces,
)
from openr1_data.curate.verify import VerifyConfig, verify_traces
from openr1_data.dedup.decontaminate import DecontaminationConfig, decontaminate
from openr1_data.dedup.duplicates import DedupConfig, dedup_exact, dedup_near
from openr1_data.funnel import PipelineRecord, StageResult
from openr1_data.sources.problems import ProblemSourceConfig, load_problems


def curate_problems(
    run: PipelineRecord,
    problems_cfg: ProblemSourceConfig,
    dedup_cfg: DedupConfig,
    decontam_cfg: DecontaminationConfig | None,
) -> tuple[Dataset, dict | None]:
    """Load, deduplicate (exact, then near) and decontaminate problems before any compute is spent on them.

    Returns the problems and the decontamination report (None when `decontam_cfg` is None).
    """
    return curate_loaded_problems(run, load_problems(problems_cfg), dedup_cfg, decontam_cfg)


def curate_loaded_problems(
    run: PipelineRecord,
    loaded: StageResult,
    dedup_cfg: DedupConfig,
    decontam_cfg: DecontaminationConfig | None,
) -> tuple[Dataset, dict | None]:
    """`curate_problems` for problems a pipeline loaded itself (e.g. pairs mapped from a layout)."""
    problems = run.record(loaded)
    problems = run.record(dedup_exact(problems, dedup_cfg))
    problems = run.record(dedup_near(problems, dedup_cfg))
    if decontam_cfg is None:
        return problems, None
    result = decontaminate(problems, decontam_cfg)
    return run.record(result), result.report.to_dict()


def curate_traces(
    run: PipelineRecord,
    traces: Dataset,
    verify_cfg: VerifyConfig,
    filter_cfg: FilterConfig,
    select_cfg: SelectionConfig,
    judge_cfg: JudgeConfig | None = None,
) -> tuple[Dataset, Dataset]:
    """Verify every trace, audit the golds against what the samples agree on (`curate/gold_audit.py`; and, when
    `judge_cfg.judge_model` is set, ask the LLM judge about the undecided ones), then filter on format and quality,
    then select. Returns (all verified, kept)."""
    verified = verify_traces(traces, verify_cfg).kept
    verified, audit = audit_golds(verified, verify_cfg)
    print(f"\n{gold_audit_line(audit)}")
    run.charge("verify")
    if judge_cfg is not None and judge_cfg.judge_model:
        judged = judge_traces(verified, judge_cfg)
        verified = judged.kept
        run.charge("judge")
        print(f"\nLLM judge\n{judged.report.table()}")
    kept = run.record(filter_traces(verified, filter_cfg))
    kept = run.record(select_traces(kept, select_cfg))
    return verified, kept
