"""The exercises of lesson 5, when the BRK is not ours.

The lesson is ``notebooks/05-when-the-brk-is-not-ours.ipynb``. Content only: each entry
is a question, a checker, a hint, a worked solution, a model answer and hints for likely
wrong answers; :mod:`armbp.exercises` is the engine that checks them.
"""

from __future__ import annotations

from .. import esr
from . import Exercise, exercise, expect_int

EXERCISES: tuple[Exercise, ...] = (
    exercise(
        "guest-vector-address",
        "Another guest sets VBAR_EL1 = 0x80000 and runs at EL1 on its own stack (SP_EL1). Its "
        "BRK is re-injected as a synchronous exception. At which address does its handler start?",
        check=expect_int(
            0x80200,
            why="synchronous, current EL, SP_ELx is the vector at VBAR_EL1 + 0x200: "
            "0x80000 + 0x200 = 0x80200.",
        ),
        hint="The vector table has four groups of 0x200 bytes (current EL with SP_EL0, current EL "
        "with SP_ELx, lower EL AArch64, lower EL AArch32); each group starts with its "
        "synchronous entry.",
        solution="Current EL with SP_ELx is the second group: VBAR_EL1 + 0x200 = 0x80000 + 0x200 "
        "= 0x80200.",
        answer="0x80200",
        wrong={
            0x80000: "that is VBAR_EL1 itself, the first group: current EL with SP_EL0. "
            "This guest runs on SP_EL1.",
            0x80400: "that group is for exceptions from a lower Exception level (EL0 "
            "code); the BRK is taken from EL1 to EL1, the current level.",
            0x80600: "that is the lower EL, AArch32 group; this guest is AArch64 at EL1.",
            0x80280: "that is the IRQ entry of the right group; synchronous is the group's "
            "first entry (entries are 0x80 apart).",
            0x80080: "entries are 0x80 apart but groups are 0x200 apart: 0x80080 is the IRQ "
            "entry of the first group.",
        },
    ),
    exercise(
        "guest-elr-skip",
        "In its handler the guest finds ELR_EL1 = the address of its BRK. How many bytes must it "
        "add to ELR_EL1 so that ERET resumes after the BRK instead of running it again?",
        check=expect_int(
            4,
            why="for a BRK the preferred return address is the BRK itself; every A64 "
            "instruction is 4 bytes, so the handler adds 4.",
        ),
        hint="What does ELR_EL1 point to after a BRK, and how long is one A64 instruction?",
        solution="ELR_EL1 = the BRK's own address (unlike SVC, whose ELR is the next "
        "instruction). One instruction is 4 bytes: add 4, then ERET.",
        answer="4",
        wrong={
            0: "ELR_EL1 points at the BRK itself: an ERET to it runs the BRK again, for ever.",
            8: "8 bytes is two instructions: that skips the one after the BRK too.",
            1: "ELR_EL1 is an address, counted in bytes, not in instructions.",
            32: "that is the instruction's length in bits; ELR_EL1 counts bytes.",
        },
    ),
    exercise(
        "guest-exits-no-bp",
        "The debugger has no breakpoints at all. The guest's loop runs its own BRK #0x99 three "
        "times. How many DEBUG exits reach the hypervisor?",
        check=expect_int(
            0,
            why="with an empty table QEMU clears ENABLE | USE_SW_BP, so a BRK is an "
            "ordinary exception inside the guest: no exit at all.",
        ),
        hint="When does QEMU ask KVM to trap BRK instructions?",
        solution="None: QEMU sets KVM_GUESTDBG_USE_SW_BP only while its breakpoint table is "
        "non-empty. Without it the guest's BRK goes straight to the guest's vector.",
        answer="0",
        wrong={
            3: "that would be so if QEMU always asked KVM to trap BRK; it does only while "
            "its breakpoint table is non-empty.",
            6: "with no breakpoint there is no step-over either: count the exits when BRK "
            "is not trapped at all.",
            1: "no exit is needed even for the first BRK: who handles a BRK that KVM "
            "does not trap?",
        },
    ),
    exercise(
        "guest-brk-under-breakpoint",
        "The debugger's breakpoint goes on the demo guest's own BRK #0x99 (at loop + 4). The guest "
        "hits it and you call cont(): the debugger lifts its breakpoint and steps the saved "
        "instruction — the guest's BRK #0x99 — with the trap still on, so it exits again at the "
        "same pc. Which ESR_EL1 value does the guest's handler then read (x20)?",
        check=expect_int(
            esr.brk(0x99),
            why="while the breakpoint is lifted the BRK that traps is the guest's own: it is "
            "re-injected with its own syndrome, EC 0x3C and ISS = 0x99 → 0xf2000099.",
        ),
        wrong={
            esr.brk(0): "0xf2000000 is BRK #0, the debugger's own BRK: it is reported to the "
            "debugger and never reaches the guest.",
            esr.software_step(same_el=False): "that is the software-step syndrome of the "
            "hypervisor's own step, which the guest never sees.",
            esr.software_step(
                same_el=True
            ): "that is a software-step syndrome; the hypervisor's "
            "step is its own and the guest never sees it.",
            0: "the handler does run: if the hypervisor called this exit its breakpoint again, "
            "every cont() would stop at the same pc for ever and the handler would never "
            "run — a livelock.",
        },
        hint="Whose instruction runs during the step-over, and what syndrome does BRK #imm16 "
        "give (0xf2000000 | imm16)?",
        solution="0xf2000099. During the step the breakpoint is lifted (with QEMU, GDB has "
        "removed it), so the trap at that pc is the guest's BRK #0x99: the hypervisor "
        "re-injects it, ESR_EL1 = EC 0x3C, IL, ISS = 0x99. Reporting it as the "
        "breakpoint again would stop every cont() at the same pc, and the guest's "
        "handler would never run.",
        answer="0xf2000099",
    ),
)
