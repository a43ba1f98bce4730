"""The pieces every pipeline in pipelines/ composes: problem curation, trace curation, and publishing.

A pipeline script parses its configs, then reads as the data flow:

    run = PipelineRecord()
    problems, report = curate_problems(run, problems_cfg, dedup_cfg, decontam_cfg)
    generated = generate_traces(problems, gen_cfg)
    all_traces, kept = curate_traces(run, run.record(generated), verify_cfg, filter_cfg, select_cfg)
    return publish_run(run, kept, all_traces, ...)
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from datasets import Dataset, Value

from openr1_data.curate.filters import FilterConfig, filter_traces
from openr1_data.curate.gold_audit import audit_golds, gold_audit_line
from openr1_data.curate.llm_judge import JudgeConfig, judge_traces
from openr1_data.curate.selection import (
    PASS_RATE,
    SelectionConfig,
    pass_rates,
    select_traces,
)
from openr1_data.curate.verify import VerifyConfig, verify_traces
from openr1_data.dedup.decontaminate import DecontaminationConfig, decontaminate
from openr1_data.dedup.duplicates import DedupConfig, dedup_exact, dedup_near
from openr1_data.funnel import PipelineRecord, StageResult, split_by_reason
from openr1_data.generate.stage import GenerationConfig, GenerationSummary
from openr1_data.publish import EmptyDatasetError, publish_local, push_to_hub
from openr1_data.schema import ANSWER, PROBLEM, TRACE_COLUMNS, ContractError, require_columns
from openr1_data.sources.problems import ProblemSourceConfig, load_problems
from openr1_data.teachers import Teacher
from openr1_data.teachers.serve import sampling_generation_config


@dataclass
class OutputConfig:
    """Where a pipeline's curated dataset goes."""

    dataset_dir: str = field(default="outputs/dataset", metadata={"help": "curated dataset folder"})
    overwrite: bool = field(
        default=False, metadata={"help": "replace a dataset folder written by an earlier run"}
    )
    push_to_hub: str | None = field(
        default=None, metadata={"help": "also push the dataset to this Hub repo id"}
    )
    private: bool = field(default=False, metadata={"help": "make the Hub repo private"})
    pretty_name: str | None = field(default=None, metadata={"help": "dataset title in the card"})

    def __post_init__(self) -> None:
        # Before any work: a finished run's dataset is only replaced when asked (publishing would refuse at the end).
        folder = Path(self.dataset_dir)
        if folder.is_dir() and any(folder.iterdir()) and not self.overwrite:
            raise ValueError(
                f"--dataset_dir {folder} holds the dataset of an earlier run. Pass --overwrite true to rebuild it "
                "(finished generations are reused, nothing is generated twice), choose another --dataset_dir, or "
                f"push it as it is: openr1-data push {folder} USER/NAME"
            )


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
    if judge_cfg is not None and judge_cfg.judge_model:
        judged = judge_traces(verified, judge_cfg)
        verified = judged.kept
        print(f"\nLLM judge\n{judged.report.table()}")
    kept = run.record(filter_traces(verified, filter_cfg))
    kept = run.record(select_traces(kept, select_cfg))
    return verified, kept


def publish_run(
    run: PipelineRecord,
    kept: Dataset,
    all_traces: Dataset | None,
    out_cfg: OutputConfig,
    *,
    provenance: dict,
    decontamination: dict | None,
    configs: Sequence[Any],
    summary: GenerationSummary | None = None,
    problems_only: bool = False,
) -> int:
    """Print the summary and funnel, publish locally (and to the Hub if asked); return the exit code.

    `problems_only`: `kept` holds one row per problem (a GRPO prompt set), published as the `problems` config.
    """
    if summary is not None:
        print(f"\nGeneration\n{summary.table()}")
    print(f"\nFunnel\n{run.funnel.table()}")
    try:
        published = publish_local(
            out_cfg.dataset_dir,
            kept,
            all_traces=all_traces,
            rejected=run.rejected,
            funnel=run.funnel,
            provenance=provenance,
            decontamination=decontamination,
            config={type(c).__name__: asdict(c) for c in configs},
            overwrite=out_cfg.overwrite,
            pretty_name=out_cfg.pretty_name,
            problems_only=problems_only,  # a PublishConfig field, overridden per call
        )
    except EmptyDatasetError as err:
        print(f"\nNothing to publish: {err}", file=sys.stderr)
        return 1
    if out_cfg.push_to_hub:
        result = push_to_hub(published.folder, out_cfg.push_to_hub, private=out_cfg.private)
        print(f"Pushed to the Hub: {result}")
    folder = Path(published.folder)
    if not len(kept):
        print(
            f"\nNo row survived curation. {folder.resolve()} holds what was removed and why (configs: "
            f"{', '.join(published.configs)}); read them with `openr1-data show`, or loosen the stage that "
            "removed the last rows (the funnel above).",
            file=sys.stderr,
        )
    print(f"\n{len(kept)} curated rows in {folder.resolve()}")
    print(
        f"  open it:  datasets.load_dataset('{folder}', '{next(iter(published.configs))}')  (configs: {', '.join(published.configs)})"
    )
    print(f"  the card: {folder / 'README.md'}")
    return 0


def check_benchmarks(decontam_cfg: DecontaminationConfig) -> None:
    """Load every decontamination benchmark now, before any compute, and name all that cannot be loaded here."""
    from openr1_data.sources.benchmarks import BenchmarkUnavailable, UnknownBenchmark, load_benchmark

    failures = []
    for name in decontam_cfg.benchmarks:
        try:
            load_benchmark(name)
        except (BenchmarkUnavailable, UnknownBenchmark, FileNotFoundError) as err:
            failures.append(f"  {name}: {err}")
    if failures:
        usable = [n for n in decontam_cfg.benchmarks if not any(f.startswith(f"  {n}:") for f in failures)]
        raise ContractError(
            "decontamination: these benchmarks cannot be loaded here:\n"
            + "\n".join(failures)
            + "\nFix their "
            f"source, or leave them out: --benchmarks {' '.join(usable) or 'aime_2024 aime_2025 math_500'}"
        )


def require_gold_answers(problems: Dataset, stage: str = "require_answer") -> StageResult:
    """Reject problems without a gold answer (nothing to verify samples against) before any are generated."""
    answers = problems[ANSWER] if ANSWER in problems.column_names else [None] * len(problems)
    reasons = [None if isinstance(a, str) and a.strip() else "no_gold_answer" for a in answers]
    return split_by_reason(problems, reasons, stage)


# Per-trace columns a problem row does not carry (generation's, verification's and selection's).
_TRACE_ONLY = {*TRACE_COLUMNS, "correct", "verify_error", "correct_judge", PASS_RATE}


def select_problems_by_pass_rate(
    traces: Dataset, cfg: SelectionConfig, stage: str = "pass_rate"
) -> StageResult:
    """Verified traces → one row per problem with `pass_rate`, `num_samples` and `num_correct`; problems whose
    pass rate is outside [pass_rate_low, pass_rate_high] or whose number of correct samples is outside
    [pass_count_low, pass_count_high] (or unknown) are rejected with the reason (`SelectionConfig.window_reason`).

    The pass rate is the share of correct samples among those with a verdict (`selection.pass_rates`), over every
    sample: as in open-r1, no format filter runs first.
    """
    group = cfg.group_column if cfg.group_column in traces.column_names else PROBLEM
    require_columns(
        traces.column_names,
        [group, "correct"],
        what=f"pass-rate stage '{stage}'",
        fix="Pass verified traces (verify_traces adds `correct`).",
    )
    groups = traces[group]
    correct = traces["correct"]
    rates = pass_rates(groups, correct)
    first: dict = {}
    samples: dict = {}
    right: dict = {}
    for i, (g, c) in enumerate(zip(groups, correct, strict=True)):
        first.setdefault(g, i)
        samples[g] = samples.get(g, 0) + 1
        right[g] = right.get(g, 0) + int(c is True)
    keep = [c for c in traces.column_names if c not in _TRACE_ONLY]
    # flatten: columns are added next, and they must line up with the selected rows, not the whole table
    problems = traces.select_columns(keep).select(list(first.values())).flatten_indices()
    problems = problems.add_column(PASS_RATE, [rates[g] for g in first], feature=Value("float64"))
    problems = problems.add_column("num_samples", [samples[g] for g in first], feature=Value("int32"))
    problems = problems.add_column("num_correct", [right[g] for g in first], feature=Value("int32"))
    reasons = [cfg.window_reason(rates[g], right[g] if rates[g] is not None else None) for g in first]
    result = split_by_reason(problems, reasons, stage)
    kept_rates = result.kept[PASS_RATE]
    if len(kept_rates) and all(r in (0.0, 1.0) for r in kept_rates):
        print(
            f"warning: every kept problem has pass rate 0 or 1 ({len(kept_rates)} problems): GRPO learns nothing "
            "from them (all samples of a prompt score alike, so the advantages are 0). Set --pass_rate_low above 0 "
            "and --pass_rate_high below 1, or sample with a stronger policy.",
            file=sys.stderr,
        )
    return result


@dataclass
class TeacherServerConfig:
    """Start a local OpenAI-compatible server for the teacher (what a CPU machine can run end to end)."""

    serve_teacher: bool = field(
        default=False,
        metadata={
            "help": "start `transformers serve` on --teacher_model and generate through it (openai backend). On "
            "GPUs, use --teacher_backend vllm, or point --base_url at a running vLLM / SGLang server instead"
        },
    )
    serve_device: str = field(default="cpu", metadata={"help": "device of the served teacher"})
    serve_startup_timeout: float = field(
        default=300.0, metadata={"help": "seconds to wait for the server to answer"}
    )


@contextmanager
def served_teacher(gen_cfg: GenerationConfig, server_cfg: TeacherServerConfig) -> Iterator[Teacher | None]:
    """If `serve_teacher`, run the teacher behind `transformers serve` for the block and yield an `openai` teacher
    for it (pass it to `generate_traces`); else yield None and let generation build the configured teacher.

    `gen_cfg` is updated to what runs (backend `openai`, the server URL, the served folder as model name: the
    served model is pinned, so requests must name it), so the manifest and the card record it. Prompts with a
    pre-filled assistant turn are rendered locally with the model's tokenizer (`transformers serve` cannot
    continue a chat message), and requests carry a sampling generation config when temperature > 0.
    """
    if not server_cfg.serve_teacher:
        yield None
        return
    from openr1_data.teachers.openai_backend import OpenAITeacher
    from openr1_data.teachers.serve import start_transformers_serve
    from openr1_data.teachers.transformers_backend import resolve_model

    path = resolve_model(gen_cfg.teacher_model)[0]
    print(f"Starting `transformers serve {path}` ...", file=sys.stderr)
    with start_transformers_serve(
        path, device=server_cfg.serve_device, startup_timeout=server_cfg.serve_startup_timeout
    ) as server:
        gen_cfg.teacher_backend = "openai"
        gen_cfg.base_url = server.base_url
        gen_cfg.teacher_model = server.model
        gen_cfg.teacher_tokenizer = gen_cfg.teacher_tokenizer or path
        sampling = {"generation_config": sampling_generation_config(path)} if gen_cfg.temperature > 0 else {}
        teacher = OpenAITeacher(
            server.model,
            base_url=server.base_url,
            max_concurrency=gen_cfg.max_concurrency,
            tokenizer=gen_cfg.teacher_tokenizer,
            extra_body=sampling,
        )
        try:
            yield teacher
        finally:
            teacher.close()
