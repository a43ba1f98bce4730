"""What every reward shares: TRL's call turned into one `TraceView` per completion (`Reward`), and the helpers that
read TRL's keyword columns.

A reward function has TRL's signature `fn(completions, **columns) -> list[float | None]`: completions are plain
strings or conversational `[{"role": "assistant", "content": ...}]`, dataset columns (`answer`, `prompt_style`,
`solution`, `problem`, ...) arrive as keyword lists, and TRL adds `prompts` and `completion_ids`. None means "cannot
judge" (a row without a gold answer, an unparseable gold, an undecided judge) and TRL skips it. Rewards are callable
objects (not closures) so they pickle, and each has a `__name__` that TRL logs them by.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from openr1_data.text import gold_answer
from openr1_data.verdicts import TraceView, Verdict, view_trace

RewardFn = Callable[..., Sequence[float | None]]

# Keyword arguments TRL passes that are not dataset columns.
_TRL_EXTRAS = {"prompts", "completion_ids", "trainer_state", "log_extra", "log_metric", "environments"}


class Reward:
    """Base class: turns TRL's call into one `TraceView` per completion and scores it with `judge`."""

    name = "reward"

    def __init__(self, style: str = "r1"):
        self.style = style
        self.__name__ = f"{self.name}_reward"

    def views(self, completions: Sequence[Any], columns: dict[str, Any]) -> list[TraceView]:
        """The parsed view of every completion, with its row's columns (the same view the filters build)."""
        n = len(completions)
        per_row = {
            k: v
            for k, v in columns.items()
            if k not in _TRL_EXTRAS and isinstance(v, list | tuple) and len(v) == n
        }
        ids = columns.get("completion_ids")
        views = []
        for i, completion in enumerate(completions):
            row = {k: v[i] for k, v in per_row.items()}
            row["answer"] = gold_answer(row.get("answer"), row.get("solution"))  # open-r1 sets: solution only
            tokens = len(ids[i]) if ids is not None else row.get("completion_tokens")
            views.append(view_trace(row, completion=completion, tokens=tokens, default_style=self.style))
        return views

    def judge(self, completions: Sequence[Any], **columns: Any) -> list[Verdict]:
        """The full verdicts (score and rejection reason); `__call__` returns their scores."""
        return [self.judge_one(view) for view in self.views(completions, columns)]

    def judge_one(self, view: TraceView) -> Verdict:
        raise NotImplementedError

    def __call__(self, completions: Sequence[Any], **columns: Any) -> list[float | None]:
        return [j.score for j in self.judge(completions, **columns)]

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({params})"


def needed_tokens(view: TraceView, reward: str) -> int:
    """The completion's token count, or a ValueError saying how to pass it (for rewards of length)."""
    if view.tokens is None:
        raise ValueError(
            f"the {reward} reward needs completion lengths: TRL passes `completion_ids`; outside TRL pass "
            "completion_ids=[...] or a `completion_tokens` column"
        )
    return view.tokens


def per_row(values: Any, n: int) -> bool:
    """True when a keyword argument is a column of this call: one value per completion."""
    return isinstance(values, list | tuple) and len(values) == n


def prompt_texts(columns: dict[str, Any], n: int) -> list[str]:
    """The task each completion answers: TRL's `prompts` (the last user message of a chat prompt), else the
    `prompt` or `problem` column."""
    for name in ("prompts", "prompt", "problem"):
        values = columns.get(name)
        if isinstance(values, list | tuple) and len(values) == n:
            return [_last_user_text(v) for v in values]
    raise ValueError(
        "the llm_judge reward needs the prompts: TRL passes `prompts`; outside TRL pass prompts=[...]"
    )


def _last_user_text(prompt: Any) -> str:
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list | tuple):
        users = [m.get("content") or "" for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
        return users[-1] if users else ""
    return "" if prompt is None else str(prompt)


def row_styles(columns: dict[str, Any], n: int, default: str) -> list[str]:
    """Each completion's prompt style: its row's `prompt_style`, else the reward's own."""
    styles = columns.get("prompt_style")
    return (
        [s or default for s in styles]
        if isinstance(styles, list | tuple) and len(styles) == n
        else [default] * n
    )
