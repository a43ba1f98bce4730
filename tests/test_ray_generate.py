"""Generation on a Ray cluster: a real local multi-node cluster (`ray.cluster_utils.Cluster`, every node on
127.0.0.1), one replica of the tiny transformers teacher per worker node. A worker node is killed mid-run; the
result still equals a one-process run trace for trace (no trace lost, none duplicated, same text), and no Ray
process is left behind."""

from __future__ import annotations

import importlib.util
import os
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


@pytest.fixture(scope="module")
def cluster():
    """A head node without CPUs (nothing but the driver's queue runs there) and two 1-CPU worker nodes."""
    import ray
    from ray.cluster_utils import Cluster

    local = dict(node_ip_address="127.0.0.1", include_dashboard=False, object_store_memory=80 * 2**20)
    cluster = Cluster(initialize_head=True, head_node_args={**local, "num_cpus": 0})
    workers = [cluster.add_node(num_cpus=1, **local) for _ in range(2)]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address)
    try:
        yield cluster, workers
    finally:
        ray.shutdown()
        cluster.shutdown()


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
    assert len(rounds) == 2 and rounds[1].endswith("on 1 replica(s)"), (
        rounds
    )  # the dead node's traces, redone
    assert len(result.kept) == 40 and summary.generated == 40 and summary.skipped_existing == 0
    assert _texts(out) == _texts(reference)  # none lost, none duplicated, same text

    # resuming a complete folder on the cluster sends nothing
    again = generate_traces(
        problems, _cfg(out, tiny_model_dir, ray_address=head_and_workers.address), progress=False
    )
    summary = again.report
    assert summary.generated == 0 and summary.skipped_existing == 40 and len(again.kept) == 40
