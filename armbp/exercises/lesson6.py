"""The exercises of lesson 6, a real debugger on the other end.

The lesson is ``notebooks/06-a-real-debugger.ipynb``. Content only: each entry is a question,
a checker, a hint, a worked solution, a model answer and hints for likely wrong
answers; :mod:`armbp.exercises` is the engine that checks them.
"""

from __future__ import annotations

import random
import re
import string
from typing import Any

from .. import encodings
from . import (
    Checker,
    Exercise,
    Trial,
    Verdict,
    as_packet,
    exercise,
    expect_function,
    expect_int,
    shown,
)

_HEX_TEXT = re.compile(r"[0-9a-f]+")


def _expect_m_reply(expected: str, why: str) -> Checker:
    """The hex text of an ``m`` reply (bytes in memory order), given as a string."""

    def checker(answer: Any) -> Verdict:
        if isinstance(answer, int) and not isinstance(answer, bool):
            return False, (
                "an m reply is text, not a number: the bytes in memory order, two "
                "hex digits each, e.g. '1f2003d5'."
            )
        text = as_packet(answer)
        if text is None:
            return False, f"expected the reply as a string such as '1f2003d5', got {answer!r}."
        text = text.lower()
        if text == expected:
            return True, why
        if text.startswith("0x") or not _HEX_TEXT.fullmatch(text):
            return False, "the reply is bare hex digits, without 0x."
        if text == encodings.to_bytes(encodings.BRK0).hex():
            return False, "that is the BRK itself: the stub hides its own breakpoints."
        if len(text) == 8 and bytes.fromhex(text)[::-1].hex() == expected:
            return False, "those are the bytes in the word's order, not memory order."
        return False, ""

    return checker


def _expect_packet(expected: str, why: str) -> Checker:
    """A packet's payload, with or without its ``$…#cc`` frame."""

    def checker(answer: Any) -> Verdict:
        text = as_packet(answer)
        if text is None:
            return False, f"expected the packet as a string such as 'm1000,8', got {answer!r}."
        if text == expected:
            return True, why
        if "0x" in text.lower():
            return False, "RSP numbers are bare hex: no 0x."
        return False, ""

    return checker


_PAYLOADS = [
    "m400120,4",
    "g",
    "",
    "Z0,40010c,4",
    "?",
    *(
        "".join(
            random.Random(6 + n).choices(string.ascii_letters + string.digits + ",:;", k=12)
        )
        for n in range(3)
    ),
]


def _frame_trial(payload: str) -> Trial:
    def trial(frame: Any) -> str | None:
        from ..gdb import framing

        want = framing.frame(payload).decode()
        got = frame(payload)
        if isinstance(got, bytes):
            got = got.decode("latin-1")
        if got == want:
            return None
        if not isinstance(got, str):
            return f"frame({payload!r}) returned {shown(got)}, expected the text {want!r}"
        total = framing.checksum(payload.encode())
        if got == f"${payload}#{total:x}":
            return f"frame({payload!r}) = {got!r}: the checksum always has two digits"
        if got == f"${payload}#{total}":
            return f"frame({payload!r}) = {got!r}: the checksum is written in decimal, not hex"
        if got.lower() == want:
            return (
                f"frame({payload!r}) = {got!r}: write the checksum in lower case, as GDB does"
            )
        return f"frame({payload!r}) returned {got!r}, expected {want!r}"

    return trial


_MODEL_FRAME = """\
def frame(payload):
    checksum = sum(payload.encode()) % 256
    return f"${payload}#{checksum:02x}"
"""  # the model answer: what the answer key prints and the lesson test runs


EXERCISES: tuple[Exercise, ...] = (
    exercise(
        "rsp-z0-memory",
        "GDB sends Z0,40010c,4 and the stub answers OK. Which 32-bit word does guest memory hold "
        "at 0x40010c now?",
        check=expect_int(
            encodings.BRK0,
            why="Z0 is 'insert a software breakpoint': the stub saves the word at "
            "0x40010c and writes BRK #0, 0xd4200000 (bytes 00 00 20 d4).",
        ),
        hint="Z0,ADDR,KIND asks the stub to plant a software breakpoint at ADDR: the same insert "
        "as in lesson 2.",
        solution="Z0,40010c,4 = insert a 4-byte software breakpoint at 0x40010c. The stub's table "
        "saves the instruction there and writes BRK #0: memory holds 0xd4200000.",
        answer="0xd4200000",
    ),
    exercise(
        "rsp-m-original",
        "In this lesson's guest, count: subs x0, x0, #1 (0xf1000400) is at 0x4000c. A breakpoint "
        "is planted there. What does the stub answer to m4000c,4? (Give the reply as a string.)",
        check=_expect_m_reply(
            "000400f1",
            why="the stub hides its BRK: m returns the saved word 0xf1000400, "
            "as bytes in memory order (little-endian): 000400f1.",
        ),
        hint="Two things: the stub shows the instruction the BRK replaced, not the BRK; and an m "
        "reply lists the bytes in memory order, lowest address first.",
        solution="The reply is the saved instruction 0xf1000400 (not the BRK), byte by byte from "
        "the lowest address: 00 04 00 f1 → '000400f1'.",
        answer="'000400f1'",
    ),
    exercise(
        "rsp-read-packet",
        "Which packet does GDB send to read the 4 bytes of the instruction at hot+20 (0x400120)?",
        check=_expect_packet(
            "m400120,4", why="m ADDR,LENGTH with both numbers in bare hex: m400120,4."
        ),
        hint="The memory-read packet is m followed by the address and the length, in hex without "
        "0x, separated by a comma (like m40010c,4 in the session).",
        solution="m400120,4. On the wire it is framed as $m400120,4#f4: f4 is the checksum, the "
        "sum of the payload's bytes modulo 256.",
        answer="'m400120,4'",
    ),
    exercise(
        "rsp-code-frame",
        "Write frame(payload): the packet as it goes on the wire, $payload#cc, where cc is the "
        "sum of the payload's bytes modulo 256 as two hex digits.",
        check=expect_function(
            [(repr(p), _frame_trial(p)) for p in _PAYLOADS],
            why="your packets are byte for byte the ones armbp.gdb.framing.frame sends.",
        ),
        hint="sum(payload.encode()) % 256, written with two lower-case hex digits ({:02x}): "
        "'$' + payload + '#' + those two digits.",
        solution=_MODEL_FRAME
        + "\nTwo digits always: a checksum below 0x10 keeps its leading 0 ('g' → $g#67, "
        "'' → $#00).",
        answer=_MODEL_FRAME,
    ),
    exercise(
        "c-null-ec",
        "The C program's NULL dereference left ESR_EL1 = 0x92000004. Which exception class "
        "(EC) does it carry?",
        check=expect_int(
            0x24,
            why="EC is bits 31:26: 0x92000004 >> 26 = 0x24, a data abort from a lower "
            "Exception level: the program runs at EL0 and its kernel at EL1.",
        ),
        hint="EC is the top 6 bits (31:26) of the ESR: shift right by 26.",
        solution="0x92000004 >> 26 = 0x24: a data abort from a lower EL (EL0, the "
        "program). ISS: WnR (bit 6) = 0, a read; DFSC (bits 5:0) = 0x04, a level 0 "
        "translation fault: nothing is mapped at address 0, which FAR_EL1 holds.",
        answer="0x24",
        wrong={
            0x25: "0x25 is a data abort taken at the current EL, as in lesson 4's kernel "
            "oops; this one comes from the program at EL0, a lower EL.",
            0x92: "that is the top byte; EC is its top 6 bits only: 0x92 >> 2.",
            0x3C: "0x3C is BRK, the breakpoint's class; the fault is a data abort.",
            0x04: "that is the DFSC (bits 5:0), the kind of fault, not its class.",
        },
    ),
)
