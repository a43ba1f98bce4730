"""`import_traces`: a dataset of reasoning traces in a known layout into a stage folder of traces (one row per
generation), streamed in batches and resumable.

Each trace is parsed as generation parses its own: the completion (in the `<think>` format, `think_format`) by the
parser of the prompt style of its domain (`r1` for math, `r1_code` for code, `mcq` for multiple choice; the domain
comes from the text, `sources/domains.trace_domain`), so `reasoning`, `final`, `predicted_answer` and `parse_issue`
mean what they mean for generated traces, and `verify`, `filter` and `publish` read imported traces unchanged. Ids
are made as generation makes them (`problem_id` from the problem text, `trace_id` from problem, style, teacher and
sample index; the sample index counts a problem's traces in input order, so a problem met twice keeps both).
`completion_tokens` is the approximate count (words + symbols) generation uses when a server sends none.

How it streams and resumes: the input (memory-mapped Arrow) is read `import_batch_size` rows at a time; batch k is
written as `data/import-<k>.parquet` (kept traces) and `rejected/import/import-<k>.parquet` (rejected ones, with a
reason), each atomically (`generate/shards.write_shard`), the kept shard last: it marks the batch done. A rerun of
the same command skips the batches that are done and redoes the first that is not, so every trace is written
exactly once; `import_manifest.json` refuses a rerun with other settings. With `import_num_proc` > 1, forked
workers read and parse the batches and this process numbers (sample index, trace id) and writes them in order.
`import_report.json`, `lineage.json` and `funnel.json` (last: the folder is complete) are written when every batch
is there.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from datasets import Dataset, Features, Value

from openr1_data.funnel import Funnel, StageResult, StageStats
from openr1_data.generate.shards import write_table_shard
from openr1_data.io import DATA_DIR, FUNNEL_FILE, REJECTED_DIR, hold_folder_lock, read_parquet_folder
from openr1_data.lineage import write_record
from openr1_data.procs import watched_initializer
from openr1_data.prompts.styles import get_style
from openr1_data.schema import (
    ANSWER,
    CODE,
    DOMAIN,
    MATH,
    MCQ,
    PROBLEM,
    PROBLEM_ID,
    REJECT_REASON,
    REJECT_STAGE,
    SOLUTION,
    SOURCE,
    TESTS,
    TRACE_FEATURES,
    ContractError,
    make_problem_id,
    make_trace_id,
)
from openr1_data.sources.domains import trace_domain
from openr1_data.sources.trace_layouts import (
    SOURCE_CORRECT,
    TRACE_LAYOUTS,
    Generation,
    TraceLayout,
    kept_columns,
    resolve_trace_layout,
    think_format,
)
from openr1_data.teachers.base import approximate_token_count, normalize_finish_reason
from openr1_data.text import gold_answer, split_think

STAGE = "import"
MANIFEST = "import_manifest.json"
REPORT = "import_report"
UNKNOWN_TEACHER = "unknown"
# The prompt style whose parser reads a trace of each domain (the filters and rewards parse it the same way).
DOMAIN_STYLES = {MATH: "r1", CODE: "r1_code", MCQ: "mcq"}
# Why a generation is rejected instead of imported.
NO_PROBLEM, EMPTY_GENERATION, NO_THINK = "no_problem", "empty_generation", "no_think"


@dataclass
class ImportConfig:
    """Settings of `openr1-data import`."""

    layout: str = field(
        default="auto",
        metadata={"help": f"layout of the traces: auto, {', '.join(TRACE_LAYOUTS)} (docs/guides/import.md)"},
    )
    teacher: str | None = field(
        default=None,
        metadata={
            "help": "the model that wrote the traces (the `teacher` column); default: the dataset's own "
            f"teacher field (s1K: the column prefix), else {UNKNOWN_TEACHER!r}"
        },
    )
    import_batch_size: int = field(
        default=1000,
        metadata={
            "help": "input rows read, parsed and written (one shard) at a time; a kill loses at most one batch"
        },
    )
    import_num_proc: int = field(
        default=1,
        metadata={
            "help": "worker processes that read and parse batches (this process numbers and writes them in input "
            "order, so the output is the same for any number); 1: none"
        },
    )
    limit: int | None = field(default=None, metadata={"help": "import only the first N input rows"})
    progress: bool = field(default=True, metadata={"help": "show a progress bar"})

    def __post_init__(self) -> None:
        if self.import_batch_size < 1:
            raise ValueError(f"--import_batch_size must be >= 1, got {self.import_batch_size}")
        if self.import_num_proc < 1:
            raise ValueError(f"--import_num_proc must be >= 1, got {self.import_num_proc}")
        if self.limit is not None and self.limit < 0:
            raise ValueError(f"--limit must be >= 0, got {self.limit}")
        if self.layout != "auto" and self.layout not in TRACE_LAYOUTS:
            raise ValueError(
                f"--layout {self.layout!r} is unknown; choose auto or one of {list(TRACE_LAYOUTS)}"
            )


@dataclass
class ImportReport:
    """What the import measured (`import_report.json`)."""

    layout: str
    input_rows: int
    traces: int  # generations read: kept + rejected
    kept: int
    rejected: dict[str, int]
    domains: dict[str, int]
    teachers: dict[str, int]
    finish_reasons: dict[str, int]
    parse_issues: dict[str, int]
    source_correct: dict[str, int]  # the dataset's own verdicts of the kept traces: true / false / none
    seconds: float  # this run (a resumed run counts only the batches it wrote)
    rows_per_second: float

    def table(self) -> str:
        """A few aligned lines for the terminal."""
        lines = [f"layout {self.layout}: {self.input_rows} input rows -> {self.traces} traces"]
        for name in ("rejected", "domains", "teachers", "finish_reasons", "parse_issues", "source_correct"):
            counts = getattr(self, name)
            if counts:
                lines.append(f"  {name:<15} " + ", ".join(f"{k}: {v}" for k, v in counts.items()))
        lines.append(
            f"  {'rate':<15} {self.rows_per_second:.0f} input rows/s ({self.seconds:.1f} s this run)"
        )
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------------------------
# One generation -> one trace row
# --------------------------------------------------------------------------------------------------------------


def trace_features(layout: TraceLayout, raw: Dataset) -> Features:
    """The columns of every imported trace: the problem columns, `domain` and `tests` (verify reads them), the
    trace columns, the dataset's kept columns and the layout's `source_*` verdicts."""
    kept = {
        ours: raw.features[theirs]
        for theirs, ours in kept_columns(raw.column_names).items()
        if isinstance(raw.features[theirs], Value)
    }
    problem = {c: Value("string") for c in (PROBLEM, SOLUTION, ANSWER, SOURCE, PROBLEM_ID, DOMAIN, TESTS)}
    return Features({**problem, **TRACE_FEATURES, **kept, **layout.verdicts(raw.column_names)})


def rejected_features(features: Features) -> Features:
    return Features({**features, REJECT_STAGE: Value("string"), REJECT_REASON: Value("string")})


def trace_row(gen: Generation, teacher: str, problem_id: str) -> tuple[dict[str, Any], str | None]:
    """The contract row of one generation and why it is rejected (None: imported); its `sample_index` and
    `trace_id` come from `number_traces`, which sees the traces in input order."""
    problem = (gen.problem or "").strip() or None
    completion = think_format(gen.completion or "")
    _, final, _ = split_think(completion)
    gold = gold_answer(gen.answer, gen.solution)
    domain = trace_domain(problem, final, gold)
    style = DOMAIN_STYLES[domain]
    row = {PROBLEM: problem, SOLUTION: gen.solution, ANSWER: gold, PROBLEM_ID: problem_id, DOMAIN: domain}
    parsed = get_style(style).parse(completion, row)
    row.update(
        {
            SOURCE: gen.source if isinstance(gen.source, str) else None,
            TESTS: None,  # imported code traces have no tests: verify says `no_tests` (correct None)
            "teacher": teacher,
            "prompt_style": style,
            "prompt": gen.prompt,
            "completion": completion,
            "reasoning": parsed.reasoning,
            "final": parsed.final,
            "predicted_answer": parsed.predicted_answer,
            "finish_reason": normalize_finish_reason(gen.finish_reason or "stop"),
            "completion_tokens": approximate_token_count(completion),
            "parse_issue": parsed.parse_issue,
            "forced": False,
            **gen.verdicts,
        }
    )
    if problem is None:
        return row, NO_PROBLEM
    if not completion.strip():
        return row, EMPTY_GENERATION
    if parsed.parse_issue == NO_THINK:
        return row, NO_THINK
    return row, None


def batch_rows(batch: Mapping[str, list], start: int) -> Iterator[tuple[int, dict[str, Any]]]:
    """(input row index, row) of a column batch (`Dataset[start:end]`)."""
    columns = list(batch)
    n = len(batch[columns[0]]) if columns else 0
    for i in range(n):
        yield start + i, {c: batch[c][i] for c in columns}


def parse_batch(
    batch: Mapping[str, list], start: int, layout: TraceLayout, teacher: str | None, kept: Mapping[str, str]
) -> list[tuple[dict[str, Any], str | None]]:
    """Every generation of one batch of input rows as (row, rejection reason), in input order, before numbering."""
    parsed = []
    for index, raw in batch_rows(batch, start):
        extra = {ours: raw.get(theirs) for theirs, ours in kept.items()}
        for gen in layout.read(raw, index):
            problem_id = make_problem_id((gen.problem or "").strip())
            row, reason = trace_row(gen, teacher or gen.teacher or UNKNOWN_TEACHER, problem_id)
            row.update(extra)
            parsed.append((row, reason))
    return parsed


def number_traces(
    parsed: list[tuple[dict[str, Any], str | None]], counts: Counter
) -> tuple[list[dict], list[dict]]:
    """Kept rows and rejected rows (with their stage and reason) of parsed generations, each given its sample index
    (the problem's traces so far, `counts`, updated) and its trace id as generation makes it."""
    kept_rows, rejected_rows = [], []
    for row, reason in parsed:
        index = counts[row[PROBLEM_ID]]
        counts[row[PROBLEM_ID]] += 1
        row["sample_index"] = index
        row["trace_id"] = make_trace_id(row[PROBLEM_ID], row["prompt_style"], row["teacher"], index)
        if reason is None:
            kept_rows.append(row)
        else:
            rejected_rows.append({**row, REJECT_STAGE: STAGE, REJECT_REASON: reason})
    return kept_rows, rejected_rows


def convert_batch(
    batch: Mapping[str, list],
    start: int,
    layout: TraceLayout,
    teacher: str | None,
    kept: Mapping[str, str],
    counts: Counter,
) -> tuple[list[dict], list[dict]]:
    """Kept rows and rejected rows of one batch of input rows (`parse_batch`, then `number_traces`)."""
    return number_traces(parse_batch(batch, start, layout, teacher, kept), counts)


# Worker side of `--import_num_proc`: the input and the settings, inherited at fork.
_WORK: dict[str, Any] = {}


def _init_worker(
    raw: Dataset, layout: TraceLayout, teacher: str | None, kept: Mapping[str, str], size: int
) -> None:
    _WORK.update(raw=raw, layout=layout, teacher=teacher, kept=kept, size=size)


def _parse_job(batch: int) -> list[tuple[dict[str, Any], str | None]]:
    start = batch * _WORK["size"]
    columns = _WORK["raw"][start : start + _WORK["size"]]
    return parse_batch(columns, start, _WORK["layout"], _WORK["teacher"], _WORK["kept"])


@contextmanager
def parsed_batches(
    raw: Dataset, layout: TraceLayout, config: ImportConfig, kept: Mapping[str, str], todo: range
) -> Iterator[Iterator[list[tuple[dict[str, Any], str | None]]]]:
    """The parsed generations of each batch in `todo`, in order: in this process, or in `import_num_proc` forked
    workers (which die with this process) while this one numbers and writes."""
    size = config.import_batch_size
    if config.import_num_proc <= 1:

        def here() -> Iterator[list[tuple[dict[str, Any], str | None]]]:
            for batch in todo:
                yield parse_batch(
                    raw[batch * size : (batch + 1) * size], batch * size, layout, config.teacher, kept
                )

        yield here()
        return
    initializer, initargs = watched_initializer(_init_worker, (raw, layout, config.teacher, kept, size))
    pool = multiprocessing.get_context("fork").Pool(config.import_num_proc, initializer, initargs)
    try:
        yield pool.imap(_parse_job, todo)
    finally:
        pool.terminate()
        pool.join()


# --------------------------------------------------------------------------------------------------------------
# The streaming, resumable stage
# --------------------------------------------------------------------------------------------------------------


def shard_file(batch: int) -> str:
    return f"import-{batch:06d}.parquet"


def _folders(output_dir: Path) -> tuple[Path, Path]:
    return output_dir / DATA_DIR, output_dir / REJECTED_DIR / STAGE


def check_manifest(output_dir: Path, fingerprint: dict[str, Any]) -> None:
    """Refuse to resume a folder imported with other settings or from other data; record them otherwise."""
    path = output_dir / MANIFEST
    if path.is_file():
        old = json.loads(path.read_text()).get("fingerprint", {})
        changed = {k: (old.get(k), v) for k, v in fingerprint.items() if old.get(k) != v}
        if changed:
            details = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changed.items())
            raise ContractError(
                f"{output_dir} holds traces imported with other settings or from other data ({details}); resuming "
                "would mix them. Use a new --output_dir, or pass --overwrite true to start over."
            )
    tmp = path.with_name(f".{MANIFEST}.tmp")
    tmp.write_text(json.dumps({"fingerprint": fingerprint}, indent=2, default=str))
    os.replace(tmp, path)


def done_batches(output_dir: Path, batches: int) -> int:
    """How many batches are written (the leading ones whose kept shard exists); shards of later batches, left by a
    killed run, and hidden temp files are removed, so the next batch is redone whole."""
    data, rejected = _folders(output_dir)
    done = 0
    while done < batches and (data / shard_file(done)).is_file():
        done += 1
    for folder in (data, rejected):
        for path in folder.glob(".*.tmp"):  # we hold the lock: a temp shard is a killed run's, never finished
            path.unlink(missing_ok=True)
        for path in folder.glob("import-*.parquet"):
            number = path.name.removeprefix("import-").removesuffix(".parquet")
            if not number.isdigit() or int(number) >= done:
                path.unlink(missing_ok=True)
    return done


def _table(rows: list[dict], features: Features) -> pa.Table:
    """Rows as an Arrow table in the shards' schema (plain values: no `datasets` encoding or fingerprint); no rows
    give an empty table with the columns."""
    return pa.Table.from_pylist(rows, schema=features.arrow_schema)


def _written_counts(output_dir: Path, done: int) -> Counter:
    """Traces already written per problem id (the sample indices a resumed run continues from)."""
    counts: Counter = Counter()
    for folder in _folders(output_dir):
        for batch in range(done):
            path = folder / shard_file(batch)
            if path.is_file():
                counts.update(pq.read_table(path, columns=[PROBLEM_ID]).column(0).to_pylist())
    return counts


def _column_counts(tables: Sequence[Path], column: str) -> dict[str, int]:
    counts: Counter = Counter()
    for path in tables:
        if column in pq.read_schema(path).names:
            values = pq.read_table(path, columns=[column]).column(0).to_pylist()
            counts.update(
                "none" if v is None else str(v).lower() if isinstance(v, bool) else str(v) for v in values
            )
    return dict(counts.most_common())


def _progress(total: int, initial: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="import", unit="row")


def import_traces(
    raw: Dataset,
    config: ImportConfig,
    output_dir: str | os.PathLike,
    *,
    funnel: Funnel | None = None,
    lineage: dict | None = None,
) -> StageResult[ImportReport]:
    """Import (or resume importing) every row of `raw` into the stage folder `output_dir`.

    Returns the stage result: kept = the imported traces, rejected = generations that cannot be parsed (no problem,
    an empty generation, no think block) with their reason, stats in traces, and the `ImportReport`. The folder
    ends with `import_report.json`, `lineage` (when given) and `funnel.json` (`funnel`'s stages plus this one).
    """
    layout = resolve_trace_layout(raw.column_names, config.layout)
    if config.limit is not None:
        raw = raw.select(range(min(config.limit, len(raw))))
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    with hold_folder_lock(out, STAGE):
        return _import_locked(raw, layout, config, out, funnel or Funnel(), lineage)


def _import_locked(
    raw: Dataset, layout: TraceLayout, config: ImportConfig, out: Path, funnel: Funnel, lineage: dict | None
) -> StageResult[ImportReport]:
    size = config.import_batch_size
    batches = -(-len(raw) // size)
    check_manifest(
        out,
        {
            "layout": layout.name,
            "teacher": config.teacher,
            "import_batch_size": size,
            "rows": len(raw),
            "input_fingerprint": raw._fingerprint,
        },
    )
    (out / FUNNEL_FILE).unlink(missing_ok=True)  # incomplete until every batch is written
    features = trace_features(layout, raw)
    rejected_schema = rejected_features(features)
    kept_names = {theirs: ours for theirs, ours in kept_columns(raw.column_names).items() if ours in features}
    data, rejected = _folders(out)
    done = done_batches(out, batches)
    counts = _written_counts(out, done)
    bar = _progress(len(raw), min(done * size, len(raw)), config.progress)
    started, rows_done = time.monotonic(), 0
    try:
        with parsed_batches(raw, layout, config, kept_names, range(done, batches)) as parsed:
            for batch, generations in zip(range(done, batches), parsed, strict=True):
                kept_rows, rejected_rows = number_traces(generations, counts)
                write_table_shard(_table(rejected_rows, rejected_schema), rejected, shard_file(batch))
                # the kept shard last: it marks the batch done
                write_table_shard(_table(kept_rows, features), data, shard_file(batch))
                n = min(size, len(raw) - batch * size)
                rows_done += n
                if bar is not None:
                    bar.update(n)
    finally:
        if bar is not None:
            bar.close()
    seconds = time.monotonic() - started
    return _finish(raw, layout, out, features, rejected_schema, funnel, lineage, seconds, rows_done)


def _read_shards(shards: Sequence[Path], folder: Path, features: Features) -> Dataset:
    if not shards:  # an empty input: no batch, no shard
        return Dataset.from_dict({name: [] for name in features}, features=features)
    return read_parquet_folder(folder)


def _finish(
    raw: Dataset,
    layout: TraceLayout,
    out: Path,
    features: Features,
    rejected_schema: Features,
    funnel: Funnel,
    lineage: dict | None,
    seconds: float,
    rows_done: int,
) -> StageResult[ImportReport]:
    """The stage result and the rest of the folder once every batch is written; funnel.json last."""
    data, rejected = _folders(out)
    kept_shards = sorted(data.glob("import-*.parquet"))
    rejected_shards = sorted(rejected.glob("import-*.parquet"))
    kept = _read_shards(kept_shards, data, features)
    rejected_rows = _read_shards(rejected_shards, rejected, rejected_schema)
    reasons = _column_counts(rejected_shards, REJECT_REASON)
    stats = StageStats(STAGE, len(kept) + len(rejected_rows), len(kept), reasons)
    stats.check()
    report = ImportReport(
        layout=layout.name,
        input_rows=len(raw),
        traces=stats.rows_in,
        kept=len(kept),
        rejected=reasons,
        domains=_column_counts(kept_shards, DOMAIN),
        teachers=_column_counts(kept_shards, "teacher"),
        finish_reasons=_column_counts(kept_shards, "finish_reason"),
        parse_issues=_column_counts(kept_shards, "parse_issue"),
        source_correct=_column_counts(kept_shards, SOURCE_CORRECT),
        seconds=round(seconds, 3),
        rows_per_second=round(rows_done / seconds, 1) if seconds > 0 else 0.0,
    )
    (out / f"{REPORT}.json").write_text(json.dumps(asdict(report), indent=2))
    if lineage is not None:
        write_record(out, lineage)
    funnel.add(stats)
    funnel.save(out / FUNNEL_FILE)
    return StageResult(kept, rejected_rows, stats, report)
