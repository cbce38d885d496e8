"""The VMM's exit handler: EC dispatch, ours-or-not, re-injection, guest-debug flags."""

from __future__ import annotations

import time

import pytest
from conftest import PSCI_OFF, guest_with_vectors

from armbp import assemble, esr
from armbp.kvm.abi import DebugExit, Exit, ExitReason, GuestDebug
from armbp.kvm.unicorn import VCpu
from armbp.table import BreakpointTable
from armbp.vmm import ExitHandler, Verdict

BASE = 0x40000
GUEST = guest_with_vectors(3)


def setup(src: str = GUEST):
    prog = assemble(src, base=BASE)
    cpu = VCpu(prog)
    table = BreakpointTable(cpu.memory)
    return prog, cpu, table, ExitHandler(cpu, table)


def deadline(seconds: float = 1.0) -> float:
    return time.monotonic() + seconds


def test_guest_debug_follows_the_table_like_kvm_arch_update_guest_debug():
    prog, cpu, table, handler = setup()
    assert handler.update_guest_debug() == GuestDebug.NONE == cpu.guest_debug
    table.insert(prog.symbols["loop"])
    assert handler.update_guest_debug() == GuestDebug.ENABLE | GuestDebug.USE_SW_BP
    assert cpu.guest_debug == GuestDebug.ENABLE | GuestDebug.USE_SW_BP
    assert handler.update_guest_debug(step=True) == (
        GuestDebug.ENABLE | GuestDebug.USE_SW_BP | GuestDebug.SINGLESTEP
    )
    table.remove(prog.symbols["loop"])
    assert handler.update_guest_debug() == GuestDebug.NONE == cpu.guest_debug


def test_with_an_empty_table_a_guest_brk_never_leaves_the_guest():
    _prog, cpu, _table, handler = setup()
    handler.update_guest_debug()
    exits = []
    result = handler.run(deadline(), on_exit=exits.append)
    assert result.verdict is Verdict.HALTED
    assert [h.exit.reason for h in exits] == [ExitReason.SYSTEM_EVENT]  # no DEBUG exit
    assert cpu.read_register("x23") == 3  # the guest's handler ran three times


def test_ours_stops_and_the_guests_own_brk_is_reinjected():
    prog, cpu, table, handler = setup()
    table.insert(prog.symbols["loop"])
    handler.update_guest_debug()
    exits = []
    result = handler.run(deadline(), on_exit=exits.append)
    assert result.verdict is Verdict.BREAKPOINT and result.pc == prog.symbols["loop"]
    assert result.breakpoint.pc == prog.symbols["loop"]
    assert result.exit.debug.hsr == 0xF2000000
    # delete ours and run on: the guest's BRK #0x99 now exits (table non-empty? no) —
    # keep a breakpoint elsewhere so the trap stays on and the guest BRK comes to us
    table.insert(prog.symbols["_start"])
    table.remove(prog.symbols["loop"])
    handler.update_guest_debug()
    exits.clear()
    result = handler.run(deadline(), on_exit=exits.append)
    assert result.verdict is Verdict.HALTED
    reinjected = [h for h in exits if h.verdict is Verdict.RESUME]
    assert len(reinjected) == 3
    assert all(h.exit.debug.hsr == 0xF2000099 for h in reinjected)
    assert all("re-injected" in h.describe() for h in reinjected)
    assert cpu.read_register("x20") == 0xF2000099  # ESR_EL1 the guest read
    assert cpu.read_register("x21") == prog.symbols["guest_brk"] + 4  # ELR (+4 by handler)
    assert cpu.read_register("x23") == 3


@pytest.mark.parametrize(
    "hsr",
    [esr.svc(1), 0xFC000000, esr.breakpoint(same_el=True), esr.software_step(same_el=True)],
)
def test_ecs_kvm_never_exits_with_are_internal_errors_not_crashes(hsr):
    _prog, _cpu, _table, handler = setup()
    result = handler.handle(Exit(ExitReason.DEBUG, BASE, DebugExit(hsr)))
    assert result.verdict is Verdict.INTERNAL_ERROR
    assert f"EC 0x{hsr >> 26:02X}" in result.note


def test_a_step_exit_nobody_asked_for_is_an_internal_error():
    _prog, _cpu, _table, handler = setup()
    result = handler.handle(Exit(ExitReason.DEBUG, BASE, DebugExit(esr.software_step())))
    assert result.verdict is Verdict.INTERNAL_ERROR and "no single step" in result.note


def test_the_vcpus_note_on_an_overwritten_brk_reaches_the_verdict_ours_or_not():
    prog, cpu, table, handler = setup()
    note = "the BRK that trapped is no longer in memory"
    loop = prog.symbols["loop"]
    table.insert(loop)
    ours = handler.handle(Exit(ExitReason.DEBUG, loop, DebugExit(esr.brk(0)), message=note))
    assert ours.verdict is Verdict.BREAKPOINT and ours.note == f"ours; {note}"
    assert note in ours.describe()
    at = prog.symbols["guest_brk"]
    theirs = handler.handle(Exit(ExitReason.DEBUG, at, DebugExit(esr.brk(0)), message=note))
    assert theirs.verdict is Verdict.RESUME and theirs.note.endswith(f"; {note}")
    assert cpu.read_register("esr_el1") == 0xF2000000


def test_malformed_exits_never_raise():
    _prog, _cpu, _table, handler = setup()
    assert handler.handle(Exit(ExitReason.DEBUG, BASE)).verdict is Verdict.INTERNAL_ERROR
    assert handler.handle(Exit(ExitReason.UNKNOWN, BASE)).verdict is Verdict.INTERNAL_ERROR
    # a BRK exit whose syndrome is missing its debug record breaks the handler, not us
    bad = Exit(ExitReason.DEBUG, 1 << 70, DebugExit(esr.brk(1)))
    assert handler.handle(bad).verdict is Verdict.INTERNAL_ERROR


def test_psci_system_off_is_halted_and_mmio_is_a_fault():
    *_, handler = setup(PSCI_OFF)
    result = handler.run(deadline())
    assert result.verdict is Verdict.HALTED and "SYSTEM_OFF" in result.describe()
    _prog, _cpu, _table, handler = setup("mov x1, #0x100000\nldr x2, [x1]")
    result = handler.run(deadline())
    assert result.verdict is Verdict.FAULT and "0x100000" in result.describe()


def test_reinjection_loops_stay_within_the_deadline():
    # a guest whose handler returns to its own BRK forever: every exit is re-injected
    src = """
        adr x1, vectors
        msr vbar_el1, x1
again:  brk #1
        .balign 2048
vectors:
        .skip 0x200
        eret
    """
    _prog, _cpu, table, handler = setup(src)
    table.insert(BASE + 0x100)  # any breakpoint, never reached: the trap is on
    handler.update_guest_debug()
    t = time.monotonic()
    result = handler.run(deadline(0.1))
    assert result.verdict is Verdict.BUDGET
    assert time.monotonic() - t < 1.0


@pytest.mark.parametrize(
    "el, hsr, seen, far",
    [
        # at EL1 the guest takes its own debug exception without a change of EL: "same EL" EC
        (1, esr.breakpoint(), esr.breakpoint(same_el=True), None),
        (1, esr.watchpoint(wnr=True), esr.watchpoint(same_el=True, wnr=True), BASE + 0x808),
        # from EL0 it is a lower EL's, as KVM reported it
        (0, esr.breakpoint(), esr.breakpoint(), None),
        (0, esr.watchpoint(), esr.watchpoint(), BASE + 0x808),
        (1, esr.bkpt32(0x12), esr.bkpt32(0x12), None),
    ],
)
def test_a_debug_exception_we_did_not_ask_for_is_reinjected_with_the_guests_syndrome(
    el, hsr, seen, far
):
    prog, cpu, _table, handler = setup()
    cpu.run_until(deadline(), 2)  # the guest's VBAR_EL1 is set
    pc = prog.symbols["loop"]
    cpu.pc = pc
    cpu.write_register("pstate", 0x3C5 if el else 0x3C0)
    result = handler.handle(Exit(ExitReason.DEBUG, pc, DebugExit(hsr, far=far or 0)))
    assert result.verdict is Verdict.RESUME, result.describe()
    assert "not ours" in result.note and "re-injected" in result.note
    assert cpu.read_register("esr_el1") == seen
    assert cpu.read_register("elr_el1") == pc  # the preferred return: the instruction itself
    if far is not None:
        assert cpu.read_register("far_el1") == far and f"FAR {far:#x}" in result.note
    assert cpu.pc == prog.symbols["vectors"] + (0x200 if el else 0x400)
    if el:  # the guest's handler reads that syndrome (its first instruction)
        cpu.run_until(deadline(), 1)
        assert cpu.read_register("x20") == seen


def test_one_stop_vocabulary_each_kind_is_one_member_with_all_its_words():
    """The VMM's verdict is the debugger's stop reason; each member says everything about
    its kind (the log's word, the view's sentence, how a GDB stub reports it)."""
    from armbp.debugger import StopReason

    assert StopReason is Verdict
    assert [v.value for v in Verdict] == [
        "resume",
        "breakpoint",
        "hw-breakpoint",
        "watchpoint",
        "step",
        "halted",
        "budget",
        "fault",
        "internal-error",
    ]  # the words lessons show
    assert Verdict("internal-error") is Verdict.INTERNAL_ERROR
    for v in Verdict:
        assert isinstance(v.decision, str) and "→" in v.decision, v
    # GDB's signal numbers: TRAP 5, SEGV 11, ILL 4; None: the stub does not stop for it
    reports = {v: v.stub and (v.stub.kind, v.stub.signal, v.stub.swbreak) for v in Verdict}
    assert reports == {
        Verdict.RESUME: None,
        Verdict.BUDGET: None,
        Verdict.BREAKPOINT: ("signal", 5, True),
        Verdict.HW_BREAKPOINT: ("signal", 5, False),
        Verdict.WATCHPOINT: ("signal", 5, False),
        Verdict.STEP: ("signal", 5, False),
        Verdict.HALTED: ("exited", 5, False),
        Verdict.FAULT: ("signal", 11, False),
        Verdict.INTERNAL_ERROR: ("signal", 4, False),
    }
    assert {v for v in Verdict if v.reported} == {
        Verdict.BREAKPOINT,
        Verdict.HW_BREAKPOINT,
        Verdict.WATCHPOINT,
        Verdict.STEP,
        Verdict.FAULT,
    }
    note = Verdict.BREAKPOINT.stub.note.format(
        ec="0x3C", hsr="f2000000", note="ours", message=""
    )
    assert note == "EC 0x3C hsr f2000000 → ours"  # the stub's log line (lesson 06 shows it)
