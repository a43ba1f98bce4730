"""Budget forcing (s1): a trace that used its whole thinking budget without closing `</think>` gets the block
closed for it, followed by "Therefore, the final answer is \\boxed{", and the teacher writes the rest of the answer
in a second, short generation. The trace is marked `forced` so curation and the card can tell.

RLT explanations have no answer to force (the answer is the given solution); an explanation the teacher ended on
its own without the closing tag only gets the tag (`close_explanations`), also marked `forced`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from openr1_data.prompts.styles import RLT_EXPLANATION_CLOSE
from openr1_data.teachers.base import (
    LENGTH,
    STOP,
    UNKNOWN_FINISH,
    Completion,
    Prompt,
    SamplingParams,
    Teacher,
    continues_assistant,
)
from openr1_data.text import THINK_CLOSE

FORCED_ANSWER_PREFIX = "Therefore, the final answer is \\boxed{"


def needs_forcing(completion: Completion, also_on_stop: bool = False) -> bool:
    """A trace is forced when generation hit its token budget while still inside the think block (and, with
    `also_on_stop`, when the model ended its turn without ever closing the block). A server that gave no finish
    reason ("unknown") leaves a think block open as a cut trace does, and is forced like one."""
    if THINK_CLOSE in completion.text:
        return False
    cut = completion.finish_reason in (LENGTH, UNKNOWN_FINISH)
    return cut or (also_on_stop and completion.finish_reason == STOP)


def forced_suffix(text: str) -> str:
    """What budget forcing appends to a cut trace before asking the teacher to finish the answer."""
    return f"{'' if text.endswith(chr(10)) else chr(10)}{THINK_CLOSE}\n\n{FORCED_ANSWER_PREFIX}"


def continuation_prompt(prompt: Prompt, text: str) -> Prompt:
    """The prompt plus the assistant's text so far, as an assistant message the teacher continues."""
    if continues_assistant(prompt):
        return [*prompt[:-1], {"role": "assistant", "content": prompt[-1]["content"] + text}]
    return [*prompt, {"role": "assistant", "content": text}]


def forced_head(completion: Completion) -> str:
    """The cut trace plus the forced suffix: the assistant text the teacher continues to finish the answer."""
    return completion.text + forced_suffix(completion.text)


def join_forced(first: Completion, head: str, tail: Completion) -> Completion:
    """The forced trace: the head (cut trace + suffix) and the teacher's short answer; tokens of both count."""
    return Completion(
        text=head + tail.text,
        finish_reason=tail.finish_reason,
        completion_tokens=first.completion_tokens + tail.completion_tokens,
        forced=True,
    )


def close_explanation(completion: Completion) -> Completion:
    """An RLT explanation that ended on its own (finish "stop") without its closing tag gets the tag, marked
    `forced`; a cut one (finish "length") stays unfinished, and the `finished` filter says so."""
    if completion.finish_reason == "stop" and RLT_EXPLANATION_CLOSE not in completion.text:
        return replace(completion, text=completion.text.rstrip() + "\n" + RLT_EXPLANATION_CLOSE, forced=True)
    return completion


def force_answers(
    teacher: Teacher,
    prompts: Sequence[Prompt],
    outputs: list[list[Completion]],
    sampling: SamplingParams,
    answer_tokens: int = 32,
    also_on_stop: bool = False,
) -> list[list[Completion]]:
    """Finish every cut trace of `outputs` (one list of samples per prompt) with a short forced answer.

    All forced continuations of a batch go to the teacher in one call; token counts add up both generations.
    """
    todo = [
        (i, k)
        for i, samples in enumerate(outputs)
        for k, c in enumerate(samples)
        if needs_forcing(c, also_on_stop)
    ]
    if not todo:
        return outputs
    heads = {(i, k): forced_head(outputs[i][k]) for i, k in todo}
    continuations = teacher.generate(
        [continuation_prompt(prompts[i], heads[(i, k)]) for i, k in todo],
        replace(sampling, max_new_tokens=answer_tokens),
        n=1,
    )
    result = [list(samples) for samples in outputs]
    for (i, k), (tail,) in zip(todo, continuations, strict=True):
        result[i][k] = join_forced(outputs[i][k], heads[(i, k)], tail)
    return result


def close_explanations(outputs: list[list[Completion]]) -> list[list[Completion]]:
    """`close_explanation` on every sample of every prompt."""
    return [[close_explanation(c) for c in samples] for samples in outputs]
