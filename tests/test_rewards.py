"""GRPO reward functions: the registry, TRL's calling convention, and agreement with the filters."""

from __future__ import annotations

import pickle

import pytest
from datasets import Dataset

from openr1_data.curate.filters import FilterConfig, filter_reasons
from openr1_data.curate.selection import SelectionConfig, select_traces
from openr1_data.curate.verify import VerifyConfig, verify_traces
from openr1_data.prompts import get_style
from openr1_data.train.rewards import (
    REWARD_FUNCS,
    build_reward_funcs,
    check_reward_names,
    get_reward_funcs,
    known_reward_names,
    reward_params,
)
from openr1_data.verdicts import repetition_share

RLT_END = "<|end_of_explanation|>"
LOOP = "I add one and one and get two, let me check that again. " * 30

# A varied set of traces: (completion, style, columns). Gold answers, problems and lengths differ per row.
TRACES = [
    (
        "<think>\nFirst, 1+1. Then, 2. Finally, check.\n</think>\n\\boxed{2}",
        "r1",
        {"answer": "2", "tokens": 40},
    ),
    ("One and one.\n</think>\nSo \\boxed{\\frac{4}{2}}", "r1", {"answer": "2", "tokens": 95}),
    ("<think>\nHalf.\n</think>\n\\boxed{0.5}", "r1", {"answer": "\\frac{1}{2}", "tokens": 101}),
    ("<think>\nHmm.\n</think>\n\\boxed{3}", "r1", {"answer": "2", "tokens": 20}),
    ("The answer is \\boxed{2}.", "r1", {"answer": "2", "tokens": 5}),
    ("<think>\nOne and one make", "r1", {"answer": "2", "tokens": 100}),
    ("<think>a</think> b </think> \\boxed{2}", "r1", {"answer": "2", "tokens": 8}),
    ("<think>\n\n</think>\n\\boxed{2}", "r1", {"answer": "2", "tokens": 6}),
    ("<think>\nOne and one.\n</think>\nThe final answer is $2$.", "r1", {"answer": "2", "tokens": 12}),
    ("<think>\n" + LOOP + "\n</think>\n\\boxed{2}", "r1", {"answer": "2", "tokens": 400}),
    ("<think>\nx\n</think>\n\\boxed{4}", "r1", {"answer": "---", "tokens": 9}),  # unparseable gold
    (
        "<think>\nOne and one.\n</think>\n\\boxed{2}",
        "r1",
        {"answer": "2", "problem": "一加一等于多少？", "tokens": 9},
    ),
    (
        "<think>\n一加一等于二。\n</think>\n\\boxed{2}",
        "r1",
        {"answer": "2", "problem": "一加一等于多少？", "tokens": 9},
    ),
    ("It adds one and one.\n\nSo two.\n\nDone.\n" + RLT_END, "rlt", {"answer": "2", "tokens": 30}),
    ("It adds one and", "rlt", {"answer": "2", "tokens": 99}),
    ("\n" + RLT_END, "rlt", {"answer": "2", "tokens": 2}),
]


def _dataset() -> Dataset:
    rows = []
    for i, (completion, style, extra) in enumerate(TRACES):
        row = {
            "problem": extra.get("problem", "What is 1 + 1?"),
            "solution": f"It is \\boxed{{{extra['answer']}}}.",
            "answer": extra["answer"],
            "problem_id": f"p{i}",
            "prompt_style": style,
            "completion": completion,
            "finish_reason": "stop",
            "completion_tokens": extra["tokens"],
            "trace_id": f"t{i}",
        }
        parsed = get_style(style).parse(completion, row)  # as generation does
        row.update(reasoning=parsed.reasoning, final=parsed.final, predicted_answer=parsed.predicted_answer)
        rows.append(row)
    return Dataset.from_list(rows)


def _trl_call(reward, ds: Dataset, *, conversational: bool = False) -> list:
    """Call a reward the way TRL's GRPOTrainer does: completions, every other column as a list, token ids."""
    completions = ds["completion"]
    if conversational:
        completions = [[{"role": "assistant", "content": c}] for c in completions]
    columns = {c: list(ds[c]) for c in ds.column_names if c not in ("prompt", "completion")}
    ids = [[0] * n for n in ds["completion_tokens"]]
    return reward(completions=completions, prompts=list(ds["problem"]), completion_ids=ids, **columns)


def _judge(reward, ds: Dataset) -> list:
    columns = {c: list(ds[c]) for c in ds.column_names if c != "completion"}
    return reward.judge(
        list(ds["completion"]), completion_ids=[[0] * n for n in ds["completion_tokens"]], **columns
    )


ONLY = {  # a filter config with every check off, to switch on one at a time
    "require_finished": False,
    "require_think": False,
    "require_answer": False,
    "max_repetition_share": None,
}

# (reward name, reward params, filter settings with the same threshold, score predicate that means "rejected")
PAIRS = [
    ("format", {}, {"require_think": True, "require_answer": True}, lambda s: s < 1.0),
    ("tag_count", {}, {"require_think": True}, lambda s: s < 1.0),
    ("repetition_penalty", {}, {"max_repetition_share": 0.3}, lambda s: s < 0.0),
    (
        "soft_overlong",
        {"max_completion_len": 100, "soft_punish_cache": 20},
        {"max_tokens": 100},
        lambda s: s == -1.0,
    ),
    ("reasoning_steps", {"min_steps": 3}, {"min_reasoning_steps": 3}, lambda s: s < 1.0),
    ("language", {}, {"check_language": True}, lambda s: s == 0.0),
]


@pytest.mark.parametrize(("name", "params", "settings", "rejected"), PAIRS, ids=[p[0] for p in PAIRS])
def test_reward_and_filter_give_the_same_verdict(name, params, settings, rejected):
    ds = _dataset()
    (reward,) = get_reward_funcs([name], **params)
    reasons = filter_reasons(ds, FilterConfig(**{**ONLY, **settings}))
    judgements = _judge(reward, ds)
    scores = _trl_call(reward, ds)
    assert [j.reason for j in judgements] == reasons  # the same verdict, reason for reason
    assert scores == [j.score for j in judgements]
    if name == "soft_overlong":  # the soft ramp punishes kept traces too; only "too_long" is a rejection
        assert [r == "too_long" for r in reasons] == [
            s == -1.0 and t > 100 for s, t in zip(scores, ds["completion_tokens"], strict=True)
        ]
    else:
        assert [r is not None for r in reasons] == [rejected(s) for s in scores]
    assert any(r is not None for r in reasons) and any(r is None for r in reasons)  # the traces exercise both


def test_accuracy_reward_agrees_with_verification_and_selection():
    ds = _dataset()
    verified = verify_traces(ds, VerifyConfig(verify_num_proc=0)).kept
    selected = select_traces(verified, SelectionConfig(keep="correct"))
    kept = set(selected.kept["trace_id"])
    rejected = dict(zip(selected.rejected["trace_id"], selected.rejected["rejected_reason"], strict=True))
    accuracy, cosine = get_reward_funcs(["accuracy", "cosine"], cosine_max_len=200)
    scores = _trl_call(accuracy, ds)
    judgements = _judge(accuracy, ds)
    for i, (trace_id, correct) in enumerate(zip(ds["trace_id"], verified["correct"], strict=True)):
        assert scores[i] == (None if correct is None else float(correct))
        assert (trace_id in kept) == (scores[i] == 1.0)
        assert judgements[i].reason == rejected.get(trace_id)
    cos = _trl_call(cosine, ds)
    assert [None if c is None else c > 0 for c in cos] == [None if s is None else s == 1.0 for s in scores]
    assert (scores.count(None), scores.count(0.0), scores.count(1.0)) == (1, 2, 13)


def test_plain_and_conversational_completions_score_alike():
    ds = _dataset()
    for reward in get_reward_funcs(
        ["accuracy", "format", "tag_count", "reasoning_steps", "repetition_penalty", "length", "cosine"]
    ):
        assert _trl_call(reward, ds) == _trl_call(reward, ds, conversational=True), reward.__name__


def test_registry_names_parameters_and_errors():
    for name in [
        "accuracy",
        "format",
        "tag_count",
        "reasoning_steps",
        "length",
        "cosine",
        "repetition_penalty",
        "soft_overlong",
    ]:
        assert name in REWARD_FUNCS
    funcs = get_reward_funcs(
        ["accuracy", "format", "soft_overlong"], max_completion_len=64, timeout_seconds=2
    )
    assert [f.__name__ for f in funcs] == ["accuracy_reward", "format_reward", "soft_overlong_reward"]
    with pytest.raises(ValueError, match="available: .*accuracy"):
        get_reward_funcs(["accuracy", "acuracy"])
    with pytest.raises(ValueError, match="max_completion_length"):
        get_reward_funcs(["soft_overlong"])
    with pytest.raises(ValueError, match=r"\['max_len'\] are not accepted"):
        get_reward_funcs(["format"], max_len=10)
    assert "cosine_max_len" in reward_params("cosine") and "timeout_seconds" in reward_params("cosine")
    clone = pickle.loads(pickle.dumps(funcs[0]))  # TRL's async rollout workers pickle reward functions
    assert clone(["<think>a</think> \\boxed{2}"], answer=["2"]) == [1.0]


def test_accuracy_reward_gold_sources():
    (accuracy,) = get_reward_funcs(["accuracy"])
    completions = [
        "<think>a</think> \\boxed{\\frac{1}{2}}",
        "<think>a</think> no box",
        "<think>a</think> \\boxed{3}",
    ]
    assert accuracy(completions, answer=["0.5", "0.5", "---"]) == [1.0, 0.0, None]
    # open-r1 style datasets carry only the solution: the gold is its last \boxed{}.
    assert accuracy(completions[:1], solution=["so \\boxed{0.5}"]) == [1.0]
    with pytest.raises(ValueError, match="answer"):
        accuracy(completions, problem=["a", "b", "c"])


def test_shaping_reward_values():
    soft, cosine, repetition, steps = get_reward_funcs(
        ["soft_overlong", "cosine", "repetition_penalty", "reasoning_steps"],
        max_completion_len=100,
        soft_punish_cache=20,
        cosine_max_len=100,
        max_repetition_share=0.0,
        min_steps=3,
    )
    text = "<think>a</think> \\boxed{1}"
    ids = [[0] * n for n in (80, 90, 100, 101)]
    assert soft([text] * 4, completion_ids=ids) == [0.0, -0.5, -1.0, -1.0]  # DAPO Eq. 13
    assert cosine([text, text], answer=["1", "2"], completion_ids=[[0] * 50] * 2) == pytest.approx(
        [0.75, -0.75]
    )
    loop = "<think>" + "a b " * 50 + "</think> \\boxed{1}"
    share = repetition_share(loop, 8)
    assert share > 0.9 and repetition([loop])[0] == pytest.approx(-share)  # open-r1 / TRL: -share
    assert steps(["<think>Step 1: a.\nStep 2: b.</think> \\boxed{1}"]) == [pytest.approx(2 / 3)]


def test_kimi_length_reward_is_relative_within_each_prompt():
    (length,) = get_reward_funcs(["length"])
    completions = [
        "<think>a</think> \\boxed{1}",
        "<think>a</think> \\boxed{1}",
        "<think>a</think> \\boxed{1}",
        "<think>a</think> \\boxed{2}",
    ]
    ids = [[0] * n for n in (10, 20, 30, 10)]
    scores = length(completions, answer=["1", "1", "1", "1"], prompts=["q"] * 4, completion_ids=ids)
    assert scores == [0.5, 0.0, -0.5, 0.0]  # wrong answers never get a bonus
    other = length(completions, answer=["1"] * 4, prompts=["q1", "q1", "q2", "q2"], completion_ids=ids)
    assert other == [0.5, -0.5, -0.5, 0.0]  # q2: the 10-token answer is wrong (min(0, 0.5))


def test_rewards_inside_a_real_grpo_step(tiny_model_dir, tmp_path):
    from trl import GRPOConfig, GRPOTrainer

    train = Dataset.from_list(
        [
            {"prompt": [{"role": "user", "content": f"What is {i} + 1?"}], "answer": str(i + 1)}
            for i in range(4)
        ]
    )
    funcs = get_reward_funcs(["accuracy", "format", "soft_overlong"], max_completion_len=8)
    args = GRPOConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        num_generations=2,
        max_completion_length=8,
        max_steps=1,
        bf16=False,
        use_cpu=True,
        report_to=[],
        logging_steps=1,
        save_strategy="no",
    )
    trainer = GRPOTrainer(model=tiny_model_dir, reward_funcs=funcs, args=args, train_dataset=train)
    trainer.train()
    logged = {k for entry in trainer.state.log_history for k in entry}
    # The tiny model writes random text: accuracy is 0 or None (TRL logs NaN-safe means), format 0.
    assert {
        "rewards/accuracy_reward/mean",
        "rewards/format_reward/mean",
        "rewards/soft_overlong_reward/mean",
    } <= logged


# --------------------------------------------------------------------------------------------------------------
# Issue 17: gold-less batches, free credit, unspaced scripts, multi-part answers, open-r1 names, answer tags
# --------------------------------------------------------------------------------------------------------------

BOXED = "<think>\nWork.\n</think>\n\\boxed{2}"


@pytest.mark.parametrize("name", ["accuracy", "length", "cosine"])
def test_rows_without_a_gold_score_none_in_any_batch(name):
    (reward,) = get_reward_funcs([name])
    ids = [[0] * 10, [0] * 20]
    # One prompt x num_generations with no gold: every row None, no exception (TRL skips them).
    assert reward([BOXED, BOXED], answer=[None, ""], prompts=["q", "q"], completion_ids=ids) == [None, None]
    mixed = reward([BOXED, BOXED], answer=["2", None], prompts=["q1", "q2"], completion_ids=ids)
    assert mixed[0] is not None and mixed[1] is None  # the same gold-less row, batched with a gold one
    # A dataset without any gold column fails, at its first step, saying what to add.
    with pytest.raises(ValueError, match="`answer`"):
        reward([BOXED], prompts=["q"], completion_ids=ids[:1])


@pytest.mark.parametrize(
    ("gold", "boxed", "accuracy", "cosine"),
    [
        ("forty two", "42", None, None),  # issue 25: was 0.0 and -0.75 (the gold read as f*o*r*t*y*t*w*o)
        ("forty two", "two forty", 0.0, -0.75),  # was 1.0: the same letters in another order
        ("yes", "sey", 0.0, -0.75),
        ("yes", "\\text{Yes}", 1.0, 0.75),
        ("\\text{Evelyn}", "Evelyn", 1.0, 0.75),
    ],
)
def test_accuracy_rewards_of_golds_in_words(gold, boxed, accuracy, cosine):
    acc, cos = get_reward_funcs(["accuracy", "cosine_scaled"], cosine_max_len=20)
    completion = [f"<think>\nCounting.\n</think>\nThe answer is \\boxed{{{boxed}}}."]
    assert acc(completion, answer=[gold]) == [accuracy]
    assert cos(completion, answer=[gold], completion_ids=[[0] * 10]) == [
        None if cosine is None else pytest.approx(cosine)
    ]


def test_no_free_credit_for_missing_tags_or_a_single_paragraph():
    tags, steps = get_reward_funcs(["tag_count", "reasoning_steps"])
    assert tags(["", "just an answer: 2", "<think>\nhalf a block"]) == [0.0, 0.0, pytest.approx(1 / 3)]
    assert steps(["<think>One long paragraph of reasoning without any step.</think> \\boxed{1}"]) == [0.0]
    assert steps(["<think>First part.\n\nSecond part.</think> \\boxed{1}"]) == [pytest.approx(2 / 3)]


def test_repetition_is_counted_on_characters_of_unspaced_scripts():
    (open_r1,) = get_reward_funcs(["repetition_penalty"], repetition_n_grams=2, max_repetition_share=0.0)
    (score,) = open_r1(["这个这个这个这个这个"])
    assert score == pytest.approx(-(1 - 2 / 9))  # 9 character bigrams, 2 distinct (open-r1 with jieba: -0.75)
    loop = "<think>\n" + "我们再检查一下这个计算。" * 40 + "\n</think>\n\\boxed{2}"
    fresh = (
        "<think>\n"
        + "首先计算二加三得五，然后乘以四得二十，最后减去一得到十九，检查无误。"
        + "\n</think>\n\\boxed{19}"
    )
    (default,) = get_reward_funcs(["repetition_penalty"])
    assert default([loop])[0] < -0.5 and default([fresh]) == [0.0]
    ds = Dataset.from_dict({"completion": [loop, fresh], "finish_reason": ["stop", "stop"]})
    assert filter_reasons(ds, FilterConfig(**{**ONLY, "max_repetition_share": 0.3})) == ["repetitive", None]


def test_accuracy_reward_reads_several_boxes_as_one_answer():
    (accuracy,) = get_reward_funcs(["accuracy"])
    completions = [
        "<think>\nx\n</think>\nThe integers are \\boxed{-2} and \\boxed{1}.",
        "<think>\nx\n</think>\n\\boxed{(2, 1)}, \\boxed{(1, 2)}",
        "<think>\nx\n</think>\n\\boxed{k = 45} \\quad \\text{and} \\quad \\boxed{n = 2}",
        "<think>\nx\n</think>\n\\boxed{1},\\boxed{2},\\boxed{3}",
        "<think>\nx\n</think>\nSo $2^8-1=\\boxed{255}$ and times 41 it is more. The final answer is $10,455$.",
        "<think>\nx\n</think>\nWe get \\boxed{3}, so $y = 2 \\cdot 3 = \\boxed{6}$.",  # the 3 was intermediate
    ]
    golds = ["-2, 1", "(2,1),(1,2)", "k = 45, n = 2", "\\{1,2,3\\}", "10455", "6"]
    assert accuracy(completions, answer=golds) == [1.0] * 6


def test_open_r1_reward_names_are_aliases():
    funcs = get_reward_funcs(
        ["accuracy", "format", "cosine_scaled", "len", "soft_overlong_punishment", "repetition_penalty"],
        max_completion_len=100,
        soft_punish_cache=20,
        cosine_max_len=100,
        repetition_n_grams=3,
    )
    names = [f.__name__ for f in funcs]  # what TRL logs: open-r1's function names for the aliases
    assert names == [
        "accuracy_reward",
        "format_reward",
        "cosine_scaled_reward",
        "len_reward",
        "soft_overlong_punishment_reward",
        "repetition_penalty_reward",
    ]
    assert [type(f).__name__ for f in funcs[2:5]] == ["CosineReward", "LengthReward", "SoftOverlongReward"]
    assert funcs[5].repetition_ngram_size == 3
    assert {"cosine_scaled", "len", "soft_overlong_punishment", "rlt", "llm_judge"} <= set(
        known_reward_names()
    )


def test_answer_tag_style_is_scored_by_format_and_accuracy():
    fmt, accuracy = get_reward_funcs(["format", "accuracy"], style="answer_tag")
    completions = [
        "<think>\nTwo plus two.\n</think>\n<answer>\n4\n</answer>",
        "<think>\nTwo plus two.\n</think>\n<answer>\n$\\boxed{4}$\n</answer>",
        "<think>\nTwo plus two.\n</think>\n<answer>\n5\n</answer>",
        "<think>\nTwo plus two.\n</think>\nThe answer is 4.",  # no answer tags
        "<think>\nTwo plus two.\n</think>\n<answer>\n</answer>",
    ]
    gold = ["4"] * 5
    assert fmt(completions) == [1.0, 1.0, 1.0, 0.0, 0.0]
    # No tags but an announced answer: wrong format, yet the verify fallback reads "the answer is 4" (as for r1).
    assert accuracy(completions, answer=gold) == [1.0, 1.0, 0.0, 1.0, 0.0]
    # A dataset row names its style; the filter reads it the same way.
    ds = Dataset.from_dict(
        {"completion": completions, "prompt_style": ["answer_tag"] * 5, "finish_reason": ["stop"] * 5}
    )
    assert filter_reasons(ds, FilterConfig(**{**ONLY, "require_think": True, "require_answer": True})) == [
        None,
        None,
        None,
        "no_answer_tag",
        "empty_answer",
    ]


def test_a_dotted_path_imports_a_user_reward(tmp_path, monkeypatch):
    (tmp_path / "my_rewards.py").write_text(
        "def short_reward(completions, **kwargs):\n    return [1.0 if len(c) < 10 else 0.0 for c in completions]\n"
    )
    monkeypatch.chdir(tmp_path)  # as TRL does, the working directory is importable
    monkeypatch.syspath_prepend(str(tmp_path))
    accuracy, short = get_reward_funcs(["accuracy", "my_rewards.short_reward"])
    assert short(["tiny", "a much longer completion"]) == [1.0, 0.0]
    check_reward_names(["my_rewards.short_reward"])
    with pytest.raises(ValueError, match="cannot import module 'no_such_pkg'"):
        check_reward_names(["no_such_pkg.reward"])
    with pytest.raises(ValueError, match="no callable 'missing'"):
        get_reward_funcs(["my_rewards.missing"])


def test_rlt_is_an_entry_of_the_one_registry():
    assert "rlt" in REWARD_FUNCS and reward_params("rlt") == ["rlt_config"]
    with pytest.raises(ValueError, match="rlt_student_model"):
        get_reward_funcs(["rlt"])
    with pytest.raises(ValueError, match="rlt_student_model"):
        build_reward_funcs(["format", "rlt"], {}, prompt_style="rlt")


def test_language_reward_skips_rows_without_a_problem():
    (language,) = get_reward_funcs(["language"])
    assert language([BOXED, BOXED], problem=["What is 1 + 1?", None]) == [1.0, None]
    with pytest.raises(ValueError, match="`problem`"):
        language([BOXED])
