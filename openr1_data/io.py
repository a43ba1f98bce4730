"""Reading and writing datasets in the places users keep them, and the one stage-folder layout.

`read_dataset` accepts a local file (.jsonl/.json/.parquet/.csv), a stage folder (only its kept rows are read), a
folder written by `save_to_disk`, a folder of Parquet shards, a folder with a dataset card/configs, or a Hub
dataset id (the real `datasets.load_dataset` path). `write_dataset` writes a folder of Parquet shards that
`read_dataset` and `datasets.load_dataset("parquet", data_dir=...)` read back.

A stage folder (what every stage command writes, see ARCHITECTURE.md) holds:

    data/               kept rows (Parquet shards)
    rejected/<stage>/   rejected rows of each stage, with `rejected_stage` and `rejected_reason`
    <stage>_report.json what the stage measured
    funnel.json         the input's funnel plus this command's stages; written last: it marks the folder complete

`write_stage_folder` writes all of it into a hidden temp folder and renames it into place, so a kill leaves either
the old folder or the new one, never a mix.
"""

from __future__ import annotations

import csv
import fcntl
import json
import os
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from datasets import Dataset, DatasetDict, Features, Value, load_dataset, load_from_disk

from openr1_data.funnel import Funnel
from openr1_data.schema import ContractError, arrow_column

FILE_BUILDERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}
DATA_DIR = "data"
REJECTED_DIR = "rejected"
FUNNEL_FILE = "funnel.json"
LINEAGE_FILE = "lineage.json"  # what the folder was made from: openr1_data.lineage
LOCK_FILE = ".lock"
TRACE_ID = "trace_id"


def read_dataset(source: str | os.PathLike, *, config: str | None = None, split: str = "train") -> Dataset:
    """Read one split of a dataset from a local file, a local folder, or a Hub dataset id."""
    source = str(source)
    path = Path(source)
    if path.is_file():
        builder = FILE_BUILDERS.get(path.suffix.lower())
        if builder is None:
            raise ContractError(
                f"{source}: unsupported file type {path.suffix!r}; use one of {sorted(FILE_BUILDERS)}"
            )
        return read_file(path, builder)
    if path.is_dir():
        if is_stage_folder(path):
            return unique_traces(read_parquet_folder(require_complete(path) / DATA_DIR))
        if (
            (path / "dataset_info.json").exists()
            or (path / "state.json").exists()
            or (path / "dataset_dict.json").exists()
        ):
            return _pick_split(load_from_disk(str(path)), split, source)
        if not (path / "README.md").exists():
            if any(path.rglob("*.parquet")):
                return read_parquet_folder(path)
        return _pick_split(load_dataset(str(path), config, split=split), split, source)
    if path.suffix.lower() in FILE_BUILDERS or source.startswith((".", "/", "~")):
        raise FileNotFoundError(
            f"{source!r} is not an existing file or folder (and does not look like a Hub id)"
        )
    if "/" not in source or os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        # A Hub dataset id is "namespace/name"; offline, only a local path can be meant.
        raise FileNotFoundError(
            f"{source!r} is not an existing file or folder"
            + (
                " (the Hub is offline: HF_HUB_OFFLINE=1)"
                if "/" in source
                else " nor a Hub id (namespace/name)"
            )
            + ". Check the path."
        )
    # Anything else is a Hub dataset id: the real `load_dataset` path users run online.
    return load_dataset(source, config, split=split)


def read_file(path: Path, builder: str) -> Dataset:
    """One local data file as a Dataset, with errors that name the file, the line and the fix.

    CSV cells are read as text, then a column whose cells are all integers (empty cells aside) becomes integers
    and one of numbers floats: pandas would turn an integer column with one empty cell into floats (gold answers
    "2.0", "6.0")."""
    if not path.read_bytes().strip():
        raise ContractError(
            f"{path} is empty: there are no rows to read. Point the input at a file with rows."
        )
    if builder != "parquet":
        _check_utf8(path)
    options: dict[str, Any] = {"features": _csv_text_features(path)} if builder == "csv" else {}
    try:
        loaded = load_dataset(builder, data_files=str(path), split="train", **options)
        return _csv_column_types(loaded) if builder == "csv" else loaded
    except Exception as err:  # the builders' own errors say little about where the file is broken
        if isinstance(err, ContractError):
            raise
        where = _first_bad_json_line(path) if builder == "json" and path.suffix.lower() == ".jsonl" else ""
        raise ContractError(
            f"{path}{where}: could not be read as {builder} ({type(err).__name__}: {err})"
        ) from err


def _first_bad_json_line(path: Path) -> str:
    """ ", line N (...)" for the first line of a JSONL file that is not one JSON object, else ""."""
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as err:
                return f", line {number} ({err.msg} at column {err.colno})"
            if not isinstance(value, dict):
                return f", line {number} (a JSON {type(value).__name__}, not an object)"
    return ""


def _csv_text_features(path: Path) -> Features:
    with open(path, newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle), [])
    return Features({name: Value("string") for name in header})


def _csv_column_types(dataset: Dataset) -> Dataset:
    for name in dataset.column_names:
        cells = [c for c in dataset[name] if c is not None and c != ""]
        for kind, feature in ((int, "int64"), (float, "float64")):
            try:
                [kind(c) for c in cells]
            except ValueError:
                continue
            if cells:
                dataset = dataset.cast_column(name, Value(feature))
            break
    return dataset


def _check_utf8(path: Path) -> None:
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as err:
                raise ContractError(
                    f"{path}, line {number}: not UTF-8 ({err.reason} at byte {err.start} of the line). Save the "
                    "file as UTF-8, e.g. `iconv -f latin1 -t utf-8 in.jsonl > out.jsonl`."
                ) from None


def _pick_split(loaded: Dataset | DatasetDict, split: str, source: str) -> Dataset:
    if isinstance(loaded, DatasetDict):
        if split not in loaded:
            raise ContractError(
                f"{source}: no split {split!r}; splits are {list(loaded)}. Pass the split to use."
            )
        return loaded[split]
    return loaded


def write_dataset(
    dataset: Dataset, folder: str | os.PathLike, *, name: str = "data", max_rows: int = 50_000
) -> list[Path]:
    """Write `dataset` as Parquet shards `<name>-00000-of-0000N.parquet` in `folder` (replacing an earlier write
    of the same name); return the shard paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    # Shards of an earlier write with another shard count would otherwise be read back as extra rows.
    for stale in folder.glob(f"{name}-*-of-*.parquet"):
        stale.unlink()
    n = max(1, -(-len(dataset) // max_rows))
    paths = []
    for i in range(n):
        shard = dataset.shard(num_shards=n, index=i, contiguous=True)
        path = folder / f"{name}-{i:05d}-of-{n:05d}.parquet"
        tmp = path.with_suffix(".parquet.tmp")
        shard.to_parquet(str(tmp))
        os.replace(tmp, path)  # atomic: a reader never sees half a shard
        paths.append(path)
    return paths


def read_parquet_folder(folder: str | os.PathLike) -> Dataset:
    """Every Parquet shard under `folder` (recursively; hidden temp files are never read) as one Dataset.

    A folder whose shards hold no rows reads back as an empty dataset with their columns."""
    shards = sorted(str(p) for p in Path(folder).rglob("*.parquet") if not _hidden(p, Path(folder)))
    if not shards:
        return Dataset.from_dict({})
    import pyarrow.parquet as pq

    if all(pq.read_metadata(s).num_rows == 0 for s in shards):
        return Dataset(pq.read_table(shards[0]))
    return load_dataset("parquet", data_files=shards, split="train")


def unique_traces(dataset: Dataset) -> Dataset:
    """A stage folder's rows with every `trace_id` once (the first copy): a reader never sees a trace twice, even
    in a folder two writers filled before the generation lock existed."""
    if TRACE_ID not in dataset.column_names or len(dataset) == 0:
        return dataset
    column = arrow_column(dataset, TRACE_ID)
    if len(column.unique()) == len(column):  # the usual case, without a Python loop over every row
        return dataset
    ids = column.to_pylist()
    first: dict[Any, int] = {}
    for i, tid in enumerate(ids):
        first.setdefault(tid, i)
    return dataset.select(sorted(first.values()))


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def is_stage_folder(path: str | os.PathLike) -> bool:
    """A folder in the stage layout: kept rows in `data/` and no dataset card (a published folder has one)."""
    path = Path(path)
    return (path / DATA_DIR).is_dir() and not (path / "README.md").exists()


def require_complete(path: str | os.PathLike) -> Path:
    """`path` if its stage finished writing it (its funnel.json exists), else an error that says to rerun."""
    path = Path(path)
    if not (path / FUNNEL_FILE).is_file():
        raise ContractError(
            f"{path} is an incomplete stage output (no {FUNNEL_FILE}): the command that writes it was interrupted "
            "or is still running. Rerun that command to finish it (generation resumes where it stopped)."
        )
    return path


def read_funnel(source: str | os.PathLike) -> Funnel:
    """The funnel a stage folder carries (empty for any other input), to be extended by the next stage."""
    path = Path(source) / FUNNEL_FILE
    return Funnel.load(path) if path.is_file() else Funnel()


def write_stage_folder(
    output_dir: str | os.PathLike,
    kept: Dataset,
    rejected: Mapping[str, Dataset],
    funnel: Funnel,
    reports: Mapping[str, dict] | None = None,
    lineage: Mapping[str, Any] | None = None,
) -> Path:
    """Write a complete stage folder (kept rows, `rejected/<stage>/`, `<name>.json` reports, `lineage.json`,
    funnel) atomically.

    Everything goes into a hidden sibling folder first, which then replaces `output_dir` by rename; hidden copies
    left by a killed earlier write are removed first."""
    out = Path(output_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_copies(out)
    tmp = out.parent / f".{out.name}.writing-{os.getpid()}"
    write_dataset(kept, tmp / DATA_DIR)
    for stage, rows in rejected.items():
        write_dataset(rows, tmp / REJECTED_DIR / stage)
    for name, report in (reports or {}).items():
        (tmp / f"{name}.json").write_text(json.dumps(report, indent=2, default=str))
    if lineage is not None:
        (tmp / LINEAGE_FILE).write_text(json.dumps(lineage, indent=2, default=str))
    funnel.save(tmp / FUNNEL_FILE)
    replace_folder(tmp, out)
    return out


def replace_folder(new: Path, target: Path) -> None:
    """Put folder `new` at `target`, replacing what is there with two renames (the old copy is then deleted)."""
    old = target.parent / f".{target.name}.old-{os.getpid()}"
    if target.exists():
        os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)


def remove_stale_copies(target: Path) -> None:
    """Delete hidden `.NAME.writing-PID` / `.NAME.old-PID` copies whose writer process is gone."""
    for kind in ("writing", "old", "publishing"):
        for stale in target.parent.glob(f".{target.name}.{kind}-*"):
            pid = stale.name.rsplit("-", 1)[-1]
            if pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(stale, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # our own leftovers can only be from an earlier, failed write
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def hold_folder_lock(folder: str | os.PathLike, command: str) -> Iterator[None]:
    """Hold `folder`'s writer lock for a block; a second writer is refused with a message naming the first.

    An OS file lock (`flock`): the kernel releases it when its process dies, so a killed run never leaves the
    folder locked."""
    path = Path(folder) / LOCK_FILE
    handle = open(path, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise ContractError(
                f"{folder} is being written by {holder} right now; two runs into one folder would store traces "
                "twice. Wait for it to finish (or stop it), or choose another --output_dir."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"`openr1-data {command}` (pid {os.getpid()})")
        handle.flush()
        yield
    finally:
        handle.close()  # closing the descriptor releases the lock
