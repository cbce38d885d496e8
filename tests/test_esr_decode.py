"""armbp.esr.decode: one vector (at least) for every Exception Class, and the warnings.

Where a vector comes from:
* "log:" values are quoted from public Linux kernel logs (the lines are reproduced in
  the comment, trimmed); the kernel's own decoding on the next lines is what we check.
* "ARM:" values are worked out by hand from the Arm ARM (DDI 0487, register ESR_ELx, the
  "ISS encoding for ..." section named by the layout) for the instruction in the comment.
"""

from __future__ import annotations

import pytest

from armbp import esr
from armbp.esr import EC, decode


def fields(value: int) -> dict[str, int]:
    return {f.name: f.value for f in decode(value).fields if f.name != "RES0"}


def meaning(value: int, name: str) -> str:
    f = decode(value).field(name)
    assert f is not None, name
    return f.meaning


# --- kernel logs -------------------------------------------------------------------------------


def test_log_null_write_level1_translation_fault():
    # log (Linux 6.1.44 and 5.15 on QEMU virt, "faulty" driver writing through NULL):
    #   Mem abort info:
    #     ESR = 0x0000000096000045
    #     EC = 0x25: DABT (current EL), IL = 32 bits
    #     SET = 0, FnV = 0 / EA = 0, S1PTW = 0
    #     FSC = 0x05: level 1 translation fault
    #   Data abort info:
    #     ISV = 0, ISS = 0x00000045 / CM = 0, WnR = 1
    s = decode(0x0000000096000045)
    assert s.summary == "EC = 0x25: DABT (current EL), IL = 32 bits"
    assert s.ec == EC.DABT_CUR and s.ec_name == "DABT (current EL)" and s.il == 1
    assert s.iss == 0x45 and s.iss2 == 0
    f = fields(0x96000045)
    assert (f["ISV"], f["FnV"], f["EA"], f["S1PTW"], f["CM"], f["WnR"], f["DFSC"]) == (
        0,
        0,
        0,
        0,
        0,
        1,
        0x05,
    )
    assert meaning(0x96000045, "DFSC") == "level 1 translation fault"
    assert s.warnings == ()


def test_log_iss2_fields_of_a_6_6_kernel():
    # log (Linux 6.6.32 on QEMU virt): "ISV = 0, ISS = 0x00000045, ISS2 = 0x00000000 /
    #   CM = 0, WnR = 1, TnD = 0, TagAccess = 0 / GCS = 0, Overlay = 0, DirtyBit = 0, Xs = 0"
    f = fields(0x96000045)
    assert all(f[n] == 0 for n in ("TnD", "TagAccess", "GCS", "Overlay", "DirtyBit", "Xs"))


@pytest.mark.parametrize(
    "value, fsc_text",
    [
        # log (LKFT report, linux-next): "Unable to handle kernel execute from non-executable
        #   memory ... ESR = 0x000000008600000e / EC = 0x21: IABT (current EL), IL = 32 bits /
        #   FSC = 0x0e: level 2 permission fault"
        (0x8600000E, "level 2 permission fault"),
        # log (5.19-rc3 cxl report, f2fs syzbot report): "ESR = 0x0000000086000004 /
        #   FSC = 0x04: level 0 translation fault"
        (0x86000004, "level 0 translation fault"),
        # log (syzbot, 6.0-rc2): "ESR = 0x0000000086000005 / FSC = 0x05: level 1 translation fault"
        (0x86000005, "level 1 translation fault"),
        # log (6.x btnxpuart fix): "ESR = 0x0000000086000007 / FSC = 0x07: level 3 translation fault"
        (0x86000007, "level 3 translation fault"),
    ],
)
def test_log_instruction_aborts(value, fsc_text):
    s = decode(value)
    assert s.summary == "EC = 0x21: IABT (current EL), IL = 32 bits"
    assert meaning(value, "IFSC") == fsc_text
    assert fields(value)["SET"] == 0 and fields(value)["FnV"] == 0
    assert s.warnings == ()


def test_log_brk_handler_bug_warn():
    # log (kernelci bisection, rk3328-rock64, 2021): "Unexpected kernel BRK exception at EL1 /
    #   Internal error: BRK handler: f2000800 [#1] PREEMPT SMP" -- a WARN() whose break hook
    #   was not registered yet.
    s = decode(0xF2000800)
    assert s.summary == "EC = 0x3c: BRK (AArch64), IL = 32 bits"
    comment = s.field("Comment")
    assert comment.value == 0x800 and (comment.msb, comment.lsb) == (15, 0)
    assert "0xd4210000" in comment.meaning  # 0xd4200000 | 0x800 << 5
    assert "BUG()" in comment.meaning and "WARN()" in comment.meaning
    assert s.warnings == ()


def test_log_bti_from_an_old_qemu_has_il_0():
    # log (arm64 BTI patch, 5.19-rc3 on QEMU virt): "Unhandled 64-bit el1h sync exception on
    #   CPU0, ESR 0x0000000034000002 -- BTI", pstate "BTYPE=-c". The QEMU of the time wrote
    #   IL = 0; a BTI exception is about a 32-bit A64 instruction, so the Arm ARM's IL is 1
    #   (QEMU's syn_btitrap sets it today). The decoder says so and still decodes BTYPE.
    s = decode(0x34000002)
    assert s.ec_name == "BTI"
    assert s.field("BTYPE").value == 0b10 and "BLR" in s.field("BTYPE").meaning
    assert any("IL is 0" in w for w in s.warnings)


def test_log_fp_trap_reports_cond_al():
    # log (6.6-rc3, FNMADD before FPSIMD was enabled): "Unhandled 64-bit el1h sync exception
    #   on CPU0, ESR 0x000000001fe00000 -- ASIMD": CV = 1 and COND = 0b1110, as the Arm ARM
    #   says traps from AArch64 report.
    s = decode(0x1FE00000)
    assert s.ec_name == "ASIMD" and fields(0x1FE00000) == {
        "EC": 7,
        "IL": 1,
        "CV": 1,
        "COND": 0xE,
    }
    assert s.warnings == ()


# --- every Exception Class ---------------------------------------------------------------------

# (ESR, EC, kernel short name, {field: value}, words expected in some field's meaning)
EVERY_EC = [
    # ARM: UDF #0 (unknown reason): ISS RES0, IL 1.
    (0x0200_0000, EC.UNKNOWN, "Unknown/Uncategorized", {}, []),
    # ARM: WFIT X3 trapped: TI = 0b10, RV = 1, RN = 3.
    (0x0600_0066, EC.WFX, "WFI/WFE", {"TI": 2, "RV": 1, "RN": 3}, ["WFIT"]),
    # ARM: MRC p15, 0, R0, c1, c0, 0 (SCTLR) from A32: CV 1, COND AL, CRn 1, read.
    (
        0x0FE0_0401,
        EC.CP15_32,
        "CP15 MCR/MRC",
        {
            "CV": 1,
            "COND": 0xE,
            "Opc1": 0,
            "CRn": 1,
            "CRm": 0,
            "Opc2": 0,
            "Rt": 0,
            "Direction": 1,
        },
        ["MRC p15"],
    ),
    # ARM + Linux esr.h ESR_ELx_CP15_64_ISS_SYS_CNTVCT: MRRC p15, 1, R0, R1, c14.
    (
        0x13E1_041D,
        EC.CP15_64,
        "CP15 MCRR/MRRC",
        {"Opc1": 1, "CRm": 14, "Rt": 0, "Rt2": 1, "Direction": 1},
        ["MRRC p15"],
    ),
    # ARM: MRC p14, 0, R0, c0, c1, 0 (DBGDSCRint).
    (
        0x17E0_0003,
        EC.CP14_MR,
        "CP14 MCR/MRC",
        {"CRn": 0, "CRm": 1, "Direction": 1},
        ["MRC p14"],
    ),
    # ARM: STC p14, c5, [R1, #4]: imm8 1, Rn 1, Offset +, AM offset, write.
    (
        0x1BE0_1034,
        EC.CP14_LS,
        "CP14 LDC/STC",
        {"imm8": 1, "Rn": 1, "Offset": 1, "AM": 2, "Direction": 0},
        ["STC"],
    ),
    # log: 0x1fe00000 -- ASIMD (above).
    (0x1FE0_0000, EC.FP_ASIMD, "ASIMD", {"CV": 1, "COND": 0xE}, []),
    # ARM: VMRS R0, MVFR0 trapped by HCR_EL2.TID0: Opc1 0b111, CRn = reg 0b0111, read.
    (
        0x23E1_DC01,
        EC.CP10_ID,
        "CP10 MRC/VMRS",
        {"Opc1": 7, "CRn": 7, "Direction": 1},
        ["VMRS"],
    ),
    # ARM: PACIASP trapped by HCR_EL2.API == 0: ISS RES0.
    (0x2600_0000, EC.PAC, "PAC", {}, []),
    # ARM + Linux esr.h ESR_ELx_ISS_OTHER_ST64BV0 = 1.
    (0x2A00_0001, EC.LS64, "LDST64B", {"ISS": 1}, ["ST64BV0"]),
    # ARM: MRRC p14, 0, R0, R1, c1.
    (
        0x33E0_0403,
        EC.CP14_64,
        "CP14 MCRR/MRRC",
        {"Rt2": 1, "CRm": 1, "Direction": 1},
        ["MRRC p14"],
    ),
    # ARM: BR X5 onto a page guarded without a landing pad: BTYPE 0b11.
    (0x3600_0003, EC.BTI, "BTI", {"BTYPE": 3}, ["BTI j"]),
    # ARM: illegal exception return: ISS RES0.
    (0x3A00_0000, EC.ILL, "PSTATE.IL", {}, []),
    # ARM: SVC #0 from A32 (Linux EABI syscall).
    (0x4600_0000, EC.SVC32, "SVC (AArch32)", {"imm16": 0}, []),
    # ARM: HVC #0 from AArch32.
    (0x4A00_0000, EC.HVC32, "HVC (AArch32)", {"imm16": 0}, ["SMC Calling Convention"]),
    # ARM: trapped SMC from AArch32 that passed its condition check.
    (0x4FE8_0000, EC.SMC32, "SMC (AArch32)", {"CV": 1, "COND": 0xE, "CCKNOWNPASS": 1}, []),
    # ARM: MRRS X0, X1, TTBR0_EL1 (op0 3, op1 0, CRn 2, CRm 0, op2 0), read.
    (
        0x5230_0801,
        EC.SYS128,
        "MRRS",
        {"Op0": 3, "CRn": 2, "Rt": 0, "Direction": 1},
        ["MRRS X0, X1"],
    ),
    # ARM + DESIGN.md: SVC #0 from AArch64 -> 0x56000000.
    (0x5600_0000, EC.SVC64, "SVC (AArch64)", {"imm16": 0}, ["SVC #0x0"]),
    (0x5A00_0000, EC.HVC64, "HVC (AArch64)", {"imm16": 0}, ["SMC Calling Convention"]),
    (0x5E00_0000, EC.SMC64, "SMC (AArch64)", {"imm16": 0}, ["SMC #0x0"]),
    # Linux esr.h ESR_ELx_SYS64_ISS_SYS_CTR_READ: user-space MRS X0, CTR_EL0 trapped
    # (SCTLR_EL1.UCT = 0) for the kernel to emulate.
    (
        0x6232_C001,
        EC.SYS64,
        "MSR/MRS (AArch64)",
        {"Op0": 3, "Op1": 3, "CRn": 0, "CRm": 0, "Op2": 1, "Rt": 0, "Direction": 1},
        ["MRS X0, CTR_EL0"],
    ),
    # ARM: SVE instruction with CPACR_EL1.ZEN trapping: ISS RES0.
    (0x6600_0000, EC.SVE, "SVE", {}, []),
    # ARM + Linux esr.h (ESR_ELx_ERET_ISS_ERET = 2, _ERETA = 1): ERETAB trapped by NV.
    (0x6A00_0003, EC.ERET, "ERET/ERETAA/ERETAB", {"ERET": 1, "ERETA": 1}, ["ERETAB"]),
    # ARM: TSTART X5 with TME disabled: Rd = 5.
    (0x6E00_00A0, EC.TSTART, "TSTART", {"Rd": 5}, []),
    # ARM: AUTDB failure with FEAT_FPAC: DnI 1, BnA 1.
    (0x7200_0003, EC.FPAC, "FPAC", {"DnI": 1, "BnA": 1}, ["data key", "B key"]),
    # ARM + QEMU SME_ET_NotStreaming = 2: SME instruction outside streaming mode.
    (0x7600_0002, EC.SME, "SME", {"SMTC": 2}, ["Streaming SVE"]),
    # ARM: data write hits a granule protection fault (not on a walk) to EL3.
    (
        0x7A03_0068,
        EC.GPC,
        "GPC",
        {"GPCSC": 0x0C, "WnR": 1, "xFSC": 0x28, "InD": 0},
        ["granule protection fault"],
    ),
    # ARM: IMPLEMENTATION DEFINED exception to EL3.
    (0x7E00_1234, EC.IMP_DEF, "EL3 IMP DEF", {"ISS": 0x1234}, []),
    # ARM: EL0 jumps into an unmapped page: level 3 translation fault.
    (0x8200_0007, EC.IABT_LOW, "IABT (lower EL)", {"IFSC": 7}, ["level 3 translation"]),
    (0x8600_000E, EC.IABT_CUR, "IABT (current EL)", {"IFSC": 0xE}, ["level 2 permission"]),
    (0x8A00_0000, EC.PC_ALIGN, "PC Alignment", {}, []),
    # ARM: EL0 write to an unmapped page (what Linux prints as "esr 0x92000047").
    (
        0x9200_0047,
        EC.DABT_LOW,
        "DABT (lower EL)",
        {"WnR": 1, "DFSC": 7},
        ["level 3 translation"],
    ),
    (0x9600_0045, EC.DABT_CUR, "DABT (current EL)", {"WnR": 1, "DFSC": 5}, []),
    (0x9A00_0000, EC.SP_ALIGN, "SP Alignment", {}, []),
    # ARM: CPYFE with the wrong algorithm option: epilogue, WrongOption, src X1, size X2.
    (
        0x9E06_0022,
        EC.MOPS,
        "MOPS",
        {"MemInst": 0, "FromEpilogue": 1, "WrongOption": 1, "srcreg": 1, "sizereg": 2},
        [],
    ),
    # ARM: AArch32 VFP divide by zero trapped: TFV, VECITR RES1 (0b111), DZF.
    (0xA280_0702, EC.FP_EXC32, "FP (AArch32)", {"TFV": 1, "VECITR": 7, "DZF": 1}, []),
    # ARM: AArch64 invalid operation trapped.
    (0xB280_0001, EC.FP_EXC64, "FP (AArch64)", {"TFV": 1, "IOF": 1}, []),
    # ARM + QEMU syn_gcs_data_check: RET X30 whose GCS record mismatched (IT 0 = RET).
    (0xB600_03C0, EC.GCS, "Guarded Control Stack", {"ExType": 0, "Rn": 30, "IT": 0}, ["RET"]),
    # ARM: RAS SError, asynchronous, recoverable state (AET UER).
    (0xBE00_0C11, EC.SERROR, "SError", {"IDS": 0, "AET": 3, "DFSC": 0x11}, ["UER"]),
    # DESIGN.md / QEMU syn_breakpoint: hardware breakpoint, lower and same EL.
    (0xC200_0022, EC.BREAKPT_LOW, "Breakpoint (lower EL)", {"IFSC": 0x22}, ["debug"]),
    (0xC600_0022, EC.BREAKPT_CUR, "Breakpoint (current EL)", {"IFSC": 0x22}, []),
    # DESIGN.md: software step seen from KVM, ISV set.
    (0xCB00_0022, EC.SOFTSTP_LOW, "Software Step (lower EL)", {"ISV": 1, "EX": 0}, []),
    (0xCE00_0022, EC.SOFTSTP_CUR, "Software Step (current EL)", {"ISV": 0}, ["EX is not"]),
    # QEMU syn_watchpoint: write watchpoint from EL0; read watchpoint at the same EL.
    (0xD200_0062, EC.WATCHPT_LOW, "Watchpoint (lower EL)", {"WnR": 1, "DFSC": 0x22}, []),
    (0xD600_0022, EC.WATCHPT_CUR, "Watchpoint (current EL)", {"WnR": 0}, []),
    # DESIGN.md (Unicorn, AArch32): A32 bkpt #0x12 -> 0xe2000012.
    (0xE200_0012, EC.BKPT32, "BKPT (AArch32)", {"Comment": 0x12}, ["0xe1200172"]),
    # ARM: AArch32 vector catch to EL2.
    (0xEA00_0022, EC.VECTOR32, "Vector catch (AArch32)", {"IFSC": 0x22}, []),
    # DESIGN.md: BRK #0 (GDB, QEMU).
    (0xF200_0000, EC.BRK64, "BRK (AArch64)", {"Comment": 0}, ["GDB", "0xd4200000"]),
    # ARM: PMU exception taken synchronously.
    (0xF600_0001, EC.PMU, "PMU", {"SYNC": 1}, []),
]


@pytest.mark.parametrize(
    "value, ec, name, expected, words", EVERY_EC, ids=[f"{v:#010x}" for v, *_ in EVERY_EC]
)
def test_every_ec(value, ec, name, expected, words):
    s = decode(value)
    assert s.ec == ec and name in s.ec_name
    got = fields(value)
    for key, want in expected.items():
        assert got[key] == want, key
    text = " | ".join(f.meaning for f in s.fields)
    for word in words:
        assert word in text
    assert s.warnings == (), s.warnings


def test_layout_tables_are_well_formed():
    # fields inside ISS [24:0] / ISS2 [55:32], no overlaps, known formatters and checks
    esr.classes.validate_tables()


def test_every_defined_ec_has_a_vector():
    assert {int(ec) for ec in EC} == {int(row[1]) for row in EVERY_EC}


@pytest.mark.parametrize(
    "ec",
    [0x02, 0x0B, 0x0F, 0x10, 0x23, 0x29, 0x2A, 0x2B, 0x2E, 0x36, 0x37, 0x39, 0x3B, 0x3E, 0x3F],
)
def test_unallocated_ec_is_a_warning_and_the_iss_stays_raw(ec):
    s = decode(ec << 26 | 1 << 25 | 0x123456)
    assert s.ec == ec and s.ec_name == "UNRECOGNIZED EC"
    assert s.field("ISS").value == 0x123456
    assert any("not an allocated Exception Class" in w for w in s.warnings)


# --- BRK meanings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "imm, words",
    [
        (0x0000, ["GDB", "QEMU"]),
        (0xF000, ["LLDB"]),
        (0x0001, ["__builtin_trap", "LLVM"]),
        (0x03E8, ["GCC __builtin_trap"]),
        (0x0004, ["kprobe"]),
        (0x0005, ["uprobe"]),
        (0x0006, ["single step", "5.16"]),
        (0x0400, ["KGDB"]),
        (0x0401, ["kgdb_breakpoint"]),
        (0x0800, ["BUG()", "WARN()"]),
        # Linux KASAN_BRK_IMM 0x900 | recover 0x20 | write 0x10 | log2(size) = 2
        (0x0932, ["KASAN", "4-byte write", "recoverable", "5.0"]),
        (0x0900, ["KASAN", "1-byte read"]),
        # Linux UBSAN_BRK_IMM 0x5500 | Clang SanitizerHandler 18 (OutOfBounds)
        (0x5512, ["UBSAN", "out-of-bounds", "6.3"]),
        (0x5514, ["shift-out-of-bounds"]),
        # Linux CFI_BRK_IMM_BASE 0x8000 | type register 17 << 5 | target register 8
        (0x8228, ["kCFI", "x8", "w17", "6.1"]),
        (0x1234, ["no convention"]),
    ],
)
def test_brk_comment_meanings(imm, words):
    text = meaning(esr.brk(imm), "Comment")
    assert f"{0xD4200000 | imm << 5:#010x}" in text
    for word in words:
        assert word in text


def test_bkpt_t32_instruction_word():
    # Arm ARM: T32 BKPT #imm8 is 0xbe00 | imm8, a 16-bit instruction: IL = 0.
    assert "0xbe12" in meaning(esr.bkpt32(0x12, il=False), "Comment")
    assert decode(esr.bkpt32(0x12, il=False)).warnings == ()


# --- system registers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, asm",
    [
        ((3, 0, 0, 0, 0, 1, True), "MRS X1, MIDR_EL1"),
        ((3, 0, 1, 0, 0, 2, False), "MSR SCTLR_EL1, X2"),
        ((2, 0, 0, 2, 2, 0, False), "MSR MDSCR_EL1, X0"),
        ((2, 0, 0, 3, 4, 5, False), "MSR DBGBVR3_EL1, X5"),
        ((3, 6, 1, 1, 0, 0, False), "MSR SCR_EL3, X0"),
        # Linux esr.h ESR_ELx_SYS64_ISS_EL0_CACHE_OP_VAL: user DC CIVAC trapped (SCTLR_EL1.UCI=0)
        ((1, 3, 7, 14, 1, 1, False), "DC CIVAC, X1"),
        ((1, 0, 7, 5, 0, 31, False), "IC IALLU"),
        ((3, 7, 15, 15, 7, 31, True), "MRS XZR, S3_7_C15_C15_7"),
    ],
)
def test_sysreg_assembly_forms(args, asm):
    op0, op1, crn, crm, op2, rt, read = args
    assert asm in meaning(esr.sys64(op0, op1, crn, crm, op2, rt=rt, read=read), "Direction")


# --- warnings: odd values still decode -------------------------------------------------------------


@pytest.mark.parametrize(
    "value, fragment",
    [
        (0x96000045 | 0xFF << 56, "RES0 bits [63:56]"),
        (0x96000045 | 1 << 50, "RES0 bits [55:44]"),
        (0xF2000000 | 1 << 20, "RES0 bits [24:16]"),
        (0xF0000000, "IL is 0"),  # BRK with IL 0
        (0x82000000 | 0x3F, "IFSC 0x3f is reserved"),
        (0x92000000 | 0x32, "DFSC 0x32 is reserved"),
        (0x82000021, "only defined for data accesses"),  # alignment fault as an IFSC
        (0x92000007 | 1 << 10, "FnV is 1"),  # FnV on a translation fault
        (0x92000007 | 1 << 9, "EA is 1"),
        (0x92000010 | 0b01 << 11, "SET = 0b01 is reserved"),
        (0x92000021 | 0b10 << 11, "ISS[12:11]"),  # SET/LST on an alignment fault
        (0x92000100 | 0x07, "CM is 1 but WnR is 0"),
        (0x90000007, "IL is 0 but ISV is 0"),
        (0xCA000062, "EX is 1 but ISV is 0"),
        (0xC2000000, "not 0x22"),
        (0xD2000022 | 1 << 15 | 1 << 10, "FnP is 1 but FnV is 1"),
        (0xBE000005, "SError DFSC 0x05 is reserved"),
        (0xBE000011 | 0b100 << 10, "AET = 0x4 is a reserved value"),
        (0x34000000 | 1 << 25, "BTYPE 0b00"),
        (0x6A000001, "ERETA is 1 but ERET is 0"),
        (0x2A000009, "LD64B/ST64B*"),
        (0x76000007, "SMTC = 0x7 is a reserved value"),
        (0xB6300000, "ExType = 0x3 is a reserved value"),
        (0xB6000007, "IT = 0x7 is a reserved value"),
    ],
)
def test_warnings(value, fragment):
    s = decode(value)
    assert any(fragment in w for w in s.warnings), s.warnings
    assert sum(f.value << f.lsb for f in s.fields) == value


def test_lst_names_bits_12_11_on_translation_faults():
    # ARM: a Data Abort's ISS[12:11] is LST for translation/access flag/permission faults
    # (FEAT_LS64) and SET for a synchronous external abort.
    assert decode(0x92000007 | 0b10 << 11).field("LST").meaning == "LD64B or ST64B"
    assert decode(0x92000010 | 0b10 << 11).field("SET").meaning == "UC: uncontainable"


def test_out_of_range_values_name_the_value():
    with pytest.raises(ValueError, match="0x10000000000000000"):
        decode(1 << 64)
    with pytest.raises(ValueError, match="-0x1"):
        decode(-1)
    with pytest.raises(TypeError, match="'0x96'"):
        decode("0x96")


def test_syndrome_and_field_are_frozen():
    s = decode(0x96000045)
    with pytest.raises(AttributeError):
        s.ec = 0  # type: ignore[misc]
    with pytest.raises(AttributeError):
        s.fields[0].value = 1  # type: ignore[misc]


def test_decode_is_import_light():
    import subprocess
    import sys

    code = (
        "import sys, armbp.esr; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('unicorn', 'capstone') "
        "or (m.startswith('armbp.') and not m.startswith('armbp.esr'))]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
