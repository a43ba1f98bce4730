"""A table of (gold, completion, expected) cases: what the accuracy reward, the verify stage and the filters say.

The bare answers come from the kinds math-verify documents (numbers, fractions, percentages, units, roots,
expressions, equations, intervals, sets, tuples, matrices, complex numbers, text and choices); each is written into
full completions the way real models end them (R1-distill "**Final Answer**" blocks, Qwen-style `$\\boxed{}$`
sentences). The structural cases are the answer-extraction rule (`text.final_answer`): several boxes, intermediate
boxes, final statements, think blocks, missing answers, answer tags. Where a verdict is not obvious, the comment
says why it is what it is; a verdict that is math-verify's own limitation says so rather than hiding the case.
"""

from __future__ import annotations

import pytest
from datasets import Dataset

from openr1_data.curate.filters import FilterConfig, filter_reasons
from openr1_data.curate.verify import VerifyConfig, verify_traces
from openr1_data.prompts import get_style
from openr1_data.train.rewards import get_reward_funcs

# (gold, the answer inside the box, expected verdict)
BARE: list[tuple[str, str, bool | None]] = [
    # integers
    ("42", "42", True),
    ("42", "042", True),  # a leading zero is the same integer
    ("42", "41", False),
    ("-7", "-7", True),
    ("-7", "7", False),
    ("0", "0", True),
    ("1000", "1,000", True),  # a thousands separator
    ("1000000", "1{,}000{,}000", True),  # the `{,}` separator LaTeX writers use
    ("10455", "10\\,455", False),  # math-verify reads a thin space as a sum (10 + 455): its limitation
    ("12", "12.0", True),
    ("5", "x = 5", True),  # an assignment counts as its value
    ("5", "n=5", True),
    ("5", "5 \\text{ apples}", True),  # a trailing unit word is dropped
    ("5", "\\text{5}", True),
    # decimals and fractions
    ("0.5", "\\frac{1}{2}", True),
    ("\\frac{1}{2}", "0.5", True),
    ("\\frac{1}{2}", "\\dfrac{1}{2}", True),
    ("\\frac{1}{2}", "\\tfrac12", True),
    ("\\frac{1}{2}", "1/2", True),
    ("\\frac{1}{2}", "\\frac{2}{4}", True),
    ("\\frac{1}{3}", "0.333", False),  # rounding to 6 places (float_rounding) tells 0.333 from 1/3
    ("\\frac{1}{3}", "0.3333333", True),  # ... and not 0.3333333
    ("\\frac{3}{4}", "\\frac{4}{3}", False),
    ("-\\frac{1}{2}", "\\frac{-1}{2}", True),
    ("-\\frac{1}{2}", "-0.5", True),
    ("2.5", "\\frac{5}{2}", True),
    ("2.5", "2\\frac{1}{2}", True),  # a mixed number
    ("0.125", "\\frac18", True),
    ("1.5", "1.50", True),
    ("3.14", "\\pi", False),  # an approximation is not the constant, either way round
    # percentages
    ("50\\%", "50", True),
    ("50", "50\\%", True),
    ("0.5", "50\\%", True),
    ("25\\%", "0.25", True),
    ("12.5\\%", "12.5", False),  # math-verify matches a bare number to a percentage only for integers
    # units, degrees, money
    ("10 \\text{ cm}", "10", True),
    ("10", "10\\text{ cm}", True),
    ("10", "10 \\mathrm{cm}", True),
    ("5\\text{ m/s}", "5", True),
    ("90^\\circ", "90", True),
    ("90", "90^{\\circ}", True),
    ("45^\\circ", "\\frac{\\pi}{4}", False),  # degrees are dropped as a unit, not converted to radians
    ("\\$18.90", "18.90", True),
    ("18.90", "\\$18.90", True),
    # roots, pi, powers, logarithms
    ("2\\sqrt{3}", "\\sqrt{12}", True),
    ("\\sqrt{2}", "\\frac{2}{\\sqrt{2}}", True),
    ("\\sqrt{2}", "1.414", False),
    ("\\frac{\\sqrt{3}}{2}", "\\frac{1}{2}\\sqrt{3}", True),
    ("\\sqrt[3]{2}", "2^{1/3}", True),
    ("2\\pi", "2 \\pi", True),
    ("\\frac{\\pi}{6}", "\\pi/6", True),
    ("\\pi", "3.14159", False),
    ("2^{10}", "1024", True),
    ("e^{2}", "e^2", True),
    ("\\log_2 8", "3", True),
    ("\\ln e", "1", True),
    ("3^{-1}", "\\frac13", True),
    ("10^{6}", "1000000", True),
    ("1.5 \\times 10^{3}", "1500", True),
    ("6.02\\times10^{23}", "6.02e23", False),  # `e` notation is Euler's e inside LaTeX: write \times 10^{23}
    # expressions
    ("x^2+2x+1", "(x+1)^2", True),
    ("x^2-1", "(x-1)(x+1)", True),
    ("2x+3", "3+2x", True),
    ("2x+3", "2x+4", False),
    ("\\frac{x}{2}", "0.5x", True),
    ("a+b", "b+a", True),
    ("a-b", "b-a", False),
    ("x^2", "y^2", False),  # strict mode: the variable matters
    ("\\frac{1}{x+1}", "(x+1)^{-1}", True),
    ("\\sin^2 x + \\cos^2 x", "1", True),  # sympy simplifies the identity
    # equations and assignments
    ("y = 2x + 1", "y=2x+1", True),
    ("y = 2x+1", "2x+1", True),  # the right-hand side of a gold assignment is its value
    ("y=2x+1", "y = 1 + 2x", True),
    ("y=2x+1", "y=2x-1", False),
    ("x = 3", "3", True),
    ("3", "x=3", True),
    ("x=3", "y=3", False),  # strict mode: x = 3 and y = 3 name different unknowns
    ("x^2+y^2=1", "y^2+x^2=1", True),
    # inequalities and intervals (gold first: math-verify is not symmetric)
    ("x < 3", "(-\\infty, 3)", True),
    ("(-\\infty, 3)", "x<3", False),  # a relation answer to a set gold needs allow_set_relation_comp
    ("x \\geq 2", "[2, \\infty)", True),
    ("[2,\\infty)", "[2, \\infty)", True),
    ("(1, 2]", "(1,2]", True),
    ("(1, 2]", "[1, 2]", False),  # openness matters
    ("(1,2]", "\\left(1, 2\\right]", True),
    ("[0,1]", "[0, 1]", True),
    ("(-\\infty,0)\\cup(1,\\infty)", "(-\\infty, 0) \\cup (1, \\infty)", True),
    ("(-\\infty,0)\\cup(1,\\infty)", "(1,\\infty)\\cup(-\\infty,0)", True),  # a union is unordered
    ("1 < x < 2", "(1, 2)", True),
    ("[-2, 7]", "-2 \\le x \\le 7", False),  # as above: off by default (tests/test_verify.py switches it on)
    # sets, tuples, lists
    ("\\{1, 2\\}", "\\{2, 1\\}", True),
    ("\\{1,2,3\\}", "1, 2, 3", True),  # a comma list is a set
    ("1, 2, 3", "3, 2, 1", True),
    ("\\{1, 2\\}", "\\{1, 3\\}", False),
    ("(1, 2)", "(1,2)", True),
    ("(1, 2)", "(2, 1)", False),  # a point is ordered
    ("(3, -4)", "(3,-4)", True),
    ("(1,2,3)", "(1, 2, 3)", True),
    ("-2, 1", "1, -2", True),
    ("-2, 1", "-2", False),  # half of a "find all" answer is wrong
    ("\\{-1, 1\\}", "\\pm 1", True),
    ("2, 3", "x = 2, x = 3", True),
    # matrices and vectors
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}", True),
    (
        "\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}",
        "\\begin{bmatrix} 1 & 2 \\\\ 3 & 4 \\end{bmatrix}",
        True,
    ),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix} 2 \\\\ 1 \\end{pmatrix}", False),
    # complex numbers
    ("3+4i", "4i+3", True),
    ("3+4i", "3-4i", False),
    ("i", "\\sqrt{-1}", False),  # sympy keeps sqrt(-1) unevaluated, so it never equals i: math-verify's limit
    ("1+i", "(1+i)", True),
    # infinity
    ("\\infty", "\\infty", True),
    ("\\infty", "-\\infty", False),
    # text answers and choices
    ("\\text{yes}", "\\text{yes}", True),
    ("\\text{(B)}", "B", True),
    ("B", "\\text{B}", True),
    ("B", "C", False),
    ("\\text{Monday}", "\\text{Monday}", True),
    ("\\text{Monday}", "\\text{Tuesday}", False),
    # golds in words (issue 25): compared as normalised text, never as a product of one-letter symbols
    ("yes", "yes", True),
    ("yes", "\\text{Yes}", True),
    ("yes", "sey", False),  # math-verify read both as y*e*s
    ("no", "No.", True),
    ("no", "yes", False),
    ("forty two", "forty two", True),
    ("forty two", "two forty", False),  # f*o*r*t*y*t*w*o both ways round
    ("forty two", "42", None),  # a number cannot be compared with a gold math cannot read: no verdict
    ("\\text{Evelyn}", "Evelyn", True),
    ("\\text{Evelyn}", "\\text{Lenye}", False),
    ("Alice", "\\textbf{alice}", True),
    ("\\text{odd}", "\\text{even}", False),
    ("the Nile", "Nile", True),  # articles and case are not part of the answer
    ("no solution", "\\emptyset", None),
    ("abc", "cba", True),  # a short lowercase run is still a product of variables
]

# How real models end a solution with one boxed answer.
ENDINGS = [
    "<think>\nLet me work through this carefully.\n</think>\nTherefore, the answer is $\\boxed{{{answer}}}$.",
    "<think>\nOkay, so the question asks for the value.\n</think>\n\n**Final Answer**\n\\[\n\\boxed{{{answer}}}\n\\]",
]

T = "<think>\nWorking.\n</think>\n"

# (gold, completion, expected, prompt style): the answer-extraction rule, and what happens around it.
STRUCTURAL: list[tuple[str | None, str, bool | None, str]] = [
    # several boxes are one multi-part answer (issue 17's cases first)
    ("-2, 1", T + "The integers are \\boxed{-2} and \\boxed{1}.", True, "r1"),
    ("(2,1),(1,2)", T + "\\boxed{(2, 1)}, \\boxed{(1, 2)}", True, "r1"),
    ("k = 45, n = 2", T + "\\boxed{k = 45} \\quad \\text{and} \\quad \\boxed{n = 2}", True, "r1"),
    ("\\{1,2,3\\}", T + "\\boxed{1},\\boxed{2},\\boxed{3}", True, "r1"),
    ("-2, 1", T + "The solutions are $\\boxed{-2}$ and $\\boxed{1}$.", True, "r1"),
    ("-2, 1", T + "The solutions are:\n\\[\n\\boxed{-2}\n\\]\n\\[\n\\boxed{1}\n\\]", True, "r1"),
    ("-2, 1", T + "- \\boxed{-2}\n- \\boxed{1}", True, "r1"),
    ("\\pm 3", T + "x = \\boxed{3} \\text{ or } x = \\boxed{-3}", True, "r1"),
    ("3, 5", T + "(a) \\boxed{3}\n(b) \\boxed{5}", True, "r1"),  # a two-part question, parts labelled
    ("x=2, y=3", T + "$x = \\boxed{2}$ and $y = \\boxed{3}$", True, "r1"),  # labels outside the boxes
    ("x = 1, y = 2", T + "\\boxed{x = 1}, \\boxed{y = 2}", True, "r1"),
    ("1, 2", T + "\\boxed{x = 1}, \\boxed{x = 2}", True, "r1"),
    # (2, 3) parses as an open interval or a point; math-verify compares it with a two-element list in order.
    ("(2, 3)", T + "\\boxed{2}, \\boxed{3}", True, "r1"),
    ("5", T + "\\boxed{5} \\quad \\boxed{5}", True, "r1"),  # the same answer twice is one answer
    ("5", T + "\\boxed{5}\n\n**Final Answer**\n\\boxed{5}", True, "r1"),  # R1 distills often repeat it
    # Hedging between two answers earns nothing: "3 or 5" is the list {3, 5}, not 3.
    ("3", T + "It is either \\boxed{3} or \\boxed{5}.", False, "r1"),
    ("-2, 1", T + "The integers are \\boxed{-2} and 1.", False, "r1"),  # only what is boxed counts
    # intermediate boxes do not count
    ("6", T + "We get \\boxed{3}, so $y = 2 \\cdot 3 = \\boxed{6}$.", True, "r1"),
    ("3", T + "We get \\boxed{3}, so $y = 2 \\cdot 3 = \\boxed{6}$.", False, "r1"),
    ("5", T + "First I got \\boxed{4}. Wait, that is wrong; recomputing gives \\boxed{5}.", True, "r1"),
    ("4", T + "First I got \\boxed{4}. Wait, that is wrong; recomputing gives \\boxed{5}.", False, "r1"),
    ("12", T + "Step 1: $a = \\boxed{3}$.\n\nStep 2: so $4a = \\boxed{12}$.", True, "r1"),
    # a later explicit final statement beats an earlier (intermediate) box
    (
        "10455",
        T
        + "There are $2^8 - 1 = \\boxed{255}$ subsets, each counted 41 times. The final answer is $10,455$.",
        True,
        "r1",
    ),
    ("255", T + "There are $\\boxed{255}$ subsets in all. The final answer is $10,455$.", False, "r1"),
    ("10455", T + "That gives \\boxed{255} subsets. The final answer is 10,455.", True, "r1"),
    ("-2, 1", T + "Roots: \\boxed{-2}. **Final Answer:** $-2$ and $1$", True, "r1"),
    (
        "7",
        T + "\\boxed{7}. The final answer is therefore clear.",
        True,
        "r1",
    ),  # prose, not an answer: box stands
    ("7", T + "So the final answer is $\\boxed{7}$.", True, "r1"),  # the statement holds the box itself
    # think blocks: the reasoning is scratch work, only the final part answers
    ("4", "<think>\nMaybe \\boxed{3}?\n</think>\nThe answer is \\boxed{4}.", True, "r1"),
    ("3", "<think>\nMaybe \\boxed{3}?\n</think>\nThe answer is \\boxed{4}.", False, "r1"),
    ("3", "<think>\nSo it is \\boxed{3}.\n</think>\nSo it is 3.", False, "r1"),  # no answer after the block
    # A cut generation (no closing tag) is all "final": its box is read, and the filters reject the trace.
    ("3", "<think>\nSo far \\boxed{3} and then", True, "r1"),
    ("3", "No reasoning block, just \\boxed{3}.", True, "r1"),
    ("3", "Okay.\n</think>\n\\boxed{3}", True, "r1"),  # the template pre-filled <think>
    ("2", "<think>\n一加一等于二。\n</think>\n答案是 \\boxed{2}", True, "r1"),
    # no box: the verify fallback reads an answer the final text announces, in math-verify's own phrasings
    ("0.5", T + "The final answer is $\\frac{1}{2}$.", True, "r1"),
    ("0.5", T + "Hence the answer is $0.5$.", True, "r1"),
    ("3", T + "I think it is probably 3.", False, "r1"),  # nothing announced: no answer, which is wrong
    ("3", T + "\\boxed{}", False, "r1"),  # an empty box answers nothing
    ("3", T + "\\boxed{3", False, "r1"),  # a box cut mid-answer is not an answer
    ("3", T + "\\fbox{3}", True, "r1"),
    ("\\frac{1}{2}", T + "\\boxed{\\frac{1}{2}}", True, "r1"),  # nested braces
    ("\\{1,2\\}", T + "\\boxed{\\{1,2\\}}", True, "r1"),  # escaped braces are the set's, not the box's
    ("B", T + "\\boxed{(B)}", True, "r1"),
    ("B", T + "The correct option is \\boxed{\\text{B}}.", True, "r1"),
    # golds that cannot be judged: unknown, never correct
    ("---", T + "\\boxed{---}", None, "r1"),
    ("\\ldots", T + "\\boxed{\\ldots}", None, "r1"),
    ("", T + "\\boxed{3}", None, "r1"),
    (None, T + "\\boxed{3}", None, "r1"),
    # answer tags (open-r1's later format): the block's box, else the block itself when it is short math
    ("4", "<think>\nTwo and two.\n</think>\n<answer>\n4\n</answer>", True, "answer_tag"),
    ("4", "<think>\nTwo and two.\n</think>\n<answer>\n$\\boxed{4}$\n</answer>", True, "answer_tag"),
    ("x = 3", "<think>\nSolve.\n</think>\n<answer>\n$x = 3$\n</answer>", True, "answer_tag"),
    (
        "-2, 1",
        "<think>\nSolve.\n</think>\n<answer>\n\\boxed{-2} and \\boxed{1}\n</answer>",
        True,
        "answer_tag",
    ),
    ("4", "<think>\nTwo and two.\n</think>\n<answer>\n5\n</answer>", False, "answer_tag"),
    ("4", "<think>\nTwo and two.\n</think>\n<answer>\n</answer>", False, "answer_tag"),
    # prose in the block is not parsed as math; nothing announced either: no answer
    (
        "4",
        "<think>\nx\n</think>\n<answer>\nIt is the number after three, counted as before.\n</answer>",
        False,
        "answer_tag",
    ),
]


def _cases() -> list[tuple[str | None, str, bool | None, str]]:
    cases = [(g, e.format(answer=a), ok, "r1") for g, a, ok in BARE for e in ENDINGS]
    return cases + STRUCTURAL


CASES = _cases()


def test_the_table_is_a_few_hundred_cases_with_every_verdict():
    assert len(CASES) >= 250
    verdicts = [c[2] for c in CASES]
    assert verdicts.count(True) > 100 and verdicts.count(False) > 50 and verdicts.count(None) >= 4


@pytest.mark.parametrize(("gold", "completion", "expected", "style"), CASES, ids=lambda v: None)
def test_accuracy_reward_verdict(gold, completion, expected, style):
    (accuracy,) = get_reward_funcs(["accuracy"], style=style)
    score = accuracy([completion], answer=[gold])[0]
    assert score == (None if expected is None else float(expected)), get_style(style).parse(completion, {})


def test_the_verify_stage_and_the_filters_agree_with_the_reward_on_the_whole_table():
    rows = []
    for i, (gold, completion, _, style) in enumerate(CASES):
        parsed = get_style(style).parse(completion, {})  # as generation writes a trace
        rows.append(
            {
                "problem_id": f"p{i}",
                "answer": gold,
                "completion": completion,
                "prompt_style": style,
                "final": parsed.final,
                "predicted_answer": parsed.predicted_answer,
                "finish_reason": "stop",
            }
        )
    ds = Dataset.from_list(rows)
    verified = verify_traces(ds, VerifyConfig(verify_num_proc=2, verify_batch_size=32, progress=False)).kept
    assert verified["correct"] == [c[2] for c in CASES]
    # The answer-present filter passes exactly the traces whose rule found an answer (boxed, or the answer block).
    reasons = filter_reasons(
        ds,
        FilterConfig(
            require_finished=False, require_think=False, require_answer=True, max_repetition_share=None
        ),
    )
    for row, reason in zip(rows, reasons, strict=True):
        has_answer = row["predicted_answer"] is not None
        if row["prompt_style"] == "r1":
            assert (reason is None) == has_answer, row["completion"]
