"""Generation on a Ray cluster: a real local multi-node cluster (`ray.cluster_utils.Cluster`, every node on
127.0.0.1), one replica of the tiny transformers teacher per worker node. A worker node is killed mid-run; the
result still equals a one-process run trace for trace (no trace lost, none duplicated, same text), and no Ray
process is left behind."""

from __future__ import annotations

import importlib.util
import ipaddress
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from datasets import Dataset

from openr1_data.generate.stage import GenerationConfig, generate_traces, load_traces, shard_folder
from openr1_data.sources.bundled import bundled_problems
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


REPO = Path(__file__).resolve().parents[1]
# Starts the cluster `--ray_address local` starts, runs one task (so a worker process is up too) and prints every
# listening socket of the process and its descendants (the Ray services and workers) as JSON.
LOCAL_CLUSTER_SOCKETS = r"""
import json, os, psutil
from openr1_data.generate.ray_runner import connect, import_ray
from tests.test_ray_generate import listening
ray = import_ray()
connect(ray, "local")
assert ray.get(ray.remote(lambda: os.getpid()).remote()) != os.getpid()
me = psutil.Process()
print("SOCKETS " + json.dumps(listening(me)))
ray.shutdown()
"""


def listening(root) -> list[list]:
    """[pid, process name, address] of every LISTEN socket of `root` and its descendants (psutil processes)."""
    import psutil

    found = []
    for proc in [root, *root.children(recursive=True)]:
        try:
            for conn in proc.net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN:
                    found.append([proc.pid, proc.name(), conn.laddr.ip])
        except psutil.NoSuchProcess:
            pass
    return found


def _loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1, an IPv6 socket bound to IPv4 loopback
    return (mapped or address).is_loopback


def _cfg(out: Path, model: str, **overrides) -> GenerationConfig:
    base = dict(
        output_dir=str(out), teacher_model=model, prompt_styles=["r1", "rlt"], num_generations=2,
        max_new_tokens=32, temperature=1.0, teacher_batch_size=2, shard_traces=2, num_threads=1,
    )  # fmt: skip
    return GenerationConfig(**{**base, **overrides})


def _nodes_with_a_live_replica() -> set[str]:
    """The ids of the nodes where a generation replica has finished starting (read from Ray's control store)."""
    from ray._private import state

    return {
        a["Address"]["NodeID"]
        for a in state.actors().values()
        if a.get("ActorClassName", "").endswith("Replica") and a.get("State") == "ALIVE"
    }


def _texts(out: Path) -> dict[str, tuple]:
    traces = load_traces(out)
    return dict(
        zip(traces["trace_id"], zip(traces["completion"], traces["finish_reason"], strict=True), strict=True)
    )


def test_a_killed_worker_node_loses_nothing_and_the_result_equals_one_process(
    cluster, tmp_path, tiny_model_dir, caplog
):
    head_and_workers, workers = cluster
    problems = normalize_problems(Dataset.from_list(bundled_problems(10))).kept
    reference = tmp_path / "one-process"
    generate_traces(problems, _cfg(reference, tiny_model_dir), progress=False)

    out = tmp_path / "ray"
    killed = threading.Event()

    def kill_a_worker_once_it_works() -> None:
        # Kill the node of a replica that is up while shards are being written: that replica holds traces in
        # flight. (A replica still loading has claimed nothing; killing it would rightly need no second round.)
        deadline = time.time() + 300
        doomed = None
        while time.time() < deadline and doomed is None:
            working = _nodes_with_a_live_replica()
            if working and len(list(shard_folder(out).glob("*.parquet"))) >= 3:
                doomed = next(w for w in workers if w.node_id in working)
            time.sleep(0.02)
        head_and_workers.remove_node(doomed)  # its raylet and every worker process on it die
        killed.set()

    killer = threading.Thread(target=kill_a_worker_once_it_works, daemon=True)
    killer.start()
    caplog.set_level("INFO", logger="openr1_data.generate.ray_runner")
    result = generate_traces(
        problems, _cfg(out, tiny_model_dir, ray_address=head_and_workers.address), progress=False
    )
    summary = result.report
    killer.join(timeout=60)
    assert killed.is_set(), "the worker must be killed during the run for this test to mean anything"
    rounds = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Ray round")]
    assert rounds[0].endswith("40 trace(s) to generate on 2 replica(s)")
    # the dead node's traces are put back at once: the live replica takes them, or a second round on it does
    assert len(rounds) <= 2 and all(r.endswith("on 1 replica(s)") for r in rounds[1:]), rounds
    assert len(result.kept) == 40 and summary.generated == 40 and summary.skipped_existing == 0
    assert _texts(out) == _texts(reference)  # none lost, none duplicated, same text

    # resuming a complete folder on the cluster sends nothing
    again = generate_traces(
        problems, _cfg(out, tiny_model_dir, ray_address=head_and_workers.address), progress=False
    )
    summary = again.report
    assert summary.generated == 0 and summary.skipped_existing == 40 and len(again.kept) == 40


def _kill_a_replica_process_once_it_works(out: Path, killed: threading.Event) -> None:
    """SIGKILL the process of a replica that is writing shards: its engine dies, its node lives on."""
    from ray._private import state

    deadline = time.time() + 300
    while time.time() < deadline:
        working = [
            a for a in state.actors().values()
            if a.get("ActorClassName", "").endswith("Replica") and a.get("State") == "ALIVE" and a.get("Pid")
        ]  # fmt: skip
        if working and len(list(shard_folder(out).glob("*.parquet"))) >= 2:
            os.kill(working[0]["Pid"], signal.SIGKILL)
            killed.set()
            return
        time.sleep(0.02)


def test_a_replica_whose_engine_dies_is_replaced_while_the_others_keep_going(
    cluster, tmp_path, tiny_model_dir, caplog
):
    head_and_workers, _ = cluster
    problems = normalize_problems(Dataset.from_list(bundled_problems(10))).kept
    reference = tmp_path / "one-process"
    generate_traces(problems, _cfg(reference, tiny_model_dir), progress=False)

    out = tmp_path / "ray"
    killed = threading.Event()
    killer = threading.Thread(target=_kill_a_replica_process_once_it_works, args=(out, killed), daemon=True)
    killer.start()
    caplog.set_level("INFO", logger="openr1_data.generate.ray_runner")
    result = generate_traces(
        problems, _cfg(out, tiny_model_dir, ray_address=head_and_workers.address), progress=False
    )
    killer.join(timeout=60)
    assert killed.is_set(), "a replica must be killed during the run for this test to mean anything"
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("a Ray replica died") for m in messages), messages
    assert any(m.startswith("started a replacement replica") for m in messages), messages
    assert sum(m.startswith("Ray round") for m in messages) == 1  # replaced within the round, not after it
    assert len(result.kept) == 40 and result.report.generated == 40
    assert _texts(out) == _texts(reference)  # none lost, none duplicated, same text


POISON = "POISON"


class _PoisonFeed:
    """The scheduler's feed, except that handing the engine a request holding POISON kills the engine's process
    (what a request that crashes vLLM or runs a node out of memory does)."""

    def __init__(self, feed):
        self.feed = feed

    def next_request(self):
        request = self.feed.next_request()
        if request is not None and POISON in json.dumps(request.prompt):
            os.kill(os.getpid(), signal.SIGKILL)
        return request

    def __getattr__(self, name):
        return getattr(self.feed, name)


def build_poisoned_teacher(cfg):
    """The stage's own teacher (the real tiny transformers model), fed through `_PoisonFeed`."""
    from openr1_data.generate.stage import build_teacher

    teacher = build_teacher(cfg)
    stream = teacher.stream
    teacher.stream = lambda feed: stream(_PoisonFeed(feed))
    return teacher


def test_a_trace_that_kills_its_engine_every_time_is_recorded_as_failed_and_the_run_ends(
    cluster, tmp_path, tiny_model_dir, caplog, monkeypatch
):
    import ray

    from openr1_data.generate import stage

    head_and_workers, _ = cluster
    rows = [*bundled_problems(6), {"problem": f"{POISON}: what is 2 + 2?", "answer": "4"}]
    problems = normalize_problems(Dataset.from_list(rows)).kept
    reference = tmp_path / "one-process"
    healthy = problems.filter(lambda r: POISON not in r["problem"])
    generate_traces(healthy, _cfg(reference, tiny_model_dir), progress=False)

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers need not import this test
    monkeypatch.setattr(stage, "build_teacher", build_poisoned_teacher)
    out = tmp_path / "ray"
    caplog.set_level("INFO", logger="openr1_data.generate.ray_runner")
    result = generate_traces(
        problems, _cfg(out, tiny_model_dir, ray_address=head_and_workers.address, ray_max_restarts=6),
        progress=False,
    )  # fmt: skip
    traces = load_traces(out)
    # its two r1 samples (the rlt style needs a reference solution, which the poisoned problem lacks)
    expected = len(load_traces(reference)) + 2
    assert len(traces) == len(set(traces["trace_id"])) == expected and len(result.kept) == expected
    failed = traces.filter(lambda r: r["finish_reason"] == "error")
    assert len(failed) == 2 and all(POISON in p for p in failed["problem"])
    assert all(c == "" for c in failed["completion"])
    others = {k: v for k, v in _texts(out).items() if k not in set(failed["trace_id"])}
    assert others == _texts(reference)  # every other trace once, the same text as one process
    assert any("killed its engine alone too" in r.getMessage() for r in caplog.records)


def test_the_test_cluster_listens_on_loopback_only(cluster):
    """Every Ray service and worker of the test cluster accepts connections on 127.0.0.1/::1 only (a Ray cluster runs
    any job anyone who reaches it submits), and no dashboard runs."""
    import psutil
    import ray

    assert ray.get(ray.remote(lambda: 1).options(num_cpus=1).remote()) == 1  # a worker process is up too
    sockets = listening(psutil.Process())
    names = {name for _, name, _ in sockets}
    assert {"gcs_server", "raylet"} <= names, sockets  # the check saw the cluster's services
    assert all(_loopback(ip) for _, _, ip in sockets), [s for s in sockets if not _loopback(s[2])]
    assert not any("dashboard" in name for name in names)


def test_ray_address_local_starts_a_cluster_on_loopback_only():
    """The one-machine cluster `--ray_address local` starts: every listening socket on loopback, no dashboard."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    done = subprocess.run(
        [sys.executable, "-c", LOCAL_CLUSTER_SOCKETS],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("SOCKETS ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    sockets = json.loads(lines[-1][len("SOCKETS ") :])
    names = {name for _, name, _ in sockets}
    assert {"gcs_server", "raylet"} <= names, sockets
    assert all(_loopback(ip) for _, _, ip in sockets), [s for s in sockets if not _loopback(s[2])]
    assert not any("dashboard" in name for name in names)
