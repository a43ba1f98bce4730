"""`openr1-data push`: push a published dataset folder to the Hugging Face Hub.

    openr1-data push outputs/quickstart/dataset my-user/my-r1-traces --private --revision dev

The folder is what the publish stage wrote (`openr1_data.publish.publish_local`): Parquet configs, the card,
plots and the pipeline config. The token comes from HF_TOKEN or `hf auth login` (`--token` works but lands in
your shell history; it is never printed or written).
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field

from openr1_data.config import parse_config


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


def main(argv: list[str] | None = None) -> int:
    """Entry point of `openr1-data push`."""
    argv = list(sys.argv[1:] if argv is None else argv)
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


if __name__ == "__main__":
    sys.exit(main())
