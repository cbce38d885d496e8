"""Fault status codes: the DFSC/IFSC field, ISS[5:0] of aborts, watchpoints and steps.

Arm ARM DDI 0487, ESR_ELx, "ISS encoding for an exception from a Data Abort" (DFSC) and
"... from an Instruction Abort" (IFSC). Wording follows the style of the Linux kernel's
``FSC = 0x05: level 1 translation fault`` line so a crash log reads the same here.
"""

from __future__ import annotations

from typing import NamedTuple


class FaultCode(NamedTuple):
    text: str  # e.g. "level 1 translation fault"
    level: int | None  # translation table lookup level, when the code has one
    kind: str  # address-size, translation, access-flag, permission, external, ...
    data_only: bool = False  # valid as a DFSC but reserved as an IFSC


def _levels(base: int, kind: str, text: str, levels=(0, 1, 2, 3), note: str = "") -> dict:
    return {
        base + n: FaultCode(f"level {n} {text}{note if n == 0 else ''}", n, kind)
        for n in levels
    }


FAULT_CODES: dict[int, FaultCode] = {
    **_levels(0x00, "address-size", "address size fault"),
    **_levels(0x04, "translation", "translation fault"),
    0x08: FaultCode("level 0 access flag fault (FEAT_LPA2)", 0, "access-flag"),
    **_levels(0x08, "access-flag", "access flag fault", levels=(1, 2, 3)),
    0x0C: FaultCode("level 0 permission fault (FEAT_LPA2)", 0, "permission"),
    **_levels(0x0C, "permission", "permission fault", levels=(1, 2, 3)),
    0x10: FaultCode(
        "synchronous external abort, not on a translation table walk", None, "external"
    ),
    0x11: FaultCode("synchronous tag check fault (FEAT_MTE2)", None, "tag-check", True),
    0x12: FaultCode(
        "level -2 synchronous external abort on translation table walk (FEAT_D128)",
        -2,
        "external-walk",
    ),
    0x13: FaultCode(
        "level -1 synchronous external abort on translation table walk (FEAT_LPA2)",
        -1,
        "external-walk",
    ),
    **{
        0x14 + n: FaultCode(
            f"level {n} synchronous external abort on translation table walk",
            n,
            "external-walk",
        )
        for n in range(4)
    },
    0x18: FaultCode(
        "synchronous parity or ECC error, not on a translation table walk (without FEAT_RAS)",
        None,
        "ecc",
    ),
    0x1B: FaultCode(
        "level -1 synchronous parity or ECC error on translation table walk "
        "(FEAT_LPA2, without FEAT_RAS)",
        -1,
        "ecc-walk",
    ),
    **{
        0x1C + n: FaultCode(
            f"level {n} synchronous parity or ECC error on translation table "
            "walk (without FEAT_RAS)",
            n,
            "ecc-walk",
        )
        for n in range(4)
    },
    0x21: FaultCode("alignment fault", None, "alignment", True),
    0x22: FaultCode(
        "level -2 granule protection fault on translation table walk (FEAT_RME, FEAT_D128)",
        -2,
        "gpf-walk",
    ),
    0x23: FaultCode(
        "level -1 granule protection fault on translation table walk (FEAT_RME, FEAT_LPA2)",
        -1,
        "gpf-walk",
    ),
    **{
        0x24 + n: FaultCode(
            f"level {n} granule protection fault on translation table walk (FEAT_RME)",
            n,
            "gpf-walk",
        )
        for n in range(4)
    },
    0x28: FaultCode(
        "granule protection fault, not on a translation table walk (FEAT_RME)", None, "gpf"
    ),
    0x29: FaultCode("level -1 address size fault (FEAT_LPA2)", -1, "address-size"),
    0x2A: FaultCode("level -2 translation fault (FEAT_D128)", -2, "translation"),
    0x2B: FaultCode("level -1 translation fault (FEAT_LPA2)", -1, "translation"),
    0x2C: FaultCode("level -2 address size fault (FEAT_D128)", -2, "address-size"),
    0x30: FaultCode("TLB conflict abort", None, "tlb-conflict"),
    0x31: FaultCode(
        "unsupported atomic hardware update fault (FEAT_HAFDBS)", None, "atomic-update"
    ),
    0x34: FaultCode("IMPLEMENTATION DEFINED fault (lockdown)", None, "impdef"),
    0x35: FaultCode(
        "IMPLEMENTATION DEFINED fault (unsupported exclusive or atomic access)",
        None,
        "impdef",
        True,
    ),
    0x3D: FaultCode(
        "section domain fault (AArch32 short-descriptor stage 1, reported to EL2)",
        None,
        "domain",
    ),
    0x3E: FaultCode(
        "page domain fault (AArch32 short-descriptor stage 1, reported to EL2)", None, "domain"
    ),
}

# Codes by name, for the builders and the checks (the table above gives their meaning).
FSC_TRANSLATION_L3 = 0x07  # the abort builders' default: "no page here"
FSC_SEA = 0x10  # synchronous External abort, not on a translation table walk
FSC_TAG_CHECK = 0x11  # synchronous Tag Check Fault (FEAT_MTE2), DFSC only
FSC_ALIGNMENT = 0x21  # alignment fault, DFSC only
FSC_DEBUG = 0x22  # debug exception: the only valid code for breakpoint/step/watchpoint ECs
FSC_TLB_CONFLICT = 0x30  # TLB conflict abort

# Codes after which the FnV, EA and SET fields can carry information (external aborts).
EXTERNAL_KINDS = frozenset({"external", "external-walk", "ecc", "ecc-walk"})
# Codes for which a Data Abort's ISS[12:11] is LST (FEAT_LS64) rather than SET.
LST_KINDS = frozenset({"translation", "access-flag", "permission"})

# Granule Protection Check Status Code, ESR_EL3.GPCSC (EC 0x1E), ISS[19:14]. The codes follow
# the same pattern as the fault status codes (DDI 0487, "ISS encoding for a GPC exception").
GPCSC_CODES: dict[int, str] = {
    0x00: "GPT address size fault, level 0",
    0x04: "GPT walk fault, level 0",
    0x05: "GPT walk fault, level 1",
    0x0C: "granule protection fault, level 0",
    0x0D: "granule protection fault, level 1",
    0x14: "synchronous external abort on GPT fetch, level 0",
    0x15: "synchronous external abort on GPT fetch, level 1",
}

# SError DFSC, "ISS encoding for an SError exception".
SERROR_DFSC = {0x00: "uncategorized error", 0x11: "asynchronous SError interrupt"}
# SError AET, bits [12:10]: the PE error state (FEAT_RAS).
SERROR_AET = {
    0b000: "UC: uncontainable",
    0b001: "UEU: unrecoverable state",
    0b010: "UEO: restartable state",
    0b011: "UER: recoverable state",
    0b110: "CE: corrected",
}
# Data/Instruction Abort SET, bits [12:11] (FEAT_RAS), for a synchronous external abort.
ABORT_SET = {
    0b00: "UER: recoverable state",
    0b10: "UC: uncontainable",
    0b11: "UEO: restartable state",
}
# Data Abort LST, bits [12:11] (FEAT_LS64), for translation/access flag/permission faults.
ABORT_LST = {
    0b00: "not an LD64B/ST64B* access (or LST not implemented)",
    0b01: "ST64BV",
    0b10: "LD64B or ST64B",
    0b11: "ST64BV0",
}


def describe(code: int, data: bool = True) -> tuple[str, str | None]:
    """(meaning, warning or None) for a DFSC (``data``) or IFSC value."""
    info = FAULT_CODES.get(code)
    what = "DFSC" if data else "IFSC"
    if info is None:
        return f"reserved fault status code {code:#04x}", f"{what} {code:#04x} is reserved"
    if info.data_only and not data:
        return (
            f"{info.text} (only valid as a DFSC)",
            f"IFSC {code:#04x} ({info.text}) is only defined for data accesses",
        )
    return info.text, None
