"""Run untrusted model-written programs: one small executor interface, a local sandbox as the default.

    sandbox = LocalSandbox(SandboxLimits(timeout_seconds=5, memory_mb=1024))
    result = sandbox.run(Job(program="print(input()[::-1])", stdin="abc\\n"))
    result.status, result.stdout  # ("ok", b"cba\\n")

`Executor` is the interface: `run(job) -> ExecutionResult` (and `run_many`). The local sandbox is built and tested
here; a remote sandbox (E2B, Morph, Piston, as open-r1 supports) is another implementation of the same two methods.

What the local sandbox does for every job (Linux; see `sandbox_boot.py` for the order inside the process):

- a fresh process (`python -I -B -S`, site-packages on its path) in its own session, so the whole process group is killed at the end or at the
  wall-clock limit; it dies with its parent (`PR_SET_PDEATHSIG`, checked against a race at start);
- limits: wall clock, CPU seconds, address space (`RLIMIT_AS`), file size (`RLIMIT_FSIZE`: caps stdout, stderr and
  every file it writes), open files, no core dumps;
- a fresh temporary working directory, removed afterwards; an environment built from an allowlist (no `HF_TOKEN`,
  no `*_API_KEY`, no `*TOKEN*`: nothing of the parent's environment is passed on);
- Landlock (Linux 5.13+): writes only inside the working directory, reads only the Python installation and a few
  system files (so `~/.cache/huggingface/token` and `/proc/<parent>/environ` cannot be read), no TCP, no signals
  to processes outside the sandbox;
- seccomp: no sockets, no new processes (a fork bomb gets `EAGAIN` at its first fork), no ptrace, no namespaces,
  mounts, io_uring, chmod/chown or extended attributes. As root, every capability is dropped first.

What it does not do: it does not hide files inside the allowed read paths (the Python installation), count the
disk space of many files (each file is capped by `RLIMIT_FSIZE`, not their total), or defend a test harness that
runs in the same process as the candidate from a candidate that tampers with it on purpose (see `code_verify.py`).
Without Landlock (older kernels) files outside the working directory are not protected; without seccomp the
network block is a Python-level one and processes are limited by `RLIMIT_NPROC` only where the kernel applies it
(not for uid 0): `LocalSandbox` refuses to start when it cannot stop a fork bomb, and `isolation()` says which
layers are active.
"""

from __future__ import annotations

import ctypes
import logging
import marshal
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Protocol

logger = logging.getLogger(__name__)

# Verdicts of one run.
OK = "ok"
ERROR = "error"  # the program exited with a non-zero code or an uncaught exception
TIMEOUT = "timeout"  # wall clock or CPU limit
MEMORY = "memory"  # MemoryError (RLIMIT_AS) or killed by the kernel for memory
OUTPUT_LIMIT = "output_limit"  # stdout or stderr reached the cap
SANDBOX_ERROR = "sandbox_error"  # the sandbox itself could not run the job (never the candidate's fault)
STATUSES = (OK, ERROR, TIMEOUT, MEMORY, OUTPUT_LIMIT, SANDBOX_ERROR)

JOB_PREFIX = "openr1-sandbox-"  # job folders: openr1-sandbox-<pid of the verifier>-<random>
SETUP_FAILED = 125  # exit code of the boot code when a requested isolation layer cannot be installed
RUN_MARK = "run"  # the boot code's last report line before the program starts
REPORT_FD = 3  # where a harness program writes its report lines (see `ExecutionResult.report`)

# The environment of every job: nothing is inherited, so no secret can leak through it.
SANDBOX_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "PYTHONHASHSEED": "0",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONIOENCODING": "utf-8",
    "OMP_NUM_THREADS": "1",  # numerical libraries: one thread, no per-core buffers against RLIMIT_AS
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
# System files a Python program may read besides the installation; device files (path, writable).
SYSTEM_READ_PATHS = ("/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/share/zoneinfo", "/etc/localtime",
                     "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d")  # fmt: skip
DEVICE_FILES = (("/dev/null", True), ("/dev/zero", False), ("/dev/urandom", False), ("/dev/random", False))


class SandboxUnavailable(RuntimeError):
    """The local sandbox cannot isolate programs on this machine; the message says what is missing."""


@dataclass(frozen=True)
class SandboxLimits:
    """Limits of one job."""

    timeout_seconds: float = 10.0  # wall clock
    cpu_seconds: int | None = None  # default: the wall-clock limit rounded up, plus one
    memory_mb: int = 2048  # address space (RLIMIT_AS)
    max_output_bytes: int = 4 * 1024 * 1024  # stdout, stderr and each file written (RLIMIT_FSIZE)
    max_open_files: int = 256

    def __post_init__(self) -> None:
        if self.timeout_seconds <= 0 or self.memory_mb < 64 or self.max_output_bytes < 1024:
            raise ValueError(
                f"sandbox limits: timeout_seconds must be > 0, memory_mb >= 64, max_output_bytes >= 1024; got {self}"
            )

    @property
    def cpu(self) -> int:
        return self.cpu_seconds if self.cpu_seconds is not None else int(self.timeout_seconds) + 1


@dataclass(frozen=True)
class Job:
    """One program to run: its source, what it reads on stdin, and its limits (None: the sandbox's)."""

    program: str
    stdin: str | bytes | None = None
    limits: SandboxLimits | None = None


@dataclass
class ExecutionResult:
    """What one run did. `stdout` is capped at `max_output_bytes`; `stderr` keeps its last 4 KiB; `report` holds
    the lines the program wrote to fd 3 (a test harness's per-test results) and the boot code's own lines
    (`uncaught <Type> <errno>`, `setup_failed <layer>`)."""

    status: str
    returncode: int | None = None
    stdout: bytes = b""
    stderr: str = ""
    report: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    max_rss_mb: float = 0.0
    detail: str = ""  # why, for sandbox errors and limits (never the program's output)
    pid: int | None = None  # of the sandbox process (gone when `run` returns)


class Executor(Protocol):
    """Runs programs in isolation. `run_many` may run jobs in parallel; results come back in job order."""

    def run(self, job: Job) -> ExecutionResult: ...

    def run_many(self, jobs: Sequence[Job]) -> list[ExecutionResult]: ...


# ---------------------------------------------------------------------------------------------------------------
# What this machine can enforce
# ---------------------------------------------------------------------------------------------------------------


@cache
def landlock_abi() -> int:
    """The Landlock ABI version the kernel offers (0: none)."""
    if not sys.platform.startswith("linux"):
        return 0
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    version = libc.syscall(444, None, ctypes.c_size_t(0), 1)  # LANDLOCK_CREATE_RULESET_VERSION
    return max(0, int(version))


@cache
def seccomp_available() -> bool:
    """Whether seccomp filters can be installed here (Linux on x86_64 or aarch64)."""
    from openr1_data.curate.sandbox_boot import ARCHES

    return (
        sys.platform.startswith("linux")
        and os.uname().machine in ARCHES
        and Path("/proc/sys/kernel/seccomp/actions_avail").exists()
    )


def isolation() -> dict[str, object]:
    """Which isolation layers the local sandbox installs on this machine."""
    return {
        "platform": sys.platform,
        "landlock_abi": landlock_abi(),
        "seccomp": seccomp_available(),
        "network": "seccomp (no sockets)" if seccomp_available() else "python-level socket block only",
        "files_outside_workdir": "read-only view (Landlock)" if landlock_abi() else "NOT protected",
        "process_creation": "blocked (seccomp)"
        if seccomp_available()
        else ("RLIMIT_NPROC" if os.geteuid() != 0 else "NOT limited"),
        "capabilities": "all dropped (running as root)" if os.geteuid() == 0 else "none held",
    }


@cache
def _read_paths() -> tuple[str, ...]:
    """The Python installation (prefixes, stdlib, site-packages, the interpreter) plus the system paths."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    paths.update(p for p in sysconfig.get_paths().values() if p)
    paths.update(p for p in sys.path if p and os.path.isdir(p) and "site-packages" in p)
    paths.add(os.path.dirname(os.path.realpath(sys.executable)))
    return tuple(sorted(paths | set(SYSTEM_READ_PATHS)))


@cache
def _site_paths() -> tuple[str, ...]:
    """The site-packages folders on this interpreter's path, in order (the sandbox runs with `-S`)."""
    return tuple(
        p for p in sys.path if os.path.basename(p) in ("site-packages", "dist-packages") and os.path.isdir(p)
    )


def _process_count(uid: int) -> int:
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                count += entry.stat().st_uid == uid
            except OSError:
                pass
    return count


@cache
def _boot_code() -> bytes:
    """`sandbox_boot.py` compiled once, as marshal bytes (compiling it in every job would cost ~3 ms)."""
    source = Path(__file__).with_name("sandbox_boot.py").read_text(encoding="utf-8")
    return marshal.dumps(compile(source, "sandbox_boot.py", "exec"))


# The interpreter runs the compiled boot code: `-S` (no `site`: sandbox_boot adds site-packages itself), `-I`
# (no PYTHON* variables, no user site, no current folder on the path), `-B` (no bytecode files).
BOOT_LOADER = "import marshal, sys; exec(marshal.loads(open(sys.argv[1], 'rb').read()))"


# ---------------------------------------------------------------------------------------------------------------
# The local sandbox
# ---------------------------------------------------------------------------------------------------------------


class LocalSandbox:
    """Runs each job in a fresh, locked-down Python process on this machine (see the module docstring).

    `max_workers` jobs run at once in `run_many` (default: the number of cores); each job is watched by a thread of
    this process, which costs nothing while the job runs. `root`: where the per-job temporary folders are made.
    """

    def __init__(
        self, limits: SandboxLimits | None = None, max_workers: int | None = None, root: str | None = None
    ):
        if not sys.platform.startswith("linux"):
            raise SandboxUnavailable(
                "the local code sandbox needs Linux (prctl, seccomp, Landlock); on this platform use a remote "
                "executor or run verification on a Linux machine"
            )
        if not seccomp_available() and os.geteuid() == 0:
            raise SandboxUnavailable(
                "the local code sandbox cannot stop a fork bomb here: seccomp is not available and RLIMIT_NPROC "
                "does not apply to root. Run as an unprivileged user or on a kernel with seccomp."
            )
        self.limits = limits or SandboxLimits()
        self.max_workers = max(1, max_workers or os.cpu_count() or 1)
        self.python = sys.executable
        self.root = root  # where the per-job temporary folders go (default: the system temp folder)
        _remove_stale_folders(Path(root or tempfile.gettempdir()))
        if not landlock_abi():
            logger.warning(
                "code sandbox: Landlock is not available on this kernel; programs can write outside their temporary "
                "directory wherever this user can (network and process limits still apply)"
            )

    # -- one job ---------------------------------------------------------------------------------------------

    def _spec(self, job: Job, limits: SandboxLimits, workdir: Path) -> dict:
        rlimits = [
            ("RLIMIT_AS", limits.memory_mb * 2**20, limits.memory_mb * 2**20),
            ("RLIMIT_CPU", limits.cpu, limits.cpu + 1),
            ("RLIMIT_FSIZE", limits.max_output_bytes, limits.max_output_bytes),
            ("RLIMIT_NOFILE", limits.max_open_files, limits.max_open_files),
            ("RLIMIT_CORE", 0, 0),
        ]
        if not seccomp_available():  # the kernel counts this user's processes (root is exempt, refused above)
            cap = _process_count(os.getuid()) + 32
            rlimits.append(("RLIMIT_NPROC", cap, cap))
        return {
            "limits": rlimits,
            "landlock": landlock_abi(),
            "read_paths": list(_read_paths()),
            "write_paths": [str(workdir)],
            "device_files": [list(d) for d in DEVICE_FILES],
            "seccomp": seccomp_available(),
            "site_paths": list(_site_paths()),
            "program": job.program,
        }

    def run(self, job: Job) -> ExecutionResult:
        """Run one job and classify what happened; never raises for anything the program does."""
        limits = job.limits or self.limits
        start = time.perf_counter()
        jobdir = Path(tempfile.mkdtemp(prefix=f"{JOB_PREFIX}{os.getpid()}-", dir=self.root))
        try:
            return self._run_in(jobdir, job, limits, start)
        except OSError as error:  # could not start the interpreter, disk full, ...
            return ExecutionResult(
                SANDBOX_ERROR,
                detail=f"{type(error).__name__}: {error}",
                wall_seconds=time.perf_counter() - start,
            )
        finally:
            shutil.rmtree(jobdir, ignore_errors=True)

    def _run_in(self, jobdir: Path, job: Job, limits: SandboxLimits, start: float) -> ExecutionResult:
        workdir = jobdir / "work"
        workdir.mkdir(mode=0o700)
        env = {**SANDBOX_ENV, "HOME": str(workdir), "TMPDIR": str(workdir)}
        (jobdir / "spec").write_bytes(marshal.dumps(self._spec(job, limits, workdir)))
        (jobdir / "boot").write_bytes(_boot_code())
        stdin_data = job.stdin.encode() if isinstance(job.stdin, str) else (job.stdin or b"")
        (jobdir / "stdin").write_bytes(stdin_data)
        with (
            open(jobdir / "spec", "rb") as spec,
            open(jobdir / "stdin", "rb") as stdin,
            open(jobdir / "stdout", "wb") as stdout,
            open(jobdir / "stderr", "wb") as stderr,
            open(jobdir / "report", "wb") as report,
        ):
            argv = [self.python, "-I", "-B", "-S", "-c", BOOT_LOADER, str(jobdir / "boot")]
            argv += [str(os.getpid()), str(spec.fileno()), str(report.fileno())]
            proc = subprocess.Popen(
                argv,
                stdin=stdin,
                stdout=stdout,
                stderr=stderr,
                cwd=workdir,
                env=env,
                start_new_session=True,  # its own process group: killed as a whole
                pass_fds=(spec.fileno(), report.fileno()),
                close_fds=True,
            )
            returncode, rusage, timed_out = _wait(proc, limits.timeout_seconds)
        wall = time.perf_counter() - start
        out = (jobdir / "stdout").read_bytes()[: limits.max_output_bytes]
        err_size = (jobdir / "stderr").stat().st_size
        with open(jobdir / "stderr", "rb") as f:
            f.seek(max(0, err_size - 4096))
            err = f.read().decode("utf-8", "replace")
        lines = (jobdir / "report").read_bytes().decode("utf-8", "replace").splitlines()
        cpu = rusage.ru_utime + rusage.ru_stime
        result = ExecutionResult(
            OK,
            returncode,
            out,
            err,
            lines,
            wall,
            cpu,
            rusage.ru_maxrss / 1024,  # ru_maxrss: KiB on Linux
            pid=proc.pid,
        )
        result.status, result.detail = _classify(
            result,
            limits,
            timed_out,
            len(out) >= limits.max_output_bytes or err_size >= limits.max_output_bytes,
        )
        return result

    # -- many jobs -------------------------------------------------------------------------------------------

    def run_many(
        self, jobs: Sequence[Job], on_result: Callable[[int, ExecutionResult], None] | None = None
    ) -> list[ExecutionResult]:
        """Run jobs `max_workers` at a time; results in job order (`on_result(index, result)` as each ends)."""
        results: list[ExecutionResult | None] = [None] * len(jobs)

        def one(i: int) -> None:
            result = results[i] = self.run(jobs[i])
            if on_result is not None:
                on_result(i, result)

        _map_threads(one, range(len(jobs)), self.max_workers)
        return [r for r in results if r is not None]  # every job has its result once the pool is done


def _remove_stale_folders(root: Path) -> None:
    """Remove job folders a killed verifier left behind (their name carries the pid of the process that made them)."""
    for folder in root.glob(f"{JOB_PREFIX}*-*"):
        pid = folder.name[len(JOB_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:
            pass  # alive, someone else's


def _map_threads(fn: Callable[[int], None], items: Iterable[int], workers: int) -> None:
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sandbox") as pool:
        for future in [pool.submit(fn, i) for i in items]:
            future.result()


def _wait(proc: subprocess.Popen, timeout: float) -> tuple[int, resource.struct_rusage, bool]:
    """Wait for the job until the deadline, kill its whole process group, then reap it.

    The group is killed before the leader is reaped (it is still alive, or a zombie), so its id cannot have been
    reused by an unrelated process. A pidfd (Linux 5.3+) waits with a timeout without any thread; elsewhere a timer
    thread and `waitid(WNOWAIT)` agree through a lock.
    """
    timed_out = False
    if hasattr(os, "pidfd_open"):
        try:
            pidfd = os.pidfd_open(proc.pid)
        except OSError:  # a kernel without pidfds
            pidfd = None
        if pidfd is not None:
            try:
                poller = select.poll()
                poller.register(pidfd, select.POLLIN)
                deadline = time.monotonic() + timeout
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0 or poller.poll(max(1, int(left * 1000))):
                        break
                timed_out = time.monotonic() >= deadline and not poller.poll(0)
            finally:
                os.close(pidfd)
            _kill_group(proc.pid)
            return _reap(proc, timed_out)
    lock = threading.Lock()
    state = {"done": False, "timed_out": False}

    def on_deadline() -> None:
        with lock:
            if not state["done"]:
                state["timed_out"] = True
                _kill_group(proc.pid)

    timer = threading.Timer(timeout, on_deadline)
    timer.daemon = True
    timer.start()
    try:
        while True:
            try:
                os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
                break
            except InterruptedError:
                continue
        with lock:
            state["done"] = True
            _kill_group(proc.pid)  # stragglers of the group (none when seccomp blocks new processes)
    finally:
        timer.cancel()
    return _reap(proc, state["timed_out"])


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # nothing left (a zombie-only group)


def _reap(proc: subprocess.Popen, timed_out: bool) -> tuple[int, resource.struct_rusage, bool]:
    while True:
        try:
            _, status, rusage = os.wait4(proc.pid, 0)
            break
        except InterruptedError:
            continue
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: tell Popen so it does not wait again
    return proc.returncode, rusage, timed_out


def _classify(
    result: ExecutionResult, limits: SandboxLimits, timed_out: bool, output_full: bool
) -> tuple[str, str]:
    """The run's status from facts: setup failures, output cap, memory, time, exit code (in that order)."""
    # Lines after "run" come from the program's process and may be forged; a setup failure only counts before it.
    started = result.report.index(RUN_MARK) if RUN_MARK in result.report else len(result.report)
    setup = [line for line in result.report[:started] if line.startswith("setup_failed")]
    uncaught = [line.split()[1:] for line in result.report if line.startswith("uncaught ")]
    code = result.returncode
    if setup or (code == SETUP_FAILED and started == len(result.report)):
        return SANDBOX_ERROR, setup[0] if setup else "the sandbox exited before running the program"
    if output_full or any(u[:2] == ["OSError", "27"] for u in uncaught):  # EFBIG: RLIMIT_FSIZE reached
        return OUTPUT_LIMIT, f"output reached {limits.max_output_bytes} bytes"
    if any(u[:1] == ["MemoryError"] for u in uncaught):
        return MEMORY, f"MemoryError under a {limits.memory_mb} MiB address-space limit"
    if timed_out:
        return TIMEOUT, f"wall clock over {limits.timeout_seconds} s"
    # SIGXCPU comes from RLIMIT_CPU's soft limit, SIGKILL from its hard limit one second later.
    if code == -signal.SIGXCPU or (code == -signal.SIGKILL and result.cpu_seconds >= limits.cpu - 0.1):
        return TIMEOUT, f"CPU time over {limits.cpu} s"
    if code == -signal.SIGKILL:  # not ours, not the CPU limit: the kernel's OOM killer
        return MEMORY, "killed by the kernel (out of memory)"
    if code != 0:
        kind = uncaught[0][0] if uncaught else f"exit code {code}"
        return ERROR, kind
    return OK, ""


@cache
def default_sandbox() -> LocalSandbox:
    """A shared local sandbox with default limits (rewards and evaluation reuse it)."""
    return LocalSandbox()
