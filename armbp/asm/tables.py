"""Names the assembler knows: condition codes, system registers, barrier and cache options.

System register encodings (op0, op1, CRn, CRm, op2) are from the Arm ARM (DDI 0487),
the chapter "AArch64 System Register Descriptions" and "The A64 System Instruction Class" for
the "special-purpose" registers NZCV, DAIF, CurrentEL, SPSel, SP_EL0. Any register can also
be written in the generic form ``s<op0>_<op1>_c<n>_c<m>_<op2>`` ("The A64 System Instruction Class",
"S<op0>_<op1>_<Cn>_<Cm>_<op2>").
"""

from __future__ import annotations

import re

# Arm ARM "Condition code" table: the 4-bit cond field of B.cond, CSEL, CCMP...
CONDITIONS = {
    "eq": 0,
    "ne": 1,
    "cs": 2,
    "hs": 2,
    "cc": 3,
    "lo": 3,
    "mi": 4,
    "pl": 5,
    "vs": 6,
    "vc": 7,
    "hi": 8,
    "ls": 9,
    "ge": 10,
    "lt": 11,
    "gt": 12,
    "le": 13,
    "al": 14,
    "nv": 15,
}

# name -> (op0, op1, CRn, CRm, op2, access) with access "rw", "r" (read-only) or "w".
SYSREGS: dict[str, tuple[int, int, int, int, int, str]] = {
    # special-purpose registers ("The A64 System Instruction Class")
    "nzcv": (3, 3, 4, 2, 0, "rw"),
    "daif": (3, 3, 4, 2, 1, "rw"),
    "currentel": (3, 0, 4, 2, 2, "r"),
    "spsel": (3, 0, 4, 2, 0, "rw"),
    "sp_el0": (3, 0, 4, 1, 0, "rw"),
    "sp_el1": (3, 4, 4, 1, 0, "rw"),
    "fpcr": (3, 3, 4, 4, 0, "rw"),
    "fpsr": (3, 3, 4, 4, 1, "rw"),
    "spsr_el1": (3, 0, 4, 0, 0, "rw"),
    "elr_el1": (3, 0, 4, 0, 1, "rw"),
    "spsr_el2": (3, 4, 4, 0, 0, "rw"),
    "elr_el2": (3, 4, 4, 0, 1, "rw"),
    "spsr_el3": (3, 6, 4, 0, 0, "rw"),
    "elr_el3": (3, 6, 4, 0, 1, "rw"),
    # exception handling and system control ("General system control registers")
    "vbar_el1": (3, 0, 12, 0, 0, "rw"),
    "vbar_el2": (3, 4, 12, 0, 0, "rw"),
    "vbar_el3": (3, 6, 12, 0, 0, "rw"),
    "esr_el1": (3, 0, 5, 2, 0, "rw"),
    "esr_el2": (3, 4, 5, 2, 0, "rw"),
    "esr_el3": (3, 6, 5, 2, 0, "rw"),
    "far_el1": (3, 0, 6, 0, 0, "rw"),
    "far_el2": (3, 4, 6, 0, 0, "rw"),
    "far_el3": (3, 6, 6, 0, 0, "rw"),
    "sctlr_el1": (3, 0, 1, 0, 0, "rw"),
    "sctlr_el2": (3, 4, 1, 0, 0, "rw"),
    "sctlr_el3": (3, 6, 1, 0, 0, "rw"),
    "cpacr_el1": (3, 0, 1, 0, 2, "rw"),
    "hcr_el2": (3, 4, 1, 1, 0, "rw"),
    "scr_el3": (3, 6, 1, 1, 0, "rw"),
    "ttbr0_el1": (3, 0, 2, 0, 0, "rw"),
    "ttbr1_el1": (3, 0, 2, 0, 1, "rw"),
    "tcr_el1": (3, 0, 2, 0, 2, "rw"),
    "mair_el1": (3, 0, 10, 2, 0, "rw"),
    "par_el1": (3, 0, 7, 4, 0, "rw"),
    "contextidr_el1": (3, 0, 13, 0, 1, "rw"),
    "tpidr_el0": (3, 3, 13, 0, 2, "rw"),
    "tpidrro_el0": (3, 3, 13, 0, 3, "rw"),
    "tpidr_el1": (3, 0, 13, 0, 4, "rw"),
    "midr_el1": (3, 0, 0, 0, 0, "r"),
    "mpidr_el1": (3, 0, 0, 0, 5, "r"),
    "id_aa64dfr0_el1": (3, 0, 0, 5, 0, "r"),
    "id_aa64pfr0_el1": (3, 0, 0, 4, 0, "r"),
    "id_aa64isar0_el1": (3, 0, 0, 6, 0, "r"),
    "id_aa64mmfr0_el1": (3, 0, 0, 7, 0, "r"),
    # generic timer ("Generic Timer registers")
    "cntfrq_el0": (3, 3, 14, 0, 0, "rw"),
    "cntpct_el0": (3, 3, 14, 0, 1, "r"),
    "cntvct_el0": (3, 3, 14, 0, 2, "r"),
    "cntp_tval_el0": (3, 3, 14, 2, 0, "rw"),
    "cntp_ctl_el0": (3, 3, 14, 2, 1, "rw"),
    "cntp_cval_el0": (3, 3, 14, 2, 2, "rw"),
    "cntv_tval_el0": (3, 3, 14, 3, 0, "rw"),
    "cntv_ctl_el0": (3, 3, 14, 3, 1, "rw"),
    "cntv_cval_el0": (3, 3, 14, 3, 2, "rw"),
    # self-hosted debug ("Debug registers"): the registers a debugger and its guest program
    "mdscr_el1": (2, 0, 0, 2, 2, "rw"),
    "mdccsr_el0": (2, 3, 0, 1, 0, "r"),
    "oslar_el1": (2, 0, 1, 0, 4, "w"),
    "oslsr_el1": (2, 0, 1, 1, 4, "r"),
    "osdlr_el1": (2, 0, 1, 3, 4, "rw"),
    "mdcr_el2": (3, 4, 1, 1, 1, "rw"),
}
for _n in range(16):
    # DBGBVR<n>_EL1 / DBGBCR<n>_EL1 / DBGWVR<n>_EL1 / DBGWCR<n>_EL1: op0=2 op1=0 CRn=0 CRm=n
    SYSREGS[f"dbgbvr{_n}_el1"] = (2, 0, 0, _n, 4, "rw")
    SYSREGS[f"dbgbcr{_n}_el1"] = (2, 0, 0, _n, 5, "rw")
    SYSREGS[f"dbgwvr{_n}_el1"] = (2, 0, 0, _n, 6, "rw")
    SYSREGS[f"dbgwcr{_n}_el1"] = (2, 0, 0, _n, 7, "rw")

_GENERIC = re.compile(r"s([0-3])_([0-7])_c([0-9]|1[0-5])_c([0-9]|1[0-5])_([0-7])")


def sysreg(name: str) -> tuple[int, int, int, int, int, str] | None:
    """(op0, op1, CRn, CRm, op2, access) of a system register name, or None."""
    low = name.lower()
    if low in SYSREGS:
        return SYSREGS[low]
    m = _GENERIC.fullmatch(low)
    if m and int(m.group(1)) >= 2:
        return (*map(int, m.groups()), "rw")  # type: ignore[return-value]
    return None


# "MSR (immediate)": PSTATE field -> (op1, op2); CRm holds the immediate.
PSTATE_FIELDS = {
    "spsel": (0, 5, 1),  # (op1, op2, largest immediate)
    "daifset": (3, 6, 15),
    "daifclr": (3, 7, 15),
}

# "DMB"/"DSB": the CRm option names.
BARRIER_OPTIONS = {
    "sy": 15,
    "st": 14,
    "ld": 13,
    "ish": 11,
    "ishst": 10,
    "ishld": 9,
    "nsh": 7,
    "nshst": 6,
    "nshld": 5,
    "osh": 3,
    "oshst": 2,
    "oshld": 1,
}

# "The A64 System Instruction Class" and the pages "DC", "IC", "TLBI": op name -> (op1, CRn, CRm, op2, takes a register)
SYS_OPS = {
    "dc": {
        "ivac": (0, 7, 6, 1, True),
        "isw": (0, 7, 6, 2, True),
        "csw": (0, 7, 10, 2, True),
        "cisw": (0, 7, 14, 2, True),
        "zva": (3, 7, 4, 1, True),
        "cvac": (3, 7, 10, 1, True),
        "cvau": (3, 7, 11, 1, True),
        "civac": (3, 7, 14, 1, True),
    },
    "ic": {
        "ialluis": (0, 7, 1, 0, False),
        "iallu": (0, 7, 5, 0, False),
        "ivau": (3, 7, 5, 1, True),
    },
    "tlbi": {
        "vmalle1is": (0, 8, 3, 0, False),
        "vmalle1": (0, 8, 7, 0, False),
        "vae1is": (0, 8, 3, 1, True),
        "vae1": (0, 8, 7, 1, True),
        "aside1is": (0, 8, 3, 2, True),
        "aside1": (0, 8, 7, 2, True),
        "vaae1is": (0, 8, 3, 3, True),
        "vaae1": (0, 8, 7, 3, True),
        "vale1is": (0, 8, 3, 5, True),
        "vale1": (0, 8, 7, 5, True),
        "vaale1is": (0, 8, 3, 7, True),
        "vaale1": (0, 8, 7, 7, True),
        "alle1": (4, 8, 7, 4, False),
        "alle1is": (4, 8, 3, 4, False),
        "alle2": (4, 8, 7, 0, False),
        "alle2is": (4, 8, 3, 0, False),
    },
}
