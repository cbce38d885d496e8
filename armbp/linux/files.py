"""The file system calls: read-only files under the program's directory, and fds 0–2.

A mixin of ``Syscalls`` (it keeps the state: ``files``, ``stdin``, ``tty``, ``exe``,
``root``). Files open read-only, and only under ``root`` (the program's directory) or
``/dev/null``; fd 0 reads the given stream; fds 0–2 are a terminal when the caller says
so (``ioctl(TCGETS)`` then succeeds and ``fstat`` says "character device", which is what
makes stdio line-buffer), else pipes.
"""

from __future__ import annotations

import os
import select
import stat as stat_
import struct
from collections.abc import Callable
from typing import Any, BinaryIO

from armbp.linux.image import PAGE
from armbp.linux.uapi import (
    AT_EMPTY_PATH,
    AT_FDCWD,
    EACCES,
    EBADF,
    EINVAL,
    EMFILE,
    ENOENT,
    ENOTDIR,
    ENOTTY,
    ERANGE,
    ESPIPE,
    MASK64,
    O_ACCMODE,
    O_RDONLY,
    TCGETS,
    TIOCGWINSZ,
    OpenFile,
    _s32,
    _s64,
)

#: How long one try of a ``read`` of a pipe or terminal on fd 0 waits (seconds).
STDIN_POLL = 0.02


class FileCalls:
    """openat, close, read, pread64, readv, lseek, write, writev, fstat, newfstatat,
    faccessat, readlinkat, getcwd, fcntl, ioctl (a mixin of ``Syscalls``)."""

    memory: Any
    files: dict[int, OpenFile]
    out: dict[int, Callable[[bytes], Any]]
    stdin: BinaryIO | None
    tty: bool
    exe: str | None
    root: str | None
    uid: int
    gid: int
    _result: Callable[..., Any]  # Syscalls': a result of the call being served

    def _string(self, address: int, limit: int = 4096) -> bytes:
        """The NUL-terminated string at ``address`` (MemoryFault → -EFAULT)."""
        out = bytearray()
        while len(out) < limit:
            at = address + len(out)
            chunk = self.memory.read(at, min(64, PAGE - at % PAGE))
            end = chunk.find(b"\0")
            if end >= 0:
                return bytes(out + chunk[:end])
            out += chunk
        return bytes(out)

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

    def _stdin_fd(self) -> int | None:
        """The host fd behind ``stdin`` when it is a pipe or a terminal (one that can
        keep a read waiting), else None (bytes, a regular file: a read never waits)."""
        try:
            fd = self.stdin.fileno() if self.stdin is not None else None
        except (AttributeError, OSError, ValueError):
            return None
        if fd is None or stat_.S_ISREG(os.fstat(fd).st_mode):
            return None
        return fd

    def _read_stdin(self, count: int) -> bytes | None:
        """Up to ``count`` bytes of fd 0; None when nothing arrived within
        ``STDIN_POLL`` seconds (the caller restarts the call: see ``sys_read``)."""
        if self.stdin is None:
            return b""
        fd = self._stdin_fd()
        if fd is not None:
            ready, _, _ = select.select([fd], [], [], STDIN_POLL)
            return os.read(fd, count) if ready else None
        read1 = getattr(self.stdin, "read1", None)
        got = read1(count) if read1 is not None else self.stdin.read(count)
        return bytes(got or b"")

    def sys_read(self, fd: int, buf: int, count: int, *_: int) -> Any:
        """``read``. From fd 0 when it is a pipe or a terminal, a read that would wait
        longer than ``STDIN_POLL`` is restarted instead (the thread stands at its ``SVC``
        again, as after the kernel's ``-ERESTARTSYS``): the front end gets the vCPU back
        between tries, so a debugger's Ctrl-C stops a program waiting for input at once,
        and other threads run meanwhile."""
        fd = _s32(fd)
        count = min(count, 1 << 20)
        if fd == 0:
            got = self._read_stdin(count)
            if got is None:  # nothing yet: the call starts again (the front end's slice)
                return self._result(0, schedule="restart", note="read(0): waiting for input")
            data = got
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

    def sys_readv(self, fd: int, iov: int, iovcnt: int, *_: int) -> Any:
        total = 0
        for base, length in self._iov(iov, iovcnt):
            if not length:
                continue
            read = self.sys_read(fd, base, length)
            if not isinstance(read, tuple):  # nothing yet on fd 0: restart, or what came
                return read if not total else total
            got, _note = read
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
