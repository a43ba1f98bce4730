"""Selection across the samples of a problem and the pass-rate filter."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from datasets import Dataset

from openr1_data.curate.selection import SelectionConfig, pass_rate_reason, select_traces
from openr1_data.io import read_dataset
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


# ---------------------------------------------------------------------------------------------------------------
# The strategies of the field's ablations, on traces verified by math-verify
# ---------------------------------------------------------------------------------------------------------------

# problem id -> (problem, source, topic, gold, [(boxed answer, completion tokens) per sample])
CORPUS = {
    "a1": ("What is 3 + 4?", "grade", "arithmetic", "7", [("7", 30), ("7", 50), ("8", 20), ("7", 40)]),  # 3 of 4
    "a2": ("What is 3 + 5?", "grade", "arithmetic", "8", [("8", 10), ("8", 12), ("8", 14), ("8", 16)]),  # 4
    "a3": ("What is 12 times 12?", "grade", "arithmetic", "144",
           [("144", 200), ("124", 220), ("140", 180), ("144", 210)]),  # 2
    "g1": ("A square has side 5. What is its area?", "olympiad", "geometry", "25",
           [("25", 300), ("20", 320), ("10", 280), ("5", 260)]),  # 1
    "g2": ("A circle has radius 1. What is its area?", "olympiad", "geometry", "\\pi",
           [("\\pi", 400), ("\\pi", 500), ("3", 450), ("2\\pi", 420)]),  # 2
    "n1": ("What is the remainder when 17 is divided by 5?", "olympiad", "number_theory", "2",
           [("3", 90), ("1", 80), ("4", 70), ("0", 60)]),  # 0
    "n2": ("How many primes are below 10?", "web", "number_theory", "4",
           [("4", 100), ("5", 110), ("6", 120), ("4", 130)]),  # 2
}  # fmt: skip


def verified_corpus(corpus: dict = CORPUS) -> Dataset:
    """Traces with boxed answers, verified by math-verify (`correct` is its verdict, not set by hand)."""
    from openr1_data.curate.verify import VerifyConfig, verify_traces

    rows = []
    for pid, (problem, source, topic, gold, samples) in corpus.items():
        for i, (boxed, tokens) in enumerate(samples):
            reasoning = f"Working on: {problem}"
            rows.append({
                "problem": problem, "answer": gold, "source": source, "topic": topic, "problem_id": pid,
                "sample_index": i, "trace_id": f"{pid}-{i}", "prompt_style": "r1", "finish_reason": "stop",
                "completion": f"<think>\n{reasoning}\n</think>\n\\boxed{{{boxed}}}", "reasoning": reasoning,
                "final": f"\\boxed{{{boxed}}}", "predicted_answer": boxed, "completion_tokens": tokens,
            })  # fmt: skip
    return verify_traces(Dataset.from_list(rows), VerifyConfig(verify_num_proc=0)).kept


@pytest.fixture(scope="module")
def corpus() -> Dataset:
    ds = verified_corpus()
    truth = [
        CORPUS[p][4][i][0] == CORPUS[p][3] for p, i in zip(ds["problem_id"], ds["sample_index"], strict=True)
    ]
    assert ds["correct"] == truth  # math-verify agrees with the intended verdicts (\pi included)
    return ds


def _reasons(result) -> dict[str, str]:
    return dict(zip(result.rejected["trace_id"], result.rejected[REJECT_REASON], strict=True))


def test_keep_incorrect_keeps_only_the_wrong_traces(corpus):
    result = select_traces(corpus, SelectionConfig(keep="incorrect"))
    _check_counts(result, len(corpus))
    assert all(c is False for c in result.kept["correct"]) and len(result.kept) == 14
    assert result.stats.rejected == {"correct": 14}
    assert {"a2-0", "a2-3"} <= set(_reasons(result))


def test_every_answer_up_to_k_per_question(corpus):
    """OpenThoughts3's winner: keep all answers, right or wrong, at most k per question."""
    result = select_traces(corpus, SelectionConfig(keep="all", per_problem=2, prefer="first"))
    _check_counts(result, len(corpus))
    assert sorted(result.kept["trace_id"]) == sorted(f"{p}-{i}" for p in CORPUS for i in (0, 1))
    assert result.stats.rejected == {"not_among_2_first": 14}
    longest = select_traces(corpus, SelectionConfig(keep="all", per_problem=1, prefer="longest"))
    assert set(longest.kept["trace_id"]) == {"a1-1", "a2-3", "a3-1", "g1-1", "g2-1", "n1-0", "n2-3"}


def test_limo_window_on_counts_keeps_the_correct_traces_of_problems_solved_1_to_3_times(corpus):
    config = SelectionConfig(keep="correct", pass_count_low=1, pass_count_high=3)
    result = select_traces(corpus, config)
    _check_counts(result, len(corpus))
    assert set(result.kept["problem_id"]) == {"a1", "a3", "g1", "g2", "n2"}
    assert all(result.kept["correct"]) and len(result.kept) == 3 + 2 + 1 + 2 + 2
    assert result.stats.rejected == {"pass_count_above_high": 4, "pass_count_below_low": 4, "incorrect": 10}
    assert _reasons(result)["a2-0"] == "pass_count_above_high"  # the window runs before correctness
    # The same window as a share (1-3 of 4 samples = 0.25-0.75) keeps the same traces.
    share = select_traces(corpus, SelectionConfig(keep="correct", pass_rate_low=0.25, pass_rate_high=0.75))
    assert share.kept["trace_id"] == result.kept["trace_id"]


def test_rl_problem_set_with_a_count_window_keeps_one_row_per_problem(corpus):
    from openr1_data.curate.rl_problems import select_problems_by_pass_rate

    result = select_problems_by_pass_rate(
        corpus, SelectionConfig(keep="all", pass_count_low=1, pass_count_high=3)
    )
    assert sorted(result.kept["problem_id"]) == ["a1", "a3", "g1", "g2", "n2"]
    assert result.kept["num_correct"] == [3, 2, 1, 2, 2]
    assert result.stats.rejected == {"pass_count_above_high": 1, "pass_count_below_low": 1}


def test_longest_traces_by_share(corpus):
    result = select_traces(corpus, SelectionConfig(keep="all", longest_share=0.5))
    _check_counts(result, len(corpus))
    assert len(result.kept) == 14 and result.stats.rejected == {"not_longest": 14}
    assert min(result.kept["completion_tokens"]) > max(result.rejected["completion_tokens"])


def test_longest_problems_by_mean_length_keep_their_traces(corpus):
    result = select_traces(corpus, SelectionConfig(keep="all", longest_n=2, length_unit="problem"))
    assert set(result.kept["problem_id"]) == {"g2", "g1"} and len(result.kept) == 8  # means 442.5 and 290
    # With keep=correct, problems rank by the mean of all their traces, among those with a correct trace left.
    result = select_traces(corpus, SelectionConfig(longest_n=3, length_unit="problem"))
    assert set(result.kept["problem_id"]) == {"g2", "g1", "a3"}  # n1 (75 tokens) has no correct trace
    assert result.stats.rejected["not_longest"] == 3 + 4 + 2  # the correct traces of a1, a2, n2


def test_source_quotas(corpus):
    result = select_traces(corpus, SelectionConfig(keep="all", per_source_max=3))
    _check_counts(result, len(corpus))
    assert result.kept["trace_id"] == ["a1-0", "a1-1", "a1-2", "g1-0", "g1-1", "g1-2", "n2-0", "n2-1", "n2-2"]
    assert result.stats.rejected == {"source_quota": 19}
    named = select_traces(corpus, SelectionConfig(keep="all", source_quota="{grade: 2, web: 0}"))
    assert named.kept["source"].count("grade") == 2 and "web" not in named.kept["source"]
    assert named.kept["source"].count("olympiad") == 12  # a source the quota does not name is not capped


def test_top_sources_by_pass_rate_by_given_scores_and_by_a_column(corpus):
    # mean pass rate of the problems: grade 0.75, web 0.5, olympiad 0.25
    result = select_traces(corpus, SelectionConfig(keep="all", top_sources=1))
    _check_counts(result, len(corpus))
    assert set(result.kept["source"]) == {"grade"} and result.stats.rejected == {"source_not_top": 16}
    assert set(select_traces(corpus, SelectionConfig(keep="all", top_sources=2)).kept["source"]) == {
        "grade",
        "web",
    }
    given = SelectionConfig(keep="all", top_sources=1, source_scores="{olympiad: 0.9, grade: 0.1}")
    assert set(select_traces(corpus, given).kept["source"]) == {"olympiad"}
    rated = corpus.add_column("rating", [len(s) for s in corpus["source"]])  # web 3 < grade 5 < olympiad 8
    by_column = SelectionConfig(keep="all", top_sources=1, source_score_column="rating")
    assert set(select_traces(rated, by_column).kept["source"]) == {"olympiad"}


def test_even_draw_across_a_topic_column(corpus):
    config = SelectionConfig(keep="all", per_problem=1, prefer="first", diverse_by="topic", diverse_n=5)
    result = select_traces(corpus, config)
    _check_counts(result, len(corpus))
    topics = result.kept["topic"]
    assert len(topics) == 5 and {t: topics.count(t) for t in set(topics)} == {
        "arithmetic": 2, "geometry": 2, "number_theory": 1,
    }  # fmt: skip
    assert result.stats.rejected == {"not_among_1_first": 21, "not_drawn": 2}
    assert select_traces(corpus, config).kept["trace_id"] == result.kept["trace_id"]  # deterministic
    three = select_traces(corpus, dataclasses.replace(config, diverse_n=3))
    assert sorted(three.kept["topic"]) == ["arithmetic", "geometry", "number_theory"]
    seeds = {
        tuple(select_traces(corpus, dataclasses.replace(config, diverse_seed=s)).kept["trace_id"])
        for s in range(8)
    }
    assert len(seeds) > 1  # the seed changes which rows of a topic are drawn


def test_even_draw_across_minhash_clusters_of_the_problem_text():
    apples = "Tom has 3 apples and buys some more apples at the market on Sunday morning. How many apples has he if he buys {}?"
    fence = "A rectangle has a width of {} metres and a length twice its width. Find the perimeter of the rectangle in metres."
    corpus = {f"apples{n}": (apples.format(n), "s", "t", str(3 + n), [(str(3 + n), 10)]) for n in range(1, 5)}
    corpus |= {f"fence{w}": (fence.format(w), "s", "t", str(6 * w), [(str(6 * w), 10)]) for w in range(2, 5)}
    corpus["primes"] = ("How many primes are below 10?", "s", "t", "4", [("4", 10)])
    ds = verified_corpus(corpus)
    result = select_traces(ds, SelectionConfig(keep="all", diverse_by="minhash_cluster", diverse_n=3))
    _check_counts(result, len(ds))
    families = sorted(p.rstrip("0123456789") for p in result.kept["problem_id"])
    assert families == ["apples", "fence", "primes"] and result.stats.rejected == {"not_drawn": 5}


def test_all_steps_together_run_in_the_documented_order(corpus):
    config = SelectionConfig(
        keep="all", pass_count_low=1, top_sources=2, longest_share=0.8, per_problem=2, prefer="first",
        per_source_max=3, diverse_by="topic", diverse_n=4,
    )  # fmt: skip
    result = select_traces(corpus, config)
    _check_counts(result, len(corpus))
    assert set(result.stats.rejected) == {
        "pass_count_below_low", "source_not_top", "not_longest", "not_among_2_first", "source_quota", "not_drawn",
    }  # fmt: skip
    assert select_traces(corpus, config).kept["trace_id"] == result.kept["trace_id"]
    assert config.steps()[:3] == [
        "correct samples in [1, any]",
        "every trace",
        "top 2 source(s) by mean pass_rate",
    ]


def test_strategy_settings_are_checked():
    for bad, match in [
        ({"keep": "wrong"}, "keep"),
        ({"longest_share": 0.5, "longest_n": 3}, "not both"),
        ({"longest_share": 1.5}, "longest_share"),
        ({"length_unit": "word"}, "length_unit"),
        ({"diverse_by": "topic"}, "together"),
        ({"source_quota": "[1, 2]"}, "source_quota"),
        ({"source_quota": "{grade: -1}"}, "grade"),
        ({"source_scores": "{grade: 1}"}, "top_sources"),
        ({"pass_count_low": 3, "pass_count_high": 1}, "above pass_count_high"),
        ({"prefer": "random"}, "prefer"),
    ]:
        with pytest.raises(ValueError, match=match):
            SelectionConfig(**bad)


def test_missing_columns_name_the_fix(corpus):
    with pytest.raises(ContractError, match="'source'"):
        select_traces(corpus.remove_columns(["source"]), SelectionConfig(keep="all", per_source_max=2))
    with pytest.raises(ContractError, match="'domain'"):
        select_traces(corpus, SelectionConfig(keep="all", diverse_by="domain", diverse_n=2))


def test_filter_cli_lists_the_strategies_and_runs_longest_share(tmp_path, corpus, capsys):
    from openr1_data import cli

    with pytest.raises(SystemExit):
        cli.main(["filter", "--help"])
    usage = capsys.readouterr().out
    for flag in ("--keep", "--pass_count_low", "--longest_share", "--longest_n", "--length_unit", "--top_sources",
                 "--source_quota", "--per_source_max", "--diverse_by", "--diverse_n"):  # fmt: skip
        assert flag in usage, flag
    source = tmp_path / "verified.parquet"
    corpus.to_parquet(str(source))
    out = tmp_path / "longest"
    assert cli.main(["filter", "--input", str(source), "--output_dir", str(out), "--keep", "all",
                     "--require_think", "false", "--longest_share", "0.5"]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "not_longest: 14" in printed and "longest 50% of traces" in printed
    funnel = json.loads((out / "funnel.json").read_text())["stages"]
    assert funnel[-1] == {"stage": "select", "rows_in": 28, "rows_out": 14, "rejected": {"not_longest": 14}}
    assert json.loads((out / "select_report.json").read_text())["steps"] == [
        "every trace",
        "longest 50% of traces by completion tokens",
    ]
    assert len(read_dataset(out)) == 14 and set(read_dataset(out / "rejected" / "select")[REJECT_REASON]) == {
        "not_longest"
    }
    assert cli.main(["filter", "--input", str(source), "--output_dir", str(out), "--longest_n", "0"]) == 2
    assert "--longest_n must be >= 1" in capsys.readouterr().err


def test_the_16_samples_preset_parses_for_generate():
    from openr1_data.config import parse_config
    from openr1_data.generate.stage import GenerationConfig
    from openr1_data.sources.problems import ProblemSourceConfig

    recipe = Path(__file__).resolve().parents[1] / "pipelines" / "recipes" / "generate_16_samples.yaml"
    _, gen = parse_config(
        [ProblemSourceConfig, GenerationConfig], ["--config", str(recipe), "--problems", "bundled"]
    )
    assert gen.num_generations == 16
