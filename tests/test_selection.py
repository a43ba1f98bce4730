"""Selection across the samples of a problem and the pass-rate filter."""

from __future__ import annotations

import pytest
from datasets import Dataset

from openr1_data.curate.selection import SelectionConfig, pass_rate_reason, select_traces
from openr1_data.schema import REJECT_REASON, REJECT_STAGE, ContractError

# problem -> list of (correct, completion_tokens, verify_error); sample_index is the position.
PROBLEMS = {
    "easy": [(True, 50, None), (True, 30, None), (True, 40, None), (True, 60, None)],  # pass rate 1.0
    "mid": [(True, 80, None), (False, 20, None), (True, 70, None), (False, 90, "no_answer")],  # 0.5
    "hard": [(False, 10, None), (False, 15, None), (True, 99, None), (False, 5, None)],  # 0.25
    "none": [(False, 10, None)] * 4,  # 0.0
    "bad_gold": [(None, 10, "gold_unparseable")] * 4,  # unknown
}


def _traces() -> Dataset:
    rows = []
    for pid, samples in PROBLEMS.items():
        for i, (correct, tokens, error) in enumerate(samples):
            rows.append(
                {
                    "problem_id": pid,
                    "sample_index": i,
                    "trace_id": f"{pid}-{i}",
                    "correct": correct,
                    "verify_error": error,
                    "completion_tokens": tokens,
                    "completion": "x" * tokens,
                }
            )
    return Dataset.from_list(rows)


def _kept(result) -> list[str]:
    return list(result.kept["trace_id"])


def _check_counts(result, n: int) -> None:
    assert result.stats.rows_in == n == len(result.kept) + len(result.rejected)
    assert sum(result.stats.rejected.values()) == len(result.rejected)
    assert set(result.rejected[REJECT_STAGE]) <= {"select"}


def test_keep_all_correct_traces_with_reasons_for_the_rest():
    ds = _traces()
    result = select_traces(ds, SelectionConfig())
    _check_counts(result, len(ds))
    assert _kept(result) == ["easy-0", "easy-1", "easy-2", "easy-3", "mid-0", "mid-2", "hard-2"]
    assert result.stats.rejected == {"incorrect": 8, "no_answer": 1, "gold_unparseable": 4}


def test_k_shortest_correct_per_problem():
    result = select_traces(_traces(), SelectionConfig(per_problem=2))
    _check_counts(result, 20)
    assert _kept(result) == ["easy-1", "easy-2", "mid-0", "mid-2", "hard-2"]
    assert result.stats.rejected["not_among_2_shortest"] == 2  # easy-0 (50) and easy-3 (60)


def test_one_per_problem_first_sample():
    result = select_traces(_traces(), SelectionConfig(per_problem=1, prefer="first"))
    assert _kept(result) == ["easy-0", "mid-0", "hard-2"]


def test_pass_rate_filter_keeps_problems_in_range_and_records_the_rate():
    ds = _traces()
    result = select_traces(ds, SelectionConfig(keep="all", pass_rate_low=0.25, pass_rate_high=0.75))
    _check_counts(result, len(ds))
    assert sorted(set(result.kept["problem_id"])) == ["hard", "mid"]
    assert result.stats.rejected == {
        "pass_rate_above_high": 4,
        "pass_rate_below_low": 4,
        "pass_rate_unknown": 4,
    }
    rates = dict(zip(result.kept["problem_id"], result.kept["pass_rate"], strict=True))
    assert rates == {"mid": 0.5, "hard": 0.25}
    assert result.rejected["pass_rate"][-1] is None  # bad_gold: no verdicts


def test_rl_problem_set_one_row_per_mid_difficulty_problem():
    config = SelectionConfig(keep="all", per_problem=1, prefer="first", pass_rate_low=0.2, pass_rate_high=0.8)
    result = select_traces(_traces(), config)
    assert _kept(result) == ["mid-0", "hard-0"]
    assert result.stats.rejected["not_among_1_first"] == 6


def test_pass_rate_bounds_are_inclusive():
    assert pass_rate_reason(0.2, 0.2, 0.8) is None
    assert pass_rate_reason(0.8, 0.2, 0.8) is None
    assert pass_rate_reason(0.19, 0.2, 0.8) == "pass_rate_below_low"
    assert pass_rate_reason(None, 0.2, None) == "pass_rate_unknown"
    assert pass_rate_reason(None, None, None) is None


def test_selection_needs_verdicts_and_valid_settings():
    unverified = _traces().remove_columns(["correct"])
    with pytest.raises(ContractError, match="'correct'"):
        select_traces(unverified)
    assert len(select_traces(unverified, SelectionConfig(keep="all", per_problem=1)).kept) == 5
    with pytest.raises(ValueError, match="above pass_rate_high"):
        SelectionConfig(pass_rate_low=0.9, pass_rate_high=0.1)
    with pytest.raises(ValueError, match="keep"):
        SelectionConfig(keep="best")


def test_rejected_rows_carry_their_reason():
    result = select_traces(_traces(), SelectionConfig(per_problem=1))
    reasons = dict(zip(result.rejected["trace_id"], result.rejected[REJECT_REASON], strict=True))
    assert reasons["mid-0"] == "not_among_1_shortest" and reasons["mid-3"] == "no_answer"
    assert reasons["bad_gold-0"] == "gold_unparseable"
