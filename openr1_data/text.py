"""Small text helpers every stage shares: `\\boxed{}` extraction, the final-answer rule and think-block splitting.

`final_answer` is THE rule for which `\\boxed{}` answers count; the prompt-style parsers (so generation's
`predicted_answer`, the filters and the rewards), the gold taken from a solution, the verify stage and the LLM
judge's hand-off all call it.
"""

from __future__ import annotations

import re

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"


def boxed_contents(text: str) -> list[str]:
    """Contents of every `\\boxed{...}` (and `\\fbox{...}`) in `text`, with nested braces balanced.

    An unclosed box at the end (a generation cut mid-answer) is ignored.
    """
    return [content for _, _, content in boxed_spans(text)]


def boxed_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, content) of every complete `\\boxed{...}` / `\\fbox{...}`, in order (`text[start:end]` is the
    whole box)."""
    found: list[tuple[int, int, str]] = []
    i = 0
    while True:
        starts = [p for p in (text.find("\\boxed", i), text.find("\\fbox", i)) if p != -1]
        if not starts:
            return found
        start = min(starts)
        brace = start + (len("\\boxed") if text.startswith("\\boxed", start) else len("\\fbox"))
        while brace < len(text) and text[brace] == " ":
            brace += 1
        if brace >= len(text) or text[brace] != "{":
            i = brace
            continue
        depth = 0
        for j in range(brace, len(text)):
            ch = text[j]
            if ch in "{}" and _escaped(text, j):
                continue  # `\{` and `\}` are literal braces (sets), not grouping
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    found.append((start, j + 1, text[brace + 1 : j].strip()))
                    i = j + 1
                    break
        else:
            return found


def _escaped(text: str, pos: int) -> bool:
    """True when the character at `pos` is preceded by an odd number of backslashes."""
    slashes = 0
    while pos - slashes - 1 >= 0 and text[pos - slashes - 1] == "\\":
        slashes += 1
    return slashes % 2 == 1


def last_boxed(text: str) -> str | None:
    """The content of the last complete `\\boxed{}` in `text`, or None."""
    boxes = boxed_contents(text)
    return boxes[-1] if boxes else None


# --------------------------------------------------------------------------------------------------------------
# The final-answer rule: which \boxed{} answers count
# --------------------------------------------------------------------------------------------------------------

# Between two boxes of one multi-part answer there is only a connector: punctuation, "and" / "or", LaTeX spacing
# and math delimiters, a list marker or a short label ("y =", "(b)"). Anything else (prose, more math) makes the
# earlier box an intermediate result.
_TEXT_WRAPPER = re.compile(r"\\(?:text|textbf|textit|textrm|mathrm|mbox)\s*\{([^{}]*)\}")
_LAYOUT = re.compile(
    r"\\(?:qquad|quad|enspace|hspace\*?\{[^{}]*\}|left|right|displaystyle)|\\[,;:! ]|\\\\|\\\[|\\\]|\\\(|\\\)"
    r"|\$|\*\*|[&~{}]"
)
_CONNECTOR = re.compile(
    r"(?:\s|[,;.:、，；]|[-*\u2022>]|\b(?:and|or|und|et|also)\b|和|或|及|以及"
    r"|\(?[a-z]\)|\(?[ivx]{1,4}\)|\b\d{1,2}[.)]"
    r"|\b[A-Za-z](?:_\{?\w{1,3}\}?)?'?\s*[=:])*",
    re.IGNORECASE,
)
# "The final answer is …", "Final answer: …", "**Final Answer:** …"
_FINAL_STATEMENT = re.compile(
    r"final\s+answer(?:\s*\*\*)?\s*(?:is|:|=|would\s+be|will\s+be)?(?:\s*\*\*)?\s*:?", re.IGNORECASE
)
_MATH_SPAN = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$|\\\[(.+?)\\\]|\\\((.+?)\\\)", re.DOTALL)
_SENTENCE_END = re.compile(r"\n|(?<!\d)\.(?!\d)|$")


def _connects(gap: str) -> bool:
    """True when the text between two boxes (or two math spans) only joins them: one answer in several parts."""
    if len(gap) > 80:
        return False
    gap = _LAYOUT.sub(" ", _TEXT_WRAPPER.sub(r" \1 ", gap))
    return _CONNECTOR.fullmatch(gap) is not None


def _join(parts: list[str]) -> str | None:
    """Parts of one answer joined as math-verify reads a list (`a, b`), repeats dropped (`\\boxed{5}` twice is 5)."""
    unique: list[str] = []
    for part in parts:
        if part and all(re.sub(r"\s", "", part) != re.sub(r"\s", "", seen) for seen in unique):
            unique.append(part)
    return ", ".join(unique) if unique else None


def _answer_like(candidate: str) -> bool:
    """A plain-text answer ("10,455", "12 cm", "B"), not prose ("therefore the sum above")."""
    tokens = candidate.split()
    if not 1 <= len(tokens) <= 4 or len(candidate) > 40:
        return False
    return (
        any(ch.isdigit() for ch in candidate)
        or "\\" in candidate
        or re.fullmatch(r"[A-Z]", candidate) is not None
    )


def stated_answer(text: str) -> str | None:
    """The answer of an explicit final statement ("The final answer is $10,455$."): its math (several spans joined
    by connectors are one answer), else a short plain answer up to the end of the sentence; None otherwise."""
    rest = text.lstrip(" \t\n*:")[:400]
    if rest.startswith(("$", "\\[", "\\(")):
        parts: list[str] = []
        pos = 0
        for match in _MATH_SPAN.finditer(rest):
            if parts and not _connects(rest[pos : match.start()]):
                break
            if not parts and match.start() != 0:
                break
            parts.append(next(g for g in match.groups() if g is not None).strip())
            pos = match.end()
        return _join(parts)
    end = _SENTENCE_END.search(rest)
    candidate = rest[: end.start() if end else len(rest)].strip().rstrip(".,;")
    return candidate if _answer_like(candidate) else None


def final_answer(text: str | None) -> str | None:
    """The final answer a completion or solution gives, by the one rule every stage uses.

    1. No complete `\\boxed{}`: None (the verify stage may still read an announced answer from the text).
    2. The last box, together with the boxes right before it that only a connector separates from it (",", "and",
       "or", `\\quad`, `$`, a line break, a label such as "y =" or "(b)"), is one multi-part answer: the contents
       joined by ", ", repeats dropped (`\\boxed{-2} and \\boxed{1}` gives "-2, 1"). A box followed by prose or
       more math before the next box is an intermediate result and does not count.
    3. An explicit final statement after the last box ("The final answer is $10,455$.") beats the boxes: they were
       intermediate results.
    """
    if not text:
        return None
    spans = [span for span in boxed_spans(text) if span[2]]
    if not spans:
        return None
    last_end = spans[-1][1]
    statements = list(_FINAL_STATEMENT.finditer(text, last_end))
    if statements:
        stated = stated_answer(text[statements[-1].end() :])
        if stated is not None:
            return stated
    first = len(spans) - 1
    while first > 0 and _connects(text[spans[first - 1][1] : spans[first][0]]):
        first -= 1
    return _join([content for _, _, content in spans[first:]])


def split_think(text: str) -> tuple[str | None, str, str | None]:
    """Split a completion into (reasoning, final, issue).

    - `<think>R</think>F` gives (R, F, None).
    - `R</think>F` (no opening tag: the chat template pre-filled `<think>`, as DeepSeek-R1 distills do) gives
      (R, F, None).
    - No closing tag: (None, text, "unclosed_think") if a think block was opened, else (None, text, "no_think").
    - More than one closing tag: split at the first, issue "multiple_think_close".
    """
    opened = THINK_OPEN in text
    close = text.find(THINK_CLOSE)
    if close == -1:
        return None, text.strip(), "unclosed_think" if opened else "no_think"
    head, tail = text[:close], text[close + len(THINK_CLOSE) :]
    open_at = head.find(THINK_OPEN)
    if open_at != -1:
        head = head[open_at + len(THINK_OPEN) :]
    issue = "multiple_think_close" if THINK_CLOSE in tail else None
    return head.strip(), tail.strip(), issue


def gold_from_solution(solution: object) -> str | None:
    """The gold answer a worked solution states: its `\\boxed{}` answer (`final_answer`), else what follows GSM8K's
    `####`."""
    if not isinstance(solution, str):
        return None
    boxed = final_answer(solution)  # the same rule as a trace's answer: several boxes are one answer
    if boxed is not None:
        return boxed
    if "####" in solution:
        return solution.rsplit("####", 1)[1].strip().replace(",", "") or None
    return None


def gold_answer(answer: object, solution: object) -> str | None:
    """The row's gold answer: its `answer` when present and non-empty, else the one its solution states."""
    if answer is not None and str(answer).strip():
        return str(answer)
    return gold_from_solution(solution)
