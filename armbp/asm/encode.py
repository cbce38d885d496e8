"""Field packing for the A64 instruction classes the assembler emits.

Every function takes fields that the caller has already range-checked and returns a 32-bit
word. Section references are to the Arm ARM, DDI 0487: "A64 instruction set encoding"
gives the class layouts, and each instruction's own page the fields.
"""

from __future__ import annotations

from ..encodings import NOP, Op
from ..encodings import encode as _exc_encode


def add_sub_imm(sf: int, op: int, s: int, sh: int, imm12: int, rn: int, rd: int) -> int:
    # "Add/subtract (immediate)": sf op S 100010 sh imm12 Rn Rd (ADD/SUB (immediate))
    return (
        sf << 31 | op << 30 | s << 29 | 0b100010 << 23 | sh << 22 | imm12 << 10 | rn << 5 | rd
    )


def add_sub_shifted(
    sf: int, op: int, s: int, shift: int, rm: int, imm6: int, rn: int, rd: int
) -> int:
    # "Add/subtract (shifted register)": sf op S 01011 shift 0 Rm imm6 Rn Rd
    return (
        sf << 31
        | op << 30
        | s << 29
        | 0b01011 << 24
        | shift << 22
        | rm << 16
        | imm6 << 10
        | rn << 5
        | rd
    )


def add_sub_extended(
    sf: int, op: int, s: int, rm: int, option: int, imm3: int, rn: int, rd: int
) -> int:
    # "Add/subtract (extended register)": sf op S 01011 00 1 Rm option imm3 Rn Rd
    return (
        sf << 31
        | op << 30
        | s << 29
        | 0b01011001 << 21
        | rm << 16
        | option << 13
        | imm3 << 10
        | rn << 5
        | rd
    )


def logical_imm(sf: int, opc: int, n: int, immr: int, imms: int, rn: int, rd: int) -> int:
    # "Logical (immediate)": sf opc 100100 N immr imms Rn Rd
    return (
        sf << 31
        | opc << 29
        | 0b100100 << 23
        | n << 22
        | immr << 16
        | imms << 10
        | rn << 5
        | rd
    )


def logical_shifted(
    sf: int, opc: int, shift: int, n: int, rm: int, imm6: int, rn: int, rd: int
) -> int:
    # "Logical (shifted register)": sf opc 01010 shift N Rm imm6 Rn Rd
    return (
        sf << 31
        | opc << 29
        | 0b01010 << 24
        | shift << 22
        | n << 21
        | rm << 16
        | imm6 << 10
        | rn << 5
        | rd
    )


def move_wide(sf: int, opc: int, hw: int, imm16: int, rd: int) -> int:
    # "Move wide (immediate)": sf opc 100101 hw imm16 Rd; opc 00 MOVN, 10 MOVZ, 11 MOVK
    return sf << 31 | opc << 29 | 0b100101 << 23 | hw << 21 | imm16 << 5 | rd


def bitfield(sf: int, opc: int, n: int, immr: int, imms: int, rn: int, rd: int) -> int:
    # "Bitfield": sf opc 100110 N immr imms Rn Rd; opc 00 SBFM, 01 BFM, 10 UBFM
    return (
        sf << 31
        | opc << 29
        | 0b100110 << 23
        | n << 22
        | immr << 16
        | imms << 10
        | rn << 5
        | rd
    )


def extract(sf: int, rm: int, imms: int, rn: int, rd: int) -> int:
    # "Extract": sf 00 100111 N 0 Rm imms Rn Rd (EXTR; ROR (immediate) is its alias)
    return sf << 31 | 0b100111 << 23 | sf << 22 | rm << 16 | imms << 10 | rn << 5 | rd


def pc_rel(op: int, imm21: int, rd: int) -> int:
    # "PC-rel. addressing": op immlo 10000 immhi Rd (ADR, ADRP)
    imm21 &= 0x1FFFFF
    return op << 31 | (imm21 & 3) << 29 | 0b10000 << 24 | (imm21 >> 2) << 5 | rd


def dp_2src(sf: int, opcode: int, rm: int, rn: int, rd: int) -> int:
    # "Data-processing (2 source)": sf 0 0 11010110 Rm opcode Rn Rd
    # opcode 000010 UDIV, 000011 SDIV, 0010xx LSLV/LSRV/ASRV/RORV
    return sf << 31 | 0b11010110 << 21 | rm << 16 | opcode << 10 | rn << 5 | rd


def dp_3src(sf: int, op31: int, rm: int, o0: int, ra: int, rn: int, rd: int) -> int:
    # "Data-processing (3 source)": sf 00 11011 op31 Rm o0 Ra Rn Rd
    # op31 000 MADD/MSUB, 001 SMADDL, 101 UMADDL, 010 SMULH, 110 UMULH
    return (
        sf << 31 | 0b11011 << 24 | op31 << 21 | rm << 16 | o0 << 15 | ra << 10 | rn << 5 | rd
    )


def cond_select(sf: int, op: int, rm: int, cond: int, op2: int, rn: int, rd: int) -> int:
    # "Conditional select": sf op 0 11010100 Rm cond op2 Rn Rd (CSEL/CSINC/CSINV/CSNEG)
    return (
        sf << 31
        | op << 30
        | 0b11010100 << 21
        | rm << 16
        | cond << 12
        | op2 << 10
        | rn << 5
        | rd
    )


def cond_compare(
    sf: int, op: int, imm: int, rm_or_imm5: int, cond: int, rn: int, nzcv: int
) -> int:
    # "Conditional compare (register/immediate)": sf op 1 11010010 Rm|imm5 cond i 0 Rn 0 nzcv
    return (
        sf << 31
        | op << 30
        | 1 << 29
        | 0b11010010 << 21
        | rm_or_imm5 << 16
        | cond << 12
        | imm << 11
        | rn << 5
        | nzcv
    )


def branch_imm(link: int, imm26: int) -> int:
    # "Unconditional branch (immediate)": op 00101 imm26 (B, BL)
    return link << 31 | 0b00101 << 26 | (imm26 & 0x3FFFFFF)


def branch_cond(imm19: int, cond: int) -> int:
    # "Conditional branch (immediate)": 0101010 0 imm19 0 cond (B.cond)
    return 0x54000000 | (imm19 & 0x7FFFF) << 5 | cond


def compare_branch(sf: int, op: int, imm19: int, rt: int) -> int:
    # "Compare and branch (immediate)": sf 011010 op imm19 Rt (CBZ, CBNZ)
    return sf << 31 | 0b011010 << 25 | op << 24 | (imm19 & 0x7FFFF) << 5 | rt


def test_branch(bit: int, op: int, imm14: int, rt: int) -> int:
    # "Test and branch (immediate)": b5 011011 op b40 imm14 Rt (TBZ, TBNZ)
    return (
        (bit >> 5) << 31
        | 0b011011 << 25
        | op << 24
        | (bit & 31) << 19
        | (imm14 & 0x3FFF) << 5
        | rt
    )


def branch_reg(opc: int, rn: int) -> int:
    # "Unconditional branch (register)": 1101011 opc 11111 000000 Rn 00000
    # opc 0000 BR, 0001 BLR, 0010 RET, 0100 ERET (Rn = 11111)
    return 0xD61F0000 | opc << 21 | rn << 5


def exception(op: Op, imm16: int) -> int:
    # "Exception generation" (shared with armbp.encodings)
    return _exc_encode(op, imm16)


def hint(imm7: int) -> int:
    # "Hints": 1101010100 0 00 011 0010 CRm op2 11111; NOP is HINT #0, YIELD=1, WFE=2, WFI=3
    return NOP | imm7 << 5


def barrier(op2: int, crm: int) -> int:
    # "Barriers": 1101010100 0 00 011 0011 CRm op2 11111; op2 100 DSB, 101 DMB, 110 ISB
    return 0xD503301F | crm << 8 | op2 << 5


def pstate(op1: int, crm: int, op2: int) -> int:
    # "PSTATE": 1101010100 0 00 op1 0100 CRm op2 11111 (MSR (immediate))
    return 0xD500401F | op1 << 16 | crm << 8 | op2 << 5


def system(l: int, op0: int, op1: int, crn: int, crm: int, op2: int, rt: int) -> int:
    # "System register move" / "System instructions":
    # 1101010100 L op0 op1 CRn CRm op2 Rt (MRS L=1, MSR (register) L=0, SYS op0=01)
    return 0xD5000000 | l << 21 | op0 << 19 | op1 << 16 | crn << 12 | crm << 8 | op2 << 5 | rt


def ldst_unsigned(size: int, opc: int, imm12: int, rn: int, rt: int) -> int:
    # "Load/store register (unsigned immediate)": size 111 0 01 opc imm12 Rn Rt
    return size << 30 | 0b111001 << 24 | opc << 22 | imm12 << 10 | rn << 5 | rt


def ldst_imm9(size: int, opc: int, imm9: int, mode: int, rn: int, rt: int) -> int:
    # "Load/store register (unscaled immediate)" mode 00 (LDUR/STUR),
    # "(immediate post-indexed)" mode 01, "(immediate pre-indexed)" mode 11:
    # size 111 0 00 opc 0 imm9 mode Rn Rt
    return (
        size << 30
        | 0b111000 << 24
        | opc << 22
        | (imm9 & 0x1FF) << 12
        | mode << 10
        | rn << 5
        | rt
    )


def ldst_regoff(size: int, opc: int, rm: int, option: int, s: int, rn: int, rt: int) -> int:
    # "Load/store register (register offset)": size 111 0 00 opc 1 Rm option S 10 Rn Rt
    return (
        size << 30
        | 0b111000 << 24
        | opc << 22
        | 1 << 21
        | rm << 16
        | option << 13
        | s << 12
        | 0b10 << 10
        | rn << 5
        | rt
    )


def ld_literal(opc: int, imm19: int, rt: int) -> int:
    # "Load register (literal)": opc 011 0 00 imm19 Rt; opc 00 LDR W, 01 LDR X, 10 LDRSW
    return opc << 30 | 0b011000 << 24 | (imm19 & 0x7FFFF) << 5 | rt


def ldst_pair(opc: int, mode: int, l: int, imm7: int, rt2: int, rn: int, rt: int) -> int:
    # "Load/store register pair": opc 101 0 mode L imm7 Rt2 Rn Rt
    # mode 001 post-indexed, 010 signed offset, 011 pre-indexed
    return (
        opc << 30
        | 0b101 << 27
        | mode << 23
        | l << 22
        | (imm7 & 0x7F) << 15
        | rt2 << 10
        | rn << 5
        | rt
    )


def ldst_exclusive(
    size: int, o2: int, l: int, o1: int, rs: int, o0: int, rt2: int, rn: int, rt: int
) -> int:
    # "Load/store exclusive": size 001000 o2 L o1 Rs o0 Rt2 Rn Rt (LDXR, STXR, LDAR, STLR...)
    return (
        size << 30
        | 0b001000 << 24
        | o2 << 23
        | l << 22
        | o1 << 21
        | rs << 16
        | o0 << 15
        | rt2 << 10
        | rn << 5
        | rt
    )


# --------------------------------------------------------------------------- bitmasks


def encode_bitmask(value: int, width: int) -> tuple[int, int, int] | None:
    """(N, immr, imms) for a logical immediate, or None if ``value`` has no encoding.

    The inverse of DecodeBitMasks (the Arm ARM's shared pseudocode, used by AND
    (immediate)): an element of 2, 4, ..., 64 bits, replicated to ``width``, each element a
    run of 1 to size-1 ones rotated right by ``immr``. All-zeros and all-ones have none.
    """
    mask = (1 << width) - 1
    value &= mask
    if value in (0, mask):
        return None
    size = width
    while size > 2:
        half = size // 2
        low = (1 << half) - 1
        if value & low != (value >> half) & low:
            break
        size = half
    emask = (1 << size) - 1
    elem = value & emask
    ones = (elem).bit_count()
    run = (1 << ones) - 1
    for r in range(size):
        if ((elem >> r) | (elem << (size - r))) & emask == run:
            immr = (size - r) % size
            imms = ((-size << 1) | (ones - 1)) & 0x3F
            return (1 if size == 64 else 0), immr, imms
    return None


def decode_bitmask(n: int, immr: int, imms: int, width: int) -> int | None:
    """DecodeBitMasks for logical immediates (``wmask`` only); None when reserved."""
    combined = (n << 6) | (~imms & 0x3F)
    if combined == 0:
        return None
    length = combined.bit_length() - 1
    if length < 1:
        return None
    size = 1 << length
    if size > width:
        return None
    levels = size - 1
    s, r = imms & levels, immr & levels
    if s == levels:
        return None
    emask = (1 << size) - 1
    run = (1 << (s + 1)) - 1
    elem = ((run >> r) | (run << (size - r))) & emask
    out = 0
    for i in range(0, width, size):
        out |= elem << i
    return out
