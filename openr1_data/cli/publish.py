"""`openr1-data publish` (a curated stage folder → a dataset folder with its card) and `openr1-data push`.

    openr1-data publish --input outputs/curated --output_dir outputs/dataset
    openr1-data publish --input outputs/curated --output_dir outputs/dataset --preference_pairs short_vs_long
    openr1-data publish --mixture mixture.yaml --output_dir outputs/mixed
    openr1-data push outputs/quickstart/dataset my-user/my-r1-traces --private --revision dev

`publish` follows the input's lineage (`openr1_data.publish.chain`): the funnel of every stage, the rejected rows of
every folder of the chain, its decontamination report, the teacher, prompts and sampling in effect from the
generation manifest, the original problem source and every command. Every config holds only problems that passed
problem-level curation.

The folder is what the publish stage wrote (`openr1_data.publish.publish_local`): Parquet configs, the card,
plots and the pipeline config. The token comes from HF_TOKEN or `hf auth login` (`--token` works but lands in
your shell history; it is never printed or written).
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

from openr1_data.cli.common import check_output_outside_input
from openr1_data.config import parse_config
from openr1_data.io import read_dataset, read_funnel
from openr1_data.publish.chain import keep_curated_problems, read_run
from openr1_data.publish.local import PublishConfig


@dataclass
class PublishInputs:
    """What `openr1-data publish` reads and where it writes the dataset folder."""

    output_dir: str = field(metadata={"help": "dataset folder to write (a Hub dataset repo: configs + card)"})
    input: str | None = field(
        default=None,
        metadata={"help": "the curated rows: a stage folder (usually `filter`'s), a file or a Hub id"},
    )
    mixture: str | None = field(
        default=None,
        metadata={
            "help": "instead of --input: a mixture of curated sources (stage or published folders) with weights or "
            "quotas, open-r1's dataset_mixture shape: a YAML/JSON file or inline text (docs: preference-and-mixtures)"
        },
    )
    all_traces: str | None = field(
        default=None,
        metadata={
            "help": "every trace before filtering: the all_traces config; default: found from the input's "
            "lineage (the verify folder of the chain, else the generate folder)"
        },
    )
    upstream: list[str] = field(
        default_factory=list,
        metadata={
            "help": "stage folders outside the input's lineage whose rejected rows and reports should go in too "
            "(the chain's own folders are found from lineage.json without it)"
        },
    )


def publish_main(argv: list[str]) -> int:
    """Entry point of `openr1-data publish`: a curated stage folder → a dataset folder with its card."""
    from openr1_data.publish.local import EmptyDatasetError, check_target, publish_local

    inputs, settings = parse_config([PublishInputs, PublishConfig], argv, prog="openr1-data publish")
    if (inputs.input is None) == (inputs.mixture is None):
        raise ValueError(
            "openr1-data publish needs --input (a curated stage folder) or --mixture (a mixture spec)"
        )
    if inputs.mixture is not None:
        return _publish_mixture(inputs, settings, argv)
    assert inputs.input is not None
    check_output_outside_input(inputs.input, inputs.output_dir)
    check_target(Path(inputs.output_dir), settings.overwrite)  # before reading anything
    kept = read_dataset(inputs.input)
    run = read_run(inputs.input, inputs.upstream)
    traces_folder = Path(inputs.all_traces) if inputs.all_traces else run.all_traces_folder()
    all_traces = read_dataset(traces_folder) if traces_folder is not None else None
    provenance = run.provenance(["openr1-data", "publish", *argv])
    curated = run.problem_curation_after(traces_folder)
    if all_traces is not None and curated is not None:
        # Problem-level curation ran after these traces were made: only the problems it kept may be published.
        all_traces, left_out = keep_curated_problems(all_traces, curated.folder)
        if left_out:
            note = (
                f"{left_out} traces whose problems `openr1-data {curated.command}` did not see or keep were "
                "left out of all_traces (run dedup and decontaminate on the problems, before generate)"
            )
            print(f"note: {note}")
            if provenance is not None:
                provenance["all_traces_note"] = note
    try:
        published = publish_local(
            inputs.output_dir,
            kept,
            all_traces=all_traces,
            rejected=run.rejected_rows() or None,
            funnel=read_funnel(inputs.input),
            provenance=provenance,
            decontamination=run.decontamination(),
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


def _publish_mixture(inputs: PublishInputs, settings: PublishConfig, argv: list[str]) -> int:
    """`publish --mixture`: several curated sources mixed by weight or quota into one dataset folder."""
    from openr1_data.publish.local import check_target
    from openr1_data.publish.mixture import parse_mixture, publish_mixture, read_mixture_spec

    spec = read_mixture_spec(inputs.mixture or "")
    for entry in parse_mixture(spec)[0]:
        check_output_outside_input(entry.id, inputs.output_dir, flag="a --mixture source")
    check_target(Path(inputs.output_dir), settings.overwrite)
    published = publish_mixture(spec, inputs.output_dir, settings, ["openr1-data", "publish", *argv])
    print(published.summary())
    print(f"  the card: {Path(published.folder) / 'README.md'}")
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
    (args,) = parse_config([PushArguments], _positional_to_flags(argv), prog="openr1-data push")
    # Our progress and retries at INFO; the HTTP clients' per-request lines only from warnings up.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("openr1_data").setLevel(logging.INFO)

    from openr1_data.publish.hub import HubPublishError, HubUserError, push_to_hub, validate_repo_id
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
    except (HubUserError, ContractError, ValueError, FileNotFoundError) as err:
        print(f"openr1-data push: error: {err}", file=sys.stderr)
        return 2  # what the user can fix: a bad repo id, no or a rejected token, a 4xx answer
    except HubPublishError as err:
        print(f"openr1-data push: error: {err}", file=sys.stderr)
        return 1
    print(result.summary())
    return 0
