"""ISS and ISS2 layouts, one table entry per Exception Class layout.

This module is data: every ``Layout`` names its Arm ARM section (DDI 0487, register
ESR_ELx, "ISS encoding for ..." / "ISS2 encoding for ..."), lists its fields with bit
ranges and one-line descriptions, and says how a value of each field reads. The lesson
pictures draw from these tables; ``decode`` walks them. Field names are the Arm ARM's.

Where a layout depends on one of its own bits (a Data Abort's ISV, an SError's IDS, a GCS
exception's ExType), ``select`` names those bits and ``cases`` gives the extra fields for
each value.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import brkimm, fsc, sysreg
from .classes import EC

if TYPE_CHECKING:  # annotations only: keep `typing` out of the CLI's start-up
    from typing import Callable, Mapping, Union

    Meaning = Union[str, tuple[str, str]]  # text, or (field name override, text)


@dataclass(frozen=True)
class FieldSpec:
    """One named field of an ISS/ISS2 layout: bits [msb:lsb] relative to ESR bit 0."""

    name: str
    msb: int
    lsb: int
    doc: str
    values: Mapping[int, str] | None = None  # meaning of each value, when enumerable
    fmt: str | None = None                   # or the name of a formatter in FORMATTERS


@dataclass(frozen=True)
class Layout:
    title: str                              # the Arm ARM section this layout comes from
    fields: tuple[FieldSpec, ...] = ()      # ISS fields present in every case
    iss2: tuple[FieldSpec, ...] = ()        # ISS2 fields (bits [55:32])
    select: tuple[int, int] | None = None   # ISS bits [msb, lsb] choosing a case
    cases: Mapping[int, tuple[FieldSpec, ...]] = field(default_factory=dict)
    checks: tuple[str, ...] = ()            # names of consistency checks in CHECKS
    il_is_1: bool = True                    # the architecture says IL is 1 for this class
    iss2_title: str = "ISS2 encoding for all other exceptions"


def F(name: str, msb: int, lsb: int | None = None, doc: str = "", values=None,
      fmt: str | None = None, iss2: bool = False) -> FieldSpec:
    """A field at ISS bits [msb:lsb] (or ISS2 bits, which sit 32 higher in ESR)."""
    lsb = msb if lsb is None else lsb
    off = 32 if iss2 else 0
    return FieldSpec(name, msb + off, lsb + off, doc, values, fmt)


def flag(name: str, bit: int, off: str, on: str, doc: str = "", iss2: bool = False):
    return F(name, bit, bit, doc or name, {0: off, 1: on}, iss2=iss2)


# --- formatters: (field value, whole ESR) -> meaning ------------------------------------------

def _xreg(v: int, esr: int) -> str:
    return "XZR/SP (31)" if v == 31 else f"X{v}"


def _hex(v: int, esr: int) -> str:
    return f"{v:#x}"


def _dfsc(v: int, esr: int) -> str:
    return fsc.describe(v, data=True)[0]


def _ifsc(v: int, esr: int) -> str:
    return fsc.describe(v, data=False)[0]


def _debug_fsc(v: int, esr: int) -> str:
    return "debug exception" if v == fsc.FSC_DEBUG else f"{v:#04x}: not the debug code 0x22"


def _abort_set(v: int, esr: int) -> Meaning:
    info = fsc.FAULT_CODES.get(esr & 0x3F)
    kind = info.kind if info else None
    if kind in fsc.LST_KINDS and (esr >> 26) & 0x3F in (EC.DABT_LOW, EC.DABT_CUR):
        return "LST", fsc.ABORT_LST[v]
    if kind == "external":
        return "SET", fsc.ABORT_SET.get(v, "reserved error type")
    return "SET", "not used for this fault code" if v == 0 else "set for a fault that has none"


def _srt(v: int, esr: int) -> str:
    width = "X" if esr >> 15 & 1 else "W"
    return f"{width}{v}" + (" (zero register)" if v == 31 else "")


def _comment_brk(v: int, esr: int) -> str:
    return (f"BRK #{v:#x}, instruction {brkimm.brk_instruction(v):#010x}: "
            f"{brkimm.meaning(v)}")


def _comment_bkpt(v: int, esr: int) -> str:
    if esr >> 25 & 1:
        return (f"BKPT #{v:#x}, A32 instruction {brkimm.bkpt_a32_instruction(v):#010x}: "
                f"{brkimm.bkpt_meaning(v, thumb=False)}")
    return (f"BKPT #{v:#x}, 16-bit T32 instruction {0xBE00 | (v & 0xFF):#06x}: "
            f"{brkimm.bkpt_meaning(v, thumb=True)}")


def _imm16_svc(v: int, esr: int) -> str:
    return f"SVC #{v:#x}" + (" (Linux puts the syscall number in X8, not here)" if v == 0
                             else "")


def _imm16_hvc(v: int, esr: int) -> str:
    return f"HVC #{v:#x}" + (": SMC Calling Convention call, function ID in W0 (PSCI, KVM "
                             "hypercalls)" if v == 0 else "")


def _imm16_smc(v: int, esr: int) -> str:
    return f"SMC #{v:#x}" + (": SMC Calling Convention call, function ID in W0" if v == 0
                             else "")


def _sys64_dir(v: int, esr: int) -> str:
    op0, op2, op1 = esr >> 20 & 3, esr >> 17 & 7, esr >> 14 & 7
    crn, rt, crm = esr >> 10 & 0xF, esr >> 5 & 0x1F, esr >> 1 & 0xF
    name, asm = sysreg.describe(op0, op1, crn, crm, op2, rt, bool(v))
    return f"{'read' if v else 'write'}: {asm}"


def _sys128_dir(v: int, esr: int) -> str:
    op0, op2, op1 = esr >> 20 & 3, esr >> 17 & 7, esr >> 14 & 7
    crn, rt, crm = esr >> 10 & 0xF, (esr >> 6 & 0xF) * 2, esr >> 1 & 0xF
    name = sysreg.generic_name(op0, op1, crn, crm, op2)
    pair = f"X{rt}, X{rt + 1}"
    return f"read: MRRS {pair}, {name}" if v else f"write: MSRR {name}, {pair}"


def _coproc_dir(coproc: int) -> Callable[[int, int], str]:
    def fmt(v: int, esr: int) -> str:
        opc2, opc1 = esr >> 17 & 7, esr >> 14 & 7
        crn, rt, crm = esr >> 10 & 0xF, esr >> 5 & 0x1F, esr >> 1 & 0xF
        op = "MRC" if v else "MCR"
        return (f"{'read' if v else 'write'}: {op} p{coproc}, #{opc1}, <R of X{rt}>, "
                f"c{crn}, c{crm}, #{opc2}")
    return fmt


def _coproc64_dir(coproc: int) -> Callable[[int, int], str]:
    def fmt(v: int, esr: int) -> str:
        opc1, rt2, rt, crm = esr >> 16 & 0xF, esr >> 10 & 0x1F, esr >> 5 & 0x1F, esr >> 1 & 0xF
        op = "MRRC" if v else "MCRR"
        return (f"{'read' if v else 'write'}: {op} p{coproc}, #{opc1}, <R of X{rt}>, "
                f"<R of X{rt2}>, c{crm}")
    return fmt


def _vmrs_dir(v: int, esr: int) -> str:
    return "read: VMRS of an ID register (reg in CRn)" if v else "write (unexpected for VMRS)"


def _ldc_dir(v: int, esr: int) -> str:
    return "read: LDC (memory to DBGDTRTXint)" if v else "write: STC (DBGDTRRXint to memory)"


_CONDITIONS = ("EQ", "NE", "CS/HS", "CC/LO", "MI", "PL", "VS", "VC", "HI", "LS", "GE",
               "LT", "GT", "LE", "AL (always; also what AArch64 traps report)", "NV")


def _cond(v: int, esr: int) -> str:
    return _CONDITIONS[v]


def _wpt(v: int, esr: int) -> str:
    return f"watchpoint {v}" if esr >> 17 & 1 else f"{v} (not valid: WPTV is 0)"


def _pmu_fsc(v: int, esr: int) -> str:
    return f"{v:#x}"


FORMATTERS: dict[str, Callable[[int, int], Meaning]] = {
    "xreg": _xreg, "hex": _hex, "dfsc": _dfsc, "ifsc": _ifsc, "debug_fsc": _debug_fsc,
    "abort_set": _abort_set, "srt": _srt, "comment_brk": _comment_brk,
    "comment_bkpt": _comment_bkpt, "imm16_svc": _imm16_svc, "imm16_hvc": _imm16_hvc,
    "imm16_smc": _imm16_smc, "sys64_dir": _sys64_dir, "sys128_dir": _sys128_dir,
    "cp15_dir": _coproc_dir(15), "cp14_dir": _coproc_dir(14), "cp15_64_dir": _coproc64_dir(15),
    "cp14_64_dir": _coproc64_dir(14), "vmrs_dir": _vmrs_dir, "ldc_dir": _ldc_dir,
    "cond": _cond, "wpt": _wpt, "pmu_fsc": _pmu_fsc,
}

# --- shared fields ----------------------------------------------------------------------------

CV = flag("CV", 24, "COND is not valid", "COND is valid", "Condition code valid")
COND = F("COND", 23, 20, "Condition code of the trapped instruction (AArch32)", fmt="cond")
WNR = flag("WnR", 6, "read: the access was a read", "write: the access was a write",
           "Write not Read")
CM = flag("CM", 8, "not a cache maintenance or address translation instruction",
          "cache maintenance or address translation instruction (WnR is then 1)",
          "Cache Maintenance")
S1PTW = flag("S1PTW", 7, "not on a stage 1 translation table walk",
             "stage 2 fault on an access made for a stage 1 translation table walk",
             "Stage 2 fault on a Stage 1 Page Table Walk")
EA = flag("EA", 9, "no IMPLEMENTATION DEFINED external abort type (always 0 for other aborts)",
          "IMPLEMENTATION DEFINED external abort type", "External Abort type")
FNV = flag("FnV", 10, "FAR is valid", "FAR is not valid (UNKNOWN)", "FAR not Valid")
VNCR = flag("VNCR", 13, "not from a VNCR_EL2-based access",
            "fault from EL1's use of VNCR_EL2 (FEAT_NV2)", "VNCR_EL2 access")
SET = F("SET", 12, 11, "Synchronous Error Type (FEAT_RAS)", fmt="abort_set")
PFV = flag("PFV", 14, "PFAR_ELx is not valid", "PFAR_ELx holds the faulting physical address "
           "(FEAT_PFAR)", "PFAR Valid")
TOPLEVEL = flag("TopLevel", 21, "not due to TopLevel", "stage 2 permission fault due to "
                "TopLevel (FEAT_THE)", "TopLevel")
IMM16 = F("imm16", 15, 0, "Immediate of the instruction", fmt="hex")
DIRECTION_FLAG = {0: "write", 1: "read"}
ISS2_NONE: tuple[FieldSpec, ...] = ()

_DA_ISS2_TITLE = "ISS2 encoding for an exception from a Data Abort"

DATA_ABORT = Layout(
    "ISS encoding for an exception from a Data Abort",
    fields=(
        flag("ISV", 24, "no instruction syndrome: ISS[23:14] do not describe the access",
             "instruction syndrome valid: ISS[23:14] describe the access",
             "Instruction Syndrome Valid"),
        VNCR, SET, FNV, EA, CM, S1PTW, WNR,
        F("DFSC", 5, 0, "Data Fault Status Code", fmt="dfsc"),
    ),
    select=(24, 24),
    cases={
        1: (F("SAS", 23, 22, "Syndrome Access Size",
              {0: "byte", 1: "halfword (2 bytes)", 2: "word (4 bytes)",
               3: "doubleword (8 bytes)"}),
            flag("SSE", 21, "no sign extension", "the loaded value is sign-extended",
                 "Syndrome Sign Extend"),
            F("SRT", 20, 16, "Syndrome Register Transfer: the register loaded or stored",
              fmt="srt"),
            flag("SF", 15, "32-bit register (W)", "64-bit register (X)", "Sixty-Four"),
            flag("AR", 14, "no acquire/release semantics", "acquire/release semantics",
                 "Acquire/Release")),
        0: (TOPLEVEL,
            F("WU", 20, 16, "Write Update of a store that took an external abort "
              "(FEAT_RASv2)", fmt="hex"),
            flag("FnP", 15, "FAR is precise", "FAR is only within the fault granule",
                 "FAR not Precise"),
            PFV),
    },
    iss2=(
        flag("HDBSSF", 11, "not caused by the HDBSS", "caused by the HDBSS (FEAT_HDBSS)",
             "HDBSS fault", iss2=True),
        flag("TnD", 10, "data access", "Allocation Tag access (FEAT_MTE_PERM)", "Tag not Data",
             iss2=True),
        flag("TagAccess", 9, "not due to NoTagAccess", "due to the NoTagAccess attribute "
             "(FEAT_MTE_PERM)", "NoTagAccess fault", iss2=True),
        flag("GCS", 8, "not a GCS access", "Guarded Control Stack data access (FEAT_GCS)",
             "GCS data access", iss2=True),
        flag("AssuredOnly", 7, "not due to AssuredOnly", "due to the AssuredOnly attribute "
             "(FEAT_THE)", "AssuredOnly", iss2=True),
        flag("Overlay", 6, "not due to overlay permissions", "due to overlay permissions "
             "(FEAT_S1POE/S2POE)", "Overlay", iss2=True),
        flag("DirtyBit", 5, "not due to the dirty state", "due to the dirty state "
             "(FEAT_S1PIE/S2PIE)", "DirtyBit", iss2=True),
        F("Xs", 4, 0, "Register of a faulting ST64BV/ST64BV0 status result (FEAT_LS64)",
          fmt="xreg", iss2=True),
    ),
    checks=("abort_fsc_data", "abort_fields", "cm_wnr", "da_il"),
    il_is_1=False,  # IL is 1 when ISV is 0 (checked by "da_il"), may be 0 for T32 with ISV 1
    iss2_title=_DA_ISS2_TITLE,
)

INSTRUCTION_ABORT = Layout(
    "ISS encoding for an exception from an Instruction Abort",
    fields=(TOPLEVEL, PFV, SET, FNV, EA, S1PTW,
            F("IFSC", 5, 0, "Instruction Fault Status Code", fmt="ifsc")),
    iss2=(flag("AssuredOnly", 7, "not due to AssuredOnly", "due to the AssuredOnly attribute "
               "(FEAT_THE)", "AssuredOnly", iss2=True),
          flag("Overlay", 6, "not due to overlay permissions", "due to overlay permissions",
               "Overlay", iss2=True)),
    checks=("abort_fsc_insn", "abort_fields"),
    iss2_title="ISS2 encoding for an exception from an Instruction Abort",
)

BREAKPOINT_INSN = Layout(
    "ISS encoding for an exception from execution of a Breakpoint instruction",
    fields=(F("Comment", 15, 0, "The instruction's immediate: ignored by the PE, chosen by "
              "whoever planted it", fmt="comment_brk"),),
)

BKPT_INSN = Layout(
    "ISS encoding for an exception from execution of a Breakpoint instruction",
    fields=(F("Comment", 15, 0, "The BKPT immediate", fmt="comment_bkpt"),),
    il_is_1=False,
)

HW_BREAKPOINT = Layout(
    "ISS encoding for an exception from a Breakpoint or Vector Catch debug exception",
    fields=(F("IFSC", 5, 0, "Instruction Fault Status Code: 0x22 for debug exceptions",
              fmt="debug_fsc"),),
    checks=("debug_fsc",),
)

SOFTWARE_STEP = Layout(
    "ISS encoding for an exception from a Software Step exception",
    fields=(flag("ISV", 24,
                 "EX is not valid: the step ended without a stepped instruction to report "
                 "on (e.g. taken from the active-pending state straight after ERET, or the "
                 "stepped instruction itself took another exception first)",
                 "EX is valid: an instruction was stepped", "Instruction Syndrome Valid"),
            flag("EX", 6, "the stepped instruction was not a Load-Exclusive",
                 "a Load-Exclusive was stepped (the exclusive monitor may be lost)",
                 "Exclusive operation"),
            F("IFSC", 5, 0, "Instruction Fault Status Code: 0x22 for debug exceptions",
              fmt="debug_fsc")),
    checks=("debug_fsc", "step_ex"),
)

WATCHPOINT = Layout(
    "ISS encoding for an exception from a Watchpoint exception",
    fields=(F("WPT", 23, 18, "Watchpoint number (FEAT_Debugv8p9)", fmt="wpt"),
            flag("WPTV", 17, "WPT is not valid", "WPT holds the watchpoint number",
                 "Watchpoint number Valid"),
            flag("WPF", 16, "the watchpoint matched", "the watchpoint might be a false "
                 "positive", "Watchpoint might be False-positive"),
            flag("FnP", 15, "FAR holds the address that matched", "FAR is only within the "
                 "naturally-aligned block that matched", "FAR not Precise"),
            VNCR, FNV, CM, WNR,
            F("DFSC", 5, 0, "Data Fault Status Code: 0x22 for debug exceptions",
              fmt="debug_fsc")),
    iss2=(flag("GCS", 8, "not a GCS access", "Guarded Control Stack data access (FEAT_GCS)",
               "GCS data access", iss2=True),),
    checks=("debug_fsc", "watch_fnp"),
    iss2_title="ISS2 encoding for an exception from a Watchpoint exception",
)

SERROR = Layout(
    "ISS encoding for an SError exception",
    fields=(flag("IDS", 24, "architected syndrome (FEAT_RAS)", "IMPLEMENTATION DEFINED "
                 "syndrome in ISS[23:0]", "IMPLEMENTATION DEFINED Syndrome"),),
    select=(24, 24),
    cases={
        0: (flag("IESB", 13, "not synchronized by an implicit error synchronization event",
                 "synchronized by an implicit error synchronization event (FEAT_IESB)",
                 "Implicit Error Synchronization event"),
            F("AET", 12, 10, "Asynchronous Error Type: the PE state after the error",
              fsc.SERROR_AET),
            EA,
            F("DFSC", 5, 0, "Data Fault Status Code", fsc.SERROR_DFSC)),
        1: (F("ISS", 23, 0, "IMPLEMENTATION DEFINED syndrome", fmt="hex"),),
    },
    checks=("serror",),
)

SVC_HVC = Layout("ISS encoding for an exception from HVC or SVC instruction execution",
                 fields=(IMM16,))

_SYS_FIELDS = (
    F("Op0", 21, 20, "op0 of the instruction"), F("Op2", 19, 17, "op2 of the instruction"),
    F("Op1", 16, 14, "op1 of the instruction"), F("CRn", 13, 10, "CRn of the instruction"),
)

SYS64 = Layout(
    "ISS encoding for an exception from MSR, MRS, or System instruction execution in "
    "AArch64 state",
    fields=(*_SYS_FIELDS, F("Rt", 9, 5, "Rt, the general-purpose register transferred",
                            fmt="xreg"),
            F("CRm", 4, 1, "CRm of the instruction"),
            F("Direction", 0, 0, "1 = read (MRS, SYSL), 0 = write (MSR, SYS)",
              fmt="sys64_dir")),
)

SYS128 = Layout(
    "ISS encoding for an exception from MSRR, MRRS, or 128-bit System instruction execution "
    "in AArch64 state",
    fields=(*_SYS_FIELDS, F("Rt", 9, 6, "Rt/2: the register pair X[2*Rt], X[2*Rt+1]"),
            F("CRm", 4, 1, "CRm of the instruction"),
            F("Direction", 0, 0, "1 = read (MRRS), 0 = write (MSRR, SYSP)",
              fmt="sys128_dir")),
)


def _mcr_mrc(title_suffix: str, dir_fmt: str) -> Layout:
    return Layout(
        "ISS encoding for an exception from an MCR or MRC access" + title_suffix,
        fields=(CV, COND, F("Opc2", 19, 17, "opc2 of the instruction"),
                F("Opc1", 16, 14, "opc1 of the instruction"),
                F("CRn", 13, 10, "CRn of the instruction"),
                F("Rt", 9, 5, "Rt (AArch64 view of the register number)", fmt="xreg"),
                F("CRm", 4, 1, "CRm of the instruction"),
                F("Direction", 0, 0, "1 = read (MRC), 0 = write (MCR)", fmt=dir_fmt)),
        il_is_1=False)


def _mcrr_mrrc(dir_fmt: str) -> Layout:
    return Layout(
        "ISS encoding for an exception from an MCRR or MRRC access",
        fields=(CV, COND, F("Opc1", 19, 16, "opc1 of the instruction"),
                F("Rt2", 14, 10, "Rt2 (AArch64 view)", fmt="xreg"),
                F("Rt", 9, 5, "Rt (AArch64 view)", fmt="xreg"),
                F("CRm", 4, 1, "CRm of the instruction"),
                F("Direction", 0, 0, "1 = read (MRRC), 0 = write (MCRR)", fmt=dir_fmt)),
        il_is_1=False)


_NO_ISS = "ISS is RES0 for this exception class"

LAYOUTS: dict[int, Layout] = {
    EC.UNKNOWN: Layout("ISS encoding for exceptions with an unknown reason"),
    EC.WFX: Layout(
        "ISS encoding for an exception from a WF* instruction",
        fields=(CV, COND, F("RN", 9, 5, "Register of a WFET/WFIT timeout (valid when RV is 1)",
                            fmt="xreg"),
                flag("RV", 2, "RN is not valid", "RN holds the timeout register",
                     "Register field Valid"),
                F("TI", 1, 0, "Trapped Instruction",
                  {0: "WFI", 1: "WFE", 2: "WFIT (FEAT_WFxT)", 3: "WFET (FEAT_WFxT)"})),
        il_is_1=False),
    EC.CP15_32: _mcr_mrc(" (coproc 0b1111)", "cp15_dir"),
    EC.CP15_64: _mcrr_mrrc("cp15_64_dir"),
    EC.CP14_MR: _mcr_mrc(" (coproc 0b1110)", "cp14_dir"),
    EC.CP14_LS: Layout(
        "ISS encoding for an exception from an LDC or STC instruction",
        fields=(CV, COND, F("imm8", 19, 12, "imm8 of the instruction", fmt="hex"),
                F("Rn", 9, 5, "Rn, the base register (AArch64 view)", fmt="xreg"),
                flag("Offset", 4, "offset subtracted", "offset added", "Offset direction"),
                F("AM", 3, 1, "Addressing Mode",
                  {0: "immediate unindexed", 1: "immediate post-indexed",
                   2: "immediate offset", 3: "immediate pre-indexed", 4: "literal unindexed",
                   6: "literal offset"}),
                F("Direction", 0, 0, "1 = read (LDC), 0 = write (STC)", fmt="ldc_dir")),
        il_is_1=False),
    EC.FP_ASIMD: Layout(
        "ISS encoding for an exception from an access to SVE, Advanced SIMD or floating-point "
        "functionality, resulting from the FPEN and TFP traps",
        fields=(CV, COND), il_is_1=False),
    EC.CP10_ID: _mcr_mrc(" (trapped VMRS, coproc 0b1010)", "vmrs_dir"),
    EC.PAC: Layout("ISS encoding for an exception from a Pointer Authentication instruction "
                   "when HCR_EL2.API == 0 || SCR_EL3.API == 0"),
    EC.LS64: Layout(
        "ISS encoding for an exception from an LD64B or ST64B* instruction",
        fields=(F("ISS", 24, 0, "Which instruction trapped",
                  {0: "ST64BV", 1: "ST64BV0", 2: "LD64B or ST64B", 3: "TSB CSYNC",
                   4: "PSB CSYNC"}),),
        checks=("ls64",)),
    EC.CP14_64: _mcrr_mrrc("cp14_64_dir"),
    EC.BTI: Layout(
        "ISS encoding for an exception from Branch Target Identification instruction",
        fields=(F("BTYPE", 1, 0, "PSTATE.BTYPE when the landing instruction was reached",
                  {0: "0b00: no indirect branch (cannot cause this exception)",
                   1: "0b01: BR/BRA* via X16/X17 or from unguarded memory; the target needs "
                      "BTI c, BTI j, BTI jc or PACIxSP",
                   2: "0b10: BLR/BLRA* (indirect call); the target needs BTI c, BTI jc or "
                      "PACIxSP",
                   3: "0b11: BR/BRA* via another register (indirect jump); the target "
                      "needs BTI j or BTI jc"}),),
        checks=("bti",)),
    EC.ILL: Layout("ISS encoding for an exception from an Illegal Execution state, or a PC or "
                   "SP alignment fault"),
    EC.SVC32: Layout(SVC_HVC.title, fields=(F("imm16", 15, 0, "SVC immediate (T32: imm8; A32: "
                                              "imm24[15:0]; UNKNOWN if conditional)",
                                              fmt="hex"),), il_is_1=False),
    EC.HVC32: Layout(SVC_HVC.title, fields=(F("imm16", 15, 0, "HVC immediate",
                                              fmt="imm16_hvc"),)),
    EC.SMC32: Layout(
        "ISS encoding for an exception from SMC instruction execution in AArch32 state",
        fields=(CV, COND, flag("CCKNOWNPASS", 19, "the instruction might have failed its "
                               "condition check", "the instruction passed its condition check",
                               "Condition code known pass")),
        il_is_1=False),
    EC.SYS128: SYS128,
    EC.SVC64: Layout(SVC_HVC.title, fields=(F("imm16", 15, 0, "SVC immediate",
                                              fmt="imm16_svc"),)),
    EC.HVC64: Layout(SVC_HVC.title, fields=(F("imm16", 15, 0, "HVC immediate",
                                              fmt="imm16_hvc"),)),
    EC.SMC64: Layout("ISS encoding for an exception from SMC instruction execution in "
                     "AArch64 state",
                     fields=(F("imm16", 15, 0, "SMC immediate", fmt="imm16_smc"),)),
    EC.SYS64: SYS64,
    EC.SVE: Layout("ISS encoding for an exception from an access to SVE functionality, "
                   "resulting from CPACR_EL1.ZEN, CPTR_EL2.ZEN, CPTR_EL2.TZ, or CPTR_EL3.EZ"),
    EC.ERET: Layout(
        "ISS encoding for an exception from ERET, ERETAA, or ERETAB instruction",
        fields=(flag("ERET", 1, "ERET", "ERETAA or ERETAB", "ERET or ERETA*"),
                flag("ERETA", 0, "A key (ERETAA) when ERET is 1", "B key (ERETAB)",
                     "Key used by ERETA*")),
        checks=("eret",)),
    EC.TSTART: Layout("ISS encoding for an exception from a TSTART instruction",
                      fields=(F("Rd", 9, 5, "Rd of the TSTART instruction", fmt="xreg"),)),
    EC.FPAC: Layout(
        "ISS encoding for a PAC Fail exception",
        fields=(flag("DnI", 1, "instruction key (AUTIA/AUTIB family)", "data key "
                     "(AUTDA/AUTDB family)", "Data not Instruction"),
                flag("BnA", 0, "A key", "B key", "B not A"))),
    EC.SME: Layout(
        "ISS encoding for an exception due to SME functionality",
        fields=(F("SMTC", 2, 0, "SME Trap Code",
                  {0: "access to SME functionality trapped by CPACR/CPTR/SMCR controls",
                   1: "instruction illegal in Streaming SVE mode (PSTATE.SM is 1)",
                   2: "instruction needs Streaming SVE mode (PSTATE.SM is 0)",
                   3: "instruction needs the ZA storage enabled (PSTATE.ZA is 0)",
                   4: "access to ZT0 trapped or ZT0 inaccessible (PSTATE.ZA is 0)"}),),
        checks=("sme",)),
    EC.GPC: Layout(
        "ISS encoding for a GPC exception",
        fields=(flag("S2PTW", 21, "not on a stage 2 translation table walk",
                     "on an access made for a stage 2 translation table walk",
                     "Stage 2 Page Table Walk"),
                flag("InD", 20, "data access", "instruction access", "Instruction not Data"),
                F("GPCSC", 19, 14, "Granule Protection Check Status Code", fsc.GPCSC_CODES),
                VNCR, CM, S1PTW, WNR,
                F("xFSC", 5, 0, "Fault status code of the access that failed the check",
                  fmt="dfsc"))),
    EC.IMP_DEF: Layout("IMPLEMENTATION DEFINED exception to EL3",
                       fields=(F("ISS", 24, 0, "IMPLEMENTATION DEFINED", fmt="hex"),),
                       il_is_1=False),
    EC.IABT_LOW: INSTRUCTION_ABORT,
    EC.IABT_CUR: INSTRUCTION_ABORT,
    EC.PC_ALIGN: Layout("ISS encoding for an exception from an Illegal Execution state, or a "
                        "PC or SP alignment fault"),
    EC.DABT_LOW: DATA_ABORT,
    EC.DABT_CUR: DATA_ABORT,
    EC.SP_ALIGN: Layout("ISS encoding for an exception from an Illegal Execution state, or a "
                        "PC or SP alignment fault"),
    EC.MOPS: Layout(
        "ISS encoding for an exception from the Memory Copy and Memory Set instructions",
        fields=(flag("MemInst", 24, "CPY* (memory copy)", "SET* (memory set)",
                     "Memory instruction class"),
                flag("isSETG", 23, "not SETG*", "SETGP/SETGM/SETGE (tag setting)", "SETG*"),
                F("Options", 22, 19, "Options field of the instruction", fmt="hex"),
                flag("FromEpilogue", 18, "prologue or main instruction",
                     "epilogue instruction (CPYE/SETE)", "From Epilogue"),
                flag("WrongOption", 17, "algorithm option matched",
                     "wrong algorithm option for the current PSTATE.C", "Wrong Option"),
                flag("OptionA", 16, "option B (PSTATE.C was 0)", "option A (PSTATE.C was 1)",
                     "Option A"),
                F("destreg", 14, 10, "Destination address register", fmt="xreg"),
                F("srcreg", 9, 5, "Source address (CPY) or data (SET) register", fmt="xreg"),
                F("sizereg", 4, 0, "Size register", fmt="xreg"))),
    EC.FP_EXC32: None,  # filled below (shared with FP_EXC64)
    EC.FP_EXC64: None,
    EC.GCS: Layout(
        "ISS encoding for a GCS exception",
        fields=(F("ExType", 23, 20, "GCS exception type",
                  {0: "GCS data check: a value popped from the GCS did not match",
                   1: "EXLOCK: exception return not permitted while PSTATE.EXLOCK is set",
                   2: "trapped GCSSTR or GCSSTTR"}),),
        select=(23, 20),
        cases={
            0: (F("Rn", 9, 5, "Register of the instruction that failed the check",
                  fmt="xreg"),
                F("IT", 4, 0, "Instruction Type",
                  {0: "RET", 1: "GCSPOPM", 2: "RETAA", 3: "RETAB", 4: "GCSSS1",
                   5: "GCSSS2", 8: "GCSPOPCX", 9: "GCSPOPX"})),
            2: (F("Raddr", 14, 10, "Data address register of the GCSSTR/GCSSTTR",
                  fmt="xreg"),
                F("Rvalue", 9, 5, "Data value register of the GCSSTR/GCSSTTR", fmt="xreg")),
        },
        checks=("gcs",)),
    EC.SERROR: SERROR,
    EC.BREAKPT_LOW: HW_BREAKPOINT,
    EC.BREAKPT_CUR: HW_BREAKPOINT,
    EC.SOFTSTP_LOW: SOFTWARE_STEP,
    EC.SOFTSTP_CUR: SOFTWARE_STEP,
    EC.WATCHPT_LOW: WATCHPOINT,
    EC.WATCHPT_CUR: WATCHPOINT,
    EC.BKPT32: BKPT_INSN,
    EC.VECTOR32: HW_BREAKPOINT,
    EC.BRK64: BREAKPOINT_INSN,
    EC.PMU: Layout(
        "ISS encoding for a PMU exception (FEAT_EBEP / profiling exceptions)",
        fields=(flag("ELS", 18, "ELR_ELx holds the preferred return address",
                     "ELR_ELx meaning is the alternative one (see the Arm ARM)",
                     "Meaning of ELR_ELx"),
                flag("VFV", 15, "FAR is not valid", "FAR holds a valid virtual address",
                     "FAR Valid"),
                flag("WnRV", 7, "WnR is not valid", "WnR is valid", "WnR Valid"),
                WNR,
                F("FSC", 5, 1, "Why the profiling exception was generated", fmt="pmu_fsc"),
                flag("SYNC", 0, "taken asynchronously", "taken synchronously",
                     "Synchronous")),
        il_is_1=False),
}

_FP_EXC = (
    flag("TFV", 23, "IDF..IOF are UNKNOWN", "IDF..IOF say which exceptions were trapped",
         "Trapped Fault Valid"),
    F("VECITR", 10, 8, "Vector iteration (AArch32: RES1; AArch64: UNKNOWN)"),
    flag("IDF", 7, "no Input Denormal", "Input Denormal trapped"),
    flag("IXF", 4, "no Inexact", "Inexact trapped"),
    flag("UFF", 3, "no Underflow", "Underflow trapped"),
    flag("OFF", 2, "no Overflow", "Overflow trapped"),
    flag("DZF", 1, "no Divide by Zero", "Divide by Zero trapped"),
    flag("IOF", 0, "no Invalid Operation", "Invalid Operation trapped"),
)
LAYOUTS[EC.FP_EXC32] = Layout(
    "ISS encoding for an exception from a trapped floating-point exception", fields=_FP_EXC,
    il_is_1=False)
LAYOUTS[EC.FP_EXC64] = Layout(
    "ISS encoding for an exception from a trapped floating-point exception", fields=_FP_EXC)

UNALLOCATED = Layout("unallocated Exception Class: the Arm ARM defines no ISS for it",
                     fields=(F("ISS", 24, 0, "raw ISS", fmt="hex"),),
                     iss2=(F("ISS2", 23, 0, "raw ISS2", fmt="hex", iss2=True),),
                     il_is_1=False, iss2_title="raw ISS2")

# --- consistency checks: (esr) -> list of warnings ----------------------------------------------


def _fsc_kind(code: int) -> str | None:
    info = fsc.FAULT_CODES.get(code)
    return info.kind if info else None


def _check_abort_fsc(esr: int, data: bool) -> list[str]:
    warning = fsc.describe(esr & 0x3F, data=data)[1]
    if warning is None and esr & 0x3F == fsc.FSC_DEBUG:
        return []  # 0x22 in an abort is the level -2 GPF code, not a debug event
    return [warning] if warning else []


def _check_abort_fields(esr: int) -> list[str]:
    code = esr & 0x3F
    kind = _fsc_kind(code)
    out = []
    if esr >> 10 & 1 and kind != "external":
        out.append(f"FnV is 1 but FSC {code:#04x} is not a synchronous external abort "
                   "(FnV is only defined for those; otherwise it is 0)")
    if esr >> 9 & 1 and kind not in fsc.EXTERNAL_KINDS:
        out.append(f"EA is 1 but FSC {code:#04x} is not an external abort "
                   "(EA reads 0 for any other abort)")
    bits = esr >> 11 & 3
    ec = esr >> 26 & 0x3F
    is_data = ec in (EC.DABT_LOW, EC.DABT_CUR)
    if bits and kind != "external" and not (is_data and kind in fsc.LST_KINDS):
        out.append(f"ISS[12:11] = {bits:#04b} but FSC {code:#04x} uses neither SET "
                   "(external abort) nor LST (translation/access flag/permission fault)")
    if kind == "external" and bits == 0b01:
        out.append("SET = 0b01 is reserved")
    return out


def _check_cm_wnr(esr: int) -> list[str]:
    if esr >> 8 & 1 and not esr >> 6 & 1:
        return ["CM is 1 but WnR is 0: cache maintenance and address translation "
                "instructions report WnR = 1"]
    return []


def _check_da_il(esr: int) -> list[str]:
    if not esr >> 24 & 1 and not esr >> 25 & 1:
        return ["IL is 0 but ISV is 0: IL is RES1 for a Data Abort without instruction "
                "syndrome"]
    return []


def _check_debug_fsc(esr: int) -> list[str]:
    code = esr & 0x3F
    if code != fsc.FSC_DEBUG:
        return [f"fault status code {code:#04x} is not 0x22, the only code a debug "
                "exception reports"]
    return []


def _check_step_ex(esr: int) -> list[str]:
    if esr >> 6 & 1 and not esr >> 24 & 1:
        return ["EX is 1 but ISV is 0: EX is RES0 when ISV is 0"]
    return []


def _check_watch_fnp(esr: int) -> list[str]:
    if esr >> 15 & 1 and esr >> 10 & 1:
        return ["FnP is 1 but FnV is 1: when the FAR is not valid FnP is 0"]
    return []


def _check_serror(esr: int) -> list[str]:
    if esr >> 24 & 1:
        return []
    out, code, aet = [], esr & 0x3F, esr >> 10 & 7
    if code not in fsc.SERROR_DFSC:
        out.append(f"SError DFSC {code:#04x} is reserved (0x00 uncategorized, "
                   "0x11 asynchronous SError)")
    elif code == 0x11 and aet not in fsc.SERROR_AET:
        out.append(f"AET {aet:#05b} is reserved")
    elif code == 0x00 and (aet or esr >> 13 & 1 or esr >> 9 & 1):
        out.append("DFSC 0x00 (uncategorized) but AET/IESB/EA are set: they are only "
                   "defined for DFSC 0x11")
    return out


def _check_bti(esr: int) -> list[str]:
    return ["BTYPE 0b00 cannot cause a Branch Target exception"] if esr & 3 == 0 else []


def _check_eret(esr: int) -> list[str]:
    if esr & 1 and not esr & 2:
        return ["ERETA is 1 but ERET is 0: ERETA is only meaningful for ERETAA/ERETAB"]
    return []


def _check_ls64(esr: int) -> list[str]:
    iss = esr & 0x1FF_FFFF
    return [f"ISS {iss:#x} is not one of the defined LD64B/ST64B*/CSYNC codes (0..4)"] \
        if iss > 4 else []


def _check_sme(esr: int) -> list[str]:
    return [f"SMTC {esr & 7:#05b} is reserved"] if esr & 7 > 4 else []


def _check_gcs(esr: int) -> list[str]:
    ex_type, it = esr >> 20 & 0xF, esr & 0x1F
    if ex_type > 2:
        return [f"GCS ExType {ex_type} is reserved"]
    if ex_type == 0 and it not in (0, 1, 2, 3, 4, 5, 8, 9):
        return [f"GCS instruction type IT {it} is reserved"]
    return []


CHECKS: dict[str, Callable[[int], list[str]]] = {
    "abort_fsc_data": lambda esr: _check_abort_fsc(esr, True),
    "abort_fsc_insn": lambda esr: _check_abort_fsc(esr, False),
    "abort_fields": _check_abort_fields, "cm_wnr": _check_cm_wnr, "da_il": _check_da_il,
    "debug_fsc": _check_debug_fsc, "step_ex": _check_step_ex, "watch_fnp": _check_watch_fnp,
    "serror": _check_serror, "bti": _check_bti, "eret": _check_eret, "ls64": _check_ls64,
    "sme": _check_sme, "gcs": _check_gcs,
}


def layout(ec: int) -> Layout:
    """The ISS layout of an Exception Class (``UNALLOCATED`` for an unknown one)."""
    return LAYOUTS.get(ec) or UNALLOCATED


def validate_tables() -> None:
    """Assert the tables are well formed (run by the tests, not at import: start-up time)."""
    for lay in [*LAYOUTS.values(), UNALLOCATED]:
        assert lay is not None
        for case in [(), *lay.cases.values()]:
            specs = sorted((*lay.fields, *case), key=lambda s: s.lsb)
            for a, b in zip(specs, specs[1:]):
                assert a.msb < b.lsb, (lay.title, a.name, b.name)
            assert all(0 <= s.lsb <= s.msb <= 24 for s in specs), lay.title
            for s in specs:
                assert s.fmt is None or s.fmt in FORMATTERS, s.fmt
        for s in lay.iss2:
            assert 32 <= s.lsb <= s.msb <= 55, s.name
        for name in lay.checks:
            assert name in CHECKS, name
