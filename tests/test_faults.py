"""Reliability under faults, kills and bad input (issue 11 §1, §3), with real servers and real processes.

- The HTTP teacher against a fault-injecting server of our own (tests/fakes/fault_server.py): status codes,
  hangs, trickled bytes, dropped and cut connections, malformed 200 bodies. Deadlines are total, malformed answers
  are retried and never stored, an unknown finish reason is recorded as such and filtered, a heartbeat says what
  the client waits for, and at 10/30/60 % mixed faults every trace equals a fault-free run's (none lost or
  duplicated, resuming when a request fails for good).
- Canary secrets in every place a user can put one never reach a file the pipeline writes, nor its output.
- `kill -9` of a stage that started workers or a server leaves no process behind (read from /proc).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from datasets import Dataset

from openr1_data.curate.filters import FilterConfig, filter_traces
from openr1_data.generate.stage import GenerationConfig, generate_traces, load_traces, shard_folder
from openr1_data.procs import watched_command
from openr1_data.secrets import redact, redact_config
from openr1_data.sources.bundled import bundled_problems
from openr1_data.sources.problems import normalize_problems
from openr1_data.teachers import make_teacher
from openr1_data.teachers.base import SamplingParams, TeacherRequestError
from openr1_data.teachers.openai_backend import OpenAITeacher
from tests.fakes.fault_server import (
    CONNECTION_FAULTS,
    MALFORMED_FAULTS,
    RETRIED_FAULTS,
    STATUS_FAULTS,
    FaultServer,
    answer_for,
)

ROOT = Path(__file__).resolve().parents[1]
USER = [{"role": "user", "content": "What is 3 + 4?"}]
CANARY_PASSWORD = "canary-url-password-5b1e77"
FAST = dict(backoff_base=0.01, backoff_max=0.05)


def with_credentials(server: FaultServer, password: str = CANARY_PASSWORD) -> str:
    return f"http://teacher:{password}@127.0.0.1:{server.port}/v1"


@pytest.fixture(scope="module")
def problems() -> Dataset:
    """40 problems: with 4 samples each, 160 traces."""
    return normalize_problems(Dataset.from_list(bundled_problems(40))).kept


def gen_config(out: Path, base_url: str, **overrides) -> GenerationConfig:
    base = dict(
        output_dir=str(out),
        teacher_backend="openai",
        teacher_model="fault-model",
        base_url=base_url,
        num_generations=4,
        max_new_tokens=32,
        max_concurrency=16,
        request_timeout=0.4,
        max_retries=6,
        **FAST,
    )
    return GenerationConfig(**{**base, **overrides})


def traces_by_id(out: Path) -> dict[str, tuple]:
    traces = load_traces(out)
    columns = ("completion", "finish_reason", "completion_tokens", "predicted_answer", "sample_index")
    rows = zip(traces["trace_id"], *(traces[c] for c in columns), strict=True)
    return {row[0]: tuple(row[1:]) for row in rows}


def trace_ids_on_disk(out: Path) -> list[str]:
    """Every trace id in every shard file (a trace written twice counts twice)."""
    return [
        t for shard in sorted(shard_folder(out).glob("*.parquet")) for t in pq.read_table(shard)["trace_id"]
    ]


# ---------------------------------------------------------------------------------------------------------------
# deadlines, malformed answers, finish reasons, heartbeat
# ---------------------------------------------------------------------------------------------------------------


def test_the_deadline_is_total_a_trickling_server_cannot_hold_a_request():
    # a valid answer of ~300 bytes at one byte per 50 ms takes ~15 s: each read is quick, only a total deadline cuts
    with FaultServer(rate=1.0, kinds=["trickle"], trickle_interval=0.05) as server:
        teacher = OpenAITeacher("m", base_url=server.base_url, request_timeout=0.5, max_retries=1, **FAST)
        started = time.monotonic()
        with pytest.raises(TeacherRequestError) as info:
            teacher.generate([USER], SamplingParams(max_new_tokens=16, seed=1))
        elapsed = time.monotonic() - started
    assert elapsed < 3.0, f"two attempts with a 0.5 s deadline took {elapsed:.1f} s"
    assert "after 2 attempt(s)" in str(info.value) and "0.5s request_timeout" in str(info.value)
    assert server.injected["trickle"] == 2


@pytest.mark.parametrize("kind", [*MALFORMED_FAULTS, *CONNECTION_FAULTS, *STATUS_FAULTS, "hang"])
def test_a_faulty_answer_is_a_failed_request_with_a_clear_error_then_a_retry_gets_the_real_one(kind):
    """The first attempt of every request is faulty: without retries the error names the (redacted) URL and the
    problem; a retry then stores exactly the clean answer, never the faulty one."""
    # a deadline far longer than any answer but the hang (the server runs in this process, maybe on a busy CPU)
    deadline = 0.5 if kind == "hang" else 10.0
    with FaultServer(rate=1.0, kinds=[kind], faulty_attempts=1, hang_seconds=3.0) as server:
        url = with_credentials(server)
        once = OpenAITeacher("m", base_url=url, request_timeout=deadline, max_retries=0, **FAST)
        with pytest.raises(TeacherRequestError) as info:
            once.generate([USER], SamplingParams(max_new_tokens=16, seed=3))
        message = str(info.value)
        assert f"http://<redacted>@127.0.0.1:{server.port}/v1/chat/completions" in message
        assert CANARY_PASSWORD not in message
        expected_problem = {
            "not_json": "not JSON",
            "truncated_json": "not JSON",
            "content_null": "content is null",
            "no_choices": "no choices",
            "empty_choices": "no choices",
            "no_message": "no message",
            "hang": "request_timeout",
            "drop": "Error",
            "cut": "Error",
        }.get(kind, f"HTTP {kind.removeprefix('status_')}")
        assert expected_problem in message
        [[completion]] = once.generate([USER], SamplingParams(max_new_tokens=16, seed=3))  # attempt 2: clean
    text, finish, tokens = answer_for(server.requests[-1]["body"])
    assert (completion.text, completion.finish_reason, completion.completion_tokens) == (text, finish, tokens)
    assert server.injected == Counter({kind: 1}) and server.answered == 1


def test_retries_inside_one_call_recover_from_every_fault_kind():
    # three faulty attempts per request, and retries to spare for attempts that fail before the server counts
    # them (on a busy CPU a deadline can pass before this in-process server reads the request)
    with FaultServer(rate=1.0, kinds=RETRIED_FAULTS, faulty_attempts=3, hang_seconds=3.0) as server:
        teacher = OpenAITeacher("m", base_url=server.base_url, request_timeout=1.0, max_retries=10, **FAST)
        prompts = [[{"role": "user", "content": f"problem {i}"}] for i in range(30)]
        out = teacher.generate(prompts, SamplingParams(max_new_tokens=24, seed=5), n=2)
    assert sum(server.injected.values()) == 3 * 60 and len(server.injected) >= 12
    bodies = {(json.dumps(r["body"]["messages"]), r["body"]["seed"]): r["body"] for r in server.requests}
    for i, samples in enumerate(out):
        for j, c in enumerate(samples):
            body = bodies[(json.dumps(prompts[i]), 5 + i * 2 + j)]
            assert (c.text, c.finish_reason, c.completion_tokens) == answer_for(body)


def test_missing_finish_reason_is_stored_as_unknown_and_filtered_like_length(tmp_path, problems):
    with FaultServer(rate=1.0, kinds=["finish_null"]) as server:
        cfg = gen_config(tmp_path / "gen", server.base_url, num_generations=2)
        result = generate_traces(problems.select(range(6)), cfg, progress=False)
    reasons = Counter(result.kept["finish_reason"])
    assert reasons == Counter({"unknown": 12}), "a missing finish_reason must never read as 'stop'"
    only_finished = FilterConfig(require_think=False, require_answer=False, max_repetition_share=None)
    filtered = filter_traces(result.kept, only_finished)
    assert len(filtered.kept) == 0
    assert Counter(filtered.rejected["rejected_reason"]) == Counter({"finish_unknown": 12})


def test_heartbeat_says_what_the_client_waits_for(tmp_path, problems, capfd, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-canary-heartbeat-0123456789abcdef")
    with FaultServer(rate=1.0, kinds=["hang"], hang_seconds=3.0) as server:
        teacher = OpenAITeacher(
            "fault-model",
            base_url=with_credentials(server),
            request_timeout=0.5,
            max_retries=2,
            heartbeat_seconds=0.2,
            **FAST,
        )
        cfg = gen_config(tmp_path / "gen", with_credentials(server), num_generations=1)
        with pytest.raises(TeacherRequestError):
            generate_traces(problems.select(range(2)), cfg, teacher=teacher, progress=False)  # streaming path
    err = capfd.readouterr().err
    beats = [line for line in err.splitlines() if line.startswith("teacher http://<redacted>@127.0.0.1:")]
    assert len(beats) >= 3, err
    assert any("2 request(s) in flight (deadline 0.5s each)" in b for b in beats), beats
    assert any("retries so far" in b and "last error: no complete answer within the 0.5s" in b for b in beats)
    assert teacher.monitor.retries >= 2 and teacher.monitor.failed >= 1 and teacher.monitor.pending == 0
    assert CANARY_PASSWORD not in err and "sk-canary-heartbeat" not in err


def test_generate_exposes_deadline_retries_and_backoff_and_routes_them_to_the_teacher(tmp_path):
    from openr1_data.config import parse_config
    from openr1_data.generate.stage import build_teacher

    (cfg,) = parse_config(
        [GenerationConfig],
        ["--teacher_backend", "openai", "--teacher_model", "m", "--request_timeout", "7.5", "--max_retries", "2",
         "--backoff_base", "0.25", "--backoff_max", "4", "--output_dir", str(tmp_path)],
    )  # fmt: skip
    teacher = build_teacher(cfg)
    assert (teacher.request_timeout, teacher.max_retries, teacher.backoff_base, teacher.backoff_max) == (
        7.5,
        2,
        0.25,
        4.0,
    )
    with pytest.raises(ValueError, match="request_timeout must be a number > 0"):
        make_teacher("openai", "m", offered={"request_timeout": 0})


# ---------------------------------------------------------------------------------------------------------------
# mixed fault rates through the generation stage: exactly the traces of a clean run
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory, problems) -> dict[str, tuple]:
    out = tmp_path_factory.mktemp("clean")
    with FaultServer(rate=0.0) as server:
        generate_traces(problems, gen_config(out, server.base_url), progress=False)
    traces = traces_by_id(out)
    assert len(traces) == 160
    return traces


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.6])
def test_mixed_faults_lose_duplicate_or_change_no_trace(rate, tmp_path, problems, clean_run):
    out = tmp_path / "gen"
    runs = 0
    with FaultServer(rate=rate, kinds=RETRIED_FAULTS, seed=11, hang_seconds=2.0) as server:
        cfg = gen_config(out, server.base_url)
        while True:  # a request that fails for good ends the run; rerunning the same command resumes it
            runs += 1
            try:
                generate_traces(problems, cfg, progress=False)
                break
            except TeacherRequestError:
                assert runs < 10, "ten runs did not finish the plan"
    got = traces_by_id(out)
    on_disk = trace_ids_on_disk(out)
    lost = set(clean_run) - set(got)
    duplicated = len(on_disk) - len(set(on_disk))
    differing = [t for t in clean_run if t in got and got[t] != clean_run[t]]
    faults = sum(server.injected.values())
    print(
        f"\nfault rate {rate:.0%}: {len(server.requests)} requests, {faults} faults injected "
        f"({len(server.injected)} kinds), {runs} run(s); traces {len(got)}/160, lost {len(lost)}, "
        f"duplicated {duplicated}, differing {len(differing)}"
    )
    assert faults >= rate * 160 * 0.6 and len(server.injected) >= 6
    assert (len(lost), duplicated, len(differing), len(got)) == (0, 0, 0, 160)


# ---------------------------------------------------------------------------------------------------------------
# canary secrets never reach a written file or the output
# ---------------------------------------------------------------------------------------------------------------


def test_redaction_covers_every_known_secret_shape(monkeypatch):
    monkeypatch.setenv("MY_TEACHER_KEY", "canary-env-value-1f2e3d")
    samples = {
        "http://user:pa55-word-canary@host:8000/v1": "http://<redacted>@host:8000/v1",
        "https://host/v1?api_key=canaryq123&model=m": "https://host/v1?api_key=<redacted>&model=m",
        "--token hf_abcdefghijklmnopqrstuvwx12": "--token <redacted>",
        "--api_key=sk-canaryflag0123456789": "--api_key=<redacted>",
        "Authorization: Bearer abc123def456ghi": "Authorization: Bearer <redacted>",
        "OPENAI_API_KEY=plainvalue HF_TOKEN=x12345678": "OPENAI_API_KEY=<redacted> HF_TOKEN=<redacted>",
        "key sk-proj-abcdefghijklmnop0123 end": "key <redacted> end",
        "key sk-ant-api03-abcdefghijklmnop0123 end": "key <redacted> end",
        "aws AKIAABCDEFGHIJKLMNOP end": "aws <redacted> end",
        "gh ghp_abcdefghijklmnopqrstuvwxyz0123456789 end": "gh <redacted> end",
        "env canary-env-value-1f2e3d end": "env <redacted> end",
        "api_key: s3cr3t-in-yaml": "api_key: <redacted>",
    }
    for text, expected in samples.items():
        assert redact(text) == expected, text
    harmless = (
        "api_key_env: OPENAI_API_KEY\nmax_new_tokens: 256\nTOKENIZERS_PARALLELISM=false\nBasic arithmetic"
    )
    assert redact(harmless) == harmless
    config = {"base_url": "http://u:p4ss-canary@h/v1", "api_key_env": "MY_TEACHER_KEY", "hub_token": "abc123"}
    assert redact_config(config) == {
        "base_url": "http://<redacted>@h/v1",
        "api_key_env": "MY_TEACHER_KEY",
        "hub_token": "<redacted>",
    }


def test_canary_secrets_never_reach_a_written_file_or_the_output(tmp_path):
    """distill_r1 end to end against a real HTTP teacher, with canaries in the environment, in flags, in URLs with
    credentials and in the recipe file; then every byte written and printed is searched for them."""
    canaries = {
        "env_openai": "sk-canaryenvopenai0123456789abcd",
        "env_custom": "canary-custom-key-77aa21",
        "env_hf": "hf_canaryenvhftoken0123456789ab",
        "env_aws": "canaryAwsSecretKey/0123456789+abcdefXYZ",
        "recipe_url": "canary-recipe-pass-31c9",
        "flag_url": "canary-flag-pass-8d20",
        "flag_query": "canaryqueryvalue4410",
    }
    with FaultServer(rate=0.0) as server:
        recipe = tmp_path / "recipe.yaml"
        recipe.write_text(
            (ROOT / "pipelines" / "recipes" / "distill_r1_cpu.yaml").read_text()
            + f"\nbase_url: http://teacher:{canaries['recipe_url']}@127.0.0.1:{server.port}/v1\n"
            + "serve_teacher: false\nteacher_model: fault-model\napi_key_env: MY_TEACHER_KEY\n"
        )
        env = {
            **os.environ,
            "OPENAI_API_KEY": canaries["env_openai"],
            "MY_TEACHER_KEY": canaries["env_custom"],
            "HF_TOKEN": canaries["env_hf"],
            "AWS_SECRET_ACCESS_KEY": canaries["env_aws"],
            "OPENR1_DATA_CACHE": str(tmp_path / "cache"),
        }
        command = [
            sys.executable, str(ROOT / "pipelines" / "distill_r1.py"), "--config", str(recipe),
            "--limit", "3", "--benchmarks", "aime_2024", "--prompt_styles", "r1", "--thinking_budget", "24",
            "--verify_num_proc", "0", "--output_dir", str(tmp_path / "gen"), "--dataset_dir", str(tmp_path / "ds"),
            "--judge_base_url",
            f"http://judge:{canaries['flag_url']}@127.0.0.1:{server.port}/v1?api_key={canaries['flag_query']}",
        ]  # fmt: skip
        done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    # the run really used the credentials-bearing URL and wrote what a leak would hide in
    assert server.answered >= 3 and "Authorization" in server.requests[0]["headers"]
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p != recipe and "cache" not in p.parts]
    names = {p.name for p in written}
    assert {"manifest.json", "pipeline_config.yaml", "README.md", "funnel.json"} <= names, sorted(names)
    leaks = [
        f"{what} in {where}"
        for what, value in canaries.items()
        for where, data in [("stdout", done.stdout), ("stderr", done.stderr)]
        + [(str(p.relative_to(tmp_path)), p.read_bytes()) for p in written]
        if value.encode() in data
    ]
    print(f"\ncanary search: {len(canaries)} canaries x {len(written) + 2} outputs, {len(leaks)} leak(s)")
    assert not leaks, leaks
    config_text = next(p for p in written if p.name == "pipeline_config.yaml").read_text()
    assert f"http://<redacted>@127.0.0.1:{server.port}/v1" in config_text  # the field is there, redacted
    manifest = json.loads(next(p for p in written if p.name == "manifest.json").read_text())
    assert manifest["config"]["base_url"] == f"http://<redacted>@127.0.0.1:{server.port}/v1"


# ---------------------------------------------------------------------------------------------------------------
# no orphan processes after kill -9
# ---------------------------------------------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")  # a zombie has exited (its new parent has not reaped it yet)


def _descendants(pid: int) -> set[int]:
    """Every live process below `pid`, from /proc (no psutil)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parents[int(entry)] = int(
                    Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1]
                )
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return {p for p in found if _alive(p)}


def _kill_and_count_survivors(
    process: subprocess.Popen, wait_for_children: int, within: float = 6.0
) -> tuple:
    """Wait until `process` has `wait_for_children` live descendants, SIGKILL it, and return (descendants seen,
    survivors after `within` seconds)."""
    deadline = time.monotonic() + 120
    children: set[int] = set()
    while time.monotonic() < deadline and process.poll() is None:
        children = _descendants(process.pid)
        if len(children) >= wait_for_children:
            break
        time.sleep(0.05)
    assert len(children) >= wait_for_children, f"only {children} started (exit code {process.poll()})"
    time.sleep(0.3)  # let them get busy
    children = _descendants(process.pid) | children
    process.send_signal(signal.SIGKILL)
    process.wait()
    end = time.monotonic() + within
    while time.monotonic() < end and any(_alive(p) for p in children):
        time.sleep(0.05)
    survivors = {p for p in children if _alive(p)}
    for pid in survivors:  # do not leave them running on a shared machine
        os.kill(pid, signal.SIGKILL)
    return children, survivors


def _slow_verify_input(path: Path, rows: int = 30000) -> Path:
    """Traces whose answers math-verify must really parse (distinct fractions): a few seconds on two workers."""
    Dataset.from_dict(
        {
            "answer": [f"\\frac{{{i}}}{{{i + 7}}}" for i in range(rows)],
            "predicted_answer": [f"{i}/{i + 7}" for i in range(rows)],
            "completion": ["<think>\nwork\n</think>\n\\boxed{1}" for _ in range(rows)],
            "finish_reason": ["stop"] * rows,
        }
    ).to_parquet(path)
    return path


def test_kill_9_of_verify_leaves_no_worker(tmp_path):
    data = _slow_verify_input(tmp_path / "traces.parquet")
    command = [sys.executable, "-m", "openr1_data.cli", "verify", "--input", str(data),
               "--output_dir", str(tmp_path / "out"), "--verify_num_proc", "2", "--progress", "false"]  # fmt: skip
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    children, survivors = _kill_and_count_survivors(process, wait_for_children=2)
    print(f"\nverify: {len(children)} worker(s) at the kill, {len(survivors)} alive afterwards")
    assert not survivors


def test_kill_9_of_filter_leaves_no_worker(tmp_path):
    rows = 60000
    text = "<think>\n" + "let us add the numbers one by one and check " * 40 + "\n</think>\nSo \\boxed{7}."
    data = tmp_path / "traces.parquet"
    Dataset.from_dict(
        {"completion": [text] * rows, "finish_reason": ["stop"] * rows, "completion_tokens": [400] * rows}
    ).to_parquet(data)
    command = [sys.executable, "-m", "openr1_data.cli", "filter", "--input", str(data),
               "--output_dir", str(tmp_path / "out"), "--filter_num_proc", "2", "--keep", "all",
               "--max_repetition_share", "0.9"]  # fmt: skip
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    children, survivors = _kill_and_count_survivors(process, wait_for_children=2)
    print(f"\nfilter: {len(children)} worker(s) at the kill, {len(survivors)} alive afterwards")
    assert not survivors


def test_kill_9_of_a_process_serving_a_transformers_teacher_leaves_no_server(tmp_path, tiny_model_dir):
    script = tmp_path / "serve_and_wait.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import time
            from openr1_data.teachers.serve import start_transformers_serve
            server = start_transformers_serve({tiny_model_dir!r}, startup_timeout=120)
            print(server.process.pid, flush=True)  # after it answered on /health
            time.sleep(600)
            """
        )
    )
    process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    server_pid = int(process.stdout.readline())
    assert _alive(server_pid)
    children, survivors = _kill_and_count_survivors(process, wait_for_children=1)
    assert server_pid in children
    print(f"\ntransformers serve: {len(children)} process(es) at the kill, {len(survivors)} alive afterwards")
    assert not survivors


def test_a_child_of_a_short_lived_thread_relies_on_the_watchdog(tmp_path):
    """A child started from a thread other than the main one gets no parent-death signal (it would die with that
    thread), only the watchdog: it still exits within a second of its parent's kill -9."""
    script = tmp_path / "start_from_thread.py"
    script.write_text(
        textwrap.dedent(
            """
            import subprocess, sys, threading, time
            from openr1_data.procs import watched_command
            out = {}
            def start():
                command = watched_command(["-m", "http.server", "0", "--bind", "127.0.0.1"])
                out["no_signal"] = "--no-signal" in command
                out["child"] = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            thread = threading.Thread(target=start); thread.start(); thread.join()
            time.sleep(1.0)  # the thread is gone: a parent-death signal would have killed the child by now
            print(out["child"].pid, out["child"].poll() is None, out["no_signal"], flush=True)
            time.sleep(600)
            """
        )
    )
    process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    pid, alive_after_thread, no_signal = process.stdout.readline().split()
    assert alive_after_thread == "True" and no_signal == "True"
    children, survivors = _kill_and_count_survivors(process, wait_for_children=1, within=3.0)
    assert int(pid) in children and not survivors
    assert watched_command(["-m", "x"])[:4] == [sys.executable, "-m", "openr1_data.procs", "--parent"]
    assert threading.current_thread() is threading.main_thread()
