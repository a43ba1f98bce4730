"""Generation over a Ray cluster: one teacher replica per node, all streaming into one shared stage folder.

The driver plans (as on one machine) and puts every pending trace in a work queue (an actor on the driver's node).
Each replica (an actor on its own node) builds its own teacher (a vLLM engine, a transformers model, or an HTTP
client for one of several servers) and runs the same streaming scheduler as a single process, pulling traces from
the queue as it has room, and writing atomic shards into `output_dir`, which must be storage every node sees
(NFS, a shared disk; the shard names never collide). Exact-once holds across the cluster the way it holds after a
kill on one machine: when a replica or its node dies, the traces it had in flight are simply not on disk; once the
round ends, the driver reads which trace ids are written and runs another round for the rest.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from datasets import Features
from tqdm.auto import tqdm

from openr1_data.generate.plan import Trace, Unit, pending_traces
from openr1_data.generate.scheduler import GenerationSummary, TraceScheduler
from openr1_data.generate.shards import ShardWriter, shard_folder, written_trace_ids

logger = logging.getLogger(__name__)

RAY_INSTALL_HINT = 'pip install "openr1-data[ray]"'
MAX_ROUNDS = 5  # rounds after which traces still missing mean something other than a lost node is wrong
# A cluster this process starts itself (`--ray_address local`) is for this machine alone: every service on the
# loopback address and no dashboard, since a Ray cluster runs whatever job anyone who reaches it submits.
LOCAL_ONLY = {"_node_ip_address": "127.0.0.1", "include_dashboard": False}


def connect(ray: Any, address: str) -> None:
    """Join the cluster at `address`, or with "local" start a new one-machine cluster on 127.0.0.1 only, without the
    dashboard (a cluster someone else runs keeps the network settings its operator chose)."""
    if address == "local":
        ray.init(address="local", log_to_driver=False, **LOCAL_ONLY)
    else:
        ray.init(address=address, log_to_driver=False)


def import_ray() -> Any:
    """Import Ray or raise an `ImportError` that says how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise ImportError(
            f"--ray_address needs Ray, which is not installed ({exc}): {RAY_INSTALL_HINT}"
        ) from exc
    return ray


class WorkQueue:
    """The pending traces of one round, handed out in small chunks; replicas report what they finish."""

    def __init__(self, items: list[tuple[int, int]], chunk: int):
        self.items = list(reversed(items))
        self.chunk = chunk
        self.finished = 0
        self.tokens = 0

    def take(self) -> list[tuple[int, int]]:
        taken = self.items[-self.chunk :][::-1]
        del self.items[-self.chunk :]
        return taken

    def report(self, traces: int, tokens: int) -> None:
        self.finished += traces
        self.tokens += tokens

    def progress(self) -> tuple[int, int, int]:
        return self.finished, self.tokens, len(self.items)


class Replica:
    """One teacher on one node, streaming the queue's traces into the shared stage folder."""

    def __init__(
        self,
        cfg: dict,
        units: list[tuple[dict, str, list[str]]],
        features: Features,
        config_cls: Callable[..., Any],
        build_teacher: Callable[[Any], Any],
    ):
        # The config class and the teacher builder come from the stage (Ray ships them by reference), so this
        # module never imports the stage that imports it.
        from openr1_data.prompts import get_style

        self.cfg = config_cls(**cfg)
        styles = {name: get_style(name) for name in {style for _, style, _ in units}}
        self.units = [Unit(row, styles[style], ids) for row, style, ids in units]
        self.features = features
        self.teacher = build_teacher(self.cfg)

    def ready(self) -> bool:
        return True

    def run(self, queue: Any) -> GenerationSummary:
        import ray

        from openr1_data.generate.server_pool import as_streaming

        cfg = self.cfg
        done = written_trace_ids(cfg.output_dir)  # a trace written in an earlier round is never redone

        def refill() -> list[Trace]:
            while taken := ray.get(queue.take.remote()):  # [] only once the queue is empty
                fresh = [Trace(self.units[u], k) for u, k in taken if self.units[u].trace_ids[k] not in done]
                if fresh:
                    return fresh
            return []

        writer = ShardWriter(shard_folder(cfg.output_dir), self.features, cfg.shard_traces, cfg.shard_seconds)
        scheduler = TraceScheduler(
            [],
            cfg.sampling(),
            cfg.seed,
            self.teacher.model_name,
            writer,
            forcing=cfg.forcing(),
            batch_size=cfg.batch_size * cfg.num_generations,
            progress=False,
            refill=refill,
            report=lambda traces, tokens: queue.report.remote(traces, tokens),
        )
        return scheduler.run(as_streaming(self.teacher))


def run_on_ray(
    units: list[Unit],
    cfg: Any,
    teacher_name: str,
    features: Features,
    progress: bool = True,
    *,
    build_teacher: Callable[[Any], Any],
) -> GenerationSummary:
    """Generate every trace of `units` not yet in `cfg.output_dir` on the Ray cluster at `cfg.ray_address`."""
    ray = import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        connect(ray, cfg.ray_address)
    try:
        return _rounds(ray, units, cfg, features, progress, build_teacher)
    finally:
        if started_here:
            ray.shutdown()


def _rounds(
    ray: Any,
    units: list[Unit],
    cfg: Any,
    features: Features,
    progress: bool,
    build_teacher: Callable[[Any], Any],
) -> GenerationSummary:
    from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    lost = (RayActorError, ActorDiedError, ActorUnavailableError)
    output_dir = Path(cfg.output_dir)
    index = {id(u): i for i, u in enumerate(units)}
    planned = sum(len(u.trace_ids) for u in units)
    todo = pending_traces(units, written_trace_ids(output_dir))
    summary = GenerationSummary(planned=planned, skipped_existing=planned - len(todo))
    bar = tqdm(total=planned, initial=summary.skipped_existing, unit="trace", disable=not progress,
               desc="generate (ray)", file=sys.stderr)  # fmt: skip
    shipped = ray.put([(u.row, u.style.name, u.trace_ids) for u in units])
    driver_node = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    queue_cls = ray.remote(num_cpus=0)(WorkQueue)
    replica_cls = ray.remote(num_cpus=1, num_gpus=cfg.ray_gpus_per_replica, max_restarts=0)(Replica)
    start = time.perf_counter()
    try:
        for round_number in range(MAX_ROUNDS):
            if not todo:
                break
            configs = _replica_configs(cfg, ray)
            logger.info("Ray round %d: %d trace(s) to generate on %d replica(s)", round_number + 1, len(todo),
                        len(configs))  # fmt: skip
            chunk = max(1, min(64, math.ceil(len(todo) / (4 * len(configs)))))
            items = [(index[id(t.unit)], t.sample_index) for t in todo]
            queue = queue_cls.options(scheduling_strategy=driver_node).remote(items, chunk)
            replicas = [
                replica_cls.options(scheduling_strategy="SPREAD").remote(
                    c, shipped, features, type(cfg), build_teacher
                )
                for c in configs
            ]
            runs = {replica.run.remote(queue): replica for replica in replicas}
            shown = 0
            while runs:
                ready, _ = ray.wait(list(runs), num_returns=1, timeout=1.0)
                for ref in ready:
                    runs.pop(ref)
                    try:
                        summary.add(ray.get(ref))
                    except (
                        lost
                    ) as err:  # its node or process died: what it had in flight is redone next round
                        logger.warning(
                            "a Ray replica died (%s); its unfinished traces go to the next round", err
                        )
                finished, tokens, left = ray.get(queue.progress.remote())
                bar.update(finished - shown)
                shown = finished
                bar.set_postfix(tok_s=f"{tokens / max(time.perf_counter() - start, 1e-9):.0f}", queued=left,
                                replicas=len(runs), round=round_number + 1, refresh=False)  # fmt: skip
            for actor in [queue, *replicas]:
                ray.kill(actor)
            todo = pending_traces(units, written_trace_ids(output_dir))
        if todo:
            raise RuntimeError(
                f"{len(todo)} trace(s) still missing after {MAX_ROUNDS} rounds on the Ray cluster: replicas keep "
                "dying; check the Ray logs (ray logs / the dashboard)"
            )
    finally:
        bar.close()
    summary.seconds = time.perf_counter() - start
    summary.generated = planned - summary.skipped_existing  # what replicas that died wrote counts too
    return summary


def _replica_configs(cfg: Any, ray: Any) -> list[dict]:
    """One config per replica: one per alive node by default (`ray_replicas` says otherwise); with several
    `base_url`s over HTTP, one replica per server."""
    base = dataclasses.asdict(cfg)
    base["ray_address"] = None  # a replica generates where it is
    urls = cfg.base_urls()
    if cfg.teacher_backend == "openai" and len(urls) > 1:
        count = cfg.ray_replicas or len(urls)
        return [{**base, "base_url": urls[i % len(urls)]} for i in range(count)]
    nodes = [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) >= 1]
    return [dict(base) for _ in range(cfg.ray_replicas or max(1, len(nodes)))]
