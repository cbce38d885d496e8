"""Control flow and pointer authentication: BTI, PAC traps and failures, ERET traps, the
Guarded Control Stack, illegal execution state and PC/SP alignment.

Arm ARM, register ESR_ELx: "ISS encoding for an exception from Branch Target Identification
instruction", "ISS encoding for an exception from a Pointer Authentication instruction when
HCR_EL2.API == 0 || SCR_EL3.API == 0", "ISS encoding for a PAC Fail exception", "ISS
encoding for an exception from ERET, ERETAA, or ERETAB instruction", "ISS encoding for a GCS
exception", "ISS encoding for an exception from an Illegal Execution state, or a PC or SP
alignment fault".
"""

from __future__ import annotations

from ..spec import F, Layout, flag
from .common import xreg


def check_bti(esr: int) -> list[str]:
    return ["BTYPE 0b00 cannot cause a Branch Target exception"] if esr & 3 == 0 else []


def check_eret(esr: int) -> list[str]:
    if esr & 1 and not esr & 2:
        return ["ERETA is 1 but ERET is 0: ERETA is only meaningful for ERETAA/ERETAB"]
    return []


def check_gcs(esr: int) -> list[str]:
    ex_type, it = esr >> 20 & 0xF, esr & 0x1F
    if ex_type > 2:
        return [f"GCS ExType {ex_type} is reserved"]
    if ex_type == 0 and it not in (0, 1, 2, 3, 4, 5, 8, 9):
        return [f"GCS instruction type IT {it} is reserved"]
    return []


BTI = Layout(
    "ISS encoding for an exception from Branch Target Identification instruction",
    fields=(
        F(
            "BTYPE",
            1,
            0,
            "PSTATE.BTYPE when the landing instruction was reached",
            {
                0: "0b00: no indirect branch (cannot cause this exception)",
                1: "0b01: BR/BRA* via X16/X17 or from unguarded memory; the target needs "
                "BTI c, BTI j, BTI jc or PACIxSP",
                2: "0b10: BLR/BLRA* (indirect call); the target needs BTI c, BTI jc or "
                "PACIxSP",
                3: "0b11: BR/BRA* via another register (indirect jump); the target "
                "needs BTI j or BTI jc",
            },
        ),
    ),
    checks=(check_bti,),
)

PAC = Layout(
    "ISS encoding for an exception from a Pointer Authentication instruction "
    "when HCR_EL2.API == 0 || SCR_EL3.API == 0"
)

FPAC = Layout(
    "ISS encoding for a PAC Fail exception",
    fields=(
        flag(
            "DnI",
            1,
            "instruction key (AUTIA/AUTIB family)",
            "data key (AUTDA/AUTDB family)",
            "Data not Instruction",
        ),
        flag("BnA", 0, "A key", "B key", "B not A"),
    ),
)

ERET = Layout(
    "ISS encoding for an exception from ERET, ERETAA, or ERETAB instruction",
    fields=(
        flag("ERET", 1, "ERET", "ERETAA or ERETAB", "ERET or ERETA*"),
        flag(
            "ERETA", 0, "A key (ERETAA) when ERET is 1", "B key (ERETAB)", "Key used by ERETA*"
        ),
    ),
    checks=(check_eret,),
)

GCS = Layout(
    "ISS encoding for a GCS exception",
    fields=(
        F(
            "ExType",
            23,
            20,
            "GCS exception type",
            {
                0: "GCS data check: a value popped from the GCS did not match",
                1: "EXLOCK: exception return not permitted while PSTATE.EXLOCK is set",
                2: "trapped GCSSTR or GCSSTTR",
            },
        ),
    ),
    select=(23, 20),
    cases={
        0: (
            F("Rn", 9, 5, "Register of the instruction that failed the check", fmt=xreg),
            F(
                "IT",
                4,
                0,
                "Instruction Type",
                {
                    0: "RET",
                    1: "GCSPOPM",
                    2: "RETAA",
                    3: "RETAB",
                    4: "GCSSS1",
                    5: "GCSSS2",
                    8: "GCSPOPCX",
                    9: "GCSPOPX",
                },
            ),
        ),
        2: (
            F("Raddr", 14, 10, "Data address register of the GCSSTR/GCSSTTR", fmt=xreg),
            F("Rvalue", 9, 5, "Data value register of the GCSSTR/GCSSTTR", fmt=xreg),
        ),
    },
    checks=(check_gcs,),
)

_ILL_OR_ALIGN = (
    "ISS encoding for an exception from an Illegal Execution state, or a PC or "
    "SP alignment fault"
)
ILL = Layout(_ILL_OR_ALIGN)
PC_ALIGN = Layout(_ILL_OR_ALIGN)
SP_ALIGN = Layout(_ILL_OR_ALIGN)
