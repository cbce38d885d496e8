"""The exercises of lesson 1, the BRK instruction.

The lesson is ``notebooks/01-the-brk-instruction.ipynb``. Content only: each entry is a question,
a checker, a hint, a worked solution, a model answer and hints for likely wrong
answers; :mod:`armbp.exercises` is the engine that checks them.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from .. import encodings
from . import Exercise, Trial, exercise, expect_function, expect_int, memory_order, shown

_IMMEDIATES = [0, 0x99, 0xF000, 0xFFFF, *random.Random(1).sample(range(0x10000), 4)]


def _brk_trial(imm16: int) -> Trial:
    def trial(brk: Callable[[int], Any]) -> str | None:
        got, expected = brk(imm16), encodings.brk(imm16)
        if got == expected:
            return None
        if got == memory_order(expected):
            return f"brk({imm16:#x}) = {got:#010x}: that is the bytes in memory order"
        if isinstance(got, int) and got == 0xD4200000 | imm16:
            return f"brk({imm16:#x}) = {got:#010x}: the immediate is not shifted by 5"
        return f"brk({imm16:#x}) returned {shown(got)}, expected {expected:#010x}"

    return trial


_MODEL_BRK = """\
def brk(imm16):
    return 0xD4200000 | (imm16 & 0xFFFF) << 5
"""  # the model answer: what the answer key prints and the lesson test runs


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
        wrong={
            memory_order(encodings.brk(0x99)): "that is the bytes in memory order "
            "(20 13 20 d4) read as one number; the word is the other way round, most "
            "significant byte first.",
            0xD4200099: "the immediate is not shifted: imm16 sits in bits 20:5, not 15:0.",
            encodings.BRK0: "that is BRK #0: the immediate 0x99 is missing.",
            0x99 << 5: "that is only the shifted immediate: OR it into BRK's fixed bits "
            "0xd4200000.",
            0xD4001320: "0xd4000000 is the base of every exception-generating instruction; "
            "BRK's opc (bits 23:21) is 001, so its fixed bits are 0xd4200000.",
        },
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
        wrong={
            0xD43E0000 >> 5: "that is shifted but not masked: keep only the low 16 bits "
            "(& 0xffff).",
            0xD43E0000 >> 5 & 0x1FFFF: "that keeps 17 bits: imm16 is 16 bits, mask with "
            "0xffff.",
            0xD43E0000 & 0x1FFFE0: "that is imm16 still in place in bits 20:5: shift right "
            "by 5 to read it.",
            0x3E: "that is the second byte of the word (bits 23:16), not bits 20:5.",
            0xD43E: "that is the top half of the word; imm16 is bits 20:5, so it straddles "
            "both halves.",
        },
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
        wrong={
            0xD4: "that is the most significant byte: little-endian puts it at the highest "
            "address.",
            0x20: "that is the second most significant byte (bits 23:16).",
            encodings.BRK0: "the question asks for one byte, the one at the lowest address.",
        },
    ),
    exercise(
        "brk-code-encode",
        "Write brk(imm16): the 32-bit instruction word of BRK #imm16, with shifts and ORs "
        "(without armbp.encodings).",
        check=expect_function(
            [(f"BRK #{imm:#x}", _brk_trial(imm)) for imm in _IMMEDIATES],
            why="0xd4200000 | imm16 << 5 agrees with armbp.encodings.brk for every "
            "immediate tried.",
        ),
        hint="The fixed bits of BRK are 0xd4200000; imm16 goes into bits 20:5.",
        solution=_MODEL_BRK
        + "\nBRK's fixed bits with the 16-bit immediate shifted into bits 20:5.",
        answer=_MODEL_BRK,
    ),
)
