"""The OpenAI-compatible HTTP teacher against a real `transformers serve` process and a tiny real HTTP server
that misbehaves on purpose (errors, rate limits, slowness) to exercise retries and error messages."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from openr1_data.teachers import make_teacher
from openr1_data.teachers.base import (
    SamplingParams,
    TeacherRequestError,
    normalize_finish_reason,
    request_seed,
    validate_prompts,
)
from openr1_data.teachers.openai_backend import (
    OpenAITeacher,
    backoff_delay,
    chat_payload,
    normalize_base_url,
    parse_response,
)
from openr1_data.teachers.serve import free_port, start_transformers_serve

SECRET = "sk-test-do-not-leak-1234567890"
USER = [{"role": "user", "content": "What is 3 + 4?"}]
PREFILLED = [*USER, {"role": "assistant", "content": "<think> First add"}]


# ---------------------------------------------------------------------------------------------------------------
# a real transformers serve process, shared by the module
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tiny_model_dir, tmp_path_factory):
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    server = start_transformers_serve(tiny_model_dir, startup_timeout=120, log_path=log)
    try:
        yield server
    finally:
        server.stop()
    assert server.process.poll() is not None, "the serve process must be gone after the fixture"


def test_n_samples_are_separate_seeded_requests(served):
    teacher = make_teacher("openai", served.model, base_url=served.base_url, max_concurrency=4)
    sampling = SamplingParams(temperature=1.0, top_p=1.0, max_new_tokens=6, seed=7)
    out = teacher.generate([USER, [{"role": "user", "content": "Hello"}]], sampling, n=3)
    assert [len(samples) for samples in out] == [3, 3]
    for samples in out:
        for c in samples:
            assert c.finish_reason in ("stop", "length")
            assert 1 <= c.completion_tokens <= 6
        # transformers serve ignores `n`; distinct seeds per request must still give distinct samples
        assert len({c.text for c in samples}) >= 2


def test_same_seed_reproduces_and_other_seed_differs(served):
    # one request at a time: the server seeds a global RNG per request
    teacher = OpenAITeacher(served.model, base_url=served.base_url, max_concurrency=1)
    first = teacher.generate([USER], SamplingParams(temperature=1.0, max_new_tokens=8, seed=3), n=2)
    again = teacher.generate([USER], SamplingParams(temperature=1.0, max_new_tokens=8, seed=3), n=2)
    other = teacher.generate([USER], SamplingParams(temperature=1.0, max_new_tokens=8, seed=4), n=2)
    assert first == again
    assert [c.text for c in first[0]] != [c.text for c in other[0]]


def test_max_tokens_cut_keeps_finish_reason_length(served):
    teacher = OpenAITeacher(served.model, base_url=served.base_url)
    [[c]] = teacher.generate([USER], SamplingParams(temperature=0.0, max_new_tokens=3), n=1)
    assert c.finish_reason == "length"
    assert c.completion_tokens == 3


def test_assistant_continuation_continues_the_prefill(served, tiny_model_dir):
    """Greedy continuation through the server equals greedy generation from the rendered, still-open prefix."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    teacher = OpenAITeacher(served.model, base_url=served.base_url, tokenizer=tiny_model_dir)
    assert teacher.continuation == "completions"
    [[c]] = teacher.generate([PREFILLED], SamplingParams(temperature=0.0, max_new_tokens=6), n=1)

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    rendered = tokenizer.apply_chat_template(PREFILLED, tokenize=False, continue_final_message=True)
    assert rendered.endswith("<|im_start|>assistant\n<think> First add")  # the turn is left open
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    ids = tokenizer(rendered, return_tensors="pt").input_ids
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=6, do_sample=False)
    expected = tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
    assert c.text == expected
    assert c.completion_tokens == out.shape[1] - ids.shape[1]


def test_chat_continuation_on_transformers_serve_names_the_fix(served):
    # transformers serve 5.x rejects continue_final_message with 422: the error must say what to do
    teacher = OpenAITeacher(served.model, base_url=served.base_url, continuation="chat", backoff_base=0.01)
    with pytest.raises(TeacherRequestError, match=r"HTTP 422.*tokenizer="):
        teacher.generate([PREFILLED], SamplingParams(max_new_tokens=2))


# ---------------------------------------------------------------------------------------------------------------
# a tiny scripted server: answers errors first, then echoes the request
# ---------------------------------------------------------------------------------------------------------------


class ScriptedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, script):
        super().__init__(("127.0.0.1", 0), _ScriptedHandler)
        self.script = list(script)  # ("status", code, body, headers) | ("sleep", seconds)
        self.requests: list[dict] = []
        self.lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _ScriptedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep the test output clean
        pass

    def _send(self, code: int, body, headers=()) -> None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            self.server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
            action = self.server.script.pop(0) if self.server.script else None
        if action and action[0] == "sleep":
            time.sleep(action[1])
        elif action:
            _, code, payload, headers = action
            return self._send(code, payload, headers)
        # success: echo the seed so the test can check which request landed where; no `usage` when seed is 0
        answer = {"choices": [{"message": {"content": f"seed {body['seed']}"}, "finish_reason": "stop"}]}
        if body["seed"] != 0:
            answer["usage"] = {"completion_tokens": 5}
        self._send(200, answer)


@pytest.fixture
def scripted():
    servers = []

    def start(script=()):
        server = ScriptedServer(script)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_retries_on_5xx_and_429_then_succeeds(scripted, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    server = scripted(
        [
            ("status", 500, "boom", ()),
            ("status", 429, {"error": "slow down"}, [("Retry-After", "0")]),
            ("status", 503, "unavailable", ()),
        ]
    )
    teacher = OpenAITeacher("m", base_url=server.base_url, max_retries=3, backoff_base=0.01, backoff_max=0.05)
    [[c]] = teacher.generate([USER], SamplingParams(max_new_tokens=32, seed=5))
    assert c.text == "seed 5" and c.finish_reason == "stop" and c.completion_tokens == 5
    assert len(server.requests) == 4
    last = server.requests[-1]
    assert last["path"] == "/v1/chat/completions"
    assert last["headers"]["Authorization"] == f"Bearer {SECRET}"
    assert last["body"]["max_tokens"] == 32 and "n" not in last["body"]
    assert SECRET not in repr(teacher)


def test_timeout_is_retried(scripted):
    server = scripted([("sleep", 1.5)])
    teacher = OpenAITeacher(
        "m", base_url=server.base_url, request_timeout=0.3, max_retries=1, backoff_base=0.01
    )
    [[c]] = teacher.generate([USER], SamplingParams(seed=9))
    assert c.text == "seed 9"
    assert len(server.requests) == 2


def test_n_requests_with_distinct_seeds_in_prompt_order(scripted):
    server = scripted()
    teacher = OpenAITeacher("m", base_url=server.base_url, max_concurrency=3)
    prompts = [USER, [{"role": "user", "content": "Hello"}]]
    out = teacher.generate(prompts, SamplingParams(seed=100), n=3)
    assert len(server.requests) == 6
    assert sorted(r["body"]["seed"] for r in server.requests) == list(range(100, 106))
    assert [[c.text for c in samples] for samples in out] == [
        [f"seed {request_seed(100, i, j, 3)}" for j in range(3)] for i in range(2)
    ]
    for request in server.requests:
        i = (request["body"]["seed"] - 100) // 3
        assert request["body"]["messages"] == prompts[i]


def test_missing_usage_falls_back_to_counting(scripted):
    server = scripted()
    [[c]] = OpenAITeacher("m", base_url=server.base_url).generate([USER], SamplingParams(seed=0))
    assert c.text == "seed 0" and c.completion_tokens == 2  # "seed", "0"


def test_client_error_is_not_retried_and_key_is_redacted(scripted, monkeypatch):
    monkeypatch.setenv("MY_TEACHER_KEY", SECRET)
    # a server that echoes the key back in its error body must not make us print it
    server = scripted([("status", 400, {"error": f"bad request from Bearer {SECRET}"}, ())])
    teacher = OpenAITeacher("m", base_url=server.base_url, api_key_env="MY_TEACHER_KEY", backoff_base=0.01)
    with pytest.raises(TeacherRequestError) as info:
        teacher.generate([USER], SamplingParams())
    assert len(server.requests) == 1
    message = str(info.value)
    assert "HTTP 400" in message and server.base_url in message
    assert SECRET not in message and "<redacted>" in message


def test_unauthorised_says_which_variable(scripted, monkeypatch):
    monkeypatch.delenv("MY_TEACHER_KEY", raising=False)
    server = scripted([("status", 401, {"error": "no key"}, ())])
    teacher = OpenAITeacher("m", base_url=server.base_url, api_key_env="MY_TEACHER_KEY")
    with pytest.raises(TeacherRequestError, match=r"\$MY_TEACHER_KEY is NOT set"):
        teacher.generate([USER], SamplingParams())
    assert "Authorization" not in server.requests[0]["headers"]


def test_unreachable_server_fails_after_retries_with_url_and_last_error(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    port = free_port()  # nothing listens there any more
    teacher = OpenAITeacher("m", base_url=f"http://127.0.0.1:{port}/v1", max_retries=2, backoff_base=0.01)
    started = time.monotonic()
    with pytest.raises(TeacherRequestError) as info:
        teacher.generate([USER, USER], SamplingParams(), n=2)
    message = str(info.value)
    assert f"http://127.0.0.1:{port}/v1/chat/completions" in message
    assert "after 3 attempt(s)" in message and "ConnectError" in message
    assert SECRET not in message
    assert time.monotonic() - started < 10


def test_generate_works_inside_a_running_event_loop(scripted):
    server = scripted()
    teacher = OpenAITeacher("m", base_url=server.base_url)

    async def notebook_cell():
        return teacher.generate([USER], SamplingParams(seed=11))

    [[c]] = asyncio.run(notebook_cell())
    assert c.text == "seed 11"


# ---------------------------------------------------------------------------------------------------------------
# pure helpers
# ---------------------------------------------------------------------------------------------------------------


def test_parse_response_rebuilds_reasoning_and_maps_finish_reasons():
    data = {
        "choices": [
            {"message": {"content": "So \\boxed{7}.", "reasoning_content": "3+4=7"}, "finish_reason": "stop"}
        ],
        "usage": {"completion_tokens": 12},
    }
    c = parse_response(data, chat=True)
    assert c.text == "<think>\n3+4=7\n</think>\nSo \\boxed{7}." and c.completion_tokens == 12
    text = parse_response({"choices": [{"text": "abc", "finish_reason": "length"}]}, chat=False)
    assert text.finish_reason == "length" and text.text == "abc"
    assert [
        normalize_finish_reason(r) for r in ("length", "max_tokens", "stop", None, "eos_token", "abort")
    ] == ["length", "length", "stop", "unknown", "stop", "unknown"]  # never "stop" for a reason nobody gave
    with pytest.raises(ValueError, match="no choices"):
        parse_response({"error": "x"}, chat=True)


def test_payloads_backoff_and_validation():
    body = chat_payload(
        "m", PREFILLED, SamplingParams(stop=["</s>"]), 3, continue_final=True, extra_body={"seed": None}
    )
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
    assert body["stop"] == ["</s>"] and "seed" not in body  # None in extra_body removes a field
    delays = [backoff_delay(a, 1.0, 8.0) for a in range(6)]
    assert all(0.5 <= d <= 8.0 for d in delays) and delays[0] <= 1.0
    assert backoff_delay(0, 1.0, 8.0, retry_after=30) == 8.0
    assert normalize_base_url("http://h:8000/") == "http://h:8000/v1"
    assert normalize_base_url("https://api.example.com/v1/") == "https://api.example.com/v1"
    with pytest.raises(ValueError, match=r"prompt 1, message 0"):
        validate_prompts([USER, [{"role": "user", "content": None}]])
    with pytest.raises(ValueError, match="needs tokenizer"):
        OpenAITeacher("m", continuation="completions")
