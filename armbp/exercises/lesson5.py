"""The exercises of lesson 5, when the BRK is not ours.

The lesson is ``notebooks/05-when-the-brk-is-not-ours.ipynb``. Content only: each entry
is a question, a checker, a hint, a worked solution, a model answer and hints for likely
wrong answers; :mod:`armbp.exercises` is the engine that checks them.
"""

from __future__ import annotations

from typing import Any

from .. import esr
from . import Exercise, Trial, exercise, expect_function, expect_int

_ENTRY = ("pc", "esr_el1", "elr_el1", "spsr_el1", "pstate", "sp")


def _reinject_trial(rounds: int) -> Trial:
    """The demo guest on two vCPUs in step: ExitHandler re-injects on one, the learner's
    reinject on the other; the registers of exception entry are compared after each."""

    def trial(reinject: Any) -> str | None:
        from ..demo import demo_program
        from ..kvm.unicorn import VCpu
        from ..table import BreakpointTable
        from ..vmm import ExitHandler

        machines = []
        for _ in range(2):
            prog = demo_program()
            vcpu: Any = VCpu(prog)  # a Backend (mypy: see the Backend protocol)
            table = BreakpointTable(vcpu.memory)
            handler = ExitHandler(vcpu, table)
            table.insert(prog.symbols["vectors"])  # never run: it only makes KVM trap BRK
            handler.update_guest_debug()
            machines.append((vcpu, handler))
        (model, handler), (mine, _) = machines
        for n in range(1, rounds + 1):
            exit_model, exit_mine = model.run(), mine.run()
            if exit_mine.reason.name != "DEBUG" or exit_mine.pc != exit_model.pc:
                return (
                    f"round {n}: the guest exited with {exit_mine!r}, expected {exit_model!r}"
                )
            handler.handle(exit_model)
            reinject(mine, exit_mine)
            for name in _ENTRY:
                want, got = model.read_register(name), mine.read_register(name)
                if got != want:
                    return f"round {n}: {name} = {got:#x}, expected {want:#x}"
        if rounds == 3:
            end = mine.run()
            if end.reason.name != "SYSTEM_EVENT" or mine.read_register("x23") != 3:
                return f"after round 3 the guest ended with {end!r}, x23 = {mine.read_register('x23')}"
        return None

    return trial


_MODEL_REINJECT = """\
def reinject(vcpu, exit_):
    vcpu.write_register("spsr_el1", vcpu.read_register("pstate"))
    vcpu.write_register("elr_el1", exit_.pc)  # a BRK returns to itself
    vcpu.write_register("esr_el1", exit_.debug.hsr)
    vcpu.write_register("pstate", 0x3C5)  # EL1h, D A I F masked
    vcpu.write_register("pc", vcpu.read_register("vbar_el1") + 0x200)
"""  # the model answer: what the answer key prints and the lesson test runs


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
    exercise(
        "guest-code-reinject",
        "Write reinject(vcpu, exit_): for the demo guest's own BRK, do what the hardware does on "
        "exception entry to EL1 — SPSR_EL1 = the old PSTATE, ELR_EL1 = the return address, "
        "ESR_EL1 = the syndrome, PSTATE = EL1h with D, A, I, F masked (0x3c5), pc = the "
        "vector — with vcpu.read_register / write_register only.",
        check=expect_function(
            [(f"the guest's BRK, round {n}", _reinject_trial(n)) for n in (1, 2, 3)],
            why="after each of your re-injections the registers are the ones ExitHandler's "
            "re-injection gives, and the guest's handler ran 3 times before it powered off.",
        ),
        hint="Save PSTATE into SPSR_EL1 before you change PSTATE. A BRK's return address is "
        "the BRK itself; the vector is VBAR_EL1 + 0x200 (current EL, SP_ELx, synchronous).",
        solution=_MODEL_REINJECT
        + "\nThe order matters: SPSR_EL1 must get PSTATE before PSTATE changes, and pc goes "
        "last. armbp's VCpu.inject_exception does the same in one step.",
        answer=_MODEL_REINJECT,
    ),
)
