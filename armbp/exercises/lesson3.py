"""The exercises of lesson 3, hitting it.

The lesson is ``notebooks/03-hitting-it.ipynb``. Content only: each entry is a question,
a checker, a hint, a worked solution, a model answer and hints for likely wrong
answers; :mod:`armbp.exercises` is the engine that checks them.
"""

from __future__ import annotations

from typing import Any

from .. import encodings, esr
from . import Exercise, Trial, exercise, expect_function, expect_int, shown


def _brk_exit_trial(imm16: int) -> Trial:
    def trial(brk_exit: Any) -> str | None:
        got = brk_exit(imm16)
        if isinstance(got, int):
            return f"it returned the number {got:#x}: return the exit itself (vcpu.run()'s result)"
        reason = getattr(getattr(got, "reason", None), "name", None)
        if reason is None:
            return f"it returned {shown(got)}, not an exit: return what vcpu.run() gives"
        if reason != "DEBUG":
            return (
                f"the exit is {reason}, not DEBUG: the BRK was not trapped (insert a "
                f"breakpoint and call update_guest_debug() before running)"
            )
        hsr = got.debug.hsr
        if hsr != esr.brk(imm16):
            return f"hsr is {hsr:#010x}, expected the syndrome of BRK #{imm16:#x}: is that BRK first?"
        return None

    return trial


_MODEL_BRK_EXIT = """\
from armbp import BreakpointTable, assemble
from armbp.kvm.unicorn import VCpu
from armbp.vmm import ExitHandler


def brk_exit(imm16):
    prog = assemble(f"brk #{imm16:#x}\\nnop")
    vcpu = VCpu(prog)
    table = BreakpointTable(vcpu.memory)
    handler = ExitHandler(vcpu, table)
    table.insert(prog.base + 4)  # any breakpoint makes QEMU ask KVM to trap BRK
    handler.update_guest_debug()
    return vcpu.run()
"""  # the model answer: what the answer key prints and the lesson test runs


EXERCISES: tuple[Exercise, ...] = (
    exercise(
        "hit-hsr-lldb",
        "A debugger that plants BRK #0xf000 (as LLDB does) instead of BRK #0 hits its breakpoint. "
        "Which value does the vCPU's exit record carry in hsr?",
        check=expect_int(
            esr.brk(0xF000),
            why="hsr is the BRK's syndrome: EC 0x3C << 26 | IL (bit 25) | imm16 = "
            "0xf2000000 | 0xf000 = 0xf200f000.",
        ),
        hint="hsr is the syndrome of the BRK: 0xf2000000 for BRK #0, and the BRK's imm16 goes "
        "into the low 16 bits.",
        solution="(0x3c << 26) | (1 << 25) | 0xf000 = 0xf2000000 | 0xf000 = 0xf200f000.",
        answer="0xf200f000",
        wrong={
            esr.brk(0): "that is BRK #0's syndrome: this BRK's imm16 goes into the low "
            "16 bits.",
            encodings.brk(0xF000): "that is the instruction word, not the syndrome: hsr is "
            "ESR_EL2's value.",
            0xF000: "that is the ISS alone; EC (bits 31:26) and IL (bit 25) fill the top.",
            esr.brk(0) | 0xF000 << 5: "the immediate is shifted by 5 in the instruction word "
            "only: the ISS holds it in bits 15:0.",
            esr.brk(0xF000) & ~(1 << 25): "IL (bit 25) is missing: it is 1 for a 32-bit "
            "instruction.",
        },
    ),
    exercise(
        "hit-step-pc",
        "In the lesson's program (loop: add at 0x40008, count: subs at 0x4000c, b.ne loop at "
        "0x40010), the only breakpoint is at 0x40010. The guest stops there in the first round, "
        "after the subs has made x0 = 2. You call step(). At which pc does it stop?",
        check=expect_int(
            0x40008,
            why="step runs the saved b.ne loop (not the BRK over it); x0 = 2 is not "
            "zero, so the branch is taken and the guest stops at loop, 0x40008.",
        ),
        hint="The instruction stepped is the original one under the BRK, b.ne loop. Is the branch "
        "taken when the subs left x0 = 2?",
        solution="The step-over puts b.ne loop back at 0x40010 and steps it. x0 = 2 ≠ 0, so the "
        "branch is taken: the guest stops at loop = 0x40008 (not at 0x40014, the next "
        "word). step() always takes the five-step road: it runs exactly one "
        "instruction, the saved one, with the BRK lifted.",
        answer="0x40008",
        wrong={
            0x40014: "that is the next word, where a not-taken branch would go; with x0 = 2 "
            "b.ne is taken.",
            0x40010: "that is where the guest stopped; step() runs exactly one instruction.",
            0x4000C: "that is count, the subs: the instruction stepped is b.ne loop, and "
            "loop is the add.",
        },
    ),
    exercise(
        "hit-x1-fifth-stop",
        "Suppose the program started with x0 = 5 instead of 3. x1 counts the rounds done (add x1, "
        "x1, #1 at loop), and the breakpoint at loop stops the guest before the add runs. What is "
        "x1 at the fifth stop at loop?",
        check=expect_int(
            4,
            why="the BRK traps before the add executes: x1 is 0 at the first stop, "
            "1 at the second ... 4 at the fifth.",
        ),
        hint="The breakpoint stops the guest before the instruction under it runs: count how many "
        "adds have completed before each stop.",
        solution="Stop n comes after n - 1 completed adds: x1 = 0, 1, 2, 3, 4 at stops 1 to 5.",
        answer="4",
        wrong={
            5: "one too many: the BRK traps before the add under it runs, so at the first stop "
            "no add has run yet.",
            3: "with x0 = 5 the loop runs five rounds; count the adds done before stop 5.",
            6: "x1 can only count completed adds, and stop 5 comes before the fifth add.",
        },
    ),
    exercise(
        "hit-code-brk-exit",
        "Write brk_exit(imm16): assemble a guest whose first instruction is BRK #imm16, run it "
        "on a VCpu with an ExitHandler that traps BRK, and return the exit vcpu.run() gives.",
        check=expect_function(
            [(f"BRK #{imm:#x}", _brk_exit_trial(imm)) for imm in (0, 0x99, 0xF000, 0x1234)],
            why="each guest exits with reason DEBUG at its BRK, and hsr is that BRK's "
            "syndrome, 0xf2000000 | imm16.",
        ),
        hint="Copy the set-up of the lesson (VCpu, BreakpointTable, ExitHandler): KVM traps BRK "
        "only once the table has an entry and update_guest_debug() has told it so.",
        solution=_MODEL_BRK_EXIT
        + "\nWithout a breakpoint (and update_guest_debug) the BRK is not trapped: it goes to "
        "the guest's own vector table.",
        answer=_MODEL_BRK_EXIT,
    ),
)
