"""A simulated OpenAI-compatible inference server with a fixed capacity: real HTTP on 127.0.0.1, no model.

It decodes at most `slots` sequences at once (later requests queue, as in vLLM), each at `token_rate` tokens per
second, and every trace's length is drawn from a lognormal distribution (heavy-tailed like reasoning traces:
most end early, a few run to the cap) seeded by the request's prompt and seed, so the same request always gets
the same answer, from any server. A trace cut by `max_tokens` (or by the cap) ends with finish_reason "length"
inside an unclosed think block; the others close it and write a boxed answer. A request that continues an
assistant message (`continue_final_message`) gets a short closing answer. `GET /stats` reports what the server did
(requests, tokens, busy slot-seconds, the most sequences it decoded at once); `POST /reset` zeroes it.

    with CapacityServer(slots=8, token_rate=20_000) as server:   # in a thread, for tests
        server.base_url, server.stats()
    python -m tests.fakes.capacity_server --slots 64 --token_rate 6000   # a process; prints its port
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import random
import threading
import time
from typing import Any

WORDS = "so then we get the sum of both terms which gives x = 2, and".split()


class CapacityModel:
    """The simulated engine: decode slots, lengths, texts and the counters behind `/stats`."""

    def __init__(
        self,
        slots: int = 64,
        token_rate: float = 6000.0,
        mean_tokens: float = 3000.0,
        sigma: float = 1.0,
        cap_tokens: int = 16384,
        chars_per_token: float = 4.0,
        fail_after: int | None = None,
        transient_failures: int = 0,
    ):
        self.slots = slots
        self.fail_after = fail_after  # answer HTTP 400 to every request after this many
        self.transient_failures = transient_failures  # answer HTTP 503 to the first this many (retried)
        self.token_rate = token_rate
        self.sigma = sigma
        self.mu = math.log(mean_tokens) - sigma**2 / 2  # lognormal with this mean
        self.cap_tokens = cap_tokens
        self.chars_per_token = chars_per_token
        self.reset()

    def reset(self) -> None:
        self.received = 0
        self.requests = 0
        self.tokens = 0
        self.busy_seconds = 0.0
        self.first_request_at: float | None = None  # time.monotonic(): the same clock in every process here
        self.decoding = 0
        self.peak_decoding = 0
        self.bodies: list[dict] = []
        self._semaphore: asyncio.Semaphore | None = None

    def stats(self) -> dict[str, Any]:
        return {
            "slots": self.slots,
            "requests": self.requests,
            "tokens": self.tokens,
            "busy_seconds": self.busy_seconds,
            "peak_decoding": self.peak_decoding,
            "first_request_at": self.first_request_at,
        }

    def length(self, body: dict) -> tuple[int, str]:
        """(tokens, finish reason) of one request: a deterministic lognormal draw, capped."""
        rng = random.Random(_digest(body))
        if body.get("continue_final_message") or "prompt" in body:
            wanted = rng.randint(2, 8)  # a continuation: a short closing answer
        else:
            wanted = max(1, int(rng.lognormvariate(self.mu, self.sigma)))
        limit = min(int(body.get("max_tokens") or self.cap_tokens), self.cap_tokens)
        return (wanted, "stop") if wanted <= limit else (limit, "length")

    def text(self, body: dict, tokens: int, finish: str) -> str:
        rng = random.Random(_digest(body) + 1)
        if body.get("continue_final_message") or "prompt" in body:
            return f"{rng.randint(0, 99)}}}"
        size = max(1, int(tokens * self.chars_per_token / 4))  # words of about 4 characters
        words = " ".join(WORDS[rng.randrange(len(WORDS))] for _ in range(size))
        if finish == "length":
            return f"<think>\n{words}"
        return f"<think>\n{words}\n</think>\n\nThe answer is \\boxed{{{rng.randint(0, 99)}}}."

    async def complete(self, body: dict) -> dict:
        if self._semaphore is None:
            self._semaphore = asyncio.Semaphore(self.slots)
        if self.first_request_at is None:
            self.first_request_at = time.monotonic()
        tokens, finish = self.length(body)
        async with self._semaphore:  # a decode slot: later requests queue here
            self.decoding += 1
            self.peak_decoding = max(self.peak_decoding, self.decoding)
            started = time.perf_counter()
            try:
                await asyncio.sleep(tokens / self.token_rate)
            finally:
                self.decoding -= 1
                self.busy_seconds += time.perf_counter() - started
        self.requests += 1
        self.tokens += tokens
        if len(self.bodies) < 10_000:
            self.bodies.append(body)
        text = self.text(body, tokens, finish)
        chat = "messages" in body
        choice = {"index": 0, "finish_reason": finish}
        choice.update({"message": {"role": "assistant", "content": text}} if chat else {"text": text})
        return {
            "id": f"sim-{self.requests}",
            "object": "chat.completion" if chat else "text_completion",
            "model": body.get("model", ""),
            "choices": [choice],
            "usage": {"prompt_tokens": 10, "completion_tokens": tokens, "total_tokens": 10 + tokens},
        }


def _digest(body: dict) -> int:
    key = json.dumps([body.get("messages") or body.get("prompt"), body.get("seed")], sort_keys=True)
    return int(hashlib.sha256(key.encode()).hexdigest()[:12], 16)


async def _handle(model: CapacityModel, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """HTTP/1.1 with keep-alive, just enough for httpx: request line, headers, a Content-Length body."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {
                k.strip().lower(): v.strip()
                for k, _, v in (line.partition(":") for line in lines[1:] if line)
            }
            raw = await reader.readexactly(int(headers.get("content-length", 0)))
            status, answer = 200, {}
            route = path.rstrip("/")
            if method == "POST" and route in ("/v1/chat/completions", "/v1/completions"):
                model.received += 1
                if model.received <= model.transient_failures:
                    status, answer = 503, {"error": {"message": "simulated overload"}}
                elif model.fail_after is not None and model.received > model.fail_after:
                    status, answer = 400, {"error": {"message": "simulated failure"}}
                else:
                    answer = await model.complete(json.loads(raw or b"{}"))
            elif method == "GET" and route == "/stats":
                answer = model.stats()
            elif method == "POST" and route == "/reset":
                model.reset()
            elif method == "GET" and route == "/v1/models":
                answer = {"object": "list", "data": [{"id": "sim", "object": "model"}]}
            else:
                status, answer = 404, {"error": {"message": f"no route {method} {path}"}}
            payload = json.dumps(answer).encode()
            writer.write(
                f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: keep-alive\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def serve(model: CapacityModel, port: int = 0, ready=None) -> None:
    server = await asyncio.start_server(lambda r, w: _handle(model, r, w), "127.0.0.1", port, backlog=4096)
    if ready is not None:
        ready(server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


class CapacityServer:
    """The simulated server on its own event loop in a background thread (for tests)."""

    def __init__(self, **model_kwargs: Any):
        self.model = CapacityModel(**model_kwargs)
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._task = self._loop.create_task(serve(self.model, 0, self._started))
        try:
            self._loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        finally:
            self._loop.close()

    def _started(self, port: int) -> None:
        self.port = port
        self._ready.set()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def stats(self) -> dict[str, Any]:
        return self.model.stats()

    def __enter__(self) -> CapacityServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the simulated server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--slots", type=int, default=64)
    parser.add_argument("--token_rate", type=float, default=6000.0, help="tokens/s of one sequence")
    parser.add_argument("--mean_tokens", type=float, default=3000.0)
    parser.add_argument("--cap_tokens", type=int, default=16384)
    parser.add_argument("--chars_per_token", type=float, default=4.0)
    args = parser.parse_args()
    model = CapacityModel(
        args.slots, args.token_rate, args.mean_tokens, 1.0, args.cap_tokens, args.chars_per_token
    )
    asyncio.run(serve(model, args.port, lambda port: print(f"PORT {port}", flush=True)))


if __name__ == "__main__":
    main()
