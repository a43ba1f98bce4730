"""Several OpenAI-compatible servers of one model as one streaming teacher, each kept full.

Every server gets its own HTTP client and up to its teacher's `max_concurrency` requests in flight; a free slot on
any server is filled with the next request of the plan at once (the least busy server first), so a slow or
smaller server simply takes fewer requests. Requests carry their own seeds, so which server answered a trace does
not change it (given the servers serve the same model).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace

from openr1_data.teachers.base import (
    Completion,
    ListFeed,
    Prompt,
    Request,
    RequestFeed,
    SamplingParams,
    Teacher,
)
from openr1_data.teachers.openai_backend import OpenAITeacher, request_seed, run_sync, validate_prompts

HEARTBEAT_SECONDS = 0.5


class ServerPool(Teacher):
    """`OpenAITeacher`s for the same model on different servers, streaming as one teacher."""

    backend = "openai"
    seeds_per_request = True

    def __init__(self, teachers: Sequence[OpenAITeacher]):
        if not teachers:
            raise ValueError("a server pool needs at least one server")
        names = {t.model_name for t in teachers}
        if len(names) > 1:
            raise ValueError(f"every server of a pool must serve the same model name, got {sorted(names)}")
        super().__init__(teachers[0].model_name)
        self.teachers = list(teachers)

    def __repr__(self) -> str:
        return f"ServerPool({[t.base_url for t in self.teachers]!r}, model={self.model_name!r})"

    @property
    def capacity(self) -> int:
        """Requests in flight when every server is full."""
        return sum(t.max_concurrency for t in self.teachers)

    def generate(
        self, prompts: Sequence[Prompt], sampling: SamplingParams, n: int = 1
    ) -> list[list[Completion]]:
        """`n` completions per prompt (sample `j` of prompt `i` seeded like `OpenAITeacher.generate` seeds it)."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        validate_prompts(prompts)
        requests = [
            Request((i, j), p, replace(sampling, seed=request_seed(sampling.seed, i, j, n)))
            for i, p in enumerate(prompts)
            for j in range(n)
        ]
        feed = ListFeed(requests)
        self.stream(feed)
        return [[feed.results[(i, j)] for j in range(n)] for i in range(len(prompts))]

    def stream(self, feed: RequestFeed) -> None:
        """Keep every server full until the feed has no request left and none is in flight."""
        for teacher in self.teachers:
            _ = teacher.tokenizer  # load a prefill tokenizer now, not inside the event loop
        run_sync(self._stream(feed))

    async def _stream(self, feed: RequestFeed) -> None:
        clients = [t.open_client() for t in self.teachers]
        attempts = [0]

        async def count_attempt(_request) -> None:
            attempts[0] += 1

        for client in clients:
            client.event_hooks["request"].append(count_attempt)
        load = [0] * len(self.teachers)
        in_flight: dict[asyncio.Task, tuple[int, Request]] = {}
        started = 0
        try:
            while True:
                started += self._fill(feed, clients, load, in_flight)
                if not in_flight:
                    return
                done, _ = await asyncio.wait(
                    in_flight, timeout=HEARTBEAT_SECONDS, return_when=asyncio.FIRST_COMPLETED
                )
                for task in done:
                    server, request = in_flight.pop(task)
                    load[server] -= 1
                    feed.complete(request, task.result())  # a request that failed for good ends the run
                feed.heartbeat(in_flight=len(in_flight), retries=max(0, attempts[0] - started))
        finally:
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)
            for client in clients:
                await client.aclose()

    def _fill(self, feed: RequestFeed, clients, load: list[int], in_flight: dict) -> int:
        """Send requests while some server has a free slot and the feed has a request; returns how many."""
        sent = 0
        while True:
            free = [s for s, t in enumerate(self.teachers) if load[s] < t.max_concurrency]
            if not free:
                return sent
            request = feed.next_request()
            if request is None:
                return sent
            server = min(free, key=lambda s: load[s] / self.teachers[s].max_concurrency)
            coroutine = self.teachers[server].complete_one(
                clients[server], request.prompt, request.sampling, request.sampling.seed
            )
            in_flight[asyncio.ensure_future(coroutine)] = (server, request)
            load[server] += 1
            sent += 1


def as_streaming(teacher: Teacher) -> Teacher:
    """The teacher the scheduler streams through: an HTTP teacher becomes a one-server pool; others as they are."""
    if isinstance(teacher, OpenAITeacher):
        return ServerPool([teacher])
    return teacher
