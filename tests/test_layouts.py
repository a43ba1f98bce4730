"""Question/solution layouts: every known layout maps to problem/solution/answer, `auto` detects it, and unknown
layouts or malformed rows fail before any work with a message that lists the layouts and names the row."""

from __future__ import annotations

import json

import pytest
from datasets import Dataset

from openr1_data.schema import ContractError
from openr1_data.sources.layouts import (
    LAYOUTS,
    PairSourceConfig,
    UnknownLayout,
    apply_layout,
    detect_layout,
    load_pairs,
    solution_part,
)
from openr1_data.text import gold_from_solution as final_answer

STRATOS_ANSWER = (
    "<|begin_of_thought|>\n\nLet me add 2 and 3 carefully.\n\n<|end_of_thought|>\n\n"
    "<|begin_of_solution|>\n\n2 + 3 = 5, so the answer is $\\boxed{5}$.\n\n<|end_of_solution|>"
)


def test_problem_solution_passes_through_with_its_answer():
    raw = Dataset.from_list(
        [{"problem": "1+1?", "solution": "It is \\boxed{2}.", "answer": "2", "source": "s"}]
    )
    mapped, layout = apply_layout(raw)
    assert layout == "problem_solution"
    assert mapped[0] == raw[0]


def test_question_answer_uses_the_answer_text_as_solution_and_reads_the_gold_answer():
    raw = Dataset.from_list(
        [
            {"question": "Ann has 3 and gets 4 more. How many?", "answer": "3 + 4 = 7\n#### 7"},
            {"question": "What is 6/2?", "answer": "6/2 = \\boxed{3}"},
        ]
    )
    mapped, layout = apply_layout(raw)
    assert layout == "question_answer"
    assert sorted(mapped.column_names) == ["answer", "problem", "solution"]
    assert mapped[0] == {"problem": raw[0]["question"], "solution": "3 + 4 = 7\n#### 7", "answer": "7"}
    assert mapped[1]["answer"] == "3"


def test_sharegpt_conversations_like_bespoke_stratos_keep_only_the_solution_part():
    raw = Dataset.from_list(
        [
            {
                "system": "Your role as an assistant ...",
                "conversations": [
                    {"from": "user", "value": "What is 2 + 3?"},
                    {"from": "assistant", "value": STRATOS_ANSWER},
                ],
            },
            {"system": "s", "conversations": [{"from": "human", "value": "Only a question"}]},
        ]
    )
    mapped, layout = apply_layout(raw)
    assert layout == "conversations"
    assert mapped[0]["problem"] == "What is 2 + 3?"
    assert mapped[0]["solution"] == "2 + 3 = 5, so the answer is $\\boxed{5}$."
    assert mapped[0]["answer"] == "5"
    assert mapped[0]["system"] == "Your role as an assistant ..."  # other columns are kept
    # a pair without an assistant turn keeps an empty solution: the rlt style rejects it later with a reason
    assert mapped[1]["problem"] == "Only a question" and mapped[1]["solution"] is None


def test_chat_messages_and_think_blocks():
    raw = Dataset.from_list(
        [
            {
                "messages": [
                    {"role": "system", "content": "be brief"},
                    {"role": "user", "content": "Compute 4*5."},
                    {"role": "assistant", "content": "<think>4 fives</think>\n4*5 = \\boxed{20}"},
                ]
            }
        ]
    )
    mapped, layout = apply_layout(raw)
    assert layout == "messages"
    assert (mapped[0]["problem"], mapped[0]["solution"], mapped[0]["answer"]) == (
        "Compute 4*5.",
        "4*5 = \\boxed{20}",
        "20",
    )


def test_explicit_columns_and_a_separate_gold_answer_column():
    raw = Dataset.from_list([{"q": "2+2?", "worked": "2+2 is 4", "answer": "4"}])
    mapped, layout = apply_layout(raw, problem_column="q", solution_column="worked")
    assert layout == "columns"
    assert {k: mapped[0][k] for k in ("problem", "solution", "answer")} == {
        "problem": "2+2?",
        "solution": "2+2 is 4",
        "answer": "4",
    }


def test_unknown_layout_lists_the_mappings_and_how_to_pass_columns():
    raw = Dataset.from_list([{"prompt": "x", "response": "y"}])
    with pytest.raises(UnknownLayout) as err:
        apply_layout(raw)
    message = str(err.value)
    assert "['prompt', 'response']" in message
    for name in LAYOUTS:
        assert name in message
    assert "--problem_column" in message and "--solution_column" in message
    with pytest.raises(UnknownLayout, match="(?s)unknown layout .alpaca.*conversations"):
        apply_layout(raw, layout="alpaca")
    with pytest.raises(UnknownLayout, match=r"reads column\(s\) \['conversations'\]"):
        apply_layout(raw, layout="conversations")


def test_malformed_conversation_row_is_named():
    raw = Dataset.from_list(
        [
            {"conversations": [{"from": "user", "value": "fine"}, {"from": "gpt", "value": "ok"}]},
            {"conversations": [{"from": "user", "value": "broken"}, {"from": "gpt", "value": None}]},
        ]
    )
    with pytest.raises(ContractError, match=r"row 1, column `conversations`"):
        apply_layout(raw)


def test_helpers():
    assert detect_layout(["problem", "solution"]) == "problem_solution"
    assert detect_layout(["anything"], problem_column="q") == "columns"
    assert solution_part("plain text") == "plain text"
    assert solution_part("a</think>b</think> c ") == "c"
    assert final_answer("no answer here") is None and final_answer(None) is None
    assert final_answer("so #### 1,234") == "1234"


def test_load_pairs_reads_a_file_limits_before_mapping_and_normalizes(tmp_path):
    rows = [
        {"conversations": [{"from": "human", "value": f"What is {i} + 3?"}, {"from": "gpt", "value": f"\\boxed{{{i + 3}}}"}]}
        for i in range(5)
    ]  # fmt: skip
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    result = load_pairs(PairSourceConfig(problems=str(path), limit=3))
    assert result.stats.stage == "load_problems" and result.stats.rows_out == 3
    assert result.kept["answer"] == ["3", "4", "5"]
    assert all(isinstance(pid, str) and pid for pid in result.kept["problem_id"])
