"""Generation over a Ray cluster: one teacher replica per node, all streaming into one shared stage folder.

The driver plans (as on one machine) and puts every pending trace in a work queue (an actor on the driver's node).
Each replica (an actor on its own node) builds its own teacher (a vLLM engine, a transformers model, or an HTTP
client for one of several servers) and runs the same streaming scheduler as a single process, pulling traces from
the queue as it has room, and writing atomic shards into `output_dir`, which must be storage every node sees
(NFS, a shared disk; the shard names never collide). Exact-once holds across the cluster the way it holds after a
kill on one machine: when a replica or its node dies, the traces it had in flight are simply not on disk; once the
round ends, the driver reads which trace ids are written and runs another round for the rest.

Replicas that die come back: when a replica's engine dies (its process or node killed, an out-of-memory, a vLLM
engine error that ends its run), the driver puts the traces it had in flight back in the queue and starts a
replacement (`ray_max_restarts` per round) while the others keep going. A trace in flight at two deaths may be the
one killing its engines: it is retried alone on a replica that takes one request at a time, and if it kills that
engine too it is written as a failed trace (`finish_reason="error"`, rejected by the filter as `finish_error`)
instead of ending the run.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from datasets import Features
from tqdm.auto import tqdm

from openr1_data.generate.plan import Trace, Unit, pending_traces, trace_row
from openr1_data.generate.scheduler import GenerationSummary, TraceScheduler
from openr1_data.generate.shards import ShardWriter, shard_folder, shard_name, write_shard, written_trace_ids
from openr1_data.teachers.base import Completion

logger = logging.getLogger(__name__)

RAY_INSTALL_HINT = 'pip install "openr1-data[ray]"'
MAX_ROUNDS = 5  # rounds after which traces still missing mean something other than a lost node is wrong
# The finish reason of a trace that killed its engine twice (the filter rejects it as `finish_error`).
ENGINE_DIED = "error"
DEATHS_BEFORE_ALONE = 2  # deaths a trace was in flight for before it is retried alone
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
    """The pending traces of one round, handed out in small chunks; replicas report what they finish. It remembers
    what each replica took, so the traces of one that dies can be put back."""

    def __init__(self, items: list[tuple[int, int]], chunk: int):
        self.items = list(reversed(items))
        self.chunk = chunk
        self.finished = 0
        self.tokens = 0
        self.taken: dict[int, list[tuple[int, int]]] = {}

    def take(self, replica: int = 0) -> list[tuple[int, int]]:
        taken = self.items[-self.chunk :][::-1]
        del self.items[-self.chunk :]
        self.taken.setdefault(replica, []).extend(taken)
        return taken

    def taken_by(self, replica: int) -> list[tuple[int, int]]:
        return self.taken.get(replica, [])

    def put_back(self, items: list[tuple[int, int]]) -> None:
        """Items a dead replica held, handed out next."""
        self.items.extend(reversed(items))

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
        replica_id: int = 0,
    ):
        # The config class and the teacher builder come from the stage (Ray ships them by reference), so this
        # module never imports the stage that imports it.
        from openr1_data.prompts import get_style

        self.replica_id = replica_id
        self.cfg = config_cls(**cfg)
        styles = {name: get_style(name) for name in {style for _, style, _ in units}}
        self.units = [Unit(row, styles[style], ids) for row, style, ids in units]
        self.features = features
        self.teacher = build_teacher(self.cfg)

    def ready(self) -> bool:
        return True

    def pid(self) -> int:
        """The process holding this replica's engine (tests kill it)."""
        import os

        return os.getpid()

    def run(self, queue: Any) -> GenerationSummary:
        import ray

        from openr1_data.generate.server_pool import as_streaming

        cfg = self.cfg
        done = written_trace_ids(cfg.output_dir)  # a trace written in an earlier round is never redone

        def refill() -> list[Trace]:
            while taken := ray.get(queue.take.remote(self.replica_id)):  # [] only once the queue is empty
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
        return _Rounds(ray, units, cfg, teacher_name, features, build_teacher).run(progress)
    finally:
        if started_here:
            ray.shutdown()


Item = tuple[int, int]  # (unit index, sample index): one trace of the plan


class _Rounds:
    """The driver: rounds of replicas over a work queue, replacements for replicas that die, traces that keep
    killing their engines retried alone and, failing that, written as failed."""

    def __init__(
        self, ray: Any, units: list[Unit], cfg: Any, teacher_name: str, features: Features, build_teacher
    ):
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        self.ray, self.units, self.cfg, self.teacher_name, self.features = (
            ray,
            units,
            cfg,
            teacher_name,
            features,
        )
        self.build_teacher = build_teacher
        self.output_dir = Path(cfg.output_dir)
        self.shipped = ray.put([(u.row, u.style.name, u.trace_ids) for u in units])
        self.driver_node = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
        self.queue_cls = ray.remote(num_cpus=0)(WorkQueue)
        self.replica_cls = ray.remote(num_cpus=1, num_gpus=cfg.ray_gpus_per_replica, max_restarts=0)(Replica)
        self.replica_ids = itertools.count()
        self.deaths: Counter[Item] = Counter()
        self.summary = GenerationSummary()
        self.last_error: str | None = None

    def run(self, progress: bool) -> GenerationSummary:
        index = {id(u): i for i, u in enumerate(self.units)}
        planned = sum(len(u.trace_ids) for u in self.units)
        todo = pending_traces(self.units, written_trace_ids(self.output_dir))
        self.summary = GenerationSummary(planned=planned, skipped_existing=planned - len(todo))
        bar = tqdm(total=planned, initial=self.summary.skipped_existing, unit="trace", disable=not progress,
                   desc="generate (ray)", file=sys.stderr)  # fmt: skip
        start = time.perf_counter()
        try:
            for round_number in range(MAX_ROUNDS):
                if not todo:
                    break
                items = [(index[id(t.unit)], t.sample_index) for t in todo]
                alone = self._round(round_number, items, bar, start)
                if alone:
                    self._run_alone(alone)
                todo = pending_traces(self.units, written_trace_ids(self.output_dir))
            if todo:
                raise RuntimeError(
                    f"{len(todo)} trace(s) still missing after {MAX_ROUNDS} rounds on the Ray cluster: replicas keep "
                    f"dying (last: {self.last_error or 'a lost process or node'}); check the Ray logs (ray logs)"
                )
        finally:
            bar.close()
        self.summary.seconds = time.perf_counter() - start
        self.summary.generated = (
            planned - self.summary.skipped_existing
        )  # what replicas that died wrote counts too
        return self.summary

    def _launch(self, config: dict, runs: dict) -> Any:
        replica_id = next(self.replica_ids)
        replica = self.replica_cls.options(scheduling_strategy="SPREAD").remote(
            config, self.shipped, self.features, type(self.cfg), self.build_teacher, replica_id
        )
        runs[replica.run.remote(self.queue)] = (replica, replica_id, config)
        return replica

    def _round(self, round_number: int, items: list[Item], bar: Any, start: float) -> list[Item]:
        """One round over `items`; returns the traces to retry alone (in flight at two deaths)."""
        configs = _replica_configs(self.cfg, self.ray)
        logger.info("Ray round %d: %d trace(s) to generate on %d replica(s)", round_number + 1, len(items),
                    len(configs))  # fmt: skip
        chunk = max(1, min(64, math.ceil(len(items) / (4 * len(configs)))))
        self.queue = self.queue_cls.options(scheduling_strategy=self.driver_node).remote(items, chunk)
        runs: dict[Any, tuple[Any, int, dict]] = {}
        started = [self._launch(c, runs) for c in configs]
        restarts, alone, shown = self.cfg.ray_max_restarts, [], 0
        while runs:
            ready, _ = self.ray.wait(list(runs), num_returns=1, timeout=1.0)
            for ref in ready:
                replica, replica_id, config = runs.pop(ref)
                try:
                    self.summary.add(self.ray.get(ref))
                    continue
                except Exception as err:  # its engine, process or node died
                    lost = self._died(replica, replica_id, err)
                again = [item for item in lost if self.deaths[item] < DEATHS_BEFORE_ALONE]
                alone += [item for item in lost if self.deaths[item] >= DEATHS_BEFORE_ALONE]
                self.ray.get(self.queue.put_back.remote(again))
                work_left = bool(again) or self.ray.get(self.queue.progress.remote())[2] > 0
                if restarts > 0 and work_left and self._room_for_a_replica():
                    restarts -= 1
                    started.append(self._launch(config, runs))
                    logger.warning(
                        "started a replacement replica (%d replacement(s) left this round)", restarts
                    )
                else:
                    logger.warning(
                        "no replacement started (none left, or no free node); the live replicas take its "
                        "traces, or the next round does"
                    )
            finished, tokens, left = self.ray.get(self.queue.progress.remote())
            bar.update(finished - shown)
            shown = finished
            bar.set_postfix(tok_s=f"{tokens / max(time.perf_counter() - start, 1e-9):.0f}", queued=left,
                            replicas=len(runs), round=round_number + 1, refresh=False)  # fmt: skip
        for actor in [self.queue, *started]:
            self.ray.kill(actor)
        return alone

    def _room_for_a_replica(self, wait_s: float = 10.0) -> bool:
        """Whether the cluster has the CPU (and GPUs) of one more replica: a dead process's share comes back within
        moments; a dead node's never does, and a replacement waiting for it would wait forever."""
        deadline = time.monotonic() + wait_s
        while True:
            free = self.ray.available_resources()
            if free.get("CPU", 0) >= 1 and free.get("GPU", 0) >= self.cfg.ray_gpus_per_replica:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)

    def _died(self, replica: Any, replica_id: int, err: Exception) -> list[Item]:
        """The traces a dead replica held and did not write (each counted one death); re-raises an error its run
        raised before it took any trace (a bad setting or a bug, not a dying engine)."""
        from ray.exceptions import RayTaskError

        taken = self.ray.get(self.queue.taken_by.remote(replica_id))
        if not taken and (isinstance(err, RayTaskError) or getattr(err, "actor_init_failed", False)):
            raise err  # it failed before doing any work: a setting or a bug that a replacement would repeat
        self.ray.kill(replica)
        self.last_error = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        written = written_trace_ids(self.output_dir)
        lost = [item for item in taken if self.units[item[0]].trace_ids[item[1]] not in written]
        self.deaths.update(lost)
        logger.warning("a Ray replica died with %d unfinished trace(s) (%s)", len(lost), self.last_error)
        return lost

    def _run_alone(self, items: list[Item]) -> None:
        """Each trace alone on a replica (a queue of that one trace, the next only once it is written): a death
        there is that trace's doing, and the trace is written as failed (`finish_reason="error"`)."""
        logger.warning("%d trace(s) were in flight at %d engine deaths: retrying each alone", len(items),
                       DEATHS_BEFORE_ALONE)  # fmt: skip
        config = _replica_configs(self.cfg, self.ray)[0]
        replica, replica_id, idle_deaths = None, -1, 0
        for item in items:
            if idle_deaths > self.cfg.ray_max_restarts:
                break  # replicas die without any trace in flight: the next round (and its error) takes over
            self.queue = self.queue_cls.options(scheduling_strategy=self.driver_node).remote([item], 1)
            if replica is None:
                runs: dict[Any, tuple[Any, int, dict]] = {}
                replica = self._launch(config, runs)
                replica_id = next(iter(runs.values()))[1]
                ref = next(iter(runs))
            else:  # the replica that finished the last trace, its engine loaded
                ref = replica.run.remote(self.queue)
            try:
                self.summary.add(self.ray.get(ref))
            except Exception as err:
                lost = self._died(replica, replica_id, err)
                idle_deaths += not lost
                self._write_failed(lost)
                replica = None
            self.ray.kill(self.queue)
        if replica is not None:
            self.ray.kill(replica)

    def _write_failed(self, items: list[Item]) -> None:
        """Failed traces, one row each, so the run ends and the filter rejects them with a reason on the card."""
        if not items:
            return
        rows = [
            trace_row(Trace(self.units[u], k), Completion("", ENGINE_DIED, 0), self.teacher_name)
            for u, k in items
        ]
        write_shard(rows, self.features, shard_folder(self.output_dir), shard_name(rows))
        self.summary.finish_reasons[ENGINE_DIED] += len(rows)
        for u, k in items:
            logger.error("trace %s killed its engine alone too: written as failed (finish_reason=%s)",
                         self.units[u].trace_ids[k], ENGINE_DIED)  # fmt: skip


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
