"""The exercises of lesson 7, breakpoints that write nothing.

The lesson is ``notebooks/07-breakpoints-that-write-nothing.ipynb``. Content only: each
entry is a question, a checker, a hint, a worked solution, a model answer and hints for
likely wrong answers; :mod:`armbp.exercises` is the engine that checks them. The coding
exercise's guest is ``STRAY_SOURCE``: its answer is computed from the assembled program.
"""

from __future__ import annotations

from .. import esr
from ..asm import assemble
from . import Exercise, exercise, expect_int

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
        "watch-stray-writer",
        "Coding: load STRAY_SOURCE into a Debugger, watch the 4 bytes of `flag` for writes, "
        "continue, and give the address of the instruction that wrote them (the stop's "
        "access_pc).",
        check=expect_int(
            STRAY_WRITER,
            why="the post-indexed store in `fill` runs once more than the table has words: "
            "its fifth store lands on `flag`.",
        ),
        hint="dbg = Debugger(STRAY_SOURCE); dbg.watch('flag', 4, 'write'); stop = "
        "dbg.cont(); then look at stop.access_pc (and stop.old_value, stop.new_value).",
        solution="dbg.watch('flag', 4) fills a watchpoint slot; cont() stops with a "
        "WATCHPOINT whose access_pc is the `str w2, [x1], #4` at `fill` "
        f"({STRAY_WRITER:#x}): the loop's fifth round writes 4 over 0xcafe.",
        answer=hex(STRAY_WRITER),
    ),
)
