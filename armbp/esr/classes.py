"""Exception classes: the EC field of ESR_ELx, bits [31:26], one row per class.

Each member of ``EC`` is one row: its value, the short name the Linux kernel prints in its
"ESR = 0x…" abort dump and "Unhandled exception" messages (so a learner can match a crash log
word for word), the ``Layout`` of its ISS (from a family module in ``armbp.esr.families``),
and the Arm ARM's description. Values and descriptions follow the Arm ARM, register pages
ESR_EL1/ESR_EL2/ESR_EL3, field "EC, bits [31:26]", table "Exception Class encoding".

``CLASSES`` (value -> ``ExceptionClass``) is what the decoder reads; ``EC_INFO`` and
``LAYOUTS`` are views of it. ``register`` adds a class at run time (an IMPLEMENTATION DEFINED
or future one) the same way the rows below are added at import.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

from .families import aborts, calls, control, debug, fp, memory, other, system
from .spec import Layout, validate


class EC(IntEnum):
    """Every Exception Class the Arm ARM defines (ESR_ELx.EC): value, short name, ISS
    layout, description."""

    short: str
    layout: Layout
    description: str

    def __new__(cls, value: int, short: str, layout: Layout, description: str) -> EC:
        member = int.__new__(cls, value)
        member._value_ = value
        member.short, member.layout, member.description = short, layout, description
        return member

    UNKNOWN = (
        0x00,
        "Unknown/Uncategorized",
        other.UNKNOWN,
        "Exception with an unknown reason",
    )
    WFX = (0x01, "WFI/WFE", other.WFX, "Trapped WFI, WFE, WFIT or WFET instruction execution")
    CP15_32 = (
        0x03,
        "CP15 MCR/MRC",
        system.CP15_32,
        "Trapped MCR or MRC access with coproc == 0b1111 (AArch32)",
    )
    CP15_64 = (
        0x04,
        "CP15 MCRR/MRRC",
        system.CP15_64,
        "Trapped MCRR or MRRC access with coproc == 0b1111 (AArch32)",
    )
    CP14_MR = (
        0x05,
        "CP14 MCR/MRC",
        system.CP14_MR,
        "Trapped MCR or MRC access with coproc == 0b1110 (AArch32)",
    )
    CP14_LS = (0x06, "CP14 LDC/STC", system.CP14_LS, "Trapped LDC or STC access (AArch32)")
    FP_ASIMD = (
        0x07,
        "ASIMD",
        fp.FP_ASIMD,
        (
            "Access to SME, SVE, Advanced SIMD or floating-point functionality trapped"
            " by CPACR_EL1.FPEN, CPTR_EL2.FPEN, CPTR_EL2.TFP or CPTR_EL3.TFP"
        ),
    )
    CP10_ID = (
        0x08,
        "CP10 MRC/VMRS",
        system.CP10_ID,
        "Trapped VMRS access from ID group trap (AArch32, HCR_EL2.TID0)",
    )
    PAC = (
        0x09,
        "PAC",
        control.PAC,
        "Trapped pointer authentication instruction (HCR_EL2.API or SCR_EL3.API)",
    )
    LS64 = (
        0x0A,
        "LDST64B",
        memory.LS64,
        "Trapped execution of an LD64B or ST64B* instruction, or of TSB CSYNC / PSB CSYNC",
    )
    CP14_64 = (
        0x0C,
        "CP14 MCRR/MRRC",
        system.CP14_64,
        "Trapped MRRC access with coproc == 0b1110 (AArch32)",
    )
    BTI = (0x0D, "BTI", control.BTI, "Branch Target Exception")
    ILL = (0x0E, "PSTATE.IL", control.ILL, "Illegal Execution state")
    SVC32 = (0x11, "SVC (AArch32)", calls.SVC32, "SVC instruction execution in AArch32 state")
    HVC32 = (0x12, "HVC (AArch32)", calls.HVC, "HVC instruction execution in AArch32 state")
    SMC32 = (0x13, "SMC (AArch32)", calls.SMC32, "SMC instruction execution in AArch32 state")
    SYS128 = (
        0x14,
        "MSRR/MRRS (AArch64)",
        system.SYS128,
        "Trapped MSRR, MRRS or 128-bit System instruction execution in AArch64 state",
    )
    SVC64 = (0x15, "SVC (AArch64)", calls.SVC64, "SVC instruction execution in AArch64 state")
    HVC64 = (0x16, "HVC (AArch64)", calls.HVC, "HVC instruction execution in AArch64 state")
    SMC64 = (0x17, "SMC (AArch64)", calls.SMC64, "SMC instruction execution in AArch64 state")
    SYS64 = (
        0x18,
        "MSR/MRS (AArch64)",
        system.SYS64,
        "Trapped MSR, MRS or System instruction execution in AArch64 state",
    )
    SVE = (
        0x19,
        "SVE",
        fp.SVE,
        (
            "Access to SVE functionality trapped by CPACR_EL1.ZEN, CPTR_EL2.ZEN, "
            "CPTR_EL2.TZ or CPTR_EL3.EZ"
        ),
    )
    ERET = (
        0x1A,
        "ERET/ERETAA/ERETAB",
        control.ERET,
        "Trapped ERET, ERETAA or ERETAB instruction execution",
    )
    TSTART = (0x1B, "TSTART", other.TSTART, "Trapped TSTART instruction (FEAT_TME)")
    FPAC = (
        0x1C,
        "FPAC",
        control.FPAC,
        "Exception from a Pointer Authentication instruction authentication failure",
    )
    SME = (
        0x1D,
        "SME",
        fp.SME,
        (
            "Access to SME functionality trapped, or an instruction illegal for the current"
            " PSTATE.SM or PSTATE.ZA"
        ),
    )
    GPC = (0x1E, "GPC", aborts.GPC, "Granule Protection Check exception")
    IMP_DEF = (0x1F, "EL3 IMP DEF", other.IMP_DEF, "IMPLEMENTATION DEFINED exception to EL3")
    IABT_LOW = (
        0x20,
        "IABT (lower EL)",
        aborts.INSTRUCTION_ABORT,
        "Instruction Abort from a lower Exception level",
    )
    IABT_CUR = (
        0x21,
        "IABT (current EL)",
        aborts.INSTRUCTION_ABORT,
        "Instruction Abort taken without a change in Exception level",
    )
    PC_ALIGN = (0x22, "PC Alignment", control.PC_ALIGN, "PC alignment fault exception")
    DABT_LOW = (
        0x24,
        "DABT (lower EL)",
        aborts.DATA_ABORT,
        "Data Abort from a lower Exception level",
    )
    DABT_CUR = (
        0x25,
        "DABT (current EL)",
        aborts.DATA_ABORT,
        "Data Abort taken without a change in Exception level",
    )
    SP_ALIGN = (0x26, "SP Alignment", control.SP_ALIGN, "SP alignment fault exception")
    MOPS = (0x27, "MOPS", memory.MOPS, "Memory Operation (CPY*/SET*) exception")
    FP_EXC32 = (
        0x28,
        "FP (AArch32)",
        fp.FP_EXC32,
        "Trapped floating-point exception taken from AArch32 state",
    )
    FP_EXC64 = (
        0x2C,
        "FP (AArch64)",
        fp.FP_EXC64,
        "Trapped floating-point exception taken from AArch64 state",
    )
    GCS = (0x2D, "Guarded Control Stack", control.GCS, "GCS exception")
    SERROR = (0x2F, "SError", aborts.SERROR, "SError exception")
    BREAKPT_LOW = (
        0x30,
        "Breakpoint (lower EL)",
        debug.HW_BREAKPOINT,
        "Breakpoint exception from a lower Exception level",
    )
    BREAKPT_CUR = (
        0x31,
        "Breakpoint (current EL)",
        debug.HW_BREAKPOINT,
        "Breakpoint exception taken without a change in Exception level",
    )
    SOFTSTP_LOW = (
        0x32,
        "Software Step (lower EL)",
        debug.SOFTWARE_STEP,
        "Software Step exception from a lower Exception level",
    )
    SOFTSTP_CUR = (
        0x33,
        "Software Step (current EL)",
        debug.SOFTWARE_STEP,
        "Software Step exception taken without a change in Exception level",
    )
    WATCHPT_LOW = (
        0x34,
        "Watchpoint (lower EL)",
        debug.WATCHPOINT,
        "Watchpoint exception from a lower Exception level",
    )
    WATCHPT_CUR = (
        0x35,
        "Watchpoint (current EL)",
        debug.WATCHPOINT,
        "Watchpoint exception taken without a change in Exception level",
    )
    BKPT32 = (
        0x38,
        "BKPT (AArch32)",
        debug.BKPT,
        "BKPT instruction execution in AArch32 state",
    )
    VECTOR32 = (
        0x3A,
        "Vector catch (AArch32)",
        debug.HW_BREAKPOINT,
        "Vector Catch exception from AArch32 state",
    )
    BRK64 = (0x3C, "BRK (AArch64)", debug.BRK, "BRK instruction execution in AArch64 state")
    PMU = (0x3D, "PMU", other.PMU, "PMU exception")


class ExceptionClass(NamedTuple):
    """One allocated Exception Class as the decoder sees it."""

    value: int
    name: str  # the constant's name, e.g. "BRK64"
    short: str  # the kernel's short name, e.g. "BRK (AArch64)"
    layout: Layout  # its ISS layout
    description: str  # the Arm ARM's description


CLASSES: dict[int, ExceptionClass] = {
    ec.value: ExceptionClass(ec.value, ec.name, ec.short, ec.layout, ec.description)
    for ec in EC
}
# Views kept for the tables' readers: EC -> (short name, description), EC -> Layout.
EC_INFO: dict[int, tuple[str, str]] = {ec: (ec.short, ec.description) for ec in EC}
LAYOUTS: dict[int, Layout] = {ec: ec.layout for ec in EC}


def register(
    value: int, name: str, short: str, layout: Layout, description: str
) -> ExceptionClass:
    """Add an Exception Class the ``EC`` table does not have, at run time.

    For an IMPLEMENTATION DEFINED class or one from a newer Arm ARM before it gets its row,
    and for tests. ``value`` must be an unallocated EC (0..63, not in ``CLASSES``) and
    ``layout`` well formed; otherwise ValueError, and nothing changes. Decoding picks the
    class up at once (the decoder's caches are cleared).
    """
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0x3F:
        raise ValueError(f"EC value {value!r} is out of range: expected 0..0x3f")
    if value in CLASSES:
        raise ValueError(
            f"EC {value:#04x} is already allocated to {CLASSES[value].name}: "
            "expected an unallocated value"
        )
    if not isinstance(layout, Layout):
        raise ValueError(f"layout {layout!r} is not a Layout: expected armbp.esr.Layout(...)")
    validate(layout)
    row = CLASSES[value] = ExceptionClass(value, name, short, layout, description)
    EC_INFO[value] = (short, description)
    LAYOUTS[value] = layout
    _changed()
    return row


def unregister(value: int) -> None:
    """Remove a class added by ``register`` (the ``EC`` rows stay: ValueError for them)."""
    if value not in CLASSES or any(value == ec for ec in EC):
        raise ValueError(f"EC {value!r} was not added by register(): expected one that was")
    del CLASSES[value], EC_INFO[value], LAYOUTS[value]
    _changed()


def _changed() -> None:
    from . import decoder  # imported here: decoder imports this module

    decoder.clear_caches()


def layout(ec: int) -> Layout:
    """The ISS layout of an Exception Class (``other.UNALLOCATED`` for an unknown one)."""
    row = CLASSES.get(ec)
    return row.layout if row is not None else other.UNALLOCATED


def validate_tables() -> None:
    """ValueError if any class's layout is malformed (run by the tests, not at import:
    start-up time)."""
    for row in [*CLASSES.values()]:
        validate(row.layout)
    validate(other.UNALLOCATED)
