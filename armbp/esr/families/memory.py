"""Memory instructions with their own classes: CPY*/SET* (FEAT_MOPS) and LD64B/ST64B*.

Arm ARM, register ESR_ELx: "ISS encoding for an exception from the Memory Copy and Memory
Set instructions", "ISS encoding for an exception from an LD64B or ST64B* instruction".
"""

from __future__ import annotations

from ..spec import F, Layout, flag
from .common import hex_value, xreg


def check_ls64(esr: int) -> list[str]:
    iss = esr & 0x1FF_FFFF
    return (
        [f"ISS {iss:#x} is not one of the defined LD64B/ST64B*/CSYNC codes (0..4)"]
        if iss > 4
        else []
    )


LS64 = Layout(
    "ISS encoding for an exception from an LD64B or ST64B* instruction",
    fields=(
        F(
            "ISS",
            24,
            0,
            "Which instruction trapped",
            {0: "ST64BV", 1: "ST64BV0", 2: "LD64B or ST64B", 3: "TSB CSYNC", 4: "PSB CSYNC"},
        ),
    ),
    checks=(check_ls64,),
)

MOPS = Layout(
    "ISS encoding for an exception from the Memory Copy and Memory Set instructions",
    fields=(
        flag(
            "MemInst",
            24,
            "CPY* (memory copy)",
            "SET* (memory set)",
            "Memory instruction class",
        ),
        flag("isSETG", 23, "not SETG*", "SETGP/SETGM/SETGE (tag setting)", "SETG*"),
        F("Options", 22, 19, "Options field of the instruction", fmt=hex_value),
        flag(
            "FromEpilogue",
            18,
            "prologue or main instruction",
            "epilogue instruction (CPYE/SETE)",
            "From Epilogue",
        ),
        flag(
            "WrongOption",
            17,
            "algorithm option matched",
            "wrong algorithm option for the current PSTATE.C",
            "Wrong Option",
        ),
        flag(
            "OptionA", 16, "option B (PSTATE.C was 0)", "option A (PSTATE.C was 1)", "Option A"
        ),
        F("destreg", 14, 10, "Destination address register", fmt=xreg),
        F("srcreg", 9, 5, "Source address (CPY) or data (SET) register", fmt=xreg),
        F("sizereg", 4, 0, "Size register", fmt=xreg),
    ),
)
