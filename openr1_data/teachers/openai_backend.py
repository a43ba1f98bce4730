"""Teacher over any OpenAI-compatible HTTP server: vLLM serve, SGLang, TGI, `transformers serve`, hosted APIs.

Requests go out concurrently (bounded by `max_concurrency`), each with a total deadline (`request_timeout`: a
server that trickles bytes cannot hold a request past it), and are retried with exponential backoff and jitter on
408/429/5xx answers, connection errors, deadlines and malformed 200 answers (not JSON, no choices, `content:
null`): a malformed answer is a failed request, never a stored trace. A finish reason the client cannot read (or
none) is recorded as "unknown", which the `finished` filter rejects like "length". While requests wait, a
heartbeat line on stderr says how many are in flight, the retries so far and the last error (at least every
`heartbeat_seconds`). URLs, keys and server messages are redacted (`openr1_data.secrets`) in every error and log.
`n` samples are `n` separate requests with different seeds (some servers, `transformers serve` among them,
ignore `n`). Samples of one prompt that all come back with the same text at temperature > 0 mean a server that
decodes greedily whatever the temperature (`transformers serve` does, for models whose generation config lacks
`do_sample`, unless the request carries a sampling `generation_config`): the teacher warns once and counts such
prompts (`IdenticalSamples`, `teacher.monitor.identical_prompts`).

Continuing a pre-filled assistant message: over chat, the request carries `continue_final_message: true,
add_generation_prompt: false` (understood by vLLM and SGLang). `transformers serve` 5.x rejects those fields
(HTTP 422, "Unexpected fields") and always adds a generation prompt, so for it pass `tokenizer=` (the model
folder or Hub id): the teacher then renders the chat template itself with `continue_final_message=True` and sends
the text to `/v1/completions`, which works on every OpenAI-compatible server.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import json
import logging
import os
import random
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from openr1_data.secrets import redact, redact_url
from openr1_data.teachers.base import (
    Completion,
    Prompt,
    SamplingParams,
    Teacher,
    TeacherRequestError,
    approximate_token_count,
    context_overflow,
    continues_assistant,
    normalize_finish_reason,
    request_seed,
)

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
CONTINUATION_MODES = ("auto", "chat", "completions")
DEFAULT_HEARTBEAT_SECONDS = 30.0
_T = TypeVar("_T")
# identical samples shorter than this are no evidence of greedy decoding (a short answer can repeat by chance)
IDENTICAL_MIN_TOKENS = 8
# prompts whose samples are compared (about 100 bytes each); later prompts are not checked
IDENTICAL_MAX_PROMPTS = 200_000


# How servers refuse a prompt longer than the model's context (vLLM, OpenAI, SGLang, TGI, llama.cpp), in 400/413/422
_OVERFLOW_TEXT = re.compile(
    r"context length|context_length_exceeded|context window|maximum context|exceeds? the (?:model's )?context|"
    r"`inputs` tokens \+ `max_new_tokens`|input is too long|prompt is too long",
    re.IGNORECASE,
)
_CONTEXT_NUMBER = re.compile(
    r"maximum context length is (\d+)|context length \((\d+) tokens\)|context (?:window|size) of (\d+)", re.I
)
_PROMPT_NUMBER = re.compile(
    r"has (\d+) input tokens|\((\d+) in the messages|input \((\d+) tokens\)|(\d+) tokens in the prompt", re.I
)


@dataclass
class ContextOverflowAnswer:
    """A server's refusal of a request that does not fit the model's context, with the numbers it gave."""

    context: int | None
    prompt_tokens: int | None
    message: str

    def prompt_fits(self) -> bool:
        """True when the server says the prompt itself fits (only prompt + max_tokens was too much)."""
        return (
            self.context is not None and self.prompt_tokens is not None and self.prompt_tokens < self.context
        )


def _first_number(pattern: re.Pattern, text: str) -> int | None:
    match = pattern.search(text)
    return next((int(g) for g in match.groups() if g), None) if match else None


def read_context_overflow(status: int, text: str) -> ContextOverflowAnswer | None:
    """The server's answer read as a context overflow (a 400/413/422 saying the request exceeds the context), or
    None when it is another error."""
    if status not in (400, 413, 422) or not _OVERFLOW_TEXT.search(text):
        return None
    return ContextOverflowAnswer(
        _first_number(_CONTEXT_NUMBER, text), _first_number(_PROMPT_NUMBER, text), text
    )


class ContextOverflowError(TeacherRequestError):
    """The server refused a request as longer than the model's context (the generation stage records the trace as
    `context_overflow` instead of failing the run)."""

    def __init__(self, message: str, answer: ContextOverflowAnswer):
        super().__init__(message)
        self.answer = answer


class MalformedResponse(ValueError):
    """A 200 answer without a usable completion (no choices, `content: null`, ...): retried like a failure."""


# ---------------------------------------------------------------------------------------------------------------
# Pure helpers (request building and response parsing); tested on their own.
# ---------------------------------------------------------------------------------------------------------------


def join_reasoning(content: str, reasoning: str | None) -> str:
    """Put back reasoning a server split out of the text (`--reasoning-parser`) as `<think>...</think>`.

    Servers with a reasoning parser return the thinking in `reasoning_content` / `reasoning` and the rest in
    `content`; the R1 parser of this package expects one raw text, so we rebuild it.
    """
    if not reasoning:
        return content
    return f"<think>\n{reasoning.strip()}\n</think>\n{content.lstrip()}"


def _sampling_fields(sampling: SamplingParams, seed: int) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "temperature": float(sampling.temperature),
        "top_p": float(sampling.top_p),
        "max_tokens": int(sampling.max_new_tokens),
        "seed": int(seed),
    }
    if sampling.stop:
        fields["stop"] = list(sampling.stop)
    return fields


def _merge_extra(payload: dict[str, Any], extra_body: dict[str, Any] | None) -> dict[str, Any]:
    # a key set to None in extra_body removes that field (for servers that reject e.g. `seed`)
    for key, value in (extra_body or {}).items():
        if value is None:
            payload.pop(key, None)
        else:
            payload[key] = value
    return payload


def chat_payload(
    model: str,
    prompt: Prompt,
    sampling: SamplingParams,
    seed: int,
    *,
    continue_final: bool = False,
    extra_body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Body of a `/chat/completions` request for one sample (never uses `n`)."""
    payload: dict[str, Any] = {
        "model": model,
        "messages": [{"role": m["role"], "content": m["content"]} for m in prompt],
        **_sampling_fields(sampling, seed),
    }
    if continue_final:
        payload["continue_final_message"] = True
        payload["add_generation_prompt"] = False
    return _merge_extra(payload, extra_body)


def completion_payload(
    model: str,
    text: str,
    sampling: SamplingParams,
    seed: int,
    *,
    extra_body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Body of a `/completions` request (raw text prompt, e.g. a rendered chat template) for one sample."""
    payload: dict[str, Any] = {"model": model, "prompt": text, **_sampling_fields(sampling, seed)}
    return _merge_extra(payload, extra_body)


def parse_response(data: Any, *, chat: bool, tokenizer: Any = None) -> Completion:
    """Turn a chat or text completion response into a `Completion`.

    Raises `MalformedResponse` (a `ValueError`) when the answer holds no completion: no choices, no message,
    `content: null` without reasoning, a text that is not a string. An empty string is a real (empty) completion.
    """
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise MalformedResponse(f"response has no choices: {str(data)[:300]!r}")
    choice = choices[0]
    if chat:
        message = choice.get("message")
        if not isinstance(message, dict):
            raise MalformedResponse(f"choice 0 has no message: {str(choice)[:300]!r}")
        content = message.get("content")
        reasoning = message.get("reasoning_content") or message.get("reasoning")
        if not isinstance(content, (str, type(None))) or not isinstance(reasoning, (str, type(None))):
            raise MalformedResponse(f"message content is not text: {str(message)[:300]!r}")
        if content is None and not reasoning:
            # a reasoning server may put everything in `reasoning_content`; with neither there is no completion
            raise MalformedResponse("message content is null")
        text = join_reasoning(content or "", reasoning)
    else:
        text = choice.get("text")
        if not isinstance(text, str):
            raise MalformedResponse(f"choice 0 has no text: {str(choice)[:300]!r}")
    usage = data.get("usage")
    tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
    if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 0:
        tokens = approximate_token_count(text, tokenizer)
    return Completion(
        text=text,
        finish_reason=normalize_finish_reason(choice.get("finish_reason")),
        completion_tokens=tokens,
    )


def backoff_delay(
    attempt: int, base: float, cap: float, retry_after: float | None = None, rng: random.Random | None = None
) -> float:
    """Seconds to wait before retry `attempt + 1`: full-jitter exponential backoff, or the server's Retry-After.

    Both are capped by `cap`. Jitter spreads the retries of many concurrent requests so they do not hit a
    struggling server in lockstep.
    """
    if retry_after is not None and retry_after >= 0:
        return min(retry_after, cap)
    ceiling = min(cap, base * (2**attempt))
    return (rng or random).uniform(ceiling / 2, ceiling)


def is_retryable_status(status: int) -> bool:
    """408 (timeout), 429 (rate limit) and every 5xx are worth retrying; other 4xx are the request's fault."""
    return status in (408, 429) or status >= 500


def normalize_base_url(base_url: str) -> str:
    """Strip the trailing slash; add `/v1` when the URL has no path (`http://host:8000` -> `.../v1`)."""
    url = base_url.rstrip("/")
    if not urlsplit(url).path:
        url += "/v1"
    return url


def _retry_after_seconds(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:  # an HTTP date: ignore it and use our own backoff
        return None


def run_sync(coroutine: Any) -> Any:
    """Run a coroutine to completion from sync code, also when an event loop already runs (Jupyter)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    # a loop runs in this thread: asyncio.run would refuse, so run a fresh loop in a worker thread
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="openr1-teacher") as pool:
        return pool.submit(asyncio.run, coroutine).result()


# ---------------------------------------------------------------------------------------------------------------
# Identical samples: a server that decodes greedily whatever the temperature
# ---------------------------------------------------------------------------------------------------------------


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def prompt_key(body: dict[str, Any]) -> bytes:
    """What the samples of one prompt share: the request body without its seed (model, prompt, sampling)."""
    return _digest(json.dumps({k: v for k, v in body.items() if k != "seed"}, sort_keys=True).encode())


@dataclass
class IdenticalSamples:
    """Compares the samples of each prompt (requests that differ only in their seed) at temperature > 0.

    A prompt counts in `identical_prompts` while its samples so far (two or more, each at least
    `IDENTICAL_MIN_TOKENS` tokens) all have the same text; a sample that differs takes it out again. Works for
    `generate` and for streamed requests alike, since it needs no `n`: it keys on the request body.
    """

    max_prompts: int = IDENTICAL_MAX_PROMPTS
    identical_prompts: int = 0
    # prompt key -> [digest of the first text, or None once a sample differed; samples seen]
    _seen: dict[bytes, list] = field(default_factory=dict, repr=False)

    def record(self, body: dict[str, Any], completion: Completion) -> int:
        """Note one sample; returns how many samples of its prompt are identical so far (0: none, or not checked)."""
        temperature = body.get("temperature")
        if not isinstance(temperature, (int, float)) or temperature <= 0:
            return 0
        if completion.completion_tokens < IDENTICAL_MIN_TOKENS:
            return 0
        key = prompt_key(body)
        text = _digest(completion.text.encode())
        entry = self._seen.get(key)
        if entry is None:
            if len(self._seen) < self.max_prompts:
                self._seen[key] = [text, 1]
            return 0
        if entry[0] is None:  # this prompt already sampled distinct texts
            return 0
        if entry[0] != text:
            if entry[1] >= 2:
                self.identical_prompts -= 1
            entry[0] = None
            return 0
        entry[1] += 1
        if entry[1] == 2:
            self.identical_prompts += 1
        return entry[1]


def identical_samples_warning(server: str, temperature: float, samples: int) -> str:
    """The warning for a prompt whose samples came back identical: the likely cause and the fixes."""
    return (
        f"teacher {server}: {samples} samples of one prompt came back with identical text at temperature "
        f"{temperature:g}, each with its own seed. The server seems to decode greedily whatever the temperature: "
        "`transformers serve` does so unless a request carries a sampling generation config (for models whose "
        "own generation config lacks do_sample, e.g. SmolLM2), and then every sample of a problem is the same. "
        "Fix: run the pipeline with --serve_teacher true (it starts `transformers serve` and sends one), serve "
        "the model with vLLM or SGLang, or from Python pass OpenAITeacher(..., extra_body={'generation_config': "
        "sampling_generation_config(MODEL_FOLDER)}) (openr1_data.teachers.serve). Warned once per teacher; "
        "teacher.monitor.identical_prompts counts such prompts."
    )


# ---------------------------------------------------------------------------------------------------------------
# The heartbeat: what a silent progress bar is waiting for
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class RequestMonitor:
    """Live counts of one teacher's requests; while some are in flight, a heartbeat task on the running event
    loop prints them to stderr every `interval` seconds in which no request finished or some were retried."""

    label: str
    interval: float = DEFAULT_HEARTBEAT_SECONDS
    deadline: float | None = None
    pending: int = 0  # requests not finished yet: in flight, or backing off before a retry
    in_flight: int = 0
    completed: int = 0
    retries: int = 0
    failed: int = 0
    last_error: str | None = None
    beats: int = 0
    identical: IdenticalSamples = field(default_factory=IdenticalSamples)
    warned_identical: bool = False
    _task: asyncio.Task | None = field(default=None, repr=False)

    def enter(self) -> None:
        """A request (with its retries) starts: count it, and make sure the heartbeat runs on this event loop."""
        self.pending += 1
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._task = loop.create_task(self._beat())

    def line(self) -> str:
        """The heartbeat text (redacted)."""
        deadline = f" (deadline {self.deadline:g}s each)" if self.deadline else ""
        text = (
            f"teacher {self.label}: {self.in_flight} request(s) in flight{deadline}, "
            f"{self.pending - self.in_flight} waiting to retry, {self.completed} done, {self.retries} retries so "
            f"far, {self.failed} failed; last error: {self.last_error or 'none'}"
        )
        if self.identical_prompts:
            text += f"; {self.identical_prompts} prompt(s) with identical samples (greedy server?)"
        return redact(text)

    @property
    def identical_prompts(self) -> int:
        """Prompts whose samples so far (two or more) all came back with the same text at temperature > 0."""
        return self.identical.identical_prompts

    def check_sample(self, body: dict[str, Any], completion: Completion) -> None:
        """Compare a finished sample with its prompt's others; warn (once) when they are all the same."""
        samples = self.identical.record(body, completion)
        if samples >= 2 and not self.warned_identical:
            self.warned_identical = True
            logger.warning(redact(identical_samples_warning(self.label, float(body["temperature"]), samples)))

    async def _beat(self) -> None:
        seen = (self.completed, self.retries)
        while self.pending > 0:
            await asyncio.sleep(self.interval)
            if self.pending > 0 and (self.completed == seen[0] or self.retries != seen[1]):
                self.beats += 1
                _print_heartbeat(self.line())
            seen = (self.completed, self.retries)


def _print_heartbeat(line: str) -> None:
    try:
        from tqdm import tqdm

        tqdm.write(line, file=sys.stderr)  # above a progress bar, not through it
    except ImportError:  # pragma: no cover (tqdm comes with datasets)
        print(line, file=sys.stderr, flush=True)


@dataclass
class _Attempt:
    """The outcome of one attempt: a result (`error` None), or an error, retryable unless `fatal_status` is set."""

    result: Any = None
    error: str | None = None
    fatal_status: int | None = None
    retry_after: float | None = None


# ---------------------------------------------------------------------------------------------------------------
# The teacher
# ---------------------------------------------------------------------------------------------------------------


class OpenAITeacher(Teacher):
    """A teacher behind an OpenAI-compatible server.

    Args:
        model: model name the server knows (for `transformers serve` / vLLM: the id or path it serves).
        base_url: the API root, e.g. `http://127.0.0.1:8000/v1` (`/v1` is added when the URL has no path).
        api_key_env: environment variable holding the API key, sent as `Authorization: Bearer`; none is sent
            when the variable is unset (local servers). The key is never logged, printed or put in errors.
        max_concurrency: requests in flight at once.
        request_timeout: total deadline in seconds of one attempt (connect, send, receive the whole answer),
            however slowly the server sends it.
        max_retries: retries after the first attempt on 408/429/5xx, connection errors, deadlines and malformed
            200 answers.
        backoff_base, backoff_max: exponential backoff (seconds) between retries: base * 2**attempt, capped,
            with jitter; a `Retry-After` header wins (still capped).
        heartbeat_seconds: while requests are in flight, print their state to stderr at least this often when
            nothing finishes (or something is retried).
        continuation: how to continue a pre-filled assistant message: "chat" (extra body fields, vLLM/SGLang),
            "completions" (render the chat template with `tokenizer`, send to `/completions`), or "auto"
            ("completions" when a tokenizer is given, else "chat").
        tokenizer: model folder / Hub id or a loaded tokenizer with the teacher's chat template; used for
            "completions" continuation and to count tokens when a server sends no `usage`.
        extra_body: extra fields merged into every request (a value of None removes a field). For `transformers
            serve` at temperature > 0 pass `{"generation_config": sampling_generation_config(MODEL_FOLDER)}`
            (`openr1_data.pipeline`): without it the server decodes greedily for models whose generation config
            lacks `do_sample`, and the teacher warns that the samples of a prompt are identical.
    """

    backend = "openai"

    def __init__(
        self,
        model: str,
        base_url: str = DEFAULT_BASE_URL,
        api_key_env: str = "OPENAI_API_KEY",
        max_concurrency: int = 16,
        request_timeout: float = 600.0,
        max_retries: int = 5,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        continuation: str = "auto",
        tokenizer: Any = None,
        extra_body: dict[str, Any] | None = None,
        heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS,
    ):
        super().__init__(model)
        if continuation not in CONTINUATION_MODES:
            raise ValueError(f"continuation must be one of {CONTINUATION_MODES}, got {continuation!r}")
        if continuation == "completions" and tokenizer is None:
            raise ValueError(
                "continuation='completions' renders the chat template locally and needs tokenizer=<model folder "
                "or Hub id of the served model>"
            )
        checks = {
            "max_concurrency": (max_concurrency, 1),
            "max_retries": (max_retries, 0),
            "request_timeout": (request_timeout, 1e-9),
            "backoff_base": (backoff_base, 0),
            "backoff_max": (backoff_max, 0),
            "heartbeat_seconds": (heartbeat_seconds, 1e-9),
        }
        for name, (value, low) in checks.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low:
                bound = "> 0" if low == 1e-9 else f">= {low}"
                raise ValueError(f"{name} must be a number {bound}, got {value!r}")
        self.base_url = normalize_base_url(base_url)
        self.api_key_env = api_key_env
        self.max_concurrency = int(max_concurrency)
        self.request_timeout = float(request_timeout)
        self.max_retries = int(max_retries)
        self.backoff_base = float(backoff_base)
        self.backoff_max = float(backoff_max)
        self.continuation = (
            "completions" if continuation == "auto" and tokenizer is not None else continuation
        )
        if self.continuation == "auto":
            self.continuation = "chat"
        self.extra_body = dict(extra_body or {})
        self._tokenizer_spec = tokenizer
        self._tokenizer = None if isinstance(tokenizer, str) else tokenizer
        self.monitor = RequestMonitor(
            redact_url(self.base_url), float(heartbeat_seconds), self.request_timeout
        )

    def __repr__(self) -> str:
        key_state = "set" if os.environ.get(self.api_key_env) else "unset"
        return (
            f"OpenAITeacher(model={self.model_name!r}, base_url={redact_url(self.base_url)!r}, "
            f"api_key_env={self.api_key_env!r} ({key_state}), continuation={self.continuation!r})"
        )

    # -- helpers ---------------------------------------------------------------------------------------------

    @property
    def tokenizer(self) -> Any:
        """The tokenizer given as `tokenizer=` (loaded on first use), or None."""
        if self._tokenizer is None and isinstance(self._tokenizer_spec, str):
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(self._tokenizer_spec)
        return self._tokenizer

    def _headers(self) -> dict[str, str]:
        key = os.environ.get(self.api_key_env)
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _redact(self, text: str) -> str:
        key = os.environ.get(self.api_key_env)
        return redact(text, extra=[key] if key else None)

    def render_continuation(self, prompt: Prompt) -> str:
        """The prompt rendered by the tokenizer's chat template with its last (assistant) message left open."""
        return self.tokenizer.apply_chat_template(
            [dict(m) for m in prompt],
            tokenize=False,
            add_generation_prompt=False,
            continue_final_message=True,
        )

    def build_request(
        self, prompt: Prompt, sampling: SamplingParams, seed: int
    ) -> tuple[str, dict[str, Any], bool]:
        """(url, body, is_chat) of the request for one sample of one prompt."""
        if continues_assistant(prompt) and self.continuation == "completions":
            text = self.render_continuation(prompt)
            body = completion_payload(self.model_name, text, sampling, seed, extra_body=self.extra_body)
            return f"{self.base_url}/completions", body, False
        body = chat_payload(
            self.model_name,
            prompt,
            sampling,
            seed,
            continue_final=continues_assistant(prompt),
            extra_body=self.extra_body,
        )
        return f"{self.base_url}/chat/completions", body, True

    def _hint(self, status: int, body: dict[str, Any]) -> str:
        if status in (401, 403):
            state = "is set" if os.environ.get(self.api_key_env) else "is NOT set"
            return f" Check the API key: ${self.api_key_env} {state}."
        if status == 404:
            return (
                " Check base_url (it usually ends in /v1) and that the server serves model "
                f"{self.model_name!r}."
            )
        if status in (400, 422) and body.get("continue_final_message"):
            return (
                " This server may not support continuing an assistant message over chat (transformers serve does "
                "not); pass tokenizer=<model folder or Hub id> so the teacher renders the chat template itself and "
                "uses /completions."
            )
        return ""

    # -- requests --------------------------------------------------------------------------------------------

    async def _post(
        self,
        client: httpx.AsyncClient,
        semaphore: asyncio.Semaphore,
        url: str,
        body: dict[str, Any],
        parse: Callable[[Any], _T],
    ) -> _T:
        """POST `body` and `parse` the JSON answer, with a total deadline per attempt and retries on transient
        failures (408/429/5xx, transport errors, deadlines, non-JSON or malformed 200 answers)."""
        attempts = self.max_retries + 1
        shown = redact_url(url)
        monitor = self.monitor
        monitor.enter()
        try:
            for attempt in range(attempts):
                async with semaphore:  # held only while the request is in flight, not while backing off
                    monitor.in_flight += 1
                    try:
                        outcome = await self._attempt(client, url, body, parse)
                    finally:
                        monitor.in_flight -= 1
                if outcome.error is None:
                    monitor.completed += 1
                    return outcome.result
                monitor.last_error = self._redact(outcome.error)[:300]
                if outcome.fatal_status is not None:
                    monitor.failed += 1
                    overflow = read_context_overflow(outcome.fatal_status, outcome.error)
                    if overflow is not None:
                        raise ContextOverflowError(self._redact(f"POST {shown}: {outcome.error}"), overflow)
                    hint = self._hint(outcome.fatal_status, body)
                    raise TeacherRequestError(self._redact(f"POST {shown} failed: {outcome.error}.{hint}"))
                if attempt + 1 < attempts:
                    monitor.retries += 1
                    delay = backoff_delay(attempt, self.backoff_base, self.backoff_max, outcome.retry_after)
                    logger.info(
                        "teacher request to %s failed (%s); retry %d/%d in %.2fs",
                        shown,
                        monitor.last_error[:200],
                        attempt + 1,
                        self.max_retries,
                        delay,
                    )
                    await asyncio.sleep(delay)
            monitor.failed += 1
            raise TeacherRequestError(
                self._redact(f"POST {shown} failed after {attempts} attempt(s); last error: {outcome.error}")
            )
        finally:
            monitor.pending -= 1

    async def _attempt(
        self, client: httpx.AsyncClient, url: str, body: dict[str, Any], parse: Callable[[Any], _T]
    ) -> _Attempt:
        """One attempt under the total deadline: its parsed result, or what went wrong."""
        try:
            async with asyncio.timeout(self.request_timeout):  # the whole answer, however slowly it comes
                response = await client.post(url, json=body)
        except TimeoutError:
            return _Attempt(error=f"no complete answer within the {self.request_timeout:g}s request_timeout")
        except httpx.TransportError as exc:  # connection refused/reset/cut, DNS, httpx's own timeouts
            return _Attempt(error=f"{type(exc).__name__}: {exc}".rstrip(": "))
        status = response.status_code
        if not response.is_success:
            error = f"HTTP {status}: {response.text[:500].strip()}"
            if is_retryable_status(status):
                return _Attempt(error=error, retry_after=_retry_after_seconds(response))
            return _Attempt(error=error, fatal_status=status)
        try:
            data = response.json()
        except ValueError:
            return _Attempt(error=f"HTTP {status} with a body that is not JSON: {response.text[:200]!r}")
        try:
            return _Attempt(result=parse(data))
        except MalformedResponse as exc:
            return _Attempt(error=f"HTTP {status} with a malformed answer: {exc}")

    async def _one(
        self,
        client: httpx.AsyncClient,
        semaphore: asyncio.Semaphore,
        prompt: Prompt,
        sampling: SamplingParams,
        seed: int,
    ) -> Completion:
        url, body, is_chat = self.build_request(prompt, sampling, seed)

        def parse(data: Any) -> Completion:
            return parse_response(data, chat=is_chat, tokenizer=self._tokenizer)

        try:
            completion = await self._post(client, semaphore, url, body, parse)
        except ContextOverflowError as err:
            answer = err.answer
            room = (answer.context or 0) - (answer.prompt_tokens or 0)
            if answer.prompt_fits() and sampling.max_new_tokens > room:
                # the prompt fits; only prompt + max_tokens did not (vLLM refuses that): ask for what is left
                return await self._one(
                    client, semaphore, prompt, replace(sampling, max_new_tokens=room), seed
                )
            where = f" (server {redact_url(self.base_url)}: {self._redact(answer.message)[:200]})"
            return context_overflow(answer.prompt_tokens, answer.context, where)
        self.monitor.check_sample(body, completion)
        return completion

    async def _generate_async(
        self, prompts: Sequence[Prompt], sampling: SamplingParams, n: int
    ) -> list[list[Completion]]:
        semaphore = asyncio.Semaphore(self.max_concurrency)
        limits = httpx.Limits(
            max_connections=self.max_concurrency, max_keepalive_connections=self.max_concurrency
        )
        async with httpx.AsyncClient(
            timeout=httpx.Timeout(self.request_timeout), limits=limits, headers=self._headers()
        ) as client:
            tasks = [
                asyncio.ensure_future(
                    self._one(client, semaphore, prompt, sampling, request_seed(sampling.seed, i, j, n))
                )
                for i, prompt in enumerate(prompts)
                for j in range(n)
            ]
            try:
                flat = await asyncio.gather(*tasks)
            except BaseException:
                # one request failed for good: stop the others before the client closes
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise
        return [list(flat[i * n : (i + 1) * n]) for i in range(len(prompts))]

    def _generate(self, prompts: list[Prompt], sampling: SamplingParams, n: int) -> list[list[Completion]]:
        """`n` completions per prompt, in prompt order (one request per sample, run concurrently)."""
        if self._tokenizer_spec is not None:
            _ = self.tokenizer  # load it here, before the requests start, not inside the event loop
        return run_sync(self._generate_async(prompts, sampling, n))

    # -- streaming (the generation scheduler keeps its own requests in flight) ----------------------------------

    def open_client(self, max_connections: int | None = None) -> httpx.AsyncClient:
        """An HTTP client for `complete_one`, with this teacher's timeout and auth header (close it when done)."""
        size = max_connections or self.max_concurrency
        limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
        if getattr(self, "_ssl_context", None) is None:  # building one reads the CA bundle (~30 ms): share it
            self._ssl_context = httpx.create_ssl_context()
        return httpx.AsyncClient(
            timeout=httpx.Timeout(self.request_timeout),
            limits=limits,
            headers=self._headers(),
            verify=self._ssl_context,
        )

    async def complete_one(
        self, client: httpx.AsyncClient, prompt: Prompt, sampling: SamplingParams, seed: int
    ) -> Completion:
        """One request with its retries, on a client from `open_client`; the caller bounds the concurrency."""
        return await self._one(client, asyncio.Semaphore(1), prompt, sampling, seed)
