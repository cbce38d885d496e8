"""Aborts and errors: Data Abort, Instruction Abort, Granule Protection Check, SError.

Arm ARM, register ESR_ELx: "ISS encoding for an exception from a Data Abort", "... from an
Instruction Abort", "ISS encoding for a GPC exception", "ISS encoding for an SError
exception", and the matching "ISS2 encoding for ..." sections. Their fault status codes are
in ``armbp.esr.fsc``.
"""

from __future__ import annotations

from .. import fsc
from ..spec import F, Layout, flag, formatter
from .common import CM, EA, FNV, GCS_ISS2, S1PTW, VNCR, WNR, dfsc, hex_value, ifsc, xreg

# --- formatters ------------------------------------------------------------------------------


def _fsc_kind(code: int) -> str | None:
    info = fsc.FAULT_CODES.get(code)
    return info.kind if info else None


@formatter((5, 0))  # ISS[12:11] is SET or LST depending on the fault status code
def set_of_data_abort(v: int, esr: int) -> tuple[str, str]:
    kind = _fsc_kind(esr & 0x3F)
    if kind in fsc.LST_KINDS:
        return "LST", fsc.ABORT_LST[v]
    return _set(v, kind)


@formatter((5, 0))  # an Instruction Abort has no LST: SET for external aborts only
def set_of_instruction_abort(v: int, esr: int) -> tuple[str, str]:
    return _set(v, _fsc_kind(esr & 0x3F))


def _set(v: int, kind: str | None) -> tuple[str, str]:
    if kind == "external":
        return "SET", fsc.ABORT_SET.get(v, "reserved error type")
    return "SET", "not used for this fault code" if v == 0 else "set for a fault that has none"


@formatter((15, 15))  # SF says whether SRT names a W or an X register
def srt(v: int, esr: int) -> str:
    width = "X" if esr >> 15 & 1 else "W"
    return f"{width}{v}" + (" (zero register)" if v == 31 else "")


# --- checks: (esr) -> warnings ---------------------------------------------------------------


def _check_abort_fsc(esr: int, data: bool) -> list[str]:
    warning = fsc.describe(esr & 0x3F, data=data)[1]
    if warning is None and esr & 0x3F == fsc.FSC_DEBUG:
        return []  # 0x22 in an abort is the level -2 GPF code, not a debug event
    return [warning] if warning else []


def check_dfsc(esr: int) -> list[str]:
    return _check_abort_fsc(esr, True)


def check_ifsc(esr: int) -> list[str]:
    return _check_abort_fsc(esr, False)


def _check_abort_fields(esr: int, is_data: bool) -> list[str]:
    code = esr & 0x3F
    kind = _fsc_kind(code)
    out = []
    if esr >> 10 & 1 and kind != "external":
        out.append(
            f"FnV is 1 but FSC {code:#04x} is not a synchronous external abort "
            "(FnV is only defined for those; otherwise it is 0)"
        )
    if esr >> 9 & 1 and kind not in fsc.EXTERNAL_KINDS:
        out.append(
            f"EA is 1 but FSC {code:#04x} is not an external abort "
            "(EA reads 0 for any other abort)"
        )
    bits = esr >> 11 & 3
    if bits and kind != "external" and not (is_data and kind in fsc.LST_KINDS):
        out.append(
            f"ISS[12:11] = {bits:#04b} but FSC {code:#04x} uses neither SET "
            "(external abort) nor LST (translation/access flag/permission fault)"
        )
    if kind == "external" and bits == 0b01:
        out.append("SET = 0b01 is reserved")
    return out


def check_data_abort_fields(esr: int) -> list[str]:
    return _check_abort_fields(esr, True)


def check_instruction_abort_fields(esr: int) -> list[str]:
    return _check_abort_fields(esr, False)


def check_cm_wnr(esr: int) -> list[str]:
    if esr >> 8 & 1 and not esr >> 6 & 1:
        return [
            (
                "CM is 1 but WnR is 0: cache maintenance and address translation "
                "instructions report WnR = 1"
            )
        ]
    return []


def check_da_il(esr: int) -> list[str]:
    if not esr >> 24 & 1 and not esr >> 25 & 1:
        return [
            "IL is 0 but ISV is 0: IL is RES1 for a Data Abort without instruction syndrome"
        ]
    return []


def check_serror(esr: int) -> list[str]:
    if esr >> 24 & 1:
        return []
    out, code, aet = [], esr & 0x3F, esr >> 10 & 7
    if code not in fsc.SERROR_DFSC:
        out.append(
            f"SError DFSC {code:#04x} is reserved (0x00 uncategorized, "
            "0x11 asynchronous SError)"
        )
    elif code == 0x11 and aet not in fsc.SERROR_AET:
        out.append(f"AET {aet:#05b} is reserved")
    elif code == 0x00 and (aet or esr >> 13 & 1 or esr >> 9 & 1):
        out.append(
            "DFSC 0x00 (uncategorized) but AET/IESB/EA are set: they are only "
            "defined for DFSC 0x11"
        )
    return out


# --- fields and layouts ----------------------------------------------------------------------

PFV = flag(
    "PFV",
    14,
    "PFAR_ELx is not valid",
    "PFAR_ELx holds the faulting physical address (FEAT_PFAR)",
    "PFAR Valid",
)
TOPLEVEL = flag(
    "TopLevel",
    21,
    "not due to TopLevel",
    "stage 2 permission fault due to TopLevel (FEAT_THE)",
    "TopLevel",
)
_SET_DOC = "Synchronous Error Type (FEAT_RAS)"
ASSURED_ONLY = flag(
    "AssuredOnly",
    7,
    "not due to AssuredOnly",
    "due to the AssuredOnly attribute (FEAT_THE)",
    "AssuredOnly",
    iss2=True,
)

DATA_ABORT = Layout(
    "ISS encoding for an exception from a Data Abort",
    fields=(
        flag(
            "ISV",
            24,
            "no instruction syndrome: ISS[23:14] do not describe the access",
            "instruction syndrome valid: ISS[23:14] describe the access",
            "Instruction Syndrome Valid",
        ),
        VNCR,
        F("SET", 12, 11, _SET_DOC, fmt=set_of_data_abort),
        FNV,
        EA,
        CM,
        S1PTW,
        WNR,
        F("DFSC", 5, 0, "Data Fault Status Code", fmt=dfsc),
    ),
    select=(24, 24),
    cases={
        1: (
            F(
                "SAS",
                23,
                22,
                "Syndrome Access Size",
                {
                    0: "byte",
                    1: "halfword (2 bytes)",
                    2: "word (4 bytes)",
                    3: "doubleword (8 bytes)",
                },
            ),
            flag(
                "SSE",
                21,
                "no sign extension",
                "the loaded value is sign-extended",
                "Syndrome Sign Extend",
            ),
            F(
                "SRT",
                20,
                16,
                "Syndrome Register Transfer: the register loaded or stored",
                fmt=srt,
            ),
            flag("SF", 15, "32-bit register (W)", "64-bit register (X)", "Sixty-Four"),
            flag(
                "AR",
                14,
                "no acquire/release semantics",
                "acquire/release semantics",
                "Acquire/Release",
            ),
        ),
        0: (
            TOPLEVEL,
            F(
                "WU",
                20,
                16,
                "Write Update of a store that took an external abort (FEAT_RASv2)",
                fmt=hex_value,
            ),
            flag(
                "FnP",
                15,
                "FAR is precise",
                "FAR is only within the fault granule",
                "FAR not Precise",
            ),
            PFV,
        ),
    },
    iss2=(
        flag(
            "HDBSSF",
            11,
            "not caused by the HDBSS",
            "caused by the HDBSS (FEAT_HDBSS)",
            "HDBSS fault",
            iss2=True,
        ),
        flag(
            "TnD",
            10,
            "data access",
            "Allocation Tag access (FEAT_MTE_PERM)",
            "Tag not Data",
            iss2=True,
        ),
        flag(
            "TagAccess",
            9,
            "not due to NoTagAccess",
            "due to the NoTagAccess attribute (FEAT_MTE_PERM)",
            "NoTagAccess fault",
            iss2=True,
        ),
        GCS_ISS2,
        ASSURED_ONLY,
        flag(
            "Overlay",
            6,
            "not due to overlay permissions",
            "due to overlay permissions (FEAT_S1POE/S2POE)",
            "Overlay",
            iss2=True,
        ),
        flag(
            "DirtyBit",
            5,
            "not due to the dirty state",
            "due to the dirty state (FEAT_S1PIE/S2PIE)",
            "DirtyBit",
            iss2=True,
        ),
        F(
            "Xs",
            4,
            0,
            "Register of a faulting ST64BV/ST64BV0 status result (FEAT_LS64)",
            fmt=xreg,
            iss2=True,
        ),
    ),
    checks=(check_dfsc, check_data_abort_fields, check_cm_wnr, check_da_il),
    il_is_1=False,  # IL is 1 when ISV is 0 (checked by check_da_il), may be 0 for T32 with ISV 1
    iss2_title="ISS2 encoding for an exception from a Data Abort",
)

INSTRUCTION_ABORT = Layout(
    "ISS encoding for an exception from an Instruction Abort",
    fields=(
        TOPLEVEL,
        PFV,
        F("SET", 12, 11, _SET_DOC, fmt=set_of_instruction_abort),
        FNV,
        EA,
        S1PTW,
        F("IFSC", 5, 0, "Instruction Fault Status Code", fmt=ifsc),
    ),
    iss2=(
        ASSURED_ONLY,
        flag(
            "Overlay",
            6,
            "not due to overlay permissions",
            "due to overlay permissions",
            "Overlay",
            iss2=True,
        ),
    ),
    checks=(check_ifsc, check_instruction_abort_fields),
    iss2_title="ISS2 encoding for an exception from an Instruction Abort",
)

GPC = Layout(
    "ISS encoding for a GPC exception",
    fields=(
        flag(
            "S2PTW",
            21,
            "not on a stage 2 translation table walk",
            "on an access made for a stage 2 translation table walk",
            "Stage 2 Page Table Walk",
        ),
        flag("InD", 20, "data access", "instruction access", "Instruction not Data"),
        F("GPCSC", 19, 14, "Granule Protection Check Status Code", fsc.GPCSC_CODES),
        VNCR,
        CM,
        S1PTW,
        WNR,
        F("xFSC", 5, 0, "Fault status code of the access that failed the check", fmt=dfsc),
    ),
)

SERROR = Layout(
    "ISS encoding for an SError exception",
    fields=(
        flag(
            "IDS",
            24,
            "architected syndrome (FEAT_RAS)",
            "IMPLEMENTATION DEFINED syndrome in ISS[23:0]",
            "IMPLEMENTATION DEFINED Syndrome",
        ),
    ),
    select=(24, 24),
    cases={
        0: (
            flag(
                "IESB",
                13,
                "not synchronized by an implicit error synchronization event",
                "synchronized by an implicit error synchronization event (FEAT_IESB)",
                "Implicit Error Synchronization event",
            ),
            F(
                "AET",
                12,
                10,
                "Asynchronous Error Type: the PE state after the error",
                fsc.SERROR_AET,
            ),
            EA,
            F("DFSC", 5, 0, "Data Fault Status Code", fsc.SERROR_DFSC),
        ),
        1: (F("ISS", 23, 0, "IMPLEMENTATION DEFINED syndrome", fmt=hex_value),),
    },
    checks=(check_serror,),
)
