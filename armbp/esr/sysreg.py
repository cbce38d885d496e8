"""Names and assembly forms of trapped MSR/MRS/SYS instructions (EC 0x18, 0x14).

The ISS of EC 0x18 holds the instruction's (op0, op1, CRn, CRm, op2), Rt and direction
(DDI 0487, ESR_ELx, "ISS encoding for an exception from MSR, MRS, or System instruction
execution in AArch64 state"). The encodings below are the Arm ARM's register pages (each
register's "Accessing <register>" section) for the registers a learner meets most; anything
else is printed in the generic ``S<op0>_<op1>_C<n>_C<m>_<op2>`` form assemblers accept.
"""

from __future__ import annotations

# (op0, op1, CRn, CRm, op2) -> name, for op0 == 2 (debug) and op0 == 3 (non-debug).
REGISTERS: dict[tuple[int, int, int, int, int], str] = {
    # debug registers (op0 = 2)
    (2, 0, 0, 2, 2): "MDSCR_EL1",
    (2, 0, 0, 0, 2): "OSDTRRX_EL1",
    (2, 0, 0, 3, 2): "OSDTRTX_EL1",
    (2, 0, 1, 0, 0): "MDRAR_EL1",
    (2, 0, 1, 0, 4): "OSLAR_EL1",
    (2, 0, 1, 1, 4): "OSLSR_EL1",
    (2, 0, 1, 3, 4): "OSDLR_EL1",
    (2, 0, 1, 4, 4): "DBGPRCR_EL1",
    (2, 0, 7, 8, 6): "DBGCLAIMSET_EL1",
    (2, 0, 7, 9, 6): "DBGCLAIMCLR_EL1",
    (2, 0, 7, 14, 6): "DBGAUTHSTATUS_EL1",
    (2, 3, 0, 1, 0): "MDCCSR_EL0",
    (2, 3, 0, 4, 0): "DBGDTR_EL0",
    (2, 3, 0, 5, 0): "DBGDTRRX_EL0",
    **{(2, 0, 0, n, 4): f"DBGBVR{n}_EL1" for n in range(16)},
    **{(2, 0, 0, n, 5): f"DBGBCR{n}_EL1" for n in range(16)},
    **{(2, 0, 0, n, 6): f"DBGWVR{n}_EL1" for n in range(16)},
    **{(2, 0, 0, n, 7): f"DBGWCR{n}_EL1" for n in range(16)},
    # identification
    (3, 0, 0, 0, 0): "MIDR_EL1",
    (3, 0, 0, 0, 5): "MPIDR_EL1",
    (3, 0, 0, 0, 6): "REVIDR_EL1",
    (3, 0, 0, 4, 0): "ID_AA64PFR0_EL1",
    (3, 0, 0, 4, 1): "ID_AA64PFR1_EL1",
    (3, 0, 0, 4, 4): "ID_AA64ZFR0_EL1",
    (3, 0, 0, 4, 5): "ID_AA64SMFR0_EL1",
    (3, 0, 0, 5, 0): "ID_AA64DFR0_EL1",
    (3, 0, 0, 5, 1): "ID_AA64DFR1_EL1",
    (3, 0, 0, 5, 4): "ID_AA64AFR0_EL1",
    (3, 0, 0, 6, 0): "ID_AA64ISAR0_EL1",
    (3, 0, 0, 6, 1): "ID_AA64ISAR1_EL1",
    (3, 0, 0, 6, 2): "ID_AA64ISAR2_EL1",
    (3, 0, 0, 7, 0): "ID_AA64MMFR0_EL1",
    (3, 0, 0, 7, 1): "ID_AA64MMFR1_EL1",
    (3, 0, 0, 7, 2): "ID_AA64MMFR2_EL1",
    (3, 1, 0, 0, 0): "CCSIDR_EL1",
    (3, 1, 0, 0, 1): "CLIDR_EL1",
    (3, 2, 0, 0, 0): "CSSELR_EL1",
    (3, 3, 0, 0, 1): "CTR_EL0",
    (3, 3, 0, 0, 7): "DCZID_EL0",
    # EL1 system control
    (3, 0, 1, 0, 0): "SCTLR_EL1",
    (3, 0, 1, 0, 1): "ACTLR_EL1",
    (3, 0, 1, 0, 2): "CPACR_EL1",
    (3, 0, 1, 2, 0): "ZCR_EL1",
    (3, 0, 2, 0, 0): "TTBR0_EL1",
    (3, 0, 2, 0, 1): "TTBR1_EL1",
    (3, 0, 2, 0, 2): "TCR_EL1",
    (3, 0, 4, 0, 0): "SPSR_EL1",
    (3, 0, 4, 0, 1): "ELR_EL1",
    (3, 0, 4, 1, 0): "SP_EL0",
    (3, 0, 4, 2, 0): "SPSel",
    (3, 0, 4, 2, 2): "CurrentEL",
    (3, 0, 4, 2, 3): "PAN",
    (3, 0, 4, 2, 4): "UAO",
    (3, 0, 4, 6, 0): "ICC_PMR_EL1",
    (3, 0, 5, 1, 0): "AFSR0_EL1",
    (3, 0, 5, 1, 1): "AFSR1_EL1",
    (3, 0, 5, 2, 0): "ESR_EL1",
    (3, 0, 6, 0, 0): "FAR_EL1",
    (3, 0, 7, 4, 0): "PAR_EL1",
    (3, 0, 10, 2, 0): "MAIR_EL1",
    (3, 0, 10, 3, 0): "AMAIR_EL1",
    (3, 0, 12, 0, 0): "VBAR_EL1",
    (3, 0, 12, 1, 0): "ISR_EL1",
    (3, 0, 12, 11, 1): "ICC_DIR_EL1",
    (3, 0, 12, 11, 5): "ICC_SGI1R_EL1",
    (3, 0, 12, 12, 0): "ICC_IAR1_EL1",
    (3, 0, 12, 12, 1): "ICC_EOIR1_EL1",
    (3, 0, 12, 12, 3): "ICC_BPR1_EL1",
    (3, 0, 12, 12, 4): "ICC_CTLR_EL1",
    (3, 0, 12, 12, 5): "ICC_SRE_EL1",
    (3, 0, 12, 12, 7): "ICC_IGRPEN1_EL1",
    (3, 0, 13, 0, 1): "CONTEXTIDR_EL1",
    (3, 0, 13, 0, 4): "TPIDR_EL1",
    (3, 0, 14, 1, 0): "CNTKCTL_EL1",
    # EL0-accessible state, performance monitors, timers
    (3, 3, 4, 2, 0): "NZCV",
    (3, 3, 4, 2, 1): "DAIF",
    (3, 3, 4, 2, 2): "SVCR",
    (3, 3, 4, 2, 5): "DIT",
    (3, 3, 4, 2, 6): "SSBS",
    (3, 3, 4, 2, 7): "TCO",
    (3, 3, 4, 4, 0): "FPCR",
    (3, 3, 4, 4, 1): "FPSR",
    (3, 3, 4, 5, 0): "DSPSR_EL0",
    (3, 3, 4, 5, 1): "DLR_EL0",
    (3, 3, 9, 12, 0): "PMCR_EL0",
    (3, 3, 9, 12, 1): "PMCNTENSET_EL0",
    (3, 3, 9, 13, 0): "PMCCNTR_EL0",
    (3, 3, 9, 14, 0): "PMUSERENR_EL0",
    (3, 3, 13, 0, 2): "TPIDR_EL0",
    (3, 3, 13, 0, 3): "TPIDRRO_EL0",
    (3, 3, 14, 0, 0): "CNTFRQ_EL0",
    (3, 3, 14, 0, 1): "CNTPCT_EL0",
    (3, 3, 14, 0, 2): "CNTVCT_EL0",
    (3, 3, 14, 0, 5): "CNTPCTSS_EL0",
    (3, 3, 14, 0, 6): "CNTVCTSS_EL0",
    (3, 3, 14, 2, 0): "CNTP_TVAL_EL0",
    (3, 3, 14, 2, 1): "CNTP_CTL_EL0",
    (3, 3, 14, 2, 2): "CNTP_CVAL_EL0",
    (3, 3, 14, 3, 0): "CNTV_TVAL_EL0",
    (3, 3, 14, 3, 1): "CNTV_CTL_EL0",
    (3, 3, 14, 3, 2): "CNTV_CVAL_EL0",
    # EL2
    (3, 4, 0, 0, 0): "VPIDR_EL2",
    (3, 4, 0, 0, 5): "VMPIDR_EL2",
    (3, 4, 1, 0, 0): "SCTLR_EL2",
    (3, 4, 1, 1, 0): "HCR_EL2",
    (3, 4, 1, 1, 1): "MDCR_EL2",
    (3, 4, 1, 1, 2): "CPTR_EL2",
    (3, 4, 1, 1, 3): "HSTR_EL2",
    (3, 4, 2, 0, 0): "TTBR0_EL2",
    (3, 4, 2, 0, 2): "TCR_EL2",
    (3, 4, 2, 1, 0): "VTTBR_EL2",
    (3, 4, 2, 1, 2): "VTCR_EL2",
    (3, 4, 4, 0, 0): "SPSR_EL2",
    (3, 4, 4, 0, 1): "ELR_EL2",
    (3, 4, 4, 1, 0): "SP_EL1",
    (3, 4, 5, 2, 0): "ESR_EL2",
    (3, 4, 6, 0, 0): "FAR_EL2",
    (3, 4, 6, 0, 4): "HPFAR_EL2",
    (3, 4, 10, 2, 0): "MAIR_EL2",
    (3, 4, 12, 0, 0): "VBAR_EL2",
    (3, 4, 13, 0, 2): "TPIDR_EL2",
    (3, 4, 14, 0, 3): "CNTVOFF_EL2",
    (3, 4, 14, 1, 0): "CNTHCTL_EL2",
    # EL3
    (3, 6, 1, 0, 0): "SCTLR_EL3",
    (3, 6, 1, 1, 0): "SCR_EL3",
    (3, 6, 1, 1, 2): "CPTR_EL3",
    (3, 6, 1, 3, 1): "MDCR_EL3",
    (3, 6, 2, 0, 0): "TTBR0_EL3",
    (3, 6, 4, 0, 0): "SPSR_EL3",
    (3, 6, 4, 0, 1): "ELR_EL3",
    (3, 6, 4, 1, 0): "SP_EL2",
    (3, 6, 5, 2, 0): "ESR_EL3",
    (3, 6, 6, 0, 0): "FAR_EL3",
    (3, 6, 12, 0, 0): "VBAR_EL3",
}

# (op1, CRn, CRm, op2) -> (name, takes Xt) for System instructions (op0 = 1):
# Arm ARM, "A64 System instructions for cache maintenance", "... for address translation"
# and "... for TLB maintenance".
SYS_INSTRUCTIONS: dict[tuple[int, int, int, int], tuple[str, bool]] = {
    (0, 7, 1, 0): ("IC IALLUIS", False),
    (0, 7, 5, 0): ("IC IALLU", False),
    (3, 7, 5, 1): ("IC IVAU", True),
    (0, 7, 6, 1): ("DC IVAC", True),
    (0, 7, 6, 2): ("DC ISW", True),
    (0, 7, 10, 2): ("DC CSW", True),
    (0, 7, 14, 2): ("DC CISW", True),
    (3, 7, 4, 1): ("DC ZVA", True),
    (3, 7, 10, 1): ("DC CVAC", True),
    (3, 7, 11, 1): ("DC CVAU", True),
    (3, 7, 12, 1): ("DC CVAP", True),
    (3, 7, 13, 1): ("DC CVADP", True),
    (3, 7, 14, 1): ("DC CIVAC", True),
    (0, 7, 8, 0): ("AT S1E1R", True),
    (0, 7, 8, 1): ("AT S1E1W", True),
    (0, 7, 8, 2): ("AT S1E0R", True),
    (0, 7, 8, 3): ("AT S1E0W", True),
    (0, 8, 3, 0): ("TLBI VMALLE1IS", False),
    (0, 8, 3, 1): ("TLBI VAE1IS", True),
    (0, 8, 3, 2): ("TLBI ASIDE1IS", True),
    (0, 8, 3, 3): ("TLBI VAAE1IS", True),
    (0, 8, 3, 5): ("TLBI VALE1IS", True),
    (0, 8, 7, 0): ("TLBI VMALLE1", False),
    (0, 8, 7, 1): ("TLBI VAE1", True),
    (0, 8, 7, 2): ("TLBI ASIDE1", True),
    (0, 8, 7, 3): ("TLBI VAAE1", True),
    (0, 8, 7, 5): ("TLBI VALE1", True),
}


def _xreg(rt: int) -> str:
    return "XZR" if rt == 31 else f"X{rt}"


def generic_name(op0: int, op1: int, crn: int, crm: int, op2: int) -> str:
    return f"S{op0}_{op1}_C{crn}_C{crm}_{op2}"


def describe(
    op0: int, op1: int, crn: int, crm: int, op2: int, rt: int, read: bool
) -> tuple[str, str]:
    """(name, assembly form) of a trapped EC 0x18 access."""
    if op0 == 1:
        known = SYS_INSTRUCTIONS.get((op1, crn, crm, op2))
        if read:  # SYSL: op0 = 1 with L = 1
            name = generic_name(op0, op1, crn, crm, op2)
            return name, f"SYSL {_xreg(rt)}, #{op1}, C{crn}, C{crm}, #{op2}"
        if known:
            name, takes_reg = known
            return name, f"{name}, {_xreg(rt)}" if takes_reg or rt != 31 else name
        return (
            generic_name(op0, op1, crn, crm, op2),
            f"SYS #{op1}, C{crn}, C{crm}, #{op2}, {_xreg(rt)}",
        )
    if op0 == 0:  # MSR (immediate) to a PSTATE field, or hints and barriers
        return "PSTATE/hint space", f"op0=0 encoding op1={op1} CRn={crn} CRm={crm} op2={op2}"
    name = REGISTERS.get((op0, op1, crn, crm, op2)) or generic_name(op0, op1, crn, crm, op2)
    return name, f"MRS {_xreg(rt)}, {name}" if read else f"MSR {name}, {_xreg(rt)}"
