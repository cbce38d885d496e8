"""The debugger's hardware, as the model gives it: ``kvm_guest_debug_arch`` slots decoded.

``set_guest_debug(ENABLE | USE_HW, arch)`` hands the vCPU the DBGBCR/DBGBVR and
DBGWCR/DBGWVR values a debugger wrote. ``decode`` reads them as the architecture defines
them and keeps what the model can honour: an unlinked instruction address match for a
breakpoint, an unlinked data address match for a watchpoint (Arm ARM, "Breakpoint
exceptions", "Watchpoint exceptions"). Anything else — a context or linked type, a
higher-mode or security-state control, a byte selection of half an instruction, a
reserved mask — is refused with a ``ValueError`` naming the register, the slot, the field
and the value, before anything changes. Pure: no Unicorn here (the hooks are in ``core``).

How the model makes them fire (chosen by measurement, ``benchmarks/bench_hwdebug.py``;
Unicorn compiles the architecture's watchpoints out):

* a breakpoint is a ``UC_HOOK_CODE`` bounded to its one instruction: Unicorn decides at
  translation time whether an instruction calls the hook, so code that never reaches the
  address runs as fast as with no hook (0.94–0.99× raw), and the hook runs before the
  instruction, so the exit has pc = the instruction, not executed;
* a store watchpoint is page protection: the watched bytes' pages lose write permission
  and the protection hook decides whether the store overlaps the watched bytes. Code that
  does not store to those pages keeps Unicorn's inline TLB fast path (0.95–0.98× raw),
  and the hook runs before the store: returning False ends the run with memory
  unchanged, as a watchpoint exception is taken before the access. A store next to the
  watched bytes is done by the hook (Unicorn drops a store the hook lets through). The
  page before is protected too when the watched bytes begin within 15 bytes of it:
  Unicorn does a page-crossing store byte by byte, so with the watched page alone the
  bytes before it were written and FAR named the last byte (measured);
* a load watchpoint is page protection too: its pages (and the page before, if the
  watched bytes begin within 15 bytes of it) lose read and write permission, after a TLB
  flush. Code that does not touch those pages runs as with no watchpoint (0.89–1.08× raw,
  where a ``UC_HOOK_MEM_READ`` bounded to the watched bytes cost 1.40–1.55× on all code,
  since any read hook sends every load of every page through a C helper). The
  read-protection hook runs before the load: returning False ends the run with the
  destination register unwritten. What Unicorn 2.1.4 does around it, measured:

  - a page's TLB entry, once filled, serves later loads without the permission check:
    the flush after protecting; write permission goes too, since a store to the page
    would fill it (a store the write hook does and lets through does not);
  - a load beside the watched bytes cannot be let through (that fills the entry) and a
    TLB flush inside the hook crashes Unicorn: the run stops before the load, and goes
    on with the read hook for the rest of it (the next run protects again);
  - an instruction fetch needs no read permission, but it fills the entry: a
    ``UC_HOOK_BLOCK`` bounded to the page (free for code elsewhere) stops before the
    first block that runs there, and that page is watched by the read hook from then on;
  - only a load's first byte is checked: a load from the page before that straddles
    into the watched bytes is seen only if that page is protected as well;
  - LSE atomics (LDADD, SWP, CAS) are UNDEFINED on Unicorn's CPU (no FEAT_LSE), so no
    watchpoint meets one; a Store-Exclusive is a store like any other (WnR=1);
  - a run with an instruction budget cannot be resumed after such a stop: it uses the
    read hook (Unicorn's instruction count hooks every instruction in such a run anyway).

  The read hook, where it is used, takes read permission from the page on a hit, so
  that the load itself faults into the protection hook before it reads; the registers
  are put back as they were before the load's block went on. Arming it drops the
  translations (measured: after a stop in mid-run, code translated before loaded on
  without calling it).
  Memory hooks for stores were 1.17–1.20× everywhere, and a stop asked for in them does
  not keep the store from happening.
"""

from __future__ import annotations

from dataclasses import dataclass

from armbp.kvm.abi import GUEST_DEBUG_HW_BPS, GUEST_DEBUG_HW_WPS, GuestDebugArch
from armbp.kvm.arch import (
    DBG_VA_BITS,
    DBGBCR_FIELDS,
    DBGWCR_FIELDS,
    DBGWCR_LSC_LOAD,
    DBGWCR_LSC_STORE,
    DBGWCR_MASK_MAX,
    DBGWCR_MASK_MIN,
    field,
)

__all__ = ["HwPlan", "WatchRange", "decode", "load_exclusive"]


@dataclass(frozen=True, slots=True)
class WatchRange:
    """One enabled watchpoint: the bytes ``start``..``end - 1``, which accesses it
    watches, and at which ELs (``privilege`` bit 0: EL1, bit 1: EL0, as DBGWCR.PAC)."""

    slot: int
    start: int
    end: int
    loads: bool
    stores: bool
    privilege: int

    def hit(self, address: int, size: int, write: bool) -> bool:
        """Does an access of ``size`` bytes at ``address`` trigger it? Any overlap counts
        (Arm ARM, "Watchpoint exceptions": a partial overlap of the access triggers)."""
        return (self.stores if write else self.loads) and (
            address < self.end and self.start < address + size
        )


@dataclass(frozen=True, slots=True)
class HwPlan:
    """What the vCPU arms: breakpoint address → (slot, PMC), and the watch ranges."""

    breakpoints: dict[int, tuple[int, int]]
    watchpoints: tuple[WatchRange, ...]


_NONE = HwPlan({}, ())
_RES0_BCR = ~sum(((1 << w) - 1) << low for low, w in DBGBCR_FIELDS.values()) & (1 << 64) - 1
_RES0_WCR = ~sum(((1 << w) - 1) << low for low, w in DBGWCR_FIELDS.values()) & (1 << 64) - 1


def _refuse(register: str, slot: int, value: int, what: str) -> ValueError:
    return ValueError(f"{register}{slot}_EL1 = {value:#x} (slot {slot}): {what}")


def _address(register: str, slot: int, value: int) -> int:
    """The VA a DBGBVR/DBGWVR holds: bits [1:0] RES0, [63:49] a copy of bit 48."""
    if value & 3:
        raise _refuse(register, slot, value, "bits [1:0] are RES0 (a word-aligned address)")
    top = value >> DBG_VA_BITS
    sign = value >> (DBG_VA_BITS - 1) & 1
    if top != (((1 << (64 - DBG_VA_BITS)) - 1) if sign else 0):
        raise _refuse(
            register, slot, value, "bits [63:49] must repeat bit 48 (a sign-extended VA[48:2])"
        )
    return value


_COMMON_CHECKS = (
    ("HMC", 0, "only 0 is modelled (no EL2 or EL3 matching)"),
    ("SSC", 0, "only 0b00 is modelled (either security state)"),
    ("LBN", 0, "must be 0 for an unlinked one"),
)
_BCR_CHECKS = (
    ("BT", 0, "only 0b0000, an unlinked instruction address match, is modelled"),
    *_COMMON_CHECKS,
    ("BAS", 0b1111, "must be 0b1111 for an A64 instruction"),
)
_WCR_CHECKS = (
    ("WT", 0, "only 0, an unlinked data address match, is modelled"),
    *_COMMON_CHECKS,
)


def _check_fields(
    reg: str,
    slot: int,
    value: int,
    layout: dict[str, tuple[int, int]],
    res0: int,
    checks: tuple[tuple[str, int, str], ...],
) -> None:
    """Refuse RES0 bits and any field of ``checks`` that is not its one modelled value."""
    if value & res0:
        raise _refuse(reg, slot, value, f"RES0 bits {value & res0:#x} are set")
    for name, want, why in checks:
        got = field(value, layout, name)
        if got != want:
            raise _refuse(reg, slot, value, f"{name}={got:#x} is not modelled: {why}")


def _breakpoint(slot: int, bcr: int, bvr: int) -> tuple[int, int] | None:
    if not bcr & 1:
        return None
    _check_fields("DBGBCR", slot, bcr, DBGBCR_FIELDS, _RES0_BCR, _BCR_CHECKS)
    pmc = field(bcr, DBGBCR_FIELDS, "PMC")
    if pmc == 0:
        raise _refuse("DBGBCR", slot, bcr, "PMC=0b00 matches at no EL (with HMC=0, SSC=0b00)")
    return _address("DBGBVR", slot, bvr), pmc


def _watchpoint(slot: int, wcr: int, wvr: int) -> WatchRange | None:
    if not wcr & 1:
        return None
    reg = "DBGWCR"
    _check_fields(reg, slot, wcr, DBGWCR_FIELDS, _RES0_WCR, _WCR_CHECKS)
    pac, lsc = field(wcr, DBGWCR_FIELDS, "PAC"), field(wcr, DBGWCR_FIELDS, "LSC")
    bas, mask = field(wcr, DBGWCR_FIELDS, "BAS"), field(wcr, DBGWCR_FIELDS, "MASK")
    if pac == 0:
        raise _refuse(reg, slot, wcr, "PAC=0b00 matches at no EL (with HMC=0, SSC=0b00)")
    if lsc == 0:
        raise _refuse(
            reg, slot, wcr, "LSC=0b00 is reserved (0b01 loads, 0b10 stores, 0b11 both)"
        )
    address = _address("DBGWVR", slot, wvr)
    if mask:
        if not DBGWCR_MASK_MIN <= mask <= DBGWCR_MASK_MAX:
            raise _refuse(
                reg, slot, wcr, f"MASK={mask} is reserved (0, or {DBGWCR_MASK_MIN}..31)"
            )
        if bas != 0xFF:
            raise _refuse(reg, slot, wcr, f"BAS={bas:#04x} with MASK={mask}: must be 0xff")
        if address & ((1 << mask) - 1):
            raise _refuse(
                "DBGWVR", slot, wvr, f"not aligned to the 2**{mask} bytes DBGWCR.MASK watches"
            )
        start, end = address, address + (1 << mask)
    else:
        if not bas:
            raise _refuse(reg, slot, wcr, "BAS=0x00 watches no byte")
        if address & 4 and bas >> 4:
            raise _refuse(
                reg, slot, wcr, f"BAS={bas:#04x} with DBGWVR[2] set: BAS[7:4] are RES0"
            )
        low = (bas & -bas).bit_length() - 1
        length = (bas >> low).bit_length()
        if bas >> low != (1 << length) - 1:
            raise _refuse(
                reg, slot, wcr, f"BAS={bas:#010b} is not modelled: only contiguous bytes"
            )
        start = (address & ~7) + (4 if address & 4 else 0) + low
        end = start + length
    return WatchRange(
        slot,
        start,
        end,
        loads=bool(lsc & DBGWCR_LSC_LOAD),
        stores=bool(lsc & DBGWCR_LSC_STORE),
        privilege=pac,
    )


def decode(arch: GuestDebugArch | None) -> HwPlan:
    """The breakpoints and watchpoints ``arch`` enables; ``ValueError`` for a value the
    model does not honour (nothing is armed then) or a slot past the limits."""
    if arch is None:
        return _NONE
    for name, limit, cap in (
        ("dbg_bcr", GUEST_DEBUG_HW_BPS, "BPS"),
        ("dbg_bvr", GUEST_DEBUG_HW_BPS, "BPS"),
        ("dbg_wcr", GUEST_DEBUG_HW_WPS, "WPS"),
        ("dbg_wvr", GUEST_DEBUG_HW_WPS, "WPS"),
    ):
        for slot, value in enumerate(getattr(arch, name)[limit:], start=limit):
            if value:
                raise ValueError(
                    f"{name}[{slot}] = {value:#x}: this vCPU has {limit} slots "
                    f"(KVM_CAP_GUEST_DEBUG_HW_{cap}); slots {limit}..15 must be zero"
                )
    breakpoints: dict[int, tuple[int, int]] = {}
    for slot in range(GUEST_DEBUG_HW_BPS):
        got = _breakpoint(slot, arch.dbg_bcr[slot], arch.dbg_bvr[slot])
        if got is not None:
            address, pmc = got
            old = breakpoints.get(address)
            breakpoints[address] = (old[0] if old else slot, pmc | (old[1] if old else 0))
    watchpoints = tuple(
        w
        for slot in range(GUEST_DEBUG_HW_WPS)
        if (w := _watchpoint(slot, arch.dbg_wcr[slot], arch.dbg_wvr[slot])) is not None
    )
    return HwPlan(breakpoints, watchpoints)


def load_exclusive(word: int) -> bool:
    """Is the A64 instruction ``word`` a Load-Exclusive (LDXR, LDAXR, LDXP, LDAXP and
    their byte/halfword forms)?

    Arm ARM, "Load/store exclusive": bits [29:24] = 0b001000, o2 (bit 23) = 0, L (bit
    22) = 1; o1 (bit 21) = 1 is the pair form, whose size bit 31 is 1 (with bit 31 = 0 the
    same pattern is CASP). Stepping one sets ESR.EX in the software-step syndrome.
    """
    return word & 0x3FC0_0000 == 0x0840_0000 and (not word >> 21 & 1 or bool(word >> 31 & 1))
