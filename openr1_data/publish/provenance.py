"""The card's provenance of generated data: the teacher (as a Hub id when it has one), the prompts, and the
sampling settings that were in effect (not the flags' defaults)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from openr1_data.generate.stage import GenerationConfig
from openr1_data.prompts import get_style
from openr1_data.publish.card import build_provenance
from openr1_data.teachers.default_model import teacher_hub_id


def effective_sampling(gen_cfg: GenerationConfig) -> dict[str, Any]:
    """What each trace was sampled with. With a thinking budget, the first generation stops at the budget (it
    replaces max_new_tokens there) and a forced answer gets `forced_answer_tokens`: the table says so."""
    sampling: dict[str, Any] = {
        "temperature": gen_cfg.temperature,
        "top_p": gen_cfg.top_p,
        "seed": gen_cfg.seed,
        "max_new_tokens": gen_cfg.max_new_tokens,
    }
    if gen_cfg.thinking_budget is not None:
        sampling["max_new_tokens"] = (
            f"{gen_cfg.thinking_budget} (the thinking budget replaces --max_new_tokens {gen_cfg.max_new_tokens})"
        )
        sampling["thinking_budget"] = gen_cfg.thinking_budget
    if gen_cfg.forcing() is not None:
        sampling["forced_answer_tokens"] = gen_cfg.forced_answer_tokens
        sampling["force_unclosed_on_stop"] = gen_cfg.force_unclosed_on_stop
    return sampling


def generation_provenance(
    gen_cfg: GenerationConfig, sources: Sequence[str], teacher_name: str | None = None, **extra: Any
) -> dict:
    """The card's provenance: teacher, backend, every prompt style's templates, sampling, sources, command."""
    styles = [get_style(name) for name in gen_cfg.prompt_styles]
    template = "\n\n".join(
        f"[{s.name}]\nsystem: {s.system_prompt}\nuser: {s.user_template}\nassistant prefill: {s.assistant_prefill}"
        for s in styles
    )
    teacher = teacher_name or gen_cfg.teacher_model
    return build_provenance(
        teacher_model=teacher_hub_id(teacher) or teacher_hub_id(gen_cfg.teacher_model) or teacher,
        teacher_backend=gen_cfg.teacher_backend,
        prompt_style=", ".join(s.name for s in styles),
        prompt_template=template,
        sampling=effective_sampling(gen_cfg),
        sources=list(sources),
        num_generations=gen_cfg.num_generations,
        thinking_budget=gen_cfg.thinking_budget,
        **extra,
    )
