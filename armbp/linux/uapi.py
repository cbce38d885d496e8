"""The numbers of Linux's user ABI the system calls speak: errno values, flags, and how
a register's 64 bits read as a signed C ``int`` or ``long``.

Values from the kernel's uapi headers (asm-generic errno, fcntl, mman, signal, termios,
futex, resource) as arm64 uses them.
"""

from __future__ import annotations

from dataclasses import dataclass

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
ETIMEDOUT = 110
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
FUTEX_REQUEUE, FUTEX_CMP_REQUEUE = 3, 4
FUTEX_WAIT_BITSET, FUTEX_WAKE_BITSET = 9, 10
FUTEX_PRIVATE_FLAG, FUTEX_CLOCK_REALTIME = 128, 256
FUTEX_BITSET_MATCH_ANY = 0xFFFF_FFFF
# clone flags (uapi linux/sched.h)
CLONE_VM, CLONE_FS, CLONE_FILES, CLONE_SIGHAND = 0x100, 0x200, 0x400, 0x800
CLONE_VFORK, CLONE_THREAD, CLONE_SYSVSEM, CLONE_SETTLS = 0x4000, 0x10000, 0x40000, 0x80000
CLONE_PARENT_SETTID, CLONE_CHILD_CLEARTID = 0x100000, 0x200000
# CLONE_DETACHED: musl's pthread_create still passes it; Linux has ignored it since 2.6
CLONE_DETACHED, CLONE_CHILD_SETTID = 0x400000, 0x1000000
CLONE_FLAG_NAMES = {
    CLONE_VM: "CLONE_VM",
    CLONE_FS: "CLONE_FS",
    CLONE_FILES: "CLONE_FILES",
    CLONE_SIGHAND: "CLONE_SIGHAND",
    CLONE_VFORK: "CLONE_VFORK",
    CLONE_THREAD: "CLONE_THREAD",
    CLONE_SYSVSEM: "CLONE_SYSVSEM",
    CLONE_SETTLS: "CLONE_SETTLS",
    CLONE_PARENT_SETTID: "CLONE_PARENT_SETTID",
    CLONE_CHILD_CLEARTID: "CLONE_CHILD_CLEARTID",
    CLONE_DETACHED: "CLONE_DETACHED",
    CLONE_CHILD_SETTID: "CLONE_CHILD_SETTID",
}
RLIM_INFINITY = (1 << 64) - 1
RLIMIT_STACK, RLIMIT_NOFILE = 3, 7

MASK64 = (1 << 64) - 1


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
