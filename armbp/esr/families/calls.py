"""Exception-generating instructions: SVC, HVC and SMC, from AArch64 and AArch32.

Arm ARM, register ESR_ELx: "ISS encoding for an exception from HVC or SVC instruction
execution", "ISS encoding for an exception from SMC instruction execution in AArch64 state"
and "... in AArch32 state". (BRK and BKPT are debug exceptions: ``families.debug``.)
"""

from __future__ import annotations

from ..spec import F, Layout, flag, formatter
from .common import COND, CV, hex_value


@formatter()
def imm16_svc(v: int, esr: int) -> str:
    return f"SVC #{v:#x}" + (
        " (Linux puts the syscall number in X8, not here)" if v == 0 else ""
    )


@formatter()
def imm16_hvc(v: int, esr: int) -> str:
    return f"HVC #{v:#x}" + (
        ": SMC Calling Convention call, function ID in W0 (PSCI, KVM hypercalls)"
        if v == 0
        else ""
    )


@formatter()
def imm16_smc(v: int, esr: int) -> str:
    return f"SMC #{v:#x}" + (
        ": SMC Calling Convention call, function ID in W0" if v == 0 else ""
    )


_SVC_HVC = "ISS encoding for an exception from HVC or SVC instruction execution"

SVC32 = Layout(
    _SVC_HVC,
    fields=(
        F(
            "imm16",
            15,
            0,
            "SVC immediate (T32: imm8; A32: imm24[15:0]; UNKNOWN if conditional)",
            fmt=hex_value,
        ),
    ),
    il_is_1=False,
)
SVC64 = Layout(_SVC_HVC, fields=(F("imm16", 15, 0, "SVC immediate", fmt=imm16_svc),))
HVC = Layout(_SVC_HVC, fields=(F("imm16", 15, 0, "HVC immediate", fmt=imm16_hvc),))
SMC64 = Layout(
    "ISS encoding for an exception from SMC instruction execution in AArch64 state",
    fields=(F("imm16", 15, 0, "SMC immediate", fmt=imm16_smc),),
)
SMC32 = Layout(
    "ISS encoding for an exception from SMC instruction execution in AArch32 state",
    fields=(
        CV,
        COND,
        flag(
            "CCKNOWNPASS",
            19,
            "the instruction might have failed its condition check",
            "the instruction passed its condition check",
            "Condition code known pass",
        ),
    ),
    il_is_1=False,
)
