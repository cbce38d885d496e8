"""The step-over done right: every class of instruction under a breakpoint, the guest's own
BRK, an instruction that rewrites itself, a scratch slot the guest cannot see, and hits
counted once whatever the time slice.

The oracle throughout is the guest without a debugger (or the instruction really executed
in place): a breakpoint may change when the guest stops, never what it computes.
"""

from __future__ import annotations

import random
import threading
import time

import pytest

import armbp.kvm.abi
import armbp.kvm.unicorn.core
from armbp import assemble
from armbp.debugger import Debugger, StopReason
from armbp.displaced import plan
from armbp.encodings import BRK0, from_bytes, to_bytes
from armbp.kvm.abi import VCpuBusy
from armbp.memory import MemoryFault
from armbp.table import BreakpointError, BreakpointOverwritten
from tests.conftest import PSCI_OFF, guest_with_vectors

BASE = 0x40000


def run_to_end(dbg: Debugger, budget: float | None = None, limit: int = 100_000) -> list:
    """``cont`` until the guest halts; every stop on the way."""
    stops = []
    for _ in range(limit):
        stop = dbg.cont(budget)
        stops.append(stop)
        if stop.reason is StopReason.HALTED:
            return stops
        assert stop.reason in (StopReason.BREAKPOINT, StopReason.BUDGET), stop.message
    raise AssertionError(f"no halt after {limit} stops")


def state(dbg: Debugger) -> dict[str, int]:
    """Everything the instructions under test can change."""
    regs = dbg.registers()
    for name in ("v4", "nzcv", "sp_el0", "elr_el1", "esr_el1"):
        regs[name] = dbg.read_register(name)
    return regs


# -- 5. every class, fixed up, against the instruction really executed -------------------------

SETUP = """
_start: movz x0, #0
        mov x1, #5
        movn x2, #0                 // all ones: negative, w2 = 0xffffffff
        mov x3, #0x10               // bit 4 set
        movz x7, #1, lsl #32        // x7 != 0 but w7 == 0; bit 32 set
        adr x5, fwd
        adr x6, back
        adr x30, back
        mov x4, #0x77
        {pre}
        b here
        .balign 16
lit32:  .word 0x89abcdef            // a literal with bit 31 set (LDR W zero-, LDRSW sign-extends)
        .word 0
lit64:  .quad 0x0123456789abcdef
lit128: .quad 0x1111222233334444
        .quad 0x5555666677778888
back:   nop                         // a backward target
        {off}
        .skip {gap}
here:   {insn}
after:  nop
        {off}
fwd:    nop                         // a forward target
        {off}
"""

_LITERAL_OPS = {
    "ldr s4": 0x1C00_0004,
    "ldr d4": 0x5C00_0004,
    "ldr q4": 0x9C00_0004,
    "prfm pldl1keep": 0xD800_0000,
}


def class_program(insn: str, pre: str = "", gap: int = 0):
    """The test guest with ``insn`` at ``here``; a literal form the assembler lacks
    (``ldr q4, lit128``) is encoded here (Arm ARM C7.2.192 LDR (literal, SIMD&FP), C6.2.208
    PRFM (literal)): imm19 = (label - here) / 4 in bits [23:5]."""
    src = SETUP.format(pre=pre, insn=insn, off=PSCI_OFF.replace("\n", "\n        "), gap=gap)
    op, _, label = insn.partition(",")
    if op in _LITERAL_OPS:
        prog = assemble(src.replace(insn, "nop"), base=BASE)
        imm19 = (prog.symbols[label.strip()] - prog.symbols["here"]) // 4 & 0x7FFFF
        src = src.replace(insn, f".inst {_LITERAL_OPS[op] | imm19 << 5:#x}")
    return assemble(src, base=BASE)


CLASSES = [
    # (instruction at here, extra setup before `b here`)
    ("b fwd", ""),
    ("b back", ""),
    ("bl fwd", ""),
    ("bl back", ""),
    ("b.eq fwd", "cmp x1, #5"),
    ("b.eq fwd", "cmp x1, #6"),  # taken / not taken
    ("b.lt back", "cmp x1, #6"),
    ("b.lt back", "cmp x1, #4"),
    ("b.hi fwd", "cmp x2, #1"),
    ("b.mi back", "cmp x0, #1"),
    ("cbz x0, fwd", ""),
    ("cbz x1, fwd", ""),
    ("cbnz x1, back", ""),
    ("cbnz x0, back", ""),
    ("cbz w7, fwd", ""),
    ("cbz x7, fwd", ""),
    ("cbnz w7, back", ""),
    ("cbnz w2, back", ""),
    ("tbz x3, #4, fwd", ""),
    ("tbnz x3, #4, back", ""),
    ("tbz w3, #3, fwd", ""),
    ("tbnz x7, #32, fwd", ""),
    ("tbz x7, #32, back", ""),
    ("tbnz w2, #31, back", ""),
    ("adr x9, fwd", ""),
    ("adr x9, back", ""),
    ("adr x9, here", ""),
    ("adr xzr, fwd", ""),
    ("adrp x9, fwd", ""),
    ("adrp x9, back", ""),
    ("adrp x9, lit32", ""),
    ("ldr x9, lit64", ""),
    ("ldr w9, lit32", ""),
    ("ldrsw x9, lit32", ""),
    ("ldr x30, lit64", ""),
    ("ldr w4, lit64", ""),
    ("ldr s4, lit32", ""),
    ("ldr d4, lit64", ""),
    ("ldr q4, lit128", ""),
    ("prfm pldl1keep, lit64", ""),
    ("br x5", ""),
    ("br x6", ""),
    ("blr x5", ""),
    ("blr x6", ""),
    ("blr x30", ""),
    ("ret", ""),
    ("ret x5", ""),
    ("blr x30", "adr x30, fwd"),
    ("ret", "adr x30, fwd"),
    ("add x9, x1, #3", ""),
    ("ldr x9, [x6, #-16]", ""),
    ("str x1, [sp, #-16]!", ""),
    ("nop", ""),
    ("isb", ""),
    ("dmb ish", ""),
    ("clrex", ""),  # hints, barriers
]


def _real(prog) -> tuple[StopReason, dict[str, int]]:
    """The instruction at ``here`` really executed: single steps from the entry, no
    breakpoint anywhere, until the step after ``here``."""
    dbg = Debugger(prog)
    while dbg.pc != prog.symbols["here"]:
        assert dbg.step().reason is StopReason.STEP
    stop = dbg.step()
    return stop.reason, state(dbg)


@pytest.mark.parametrize("gap", [0, 0x1000], ids=["near", "next-page"])
@pytest.mark.parametrize(
    "insn, pre", CLASSES, ids=[f"{i} [{p}]" if p else i for i, p in CLASSES]
)
def test_every_class_steps_over_as_if_executed_in_place(insn, pre, gap):
    """The state at the first stop after the step-over (breakpoints on every place the
    instruction can go) equals the state after really executing it; and no class takes
    the in-place step. ``gap`` puts ``here`` a page after the literals and ``back``, so
    that ADRP's page and the negative offsets are really different."""
    prog = class_program(insn, pre, gap)
    reason, real = _real(prog)
    assert reason is StopReason.STEP
    dbg = Debugger(prog)
    for where in ("here", "after", "fwd", "back"):
        dbg.break_at(where)
    assert dbg.cont().pc == prog.symbols["here"]
    stop = dbg.cont()
    assert stop.reason is StopReason.BREAKPOINT, stop.message
    assert state(dbg) == real
    assert dbg.step_overs == {"displaced": 1, "inline": 0}, dbg.step_overs
    assert dbg.raw_memory(prog.symbols["here"], 4) == to_bytes(BRK0)  # never lifted


def test_the_fixed_up_classes_are_planned_not_stepped_in_place():
    """``plan`` covers exactly the classes the issue names and refuses the rest."""
    slot = BASE + 0x10000
    for insn, pre in CLASSES:
        prog = class_program(insn, pre)
        here = prog.symbols["here"]
        word = from_bytes(prog.code[here - BASE : here - BASE + 4])
        assert plan(word, here, slot) is not None, insn
    for text in (
        "svc #0",
        "brk #0x99",
        "hvc #0",
        "wfi",
        "wfe",
        "mrs x0, esr_el1",
        "eret",
        "udf #0",
        "dc zva, x0",
        "msr vbar_el1, x0",
    ):
        word = from_bytes(assemble(f"here: {text}", base=BASE).code[:4])
        assert plan(word, BASE, slot) is None, text


def test_a_literal_load_that_faults_is_stepped_in_place_and_faults_there():
    """The slot would load into Xt from Xt: a fault there would leave Xt changed. An
    unreadable literal takes the in-place step, whose fault leaves x9 as it was."""
    src = f"mov x9, #0x55\nhere: .inst {0x5800_0009 | 0x20000 << 5:#x}\n{PSCI_OFF}"  # ldr x9, .+0x80000
    prog = assemble(src, base=BASE)
    reason, real = _real(prog)
    assert reason is StopReason.FAULT
    dbg = Debugger(prog)
    dbg.break_at("here")
    dbg.cont()
    stop = dbg.cont()
    assert stop.reason is StopReason.FAULT and stop.pc == prog.symbols["here"]
    assert stop.exit.mmio.address == prog.symbols["here"] + 0x80000
    assert state(dbg) == real and dbg.read_register("x9") == 0x55
    assert dbg.step_overs == {"displaced": 0, "inline": 1}


# -- 1. a breakpoint on the guest's own BRK --------------------------------------------------------


@pytest.mark.parametrize("displaced", [True, False])
def test_a_breakpoint_on_the_guests_own_brk_lets_its_handler_run(displaced):
    """Each cont() reports the breakpoint once and then the guest's BRK reaches the
    guest's vectors (its handler counts it in x23 and skips it), as without a debugger."""
    n = 5
    prog = assemble(guest_with_vectors(n), base=BASE)
    plain = Debugger(prog)
    assert plain.cont().reason is StopReason.HALTED
    dbg = Debugger(prog, displaced_step=displaced)
    dbg.break_at("guest_brk")
    stops = run_to_end(dbg)
    assert [s.pc for s in stops[:-1]] == [prog.symbols["guest_brk"]] * n
    assert dbg.hits == {prog.symbols["guest_brk"]: n}
    assert dbg.read_register("x23") == n
    assert dbg.read_register("x20") == 0xF200_0099  # the guest saw its own BRK #0x99
    assert state(dbg) == state(plain)


def test_stepping_the_guests_own_brk_ends_at_its_vector():
    prog = assemble(guest_with_vectors(2), base=BASE)
    dbg = Debugger(prog)
    dbg.break_at("guest_brk")
    assert dbg.cont().pc == prog.symbols["guest_brk"]
    stop = dbg.step()
    assert stop.reason is StopReason.STEP and stop.pc == prog.symbols["vectors"] + 0x200
    assert dbg.read_register("esr_el1") == 0xF200_0099
    assert dbg.read_register("elr_el1") == prog.symbols["guest_brk"]
    assert dbg.raw_memory(prog.symbols["guest_brk"], 4) == to_bytes(BRK0)  # re-inserted
    assert dbg.cont().pc == prog.symbols["guest_brk"]  # next round


# -- 2. the scratch slot is not guest memory -------------------------------------------------------

SLOT_GUEST = f"""
_start: add x1, x1, #1          // a breakpoint here fills the slot
gate:   mrs x9, midr_el1        // and one here (stepped in place) ends the displaced runs
        {{access}}
        {PSCI_OFF}
"""


@pytest.mark.parametrize("delete", [False, True], ids=["kept", "deleted"])
@pytest.mark.parametrize(
    "access, kind",
    [
        ("ldr x2, [x0]", "read"),
        ("str x1, [x0]", "write"),
        ("strb w1, [x0, #8]", "write"),
        ("br x0", "fetch"),
        ("add x0, x0, #4\nbr x0", "fetch"),
        ("ldr w2, [x0, #0xffc]", "read"),
    ],
)
def test_the_guest_cannot_reach_the_slot(access, kind, delete):
    """Loads, stores and fetches at the slot fault as unmapped memory would, also after a
    step-over has put an instruction there, with the breakpoints kept or all deleted.

    (The one gap, a Unicorn limit documented in ``VCpu.hide_scratch``: a load in the same
    run as a displaced step-over, before the next stop, is not refused.)"""
    dbg = Debugger(SLOT_GUEST.format(access=access))
    slot = dbg.vcpu.scratch_base
    dbg.write_register("x0", slot)
    dbg.break_at("_start")
    dbg.break_at("gate")
    assert dbg.cont().reason is StopReason.BREAKPOINT
    assert dbg.cont().pc == dbg.address_of("gate")  # through the slot
    assert dbg.step_overs["displaced"] == 1 and dbg.read_register("x1") == 1
    if delete:
        dbg.delete_all()
        dbg.write_register("pc", dbg.address_of("gate") + 4)
    stop = dbg.cont()
    assert stop.reason is StopReason.FAULT, stop.message
    assert stop.exit.mmio.access == kind
    assert slot <= stop.exit.mmio.address < slot + armbp.kvm.abi.PAGE_SIZE
    assert stop.exit.mmio.why == "nothing is mapped there"
    assert dbg.read_register("x2") == 0
    if kind == "fetch":
        assert stop.pc == stop.exit.mmio.address  # where the guest branched to
        assert dbg.read_register("x1") == 1  # the slot's add did not run again


def test_a_guest_store_past_the_image_does_not_change_the_next_step_over():
    dbg = Debugger("""
_start: mov x3, #3
loop:   add x1, x1, #1
        str x3, [x0]            // at the slot: refused
        b loop
""")
    dbg.write_register("x0", dbg.vcpu.scratch_base + 4)
    dbg.break_at("loop")
    dbg.cont()
    assert dbg.cont().reason is StopReason.FAULT
    assert dbg.read_register("x1") == 1
    dbg.write_register("pc", dbg.address_of("loop") + 8)  # skip the store
    assert dbg.cont().pc == dbg.address_of("loop")
    dbg.cont()
    assert dbg.read_register("x1") == 2 and dbg.pc == dbg.address_of("loop") + 4


def test_the_slot_is_refused_by_break_at_and_the_memory_calls():
    dbg = Debugger(f"_start: add x1, x1, #1\n{PSCI_OFF}")
    slot = dbg.vcpu.scratch_base
    dbg.break_at("_start")
    dbg.cont()
    dbg.cont()  # the slot holds the add now
    for address in (slot, slot + 4, slot + 0xFFC):
        with pytest.raises(BreakpointError, match=f"{address:#x}"):
            dbg.break_at(address)
        for call in (
            lambda address=address: dbg.read_memory(address, 4),
            lambda address=address: dbg.raw_memory(address, 4),
            lambda address=address: dbg.write_memory(address, b"\0\0\0\0"),
        ):
            with pytest.raises(MemoryFault) as e:
                call()
            assert e.value.address == address and "not mapped" in str(e.value)
    with pytest.raises(MemoryFault):
        dbg.read_memory(slot - 4, 8)  # straddling the slot too
    assert [bp.pc for bp in dbg.breakpoints] == [dbg.address_of("_start")]
    assert dbg.cont().reason is StopReason.HALTED


# -- 3. an instruction that writes its own word ----------------------------------------------------

SELF_STORE = f"""
_start: adr x0, here
        ldr w1, new
        mov x2, #2
loop:
here:   str w1, [x0]            // replaces itself with `add x5, x5, #1`
        subs x2, x2, #1
        b.ne loop
        {PSCI_OFF}
new:    .word 0x910004a5        // add x5, x5, #1
"""

SELF_ZERO = f"""
_start: adr x0, here
        b here
        .balign 64
        .skip 60
here:   dc zva, x0              // zeroes its own 64-byte block, itself included
after:  {PSCI_OFF}
"""


@pytest.mark.parametrize("displaced", [True, False])
@pytest.mark.parametrize(
    "source, new_word", [(SELF_STORE, 0x910004A5), (SELF_ZERO, 0)], ids=["str", "dc-zva"]
)
def test_an_instruction_that_writes_its_own_word_wins(source, new_word, displaced):
    """The guest's word stays in memory (the BRK is not written back over it), the guest
    runs it as it would without a debugger, and delete() refuses to "restore" the old
    instruction: the breakpoint is one the guest overwrote."""
    prog = assemble(source, base=BASE)
    plain = Debugger(prog)
    assert plain.cont().reason is StopReason.HALTED
    dbg = Debugger(prog, displaced_step=displaced)
    here = dbg.break_at("here").pc
    assert dbg.cont().pc == here
    stops = run_to_end(dbg)
    assert all(s.reason is not StopReason.BREAKPOINT for s in stops)  # no more hits
    assert state(dbg) == state(plain)
    assert dbg.raw_memory(here, 4) == to_bytes(new_word)
    assert dbg.read_memory(here, 4) == to_bytes(new_word)
    with pytest.raises(BreakpointOverwritten) as e:
        dbg.delete(here)
    assert e.value.found == new_word and dbg.raw_memory(here, 4) == to_bytes(new_word)
    dbg.delete(here, force=True)
    assert dbg.raw_memory(here, 4) == to_bytes(new_word) and not dbg.breakpoints


def test_stepping_an_instruction_that_writes_its_own_word():
    prog = assemble(SELF_STORE, base=BASE)
    dbg = Debugger(prog)
    here = dbg.break_at("here").pc
    dbg.cont()
    assert dbg.step().pc == here + 4
    assert dbg.raw_memory(here, 4) == to_bytes(0x910004A5)


# -- 4. one report per hit, whatever the slice -----------------------------------------------------

SLICED = f"""
_start: mov x0, #{{n}}
loop:   add x4, x4, #1          // straight-line (x4, x5: the power-off zeroes x1-x3)
        cbnz x0, body           // conditional, always taken
        b .
body:   adr x5, loop            // PC-relative
        b tail                  // unconditional
tail:   mrs x9, midr_el1        // in place (a system register read)
        subs x0, x0, #1
        b.ne loop               // conditional, taken but the last time
        {PSCI_OFF}
"""

WHERE = ["loop", "loop+4", "body", "body+4", "tail", "tail+8"]


@pytest.mark.parametrize("displaced", [True, False])
@pytest.mark.parametrize("where", WHERE)
def test_an_interrupt_before_the_step_over_does_not_report_the_hit_again(where, displaced):
    """The deterministic case of a slice ending inside a step-over: a pending interrupt
    stops the run before the stepped instruction executes. The guest stays on the
    breakpoint and the next cont() steps over it: no second report of the same hit."""
    n = 3
    dbg = Debugger(SLICED.format(n=n), displaced_step=displaced)
    pc = dbg.break_at(where).pc
    assert dbg.cont().pc == pc
    dbg.interrupt()
    stop = dbg.cont()
    assert stop.reason is StopReason.BUDGET
    # on the breakpoint, its step-over still to do; or past it when the step-over was
    # done on the registers before the run (``b tail``: PC = tail, nothing to cut)
    jumped = where == "body+4" and displaced
    assert stop.pc == dbg.pc == (dbg.address_of("tail") if jumped else pc)
    count = dbg.read_register("x4")
    stops = run_to_end(dbg)
    assert dbg.hits == {pc: n}
    assert [s.reason for s in stops] == [StopReason.BREAKPOINT] * (n - 1) + [StopReason.HALTED]
    assert dbg.read_register("x4") == n and count <= 1


def _hits_sliced(source: str, where: list[str], displaced: bool, slices) -> tuple:
    dbg = Debugger(source, displaced_step=displaced)
    for w in where:
        dbg.break_at(w)
    for _ in range(1_000_000):
        stop = dbg.cont(next(slices))
        if stop.reason is StopReason.HALTED:
            return dbg.hits, state(dbg)
        assert stop.reason in (StopReason.BREAKPOINT, StopReason.BUDGET), stop.message
    raise AssertionError("no halt")


@pytest.mark.parametrize("displaced", [True, False])
def test_hits_are_counted_once_over_many_slice_sizes(displaced):
    """Property: for random slice sizes from 1 µs to 2 ms, the hit counts and the final
    state equal those of one unsliced run (which has exactly n hits per breakpoint)."""
    n = 150
    src = SLICED.format(n=n)
    rng = random.Random(9)
    whole = _hits_sliced(src, WHERE, displaced, iter(lambda: None, 0))
    assert set(whole[0].values()) == {n}
    for fixed in (1e-6, 3e-6, 1e-5, 1e-4, 5e-4, 2e-3):
        assert _hits_sliced(src, WHERE, displaced, iter(lambda: fixed, 0)) == whole, fixed  # noqa: B023
    for _ in range(4):
        where = rng.sample(WHERE, rng.randint(1, len(WHERE)))
        expect = _hits_sliced(src, where, displaced, iter(lambda: None, 0))
        got = _hits_sliced(src, where, displaced, iter(lambda: 10 ** rng.uniform(-6, -2.7), 0))
        assert got == expect, where


def test_the_lesson_5_answer_agrees_with_the_debugger(capsys):
    """Exercise "guest-brk-under-breakpoint": the ESR_EL1 the demo guest's handler reads
    when the debugger's breakpoint is on its BRK; and the likely wrong answers get hints."""
    from armbp import check
    from armbp.demo import demo_program

    prog = demo_program()
    dbg = Debugger(prog)
    dbg.break_at("loop+4")
    assert dbg.cont().pc == prog.symbols["loop"] + 4
    assert dbg.cont().pc == prog.symbols["loop"] + 4
    assert dbg.read_register("x23") == 1
    assert check("guest-brk-under-breakpoint", dbg.read_register("x20"))
    assert "lifted" in dbg.log_lines()[1]
    for wrong, words in (
        (0xF200_0000, "debugger's own BRK"),
        (0, "livelock"),
        (0xCB00_0022, "software-step"),
    ):
        result = check("guest-brk-under-breakpoint", wrong)
        assert not result and words in result.message
    capsys.readouterr()


def test_out_of_range_and_misaligned_cases_fall_back_and_still_agree():
    """A BL whose target the slot's B cannot reach is done on the registers (x30, PC); a
    B.cond that far is stepped in place; an LDR X (literal) of a word that is not 8-byte
    aligned is stepped in place (a fault in the slot would leave Xt changed)."""
    far = BASE + (1 << 28)  # a slot 256 MiB away
    bl = from_bytes(assemble("bl next\nnext: nop", base=BASE).code[:4])
    fix = plan(bl, BASE, far)
    assert (fix.kind, fix.target, fix.link) == ("jump", BASE + 4, BASE + 4)
    bne = from_bytes(assemble("b.ne next\nnext: nop", base=BASE).code[:4])
    assert plan(bne, BASE, far) is None and plan(bne, BASE, BASE + 0x1000).kind == "slot"

    prog = class_program("ldr x9, lit32", "")
    here = prog.symbols["here"]
    imm19 = (prog.symbols["lit32"] + 4 - here) // 4 & 0x7FFFF  # lit32 + 4: 4- not 8-aligned
    src = SETUP.format(
        pre="",
        insn=f".inst {0x5800_0009 | imm19 << 5:#x}",
        off=PSCI_OFF.replace("\n", "\n        "),
        gap=0,
    )
    prog = assemble(src, base=BASE)
    reason, real = _real(prog)
    dbg = Debugger(prog)
    for where in ("here", "after"):
        dbg.break_at(where)
    dbg.cont()
    stop = dbg.cont()
    assert stop.reason is reason or (
        reason is StopReason.STEP and stop.reason is StopReason.BREAKPOINT
    )
    assert state(dbg) == real
    assert dbg.step_overs == {"displaced": 0, "inline": 1}


def test_unicorn_fact_a_fetch_makes_the_execute_only_page_readable_until_a_tlb_flush():
    """Why ``VCpu.hide_scratch`` exists (DESIGN.md, Unicorn facts): Unicorn checks a page's
    permissions on a TLB miss only, and a fetch fills the entry for reads too. Should an
    upgrade check them on every load, the gap documented in ``VCpu`` is gone."""
    from armbp.kvm.unicorn import VCpu

    prog = assemble(f"back: ldr x5, [x0]\n{PSCI_OFF}", base=BASE)
    cpu = VCpu(prog)
    slot = cpu.scratch_base
    b_back = 0x1400_0000 | (BASE - (slot + 4)) >> 2 & 0x3FF_FFFF  # B back, from slot + 4
    cpu.write_scratch(0, to_bytes(0x9100_0484) + to_bytes(b_back))
    cpu.uc.reg_write(armbp.kvm.unicorn.core.regs.UC_ARM64_REG_X0, slot)
    cpu.open_scratch(frozenset({slot}), {})
    cpu.pc = slot  # add x4, x4, #1; b back (x4, x5: the power-off zeroes x1-x3)
    exit_ = cpu.run()
    assert exit_.reason is armbp.kvm.abi.ExitReason.SYSTEM_EVENT  # the load went through
    assert cpu.read_register("x4") == 1
    assert cpu.read_register("x5") == 0x9100_0484 | b_back << 32  # our slot, read
    cpu.hide_scratch()
    cpu.uc.reg_write(
        armbp.kvm.unicorn.core.regs.UC_ARM64_REG_X0, slot
    )  # (PSCI_OFF changed x0)
    cpu.pc = BASE
    exit_ = cpu.run()
    assert exit_.reason is armbp.kvm.abi.ExitReason.MMIO and exit_.mmio.address == slot
    assert exit_.mmio.access == "read" and exit_.mmio.why == "nothing is mapped there"


def test_ctrl_c_on_a_hit_leaves_it_to_be_reported_not_stepped_over(monkeypatch):
    # The guest hits the breakpoint in a loop; the second hit is cut off by Ctrl-C before
    # it is reported. The next cont() must report that hit, not step over it silently.
    dbg = Debugger("""
_start: mov x1, #0
loop:   add x1, x1, #1
        b loop
""")
    dbg.break_at("loop")
    assert dbg.cont(5).reason is StopReason.BREAKPOINT  # hit 1, reported
    run = dbg.handler.run

    def interrupted_run(*args):
        run(*args)  # hit 2 happens ...
        raise KeyboardInterrupt  # ... and Ctrl-C lands before it is reported

    monkeypatch.setattr(dbg.handler, "run", interrupted_run)
    with pytest.raises(KeyboardInterrupt):
        dbg.cont(5)
    monkeypatch.undo()
    x1 = dbg.read_register("x1")
    stop = dbg.cont(5)
    assert stop.reason is StopReason.BREAKPOINT and stop.pc == dbg.address_of("loop")
    assert dbg.read_register("x1") == x1, "the add under the breakpoint ran unreported"


def test_cont_and_step_from_another_thread_during_a_run_are_refused():
    dbg = Debugger("_start: b _start\n")
    worker = threading.Thread(target=lambda: dbg.cont(10), daemon=True)
    worker.start()
    try:
        deadline = time.monotonic() + 5
        while dbg.vcpu._runner is None and time.monotonic() < deadline:
            time.sleep(0.001)
        for call in (lambda: dbg.cont(1), dbg.step):
            with pytest.raises(VCpuBusy):
                call()
        assert dbg.handler.stepping is False  # refused before it changed anything
    finally:
        dbg.interrupt()
        worker.join(10)
    assert not worker.is_alive()
