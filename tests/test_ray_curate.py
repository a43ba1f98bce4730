"""Curation on a Ray cluster (`--ray_address`): verify (math-verify and the code sandbox in the workers), filter,
dedup and decontaminate as Ray tasks over shards, on a real local multi-node cluster (`ray.cluster_utils.Cluster`,
every node on 127.0.0.1). Each result equals the one-process run row for row; a worker node killed mid-verify
changes nothing (its shards re-run elsewhere, each row once); `--ray_address local` leaves no Ray process behind."""

from __future__ import annotations

import importlib.util
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import pytest
from datasets import Dataset

from openr1_data.cli import main as cli_main
from openr1_data.curate.ray_shards import RayShardsConfig
from openr1_data.curate.ray_stages import verify_on_ray
from openr1_data.curate.verify import VerifyConfig, verify_traces
from openr1_data.io import read_dataset
from openr1_data.prompts import get_style
from openr1_data.schema import ContractError
from openr1_data.sources.bundled import bundled_problems
from openr1_data.sources.code_problems import FunctionTests, read_humaneval
from openr1_data.sources.problems import normalize_problems

# A one-machine cluster: Ray otherwise swaps 127.0.0.1 for the machine's address when connecting (read at import)
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"

pytestmark = [
    pytest.mark.ray,
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("ray") is None, reason='needs Ray: pip install "openr1-data[ray]"'
    ),
]


MATH_COMPLETIONS = [
    "<think>\nAdd them up carefully.\n</think>\nThe answer is \\boxed{{{answer}}}.",
    "<think>\nI guess.\n</think>\nThe answer is \\boxed{{{wrong}}}.",
    "<think>\nLet me think about it.\n</think>\nI do not know.",
    "<think>\nThis goes on and on without end",
    "<think>\nSo it is {answer}, surely.\n</think>\nFinal: $\\boxed{{{answer}}}$",
]


def _trace(problem: dict, sample: int, completion: str, style: str) -> dict:
    row = {**problem, "sample_index": sample, "teacher": "hand", "prompt_style": style, "completion": completion,
           "finish_reason": "stop" if "</think>" in completion else "length",
           "completion_tokens": max(1, len(completion.split())), "trace_id": f"{problem['problem_id']}-{sample}"}  # fmt: skip
    parsed = get_style(style).parse(completion, row)
    row.update(reasoning=parsed.reasoning, final=parsed.final, predicted_answer=parsed.predicted_answer,
               parse_issue=parsed.parse_issue)  # fmt: skip
    return row


def math_traces(problems: int = 10) -> list[dict]:
    loaded = normalize_problems(Dataset.from_list(bundled_problems(problems))).kept
    rows = []
    for p, problem in enumerate(loaded):
        answer = problem["answer"]
        for k, template in enumerate(MATH_COMPLETIONS):
            text = template.format(answer=answer, wrong=f"{answer}1" if p % 3 else "17")
            rows.append(_trace(problem, k, text, "r1"))
    return rows


def code_traces(problems: int = 3, samples: int = 3) -> list[dict]:
    rows = []
    for p in read_humaneval(problems):
        problem = {"problem": p["prompt"], "problem_id": p["task_id"], "answer": None, "solution": None,
                   "source": "humaneval", "domain": "code",
                   "tests": FunctionTests(p["prompt"], p["test"], p["entry_point"]).to_json()}  # fmt: skip
        good = f"<think>Write it.</think>\n```python\n{p['prompt'] + p['canonical_solution']}```\n"
        bad = f"<think>Guess.</think>\n```python\ndef {p['entry_point']}(*args):\n    return None\n```\n"
        for k in range(samples):
            rows.append(_trace(problem, k, bad if k == 1 else good, "r1_code"))
    return rows


def as_table(rows: list[dict]) -> Dataset:
    """Rows of different domains as one dataset (every column in every row, None where a row has none)."""
    columns = {c: None for r in rows for c in r}
    return Dataset.from_list([{**columns, **r} for r in rows])


def write_traces(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def run(*argv: str) -> None:
    assert cli_main([str(a) for a in argv]) == 0


def rows_of(folder: Path) -> list[dict]:
    return read_dataset(folder).to_list()


def test_verify_and_filter_on_ray_equal_one_process(cluster, tmp_path):
    head, _ = cluster
    traces = write_traces(tmp_path / "traces.jsonl", math_traces() + code_traces())
    flags = ["--progress", "false", "--code_timeout_seconds", "20"]
    run("verify", "--input", traces, "--output_dir", tmp_path / "v1", *flags)
    run("verify", "--input", traces, "--output_dir", tmp_path / "vr", *flags,
        "--ray_address", head.address, "--ray_shard_rows", "7")  # fmt: skip
    one, on_ray = rows_of(tmp_path / "v1"), rows_of(tmp_path / "vr")
    assert len(one) == 59 and on_ray == one  # every row once, in order, the same verdicts and gold audit
    assert {r["verify_error"] for r in one} >= {None, "no_answer"}
    assert any(r["correct"] for r in one if r["domain"] == "code")
    assert any(r["correct"] is False for r in one if r["domain"] == "code")
    reports = [json.loads((tmp_path / f / "verify_report.json").read_text()) for f in ("v1", "vr")]
    assert reports[0] == reports[1]

    run("filter", "--input", tmp_path / "v1", "--output_dir", tmp_path / "f1")
    run("filter", "--input", tmp_path / "v1", "--output_dir", tmp_path / "fr",
        "--ray_address", head.address, "--ray_shard_rows", "5")  # fmt: skip
    assert rows_of(tmp_path / "fr") == rows_of(tmp_path / "f1")
    rejected = [read_dataset(tmp_path / f / "rejected" / "filter").to_list() for f in ("f1", "fr")]
    assert rejected[0] == rejected[1] and len(rejected[0]) > 0
    funnels = [json.loads((tmp_path / f / "funnel.json").read_text()) for f in ("f1", "fr")]
    assert funnels[0]["stages"] == funnels[1]["stages"]


DISTINCT = [
    "A bakery sells muffins in boxes of 6 and cookies in boxes of 15. Maya wants to buy the same number of "
    "muffins and cookies. What is the smallest number of each she can buy?",
    "Let $g(x) = 3x^2 - 5x + 7$. For how many integers $k$ with $1 \\le k \\le 50$ is $g(k)$ divisible by 11?",
    "A train leaves a station at 9:15 travelling at 72 km per hour. A second train leaves the same station at "
    "10:00 on a parallel track at 90 km per hour. At what time does the second train catch up with the first?",
    "The vertices of a triangle are at $(0, 0)$, $(12, 0)$ and $(4, 9)$. Find the radius of the circle that "
    "passes through all three vertices.",
    "In a bag there are 5 red, 7 blue and 8 green marbles. Three marbles are drawn without replacement. "
    "What is the probability that all three have different colours?",
    "How many ways can the letters of the word BANANA be arranged so that no two A's are adjacent?",
    "Find the sum of all positive divisors of 360 that are perfect squares.",
    "A rectangle has perimeter 50 and its diagonal has length 19. What is the area of the rectangle?",
    "Solve for real $x$: $\\sqrt{x + 7} + \\sqrt{x - 1} = 8$.",
    "Two dice are rolled. What is the probability that the product of the numbers shown is a multiple of 6?",
]
# A near-duplicate of DISTINCT[1] (one word changed), planted last: with 4-row shards it is in another shard.
PLANTED = DISTINCT[1].replace("integers", "whole numbers")


def test_near_dedup_on_ray_finds_a_pair_straddling_shards(cluster, tmp_path):
    head, _ = cluster
    rows = [{"problem": p} for p in [*DISTINCT, PLANTED]]
    data = write_traces(tmp_path / "problems.jsonl", rows)
    flags = ["--dedup_mode", "near", "--minhash_threshold", "0.6"]
    run("dedup", "--input", data, "--output_dir", tmp_path / "d1", *flags)
    run("dedup", "--input", data, "--output_dir", tmp_path / "dr", *flags,
        "--ray_address", head.address, "--ray_shard_rows", "4")  # fmt: skip
    rejected = read_dataset(tmp_path / "dr" / "rejected" / "dedup_near").to_list()
    assert [(r["problem"], r["duplicate_of_index"]) for r in rejected] == [(PLANTED, 1)]
    assert 1 // 4 != len(DISTINCT) // 4  # the pair straddles two shards
    assert rows_of(tmp_path / "dr") == rows_of(tmp_path / "d1")
    assert rejected == read_dataset(tmp_path / "d1" / "rejected" / "dedup_near").to_list()
    reports = [json.loads((tmp_path / f / "dedup_report.json").read_text()) for f in ("d1", "dr")]
    for report in reports:
        for stage in report["stages"]:
            stage.pop("seconds")
    assert reports[0] == reports[1]


def test_decontaminate_on_ray_flags_the_same_rows_as_one_process(cluster, tmp_path):
    from openr1_data.sources.eval_benchmarks import load_benchmark

    head, _ = cluster
    leaked = load_benchmark("math_500")["problem"][:3] + load_benchmark("aime_2024")["problem"][:2]
    problems = [*DISTINCT[:4], leaked[0], *DISTINCT[4:7], leaked[1], leaked[2], *DISTINCT[7:], *leaked[3:]]
    data = write_traces(tmp_path / "problems.jsonl", [{"problem": p} for p in problems])
    flags = ["--benchmarks", "aime_2024", "math_500", "--decontam_cache_dir", tmp_path / "cache"]
    run("decontaminate", "--input", data, "--output_dir", tmp_path / "c1", *flags)
    run("decontaminate", "--input", data, "--output_dir", tmp_path / "cr", *flags,
        "--ray_address", head.address, "--ray_shard_rows", "3")  # fmt: skip
    rejected = [read_dataset(tmp_path / f / "rejected" / "decontaminate").to_list() for f in ("c1", "cr")]
    assert sorted(r["problem"] for r in rejected[1]) == sorted(leaked)
    assert rejected[1] == rejected[0] and rows_of(tmp_path / "cr") == rows_of(tmp_path / "c1")
    reports = [json.loads((tmp_path / f / "decontamination_report.json").read_text()) for f in ("c1", "cr")]
    for report in reports:
        report.pop("seconds")
    assert reports[0] == reports[1]


def _processes_under(folder: str) -> list[str]:
    """Processes whose command line names `folder` (a Ray cluster started with RAY_TMPDIR=folder)."""
    found = []
    for p in psutil.process_iter(["cmdline"]):
        line = " ".join(p.info["cmdline"] or [])
        if folder in line:
            found.append(f"{p.pid} {line[:120]}")
    return found


def _is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:127.0.0.1, an IPv4 loopback on an IPv6 socket
    return (mapped or ip).is_loopback


def _listening_addresses(folder: str) -> set[str]:
    """The local addresses that processes of the cluster under `folder` listen on (TCP)."""
    addresses = set()
    for p in psutil.process_iter(["cmdline"]):
        if folder not in " ".join(p.info["cmdline"] or []):
            continue
        try:
            sockets = p.net_connections(kind="tcp")
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        addresses |= {s.laddr.ip for s in sockets if s.status == psutil.CONN_LISTEN}
    return addresses


def test_ray_address_local_starts_its_own_cluster_and_leaves_no_process_behind(tmp_path):
    """`--ray_address local` in a fresh process: the command starts a one-machine cluster listening on 127.0.0.1
    only, verifies on it (the same result as one process), and every Ray process it started is gone when it
    exits."""
    traces = write_traces(tmp_path / "traces.jsonl", math_traces(4))
    run("verify", "--input", traces, "--output_dir", tmp_path / "v1", "--progress", "false")
    ray_tmp = tempfile.mkdtemp(prefix="rc", dir="/tmp")  # short: Ray's socket paths live under it
    env = {**os.environ, "RAY_TMPDIR": ray_tmp, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    argv = ["verify", "--input", traces, "--output_dir", str(tmp_path / "vr"), "--progress", "false",
            "--ray_address", "local", "--ray_shard_rows", "6"]  # fmt: skip
    try:
        log = tmp_path / "stderr.txt"
        with log.open("w") as stderr:  # a file, not a pipe: a full pipe would stall the command
            command = subprocess.Popen(
                [sys.executable, "-m", "openr1_data.cli", *argv], env=env, stderr=stderr
            )
            listening: set[str] = set()
            deadline = time.time() + 600
            while (
                command.poll() is None and time.time() < deadline
            ):  # what its cluster listens on, as it runs
                listening |= _listening_addresses(ray_tmp)
                time.sleep(0.2)
            if command.poll() is None:
                command.kill()
            command.wait(timeout=60)
        assert command.returncode == 0, log.read_text()[-3000:]
        assert listening and all(_is_loopback(a) for a in listening), listening  # nothing open to the network
        assert list(Path(ray_tmp).glob("ray/session_*")), "the command must have started its own Ray cluster"
        deadline = time.time() + 30  # Ray's shutdown may take a moment to reap its last processes
        while _processes_under(ray_tmp) and time.time() < deadline:
            time.sleep(0.5)
        assert _processes_under(ray_tmp) == []
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)  # the cluster's logs
    assert rows_of(tmp_path / "vr") == rows_of(tmp_path / "v1")


def test_a_stage_error_inside_a_task_is_raised_as_the_stage_raises_it(cluster):
    head, _ = cluster
    no_gold = Dataset.from_list([{"problem": "What is 1 + 1?", "predicted_answer": "2"}])
    with pytest.raises(ContractError, match=r"missing column\(s\) \['answer'\]"):
        verify_on_ray(no_gold, VerifyConfig(progress=False), RayShardsConfig(ray_address=head.address))


# Last: it leaves the cluster with one worker node.
def _raylet_children(node) -> list[psutil.Process]:
    """The processes a worker node's raylet started (its Ray workers and what they run)."""
    raylet = node.all_processes["raylet"][0].process
    try:
        return psutil.Process(raylet.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def test_a_worker_node_killed_mid_verify_changes_nothing(cluster, tmp_path):
    head, workers = cluster
    traces = as_table(math_traces(6) + code_traces(6, 6))
    config = VerifyConfig(progress=False, code_timeout_seconds=20)
    reference = verify_traces(traces, config).kept.to_list()

    killed = threading.Event()

    def kill_a_node_running_a_sandbox() -> None:
        # A sandbox (python -I -B -S -c BOOT) under a worker node's raylet: a shard of code rows is in flight there.
        deadline = time.time() + 300
        while time.time() < deadline:
            for node in workers:
                if any(" -I -B -S -c " in line for line in _command_lines(_raylet_children(node))):
                    head.remove_node(node)  # its raylet, its Ray workers and their sandboxes die
                    killed.set()
                    return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_a_node_running_a_sandbox, daemon=True)
    killer.start()
    result = verify_on_ray(traces, config, RayShardsConfig(ray_address=head.address, ray_shard_rows=4))
    killer.join(timeout=60)
    assert killed.is_set(), "a worker node must die during the run for this test to mean anything"
    rows = result.kept.to_list()
    assert [r["trace_id"] for r in rows] == [r["trace_id"] for r in reference]  # each row once, in order
    assert rows == reference


def _command_lines(processes: list[psutil.Process]) -> list[str]:
    lines = []
    for p in processes:
        try:
            lines.append(" ".join(p.cmdline()))
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            pass  # ended meanwhile
    return lines
