"""Prompt styles and their parsers on hand-written completions."""

from __future__ import annotations

import pytest

from openr1_data.prompts import get_style, list_styles
from openr1_data.text import boxed_contents, last_boxed, split_think

ROW = {
    "problem": "What is 1/2 + 1/4?",
    "solution": "Add: 1/2 + 1/4 = 3/4, so $\\boxed{\\frac{3}{4}}$.",
    "answer": None,
}


def test_r1_prompt_uses_open_r1_instruction():
    messages = get_style("r1").build(ROW)
    assert messages == [
        {
            "role": "user",
            "content": "What is 1/2 + 1/4?\nPlease reason step by step, and put your final answer within \\boxed{}.",
        }
    ]


def test_r1_parse_full_think_block():
    parsed = get_style("r1").parse("<think>\nhalf plus quarter\n</think>\nSo \\boxed{\\frac{3}{4}}.", ROW)
    assert parsed.reasoning == "half plus quarter"
    assert parsed.final == "So \\boxed{\\frac{3}{4}}."
    assert parsed.predicted_answer == "\\frac{3}{4}"
    assert parsed.parse_issue is None


def test_r1_parse_prefilled_think_has_only_closing_tag():
    parsed = get_style("r1").parse("half plus quarter</think>The answer is \\boxed{0.75}", ROW)
    assert (parsed.reasoning, parsed.predicted_answer, parsed.parse_issue) == (
        "half plus quarter",
        "0.75",
        None,
    )


@pytest.mark.parametrize(
    ("completion", "issue", "answer"),
    [
        ("no tags at all, answer \\boxed{3}", "no_think", "3"),
        ("<think>never closed \\boxed{3}", "unclosed_think", "3"),
        ("<think>a</think>b</think> \\boxed{4}", "multiple_think_close", "4"),
        ("<think>a</think> I forgot the box: 4", "no_boxed_answer", None),
    ],
)
def test_r1_parse_flags_malformed_output_instead_of_raising(completion, issue, answer):
    parsed = get_style("r1").parse(completion, ROW)
    assert parsed.parse_issue == issue
    assert parsed.predicted_answer == answer


def test_nested_and_multiple_boxes():
    text = "first \\boxed{1} then \\boxed{\\frac{a}{\\sqrt{b}}} and \\fbox{x^{2}} and cut \\boxed{unclosed"
    assert boxed_contents(text) == ["1", "\\frac{a}{\\sqrt{b}}", "x^{2}"]
    assert last_boxed("\\boxed {7}") == "7"
    assert last_boxed("nothing here") is None


def test_split_think_plain():
    assert split_think("<think>r</think>f") == ("r", "f", None)


def test_rlt_prompt_shows_solution_then_opens_explanation():
    messages = get_style("rlt").build(ROW)
    assert [m["role"] for m in messages] == ["system", "user", "assistant"]
    prefill = messages[-1]["content"]
    assert ROW["solution"] in prefill
    assert prefill.index("<|end_of_solution|>") < prefill.index("<|begin_of_explanation|>")
    assert prefill.rstrip().endswith("<|begin_of_explanation|>")


def test_rlt_parse_gives_explanation_as_reasoning_and_solution_as_final():
    parsed = get_style("rlt").parse("First add halves.\n\nThen quarters.<|end_of_explanation|>", ROW)
    assert parsed.reasoning == "First add halves.\n\nThen quarters."
    assert parsed.final == ROW["solution"]
    assert parsed.predicted_answer == "\\frac{3}{4}"  # derived from the solution when `answer` is empty
    assert parsed.parse_issue is None
    assert get_style("rlt").parse("   <|end_of_explanation|>", ROW).parse_issue == "empty_explanation"
    assert get_style("rlt").parse("no closing tag", ROW).parse_issue == "unclosed_explanation"


def test_rlt_needs_a_solution():
    assert get_style("rlt").row_problem({"problem": "p", "solution": None}) == "empty_solution"
    assert get_style("r1").row_problem({"problem": "p", "solution": None}) is None


def test_user_template_from_jinja_file(tmp_path):
    template = tmp_path / "mine.j2"
    template.write_text("Solve carefully: {{ problem }} (source: {{ source }})")
    style = get_style(str(template))
    assert (
        style.build({"problem": "2+2", "source": "me"})[0]["content"] == "Solve carefully: 2+2 (source: me)"
    )


def test_unknown_style_lists_builtins():
    with pytest.raises(ValueError, match="r1") as err:
        get_style("nope")
    assert all(name in str(err.value) for name in list_styles())


def test_escaped_braces_inside_a_box_do_not_hide_later_boxes():
    assert boxed_contents(r"\boxed{\{1, 2\}} and \boxed{\frac{1}{2}}") == [r"\{1, 2\}", r"\frac{1}{2}"]
    assert last_boxed(r"\boxed{x \in \left\{1 \right.} then \boxed{7}") == "7"


def test_a_prefill_keeps_its_trailing_newline():
    """The model continues the prefill, so `<think>\\n` must reach it whole (Jinja drops a trailing newline by
    default; the teacher and the teach experiment's uncurated arm once saw `<think>` alone)."""
    from openr1_data.prompts.styles import R1_INSTRUCTION

    assert get_style("r1_think").build({"problem": "What is 1 + 2?"})[-1] == {
        "role": "assistant",
        "content": "<think>\n",
    }
    assert get_style("r1").build({"problem": "What is 1 + 2?"})[0]["content"].endswith(R1_INSTRUCTION)
