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
from openr1_data.teachers.base import Completion, Prompt, SamplingParams, Teacher, continues_assistant
from openr1_data.text import THINK_CLOSE

FORCED_ANSWER_PREFIX = "Therefore, the final answer is \\boxed{"


def needs_forcing(completion: Completion, also_on_stop: bool = False) -> bool:
    """A trace is forced when generation hit its token budget while still inside the think block (and, with
    `also_on_stop`, when the model ended its turn without ever closing the block)."""
    if THINK_CLOSE in completion.text:
        return False
    return completion.finish_reason == "length" or (also_on_stop and completion.finish_reason == "stop")


def forced_suffix(text: str) -> str:
    """What budget forcing appends to a cut trace before asking the teacher to finish the answer."""
    return f"{'' if text.endswith(chr(10)) else chr(10)}{THINK_CLOSE}\n\n{FORCED_ANSWER_PREFIX}"


def continuation_prompt(prompt: Prompt, text: str) -> Prompt:
    """The prompt plus the assistant's text so far, as an assistant message the teacher continues."""
    if continues_assistant(prompt):
        return [*prompt[:-1], {"role": "assistant", "content": prompt[-1]["content"] + text}]
    return [*prompt, {"role": "assistant", "content": text}]


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
    heads = {(i, k): outputs[i][k].text + forced_suffix(outputs[i][k].text) for i, k in todo}
    continuations = teacher.generate(
        [continuation_prompt(prompts[i], heads[(i, k)]) for i, k in todo],
        replace(sampling, max_new_tokens=answer_tokens),
        n=1,
    )
    result = [list(samples) for samples in outputs]
    for (i, k), (tail,) in zip(todo, continuations, strict=True):
        first = outputs[i][k]
        result[i][k] = Completion(
            text=heads[(i, k)] + tail.text,
            finish_reason=tail.finish_reason,
            completion_tokens=first.completion_tokens + tail.completion_tokens,
            forced=True,
        )
    return result


def close_explanations(outputs: list[list[Completion]]) -> list[list[Completion]]:
    """Add the missing `<|end_of_explanation|>` to RLT explanations that ended on their own (finish "stop").

    Cut explanations (finish "length") stay as they are: they are unfinished, and the `finished` filter says so.
    """
    return [
        [
            replace(c, text=c.text.rstrip() + "\n" + RLT_EXPLANATION_CLOSE, forced=True)
            if c.finish_reason == "stop" and RLT_EXPLANATION_CLOSE not in c.text
            else c
            for c in samples
        ]
        for samples in outputs
    ]
