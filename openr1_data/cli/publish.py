"""`openr1-data publish` (a curated stage folder → a dataset folder with its card) and `openr1-data push`.

    openr1-data publish --input outputs/curated --output_dir outputs/dataset --all_traces outputs/verified
    openr1-data push outputs/quickstart/dataset my-user/my-r1-traces --private --revision dev

`publish` takes the funnel from the input's `funnel.json` (every stage of the run, carried from folder to folder),
the rejected rows of the input and of every `--upstream` stage folder, the decontamination report of the folder
that has one, and the teacher, prompts and sampling from the generation folder's manifest.

The folder is what the publish stage wrote (`openr1_data.publish.publish_local`): Parquet configs, the card,
plots and the pipeline config. The token comes from HF_TOKEN or `hf auth login` (`--token` works but lands in
your shell history; it is never printed or written).
"""

from __future__ import annotations

import json
import logging
import shlex
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from datasets import Dataset

from openr1_data.config import parse_config
from openr1_data.io import REJECTED_DIR, is_stage_folder, read_dataset, read_funnel, read_parquet_folder
from openr1_data.publish.local import PublishConfig


@dataclass
class PublishInputs:
    """What `openr1-data publish` reads and where it writes the dataset folder."""

    input: str = field(
        metadata={"help": "the curated rows: a stage folder (usually `filter`'s), a file or a Hub id"}
    )
    output_dir: str = field(metadata={"help": "dataset folder to write (a Hub dataset repo: configs + card)"})
    all_traces: str | None = field(
        default=None,
        metadata={
            "help": "every trace before filtering (the `verify` or `generate` folder): the all_traces config"
        },
    )
    upstream: list[str] = field(
        default_factory=list,
        metadata={
            "help": "earlier stage folders of the run (generate, verify, dedup, decontaminate): their rejected "
            "rows, reports and generation manifest go into the card"
        },
    )


def _stage_dirs(inputs: PublishInputs) -> list[Path]:
    found = [inputs.input, *(inputs.upstream or []), *([inputs.all_traces] if inputs.all_traces else [])]
    dirs: list[Path] = []
    for d in found:
        path = Path(d)
        if path.is_dir() and is_stage_folder(path) and path.resolve() not in {p.resolve() for p in dirs}:
            dirs.append(path)
    return dirs


def _rejected_rows(dirs: list[Path]) -> list[Dataset]:
    parts = []
    for folder in dirs:
        for stage in sorted(p for p in (folder / REJECTED_DIR).glob("*") if p.is_dir()):
            rows = read_parquet_folder(stage)
            if len(rows):
                parts.append(rows)
    return parts


def _decontamination(dirs: list[Path]) -> dict | None:
    for folder in dirs:
        report = folder / "decontamination_report.json"
        if report.is_file():
            return json.loads(report.read_text())
    return None


def _provenance(dirs: list[Path], command: list[str]) -> dict[str, Any] | None:
    from openr1_data.generate.stage import MANIFEST, GenerationConfig
    from openr1_data.pipeline import generation_provenance

    for folder in dirs:
        manifest = folder / MANIFEST
        if manifest.is_file():
            known = {f.name for f in fields(GenerationConfig)}
            saved = json.loads(manifest.read_text())["config"]
            gen_cfg = GenerationConfig(**{k: v for k, v in saved.items() if k in known})
            return generation_provenance(gen_cfg, [str(folder)], command=shlex.join(command))
    return None


def publish_main(argv: list[str]) -> int:
    """Entry point of `openr1-data publish`: a curated stage folder → a dataset folder with its card."""
    from openr1_data.publish.local import EmptyDatasetError, publish_local

    inputs, settings = parse_config([PublishInputs, PublishConfig], argv)
    kept = read_dataset(inputs.input)
    dirs = _stage_dirs(inputs)
    all_traces = read_dataset(inputs.all_traces) if inputs.all_traces else None
    try:
        published = publish_local(
            inputs.output_dir,
            kept,
            all_traces=all_traces,
            rejected=_rejected_rows(dirs) or None,
            funnel=read_funnel(inputs.input),
            provenance=_provenance(dirs, ["openr1-data", "publish", *argv]),
            decontamination=_decontamination(dirs),
            config={"publish": vars(inputs)},
            settings=settings,
        )
    except EmptyDatasetError as err:
        print(f"openr1-data publish: {err}", file=sys.stderr)
        return 1
    print(published.summary())
    print(
        f"  the card: {Path(published.folder) / 'README.md'}; push it: openr1-data push {published.folder} USER/NAME"
    )
    return 0


@dataclass
class PushArguments:
    """Flags of `openr1-data push` (the first two positional arguments are the folder and the repo id)."""

    folder: str = field(
        metadata={"help": "folder written by the publish stage (README.md card + data/ shards)"}
    )
    repo_id: str = field(metadata={"help": 'Hub dataset repo, "namespace/name"; created when missing'})
    private: bool = field(
        default=False, metadata={"help": "create the repo private (an existing repo keeps its visibility)"}
    )
    revision: str | None = field(
        default=None, metadata={"help": "branch to push to (created from main); default main"}
    )
    commit_message: str | None = field(default=None, metadata={"help": "commit message"})
    token: str | None = field(
        default=None, metadata={"help": "Hub token; default HF_TOKEN or the token saved by `hf auth login`"}
    )
    max_retries: int = field(
        default=5, metadata={"help": "retries of transient Hub errors (HTTP 5xx, 429, timeouts)"}
    )
    retry_wait: float = field(
        default=2.0, metadata={"help": "seconds before the first retry (doubles each time)"}
    )


def _positional_to_flags(argv: list[str]) -> list[str]:
    """Allow `push FOLDER REPO_ID [flags]` as well as `push --folder FOLDER --repo_id REPO_ID`."""
    out, names, rest = [], ["--folder", "--repo_id"], list(argv)
    while rest and names and not rest[0].startswith("-"):  # only leading arguments are positional
        out += [names.pop(0), rest.pop(0)]
    return out + rest


def main(argv: list[str]) -> int:
    """Entry point of `openr1-data push`."""
    (args,) = parse_config([PushArguments], _positional_to_flags(argv))
    # Our progress and retries at INFO; the HTTP clients' per-request lines only from warnings up.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("openr1_data").setLevel(logging.INFO)

    from openr1_data.publish.hub import HubPublishError, push_to_hub, validate_repo_id
    from openr1_data.schema import ContractError

    try:
        validate_repo_id(args.repo_id)  # before reading anything
        result = push_to_hub(
            args.folder,
            args.repo_id,
            private=True if args.private else None,  # not given: the Hub's default for the namespace
            revision=args.revision,
            commit_message=args.commit_message,
            token=args.token,
            max_retries=args.max_retries,
            retry_wait=args.retry_wait,
        )
    except (HubPublishError, ContractError, ValueError, FileNotFoundError) as err:
        print(f"openr1-data push: error: {err}", file=sys.stderr)
        return 1
    print(result.summary())
    return 0
