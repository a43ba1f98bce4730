"""Hub publishing with the real `huggingface_hub` / `datasets` clients over HTTP against tests/hub_server.py.

Why every client runs in a subprocess: `huggingface_hub.constants` reads HF_ENDPOINT (and HF_HUB_OFFLINE,
HF_HUB_DISABLE_XET) once, at import, and `datasets.config` copies them into its own module constants
(HF_ENDPOINT, HUB_DATASETS_URL, HF_HUB_OFFLINE). In one pytest process another test module has usually imported
`datasets` already (with conftest's HF_HUB_OFFLINE=1), so setting the environment afterwards changes nothing,
and reloading `huggingface_hub.constants` leaves the stale copies in `datasets.config` and in every module that
did `from .constants import ...`. A fresh interpreter per client call, with the environment set before its first
import, is what a user's process looks like, so it is the only setup that tests the real code paths. The server
runs in this process (a thread; standard library only), so tests inspect what it stored directly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from datasets import load_dataset

import openr1_data
from openr1_data.publish import publish_local
from tests.hub_server import HubServer
from tests.test_publish_local import build_run

REPO_ROOT = Path(__file__).resolve().parent.parent
TOKEN = "hf_PublishTestToken0123456789abcdefXYZ"
USER = "alice"

# Loads every config (and the card) of a Hub repo with the real clients; prints one JSON line.
LOAD_BACK = r"""
import json, sys
from datasets import load_dataset
from huggingface_hub import DatasetCard, HfApi
repo, revision, token = sys.argv[1], (sys.argv[2] or None), (sys.argv[3] == "token")
out = {"configs": {}}
for config in ("sft", "all_traces", "rejected"):
    ds = load_dataset(repo, config, revision=revision, token=None if token else False)
    out["configs"][config] = {split: d.to_list() for split, d in ds.items()}
if revision is None:
    card = DatasetCard.load(repo, repo_type="dataset")
    out["card"] = {"data": card.data.to_dict(), "text": card.text}
out["private"] = HfApi().dataset_info(repo).private if token else None
print("RESULT " + json.dumps(out))
"""


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    with HubServer(tmp_path_factory.mktemp("hub"), {TOKEN: USER}) as server:
        yield server


@pytest.fixture(scope="module")
def run() -> dict:
    return build_run()


@pytest.fixture(scope="module")
def folder(run, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("pub") / "dataset"
    publish_local(folder, **run, test_size=2, seed=0)
    return folder


def client(hub: HubServer, home: Path, argv: list[str], token: str | None = TOKEN, **env_extra: str):
    """Run a real Hub client (a `openr1-data` command or `-c` code) in a fresh interpreter against `hub`."""
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")}
    env.update(
        HF_ENDPOINT=hub.url,
        HF_HUB_DISABLE_XET="1",
        HF_HUB_OFFLINE="0",
        HF_HOME=str(home),
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        PYTHONPATH=str(REPO_ROOT),
        **env_extra,
    )
    if token is not None:
        env["HF_TOKEN"] = token
    cmd = [sys.executable, *argv] if argv[0] == "-c" else [sys.executable, "-m", "openr1_data.cli", *argv]
    return subprocess.run(cmd, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=180)


def push(hub, home, folder, repo_id, *flags, token=TOKEN, **env):
    return client(
        hub, home, ["push", str(folder), repo_id, "--retry-wait", "0.05", *flags], token=token, **env
    )


def load_back(hub, home, repo_id, revision="", token=True):
    proc = client(hub, home, ["-c", LOAD_BACK, repo_id, revision, "token" if token else "anonymous"])
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    return proc, (json.loads(lines[-1][len("RESULT ") :]) if lines else None)


def publish_message(folder: Path) -> str:
    """The default commit message of a push of `folder`."""
    n = sum(1 for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    return f"Publish {n} files with openr1-data {openr1_data.__version__}"


def local_rows(folder: Path) -> dict:
    return {
        config: {split: d.to_list() for split, d in load_dataset(str(folder), config).items()}
        for config in ("sft", "all_traces", "rejected")
    }


@pytest.fixture(scope="module")
def pushed(hub, folder, tmp_path_factory) -> str:
    repo_id = f"{USER}/r1-traces"
    proc = push(hub, tmp_path_factory.mktemp("home"), folder, repo_id)
    assert proc.returncode == 0, proc.stderr
    assert "new commit" in proc.stdout
    return repo_id


def test_push_then_load_every_config_and_the_card_back(hub, folder, pushed, tmp_path):
    proc, result = load_back(hub, tmp_path, pushed)
    assert result is not None, proc.stderr[-3000:]
    assert result["configs"] == local_rows(folder)  # the Hub copy loads exactly like the local folder
    assert set(result["configs"]["sft"]) == {"train", "test"}
    card = result["card"]
    assert card["data"]["license"] == "apache-2.0"
    assert [c["config_name"] for c in card["data"]["configs"]] == ["sft", "all_traces", "rejected"]
    # The card was re-rendered at push time so the load snippet names the Hub repo.
    assert f'load_dataset("{pushed}", "sft", split="train")' in card["text"]
    assert "## Funnel" in card["text"] and "](plots/funnel.png)" in card["text"]
    files = hub.files(pushed)
    assert {"plots/funnel.png", "plots/lengths.png", "pipeline_config.yaml", "funnel.json"} <= set(files)
    assert [c["title"] for c in hub.commits(pushed)] == [publish_message(folder), "initial commit"]


def test_repush_is_idempotent_and_removes_stale_shards(hub, run, folder, pushed, tmp_path):
    before = hub.commits(pushed)
    proc = push(hub, tmp_path / "h1", folder, pushed)
    assert proc.returncode == 0 and "no changes, nothing committed" in proc.stdout, proc.stderr
    # Publishing the same run again writes byte-identical data, card and plots: still nothing to commit.
    same = tmp_path / "same"
    publish_local(same, **run, test_size=2, seed=0)
    proc = push(hub, tmp_path / "h2", same, pushed)
    assert proc.returncode == 0 and "no changes" in proc.stdout, proc.stderr
    assert hub.commits(pushed) == before

    # A re-publish with different sharding replaces the shards: no stale file (and no duplicated row) stays.
    resharded = tmp_path / "resharded"
    publish_local(resharded, **run, test_size=2, seed=0, max_rows_per_shard=3)
    proc = push(hub, tmp_path / "h3", resharded, pushed, "--commit-message", "Reshard")
    assert proc.returncode == 0 and "new commit" in proc.stdout, proc.stderr
    remote = set(hub.files(pushed)) - {".gitattributes"}
    local = {str(p.relative_to(resharded)) for p in resharded.rglob("*") if p.is_file()}
    local.discard(".card_context.json")  # hidden: local only
    assert remote == local
    assert len(hub.commits(pushed)) == len(before) + 1 and hub.commits(pushed)[0]["title"] == "Reshard"


def test_private_repo(hub, folder, tmp_path):
    repo_id = f"{USER}/private-traces"
    proc = push(hub, tmp_path / "h1", folder, repo_id, "--private")
    assert proc.returncode == 0, proc.stderr
    assert hub.repo(repo_id)["private"] is True
    proc, result = load_back(hub, tmp_path / "h2", repo_id)
    assert result is not None, proc.stderr[-3000:]
    assert result["private"] is True and result["configs"] == local_rows(folder)
    proc, result = load_back(hub, tmp_path / "h3", repo_id, token=False)  # anonymous: the repo is invisible
    assert result is None and proc.returncode != 0
    assert "DatasetNotFoundError" in proc.stderr or "doesn't exist" in proc.stderr


def test_push_to_a_branch(hub, folder, tmp_path):
    repo_id = f"{USER}/branch-traces"
    proc = push(hub, tmp_path / "h1", folder, repo_id, "--revision", "dev")
    assert proc.returncode == 0 and "@dev" in proc.stdout, proc.stderr
    assert set(hub.files(repo_id, branch="main")) == {".gitattributes"}  # main untouched
    assert "README.md" in hub.files(repo_id, branch="dev")
    proc, result = load_back(hub, tmp_path / "h2", repo_id, revision="dev")
    assert result is not None, proc.stderr[-3000:]
    assert result["configs"]["sft"] == local_rows(folder)["sft"]


def test_transient_server_errors_are_retried_into_one_commit(hub, folder, tmp_path):
    repo_id = f"{USER}/flaky-traces"
    hub.state.fail_commits = 2
    try:
        proc = push(hub, tmp_path, folder, repo_id)
    finally:
        remaining, hub.state.fail_commits = hub.state.fail_commits, 0
    assert remaining == 0, "both failures were served"
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("retrying in") == 2
    commits = hub.commits(repo_id)
    assert [c["title"] for c in commits] == [publish_message(folder), "initial commit"]
    assert "README.md" in hub.files(repo_id)


def test_wrong_token_gives_a_clear_error(hub, folder, tmp_path):
    wrong = "hf_WrongTokenWrongTokenWrongToken000"
    proc = push(hub, tmp_path, folder, f"{USER}/never-created", token=wrong)
    assert proc.returncode == 2  # a user error: one line, exit 2
    assert "rejected the token (HTTP 401)" in proc.stderr and "HF_TOKEN" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert wrong not in proc.stderr + proc.stdout
    assert hub.repo(f"{USER}/never-created") is None
    proc = push(hub, tmp_path, folder, f"{USER}/never-created", token=None)  # no token anywhere
    assert proc.returncode == 2 and "no Hugging Face token found" in proc.stderr


def test_token_never_appears_in_files_or_logs(hub, run, tmp_path, monkeypatch):
    # The token is in the environment while publishing, in the pipeline config (TRL-style `hub_token`) and on
    # the recorded command line; it is passed with --token and the clients log at debug level.
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    provenance = dict(run["provenance"], command=f"python pipelines/quickstart.py --hub_token {TOKEN}")
    folder = tmp_path / "dataset"
    publish_local(folder, **dict(run, provenance=provenance), config={"hub_token": TOKEN, "seed": 1})
    repo_id = f"{USER}/leak-check"
    debug = {"HF_DEBUG": "1", "HF_HUB_VERBOSITY": "debug"}
    logs = []
    proc = push(hub, tmp_path / "home", folder, repo_id, "--token", TOKEN, token=None, **debug)
    assert proc.returncode == 0, proc.stderr
    logs += [proc.stdout, proc.stderr]
    proc, result = load_back(hub, tmp_path / "home", repo_id)
    assert result is not None, proc.stderr[-3000:]
    logs += [proc.stdout, proc.stderr]
    assert "debug" in proc.stderr.lower() or "Request" in "".join(logs)  # logging really was verbose
    assert "<redacted>" in (folder / "pipeline_config.yaml").read_text()

    leaks = [str(p) for p in tmp_path.rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()]
    leaks += [f"hub:{path}" for path, data in hub.files(repo_id).items() if TOKEN.encode() in data]
    leaks += [str(p) for p in hub.state.root.rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()]
    assert leaks == []
    assert all(TOKEN not in log for log in logs)


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:  # a port nobody listens on once this socket is closed
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_hub_is_one_line_naming_the_endpoint(folder, tmp_path):
    """A Hub that cannot be reached (nothing listens at HF_ENDPOINT) ends the push, after its retries, with one
    line naming the endpoint and the fix, exit 2, no traceback."""
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")}
    env.update(
        HF_ENDPOINT=endpoint,
        HF_HUB_OFFLINE="0",
        HF_HUB_DISABLE_XET="1",
        HF_HOME=str(tmp_path),
        HF_TOKEN=TOKEN,
        PYTHONPATH=str(REPO_ROOT),
    )
    argv = ["push", str(folder), f"{USER}/unreachable", "--retry_wait", "0.01", "--max_retries", "1"]
    proc = subprocess.run(
        [sys.executable, "-m", "openr1_data.cli", *argv],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, proc.stderr
    assert f"the Hub at {endpoint} could not be reached" in errors[0] and "HF_ENDPOINT" in errors[0]
    assert TOKEN not in proc.stderr + proc.stdout

    # The training scripts' push says the same (and where the model stays saved).
    code = (
        "from types import SimpleNamespace as N\n"
        "from openr1_data.cli import run_command\n"
        "from openr1_data.train.setup import push_model_folder\n"
        f"args = N(hub_token=None, hub_private_repo=False, output_dir={str(tmp_path)!r})\n"
        "raise SystemExit(run_command('train/sft.py', lambda argv: push_model_folder(args, 'alice/m'), []))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert f"the Hub at {endpoint} could not be reached" in proc.stderr and str(tmp_path) in proc.stderr


def test_a_4xx_retrying_cannot_fix_names_the_endpoint(hub, folder, tmp_path):
    """Another user's namespace: HTTP 403, one line with the endpoint, exit 2, nothing retried or created."""
    proc = push(hub, tmp_path, folder, "bob/not-yours")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "HTTP 403" in errors[0] and hub.url in errors[0]
    assert "retrying" not in proc.stderr and hub.repo("bob/not-yours") is None
