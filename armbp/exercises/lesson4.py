"""The exercises of lesson 4, reading the syndrome.

The lesson is ``notebooks/04-reading-the-syndrome.ipynb``. Content only: each entry is a question,
a checker, a hint, a worked solution, a model answer and hints for likely wrong
answers; :mod:`armbp.exercises` is the engine that checks them.
"""

from __future__ import annotations

from .. import esr
from . import Exercise, exercise, expect_int

_DABT = esr.data_abort(same_el=True, wnr=True, dfsc=0x05)  # 0x96000045

EXERCISES: tuple[Exercise, ...] = (
    exercise(
        "esr-ec-0x96000045",
        "A kernel oops prints ESR = 0x96000045. What is its exception class (EC)?",
        check=expect_int(
            _DABT >> 26 & 0x3F,
            why="EC is bits 31:26: 0x96000045 >> 26 = 0x25, a Data Abort taken "
            "without a change in Exception level.",
        ),
        hint="EC is bits 31:26: shift right by 26 and keep 6 bits.",
        solution="(0x96000045 >> 26) & 0x3f = 0x25: Data Abort from the current EL.",
        answer="0x25",
    ),
    exercise(
        "esr-wnr-0x96000045",
        "In ESR = 0x96000045 (a data abort), what is WnR (bit 6)? Was it a write?",
        check=expect_int(
            _DABT >> 6 & 1,
            why="0x45 = 0b1000101: bit 6 is 1, so the faulting access was a write.",
        ),
        hint="WnR is bit 6 of the ISS: look at the low byte 0x45 in binary.",
        solution="0x45 = 0b0100_0101; bit 6 is 1, so WnR = 1: the access was a write.",
        answer="1",
    ),
    exercise(
        "esr-dfsc-0x96000045",
        "What is the data fault status code (DFSC, bits 5:0) of ESR = 0x96000045?",
        check=expect_int(
            _DABT & 0x3F,
            why="0x45 & 0x3f = 0x05: a translation fault at level 1 (no valid "
            "mapping for the address).",
        ),
        hint="DFSC is the low 6 bits: mask with 0x3f.",
        solution="0x96000045 & 0x3f = 0x05: translation fault, level 1.",
        answer="0x05",
    ),
    exercise(
        "esr-of-brk-0x99",
        "The guest executes BRK #0x99 (0xd4201320). What syndrome does ESR_EL1 get?",
        check=expect_int(
            esr.brk(0x99),
            why="EC 0x3C (BRK in AArch64) << 26, IL = 1 (bit 25), ISS = the "
            "comment 0x99: 0xf0000000 | 0x02000000 | 0x99 = 0xf2000099.",
        ),
        hint="EC 0x3C goes in bits 31:26, IL (bit 25) is 1 for a 32-bit instruction, and the "
        "BRK immediate is copied into the ISS.",
        solution="(0x3c << 26) | (1 << 25) | 0x99 = 0xf0000000 | 0x02000000 | 0x99 = 0xf2000099.",
        answer="0xf2000099",
    ),
    exercise(
        "esr-il-0xf2000000",
        "What is IL (bit 25) in ESR = 0xf2000000, and what does it say?",
        check=expect_int(
            esr.brk() >> 25 & 1,
            why="0xf2000000 has bit 25 set: IL = 1, the trapping instruction was a "
            "32-bit one (every A64 instruction is).",
        ),
        hint="Bit 25 is in the second hex digit from the left (bits 27:24): write that digit "
        "in binary.",
        solution="0xf2000000 >> 25 & 1 = 1: IL = 1, a 32-bit instruction trapped.",
        answer="1",
    ),
)
