"""The exercises of lesson 0, start here.

The lesson is ``notebooks/00-start-here.ipynb``. Content only: each entry is a question,
a checker, a hint, a worked solution, a model answer and hints for likely wrong
answers; :mod:`armbp.exercises` is the engine that checks them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import Exercise, Trial, exercise, expect_function, expect_int, shown


def _address_trial(n: int) -> Trial:
    def trial(address_of: Callable[[int], Any]) -> str | None:
        got, expected = address_of(n), 0x40000 + 4 * (n - 1)
        if got == expected:
            return None
        if got == expected + 4:
            return f"address_of({n}) = {got:#x}, one instruction too far: n = 1 is at 0x40000"
        return f"address_of({n}) returned {shown(got)}, expected {expected:#x}"

    return trial


_ADDRESS_CASES = [(f"n = {n}", _address_trial(n)) for n in (1, 2, 3, 100)]


_MODEL_ADDRESS_OF = """\
def address_of(n):
    return 0x40000 + 4 * (n - 1)
"""  # the model answer: what the answer key prints and the lesson test runs


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
    exercise(
        "start-code-address-of",
        "Write address_of(n): the address of the n-th instruction (n = 1 for the first) of a "
        "program loaded at 0x40000.",
        check=expect_function(_ADDRESS_CASES, why="0x40000 + 4 × (n - 1) for every n tried."),
        hint="The first instruction is at 0x40000 itself; each one after it is 4 bytes on.",
        solution=_MODEL_ADDRESS_OF
        + "\nn - 1 instructions come before the n-th, 4 bytes each.",
        answer=_MODEL_ADDRESS_OF,
    ),
)
