"""The exercises of lesson 4, reading the syndrome.

The lesson is ``notebooks/04-reading-the-syndrome.ipynb``. Content only: each entry is a question,
a checker, a hint, a worked solution, a model answer and hints for likely wrong
answers; :mod:`armbp.exercises` is the engine that checks them.
"""

from __future__ import annotations

import random
from typing import Any

from .. import encodings, esr
from . import Exercise, Trial, exercise, expect_function, expect_int, shown

_DABT = esr.data_abort(same_el=True, wnr=True, dfsc=0x05)  # 0x96000045

_VALUES = [_DABT, esr.brk(0x99), esr.svc(0), *random.Random(4).sample(range(1 << 37), 5)]
_FIELDS = (("EC", 26, 6), ("IL", 25, 1), ("ISS", 0, 25))


def _decode_trial(value: int) -> Trial:
    def trial(decode: Any) -> str | None:
        model = esr.decode(value)
        got = decode(value)
        if not isinstance(got, tuple) or len(got) != 3:
            return (
                f"decode({value:#010x}) returned {shown(got)}, expected a tuple (ec, il, iss)"
            )
        for (name, low, width), mine, want in zip(
            _FIELDS, got, (model.ec, model.il, model.iss), strict=True
        ):
            if mine != want:
                return (
                    f"{name} is {shown(mine)}, expected {want:#x} (bits "
                    f"{low + width - 1}:{low}: shift by {low}, mask with {(1 << width) - 1:#x})"
                )
        return None

    return trial


_MODEL_DECODE = """\
def decode(value):
    ec = value >> 26 & 0x3F
    il = value >> 25 & 1
    iss = value & 0x1FFFFFF
    return ec, il, iss
"""  # the model answer: what the answer key prints and the lesson test runs


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
        wrong={
            _DABT: "that is the whole ESR; EC is only its top 6 bits (31:26).",
            _DABT
            >> 24: "that is the top byte (bits 31:24); EC is 6 bits, 31:26: shift by 26.",
            _DABT >> 25: "shifting by 25 keeps IL (bit 25) too: shift by 26.",
            _DABT >> 26 & 0x3F | 0x100: "EC is 6 bits: mask with 0x3f.",
            0x24: "0x24 is a Data Abort from a lower Exception level; compute the bits "
            "31:26 of this value.",
        },
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
        wrong={
            0: "count the bits from 0 at the right: 0x45 = 0b100_0101, and bit 6 is the "
            "leftmost 1.",
            0x45: "that is the whole low byte; WnR is one bit of it, bit 6.",
            1 << 6: "that is the bit's weight (1 << 6 = 0x40), not the bit: shift right by 6 "
            "and keep 1 bit.",
        },
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
        wrong={
            0x45: "that is the low byte (here the whole ISS): DFSC is only bits 5:0, mask "
            "with 0x3f.",
            0x04: "0x04 is the DFSC of 0x96000004, the NULL dereference above; this is "
            "0x96000045.",
            _DABT: "that is the whole ESR; DFSC is its low 6 bits.",
        },
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
        wrong={
            encodings.brk(0x99): "that is the instruction word, not the syndrome: the ESR "
            "says which class of exception it was (EC) and copies the comment into the ISS.",
            esr.brk(0) | 0x99 << 5: "the immediate sits at bits 20:5 in the instruction word "
            "only; the ISS holds it in bits 15:0.",
            esr.brk(0x99) & ~(1 << 25): "IL (bit 25) is missing: it is 1 for a 32-bit "
            "instruction.",
            0x99: "that is the ISS alone; EC (bits 31:26) and IL (bit 25) fill the top.",
            0x3C: "that is the EC alone; the question asks for the whole ESR value.",
            esr.brk(0): "that is BRK #0's syndrome: the comment 0x99 goes into the ISS.",
        },
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
        wrong={
            0: "bit 25 is set: 0xf2 = 0b1111_0010 holds bits 31:24, and bit 25 is the "
            "second from the right.",
            0x2: "0x2 is the hex digit of bits 27:24; IL is one bit of it, bit 25.",
            0xF2: "that is the top byte; IL is a single bit, bit 25.",
        },
    ),
    exercise(
        "esr-code-decode",
        "Write decode(value): the (EC, IL, ISS) of an ESR_ELx value, with shifts and masks "
        "(without armbp.esr). ESR_ELx is 64 bits: bits 36:32 (ISS2) may be set too.",
        check=expect_function(
            [(f"ESR {v:#x}", _decode_trial(v)) for v in _VALUES],
            why="your (EC, IL, ISS) agree with armbp.esr.decode on every value tried, "
            "random ones included.",
        ),
        hint="EC is bits 31:26 (6 bits), IL bit 25 (1 bit), ISS bits 24:0 (25 bits): shift "
        "right to the field's lowest bit, then mask with as many 1s as it has bits.",
        solution=_MODEL_DECODE
        + "\nEach field: shift right by its lowest bit number, mask with 2**width - 1.",
        answer=_MODEL_DECODE,
    ),
)
