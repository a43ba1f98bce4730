"""One training set per arm, all from the same generated traces, written as conversation datasets.

- `reference`: the problems' reference solutions (the textbook baseline);
- `uncurated`: every R1 trace as the teacher wrote it, unfiltered;
- `curated`: the R1 traces that pass the toolkit's curation (math-verify, format filters, selection: by default
  the correct ones, or what `--keep` says);
- `rlt_best`: per problem, the RLT explanation the student scores best (best-of-K by the RLT reward);
- `step_checked`: `curated` minus the traces with a step whose arithmetic is wrong (the rule step labeler);
- one arm per selection strategy (`SELECTION_ARMS`): the same verified, format-filtered R1 traces as `curated`,
  selected by the arm's own `SelectionConfig` (the curation's selection with the arm's settings on top):
  `format_only` (right or wrong: correctness unused), `incorrect` (only wrong traces: the harm control),
  `hard_half` (correct traces of problems the teacher solves at most half the time), `longest_half` (the longest
  half of the correct traces), `diverse_half` (one correct trace from half the problems, drawn evenly across
  MinHash clusters of the problem text).

Every conversation asks in one prompt style (`--train_prompt_style`, by default the evaluation's), so an arm never
differs from another in the question, only in the answer the student learns to write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from datasets import Dataset, Features, Value

from openr1_data.curate.step_labels import StepLabelConfig, label_steps
from openr1_data.curate.steps import FIRST_ERROR_STEP
from openr1_data.funnel import PipelineRecord
from openr1_data.io import write_dataset
from openr1_data.prompts import get_style
from openr1_data.publish.export import MESSAGE_FEATURE, assistant_content
from openr1_data.schema import ANSWER, PROBLEM_ID, SOLUTION, iter_rows


@dataclass
class ArmData:
    """One arm's training set: where it is written, its size, and how it was built."""

    arm: str
    conversations: int
    problems: int
    folder: Path | None  # None: the arm has no training data (e.g. no trace survived curation)
    built_from: str
    funnel: list[dict] = field(default_factory=list)


def question(style_name: str) -> Callable[[dict], list[dict]]:
    """The messages before the answer, as the evaluation renders them (system prompt and user turn)."""
    style = get_style(style_name)

    def render(row: dict) -> list[dict]:
        return [m for m in style.build(row) if m["role"] != "assistant"]

    return render


def conversations(
    rows: Iterable[dict], ask: Callable[[dict], list[dict]], answer: Callable[[dict], str]
) -> Dataset:
    """A `messages` dataset (with `problem_id`): the question, then the assistant turn `answer(row)`."""
    out = [
        {"messages": [*ask(row), {"role": "assistant", "content": answer(row)}], PROBLEM_ID: row[PROBLEM_ID]}
        for row in rows
    ]
    features = Features({"messages": MESSAGE_FEATURE, PROBLEM_ID: Value("string")})
    if not out:
        return Dataset.from_dict({"messages": [], PROBLEM_ID: []}, features=features)
    return Dataset.from_list(out, features=features)


def reference_answer(row: dict) -> str:
    """The reference solution as the think block, its gold answer boxed after it."""
    return assistant_content(row[SOLUTION], f"\\boxed{{{row[ANSWER]}}}")


def trace_answer(row: dict) -> str:
    """A curated trace in the published SFT format (think block, then the final part)."""
    return assistant_content(row["reasoning"], row["final"])


def raw_answer(row: dict) -> str:
    """What the teacher wrote, untouched (the uncurated arm), after the assistant prefill its style gave it
    (`r1_think` opens the think block for the teacher: the student must learn to open it itself)."""
    prompt = get_style(row["prompt_style"]).build(row)
    prefill = prompt[-1]["content"] if prompt[-1]["role"] == "assistant" else ""
    return prefill + row["completion"]


def without_wrong_steps(curated: Dataset) -> Dataset:
    """Curated traces none of whose steps the rule labeler finds wrong."""
    if not len(curated):
        return curated
    labelled = label_steps(curated, StepLabelConfig(labeler="rules"))
    return labelled.kept.filter(lambda first: first is None, input_columns=FIRST_ERROR_STEP)


def write_arm(
    arm: str, data: Dataset, folder: Path, built_from: str, run: PipelineRecord | None = None
) -> ArmData:
    """Write one arm's conversations (when there are any) and describe it."""
    problems = len(set(data[PROBLEM_ID])) if len(data) else 0
    funnel = run.funnel.to_dict()["stages"] if run is not None else []
    if not len(data):
        return ArmData(arm, 0, 0, None, built_from, funnel)
    target = folder / arm
    write_dataset(data, target)
    return ArmData(arm, len(data), problems, target, built_from, funnel)


def build_reference(train: Dataset, style: str, folder: Path) -> ArmData:
    rows = [r for r in iter_rows(train) if isinstance(r.get(SOLUTION), str) and r[SOLUTION].strip()]
    return write_arm("reference", conversations(rows, question(style), reference_answer), folder,
                     "the problems' reference solutions")  # fmt: skip


def build_from_traces(arm: str, traces: Dataset, style: str, folder: Path, answer: Callable[[dict], str],
                      built_from: str, run: PipelineRecord | None = None) -> ArmData:  # fmt: skip
    """An arm whose conversations are trace rows (each row carries the problem's columns)."""
    return write_arm(arm, conversations(iter_rows(traces), question(style), answer), folder, built_from, run)


# arm -> (what it is built from, the arm's selection settings given the number of problems with a kept trace)
SELECTION_ARMS: dict[str, tuple[str, Callable[[int], dict[str, Any]]]] = {
    "format_only": ("R1 traces kept by the format filters, right or wrong", lambda _: {"keep": "all"}),
    "incorrect": ("only the wrong R1 traces (the harm control)", lambda _: {"keep": "incorrect"}),
    "hard_half": ("correct R1 traces of problems the teacher solves at most half the time",
                  lambda _: {"keep": "correct", "pass_rate_high": 0.5}),
    "longest_half": ("the longest half of the correct R1 traces", lambda _: {"keep": "correct", "longest_share": 0.5}),
    "diverse_half": ("one correct R1 trace from half the problems, drawn evenly across MinHash clusters",
                     lambda problems: {"keep": "correct", "per_problem": 1, "diverse_by": "minhash_cluster",
                                       "diverse_n": max(1, problems // 2)}),
}  # fmt: skip
# A strategy's settings replace these of the curation's selection (the rest, e.g. group_column, carry over).
STRATEGY_FIELDS = ("keep", "per_problem", "pass_rate_low", "pass_rate_high", "pass_count_low", "pass_count_high",
                   "longest_share", "longest_n", "top_sources", "source_quota", "per_source_max", "diverse_by",
                   "diverse_n", "rating_keep_top_share")  # fmt: skip


def arm_selection(arm: str, base: Any, problems: int) -> Any:
    """The arm's own SelectionConfig: the curation's selection with every strategy reset, then the arm's settings."""
    _, settings = SELECTION_ARMS[arm]
    cleared = {name: None for name in STRATEGY_FIELDS if name != "keep"}
    return replace(base, **{**cleared, "difficulty_ratings": None, **settings(problems)})


def curated_description(selection: Any) -> str:
    """What the `curated` arm holds under the curation's own --keep (correct traces by default)."""
    kept = {"correct": "the correct", "incorrect": "the wrong", "all": "right and wrong"}.get(selection.keep)
    which = kept or f"--keep {selection.keep}"
    return f"{which} R1 traces kept by verify, filter and select (--keep {selection.keep})"


@dataclass
class CurationSettings:
    """The curation configs the `curated`, `rlt_best` and `step_checked` arms are built with."""

    verify: Any
    filters: Any
    selection: Any
    rlt_reward: Any
    rlt_select: Any
    teacher_model: str


def build_arms(arms: list[str], train: Dataset, traces: Dataset, style: str, folder: Path,
               curation: CurationSettings) -> list[ArmData]:  # fmt: skip
    """Every requested arm's training set, from the training problems and the one set of generated traces."""
    from openr1_data.curate.filters import filter_traces
    from openr1_data.curate.rlt_select import build_scorer, select_best_explanations
    from openr1_data.curate.selection import select_traces
    from openr1_data.pipeline import curate_traces

    rlt = traces.filter(lambda s: s == "rlt", input_columns="prompt_style")
    r1 = traces.filter(lambda s: s != "rlt", input_columns="prompt_style")
    built: list[ArmData] = []
    curated, curated_run = r1, PipelineRecord()
    verified = r1
    if {"curated", "step_checked", *SELECTION_ARMS} & set(arms):  # these arms start from the same curation
        verified, curated = curate_traces(
            curated_run, r1, curation.verify, curation.filters, curation.selection
        )
    filtered = None
    for arm in arms:
        if arm in SELECTION_ARMS:
            filtered = filtered or filter_traces(verified, curation.filters)  # once for every strategy arm
            run = PipelineRecord()
            pool = run.record(filtered)
            problems = len(set(pool[PROBLEM_ID])) if len(pool) else 0
            selection = arm_selection(arm, curation.selection, problems)
            kept = run.record(select_traces(pool, selection)) if len(pool) else pool
            built.append(
                build_from_traces(arm, kept, style, folder, trace_answer, SELECTION_ARMS[arm][0], run)
            )
            continue
        if arm == "base":
            built.append(ArmData("base", 0, 0, None, "no training"))
        elif arm == "reference":
            built.append(build_reference(train, style, folder))
        elif arm == "uncurated":
            built.append(build_from_traces("uncurated", r1, style, folder, raw_answer,
                                           "every R1 trace, as written"))  # fmt: skip
        elif arm in ("curated", "step_checked"):
            if arm == "curated":
                built.append(build_from_traces("curated", curated, style, folder, trace_answer,
                                               curated_description(curation.selection), curated_run))  # fmt: skip
            else:
                checked = without_wrong_steps(curated)
                built.append(build_from_traces("step_checked", checked, style, folder, trace_answer,
                                               "curated minus traces with a wrong arithmetic step"))  # fmt: skip
        elif arm == "rlt_best":
            if not len(rlt):
                built.append(ArmData("rlt_best", 0, 0, None, "no RLT traces (add rlt to --prompt_styles)"))
                continue
            run = PipelineRecord()
            kept = run.record(filter_traces(rlt, curation.filters))
            if len(kept):
                scorer = build_scorer(curation.rlt_reward, curation.rlt_select, curation.teacher_model)
                kept = run.record(
                    select_best_explanations(
                        kept,
                        scorer,
                        chunk=curation.rlt_select.rlt_score_chunk,
                        min_reward=curation.rlt_select.rlt_min_reward,
                    )
                )
            built.append(build_from_traces("rlt_best", kept, style, folder, trace_answer,
                                           "best RLT explanation per problem by the student's RLT reward", run))  # fmt: skip
    return built


def arm_summary(arms: list[ArmData]) -> dict[str, dict]:
    """Per arm, what the report says about its training set."""
    return {
        a.arm: {
            "conversations": a.conversations,
            "problems": a.problems,
            "built_from": a.built_from,
            "funnel": a.funnel,
        }
        for a in arms
    }
