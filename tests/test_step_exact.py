"""A single step ends after exactly one instruction, however the model runs it.

The Unicorn model steps an instruction that can only go on at pc + 4 (data processing,
loads and stores, SIMD&FP) by running to ``until = pc + 4``, and anything else by an
instruction count of 1 (``armbp.kvm.unicorn.core._falls_through``): a count makes Unicorn
drop every translation twice, which was most of a watchpoint stop's cost. The two ways
must give the same exit, registers and memory, also where the instruction was translated
before by a run that did not stop there (Unicorn then went past ``until``: measured), where
it takes an exception into the guest's vector, and where it is an MMIO exit.
"""

from __future__ import annotations

import pytest

from armbp import assemble
from armbp.kvm.abi import ExitReason, GuestDebug
from armbp.kvm.unicorn import core
from armbp.kvm.unicorn.core import VCpu
from tests.conftest import PSCI_OFF

STEP = GuestDebug.ENABLE | GuestDebug.SINGLESTEP


def _guest(insn: str) -> str:
    """``insn`` at the head of a loop that runs three times (so that its block is
    translated by a run that does not stop there), then power off."""
    return f"""
_start: adr x1, vectors
        msr vbar_el1, x1
        adr x1, data
        adr x6, data                // (the step moves it where nothing is mapped)
        mov x3, #3
loop:   {insn}
        add x2, x2, #1
        subs x3, x3, #1
        b.ne loop
        {PSCI_OFF}
        .balign 2048
vectors:
        .skip 0x200
        add x23, x23, #1            // (the step must end before this)
        mrs x21, elr_el1            // past the UNDEFINED instruction, and back
        add x21, x21, #4
        msr elr_el1, x21
        eret
        .balign 16
data:   .quad 0x1111, 0x2222
"""


# instruction -> (where the step must end, relative to `loop` or as "vector")
CASES = {
    "str x2, [x1], #8": 4,  # a post-indexed store: the base moves too
    "ldr x4, [x1, #8]": 4,
    "add x5, x5, #7": 4,
    "ldxr x4, [x1]": 4,  # the step's syndrome says EX
    "stp x2, x3, [x1]": 4,
    # an unallocated data-processing (2 source) encoding (capstone: none): UNDEFINED,
    # the guest's own exception
    ".word 0x1ac00000": "vector",
    "str x2, [x6]": 0,  # an MMIO exit before the store
}


def _stepped(insn: str) -> tuple:
    program = assemble(_guest(insn))
    cpu = VCpu(program)
    warm = cpu.run(5)
    assert warm.reason is ExitReason.SYSTEM_EVENT, warm  # the loop ran three times
    cpu.write_register("x0", 0)
    cpu.write_register("x1", program.symbols["data"])
    cpu.write_register("x3", 3)
    cpu.write_register("x23", 0)
    cpu.write_register("x6", 0x900_0000)  # nothing is mapped here: an MMIO exit
    cpu.pc = program.symbols["loop"]
    cpu.set_guest_debug(STEP)
    e = cpu.run(5)
    regs = {n: cpu.read_register(n) for n in ("x1", "x2", "x3", "x4", "x5", "x23", "pstate")}
    return (
        e.reason,
        e.pc,
        None if e.debug is None else e.debug.hsr,
        None if e.mmio is None else (e.mmio.address, e.mmio.access),
        regs,
        cpu.memory.read(program.symbols["data"], 16),
        cpu.read_register("esr_el1"),
        cpu.read_register("elr_el1"),
    )


@pytest.mark.parametrize("insn", list(CASES))
def test_a_step_to_pc_plus_4_equals_a_counted_step(insn, monkeypatch):
    program = assemble(_guest(insn))
    loop, vector = program.symbols["loop"], program.symbols["vectors"] + 0x200
    fast = _stepped(insn)
    monkeypatch.setattr(core, "_falls_through", lambda _word: False)  # counted only
    counted = _stepped(insn)
    assert fast == counted
    where = CASES[insn]
    assert fast[1] == (vector if where == "vector" else loop + where)
    assert fast[4]["x23"] == 0  # the guest's handler did not run
    if where == 4:
        assert fast[0] is ExitReason.DEBUG and fast[2] >> 26 == 0x32  # a software step


def test_the_fast_way_is_the_one_taken_for_these_instructions(monkeypatch):
    """(So that the comparison above compares two ways, not one way twice.)"""
    seen: list[int] = []
    real = core._falls_through

    def spy(word: int) -> bool:
        seen.append(word)
        return real(word)

    monkeypatch.setattr(core, "_falls_through", spy)
    _stepped("str x2, [x1], #8")
    assert seen and real(seen[-1])
    assert not real(0xD503207F)  # WFI: a system instruction is counted
    assert not real(0x14000000)  # B: a branch is counted
    assert not real(0xD4000002)  # HVC: exception generation is counted
