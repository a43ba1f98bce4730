"""Hub publishing: push a folder written by `publish_local` to a Hugging Face dataset repo in one commit.

Why one commit of the whole folder (through `HfApi.create_commit`) rather than `Dataset.push_to_hub` per config:
the local folder already is the exact repo layout that `load_dataset` reads (card with `configs:`, Parquet
shards, plots, pipeline config), so the Hub copy is identical to what was checked locally; one commit is atomic
(no visitor sees a card whose configs are half uploaded); and a retried or repeated push is idempotent, because
the client drops files whose content the Hub already has and skips the commit when nothing changed.

Details:
- the token comes from `token=`, else `HF_TOKEN`, else the token saved by `hf auth login`; it is never logged,
  and every text file publishing writes is redacted (`openr1_data.secrets`);
- transient failures (HTTP 408/429/5xx, connection errors, a stale parent commit) are retried with exponential
  backoff; every attempt re-reads the branch head and re-plans the commit, so an attempt whose commit did land
  leaves nothing to do for the next one (no duplicate commit);
- shards and plots of a previous push that the folder no longer has are deleted in the same commit (under
  `data/` and `plots/` only), so a re-publish with fewer shards never leaves stale rows behind.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from openr1_data.schema import ContractError
from openr1_data.secrets import redact

logger = logging.getLogger(__name__)

# Folders a push owns: remote files there that the local folder no longer has are deleted.
MANAGED_PREFIXES = ("data/", "plots/")
RETRY_STATUS = {408, 412, 429, 500, 502, 503, 504}  # 412: the branch moved under us; re-plan


class HubPublishError(RuntimeError):
    """A push that cannot succeed as asked (bad token, no rights, retries exhausted); the message says the fix."""


class HubUserError(HubPublishError):
    """A push the user can fix and retrying cannot: no token, a rejected token, a 4xx answer (exit code 2)."""


@dataclass
class PushResult:
    """What `push_to_hub` did."""

    repo_id: str
    revision: str
    commit_oid: str
    commit_url: str
    changed: bool  # False: the Hub already had exactly this content, no commit was made
    attempts: int

    def summary(self) -> str:
        what = "new commit" if self.changed else "no changes, nothing committed"
        return f"pushed to {self.repo_id}@{self.revision}: {what} {self.commit_oid[:12]} ({self.commit_url})"


def validate_repo_id(repo_id: str) -> str:
    """Check `repo_id` is a valid Hub dataset id ("name" or "namespace/name"); raise a clear ValueError if not."""
    from huggingface_hub.utils import HFValidationError
    from huggingface_hub.utils import validate_repo_id as hf_validate

    fix = 'Use "namespace/name" with letters, digits, "-", "_" or "." (e.g. "my-user/my-r1-traces").'
    if not isinstance(repo_id, str) or not repo_id.strip():
        raise ValueError(f"invalid Hub repo id {repo_id!r}: it is empty. {fix}")
    if repo_id.startswith(("datasets/", "http://", "https://")) or repo_id.count("/") > 1:
        raise ValueError(
            f"invalid Hub repo id {repo_id!r}: pass only the id, without a URL or repo type. {fix}"
        )
    try:
        hf_validate(repo_id)
    except HFValidationError as err:
        raise ValueError(f"invalid Hub repo id {repo_id!r}: {err} {fix}") from None
    return repo_id


def resolve_token(token: str | None = None) -> str:
    """The token to push with: explicit, else `HF_TOKEN`, else `hf auth login`'s saved token."""
    if token:
        return token
    from huggingface_hub import get_token

    found = get_token()
    if not found:
        raise HubUserError(
            "no Hugging Face token found: set the HF_TOKEN environment variable or run `hf auth login` "
            "(a token with write access, from https://huggingface.co/settings/tokens)"
        )
    return found


def hub_endpoint() -> str:
    """The Hub the clients talk to (`HF_ENDPOINT`, default https://huggingface.co), credentials redacted."""
    from huggingface_hub import constants

    return redact(str(constants.ENDPOINT))


def hub_failure(err: BaseException, action: str) -> HubUserError | None:
    """The one-line error for a Hub failure the user must fix (retrying will not): the Hub unreachable, a rejected
    or powerless token, another 4xx answer; each names the endpoint and the fix. None for other failures."""
    from huggingface_hub.errors import HfHubHTTPError

    endpoint = hub_endpoint()
    status = _status(err) if isinstance(err, HfHubHTTPError) else None
    if status == 401:
        return HubUserError(
            f"{action}: the Hub at {endpoint} rejected the token (HTTP 401): it is invalid or expired. Set "
            "HF_TOKEN to a valid token with write access or run `hf auth login` "
            "(https://huggingface.co/settings/tokens)."
        )
    if status == 403:
        return HubUserError(
            f"{action}: the token has no write access there (HTTP 403 from {endpoint}): use a token with write "
            "permission for that namespace, or push to your own namespace."
        )
    if status is not None and 400 <= status < 500 and status not in RETRY_STATUS:
        url = getattr(getattr(err, "response", None), "url", None)
        return HubUserError(
            f"{action}: the Hub answered {_describe(err)} at {redact(str(url)) if url else endpoint}. Retrying "
            "cannot fix this: check the repo id, the revision and HF_ENDPOINT."
        )
    if status is None and _is_transient(err):
        return HubUserError(
            f"{action}: the Hub at {endpoint} could not be reached ({type(err).__name__}: "
            f"{_first_line(err)}). Check the network and HF_ENDPOINT (unset it to use huggingface.co), then rerun."
        )
    return None


def _first_line(err: BaseException) -> str:
    return redact(str(err).splitlines()[0]) if str(err) else type(err).__name__


def _status(err: BaseException) -> int | None:
    response = getattr(err, "response", None)
    return getattr(response, "status_code", None)


def _is_transient(err: BaseException) -> bool:
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(err, HfHubHTTPError):
        return _status(err) in RETRY_STATUS
    try:
        import httpx2 as httpx  # the HTTP client of huggingface_hub >= 2
    except ImportError:
        import httpx
    return isinstance(err, httpx.TransportError | ConnectionError | TimeoutError)


def _local_files(folder: Path) -> list[str]:
    """Files to upload, as repo paths: everything in the folder except hidden files and folders."""
    files = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and not any(part.startswith(".") for part in rel.parts):
            files.append(rel.as_posix())
    return files


def push_to_hub(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    private: bool | None = None,
    revision: str | None = None,
    commit_message: str | None = None,
    token: str | None = None,
    max_retries: int = 5,
    retry_wait: float = 2.0,
) -> PushResult:
    """Push a published folder (see `publish_local`) to the dataset repo `repo_id` in one commit.

    Args:
        folder: a folder written by `publish_local` (README.md card + data/ + plots/ + pipeline_config.yaml).
        repo_id: "namespace/name" of the dataset repo; created if missing.
        private: visibility when the repo is created (an existing repo keeps its visibility; a warning says so).
        revision: branch to push to (created from main if missing); default main.
        commit_message: message of the commit; default "Publish <n> files with openr1-data <version>".
        token: explicit token; default HF_TOKEN or the saved login. Never logged.
        max_retries, retry_wait: retries of transient failures, with exponential backoff from `retry_wait` s.
    """
    validate_repo_id(repo_id)
    folder = Path(folder)
    if not (folder / "README.md").is_file():
        raise ContractError(
            f"{folder} is not a published dataset folder (no README.md). Write it with "
            "`openr1_data.publish.publish_local` (or the pipeline's publish stage) first."
        )
    files = _local_files(folder)
    token = resolve_token(token)

    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    import openr1_data
    from openr1_data.publish.card import rerender_card

    api = HfApi(token=token)
    branch = revision or "main"
    message = commit_message or f"Publish {len(files)} files with openr1-data {openr1_data.__version__}"
    readme = rerender_card(folder, repo_id)  # the card's load snippet names the repo (unless hand-edited)

    # The branch head before this push (None when the Hub reports none): did the push change anything?
    first_head: list[str | None] = []

    def attempt() -> tuple[str, str]:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        info = api.dataset_info(repo_id)
        if private is not None and bool(info.private) != private:
            logger.warning(
                "%s already exists and is %s; its visibility is left unchanged (change it in the repo settings)",
                repo_id,
                "private" if info.private else "public",
            )
        if branch != "main":
            api.create_branch(repo_id, repo_type="dataset", branch=branch, exist_ok=True)
        head = api.dataset_info(repo_id, revision=branch).sha
        first_head[:1] = first_head[:1] or [head]
        operations = _plan(api, repo_id, branch, folder, files, readme)
        commit = api.create_commit(
            repo_id,
            operations,
            commit_message=message,
            repo_type="dataset",
            revision=branch,
            parent_commit=head,
        )
        return commit.oid, commit.commit_url

    attempts = 0
    while True:
        attempts += 1
        try:
            oid, url = attempt()
            break
        except Exception as err:
            action = f"push to {repo_id}@{branch}"
            transient = _is_transient(err)
            if not transient or attempts > max_retries:
                fix = hub_failure(err, action)  # unreachable, or a 4xx: one line naming the endpoint
                if fix is not None:
                    raise fix from None
                if isinstance(err, HfHubHTTPError):
                    raise HubPublishError(
                        f"{action} failed after {attempts} attempt(s) at {hub_endpoint()}: {_describe(err)}"
                    ) from err
                raise
            wait = retry_wait * 2 ** (attempts - 1)
            logger.warning("push attempt %d failed (%s); retrying in %.1fs", attempts, _describe(err), wait)
            time.sleep(wait)
    result = PushResult(repo_id, branch, oid, url, oid != first_head[0], attempts)
    logger.info(result.summary())
    return result


def _describe(err: BaseException) -> str:
    status = _status(err)
    return f"HTTP {status}: {_first_line(err)}" if status else f"{type(err).__name__}: {_first_line(err)}"


def _plan(api, repo_id: str, branch: str, folder: Path, files: list[str], readme: str | None) -> list:
    """Commit operations: add every local file, delete remote managed files the folder no longer has."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    remote = set(api.list_repo_files(repo_id, repo_type="dataset", revision=branch))
    ops: list = []
    for path in files:
        if path == "README.md" and readme is not None:
            ops.append(CommitOperationAdd(path_in_repo=path, path_or_fileobj=readme.encode()))
        else:
            ops.append(CommitOperationAdd(path_in_repo=path, path_or_fileobj=str(folder / path)))
    local = set(files)
    stale = sorted(p for p in remote if p.startswith(MANAGED_PREFIXES) and p not in local)
    ops += [CommitOperationDelete(path_in_repo=p) for p in stale]
    return ops
