"""Exact and near-duplicate removal (MinHash + LSH), keeping the first row of every duplicate cluster.

- `dedup_exact`: rows whose `normalize_text` forms are equal (NFKC, case, whitespace, LaTeX spelling) are
  duplicates of the first such row.
- `dedup_near`: MinHash signatures over word shingles, banded LSH for candidate pairs, an exact-Jaccard
  verification pass on every candidate pair (only pairs really at or above the threshold count), then connected
  components; the first row of each component is kept.

Both stream over the dataset in batches: memory grows with the number of rows (one LSH key per band per row), not
with the text. Rejected rows say which row they duplicate (`duplicate_of_index`, the position of the kept row in
the stage input, and `duplicate_of_id`, its id column value) and how similar they are (`duplicate_jaccard`).
Rows whose text columns are all empty or not text are kept and counted (`rows_empty` in the report).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from itertools import combinations
from typing import Any, cast

import datasets
import numpy as np
from datasets import Dataset, Value

from openr1_data.dedup.normalize import (
    WordHasher,
    hash_words_joined,
    ngram_hashes,
    normalize_text,
    odd_constants,
    words,
)
from openr1_data.funnel import StageResult, split_by_reason
from openr1_data.schema import PROBLEM, PROBLEM_ID, ContractError, arrow_column, require_columns

logger = logging.getLogger(__name__)

EXACT_STAGE = "dedup_exact"
NEAR_STAGE = "dedup_near"
EXACT_REASON = "exact_duplicate"
NEAR_REASON = "near_duplicate"
# Columns added to the rejected side output.
DUPLICATE_OF_INDEX = "duplicate_of_index"
DUPLICATE_OF_ID = "duplicate_of_id"
DUPLICATE_MATCH_INDEX = "duplicate_match_index"
DUPLICATE_JACCARD = "duplicate_jaccard"

# How a stage runs its per-row work over the rows: `map_shards(fn, dataset, shared)` returns `fn(shard, shared)`
# for contiguous shards of `dataset`, in order. In this process it is one shard (`in_one_shard`); over a Ray
# cluster, `curate/ray_shards.ray_shard_map` (the per-row work must then be a module-level function).
ShardMap = Callable[[Callable[[Dataset, Any], Any], Dataset, Any], list[Any]]


def in_one_shard(fn: Callable[[Dataset, Any], Any], dataset: Dataset, shared: Any) -> list[Any]:
    """The `ShardMap` of one process: the whole dataset is one shard."""
    return [fn(dataset, shared)]


# Buckets larger than this link their rows in a chain instead of all pairs (a bucket of m identical rows would
# otherwise give m^2/2 pairs); the chain still connects every verified member.
_MAX_BUCKET_ALL_PAIRS = 16
# Verification reads the text of candidate rows back in blocks of this many pairs (bounded memory).
_VERIFY_BLOCK_PAIRS = 50_000


@dataclass
class DedupConfig:
    """Exact and MinHash near-duplicate removal."""

    dedup_columns: list[str] | None = field(
        default=None,
        metadata={
            "help": "text columns compared (joined); default: 'problem'. Trace rows (with a 'completion' column) "
            "are judged by their problem: the traces of a duplicate problem are all rejected, the traces of one "
            "problem are never duplicates of each other. 'problem completion' compares whole traces instead"
        },
    )
    dedup_id_column: str | None = field(
        default=None,
        metadata={
            "help": "id column recorded in duplicate_of_id; default: trace_id for traces, problem_id for problems"
        },
    )
    minhash_shingle_size: int = field(
        default=3, metadata={"help": "words per shingle (texts shorter than this are one shingle)"}
    )
    minhash_num_perm: int = field(default=128, metadata={"help": "number of MinHash permutations"})
    minhash_bands: int | None = field(
        default=None,
        metadata={"help": "LSH bands (with --minhash_rows); default: chosen from the threshold, see README"},
    )
    minhash_rows: int | None = field(default=None, metadata={"help": "signature rows per LSH band"})
    minhash_threshold: float = field(
        default=0.7,
        metadata={
            "help": "Jaccard similarity of word shingle sets at or above which rows are near-duplicates"
        },
    )
    minhash_seed: int = field(default=1, metadata={"help": "seed of the MinHash permutations"})
    dedup_batch_size: int = field(default=2048, metadata={"help": "rows hashed per batch"})


@dataclass
class DedupReport:
    """What a dedup stage found (JSON-able with `to_dict`)."""

    stage: str
    columns: list[str]
    rows_checked: int
    rows_empty: int
    cells_not_text: int
    duplicates: int
    clusters: int
    candidate_pairs: int = 0
    verified_pairs: int = 0
    params: dict = field(default_factory=dict)
    seconds: float = 0.0
    # "row", or "problem" when trace rows were judged by their problem (then `duplicates` counts traces)
    unit: str = "row"
    duplicate_problems: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


# A dedup stage's result: kept / rejected / stats and its `DedupReport`.
DedupResult = StageResult[DedupReport]


# ---------------------------------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------------------------------


@contextmanager
def quiet_progress() -> Iterator[None]:
    """Hide `datasets` progress bars for bookkeeping operations (adding a column to a handful of rejected rows
    would otherwise print a "Flattening the indices" bar), restoring the user's setting afterwards."""
    was_disabled = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            datasets.enable_progress_bars()


def resolve_columns(dataset: Dataset, config: DedupConfig) -> tuple[list[str], str | None]:
    """The text columns to compare and the id column to report, after validating they exist."""
    columns = list(config.dedup_columns or [PROBLEM])
    require_columns(
        dataset.column_names,
        columns,
        what="dedup",
        fix="Pass --dedup_columns with the text column(s) to compare.",
    )
    id_column = config.dedup_id_column
    if id_column is None:
        for candidate in ("trace_id", "problem_id") if "completion" in columns else ("problem_id",):
            if candidate in dataset.column_names:
                id_column = candidate
                break
    elif id_column not in dataset.column_names:
        raise ContractError(
            f"dedup: --dedup_id_column {id_column!r} is not a column; the dataset has {dataset.column_names}"
        )
    return columns, id_column


def iter_texts(dataset: Dataset, columns: list[str], batch_size: int) -> Iterator[tuple[int, list[list]]]:
    """Yield `(first_row_index, [column values per column])` batches, reading only `columns`."""
    view = dataset.select_columns(columns)
    start = 0
    for batch in cast(Iterator[dict[str, list]], view.iter(batch_size=batch_size)):  # python-format batches
        cols = [batch[c] for c in columns]
        yield start, cols
        start += len(cols[0])


def _row_texts(cols: list[list], j: int) -> tuple[list[str], int]:
    """The text cells of row `j` of a batch, and how many cells were not text (None, lists, numbers)."""
    texts, bad = [], 0
    for col in cols:
        value = col[j]
        if isinstance(value, str):
            texts.append(value)
        else:
            bad += 1  # None and non-strings (lists, numbers) both count as "not text"
    return texts, bad


def _with_duplicate_columns(
    result: StageResult,
    dataset: Dataset,
    id_column: str | None,
    info: dict[int, tuple[int, int, float]],
) -> StageResult:
    """Add duplicate_of_index / duplicate_of_id / duplicate_match_index / duplicate_jaccard to the rejected rows.

    `info` maps a rejected row to (kept representative, most similar matched row, Jaccard). Rejected rows are in
    input order (as `split_by_reason` selects them).
    """
    dropped = sorted(info)
    rep = [info[i][0] for i in dropped]
    rejected = result.rejected
    ids: list[str | None] = [None] * len(dropped)
    if id_column is not None and dropped:
        lookup = sorted(set(rep))
        values = dataset.select_columns([id_column])[lookup][id_column]
        by_row = {r: (None if v is None else str(v)) for r, v in zip(lookup, values, strict=True)}
        ids = [by_row[r] for r in rep]
    # Explicit types, so an empty side output has the same schema as a full one.
    rejected = rejected.add_column(DUPLICATE_OF_INDEX, rep, feature=Value("int64"))
    rejected = rejected.add_column(DUPLICATE_OF_ID, ids, feature=Value("string"))
    rejected = rejected.add_column(
        DUPLICATE_MATCH_INDEX, [info[i][1] for i in dropped], feature=Value("int64")
    )
    rejected = rejected.add_column(
        DUPLICATE_JACCARD, [float(info[i][2]) for i in dropped], feature=Value("float64")
    )
    return StageResult(result.kept, rejected, result.stats)


def _finish(
    dataset: Dataset,
    stage: str,
    reason: str,
    info: dict[int, tuple[int, int, float]],
    id_column: str | None,
    report: DedupReport,
) -> DedupResult:
    reasons: list[str | None] = [None] * len(dataset)
    for i in info:
        reasons[i] = reason
    with quiet_progress():
        result = _with_duplicate_columns(split_by_reason(dataset, reasons, stage), dataset, id_column, info)
    report.duplicates = len(info)
    return StageResult(result.kept, result.rejected, result.stats, report)


# ---------------------------------------------------------------------------------------------------------------
# Exact
# ---------------------------------------------------------------------------------------------------------------


def exact_key(texts: list[str]) -> bytes:
    """A 128-bit digest of the normalized texts of one row."""
    joined = "\x1e".join(normalize_text(t) for t in texts)
    return hashlib.blake2b(joined.encode("utf-8"), digest_size=16).digest()


def judges_traces_by_problem(dataset: Dataset, config: DedupConfig) -> bool:
    """Trace rows compared on their problem text only: dedup runs over the problems, then rejects their traces."""
    return "completion" in dataset.column_names and list(config.dedup_columns or [PROBLEM]) == [PROBLEM]


def dedup_traces_by_problem(
    dataset: Dataset, config: DedupConfig, run: Callable[[Dataset, DedupConfig], DedupResult]
) -> DedupResult:
    """Run a dedup pass (`run`) over the distinct problems of trace rows and reject every trace of each duplicate
    problem; the traces of one problem are never duplicates of each other. The side output names the kept
    problem's first trace (`duplicate_of_index`) and its problem id."""
    columns = dataset.column_names
    if PROBLEM_ID in columns:
        keys: list = arrow_column(dataset, PROBLEM_ID).to_pylist()
    else:
        # the raw text: rows whose texts differ only in spelling are different problems for the pass to judge
        keys = [p if isinstance(p, str) and p.strip() else None for p in dataset[PROBLEM]]
    first_row: dict = {}
    for i, key in enumerate(keys):
        if key is not None:
            first_row.setdefault(key, i)
    firsts = list(first_row.values())
    position = "__problem_position"
    problems = dataset.select(firsts).select_columns([c for c in (PROBLEM, PROBLEM_ID) if c in columns])
    problems = problems.add_column(position, list(range(len(firsts))), feature=Value("int64"))
    inner = run(problems, replace(config, dedup_columns=[PROBLEM], dedup_id_column=None))
    found = inner.rejected.select_columns(
        [position, DUPLICATE_OF_INDEX, DUPLICATE_MATCH_INDEX, DUPLICATE_JACCARD]
    )
    duplicate_of = {
        keys[firsts[p]]: (firsts[rep], firsts[match], jac)
        for p, rep, match, jac in zip(*(found[c] for c in found.column_names), strict=True)
    }
    info = {i: duplicate_of[key] for i, key in enumerate(keys) if key in duplicate_of}
    report = inner.report
    report.unit, report.duplicate_problems = "problem", len(duplicate_of)
    id_column = PROBLEM_ID if PROBLEM_ID in columns else ("trace_id" if "trace_id" in columns else None)
    reason = EXACT_REASON if report.stage == EXACT_STAGE else NEAR_REASON
    result = _finish(dataset, report.stage, reason, info, id_column, report)
    report.rows_checked = len(dataset)
    return result


def dedup_exact(dataset: Dataset, config: DedupConfig | None = None) -> DedupResult:
    """Reject rows whose normalized text equals an earlier row's; the first occurrence is kept (trace rows: by
    their problem, see `dedup_traces_by_problem`)."""
    config = config or DedupConfig()
    if judges_traces_by_problem(dataset, config):
        return dedup_traces_by_problem(dataset, config, dedup_exact)
    started = time.perf_counter()
    columns, id_column = resolve_columns(dataset, config)
    seen: dict[bytes, int] = {}
    info: dict[int, tuple[int, int, float]] = {}
    rows_empty = cells_bad = 0
    for start, cols in iter_texts(dataset, columns, config.dedup_batch_size):
        for j in range(len(cols[0])):
            texts, bad = _row_texts(cols, j)
            cells_bad += bad
            if not any(t.strip() for t in texts):
                rows_empty += 1
                continue
            i = start + j
            first = seen.setdefault(exact_key(texts), i)
            if first != i:
                info[i] = (first, first, 1.0)
    report = DedupReport(
        stage=EXACT_STAGE,
        columns=columns,
        rows_checked=len(dataset),
        rows_empty=rows_empty,
        cells_not_text=cells_bad,
        duplicates=0,
        clusters=len({rep for rep, _, _ in info.values()}),
    )
    result = _finish(dataset, EXACT_STAGE, EXACT_REASON, info, id_column, report)
    report.seconds = round(time.perf_counter() - started, 3)
    return result


# ---------------------------------------------------------------------------------------------------------------
# Near (MinHash + LSH)
# ---------------------------------------------------------------------------------------------------------------


def candidate_probability(similarity: float, bands: int, rows: int) -> float:
    """Probability that two rows with this Jaccard similarity share at least one LSH band: 1 - (1 - s^r)^b."""
    return 1.0 - (1.0 - similarity**rows) ** bands


def choose_bands(threshold: float, num_perm: int, min_recall: float = 0.9) -> tuple[int, int]:
    """Bands x rows for a threshold: the most rows per band (fewest false candidates) that still makes a pair
    exactly at the threshold a candidate with probability >= `min_recall` (pairs above it even more likely)."""
    best = (num_perm, 1)
    for rows in range(1, num_perm + 1):
        bands = num_perm // rows
        if candidate_probability(threshold, bands, rows) >= min_recall:
            best = (bands, rows)
    return best


class MinHasher:
    """MinHash signatures of word-shingle sets for whole batches of texts at once (numpy).

    A shingle is `k` consecutive words of `normalize.words(text)`; its hash comes from `normalize.ngram_hashes`
    (top 32 bits). Permutation `p` maps a shingle hash `h` to `a_p * h mod 2^32` (odd `a_p`, a bijection); the
    signature is the minimum per permutation. Because shingle hashes are already well mixed, this multiply-only
    family gives unbiased Jaccard estimates (checked against exact Jaccard in tests and the benchmark).
    """

    def __init__(self, num_perm: int = 128, shingle_size: int = 3, seed: int = 1):
        if num_perm < 1 or shingle_size < 1:
            raise ValueError("num_perm and shingle_size must be >= 1")
        self.num_perm = num_perm
        self.shingle_size = shingle_size
        self.multipliers = (odd_constants(num_perm, seed=seed) >> np.uint64(32)).astype(
            np.uint32
        ) | np.uint32(1)
        self.word_hasher = WordHasher()

    def shingles(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Shingle hashes of a batch of texts: `(hashes, doc)` grouped by doc; empty texts have none."""
        token_lists = [words(t) for t in texts]
        flat, lengths = self.word_hasher.hash_batch(token_lists)
        hashes, doc, _ = ngram_hashes(flat, lengths, self.shingle_size)
        short = np.flatnonzero((lengths > 0) & (lengths < self.shingle_size))
        if short.size:
            # A text shorter than one shingle is a single shingle: the whole word sequence.
            extra = np.array([hash_words_joined(token_lists[d]) for d in short], dtype=np.uint64)
            hashes = np.concatenate([hashes, extra])
            doc = np.concatenate([doc, short])
            order = np.argsort(doc, kind="stable")
            hashes, doc = hashes[order], doc[order]
        return hashes, doc

    def signatures(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """`(signatures uint32 [docs_with_text, num_perm], doc indices within the batch)`."""
        hashes, doc = self.shingles(texts)
        if hashes.size == 0:
            return np.zeros((0, self.num_perm), dtype=np.uint32), np.zeros(0, dtype=np.int64)
        starts = np.flatnonzero(np.r_[True, doc[1:] != doc[:-1]])
        docs = doc[starts]
        # 32-bit arithmetic: numpy vectorises 32-bit multiplies (64-bit ones are scalar on most CPUs), and the
        # [permutations x shingles] layout makes the per-document minimum a contiguous reduction.
        values = (hashes >> np.uint64(32)).astype(np.uint32)
        out = np.empty((self.num_perm, docs.size), dtype=np.uint32)
        block = 8
        for p in range(0, self.num_perm, block):
            products = self.multipliers[p : p + block, None] * values[None, :]
            out[p : p + block] = np.minimum.reduceat(products, starts, axis=1)
        return np.ascontiguousarray(out.T), docs


def band_keys(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One 64-bit key per band per row: a mix of the band's `rows` signature values ([docs, bands])."""
    multipliers = odd_constants(rows, seed=0xBA4D)
    keys = np.empty((signatures.shape[0], bands), dtype=np.uint64)
    for b in range(bands):
        part = signatures[:, b * rows : (b + 1) * rows]
        acc = part[:, 0] * multipliers[0]
        for r in range(1, rows):
            acc += part[:, r] * multipliers[r]
        keys[:, b] = acc ^ (acc >> np.uint64(29))
    return keys


def candidate_pairs(keys: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Unique row pairs `(i, j)`, i < j, that share a key in at least one band ([pairs, 2] int64)."""
    rows_idx = np.flatnonzero(valid)
    found: list[np.ndarray] = []
    for b in range(keys.shape[1]):
        column = keys[rows_idx, b]
        order = np.argsort(column, kind="stable")
        sorted_keys = column[order]
        same = sorted_keys[1:] == sorted_keys[:-1]
        if not same.any():
            continue
        members = rows_idx[order]
        # Runs of equal keys: [run_start, run_end) in sorted order.
        boundaries = np.flatnonzero(np.r_[True, ~same, True])
        run_starts, run_ends = boundaries[:-1], boundaries[1:]
        multi = (run_ends - run_starts) >= 2
        pairs_small: list[tuple[int, int]] = []
        # Runs of exactly two are the common case: vectorised.
        two = multi & ((run_ends - run_starts) == 2)
        if two.any():
            s = run_starts[two]
            found.append(np.stack([members[s], members[s + 1]], axis=1))
        for s, e in zip(run_starts[multi & ~two], run_ends[multi & ~two], strict=True):
            group = sorted(members[s:e].tolist())
            if len(group) <= _MAX_BUCKET_ALL_PAIRS:
                pairs_small.extend(combinations(group, 2))
            else:
                pairs_small.extend(zip(group[:-1], group[1:], strict=False))
        if pairs_small:
            found.append(np.array(pairs_small, dtype=np.int64))
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = np.concatenate(found).astype(np.int64)
    pairs.sort(axis=1)
    n = np.int64(max(1, int(valid.size)))
    codes = np.unique(pairs[:, 0] * n + pairs[:, 1])
    return np.stack([codes // n, codes % n], axis=1)


def _shingle_sets(hasher: MinHasher, texts: list[str]) -> list[frozenset[int]]:
    hashes, doc = hasher.shingles(texts)
    sets: list[frozenset[int]] = [frozenset()] * len(texts)
    if hashes.size:
        starts = np.flatnonzero(np.r_[True, doc[1:] != doc[:-1]])
        ends = np.r_[starts[1:], doc.size]
        values = hashes.tolist()
        for s, e, d in zip(starts.tolist(), ends.tolist(), doc[starts].tolist(), strict=True):
            sets[d] = frozenset(values[s:e])
    return sets


def jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    """Exact Jaccard similarity of two shingle sets (0.0 when both are empty)."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def verify_pairs(
    dataset: Dataset, columns: list[str], hasher: MinHasher, pairs: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """Exact Jaccard of every candidate pair, reading the two rows' text back; returns the pairs >= threshold
    and their similarities. Works in blocks so memory stays bounded by the block, not the corpus."""
    kept_pairs, kept_sims = [], []
    view = dataset.select_columns(columns)
    for b in range(0, len(pairs), _VERIFY_BLOCK_PAIRS):
        block = pairs[b : b + _VERIFY_BLOCK_PAIRS]
        rows = np.unique(block).tolist()
        batch = view[rows]
        texts = []
        for j in range(len(rows)):
            cells, _ = _row_texts([batch[c] for c in columns], j)
            texts.append("\n".join(cells))
        sets = dict(zip(rows, _shingle_sets(hasher, texts), strict=True))
        sims = np.array([jaccard(sets[i], sets[j]) for i, j in block.tolist()], dtype=np.float64)
        ok = sims >= threshold
        kept_pairs.append(block[ok])
        kept_sims.append(sims[ok])
    if not kept_pairs:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0)
    return np.concatenate(kept_pairs), np.concatenate(kept_sims)


def connected_components(pairs: np.ndarray, sims: np.ndarray) -> dict[int, tuple[int, int, float]]:
    """Union-find over verified pairs. For every row that is not its component's first (smallest) row:
    (component representative, its most similar verified partner, that Jaccard)."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    best: dict[int, tuple[int, float]] = {}
    for (i, j), s in zip(pairs.tolist(), sims.tolist(), strict=True):
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)  # the smaller index becomes the root: first occurrence wins
        for a, b in ((i, j), (j, i)):
            if a not in best or s > best[a][1]:
                best[a] = (b, s)
    info: dict[int, tuple[int, int, float]] = {}
    for row in best:
        root = find(row)
        if root != row:
            partner, s = best[row]
            info[row] = (root, partner, s)
    return info


@dataclass(frozen=True)
class _BandJob:
    """What a shard needs to compute its rows' LSH band keys."""

    columns: list[str]
    num_perm: int
    shingle_size: int
    seed: int
    bands: int
    rows: int
    batch_size: int


def _band_keys_of(shard: Dataset, job: _BandJob) -> tuple[np.ndarray, np.ndarray, int, int]:
    """The LSH band keys of a shard's rows (a pure function of its rows): `(keys [rows, bands], valid, rows
    without text, cells not text)`; rows without text have no keys and are not `valid`."""
    # A hasher of its own: one shipped to a Ray worker arrives read-only (hashes never depend on its vocabulary)
    hasher = MinHasher(job.num_perm, job.shingle_size, job.seed)
    n = len(shard)
    keys = np.zeros((n, job.bands), dtype=np.uint64)
    valid = np.zeros(n, dtype=bool)
    rows_empty = cells_bad = 0
    for start, cols in iter_texts(shard, job.columns, job.batch_size):
        texts = []
        for j in range(len(cols[0])):
            cells, bad = _row_texts(cols, j)
            cells_bad += bad
            texts.append("\n".join(cells))
        signatures, docs = hasher.signatures(texts)
        rows_empty += len(texts) - docs.size
        keys[start + docs] = band_keys(signatures, job.bands, job.rows)
        valid[start + docs] = True
    return keys, valid, rows_empty, cells_bad


def dedup_near(
    dataset: Dataset, config: DedupConfig | None = None, *, map_shards: ShardMap = in_one_shard
) -> DedupResult:
    """Reject near-duplicates (verified Jaccard >= threshold on word shingles), keeping each cluster's first row
    (trace rows: by their problem, see `dedup_traces_by_problem`).

    `map_shards` computes the signatures and band keys shard by shard (over a Ray cluster, say); the banding into
    candidate pairs, their verification and the clusters then run over every row at once, so pairs whose rows
    are in different shards are found as in one process."""
    config = config or DedupConfig()
    if judges_traces_by_problem(dataset, config):
        return dedup_traces_by_problem(dataset, config, lambda d, c: dedup_near(d, c, map_shards=map_shards))
    started = time.perf_counter()
    if not 0.0 < config.minhash_threshold <= 1.0:
        raise ValueError(f"--minhash_threshold must be in (0, 1], got {config.minhash_threshold}")
    columns, id_column = resolve_columns(dataset, config)
    if config.minhash_bands is not None and config.minhash_rows is not None:
        bands, rows = config.minhash_bands, config.minhash_rows
    elif config.minhash_bands is None and config.minhash_rows is None:
        bands, rows = choose_bands(config.minhash_threshold, config.minhash_num_perm)
    else:
        raise ValueError(
            "pass both --minhash_bands and --minhash_rows, or neither (chosen from the threshold)"
        )
    if bands * rows > config.minhash_num_perm or bands < 1 or rows < 1:
        raise ValueError(
            f"LSH bands x rows = {bands} x {rows} needs {bands * rows} permutations; "
            f"--minhash_num_perm is {config.minhash_num_perm}"
        )
    hasher = MinHasher(config.minhash_num_perm, config.minhash_shingle_size, config.minhash_seed)
    n = len(dataset)
    job = _BandJob(
        columns,
        config.minhash_num_perm,
        config.minhash_shingle_size,
        config.minhash_seed,
        bands,
        rows,
        config.dedup_batch_size,
    )
    parts = map_shards(_band_keys_of, dataset, job)
    keys = np.concatenate([p[0] for p in parts]) if parts else np.zeros((0, bands), dtype=np.uint64)
    valid = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, dtype=bool)
    rows_empty, cells_bad = sum(p[2] for p in parts), sum(p[3] for p in parts)
    pairs = candidate_pairs(keys, valid)
    del keys
    verified, sims = verify_pairs(dataset, columns, hasher, pairs, config.minhash_threshold)
    info = connected_components(verified, sims)
    report = DedupReport(
        stage=NEAR_STAGE,
        columns=columns,
        rows_checked=n,
        rows_empty=rows_empty,
        cells_not_text=cells_bad,
        duplicates=0,
        clusters=len({rep for rep, _, _ in info.values()}),
        candidate_pairs=int(len(pairs)),
        verified_pairs=int(len(verified)),
        params={
            "shingle_size": config.minhash_shingle_size,
            "num_perm": config.minhash_num_perm,
            "bands": bands,
            "rows": rows,
            "threshold": config.minhash_threshold,
            "candidate_probability_at_threshold": round(
                candidate_probability(config.minhash_threshold, bands, rows), 4
            ),
        },
    )
    result = _finish(dataset, NEAR_STAGE, NEAR_REASON, info, id_column, report)
    report.seconds = round(time.perf_counter() - started, 3)
    logger.info(
        "dedup_near: %d rows, %d candidate pairs, %d verified, %d duplicates in %.1fs",
        n,
        len(pairs),
        len(verified),
        len(info),
        report.seconds,
    )
    return result


def minhash_clusters(
    texts: list[str], threshold: float, num_perm: int = 128, shingle_size: int = 3, seed: int = 1
) -> list[int]:
    """Cluster texts by word-shingle Jaccard (the near-dedup machinery at any threshold): one label per text,
    the index of its cluster's first text. Texts joined by a chain of verified pairs >= `threshold` share a label;
    an empty text is its own cluster."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"the MinHash cluster threshold must be in (0, 1], got {threshold}")
    hasher = MinHasher(num_perm, shingle_size, seed)
    bands, rows = choose_bands(threshold, num_perm)
    keys = np.zeros((len(texts), bands), dtype=np.uint64)
    valid = np.zeros(len(texts), dtype=bool)
    signatures, docs = hasher.signatures(texts)
    if docs.size:
        keys[docs] = band_keys(signatures, bands, rows)
        valid[docs] = True
    pairs = candidate_pairs(keys, valid)
    sets = _shingle_sets(hasher, texts)
    sims = np.array([jaccard(sets[i], sets[j]) for i, j in pairs.tolist()], dtype=np.float64)
    ok = sims >= threshold
    info = connected_components(pairs[ok], sims[ok])
    return [info[i][0] if i in info else i for i in range(len(texts))]
