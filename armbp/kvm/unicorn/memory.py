"""Guest memory as the debugger reaches it: the ``Memory`` interface over Unicorn's map.

Reads and writes that fault raise ``MemoryFault`` and change nothing; a write of code is
followed by cache maintenance (dropping Unicorn's translated blocks of that range).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from unicorn import UcError

from armbp.kvm.abi import PAGE_SIZE
from armbp.kvm.unicorn.guard import _exclusive
from armbp.memory import MemoryFault

if TYPE_CHECKING:
    from armbp.kvm.unicorn.core import VCpu

__all__ = ["LARGE_ACCESS", "MAX_ACCESS", "GuestMemory"]

_LIMIT = 1 << 64

# One access to guest memory: above LARGE_ACCESS bytes the memory map is checked before
# Unicorn is asked (it would allocate the buffer first); above MAX_ACCESS it is refused.
LARGE_ACCESS = 1 << 20
MAX_ACCESS = 1 << 30


class GuestMemory:
    """The ``Memory`` interface over the vCPU's guest memory (what the breakpoint table uses).

    A write of code must be followed by cache maintenance before the new instruction is
    guaranteed to execute: on hardware DC CVAU, IC IVAU, ISB (Arm ARM "Concurrent
    modification and execution of instructions"); in Unicorn, dropping the translated blocks
    of that range. ``VCpu.flush_code_writes = False`` turns the step off, to show what goes
    wrong without it.
    """

    def __init__(self, vcpu: VCpu):
        self._vcpu = vcpu

    def read(self, address: int, size: int) -> bytes:
        """``size`` bytes at ``address``; ``MemoryFault`` if any of them is unmapped.

        A read larger than ``LARGE_ACCESS`` is checked against the memory map first, so
        that a size no guest has (``2**40``) is a fault at once, not a buffer of that size;
        one that is mapped but larger than ``MAX_ACCESS`` is a ``ValueError`` naming both.
        The vCPU's scratch page is not guest memory: it faults like unmapped memory.
        """
        if size < 0 or address < 0:
            raise MemoryFault(address, size, "read", "negative address or size")
        if size > LARGE_ACCESS or address + size > _LIMIT:
            self._check_large(address, size, "read")
        base = self._vcpu.scratch_base
        if address < base + PAGE_SIZE and base < address + size:
            raise MemoryFault(address, size, "read")
        try:
            return bytes(self._vcpu.uc.mem_read(address, size))
        except UcError:
            raise MemoryFault(address, size, "read") from None

    @_exclusive
    def write(self, address: int, data: bytes) -> None:
        """Store ``data`` (nothing is written if any byte is unmapped), then flush it as code."""
        data = bytes(data)
        if address < 0:
            raise MemoryFault(address, len(data), "write", "negative address")
        if address + len(data) > _LIMIT:
            self._check_large(address, len(data), "write")
        base = self._vcpu.scratch_base
        if address < base + PAGE_SIZE and base < address + len(data):
            raise MemoryFault(address, len(data), "write")
        try:
            self._vcpu.uc.mem_write(address, data)
        except UcError:
            raise MemoryFault(address, len(data), "write") from None
        if self._vcpu.flush_code_writes:
            self.invalidate_code(address, len(data))

    def _check_large(self, address: int, size: int, access: str) -> None:
        """Refuse an access that leaves the address space, touches unmapped memory, or is
        larger than ``MAX_ACCESS`` — before any buffer of ``size`` bytes is made."""
        end = address + size
        if end > _LIMIT:
            raise MemoryFault(
                address,
                size,
                access,
                "the range goes past the end of the 64-bit address space",
            )
        at = address
        for begin, last, _prot in sorted(self._vcpu.uc.mem_regions()):  # ``last`` inclusive
            if last < at:
                continue
            if begin > at:
                break
            at = last + 1
            if at >= end:
                break
        if at < end:
            raise MemoryFault(address, size, access, f"nothing is mapped at {at:#x}")
        if size > MAX_ACCESS:
            raise ValueError(
                f"cannot {access} {size:#x} bytes at once: the limit of one "
                f"access is MAX_ACCESS = {MAX_ACCESS:#x} bytes"
            )

    @_exclusive
    def invalidate_code(self, address: int, size: int) -> None:
        """Cache maintenance after writing instructions: DC CVAU + IC IVAU + ISB.

        Unicorn caches translated blocks; ``mem_write`` does not drop them, so without this
        a restored instruction can still run as the old BRK (and a new BRK be ignored).
        """
        self._vcpu.uc.ctl_remove_cache(address, address + max(size, 1))
