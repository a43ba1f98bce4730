"""Several OpenAI-compatible servers of one model as one streaming teacher, each kept full.

Every server gets up to its teacher's `max_concurrency` requests in flight (over a few small HTTP clients); a free
slot on any server is filled with the next request of the plan at once (the least busy server first), so a slow
or smaller server simply takes fewer requests. Requests carry their own seeds, so which server answered a trace does
not change it (given the servers serve the same model).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace

import httpx

from openr1_data.teachers.base import (
    Completion,
    ListFeed,
    Prompt,
    Request,
    RequestFeed,
    SamplingParams,
    Teacher,
    request_seed,
)
from openr1_data.teachers.openai_backend import OpenAITeacher, run_sync

HEARTBEAT_SECONDS = 0.5
# connections per HTTP client: httpcore's pool scans every connection for every request it assigns, so one client
# of 256 connections spends more time in that scan than in the requests; many small clients keep it cheap
CONNECTIONS_PER_CLIENT = 8


class ServerPool(Teacher):
    """`OpenAITeacher`s for the same model on different servers, streaming as one teacher."""

    backend = "openai"
    seeds_per_request = True

    def __init__(self, teachers: Sequence[Teacher]):
        if not teachers:
            raise ValueError("a server pool needs at least one server")
        wrong = [type(t).__name__ for t in teachers if not isinstance(t, OpenAITeacher)]
        if wrong:
            raise TypeError(f"a server pool holds OpenAI-compatible teachers (openai backend), got {wrong}")
        names = {t.model_name for t in teachers}
        if len(names) > 1:
            raise ValueError(f"every server of a pool must serve the same model name, got {sorted(names)}")
        super().__init__(teachers[0].model_name)
        self.teachers = [t for t in teachers if isinstance(t, OpenAITeacher)]

    def __repr__(self) -> str:
        return f"ServerPool({[t.base_url for t in self.teachers]!r}, model={self.model_name!r})"

    @property
    def capacity(self) -> int:
        """Requests in flight when every server is full."""
        return sum(t.max_concurrency for t in self.teachers)

    def _generate(self, prompts: list[Prompt], sampling: SamplingParams, n: int) -> list[list[Completion]]:
        """`n` completions per prompt (sample `j` of prompt `i` seeded like every backend seeds it)."""
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
        lanes = [
            _Lane(t, t.open_client(size), size)
            for t in self.teachers
            for size in _split(t.max_concurrency, CONNECTIONS_PER_CLIENT)
        ]
        retries_before = self._retries()
        in_flight: dict[asyncio.Task, tuple[_Lane, Request]] = {}
        try:
            while True:
                self._fill(feed, lanes, in_flight)
                if not in_flight:
                    return
                done, _ = await asyncio.wait(
                    in_flight, timeout=HEARTBEAT_SECONDS, return_when=asyncio.FIRST_COMPLETED
                )
                for task in done:
                    lane, request = in_flight.pop(task)
                    lane.load -= 1
                    feed.complete(request, task.result())  # a request that failed for good ends the run
                feed.heartbeat(in_flight=len(in_flight), retries=self._retries() - retries_before)
        finally:
            for task in in_flight:
                task.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)
            for lane in lanes:
                await lane.client.aclose()

    def _retries(self) -> int:
        return sum(t.monitor.retries for t in self.teachers)

    @staticmethod
    def _fill(feed: RequestFeed, lanes: list[_Lane], in_flight: dict) -> int:
        """Send requests while some lane has a free slot and the feed has a request; returns how many."""
        sent = 0
        while True:
            free = [lane for lane in lanes if lane.load < lane.size]
            if not free:
                return sent
            request = feed.next_request()
            if request is None:
                return sent
            lane = min(free, key=lambda x: x.load / x.size)
            coroutine = lane.teacher.complete_one(
                lane.client, request.prompt, request.sampling, request.sampling.seed
            )
            in_flight[asyncio.ensure_future(coroutine)] = (lane, request)
            lane.load += 1
            sent += 1


@dataclass
class _Lane:
    """One HTTP client to one server, with its share of the server's slots."""

    teacher: OpenAITeacher
    client: httpx.AsyncClient
    size: int
    load: int = 0


def _split(total: int, most: int) -> list[int]:
    """`total` slots as nearly equal parts of at most `most` (10, 8 -> [5, 5])."""
    parts = -(-total // most)
    return [total // parts + (i < total % parts) for i in range(parts)]


def as_streaming(teacher: Teacher) -> Teacher:
    """The teacher the scheduler streams through: an HTTP teacher becomes a one-server pool; others as they are."""
    if isinstance(teacher, OpenAITeacher):
        return ServerPool([teacher])
    return teacher
