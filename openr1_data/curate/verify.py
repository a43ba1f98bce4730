"""The math verification stage: compare every trace's answer with its gold answer using math-verify.

`verify_traces(dataset, VerifyConfig())` adds `correct` (True / False / None) and `verify_error` (why it is None,
or why an answer counts as wrong: "no_answer", "answer_unparseable"). It rejects nothing (selection does that): its
`StageResult` keeps every row, with the counts of `verify_summary` as its report.

How it scales (see benchmarks/verify.py):
- Only the short columns (`answer`, `predicted_answer`) are read, as Arrow arrays; `final` is read only for rows
  without a predicted answer. Results go into numpy arrays, never into per-row Python dicts.
- Rows are processed sorted by (gold, answer), so each gold is parsed once (per worker) and identical answers
  are parsed and compared once: parsing is most of math-verify's cost. `AnswerVerifier` also parses faster with
  identical results (see `verdicts.py`).
- Chunks run in worker processes, where math-verify's signal-based timeouts work (main thread of each worker).
  A pathological expression times out per parse/comparison; a worker that crashes is replaced, its chunk re-run
  row by row in fresh processes, and only the row that kills a process is marked `worker_crashed`.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, fields
from typing import cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from datasets import Dataset, Value

from openr1_data.curate.answer_verifier import (
    DEFAULT_FALLBACK_CHARS,
    DEFAULT_TIMEOUT_SECONDS,
    AnswerOptions,
    AnswerVerifier,
    VerifierStats,
)
from openr1_data.curate.code_verify import CodeSettings, codes_of, verify_code
from openr1_data.curate.gym_verify import gym_answer, gym_verdicts
from openr1_data.curate.mcq import check_choices
from openr1_data.funnel import StageResult, keep_every_row
from openr1_data.procs import watched_initializer
from openr1_data.schema import (
    ANSWER,
    CHOICES,
    CODE,
    CORRECT,
    DOMAIN,
    GYM,
    GYM_ENTRY,
    MATH,
    MCQ,
    TESTS,
    TESTS_PASSED,
    TESTS_TOTAL,
    VERIFY_ERROR,
    ContractError,
    arrow_column,
    arrow_table,
    require_columns,
)
from openr1_data.sources.domains import dataset_domains
from openr1_data.text import final_answer
from openr1_data.verdicts import VERIFY_ERRORS, WORKER_CRASHED


@dataclass
class VerifyConfig:
    """Settings of the math verification stage."""

    verify_num_proc: int | None = field(
        default=None,
        metadata={
            "help": "worker processes (default: all cores); 0 runs in this process without crash isolation"
        },
    )
    verify_batch_size: int = field(default=128, metadata={"help": "rows per task sent to a worker"})
    timeout_seconds: int = field(
        default=DEFAULT_TIMEOUT_SECONDS,
        metadata={"help": "math-verify timeout (whole seconds) for each parse and each comparison of a row"},
    )
    fallback_to_final: bool = field(
        default=True,
        metadata={
            "help": "when a trace has no predicted answer, look for an announced answer in its final text"
        },
    )
    fallback_chars: int = field(
        default=DEFAULT_FALLBACK_CHARS,
        metadata={"help": "how many trailing characters of `final` the fallback reads"},
    )
    missing_answer_is_wrong: bool = field(
        default=True,
        metadata={"help": "a trace with no (parseable) answer is wrong (False); off: unknown (None)"},
    )
    float_rounding: int = field(default=6, metadata={"help": "math-verify float_rounding"})
    numeric_precision: int = field(default=15, metadata={"help": "math-verify numeric_precision"})
    strict: bool = field(default=True, metadata={"help": "math-verify strict mode (variables matter)"})
    allow_set_relation_comp: bool = field(
        default=False,
        metadata={
            "help": "math-verify: a relation answer may equal a set gold (`-2 \\le x \\le 7` for `[-2, 7]`); off: "
            "only a set answer is compared with a relation gold"
        },
    )
    answer_from_final: bool = field(
        default=False,
        metadata={
            "help": "re-read every trace's answer from its `final` text with the boxed-answer rule instead of the "
            "prediction column (traces parsed by another tool or an older version); reads the long column"
        },
    )
    gold_column: str = field(default=ANSWER, metadata={"help": "column with the gold answer"})
    prediction_column: str = field(
        default="predicted_answer", metadata={"help": "column with the trace's answer"}
    )
    final_column: str = field(default="final", metadata={"help": "column with the text after the reasoning"})
    start_method: str | None = field(
        default=None, metadata={"help": "multiprocessing start method (default: fork on Linux, else spawn)"}
    )
    progress: bool = field(default=True, metadata={"help": "show a progress bar"})
    code_num_proc: int | None = field(
        default=None, metadata={"help": "code traces: sandboxes running at once (default: all cores)"}
    )
    code_timeout_seconds: float = field(
        default=10.0,
        metadata={
            "help": "code traces: wall-clock limit of one sandbox run (all function tests of a candidate, or one "
            "stdin/stdout case); the CPU limit is this plus one second"
        },
    )
    code_memory_mb: int = field(
        default=2048, metadata={"help": "code traces: address-space limit of a run (MiB)"}
    )
    code_max_output_bytes: int = field(
        default=4 * 1024 * 1024,
        metadata={"help": "code traces: cap on stdout, stderr and each file a run writes (bytes)"},
    )
    mcq_strict: bool = field(
        default=False,
        metadata={
            "help": "multiple-choice traces: accept only a letter in the last \\boxed{} (off: also 'Answer: C', "
            "'the answer is (C)', ...)"
        },
    )
    gold_audit: bool = field(
        default=True,
        metadata={
            "help": "flag problems (`gold_suspect`) whose samples agree on another answer than the gold: at least "
            "agreement_count samples and a share agreement_share of them give one answer the gold rejects"
        },
    )
    majority_answers: bool = field(
        default=False,
        metadata={
            "help": "problems without a gold get the answer their samples agree on (same thresholds), marked "
            "`answer_source: majority`, and their traces are verified against it"
        },
    )
    agreement_share: float = field(
        default=0.75,
        metadata={
            "help": "gold audit and majority answers: the least share of a problem's samples that agree"
        },
    )
    agreement_count: int = field(
        default=3,
        metadata={"help": "gold audit and majority answers: the least number of samples that agree"},
    )

    def __post_init__(self) -> None:
        if not 0.5 < self.agreement_share <= 1:
            raise ValueError(
                f"agreement_share must be in (0.5, 1] (a majority of the samples), got {self.agreement_share}"
            )
        if self.agreement_count < 2:
            raise ValueError(
                f"agreement_count must be >= 2 (one sample agrees with nothing), got {self.agreement_count}"
            )

    def code_settings(self) -> CodeSettings:
        """The sandbox settings of code rows."""
        return CodeSettings(
            num_proc=self.code_num_proc,
            timeout_seconds=self.code_timeout_seconds,
            memory_mb=self.code_memory_mb,
            max_output_bytes=self.code_max_output_bytes,
            missing_code_is_wrong=self.missing_answer_is_wrong,
        )

    def answer_options(self) -> AnswerOptions:
        names = {f.name for f in fields(AnswerOptions)}
        return AnswerOptions(**{n: getattr(self, n) for n in names})

    def workers(self) -> int:
        return (os.cpu_count() or 1) if self.verify_num_proc is None else max(0, self.verify_num_proc)


# --------------------------------------------------------------------------------------------------------------
# Worker side
# --------------------------------------------------------------------------------------------------------------

Row = tuple[object, str | None, str | None]  # (gold, predicted answer, final text or None)
Verdict = tuple[bool | None, str | None]

_VERIFIER: AnswerVerifier | None = None


def _init_worker(options: AnswerOptions) -> None:
    global _VERIFIER
    _VERIFIER = AnswerVerifier(options)


def _check_rows(rows: Sequence[Row]) -> tuple[list[Verdict], VerifierStats]:
    """Worker task: verify a chunk of rows with this process's cached verifier."""
    assert _VERIFIER is not None, "worker not initialised"
    before = VerifierStats(**vars(_VERIFIER.stats))
    verdicts = [_VERIFIER.check(g, p, f) for g, p, f in rows]
    delta = VerifierStats(**{k: v - getattr(before, k) for k, v in vars(_VERIFIER.stats).items()})
    return verdicts, delta


def _context(start_method: str | None):
    if start_method is None:
        start_method = "fork" if sys.platform.startswith("linux") else "spawn"
    return multiprocessing.get_context(start_method)


_WARM = False


def _warm_up() -> None:
    """Import math-verify and parse a few answers once in this process, so forked workers start warm (its ANTLR
    parser builds caches on first use) instead of each paying for it."""
    global _WARM
    if not _WARM:
        verifier = AnswerVerifier(AnswerOptions())
        # One of each common shape: integers, decimals, fractions, roots, pi, powers, equations, inequalities,
        # intervals, sets, tuples, percentages, text, units.
        warm = [
            "12",
            "-3",
            "0.25",
            "\\frac{3}{4}",
            "\\dfrac{5}{8}",
            "3/7",
            "2\\sqrt{3}",
            "\\frac{\\pi}{6}",
            "x^2+1",
        ]
        warm += ["y = 2x + 1", "x \\geq 2", "(1, 2]", "[0, \\infty)", "\\{1, 2\\}", "(3, 4)", "1, 2", "15\\%"]
        warm += ["\\text{yes}", "10 \\text{ cm}", "90^\\circ", "\\sqrt[3]{2}", "e^{2}", "\\log_2 8"]
        for text in warm:
            verifier.check(text, text)  # the parses warm the parser; comparing equal values is quick
        _WARM = True


def _pool(workers: int, options: AnswerOptions, start_method: str | None) -> ProcessPoolExecutor:
    if (
        _context(start_method).get_start_method() == "fork"
        and threading.current_thread() is threading.main_thread()
    ):
        _warm_up()
    # workers die with this process (a kill -9 of `openr1-data verify` leaves none behind)
    initializer, initargs = watched_initializer(_init_worker, (options,))
    return ProcessPoolExecutor(
        max_workers=workers, mp_context=_context(start_method), initializer=initializer, initargs=initargs
    )


def _run_isolated(
    rows: Sequence[Row], options: AnswerOptions, start_method: str | None
) -> tuple[list, VerifierStats]:
    """Re-run a chunk whose worker died: whole chunk in a fresh process, else row by row in fresh processes."""
    try:
        with _pool(1, options, start_method) as pool:
            return pool.submit(_check_rows, rows).result()
    except BrokenProcessPool:
        pass
    verdicts: list[Verdict] = []
    stats = VerifierStats()
    for row in rows:
        try:
            with _pool(1, options, start_method) as pool:
                (verdict,), delta = pool.submit(_check_rows, [row]).result()
            stats.add(delta)
        except BrokenProcessPool:
            verdict = (None, WORKER_CRASHED)
        verdicts.append(verdict)
    return verdicts, stats


Chunk = tuple[np.ndarray, list[Row]]  # (row positions in the dataset, rows)


def _run_chunks(
    chunks: Iterator[Chunk],
    workers: int,
    options: AnswerOptions,
    start_method: str | None,
    on_result: Callable[[np.ndarray, list[Verdict]], None],
) -> VerifierStats:
    """Run chunks on a pool of `workers` processes, at most 2 per worker in flight (bounded memory)."""
    stats = VerifierStats()
    pool = _pool(workers, options, start_method)
    inflight: dict[Future, Chunk] = {}
    try:
        while True:
            for chunk in chunks:
                inflight[pool.submit(_check_rows, chunk[1])] = chunk
                if len(inflight) >= 2 * workers:
                    break
            if not inflight:
                return stats
            done, _ = wait(inflight, return_when=FIRST_COMPLETED)
            broken: list[Chunk] = []
            for fut in done:
                chunk = inflight.pop(fut)
                try:
                    verdicts, delta = fut.result()
                except BrokenProcessPool:
                    broken.append(chunk)
                    continue
                stats.add(delta)
                on_result(chunk[0], verdicts)
            if broken:
                # A worker died (a crash or the OOM killer): every unfinished chunk is suspect; re-run those in
                # isolation, then carry on with a fresh pool.
                for fut, chunk in list(inflight.items()):
                    if fut.done() and fut.exception() is None:
                        verdicts, delta = fut.result()
                        stats.add(delta)
                        on_result(chunk[0], verdicts)
                    else:
                        broken.append(chunk)
                inflight.clear()
                pool.shutdown(wait=True, cancel_futures=True)
                for positions, rows in broken:
                    verdicts, delta = _run_isolated(rows, options, start_method)
                    stats.add(delta)
                    on_result(positions, verdicts)
                pool = _pool(workers, options, start_method)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# --------------------------------------------------------------------------------------------------------------
# Column-level API
# --------------------------------------------------------------------------------------------------------------

_ERROR_CODES = {name: i + 1 for i, name in enumerate(VERIFY_ERRORS)}  # 0 = no error


@dataclass
class VerifyResult:
    """Per-row verdicts as Arrow arrays plus the work counters."""

    correct: pa.Array
    verify_error: pa.Array
    stats: VerifierStats
    seconds: float

    def summary(self) -> dict[str, int]:
        """Counts: correct, incorrect, unknown, and rows per verify_error."""
        counts = self.correct.value_counts().to_pylist()
        by_value = {c["values"]: c["counts"] for c in counts}
        out = {
            "correct": by_value.get(True, 0),
            "incorrect": by_value.get(False, 0),
            "unknown": by_value.get(None, 0),
        }
        for item in self.verify_error.value_counts().to_pylist():
            if item["values"] is not None:
                out[f"error:{item['values']}"] = item["counts"]
        return out


def _as_string_array(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        column = pc.cast(column, pa.string())  # integer / float gold answers (GSM8K-style datasets)
    return column


def _chunk_bounds(sorted_golds: pa.Array, batch_size: int) -> list[int]:
    """Chunk boundaries over the sorted rows: about every `batch_size` rows, moved forward to where the gold
    changes when that is near, so a problem's samples stay in one chunk (one worker parses its gold once)."""
    n = len(sorted_golds)
    if n == 0:
        return [0]
    if n > 1:
        not_equal = pc.not_equal  # pyright: ignore[reportAttributeAccessIssue] (pyarrow builds pc.* at import)
        changed = pc.fill_null(not_equal(sorted_golds.slice(1), sorted_golds.slice(0, n - 1)), True)
        group_starts = np.concatenate([[0], np.flatnonzero(changed.to_numpy(zero_copy_only=False)) + 1, [n]])
    else:
        group_starts = np.array([0, n])
    bounds = []
    for target in range(0, n, batch_size):
        nxt = int(group_starts[np.searchsorted(group_starts, target)])
        bounds.append(
            nxt if nxt - target < batch_size // 2 else target
        )  # a huge group is split, not swallowed
    return sorted(set(bounds) | {0, n})


def verify_columns(
    golds: pa.Array,
    predictions: pa.Array,
    config: VerifyConfig | None = None,
    *,
    finals: Callable[[np.ndarray], list[str | None]] | None = None,
) -> VerifyResult:
    """Verify aligned Arrow string arrays of gold and predicted answers.

    `finals(positions)` returns the final texts of those row positions; it is only called for rows without a
    predicted answer (so long texts are read only where the fallback needs them).
    """
    config = config or VerifyConfig()
    options = config.answer_options()
    start = time.perf_counter()
    golds, predictions = _as_string_array(golds), _as_string_array(predictions)
    n = len(golds)
    if len(predictions) != n:
        raise ValueError(f"{n} gold answers but {len(predictions)} predicted answers")
    codes = np.zeros(n, dtype=np.int8)  # 1 True, 0 False, -1 None
    errors = np.zeros(n, dtype=np.int8)
    # Sort by (gold, answer): equal golds and equal answers end up next to each other, in the same chunk.
    order = pc.sort_indices(  # pyright: ignore[reportAttributeAccessIssue] (pyarrow builds pc.* at import)
        pa.table({"g": golds, "p": predictions}),
        sort_keys=[("g", "ascending"), ("p", "ascending")],
    ).to_numpy()
    fallback = finals is not None and config.fallback_to_final

    # Chunks are contiguous in sorted order (cache hits) but handed out in a shuffled order: similar answers cost
    # alike, so in sorted order the expensive ones (equations, say) would all land at the end, on one worker.
    bounds = _chunk_bounds(golds.take(pa.array(order)), config.verify_batch_size)
    spans = list(zip(bounds[:-1], bounds[1:], strict=True))
    random.Random(0).shuffle(spans)

    def chunks() -> Iterator[Chunk]:
        for lo, hi in spans:
            positions = order[lo:hi]
            idx = pa.array(positions)
            g = golds.take(idx).to_pylist()
            p = predictions.take(idx).to_pylist()
            f: list[str | None] = [None] * len(positions)
            if fallback:
                missing = [i for i, value in enumerate(p) if not (value or "").strip()]
                if missing:
                    for i, text in zip(missing, finals(positions[missing]), strict=True):  # pyright: ignore[reportOptionalCall] (set with fallback)
                        f[i] = text
            yield positions, list(zip(g, p, f, strict=True))

    bar = _progress(n, config.progress)

    def store(positions: np.ndarray, verdicts: list[Verdict]) -> None:
        for pos, (ok, err) in zip(positions, verdicts, strict=True):
            codes[pos] = -1 if ok is None else int(ok)
            errors[pos] = _ERROR_CODES[err] if err else 0
        if bar is not None:
            bar.update(len(positions))

    workers = config.workers()
    if workers and n:
        workers = min(workers, -(-n // config.verify_batch_size))  # no idle workers for a small input
        stats = _run_chunks(chunks(), workers, options, config.start_method, store)
    elif threading.current_thread() is not threading.main_thread() and n:
        # math-verify's timeouts need a main thread: run in one worker process instead of this thread.
        stats = _run_chunks(chunks(), 1, options, config.start_method, store)
    else:
        verifier = AnswerVerifier(options)
        for positions, rows in chunks():
            store(positions, [verifier.check(*row) for row in rows])
        stats = verifier.stats
    if bar is not None:
        bar.close()
    correct = pa.array(codes == 1, mask=codes == -1)
    vocab = pa.array([None, *VERIFY_ERRORS], type=pa.string())
    verify_error = vocab.take(pa.array(errors.astype(np.int32)))
    return VerifyResult(correct, verify_error, stats, time.perf_counter() - start)


def _progress(total: int, enabled: bool):
    if not enabled or total < 1000:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="verify", unit="trace", file=sys.stderr)


def check_answers(
    golds: Sequence[object],
    predictions: Sequence[str | None],
    finals: Sequence[str | None] | None = None,
    config: VerifyConfig | None = None,
) -> list[Verdict]:
    """Verify a handful of answers (for rewards and evaluation): in this process when called from the main
    thread (fast, cached), otherwise in a worker process (math-verify's timeouts need a main thread)."""
    config = config or VerifyConfig(verify_num_proc=0, progress=False)
    finals = list(finals) if finals is not None else [None] * len(golds)
    if threading.current_thread() is threading.main_thread():
        verifier = _shared_verifier(config.answer_options())
        return [verifier.check(g, p, f) for g, p, f in zip(golds, predictions, finals, strict=True)]
    future = _thread_pool(config.answer_options()).submit(
        _check_rows, list(zip(golds, predictions, finals, strict=True))
    )
    return future.result()[0]


_SHARED: dict[AnswerOptions, AnswerVerifier] = {}
_THREAD_POOLS: dict[AnswerOptions, ProcessPoolExecutor] = {}
_LOCK = threading.Lock()


def _shared_verifier(options: AnswerOptions) -> AnswerVerifier:
    """One cached verifier per set of options in this process (golds repeat across GRPO steps)."""
    if options not in _SHARED:
        _SHARED[options] = AnswerVerifier(options)
    return _SHARED[options]


def _thread_pool(options: AnswerOptions) -> ProcessPoolExecutor:
    # A long-lived spawn worker: forking from a non-main thread of a busy process (a trainer) is unsafe.
    with _LOCK:
        if options not in _THREAD_POOLS:
            _THREAD_POOLS[options] = _pool(1, options, "spawn")
        return _THREAD_POOLS[options]


def is_correct(
    gold: str, answer_text: str | None, *, final: str | None = None, config: VerifyConfig | None = None
) -> bool | None:
    """Is `answer_text` (a bare answer, e.g. a `\\boxed{}` content) equal to `gold`? None when unknown
    (unparseable gold, timeout). The single-answer form of `check_answers`, which verification, the rewards and
    evaluation run on whole columns."""
    return check_answers([gold], [answer_text], [final], config)[0][0]


# --------------------------------------------------------------------------------------------------------------
# Dataset stage
# --------------------------------------------------------------------------------------------------------------


def verify_traces(dataset: Dataset, config: VerifyConfig | None = None) -> StageResult[dict[str, int]]:
    """Add `correct` and `verify_error` to every trace (rows keep their order; nothing is dropped): the result keeps
    every row and reports `verify_summary`'s counts.

    Raises `ContractError` before any work when the gold or prediction column is missing. Code and multiple-choice
    rows (by `domain`, derived when missing: `sources/domains.py`) are verified by their own judgement and the
    result gets `domain`, `tests_passed` and `tests_total` columns too (`_verify_domains`).
    """
    verified = _verify(dataset, config or VerifyConfig())
    return keep_every_row(verified, "verify", verify_summary(verified))


def has_other_domains(dataset: Dataset) -> bool:
    """Whether any row is not math (code, multiple-choice, reasoning-gym): verification then adds the domain
    columns (`domain`, `tests_passed`, `tests_total`) to every row."""
    return any(d != MATH for d in dataset_domains(dataset))


def verify_part(part: Dataset, config: VerifyConfig, mixed: bool) -> Dataset:
    """`verify_traces`'s columns for a part of a dataset (a shard), where `mixed` is `has_other_domains` of the
    whole dataset, so every part gets the same columns and the parts put together equal the whole verified."""
    return _verify(part, config, mixed)


def _verify(dataset: Dataset, config: VerifyConfig, mixed: bool = False) -> Dataset:
    """`verify_traces`'s columns: each domain's rows through its own judgement."""
    domains = dataset_domains(dataset)
    if mixed or any(d != MATH for d in domains):
        return _verify_domains(dataset, config, domains)
    require_columns(
        dataset.column_names,
        [config.gold_column, config.prediction_column],
        what="verify",
        fix=(
            f"Traces need the gold answer in '{config.gold_column}' (problem loading derives it from the solution's "
            f"last \\boxed{{}}) and the parsed answer in '{config.prediction_column}' (written by generation); "
            "pass --gold_column / --prediction_column if yours are named differently."
        ),
    )
    short = arrow_table(dataset.select_columns([config.gold_column, config.prediction_column]))
    predictions = short.column(1)
    if config.answer_from_final:
        require_columns(
            dataset.column_names,
            [config.final_column],
            what="verify --answer_from_final",
            fix=f"Traces need the text after the reasoning in '{config.final_column}' (pass --final_column).",
        )
        # The rule every stage uses for which \boxed{} answers count (several boxes = one answer).
        texts = arrow_column(dataset, config.final_column).to_pylist()
        predictions = pa.array([final_answer(t) for t in texts], type=pa.string())
    finals: Callable[[np.ndarray], list[str | None]] | None = None
    if config.fallback_to_final and config.final_column in dataset.column_names:
        final_view = dataset.select_columns([config.final_column]).with_format("arrow")

        def read_finals(positions: np.ndarray) -> list[str | None]:
            return cast(pa.Table, final_view[positions.tolist()]).column(0).to_pylist()

        finals = read_finals

    result = verify_columns(short.column(0), predictions, config, finals=finals)
    out = dataset.remove_columns([c for c in (CORRECT, VERIFY_ERROR) if c in dataset.column_names])
    out = out.add_column(CORRECT, result.correct, feature=Value("bool"))
    out = out.add_column(VERIFY_ERROR, result.verify_error, feature=Value("string"))
    return out


def _texts_after_reasoning(dataset: Dataset, config: VerifyConfig, what: str) -> list[str | None]:
    """The `final` column (the text after the think block), or the whole completion when there is none."""
    for column in (config.final_column, "completion"):
        if column in dataset.column_names:
            return dataset[column]
    raise ContractError(
        f"verify: {what} rows need the text after the reasoning in '{config.final_column}' (or a 'completion' "
        f"column); the dataset has {dataset.column_names}. Pass --final_column if yours is named differently."
    )


def _verify_domains(dataset: Dataset, config: VerifyConfig, domains: list[str]) -> Dataset:
    """A run with code, multiple-choice or reasoning-gym rows: each domain's rows through its own judgement."""
    n = len(dataset)
    correct: list[bool | None] = [None] * n
    errors: list[str | None] = [None] * n
    passed: list[int | None] = [None] * n
    total: list[int | None] = [None] * n
    rows = {d: [i for i, x in enumerate(domains) if x == d] for d in (MATH, CODE, MCQ, GYM)}
    if rows[CODE]:
        require_columns(
            dataset.column_names,
            [TESTS],
            what="verify (code rows)",
            fix="Code traces need the problem's `tests` column (problem loading writes it for code layouts).",
        )
    if rows[MATH]:
        math = _verify(dataset.select(rows[MATH]), config).select_columns([CORRECT, VERIFY_ERROR])
        for i, ok, err in zip(rows[MATH], math[CORRECT], math[VERIFY_ERROR], strict=True):
            correct[i], errors[i] = ok, err
    if rows[CODE]:
        code = dataset.select(rows[CODE])
        codes = codes_of(_texts_after_reasoning(code, config, "code"))
        verdicts = verify_code(codes, code[TESTS], config.code_settings(), progress=config.progress)
        for i, verdict in zip(rows[CODE], verdicts, strict=True):
            correct[i], errors[i] = verdict.correct, verdict.error
            passed[i], total[i] = verdict.tests_passed, verdict.tests_total
    if rows[MCQ]:
        mcq = dataset.select(rows[MCQ])
        require_columns(
            mcq.column_names,
            [config.gold_column],
            what="verify (multiple-choice rows)",
            fix=f"Multiple-choice traces need the gold letter in '{config.gold_column}' (pass --gold_column).",
        )
        choices = mcq[CHOICES] if CHOICES in mcq.column_names else [None] * len(mcq)
        verdicts = check_choices(
            mcq[config.gold_column],
            _texts_after_reasoning(mcq, config, "multiple-choice"),
            choices,
            strict=config.mcq_strict,
            missing_answer_is_wrong=config.missing_answer_is_wrong,
        )
        for i, (ok, err) in zip(rows[MCQ], verdicts, strict=True):
            correct[i], errors[i] = ok, err
    if rows[GYM]:
        gym = dataset.select(rows[GYM])
        require_columns(
            gym.column_names,
            [GYM_ENTRY],
            what="verify (reasoning-gym rows)",
            fix="reasoning-gym traces need the problem's `gym_entry` column (--problems reasoning_gym:TASK writes it).",
        )
        predicted = gym["predicted_answer"] if "predicted_answer" in gym.column_names else [None] * len(gym)
        answers = [
            gym_answer(p, f)
            for p, f in zip(predicted, _texts_after_reasoning(gym, config, "reasoning-gym"), strict=True)
        ]
        verdicts = gym_verdicts(gym[GYM_ENTRY], answers, config.missing_answer_is_wrong)
        for i, (ok, err) in zip(rows[GYM], verdicts, strict=True):
            correct[i], errors[i] = ok, err
    added = {
        DOMAIN: (domains, Value("string")),
        CORRECT: (correct, Value("bool")),
        VERIFY_ERROR: (errors, Value("string")),
        TESTS_PASSED: (passed, Value("int32")),
        TESTS_TOTAL: (total, Value("int32")),
    }
    out = dataset.remove_columns([c for c in added if c in dataset.column_names])
    for name, (values, feature) in added.items():
        out = out.add_column(name, values, feature=feature)
    return out


def verify_summary(dataset: Dataset) -> dict[str, int]:
    """Counts of a verified dataset: correct / incorrect / unknown and rows per `verify_error`."""
    if CORRECT not in dataset.column_names:
        raise ContractError(f"verify_summary: no '{CORRECT}' column; run verify_traces first")
    table = arrow_table(dataset.select_columns([CORRECT, VERIFY_ERROR]))
    counts = VerifyResult(
        table.column(0).combine_chunks(), table.column(1).combine_chunks(), VerifierStats(), 0.0
    ).summary()
    if DOMAIN in dataset.column_names:  # a mixed run: the same counts per domain, `code:correct`, ...
        for domain, ok in zip(dataset[DOMAIN], dataset[CORRECT], strict=True):
            key = f"{domain}:" + ("unknown" if ok is None else "correct" if ok else "incorrect")
            counts[key] = counts.get(key, 0) + 1
    return counts
