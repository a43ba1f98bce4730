"""The first code that runs inside a sandbox process (`python -I -B -S -c LOADER BOOT PARENT_PID SPEC_FD REPORT_FD`,
where the loader runs this file's compiled code from the file BOOT).

It locks the process down, then runs the untrusted program. Only small built-in parts of the standard library are
imported (start-up time is most of a short job's cost: `-S` skips `site` and the spec is `marshal`, not JSON),
and nothing of `openr1_data`: the package may live where the sandbox cannot read. The order matters:

1. die with the parent (`PR_SET_PDEATHSIG`), and exit at once if the parent is already gone;
2. read the job spec from its descriptor; move the report channel to fd 3 (where harness programs write);
3. resource limits: address space, CPU seconds, file size (caps stdout/stderr/report and files it writes),
   open files, no core dumps, processes (where the kernel counts them: not for uid 0);
4. as root: drop every capability (uid 0 without capabilities cannot bypass what follows);
5. Landlock: write only inside the work directory, read only the Python installation and a few system paths,
   no TCP bind/connect, no signals to processes outside the sandbox;
6. seccomp: no sockets, no new processes (threads are allowed), no ptrace, namespaces, mounts, io_uring, chmod,
   chown or extended attributes. Where seccomp is missing, a Python-level socket block is the (weak) fallback;
7. put the installation's site-packages folders on `sys.path` (what `site` would have done, without running
   `.pth` files) and run the program as `__main__`; an uncaught exception is reported on fd 3 as
   `uncaught <Type> <errno>`.

A layer the spec asks for that cannot be installed ends the process with exit code 125 and `setup_failed <layer>`
on the report channel: the sandbox fails closed, never runs the program half-isolated.
"""

import ctypes
import marshal
import os
import resource
import signal
import struct
import sys

SETUP_FAILED = 125
REPORT_FD = 3

PR_SET_PDEATHSIG = 1
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.prctl.restype = ctypes.c_int


def report(line):
    try:
        os.write(REPORT_FD, (line + "\n").encode())
    except OSError:
        pass


def fail(layer, detail=""):
    report(f"setup_failed {layer} {detail}".strip())
    os._exit(SETUP_FAILED)


def prctl(option, arg2=0, arg3=0, arg4=0, arg5=0):
    if _libc.prctl(option, ctypes.c_ulong(arg2), ctypes.c_ulong(arg3), arg4, arg5) != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))


# ---------------------------------------------------------------------------------------------------------------
# Capabilities
# ---------------------------------------------------------------------------------------------------------------


def drop_capabilities():
    """Empty the bounding set and the effective/permitted/inheritable sets (uid 0 keeps only file ownership)."""
    for cap in range(64):
        if _libc.prctl(PR_CAPBSET_DROP, ctypes.c_ulong(cap), 0, 0, 0) != 0 and ctypes.get_errno() != 22:
            raise OSError(ctypes.get_errno(), "PR_CAPBSET_DROP")
    header = struct.pack("Ii", 0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = bytes(24)  # two {effective, permitted, inheritable} u32 triples, all zero
    nr = {"x86_64": 126, "aarch64": 91}[os.uname().machine]
    if _libc.syscall(nr, ctypes.c_char_p(header), ctypes.c_char_p(data)) != 0:
        raise OSError(ctypes.get_errno(), "capset")


# ---------------------------------------------------------------------------------------------------------------
# Landlock (Linux 5.13+): the filesystem view, TCP, signals
# ---------------------------------------------------------------------------------------------------------------

LL_CREATE, LL_ADD_RULE, LL_RESTRICT = 444, 445, 446  # the same numbers on every architecture
LL_RULE_PATH_BENEATH = 1
FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_ABI1 = (1 << 13) - 1  # execute .. make_sym
FS_REFER, FS_TRUNCATE, FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX, SCOPE_SIGNAL = 1 << 0, 1 << 1
FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV
READ_RIGHTS = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR


def landlock(abi, read_paths, write_paths, device_files):
    """Restrict this process to reading `read_paths`, writing `write_paths` (and the given device files)."""
    handled = FS_ABI1 | (FS_REFER if abi >= 2 else 0) | (FS_TRUNCATE if abi >= 3 else 0)
    handled |= FS_IOCTL_DEV if abi >= 5 else 0
    net = NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0
    scoped = SCOPE_ABSTRACT_UNIX | SCOPE_SIGNAL if abi >= 6 else 0
    attr = struct.pack("QQQ", handled, net, scoped)[: 8 if abi < 4 else 16 if abi < 6 else 24]
    ruleset = _libc.syscall(LL_CREATE, ctypes.c_char_p(attr), ctypes.c_size_t(len(attr)), 0)
    if ruleset < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset")

    def allow(path, rights):
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            return  # a path this machine does not have
        try:
            if not os.path.isdir(path):
                rights &= FILE_RIGHTS
            rule = struct.pack("=Qi", rights & handled, fd)
            if _libc.syscall(LL_ADD_RULE, ruleset, LL_RULE_PATH_BENEATH, ctypes.c_char_p(rule), 0) != 0:
                raise OSError(ctypes.get_errno(), f"landlock_add_rule {path}")
        finally:
            os.close(fd)

    for path in read_paths:
        allow(path, READ_RIGHTS)
    for path, writable in device_files:
        allow(path, FS_READ_FILE | (FS_WRITE_FILE | FS_TRUNCATE if writable else 0))
    for path in write_paths:
        allow(path, handled)
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    if _libc.syscall(LL_RESTRICT, ruleset, 0) != 0:
        raise OSError(ctypes.get_errno(), "landlock_restrict_self")
    os.close(ruleset)


# ---------------------------------------------------------------------------------------------------------------
# seccomp: a BPF filter over system call numbers
# ---------------------------------------------------------------------------------------------------------------

EPERM, EAGAIN, EACCES, ENOSYS = 1, 11, 13, 38
CLONE_THREAD = 0x00010000
ARCHES = {
    # machine: (AUDIT_ARCH_*, clone, {syscall: errno})
    "x86_64": (
        0xC000003E,
        56,
        {
            41: EACCES,  # socket
            57: EAGAIN,  # fork
            58: EAGAIN,  # vfork
            435: ENOSYS,  # clone3 (flags live in memory the filter cannot read; glibc falls back to clone)
            101: EPERM,  # ptrace
            310: EPERM,  # process_vm_readv
            311: EPERM,  # process_vm_writev
            425: ENOSYS,  # io_uring_setup (it can open sockets)
            426: ENOSYS,  # io_uring_enter
            427: ENOSYS,  # io_uring_register
            272: EPERM,  # unshare
            308: EPERM,  # setns
            165: EPERM,  # mount
            321: EPERM,  # bpf
            298: EPERM,  # perf_event_open
            323: EPERM,  # userfaultfd
            248: EPERM,  # add_key
            249: EPERM,  # request_key
            250: EPERM,  # keyctl
            90: EPERM,  # chmod (Landlock does not cover metadata changes)
            91: EPERM,  # fchmod
            268: EPERM,  # fchmodat
            452: EPERM,  # fchmodat2
            92: EPERM,  # chown
            93: EPERM,  # fchown
            94: EPERM,  # lchown
            260: EPERM,  # fchownat
            188: EPERM,  # setxattr
            189: EPERM,  # lsetxattr
            190: EPERM,  # fsetxattr
            197: EPERM,  # removexattr
            198: EPERM,  # lremovexattr
            199: EPERM,  # fremovexattr
        },
    ),
    "aarch64": (
        0xC00000B7,
        220,
        {
            198: EACCES,  # socket
            435: ENOSYS,  # clone3
            117: EPERM,  # ptrace
            270: EPERM,  # process_vm_readv
            271: EPERM,  # process_vm_writev
            425: ENOSYS,  # io_uring_setup
            426: ENOSYS,  # io_uring_enter
            427: ENOSYS,  # io_uring_register
            97: EPERM,  # unshare
            268: EPERM,  # setns
            40: EPERM,  # mount
            280: EPERM,  # bpf
            241: EPERM,  # perf_event_open
            282: EPERM,  # userfaultfd
            217: EPERM,  # add_key
            218: EPERM,  # request_key
            219: EPERM,  # keyctl
            52: EPERM,  # fchmod
            53: EPERM,  # fchmodat
            452: EPERM,  # fchmodat2
            54: EPERM,  # fchownat
            55: EPERM,  # fchown
            5: EPERM,  # setxattr
            6: EPERM,  # lsetxattr
            7: EPERM,  # fsetxattr
            14: EPERM,  # removexattr
            15: EPERM,  # lremovexattr
            16: EPERM,  # fremovexattr
        },
    ),
}
LD_ABS, JEQ, JGE, JSET, RET = 0x20, 0x15, 0x35, 0x45, 0x06
RET_KILL_PROCESS, RET_ERRNO, RET_ALLOW = 0x80000000, 0x00050000, 0x7FFF0000


def seccomp_program(machine):
    """The filter as (code, jt, jf, k) instructions over `struct seccomp_data` (nr at 0, arch at 4, args at 16)."""
    arch, clone, denied = ARCHES[machine]
    prog = [
        (LD_ABS, 0, 0, 4),
        (JEQ, 1, 0, arch),
        (
            RET,
            0,
            0,
            RET_KILL_PROCESS,
        ),  # another ABI (int 0x80 from a 64-bit process): no way around the filter
        (LD_ABS, 0, 0, 0),
    ]
    if machine == "x86_64":
        prog += [(JGE, 0, 1, 0x40000000), (RET, 0, 0, RET_ERRNO | ENOSYS)]  # the x32 ABI
    prog += [
        (JEQ, 0, 4, clone),
        (LD_ABS, 0, 0, 16),  # clone flags (low 32 bits)
        (JSET, 0, 1, CLONE_THREAD),
        (RET, 0, 0, RET_ALLOW),  # a thread
        (RET, 0, 0, RET_ERRNO | EAGAIN),  # a process: as if the process limit were reached
    ]
    for nr, errno in denied.items():
        prog += [(JEQ, 0, 1, nr), (RET, 0, 0, RET_ERRNO | errno)]
    prog.append((RET, 0, 0, RET_ALLOW))
    return prog


def seccomp():
    prog = seccomp_program(os.uname().machine)
    filters = b"".join(struct.pack("HBBI", *insn) for insn in prog)
    buffer = ctypes.create_string_buffer(filters)
    fprog = struct.pack("HP", len(prog), ctypes.addressof(buffer))  # struct sock_fprog
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    fprog_buffer = ctypes.create_string_buffer(fprog)
    if _libc.prctl(PR_SET_SECCOMP, ctypes.c_ulong(SECCOMP_MODE_FILTER), fprog_buffer, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_SECCOMP")


def block_sockets_in_python():
    """Fallback without seccomp: sockets cannot be created from Python. Weak (ctypes can still reach libc)."""
    import socket

    def refuse(*args, **kwargs):
        raise PermissionError(13, "network access is disabled in the sandbox")

    class NoSocket(socket.socket):
        def __init__(self, *args, **kwargs):
            refuse()

    socket.socket = NoSocket
    for name in ("create_connection", "create_server", "socketpair", "fromfd", "getaddrinfo"):
        setattr(socket, name, refuse)
    import _socket

    _socket.socket = NoSocket


# ---------------------------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------------------------


def set_limits(limits):
    for name, soft, hard in limits:
        resource.setrlimit(getattr(resource, name), (soft, hard))


def run_program(source):
    """Run `source` as `__main__`; report an uncaught exception; flush output; exit with the program's code."""
    code = 0
    namespace = {"__name__": "__main__", "__file__": "main.py", "__builtins__": __builtins__}
    sys.argv = ["main.py"]
    try:
        exec(compile(source, "main.py", "exec"), namespace)
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except BaseException as error:  # noqa: B036 - the verdict needs every kind of failure
        report(f"uncaught {type(error).__name__} {getattr(error, 'errno', '') or ''}".strip())
        import traceback

        traceback.print_exc()
        code = 1
    try:
        sys.stdout.flush()
    except BaseException as error:  # noqa: B036
        report(f"uncaught {type(error).__name__} {getattr(error, 'errno', '') or ''}".strip())
        code = code or 1
    os._exit(code)


def main():
    parent, spec_fd, report_fd = (int(a) for a in sys.argv[2:5])  # argv[1]: this code's file (the loader's)
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the line above: nobody will collect this run
        os._exit(SETUP_FAILED)
    with os.fdopen(spec_fd, "rb") as f:
        spec = marshal.loads(f.read())  # written by the parent (trusted), never by the program
    if report_fd != REPORT_FD:
        os.dup2(report_fd, REPORT_FD)
        os.close(report_fd)
    try:
        set_limits(spec["limits"])
    except (OSError, ValueError) as error:
        fail("rlimits", str(error))
    if os.geteuid() == 0:
        try:
            drop_capabilities()
        except (OSError, KeyError) as error:
            fail("capabilities", str(error))
    if spec.get("landlock"):
        try:
            landlock(spec["landlock"], spec["read_paths"], spec["write_paths"], spec["device_files"])
        except OSError as error:
            fail("landlock", str(error))
    if spec.get("seccomp"):
        try:
            seccomp()
        except (OSError, KeyError) as error:
            fail("seccomp", str(error))
    else:
        block_sockets_in_python()
    sys.path.extend(p for p in spec["site_paths"] if p not in sys.path)
    source = spec["program"]
    del spec
    report("run")  # from here on the report channel is shared with the program
    run_program(source)


if __name__ == "__main__":
    main()
