"""The exercises of lesson 0, start here.

The lesson is ``notebooks/00-start-here.ipynb``. Content only: each entry is a question,
a checker, a hint, a worked solution, a model answer and hints for likely wrong
answers; :mod:`armbp.exercises` is the engine that checks them.
"""

from __future__ import annotations

from . import Exercise, exercise, expect_int

EXERCISES: tuple[Exercise, ...] = (
    exercise(
        "start-third-address",
        "A guest program is loaded at 0x40000. Every A64 instruction is 4 bytes. At which address "
        "is its third instruction?",
        check=expect_int(
            0x40008,
            why="the first is at 0x40000, the second at 0x40004, the third at 0x40008.",
        ),
        hint="Count in steps of 4 from 0x40000: the first instruction is at 0x40000 itself.",
        solution="0x40000 + 2 × 4 = 0x40008 (the first instruction is at 0x40000 + 0 × 4).",
        answer="0x40008",
        wrong={
            0x4000C: "that is the fourth instruction's address: the first one is at 0x40000 "
            "itself (0x40000 + 0 × 4), so the third is 2 steps of 4 further on.",
            0x40003: "addresses count bytes, not instructions: each instruction is 4 bytes "
            "long.",
            0x40002: "addresses count bytes, not instructions: each instruction is 4 bytes "
            "long.",
            0x40012: "0x40000 + 12 in decimal is 0x4000c, not 0x40012; and the third "
            "instruction is only 2 steps of 4 from the first.",
        },
    ),
)
