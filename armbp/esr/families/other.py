"""The remaining classes, each alone in its kind: unknown reason, trapped WF*, TSTART, the
EL3 IMPLEMENTATION DEFINED class, PMU exceptions, and the raw view of an unallocated EC.

Arm ARM, register ESR_ELx: "ISS encoding for exceptions with an unknown reason", "ISS
encoding for an exception from a WF* instruction", "ISS encoding for an exception from a
TSTART instruction", "ISS encoding for a PMU exception".
"""

from __future__ import annotations

from ..spec import F, Layout, flag, formatter
from .common import COND, CV, WNR, hex_value, xreg


@formatter()
def pmu_fsc(v: int, esr: int) -> str:
    return f"{v:#x}"


UNKNOWN = Layout("ISS encoding for exceptions with an unknown reason")

WFX = Layout(
    "ISS encoding for an exception from a WF* instruction",
    fields=(
        CV,
        COND,
        F("RN", 9, 5, "Register of a WFET/WFIT timeout (valid when RV is 1)", fmt=xreg),
        flag(
            "RV", 2, "RN is not valid", "RN holds the timeout register", "Register field Valid"
        ),
        F(
            "TI",
            1,
            0,
            "Trapped Instruction",
            {0: "WFI", 1: "WFE", 2: "WFIT (FEAT_WFxT)", 3: "WFET (FEAT_WFxT)"},
        ),
    ),
    il_is_1=False,
)

TSTART = Layout(
    "ISS encoding for an exception from a TSTART instruction",
    fields=(F("Rd", 9, 5, "Rd of the TSTART instruction", fmt=xreg),),
)

IMP_DEF = Layout(
    "IMPLEMENTATION DEFINED exception to EL3",
    fields=(F("ISS", 24, 0, "IMPLEMENTATION DEFINED", fmt=hex_value),),
    il_is_1=False,
)

PMU = Layout(
    "ISS encoding for a PMU exception (FEAT_EBEP / profiling exceptions)",
    fields=(
        flag(
            "ELS",
            18,
            "ELR_ELx holds the preferred return address",
            "ELR_ELx meaning is the alternative one (see the Arm ARM)",
            "Meaning of ELR_ELx",
        ),
        flag("VFV", 15, "FAR is not valid", "FAR holds a valid virtual address", "FAR Valid"),
        flag("WnRV", 7, "WnR is not valid", "WnR is valid", "WnR Valid"),
        WNR,
        F("FSC", 5, 1, "Why the profiling exception was generated", fmt=pmu_fsc),
        flag("SYNC", 0, "taken asynchronously", "taken synchronously", "Synchronous"),
    ),
    il_is_1=False,
)

UNALLOCATED = Layout(
    "unallocated Exception Class: the Arm ARM defines no ISS for it",
    fields=(F("ISS", 24, 0, "raw ISS", fmt=hex_value),),
    iss2=(F("ISS2", 23, 0, "raw ISS2", fmt=hex_value, iss2=True),),
    il_is_1=False,
    iss2_title="raw ISS2",
)
