"""Prompt styles as data.

A style renders a problem row into chat messages (Jinja templates over the row's columns) and parses what the
teacher wrote back into `reasoning`, `final` and `predicted_answer`. Parsers never raise on malformed output:
they return a `parse_issue` string instead, which the filters turn into a rejection reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, StrictUndefined

from openr1_data.prompts.choice_letters import choice_letters, extract_choice
from openr1_data.prompts.code_blocks import last_code_block
from openr1_data.schema import Prompt
from openr1_data.text import final_answer, gold_answer, split_think

R1_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."

R1_SYSTEM = (
    "You are a helpful assistant. Think through the problem first, writing your reasoning inside "
    "<think> </think> tags, then give the final answer after the closing tag."
)

# RLT (Sakana AI): the teacher sees the question and the solution, and writes the explanation that connects them.
RLT_SOLUTION_OPEN, RLT_SOLUTION_CLOSE = "<|begin_of_solution|>", "<|end_of_solution|>"
RLT_EXPLANATION_OPEN, RLT_EXPLANATION_CLOSE = "<|begin_of_explanation|>", "<|end_of_explanation|>"
RLT_SYSTEM = (
    "Your role as an assistant is to provide precise and accurate solutions, followed by a detailed explanation "
    "of the systematic thinking process that leads to each solution, so that a student can learn from it. "
    "Structure your response into two sections: Solution and Explanation. The solution is given as "
    f"{RLT_SOLUTION_OPEN} solution {RLT_SOLUTION_CLOSE}. Then explain, step by step, how to reach it, as "
    f"{RLT_EXPLANATION_OPEN} explanation with steps separated by blank lines {RLT_EXPLANATION_CLOSE}. "
    "Each step should analyse the question, recall relevant facts, and verify the current step."
)

# Step-structured traces (for process reward model data): one numbered step per line inside the think block.
STEPS_SYSTEM = (
    "Solve the problem in numbered steps. Inside <think> </think> tags, write one step per line, each line starting "
    "with 'Step 1:', 'Step 2:', and so on. After the closing tag, give the final answer within \\boxed{}."
)


# Answer tags (open-r1's later system prompt): the reasoning in a think block, then the answer in an answer block.
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"
ANSWER_TAG_SYSTEM = (
    "You are a helpful assistant. First think the problem through as an internal monologue, then give the user the "
    "answer. Respond in exactly this format: <think>\n...\n</think>\n<answer>\n...\n</answer>"
)

# Wordle (the GRPO course's running example): the rules and the feedback format; the user turn holds the game so far
# (`sources/wordle.py` renders it), the model answers with one guess in guess tags.
GUESS_OPEN, GUESS_CLOSE = "<guess>", "</guess>"
WORDLE_SYSTEM = (
    "You are playing Wordle. Find the secret five-letter English word in at most six guesses. After each guess you "
    "get feedback on every letter: G means the letter is in the word and in the right place, Y means the letter is "
    "in the word but in another place, X means the letter is not in the word (or not as many times as you used "
    "it). For example, if the secret is CRANE, the guess TRAIN gets T(X) R(G) A(G) I(X) N(Y). Every guess must be "
    "a real five-letter English word that agrees with all the feedback so far. Think inside <think> </think> tags, "
    "then give exactly one guess as <guess>WORD</guess>."
)

# LLM-judge rubric (the `llm_judge` reward): the judge reads a task, a rubric and a response, and replies a score.
RUBRIC_MAX_SCORE = 10
RUBRIC_SYSTEM = (
    "You are a strict grader. You rate a response to a task against a rubric. Reply with the score only: one whole "
    f"number from 0 to {RUBRIC_MAX_SCORE}."
)
RUBRIC_TEMPLATE = (
    "Task:\n{{ prompt }}\n\nRubric:\n{{ rubric }}\n\nResponse:\n{{ completion }}\n\n"
    f"Rate the response from 0 (fails the rubric) to {RUBRIC_MAX_SCORE} (meets it fully). Reply with the number only."
)
DEFAULT_RUBRIC = "The response does what the task asks, is correct and complete, and says it concisely."

# Difficulty rating (selection by LLM-rated difficulty, OpenThoughts3): a judge rates each problem on a fixed rubric.
DIFFICULTY_MIN, DIFFICULTY_MAX = 1, 10
DIFFICULTY_RUBRIC = (
    "1-2: one routine step (arithmetic, a formula applied directly).\n"
    "3-4: a few standard steps (school algebra, a word problem).\n"
    "5-6: several steps or a known technique to choose (easy competition problems, AMC 10).\n"
    "7-8: a non-obvious idea or a long argument (hard AMC 12, AIME).\n"
    "9-10: olympiad level (USAMO, IMO)."
)
DIFFICULTY_SYSTEM = (
    "You rate how hard math problems are. Reply with the rating only: one whole number from "
    f"{DIFFICULTY_MIN} to {DIFFICULTY_MAX}."
)
DIFFICULTY_TEMPLATE = (
    f"Rate the difficulty of this problem from {DIFFICULTY_MIN} to {DIFFICULTY_MAX} with this rubric:\n"
    f"{DIFFICULTY_RUBRIC}\n\nProblem:\n{{{{ problem }}}}\n\nReply with the number only."
)


@dataclass
class ParsedCompletion:
    """What a parser extracts from one completion."""

    reasoning: str | None
    final: str
    predicted_answer: str | None
    parse_issue: str | None


def parse_think(completion: str, row: Mapping[str, Any]) -> ParsedCompletion:
    """R1 output: `<think>reasoning</think> final`, the answer from the final part's `\\boxed{}` answers
    (`text.final_answer`: several boxes are one multi-part answer, intermediate ones do not count)."""
    reasoning, final, issue = split_think(completion)
    # Without a closed think block, still look for an answer so the row can be judged (and rejected) on it.
    answer = final_answer(final)
    if answer is None and issue is None:
        issue = "no_boxed_answer"
    return ParsedCompletion(reasoning, final, answer, issue)


def parse_rlt(completion: str, row: Mapping[str, Any]) -> ParsedCompletion:
    """RLT output: the explanation the teacher wrote after the pre-filled solution block.

    The student target is think = explanation, answer = the reference solution.
    """
    text = completion
    if RLT_EXPLANATION_OPEN in text:  # a backend that echoes the prefill
        text = text.split(RLT_EXPLANATION_OPEN, 1)[1]
    end = text.find(RLT_EXPLANATION_CLOSE)
    issue = None
    if end == -1:
        explanation, issue = text.strip(), "unclosed_explanation"
    else:
        explanation = text[:end].strip()
    if not explanation:
        issue = "empty_explanation"
    solution = str(row.get("solution") or "")
    answer = gold_answer(row.get("answer"), solution)
    return ParsedCompletion(explanation or None, solution, answer, issue)


def tag_block(text: str, open_tag: str, close_tag: str, name: str) -> tuple[str | None, str | None]:
    """(content of the one `open_tag…close_tag` block, None) or (None, why there is none): `no_<name>_tag`,
    `unclosed_<name>`, `multiple_<name>`, `empty_<name>`."""
    opens, closes = text.count(open_tag), text.count(close_tag)
    if opens == 0 and closes == 0:
        return None, f"no_{name}_tag"
    if opens > 1 or closes > 1:
        return None, f"multiple_{name}"
    start, end = text.find(open_tag), text.find(close_tag)
    if opens == 0 or closes == 0 or end < start:
        return None, f"unclosed_{name}"
    content = text[start + len(open_tag) : end].strip()
    return (content, None) if content else (None, f"empty_{name}")


def answer_block(text: str) -> tuple[str | None, str | None]:
    """(content of the one `<answer>…</answer>` block, None) or (None, why there is none): `no_answer_tag`,
    `unclosed_answer`, `multiple_answer`, `empty_answer`."""
    return tag_block(text, ANSWER_OPEN, ANSWER_CLOSE, "answer")


_MATH_DELIMITERS = re.compile(r"^(?:\$\$|\$|\\\[|\\\()\s*(.*?)\s*(?:\$\$|\$|\\\]|\\\))$", re.DOTALL)


def parse_answer_tag(completion: str, row: Mapping[str, Any]) -> ParsedCompletion:
    """Answer-tag output: `<think>reasoning</think><answer>answer</answer>`. The answer is the block's `\\boxed{}`
    answer (`text.final_answer`), else the block itself when it is short math ("42", "$x = 3$"), not prose."""
    reasoning, final, issue = split_think(completion)
    block, block_issue = answer_block(final)
    answer = None
    if block is not None:
        answer = final_answer(block)
        if answer is None:
            bare = _MATH_DELIMITERS.sub(r"\1", block)
            answer = bare if len(bare) <= 100 and len(bare.split()) <= 8 and "\n" not in bare else None
    else:
        answer = final_answer(final)  # no block: still judge (and reject) on a boxed answer if there is one
    return ParsedCompletion(reasoning, final, answer, issue or block_issue)


_SCORE = re.compile(r"(?:score\s*[:=]?\s*)?(\d{1,3}(?:\.\d+)?)\s*(?:/\s*(\d{1,3}))?", re.IGNORECASE)


def parse_score(reply: str, row: Mapping[str, Any]) -> ParsedCompletion:
    """A judge's rubric score, parsed strictly: after an optional think block, the reply is a number in
    [0, RUBRIC_MAX_SCORE] ("7", "7/10", "Score: 7", one trailing period, bold allowed) and nothing else. The number
    goes to `predicted_answer`; anything else (an explanation, a range, an unclosed think block) is a
    `parse_issue`, never a guess."""
    reasoning, final, issue = split_think(reply)
    if issue not in (None, "no_think"):
        return ParsedCompletion(reasoning, final, None, issue)
    text = final.strip().strip("*").strip()
    text = text[:-1].rstrip() if text.endswith(".") else text
    match = _SCORE.fullmatch(text)
    if match is None or (match.group(2) is not None and int(match.group(2)) != RUBRIC_MAX_SCORE):
        return ParsedCompletion(reasoning, final, None, "unparseable_score")
    if not 0 <= float(match.group(1)) <= RUBRIC_MAX_SCORE:
        return ParsedCompletion(reasoning, final, None, "score_out_of_range")
    return ParsedCompletion(reasoning, final, match.group(1), None)


_RATING = re.compile(r"(?:(?:rating|difficulty)\s*[:=]?\s*)?(\d{1,3})\s*(?:/\s*(\d{1,3}))?", re.IGNORECASE)


def parse_rating(reply: str, row: Mapping[str, Any]) -> ParsedCompletion:
    """A difficulty rating, parsed strictly: after an optional think block, the reply is one whole number in
    [DIFFICULTY_MIN, DIFFICULTY_MAX] ("7", "7/10", "Rating: 7", "Difficulty: 7", one trailing period, bold
    allowed) and nothing else. The number goes to `predicted_answer`; anything else is a `parse_issue`
    ("unparseable_rating", "rating_out_of_range", an unclosed think block), never a guess."""
    reasoning, final, issue = split_think(reply)
    if issue not in (None, "no_think"):
        return ParsedCompletion(reasoning, final, None, issue)
    text = final.strip().strip("*").strip()
    text = (text[:-1].rstrip() if text.endswith(".") else text).strip("*").strip()  # "**7**." and "**7.**"
    match = _RATING.fullmatch(text)
    if match is None or (match.group(2) is not None and int(match.group(2)) != DIFFICULTY_MAX):
        return ParsedCompletion(reasoning, final, None, "unparseable_rating")
    if not DIFFICULTY_MIN <= int(match.group(1)) <= DIFFICULTY_MAX:
        return ParsedCompletion(reasoning, final, None, "rating_out_of_range")
    return ParsedCompletion(reasoning, final, str(int(match.group(1))), None)


def parse_guess(completion: str, row: Mapping[str, Any]) -> ParsedCompletion:
    """Wordle output: `<think>reasoning</think><guess>CRANE</guess>`. The answer is the one guess block's content in
    upper case (whatever it holds: the Wordle verdicts judge whether it is a word); no block, several blocks or an
    unclosed one give a `parse_issue` and no answer."""
    reasoning, final, issue = split_think(completion)
    block, block_issue = tag_block(final, GUESS_OPEN, GUESS_CLOSE, "guess")
    return ParsedCompletion(reasoning, final, None if block is None else block.upper(), issue or block_issue)


PARSERS: dict[str, Callable[[str, Mapping[str, Any]], ParsedCompletion]] = {
    "guess": parse_guess,
    "think": parse_think,
    "rlt": parse_rlt,
    "answer_tag": parse_answer_tag,
    "score": parse_score,
    "rating": parse_rating,
}

_jinja = Environment(undefined=StrictUndefined, keep_trailing_newline=False, autoescape=False)
# A prefill is continued by the model, so its last character is part of the format: `<think>\n` must reach the
# teacher (and the uncurated arm) with its newline, which Jinja's default rendering drops.
_jinja_prefill = Environment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)


@dataclass(frozen=True)
class PromptStyle:
    """A prompt style: Jinja templates over the row's columns plus the name of its output parser."""

    name: str
    user_template: str
    system_prompt: str | None = None
    assistant_prefill: str | None = None
    parser: str = "think"
    needs: tuple[str, ...] = ("problem",)

    def build(self, row: Mapping[str, Any]) -> Prompt:
        """Render the chat messages for one problem row."""
        messages: Prompt = []
        if self.system_prompt:
            messages.append({"role": "system", "content": self.system_prompt})
        messages.append({"role": "user", "content": _jinja.from_string(self.user_template).render(**row)})
        if self.assistant_prefill:
            messages.append(
                {
                    "role": "assistant",
                    "content": _jinja_prefill.from_string(self.assistant_prefill).render(**row),
                }
            )
        return messages

    def parse(self, completion: str, row: Mapping[str, Any]) -> ParsedCompletion:
        """Parse a completion; malformed output gives a `parse_issue`, never an exception."""
        return PARSERS[self.parser](completion, row)

    def row_problem(self, row: Mapping[str, Any]) -> str | None:
        """Why this row cannot be rendered in this style (a missing or empty needed column), or None."""
        for column in self.needs:
            value = row.get(column)
            if not isinstance(value, str) or not value.strip():
                return f"empty_{column}"
        return None


STYLES: dict[str, PromptStyle] = {
    "r1": PromptStyle(name="r1", user_template="{{ problem }}\n" + R1_INSTRUCTION, parser="think"),
    # R1 with the think block opened for the model (like DeepSeek-R1's own template): models that do not write the
    # tag on their own still produce `reasoning</think>final`, and budget forcing can close the block.
    "r1_think": PromptStyle(
        name="r1_think",
        user_template="{{ problem }}\n" + R1_INSTRUCTION,
        assistant_prefill="<think>\n",
        parser="think",
    ),
    "steps": PromptStyle(
        name="steps",
        system_prompt=STEPS_SYSTEM,
        user_template="{{ problem }}\n" + R1_INSTRUCTION,
        parser="think",
    ),
    "r1_system": PromptStyle(
        name="r1_system",
        system_prompt=R1_SYSTEM,
        user_template="{{ problem }}\n" + R1_INSTRUCTION,
        parser="think",
    ),
    "rlt": PromptStyle(
        name="rlt",
        system_prompt=RLT_SYSTEM,
        user_template="{{ problem }}",
        assistant_prefill=(
            f"{RLT_SOLUTION_OPEN}\n{{{{ solution }}}}\n{RLT_SOLUTION_CLOSE}\n\n{RLT_EXPLANATION_OPEN}\n"
        ),
        parser="rlt",
        needs=("problem", "solution"),
    ),
    # open-r1's later format: think block, then the answer inside <answer> tags (the `format` reward checks both).
    "answer_tag": PromptStyle(
        name="answer_tag",
        system_prompt=ANSWER_TAG_SYSTEM,
        user_template="{{ problem }}\n" + R1_INSTRUCTION,
        parser="answer_tag",
    ),
    # Wordle: the rules as the system prompt, the game so far as the problem, one guess in guess tags.
    "wordle": PromptStyle(
        name="wordle", system_prompt=WORDLE_SYSTEM, user_template="{{ problem }}", parser="guess"
    ),
    # The LLM judge's rubric question (rows: prompt, completion, rubric); its parser reads the score strictly.
    "judge_rubric": PromptStyle(
        name="judge_rubric",
        system_prompt=RUBRIC_SYSTEM,
        user_template=RUBRIC_TEMPLATE,
        parser="score",
        needs=("prompt", "completion", "rubric"),
    ),
    # A judge's difficulty rating of the problem on a fixed 1-10 rubric (generate it like traces: resumable, any
    # backend); `curate/difficulty.py` reads the ratings for selection.
    "difficulty_rating": PromptStyle(
        name="difficulty_rating",
        system_prompt=DIFFICULTY_SYSTEM,
        user_template=DIFFICULTY_TEMPLATE,
        parser="rating",
    ),
}


# --------------------------------------------------------------------------------------------------------------
# Code and multiple-choice styles (verified by running tests / by the chosen letter, see curate/code_verify.py and
# curate/mcq.py)
# --------------------------------------------------------------------------------------------------------------

R1_CODE_INSTRUCTION = (
    "Please reason step by step, then give your final solution as one complete Python code block "
    "(```python ... ```) at the end."
)
MCQ_INSTRUCTION = (
    "Please reason step by step, and put the letter of the correct choice (and nothing else) "
    "within \\boxed{}."
)
# What a parser reports when its kind of answer is missing (the format filter's reason).
MISSING_ANSWER_ISSUES = {"think": "no_boxed_answer", "code": "no_code_block", "mcq": "no_choice"}


def parse_code(completion: str, row: Mapping[str, Any]) -> ParsedCompletion:
    """Code output: `<think>reasoning</think> final`, the answer is the final part's last fenced Python block."""
    reasoning, final, issue = split_think(completion)
    code = last_code_block(final)
    if code is None and issue is None:
        issue = MISSING_ANSWER_ISSUES["code"]
    return ParsedCompletion(reasoning, final, code, issue)


def parse_choice(completion: str, row: Mapping[str, Any]) -> ParsedCompletion:
    """Multiple-choice output: the letter the final part picks (`choice_letters.extract_choice`, lenient), among
    the row's choices (`choices` column; A-D without one)."""
    reasoning, final, issue = split_think(completion)
    choices = row.get("choices")
    choices = list(choices) if isinstance(choices, list | tuple) else None
    letter = extract_choice(final, choice_letters(len(choices) if choices else None), choices=choices)
    if letter is None and issue is None:
        issue = MISSING_ANSWER_ISSUES["mcq"]
    return ParsedCompletion(reasoning, final, letter, issue)


PARSERS.update({"code": parse_code, "mcq": parse_choice})
STYLES.update(
    {
        # R1 for programming problems: reason, then one fenced Python block (run against the problem's tests).
        "r1_code": PromptStyle(
            name="r1_code", user_template="{{ problem }}\n" + R1_CODE_INSTRUCTION, parser="code"
        ),
        # R1 for multiple-choice questions (the problem text lists the lettered choices).
        "mcq": PromptStyle(name="mcq", user_template="{{ problem }}\n" + MCQ_INSTRUCTION, parser="mcq"),
    }
)


def list_styles() -> list[str]:
    """Names of the built-in prompt styles."""
    return sorted(STYLES)


def get_style(name: str) -> PromptStyle:
    """A built-in style by name, or a user style from a Jinja file path (`path/to/template.j2`)."""
    if name in STYLES:
        return STYLES[name]
    if name.endswith((".j2", ".jinja", ".jinja2")) or Path(name).is_file():
        return style_from_file(name)
    raise ValueError(
        f"unknown prompt style {name!r}; built-in styles: {list_styles()}, or pass a Jinja file path"
    )


def style_from_file(path: str | Path, parser: str = "think") -> PromptStyle:
    """A user style whose user message is the Jinja template in `path` (columns of the row are variables)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"prompt template {path} not found")
    return PromptStyle(name=f"file:{path.name}", user_template=path.read_text(), parser=parser)
