"""A real OpenAI-compatible HTTP server whose replies are scripted by the test (http.server in a thread).

It answers `POST /v1/chat/completions` with `n` choices whose text comes from `reply(body, choice_index)`, with a
`usage` block, and records every request body so a test can count and inspect what a client sent. `refuse(body)`
may return an error message instead: the server then answers HTTP 400 with it in vLLM's error shape (how vLLM
refuses a prompt longer than the model's context).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ScriptedOpenAIServer:
    """`with ScriptedOpenAIServer(reply) as server:` ... `server.base_url`, `server.requests`."""

    def __init__(
        self,
        reply: Callable[[dict, int], str],
        usage_per_choice: int | None = 3,
        finish_reason: str = "stop",
        refuse: Callable[[dict], str | None] | None = None,
    ):
        self.reply = reply
        self.refuse = refuse
        self.usage_per_choice = usage_per_choice
        self.finish_reason = finish_reason
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/v1"

    def _handler(self):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                with outer._lock:
                    outer.requests.append(body)
                refusal = outer.refuse(body) if outer.refuse is not None else None
                if refusal is not None:
                    error = {"message": refusal, "type": "BadRequestError", "param": None, "code": 400}
                    self._send(400, {"error": error})
                    return
                n = int(body.get("n") or 1)
                choices = [
                    {
                        "index": i,
                        "message": {"role": "assistant", "content": outer.reply(body, i)},
                        "finish_reason": outer.finish_reason,
                    }
                    for i in range(n)
                ]
                answer = {
                    "id": f"chatcmpl-{len(outer.requests)}",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body.get("model", ""),
                    "choices": choices,
                }
                if (
                    outer.usage_per_choice is not None
                ):  # None: no usage block (the client counts tokens itself)
                    tokens = outer.usage_per_choice * n
                    answer["usage"] = {
                        "prompt_tokens": 5,
                        "completion_tokens": tokens,
                        "total_tokens": 5 + tokens,
                    }
                self._send(200, answer)

            def _send(self, status: int, data: dict) -> None:
                payload = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

        return Handler

    def __enter__(self) -> ScriptedOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
