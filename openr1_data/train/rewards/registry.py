"""The one reward registry: names (and open-r1's aliases) -> factories, and the builders TRL scripts call.

    from openr1_data.train.rewards import get_reward_funcs
    reward_funcs = get_reward_funcs(["accuracy", "format", "soft_overlong"], max_completion_len=1024)

A dotted path (`my_pkg.rewards.my_reward`) imports a reward function the user wrote, as TRL's `trl grpo` does.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, cast

import yaml

from openr1_data.train.rewards.base import RewardFn
from openr1_data.train.rewards.model_based import RLT_REWARD, LLMJudgeReward, PRMReward, rlt_reward
from openr1_data.train.rewards.rule import (
    FormatReward,
    LanguageReward,
    ReasoningStepsReward,
    RepetitionPenaltyReward,
    SoftOverlongReward,
    TagCountReward,
)
from openr1_data.train.rewards.verified import (
    AccuracyReward,
    BinaryCodeReward,
    CodeReward,
    CosineReward,
    LengthReward,
    ReasoningGymReward,
    StepCorrectnessReward,
)
from openr1_data.train.rewards.wordle import WordleFeedbackReward, WordleFormatReward, WordleInfoGainReward

# name -> factory. Factories take keyword parameters only; `get_reward_funcs` routes each parameter to the
# factories that accept it.
REWARD_FUNCS: dict[str, Callable[..., RewardFn]] = {
    "accuracy": AccuracyReward,
    "format": FormatReward,
    "tag_count": TagCountReward,
    "reasoning_steps": ReasoningStepsReward,
    "length": LengthReward,
    "cosine": CosineReward,
    "repetition_penalty": RepetitionPenaltyReward,
    "soft_overlong": SoftOverlongReward,
    "language": LanguageReward,
    "llm_judge": LLMJudgeReward,
    RLT_REWARD: rlt_reward,
    "code": CodeReward,
    "binary_code": BinaryCodeReward,
    "step_correctness": StepCorrectnessReward,
    "reasoning_gym": ReasoningGymReward,
    "prm": PRMReward,
    "wordle_format": WordleFormatReward,
    "wordle_feedback": WordleFeedbackReward,
    "wordle_info_gain": WordleInfoGainReward,
}

# open-r1's registry names (and the names its functions log under) -> ours, so an open-r1 recipe runs unchanged.
# A reward built through an alias logs under the open-r1 function name (`cosine_scaled_reward`, ...).
REWARD_ALIASES: dict[str, str] = {
    "cosine_scaled": "cosine",
    "len": "length",
    "soft_overlong_punishment": "soft_overlong",
}
# open-r1's parameter names -> ours.
PARAM_ALIASES: dict[str, str] = {"repetition_n_grams": "repetition_ngram_size"}


def known_reward_names() -> list[str]:
    """Every registry name and alias `--reward_funcs` accepts (a dotted import path is accepted too)."""
    return sorted({*REWARD_FUNCS, *REWARD_ALIASES})


def _unknown(names: Sequence[str]) -> ValueError:
    return ValueError(
        f"unknown reward function(s) {list(names)}; available: {known_reward_names()}, or the dotted import path "
        "of your own reward function (my_pkg.rewards.my_reward)"
    )


def import_reward(path: str) -> RewardFn:
    """A user-written reward function from its dotted path (`my_pkg.my_module.my_reward`), imported as TRL's
    `trl grpo` does (the working directory is importable)."""
    module_path, _, attr = path.rpartition(".")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_path)
    except ImportError as err:
        raise ValueError(
            f"reward function {path!r}: cannot import module {module_path!r} ({err}); it is neither a registry "
            f"name ({known_reward_names()}) nor an importable path"
        ) from err
    func = getattr(module, attr, None)
    if not callable(func):
        raise ValueError(f"reward function {path!r}: module {module_path!r} has no callable {attr!r}")
    return cast(RewardFn, func)


def _factory(name: str) -> Callable[..., RewardFn] | None:
    """The registry factory of a name or alias; None for a dotted path (a ready reward function)."""
    canonical = REWARD_ALIASES.get(name, name)
    if canonical in REWARD_FUNCS:
        return REWARD_FUNCS[canonical]
    if "." in name:
        return None
    raise _unknown([name])


def check_reward_names(names: Sequence[str]) -> None:
    """Fail before any work on an unknown reward name (listing the known ones) or an unimportable dotted path."""
    if not names:
        raise ValueError(f"no reward functions: pass --reward_funcs with some of {known_reward_names()}")
    unknown = [n for n in names if REWARD_ALIASES.get(n, n) not in REWARD_FUNCS and "." not in n]
    if unknown:
        raise _unknown(unknown)
    for name in names:
        if REWARD_ALIASES.get(name, name) not in REWARD_FUNCS:
            import_reward(name)


def parse_params(params: dict[str, Any] | str | None) -> dict[str, Any]:
    """Reward parameters from a mapping or its JSON/YAML text (open-r1 parameter names are accepted)."""
    if params is None:
        return {}
    if isinstance(params, str):
        params = yaml.safe_load(params)
    if not isinstance(params, dict):
        raise ValueError(f"reward_params must be a mapping of name: value, got {params!r}")
    return {PARAM_ALIASES.get(k, k): v for k, v in params.items()}


def _accepted(factory: Callable[..., Any] | None) -> set[str]:
    names: set[str] = set()
    if factory is None:  # a user's reward function takes no construction parameters
        return names
    for cls in getattr(factory, "__mro__", (factory,)):
        init = cls.__dict__.get("__init__") if isinstance(cls, type) else cls
        if init is None:
            continue
        for p in inspect.signature(init).parameters.values():
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self":
                names.add(p.name)
    return names


def reward_params(name: str) -> list[str]:
    """The keyword parameters the reward `name` (or alias) accepts."""
    if REWARD_ALIASES.get(name, name) not in REWARD_FUNCS:
        raise _unknown([name])
    return sorted(_accepted(_factory(name)))


def get_reward_funcs(names: Sequence[str], **params: Any) -> list[RewardFn]:
    """Build the reward functions `names` (in order), passing each the `params` it accepts.

    A name is a registry name, an open-r1 alias, or a dotted import path. Unknown names, and parameters that none
    of the requested rewards accept, raise ValueError listing the valid choices, so a typo in a recipe never
    silently does nothing.
    """
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if names:
        check_reward_names(names)
    params = {PARAM_ALIASES.get(k, k): v for k, v in params.items()}
    factories = {n: _factory(n) for n in names}
    accepted = {n: _accepted(f) for n, f in factories.items()}
    unused = sorted(set(params) - set().union(*accepted.values())) if names else sorted(params)
    if unused:
        valid = {n: sorted(a) for n, a in accepted.items()}
        raise ValueError(
            f"reward parameter(s) {unused} are not accepted by {list(names)}; they accept {valid}"
        )
    funcs: list[RewardFn] = []
    for name in names:
        factory = factories[name]
        if factory is None:
            funcs.append(import_reward(name))
            continue
        func = factory(**{k: v for k, v in params.items() if k in accepted[name]})
        if name in REWARD_ALIASES:
            func.__name__ = f"{name}_reward"  # type: ignore[attr-defined]  (open-r1's logged name)
        funcs.append(func)
    return funcs


def build_reward_funcs(
    names: Sequence[str],
    params: dict[str, Any],
    rlt_config: Any = None,
    *,
    prompt_style: str | None = None,
    max_completion_length: int | None = None,
) -> list[RewardFn]:
    """The rewards of a GRPO run, in the order of `names`: what train/grpo.py hands to `GRPOTrainer`.

    The rewards that parse completions do so in `prompt_style` (the one the GRPO prompts use), `soft_overlong`
    defaults its limit to the trainer's `max_completion_length`, and `rlt` is built from `rlt_config`.
    """
    check_reward_names(names)
    params = parse_params(params)
    factories = {n: _factory(n) for n in names}
    takes = set().union(*(_accepted(f) for f in factories.values()))
    if prompt_style and "style" in takes:
        params.setdefault("style", prompt_style)
    if max_completion_length and "max_completion_len" in takes:
        params.setdefault("max_completion_len", max_completion_length)
    if rlt_config is not None and "rlt_config" in takes:
        params.setdefault("rlt_config", rlt_config)
    return get_reward_funcs(names, **params)
