"""The exercises of lesson 2, inserting a breakpoint.

The lesson is ``notebooks/02-inserting-a-breakpoint.ipynb``. Content only: each entry is a question,
a checker, a hint, a worked solution, a model answer and hints for likely wrong
answers; :mod:`armbp.exercises` is the engine that checks them.
"""

from __future__ import annotations

from .. import encodings
from . import Exercise, exercise, expect_int, memory_order

_BNE_LOOP = (
    0x54FF_FFE1  # b.ne loop, one word after loop (tests/test_exercises.py assembles it)
)
_SUBS = 0xF100_0400  # subs x0, x0, #1 at loop (tests/test_exercises.py assembles it)

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
        wrong={
            _SUBS: "that is the instruction the BRK replaced (the subs at loop): remove puts it back only when "
            "use_count drops to 0, and after insert, insert, remove it is 1.",
            memory_order(encodings.BRK0): "that is the BRK's bytes in memory order (00 00 20 "
            "d4) read as a word; give the word itself.",
            1: "1 is the use_count left, not the word in memory.",
            2: "use_count went 1, 2, then back to 1 — and the question asks for the word "
            "memory holds, not the count.",
            0: "use_count is 1, not 0: two inserts, one remove.",
        },
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
        wrong={
            memory_order(_BNE_LOOP): "that is the bytes in memory order (e1 ff ff 54) read "
            "as a word; the word is read little-endian, most significant byte last in memory.",
            encodings.BRK0: "that is what memory holds and what the CPU fetches; the debugger "
            "hides its own breakpoint and shows the saved word.",
            memory_order(encodings.BRK0): "that is the BRK's bytes (00 00 20 d4) read as a "
            "word; and the debugger shows the saved word, not the BRK.",
            _SUBS: "that is the subs at loop (0x40004); the breakpoint is at 0x40008, one word "
            "further on.",
        },
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
        wrong={
            0x40008: "that rounds up: the instruction that covers 0x40006 starts before it.",
            0x40006: "that is the misaligned address itself; instructions start at multiples "
            "of 4.",
            0x40002: "0x40006 - 4 is not a multiple of 4 either: clear the low two bits "
            "instead.",
            0x40000: "the instruction at 0x40000 covers bytes 0x40000 to 0x40003 only.",
        },
    ),
)
