"""The small memory interface the breakpoint table works through.

The table never touches an emulator: it reads and writes guest bytes through anything with
``read``/``write`` (the vCPU's adapter, or a plain bytearray in tests and lessons). That is
the same separation as QEMU's generic breakpoint list, which reaches guest memory only
through ``cpu_memory_rw_debug``.
"""

from __future__ import annotations

from typing import Protocol


class MemoryFault(Exception):
    """An access the guest's memory map cannot satisfy (unmapped or not writable)."""

    def __init__(self, address: int, size: int, access: str, why: str = "not mapped"):
        self.address, self.size, self.access, self.why = address, size, access, why
        super().__init__(f"cannot {access} {size} byte(s) at {address:#x}: {why}")


class Memory(Protocol):
    """Guest memory as the debugger sees it: byte reads and writes that may fault."""

    def read(self, address: int, size: int) -> bytes: ...

    def write(self, address: int, data: bytes) -> None: ...


class BytearrayMemory:
    """``Memory`` over one bytearray mapped at ``base`` — a guest without an emulator.

    Accesses that leave ``[base, base + len(data))`` raise ``MemoryFault``; a write that
    faults writes nothing. ``read_only`` models a ROM (reads work, writes fault).
    """

    def __init__(self, data: bytes | bytearray | int, base: int = 0, read_only: bool = False):
        self.data = bytearray(data)
        self.base = base
        self.read_only = read_only

    def _offset(self, address: int, size: int, access: str) -> int:
        off = address - self.base
        if size < 0 or off < 0 or off + size > len(self.data):
            raise MemoryFault(address, size, access)
        return off

    def read(self, address: int, size: int) -> bytes:
        off = self._offset(address, size, "read")
        return bytes(self.data[off : off + size])

    def write(self, address: int, data: bytes) -> None:
        off = self._offset(address, len(data), "write")
        if self.read_only:
            raise MemoryFault(address, len(data), "write", "read-only")
        self.data[off : off + len(data)] = data
