"""Summaries by a second model (open-m1 step 4, and what DeepSeek-R1 writes after its think block).

`summarize_traces(traces, SummaryConfig(...), generation=GenerationConfig(...))` asks a summariser model (any
teacher backend) to rewrite each long trace's reasoning into a concise solution that ends in the same answer. The
summary is verified like any final answer (the verify stage's math-verify, against the gold) and stored as
`summary` only when it verifies; `summary_correct` keeps the verdict (None: no gold, or no summary asked for).
The requests are generation-stage traces in `summary_dir`, so a killed run resumes without asking twice.
Publishing can then use the summary as the assistant's final part (`openr1-data publish --final_from summary`).
Nothing is rejected.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from datasets import Dataset, Value

from openr1_data.config import check_fields
from openr1_data.funnel import StageResult, keep_every_row
from openr1_data.prompts.styles import STYLES, PromptStyle
from openr1_data.schema import CORRECT, iter_rows, require_columns
from openr1_data.text import gold_answer

SUMMARY, SUMMARY_CORRECT = "summary", "summary_correct"
SUMMARY_STYLE = "summarize"
SUMMARY_SYSTEM = (
    "You rewrite a long, exploratory solution into a concise one for a reader: the key steps only, in order, "
    "without the false starts. Keep the final answer exactly as the solution found it, in \\boxed{}."
)
SUMMARY_TEMPLATE = (
    "Problem:\n{{ problem }}\n\nA long solution:\n{{ reasoning }}\n\nRewrite it as a concise step-by-step solution "
    "that ends with the same final answer within \\boxed{}."
)


def summary_style() -> PromptStyle:
    """The summariser's prompt style (registered on first use; its output is parsed like an R1 final part)."""
    if SUMMARY_STYLE not in STYLES:
        STYLES[SUMMARY_STYLE] = PromptStyle(
            name=SUMMARY_STYLE,
            system_prompt=SUMMARY_SYSTEM,
            user_template=SUMMARY_TEMPLATE,
            parser="think",
            needs=("problem", "reasoning"),
        )
    return STYLES[SUMMARY_STYLE]


@dataclass
class SummaryConfig:
    """Which traces get a summary, and where the summariser's outputs go."""

    summary_dir: str | None = field(
        default=None,
        metadata={
            "help": "folder of the summariser's outputs (resumable); `openr1-data summarize` defaults it"
        },
    )
    summary_min_tokens: int = field(
        default=0, metadata={"help": "summarise only traces of at least this many completion tokens"}
    )
    summary_verify_num_proc: int | None = field(
        default=None, metadata={"help": "verify worker processes (default: all cores)"}
    )
    progress: bool = field(default=True, metadata={"help": "show the summariser's progress"})

    def __post_init__(self) -> None:
        check_fields(self, at_least={"summary_min_tokens": 0, "summary_verify_num_proc": 0})


@dataclass
class SummaryReport:
    """What a summary run did (`summary_report.json`)."""

    traces: int = 0
    asked: int = 0
    generated: int = 0
    verified: int = 0
    failed_verification: int = 0
    unverifiable: int = 0

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


def _wanted(row: dict, config: SummaryConfig) -> bool:
    reasoning = row.get("reasoning")
    return (
        isinstance(reasoning, str)
        and bool(reasoning.strip())
        and (row.get("completion_tokens") or 0) >= config.summary_min_tokens
    )


def summarize_traces(
    dataset: Dataset, config: SummaryConfig, *, generation: Any = None, teacher: Any = None
) -> StageResult[SummaryReport]:
    """Add `summary` (a verified concise solution, or None) and `summary_correct` to every trace: every row kept,
    with the `SummaryReport` as the report."""
    from openr1_data.curate.verify import VerifyConfig, verify_traces
    from openr1_data.generate.stage import GenerationConfig, generate_traces

    require_columns(
        dataset.column_names,
        ["problem", "reasoning", "trace_id"],
        what="summarize",
        fix="Summarise traces written by generation (problem, reasoning, trace_id).",
    )
    if not config.summary_dir:
        raise ValueError("summarize needs --summary_dir (a folder for the summariser's outputs; resumable)")
    rows = list(iter_rows(dataset))
    report = SummaryReport(traces=len(rows))
    asks = [
        {
            "problem": r["problem"],
            "reasoning": r["reasoning"],
            "answer": gold_answer(r.get("answer"), r.get("solution")),
            "problem_id": hashlib.sha256(f"summary\x1f{r['trace_id']}".encode()).hexdigest()[:16],
            "summary_of": r["trace_id"],
        }
        for r in rows
        if _wanted(r, config)
    ]
    report.asked = len(asks)
    summaries: dict[str, tuple[str, bool | None]] = {}
    if asks:
        gen = dataclasses.replace(
            generation or GenerationConfig(),
            output_dir=config.summary_dir,
            prompt_styles=[summary_style().name],
            num_generations=1,
        )
        result = generate_traces(Dataset.from_list(asks), gen, teacher=teacher, progress=config.progress)
        report.generated = result.report.generated
        outputs = result.kept
        verified = verify_traces(
            outputs.select_columns(["answer", "predicted_answer", "final"]),
            VerifyConfig(verify_num_proc=config.summary_verify_num_proc, progress=False),
        ).kept
        for row, correct in zip(iter_rows(outputs), verified[CORRECT], strict=True):
            summaries[row["summary_of"]] = (row["final"], correct)
    texts: list[str | None] = []
    verdicts: list[bool | None] = []
    for r in rows:
        text, correct = summaries.get(r["trace_id"], (None, None))
        report.verified += correct is True
        report.failed_verification += correct is False
        report.unverifiable += text is not None and correct is None
        texts.append(text if correct is True else None)
        verdicts.append(correct)
    out = dataset.remove_columns([c for c in (SUMMARY, SUMMARY_CORRECT) if c in dataset.column_names])
    out = out.add_column(SUMMARY, pa.array(texts, pa.string()), feature=Value("string"))
    out = out.add_column(SUMMARY_CORRECT, pa.array(verdicts, pa.bool_()), feature=Value("bool"))
    return keep_every_row(out, "summarize", report)


def final_from_summary(kept: Dataset) -> Dataset:
    """The traces with `final` replaced by their verified `summary` where they have one (the SFT export's
    `--final_from summary`)."""
    require_columns(
        kept.column_names,
        [SUMMARY, "final"],
        what="publish --final_from summary",
        fix="Summarise the traces first (openr1-data summarize) and publish those rows.",
    )
    finals = [s if s else f for s, f in zip(kept[SUMMARY], kept["final"], strict=True)]
    return kept.remove_columns(["final"]).add_column(
        "final", pa.array(finals, pa.string()), feature=Value("string")
    )
