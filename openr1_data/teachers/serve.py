"""Start and stop a local OpenAI-compatible teacher server (`transformers serve`) for tests and pipelines.

    with start_transformers_serve("path/to/model") as server:
        # it decodes greedily unless a request carries a sampling generation config (SmolLM2's has no do_sample)
        sampling = {"generation_config": sampling_generation_config(server.model)}
        teacher = OpenAITeacher(server.model, base_url=server.base_url, tokenizer=server.model, extra_body=sampling)
        ...

The server runs in its own process group, writes its log to a file (a pipe could fill up and block it), and is
stopped on `stop()`, on leaving the `with` block, and at interpreter exit. It also dies with the process that
started it (`openr1_data.procs`): a `kill -9` of a pipeline leaves no server behind.
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from openr1_data.procs import watched_command

SERVE_INSTALL_HINT = 'pip install "openr1-data[serve]"'


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on `host` (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass
class LocalServer:
    """A running local server process; `base_url` is what `OpenAITeacher(base_url=...)` takes."""

    process: subprocess.Popen
    host: str
    port: int
    model: str
    log_path: Path
    _stopped: bool = field(default=False, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the server's log (for error messages)."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM to its process group, SIGKILL after `timeout`). Safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        if self.process.poll() is None:
            _signal_group(self.process, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self.process, signal.SIGKILL)
                self.process.wait(timeout=timeout)
        atexit.unregister(self.stop)

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    # the server was started in its own session, so its group id is its pid: this reaches its children too
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def wait_until_ready(server: LocalServer, timeout: float, path: str = "/health") -> None:
    """Poll `GET path` until it answers 200; raise with the log's tail if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        code = server.process.poll()
        if code is not None:
            raise RuntimeError(
                f"the teacher server exited with code {code} before answering on {server.root_url}{path}.\n"
                f"--- end of its log ({server.log_path}) ---\n{server.log_tail()}"
            )
        try:
            response = httpx.get(f"{server.root_url}{path}", timeout=2.0)
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}"
        except httpx.TransportError as exc:
            last = type(exc).__name__
        time.sleep(0.25)
    raise TimeoutError(
        f"the teacher server did not answer on {server.root_url}{path} within {timeout:.0f}s (last: {last}).\n"
        f"--- end of its log ({server.log_path}) ---\n{server.log_tail()}"
    )


def start_transformers_serve(
    model: str,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    device: str = "cpu",
    startup_timeout: float = 180.0,
    extra_args: Sequence[str] = (),
    log_path: str | Path | None = None,
    env: dict[str, str] | None = None,
) -> LocalServer:
    """Start `transformers serve MODEL --host HOST --port PORT --device DEVICE` and wait until it answers.

    The model is preloaded (passed as the forced model), so the first request does not pay for loading it.
    `port=None` picks a free port. Returns a `LocalServer`; call `stop()` or use it as a context manager.
    """
    missing = [name for name in ("fastapi", "uvicorn") if importlib.util.find_spec(name) is None]
    if missing:
        raise ImportError(f"`transformers serve` needs {missing}; install them with: {SERVE_INSTALL_HINT}")
    if log_path is None:
        handle, log_name = tempfile.mkstemp(prefix="openr1-transformers-serve-", suffix=".log")
        os.close(handle)
        log_path = log_name
    log_path = Path(log_path)
    chosen = port if port is not None else free_port(host)
    command = watched_command(  # dies with this process, even after a kill -9
        [
            "-m",
            "transformers.cli.transformers",
            "serve",
            str(model),
            "--host",
            host,
            "--port",
            str(chosen),
            "--device",
            device,
            *extra_args,
        ]
    )
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    server = LocalServer(process=process, host=host, port=chosen, model=str(model), log_path=log_path)
    atexit.register(server.stop)
    try:
        wait_until_ready(server, startup_timeout)
    except BaseException:
        server.stop()
        raise
    return server


def sampling_generation_config(model_path: str) -> str:
    """The model's generation config with sampling switched on, as JSON for `transformers serve`'s
    `generation_config` request field: the server samples only when the model's own config says `do_sample`
    (SmolLM2's does not), whatever `temperature` a request asks for."""
    from transformers import GenerationConfig

    config = GenerationConfig.from_pretrained(model_path).to_dict()
    config.pop("transformers_version", None)
    return json.dumps({**config, "do_sample": True})
