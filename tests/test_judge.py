"""The LLM judge through the real OpenAI teacher against a real HTTP server whose replies are scripted."""

from __future__ import annotations

import pytest
from datasets import Dataset, Value

from openr1_data.cli import main as cli_main
from openr1_data.curate.llm_judge import (
    JudgeConfig,
    apply_judge_policy,
    apply_policy,
    judge_traces,
    parse_judge_reply,
)
from openr1_data.curate.selection import SelectionConfig, select_traces
from openr1_data.curate.verify import VerifyConfig, verify_traces
from openr1_data.io import read_dataset, write_dataset
from openr1_data.schema import ContractError
from openr1_data.teachers.openai_backend import OpenAITeacher
from tests.scripted_openai import ScriptedOpenAIServer

# the judge's scripted reply per problem (the problem text is the tag)
REPLIES = {
    "p-ok": "No",
    "p-wrong": "Yes",
    "p-yes": "Yes",
    "p-no": "no.",
    "p-maybe": "maybe",
    "p-think": "<think>\nThe student wrote seven, which is 7.\n</think>\nYES",
}
UNPARSEABLE_GOLD = "\\frac{"  # math-verify cannot parse it: its verdict is None ("gold_unparseable")


def scripted_reply(body: dict, index: int) -> str:
    user = body["messages"][-1]["content"]
    for tag, reply in REPLIES.items():
        if f"Problem:\n{tag}\n" in user:
            return reply
    return "unscripted question"


def trace(problem, answer, predicted, final, finish="stop", sample_index=0):
    return {
        "problem": problem,
        "answer": answer,
        "predicted_answer": predicted,
        "final": final,
        "finish_reason": finish,
        "sample_index": sample_index,
    }


@pytest.fixture(scope="module")
def verified() -> Dataset:
    rows = [
        trace("p-ok", "7", "7", "so \\boxed{7}"),  # math-verify: True -> not sent
        trace("p-wrong", "7", "8", "so \\boxed{8}"),  # math-verify: False with a read answer -> not sent
        trace("p-yes", "7", None, "The result is seven."),  # no answer read: a format mismatch -> sent
        trace("p-yes", "7", None, "The result is seven.", sample_index=1),  # same question: asked once
        trace("p-no", UNPARSEABLE_GOLD, "3", "\\boxed{3}"),  # math-verify: None -> sent
        trace("p-maybe", UNPARSEABLE_GOLD, "4", "\\boxed{4}"),  # None -> sent, reply neither yes nor no
        trace("p-think", "7", None, "seven it is"),  # no answer read -> sent, judge thinks first
        trace("p-trunc", "7", None, "I am still thinking about", finish="length"),  # cut, no answer: skipped
        trace("p-nogold", "", "5", "\\boxed{5}"),  # nothing to compare with: skipped
    ]
    return verify_traces(Dataset.from_list(rows), VerifyConfig(verify_num_proc=0, progress=False)).kept


@pytest.fixture
def server():
    with ScriptedOpenAIServer(scripted_reply) as running:
        yield running


def judge(server) -> OpenAITeacher:
    return OpenAITeacher("judge-model", base_url=server.base_url, max_concurrency=4)


def by_problem(dataset: Dataset, column: str) -> dict:
    return {(r["problem"], r["sample_index"]): r[column] for r in dataset}


def test_math_verify_verdicts_of_the_fixture(verified):
    # the premise of the judge tests: which rows math-verify settled and which it could not
    got = by_problem(verified, "correct")
    assert got[("p-ok", 0)] is True and got[("p-wrong", 0)] is False
    assert got[("p-yes", 0)] is False and got[("p-think", 0)] is False  # no answer read
    assert got[("p-no", 0)] is None and got[("p-maybe", 0)] is None  # gold unparseable


def test_judge_records_yes_no_undecided_and_sends_only_rows_that_need_it(verified, server):
    config = JudgeConfig(judge_model="judge-model", judge_progress=False)
    result = judge_traces(verified, config, teacher=judge(server))
    judged, stats = result.kept, result.report

    # one request per distinct question: p-yes (two rows), p-no, p-maybe, p-think
    asked = sorted(r["messages"][-1]["content"].split("\n")[1] for r in server.requests)
    assert asked == ["p-maybe", "p-no", "p-think", "p-yes"]
    for request in server.requests:  # greedy, short, strict yes/no prompt with the gold and the answer
        assert request["temperature"] == 0.0 and request["max_tokens"] == config.judge_max_new_tokens
        assert (
            request["messages"][0]["role"] == "system" and "Yes or No" in request["messages"][-1]["content"]
        )
    p_yes = next(r for r in server.requests if "Problem:\np-yes\n" in r["messages"][-1]["content"])
    assert "Reference answer:\n7\n" in p_yes["messages"][-1]["content"]
    assert "The result is seven." in p_yes["messages"][-1]["content"]  # no extracted answer: the final text

    verdicts = by_problem(judged, "correct_judge")
    replies = by_problem(judged, "judge_reply")
    assert verdicts[("p-yes", 0)] is True and verdicts[("p-yes", 1)] is True
    assert verdicts[("p-think", 0)] is True  # a leading think block is tolerated
    assert verdicts[("p-no", 0)] is False  # "no." with its period
    assert verdicts[("p-maybe", 0)] is None and replies[("p-maybe", 0)] == "maybe"  # undecided, reply kept
    for key in [("p-ok", 0), ("p-wrong", 0), ("p-trunc", 0), ("p-nogold", 0)]:
        assert verdicts[key] is None and replies[key] is None  # never sent

    assert (stats.sent, stats.requests) == (5, 4)
    assert (stats.yes, stats.no, stats.undecided) == (3, 1, 1)
    assert stats.not_needed == 2 and stats.skipped == {"truncated": 1, "no_gold": 1}
    assert stats.rows == len(verified) == stats.sent + stats.not_needed + sum(stats.skipped.values())

    # default policy judge_if_undecided: the judge decides only where math-verify had no verdict
    final = by_problem(judged, "correct")
    assert final[("p-no", 0)] is False and final[("p-maybe", 0)] is None  # undecided stays undecided
    assert final[("p-yes", 0)] is False  # math-verify said False (no answer read): kept under this policy
    assert by_problem(judged, "correct_math_verify") == by_problem(verified, "correct")
    assert stats.changed == 1
    assert "judge: yes / no / undecided" in stats.table()


def test_policies_choose_the_verdict_selection_reads(verified, server):
    judged = judge_traces(verified, JudgeConfig(judge_progress=False), teacher=judge(server)).kept
    sent = len(server.requests)

    either = apply_judge_policy(judged, "either")
    assert by_problem(either, "correct")[("p-yes", 0)] is True  # the judge recovers the format mismatch
    assert by_problem(either, "correct")[("p-think", 0)] is True
    both = apply_judge_policy(judged, "both")
    assert by_problem(both, "correct")[("p-yes", 0)] is False
    assert by_problem(both, "correct")[("p-no", 0)] is False
    only_mv = apply_judge_policy(judged, "math_verify")
    assert by_problem(only_mv, "correct") == by_problem(verified, "correct")
    assert len(server.requests) == sent  # switching policy asks nothing

    # selection reads the final `correct`: under "either" it keeps the recovered traces
    kept = select_traces(either, SelectionConfig()).kept
    assert sorted(kept["problem"]) == ["p-ok", "p-think", "p-yes", "p-yes"]


def test_scope_all_and_policy_both_on_a_rerun(verified, server):
    first = judge_traces(verified, JudgeConfig(judge_progress=False), teacher=judge(server)).kept
    config = JudgeConfig(judge_scope="all", judge_policy="both", judge_progress=False)
    result = judge_traces(first, config, teacher=judge(server))
    again, stats = result.kept, result.report
    final = by_problem(again, "correct")
    # the rerun starts from math-verify's verdicts, not from the `correct` the first run wrote
    assert by_problem(again, "correct_math_verify") == by_problem(verified, "correct")
    assert final[("p-ok", 0)] is False  # math-verify True, judge "No": both must agree
    assert final[("p-wrong", 0)] is False  # math-verify False, judge "Yes"
    assert stats.not_needed == 0 and stats.skipped == {"truncated": 1, "no_gold": 1}
    assert stats.requests == 6


@pytest.mark.parametrize(
    "reply, verdict",
    [
        ("Yes", True),
        ("yes.", True),
        ("  NO \n", False),
        ("No.", False),
        ("<think>\nhmm, 7 = 7\n</think>\n\nYes", True),
        ("hmm, 7 = 7\n</think>Yes", True),  # think opened by the chat template
        ("maybe", None),
        ("Yes, it is correct.", None),
        ("Yes!", None),
        ("**Yes**", None),
        ("No..", None),
        ("<think>still thinking", None),
        ("", None),
        (None, None),
    ],
)
def test_strict_reply_parser(reply, verdict):
    assert parse_judge_reply(reply) is verdict


def test_policy_table():
    table = {
        (True, False): {"math_verify": True, "judge_if_undecided": True, "either": True, "both": False},
        (False, True): {"math_verify": False, "judge_if_undecided": False, "either": True, "both": False},
        (None, True): {"math_verify": None, "judge_if_undecided": True, "either": True, "both": True},
        (None, None): {"math_verify": None, "judge_if_undecided": None, "either": None, "both": None},
        (False, None): {"math_verify": False, "judge_if_undecided": False, "either": False, "both": False},
    }
    for (mv, jd), expected in table.items():
        for policy, verdict in expected.items():
            assert apply_policy(mv, jd, policy) is verdict, (mv, jd, policy)


def test_cli_writes_judged_traces_and_summary(verified, server, tmp_path):
    write_dataset(verified, tmp_path / "verified")
    out = tmp_path / "judged"
    code = cli_main(
        [
            "judge",
            "--input",
            str(tmp_path / "verified"),
            "--output_dir",
            str(out),
            "--judge_model",
            "judge-model",
            "--judge_base_url",
            server.base_url,
            "--judge_policy",
            "either",
            "--judge_progress",
            "false",
        ]
    )
    assert code == 0
    judged = read_dataset(str(out))
    assert {"correct", "correct_math_verify", "correct_judge", "judge_reply"} <= set(judged.column_names)
    assert by_problem(judged, "correct")[("p-yes", 0)] is True
    assert '"undecided": 1' in (out / "judge_report.json").read_text()
    assert len(server.requests) == 4


def test_bad_input_fails_before_any_request(server):
    unverified = Dataset.from_list([trace("p-yes", "7", None, "seven")])
    with pytest.raises(ContractError, match="verif"):
        judge_traces(unverified, JudgeConfig(judge_progress=False), teacher=judge(server))
    with pytest.raises(ValueError, match="judge_policy must be one of"):
        JudgeConfig(judge_policy="majority")
    with pytest.raises(ValueError, match="judge_scope must be one of"):
        JudgeConfig(judge_scope="everything")
    with pytest.raises(ValueError, match=r"\{response\}"):
        JudgeConfig(judge_template="Is {gold} right for {problem}?")
    with pytest.raises(ValueError, match="placeholder other than"):
        JudgeConfig(judge_template="{problem} {gold} {response} {extra}")
    undecided = unverified.add_column("correct", [None], feature=Value("bool"))
    with pytest.raises(ValueError, match="--judge_model"):
        judge_traces(undecided, JudgeConfig(judge_progress=False))  # no teacher, no model
    assert server.requests == []


def test_nothing_to_judge_needs_no_judge(verified):
    settled = verified.filter(lambda r: r["problem"] in ("p-ok", "p-wrong"))
    result = judge_traces(settled, JudgeConfig(judge_progress=False))  # no model: never built
    judged, stats = result.kept, result.report
    assert stats.sent == 0 and stats.not_needed == 2
    assert judged["correct"] == settled["correct"] and judged["judge_reply"] == [None, None]


def test_a_trace_whose_server_gave_no_finish_reason_is_treated_like_a_cut_one():
    from openr1_data.curate.llm_judge import judge_reason

    config = JudgeConfig(judge_model="judge-model")
    for finish in ("length", "unknown"):  # no answer found and no word on why it ended: likely cut
        assert judge_reason(None, None, None, finish, "7", "and then", config) == "truncated"
    assert judge_reason(None, None, None, "stop", "7", "and then", config) is None
    assert judge_reason(None, None, "7", "unknown", "7", "7", config) is None  # an answer was found: judged
    assert (
        judge_reason(None, None, None, "unknown", "7", "and then", JudgeConfig(judge_truncated=True)) is None
    )
