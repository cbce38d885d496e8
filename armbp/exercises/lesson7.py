"""The exercises of lesson 7, breakpoints that write nothing.

The lesson is ``notebooks/07-breakpoints-that-write-nothing.ipynb``. Content only: each
entry is a question, a checker, a hint, a worked solution, a model answer and hints for
likely wrong answers; :mod:`armbp.exercises` is the engine that checks them. The coding
exercise runs the learner's ``find_writer`` on ``STRAY_SOURCE`` and ``SMASH_SOURCE``
and compares it with armbp's own watchpoint stop.
"""

from __future__ import annotations

from typing import Any

from .. import esr
from ..asm import assemble
from . import Exercise, Trial, exercise, expect_function, expect_int, shown

# A guest with a stray write: `fill` writes four words of a table, one too many, and the
# fifth store lands on `flag`. The learner finds that store with a watchpoint.
STRAY_SOURCE = """\
_start: adr  x1, table
        mov  x2, #0
fill:   str  w2, [x1], #4       // one word of the table, then the next
        add  x2, x2, #1
        cmp  x2, #5             // five rounds: one more than the table holds
        b.ne fill
        adr  x3, flag
        ldr  w4, [x3]
        hvc  #0
        .balign 8
table:  .word 0, 0, 0, 0
flag:   .word 0xcafe
"""
_STRAY = assemble(STRAY_SOURCE, name="stray")
STRAY_WRITER = _STRAY.symbols["fill"]  # the post-indexed str is the only store

# A second guest for the coding exercise: a byte copy that runs one byte past `buf` and
# lands in `guard`. Its writer is not the first instruction of its loop.
SMASH_SOURCE = """\
_start: adr  x1, buf
        mov  w2, #0x41
        mov  x3, #0
copy:   add  x3, x3, #1
        strb w2, [x1, x3]       // buf[1] .. buf[8]: buf has 8 bytes, 0 to 7
        cmp  x3, #8
        b.ne copy
        adr  x4, guard
        ldr  w5, [x4]
        hvc  #0
        .balign 8
buf:    .byte 0, 0, 0, 0, 0, 0, 0, 0
guard:  .word 0x600d
"""

_GUESTS = (
    ("STRAY_SOURCE, flag", STRAY_SOURCE, "flag"),
    ("a byte copy one past buf, guard", SMASH_SOURCE, "guard"),
)

_MODEL_FIND_WRITER = """\
from armbp import Debugger


def find_writer(source, name):
    dbg = Debugger(source)
    dbg.watch(name, 4, "write")
    return dbg.cont().access_pc
"""  # the model answer: what the answer key prints and the lesson test runs


def _writer_trial(source: str, name: str) -> Trial:
    """Run the learner's find_writer on ``source`` and compare with armbp's watchpoint stop,
    naming the likely mix-ups: the stop's pc (one instruction later) and the data address."""

    def trial(find_writer: Any) -> str | None:
        from ..debugger import Debugger

        dbg = Debugger(source)
        dbg.watch(name, 4, "write")
        stop = dbg.cont()
        want = stop.access_pc
        got = find_writer(source, name)
        if got == want:
            return None
        if got == stop.pc:
            return (
                f"find_writer(..., {name!r}) = {shown(got)}: that is where the guest stopped, "
                f"one instruction after the store; the store is the stop's access_pc"
            )
        if got == assemble(source).symbols[name]:
            return (
                f"find_writer(..., {name!r}) = {shown(got)}: that is the address of {name} "
                f"(the data, FAR); the question is which instruction wrote it"
            )
        return f"find_writer(..., {name!r}) returned {shown(got)}, expected {shown(want)}"

    return trial


EXERCISES: tuple[Exercise, ...] = (
    exercise(
        "dbgbcr-pmc",
        "A debugger wrote DBGBCR0 = 0x1e5. What is its PMC field (bits 2:1), as a number?",
        check=expect_int(
            0b10,
            why="0x1e5 = 0b1_1110_0101: E (bit 0) = 1, PMC (bits 2:1) = 0b10, BAS (bits "
            "8:5) = 0b1111. PMC = 0b10 with HMC = SSC = 0 matches at EL0 only.",
        ),
        hint="Write 0x1e5 in binary and take bits 2 and 1 (bit 0 is E).",
        solution="0x1e5 = 0b111100101. Bit 0 (E) is 1; bits 2:1 are 0b10 = 2: PMC = 0b10, a "
        "breakpoint for EL0 code only. QEMU writes 0x1e7 (PMC = 0b11: EL1 and EL0).",
        answer="2",
        wrong={
            0b11: "0b11 is what QEMU writes (0x1e7); 0x1e5 differs in bit 1.",
            5: "that is bits 2:0, E included: PMC starts at bit 1.",
        },
    ),
    exercise(
        "watch-esr-wnr",
        "A watchpoint exit reports hsr 0xd2000022. Was the access that hit it a write? "
        "Answer with the WnR bit (1 = write, 0 = read).",
        check=expect_int(
            0,
            why="0xd2000022: EC 0x34 (watchpoint, lower EL), IL 1, DFSC 0x22, and WnR (bit "
            "6) = 0: the access was a read, as for gdb's rwatch.",
        ),
        hint="WnR is ISS bit 6: look at the lowest byte, 0x22 = 0b0010_0010.",
        solution="The low byte 0x22 = 0b00100010 has bit 6 clear: WnR = 0, a read. A write "
        f"hits report {esr.watchpoint(wnr=True):#010x} (bit 6 set: 0x62).",
        answer="0",
        wrong={
            1: "bit 6 of 0x22 = 0b0010_0010 is 0 (count from bit 0 on the right); a write "
            "would set it: 0x62.",
        },
    ),
    exercise(
        "step-ldxr-esr",
        "The hypervisor single-steps a guest over LDXR. Which ESR value does its software "
        "step exit report (EC 0x32, IL 1, ISV 1, and the bit that says 'a load-exclusive')?",
        check=expect_int(
            esr.software_step(isv=True, ex=True),
            why="0xcb000062: EC 0x32, IL, ISV (bit 24) and EX (bit 6) set, IFSC 0x22. EX "
            "warns the debugger that stepping the load-exclusive may have cleared the "
            "exclusive monitor, so the STXR after it can fail forever.",
        ),
        hint="Start from the ordinary step syndrome 0xcb000022 and set EX, ISS bit 6.",
        solution="An ordinary step reports 0xcb000022; after a load-exclusive EX (bit 6) is "
        "set as well: 0xcb000022 | 0x40 = 0xcb000062.",
        answer="0xcb000062",
        wrong={
            0xCB000022: "that is the step over an ordinary instruction: EX is 0 there.",
            0xCA000062: "ISV (bit 24) must be 1 for EX to mean anything.",
        },
    ),
    exercise(
        "watch-code-find-writer",
        "Write find_writer(source, name): load the guest `source` into a Debugger, watch the "
        "4 bytes at the symbol `name` for writes, continue, and return the address of the "
        "instruction that wrote them (the stop's access_pc).",
        check=expect_function(
            [(what, _writer_trial(source, name)) for what, source, name in _GUESTS],
            why="your function names the store that armbp's own watchpoint catches, in each "
            "guest: the one that wrote past the end of its table.",
        ),
        hint="Debugger(source), then dbg.watch(name, 4, 'write') and dbg.cont(): the stop "
        "it returns knows which instruction made the access (access_pc), not only where "
        "the guest is now (pc).",
        solution=_MODEL_FIND_WRITER
        + "\nIn STRAY_SOURCE the post-indexed `str w2, [x1], #4` at `fill` "
        f"({STRAY_WRITER:#x}) runs once more than the table has words: its fifth store "
        "writes 4 over 0xcafe. The stop's pc is one instruction later: a watchpoint is "
        "taken before the access completes, and the debugger steps the access to read the "
        "new value.",
        answer=_MODEL_FIND_WRITER,
    ),
)
