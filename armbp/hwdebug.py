"""The debugger's hardware slots: hardware breakpoints and watchpoints, as values.

A software breakpoint writes a BRK into the guest; a hardware one writes nothing into
guest memory: the debugger fills a slot of ``struct kvm_guest_debug_arch`` (DBGBCR/DBGBVR
for an instruction address, DBGWCR/DBGWVR for data) and KVM loads it into the core when
the control word has ``USE_HW``. There are few slots (``GUEST_DEBUG_HW_BPS`` = 6,
``GUEST_DEBUG_HW_WPS`` = 4 on the reference CPU), so running out is an error a person
must see: ``SlotsExhausted``. This module keeps the slots and writes the register values
the way QEMU's KVM code does (E, PMC/PAC = EL0 and EL1, BAS, LSC, MASK); it imports no
emulator (the VMM looks stops up in it, the debugger fills it).
"""

from __future__ import annotations

from dataclasses import dataclass

from armbp.kvm.abi import (
    GUEST_DEBUG_HW_BPS,
    GUEST_DEBUG_HW_WPS,
    KVM_ARM_MAX_DBG_REGS,
    GuestDebugArch,
)
from armbp.kvm.arch import (
    DBGBCR_FIELDS,
    DBGWCR_FIELDS,
    DBGWCR_LSC_LOAD,
    DBGWCR_LSC_STORE,
    DBGWCR_MASK_MAX,
    with_fields,
)
from armbp.table import BreakpointError

__all__ = ["WATCH_KINDS", "HwBreakpoint", "HwSlots", "SlotsExhausted", "Watchpoint"]

WATCH_KINDS = {"write": DBGWCR_LSC_STORE, "read": DBGWCR_LSC_LOAD, "access": 0b11}
"""A watchpoint's kind → DBGWCR.LSC (which accesses it matches)."""
_MAX_WATCH = 1 << DBGWCR_MASK_MAX
_VA_LIMIT = 1 << 48  # a lower-half VA: DBGBVR/DBGWVR hold VA[48:2], sign-extended
_EL0_AND_EL1 = 0b11  # PMC / PAC: match at EL0 and at EL1


class SlotsExhausted(BreakpointError):
    """Every slot of a kind is in use; the message names the limit and its capability."""

    def __init__(self, kind: str, limit: int, cap: str, address: int):
        super().__init__(
            f"all {limit} {kind} slots are in use (KVM_CAP_GUEST_DEBUG_HW_{cap}): "
            f"delete one before adding another at {address:#x}",
            address,
            "ENOSPC",
        )
        self.kind, self.limit = kind, limit


@dataclass(frozen=True, slots=True)
class HwBreakpoint:
    """A hardware breakpoint: the slot it fills and the instruction address."""

    slot: int
    address: int

    @property
    def bcr(self) -> int:
        """DBGBCR: enabled, EL0 and EL1, all four bytes of the A64 instruction."""
        return with_fields(DBGBCR_FIELDS, E=1, PMC=_EL0_AND_EL1, BAS=0b1111)


@dataclass(frozen=True, slots=True)
class Watchpoint:
    """A watchpoint: slot, the first watched byte, how many bytes, and which accesses."""

    slot: int
    address: int
    size: int
    kind: str

    @property
    def end(self) -> int:
        return self.address + self.size

    def covers(self, address: int, write: bool) -> bool:
        """Is ``address`` one of the watched bytes, for an access of this direction?"""
        wanted = WATCH_KINDS[self.kind] & (DBGWCR_LSC_STORE if write else DBGWCR_LSC_LOAD)
        return bool(wanted) and self.address <= address < self.end

    def registers(self) -> tuple[int, int]:
        """(DBGWCR, DBGWVR): BAS selects the bytes of one doubleword, or for a larger
        power-of-two range MASK = log2(size) and BAS all ones (Arm ARM, "DBGWCR<n>_EL1")."""
        if self.size <= 8 and (self.address & 7) + self.size <= 8:
            bas = ((1 << self.size) - 1) << (self.address & 7)
            mask, wvr = 0, self.address & ~7
        else:
            bas, mask, wvr = 0xFF, self.size.bit_length() - 1, self.address
        wcr = with_fields(
            DBGWCR_FIELDS,
            E=1,
            PAC=_EL0_AND_EL1,
            LSC=WATCH_KINDS[self.kind],
            BAS=bas,
            MASK=mask,
        )
        return wcr, wvr


def check_watch(address: object, size: object, kind: object) -> tuple[int, int, str]:
    """The arguments of a watchpoint, checked: a ``ValueError`` names what is wrong."""
    if kind not in WATCH_KINDS:
        raise ValueError(f"watch kind {kind!r}: expected 'write', 'read' or 'access'")
    if isinstance(address, bool) or not isinstance(address, int):
        raise ValueError(f"watch address {address!r}: expected an integer")
    if not 0 <= address < _VA_LIMIT:
        raise ValueError(f"watch address {address:#x}: expected 0..2**48-1 (DBGWVR)")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"watch size {size!r}: expected an integer >= 1")
    if size <= 8 and (address & 7) + size <= 8:
        return address, size, kind  # bytes of one doubleword: BAS
    if size & (size - 1) or size > _MAX_WATCH or address % size:
        raise ValueError(
            f"watch {size} byte(s) at {address:#x}: expected 1..8 bytes inside one aligned "
            f"doubleword ({address & ~7:#x}..{(address & ~7) + 7:#x}), or a power of two "
            f"up to {_MAX_WATCH:#x} bytes at an address aligned to it (DBGWCR.MASK)"
        )
    return address, size, kind


class HwSlots:
    """The debugger's hardware breakpoint and watchpoint slots, and the
    ``GuestDebugArch`` they make."""

    def __init__(self) -> None:
        self._bps: list[HwBreakpoint | None] = [None] * GUEST_DEBUG_HW_BPS
        self._wps: list[Watchpoint | None] = [None] * GUEST_DEBUG_HW_WPS
        self._archs: dict[frozenset[tuple[str, int]], GuestDebugArch] = {}  # see ``arch``

    def __bool__(self) -> bool:
        return any(self._bps) or any(self._wps)

    @property
    def breakpoints(self) -> list[HwBreakpoint]:
        return [b for b in self._bps if b is not None]

    @property
    def watchpoints(self) -> list[Watchpoint]:
        return [w for w in self._wps if w is not None]

    def breakpoint_at(self, pc: int) -> HwBreakpoint | None:
        return next((b for b in self._bps if b is not None and b.address == pc), None)

    def watch_covering(self, address: int, write: bool) -> Watchpoint | None:
        """QEMU's ``find_hw_watchpoint``: ours whose bytes include ``address`` (the FAR)."""
        return next((w for w in self._wps if w is not None and w.covers(address, write)), None)

    def add_breakpoint(self, address: int) -> HwBreakpoint:
        """Fill a free slot (one already at ``address`` is returned as it is)."""
        if address % 4:
            raise BreakpointError(
                f"hardware breakpoint address {address:#x} is not a multiple of 4 "
                f"(an A64 instruction)",
                address,
            )
        if not 0 <= address < _VA_LIMIT:
            raise BreakpointError(
                f"hardware breakpoint address {address:#x}: expected 0..2**48-1 (DBGBVR)",
                address,
            )
        found = self.breakpoint_at(address)
        if found is not None:
            return found
        slot = _free(self._bps, "breakpoint", GUEST_DEBUG_HW_BPS, "BPS", address)
        bp = self._bps[slot] = HwBreakpoint(slot, address)
        self._archs.clear()
        return bp

    def remove_breakpoint(self, address: int) -> HwBreakpoint | None:
        bp = self.breakpoint_at(address)
        if bp is not None:
            self._bps[bp.slot] = None
            self._archs.clear()
        return bp

    def add_watch(self, address: int, size: int, kind: str) -> Watchpoint:
        address, size, kind = check_watch(address, size, kind)
        for w in self._wps:
            if w is not None and (w.address, w.size, w.kind) == (address, size, kind):
                return w
        slot = _free(self._wps, "watchpoint", GUEST_DEBUG_HW_WPS, "WPS", address)
        w = self._wps[slot] = Watchpoint(slot, address, size, kind)
        self._archs.clear()
        return w

    def remove_watch(self, address: int, size: int, kind: str) -> Watchpoint | None:
        for w in self._wps:
            if w is not None and (w.address, w.size, w.kind) == (address, size, kind):
                self._wps[w.slot] = None
                self._archs.clear()
                return w
        return None

    def clear(self) -> None:
        self._bps = [None] * GUEST_DEBUG_HW_BPS
        self._wps = [None] * GUEST_DEBUG_HW_WPS
        self._archs.clear()

    def arch(self, suspended: frozenset[tuple[str, int]] = frozenset()) -> GuestDebugArch:
        """The slots as ``struct kvm_guest_debug_arch``; ``suspended`` ("b"/"w", slot)
        pairs are left out (a step over the instruction that stopped on them). Kept until
        the slots change: every step-over asks for the same two."""
        cached = self._archs.get(suspended)
        if cached is not None:
            return cached
        bcr = [0] * KVM_ARM_MAX_DBG_REGS
        bvr = [0] * KVM_ARM_MAX_DBG_REGS
        wcr = [0] * KVM_ARM_MAX_DBG_REGS
        wvr = [0] * KVM_ARM_MAX_DBG_REGS
        for b in self.breakpoints:
            if ("b", b.slot) not in suspended:
                bcr[b.slot], bvr[b.slot] = b.bcr, b.address
        for w in self.watchpoints:
            if ("w", w.slot) not in suspended:
                wcr[w.slot], wvr[w.slot] = w.registers()
        arch = self._archs[suspended] = GuestDebugArch(
            dbg_bcr=tuple(bcr), dbg_bvr=tuple(bvr), dbg_wcr=tuple(wcr), dbg_wvr=tuple(wvr)
        )
        return arch


def _free(slots: list, kind: str, limit: int, cap: str, address: int) -> int:
    for i, used in enumerate(slots):
        if used is None:
            return i
    raise SlotsExhausted(kind, limit, cap, address)
