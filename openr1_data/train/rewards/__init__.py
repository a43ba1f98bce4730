"""GRPO reward functions for TRL, built on the same verdicts the filters use (`verdicts.py`): the one reward
registry of the project.

    from openr1_data.train.rewards import get_reward_funcs
    reward_funcs = get_reward_funcs(["accuracy", "format", "soft_overlong"], max_completion_len=1024)

Names come from `REWARD_FUNCS` (the RLT teacher reward `rlt` and the `llm_judge` reward included), open-r1's names
are aliases (`REWARD_ALIASES`), and a dotted path (`my_pkg.rewards.my_reward`) imports a reward function the user
wrote, as TRL's `trl grpo` does.

The modules: `base` (the `Reward` base class and TRL's call), `rule` (format, tags, steps, repetition, length,
language), `verified` (accuracy, cosine, length, code, multiple-choice, step correctness), `model_based` (LLM judge,
process reward model, RLT), `wordle` (the Wordle game's format, feedback and information-gain rewards) and `registry` (the one registry literal and the builders).
"""

from openr1_data.train.rewards.base import Reward, RewardFn
from openr1_data.train.rewards.model_based import (
    ANSWER_MATCH,
    RLT_REWARD,
    LLMJudgeReward,
    PRMReward,
    rlt_reward,
)
from openr1_data.train.rewards.registry import (
    PARAM_ALIASES,
    REWARD_ALIASES,
    REWARD_FUNCS,
    build_reward_funcs,
    check_reward_names,
    get_reward_funcs,
    import_reward,
    known_reward_names,
    parse_params,
    reward_params,
)
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
from openr1_data.train.rewards.wordle import (
    WordleFeedbackReward,
    WordleFormatReward,
    WordleInfoGainReward,
    WordleReward,
)

__all__ = [
    "ANSWER_MATCH",
    "PARAM_ALIASES",
    "REWARD_ALIASES",
    "REWARD_FUNCS",
    "RLT_REWARD",
    "AccuracyReward",
    "BinaryCodeReward",
    "CodeReward",
    "CosineReward",
    "FormatReward",
    "LLMJudgeReward",
    "LanguageReward",
    "LengthReward",
    "PRMReward",
    "ReasoningStepsReward",
    "RepetitionPenaltyReward",
    "Reward",
    "RewardFn",
    "SoftOverlongReward",
    "ReasoningGymReward",
    "StepCorrectnessReward",
    "TagCountReward",
    "WordleFeedbackReward",
    "WordleFormatReward",
    "WordleInfoGainReward",
    "WordleReward",
    "build_reward_funcs",
    "check_reward_names",
    "get_reward_funcs",
    "import_reward",
    "known_reward_names",
    "parse_params",
    "reward_params",
    "rlt_reward",
]
