"""The system calls a single-threaded static C program makes, over guest memory.

``Syscalls(number, args)`` is what the kernel does for one ``SVC #0`` (number in ``x8``,
arguments in ``x0``–``x5``, the result in ``x0``, negative errno on failure). Guest memory
is anything with ``read``/``write`` raising ``MemoryFault`` (a bad pointer is ``-EFAULT``,
as in the kernel); the address space is an ``AddressSpace``. Output to fd 1 and 2 goes to
``stdout``/``stderr`` (callables taking bytes), fd 0 reads from ``stdin`` (a binary stream,
or bytes). Files open read-only, and only under ``root`` (the program's directory) or
``/dev/null``. Everything else answers ``-ENOSYS`` and is remembered in ``unknown``.

``rseq`` answers ``-ENOSYS`` by choice: registering restartable sequences obliges the
kernel to rewrite the thread's ``rseq`` area at every preemption and migration, which this
kernel does not model; glibc takes ``-ENOSYS`` as "an older kernel" and goes on without.
``set_robust_list`` is accepted (0, the list is kept): there are no other threads to
tidy up after.
"""

from __future__ import annotations

import os
import stat as stat_
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO, ClassVar

from armbp.linux import signals
from armbp.linux.image import PAGE
from armbp.linux.memory import PROT_EXEC, PROT_READ, PROT_WRITE, AddressSpace, perms_of
from armbp.linux.signals import Signal
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

# errno values (uapi asm-generic/errno-base.h, errno.h)
EPERM, ENOENT, ESRCH, EINTR, EBADF, EAGAIN, ENOMEM, EACCES, EFAULT = (
    1,
    2,
    3,
    4,
    9,
    11,
    12,
    13,
    14,
)
ECHILD, EEXIST, ENOTDIR, EINVAL, EMFILE, ENOTTY, ESPIPE, ERANGE, ENOSYS = (
    10,
    17,
    20,
    22,
    24,
    25,
    29,
    34,
    38,
)

AT_FDCWD = -100
AT_EMPTY_PATH = 0x1000
O_ACCMODE, O_RDONLY = 3, 0
MAP_SHARED, MAP_PRIVATE, MAP_FIXED, MAP_ANONYMOUS = 0x01, 0x02, 0x10, 0x20
MAP_FIXED_NOREPLACE = 0x100000
MREMAP_MAYMOVE, MREMAP_FIXED = 1, 2
SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK = 0, 1, 2
SIG_DFL, SIG_IGN = 0, 1
TCGETS, TIOCGWINSZ = 0x5401, 0x5413
FUTEX_WAIT, FUTEX_WAKE, FUTEX_CMD = 0, 1, 0x7F
RLIM_INFINITY = (1 << 64) - 1
RLIMIT_STACK, RLIMIT_NOFILE = 3, 7

MASK64 = (1 << 64) - 1


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


def _s64(value: int) -> int:
    value &= MASK64
    return value - (1 << 64) if value >> 63 else value


def _s32(value: int) -> int:
    value &= 0xFFFF_FFFF
    return value - (1 << 32) if value >> 31 else value


@dataclass
class OpenFile:
    """An fd of a file opened read-only (the host's fd, and where the next read starts)."""

    path: str
    host_fd: int
    offset: int = 0


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


class Syscalls:
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
        self.robust_list = self.tid_address = 0
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

    def _string(self, address: int, limit: int = 4096) -> bytes:
        """The NUL-terminated string at ``address`` (MemoryFault → -EFAULT)."""
        out = bytearray()
        while len(out) < limit:
            chunk = self.memory.read(
                address + len(out), min(64, PAGE - (address + len(out)) % PAGE)
            )
            end = chunk.find(b"\0")
            if end >= 0:
                return bytes(out + chunk[:end])
            out += chunk
        return bytes(out)

    # -- process --------------------------------------------------------------------------
    def sys_exit(self, code: int, *_: int) -> SyscallResult:
        return self._result(code & 0xFF, exited=True, note=f"{self._name}({_s64(code)})")

    sys_exit_group = sys_exit

    def sys_set_tid_address(self, tidptr: int, *_: int) -> int:
        self.tid_address = tidptr
        return self.pid

    def sys_set_robust_list(self, head: int, length: int, *_: int) -> int:
        if length != 24:  # sizeof(struct robust_list_head)
            return -EINVAL
        self.robust_list = head
        return 0

    def sys_rseq(self, *_: int) -> tuple[int, str]:
        return -ENOSYS, "rseq: restartable sequences are not modelled → -ENOSYS"

    def sys_clone(self, *_: int) -> tuple[int, str]:
        return -ENOSYS, "clone: one process, one thread here (no fork, no threads) → -ENOSYS"

    sys_clone3 = sys_clone

    def sys_execve(self, *_: int) -> tuple[int, str]:
        return -ENOSYS, "execve: the process cannot be replaced here → -ENOSYS"

    def sys_wait4(self, *_: int) -> int:
        return -ECHILD  # no children, ever

    def sys_getpid(self, *_: int) -> int:
        return self.pid

    sys_gettid = sys_getpid

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

    def sys_futex(self, uaddr: int, op: int, val: int, *_: int) -> int:
        cmd = op & FUTEX_CMD
        if cmd == FUTEX_WAKE:
            return 0  # nobody else to wake
        if cmd == FUTEX_WAIT:
            word = struct.unpack("<I", self.memory.read(uaddr, 4))[0]
            # no other thread could ever change it: a wait would last forever
            return -EAGAIN if word != val & 0xFFFF_FFFF else -EINTR
        return -ENOSYS

    def sys_sched_yield(self, *_: int) -> int:
        return 0

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

    # -- files ----------------------------------------------------------------------------
    def _allowed(self, path: bytes, dirfd: int) -> tuple[str | None, int]:
        """The host path the guest may open for ``path``, or None and the errno."""
        text = os.fsdecode(path)
        if not text:
            return None, ENOENT
        if not os.path.isabs(text):
            if dirfd != AT_FDCWD:
                return None, EBADF if dirfd not in self.files else ENOTDIR
            text = os.path.abspath(text)
        real = os.path.realpath(text)
        if real == "/dev/null":
            return real, 0
        if self.root and (real == self.root or real.startswith(self.root + os.sep)):
            return real, 0
        return None, EACCES

    def sys_openat(self, dirfd: int, path: int, flags: int, mode: int, *_: int):
        name = self._string(path)
        note = f"openat({name.decode(errors='replace')!r}, {flags:#o})"
        if flags & O_ACCMODE != O_RDONLY:
            return -EACCES, f"{note}: files open read-only here → -EACCES"
        real, err = self._allowed(name, _s32(dirfd))
        if real is None:
            why = " (only the program's directory and /dev/null)" if err == EACCES else ""
            return -err, f"{note}{why} → -{err}"
        try:
            host = os.open(real, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError as e:
            return -(e.errno or ENOENT), f"{note} → -{e.errno}"
        fd = 3
        while fd in self.files:
            fd += 1
        if fd >= 1024:
            os.close(host)
            return -EMFILE, f"{note} → -EMFILE"
        self.files[fd] = OpenFile(real, host)
        return fd, f"{note} → {fd}"

    def sys_close(self, fd: int, *_: int) -> int:
        fd = _s32(fd)
        f = self.files.pop(fd, None)
        if f is not None:
            os.close(f.host_fd)
            return 0
        return 0 if fd in (0, 1, 2) else -EBADF

    def close_all(self) -> None:
        """Close the host's side of every file the program left open."""
        for f in self.files.values():
            os.close(f.host_fd)
        self.files.clear()

    def _read_stdin(self, count: int) -> bytes:
        if self.stdin is None:
            return b""
        read1 = getattr(self.stdin, "read1", None)
        got = read1(count) if read1 is not None else self.stdin.read(count)
        return bytes(got or b"")

    def sys_read(self, fd: int, buf: int, count: int, *_: int) -> tuple[int, str]:
        fd = _s32(fd)
        count = min(count, 1 << 20)
        if fd == 0:
            data = self._read_stdin(count)
        elif fd in self.files:
            f = self.files[fd]
            data = os.pread(f.host_fd, count, f.offset)
            f.offset += len(data)
        elif fd in (1, 2):
            return -EBADF, f"read({fd}) → -EBADF"
        else:
            return -EBADF, f"read({fd}) → -EBADF"
        if data:
            self.memory.write(buf, data)
        return len(data), f"read({fd}, {count}) → {len(data)}"

    def sys_pread64(self, fd: int, buf: int, count: int, offset: int, *_: int) -> int:
        f = self.files.get(_s32(fd))
        if f is None:
            return -ESPIPE if _s32(fd) in (0, 1, 2) else -EBADF
        data = os.pread(f.host_fd, min(count, 1 << 20), offset)
        if data:
            self.memory.write(buf, data)
        return len(data)

    def sys_lseek(self, fd: int, offset: int, whence: int, *_: int) -> int:
        f = self.files.get(_s32(fd))
        if f is None:
            return -ESPIPE if _s32(fd) in (0, 1, 2) else -EBADF
        if whence not in (0, 1, 2):
            return -EINVAL
        base = (0, f.offset, os.fstat(f.host_fd).st_size)[whence]
        new = base + _s64(offset)
        if new < 0:
            return -EINVAL
        f.offset = new
        return new

    def sys_write(self, fd: int, buf: int, count: int, *_: int) -> tuple[int, str]:
        fd = _s32(fd)
        if fd not in self.out:
            return -EBADF, f"write to fd {fd} → -EBADF"
        count = min(count, 1 << 20)
        data = self.memory.read(buf, count) if count else b""
        self.out[fd](data)
        shown = f"{data[:40]!r}…" if len(data) > 40 else f"{data!r}"
        return len(data), f"write({fd}, {shown})"

    def _iov(self, iov: int, iovcnt: int) -> list[tuple[int, int]]:
        return [
            struct.unpack("<QQ", self.memory.read(iov + 16 * i, 16))
            for i in range(min(iovcnt, 1024))
        ]

    def sys_writev(self, fd: int, iov: int, iovcnt: int, *_: int) -> int:
        fd = _s32(fd)
        if fd not in self.out:
            return -EBADF
        total = 0
        for base, length in self._iov(iov, iovcnt):
            data = self.memory.read(base, min(length, 1 << 20)) if length else b""
            self.out[fd](data)
            total += len(data)
        return total

    def sys_readv(self, fd: int, iov: int, iovcnt: int, *_: int) -> int:
        total = 0
        for base, length in self._iov(iov, iovcnt):
            if not length:
                continue
            got, _note = self.sys_read(fd, base, length)
            if got < 0:
                return got if not total else total
            total += got
            if got < length:
                break
        return total

    def _stat(self, st: os.stat_result | None, fd: int | None) -> bytes:
        """``struct stat`` of the generic ABI arm64 uses (128 bytes)."""
        if st is None:  # fd 0, 1, 2: a terminal if the caller said so, else a pipe
            mode = (stat_.S_IFCHR | 0o620) if self.tty and fd != 0 else (stat_.S_IFIFO | 0o600)
            if fd == 0 and self.tty:
                mode = stat_.S_IFCHR | 0o620
            rdev = 0x8800 if mode & stat_.S_IFCHR else 0
            return struct.pack(
                "<QQIIIIQQqiiq6qII",
                0,
                1 + (fd or 0),
                mode,
                1,
                self.uid,
                self.gid,
                rdev,
                0,
                0,
                PAGE,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
            )
        return struct.pack(
            "<QQIIIIQQqiiq6qII",
            st.st_dev & MASK64,
            st.st_ino & MASK64,
            st.st_mode,
            st.st_nlink,
            st.st_uid,
            st.st_gid,
            st.st_rdev & MASK64,
            0,
            st.st_size,
            st.st_blksize,
            0,
            st.st_blocks,
            int(st.st_atime),
            st.st_atime_ns % 1_000_000_000,
            int(st.st_mtime),
            st.st_mtime_ns % 1_000_000_000,
            int(st.st_ctime),
            st.st_ctime_ns % 1_000_000_000,
            0,
            0,
        )

    def _fstat_bytes(self, fd: int) -> bytes | int:
        if fd in (0, 1, 2):
            return self._stat(None, fd)
        f = self.files.get(fd)
        if f is None:
            return -EBADF
        return self._stat(os.fstat(f.host_fd), fd)

    def sys_fstat(self, fd: int, buf: int, *_: int) -> int:
        got = self._fstat_bytes(_s32(fd))
        if isinstance(got, int):
            return got
        self.memory.write(buf, got)
        return 0

    def sys_newfstatat(self, dirfd: int, path: int, buf: int, flags: int, *_: int):
        name = self._string(path)
        if not name and flags & AT_EMPTY_PATH:
            return self.sys_fstat(dirfd, buf)
        real, err = self._allowed(name, _s32(dirfd))
        if real is None:
            return -err, f"newfstatat({name!r}) → -{err}"
        try:
            st = os.stat(real)
        except OSError as e:
            return -(e.errno or ENOENT)
        self.memory.write(buf, self._stat(st, None))
        return 0

    def sys_faccessat(self, dirfd: int, path: int, mode: int, *_: int) -> int:
        real, err = self._allowed(self._string(path), _s32(dirfd))
        if real is None:
            return -err
        if mode & 2:  # W_OK: nothing is writable here
            return -EACCES
        return 0 if os.path.exists(real) else -ENOENT

    def sys_readlinkat(self, dirfd: int, path: int, buf: int, size: int, *_: int):
        name = self._string(path)
        if name != b"/proc/self/exe" or self.exe is None:
            return -ENOENT, f"readlinkat({name!r}): only /proc/self/exe → -ENOENT"
        target = os.fsencode(self.exe)[: min(size, 4096)]
        self.memory.write(buf, target)
        return len(target), f"readlinkat({name!r}) → {self.exe!r}"

    def sys_getcwd(self, buf: int, size: int, *_: int) -> int:
        cwd = os.fsencode(os.getcwd()) + b"\0"
        if len(cwd) > size:
            return -ERANGE
        self.memory.write(buf, cwd)
        return len(cwd)

    def sys_fcntl(self, fd: int, cmd: int, arg: int, *_: int) -> int:
        fd = _s32(fd)
        if fd not in (0, 1, 2) and fd not in self.files:
            return -EBADF
        if cmd in (1, 2):  # F_GETFD, F_SETFD
            return 0
        if cmd == 3:  # F_GETFL
            return 1 if fd in (1, 2) else 0  # O_WRONLY / O_RDONLY
        return -EINVAL

    def sys_ioctl(self, fd: int, request: int, arg: int, *_: int) -> tuple[int, str]:
        fd = _s32(fd)
        if fd not in (0, 1, 2):
            return (-ENOTTY if fd in self.files else -EBADF), f"ioctl({fd}, {request:#x})"
        if not self.tty:
            return -ENOTTY, f"ioctl({fd}, {request:#x}): not a terminal → -ENOTTY"
        if request == TCGETS:
            # struct termios: iflag, oflag, cflag, lflag, c_line, c_cc[19] (a cooked tty)
            termios = struct.pack("<IIIIB", 0x500, 0x5, 0xBF, 0x8A3B, 0) + bytes(19)
            self.memory.write(arg, termios)
            return 0, f"ioctl({fd}, TCGETS): a terminal"
        if request == TIOCGWINSZ:
            self.memory.write(arg, struct.pack("<HHHH", 24, 80, 0, 0))
            return 0, f"ioctl({fd}, TIOCGWINSZ)"
        return -EINVAL, f"ioctl({fd}, {request:#x}) → -EINVAL"

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

    def sys_tkill(self, tid: int, sig: int, *_: int) -> SyscallResult | int:
        return self._send(sig) if tid == self.pid else -ESRCH

    def sys_tgkill(self, tgid: int, tid: int, sig: int, *_: int) -> SyscallResult | int:
        return self._send(sig) if tgid == self.pid and tid == self.pid else -ESRCH
