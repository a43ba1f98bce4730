"""Selection across the samples of one problem, the pass-rate filter for RL problem sets, and the selection
strategies the field's ablations compared (OpenThoughts3, LIMO, s1).

`select_traces(dataset, SelectionConfig(...)) -> StageResult`, on verified traces (`correct` column). The steps run
in this fixed order, each on the rows the steps before it kept (each rejects with its own reason):

1. difficulty window: `pass_rate_low/high` (share of correct samples) and `pass_count_low/high` (number of
   correct samples: LIMO's "solved 1-3 of 32" is `pass_count_low=1, pass_count_high=3` over 32 samples) keep the
   problems inside them ("pass_rate_below_low", "pass_count_above_high", "pass_rate_unknown", ...). Every row gets
   a `pass_rate` column.
   Then `rating_keep_top_share` keeps the hardest share of the problems left by an LLM's 1-10 difficulty rating
   (`--difficulty_ratings`: generations of the `difficulty_rating` style, see `curate/difficulty.py`; unrated
   problems: "rating_unknown", the rest: "not_hardest").
2. answers: `keep="correct"` keeps correct traces (wrong or unverifiable ones get the accuracy judgement's reason:
   "incorrect", "no_answer", "gold_unparseable", ...); `keep="incorrect"` only the wrong ones (a harm control:
   correct ones are rejected as "correct", unverifiable ones with their cause); `keep="all"` ignores correctness.
3. sources: `top_sources=n` keeps the rows of the n best sources by `source_scores`, the mean of
   `source_score_column`, or else the mean pass rate of their problems ("source_not_top").
4. response length: `longest_share` / `longest_n` keep the traces (`length_unit="trace"`) or problems
   (`length_unit="problem"`: mean `completion_tokens` of all the problem's traces) with the longest teacher
   responses ("not_longest").
5. answers per problem: `per_problem=k` keeps at most k traces per problem, the shortest, the longest or the first
   samples (`prefer`; "not_among_k_<prefer>").
6. source quotas: `source_quota` ({source: max rows}) and `per_source_max` (every other source) keep each
   source's first rows ("source_quota").
7. diversity: `diverse_by=<column>` or `diverse_by=minhash_cluster` (clusters of near-identical problem texts, the
   dedup MinHash at `diverse_threshold`) with `diverse_n=N` draws N rows round-robin across the values, seeded by
   `diverse_seed` ("not_drawn").

Statistics of a problem or a source (pass rate, mean length, source score) are computed over all the input rows,
so an earlier step never changes what a later step ranks by. Recipes: all correct traces (default); the k
shortest correct: `per_problem=k`; OpenThoughts3's winner, every answer up to k per question: `keep="all",
per_problem=k, prefer="first"`; an RL problem set: `keep="all", per_problem=1, prefer="first", pass_rate_low=0.2,
pass_rate_high=0.8`; LIMO-style SFT: `keep="correct", pass_count_low=1, pass_count_high=3`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from datasets import Dataset, Value

from openr1_data.config import parse_mapping
from openr1_data.curate import selection_strategies as strategies
from openr1_data.curate.difficulty import ratings_by_group
from openr1_data.funnel import StageResult, split_by_reason
from openr1_data.schema import (
    CORRECT,
    PROBLEM,
    PROBLEM_ID,
    SOURCE,
    VERIFY_ERROR,
    ContractError,
    arrow_column,
    require_columns,
)
from openr1_data.verdicts import judge_accuracy

PASS_RATE = "pass_rate"
KEEP_CHOICES = ("correct", "all", "incorrect")
PREFER_CHOICES = ("shortest", "longest", "first")
MINHASH_CLUSTER = "minhash_cluster"


def _mapping(name: str, value: Any) -> dict | None:
    return parse_mapping(name, value, "{source_a: 100, source_b: 50}")


@dataclass
class SelectionConfig:
    """Which traces of each problem to keep, and which problems, sources and lengths (see the module docstring
    for the order the steps run in)."""

    keep: str = field(
        default="correct",
        metadata={
            "help": "'correct': only correct traces; 'all': ignore correctness; 'incorrect': only wrong traces "
            "(a harm control)"
        },
    )
    per_problem: int | None = field(
        default=None, metadata={"help": "keep at most this many traces per problem (None: all that pass)"}
    )
    prefer: str = field(
        default="shortest",
        metadata={
            "help": "with per_problem: keep the 'shortest' or 'longest' traces (completion tokens) or the "
            "'first' samples"
        },
    )
    pass_rate_low: float | None = field(
        default=None, metadata={"help": "keep problems whose share of correct samples is at least this"}
    )
    pass_rate_high: float | None = field(
        default=None, metadata={"help": "keep problems whose share of correct samples is at most this"}
    )
    pass_count_low: int | None = field(
        default=None,
        metadata={"help": "keep problems with at least this many correct samples (LIMO: 1 of 32)"},
    )
    pass_count_high: int | None = field(
        default=None,
        metadata={"help": "keep problems with at most this many correct samples (LIMO: 3 of 32)"},
    )
    difficulty_ratings: str | None = field(
        default=None,
        metadata={
            "help": "with rating_keep_top_share: a stage folder or file of difficulty_rating generations "
            "(openr1-data generate --prompt_styles difficulty_rating); default: the rows' difficulty_rating column"
        },
    )
    rating_keep_top_share: float | None = field(
        default=None,
        metadata={"help": "keep this share (0-1] of the problems with the hardest LLM difficulty rating"},
    )
    longest_share: float | None = field(
        default=None,
        metadata={"help": "keep this share (0-1] of the traces or problems with the longest responses"},
    )
    longest_n: int | None = field(
        default=None, metadata={"help": "keep this many traces or problems with the longest responses"}
    )
    length_unit: str = field(
        default="trace",
        metadata={
            "help": "longest_share/longest_n rank 'trace's by completion tokens or 'problem's by the mean "
            "completion tokens of their traces"
        },
    )
    top_sources: int | None = field(
        default=None,
        metadata={"help": f"keep the rows of this many best-scoring sources ('{SOURCE}' column)"},
    )
    source_scores: dict[str, float] | str | None = field(
        default=None,
        metadata={
            "help": "with top_sources: a score per source, e.g. '{numina: 0.6, olympiads: 0.4}' (highest "
            "first)"
        },  # fmt: skip
    )
    source_score_column: str | None = field(
        default=None,
        metadata={
            "help": "with top_sources: rank sources by the mean of this column (default: the mean pass rate "
            "of their problems)"
        },
    )
    source_quota: dict[str, int] | str | None = field(
        default=None,
        metadata={"help": "at most this many rows per source, e.g. '{numina: 1000, olympiads: 200}'"},
    )
    per_source_max: int | None = field(
        default=None, metadata={"help": "at most this many rows from every source source_quota does not name"}
    )
    diverse_by: str | None = field(
        default=None,
        metadata={
            "help": f"draw diverse_n rows evenly across the values of this column, or '{MINHASH_CLUSTER}' for "
            "clusters of similar problem texts"
        },
    )
    diverse_n: int | None = field(
        default=None, metadata={"help": "with diverse_by: how many rows to draw round-robin"}
    )
    diverse_seed: int = field(default=0, metadata={"help": "with diverse_by: seed of the draw"})
    diverse_threshold: float = field(
        default=0.5,
        metadata={"help": f"with diverse_by={MINHASH_CLUSTER}: word-shingle Jaccard that joins two problems"},
    )
    group_column: str = field(
        default=PROBLEM_ID, metadata={"help": "column identifying the problem (falls back to 'problem')"}
    )

    def __post_init__(self) -> None:
        if self.keep not in KEEP_CHOICES:
            raise ValueError(f"--keep must be one of {list(KEEP_CHOICES)}, got {self.keep!r}")
        if self.prefer not in PREFER_CHOICES:
            raise ValueError(f"--prefer must be one of {list(PREFER_CHOICES)}, got {self.prefer!r}")
        if self.length_unit not in ("trace", "problem"):
            raise ValueError(f"--length_unit must be 'trace' or 'problem', got {self.length_unit!r}")
        for name in ("per_problem", "longest_n", "top_sources", "diverse_n"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"--{name} must be >= 1 (or unset), got {value}")
        for name in ("pass_count_low", "pass_count_high", "per_source_max"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"--{name} must be >= 0 (or unset), got {value}")
        for name in ("pass_rate_low", "pass_rate_high"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"--{name} must be in [0, 1], got {value}")
        for low, high in (("pass_rate_low", "pass_rate_high"), ("pass_count_low", "pass_count_high")):
            lo, hi = getattr(self, low), getattr(self, high)
            if lo is not None and hi is not None and lo > hi:
                raise ValueError(f"{low} ({lo}) is above {high} ({hi})")
        for name in ("longest_share", "rating_keep_top_share"):
            value = getattr(self, name)
            if value is not None and not 0.0 < value <= 1.0:
                raise ValueError(f"--{name} must be in (0, 1], got {value}")
        if self.difficulty_ratings is not None and self.rating_keep_top_share is None:
            raise ValueError("--difficulty_ratings is read for --rating_keep_top_share: set it too")
        if self.longest_share is not None and self.longest_n is not None:
            raise ValueError("pass --longest_share or --longest_n, not both")
        if not 0.0 < self.diverse_threshold <= 1.0:
            raise ValueError(f"--diverse_threshold must be in (0, 1], got {self.diverse_threshold}")
        if (self.diverse_by is None) != (self.diverse_n is None):
            raise ValueError(
                "pass --diverse_by and --diverse_n together (the column, and how many rows to draw)"
            )
        self.source_scores = _mapping("source_scores", self.source_scores)
        self.source_quota = _mapping("source_quota", self.source_quota)
        for source, cap in (self.source_quota or {}).items():
            if not isinstance(cap, int) or isinstance(cap, bool) or cap < 0:
                raise ValueError(
                    f"--source_quota: the quota of source {source!r} must be an integer >= 0, got {cap!r}"
                )
        for source, score in (self.source_scores or {}).items():
            if not isinstance(score, int | float) or isinstance(score, bool):
                raise ValueError(
                    f"--source_scores: the score of source {source!r} must be a number, got {score!r}"
                )
        if self.top_sources is None and (
            self.source_scores is not None or self.source_score_column is not None
        ):
            raise ValueError(
                "--source_scores / --source_score_column rank sources for --top_sources: set it too"
            )
        if self.source_scores is not None and self.source_score_column is not None:
            raise ValueError("pass --source_scores or --source_score_column, not both")

    @property
    def uses_pass_rate(self) -> bool:
        """Whether a difficulty window is set (it needs verdicts)."""
        return any(
            v is not None
            for v in (self.pass_rate_low, self.pass_rate_high, self.pass_count_low, self.pass_count_high)
        )

    @property
    def uses_sources(self) -> bool:
        return (
            self.top_sources is not None or self.source_quota is not None or self.per_source_max is not None
        )

    @property
    def needs_verdicts(self) -> bool:
        """Whether selection reads the `correct` column."""
        ranks_by_pass_rate = (
            self.top_sources is not None and self.source_scores is None and self.source_score_column is None
        )
        return self.keep != "all" or self.uses_pass_rate or ranks_by_pass_rate

    def window_reason(self, rate: float | None, count: int | None) -> str | None:
        """Why a problem with this pass rate and number of correct samples is outside the window, or None."""
        reason = pass_rate_reason(rate, self.pass_rate_low, self.pass_rate_high)
        if reason is not None or (self.pass_count_low is None and self.pass_count_high is None):
            return reason
        if count is None:
            return "pass_rate_unknown"
        if self.pass_count_low is not None and count < self.pass_count_low:
            return "pass_count_below_low"
        if self.pass_count_high is not None and count > self.pass_count_high:
            return "pass_count_above_high"
        return None

    def steps(self) -> list[str]:
        """The selection steps this config runs, in order, in words (for reports and cards)."""
        out = []
        if self.pass_rate_low is not None or self.pass_rate_high is not None:
            out.append(f"pass rate in [{self.pass_rate_low or 0}, {self.pass_rate_high or 1}]")
        if self.pass_count_low is not None or self.pass_count_high is not None:
            high = "any" if self.pass_count_high is None else self.pass_count_high
            out.append(f"correct samples in [{self.pass_count_low or 0}, {high}]")
        if self.rating_keep_top_share is not None:
            out.append(f"hardest {self.rating_keep_top_share:.0%} of problems by LLM difficulty rating")
        out.append(
            {"correct": "correct traces", "incorrect": "wrong traces only", "all": "every trace"}[self.keep]
        )
        if self.top_sources is not None:
            by = "given scores" if self.source_scores else f"mean {self.source_score_column or PASS_RATE}"
            out.append(f"top {self.top_sources} source(s) by {by}")
        if self.longest_share is not None or self.longest_n is not None:
            size = f"{self.longest_share:.0%}" if self.longest_share is not None else str(self.longest_n)
            out.append(f"longest {size} of {self.length_unit}s by completion tokens")
        if self.per_problem is not None:
            out.append(f"at most {self.per_problem} per problem ({self.prefer})")
        if self.source_quota is not None or self.per_source_max is not None:
            out.append(f"source quotas {self.source_quota or {}}, others at most {self.per_source_max}")
        if self.diverse_by is not None:
            out.append(
                f"{self.diverse_n} rows drawn evenly across {self.diverse_by} (seed {self.diverse_seed})"
            )
        return out


def pass_rates(groups: list, correct: list[bool | None]) -> dict:
    """Share of correct samples per problem, over the samples with a known verdict (None if there are none)."""
    counts = pass_counts(groups, correct)
    known: dict = {}
    for g, c in zip(groups, correct, strict=True):
        if c is not None:
            known[g] = known.get(g, 0) + 1
    return {g: (counts[g] / known[g] if g in known else None) for g in counts}


def pass_counts(groups: list, correct: list[bool | None]) -> dict:
    """Number of correct samples per problem (None if no sample has a verdict)."""
    right: dict = {}
    for g, c in zip(groups, correct, strict=True):
        if c is not None:
            right[g] = right.get(g, 0) + int(c)
    return {g: right.get(g) for g in dict.fromkeys(groups)}


def pass_rate_reason(rate: float | None, low: float | None, high: float | None) -> str | None:
    """Why a problem with this pass rate is outside [low, high], or None."""
    if low is None and high is None:
        return None
    if rate is None:
        return "pass_rate_unknown"
    if low is not None and rate < low:
        return "pass_rate_below_low"
    if high is not None and rate > high:
        return "pass_rate_above_high"
    return None


def _lengths(dataset: Dataset) -> list[int | None]:
    """Response length per row: completion tokens, else completion characters (None where unknown)."""
    if "completion_tokens" in dataset.column_names:
        return arrow_column(dataset, "completion_tokens").to_pylist()
    if "completion" in dataset.column_names:
        col = arrow_column(dataset, "completion")
        return pc.utf8_length(col).to_pylist()  # pyright: ignore[reportAttributeAccessIssue]  # a kernel made at import
    raise ContractError(
        "selection by length (prefer='shortest'/'longest', longest_share, longest_n) needs a "
        "'completion_tokens' or 'completion' column"
    )


def _require(dataset: Dataset, config: SelectionConfig, group_col: str, stage: str) -> None:
    """Every column the configured steps read, with the fix for a missing one."""
    require_columns(
        dataset.column_names,
        [group_col] + ([CORRECT] if config.needs_verdicts else []),
        what=f"selection stage '{stage}'",
        fix="Run verification first (`openr1-data verify` or verify_traces) so traces have a 'correct' column, "
        f"and make sure the problem column ('{config.group_column}' or '{PROBLEM}') exists.",
    )
    if config.uses_sources:
        require_columns(dataset.column_names, [SOURCE], what="source selection (top_sources, source_quota, "
                        "per_source_max)", fix=f"Keep the problems' '{SOURCE}' column through generation.")  # fmt: skip
    if config.source_score_column is not None:
        require_columns(dataset.column_names, [config.source_score_column], what="--source_score_column",
                        fix="Name a numeric column of the rows.")  # fmt: skip
    if config.diverse_by is not None:
        column = PROBLEM if config.diverse_by == MINHASH_CLUSTER else config.diverse_by
        require_columns(dataset.column_names, [column], what=f"--diverse_by {config.diverse_by}",
                        fix=f"Name a column of the rows, or '{MINHASH_CLUSTER}' (needs '{PROBLEM}').")  # fmt: skip


def _source_scores(
    config: SelectionConfig, dataset: Dataset, sources: list, groups: list, rates: Mapping
) -> Mapping:
    """The score per source that top_sources ranks by: given, the mean of a column, or the mean pass rate of the
    source's problems."""
    if isinstance(config.source_scores, dict):  # parsed from its text in __post_init__
        return config.source_scores
    if config.source_score_column is not None:
        values = arrow_column(dataset, config.source_score_column).to_pylist()
        if any(v is not None and (not isinstance(v, int | float) or isinstance(v, bool)) for v in values):
            raise ContractError(
                f"--source_score_column {config.source_score_column!r} must hold numbers; "
                "name a numeric column (or give --source_scores)"
            )
        return strategies.group_means(sources, values)
    problem_source = dict(zip(groups, sources, strict=True))
    return strategies.group_means(list(problem_source.values()), [rates[g] for g in problem_source])


def _diversity_values(config: SelectionConfig, dataset: Dataset, groups: list) -> list:
    """The value per row the diverse draw spreads across: a column, or the MinHash cluster of the problem text."""
    assert config.diverse_by is not None
    if config.diverse_by != MINHASH_CLUSTER:
        return arrow_column(dataset, config.diverse_by).to_pylist()
    from openr1_data.dedup.duplicates import minhash_clusters

    texts = dict(zip(groups, arrow_column(dataset, PROBLEM).to_pylist(), strict=True))
    problems = list(texts)
    labels = minhash_clusters(
        [t if isinstance(t, str) else "" for t in texts.values()], config.diverse_threshold
    )
    cluster = {g: problems[label] for g, label in zip(problems, labels, strict=True)}
    return [cluster[g] for g in groups]


def select_traces(
    dataset: Dataset, config: SelectionConfig | None = None, *, stage: str = "select"
) -> StageResult:
    """Keep the traces `config` asks for; every other trace goes to the side output with its reason. The steps
    run in the order of the module docstring, each on the rows still kept."""
    config = config or SelectionConfig()
    group_col = config.group_column if config.group_column in dataset.column_names else PROBLEM
    _require(dataset, config, group_col, stage)
    n = len(dataset)
    groups = arrow_column(dataset, group_col).to_pylist()
    has_correct = CORRECT in dataset.column_names
    correct = arrow_column(dataset, CORRECT).to_pylist() if has_correct else None
    errors = (
        arrow_column(dataset, VERIFY_ERROR).to_pylist()
        if VERIFY_ERROR in dataset.column_names
        else [None] * n
    )
    sources = arrow_column(dataset, SOURCE).to_pylist() if config.uses_sources else []
    rates = pass_rates(groups, correct) if correct is not None else {}
    counts = pass_counts(groups, correct) if correct is not None else {}

    reasons: list[str | None] = [None] * n

    def alive() -> list[int]:
        return [i for i in range(n) if reasons[i] is None]

    def reject(rows: set[int], reason: str) -> None:
        for i in rows:
            reasons[i] = reason

    if config.uses_pass_rate:  # 1. difficulty window
        for i, g in enumerate(groups):
            reasons[i] = config.window_reason(rates[g], counts[g])
    if config.rating_keep_top_share is not None:  # 1. difficulty by an LLM rating
        ratings = ratings_by_group(dataset, groups, config.difficulty_ratings)
        reject({i for i in alive() if ratings[groups[i]] is None}, "rating_unknown")
        hardest = strategies.highest(alive(), [], groups, ratings, config.rating_keep_top_share, None)
        reject(hardest, "not_hardest")
    if config.keep != "all" and correct is not None:  # 2. answers (verdicts are required above)
        for i in alive():
            if config.keep == "correct":
                reasons[i] = judge_accuracy(correct[i], errors[i]).reason  # the accuracy reward's verdict
            elif correct[i] is True:
                reasons[i] = "correct"
            elif correct[i] is None:
                reasons[i] = judge_accuracy(None, errors[i]).reason
    if config.top_sources is not None:  # 3. sources
        scores = _source_scores(config, dataset, sources, groups, rates)
        reject(strategies.top_sources(alive(), sources, scores, config.top_sources), "source_not_top")
    by_length = config.longest_share or config.longest_n or (config.per_problem and config.prefer != "first")
    lengths = _lengths(dataset) if by_length else []
    if config.longest_share is not None or config.longest_n is not None:  # 4. response length
        if config.length_unit == "problem":
            units, unit_lengths = groups, strategies.group_means(groups, lengths)
        else:
            units, unit_lengths = list(range(n)), {}
        longest = strategies.highest(
            alive(), lengths, units, unit_lengths, config.longest_share, config.longest_n
        )
        reject(longest, "not_longest")
    if config.per_problem is not None:  # 5. answers per problem
        if config.prefer == "first":
            index = "sample_index" in dataset.column_names
            keys = arrow_column(dataset, "sample_index").to_pylist() if index else list(range(n))
            keys = [k if k is not None else 0 for k in keys]
        else:  # an unknown length never wins: it sorts last either way
            sign = 1 if config.prefer == "shortest" else -1
            keys = [sign * v if v is not None else float("inf") for v in lengths]
        candidates: dict = {}
        for i in alive():
            candidates.setdefault(groups[i], []).append(i)
        for rows in candidates.values():
            rows.sort(key=lambda i: (keys[i], i))
            reject(set(rows[config.per_problem :]), f"not_among_{config.per_problem}_{config.prefer}")
    if config.source_quota is not None or config.per_source_max is not None:  # 6. source quotas
        quotas = config.source_quota if isinstance(config.source_quota, dict) else {}
        reject(strategies.over_quota(alive(), sources, quotas, config.per_source_max),
               "source_quota")  # fmt: skip
    if config.diverse_by is not None and config.diverse_n is not None:  # 7. diversity
        values = _diversity_values(config, dataset, groups)
        reject(
            strategies.round_robin_draw(alive(), values, config.diverse_n, config.diverse_seed), "not_drawn"
        )

    if correct is not None:
        dataset = dataset.remove_columns([PASS_RATE]) if PASS_RATE in dataset.column_names else dataset
        column = pa.array([rates[g] for g in groups], type=pa.float64())
        dataset = dataset.add_column(PASS_RATE, column, feature=Value("float64"))
    return split_by_reason(dataset, reasons, stage)
