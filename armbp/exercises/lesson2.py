"""The exercises of lesson 2, inserting a breakpoint.

The lesson is ``notebooks/02-inserting-a-breakpoint.ipynb``. Content only: each entry is a question,
a checker, a hint, a worked solution, a model answer and hints for likely wrong
answers; :mod:`armbp.exercises` is the engine that checks them.
"""

from __future__ import annotations

from .. import encodings
from . import Exercise, exercise, expect_int

_BNE_LOOP = (
    0x54FF_FFE1  # b.ne loop, one word after loop (tests/test_exercises.py assembles it)
)

EXERCISES: tuple[Exercise, ...] = (
    exercise(
        "bp-use-count-word",
        "At the same pc you call insert, insert again, then remove once. Which 32-bit word does "
        "guest memory hold at that pc now?",
        check=expect_int(
            encodings.BRK0,
            why="the second insert only counted a second user (use_count 2); the "
            "remove took one away (use_count 1), so the BRK #0 word 0xd4200000 "
            "stays until the last user removes it.",
        ),
        hint="Look at use_count after each call: memory changes only when it goes from 0 to 1 "
        "and from 1 to 0.",
        solution="insert → use_count 1, memory = BRK (0xd4200000); insert → use_count 2, memory "
        "unchanged; remove → use_count 1, memory unchanged. Memory still holds "
        "0xd4200000.",
        answer="0xd4200000",
    ),
    exercise(
        "bp-shadow-read",
        "In the count-down program a breakpoint is planted at 0x40008, where the program has "
        "b.ne loop. You ask the debugger for the word at 0x40008. Which 32-bit word does it "
        "show you?",
        check=expect_int(
            _BNE_LOOP,
            why="reads through the debugger go through the table's shadow: a planted "
            "BRK is shown as its saved_insn, so you see the b.ne (0x54ffffe1) "
            "while memory holds 0xd4200000.",
        ),
        hint="Memory really holds the BRK, but a debugger hides its own breakpoints: it shows "
        "saved_insn, the word that was there before. Find it in the program's listing.",
        solution="table.shadow(0x40008, memory) puts saved_insn back in place of the BRK: you "
        "see 0x54ffffe1 (b.ne loop) in the listing and in memory reads, while the CPU "
        "will fetch 0xd4200000.",
        answer="0x54ffffe1",
    ),
    exercise(
        "bp-misaligned",
        "insert(0x40006) is refused: A64 instructions are 4-byte aligned. Which address holds "
        "the instruction that covers byte 0x40006?",
        check=expect_int(
            0x40004,
            why="0x40006 & ~3 = 0x40004: the instruction at 0x40004 spans bytes "
            "0x40004 to 0x40007.",
        ),
        hint="Round down to a multiple of 4: clear the low two bits (address & ~3).",
        solution="0x40006 & ~3 = 0x40004; that word covers bytes 0x40004..0x40007.",
        answer="0x40004",
    ),
)
