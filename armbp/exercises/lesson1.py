"""The exercises of lesson 1, the BRK instruction.

The lesson is ``notebooks/01-the-brk-instruction.ipynb``. Content only: each entry is a question,
a checker, a hint, a worked solution, a model answer and hints for likely wrong
answers; :mod:`armbp.exercises` is the engine that checks them.
"""

from __future__ import annotations

from .. import encodings
from . import Exercise, exercise, expect_int

EXERCISES: tuple[Exercise, ...] = (
    exercise(
        "brk-encoding-0x99",
        "Which 32-bit instruction word encodes BRK #0x99?",
        check=expect_int(
            encodings.brk(0x99),
            why="BRK #imm16 is 0xd4200000 | imm16 << 5, and 0x99 << 5 = 0x1320, "
            "so BRK #0x99 = 0xd4201320.",
        ),
        hint="BRK #imm16 is 0xd4200000 with imm16 in bits 20:5: shift 0x99 left by 5 and OR "
        "it in.",
        solution="BRK #0x99 = 0xd4200000 | (0x99 << 5) = 0xd4200000 | 0x1320 = 0xd4201320.",
        answer="0xd4201320",
    ),
    exercise(
        "brk-imm16-lldb",
        "LLDB plants 0xd43e0000 as its AArch64 breakpoint. What is its imm16?",
        check=expect_int(
            encodings.imm16_of(0xD43E_0000),
            why="(0xd43e0000 >> 5) & 0xffff = 0xf000: LLDB uses BRK #0xf000, "
            "GDB and QEMU BRK #0.",
        ),
        hint="imm16 sits in bits 20:5: shift the word right by 5 and keep the low 16 bits.",
        solution="(0xd43e0000 >> 5) & 0xffff = 0x6a1f000 & 0xffff = 0xf000, "
        "so LLDB's breakpoint is BRK #0xf000.",
        answer="0xf000",
    ),
    exercise(
        "brk-first-byte",
        "A64 instructions are stored little-endian. GDB writes BRK #0 (0xd4200000) over an "
        "instruction: which byte value ends up at the lowest address?",
        check=expect_int(
            encodings.to_bytes(encodings.BRK0)[0],
            why="little-endian stores the least significant byte first: "
            "00 00 20 d4, so the lowest address holds 0x00.",
        ),
        hint="Little-endian means the least significant byte (the last two hex digits) comes "
        "first in memory.",
        solution="0xd4200000 is stored as the bytes 00 00 20 d4; the lowest address holds 0x00 "
        "(and the highest 0xd4).",
        answer="0x00",
    ),
)
