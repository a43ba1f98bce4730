"""The gold audit and majority answers (issue 25, item 4): real math-verify on traces written the way R1 distills
end them, parsed by the `r1` style's own parser as generation does; the verify CLI's report and the card."""

from __future__ import annotations

import json

import pytest
from datasets import Dataset

from openr1_data.cli import main as cli_main
from openr1_data.curate.answer_verifier import AnswerVerifier
from openr1_data.curate.gold_audit import audit_golds, largest_agreement
from openr1_data.curate.verify import VerifyConfig, verify_traces
from openr1_data.io import read_dataset, write_dataset
from openr1_data.prompts import get_style
from openr1_data.publish import publish_local

ENDINGS = [
    "<think>\nLet me set up the equation carefully. {work}\n</think>\nTherefore, the answer is $\\boxed{{{answer}}}$.",
    "<think>\nOkay, so the question asks for a value. {work}\n</think>\n\n**Final Answer**\n\\[\n\\boxed{{{answer}}}\n\\]",
    "<think>\nHmm, {work} Wait, let me double-check that.\n</think>\nThe result is $\\boxed{{{answer}}}$.",
]


def completion(answer: str | None, k: int) -> str:
    if answer is None:  # the model ran out of tokens mid-thought
        return "<think>\nLet me count the cases one by one, first the ones where"
    return ENDINGS[k % len(ENDINGS)].format(answer=answer, work=f"Step {k}: combining the terms.")


def traces(problems: list[tuple[str | None, list[str | None]]]) -> Dataset:
    """One trace per sample answer, as generation writes them (the r1 parser fills predicted_answer)."""
    style = get_style("r1")
    rows = []
    for p, (gold, answers) in enumerate(problems):
        for k, answer in enumerate(answers):
            text = completion(answer, k)
            parsed = style.parse(text, {})
            rows.append(
                {
                    "problem": f"Problem {p}: find the value.",
                    "problem_id": f"p{p}",
                    "answer": gold,
                    "sample_index": k,
                    "completion": text,
                    "final": parsed.final,
                    "predicted_answer": parsed.predicted_answer,
                    "prompt_style": "r1",
                }
            )
    return Dataset.from_list(rows)


CONFIG = VerifyConfig(verify_num_proc=0, progress=False)

# (gold, the samples' boxed answers (None: no answer), gold_suspect, majority_answer, its share): the default
# thresholds, 3+ samples and 75% of all the problem's samples.
AUDIT = [
    ("12", ["15", "15", "\\frac{30}{2}", "12"], True, "15", 0.75),  # 3 of 4 agree on 15 (two spellings of it)
    ("12", ["15", "15.0", "15", "15"], True, "15", 1.0),  # every sample: the gold is almost surely wrong
    ("12", ["15", "15", "15", None], True, "15", 0.75),  # an unanswered sample still counts among the samples
    ("yes", ["no", "\\text{No}", "no", "yes"], True, "no", 0.75),  # a gold in words, compared as text
    ("\\frac{1}{2}", ["0.5", "\\frac12", "3", "4"], False, None, None),  # the samples agree with the gold
    ("12", ["15", "15", "12", "12"], False, None, None),  # a split: 50% is no majority
    ("12", ["15", "15"], False, None, None),  # all agree, but two samples are too few to outvote a gold
    ("12", ["15", "15", "15", "13", "14"], False, None, None),  # 3 of 5: 60% < 75%
    ("12", ["15", "16", "17", "18"], False, None, None),  # all wrong, no agreement
    ("12", ["15", "15", None, None], False, None, None),  # 2 of 4
    ("x^2+2x+1", ["(x+1)^2", "(x+1)^2", "x^2+1", "(x+1)^2"], False, None, None),  # equal expressions
]


@pytest.mark.parametrize(("gold", "answers", "suspect", "majority", "share"), AUDIT)
def test_gold_audit_flags_problems_whose_samples_agree_on_another_answer(
    gold, answers, suspect, majority, share
):
    ds = traces([(gold, answers)])
    verified = verify_traces(ds, CONFIG).kept
    audited, report = audit_golds(verified, CONFIG)
    n = len(answers)
    assert audited["gold_suspect"] == [suspect] * n
    assert audited["majority_answer"] == [majority] * n and audited["majority_share"] == [share] * n
    assert report["with_gold"] == 1 and report["gold_suspect"] == int(suspect)
    if suspect:
        agreeing = round(share * n)
        assert report["suspects"] == [
            {"problem": "p0", "gold": gold, "majority_answer": majority, "agreeing": agreeing, "samples": n}
        ]
    # The audit only flags: golds and verdicts stay as verification left them.
    assert audited["answer"] == ds["answer"] and audited["correct"] == verified["correct"]
    assert "answer_source" not in audited.column_names  # majority answers are off by default


def test_the_thresholds_are_settings():
    ds = verify_traces(traces([("12", ["15", "15", "15", "13", "14"])]), CONFIG).kept
    loose = VerifyConfig(verify_num_proc=0, progress=False, agreement_share=0.6)
    assert audit_golds(ds, loose)[0]["gold_suspect"][0] is True
    strict = VerifyConfig(verify_num_proc=0, progress=False, agreement_share=0.6, agreement_count=4)
    assert audit_golds(ds, strict)[0]["gold_suspect"][0] is False
    off = VerifyConfig(verify_num_proc=0, progress=False, agreement_share=0.6, gold_audit=False)
    assert audit_golds(ds, off)[0]["gold_suspect"][0] is None
    for bad in ({"agreement_share": 0.5}, {"agreement_share": 1.5}, {"agreement_count": 1}):
        with pytest.raises(ValueError, match="agreement_"):
            VerifyConfig(**bad)


def test_problems_without_a_gold_get_a_majority_answer_only_when_asked():
    problems = [
        (None, ["42", "42.0", "42", "41"]),  # 3 of 4 agree: voted
        (None, ["7", "8", "9", "7"]),  # no strong majority: stays without an answer
        ("5", ["5", "5", "5", "6"]),  # a gold: untouched
    ]
    verified = verify_traces(traces(problems), CONFIG).kept
    assert verified["verify_error"][:8] == ["gold_missing"] * 8
    same, report = audit_golds(verified, CONFIG)
    assert same["answer"][:8] == [None] * 8 and same["correct"][:8] == [None] * 8
    assert report["without_gold"] == 2 and report["majority_answers"] == 0

    voting = VerifyConfig(verify_num_proc=0, progress=False, majority_answers=True)
    voted, report = audit_golds(verified, voting)
    assert voted["answer"] == ["42"] * 4 + [None] * 4 + ["5"] * 4
    assert voted["answer_source"] == ["majority"] * 4 + [None] * 4 + ["gold"] * 4
    assert voted["correct"] == [True, True, True, False] + [None] * 4 + [True, True, True, False]
    assert voted["verify_error"][:8] == [None] * 4 + ["gold_missing"] * 4
    assert voted["majority_share"][:4] == [0.75] * 4 and voted["gold_suspect"][:8] == [None] * 8
    assert report["majority_answers"] == 1
    assert report["voted"] == [
        {"problem": "p0", "gold": None, "majority_answer": "42", "agreeing": 3, "samples": 4}
    ]


def test_mcq_rows_are_not_audited():
    ds = Dataset.from_list(
        [
            {
                "problem_id": "q",
                "answer": "B",
                "choices": ["a", "b", "c", "d"],
                "final": f"\\boxed{{{x}}}",
                "predicted_answer": x,
                "completion": "...",
            }
            for x in ("A", "A", "A", "A")
        ]  # fmt: skip
    )
    audited, report = audit_golds(verify_traces(ds, CONFIG).kept, CONFIG)
    assert audited["gold_suspect"] == [None] * 4 and report["problems"] == 0


def test_largest_agreement_groups_equal_answers_and_keeps_the_common_spelling():
    verifier = AnswerVerifier()
    agreement = largest_agreement(["\\frac12", "0.5", "0.5", "1/3", None, ""], 6, verifier)
    assert agreement is not None
    assert (agreement.answer, agreement.count, agreement.samples) == ("0.5", 3, 6)
    assert largest_agreement([None, " "], 2, verifier) is None


def test_verify_cli_reports_the_audit_and_the_card_states_it(tmp_path, capsys):
    problems = [("12", ["15", "15", "15", "12"]), ("7", ["7", "7", "8", "7"]), (None, ["9", "9", "9", "9"])]
    ds = traces(problems).map(lambda r: {"trace_id": f"{r['problem_id']}-{r['sample_index']}"})
    ds = ds.map(
        lambda r: {
            "source": "toy",
            "teacher": "t",
            "finish_reason": "stop",
            "completion_tokens": 50,
            "reasoning": "r",
        }
    )
    write_dataset(ds, tmp_path / "gen")
    out = tmp_path / "verified"
    code = cli_main(["verify", "--input", str(tmp_path / "gen"), "--output_dir", str(out), "--verify_num_proc", "0",
                     "--majority_answers", "true"])  # fmt: skip
    assert code == 0
    assert "gold audit (3+ samples and 75% agree): 1 of 2 problems' golds suspect" in capsys.readouterr().out
    report = json.loads((out / "verify_report.json").read_text())["gold_audit"]
    assert (report["gold_suspect"], report["majority_answers"]) == (1, 1)
    assert report["suspects"][0]["majority_answer"] == "15"

    verified = read_dataset(out)
    published = publish_local(
        tmp_path / "dataset", verified.filter(lambda r: r["correct"] is True), all_traces=verified
    )
    text = (published.folder / "README.md").read_text()
    assert "## Gold audit" in text
    assert "**1 of 2 problem(s) with a gold answer are flagged\n`gold_suspect`**" in text
    assert "| p0 | 12 | 15 | 75% |" in text
    assert "**1 problem(s) had no gold answer: their answer is the majority vote of their samples**" in text
    assert "| p2 | 9 | 100% |" in text


def test_the_card_says_when_no_gold_was_outvoted(tmp_path):
    ds = traces([("7", ["7", "7", "8", "7"])]).map(
        lambda r: {"trace_id": f"t{r['sample_index']}", "source": "toy", "teacher": "t", "finish_reason": "stop",
                   "completion_tokens": 50, "reasoning": "r"}
    )  # fmt: skip
    audited, _ = audit_golds(verify_traces(ds, CONFIG).kept, CONFIG)
    published = publish_local(
        tmp_path / "dataset", audited.filter(lambda r: r["correct"] is True), all_traces=audited
    )
    text = (published.folder / "README.md").read_text()
    assert "None of the 1 problem(s) with a gold answer is flagged `gold_suspect`" in text
    unaudited = publish_local(tmp_path / "plain", ds.add_column("correct", [True] * len(ds)), overwrite=True)
    assert "## Gold audit" not in (unaudited.folder / "README.md").read_text()
