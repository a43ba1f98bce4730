"""The one small interface every teacher backend implements.

A teacher takes chat prompts (lists of `{"role", "content"}` messages) and sampling parameters and returns, for
every prompt, `n` completions with their finish reason and token count. When the last message of a prompt has the
role "assistant", the backend continues that message instead of starting a new turn (used by prompt styles with a
pre-filled assistant turn, such as RLT, and by budget forcing).

Streaming (`Teacher.stream`): the generation stage hands a teacher a `RequestFeed` instead of a list. The teacher
pulls `Request`s whenever it has room, each with its own seed, and hands every `Completion` back as soon as it is
done, so a server or engine stays full across the whole plan instead of waiting for the slowest sequence of each
batch. Backends that cannot stream keep the default: fixed batches through `generate`.

What every backend shares lives here too: `Teacher.generate` checks its arguments once (`validate_prompts`, n >= 1,
no prompts -> no call) and hands the rest to the backend's `_generate`; `request_seed` seeds each sample the same way
in every backend; `normalize_finish_reason` and `approximate_token_count` read what a backend got back.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from openr1_data.schema import Prompt

logger = logging.getLogger(__name__)


@dataclass
class SamplingParams:
    """Sampling parameters shared by all backends (names follow vLLM / OpenAI)."""

    temperature: float = 0.6
    top_p: float = 0.95
    max_new_tokens: int = 512
    seed: int = 0
    stop: list[str] = field(default_factory=list)

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0


# Why a completion ended: on its own, at the token budget, or nobody says (a server that gave no reason).
STOP, LENGTH, UNKNOWN_FINISH = "stop", "length", "unknown"
# Never started: the prompt alone is longer than the teacher's context (an empty completion, recorded per trace)
CONTEXT_OVERFLOW = "context_overflow"


@dataclass
class Completion:
    """One generated completion: text, why it ended (`STOP`, `LENGTH`, `UNKNOWN_FINISH`, `CONTEXT_OVERFLOW`) and
    its token count."""

    text: str
    finish_reason: str
    completion_tokens: int
    #: True when budget forcing closed the think block and had the teacher finish the answer
    forced: bool = False
    #: why, in words, when the teacher could not generate it (`CONTEXT_OVERFLOW`: the prompt's length, the context)
    detail: str = ""


def context_overflow(prompt_tokens: int | None, context: int | None, where: str = "") -> Completion:
    """The completion of a request whose prompt does not fit the teacher's context: empty, never generated."""
    size = f"{prompt_tokens} prompt tokens" if prompt_tokens is not None else "the prompt"
    limit = f"the teacher's context of {context} tokens" if context else "the teacher's context"
    detail = f"{size} do not fit {limit}{where}"
    return Completion("", CONTEXT_OVERFLOW, 0, detail=detail)


@dataclass
class Request:
    """One completion to produce: its prompt, its sampling (with this request's own seed) and the caller's key."""

    key: Hashable
    prompt: Prompt
    sampling: SamplingParams


class RequestFeed(Protocol):
    """What a streaming teacher pulls requests from and hands completions back to (the generation scheduler)."""

    #: requests per `generate` call for backends that only batch (the default `Teacher.stream`)
    batch_size: int

    def next_request(self) -> Request | None:
        """The next request to send, or None when none is ready now (more may follow once results come back)."""

    def complete(self, request: Request, completion: Completion) -> None:
        """Take the completion of a request the teacher got from `next_request` (may queue follow-up requests)."""

    def heartbeat(self, in_flight: int, retries: int = 0, tokens_in_flight: int = 0) -> None:
        """Called regularly while requests are in flight (progress, time-based shard writes).

        `tokens_in_flight`: tokens decoded so far for requests not yet complete, from backends that know it (the
        local transformers teacher), so progress moves before the first trace finishes."""


class ListFeed:
    """A feed over a fixed list of requests that collects the completions by key (`Teacher.generate` via
    `stream`)."""

    def __init__(self, requests: Sequence[Request], batch_size: int = 16):
        self._pending = list(reversed(requests))
        self.batch_size = batch_size
        self.results: dict[Hashable, Completion] = {}

    def next_request(self) -> Request | None:
        return self._pending.pop() if self._pending else None

    def complete(self, request: Request, completion: Completion) -> None:
        self.results[request.key] = completion

    def heartbeat(self, in_flight: int, retries: int = 0, tokens_in_flight: int = 0) -> None:
        pass


def combined_seed(seeds: Sequence[int]) -> int:
    """One seed for a batch of requests (backends that seed a whole call): a function of every request's seed."""
    digest = hashlib.sha256(",".join(str(s) for s in seeds).encode()).hexdigest()
    return int(digest[:8], 16)


def continues_assistant(prompt: Prompt) -> bool:
    """True when the prompt ends with an assistant message that the teacher should continue."""
    return bool(prompt) and prompt[-1].get("role") == "assistant"


# finish reasons that mean "cut by the token budget" across servers (OpenAI/vLLM "length", TGI and others)
_LENGTH_REASONS = {"length", "max_tokens", "max_length", "model_length"}
# ... and those that mean "ended on its own" (OpenAI/vLLM "stop", TGI "eos_token"/"stop_sequence", Anthropic)
_STOP_REASONS = {"stop", "eos", "eos_token", "stop_sequence", "end_turn"}
_SEED_MODULO = 2**31 - 1


class TeacherRequestError(RuntimeError):
    """A request to the teacher server failed for good (after its retries, or with a non-retryable answer)."""


def validate_prompts(prompts: Sequence[Prompt]) -> None:
    """Raise a `ValueError` naming the first prompt that is not a non-empty list of {role, content} strings."""
    for index, prompt in enumerate(prompts):
        if not isinstance(prompt, (list, tuple)) or not prompt:
            raise ValueError(
                f"prompt {index} must be a non-empty list of chat messages, got {type(prompt).__name__}: "
                f"{str(prompt)[:80]!r}. Build prompts with a prompt style (openr1_data.prompts)."
            )
        for m, message in enumerate(prompt):
            if (
                not isinstance(message, dict)
                or not isinstance(message.get("role"), str)
                or not isinstance(message.get("content"), str)
            ):
                raise ValueError(
                    f"prompt {index}, message {m} must be a dict with string 'role' and 'content', "
                    f"got {str(message)[:80]!r}"
                )


def request_seed(base_seed: int, prompt_index: int, sample_index: int, n: int) -> int:
    """Seed of one request: distinct for every (prompt, sample) of a call, reproducible across runs."""
    return (base_seed + prompt_index * n + sample_index) % _SEED_MODULO


def normalize_finish_reason(reason: Any) -> str:
    """Map a server's finish reason to "length" (cut by the token budget), "stop" (ended on its own) or
    "unknown" (missing, or e.g. "abort", "content_filter", "tool_calls"): a trace whose end nobody vouches for
    is never recorded as finished; the `finished` filter rejects it like a cut one."""
    if isinstance(reason, str):
        if reason.lower() in _LENGTH_REASONS:
            return "length"
        if reason.lower() in _STOP_REASONS:
            return "stop"
    logger.debug("finish_reason %r recorded as %r", reason, UNKNOWN_FINISH)
    return UNKNOWN_FINISH


def approximate_token_count(text: str, tokenizer: Any = None) -> int:
    """Token count used when a server sends no `usage`: the tokenizer's count if given, else words + symbols."""
    if tokenizer is not None:
        return len(tokenizer.encode(text, add_special_tokens=False))
    return len(re.findall(r"\w+|[^\w\s]", text))


class Teacher:
    """A model that writes completions. Subclasses (the backends) implement `_generate`, may override `stream`,
    and keep their heavy imports inside their own module."""

    #: short backend name recorded in provenance ("transformers", "openai", "vllm", ...)
    backend: str = "base"
    #: True when `stream` samples every request with its own seed, so a completion does not depend on what else
    #: was generated with it (batching, concurrency, resume points). False: the default batched `stream`.
    seeds_per_request: bool = False

    def __init__(self, model_name: str):
        self.model_name = model_name

    def fits_context(self, prompt: Prompt) -> bool | None:
        """Whether a prompt leaves room for at least one generated token in the teacher's context; None when the
        teacher cannot tell before asking (a server that reports no context length). The generation stage asks
        before any compute, to refuse a plan in which no prompt fits."""
        return None

    def generate(
        self, prompts: Sequence[Prompt], sampling: SamplingParams, n: int = 1
    ) -> list[list[Completion]]:
        """Return `n` completions for each prompt, in prompt order.

        `sampling.seed` seeds the whole call; a caller that needs reproducible output per prompt passes the same
        prompts with the same seed (the generation stage derives the seed from the batch it generates). Raises
        `ValueError` for n < 1 or a prompt that is not a list of chat messages, before any work; backends implement
        `_generate`, which gets at least one valid prompt.
        """
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        validate_prompts(prompts)
        if not prompts:
            return []
        return self._generate(list(prompts), sampling, n)

    def _generate(self, prompts: list[Prompt], sampling: SamplingParams, n: int) -> list[list[Completion]]:
        """The backend's `generate`, on checked arguments (n >= 1, one or more valid prompts). Every backend of the
        package implements it; a scripted stand-in (tests) may override `generate` itself instead."""
        raise NotImplementedError(f"{type(self).__name__} implements neither _generate nor generate")

    def stream(self, feed: RequestFeed) -> None:
        """Generate every request `feed` hands out and give each completion back to it, until it has none left.

        Default for backends that can only batch: `feed.batch_size` requests per round of `generate` calls. The
        requests of one prompt become one prompt with `n` samples; prompts whose sampling matches apart from the
        seed share a call, seeded by `combined_seed` of their requests' seeds, so a completion depends on the batch
        it was generated in. Streaming backends override this.
        """
        while True:
            batch: list[Request] = []
            while len(batch) < max(1, feed.batch_size) and (request := feed.next_request()) is not None:
                batch.append(request)
            if not batch:
                return
            for calls in _batched_calls(batch):
                prompts = [samples[0].prompt for samples in calls]
                seeds = [r.sampling.seed for samples in calls for r in samples]
                sampling = replace(calls[0][0].sampling, seed=combined_seed(seeds))
                outputs = self.generate(prompts, sampling, n=len(calls[0]))
                for samples, completions in zip(calls, outputs, strict=True):
                    for request, completion in zip(samples, completions, strict=True):
                        feed.complete(request, completion)
            feed.heartbeat(in_flight=0)

    def close(self) -> None:  # noqa: B027 (optional hook, most backends hold nothing to release)
        """Release resources (servers, GPU memory). Safe to call more than once."""

    def __enter__(self) -> Teacher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _batched_calls(batch: Sequence[Request]) -> list[list[list[Request]]]:
    """`generate` calls for a batch of requests: each call is a list of prompts, each prompt the list of its
    requests (its samples); one call shares the sampling apart from the seed, and the number of samples."""
    by_prompt: dict[tuple, list[Request]] = {}
    for request in batch:
        s = request.sampling
        key = (
            json.dumps(request.prompt, sort_keys=True),
            s.temperature,
            s.top_p,
            s.max_new_tokens,
            tuple(s.stop),
        )
        by_prompt.setdefault(key, []).append(request)
    calls: dict[tuple, list[list[Request]]] = {}
    for key, samples in by_prompt.items():
        calls.setdefault((*key[1:], len(samples)), []).append(samples)
    return list(calls.values())
