"""Step segmentation on hand-written traces, and the exact arithmetic-claim checker."""

from __future__ import annotations

import pytest

from openr1_data.curate.steps import (
    NUMBERED,
    PARAGRAPHS,
    arithmetic_claims,
    check_claim,
    check_steps,
    row_steps,
    rule_verdicts,
    segment_steps,
)
from openr1_data.prompts.styles import RLT_EXPLANATION_CLOSE

STEPS_TRACE = (
    "<think>\nLet me work it out.\nStep 1: Ava starts with 12 apples.\nStep 2: She buys 30 more, so 12 + 30 = 42.\n"
    "  That is the total.\nStep 3: The answer is 42.\n</think>\n\n\\boxed{42}"
)
R1_TRACE = (
    "<think>\nFirst, count the boxes: there are 5.\n\nEach box has 2 cookies, so 5 \\times 2 = 10.\n\n"
    "So the total is 10.\n</think>\nThe answer is \\boxed{10}."
)
# The quickstart kept this explanation: its final answer is right, one of its steps is not.
RLT_EXPLANATION = (
    "Goran gives away 8 of 3.\n\nWe compute 3 - 8 is 11.\n\nSo the answer is 11.\n" + RLT_EXPLANATION_CLOSE
)


def test_numbered_steps_run_from_marker_to_marker_and_keep_continuation_lines():
    steps = row_steps({"completion": STEPS_TRACE, "prompt_style": "steps"}).texts()
    assert steps == [
        "Let me work it out.\nStep 1: Ava starts with 12 apples.",  # the preamble belongs to step 1
        "Step 2: She buys 30 more, so 12 + 30 = 42.\n  That is the total.",
        "Step 3: The answer is 42.",
    ]


def test_numbered_markers_in_other_spellings():
    text = "**Step 1.** add\n**Step 2.** multiply\n3) done"
    assert [s.text for s in segment_steps(text, NUMBERED)] == [
        "**Step 1.** add",
        "**Step 2.** multiply",
        "3) done",
    ]
    # "3.5" at a line start is a number, not a marker; fewer than two markers fall back to paragraphs.
    assert [s.text for s in segment_steps("Step 1: a\n3.5 apples\n\nmore", NUMBERED)] == [
        "Step 1: a\n3.5 apples",
        "more",
    ]


def test_free_form_r1_and_rlt_traces_are_cut_into_paragraphs():
    assert row_steps({"completion": R1_TRACE, "prompt_style": "r1"}).texts() == [
        "First, count the boxes: there are 5.",
        "Each box has 2 cookies, so 5 \\times 2 = 10.",
        "So the total is 10.",
    ]
    rlt = {"completion": RLT_EXPLANATION, "prompt_style": "rlt", "solution": "\\boxed{11}", "answer": "11"}
    assert row_steps(rlt).texts() == [
        "Goran gives away 8 of 3.",
        "We compute 3 - 8 is 11.",
        "So the answer is 11.",
    ]


def test_one_paragraph_of_lines_is_one_step_per_line_and_empty_text_has_none():
    assert [s.text for s in segment_steps("a = 1\n b = 2\n\n", PARAGRAPHS)] == ["a = 1", "b = 2"]
    assert segment_steps("   \n", PARAGRAPHS) == [] and segment_steps(None) == []
    with pytest.raises(ValueError, match="segmentation mode"):
        segment_steps("x", "sentences")


def test_step_spans_map_back_to_the_completion():
    """A step's end is an exact prefix of the raw completion (what a rollout continues from)."""
    steps = row_steps({"completion": STEPS_TRACE, "prompt_style": "steps"})
    for i, step in enumerate(steps.steps):
        end = steps.prefix_end(i)
        assert STEPS_TRACE[:end].endswith(step.text)
    assert STEPS_TRACE[: steps.prefix_end(0)].startswith("<think>\nLet me")


@pytest.mark.parametrize(
    "equation",
    [
        "3 + 4 = 7",
        "3 \\times 4 = 12",
        "14 \\div 2 = 7",
        "3 - 8 = -5",
        "$\\frac{12}{4} = 3$",
        "2^{10} = 1024",
        "2(3 + 4) = 14",
        "10,000 + 5 = 10,005",
        "0.1 + 0.2 = 0.3",  # exact, not floating point
        "2/3 = 0.67",  # a decimal may be rounded to the digits written
        "He has 5 + 3 = 8 apples.",
        "**Step 1:** 3 x 4 = 12",
        "So 5 times 3 is 15 apples.",  # operators and the equal sign in words
        "12 divided by 3 equals 4",
        "Add them:\n- 3 + 4 = 7",  # a list item's dash is not a minus sign
    ],
)
def test_true_claims(equation):
    assert check_claim(equation) is True


@pytest.mark.parametrize(
    "equation",
    [
        "3 - 8 is 11",
        "7 plus 2 makes 10",
        "3 + 4 = 9",
        "12 \\times 3 = 35",
        "7 / 2 = 3",
        "2.5 * 4 = 10.1",
        "3 + 4 = 7 = 8",
        "1. 5 - 2 = 4",
    ],
)
def test_false_claims(equation):
    assert check_claim(equation) is False


@pytest.mark.parametrize(
    "equation",
    [
        "x + 3 = 7",  # a variable on the left
        "3x + 4 = 10",
        "x - 3 = 4",  # a binary minus after a variable, not -3
        "a2 + 3 = 5",
        "3 + 4 = 7x",  # the right side runs on into a variable
        "half of 3 + 5 = 4",  # a word makes it a larger expression
        "7 / 2 = 3 remainder 1",
        "5 / 0 = 1",  # no value
        "2^{1000} = 1",  # too large to evaluate
    ],
)
def test_unparseable_claims_have_no_verdict(equation):
    claims = arithmetic_claims(equation)
    assert claims and all(c.verdict is None for c in claims)
    assert check_claim(equation) is None


@pytest.mark.parametrize(
    "text", ["the answer is 11", "x = 3", "5 = 5", "3 cm + 4 cm = 7 cm", "50% of 20 = 10", "3 + 4 \\neq 8"]
)
def test_text_without_an_arithmetic_claim(text):
    assert arithmetic_claims(text) == []


def test_a_chain_and_several_claims_on_one_line():
    claims = arithmetic_claims("3+4=7, 7*2=14 and 14 - 1 = 12")
    assert [(c.text, c.verdict) for c in claims] == [
        ("3 + 4 = 7", True),
        ("7 * 2 = 14", True),
        ("14 - 1 = 12", False),
    ]


def test_the_step_with_a_false_claim_is_wrong_at_no_model_cost():
    steps = row_steps(
        {"completion": RLT_EXPLANATION, "prompt_style": "rlt", "solution": "\\boxed{11}"}
    ).texts()
    checks = check_steps(steps)
    assert [c.wrong for c in checks] == [False, True, False]
    assert checks[1].false_claims == ["3 - 8 = 11"]
    assert rule_verdicts(steps) == [True, False, True]
