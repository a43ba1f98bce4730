"""Format and quality filters on hand-written traces (parsed by the real prompt-style parsers)."""

from __future__ import annotations

import json

import pytest
from datasets import Dataset

from openr1_data.cli import main as cli_main
from openr1_data.curate.filters import FilterConfig, filter_reasons, filter_traces
from openr1_data.io import read_dataset, write_dataset
from openr1_data.prompts import get_style
from openr1_data.schema import REJECT_REASON, REJECT_STAGE, ContractError
from openr1_data.verdicts import count_steps, repetition_share

RLT_END = "<|end_of_explanation|>"


HANA = "Hana starts with 3 and adds 8: 3 + 8 = 11. The answer is $\\boxed{11}$."


def make_trace(completion: str, *, style: str = "r1", **overrides) -> dict:
    """A trace row as generation writes it (parsed with the style's own parser)."""
    row = {
        "problem": "What is 1 + 1?",
        "solution": "One plus one is \\boxed{2}.",
        "answer": "2",
        "source": "hand",
        "problem_id": "p1",
        "sample_index": 0,
        "teacher": "hand",
        "prompt_style": style,
        "completion": completion,
        "finish_reason": "stop",
        "completion_tokens": max(1, len(completion.split())),
        "trace_id": "t",
    }
    row.update(overrides)
    parsed = get_style(row["prompt_style"]).parse(row["completion"], row)
    row.update(
        reasoning=parsed.reasoning,
        final=parsed.final,
        predicted_answer=parsed.predicted_answer,
        parse_issue=parsed.parse_issue,
    )
    return row


GOOD = "<think>\nOne and one make two.\n</think>\nThe answer is \\boxed{2}."
LOOP = (
    "<think>\n" + "I add one and one and get two, let me check that again. " * 30 + "\n</think>\n\\boxed{2}"
)

# (name, trace, config overrides, expected reason)
CASES = [
    ("well formed", make_trace(GOOD), {}, None),
    (
        "think opened by the chat template",
        make_trace("One and one make two.\n</think>\n\\boxed{2}"),
        {},
        None,
    ),
    ("no think block", make_trace("The answer is \\boxed{2}."), {}, "no_think"),
    ("think never closed", make_trace("<think>\nOne and one make"), {}, "unclosed_think"),
    ("think closed twice", make_trace("<think>a</think> b </think> \\boxed{2}"), {}, "multiple_think_close"),
    ("think opened twice", make_trace("<think>a <think>b</think> \\boxed{2}"), {}, "multiple_think_open"),
    ("empty think", make_trace("<think>\n\n</think>\n\\boxed{2}"), {}, "empty_think"),
    (
        "no boxed answer",
        make_trace("<think>\nOne and one.\n</think>\nThe answer is 2."),
        {},
        "no_boxed_answer",
    ),
    ("cut at the token limit", make_trace(GOOD, finish_reason="length"), {}, "finish_length"),
    ("unfinished allowed", make_trace(GOOD, finish_reason="length"), {"require_finished": False}, None),
    ("too short", make_trace(GOOD, completion_tokens=3), {"min_tokens": 5}, "too_short"),
    ("at the max length", make_trace(GOOD, completion_tokens=100), {"max_tokens": 100}, None),
    ("too long", make_trace(GOOD, completion_tokens=101), {"max_tokens": 100}, "too_long"),
    ("degenerate loop", make_trace(LOOP), {}, "repetitive"),
    ("loop allowed", make_trace(LOOP), {"max_repetition_share": 1.0}, None),
    ("few steps", make_trace(GOOD), {"min_reasoning_steps": 3}, "too_few_steps"),
    (
        "enough steps",
        make_trace("<think>First, take one. Then, add one. Finally, count two.</think> \\boxed{2}"),
        {"min_reasoning_steps": 3},
        None,
    ),
    (
        "reasoning in another language",
        make_trace(GOOD, problem="一加一等于多少？"),
        {"check_language": True},
        "language_mismatch",
    ),
    (
        "reasoning in the problem's language",
        make_trace("<think>\n一加一等于二。\\frac{1}{1}\n</think>\n\\boxed{2}", problem="一加一等于多少？"),
        {"check_language": True},
        None,
    ),
    ("rlt well formed", make_trace("It adds one and one.\n\nSo two.\n" + RLT_END, style="rlt"), {}, None),
    (
        "rlt echoing the prefill",
        make_trace("<|begin_of_explanation|>\nIt adds one and one.\n" + RLT_END, style="rlt"),
        {},
        None,
    ),
    ("rlt unclosed", make_trace("It adds one and", style="rlt"), {}, "unclosed_explanation"),
    # the explanation argues for another answer than the solution it was given (the quickstart's "7 / 2 = 3")
    (
        "rlt explanation reaching another answer",
        make_trace("One and one make three, so \\boxed{3}.\n" + RLT_END, style="rlt"),
        {},
        "rlt_answer_mismatch",
    ),
    ("rlt explanation reaching the answer", make_trace("So \\boxed{2}.\n" + RLT_END, style="rlt"), {}, None),
    (
        "rlt answer check off",
        make_trace("So \\boxed{3}.\n" + RLT_END, style="rlt"),
        {"check_explanation_answer": False},
        None,
    ),
    ("rlt empty", make_trace("\n" + RLT_END, style="rlt"), {}, "empty_explanation"),
    (
        "rlt closed twice",
        make_trace(f"a {RLT_END} b {RLT_END}", style="rlt"),
        {},
        "multiple_explanation_close",
    ),
    (
        "rlt explanation that only restates the answer",
        make_trace("The answer is $11$.\n" + RLT_END, style="rlt", solution=HANA, answer="11"),
        {},
        "rlt_ungrounded",
    ),
    (
        "rlt explanation with none of the solution's numbers",
        make_trace(
            "A classic logic puzzle, solved in 100 steps.\n" + RLT_END,
            style="rlt",
            solution=HANA,
            answer="11",
        ),  # fmt: skip
        {},
        "rlt_ungrounded",
    ),
    (
        "rlt explanation working with the solution's numbers",
        make_trace(
            "She had 3 and got 8 more, so 3 + 8.\n" + RLT_END, style="rlt", solution=HANA, answer="11"
        ),
        {},
        None,
    ),
    (
        "rlt grounding check off",
        make_trace("The answer is $11$.\n" + RLT_END, style="rlt", solution=HANA, answer="11"),
        {"rlt_min_grounding": 0.0},
        None,
    ),
    (
        "rlt without solution",
        make_trace("It adds.\n" + RLT_END, style="rlt", solution=""),
        {},
        "empty_solution",
    ),
]


@pytest.mark.parametrize(("name", "trace", "overrides", "expected"), CASES, ids=[c[0] for c in CASES])
def test_each_check_on_hand_written_traces(name, trace, overrides, expected):
    ds = Dataset.from_list([trace])
    assert filter_reasons(ds, FilterConfig(**overrides)) == [expected]


def test_repetition_and_steps_measures():
    assert repetition_share("a b c d e f g h i j", 3) == 0.0
    assert repetition_share("x y " * 50, 2) > 0.95
    assert repetition_share("too short", 8) == 0.0
    assert count_steps("Step 1: add.\nStep 2: check.\n- bullet\n1. numbered") == 4
    assert count_steps("one paragraph\n\nanother\n\nthird") == 3


def test_side_output_and_funnel_add_up():
    traces = [trace for _, trace, overrides, _ in CASES if not overrides]
    expected = [reason for _, _, overrides, reason in CASES if not overrides]
    ds = Dataset.from_list([dict(t, trace_id=f"t{i}") for i, t in enumerate(traces)])
    result = filter_traces(ds, FilterConfig())
    stats = result.stats
    assert stats.rows_in == len(ds) == stats.rows_out + stats.rows_rejected
    assert len(result.kept) == expected.count(None) and len(result.rejected) == len(ds) - expected.count(None)
    assert set(result.rejected[REJECT_STAGE]) == {"filter"}
    want = {f"t{i}": r for i, r in enumerate(expected) if r is not None}
    assert dict(zip(result.rejected["trace_id"], result.rejected[REJECT_REASON], strict=True)) == want
    assert sum(stats.rejected.values()) == len(want)
    assert result.kept["trace_id"] == [f"t{i}" for i, r in enumerate(expected) if r is None]


def test_parallel_checks_give_the_same_reasons():
    ds = Dataset.from_list([trace for _, trace, overrides, _ in CASES if not overrides] * 3)
    assert filter_reasons(ds, FilterConfig(filter_num_proc=2)) == filter_reasons(ds, FilterConfig())


def test_missing_columns_fail_before_work_and_bad_thresholds_are_refused():
    ds = Dataset.from_list([{"completion": GOOD, "prompt_style": "r1"}])
    with pytest.raises(ContractError, match="finish_reason"):
        filter_traces(ds)
    assert filter_reasons(ds, FilterConfig(require_finished=False)) == [None]
    with pytest.raises(ValueError, match="below min_tokens"):
        FilterConfig(min_tokens=10, max_tokens=5)


def test_filter_cli_verifies_filters_selects_and_writes_side_output(tmp_path, capsys):
    rows = [
        make_trace(GOOD, problem_id="p1", sample_index=0, trace_id="a"),
        make_trace("<think>\nHmm.\n</think>\n\\boxed{3}", problem_id="p1", sample_index=1, trace_id="b"),
        make_trace("The answer is \\boxed{2}.", problem_id="p1", sample_index=2, trace_id="c"),
        make_trace(GOOD, problem_id="p1", sample_index=3, trace_id="d", finish_reason="length"),
    ]
    write_dataset(Dataset.from_list(rows), tmp_path / "traces")
    (tmp_path / "traces" / "funnel.json").write_text(
        json.dumps({"stages": [{"stage": "generate", "rows_in": 4, "rows_out": 4, "rejected": {}}]})
    )
    out = tmp_path / "curated"
    assert cli_main(["filter", "--input", str(tmp_path / "traces"), "--output_dir", str(out)]) == 0
    assert read_dataset(out)["trace_id"] == ["a"]
    rejected_filter = read_dataset(out / "rejected" / "filter")
    assert dict(zip(rejected_filter["trace_id"], rejected_filter[REJECT_REASON], strict=True)) == {
        "c": "no_think",
        "d": "finish_length",
    }
    rejected_select = read_dataset(out / "rejected" / "select")
    assert rejected_select["trace_id"] == ["b"] and rejected_select[REJECT_REASON] == ["incorrect"]
    funnel = json.loads((out / "funnel.json").read_text())["stages"]
    assert [s["stage"] for s in funnel] == ["generate", "verify", "filter", "select"]
    assert funnel[2] == {
        "stage": "filter",
        "rows_in": 4,
        "rows_out": 2,
        "rejected": {"no_think": 1, "finish_length": 1},
    }
    assert funnel[3] == {"stage": "select", "rows_in": 2, "rows_out": 1, "rejected": {"incorrect": 1}}
    printed = capsys.readouterr().out
    assert "verifying them first" in printed and "finish_length" in printed
