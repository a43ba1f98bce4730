"""Reasoning steps: segmentation of a trace into steps, and the exact check of the arithmetic claims a step makes.

Segmentation (`segment_steps`, `trace_steps`):
- the `steps` prompt style numbers its steps (`Step 1: ...`, `1. ...`): a step runs from its marker to the next
  one (text before the first marker belongs to step 1);
- RLT explanations and free-form R1 reasoning separate steps by blank lines: a step is a paragraph; reasoning
  written as one paragraph of several lines is split into lines (small models rarely leave blank lines).
A `steps` trace with fewer than two markers is segmented like free-form reasoning.

Arithmetic claims (`arithmetic_claims`, `check_claim`): an equation between plain numbers with `+ - * / ^`,
parentheses, `\\times`, `\\cdot`, `\\div`, `\\frac{a}{b}` (and "is", "equals", "makes" as the equal sign, as in
"3 - 8 is 11") is evaluated exactly with fractions. A claim is True or False, or None (unparseable) when a side
involves something that is not a number (`x + 3 = 7`), is cut off, or cannot be evaluated (a division by zero).
A decimal written with d digits may be rounded or truncated to them (`2/3 = 0.67`); an integer may not.
`check_steps` turns the claims of each step into a verdict: a step with a false claim is wrong, at no model cost.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from openr1_data.verdicts import view_trace

STEPS_STYLE = "steps"
STEPS, STEP_LABELS, FIRST_ERROR_STEP = (
    "steps",
    "step_labels",
    "first_error_step",
)  # the columns labelers write
NUMBERED, PARAGRAPHS = "numbered", "paragraphs"

# --------------------------------------------------------------------------------------------------------------
# Segmentation
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One reasoning step: its text (stripped) and its span `[start, end)` in the segmented text."""

    text: str
    start: int
    end: int


# "Step 3:", "**Step 3.**", "3." or "3)" at the start of a line.
_BULLET = re.compile(r"(?m)^[ \t]*[-*+\u2022][ \t]+")
_STEP_MARKER = re.compile(
    r"(?im)^[ \t]*(?:[*_#>]+[ \t]*)*(?:step[ \t]*\d+[ \t]*[:.)\-]|\d{1,3}[.)](?=[ \t]))"
)
_BLANK_LINE = re.compile(r"\n[ \t]*\n")


def segmentation_for(prompt_style: str | None) -> str:
    """How a style's reasoning is cut into steps: numbered lines for `steps`, paragraphs for every other style."""
    return NUMBERED if prompt_style == STEPS_STYLE else PARAGRAPHS


def _pieces(text: str, cuts: list[int]) -> list[Step]:
    """The non-empty pieces between consecutive cut positions, stripped, with their spans."""
    steps = []
    for start, end in zip(cuts, [*cuts[1:], len(text)], strict=True):
        piece = text[start:end]
        if piece.strip():
            lead = len(piece) - len(piece.lstrip())
            steps.append(Step(piece.strip(), start + lead, start + len(piece.rstrip())))
    return steps


def _numbered(text: str) -> list[Step]:
    starts = [m.start() for m in _STEP_MARKER.finditer(text)]
    if len(starts) < 2:
        return []
    return _pieces(text, [0, *starts[1:]])  # the preamble belongs to step 1


def _paragraphs(text: str) -> list[Step]:
    steps = _pieces(text, [0, *(m.end() for m in _BLANK_LINE.finditer(text))])
    if len(steps) == 1 and "\n" in steps[0].text:  # one block of lines: one step per line
        return _pieces(text, [0, *(m.end() for m in re.finditer(r"\n", text))])
    return steps


def segment_steps(text: str | None, mode: str = PARAGRAPHS) -> list[Step]:
    """The steps of a reasoning text: `numbered` (Step markers; falls back to paragraphs with fewer than two) or
    `paragraphs` (blank-line paragraphs; the lines of a single multi-line paragraph)."""
    if mode not in (NUMBERED, PARAGRAPHS):
        raise ValueError(f"step segmentation mode must be {NUMBERED!r} or {PARAGRAPHS!r}, got {mode!r}")
    if not text or not text.strip():
        return []
    return (_numbered(text) if mode == NUMBERED else []) or _paragraphs(text)


@dataclass(frozen=True)
class TraceSteps:
    """The steps of one trace, and where the segmented reasoning starts in the raw completion (None when it cannot
    be located, e.g. a backend rewrote the text), so a step's end maps to a prefix of the completion."""

    steps: list[Step]
    offset: int | None

    def texts(self) -> list[str]:
        return [s.text for s in self.steps]

    def prefix_end(self, index: int) -> int | None:
        """Where step `index` ends in the completion (the completion up to it is the rollout prefix)."""
        return None if self.offset is None else self.offset + self.steps[index].end


def view_steps(view: Any, prompt_style: str | None) -> TraceSteps:
    """The steps of a trace given its `verdicts.TraceView`: the reasoning (think block, RLT explanation), or
    the whole completion when there is none, segmented for the trace's prompt style."""
    text = view.reasoning_text or ""
    steps = segment_steps(text, segmentation_for(prompt_style))
    return TraceSteps(steps, _locate(view.completion, text, bool(view.parsed.reasoning)))


def row_steps(row: Mapping[str, Any], default_style: str = "r1") -> TraceSteps:
    """The steps of a dataset row (parsed with its style's parser, as generation parsed it)."""
    view = view_trace(row, default_style=default_style)
    return view_steps(view, row.get("prompt_style") or default_style)


def _locate(completion: str, text: str, in_think: bool) -> int | None:
    """Where the (stripped) reasoning text starts in the completion."""
    if not text:
        return 0
    start = completion.find("<think>") + len("<think>") if in_think and "<think>" in completion else 0
    offset = completion.find(text, start)
    return offset if offset != -1 else None


# --------------------------------------------------------------------------------------------------------------
# Arithmetic claims
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """One equation a step writes: both sides as normalized text, and whether it holds (None: unparseable)."""

    left: str
    right: str
    verdict: bool | None

    @property
    def text(self) -> str:
        return f"{self.left} = {self.right}"


class _Unevaluable(Exception):
    """A side that is not plain arithmetic, or has no value (division by zero, a huge power)."""


_FRAC = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_TEXT = re.compile(r"\\(?:text|textbf|mathrm|mbox)\s*\{([^{}]*)\}")
_THOUSANDS = re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?![\d]|,\d|\.\d)")
_EQUAL_WORDS = re.compile(r"\b(?:is\s+equal\s+to|equals|is|makes|gives|yields)\b")
_TIMES_X = re.compile(r"(?<=\d)[ \t]*[xX][ \t]*(?=\d)")
# "3 times 4", "12 divided by 3": operators spelled out, between two numbers only.
_WORD_OPERATORS = [
    (re.compile(rf"(?<=\d)[ \t]+{words}[ \t]+(?=[\d(])"), f" {op} ")
    for words, op in (
        ("(?:times|multiplied by)", "*"),
        ("divided by", "/"),
        ("plus", "+"),
        ("minus", "-"),
    )
]
_NOT_EQUAL = re.compile(r"<=|>=|!=|=>|==|\\(?:neq|ne|leq|geq|le|ge|approx|equiv|sim)\b|[≈≠≤≥]")
_SPAN = re.compile(r"[0-9.()+\-*/^= \t]+")
_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d+)?|\.\d+)|([-+*/^()])|(\.))")
# Words that make a number next to them part of a larger expression than the one written in symbols.
_BEFORE_WORDS = {
    "of",
    "times",
    "by",
    "twice",
    "half",
    "double",
    "triple",
    "minus",
    "plus",
    "over",
    "per",
    "than",
}
_AFTER_WORDS = {"times", "plus", "minus", "divided", "multiplied", "squared", "cubed", "percent", "remainder"}
_AFTER_WORDS |= {"r", "mod", "modulo", "factorial"}
_OPERATORS = set("+-*/^")
_MAX_EXPONENT = 64
_MAX_DIGITS = 400


def normalize_math(text: str) -> str:
    """Plain-text arithmetic from LaTeX and prose spellings: `\\times` → `*`, `\\frac{a}{b}` → `((a)/(b))`,
    "is" → `=`, math delimiters and markdown bold removed, non-equality relations made into separators."""
    text = text.replace("**", " ")  # markdown bold, not a power
    text = _BULLET.sub(" ", text)  # "- 3 + 4 = 7" is a list item, not -3 + 4
    for _ in range(3):  # nested fractions, innermost first
        text = _FRAC.sub(r"((\1)/(\2))", text)
    text = _TEXT.sub(r" \1 ", text)
    text = re.sub(r"\\(?:times|cdot|ast)\b|[×·∗]", " * ", text)
    text = re.sub(r"\\div\b|÷", " / ", text)
    text = re.sub(r"[−–]", "-", text)
    text = re.sub(r"\\[,;:!]|\\(?:left|right)\b", "", text)
    text = re.sub(r"\\\$|\$|\\\(|\\\)|\\\[|\\\]|\\quad\b|\\qquad\b|~", " ", text)
    text = text.replace("{", "(").replace("}", ")")
    text = _NOT_EQUAL.sub(" ≠ ", text)
    text = _THOUSANDS.sub(lambda m: m.group(0).replace(",", ""), text)
    text = _TIMES_X.sub(" * ", text)
    for pattern, op in _WORD_OPERATORS:
        text = pattern.sub(op, text)
    return _EQUAL_WORDS.sub(" = ", text)


def _tokens(part: str) -> list[tuple[str, str]] | None:
    """(kind, text) tokens of a span part: num, op, lp, rp, dot; None if something else is in it."""
    out: list[tuple[str, str]] = []
    pos = 0
    part = part.rstrip()
    while pos < len(part):
        m = _TOKEN.match(part, pos)
        if m is None or m.end() == pos:
            return None
        if m.group(1):
            out.append(("num", m.group(1)))
        elif m.group(2):
            ch = m.group(2)
            out.append(("lp" if ch == "(" else "rp" if ch == ")" else "op", ch))
        else:
            out.append(("dot", "."))
        pos = m.end()
    return out


class _Parser:
    """Recursive descent over tokens: + - * / ^, unary minus, parentheses, `2(3)` as multiplication; exact."""

    def __init__(self, tokens: Sequence[tuple[str, str]]):
        self.tokens = list(tokens)
        self.i = 0

    def parse(self) -> Fraction:
        value = self.expr()
        if self.i != len(self.tokens):
            raise _Unevaluable("trailing tokens")
        return value

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, text: str) -> bool:
        if self.peek() is not None and self.tokens[self.i][1] == text:
            self.i += 1
            return True
        return False

    def expr(self) -> Fraction:
        value = self.term()
        while True:
            if self.take("+"):
                value += self.term()
            elif self.take("-"):
                value -= self.term()
            else:
                return value

    def term(self) -> Fraction:
        value = self.unary()
        while True:
            if self.take("*"):
                value *= self.unary()
            elif self.take("/"):
                divisor = self.unary()
                if divisor == 0:
                    raise _Unevaluable("division by zero")
                value /= divisor
            elif self.peek() is not None and self.tokens[self.i][0] == "lp":
                value *= self.unary()  # 2(3 + 4)
            else:
                return value

    def unary(self) -> Fraction:
        if self.take("-"):
            return -self.unary()
        return self.power()

    def power(self) -> Fraction:
        base = self.atom()
        if self.take("^"):
            exponent = self.unary()
            if exponent.denominator != 1 or abs(exponent) > _MAX_EXPONENT or (base == 0 and exponent < 0):
                raise _Unevaluable("power")
            base = base ** int(exponent)
        if max(abs(base.numerator), base.denominator).bit_length() > _MAX_DIGITS * 4:
            raise _Unevaluable("too large")
        return base

    def atom(self) -> Fraction:
        token = self.peek()
        if token is None:
            raise _Unevaluable("missing operand")
        kind, text = token
        self.i += 1
        if kind == "num":
            if len(text) > _MAX_DIGITS:
                raise _Unevaluable("too long")
            return Fraction(text)
        if kind == "lp":
            value = self.expr()
            if not self.take(")"):
                raise _Unevaluable("unclosed parenthesis")
            return value
        raise _Unevaluable(f"unexpected {text!r}")


def _value(tokens: Sequence[tuple[str, str]]) -> Fraction | None:
    try:
        return _Parser(tokens).parse()
    except _Unevaluable:
        return None


def _has_binary_operator(tokens: Sequence[tuple[str, str]]) -> bool:
    return any(
        kind == "op" and i > 0 and tokens[i - 1][0] in ("num", "rp") for i, (kind, _) in enumerate(tokens)
    )


def _word_before(text: str, pos: int) -> str:
    match = re.search(r"([A-Za-z]+)[ \t]*$", text[:pos])
    return match.group(1).lower() if match else ""


def _word_after(text: str, pos: int) -> str:
    match = re.match(r"[ \t]*([A-Za-z]+)", text[pos:])
    return match.group(1).lower() if match else ""


@dataclass
class _Side:
    tokens: list[tuple[str, str]]
    value: Fraction | None  # None: unparseable

    @property
    def text(self) -> str:
        joined = " ".join(t for _, t in self.tokens)
        return re.sub(r"\( | \)|^- ", lambda m: m.group(0).replace(" ", ""), joined)


def _left_side(part: str, text: str, span_start: int) -> _Side | None:
    """The left side of the first `=` of a span: the whole part, or the part after a list marker (`2. `, `3) `);
    None when the part is empty (the span starts with `=`: no claim)."""
    tokens = _tokens(part)
    if tokens is None or not tokens:
        return None if tokens == [] else _Side([], None)
    attached = part[:1] not in (" ", "\t") and span_start > 0 and re.match(r"[\w\\'%!]", text[span_start - 1])
    if len(tokens) > 2 and tokens[0][0] == "num" and tokens[1][0] in ("dot", "rp"):  # "2. 3 + 4", "2) 3 + 4"
        value = _value(tokens[2:])
        if value is not None and _value(tokens) is None:
            return _Side(tokens[2:], value)
    previous = text[:span_start].rstrip()
    unary_after_term = tokens[0][1] == "-" and previous[-1:].isalnum()
    if attached or unary_after_term or _word_before(text, span_start) in _BEFORE_WORDS:
        return _Side(tokens, None)
    return _Side(tokens, _value(tokens))


def _right_side(part: str, text: str, span_end: int) -> _Side | None:
    """The right side of the last `=` of a span (a sentence's full stop dropped); None when it is empty."""
    tokens = _tokens(part)
    if tokens is None:
        return _Side([], None)
    while tokens and tokens[-1][0] == "dot":
        tokens.pop()
    if not tokens:
        return None
    after = text[span_end : span_end + 1]
    attached = part[-1:] not in (" ", "\t") and re.match(r"[\w\\%!(]", after or " ")
    if attached or _word_after(text, span_end) in _AFTER_WORDS or text[span_end:].lstrip()[:1] in ("%", "!"):
        return _Side(tokens, None)
    return _Side(tokens, _value(tokens))


def _middle_side(part: str) -> _Side | None:
    tokens = _tokens(part)
    if tokens is None:
        return _Side([], None)
    return _Side(tokens, _value(tokens)) if tokens else None


def _holds(left: _Side, right: _Side) -> bool:
    """Exact equality; a side that is one decimal literal with d digits may be rounded or truncated to them."""
    assert left.value is not None and right.value is not None
    if left.value == right.value:
        return True
    for literal, other in ((right, left.value), (left, right.value)):
        if len(literal.tokens) == 1 and "." in literal.tokens[0][1]:
            digits = len(literal.tokens[0][1].split(".")[1])
            unit = Fraction(1, 10**digits)
            if (other / unit).denominator != 1 and abs(other - literal.value) < unit:  # type: ignore[operator]
                return True
    return False


def _line_claims(line: str) -> list[Claim]:
    claims: list[Claim] = []
    for match in _SPAN.finditer(line):
        span = match.group(0)
        if "=" not in span or not re.search(r"\d", span):
            continue
        parts = span.split("=")
        sides: list[_Side | None] = [_left_side(parts[0], line, match.start())]
        sides += [_middle_side(p) for p in parts[1:-1]]
        sides.append(_right_side(parts[-1], line, match.end()))
        # "5 = 5", "Step 2 is 7": no computation is claimed. In a chain with one (`3 + 4 = 7 = 8`), every link is.
        if not any(s is not None and _has_binary_operator(s.tokens) for s in sides):
            if not any(s is not None and s.value is None and _OPERATORS & set(s.text) for s in sides):
                continue
        for a, b in zip(sides, sides[1:], strict=False):
            if a is None or b is None:
                continue
            verdict = None if a.value is None or b.value is None else _holds(a, b)
            claims.append(Claim(a.text or "?", b.text or "?", verdict))
    return claims


def arithmetic_claims(text: str | None) -> list[Claim]:
    """Every arithmetic equation written in `text`, each with its verdict (True, False, or None: unparseable).
    A chain `a = b = c` gives the claims `a = b` and `b = c`."""
    if not text:
        return []
    return [claim for line in normalize_math(text).split("\n") for claim in _line_claims(line)]


def check_claim(equation: str) -> bool | None:
    """Whether an equation such as `3 \\times 4 = 12` or "3 - 8 is 11" holds exactly: False if any of its claims is
    false, None if it has none or one cannot be evaluated, else True."""
    verdicts = [c.verdict for c in arithmetic_claims(equation)]
    if False in verdicts:
        return False
    if not verdicts or None in verdicts:
        return None
    return True


@dataclass(frozen=True)
class StepCheck:
    """The arithmetic claims of one step; the step is wrong when one of them is false."""

    claims: tuple[Claim, ...]

    @property
    def wrong(self) -> bool:
        return any(c.verdict is False for c in self.claims)

    @property
    def false_claims(self) -> list[str]:
        return [c.text for c in self.claims if c.verdict is False]


def check_steps(steps: Sequence[str]) -> list[StepCheck]:
    """The rule-based check of each step (`StepCheck.wrong`: it writes a false arithmetic claim)."""
    return [StepCheck(tuple(arithmetic_claims(step))) for step in steps]


def rule_verdicts(steps: Sequence[str]) -> list[bool]:
    """Per step: True (no false claim found), False (a false claim). Steps without claims count as correct."""
    return [not check.wrong for check in check_steps(steps)]


def hard_labels(step_labels: Sequence[Mapping[str, Any]] | None) -> list[bool | None] | None:
    """The hard labels of a `step_labels` column value (None when the row has none)."""
    if step_labels is None:
        return None
    return [None if s is None else s.get("label") for s in step_labels]


def step_verdicts(
    view: Any, row: Mapping[str, Any] | None = None, default_style: str = "r1"
) -> list[bool | None]:
    """The per-step verdicts `verdicts.judge_step_correctness` judges a trace on: the hard labels of its
    `step_labels` column when a labeler wrote one, else the rule-based check of its steps."""
    row = row or {}
    labels = hard_labels(row.get(STEP_LABELS))
    if labels is not None:
        return labels
    steps = view_steps(view, row.get("prompt_style") or default_style).texts()
    return list(rule_verdicts(steps))
