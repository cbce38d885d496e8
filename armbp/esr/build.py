"""Builders: the syndrome value the hardware writes into ESR_ELx for one exception.

A vCPU that emulates exception entry (Unicorn exposes no syndrome) calls these to fill
ESR_EL1 for the guest, or the ``hsr`` of a KVM-style debug exit. Every argument is
range-checked: a value that does not fit its field raises ``ValueError`` naming the
argument, the value and the range, so a wrong syndrome is never built silently.

Bit positions: the Arm ARM, register ESR_ELx, "ISS encoding for ..." sections named
next to each builder.
"""

from __future__ import annotations

from .classes import EC
from .fsc import FSC_DEBUG, FSC_TRANSLATION_L3

EC_SHIFT = 26  # ESR_ELx.EC, bits [31:26]
IL_BIT = 1 << 25  # ESR_ELx.IL, bit [25]: 1 = 32-bit instruction (and "not applicable")
ISS2_SHIFT = 32  # ESR_ELx.ISS2, bits [55:32]


def _fsc_at_level(base: int, level: int, name: str, lowest: int) -> int:
    if not isinstance(level, int) or isinstance(level, bool) or not lowest <= level <= 3:
        raise ValueError(f"{name} level {level!r} is out of range: expected {lowest}..3")
    if level == -1:  # FEAT_LPA2 level -1 codes sit apart from the 0..3 block
        return {0x00: 0x29, 0x04: 0x2B, 0x10: 0x13, 0x18: 0x1B}[base]
    return base + level


def fsc_address_size(level: int) -> int:
    """Address size fault at lookup level -1..3: 0x29 (level -1), 0x00..0x03."""
    return _fsc_at_level(0x00, level, "address size fault", -1)


def fsc_translation(level: int) -> int:
    """Translation fault at lookup level -1..3: 0x2B (level -1), 0x04..0x07."""
    return _fsc_at_level(0x04, level, "translation fault", -1)


def fsc_access_flag(level: int) -> int:
    """Access flag fault at lookup level 0..3: 0x08..0x0B."""
    return _fsc_at_level(0x08, level, "access flag fault", 0)


def fsc_permission(level: int) -> int:
    """Permission fault at lookup level 0..3: 0x0C..0x0F."""
    return _fsc_at_level(0x0C, level, "permission fault", 0)


def _field(name: str, value: object, width: int) -> int:
    """``value`` as an int that fits ``width`` bits, or ValueError naming the argument."""
    if isinstance(value, bool):
        value = int(value)
    if not isinstance(value, int):
        raise ValueError(
            f"{name}={value!r} is not an integer: expected 0..{(1 << width) - 1:#x}"
        )
    if not 0 <= value < 1 << width:
        raise ValueError(
            f"{name}={value!r} is out of range: expected 0..{(1 << width) - 1:#x}"
        )
    return value


def _flag(name: str, value: object) -> int:
    if isinstance(value, bool) or value in (0, 1):
        return int(value)
    raise ValueError(f"{name}={value!r} is out of range: expected a bool (0..1)")


def _esr(ec: int, iss: int, *, il: object = True, iss2: int = 0) -> int:
    return ec << EC_SHIFT | _flag("il", il) << 25 | iss | iss2 << ISS2_SHIFT


# --- exception-generating instructions ------------------------------------------------------
# DDI 0487, ESR_ELx, "ISS encoding for an exception from execution of a Breakpoint instruction"
# and "... from HVC or SVC instruction execution" / "... from SMC instruction execution in
# AArch64 state": ISS[15:0] = imm16, ISS[24:16] RES0.


def brk(imm16: int = 0) -> int:
    """``BRK #imm16`` trapped: EC 0x3C, IL 1, ISS = comment → ``0xf2000000 | imm16``."""
    return _esr(EC.BRK64, _field("imm16", imm16, 16))


def svc(imm16: int = 0) -> int:
    """``SVC #imm16`` from AArch64: EC 0x15 → ``0x56000000 | imm16``."""
    return _esr(EC.SVC64, _field("imm16", imm16, 16))


def hvc(imm16: int = 0) -> int:
    """``HVC #imm16`` from AArch64: EC 0x16 → ``0x5a000000 | imm16``."""
    return _esr(EC.HVC64, _field("imm16", imm16, 16))


def smc(imm16: int = 0) -> int:
    """``SMC #imm16`` from AArch64 (trapped or taken to EL3): EC 0x17 → ``0x5e000000 | imm16``."""
    return _esr(EC.SMC64, _field("imm16", imm16, 16))


def bkpt32(imm16: int = 0, *, il: bool = True) -> int:
    """AArch32 ``BKPT #imm16``: EC 0x38; IL 0 for the 16-bit T32 encoding."""
    return _esr(EC.BKPT32, _field("imm16", imm16, 16), il=il)


def unknown() -> int:
    """Exception with an unknown reason (UDF, unallocated encoding): ``0x02000000``.

    DDI 0487, ESR_ELx, "ISS encoding for exceptions with an unknown reason": ISS RES0, IL 1.
    """
    return _esr(EC.UNKNOWN, 0)


def wfx(ti: int = 0) -> int:
    """A trapped WFI (``ti`` 0) or WFE (1): EC 0x01, IL 1, CV 1, COND 0b1110 → ``0x07e00000``.

    DDI 0487, ESR_ELx, "ISS encoding for an exception from a WF* instruction": an A64
    instruction is unconditional, so the condition fields say "valid, always" (CV 1, COND
    0b1110); TI[1:0] names the instruction. The guest's kernel sees this when it clears
    SCTLR_EL1.nTWI and an EL0 program executes WFI.
    """
    return _esr(EC.WFX, 1 << 24 | 0b1110 << 20 | _field("ti", ti, 2))


def pc_alignment() -> int:
    """PC alignment fault: EC 0x22, IL 1, ISS RES0 → ``0x8a000000`` (FAR_ELx = the PC).

    DDI 0487, ESR_ELx, EC 0b100010 "PC alignment fault exception": taken when an
    instruction is fetched from a PC whose bits [1:0] are not zero (after a BR to an
    unaligned address, or an ERET to one).
    """
    return _esr(EC.PC_ALIGN, 0)


# --- debug exceptions (IL is 1 for all of them: DDI 0487, ESR_ELx.IL) -----------------------


def breakpoint(same_el: bool = False) -> int:
    """Hardware breakpoint: EC 0x30 (lower EL) / 0x31 (same EL), IFSC 0x22.

    DDI 0487, ESR_ELx, "ISS encoding for an exception from a Breakpoint or Vector Catch
    debug exception": ISS[24:6] RES0, IFSC[5:0] = 0b100010.
    """
    return _esr(EC.BREAKPT_LOW + _flag("same_el", same_el), FSC_DEBUG)


def software_step(same_el: bool = False, isv: bool = True, ex: bool = False) -> int:
    """Software step completed: EC 0x32/0x33, ISV[24], EX[6], IFSC 0x22.

    DDI 0487, ESR_ELx, "ISS encoding for an exception from a Software Step exception":
    ISV = 1 when EX holds valid information; EX = 1 when the stepped instruction was a
    Load-Exclusive. With ISV = 0 EX is RES0, so ``ex=True`` needs ``isv=True``.
    Lower EL, ISV set, ordinary instruction → ``0xcb000022``.
    """
    isv_bit, ex_bit = _flag("isv", isv), _flag("ex", ex)
    if ex_bit and not isv_bit:
        raise ValueError("ex=True is out of range with isv=False: EX is RES0 when ISV is 0")
    return _esr(
        EC.SOFTSTP_LOW + _flag("same_el", same_el), isv_bit << 24 | ex_bit << 6 | FSC_DEBUG
    )


def watchpoint(
    same_el: bool = False,
    wnr: bool = False,
    cm: bool = False,
    *,
    fnv: bool = False,
    vncr: bool = False,
    fnp: bool = False,
    wpf: bool = False,
    wpt: int | None = None,
    gcs: bool = False,
) -> int:
    """Watchpoint hit: EC 0x34/0x35, DFSC 0x22 (FAR_ELx holds the data address).

    DDI 0487, ESR_ELx, "ISS encoding for an exception from a Watchpoint exception":
    WPT[23:18] watchpoint number and WPTV[17] (FEAT_Debugv8p9; ``wpt=n`` sets both),
    WPF[16] might be a false positive, FnP[15] FAR not precise, VNCR[13], FnV[10] FAR not
    valid, CM[8] cache maintenance, WnR[6] write; ISS2 GCS[8] (FEAT_GCS).
    """
    iss = (
        _flag("wpf", wpf) << 16
        | _flag("fnp", fnp) << 15
        | _flag("vncr", vncr) << 13
        | _flag("fnv", fnv) << 10
        | _flag("cm", cm) << 8
        | _flag("wnr", wnr) << 6
        | FSC_DEBUG
    )
    if wpt is not None:
        iss |= _field("wpt", wpt, 6) << 18 | 1 << 17
    return _esr(EC.WATCHPT_LOW + _flag("same_el", same_el), iss, iss2=_flag("gcs", gcs) << 8)


# --- aborts ---------------------------------------------------------------------------------


def data_abort(
    same_el: bool = False,
    dfsc: int = FSC_TRANSLATION_L3,
    wnr: bool = False,
    s1ptw: bool = False,
    cm: bool = False,
    ea: bool = False,
    fnv: bool = False,
    isv: bool = False,
    sas: int = 0,
    sse: bool = False,
    srt: int = 0,
    sf: bool = False,
    ar: bool = False,
    *,
    vncr: bool = False,
    set_: int = 0,
    xs: int = 0,
    dirty_bit: bool = False,
    overlay: bool = False,
    assured_only: bool = False,
    gcs: bool = False,
    tag_access: bool = False,
    tnd: bool = False,
    hdbssf: bool = False,
    il: bool = True,
) -> int:
    """Data Abort: EC 0x24 (lower EL) / 0x25 (same EL).

    DDI 0487, ESR_ELx, "ISS encoding for an exception from a Data Abort":
    ISV[24] says the instruction syndrome SAS[23:22] (access size 1 << sas bytes),
    SSE[21] sign-extend, SRT[20:16] register, SF[15] 64-bit register, AR[14] acquire/release
    is valid; VNCR[13], SET[12:11] error synchronisation type (``set_``), FnV[10], EA[9],
    CM[8], S1PTW[7], WnR[6], DFSC[5:0].
    ISS2 ("ISS2 encoding for an exception from a Data Abort"): HDBSSF[11], TnD[10], TagAccess[9],
    GCS[8], AssuredOnly[7], Overlay[6], DirtyBit[5], Xs[4:0].
    IL is 1 whenever ISV is 0; only an AArch32 T32 16-bit load/store with ISV = 1 has IL 0.
    Combinations the hardware never writes (``cm`` without ``wnr``, instruction-syndrome
    fields without ``isv``, ``il=False`` without ``isv``) raise ValueError.
    """
    isv_bit = _flag("isv", isv)
    syndrome = (
        _field("sas", sas, 2) << 22
        | _flag("sse", sse) << 21
        | _field("srt", srt, 5) << 16
        | _flag("sf", sf) << 15
        | _flag("ar", ar) << 14
    )
    if syndrome and not isv_bit:
        raise ValueError(
            "sas/sse/srt/sf/ar are out of range with isv=False: "
            "ISS[23:14] hold the instruction syndrome only when ISV is 1"
        )
    if _flag("cm", cm) and not _flag("wnr", wnr):
        raise ValueError(
            "wnr=False is out of range with cm=True: cache maintenance and "
            "address translation instructions report WnR = 1"
        )
    if not isv_bit and not _flag("il", il):
        raise ValueError("il=False is out of range with isv=False: IL is 1 when ISV is 0")
    iss = (
        isv_bit << 24
        | syndrome
        | _flag("vncr", vncr) << 13
        | _field("set_", set_, 2) << 11
        | _flag("fnv", fnv) << 10
        | _flag("ea", ea) << 9
        | _flag("cm", cm) << 8
        | _flag("s1ptw", s1ptw) << 7
        | _flag("wnr", wnr) << 6
        | _field("dfsc", dfsc, 6)
    )
    iss2 = (
        _flag("hdbssf", hdbssf) << 11
        | _flag("tnd", tnd) << 10
        | _flag("tag_access", tag_access) << 9
        | _flag("gcs", gcs) << 8
        | _flag("assured_only", assured_only) << 7
        | _flag("overlay", overlay) << 6
        | _flag("dirty_bit", dirty_bit) << 5
        | _field("xs", xs, 5)
    )
    return _esr(EC.DABT_LOW + _flag("same_el", same_el), iss, il=il, iss2=iss2)


def instruction_abort(
    same_el: bool = False,
    ifsc: int = FSC_TRANSLATION_L3,
    s1ptw: bool = False,
    ea: bool = False,
    fnv: bool = False,
    *,
    set_: int = 0,
    assured_only: bool = False,
    overlay: bool = False,
) -> int:
    """Instruction Abort: EC 0x20 (lower EL) / 0x21 (same EL); IL is always 1.

    DDI 0487, ESR_ELx, "ISS encoding for an exception from an Instruction Abort":
    SET[12:11], FnV[10], EA[9], S1PTW[7], IFSC[5:0]; ISS2 ("ISS2 encoding for an exception
    from an Instruction Abort"): AssuredOnly[7], Overlay[6].
    """
    iss = (
        _field("set_", set_, 2) << 11
        | _flag("fnv", fnv) << 10
        | _flag("ea", ea) << 9
        | _flag("s1ptw", s1ptw) << 7
        | _field("ifsc", ifsc, 6)
    )
    iss2 = _flag("assured_only", assured_only) << 7 | _flag("overlay", overlay) << 6
    return _esr(EC.IABT_LOW + _flag("same_el", same_el), iss, iss2=iss2)


def sys64(
    op0: int, op1: int, crn: int, crm: int, op2: int, rt: int = 0, read: bool = True
) -> int:
    """Trapped MSR/MRS/SYS: EC 0x18 (DDI 0487, ESR_ELx, "ISS encoding for an exception from
    MSR, MRS, or System instruction execution in AArch64 state"): Op0[21:20], Op2[19:17],
    Op1[16:14], CRn[13:10], Rt[9:5], CRm[4:1], Direction[0] (1 = read, MRS).

    ``sys64(3, 0, 0, 0, 0, rt=1)`` is ``MRS X1, MIDR_EL1`` trapped.
    """
    iss = (
        _field("op0", op0, 2) << 20
        | _field("op2", op2, 3) << 17
        | _field("op1", op1, 3) << 14
        | _field("crn", crn, 4) << 10
        | _field("rt", rt, 5) << 5
        | _field("crm", crm, 4) << 1
        | _flag("read", read)
    )
    return _esr(EC.SYS64, iss)
