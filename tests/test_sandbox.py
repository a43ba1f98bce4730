"""The local code sandbox against hostile programs: each one gets a clear verdict and nothing outside is harmed.

Every test runs a real program in a real sandbox process (Landlock + seccomp + rlimits on this kernel) and checks
the effect from the outside: the file still there, the server never reached, the process gone, the secret absent.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from openr1_data.curate import sandbox as sb
from openr1_data.curate.sandbox import Job, LocalSandbox, SandboxLimits

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the local sandbox needs Linux")
needs_landlock = pytest.mark.skipif(not sb.landlock_abi(), reason="this kernel has no Landlock")


@pytest.fixture
def root(tmp_path) -> Path:
    folder = tmp_path / "sandbox-root"
    folder.mkdir()
    return folder


@pytest.fixture
def sandbox(root) -> LocalSandbox:
    return LocalSandbox(
        SandboxLimits(timeout_seconds=3, memory_mb=1024, max_output_bytes=64 * 1024), root=str(root)
    )


def gone(pid: int) -> bool:
    """True when the process no longer exists (or is a zombie waiting for init to reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                members.append(int(entry.name))
    return members


def run(sandbox: LocalSandbox, program: str, **job) -> sb.ExecutionResult:
    return sandbox.run(Job(textwrap.dedent(program), **job))


def test_an_ordinary_program_runs_and_its_folder_is_removed(sandbox, root):
    result = run(
        sandbox,
        """
        import threading, numpy
        out = []
        t = threading.Thread(target=lambda: out.append(int(numpy.arange(int(input())).sum())))
        t.start(); t.join()
        open("scratch.txt", "w").write("its own folder is writable")
        print(out[0], open("scratch.txt").read())
        """,
        stdin="5\n",
    )
    assert result.status == sb.OK, result
    assert result.stdout == b"10 its own folder is writable\n"
    assert gone(result.pid) and list(root.iterdir()) == []


def test_infinite_loop_times_out_and_leaves_no_process(sandbox):
    start = time.perf_counter()
    result = run(sandbox, "while True:\n    pass\n")
    assert result.status == sb.TIMEOUT and "wall clock" in result.detail
    assert time.perf_counter() - start < 6
    assert gone(result.pid) and group_members(result.pid) == []


def test_cpu_limit_is_a_timeout_too(sandbox):
    result = sandbox.run(
        Job("while True:\n    pass\n", limits=SandboxLimits(timeout_seconds=20, cpu_seconds=1))
    )
    assert result.status == sb.TIMEOUT and "CPU" in result.detail
    assert result.wall_seconds < 10


def test_fork_bomb_cannot_fork(sandbox):
    before = len(list(Path("/proc").glob("[0-9]*")))
    result = run(
        sandbox,
        """
        import os, subprocess
        for attempt in (os.fork, lambda: subprocess.run(["true"])):
            try:
                attempt()
                print("forked")
            except OSError as error:
                print("refused", error.errno)
        while True:
            os.fork()
        """,
    )
    assert result.status == sb.ERROR and "BlockingIOError" in result.detail
    assert result.stdout.count(b"refused") == 2 and b"forked" not in result.stdout
    assert group_members(result.pid) == []
    # nothing multiplied (the margin is for other people's jobs on this machine)
    assert len(list(Path("/proc").glob("[0-9]*"))) < before + 20


def test_50_gb_allocation_is_a_memory_verdict(sandbox):
    result = run(sandbox, "block = bytearray(50 * 1024**3)\n")
    assert result.status == sb.MEMORY and "MemoryError" in result.detail


def test_printing_1_gb_stops_at_the_output_cap(sandbox):
    start = time.perf_counter()
    result = run(
        sandbox, "import sys\nchunk = 'x' * 2**20\nfor _ in range(1024):\n    sys.stdout.write(chunk)\n"
    )
    assert result.status == sb.OUTPUT_LIMIT
    assert len(result.stdout) <= 64 * 1024
    assert time.perf_counter() - start < 5


def test_os_exit_is_an_ordinary_exit_code(sandbox):
    assert run(sandbox, "import os\nos._exit(3)\n").returncode == 3
    assert run(sandbox, "import os\nos._exit(3)\n").status == sb.ERROR
    quiet = run(sandbox, "import os\nprint('lost in the buffer')\nos._exit(0)\n")
    assert quiet.status == sb.OK and quiet.stdout == b""  # the unflushed output is gone, as outside a sandbox


@needs_landlock
def test_files_outside_the_work_folder_survive_a_program_that_attacks_them(sandbox, tmp_path):
    # World-writable on purpose: ordinary permissions would not stop this process (root here), Landlock must.
    victims = tmp_path / "victims"
    victims.mkdir()
    victim = victims / "precious.txt"
    victim.write_text("keep me")
    victims.chmod(0o777)
    victim.chmod(0o666)
    result = run(
        sandbox,
        f"""
        import os, shutil
        victim, folder = {str(victim)!r}, {str(victims)!r}
        attacks = {{
            "remove": lambda: os.remove(victim),
            "overwrite": lambda: open(victim, "w").write("gone"),
            "append": lambda: open(victim, "a").write("more"),
            "truncate": lambda: os.truncate(victim, 0),
            "rename": lambda: os.rename(victim, victim + ".moved"),
            "chmod": lambda: os.chmod(victim, 0),
            "new_file": lambda: open(os.path.join(folder, "new.txt"), "w").write("x"),
            "symlink": lambda: os.symlink("/etc/passwd", os.path.join(folder, "link")),
            "rmtree": lambda: shutil.rmtree(folder),
            "home": lambda: open(os.path.expanduser("~/../../outside.txt"), "w").write("x"),
        }}
        for name, attack in attacks.items():
            try:
                attack()
                print("DONE", name)
            except OSError:
                print("blocked", name)
        """,
    )
    assert result.status == sb.OK, result
    assert b"DONE" not in result.stdout and result.stdout.count(b"blocked") == 10, result.stdout
    assert victim.read_text() == "keep me" and sorted(p.name for p in victims.iterdir()) == ["precious.txt"]
    assert oct(victim.stat().st_mode & 0o777) == "0o666"


def test_a_socket_cannot_reach_a_server_on_this_machine(sandbox):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    port = server.getsockname()[1]
    accepted: list[object] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept())
            except TimeoutError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        result = run(
            sandbox,
            f"""
            import socket
            attempts = {{
                "tcp": lambda: socket.create_connection(("127.0.0.1", {port}), timeout=1),
                "udp": lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("127.0.0.1", {port})),
                "unix": lambda: socket.socket(socket.AF_UNIX).connect("/tmp/.X11-unix/X0"),
                "dns": lambda: socket.getaddrinfo("huggingface.co", 443),
            }}
            for name, attempt in attempts.items():
                try:
                    attempt()
                    print("CONNECTED", name)
                except OSError as error:
                    print("blocked", name, error.errno)
            """,
        )
        time.sleep(0.5)
    finally:
        stop.set()
        thread.join()
        server.close()
    assert result.status == sb.OK, result
    assert b"CONNECTED" not in result.stdout and result.stdout.count(b"blocked") == 4, result.stdout
    assert accepted == []  # the listening server never saw a connection


def test_secrets_are_not_in_the_environment_or_readable(sandbox, tmp_path, monkeypatch):
    secret = "hf_" + "s3cr3t" * 6
    for name in ("HF_TOKEN", "OPENAI_API_KEY", "MY_SERVICE_TOKEN", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, secret)
    token_file = tmp_path / "token"
    token_file.write_text(secret)
    token_file.chmod(0o644)
    result = run(
        sandbox,
        f"""
        import os
        print(sorted(os.environ))
        print(os.environ.get("HF_TOKEN"))
        for path in ({str(token_file)!r}, f"/proc/{{os.getppid()}}/environ", "/proc/1/environ"):
            try:
                print("LEAKED", open(path).read())
            except OSError as error:
                print("blocked", error.errno)
        try:  # the parent's home folder, where ~/.cache/huggingface/token lives
            print("LEAKED", os.listdir({str(Path.home())!r}))
        except OSError as error:
            print("blocked", error.errno)
        """,
    )
    assert result.status == sb.OK, result
    assert secret.encode() not in result.stdout and secret not in result.stderr
    names = eval(result.stdout.splitlines()[0])  # a printed list of names, from our own program
    assert set(names) <= set(sb.SANDBOX_ENV) | {"HOME", "TMPDIR"}
    assert result.stdout.splitlines()[1] == b"None"
    if sb.landlock_abi():
        assert b"LEAKED" not in result.stdout and result.stdout.count(b"blocked") == 4


@pytest.mark.skipif(sb.landlock_abi() < 6, reason="signal scoping needs Landlock ABI 6")
def test_a_program_cannot_signal_processes_outside(sandbox):
    target = subprocess.Popen(["sleep", "30"])
    try:
        result = run(
            sandbox,
            f"""
            import os, signal
            for pid in ({target.pid}, os.getppid()):
                try:
                    os.kill(pid, signal.SIGKILL)
                    print("KILLED", pid)
                except OSError as error:
                    print("blocked", error.errno)
            """,
        )
        assert b"KILLED" not in result.stdout and result.stdout.count(b"blocked") == 2
        assert target.poll() is None
    finally:
        target.kill()
        target.wait()


PARENT = """
import sys, time
from openr1_data.curate.sandbox import Job, LocalSandbox, SandboxLimits
LocalSandbox(SandboxLimits(timeout_seconds=120), root=sys.argv[1]).run(Job("while True:\\n    pass\\n"))
"""


def test_the_sandboxed_process_dies_with_a_killed_parent(root):
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(root)], cwd=Path(__file__).resolve().parent.parent
    )
    try:
        deadline = time.time() + 30
        children: list[int] = []
        while not children and time.time() < deadline:
            time.sleep(0.1)
            for entry in Path("/proc").glob("[0-9]*"):
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) == parent.pid:
                    children.append(int(entry.name))
        assert children, "the parent never started its sandbox"
        time.sleep(0.5)  # the candidate is spinning
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        deadline = time.time() + 5
        while not all(gone(pid) for pid in children) and time.time() < deadline:
            time.sleep(0.05)
        assert all(gone(pid) for pid in children)
        # The killed parent's job folder is left behind; the next sandbox started there removes it.
        left = list(root.glob("openr1-sandbox-*"))
        assert [p.name.split("-")[2] for p in left] == [str(parent.pid)]
        LocalSandbox(root=str(root))
        assert list(root.iterdir()) == []
    finally:
        if parent.poll() is None:
            parent.kill()


def test_isolation_report_names_each_layer():
    report = sb.isolation()
    assert report["seccomp"] is sb.seccomp_available()
    assert report["files_outside_workdir"] == (
        "read-only view (Landlock)" if sb.landlock_abi() else "NOT protected"
    )


def test_run_many_keeps_the_order_and_runs_in_parallel(root):
    sandbox = LocalSandbox(SandboxLimits(timeout_seconds=5), max_workers=2, root=str(root))
    start = time.perf_counter()
    results = sandbox.run_many([Job(f"import time\ntime.sleep(1)\nprint({i})") for i in range(4)])
    assert [r.stdout for r in results] == [b"0\n", b"1\n", b"2\n", b"3\n"]
    assert time.perf_counter() - start < 3.8  # two at a time: about 2 s, never 4


def test_bad_limits_are_refused_before_any_run():
    with pytest.raises(ValueError, match="timeout_seconds"):
        SandboxLimits(timeout_seconds=0)
