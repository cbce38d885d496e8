"""Exception classes: the EC field of ESR_ELx, bits [31:26].

Values and descriptions follow the Arm ARM (DDI 0487, register pages ESR_EL1/ESR_EL2/ESR_EL3,
field "EC, bits [31:26]", table "Exception Class encoding"); the short names are the ones the Linux kernel prints in its
"ESR = 0x…" abort dump and "Unhandled exception" messages, so a learner can match a crash
log word for word.
"""
from __future__ import annotations

from enum import IntEnum


class EC(IntEnum):
    """Every Exception Class the Arm ARM defines (DDI 0487, ESR_ELx.EC)."""

    UNKNOWN = 0x00      # unknown reason (UDF, unallocated encodings, ...)
    WFX = 0x01          # trapped WFI/WFE/WFIT/WFET
    CP15_32 = 0x03      # AArch32 MCR/MRC, coproc 0b1111
    CP15_64 = 0x04      # AArch32 MCRR/MRRC, coproc 0b1111
    CP14_MR = 0x05      # AArch32 MCR/MRC, coproc 0b1110
    CP14_LS = 0x06      # AArch32 LDC/STC
    FP_ASIMD = 0x07     # SME/SVE/AdvSIMD/FP access trapped by CPACR/CPTR FPEN/TFP
    CP10_ID = 0x08      # AArch32 VMRS trapped by HCR_EL2.TID0 (EL2 only)
    PAC = 0x09          # PAC instruction trapped by HCR_EL2.API / SCR_EL3.API
    LS64 = 0x0A         # LD64B/ST64B* (and TSB/PSB CSYNC) trapped
    CP14_64 = 0x0C      # AArch32 MRRC, coproc 0b1110
    BTI = 0x0D          # Branch Target Exception
    ILL = 0x0E          # Illegal Execution state (PSTATE.IL)
    SVC32 = 0x11        # SVC in AArch32
    HVC32 = 0x12        # HVC in AArch32
    SMC32 = 0x13        # SMC in AArch32
    SYS128 = 0x14       # MSRR/MRRS/SYSP (FEAT_SYSREG128 / FEAT_SYSINSTR128)
    SVC64 = 0x15        # SVC in AArch64
    HVC64 = 0x16        # HVC in AArch64
    SMC64 = 0x17        # SMC in AArch64
    SYS64 = 0x18        # MSR/MRS/System instruction trapped
    SVE = 0x19          # SVE access trapped by ZEN/TZ/EZ
    ERET = 0x1A         # ERET/ERETAA/ERETAB trapped (FEAT_NV)
    TSTART = 0x1B       # TSTART trapped (FEAT_TME)
    FPAC = 0x1C         # pointer authentication failure (FEAT_FPAC)
    SME = 0x1D          # SME access trapped / illegal for PSTATE.SM/ZA
    GPC = 0x1E          # Granule Protection Check (FEAT_RME, to EL3)
    IMP_DEF = 0x1F      # IMPLEMENTATION DEFINED, to EL3
    IABT_LOW = 0x20     # Instruction Abort from a lower EL
    IABT_CUR = 0x21     # Instruction Abort, same EL
    PC_ALIGN = 0x22     # PC alignment fault
    DABT_LOW = 0x24     # Data Abort from a lower EL
    DABT_CUR = 0x25     # Data Abort, same EL
    SP_ALIGN = 0x26     # SP alignment fault
    MOPS = 0x27         # Memory Copy/Set exception (FEAT_MOPS)
    FP_EXC32 = 0x28     # trapped FP exception, AArch32
    FP_EXC64 = 0x2C     # trapped FP exception, AArch64
    GCS = 0x2D          # Guarded Control Stack exception (FEAT_GCS)
    SERROR = 0x2F       # SError
    BREAKPT_LOW = 0x30  # hardware Breakpoint, lower EL
    BREAKPT_CUR = 0x31  # hardware Breakpoint, same EL
    SOFTSTP_LOW = 0x32  # Software Step, lower EL
    SOFTSTP_CUR = 0x33  # Software Step, same EL
    WATCHPT_LOW = 0x34  # Watchpoint, lower EL
    WATCHPT_CUR = 0x35  # Watchpoint, same EL
    BKPT32 = 0x38       # BKPT in AArch32
    VECTOR32 = 0x3A     # AArch32 Vector Catch (EL2 only)
    BRK64 = 0x3C        # BRK in AArch64
    PMU = 0x3D          # PMU exception (FEAT_EBEP)


# EC -> (kernel-style short name, Arm ARM description)
EC_INFO: dict[int, tuple[str, str]] = {
    EC.UNKNOWN: ("Unknown/Uncategorized", "Exception with an unknown reason"),
    EC.WFX: ("WFI/WFE", "Trapped WFI, WFE, WFIT or WFET instruction execution"),
    EC.CP15_32: ("CP15 MCR/MRC", "Trapped MCR or MRC access with coproc == 0b1111 (AArch32)"),
    EC.CP15_64: ("CP15 MCRR/MRRC", "Trapped MCRR or MRRC access with coproc == 0b1111 (AArch32)"),
    EC.CP14_MR: ("CP14 MCR/MRC", "Trapped MCR or MRC access with coproc == 0b1110 (AArch32)"),
    EC.CP14_LS: ("CP14 LDC/STC", "Trapped LDC or STC access (AArch32)"),
    EC.FP_ASIMD: ("ASIMD", "Access to SME, SVE, Advanced SIMD or floating-point functionality "
                  "trapped by CPACR_EL1.FPEN, CPTR_EL2.FPEN, CPTR_EL2.TFP or CPTR_EL3.TFP"),
    EC.CP10_ID: ("CP10 MRC/VMRS", "Trapped VMRS access from ID group trap (AArch32, "
                 "HCR_EL2.TID0)"),
    EC.PAC: ("PAC", "Trapped pointer authentication instruction (HCR_EL2.API or SCR_EL3.API)"),
    EC.LS64: ("LDST64B", "Trapped execution of an LD64B or ST64B* instruction, or of "
              "TSB CSYNC / PSB CSYNC"),
    EC.CP14_64: ("CP14 MCRR/MRRC", "Trapped MRRC access with coproc == 0b1110 (AArch32)"),
    EC.BTI: ("BTI", "Branch Target Exception"),
    EC.ILL: ("PSTATE.IL", "Illegal Execution state"),
    EC.SVC32: ("SVC (AArch32)", "SVC instruction execution in AArch32 state"),
    EC.HVC32: ("HVC (AArch32)", "HVC instruction execution in AArch32 state"),
    EC.SMC32: ("SMC (AArch32)", "SMC instruction execution in AArch32 state"),
    EC.SYS128: ("MSRR/MRRS (AArch64)", "Trapped MSRR, MRRS or 128-bit System instruction "
                "execution in AArch64 state"),
    EC.SVC64: ("SVC (AArch64)", "SVC instruction execution in AArch64 state"),
    EC.HVC64: ("HVC (AArch64)", "HVC instruction execution in AArch64 state"),
    EC.SMC64: ("SMC (AArch64)", "SMC instruction execution in AArch64 state"),
    EC.SYS64: ("MSR/MRS (AArch64)", "Trapped MSR, MRS or System instruction execution in "
               "AArch64 state"),
    EC.SVE: ("SVE", "Access to SVE functionality trapped by CPACR_EL1.ZEN, CPTR_EL2.ZEN, "
             "CPTR_EL2.TZ or CPTR_EL3.EZ"),
    EC.ERET: ("ERET/ERETAA/ERETAB", "Trapped ERET, ERETAA or ERETAB instruction execution"),
    EC.TSTART: ("TSTART", "Trapped TSTART instruction (FEAT_TME)"),
    EC.FPAC: ("FPAC", "Exception from a Pointer Authentication instruction authentication "
              "failure"),
    EC.SME: ("SME", "Access to SME functionality trapped, or an instruction illegal for the "
             "current PSTATE.SM or PSTATE.ZA"),
    EC.GPC: ("GPC", "Granule Protection Check exception"),
    EC.IMP_DEF: ("EL3 IMP DEF", "IMPLEMENTATION DEFINED exception to EL3"),
    EC.IABT_LOW: ("IABT (lower EL)", "Instruction Abort from a lower Exception level"),
    EC.IABT_CUR: ("IABT (current EL)", "Instruction Abort taken without a change in "
                  "Exception level"),
    EC.PC_ALIGN: ("PC Alignment", "PC alignment fault exception"),
    EC.DABT_LOW: ("DABT (lower EL)", "Data Abort from a lower Exception level"),
    EC.DABT_CUR: ("DABT (current EL)", "Data Abort taken without a change in Exception level"),
    EC.SP_ALIGN: ("SP Alignment", "SP alignment fault exception"),
    EC.MOPS: ("MOPS", "Memory Operation (CPY*/SET*) exception"),
    EC.FP_EXC32: ("FP (AArch32)", "Trapped floating-point exception taken from AArch32 state"),
    EC.FP_EXC64: ("FP (AArch64)", "Trapped floating-point exception taken from AArch64 state"),
    EC.GCS: ("Guarded Control Stack", "GCS exception"),
    EC.SERROR: ("SError", "SError exception"),
    EC.BREAKPT_LOW: ("Breakpoint (lower EL)", "Breakpoint exception from a lower Exception "
                     "level"),
    EC.BREAKPT_CUR: ("Breakpoint (current EL)", "Breakpoint exception taken without a change "
                     "in Exception level"),
    EC.SOFTSTP_LOW: ("Software Step (lower EL)", "Software Step exception from a lower "
                     "Exception level"),
    EC.SOFTSTP_CUR: ("Software Step (current EL)", "Software Step exception taken without a "
                     "change in Exception level"),
    EC.WATCHPT_LOW: ("Watchpoint (lower EL)", "Watchpoint exception from a lower Exception "
                     "level"),
    EC.WATCHPT_CUR: ("Watchpoint (current EL)", "Watchpoint exception taken without a change "
                     "in Exception level"),
    EC.BKPT32: ("BKPT (AArch32)", "BKPT instruction execution in AArch32 state"),
    EC.VECTOR32: ("Vector catch (AArch32)", "Vector Catch exception from AArch32 state"),
    EC.BRK64: ("BRK (AArch64)", "BRK instruction execution in AArch64 state"),
    EC.PMU: ("PMU", "PMU exception"),
}
