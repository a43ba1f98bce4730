"""Reading a run back from its stage folders: what `openr1-data publish` puts into a dataset and its card.

Every stage folder records its input in `lineage.json` (`openr1_data.lineage`), so from the last folder of a
chain the publisher finds every earlier one: their rejected rows (the `rejected` config holds every removed row),
their decontamination reports, the generation manifest (teacher, prompts, the sampling in effect), the
original problem source and every command of the chain. It also finds the traces before filtering (the
`all_traces` config) and, when problem-level curation ran after them, the problems that passed it: every
published config keeps only those.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from datasets import Dataset

from openr1_data.dedup.decontaminate import STAGE as DECONTAMINATE_STAGE
from openr1_data.dedup.duplicates import EXACT_STAGE, NEAR_STAGE
from openr1_data.generate.stage import MANIFEST, GenerationConfig
from openr1_data.io import REJECTED_DIR, is_stage_folder, read_dataset, read_parquet_folder
from openr1_data.lineage import Link, chain, origin
from openr1_data.publish.provenance import generation_provenance
from openr1_data.schema import PROBLEM, PROBLEM_ID, arrow_column, make_problem_id

# Stages that judge problems (a trace-level run of them judges by the problem text too).
PROBLEM_LEVEL_STAGES = (EXACT_STAGE, NEAR_STAGE, DECONTAMINATE_STAGE)
# Stages that keep every trace: a folder made only by these holds the traces before filtering.
KEEP_EVERY_TRACE = ("load_problems", "generate", "verify", "judge")
# Stages that start a run of traces: generation, or traces imported from a dataset (`openr1-data import`).
TRACE_SOURCES = ("generate", "import")
DECONTAMINATION_REPORT = "decontamination_report.json"


@dataclass
class RunFolders:
    """The stage folders of one run, newest first, plus folders named by hand (`--upstream`)."""

    links: list[Link]
    extra: list[Path] = field(default_factory=list)

    @property
    def folders(self) -> list[Path]:
        return [link.folder for link in self.links] + self.extra

    def rejected_rows(self) -> list[Dataset]:
        """Every removed row of every folder: each holds only the rejections of its own command."""
        parts = []
        for folder in self.folders:
            for stage in sorted(p for p in (folder / REJECTED_DIR).glob("*") if p.is_dir()):
                rows = read_parquet_folder(stage)
                if len(rows):
                    parts.append(rows)
        return parts

    def decontamination(self) -> dict | None:
        """The newest decontamination report of the chain (None when no stage decontaminated)."""
        for folder in self.folders:
            report = folder / DECONTAMINATION_REPORT
            if report.is_file():
                return json.loads(report.read_text())
        return None

    def generation_folder(self) -> Path | None:
        return next((f for f in self.folders if (f / MANIFEST).is_file()), None)

    def all_traces_folder(self) -> Path | None:
        """The traces before filtering: the newest folder of the unbroken run of trace-keeping stages (verify,
        judge) that starts at generation or an import, else the generation folder."""
        found = None
        for link in reversed(self.links):  # oldest first
            if found is None:
                found = link.folder if any(s in TRACE_SOURCES for s in link.stages) else None
            elif link.stages and all(s in KEEP_EVERY_TRACE for s in link.stages):
                found = link.folder
            else:
                break
        return found or self.generation_folder()

    def problem_curation_after(self, folder: Path | None) -> Link | None:
        """The newest folder that ran problem-level curation, if it lies downstream of `folder`: then only
        the problems it kept passed every problem-level stage, and `folder`'s traces need restricting to them."""
        for link in self.links:
            if folder is not None and link.folder == folder:
                return None
            if any(s in PROBLEM_LEVEL_STAGES for s in link.stages):
                return link
        return None

    def commands(self) -> list[str]:
        """Every command of the chain, oldest first, as it was typed (secrets redacted)."""
        found = []
        for link in reversed(self.links):
            argv = link.record.get("argv")
            if link.command and argv is not None:
                found.append(shlex.join(["openr1-data", link.command, *argv]))
        return found

    def origin(self) -> dict[str, Any] | None:
        return origin(self.links)

    def provenance(self, publish_command: Sequence[str]) -> dict[str, Any] | None:
        """Teacher, prompts, effective sampling, the original problem source and the chain's commands."""
        folder = self.generation_folder()
        if folder is None:
            return None
        known = {f.name for f in fields(GenerationConfig)}
        saved = json.loads((folder / MANIFEST).read_text())["config"]
        gen_cfg = GenerationConfig(**{k: v for k, v in saved.items() if k in known})
        source = self.origin()
        sources = [str(source.get("given") or source["path"])] if source else [str(folder)]
        commands = [*self.commands(), shlex.join(publish_command)]
        return generation_provenance(gen_cfg, sources, command="\n".join(commands))


def read_run(input_folder: str | Path, upstream: Sequence[str | Path] = ()) -> RunFolders:
    """The run behind `input_folder` from its lineage, plus `upstream` stage folders not already in it."""
    links = chain(input_folder) if is_stage_folder(input_folder) else []
    known = {link.folder.resolve() for link in links}
    extra = []
    for item in upstream:
        path = Path(item)
        if path.is_dir() and is_stage_folder(path) and path.resolve() not in known:
            known.add(path.resolve())
            extra.append(path)
    return RunFolders(links, extra)


def row_problem_ids(dataset: Dataset) -> list[str | None]:
    """Each row's problem id: the contract's column, else the id of its problem text (None without either)."""
    if PROBLEM_ID in dataset.column_names:
        return [None if v is None else str(v) for v in arrow_column(dataset, PROBLEM_ID).to_pylist()]
    if PROBLEM in dataset.column_names:
        return [make_problem_id(p) if isinstance(p, str) else None for p in dataset[PROBLEM]]
    return [None] * len(dataset)


def keep_curated_problems(traces: Dataset, curated_folder: Path) -> tuple[Dataset, int]:
    """`traces` whose problem is among the kept rows of `curated_folder`; returns them and how many were left out."""
    allowed = {pid for pid in row_problem_ids(read_dataset(curated_folder)) if pid is not None}
    ids = row_problem_ids(traces)
    rows = [i for i, pid in enumerate(ids) if pid in allowed]
    if len(rows) == len(traces):
        return traces, 0
    return traces.select(rows), len(traces) - len(rows)
