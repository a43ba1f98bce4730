"""Difficulty by an LLM rating: the strict 1-10 parser, ratings generated through the resumable generation stage
(a real `transformers serve` of the tiny model, and a scripted judge over real HTTP for ratings that parse), and
selection of the hardest-rated share with its funnel reasons."""

from __future__ import annotations

import json

import pytest
from datasets import Dataset

from openr1_data.cli import main as cli_main
from openr1_data.curate.difficulty import RATING_STYLE, problem_ratings
from openr1_data.curate.selection import SelectionConfig, select_traces
from openr1_data.io import read_dataset
from openr1_data.prompts import get_style
from openr1_data.schema import REJECT_REASON, ContractError
from openr1_data.teachers.serve import start_transformers_serve
from tests.scripted_openai import ScriptedOpenAIServer
from tests.test_selection import CORPUS, verified_corpus

STYLE = get_style(RATING_STYLE)


@pytest.mark.parametrize(
    ("reply", "rating", "issue"),
    [
        ("7", "7", None),
        ("7/10", "7", None),
        ("Rating: 3", "3", None),
        ("difficulty = 10.", "10", None),
        ("**8**.", "8", None),
        ("<think>\nIt needs one step.\n</think>\n2", "2", None),
        ("0", None, "rating_out_of_range"),
        ("11", None, "rating_out_of_range"),
        ("7/5", None, "unparseable_rating"),
        ("6.5", None, "unparseable_rating"),
        ("7 or 8", None, "unparseable_rating"),
        ("I would say 7", None, "unparseable_rating"),
        ("seven", None, "unparseable_rating"),
        ("<think>\nhmm, maybe 7", None, "unclosed_think"),
    ],
)
def test_the_rating_is_read_strictly(reply, rating, issue):
    parsed = STYLE.parse(reply, {})
    assert (parsed.predicted_answer, parsed.parse_issue) == (rating, issue)


def test_the_question_carries_the_fixed_rubric_and_the_problem():
    messages = STYLE.build({"problem": "What is 3 + 4?"})
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "What is 3 + 4?" in messages[1]["content"] and "9-10: olympiad level" in messages[1]["content"]


def _problems_file(tmp_path) -> str:
    path = tmp_path / "problems.jsonl"
    rows = [
        {"problem": p, "answer": gold, "source": s, "problem_id": pid}
        for pid, (p, s, _, gold, _) in CORPUS.items()
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return str(path)


# the scripted judge's rating per problem (by the problem's text), and one reply that is not a rating
SCRIPTED = {"What is 3 + 4?": "1", "What is 3 + 5?": "2", "What is 12 times 12?": "3", "How many primes": "4",
            "side 5": "Rating: 6", "radius 1": "<think>\nA circle.\n</think>\n7/10", "remainder": "hard, I think"}  # fmt: skip


def _scripted(body: dict, index: int) -> str:
    question = body["messages"][-1]["content"]
    return next(reply for key, reply in SCRIPTED.items() if key in question)


def _generate(tmp_path, base_url: str, model: str, out, *extra: str) -> int:
    return cli_main(["generate", "--problems", _problems_file(tmp_path), "--prompt_styles", RATING_STYLE,
                     "--teacher_backend", "openai", "--base_url", base_url, "--teacher_model", model,
                     "--output_dir", str(out), *extra])  # fmt: skip


def test_ratings_from_a_judge_over_http_resume_and_select_the_hardest(tmp_path, capsys):
    ratings_dir = tmp_path / "ratings"
    with ScriptedOpenAIServer(_scripted) as server:
        assert _generate(tmp_path, server.base_url, "judge", ratings_dir, "--num_generations", "2") == 0
        asked = len(server.requests)
        assert asked >= 7
        assert _generate(tmp_path, server.base_url, "judge", ratings_dir, "--num_generations", "2") == 0
        assert len(server.requests) == asked  # resumed: every rating was already written
    generations = read_dataset(ratings_dir)
    assert len(generations) == 14 and set(generations["prompt_style"]) == {RATING_STYLE}
    ratings = problem_ratings(generations)
    assert ratings == {
        "a1": 1.0,
        "a2": 2.0,
        "a3": 3.0,
        "n2": 4.0,
        "g1": 6.0,
        "g2": 7.0,
    }  # n1's reply: no rating

    corpus = verified_corpus()
    result = select_traces(corpus, SelectionConfig(keep="all", difficulty_ratings=str(ratings_dir),
                                                   rating_keep_top_share=0.5))  # fmt: skip
    assert set(result.kept["problem_id"]) == {"g2", "g1", "n2"}  # the hardest half of the 6 rated problems
    assert result.stats.rejected == {"rating_unknown": 4, "not_hardest": 12}
    reasons = dict(zip(result.rejected["problem_id"], result.rejected[REJECT_REASON], strict=True))
    assert reasons["n1"] == "rating_unknown" and reasons["a3"] == "not_hardest"

    # the same through `openr1-data filter` (keep=correct): the correct traces of the hardest third
    source = tmp_path / "verified.parquet"
    corpus.to_parquet(str(source))
    out = tmp_path / "hardest"
    assert cli_main(["filter", "--input", str(source), "--output_dir", str(out), "--require_think", "false",
                     "--difficulty_ratings", str(ratings_dir), "--rating_keep_top_share", "0.34"]) == 0  # fmt: skip
    assert set(read_dataset(out)["problem_id"]) == {"g2", "g1", "n2"} and all(read_dataset(out)["correct"])
    assert "hardest 34% of problems by LLM difficulty rating" in capsys.readouterr().out


def test_ratings_from_the_tiny_model_served_over_http(tmp_path, tiny_model_dir):
    """A real `transformers serve` of the tiny model rates nonsense: every reply goes through the strict parser
    (no guess), and selection rejects the problems left unrated as `rating_unknown`."""
    server = start_transformers_serve(tiny_model_dir, startup_timeout=120, log_path=tmp_path / "serve.log")
    ratings_dir = tmp_path / "ratings"
    try:
        args = ("--num_generations", "1", "--max_new_tokens", "4", "--limit", "3")
        assert _generate(tmp_path, server.base_url, server.model, ratings_dir, *args) == 0
        first = read_dataset(ratings_dir)
        assert _generate(tmp_path, server.base_url, server.model, ratings_dir, *args) == 0  # resumes
        again = read_dataset(ratings_dir)
    finally:
        server.stop()
    assert len(first) == 3 and sorted(again["completion"]) == sorted(first["completion"])
    for row in first:
        parsed = STYLE.parse(row["completion"], row)
        assert (row["predicted_answer"], row["parse_issue"]) == (parsed.predicted_answer, parsed.parse_issue)
    rated = problem_ratings(first)
    assert all(1 <= r <= 10 for r in rated.values())
    corpus = verified_corpus().filter(lambda p: p in set(first["problem_id"]), input_columns="problem_id")
    result = select_traces(corpus, SelectionConfig(keep="all", difficulty_ratings=str(ratings_dir),
                                                   rating_keep_top_share=1.0))  # fmt: skip
    unrated = {p for p in first["problem_id"] if p not in rated}
    assert set(result.rejected["problem_id"]) == unrated
    assert set(result.rejected[REJECT_REASON]) <= {"rating_unknown"}


def test_ratings_from_a_column_and_the_errors_name_the_fix(tmp_path):
    corpus = verified_corpus()
    rating = {"a1": 2, "a2": 9, "a3": None, "g1": 5, "g2": 9, "n1": 1, "n2": 3}
    rated = corpus.add_column("difficulty_rating", [rating[p] for p in corpus["problem_id"]])
    result = select_traces(rated, SelectionConfig(keep="all", rating_keep_top_share=0.3))
    assert set(result.kept["problem_id"]) == {"a2", "g2"}  # ceil(0.3 * 6 rated problems) = 2, the 9s
    assert result.stats.rejected == {"rating_unknown": 4, "not_hardest": 16}
    with pytest.raises(ContractError, match="--difficulty_ratings FOLDER"):
        select_traces(corpus, SelectionConfig(keep="all", rating_keep_top_share=0.3))
    not_ratings = Dataset.from_dict({"problem_id": ["a1"], "prompt_style": ["r1"], "predicted_answer": ["7"],
                                     "parse_issue": [None]})  # fmt: skip
    with pytest.raises(ContractError, match="prompt_style 'difficulty_rating'"):
        problem_ratings(not_ratings)
    with pytest.raises(ValueError, match="rating_keep_top_share"):
        SelectionConfig(difficulty_ratings=str(tmp_path))
    with pytest.raises(ValueError, match="rating_keep_top_share"):
        SelectionConfig(rating_keep_top_share=0.0)
