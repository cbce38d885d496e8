"""A64 encodings of the exception-generating instructions a debugger cares about.

Pure functions over 32-bit instruction words: build them, recognise them, and pull out the
16-bit immediate ("comment"). Arm ARM (DDI 0487), the instruction pages BRK, SVC, HVC, SMC, HLT, UDF, NOP and
the encoding class "Exception generation" for the shared layout: ``11010100 opc:3 imm16 op2:3 LL:2``.
"""

from __future__ import annotations

from enum import Enum

WORD_MASK = 0xFFFF_FFFF
IMM16_MAX = 0xFFFF

# Exception generation class ("Exception generation"): bits 31:24 = 0xd4, imm16 in 20:5.
_EXC_MASK = 0xFFE0_001F  # everything but imm16


class Op(Enum):
    """The exception-generating and hint instructions armbp recognises, with their fixed bits."""

    SVC = 0xD400_0001  # opc=000 LL=01
    HVC = 0xD400_0002  # opc=000 LL=10
    SMC = 0xD400_0003  # opc=000 LL=11
    BRK = 0xD420_0000  # opc=001 LL=00
    HLT = 0xD440_0000  # opc=010 LL=00


BRK0 = Op.BRK.value  # 0xd4200000: what QEMU and GDB write
NOP = 0xD503_201F  # NOP (HINT #0), "Hints"
WFI = 0xD503_207F  # WFI (HINT #3), "Hints": wait for an interrupt
ERET = 0xD69F_03E0  # ERET, "Unconditional branch (register)": return from an exception
B = 0x1400_0000  # B <label> with imm26 = 0, "Unconditional branch (immediate)"
UDF0 = 0x0000_0000  # Arm ARM "UDF" UDF #imm16 is 0x0000 imm16: permanently undefined


def _check_imm16(imm16: int, what: str) -> int:
    if not isinstance(imm16, int) or isinstance(imm16, bool) or not 0 <= imm16 <= IMM16_MAX:
        raise ValueError(f"{what} immediate {imm16!r} is out of range: expected 0..0xffff")
    return imm16


def encode(op: Op, imm16: int = 0) -> int:
    """The instruction word ``op #imm16``: ``op.value | imm16 << 5`` ("Exception generation")."""
    return op.value | _check_imm16(imm16, op.name) << 5


def brk(imm16: int = 0) -> int:
    """``BRK #imm16`` = ``0xd4200000 | imm16 << 5`` (Arm ARM "BRK")."""
    return encode(Op.BRK, imm16)


def svc(imm16: int = 0) -> int:
    """``SVC #imm16`` = ``0xd4000001 | imm16 << 5`` (Arm ARM "SVC")."""
    return encode(Op.SVC, imm16)


def hvc(imm16: int = 0) -> int:
    """``HVC #imm16`` = ``0xd4000002 | imm16 << 5`` (Arm ARM "HVC")."""
    return encode(Op.HVC, imm16)


def smc(imm16: int = 0) -> int:
    """``SMC #imm16`` = ``0xd4000003 | imm16 << 5`` (Arm ARM "SMC")."""
    return encode(Op.SMC, imm16)


def hlt(imm16: int = 0) -> int:
    """``HLT #imm16`` = ``0xd4400000 | imm16 << 5`` (Arm ARM "HLT"): halting debug, not a trap."""
    return encode(Op.HLT, imm16)


def udf(imm16: int = 0) -> int:
    """``UDF #imm16`` = ``imm16`` (Arm ARM "UDF"): always undefined, EC 0x00 when executed."""
    return UDF0 | _check_imm16(imm16, "UDF")


def classify(word: int) -> Op | None:
    """Which exception-generating instruction ``word`` is, or None for anything else."""
    fixed = word & _EXC_MASK
    for op in Op:
        if fixed == op.value:
            return op
    return None


def imm16_of(word: int) -> int:
    """The 16-bit immediate of an exception-generating word (bits 20:5)."""
    return (word >> 5) & IMM16_MAX


def is_brk(word: int, imm16: int | None = None) -> bool:
    """True if ``word`` is a BRK (with that immediate, when given)."""
    return classify(word) is Op.BRK and (imm16 is None or imm16_of(word) == imm16)


def to_bytes(word: int) -> bytes:
    """A64 instructions are stored little-endian in memory (Arm ARM "Instruction endianness")."""
    return (word & WORD_MASK).to_bytes(4, "little")


def from_bytes(data: bytes | bytearray) -> int:
    """The instruction word stored at the first 4 bytes of ``data``."""
    if len(data) < 4:
        raise ValueError(f"need 4 bytes for an instruction word, got {len(data)}: {data!r}")
    return int.from_bytes(data[:4], "little")
