"""Trapped system-register and coprocessor accesses: MSR/MRS/SYS, MSRR/MRRS, and AArch32
MCR/MRC, MCRR/MRRC, LDC/STC, VMRS.

Arm ARM, register ESR_ELx: "ISS encoding for an exception from MSR, MRS, or System
instruction execution in AArch64 state", "... from MSRR, MRRS, or 128-bit System instruction
execution in AArch64 state", "... from an MCR or MRC access", "... from an MCRR or MRRC
access", "... from an LDC or STC instruction". The Direction field's meaning spells the whole
trapped instruction, so its formatter reads the other fields (declared with it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import sysreg
from ..spec import F, Layout, flag, formatter
from .common import COND, CV, hex_value, xreg

if TYPE_CHECKING:
    from ..spec import Formatter

# --- formatters: the Direction bit, phrased as the instruction that trapped ------------------


@formatter((21, 1))  # Op0, Op2, Op1, CRn, Rt, CRm
def sys64_dir(v: int, esr: int) -> str:
    op0, op2, op1 = esr >> 20 & 3, esr >> 17 & 7, esr >> 14 & 7
    crn, rt, crm = esr >> 10 & 0xF, esr >> 5 & 0x1F, esr >> 1 & 0xF
    _name, asm = sysreg.describe(op0, op1, crn, crm, op2, rt, bool(v))
    return f"{'read' if v else 'write'}: {asm}"


@formatter((21, 6), (4, 1))  # Op0, Op2, Op1, CRn, Rt (a pair: bits [9:6]), CRm
def sys128_dir(v: int, esr: int) -> str:
    op0, op2, op1 = esr >> 20 & 3, esr >> 17 & 7, esr >> 14 & 7
    crn, rt, crm = esr >> 10 & 0xF, (esr >> 6 & 0xF) * 2, esr >> 1 & 0xF
    name = sysreg.generic_name(op0, op1, crn, crm, op2)
    pair = f"X{rt}, X{rt + 1}"
    return f"read: MRRS {pair}, {name}" if v else f"write: MSRR {name}, {pair}"


def _coproc_dir(coproc: int) -> Formatter:
    @formatter((19, 1))  # Opc2, Opc1, CRn, Rt, CRm
    def mcr_dir(v: int, esr: int) -> str:
        opc2, opc1 = esr >> 17 & 7, esr >> 14 & 7
        crn, rt, crm = esr >> 10 & 0xF, esr >> 5 & 0x1F, esr >> 1 & 0xF
        op = "MRC" if v else "MCR"
        return (
            f"{'read' if v else 'write'}: {op} p{coproc}, #{opc1}, <R of X{rt}>, "
            f"c{crn}, c{crm}, #{opc2}"
        )

    return mcr_dir


def _coproc64_dir(coproc: int) -> Formatter:
    @formatter((19, 16), (14, 1))  # Opc1, Rt2, Rt, CRm
    def mcrr_dir(v: int, esr: int) -> str:
        opc1, rt2, rt, crm = esr >> 16 & 0xF, esr >> 10 & 0x1F, esr >> 5 & 0x1F, esr >> 1 & 0xF
        op = "MRRC" if v else "MCRR"
        return (
            f"{'read' if v else 'write'}: {op} p{coproc}, #{opc1}, <R of X{rt}>, "
            f"<R of X{rt2}>, c{crm}"
        )

    return mcrr_dir


@formatter()
def vmrs_dir(v: int, esr: int) -> str:
    return "read: VMRS of an ID register (reg in CRn)" if v else "write (unexpected for VMRS)"


@formatter()
def ldc_dir(v: int, esr: int) -> str:
    return "read: LDC (memory to DBGDTRTXint)" if v else "write: STC (DBGDTRRXint to memory)"


# --- layouts ---------------------------------------------------------------------------------

_SYS_FIELDS = (
    F("Op0", 21, 20, "op0 of the instruction"),
    F("Op2", 19, 17, "op2 of the instruction"),
    F("Op1", 16, 14, "op1 of the instruction"),
    F("CRn", 13, 10, "CRn of the instruction"),
)

SYS64 = Layout(
    "ISS encoding for an exception from MSR, MRS, or System instruction execution in "
    "AArch64 state",
    fields=(
        *_SYS_FIELDS,
        F("Rt", 9, 5, "Rt, the general-purpose register transferred", fmt=xreg),
        F("CRm", 4, 1, "CRm of the instruction"),
        F("Direction", 0, 0, "1 = read (MRS, SYSL), 0 = write (MSR, SYS)", fmt=sys64_dir),
    ),
)

SYS128 = Layout(
    "ISS encoding for an exception from MSRR, MRRS, or 128-bit System instruction execution "
    "in AArch64 state",
    fields=(
        *_SYS_FIELDS,
        F("Rt", 9, 6, "Rt/2: the register pair X[2*Rt], X[2*Rt+1]"),
        F("CRm", 4, 1, "CRm of the instruction"),
        F("Direction", 0, 0, "1 = read (MRRS), 0 = write (MSRR, SYSP)", fmt=sys128_dir),
    ),
)


def _mcr_mrc(title_suffix: str, dir_fmt: Formatter) -> Layout:
    return Layout(
        "ISS encoding for an exception from an MCR or MRC access" + title_suffix,
        fields=(
            CV,
            COND,
            F("Opc2", 19, 17, "opc2 of the instruction"),
            F("Opc1", 16, 14, "opc1 of the instruction"),
            F("CRn", 13, 10, "CRn of the instruction"),
            F("Rt", 9, 5, "Rt (AArch64 view of the register number)", fmt=xreg),
            F("CRm", 4, 1, "CRm of the instruction"),
            F("Direction", 0, 0, "1 = read (MRC), 0 = write (MCR)", fmt=dir_fmt),
        ),
        il_is_1=False,
    )


def _mcrr_mrrc(dir_fmt: Formatter) -> Layout:
    return Layout(
        "ISS encoding for an exception from an MCRR or MRRC access",
        fields=(
            CV,
            COND,
            F("Opc1", 19, 16, "opc1 of the instruction"),
            F("Rt2", 14, 10, "Rt2 (AArch64 view)", fmt=xreg),
            F("Rt", 9, 5, "Rt (AArch64 view)", fmt=xreg),
            F("CRm", 4, 1, "CRm of the instruction"),
            F("Direction", 0, 0, "1 = read (MRRC), 0 = write (MCRR)", fmt=dir_fmt),
        ),
        il_is_1=False,
    )


CP15_32 = _mcr_mrc(" (coproc 0b1111)", _coproc_dir(15))
CP14_MR = _mcr_mrc(" (coproc 0b1110)", _coproc_dir(14))
CP10_ID = _mcr_mrc(" (trapped VMRS, coproc 0b1010)", vmrs_dir)
CP15_64 = _mcrr_mrrc(_coproc64_dir(15))
CP14_64 = _mcrr_mrrc(_coproc64_dir(14))

CP14_LS = Layout(
    "ISS encoding for an exception from an LDC or STC instruction",
    fields=(
        CV,
        COND,
        F("imm8", 19, 12, "imm8 of the instruction", fmt=hex_value),
        F("Rn", 9, 5, "Rn, the base register (AArch64 view)", fmt=xreg),
        flag("Offset", 4, "offset subtracted", "offset added", "Offset direction"),
        F(
            "AM",
            3,
            1,
            "Addressing Mode",
            {
                0: "immediate unindexed",
                1: "immediate post-indexed",
                2: "immediate offset",
                3: "immediate pre-indexed",
                4: "literal unindexed",
                6: "literal offset",
            },
        ),
        F("Direction", 0, 0, "1 = read (LDC), 0 = write (STC)", fmt=ldc_dir),
    ),
    il_is_1=False,
)
