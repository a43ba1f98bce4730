"""Lineage: every stage folder records what it was made from, so a run can be followed back to its source.

A stage folder holds `lineage.json`:

    {"command": "verify", "stages": ["verify"], "argv": [...], "settings": {...},
     "input": {"path": "/abs/out/gen", "kind": "stage_folder", "fingerprint": "sha256:..."}}

`input.kind` is `stage_folder` (another command's output: follow it), `file`, `folder`, `hub` or `generated`
(`bundled`, `arithmetic`, `reasoning_gym:TASK`).
`chain(folder)` walks the records back to the first folder; the publish stage reads a whole run from it.
The argv and settings are redacted before they are written: a token passed as a flag never reaches the file.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openr1_data.io import FUNNEL_FILE, LINEAGE_FILE
from openr1_data.secrets import redact, redact_config

_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class Link:
    """One stage folder of a chain and what its `lineage.json` says."""

    folder: Path
    record: dict[str, Any]

    @property
    def command(self) -> str:
        return str(self.record.get("command", ""))

    @property
    def stages(self) -> list[str]:
        return list(self.record.get("stages", []))

    @property
    def input(self) -> dict[str, Any]:
        return dict(self.record.get("input") or {})


def fingerprint(source: str | os.PathLike) -> str:
    """A content fingerprint of an input: a file's bytes, a stage folder's funnel and lineage, a folder's listing.

    Anything else (a Hub id, `bundled`) is fingerprinted by its name: its content is not ours to read here."""
    path = Path(source)
    digest = hashlib.sha256()
    if path.is_file():
        with open(path, "rb") as handle:
            while chunk := handle.read(_HASH_CHUNK):
                digest.update(chunk)
    elif path.is_dir():
        if (path / FUNNEL_FILE).is_file():  # a stage folder: its funnel and lineage change with its content
            for mark in (path / FUNNEL_FILE, path / LINEAGE_FILE):
                if mark.is_file():
                    digest.update(mark.read_bytes())
        else:  # a dataset folder: names, sizes and times of its files (reading GBs to fingerprint is not worth it)
            for item in sorted(p for p in path.rglob("*") if p.is_file()):
                stat = item.stat()
                digest.update(f"{item.relative_to(path)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    else:
        digest.update(str(source).encode())
    return f"sha256:{digest.hexdigest()}"


def describe_input(source: str | os.PathLike, **details: Any) -> dict[str, Any]:
    """What `lineage.json` records about a command's input (path made absolute for local inputs)."""
    text = str(source)
    path = Path(text)
    if text in ("bundled", "arithmetic") or text.startswith("reasoning_gym:"):  # generated problem sets
        kind = "generated"
    elif path.is_file():
        kind = "file"
    elif path.is_dir():
        kind = (
            "stage_folder" if (path / LINEAGE_FILE).is_file() or (path / FUNNEL_FILE).is_file() else "folder"
        )
    else:
        kind = "hub"
    where = str(path.resolve()) if kind in ("file", "folder", "stage_folder") else text
    extra = {k: v for k, v in details.items() if v is not None}
    return {"path": where, "given": text, "kind": kind, "fingerprint": fingerprint(text), **extra}


def make_record(
    command: str,
    stages: list[str],
    source: str | os.PathLike | None,
    *,
    argv: list[str] | None = None,
    settings: dict[str, Any] | None = None,
    **input_details: Any,
) -> dict[str, Any]:
    """The `lineage.json` of a command's output folder (argv and settings redacted)."""
    return {
        "command": command,
        "stages": list(stages),
        "argv": [redact(a) for a in (argv or [])],
        "settings": redact_config(settings or {}),
        "input": describe_input(source, **input_details) if source is not None else None,
    }


def write_record(folder: str | os.PathLike, record: dict[str, Any]) -> None:
    """Write `lineage.json` into `folder` atomically."""
    path = Path(folder) / LINEAGE_FILE
    tmp = path.with_name(f".{LINEAGE_FILE}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(record, indent=2, default=str))
    os.replace(tmp, path)


def read_record(folder: str | os.PathLike) -> dict[str, Any] | None:
    """The folder's `lineage.json`, or None when it has none (a folder written before lineage existed)."""
    path = Path(folder) / LINEAGE_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def chain(folder: str | os.PathLike) -> list[Link]:
    """The stage folders of a run, newest first: `folder`, then its input, and so on while inputs are stage
    folders that still exist. A folder without `lineage.json` ends the chain (it is still included)."""
    links: list[Link] = []
    seen: set[Path] = set()
    current: Path | None = Path(folder)
    while current is not None and current.is_dir() and current.resolve() not in seen:
        seen.add(current.resolve())
        record = read_record(current) or {}
        links.append(Link(current, record))
        source = record.get("input") or {}
        current = Path(source["path"]) if source.get("kind") == "stage_folder" else None
    return links


def origin(links: list[Link]) -> dict[str, Any] | None:
    """The first input of a chain that is not a stage folder: the user's problems file, Hub id or `bundled`."""
    for link in reversed(links):
        source = link.input
        if source and source.get("kind") != "stage_folder":
            return source
    return None
