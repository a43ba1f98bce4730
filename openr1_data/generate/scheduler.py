"""The streaming scheduler: every pending trace of the plan is a request the teacher pulls when it has room.

The scheduler is the teacher's `RequestFeed` (`openr1_data.teachers.base`). A streaming teacher (HTTP servers, vLLM,
transformers) keeps as many requests in flight as it can hold, across the whole plan, and hands each completion
back as soon as it is done; no request waits for a batch boundary. A trace that needs a second request (budget
forcing's forced answer) gets it queued ahead of new traces, in the same stream. Finished traces go to a
`ShardWriter` (a shard every N traces or every T seconds). Every request carries its trace's own seed, so the
result does not depend on how the stream was cut.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, cast

from tqdm.auto import tqdm

from openr1_data.generate.budget_forcing import (
    close_explanation,
    continuation_prompt,
    forced_head,
    join_forced,
    needs_forcing,
)
from openr1_data.generate.plan import Trace, trace_row, trace_seed
from openr1_data.generate.shards import ShardWriter
from openr1_data.schema import PROBLEM, PROBLEM_ID
from openr1_data.teachers.base import (
    CONTEXT_OVERFLOW,
    Completion,
    Request,
    SamplingParams,
    Teacher,
    approximate_token_count,
)

logger = logging.getLogger(__name__)
FORCE_STEP = "force"


@dataclass
class Forcing:
    """Budget forcing settings (None on the scheduler: off)."""

    answer_tokens: int = 32
    also_on_stop: bool = False


@dataclass
class GenerationSummary:
    """What one call of the stage did (printed as the closing table)."""

    planned: int = 0
    skipped_existing: int = 0
    generated: int = 0
    completion_tokens: int = 0
    prompt_tokens: int = 0  # approximate (words and symbols of the chat turns): the cost's tokens in
    seconds: float = 0.0
    requests: int = 0
    retries: int = 0
    max_in_flight: int = 0
    shards_written: int = 0
    finish_reasons: Counter = field(default_factory=Counter)
    parse_issues: Counter = field(default_factory=Counter)

    def table(self) -> str:
        rate = self.completion_tokens / self.seconds if self.seconds else 0.0
        rows = [
            ("traces planned", self.planned),
            ("already written (resumed)", self.skipped_existing),
            ("generated now", self.generated),
            ("completion tokens", self.completion_tokens),
            ("tokens/s", f"{rate:.1f}"),
            ("seconds", f"{self.seconds:.1f}"),
            ("requests (retries)", f"{self.requests} ({self.retries})"),
            ("most requests in flight", self.max_in_flight),
            ("shards written", self.shards_written),
            ("finish reasons", dict(self.finish_reasons) or "-"),
            ("parse issues", dict(self.parse_issues) or "-"),
        ]
        return "\n".join(f"  {k:<28}{v}" for k, v in rows)

    def add(self, other: GenerationSummary) -> None:
        """Fold another part's counts into this one (Ray replicas each return their own)."""
        for name in (
            "generated",
            "completion_tokens",
            "prompt_tokens",
            "requests",
            "retries",
            "shards_written",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.max_in_flight = max(self.max_in_flight, other.max_in_flight)
        self.finish_reasons.update(other.finish_reasons)
        self.parse_issues.update(other.parse_issues)


class TraceScheduler:
    """Feeds a plan's pending traces to a teacher as requests and turns the completions into written rows."""

    def __init__(
        self,
        traces: list[Trace],
        sampling: SamplingParams,
        base_seed: int,
        teacher_name: str,
        writer: ShardWriter,
        *,
        forcing: Forcing | None = None,
        batch_size: int = 64,
        summary: GenerationSummary | None = None,
        progress: bool = True,
        refill: Callable[[], list[Trace]] | None = None,
        report: Callable[[int, int], Any] | None = None,
    ):
        """`refill`: called when the traces run out, returns more (empty: no more); a Ray replica pulls its work
        from the cluster's queue this way. `report(traces, tokens)`: told on every heartbeat what was finished
        since the last one (a Ray replica tells the driver's progress bar)."""
        self.sampling = sampling
        self.base_seed = base_seed
        self.teacher_name = teacher_name
        self.writer = writer
        self.forcing = forcing
        self.batch_size = batch_size  # requests per call, for teachers that only batch
        self.summary = summary or GenerationSummary()
        self._new = deque(traces)
        self._follow_ups: deque[Request] = deque()
        self._firsts: dict[str, tuple[Completion, str]] = {}  # trace id -> (first completion, forced head)
        self._by_id = {t.trace_id: t for t in traces}
        self._outstanding = 0
        self._in_flight = 0
        self._tokens_in_flight = 0
        self._sent: dict[Any, float] = {}  # request key -> when it was handed out (the slowest one's age)
        self._tail_flushed = False
        self._start = time.perf_counter()
        self._postfix_at = 0.0
        self._refill = refill
        self._report = report
        self._reported = (0, 0)
        self._overflow_named: set[tuple] = set()
        self.bar = tqdm(
            total=self.summary.planned,
            initial=self.summary.skipped_existing,
            unit="trace",
            disable=not progress,
            desc="generate",
            file=sys.stderr,
        )

    # -- RequestFeed -------------------------------------------------------------------------------------------

    def next_request(self) -> Request | None:
        if self._follow_ups:
            request = self._follow_ups.popleft()
        elif self._new or self._refilled():
            trace = self._new.popleft()
            seed = trace_seed(self.base_seed, trace.trace_id)
            request = Request((trace.trace_id, ""), trace.unit.prompt, replace(self.sampling, seed=seed))
        else:
            return None
        self._outstanding += 1
        self._sent[request.key] = time.perf_counter()
        self.summary.requests += 1
        self.summary.max_in_flight = max(self.summary.max_in_flight, self._outstanding)
        return request

    def _refilled(self) -> bool:
        if self._refill is None:
            return False
        more = self._refill()
        if not more:
            self._refill = None  # the source is dry
        self._new.extend(more)
        self._by_id.update((t.trace_id, t) for t in more)
        return bool(more)

    def complete(self, request: Request, completion: Completion) -> None:
        self._outstanding -= 1
        self._sent.pop(request.key, None)
        trace_id, step = cast(tuple[str, str], request.key)
        trace = self._by_id[trace_id]
        if step == FORCE_STEP:
            first, head = self._firsts.pop(trace_id)
            # a forced answer that no longer fits the context leaves the trace as it was cut
            forced = (
                first
                if completion.finish_reason == CONTEXT_OVERFLOW
                else join_forced(first, head, completion)
            )
            self._finish(trace, forced)
            return
        if self.forcing is not None:
            parser = trace.unit.style.parser
            if parser == "rlt" and self.forcing.also_on_stop:
                completion = close_explanation(completion)
            elif parser == "think" and needs_forcing(completion, self.forcing.also_on_stop):
                self._follow_ups.append(self._force_request(trace, completion))
                return
        self._finish(trace, completion)

    def heartbeat(self, in_flight: int, retries: int = 0, tokens_in_flight: int = 0) -> None:
        self._in_flight = in_flight
        self._tokens_in_flight = tokens_in_flight
        self.summary.retries = retries
        self._tell()
        if not self._new and self._refill is None and not self._tail_flushed:
            # only the tail is in flight: write what is done now, while the teacher finishes the last traces
            self._tail_flushed = True
            self.writer.flush()
        self.writer.flush_if_due()
        now = time.perf_counter()
        if now - self._postfix_at >= 0.5:
            self._postfix_at = now
            self.summary.seconds = now - self._start
            self.bar.set_postfix(self.waiting_for(now), refresh=False)
            self.bar.refresh()  # the line moves even while no trace finishes

    def waiting_for(self, now: float) -> dict[str, Any]:
        """What the bar shows beside the finished traces: tokens so far (in-flight ones included), their rate,
        the requests in flight, the age of the oldest one, forced answers queued, retries."""
        tokens = self.summary.completion_tokens + self._tokens_in_flight
        shown: dict[str, Any] = {
            "tokens": tokens,
            "tok_s": f"{tokens / max(self.summary.seconds, 1e-9):.0f}",
            "in_flight": self._in_flight,
        }
        if self._sent:
            shown["oldest"] = f"{now - min(self._sent.values()):.0f}s"
        if self._follow_ups or self._firsts:
            shown["forcing"] = len(self._follow_ups) + len(self._firsts)
        shown["retries"] = self.summary.retries
        return shown

    # -- the run -----------------------------------------------------------------------------------------------

    def run(self, teacher: Teacher) -> GenerationSummary:
        """Stream every pending trace through `teacher`; finished traces are on disk even if the run fails."""
        try:
            if self._new or self._refill is not None:
                teacher.stream(self)
        finally:
            self.writer.close()
            self._tell()
            self.summary.shards_written += self.writer.shards_written
            self.summary.seconds = time.perf_counter() - self._start
            self.bar.close()
        unfinished = len(self._new) + len(self._follow_ups) + len(self._firsts) + self._outstanding
        if unfinished:
            raise RuntimeError(f"the teacher stopped with {unfinished} trace(s) of the plan not generated")
        return self.summary

    def _tell(self) -> None:
        if self._report is not None:
            now = (self.summary.generated, self.summary.completion_tokens)
            if now != self._reported:
                self._report(now[0] - self._reported[0], now[1] - self._reported[1])
                self._reported = now

    def _name_overflow(self, trace: Trace, completion: Completion) -> None:
        """Say once per problem and style which problem did not fit the teacher's context (its traces are still
        written, empty, with finish_reason context_overflow: the run goes on)."""
        unit = trace.unit
        key = (unit.row.get(PROBLEM_ID), unit.style.name)
        if key in self._overflow_named:
            return
        self._overflow_named.add(key)
        problem = str(unit.row.get(PROBLEM, ""))
        logger.warning(
            "generate: problem %s (style %s, %d characters: %r) is too long for the teacher: %s. Its traces are "
            "recorded with finish_reason=context_overflow (the `finished` filter rejects them) and the run goes on; "
            "shorten or drop the problem, or use a teacher with a longer context.",
            key[0],
            key[1],
            len(problem),
            problem[:60] + ("..." if len(problem) > 60 else ""),
            completion.detail or "the prompt does not fit its context",
        )

    def _force_request(self, trace: Trace, first: Completion) -> Request:
        assert self.forcing is not None
        head = forced_head(first)
        self._firsts[trace.trace_id] = (first, head)
        sampling = replace(
            self.sampling,
            max_new_tokens=self.forcing.answer_tokens,
            seed=trace_seed(self.base_seed, trace.trace_id, FORCE_STEP),
        )
        return Request((trace.trace_id, FORCE_STEP), continuation_prompt(trace.unit.prompt, head), sampling)

    def _finish(self, trace: Trace, completion: Completion) -> None:
        if completion.finish_reason == CONTEXT_OVERFLOW:
            self._name_overflow(trace, completion)
        row = trace_row(trace, completion, self.teacher_name)
        self.writer.add(row)
        s = self.summary
        s.generated += 1
        s.completion_tokens += row["completion_tokens"]
        s.prompt_tokens += sum(
            approximate_token_count(str(turn.get("content", ""))) for turn in trace.unit.prompt
        )
        s.finish_reasons[row["finish_reason"]] += 1
        if row["parse_issue"]:
            s.parse_issues[row["parse_issue"]] += 1
        self.bar.update(1)
