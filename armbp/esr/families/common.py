"""Fields and formatters several families share: registers, immediates, WnR, CM, COND.

Each is declared once, with the Arm ARM short name its sections use for it.
"""

from __future__ import annotations

from .. import fsc
from ..spec import F, flag, formatter

# --- formatters: (field value, whole ESR) -> meaning -----------------------------------------


@formatter()
def xreg(v: int, esr: int) -> str:
    return "XZR/SP (31)" if v == 31 else f"X{v}"


@formatter()
def hex_value(v: int, esr: int) -> str:
    return f"{v:#x}"


@formatter()
def dfsc(v: int, esr: int) -> str:
    return fsc.describe(v, data=True)[0]


@formatter()
def ifsc(v: int, esr: int) -> str:
    return fsc.describe(v, data=False)[0]


_CONDITIONS = (
    "EQ",
    "NE",
    "CS/HS",
    "CC/LO",
    "MI",
    "PL",
    "VS",
    "VC",
    "HI",
    "LS",
    "GE",
    "LT",
    "GT",
    "LE",
    "AL (always; also what AArch64 traps report)",
    "NV",
)


@formatter()
def cond(v: int, esr: int) -> str:
    return _CONDITIONS[v]


# --- fields ----------------------------------------------------------------------------------

CV = flag("CV", 24, "COND is not valid", "COND is valid", "Condition code valid")
COND = F("COND", 23, 20, "Condition code of the trapped instruction (AArch32)", fmt=cond)
WNR = flag(
    "WnR", 6, "read: the access was a read", "write: the access was a write", "Write not Read"
)
CM = flag(
    "CM",
    8,
    "not a cache maintenance or address translation instruction",
    "cache maintenance or address translation instruction (WnR is then 1)",
    "Cache Maintenance",
)
S1PTW = flag(
    "S1PTW",
    7,
    "not on a stage 1 translation table walk",
    "stage 2 fault on an access made for a stage 1 translation table walk",
    "Stage 2 fault on a Stage 1 Page Table Walk",
)
FNV = flag("FnV", 10, "FAR is valid", "FAR is not valid (UNKNOWN)", "FAR not Valid")
VNCR = flag(
    "VNCR",
    13,
    "not from a VNCR_EL2-based access",
    "fault from EL1's use of VNCR_EL2 (FEAT_NV2)",
    "VNCR_EL2 access",
)
EA = flag(
    "EA",
    9,
    "no IMPLEMENTATION DEFINED external abort type (always 0 for other aborts)",
    "IMPLEMENTATION DEFINED external abort type",
    "External Abort type",
)
GCS_ISS2 = flag(
    "GCS",
    8,
    "not a GCS access",
    "Guarded Control Stack data access (FEAT_GCS)",
    "GCS data access",
    iss2=True,
)
