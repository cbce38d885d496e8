"""Debug exceptions: BRK/BKPT, hardware breakpoint and vector catch, software step,
watchpoint: the classes a debugger lives on.

Arm ARM, register ESR_ELx: "ISS encoding for an exception from execution of a Breakpoint
instruction", "... from a Breakpoint or Vector Catch debug exception", "... from a Software
Step exception", "... from a Watchpoint exception", "ISS2 encoding for an exception from a
Watchpoint exception". Every one but BRK/BKPT reports fault status code 0x22
(``fsc.FSC_DEBUG``).
"""

from __future__ import annotations

from .. import brkimm, fsc
from ..spec import F, Layout, flag, formatter
from .common import CM, FNV, GCS_ISS2, VNCR, WNR

# --- formatters ------------------------------------------------------------------------------


@formatter()
def debug_fsc(v: int, esr: int) -> str:
    return "debug exception" if v == fsc.FSC_DEBUG else f"{v:#04x}: not the debug code 0x22"


@formatter()
def comment_brk(v: int, esr: int) -> str:
    return f"BRK #{v:#x}, instruction {brkimm.brk_instruction(v):#010x}: {brkimm.meaning(v)}"


@formatter((25, 25))  # IL tells the 32-bit A32 encoding from the 16-bit T32 one
def comment_bkpt(v: int, esr: int) -> str:
    if esr >> 25 & 1:
        return (
            f"BKPT #{v:#x}, A32 instruction {brkimm.bkpt_a32_instruction(v):#010x}: "
            f"{brkimm.bkpt_meaning(v, thumb=False)}"
        )
    return (
        f"BKPT #{v:#x}, 16-bit T32 instruction {0xBE00 | (v & 0xFF):#06x}: "
        f"{brkimm.bkpt_meaning(v, thumb=True)}"
    )


@formatter((17, 17))  # WPTV says whether WPT holds a number
def wpt(v: int, esr: int) -> str:
    return f"watchpoint {v}" if esr >> 17 & 1 else f"{v} (not valid: WPTV is 0)"


# --- checks ----------------------------------------------------------------------------------


def check_debug_fsc(esr: int) -> list[str]:
    code = esr & 0x3F
    if code != fsc.FSC_DEBUG:
        return [
            (
                f"fault status code {code:#04x} is not 0x22, the only code a debug "
                "exception reports"
            )
        ]
    return []


def check_step_ex(esr: int) -> list[str]:
    if esr >> 6 & 1 and not esr >> 24 & 1:
        return ["EX is 1 but ISV is 0: EX is RES0 when ISV is 0"]
    return []


def check_watch_fnp(esr: int) -> list[str]:
    if esr >> 15 & 1 and esr >> 10 & 1:
        return ["FnP is 1 but FnV is 1: when the FAR is not valid FnP is 0"]
    return []


def check_watch_cm(esr: int) -> list[str]:
    # ESR_ELx, "ISS encoding for an exception from a Watchpoint exception": WnR is 1 when
    # CM is 1 (a cache maintenance instruction is reported as a write).
    if esr >> 8 & 1 and not esr >> 6 & 1:
        return ["CM is 1 but WnR is 0: a cache maintenance instruction reports WnR = 1"]
    return []


# --- layouts ---------------------------------------------------------------------------------

BRK = Layout(
    "ISS encoding for an exception from execution of a Breakpoint instruction",
    fields=(
        F(
            "Comment",
            15,
            0,
            "The instruction's immediate: ignored by the PE, chosen by whoever planted it",
            fmt=comment_brk,
        ),
    ),
)

BKPT = Layout(
    "ISS encoding for an exception from execution of a Breakpoint instruction",
    fields=(F("Comment", 15, 0, "The BKPT immediate", fmt=comment_bkpt),),
    il_is_1=False,
)

HW_BREAKPOINT = Layout(
    "ISS encoding for an exception from a Breakpoint or Vector Catch debug exception",
    fields=(
        F(
            "IFSC",
            5,
            0,
            "Instruction Fault Status Code: 0x22 for debug exceptions",
            fmt=debug_fsc,
        ),
    ),
    checks=(check_debug_fsc,),
)

SOFTWARE_STEP = Layout(
    "ISS encoding for an exception from a Software Step exception",
    fields=(
        flag(
            "ISV",
            24,
            "EX is not valid: the step ended without a stepped instruction to report "
            "on (e.g. taken from the active-pending state straight after ERET, or the "
            "stepped instruction itself took another exception first)",
            "EX is valid: an instruction was stepped",
            "Instruction Syndrome Valid",
        ),
        flag(
            "EX",
            6,
            "the stepped instruction was not a Load-Exclusive",
            "a Load-Exclusive was stepped (the exclusive monitor may be lost)",
            "Exclusive operation",
        ),
        F(
            "IFSC",
            5,
            0,
            "Instruction Fault Status Code: 0x22 for debug exceptions",
            fmt=debug_fsc,
        ),
    ),
    checks=(check_debug_fsc, check_step_ex),
)

WATCHPOINT = Layout(
    "ISS encoding for an exception from a Watchpoint exception",
    fields=(
        F("WPT", 23, 18, "Watchpoint number (FEAT_Debugv8p9)", fmt=wpt),
        flag(
            "WPTV",
            17,
            "WPT is not valid",
            "WPT holds the watchpoint number",
            "Watchpoint number Valid",
        ),
        flag(
            "WPF",
            16,
            "the watchpoint matched",
            "the watchpoint might be a false positive",
            "Watchpoint might be False-positive",
        ),
        flag(
            "FnP",
            15,
            "FAR holds the address that matched",
            "FAR is only within the naturally-aligned block that matched",
            "FAR not Precise",
        ),
        VNCR,
        FNV,
        CM,
        WNR,
        F("DFSC", 5, 0, "Data Fault Status Code: 0x22 for debug exceptions", fmt=debug_fsc),
    ),
    iss2=(GCS_ISS2,),
    checks=(check_debug_fsc, check_watch_fnp, check_watch_cm),
    iss2_title="ISS2 encoding for an exception from a Watchpoint exception",
)
