"""Difficulty by an LLM rating (OpenThoughts3's best question filter): a judge rates every problem on a fixed 1-10
rubric, and selection keeps the hardest-rated share.

The ratings are generated like traces, so they are resumable and work with any teacher backend: the
`difficulty_rating` prompt style (`prompts/styles.py`) asks for the number only and its parser reads it strictly
(anything but one whole number from 1 to 10 is a `parse_issue`, never a guess):

    openr1-data generate --problems P --prompt_styles difficulty_rating --teacher_model JUDGE \\
        --num_generations 3 --temperature 0.6 --output_dir outputs/ratings
    openr1-data filter --input outputs/verified --output_dir outputs/hardest \\
        --difficulty_ratings outputs/ratings --rating_keep_top_share 0.3

A problem's rating is the mean of its samples that parsed; a problem with none is "unrated" and selection rejects
its rows as `rating_unknown` (it cannot be ranked, so it is neither kept nor called easy).
"""

from __future__ import annotations

from datasets import Dataset

from openr1_data.io import read_dataset
from openr1_data.schema import PROBLEM_ID, ContractError, arrow_column, require_columns

RATING_STYLE = "difficulty_rating"
DIFFICULTY_RATING = "difficulty_rating"  # the column a row may carry its problem's rating in


def problem_ratings(generations: Dataset) -> dict[str, float]:
    """Mean rating per `problem_id` over the `difficulty_rating` generations whose reply parsed (problems with
    no parsed rating are absent)."""
    require_columns(
        generations.column_names,
        [PROBLEM_ID, "prompt_style", "predicted_answer", "parse_issue"],
        what="difficulty ratings",
        fix=f"Generate them with `openr1-data generate --prompt_styles {RATING_STYLE} ...` and pass that folder.",
    )
    styles = arrow_column(generations, "prompt_style").to_pylist()
    if RATING_STYLE not in styles:
        raise ContractError(
            f"difficulty ratings: no row has prompt_style '{RATING_STYLE}' (found {sorted(set(styles))[:5]}); "
            f"generate them with --prompt_styles {RATING_STYLE}"
        )
    found: dict[str, list[float]] = {}
    columns = (PROBLEM_ID, "predicted_answer", "parse_issue")
    rows = zip(styles, *(arrow_column(generations, c).to_pylist() for c in columns), strict=True)
    for style, problem, rating, issue in rows:
        if style == RATING_STYLE and issue is None and rating is not None:
            found.setdefault(problem, []).append(float(rating))
    return {p: sum(v) / len(v) for p, v in found.items()}


def read_ratings(source: str) -> dict[str, float]:
    """The ratings of a stage folder or file of `difficulty_rating` generations."""
    return problem_ratings(read_dataset(source))


def ratings_by_group(dataset: Dataset, groups: list, ratings_source: str | None) -> dict:
    """The rating of every problem of `dataset` (None when unrated): from the generations at `ratings_source`,
    joined on `problem_id`, or else from the rows' own `difficulty_rating` column (mean per problem)."""
    if ratings_source is not None:
        require_columns(
            dataset.column_names,
            [PROBLEM_ID],
            what="--difficulty_ratings",
            fix="Ratings join on problem_id: keep the problems' problem_id column through generation.",
        )
        ratings = read_ratings(ratings_source)
        ids = arrow_column(dataset, PROBLEM_ID).to_pylist()
        per_group = dict(zip(groups, ids, strict=True))
        return {g: ratings.get(pid) for g, pid in per_group.items()}
    require_columns(
        dataset.column_names,
        [DIFFICULTY_RATING],
        what="--rating_keep_top_share",
        fix=f"Pass --difficulty_ratings FOLDER (generations of the {RATING_STYLE} style) or add a "
        f"'{DIFFICULTY_RATING}' column.",
    )
    values = arrow_column(dataset, DIFFICULTY_RATING).to_pylist()
    known: dict = {}
    for g, v in zip(groups, values, strict=True):
        known.setdefault(g, [])
        if v is not None:
            known[g].append(float(v))
    return {g: (sum(v) / len(v) if v else None) for g, v in known.items()}
