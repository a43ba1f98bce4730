"""The verifier audit (issue 25, item 3): the second-opinion cascade on answers math-verify gets wrong and right,
`verify --audit_sample` with real math-verify on traces parsed as generation parses them, the judge step through a
real local OpenAI-compatible server, and the card's section."""

from __future__ import annotations

import json

import pytest

from openr1_data.cli import main as cli_main
from openr1_data.curate.verifier_audit import (
    AUDIT_CORRECT,
    AUDIT_METHOD,
    AuditConfig,
    audit_line,
    audit_verdicts,
    normalize_answer,
    read_number,
    second_opinion,
)
from openr1_data.curate.verify import VerifyConfig, verify_traces
from openr1_data.io import read_dataset, write_dataset
from openr1_data.publish import publish_local
from tests.scripted_openai import ScriptedOpenAIServer
from tests.test_gold_audit import traces

# (gold, answer, the audit's verdict, the step that decides it)
CASCADE = [
    ("10455", "10\\,455", True, "string"),  # math-verify reads the thin space as a sum: a false negative
    ("1000", "1,000", True, "string"),
    ("3", "x = 3", True, "string"),
    ("\\frac{1}{2}", "\\dfrac{1}{2}", True, "string"),
    ("yes", "\\text{Yes}.", True, "string"),  # a gold in words: the same words
    ("yes", "sey", False, "string"),  # not a product of one-letter symbols
    ("forty two", "42", None, "undecided"),  # a number against words: no opinion
    ("\\frac{1}{2}", "0.5", True, "numeric"),
    ("50\\%", "0.5", True, "numeric"),
    ("6.02\\times10^{23}", "6.02e23", True, "numeric"),  # math-verify reads e as Euler's number
    ("42", "41", False, "numeric"),
    ("-\\frac{1}{2}", "-0.5", True, "numeric"),
    ("2\\sqrt{3}", "\\sqrt{12}", True, "symbolic"),
    ("x^2+2x+1", "(x+1)^2", True, "symbolic"),
    ("x^2", "y^2", False, "symbolic"),
    ("\\pi", "3.14159", False, "symbolic"),
    ("(1, 2]", "[1, 2]", None, "undecided"),  # intervals are left to the judge
]


@pytest.mark.parametrize(("gold", "answer", "verdict", "step"), CASCADE)
def test_the_cascade(gold, answer, verdict, step):
    assert second_opinion(gold, answer) == (verdict, step)


def test_normalisation_and_numbers():
    assert normalize_answer("$\\boxed{\\text{10,455}}$.") == "10455"
    assert normalize_answer("\\left( 1, 2 \\right)") == "(1,2)"
    assert read_number("\\frac{3}{4}") == (0.75, False)
    assert read_number("12.5\\%") == (12.5, True)
    assert read_number("x + 1") is None


def _verified(problems):
    ds = traces(problems)
    return verify_traces(ds, VerifyConfig(verify_num_proc=0, progress=False)).kept


def test_audit_estimates_suspected_false_negatives_and_positives():
    # math-verify says wrong on 10,455 with a thin space (its limitation) and on 41; right on the others.
    verified = _verified(
        [("10455", ["10\\,455", "10455"]), ("42", ["41", "42"]), ("\\frac12", ["0.5", "0.50"])]
    )
    assert verified["correct"] == [False, True, False, True, True, True]
    audited, summary = audit_verdicts(verified, AuditConfig(audit_sample=100))
    assert audited[AUDIT_CORRECT] == [True, True, False, True, True, True]
    assert audited[AUDIT_METHOD] == ["string", "string", "numeric", "string", "numeric", "numeric"]
    assert summary is not None and summary["sampled"] == summary["eligible"] == 6
    fn, fp = summary["suspected_false_negatives"], summary["suspected_false_positives"]
    assert (fn["count"], fn["of"], fn["rate"]) == (1, 2, 0.5)
    assert 0 < fn["low"] < 0.5 < fn["high"] < 1  # a Wilson interval on two traces is wide
    assert (fp["count"], fp["of"]) == (0, 4) and fp["low"] == 0.0 and fp["high"] > 0.4
    assert summary["false_negative_examples"][0]["answer"] == "10\\,455"
    assert "suspected false negatives 1/2 = 50.0%" in audit_line(summary)


def test_the_sample_is_seeded_and_skips_traces_without_an_answer():
    verified = _verified([("7", ["7", None, "8", "7", "7", "9"])])
    first, summary = audit_verdicts(verified, AuditConfig(audit_sample=3, audit_seed=1))
    again, _ = audit_verdicts(verified, AuditConfig(audit_sample=3, audit_seed=1))
    assert first[AUDIT_METHOD] == again[AUDIT_METHOD]
    sampled = [i for i, m in enumerate(first[AUDIT_METHOD]) if m is not None]
    assert len(sampled) == 3 and 1 not in sampled  # the unanswered trace is never drawn
    assert summary is not None and summary["eligible"] == 5
    assert audit_verdicts(verified, AuditConfig())[1] is None  # no sample: no audit, no columns
    with pytest.raises(ValueError, match="audit_sample"):
        AuditConfig(audit_sample=-1)


def _generated(tmp_path, problems):
    ds = traces(problems).map(
        lambda r: {"trace_id": f"{r['problem_id']}-{r['sample_index']}", "source": "toy", "teacher": "t",
                   "finish_reason": "stop", "completion_tokens": 50, "reasoning": "r"}
    )  # fmt: skip
    write_dataset(ds, tmp_path / "gen")
    return tmp_path / "gen"


def test_verify_cli_audits_and_the_card_shows_the_rates(tmp_path, capsys):
    gen = _generated(tmp_path, [("10455", ["10\\,455", "10455", "10455"]), ("42", ["41", "42", "42"])])
    out = tmp_path / "verified"
    code = cli_main(["verify", "--input", str(gen), "--output_dir", str(out), "--verify_num_proc", "0",
                     "--audit_sample", "6"])  # fmt: skip
    assert code == 0
    assert (
        "verifier audit: 6 traces sampled, 6 decided; suspected false negatives 1/2"
        in capsys.readouterr().out
    )
    report = json.loads((out / "verify_report.json").read_text())["verifier_audit"]
    assert report["suspected_false_negatives"]["count"] == 1 and report["judge"] is False

    verified = read_dataset(out)
    published = publish_local(
        tmp_path / "dataset", verified.filter(lambda r: r["correct"] is True), all_traces=verified
    )
    text = (published.folder / "README.md").read_text()
    assert "## Verifier audit" in text
    assert (
        "| suspected false negatives (math-verify said wrong, the audit says right) | 50% (9-91%) 1/2 |"
        in text
    )
    assert (
        "| suspected false positives (math-verify said right, the audit says wrong) | 0% (0-49%) 0/4 |"
        in text
    )
    assert "| 10455 | 10\\,455 | False | True (string) |" in text
    plain = publish_local(tmp_path / "plain", read_dataset(gen).add_column("correct", [True] * 6))
    assert "## Verifier audit" not in (plain.folder / "README.md").read_text()


def test_the_judge_decides_what_the_rules_cannot(tmp_path):
    gen = _generated(tmp_path, [("(1, 2]", ["[1, 2]", "(1,2]"])])
    out = tmp_path / "verified"
    with ScriptedOpenAIServer(lambda body, _: "no") as server:
        code = cli_main(["verify", "--input", str(gen), "--output_dir", str(out), "--verify_num_proc", "0",
                         "--audit_sample", "2", "--judge_model", "scripted", "--judge_base_url", server.base_url,
                         "--judge_progress", "false"])  # fmt: skip
        asked = len(server.requests)
    assert code == 0 and asked == 1  # only the pair the rules left undecided
    verified = read_dataset(out)
    assert verified[AUDIT_METHOD] == ["judge", "string"] and verified[AUDIT_CORRECT] == [False, True]
    report = json.loads((out / "verify_report.json").read_text())["verifier_audit"]
    assert report["judge"] is True and report["methods"] == {"judge": 1, "string": 1}


def test_a_judge_without_an_audit_is_a_user_error(tmp_path):
    gen = _generated(tmp_path, [("7", ["7"])])
    code = cli_main(
        ["verify", "--input", str(gen), "--output_dir", str(tmp_path / "v"), "--judge_model", "m"]
    )
    assert code == 2
