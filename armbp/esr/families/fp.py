"""Floating-point, Advanced SIMD, SVE and SME: access traps and trapped FP exceptions.

Arm ARM, register ESR_ELx: "ISS encoding for an exception from an access to SVE, Advanced
SIMD or floating-point functionality, resulting from the FPEN and TFP traps", "... from an
access to SVE functionality, resulting from CPACR_EL1.ZEN, CPTR_EL2.ZEN, CPTR_EL2.TZ, or
CPTR_EL3.EZ", "ISS encoding for an exception due to SME functionality", "ISS encoding for an
exception from a trapped floating-point exception".
"""

from __future__ import annotations

from ..spec import F, Layout, flag
from .common import COND, CV


def check_sme(esr: int) -> list[str]:
    return [f"SMTC {esr & 7:#05b} is reserved"] if esr & 7 > 4 else []


FP_ASIMD = Layout(
    "ISS encoding for an exception from an access to SVE, Advanced SIMD or floating-point "
    "functionality, resulting from the FPEN and TFP traps",
    fields=(CV, COND),
    il_is_1=False,
)

SVE = Layout(
    "ISS encoding for an exception from an access to SVE functionality, "
    "resulting from CPACR_EL1.ZEN, CPTR_EL2.ZEN, CPTR_EL2.TZ, or CPTR_EL3.EZ"
)

SME = Layout(
    "ISS encoding for an exception due to SME functionality",
    fields=(
        F(
            "SMTC",
            2,
            0,
            "SME Trap Code",
            {
                0: "access to SME functionality trapped by CPACR/CPTR/SMCR controls",
                1: "instruction illegal in Streaming SVE mode (PSTATE.SM is 1)",
                2: "instruction needs Streaming SVE mode (PSTATE.SM is 0)",
                3: "instruction needs the ZA storage enabled (PSTATE.ZA is 0)",
                4: "access to ZT0 trapped or ZT0 inaccessible (PSTATE.ZA is 0)",
            },
        ),
    ),
    checks=(check_sme,),
)

_FP_EXC = (
    flag(
        "TFV",
        23,
        "IDF..IOF are UNKNOWN",
        "IDF..IOF say which exceptions were trapped",
        "Trapped Fault Valid",
    ),
    F("VECITR", 10, 8, "Vector iteration (AArch32: RES1; AArch64: UNKNOWN)"),
    flag("IDF", 7, "no Input Denormal", "Input Denormal trapped"),
    flag("IXF", 4, "no Inexact", "Inexact trapped"),
    flag("UFF", 3, "no Underflow", "Underflow trapped"),
    flag("OFF", 2, "no Overflow", "Overflow trapped"),
    flag("DZF", 1, "no Divide by Zero", "Divide by Zero trapped"),
    flag("IOF", 0, "no Invalid Operation", "Invalid Operation trapped"),
)
_FP_EXC_TITLE = "ISS encoding for an exception from a trapped floating-point exception"
FP_EXC32 = Layout(_FP_EXC_TITLE, fields=_FP_EXC, il_is_1=False)
FP_EXC64 = Layout(_FP_EXC_TITLE, fields=_FP_EXC)
