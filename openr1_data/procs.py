"""Child processes that die with their parent: a `kill -9` of a stage leaves no worker or server behind.

Every stage that starts processes (verify's and filter's workers, served teachers, a sandbox) sets this up in the
child, with two mechanisms:
- Linux's parent-death signal (`prctl(PR_SET_PDEATHSIG, SIGKILL)`): the kernel kills the child as soon as its
  parent dies, even when the child is stuck in C code. The kernel sends it when the *thread* that started the
  child exits, so it is only armed when that thread outlives the child (`use_signal`; pools and servers started
  from the main thread, or made and shut down inside one call).
- A watchdog thread that checks every `poll_seconds` that the parent is still the child's parent (a child whose
  parent died is re-parented) and exits otherwise: the fallback everywhere else (other systems, children of
  short-lived threads, a signal lost to a race).

    # a process pool:
    initializer, initargs = watched_initializer(my_init, (options,))
    ProcessPoolExecutor(workers, initializer=initializer, initargs=initargs)
    # pools made by a library that takes no initializer (datasets.map(num_proc=...), with its manager process):
    with forked_children_die_with_us():
        dataset.map(fn, num_proc=4)
    # any command (a server):
    subprocess.Popen(watched_command(["-m", "transformers.cli.transformers", "serve", ...]))
"""

from __future__ import annotations

import argparse
import ctypes
import os
import runpy
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_WATCHED: set[tuple[int, int]] = set()  # (this pid, watched parent pid): forked children start unwatched
_WATCHED_LOCK = threading.Lock()


def set_parent_death_signal(sig: int = signal.SIGKILL) -> bool:
    """Ask Linux to send `sig` to this process when the thread that started it exits; False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def safe_to_signal() -> bool:
    """True on the main thread: children it starts may use the parent-death signal (it lives as long as the
    process). A child of another thread would be killed when that thread ends, so it relies on the watchdog."""
    return threading.current_thread() is threading.main_thread()


def die_with_parent(
    parent_pid: int, *, use_signal: bool = True, poll_seconds: float = 0.5, kill_group: bool = False
) -> None:
    """Call in a child process: exit as soon as process `parent_pid` (this process's parent) dies.

    Arms the parent-death signal (if `use_signal`) and starts a watchdog thread. `kill_group`: a child that leads
    its own process group (a server started with `start_new_session=True`) takes its whole group with it.
    Idempotent per process.
    """
    key = (os.getpid(), int(parent_pid))
    with _WATCHED_LOCK:
        if key in _WATCHED:
            return
        _WATCHED.add(key)
    if use_signal:
        set_parent_death_signal()
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        _exit_orphaned(parent_pid, kill_group)
    threading.Thread(
        target=_watch, args=(parent_pid, poll_seconds, kill_group), name="openr1-parent-watchdog", daemon=True
    ).start()


def _watch(parent_pid: int, poll_seconds: float, kill_group: bool) -> None:
    while os.getppid() == parent_pid:
        time.sleep(poll_seconds)
    _exit_orphaned(parent_pid, kill_group)


def _exit_orphaned(parent_pid: int, kill_group: bool) -> None:
    try:
        sys.stderr.write(f"[openr1-data] parent process {parent_pid} is gone: process {os.getpid()} exits\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    if kill_group and os.getpgid(0) == os.getpid():
        os.killpg(os.getpid(), signal.SIGKILL)  # the group leader: its children go too (and so does it)
    os._exit(1)


def _init_watched(
    parent_pid: int, use_signal: bool, initializer: Callable[..., Any] | None, initargs: tuple
) -> None:
    die_with_parent(parent_pid, use_signal=use_signal)
    if initializer is not None:
        initializer(*initargs)


def watched_initializer(
    initializer: Callable[..., Any] | None = None, initargs: Sequence[Any] = ()
) -> tuple[Callable[..., None], tuple]:
    """`(initializer, initargs)` for a process pool whose workers die with this process, then run `initializer`.

    Call it where the pool is made (it records this process's pid, and whether the signal is safe: see
    `safe_to_signal`). Picklable, so it works with the fork and spawn start methods alike.
    """
    return _init_watched, (os.getpid(), safe_to_signal(), initializer, tuple(initargs))


_FORK_STATE = {"active": 0, "signal": False, "hooked": False}
_FORK_LOCK = threading.Lock()


def _before_fork() -> None:
    _FORK_STATE["signal"] = safe_to_signal()  # recorded in the parent, read by the child (fork copies memory)


def _after_fork_in_child() -> None:
    if _FORK_STATE["active"]:
        _FORK_STATE["active"] = 0  # the child's own forks are its business
        die_with_parent(os.getppid(), use_signal=bool(_FORK_STATE["signal"]))


@contextmanager
def forked_children_die_with_us() -> Iterator[None]:
    """While inside, every process this one forks dies with it: for libraries whose pools take no initializer
    (`datasets.map(num_proc=...)` forks its workers and a manager process). Spawned processes and `subprocess`
    commands are not forks of this interpreter: use `watched_initializer` / `watched_command` for those."""
    with _FORK_LOCK:
        if not _FORK_STATE["hooked"] and hasattr(os, "register_at_fork"):
            os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
            _FORK_STATE["hooked"] = True
        _FORK_STATE["active"] += 1
    try:
        yield
    finally:
        with _FORK_LOCK:
            _FORK_STATE["active"] -= 1


def watched_command(python_args: Sequence[str], *, python: str = sys.executable) -> list[str]:
    """The command line that runs `python python_args...` (`-m module ...` or `script.py ...`) as a child that
    dies with this process (and takes its process group with it when it leads one)."""
    flags = [] if safe_to_signal() else ["--no-signal"]
    return [python, "-m", "openr1_data.procs", "--parent", str(os.getpid()), *flags, "--", *python_args]


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m openr1_data.procs --parent PID [--no-signal] -- (-m module | script.py) args...`"""
    parser = argparse.ArgumentParser(prog="python -m openr1_data.procs", description=main.__doc__)
    parser.add_argument("--parent", type=int, required=True, help="pid of the process to die with")
    parser.add_argument("--no-signal", action="store_true", help="only the watchdog (no parent-death signal)")
    parser.add_argument("target", nargs=argparse.REMAINDER, help="-m module args... | script.py args...")
    args = parser.parse_args(argv)
    target = list(args.target)
    if target[:1] == ["--"]:
        target = target[1:]
    if not target:
        parser.error("nothing to run: give -m module args... or script.py args...")
    die_with_parent(args.parent, use_signal=not args.no_signal, kill_group=True)
    if target[0] == "-m":
        if len(target) < 2:
            parser.error("-m needs a module name")
        sys.argv = [target[1], *target[2:]]
        runpy.run_module(target[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = list(target)
        runpy.run_path(target[0], run_name="__main__")


if __name__ == "__main__":
    main()
