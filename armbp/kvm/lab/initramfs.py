"""The lab's initramfs: a gzip'd "newc" cpio archive, written in Python.

The kernel unpacks it into its first root file system and runs ``rdinit`` from it. The
format is a 110-byte ASCII header per file (magic ``070701``, then thirteen 8-digit hex
fields), the NUL-terminated name, the data, each padded to 4 bytes, and a final entry
named ``TRAILER!!!`` (the kernel's "Early userspace support" documentation).
"""

from __future__ import annotations

import gzip
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

# Left out of the copies: what the agent never needs, and caches.
SKIP_PARTS = {"__pycache__", "modules", "doc", "man", "locale", "data", "tests"}


def _header(ino: int, mode: int, nlink: int, size: int, namesize: int) -> bytes:
    # ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
    fields = (ino, mode, 0, 0, nlink, 0, size, 0, 0, 0, 0, namesize, 0)
    return b"070701" + b"".join(b"%08X" % f for f in fields)


def _pad(n: int) -> bytes:
    return b"\0" * (-n % 4)


def tree(source: Path, target: str) -> Iterator[tuple[str, Path]]:
    """``(name in the archive, file on disk)`` for ``source`` and everything under it."""
    yield target, source
    for dirpath, dirs, files in os.walk(source):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_PARTS)
        for name in sorted(dirs) + sorted(files):
            path = Path(dirpath) / name
            yield f"{target}/{path.relative_to(source)}", path


def write(entries: Iterable[tuple[str, Path | bytes | None]], out: Path) -> int:
    """Write the archive; an entry is a file or symlink on disk, bytes (a regular file,
    mode 0755), or None (a directory). Returns the number of entries."""
    count = 0
    with gzip.open(out, "wb", compresslevel=1) as f:
        for count, (name, source) in enumerate(entries, 1):
            if source is None:
                mode, data = stat.S_IFDIR | 0o755, b""
            elif isinstance(source, bytes):
                mode, data = stat.S_IFREG | 0o755, source
            else:
                st = os.lstat(source)
                mode = st.st_mode
                if stat.S_ISLNK(mode):
                    data = os.readlink(source).encode()
                elif stat.S_ISREG(mode):
                    data = source.read_bytes()
                else:
                    data = b""
            encoded = name.lstrip("/").encode() + b"\0"
            head = _header(
                count, mode, 2 if stat.S_ISDIR(mode) else 1, len(data), len(encoded)
            )
            f.write(head + encoded + _pad(len(head) + len(encoded)) + data + _pad(len(data)))
        trailer = b"TRAILER!!!\0"
        head = _header(0, 0, 1, 0, len(trailer))
        f.write(head + trailer + _pad(len(head) + len(trailer)))
    return count


def read_names(archive: Path) -> list[str]:
    """The names in an archive ``write`` made (for tests and for a learner's curiosity)."""
    data = gzip.decompress(archive.read_bytes())
    names: list[str] = []
    at = 0
    while True:
        head = data[at : at + 110]
        if head[:6] != b"070701":
            raise ValueError(f"{archive}: no cpio header at byte {at}")
        size, namesize = int(head[54:62], 16), int(head[94:102], 16)
        at += 110
        name = data[at : at + namesize - 1].decode()
        at += namesize + (-(110 + namesize) % 4)
        if name == "TRAILER!!!":
            return names
        names.append(name)
        at += size + (-size % 4)
