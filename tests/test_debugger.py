"""The debugger session: the user's story, the step-over, the stale-translation lesson."""

from __future__ import annotations

import threading
import time

import pytest
from conftest import PSCI_OFF, guest_with_vectors

import armbp
from armbp import assemble
from armbp.debugger import Debugger, StopReason, displaceable
from armbp.encodings import BRK0, NOP, from_bytes, to_bytes
from armbp.memory import MemoryFault
from armbp.table import BreakpointError, BreakpointOverwritten

BASE = 0x40000


def counting_loop(n: int) -> str:
    return f"""
_start: movz x0, #{n}
        mov x4, #0              // the count: x1-x3 are PSCI's to zero at the power-off
loop:   add x4, x4, #1
body:   subs x0, x0, #1
        b.ne loop
done:   {PSCI_OFF}
"""


def run_to_end(dbg: Debugger, limit: int = 10_000) -> list:
    stops = []
    for _ in range(limit):
        stop = dbg.cont(1)
        stops.append(stop)
        if stop.reason is not StopReason.BREAKPOINT:
            break
    return stops


def test_the_users_story():
    prog = armbp.assemble(
        """
_start: mov x0, #3
loop:   subs x0, x0, #1
        b.ne loop
done:   b done
""",
        base=0x40000,
    )
    dbg = armbp.Debugger(prog)
    dbg.break_at("loop")
    stop = dbg.cont()
    assert stop.reason is StopReason.BREAKPOINT and stop.pc == 0x40004
    assert stop.exit.debug.hsr == 0xF2000000
    assert "Exit(DEBUG" in repr(stop) and "hsr=0xf2000000" in repr(stop)
    assert dbg.read_memory(0x40004, 4) == to_bytes(0xF1000400)  # subs, not the BRK
    assert dbg.raw_memory(0x40004, 4) == to_bytes(BRK0)
    step = dbg.step()
    assert step.reason is StopReason.STEP and step.pc == 0x40008
    assert dbg.registers()["x0"] == 2
    assert dbg.cont().pc == 0x40004
    assert dbg.delete("loop") is None
    assert dbg.raw_memory(0x40004, 4) == to_bytes(0xF1000400)
    assert dbg.cont(0.05).reason is StopReason.BUDGET  # done: b done, forever
    assert dbg.breakpoints == []


@pytest.mark.parametrize("displaced", [True, False])
@pytest.mark.parametrize("where", [["loop"], ["loop", "body"], ["body", "body+4"]])
def test_a_breakpoint_in_a_loop_counts_every_iteration_once(displaced, where):
    n = 50
    dbg = Debugger(assemble(counting_loop(n), base=BASE), displaced_step=displaced)
    for w in where:
        dbg.break_at(w)
    stops = run_to_end(dbg)
    assert stops[-1].reason is StopReason.HALTED
    assert {dbg.address_of(w): n for w in where} == dbg.hits
    assert dbg.registers()["x4"] == n
    if displaced and where == ["loop"]:
        assert dbg.step_overs == {"displaced": n, "inline": 0}


def test_without_the_flush_the_step_over_goes_wrong():
    """The bug is real: two breakpoints share the displaced-step slot; without the flush
    the slot's old translation runs — the wrong instruction, the wrong way back."""
    n = 20
    results = {}
    for flush in (True, False):
        dbg = Debugger(assemble(counting_loop(n), base=BASE), flush_code_writes=flush)
        dbg.break_at("loop")
        dbg.break_at("body")
        stops = run_to_end(dbg, limit=4 * n)
        results[flush] = (stops[-1].reason, dbg.hits, dbg.registers()["x4"])
    loop, body = BASE + 8, BASE + 12
    assert results[True] == (StopReason.HALTED, {loop: n, body: n}, n)
    reason, hits, count = results[False]
    assert reason is not StopReason.HALTED
    assert hits != {loop: n, body: n} and count != n


def test_without_the_flush_a_breakpoint_in_code_already_run_is_missed():
    results = {}
    for flush in (True, False):
        dbg = Debugger(assemble(counting_loop(10), base=BASE), flush_code_writes=flush)
        dbg.break_at("body")
        dbg.cont()
        dbg.cont()  # the block at "loop" is translated now
        dbg.break_at("loop")  # a BRK written over translated code
        results[flush] = dbg.cont().pc
    assert results == {True: BASE + 8, False: BASE + 12}  # without the flush: loop missed


def test_without_the_flush_a_deleted_breakpoint_still_traps():
    results = {}
    for flush in (True, False):
        dbg = Debugger(assemble(counting_loop(10), base=BASE), flush_code_writes=flush)
        dbg.break_at("loop")
        dbg.break_at("done")  # keeps the trap on after "loop" goes
        dbg.cont()
        dbg.cont()
        dbg.delete("loop")  # restored in memory, but the BRK's translation...
        stop = dbg.cont()
        results[flush] = (stop.reason, stop.pc)
    assert results[True] == (StopReason.BREAKPOINT, BASE + 0x14)  # at done
    # ... still runs: not ours any more, so it is re-injected into a guest without
    # vectors, which faults at VBAR_EL1 + 0x200
    assert results[False][0] is StopReason.FAULT


GUEST_WITH_VECTORS = guest_with_vectors(5)


def test_the_guests_own_brk_and_a_debugger_breakpoint_live_together():
    prog = assemble(GUEST_WITH_VECTORS, base=BASE)
    dbg = Debugger(prog)
    dbg.break_at("loop")
    stops = run_to_end(dbg)
    assert [s.reason for s in stops] == [StopReason.BREAKPOINT] * 5 + [StopReason.HALTED]
    assert all(s.pc == prog.symbols["loop"] for s in stops[:5])
    assert dbg.hits == {prog.symbols["loop"]: 5}  # only its own hits
    regs = dbg.registers()
    assert regs["x7"] == 5 and dbg.read_register("x23") == 5  # the guest's handler, 5 times
    assert dbg.read_register("x20") == 0xF2000099
    assert dbg.read_register("x21") == prog.symbols["guest_brk"] + 4
    reinjected = [h for h in dbg.events if "re-injected" in h.describe()]
    assert len(reinjected) == 5


def test_the_guest_overwriting_a_breakpoint_is_reported_at_removal():
    src = f"""
_start: adr x1, target
        movz w2, #0x201f
        movk w2, #0xd503, lsl #16
        str w2, [x1]            // overwrite target's first instruction with a NOP
        {PSCI_OFF}
target: mov x5, #1
        ret
"""
    prog = assemble(src, base=BASE)
    dbg = Debugger(prog)
    bp = dbg.break_at("target")
    assert dbg.cont().reason is StopReason.HALTED
    with pytest.raises(BreakpointOverwritten) as e:
        dbg.delete("target")
    err = e.value
    assert (err.address, err.expected, err.found) == (bp.pc, BRK0, NOP)
    assert f"{bp.pc:#x}" in str(err) and "d4200000" in str(err) and "d503201f" in str(err)
    assert dbg.breakpoints == [bp]  # nothing changed
    # force drops the entry and leaves memory as the guest wrote it
    assert dbg.delete("target", force=True) is None
    assert dbg.breakpoints == [] and dbg.raw_memory(bp.pc, 4) == to_bytes(NOP)
    assert dbg.handler.update_guest_debug() == 0  # no breakpoints: no trap asked for


def test_delete_with_force_drops_every_use_and_restores_an_intact_brk():
    dbg = Debugger(assemble(counting_loop(3), base=BASE))
    for _ in range(3):
        dbg.break_at("loop")
    saved = dbg.breakpoints[0].saved_insn
    assert dbg.delete("loop").use_count == 2  # one use only
    assert dbg.delete("loop", force=True) is None  # all the rest at once
    assert dbg.breakpoints == [] and dbg.raw_memory(dbg.address_of("loop"), 4) == to_bytes(
        saved
    )


GUEST_BRKS = """
_start: adr x1, vectors
        msr vbar_el1, x1
        mov x0, #{n}
again:  brk #0x99               // the guest's own: re-injected, one event each
        subs x0, x0, #1
        b.ne again
stop:   nop
        b _start
        .balign 2048
vectors:
        .skip 0x200
        mrs x21, elr_el1
        add x21, x21, #4
        msr elr_el1, x21
        eret
"""


def test_events_seen_counts_every_handled_record_past_the_log_size_and_reset():
    dbg = Debugger(GUEST_BRKS.format(n=7), log_size=3)
    assert dbg.events_seen == 0
    dbg.break_at("stop")
    dbg.cont()  # 7 re-injections, then ours
    assert dbg.events_seen == 8 and len(dbg.events) == 3
    assert dbg.events[-1].verdict.name == "BREAKPOINT"
    dbg.step()  # one more record
    assert dbg.events_seen == 9
    dbg.reset()
    assert dbg.events_seen == 9  # the count goes on across reset
    dbg.cont()
    assert dbg.events_seen == 17


@pytest.mark.parametrize(
    "halt, why",
    [
        (PSCI_OFF, "the guest powered off (PSCI SYSTEM_OFF)"),
        ("wfi", "WFI: waiting for an interrupt"),
    ],
)
def test_a_halted_guest_stays_halted_until_reset(halt, why):
    # what follows the halt would run on (x9 counting up) if cont() entered the guest again
    dbg = Debugger(f"_start: mov x0, #1\n{halt}\nafter: add x9, x9, #1\n b after\n")
    first = dbg.cont()
    assert first.reason is StopReason.HALTED and why in first.message
    pc, seen, x9 = dbg.pc, dbg.events_seen, dbg.read_register("x9")
    for action in (lambda: dbg.cont(1), dbg.step, dbg.cont):
        again = action()
        assert again.reason is StopReason.HALTED and again is not first
        assert again.pc == pc and again.exit is first.exit
        assert again.message.startswith(f"halted at {pc:#x}: still halted (")
        assert why in again.message and "until reset()" in again.message
        assert dbg.last_stop is again
    assert x9 == 0 and (dbg.pc, dbg.events_seen, dbg.read_register("x9")) == (pc, seen, 0)
    dbg.reset()
    assert dbg.cont().reason is StopReason.HALTED and dbg.events_seen == seen + 1


def test_a_halt_inside_a_step_over_also_stays():
    dbg = Debugger(counting_loop(1))
    dbg.break_at("done+8")  # on the hvc itself
    assert dbg.cont().reason is StopReason.BREAKPOINT
    assert dbg.cont().reason is StopReason.HALTED  # the step over the hvc powers off
    assert "still halted" in dbg.cont().message


def test_a_brk_overwritten_in_its_own_block_stops_once_then_the_guests_word_runs():
    src = f"""
_start: adr x1, target
        movz w2, #0x201f
        movk w2, #0xd503, lsl #16
        str w2, [x1]            // a NOP over target, in the block that ends with it
target: mov x5, #1
        {PSCI_OFF}
"""
    dbg = Debugger(assemble(src, base=BASE))
    bp = dbg.break_at("target")
    stop = dbg.cont()
    assert stop.reason is StopReason.BREAKPOINT and stop.pc == bp.pc
    assert stop.exit.debug.hsr == 0xF2000000
    assert "ours; the BRK that trapped is no longer in memory" in stop.message
    # the guest's NOP runs, not the saved mov: x5 stays 0, and memory keeps the NOP
    assert dbg.cont().reason is StopReason.HALTED
    assert dbg.read_register("x5") == 0 and dbg.raw_memory(bp.pc, 4) == to_bytes(NOP)
    assert "no longer in memory" in dbg.log_lines()[0]


def test_a_runaway_guest_returns_budget():
    dbg = Debugger(assemble("spin: b spin", base=BASE))
    t = time.monotonic()
    stop = dbg.cont(0.05)
    assert stop.reason is StopReason.BUDGET and time.monotonic() - t < 1
    stop = dbg.cont(armbp.kvm.abi.Budget(instructions=1000))
    assert stop.reason is StopReason.BUDGET


def test_an_unmapped_access_is_a_fault_naming_the_address():
    dbg = Debugger(assemble("mov x1, #0x100000\nmovk x1, #0x1234\nldr x2, [x1]", base=BASE))
    stop = dbg.cont()
    assert stop.reason is StopReason.FAULT and stop.pc == BASE + 8
    assert "0x101234" in stop.message and "read" in stop.message


def test_a_fault_in_the_displaced_slot_is_reported_at_the_breakpoint():
    dbg = Debugger(assemble("mov x1, #0x100000\nload: ldr x2, [x1]\nb .", base=BASE))
    dbg.break_at("load")
    assert dbg.cont().pc == BASE + 4
    stop = dbg.cont()
    assert stop.reason is StopReason.FAULT and stop.pc == BASE + 4 == dbg.pc
    assert stop.exit.pc == BASE + 4 and stop.exit.mmio.address == 0x100000


def test_a_budget_in_the_slot_is_reported_where_the_guest_is():
    dbg = Debugger(assemble("nop\nspin: add x1, x1, #1\nb spin", base=BASE))
    dbg.break_at("spin")
    assert dbg.cont().pc == BASE + 4
    stop = dbg.cont(armbp.kvm.abi.Budget(instructions=1))  # the slot's add, then stop
    assert stop.reason is StopReason.BUDGET
    assert stop.pc == BASE + 8 and dbg.registers()["x1"] == 1


def test_a_breakpoint_not_yet_executed_is_hit_not_stepped_over():
    dbg = Debugger(assemble("spin: add x1, x1, #1\nb spin", base=BASE))
    dbg.break_at("spin")  # at the entry point
    assert dbg.cont().pc == BASE and dbg.registers()["x1"] == 0
    assert dbg.cont().pc == BASE and dbg.registers()["x1"] == 1
    # a time slice that ends exactly on the BRK must not lose the hit
    dbg = Debugger(assemble("nop\nspin: add x1, x1, #1\nb spin", base=BASE))
    dbg.break_at("spin")
    stop = dbg.cont(armbp.kvm.abi.Budget(instructions=1))  # the nop: now at spin
    assert stop.reason is StopReason.BUDGET and stop.pc == BASE + 4
    stop = dbg.cont()
    assert stop.reason is StopReason.BREAKPOINT and dbg.registers()["x1"] == 0


def test_a_step_that_lands_on_a_breakpoint_is_then_stepped_over():
    dbg = Debugger(assemble("nop\nspin: add x1, x1, #1\nb spin", base=BASE))
    dbg.break_at("spin")
    assert dbg.step().pc == BASE + 4
    assert dbg.cont().pc == BASE + 4 and dbg.registers()["x1"] == 1


@pytest.mark.parametrize(
    "insn, expected_pc",
    [
        ("b.ne next", "next"),  # branch: the textbook step-over
        ("adr x5, next", "after"),  # PC-relative (x5: the power-off zeroes x1-x3)
        ("add x3, x3, #1", "after"),  # displaced
    ],
)
def test_step_and_cont_from_a_breakpoint_on_any_kind_of_instruction(insn, expected_pc):
    src = f"""
_start: mov x0, #1
        cmp x0, #0
here:   {insn}
after:  nop
        nop
next:   nop
        {PSCI_OFF}
"""
    prog = assemble(src, base=BASE)
    dbg = Debugger(prog)
    dbg.break_at("here")
    assert dbg.cont().pc == prog.symbols["here"]
    stop = dbg.step()
    assert stop.reason is StopReason.STEP and stop.pc == prog.symbols[expected_pc]
    assert dbg.raw_memory(prog.symbols["here"], 4) == to_bytes(BRK0)  # re-inserted
    if insn.startswith("adr"):
        assert dbg.read_register("x5") == prog.symbols["next"]
    dbg.reset()
    assert dbg.cont().pc == prog.symbols["here"]
    assert dbg.cont().reason is StopReason.HALTED
    if insn.startswith("adr"):
        assert dbg.read_register("x5") == prog.symbols["next"]


def test_displaceable_classes():
    yes = [
        "add x1, x1, #1",
        "subs x0, x0, #1",
        "ldr x2, [x1, #8]",
        "str w2, [x1]",
        "mul x1, x2, x3",
        "movz x1, #5",
        "ldp x1, x2, [sp]",
        "and x1, x2, #0xff",
        "nop",
        "yield",
        "sev",
        "isb",
        "dmb ish",
        "dsb sy",
        "clrex",
    ]
    no = [
        "b here",
        "bl here",
        "b.ne here",
        "cbz x0, here",
        "tbz x0, #1, here",
        "ret",
        "br x1",
        "adr x1, here",
        "adrp x1, here",
        "ldr x1, here",
        "ldr w1, here",
        "svc #0",
        "brk #0",
        "hvc #0",
        "wfi",
        "wfe",
        "mrs x0, esr_el1",
        "msr vbar_el1, x0",
        "eret",
        "udf #0",
    ]
    for text in yes + no:
        word = from_bytes(assemble(f"here: {text}", base=BASE).code[:4])
        assert displaceable(word) is (text in yes), text


def test_write_memory_over_a_breakpoint_updates_the_saved_instruction():
    dbg = Debugger(assemble(counting_loop(3), base=BASE))
    dbg.break_at("loop")
    add5 = 0x91001484  # add x4, x4, #5
    dbg.write_memory(BASE + 8, to_bytes(add5))
    assert dbg.raw_memory(BASE + 8, 4) == to_bytes(BRK0)
    assert dbg.read_memory(BASE + 8, 4) == to_bytes(add5)
    assert dbg.breakpoints[0].saved_insn == add5
    stops = run_to_end(dbg)
    assert stops[-1].reason is StopReason.HALTED and dbg.registers()["x4"] == 15


def test_bad_input_is_refused_and_a_failed_insert_changes_nothing():
    dbg = Debugger(assemble(counting_loop(3), base=BASE))
    before = dbg.raw_memory(BASE, 24)
    with pytest.raises(ValueError, match="unknown symbol 'nowhere'"):
        dbg.break_at("nowhere")
    with pytest.raises(BreakpointError, match="misaligned"):
        dbg.break_at(BASE + 2)
    with pytest.raises(BreakpointError) as e:
        dbg.break_at(0x900000)
    assert e.value.errno == "EINVAL" and "0x900000" in str(e.value)
    with pytest.raises(BreakpointError) as e:
        dbg.delete("loop")
    assert e.value.errno == "ENOENT"
    assert dbg.breakpoints == [] and dbg.raw_memory(BASE, 24) == before
    assert dbg.vcpu.guest_debug == 0
    with pytest.raises(MemoryFault):
        dbg.read_memory(0x900000, 4)
    with pytest.raises(ValueError, match="expected a non-negative"):
        dbg.read_memory(-4, 4)
    with pytest.raises(ValueError, match="budget"):
        dbg.cont("soon")


def test_registers_listing_and_log_are_plain_data():
    prog = assemble(counting_loop(2), base=BASE)
    dbg = Debugger(prog)
    dbg.break_at("loop")
    dbg.cont()
    regs = dbg.registers()
    assert list(regs) == [f"x{i}" for i in range(31)] + ["sp", "pc", "pstate"]
    assert regs["pc"] == prog.symbols["loop"]
    lines = dbg.listing()
    marked = [ln for ln in lines if ln.is_breakpoint]
    assert len(marked) == 1 and marked[0].is_pc and marked[0].text == "add x4, x4, #1"
    assert marked[0].memory_word == BRK0
    assert dbg.log_lines() == [
        "DEBUG exit at 0x40008: hsr=0xf2000000, EC 0x3C (BRK (AArch64)) → breakpoint (ours)"
    ]


def test_reset_keeps_the_breakpoints():
    dbg = Debugger(assemble(counting_loop(3), base=BASE))
    dbg.break_at("loop")
    dbg.break_at("loop")
    dbg.cont()
    dbg.cont()
    dbg.reset()
    assert [(bp.pc, bp.use_count) for bp in dbg.breakpoints] == [(BASE + 8, 2)]
    assert dbg.pc == BASE and dbg.registers()["x1"] == 0
    assert dbg.cont().pc == BASE + 8


def test_interrupt_from_another_thread():
    dbg = Debugger(assemble("spin: b spin", base=BASE))
    threading.Timer(0.05, dbg.interrupt).start()
    stop = dbg.cont(10)
    assert stop.reason is StopReason.BUDGET and "interrupted" in stop.message


def test_source_is_accepted_and_symbol_plus_offset_resolves():
    dbg = Debugger(counting_loop(1))
    assert dbg.address_of("loop+4") == dbg.address_of("body") == BASE + 12


def test_every_stop_is_a_new_record():
    from armbp.debugger import Stop

    dbg = Debugger(assemble(counting_loop(3), base=BASE))
    dbg.break_at("loop")
    first, second = dbg.cont(), dbg.cont()
    assert first is not second and first.exit is second.exit  # exits are shared values
    assert first == Stop(first.reason, first.pc, first.exit, first.note, first.breakpoint)
    assert not hasattr(first, "__dict__")  # slots: no stray attribute can be set
    assert dbg.events[-1] is not dbg.events[-2]
