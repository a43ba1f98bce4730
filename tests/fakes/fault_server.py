"""An OpenAI-compatible server that misbehaves on purpose: real HTTP on 127.0.0.1, no model.

Every answer is fixed by the request body (prompt, seed, sampling), so a run through faults can be compared text
for text with a clean run. Before answering, the server may inject a fault, decided by a seeded draw on (request
body, how many times this same body was received before): which request fails does not depend on timing,
concurrency or which run sends it, and a retry is a new draw.

Faults (`FAULTS`):
- status codes: 500, 502, 503, 429 (with `Retry-After: 0`), 408
- `hang`: answer nothing for `hang_seconds`; `trickle`: a valid answer, one byte every `trickle_interval` seconds
- `drop`: close the connection without an answer; `cut`: headers and half the body, then close
- malformed 200 answers: `not_json`, `truncated_json`, `content_null`, `no_choices`, `empty_choices`,
  `no_message`
- `finish_null` (not in `RETRIED_FAULTS`): a valid text whose `finish_reason` is null, which a client must record
  as unknown rather than retry

    with FaultServer(rate=0.3) as server:          # 30 % of attempts fail, with a fault drawn from RETRIED_FAULTS
        teacher = OpenAITeacher("m", base_url=server.base_url)
        server.injected                            # Counter of faults injected, by kind
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

STATUS_FAULTS = ("status_500", "status_502", "status_503", "status_429", "status_408")
SLOW_FAULTS = ("hang", "trickle")
CONNECTION_FAULTS = ("drop", "cut")
MALFORMED_FAULTS = ("not_json", "truncated_json", "content_null", "no_choices", "empty_choices", "no_message")
RETRIED_FAULTS = STATUS_FAULTS + SLOW_FAULTS + CONNECTION_FAULTS + MALFORMED_FAULTS
FAULTS = (*RETRIED_FAULTS, "finish_null")
WORDS = "first add the two numbers then check the sum again so the total is".split()


def answer_for(body: dict[str, Any]) -> tuple[str, str, int]:
    """(text, finish_reason, completion_tokens) of a request: a function of its prompt, seed and sampling."""
    key = json.dumps(
        [
            body.get("messages"),
            body.get("prompt"),
            body.get("seed"),
            body.get("max_tokens"),
            body.get("temperature"),
        ],
        sort_keys=True,
    )
    rng = random.Random(hashlib.sha256(key.encode()).hexdigest())
    budget = int(body.get("max_tokens") or 64)
    length = rng.randint(4, 40)
    words = [rng.choice(WORDS) for _ in range(min(length, budget))]
    if length > budget:  # cut by the token budget: the think block stays open
        return "<think>\n" + " ".join(words), "length", budget
    value = rng.randint(1, 99)
    return f"<think>\n{' '.join(words)}\n</think>\nThe answer is \\boxed{{{value}}}.", "stop", len(words) + 6


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (deadline, retry) resets its connection: expected here, not worth a traceback


class FaultServer:
    """`with FaultServer(rate=..., kinds=...) as server:` a fault-injecting OpenAI-compatible server in a thread."""

    def __init__(
        self,
        rate: float = 0.0,
        kinds: Sequence[str] = RETRIED_FAULTS,
        *,
        seed: int = 0,
        faulty_attempts: int | None = None,
        hang_seconds: float = 3.0,
        trickle_interval: float = 0.05,
    ):
        unknown = sorted(set(kinds) - set(FAULTS))
        if unknown:
            raise ValueError(f"unknown fault kinds {unknown}; known: {FAULTS}")
        self.rate = rate
        self.kinds = tuple(kinds)
        self.seed = seed
        self.faulty_attempts = faulty_attempts  # only the first N attempts of each body may fail (None: all)
        self.hang_seconds = hang_seconds
        self.trickle_interval = trickle_interval
        self.injected: Counter = Counter()
        self.requests: list[dict[str, Any]] = []  # path, headers, body of every request
        self.answered = 0  # clean 200 answers sent
        self._seen: Counter = Counter()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})

    @property
    def port(self) -> int:
        return self._server.server_port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def fault_for(self, body: dict[str, Any]) -> str | None:
        """The fault of this attempt of `body` (None: answer properly); counts the attempt."""
        key = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
        with self._lock:
            attempt = self._seen[key]
            self._seen[key] += 1
        if self.faulty_attempts is not None and attempt >= self.faulty_attempts:
            return None
        rng = random.Random(f"{self.seed}:{key}:{attempt}")
        if rng.random() >= self.rate:
            return None
        kind = rng.choice(self.kinds)
        with self._lock:
            self.injected[kind] += 1
        return kind

    def _handler(self):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server naming)
                self._send(200, {"status": "ok", "data": [{"id": "fault-model", "object": "model"}]})

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.loads(raw or b"{}")
                with outer._lock:
                    outer.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                chat = self.path.rstrip("/").endswith("/chat/completions")
                fault = outer.fault_for(body)
                text, finish, tokens = answer_for(body)
                if fault == "finish_null":
                    finish = None
                good = _completion(body, text, finish, tokens, chat)
                if fault is None or fault == "finish_null":
                    with outer._lock:
                        outer.answered += 1
                    return self._send(200, good)
                if fault.startswith("status_"):
                    code = int(fault.split("_")[1])
                    headers = [("Retry-After", "0")] if code == 429 else []
                    return self._send(code, {"error": {"message": f"injected {code}"}}, headers)
                if fault == "hang":
                    outer._stopping.wait(outer.hang_seconds)
                    self.close_connection = True
                    return None
                if fault == "trickle":
                    return self._trickle(json.dumps(good).encode())
                if fault == "drop":
                    self.close_connection = True
                    return None
                if fault == "cut":
                    data = json.dumps(good).encode()
                    self._headers(200, len(data))
                    self._write(data[: len(data) // 2])
                    self.close_connection = True
                    return None
                return self._send(200, _malformed(fault, good))

            def _headers(self, code: int, length: int, extra: Sequence[tuple[str, str]] = ()) -> None:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(length))
                for name, value in extra:
                    self.send_header(name, value)
                self.end_headers()

            def _write(self, data: bytes) -> bool:
                try:
                    self.wfile.write(data)
                    self.wfile.flush()
                    return True
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True
                    return False

            def _send(self, code: int, payload: Any, extra: Sequence[tuple[str, str]] = ()) -> None:
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self._headers(code, len(data), extra)
                self._write(data)

            def _trickle(self, data: bytes) -> None:
                self._headers(200, len(data))
                for i in range(len(data)):  # a valid answer, far too slowly: only a total deadline stops it
                    if outer._stopping.is_set() or not self._write(data[i : i + 1]):
                        break
                    time.sleep(outer.trickle_interval)
                self.close_connection = True

        return Handler

    def __enter__(self) -> FaultServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _completion(
    body: dict[str, Any], text: str, finish: str | None, tokens: int, chat: bool
) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": 0, "finish_reason": finish}
    if chat:
        choice["message"] = {"role": "assistant", "content": text}
    else:
        choice["text"] = text
    return {
        "id": "cmpl-fault",
        "object": "chat.completion" if chat else "text_completion",
        "model": body.get("model", ""),
        "choices": [choice],
        "usage": {"prompt_tokens": 5, "completion_tokens": tokens, "total_tokens": 5 + tokens},
    }


def _malformed(kind: str, good: dict[str, Any]) -> bytes | dict[str, Any]:
    """A 200 body of the given malformed kind, built from the good answer."""
    if kind == "not_json":
        return b"<html><body>502 Bad Gateway</body></html>"
    if kind == "truncated_json":
        data = json.dumps(good).encode()
        return data[: len(data) // 2]
    bad = json.loads(json.dumps(good))
    if kind == "content_null":
        if "message" in bad["choices"][0]:
            bad["choices"][0]["message"]["content"] = None
        else:
            bad["choices"][0]["text"] = None
    elif kind == "no_choices":
        del bad["choices"]
    elif kind == "empty_choices":
        bad["choices"] = []
    elif kind == "no_message":
        bad["choices"][0].pop("message", None)
        bad["choices"][0].pop("text", None)
    return bad
