"""The `llm_judge` GRPO reward and the judge stage's answer hand-off, through the real OpenAI teacher against a real
HTTP server whose replies are scripted (tests/scripted_openai.py): strict score parsing, the cache per (prompt,
completion), the cost it logs, the stage's own yes/no question, and a real GRPO step."""

from __future__ import annotations

import pickle

import pytest
from datasets import Dataset

from openr1_data.curate.llm_judge import JudgeConfig, judge_traces
from openr1_data.curate.verify import VerifyConfig, verify_traces
from openr1_data.prompts import get_style
from openr1_data.train.rewards import LLMJudgeReward, get_reward_funcs
from tests.scripted_openai import ScriptedOpenAIServer

# The judge's reply by what the rated response says (the rubric question ends with the response).
SCORES = {
    "GOOD": "9",
    "FINE": "<think>\nCovers the point, a bit long.\n</think>\n6/10",
    "BAD": "Score: 2",
    "RAMBLE": "I would give it a 7 because it is mostly right.",  # not a bare score: undecided, never a guess
}
TASK = [{"role": "user", "content": "Summarise: the cat sat on the mat all day."}]


def scripted_reply(body: dict, index: int) -> str:
    user = body["messages"][-1]["content"]
    if user.startswith("Problem:"):  # the judge stage's answer question
        return "Yes" if "response):\n-2, 1\n" in user else "No"
    response = user.split("Response:\n", 1)[1]
    return next((reply for tag, reply in SCORES.items() if tag in response), "unscripted")


@pytest.fixture
def server():
    with ScriptedOpenAIServer(scripted_reply) as running:
        yield running


def judge_reward(server, **params) -> LLMJudgeReward:
    (reward,) = get_reward_funcs(
        ["llm_judge"], judge_model="judge-model", judge_base_url=server.base_url, **params
    )
    return reward


def completion(summary: str) -> str:
    return f"<think>\nPRIVATE reasoning about the text.\n</think>\n{summary}"


def test_rubric_scores_are_parsed_strictly_cached_and_their_cost_logged(server):
    reward = judge_reward(server)
    completions = [completion(s) for s in ("GOOD: a cat rested.", "FINE summary", "BAD", "RAMBLE on")]
    completions.append("<think>\nNever finished the summary.\n</think>\n")  # nothing to rate: not sent
    metrics: dict[str, float] = {}
    log = metrics.__setitem__
    scores = reward(completions, prompts=[TASK] * 5, log_metric=log)
    assert scores == [0.9, 0.6, 0.2, None, None]
    assert len(server.requests) == 4
    for request in server.requests:  # the rubric style: the task, the rubric, the final part only
        system, user = request["messages"]
        assert system["role"] == "system" and "one whole number from 0 to 10" in system["content"]
        assert user["content"].startswith("Task:\nSummarise: the cat sat on the mat all day.\n\nRubric:\n")
        assert "PRIVATE" not in user["content"] and request["temperature"] == 0.0
    assert metrics == {
        "llm_judge/requests": 4.0,
        "llm_judge/cache_hits": 0.0,
        "llm_judge/reply_tokens": 12.0,  # the server's usage: 3 tokens per reply
        "llm_judge/undecided": 1.0,
    }
    # The same (prompt, completion) again, twice in one batch: answered from the cache, nothing sent.
    again = reward([completions[0], completions[0], completions[3]], prompts=[TASK] * 3, log_metric=log)
    assert again == [0.9, 0.9, None] and len(server.requests) == 4
    assert metrics["llm_judge/requests"] == 0.0 and metrics["llm_judge/cache_hits"] == 3.0
    assert reward.cost == {"requests": 4, "cache_hits": 3, "reply_tokens": 12, "undecided": 1}
    # Another prompt is another question, even for the same completion.
    other = [{"role": "user", "content": "Summarise: a dog."}]
    assert reward([completions[0]], prompts=[other]) == [0.9] and len(server.requests) == 5
    reasons = [j.reason for j in reward.judge(completions, prompts=[TASK] * 5)]
    assert reasons == [None, None, None, "unparseable_score", "nothing_to_judge"]
    reward.close()


def test_a_rubric_column_reaches_the_judge_and_the_reward_pickles(server):
    reward = judge_reward(server, judge_rubric="Mentions the mat.")
    reward([completion("GOOD"), completion("GOOD")], prompts=[TASK] * 2, rubric=["Is it one line?", None])
    rubrics = sorted(
        r["messages"][-1]["content"].split("Rubric:\n")[1].split("\n")[0] for r in server.requests
    )
    assert rubrics == ["Is it one line?", "Mentions the mat."]
    clone = pickle.loads(pickle.dumps(reward))  # no client, no cache: it opens its own on first use
    assert clone([completion("BAD")], prompts=[TASK]) == [0.2]
    clone.close()
    reward.close()
    uncached = judge_reward(server, judge_cache_size=0)  # a bounded cache; 0 keeps nothing between calls
    before = len(server.requests)
    assert (
        uncached([completion("GOOD")], prompts=[TASK])
        == uncached([completion("GOOD")], prompts=[TASK])
        == [0.9]
    )
    assert len(server.requests) == before + 2
    uncached.close()


def test_answer_match_asks_the_judge_stage_question_with_the_extracted_answer(server):
    reward = judge_reward(server, judge_prompt_style="answer_match")
    completions = [
        "<think>\nFactor.\n</think>\nThe integers are \\boxed{-2} and \\boxed{1}.",
        "<think>\nFactor.\n</think>\nThe integer is \\boxed{1}.",
        "<think>\nFactor.\n</think>\n\\boxed{-2}, \\boxed{1}",
    ]
    scores = reward(
        completions, prompts=["Which integers solve x^2+x-2=0?"] * 3, answer=["-2, 1", "-2, 1", None]
    )
    assert scores == [1.0, 0.0, None]  # the row without a gold is not sent
    assert len(server.requests) == 2
    user = server.requests[0]["messages"][-1]["content"]
    assert user.startswith("Problem:\nWhich integers solve") and "Reference answer:\n-2, 1\n" in user
    reward.close()


def test_the_judge_stage_hands_over_the_multi_part_answer(server):
    # Traces from another tool: no predicted_answer column, only the final text with two boxes.
    traces = Dataset.from_list(
        [
            {
                "problem": "p",
                "answer": "\\frac{",
                "final": "So \\boxed{-2} and \\boxed{1}.",
                "finish_reason": "stop",
            },
        ]
    )
    verified = verify_traces(
        traces.add_column("predicted_answer", [None]), VerifyConfig(verify_num_proc=0)
    ).kept
    result = judge_traces(
        verified.remove_columns(["predicted_answer"]),
        JudgeConfig(judge_model="judge-model", judge_base_url=server.base_url, judge_progress=False),
    )
    judged, stats = result.kept, result.report
    assert (
        "Student's final answer (or the end of the student's response):\n-2, 1\n"
        in (server.requests[0]["messages"][-1]["content"])
    )
    assert judged["correct_judge"] == [True] and stats.yes == 1


def test_bad_judge_settings_fail_at_start_up():
    with pytest.raises(ValueError, match="judge_model"):
        get_reward_funcs(["llm_judge"])
    with pytest.raises(ValueError, match="does not parse scores"):
        get_reward_funcs(["llm_judge"], judge_model="m", judge_prompt_style="r1")
    assert get_style("judge_rubric").parser == "score"


def test_llm_judge_reward_inside_a_real_grpo_step(server, tiny_model_dir, tmp_path):
    from trl import GRPOConfig, GRPOTrainer

    train = Dataset.from_list([{"prompt": TASK, "rubric": "Short."} for _ in range(2)])
    reward = judge_reward(server)
    args = GRPOConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=2,
        num_generations=2,
        max_completion_length=6,
        max_steps=1,
        bf16=False,
        use_cpu=True,
        report_to=[],
        logging_steps=1,
        save_strategy="no",
    )
    trainer = GRPOTrainer(model=tiny_model_dir, reward_funcs=[reward], args=args, train_dataset=train)
    trainer.train()
    logged = {k: v for entry in trainer.state.log_history for k, v in entry.items()}
    # The tiny model's random text is unscripted: every reply is undecided, and that is what gets logged.
    assert logged["llm_judge/requests"] >= 1 and logged["llm_judge/undecided"] == logged["llm_judge/requests"]
    assert "rewards/llm_judge_reward/mean" in logged
    assert len(server.requests) == reward.cost["requests"] >= 1
    reward.close()
