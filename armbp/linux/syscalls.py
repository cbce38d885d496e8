"""The system calls a static C program makes (threads too), over guest memory.

``Syscalls(number, args)`` is what the kernel does for one ``SVC #0`` (number in ``x8``,
arguments in ``x0``–``x5``, the result in ``x0``, negative errno on failure). Guest memory
is anything with ``read``/``write`` raising ``MemoryFault`` (a bad pointer is ``-EFAULT``,
as in the kernel); the address space is an ``AddressSpace``. Output to fd 1 and 2 goes to
``stdout``/``stderr`` (callables taking bytes), fd 0 reads from ``stdin`` (a binary stream,
or bytes). Files open read-only, and only under ``root`` (the program's directory) or
``/dev/null`` (those calls are ``armbp.linux.files``; the numbers of the ABI, errno values
and flags, are ``armbp.linux.uapi``). Everything else answers ``-ENOSYS`` and is
remembered in ``unknown``.

``rseq`` answers ``-ENOSYS`` by choice: registering restartable sequences obliges the
kernel to rewrite the thread's ``rseq`` area at every preemption and migration, which this
kernel does not model; glibc takes ``-ENOSYS`` as "an older kernel" and goes on without.
``set_robust_list`` is accepted (0, the list is kept per thread; robust futexes of a dead
thread are not tidied up).

Threads (``armbp.linux.threads``): ``clone`` with the flags glibc's or musl's
``pthread_create`` passes makes a thread; ``futex`` waits, wakes and requeues (musl's
condition variables move their waiters to the mutex); ``exit`` ends one thread (its
``clear_child_tid`` word is zeroed and woken: ``pthread_join``), ``exit_group`` the
process. A call that switches threads says so in its result (``schedule``), and the
process moves the registers: this module never touches the vCPU. ``clone`` without
``CLONE_THREAD`` (``fork``), ``vfork``, ``execve`` and ``clone3`` answer ``-ENOSYS``
(glibc's ``pthread_create`` then falls back from ``clone3`` to ``clone``).
"""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO, ClassVar

from armbp.linux import signals
from armbp.linux.files import FileCalls
from armbp.linux.image import PAGE
from armbp.linux.memory import PROT_EXEC, PROT_READ, PROT_WRITE, AddressSpace, perms_of
from armbp.linux.signals import Signal
from armbp.linux.threads import EXITED, Threads
from armbp.linux.uapi import *
from armbp.linux.uapi import (
    CLONE_CHILD_CLEARTID,
    CLONE_CHILD_SETTID,
    CLONE_DETACHED,
    CLONE_FILES,
    CLONE_FLAG_NAMES,
    CLONE_FS,
    CLONE_PARENT_SETTID,
    CLONE_SETTLS,
    CLONE_SIGHAND,
    CLONE_SYSVSEM,
    CLONE_THREAD,
    CLONE_VFORK,
    CLONE_VM,
    EAGAIN,
    ECHILD,
    EEXIST,
    EFAULT,
    EINVAL,
    ENOMEM,
    ENOSYS,
    EPERM,
    ESRCH,
    FUTEX_BITSET_MATCH_ANY,
    FUTEX_CLOCK_REALTIME,
    FUTEX_CMD,
    FUTEX_CMP_REQUEUE,
    FUTEX_REQUEUE,
    FUTEX_WAIT,
    FUTEX_WAIT_BITSET,
    FUTEX_WAKE,
    FUTEX_WAKE_BITSET,
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_FIXED_NOREPLACE,
    MAP_SHARED,
    MREMAP_FIXED,
    MREMAP_MAYMOVE,
    RLIM_INFINITY,
    RLIMIT_NOFILE,
    RLIMIT_STACK,
    SIG_BLOCK,
    SIG_DFL,
    SIG_IGN,
    SIG_SETMASK,
    SIG_UNBLOCK,
    OpenFile,
    _s32,
    _s64,
)
from armbp.memory import MemoryFault

# system call numbers of the generic table arm64 uses (asm-generic/unistd.h)
SYSCALL_NAMES = {
    17: "getcwd",
    23: "dup",
    24: "dup3",
    34: "mkdirat",
    35: "unlinkat",
    46: "ftruncate",
    49: "chdir",
    59: "pipe2",
    25: "fcntl",
    29: "ioctl",
    48: "faccessat",
    56: "openat",
    57: "close",
    62: "lseek",
    63: "read",
    64: "write",
    65: "readv",
    66: "writev",
    67: "pread64",
    78: "readlinkat",
    79: "newfstatat",
    80: "fstat",
    93: "exit",
    94: "exit_group",
    96: "set_tid_address",
    98: "futex",
    99: "set_robust_list",
    101: "nanosleep",
    113: "clock_gettime",
    114: "clock_getres",
    115: "clock_nanosleep",
    124: "sched_yield",
    129: "kill",
    130: "tkill",
    131: "tgkill",
    134: "rt_sigaction",
    135: "rt_sigprocmask",
    160: "uname",
    163: "getrlimit",
    169: "gettimeofday",
    172: "getpid",
    173: "getppid",
    174: "getuid",
    175: "geteuid",
    176: "getgid",
    177: "getegid",
    178: "gettid",
    198: "socket",
    203: "connect",
    214: "brk",
    215: "munmap",
    216: "mremap",
    220: "clone",
    221: "execve",
    222: "mmap",
    226: "mprotect",
    233: "madvise",
    260: "wait4",
    261: "prlimit64",
    278: "getrandom",
    293: "rseq",
    435: "clone3",
}
NUMBERS = {v: k for k, v in SYSCALL_NAMES.items()}
SYS_IOCTL, SYS_WRITE, SYS_WRITEV, SYS_EXIT, SYS_EXIT_GROUP = 29, 64, 66, 93, 94
SYS_SET_TID_ADDRESS, SYS_UNAME, SYS_GETPID, SYS_GETTID, SYS_BRK = 96, 160, 172, 178, 214


@dataclass(frozen=True)
class SyscallResult:
    """What one ``SVC #0`` did: ``value`` goes to x0, unless the process ``exited`` or was
    killed by ``signal`` (a fatal one it sent itself: ``abort()``)."""

    number: int
    name: str
    value: int = 0
    exited: bool = False
    note: str = ""
    signal: Signal | None = None
    #: how the call changes who runs: "" (nobody else), "block" (the caller waits: another
    #: thread runs; x0 is set when it wakes), "yield", "spawn" (a new thread, ``child``:
    #: its id, stack pointer and thread pointer), "thread-exit" (the caller is gone)
    schedule: str = ""
    child: tuple[int, int, int | None] | None = None


# the flags of a thread (as glibc's pthread_create passes them) and those it may add
# (musl's adds CLONE_DETACHED, which the kernel accepts and ignores)
THREAD_FLAGS = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD
THREAD_OPTIONAL = (
    CLONE_DETACHED
    | CLONE_SYSVSEM
    | CLONE_SETTLS
    | CLONE_PARENT_SETTID
    | CLONE_CHILD_CLEARTID
    | CLONE_CHILD_SETTID
)


def clone_flags(flags: int) -> str:
    """``flags`` of ``clone`` by name (``CLONE_VM|CLONE_THREAD|…``, the exit signal, and
    any bit without a name in hex)."""
    names = [n for bit, n in CLONE_FLAG_NAMES.items() if flags & bit]
    rest = flags & ~0xFF & ~sum(CLONE_FLAG_NAMES)
    if rest:
        names.append(f"{rest:#x}")
    if flags & 0xFF:
        names.append(signals.name(flags & 0xFF))
    return "|".join(names) or "0"


@dataclass
class Layout:
    """Where the heap and the ``mmap`` area are (each ``[lo, hi)``)."""

    heap: int
    heap_limit: int
    mmap_lo: int
    mmap_hi: int


@dataclass
class SignalState:
    """The process's dispositions (``struct sigaction`` as 4 words), mask and pending set."""

    actions: dict[int, tuple[int, int, int, int]] = field(default_factory=dict)
    mask: int = 0
    pending: int = 0


class Syscalls(FileCalls):
    """A Linux kernel's system calls for one single-threaded process (see the module doc).

    ``map_pages(start, size)`` is how ``brk`` grows the heap when no ``space`` is given
    (an ``AddressSpace`` over the vCPU: then ``mmap``/``munmap``/``mprotect`` work too).
    """

    BRK_LIMIT = 64 << 20
    MMAP_SIZE = 256 << 20

    def __init__(
        self,
        memory: Any,
        heap_start: int,
        map_pages: Callable[[int, int], None] | None,
        stdout: Callable[[bytes], Any],
        stderr: Callable[[bytes], Any],
        pid: int = 1,
        *,
        space: AddressSpace | None = None,
        stdin: BinaryIO | bytes | None = None,
        tty: bool = False,
        exe: str | None = None,
        root: str | None = None,
        log: Callable[[str], None] | None = None,
    ):
        self.memory = memory
        if space is None:
            assert map_pages is not None, "Syscalls needs map_pages or an AddressSpace"
            space = AddressSpace(lambda a, n, _perms: map_pages(a, n))
        self.space = space
        self.layout = Layout(
            heap_start,
            heap_start + self.BRK_LIMIT,
            heap_start + self.BRK_LIMIT,
            heap_start + self.BRK_LIMIT + self.MMAP_SIZE,
        )
        self.heap_start = self.brk = heap_start
        self.mapped_to = heap_start  # heap pages exist up to here
        self.out = {1: stdout, 2: stderr}
        if isinstance(stdin, bytes | bytearray):
            import io

            stdin = io.BytesIO(bytes(stdin))
        self.stdin = stdin
        self.tty = tty
        self.exe = os.path.abspath(exe) if exe else None
        self.root = (
            os.path.realpath(root)
            if root
            else (os.path.dirname(os.path.realpath(self.exe)) if self.exe else None)
        )
        self.pid = pid
        self.uid, self.gid = os.getuid(), os.getgid()
        self.files: dict[int, OpenFile] = {}
        self.sig = SignalState()
        self.threads = Threads(pid)
        self.unknown: list[str] = []
        self.log = log
        self._number, self._name = 0, ""

    # -- dispatch -------------------------------------------------------------------------
    def __call__(self, number: int, args: list[int]) -> SyscallResult:
        name = SYSCALL_NAMES.get(number, f"syscall_{number}")
        handler = getattr(self, f"sys_{name}", None)
        if handler is None:
            self.unknown.append(name)
            return SyscallResult(
                number, name, -ENOSYS, note=f"{name}: not implemented → -ENOSYS"
            )
        self._number, self._name = number, name
        args = (list(args) + [0] * 6)[:6]
        try:
            got = handler(*args)
        except MemoryFault as e:  # a bad pointer from the guest: the kernel answers EFAULT
            return SyscallResult(number, name, -EFAULT, note=f"{name}: {e} → -EFAULT")
        if isinstance(got, SyscallResult):
            return got
        value, note = got if isinstance(got, tuple) else (got, "")
        return SyscallResult(number, name, value, note=note)

    def _result(self, value: int = 0, **kw: Any) -> SyscallResult:
        return SyscallResult(self._number, self._name, value, **kw)

    # -- process and threads ------------------------------------------------------------
    def sys_exit(self, code: int, *_: int) -> SyscallResult:
        """``exit``: the calling thread ends (the process too when it is the last one)."""
        if len(self.threads.live()) > 1:
            t = self.threads.running
            t.state, t.code = EXITED, code & 0xFF
            note = f"exit({_s64(code)}): thread {t.tid} ends"
            if t.clear_child_tid:
                # the kernel's "clear_child_tid" duty: zero the word and wake one waiter
                try:
                    self.memory.write(t.clear_child_tid, bytes(4))
                    woke = self.threads.wake(t.clear_child_tid, 1)
                    note += f", {t.clear_child_tid:#x} cleared ({woke} woken)"
                except MemoryFault:
                    note += f", {t.clear_child_tid:#x} not writable"
            return self._result(0, schedule="thread-exit", note=note)
        return self.sys_exit_group(code)

    def sys_exit_group(self, code: int, *_: int) -> SyscallResult:
        return self._result(code & 0xFF, exited=True, note=f"{self._name}({_s64(code)})")

    def sys_set_tid_address(self, tidptr: int, *_: int) -> int:
        self.threads.running.clear_child_tid = tidptr
        return self.threads.current

    @property
    def tid_address(self) -> int:
        """The running thread's ``clear_child_tid`` word (``set_tid_address``)."""
        return self.threads.running.clear_child_tid

    @property
    def robust_list(self) -> int:
        return self.threads.running.robust_list

    def sys_set_robust_list(self, head: int, length: int, *_: int) -> int:
        if length != 24:  # sizeof(struct robust_list_head)
            return -EINVAL
        self.threads.running.robust_list = head
        return 0

    def sys_rseq(self, *_: int) -> tuple[int, str]:
        return -ENOSYS, "rseq: restartable sequences are not modelled → -ENOSYS"

    def sys_clone(
        self, flags: int, stack: int, parent_tid: int, tls: int, child_tid: int, *_: int
    ) -> SyscallResult | tuple[int, str]:
        """``clone`` (arm64's argument order: flags, stack, parent_tid, tls, child_tid):
        a thread when ``flags`` are a thread's; fork-like clones are not modelled."""
        note = f"clone({clone_flags(flags)}, stack {stack:#x})"
        if not flags & CLONE_THREAD:
            what = "vfork" if flags & CLONE_VFORK else "fork"
            return -ENOSYS, f"{note}: a new process ({what}) is not modelled → -ENOSYS"
        extra = flags & ~(THREAD_FLAGS | THREAD_OPTIONAL)
        if flags & THREAD_FLAGS != THREAD_FLAGS or extra or not stack:
            why = (
                f"unsupported {clone_flags(extra)}"
                if extra
                else "no stack"
                if stack == 0 and flags & THREAD_FLAGS == THREAD_FLAGS
                else f"a thread needs {clone_flags(THREAD_FLAGS)}"
            )
            return -EINVAL, f"{note}: {why} → -EINVAL"
        tid = max(self.threads.threads) + 1
        word = tid.to_bytes(4, "little")
        # the writes first: a bad pointer is -EFAULT with no thread made
        if flags & CLONE_PARENT_SETTID:
            self.memory.write(parent_tid, word)
        if flags & CLONE_CHILD_SETTID:
            self.memory.write(child_tid, word)
        child = self.threads.spawn()
        assert child.tid == tid
        if flags & CLONE_CHILD_CLEARTID:
            child.clear_child_tid = child_tid
        return self._result(
            tid,
            schedule="spawn",
            child=(tid, stack, tls if flags & CLONE_SETTLS else None),
            note=f"{note} → thread {tid}",
        )

    def sys_clone3(self, *_: int) -> tuple[int, str]:
        return -ENOSYS, "clone3: not modelled (glibc falls back to clone) → -ENOSYS"

    def sys_execve(self, *_: int) -> tuple[int, str]:
        return -ENOSYS, "execve: the process cannot be replaced here → -ENOSYS"

    def sys_wait4(self, *_: int) -> int:
        return -ECHILD  # no children, ever

    def sys_getpid(self, *_: int) -> int:
        return self.pid

    def sys_gettid(self, *_: int) -> int:
        return self.threads.current

    def sys_getppid(self, *_: int) -> int:
        return 0

    def sys_getuid(self, *_: int) -> int:
        return self.uid

    sys_geteuid = sys_getuid

    def sys_getgid(self, *_: int) -> int:
        return self.gid

    sys_getegid = sys_getgid

    def sys_uname(self, buf: int, *_: int) -> int:
        fields = [b"Linux", b"armbp", b"6.1.0-armbp", b"#1", b"aarch64", b"(none)"]
        self.memory.write(buf, b"".join(f.ljust(65, b"\0") for f in fields))
        return 0

    def _rlimit(self, resource: int) -> tuple[int, int] | None:
        if resource == RLIMIT_STACK:
            return 8 << 20, RLIM_INFINITY
        if resource == RLIMIT_NOFILE:
            return 1024, 1024
        if 0 <= resource < 16:
            return RLIM_INFINITY, RLIM_INFINITY
        return None

    def sys_prlimit64(self, pid: int, resource: int, new: int, old: int, *_: int) -> int:
        if pid not in (0, self.pid):
            return -ESRCH
        limits = self._rlimit(resource)
        if limits is None:
            return -EINVAL
        if new:
            return -EPERM  # limits are fixed here
        if old:
            self.memory.write(old, struct.pack("<QQ", *limits))
        return 0

    def sys_getrlimit(self, resource: int, old: int, *_: int) -> int:
        return self.sys_prlimit64(0, resource, 0, old)

    def _timeout(self, at: int, absolute: bool, clock: int) -> float | None | int:
        """A futex timeout as a deadline on ``time.monotonic()``'s clock (None: no
        timeout); ``-EINVAL`` for a malformed ``timespec``. ``absolute`` (``WAIT_BITSET``)
        reads it on ``clock`` (0 realtime, 1 monotonic), else it is relative."""
        if not at:
            return None
        sec, ns = struct.unpack("<qq", self.memory.read(at, 16))
        if sec < 0 or not 0 <= ns < 1_000_000_000:
            return -EINVAL
        wanted = sec + ns / 1e9
        if absolute:
            now = self._clock(clock)
            assert now is not None
            wanted -= now / 1e9
        return time.monotonic() + max(wanted, 0.0)

    def sys_futex(
        self, uaddr: int, op: int, val: int, timeout: int, uaddr2: int, val3: int
    ) -> SyscallResult | tuple[int, str] | int:
        """``futex``: WAIT and WAKE (and their BITSET forms, the private flag ignored: one
        process), REQUEUE and CMP_REQUEUE. A wait whose word still holds ``val`` blocks the
        thread."""
        cmd = op & FUTEX_CMD
        if cmd in (FUTEX_REQUEUE, FUTEX_CMP_REQUEUE):
            return self._futex_requeue(uaddr, cmd, val, timeout, uaddr2, val3)
        bitset = FUTEX_BITSET_MATCH_ANY
        if cmd in (FUTEX_WAIT_BITSET, FUTEX_WAKE_BITSET):
            bitset = val3 & 0xFFFF_FFFF
            if not bitset:
                return -EINVAL
        if cmd in (FUTEX_WAKE, FUTEX_WAKE_BITSET):
            count = _s32(val)
            woke = self.threads.wake(uaddr, max(count, 0), bitset)
            return woke, f"futex({uaddr:#x}, WAKE, {count}) → {woke} woken"
        if cmd not in (FUTEX_WAIT, FUTEX_WAIT_BITSET):
            return (
                -ENOSYS,
                f"futex: operation {cmd} not modelled (only WAIT, WAKE, REQUEUE) → -ENOSYS",
            )
        if uaddr % 4:
            return -EINVAL
        word = struct.unpack("<I", self.memory.read(uaddr, 4))[0]
        if word != val & 0xFFFF_FFFF:
            return -EAGAIN
        clock = 0 if op & FUTEX_CLOCK_REALTIME else 1
        deadline = self._timeout(timeout, cmd == FUTEX_WAIT_BITSET, clock)
        if isinstance(deadline, int):
            return deadline
        self.threads.wait(uaddr, bitset, deadline)
        limit = "" if deadline is None else f", {max(deadline - time.monotonic(), 0):.3f} s"
        return self._result(
            0,
            schedule="block",
            note=f"futex({uaddr:#x}, WAIT, {word}{limit}): thread {self.threads.current} waits",
        )

    def _futex_requeue(
        self, uaddr: int, cmd: int, wake: int, move: int, to: int, expected: int
    ) -> tuple[int, str] | int:
        """Wake ``wake`` waiters of ``uaddr`` and move up to ``move`` (the timeout
        argument's slot carries this count) to wait on ``to``; CMP_REQUEUE first checks
        that the word at ``uaddr`` still holds ``expected`` (else ``-EAGAIN``, nothing
        moved). Negative counts and unaligned words are ``-EINVAL``. The result counts
        woken and moved waiters together, as Linux's does."""
        wake, move = _s32(wake), _s32(move)
        if wake < 0 or move < 0 or uaddr % 4 or to % 4:
            return -EINVAL
        if cmd == FUTEX_CMP_REQUEUE:
            word = struct.unpack("<I", self.memory.read(uaddr, 4))[0]
            if word != expected & 0xFFFF_FFFF:
                return -EAGAIN
        woken, moved = self.threads.requeue(uaddr, wake, move, to)
        name = "CMP_REQUEUE" if cmd == FUTEX_CMP_REQUEUE else "REQUEUE"
        note = f"futex({uaddr:#x}, {name}, {wake}, {move}, {to:#x}) → {woken} woken, {moved} moved"
        return woken + moved, note

    def sys_sched_yield(self, *_: int) -> SyscallResult:
        return self._result(0, schedule="yield")

    # -- time and randomness --------------------------------------------------------------
    _CLOCKS: ClassVar[dict[int, int]] = {
        0: time.CLOCK_REALTIME,
        1: time.CLOCK_MONOTONIC,
        4: time.CLOCK_MONOTONIC,
    }

    def _clock(self, clock: int) -> int | None:
        if clock in (2, 3):  # the process's and the thread's CPU time
            return time.process_time_ns()
        if clock in (5, 6, 7):  # the _COARSE clocks and BOOTTIME
            clock = 0 if clock == 5 else 1
        which = self._CLOCKS.get(clock)
        return None if which is None else time.clock_gettime_ns(which)

    def sys_clock_gettime(self, clock: int, tp: int, *_: int) -> int:
        ns = self._clock(clock)
        if ns is None:
            return -EINVAL
        self.memory.write(tp, struct.pack("<qq", *divmod(ns, 1_000_000_000)))
        return 0

    def sys_clock_getres(self, clock: int, tp: int, *_: int) -> int:
        if self._clock(clock) is None:
            return -EINVAL
        if tp:
            self.memory.write(tp, struct.pack("<qq", 0, 1))
        return 0

    def sys_gettimeofday(self, tv: int, tz: int, *_: int) -> int:
        sec, ns = divmod(time.time_ns(), 1_000_000_000)
        if tv:
            self.memory.write(tv, struct.pack("<qq", sec, ns // 1000))
        if tz:
            self.memory.write(tz, bytes(8))
        return 0

    def _sleep(self, req: int, rem: int) -> int:
        sec, ns = struct.unpack("<qq", self.memory.read(req, 16))
        if sec < 0 or not 0 <= ns < 1_000_000_000:
            return -EINVAL
        time.sleep(min(sec + ns / 1e9, 10.0))  # a guest may not hold the host for long
        if rem:
            self.memory.write(rem, bytes(16))
        return 0

    def sys_nanosleep(self, req: int, rem: int, *_: int) -> int:
        return self._sleep(req, rem)

    def sys_clock_nanosleep(self, clock: int, flags: int, req: int, rem: int, *_: int) -> int:
        if flags & 1:  # TIMER_ABSTIME
            sec, ns = struct.unpack("<qq", self.memory.read(req, 16))
            now = self._clock(clock)
            if now is None:
                return -EINVAL
            time.sleep(min(max(sec * 1_000_000_000 + ns - now, 0) / 1e9, 10.0))
            return 0
        return self._sleep(req, rem)

    def sys_getrandom(self, buf: int, count: int, flags: int, *_: int) -> int:
        count = min(count, 1 << 20)
        self.memory.write(buf, os.urandom(count))
        return count

    # -- memory ---------------------------------------------------------------------------
    def sys_brk(self, addr: int, *_: int) -> tuple[int, str]:
        if addr < self.heap_start or addr > self.layout.heap_limit:
            return self.brk, f"brk({addr:#x}) → {self.brk:#x}"
        top = (addr + PAGE - 1) & ~(PAGE - 1)
        if top > self.mapped_to:
            if not self.space.free(self.mapped_to, top - self.mapped_to):
                return self.brk, f"brk({addr:#x}): pages in the way → {self.brk:#x}"
            self.space.map(self.mapped_to, top - self.mapped_to, "rw")
            self.mapped_to = top
        elif top < self.mapped_to and self.space.can_unmap:
            self.space.unmap(top, self.mapped_to - top)
            self.mapped_to = top
        self.brk = addr
        return addr, f"brk({addr:#x}) → {addr:#x}"

    def sys_mmap(self, addr: int, length: int, prot: int, flags: int, fd: int, offset: int):
        fd = _s32(fd)
        note = f"mmap({addr:#x}, {length:#x}, {perms_of(prot) or '-'}, {flags:#x}, {fd})"
        if (
            not length
            or addr % PAGE
            or offset % PAGE
            or prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)
        ):
            return -EINVAL, f"{note} → -EINVAL"
        size = (length + PAGE - 1) & ~(PAGE - 1)
        if flags & MAP_SHARED and not flags & MAP_ANONYMOUS:
            return -EACCES, f"{note}: shared file mappings are not modelled → -EACCES"
        data = b""
        if not flags & MAP_ANONYMOUS:
            f = self.files.get(fd)
            if f is None:
                return -EBADF, f"{note} → -EBADF"
            data = os.pread(f.host_fd, length, offset)
        lo, hi = self.layout.mmap_lo, self.layout.mmap_hi
        if flags & (MAP_FIXED | MAP_FIXED_NOREPLACE):
            if not (lo <= addr and addr + size <= hi):
                return -ENOMEM, f"{note}: fixed mappings only in {lo:#x}..{hi:#x} → -ENOMEM"
            if not self.space.free(addr, size):
                if flags & MAP_FIXED_NOREPLACE:
                    return -EEXIST, f"{note} → -EEXIST"
                self.space.unmap(addr, size)
            at: int | None = addr
        elif addr and lo <= addr and addr + size <= hi and self.space.free(addr, size):
            at = addr  # the hint is free: take it
        else:
            at = self.space.find_free(lo, hi, size)
        if at is None:
            return -ENOMEM, f"{note}: the mmap area is full → -ENOMEM"
        if data:
            self.space.map(at, size, "rw")
            self.memory.write(at, data)
            if perms_of(prot) != "rw":
                self.space.protect(at, size, perms_of(prot))
        else:
            self.space.map(at, size, perms_of(prot))
        return at, f"{note} → {at:#x}"

    def sys_munmap(self, addr: int, length: int, *_: int) -> tuple[int, str]:
        note = f"munmap({addr:#x}, {length:#x})"
        if addr % PAGE or not length:
            return -EINVAL, f"{note} → -EINVAL"
        if not self.space.can_unmap:
            return -ENOSYS, f"{note}: this vCPU cannot unmap memory → -ENOSYS"
        self.space.unmap(addr, length)
        return 0, note

    def sys_mprotect(self, addr: int, length: int, prot: int, *_: int) -> tuple[int, str]:
        note = f"mprotect({addr:#x}, {length:#x}, {perms_of(prot) or '-'})"
        if addr % PAGE or prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC | 0x10):  # PROT_BTI
            return -EINVAL, f"{note} → -EINVAL"
        if not length:
            return 0, note
        if not self.space.mapped(addr, length):
            return -ENOMEM, f"{note}: not all of it is mapped → -ENOMEM"
        if not self.space.can_protect:
            return -ENOSYS, f"{note}: this vCPU cannot change page rights → -ENOSYS"
        self.space.protect(addr, length, perms_of(prot))
        return 0, note

    def sys_mremap(self, old: int, old_size: int, new_size: int, flags: int, *_: int):
        note = f"mremap({old:#x}, {old_size:#x}, {new_size:#x}, {flags:#x})"
        if old % PAGE or not new_size or flags & MREMAP_FIXED:
            return -EINVAL, f"{note} → -EINVAL"
        old_size = (old_size + PAGE - 1) & ~(PAGE - 1)
        new_size = (new_size + PAGE - 1) & ~(PAGE - 1)
        if not old_size or not self.space.mapped(old, old_size):
            return -EFAULT, f"{note}: not mapped → -EFAULT"
        if new_size <= old_size:
            if new_size < old_size:
                self.space.unmap(old + new_size, old_size - new_size)
            return old, f"{note} → {old:#x}"
        perms = self.space.pages[old]
        lo, hi = self.layout.mmap_lo, self.layout.mmap_hi
        tail = old + old_size
        if tail + new_size - old_size <= hi and self.space.free(tail, new_size - old_size):
            self.space.map(tail, new_size - old_size, perms)
            return old, f"{note} → {old:#x} (grown in place)"
        if not flags & MREMAP_MAYMOVE:
            return -ENOMEM, f"{note} → -ENOMEM"
        at = self.space.find_free(lo, hi, new_size)
        if at is None:
            return -ENOMEM, f"{note}: the mmap area is full → -ENOMEM"
        self.space.map(at, new_size, "rw")
        self.memory.write(at, self.memory.read(old, old_size))
        if perms != "rw":
            self.space.protect(at, new_size, perms)
        self.space.unmap(old, old_size)
        return at, f"{note} → {at:#x} (moved)"

    def sys_madvise(self, *_: int) -> int:
        return 0

    # -- signals --------------------------------------------------------------------------
    def sys_rt_sigaction(self, sig: int, act: int, oact: int, size: int, *_: int):
        if size != 8 or not 1 <= sig <= signals.NSIG:
            return -EINVAL
        if act and sig in (signals.SIGKILL, signals.SIGSTOP):
            return -EINVAL
        old = self.sig.actions.get(sig, (SIG_DFL, 0, 0, 0))
        new = struct.unpack("<4Q", self.memory.read(act, 32)) if act else None
        if oact:
            self.memory.write(oact, struct.pack("<4Q", *old))
        if new is not None:
            self.sig.actions[sig] = new
            if new[0] not in (SIG_DFL, SIG_IGN):
                return 0, (
                    f"rt_sigaction({signals.name(sig)}): handler {new[0]:#x} recorded; "
                    "this kernel never runs handlers (the signal's default action applies)"
                )
        return 0

    def sys_rt_sigprocmask(self, how: int, set_: int, oset: int, size: int, *_: int):
        if size != 8:
            return -EINVAL
        old = self.sig.mask
        if set_:
            (bits,) = struct.unpack("<Q", self.memory.read(set_, 8))
            if how == SIG_BLOCK:
                mask = old | bits
            elif how == SIG_UNBLOCK:
                mask = old & ~bits
            elif how == SIG_SETMASK:
                mask = bits
            else:
                return -EINVAL
            never = 1 << (signals.SIGKILL - 1) | 1 << (signals.SIGSTOP - 1)
            self.sig.mask = mask & ~never
        if oset:
            self.memory.write(oset, struct.pack("<Q", old))
        return self._deliver_pending() or 0

    def _deliver_pending(self) -> SyscallResult | None:
        """A pending signal no longer blocked is delivered now (the kernel does it on the
        way back to EL0): fatal ones end the process."""
        ready = self.sig.pending & ~self.sig.mask
        if not ready:
            return None
        sig = (ready & -ready).bit_length()
        self.sig.pending &= ~(1 << (sig - 1))
        return self._act(Signal(sig, signals.SI_TKILL, pid=self.pid, uid=self.uid))

    def _act(self, sig: Signal) -> SyscallResult | None:
        """The disposition of ``sig``: nothing (ignored), or the process is killed."""
        handler = self.sig.actions.get(sig.number, (SIG_DFL,))[0]
        if handler == SIG_IGN or (
            handler == SIG_DFL and sig.number in signals.IGNORED_BY_DEFAULT
        ):
            return None
        how = "default action" if handler == SIG_DFL else f"handler {handler:#x} not run"
        note = f"{sig.name} ({how}) → the process is killed"
        return self._result(
            0,
            signal=Signal(sig.number, sig.code, pid=sig.pid, uid=sig.uid, note=note),
            note=note,
        )

    def _send(self, sig: int) -> SyscallResult | int:
        if sig == 0:
            return 0
        if not 1 <= sig <= signals.NSIG:
            return -EINVAL
        bit = 1 << (sig - 1)
        if self.sig.mask & bit and sig not in (signals.SIGKILL, signals.SIGSTOP):
            self.sig.pending |= bit
            return 0
        return self._act(Signal(sig, signals.SI_TKILL, pid=self.pid, uid=self.uid)) or 0

    def sys_kill(self, pid: int, sig: int, *_: int) -> SyscallResult | int:
        if _s32(pid) not in (0, -1, self.pid):
            return -ESRCH
        return self._send(sig)

    def _is_thread(self, tid: int) -> bool:
        t = self.threads.threads.get(tid)
        return t is not None and t.state != EXITED

    def sys_tkill(self, tid: int, sig: int, *_: int) -> SyscallResult | int:
        # one signal state for the whole process: a fatal signal to any thread kills it
        return self._send(sig) if self._is_thread(tid) else -ESRCH

    def sys_tgkill(self, tgid: int, tid: int, sig: int, *_: int) -> SyscallResult | int:
        return self._send(sig) if tgid == self.pid and self._is_thread(tid) else -ESRCH
