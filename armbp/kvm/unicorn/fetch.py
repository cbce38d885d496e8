"""Why an instruction fetch faults: the stage 1 translation of the PC, done by hand.

Unicorn reports a failed fetch as QEMU's ``EXCP_PREFETCH_ABORT`` (interrupt 3) and keeps
the syndrome to itself; a guest-programmed hardware breakpoint arrives under the same
number. To give the guest the exception the hardware would take, the vCPU asks two
questions of the state it can read: does a breakpoint the guest programmed match the PC
(``breakpoint_matches``), and if not, where does translating the PC fail
(``fetch_fault``): the fault status code for ESR_ELx.IFSC, or None if the PC is
fetchable.

The translation follows the Arm ARM (DDI 0487), "The AArch64 Virtual Memory System
Architecture": with the MMU off the VA is the PA and must fit the implemented PA size;
with it on, the VA selects TTBR0 or TTBR1 by its top bits, and the walk reads one
descriptor per level (4 KB, 16 KB or 64 KB granule) down to a block or a page, then
checks the Access flag and the execute permissions. Pure Python: the caller passes the
registers and a function that reads 8 bytes of physical memory.
"""

from __future__ import annotations

from collections.abc import Callable

from armbp.esr import fsc_access_flag, fsc_address_size, fsc_permission, fsc_translation

__all__ = ["breakpoint_matches", "fetch_fault", "pa_bits"]

# "ID_AA64MMFR0_EL1, AArch64 Memory Model Feature Register 0": PARange; and TCR_ELx.IPS
_PA_SIZES = {0: 32, 1: 36, 2: 40, 3: 42, 4: 44, 5: 48, 6: 52}
# FSC "Synchronous External abort on translation table walk, level n": 0b0101nn
_FSC_WALK_EXTERNAL = 0x14
# TCR_EL1.TG0 / TG1 encodings → log2 of the granule ("TCR_EL1, Translation Control Register")
_TG0 = {0b00: 12, 0b01: 16, 0b10: 14}
_TG1 = {0b10: 12, 0b11: 16, 0b01: 14}
_OA_MASK = (1 << 48) - 1  # descriptor output address bits [47:n] (no FEAT_LPA)


def pa_bits(id_aa64mmfr0: int) -> int:
    """The implemented physical address size from ID_AA64MMFR0_EL1.PARange."""
    return _PA_SIZES.get(id_aa64mmfr0 & 0xF, 48)


def breakpoint_matches(
    pc: int,
    *,
    el: int,
    pstate: int,
    mdscr: int,
    read_bcr: Callable[[int], int],
    read_bvr: Callable[[int], int],
    count: int,
) -> bool:
    """Does one of the guest's ``count`` hardware breakpoints match an instruction at pc?

    Arm ARM, "Breakpoint exceptions": debug exceptions must be enabled (MDSCR_EL1.MDE; at
    EL1 also MDSCR_EL1.KDE and PSTATE.D clear), DBGBCR<n>.E set, an address-match type
    (BT 0b000x), PMC selecting the current EL, and DBGBVR<n> equal to the PC.
    """
    if not mdscr >> 15 & 1:  # MDSCR_EL1.MDE
        return False
    if el == 1 and (not mdscr >> 13 & 1 or pstate >> 9 & 1):  # KDE, PSTATE.D
        return False
    if el > 1:
        return False
    want = 0b10 if el == 0 else 0b01  # DBGBCR.PMC: bit for EL0 / EL1
    for n in range(count):
        bcr = read_bcr(n)
        if not bcr & 1 or bcr >> 21 & 0x7 or not bcr >> 1 & want:  # E, BT[3:1] = 000, PMC
            continue
        if (read_bvr(n) ^ pc) & ((1 << 49) - 1) & ~3 == 0:  # VA[48:2]; [63:49] sign-extend
            return True
    return False


def fetch_fault(
    va: int,
    *,
    el: int,
    sctlr: int,
    tcr: int,
    ttbr0: int,
    ttbr1: int,
    pa_size: int,
    read64: Callable[[int], int | None],
) -> int | None:
    """The IFSC of a fetch at ``va`` from EL ``el`` (0 or 1), or None if it is fetchable.

    ``read64(pa)`` returns the descriptor at a physical address, None if nothing is
    there (a Synchronous External abort on the walk).
    """
    if not sctlr & 1:  # SCTLR_EL1.M = 0: flat, but the VA must fit the PA size
        return fsc_address_size(0) if va >> pa_size else None
    upper = va >> 55 & 1
    if upper:
        tsz, granule, epd = tcr >> 16 & 0x3F, _TG1.get(tcr >> 30 & 3, 12), tcr >> 23 & 1
        tbi, tbid, ttbr = tcr >> 38 & 1, tcr >> 52 & 1, ttbr1
    else:
        tsz, granule, epd = tcr & 0x3F, _TG0.get(tcr >> 14 & 3, 12), tcr >> 7 & 1
        tbi, tbid, ttbr = tcr >> 37 & 1, tcr >> 51 & 1, ttbr0
    tsz = min(max(tsz, 16), 39)  # out-of-range TnSZ: treated as the nearest allowed value
    va_bits = 64 - tsz
    top = 56 if tbi and not tbid else 64  # the top byte is ignored for fetches only then
    high = va >> va_bits & ((1 << (top - va_bits)) - 1)
    if high != (((1 << (top - va_bits)) - 1) if upper else 0) or epd:
        return fsc_translation(0)  # outside this TTBR's range, or its walks are disabled
    ips = min(_PA_SIZES.get(tcr >> 32 & 7, 48), pa_size)
    stride = granule - 3
    levels = -(-(va_bits - granule) // stride)
    level = 4 - levels
    table = ttbr & _OA_MASK & ~1
    if table >> ips:
        return fsc_address_size(0)
    pxn_table = uxn_table = ap_table = 0
    while True:
        shift = granule + stride * (3 - level)
        index = (va & ((1 << va_bits) - 1)) >> shift & ((1 << stride) - 1)
        desc = read64(table + 8 * index)
        if desc is None:
            return _FSC_WALK_EXTERNAL + level
        if not desc & 1:
            return fsc_translation(level)
        is_table = desc >> 1 & 1
        if level < 3 and is_table:  # "Table descriptor": next level, and its limits
            table = desc & _OA_MASK & ~((1 << granule) - 1)
            if table >> ips:
                return fsc_address_size(level)
            pxn_table |= desc >> 59 & 1
            uxn_table |= desc >> 60 & 1
            ap_table |= desc >> 61 & 3
            level += 1
            continue
        # a block (levels 1-2 with 4 KB granules, level 2 with 16/64 KB) or a level 3 page
        block_ok = level == 3 and is_table or level == 2 or level == 1 and granule == 12
        if not block_ok:
            return fsc_translation(level)
        if (desc & _OA_MASK & ~((1 << shift) - 1)) >> ips:
            return fsc_address_size(level)
        if not desc >> 10 & 1:  # AF
            return fsc_access_flag(level)
        return (
            None
            if _executable(desc, el, sctlr, pxn_table, uxn_table, ap_table)
            else fsc_permission(level)
        )


def _executable(
    desc: int, el: int, sctlr: int, pxn_table: int, uxn_table: int, ap_table: int
) -> bool:
    """Arm ARM, "Instruction execution permissions" (stage 1, EL1&0 regime).

    AP[2:1] with APTable applied; EL0 executes unless UXN; EL1 executes unless PXN or the
    page is writable at EL0 (always privileged execute-never); SCTLR_EL1.WXN makes any
    writable page execute-never.
    """
    ap2 = desc >> 7 & 1 | ap_table >> 1 & 1  # 1: read-only
    ap1 = desc >> 6 & 1 & ~ap_table & 1  # 1: EL0 has access
    if el == 0:
        never = desc >> 54 & 1 or uxn_table
        writable = ap1 and not ap2
    else:
        never = desc >> 53 & 1 or pxn_table or (ap1 and not ap2)
        writable = not ap2
    return not never and not (sctlr >> 19 & 1 and writable)
