"""Hardware breakpoints, watchpoints and single-step, as KVM gives them (issue 11).

Every syndrome is checked against a value built here from the Arm ARM's field
definitions (ESR_ELx: EC [31:26], IL [25], ISS [24:0]; the ISS layouts of "Breakpoint",
"Software Step" and "Watchpoint" exceptions), not against the model's own builder.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

import armbp
from armbp import assemble
from armbp.debugger import Debugger, SlotsExhausted, StopReason
from armbp.hwdebug import HwSlots
from armbp.kvm.abi import (
    GUEST_DEBUG_HW_BPS,
    GUEST_DEBUG_HW_WPS,
    Budget,
    ExitReason,
    GuestDebug,
    GuestDebugArch,
)
from armbp.kvm.arch import DBGBCR_FIELDS, DBGWCR_FIELDS, with_fields
from armbp.kvm.unicorn import VCpu
from armbp.table import BreakpointError
from armbp.vmm import Verdict

# -- syndromes from the field definitions -------------------------------------------------------
IL = 1 << 25  # 32-bit instruction / RES1 for these classes
FSC_DEBUG = 0b100010  # IFSC/DFSC "Debug exception"
EC_BREAKPOINT_LOWER, EC_STEP_LOWER, EC_WATCH_LOWER = 0x30, 0x32, 0x34
EC_BREAKPOINT_SAME = 0x31
ISV, EX = 1 << 24, 1 << 6  # Software Step ISS
WNR, CM = 1 << 6, 1 << 8  # Watchpoint ISS


def syndrome(ec: int, iss: int) -> int:
    return ec << 26 | IL | iss


HW_BREAKPOINT_HSR = syndrome(EC_BREAKPOINT_LOWER, FSC_DEBUG)
STEP_HSR = syndrome(EC_STEP_LOWER, ISV | FSC_DEBUG)
STEP_EX_HSR = syndrome(EC_STEP_LOWER, ISV | EX | FSC_DEBUG)
WATCH_WRITE_HSR = syndrome(EC_WATCH_LOWER, WNR | FSC_DEBUG)  # CM = 0
WATCH_READ_HSR = syndrome(EC_WATCH_LOWER, FSC_DEBUG)


def test_the_syndromes_built_from_fields_are_the_known_values():
    assert HW_BREAKPOINT_HSR == 0xC200_0022
    assert STEP_HSR == 0xCB00_0022  # real KVM, a step over an add
    assert STEP_EX_HSR == 0xCB00_0062
    assert WATCH_WRITE_HSR == 0xD200_0062 and not WATCH_WRITE_HSR & CM
    assert WATCH_READ_HSR == 0xD200_0022


SRC = """
_start:
    adr x1, var
    mov x2, #7
store8:   str x2, [x1]
store1:   strb w2, [x1, #3]
load1:    ldrb w3, [x1, #3]
load8:    ldr x3, [x1]
ldxr_at:  ldxr x4, [x1]
add_at:   add x5, x5, #1
straddle: str x2, [x6]
lstraddle: ldr x3, [x6]
far_st:   str x2, [x1, #16]
far_ld:   ldr x7, [x1, #16]
    mov x0, #0x84000000
    movk x0, #8
    hvc #0
.balign 16
var:  .quad 0x1122334455667788
      .quad 0x99aabbccddeeff00
      .quad 0
"""
PROG = armbp.assemble(SRC)
S = PROG.symbols
VAR = S["var"]
BCR = with_fields(DBGBCR_FIELDS, E=1, PMC=0b11, BAS=0b1111)  # what QEMU writes: 0x1e7
HW = GuestDebug.ENABLE | GuestDebug.USE_HW


def _arch(**slots: tuple[int, ...]) -> GuestDebugArch:
    full = {k: tuple(v) + (0,) * (16 - len(v)) for k, v in slots.items()}
    return GuestDebugArch(**full)


def _wcr(bas: int, lsc: int, mask: int = 0) -> int:
    return with_fields(DBGWCR_FIELDS, E=1, PAC=0b11, LSC=lsc, BAS=bas, MASK=mask)


def _cpu_at(label: str, arch: GuestDebugArch | None, flags: int = HW) -> VCpu:
    cpu = VCpu(PROG)
    cpu.write_register("x1", VAR)
    cpu.write_register("x6", VAR + 5)
    cpu.write_register("x2", 7)
    cpu.pc = S[label]
    cpu.set_guest_debug(flags, arch)
    return cpu


def test_a_hardware_breakpoint_exits_before_its_instruction_and_writes_nothing():
    cpu = _cpu_at("add_at", _arch(dbg_bcr=(BCR,), dbg_bvr=(S["add_at"],)))
    before = cpu.memory.read(PROG.entry, 0x60)
    e = cpu.run(1.0)
    assert e.reason is ExitReason.DEBUG and e.debug is not None
    assert e.debug.hsr == HW_BREAKPOINT_HSR and e.debug.far == 0
    assert e.pc == S["add_at"] and cpu.read_register("x5") == 0  # not executed
    assert cpu.memory.read(PROG.entry, 0x60) == before  # no BRK anywhere


def test_a_step_over_an_ordinary_instruction_and_over_a_load_exclusive():
    cpu = _cpu_at("add_at", None, GuestDebug.ENABLE | GuestDebug.SINGLESTEP)
    e = cpu.run(1.0)
    assert e.debug is not None and e.debug.hsr == STEP_HSR and e.pc == S["add_at"] + 4
    cpu = _cpu_at("ldxr_at", None, GuestDebug.ENABLE | GuestDebug.SINGLESTEP)
    e = cpu.run(1.0)
    assert e.debug is not None and e.debug.hsr == STEP_EX_HSR and e.pc == S["ldxr_at"] + 4
    assert cpu.read_register("x4") == 0x1122334455667788


# (label, watched address, BAS, LSC, hsr, far): 1- and 8-byte, write/read/access, partial
# overlap, and an unaligned access straddling the watched bytes
WATCH_CASES = [
    ("store8", VAR, 0xFF, 0b10, WATCH_WRITE_HSR, VAR),  # 8-byte store, 8 watched bytes
    ("store1", VAR, 0b1000, 0b10, WATCH_WRITE_HSR, VAR + 3),  # 1-byte store on 1 byte
    ("load1", VAR, 0b1000, 0b01, WATCH_READ_HSR, VAR + 3),  # 1-byte load on 1 byte
    ("load8", VAR, 0xFF, 0b01, WATCH_READ_HSR, VAR),
    ("load1", VAR, 0xFF, 0b11, WATCH_READ_HSR, VAR + 3),  # access watch, a load
    ("store1", VAR, 0xFF, 0b11, WATCH_WRITE_HSR, VAR + 3),  # access watch, a store
    ("store8", VAR, 0b0100_0000, 0b10, WATCH_WRITE_HSR, VAR + 6),  # partial: 1 of 8 bytes
    ("straddle", VAR + 8, 0b11, 0b10, WATCH_WRITE_HSR, VAR + 8),  # var+5..+12 over +8..+9
    ("lstraddle", VAR + 8, 0b11, 0b01, WATCH_READ_HSR, VAR + 8),
]


@pytest.mark.parametrize("label, wvr, bas, lsc, hsr, far", WATCH_CASES)
def test_a_watchpoint_exits_before_the_access_with_wnr_and_far(label, wvr, bas, lsc, hsr, far):
    cpu = _cpu_at(label, _arch(dbg_wcr=(_wcr(bas, lsc),), dbg_wvr=(wvr,)))
    memory = cpu.memory.read(VAR, 24)
    e = cpu.run(1.0)
    assert e.reason is ExitReason.DEBUG and e.debug is not None, e
    assert (e.debug.hsr, e.debug.far, e.pc) == (hsr, far, S[label]), e
    assert cpu.memory.read(VAR, 24) == memory  # taken before the access changed memory
    assert cpu.read_register("x3") == 0  # a load has not written its register


def test_an_access_next_to_the_watched_bytes_on_their_page_runs_on_and_is_done():
    arch = _arch(dbg_wcr=(_wcr(0xFF, 0b11),), dbg_wvr=(VAR,))
    cpu = _cpu_at("far_st", arch)
    e = cpu.run(1.0)
    assert e.reason is ExitReason.SYSTEM_EVENT, e  # no stop: var+16 is not watched
    assert cpu.memory.read(VAR + 16, 8) == (7).to_bytes(8, "little")  # the store happened
    assert cpu.read_register("x7") == 7  # and the load after it read it back


def test_a_watch_on_a_read_only_page_leaves_its_faults_real():
    prog = armbp.assemble("_start: adr x1, data\nstr x2, [x1]\nb .\n.balign 8\ndata: .quad 0")
    ro = replace(prog, segments=tuple(replace(seg, flags="rx") for seg in prog.segments))
    cpu = VCpu(ro)
    cpu.set_guest_debug(HW, _arch(dbg_wcr=(_wcr(0xFF, 0b11),), dbg_wvr=(ro.symbols["data"],)))
    e = cpu.run(1.0)
    assert e.reason is ExitReason.MMIO and e.mmio is not None and e.mmio.access == "write"


def test_deleting_a_watch_gives_the_page_its_permissions_back_by_the_next_run():
    cpu = _cpu_at("store8", _arch(dbg_wcr=(_wcr(0xFF, 0b10),), dbg_wvr=(VAR,)))
    page = VAR & ~0xFFF

    def perms() -> list[int]:
        return [p for b, _e, p in cpu.uc.mem_regions() if b == page]

    assert perms() == [0b101]  # r-x: stores fault into the watch
    cpu.set_guest_debug(HW, GuestDebugArch())
    # kept until a run that is not a single step: a step over a watched store costs
    # nothing more than the hook then; the store is done all the same
    cpu.set_guest_debug(GuestDebug.ENABLE | GuestDebug.SINGLESTEP)
    assert cpu.run(1.0).debug.hsr == STEP_HSR  # type: ignore[union-attr]
    assert cpu.memory.read(VAR, 8) == (7).to_bytes(8, "little") and perms() == [0b101]
    cpu.set_guest_debug(GuestDebug.NONE)
    assert cpu.run(1.0).reason is ExitReason.SYSTEM_EVENT
    assert perms() == [0b111]


# -- validation ---------------------------------------------------------------------------------
BAD_SLOTS = [
    (
        {"dbg_bcr": (BCR | 1 << 20,), "dbg_bvr": (S["add_at"],)},
        r"DBGBCR0_EL1 = 0x1001e7 \(slot 0\): BT=0x1",
    ),
    ({"dbg_bcr": (BCR | 1 << 13,), "dbg_bvr": (0x40000,)}, r"DBGBCR0_EL1 .*HMC=0x1"),
    (
        {"dbg_bcr": (0, BCR | 1 << 14), "dbg_bvr": (0, 0x40000)},
        r"DBGBCR1_EL1 .*slot 1.*SSC=0x1",
    ),
    ({"dbg_bcr": (BCR & ~(0b1100 << 5),), "dbg_bvr": (0x40000,)}, r"BAS=0x3 .*0b1111"),
    ({"dbg_bcr": (BCR & ~0b110,), "dbg_bvr": (0x40000,)}, r"PMC=0b00"),
    ({"dbg_bcr": (BCR,), "dbg_bvr": (0x40002,)}, r"DBGBVR0_EL1 = 0x40002 .*RES0"),
    ({"dbg_wcr": (_wcr(0xFF, 0b10) | 1 << 20,), "dbg_wvr": (VAR,)}, r"DBGWCR0_EL1 .*WT=0x1"),
    ({"dbg_wcr": (_wcr(0xFF, 0),), "dbg_wvr": (VAR,)}, r"LSC=0b00 is reserved"),
    ({"dbg_wcr": (0, 0, _wcr(0b101, 0b10)), "dbg_wvr": (0, 0, VAR)}, r"DBGWCR2.*contiguous"),
    ({"dbg_wcr": (_wcr(0xFF, 0b10, mask=2),), "dbg_wvr": (VAR,)}, r"MASK=2 is reserved"),
    ({"dbg_wcr": (_wcr(0x0F, 0b10, mask=4),), "dbg_wvr": (VAR,)}, r"BAS=0x0f with MASK=4"),
    ({"dbg_wcr": (_wcr(0xFF, 0b10, mask=6),), "dbg_wvr": (VAR + 8,)}, r"DBGWVR0.*2\*\*6"),
    ({"dbg_wcr": (_wcr(0xFF, 0b10),), "dbg_wvr": (VAR + 4,)}, r"BAS\[7:4\] are RES0"),
    ({"dbg_bcr": (0,) * 6 + (BCR,)}, r"dbg_bcr\[6\] = 0x1e7: .*6 slots .*HW_BPS"),
    ({"dbg_wvr": (0,) * 4 + (VAR,)}, r"dbg_wvr\[4\] .*4 slots .*HW_WPS"),
]


@pytest.mark.parametrize("slots, message", BAD_SLOTS)
def test_an_unmodelled_slot_is_refused_by_name_and_nothing_changes(slots, message):
    cpu = _cpu_at("add_at", _arch(dbg_bcr=(BCR,), dbg_bvr=(S["add_at"],)))
    flags = cpu.guest_debug
    with pytest.raises(ValueError, match=message):
        cpu.set_guest_debug(HW, _arch(**slots))
    assert cpu.guest_debug == flags
    e = cpu.run(1.0)  # the breakpoint armed before is still the one armed
    assert e.debug is not None and (e.debug.hsr, e.pc) == (HW_BREAKPOINT_HSR, S["add_at"])


def test_the_slots_the_debugger_writes_are_the_ones_qemu_writes():
    slots = HwSlots()
    slots.add_breakpoint(0x40008)
    slots.add_watch(VAR + 2, 2, "write")
    slots.add_watch(0x10000, 0x1000, "access")
    arch = slots.arch()
    assert arch.dbg_bcr[0] == 0x1E7 and arch.dbg_bvr[0] == 0x40008
    # E, PAC 0b11, LSC 0b10, BAS 0b1100 for bytes 2..3
    assert (
        arch.dbg_wcr[0] == 1 | 0b11 << 1 | 0b10 << 3 | 0b1100 << 5 and arch.dbg_wvr[0] == VAR
    )
    assert arch.dbg_wcr[1] == 1 | 0b11 << 1 | 0b11 << 3 | 0xFF << 5 | 12 << 24
    assert slots.arch(frozenset({("w", 0)})).dbg_wcr[0] == 0  # a suspended slot


@pytest.mark.parametrize(
    "address, size, kind, message",
    [
        (VAR + 6, 4, "write", r"4 byte\(s\) at .*inside one aligned doubleword"),
        (VAR, 24, "write", r"a power of two"),
        (VAR + 8, 16, "write", r"aligned to it"),
        (VAR, 0, "write", r"size 0: expected an integer >= 1"),
        (VAR, 8, "modify", r"kind 'modify'"),
    ],
)
def test_a_bad_watch_is_refused_and_changes_nothing(address, size, kind, message):
    dbg = Debugger(PROG)
    with pytest.raises(ValueError, match=message):
        dbg.watch(address, size, kind)
    assert dbg.watchpoints == [] and dbg.vcpu.guest_debug == GuestDebug.NONE


def test_out_of_slots_names_the_limit_and_keeps_what_was_there():
    dbg = Debugger(PROG)
    for i in range(GUEST_DEBUG_HW_BPS):
        assert dbg.hbreak_at(PROG.entry + 4 * i).slot == i
    with pytest.raises(SlotsExhausted, match=r"all 6 breakpoint slots are in use") as e:
        dbg.hbreak_at("add_at")
    assert isinstance(e.value, BreakpointError) and "KVM_CAP_GUEST_DEBUG_HW_BPS" in str(
        e.value
    )
    for i in range(GUEST_DEBUG_HW_WPS):
        dbg.watch(VAR + i, 1, "write")
    with pytest.raises(
        SlotsExhausted,
        match=r"all 4 watchpoint slots are in use \(KVM_CAP_GUEST_DEBUG_HW_WPS\)",
    ):
        dbg.watch(VAR + 8)
    assert len(dbg.hw_breakpoints) == 6 and len(dbg.watchpoints) == 4
    assert dbg.delete_hbreak(PROG.entry).slot == 0  # a freed slot is used again
    assert dbg.hbreak_at("add_at").slot == 0
    with pytest.raises(BreakpointError, match="multiple of 4"):
        dbg.delete_hbreak("add_at") and dbg.hbreak_at(PROG.entry + 2)


# -- the debugger: stops and step-over ----------------------------------------------------------
LOOP = """
_start:
    adr x1, counter
    mov x2, #0
loop:
    add x2, x2, #1
    str x2, [x1]
    cmp x2, #3
    b.ne loop
    ldr x4, [x1]
    mov x0, #0x84000000
    movk x0, #8
    hvc #0
.balign 8
counter: .quad 0
"""


def test_a_hardware_breakpoint_stops_every_pass_and_continue_steps_over_it():
    dbg = Debugger(LOOP)
    hb = dbg.hbreak_at("loop")
    raw = dbg.raw_memory(hb.address, 4)
    seen = []
    for _ in range(5):
        stop = dbg.cont()
        if stop.reason is not StopReason.HW_BREAKPOINT:
            break
        assert stop.pc == hb.address and stop.slot == 0
        seen.append(dbg.read_register("x2"))
    assert seen == [0, 1, 2] and stop.reason is StopReason.HALTED
    assert dbg.raw_memory(hb.address, 4) == raw  # memory never held a BRK
    assert any("hardware breakpoint slot 0" in line for line in dbg.log_lines())


def test_a_write_watch_stops_after_the_store_with_old_and_new_values():
    dbg = Debugger(LOOP)
    w = dbg.watch("counter")
    stops = [dbg.cont() for _ in range(4)]
    assert [s.reason for s in stops[:3]] == [StopReason.WATCHPOINT] * 3
    assert [(s.old_value, s.new_value) for s in stops[:3]] == [(0, 1), (1, 2), (2, 3)]
    store = PROG_LOOP.symbols["loop"] + 4
    for s in stops[:3]:
        assert (s.pc, s.access_pc, s.data_address, s.slot, s.watch) == (
            store + 4,
            store,
            w.address,
            0,
            w,
        )
        assert s.exit.debug is not None and s.exit.debug.hsr == WATCH_WRITE_HSR
    assert stops[3].reason is StopReason.HALTED  # the read of counter is not watched


PROG_LOOP = armbp.assemble(LOOP)


def test_before_stops_are_at_the_access_and_continue_steps_over_them():
    dbg = Debugger(LOOP, watch_stop="before")
    dbg.watch("counter", 8, "access")
    store, load = PROG_LOOP.symbols["loop"] + 4, PROG_LOOP.symbols["loop"] + 16
    got = []
    for _ in range(6):
        s = dbg.cont()
        if s.reason is not StopReason.WATCHPOINT:
            break
        got.append((s.pc, s.old_value, s.new_value, s.exit.debug.hsr))  # type: ignore[union-attr]
    assert got == [
        (store, 0, None, WATCH_WRITE_HSR),
        (store, 1, None, WATCH_WRITE_HSR),
        (store, 2, None, WATCH_WRITE_HSR),
        (load, 3, None, WATCH_READ_HSR),
    ]
    assert s.reason is StopReason.HALTED and dbg.read_register("x4") == 3


def test_step_from_a_hardware_stop_runs_that_instruction_once():
    dbg = Debugger(LOOP, watch_stop="before")
    dbg.hbreak_at("loop")
    dbg.watch("counter")
    assert dbg.cont().reason is StopReason.HW_BREAKPOINT
    s = dbg.step()  # the add, with its breakpoint out of the way
    assert s.reason is StopReason.STEP and dbg.read_register("x2") == 1
    s = dbg.step()  # the store: the watchpoint, before it
    assert s.reason is StopReason.WATCHPOINT and s.pc == PROG_LOOP.symbols["loop"] + 4
    s = dbg.step()  # the store itself, its watchpoint out of the way
    assert s.reason is StopReason.STEP and dbg.read_memory(s.pc - 4 + 0, 4)
    assert int.from_bytes(dbg.read_memory(PROG_LOOP.symbols["counter"], 8), "little") == 1
    assert dbg.cont().reason is StopReason.HW_BREAKPOINT  # the next pass


def test_a_brk_and_a_hardware_breakpoint_on_one_instruction_stop_once_a_pass():
    """The hardware breakpoint is taken before the instruction (so before the BRK runs);
    the step over that stop steps over the BRK too, as GDB lifts every breakpoint at pc."""
    dbg = Debugger(LOOP)
    dbg.break_at("loop")
    dbg.hbreak_at("loop")
    seen = []
    for _ in range(3):
        assert dbg.cont().reason is StopReason.HW_BREAKPOINT
        seen.append(dbg.read_register("x2"))
    assert seen == [0, 1, 2] and dbg.cont().reason is StopReason.HALTED


def test_a_watch_hit_while_stepping_over_a_brk_is_reported_at_the_brk():
    dbg = Debugger(LOOP, watch_stop="before")
    store = PROG_LOOP.symbols["loop"] + 4
    dbg.break_at(store)
    dbg.watch("counter")
    assert dbg.cont().reason is StopReason.BREAKPOINT
    s = dbg.cont()  # the step-over of the BRK makes the watched store
    assert s.reason is StopReason.WATCHPOINT and s.pc == store and s.old_value == 0
    s = dbg.cont()
    assert s.reason is StopReason.BREAKPOINT and s.pc == store  # the next pass
    assert int.from_bytes(dbg.read_memory(PROG_LOOP.symbols["counter"], 8), "little") == 1


def test_reset_keeps_the_hardware_slots_armed():
    dbg = Debugger(LOOP)
    dbg.hbreak_at("loop")
    assert dbg.cont().reason is StopReason.HW_BREAKPOINT
    dbg.reset()
    s = dbg.cont()
    assert s.reason is StopReason.HW_BREAKPOINT and dbg.read_register("x2") == 0


def test_watch_stop_is_checked():
    with pytest.raises(ValueError, match="watch_stop='later'"):
        Debugger(LOOP, watch_stop="later")
    dbg = Debugger(LOOP)
    dbg.watch_stop = "before"
    assert dbg.watch_stop == "before"


# -- the guest's own debug exceptions -----------------------------------------------------------
GUEST_DEBUGS_ITSELF = """
_start:
    adr x0, vectors
    msr vbar_el1, x0
    adr x6, target
    msr dbgbvr0_el1, x6
    mov x1, #0x1e7          // DBGBCR: E, PMC = EL1 and EL0, BAS = 0b1111
    msr dbgbcr0_el1, x1
    mov x2, #0xa000         // MDSCR_EL1: MDE | KDE
    msr mdscr_el1, x2
    msr daifclr, #8         // PSTATE.D = 0
    isb
target:
    add x9, x9, #1
done:
    mov x0, #0x84000000
    movk x0, #8
    hvc #0
.balign 0x800
vectors:
    .skip 0x200
    mrs x20, esr_el1        // current EL, SP_ELx: the guest's handler
    mrs x21, elr_el1
    msr dbgbcr0_el1, xzr    // its breakpoint has done its job
    isb
    eret
"""


def test_a_guest_breakpoint_with_no_debugger_goes_straight_to_its_handler():
    dbg = Debugger(GUEST_DEBUGS_ITSELF)
    assert dbg.cont().reason is StopReason.HALTED
    assert dbg.read_register("x20") == syndrome(EC_BREAKPOINT_SAME, FSC_DEBUG) == 0xC600_0022
    prog = dbg.program
    assert dbg.read_register("x21") == prog.symbols["target"] and dbg.read_register("x9") == 1
    assert dbg.handler.exits == 1  # only the power-off left the guest


def test_a_guest_breakpoint_while_we_debug_exits_to_the_vmm_and_is_reinjected():
    dbg = Debugger(GUEST_DEBUGS_ITSELF)
    dbg.break_at("done")  # guest debug on: KVM routes debug exceptions to EL2 (TDE)
    s = dbg.cont()
    assert s.reason is StopReason.BREAKPOINT and s.pc == dbg.program.symbols["done"]
    reinjected = [h for h in dbg.events if h.verdict is Verdict.RESUME]
    assert len(reinjected) == 1 and reinjected[0].exit.debug is not None
    assert reinjected[0].exit.debug.hsr == HW_BREAKPOINT_HSR  # EC 0x30, seen from EL2
    assert "not ours: EC 0x31" in reinjected[0].note
    assert dbg.read_register("x20") == 0xC600_0022  # the guest saw its own, same-EL one
    assert dbg.read_register("x9") == 1


def test_a_guest_breakpoint_where_we_have_none_is_reinjected_while_we_use_the_hardware():
    dbg = Debugger(GUEST_DEBUGS_ITSELF)
    dbg.hbreak_at("done")
    s = dbg.cont()
    assert s.reason is StopReason.HW_BREAKPOINT and s.pc == dbg.program.symbols["done"]
    assert dbg.read_register("x20") == 0xC600_0022 and dbg.read_register("x9") == 1


def test_unicorn_fact_a_guest_programmed_watchpoint_never_fires():
    """Unicorn 2.1.4 compiles watchpoints out: the guest's own DBGWCR/DBGWVR do nothing
    (DESIGN.md). If an upgrade changes this, the guest's own watchpoints can be modelled."""
    src = GUEST_DEBUGS_ITSELF.replace(
        "msr dbgbvr0_el1, x6\n    mov x1, #0x1e7",
        "adr x7, data\n    msr dbgwvr0_el1, x7\n    mov x1, #0x1ff7\n    msr dbgwcr0_el1, x1\n"
        "    mov x1, #0",
    ).replace("add x9, x9, #1", "str x9, [x7]")
    src += ".balign 8\ndata: .quad 0\n"
    dbg = Debugger(src)
    assert dbg.cont().reason is StopReason.HALTED
    assert dbg.read_register("x20") == 0  # no handler ran


BASE = 0x40000


# -- found by the differential suite against real KVM (tests/test_kvm_lab.py) -------------


@pytest.mark.parametrize(
    "load", ["ldr x0, [x1]", "ldrb w0, [x1, #3]", "ldr x0, [x1], #8", "ldp x0, x2, [x1]"]
)
@pytest.mark.parametrize("tail", ["b .", "udf #0"])
def test_a_load_watchpoint_stops_before_the_load_changes_any_register(load, tail):
    """The watchpoint is taken before the load completes: its destination (and a
    post-indexed base) keep their values, also when the load's block goes on into an
    undefined instruction."""
    src = f"{load}\n{tail}\n.balign 0x1000\ndata: .quad 0x5555, 0x6666\n"
    prog = assemble(src, base=BASE)
    data = prog.symbols["data"]
    cpu = VCpu(prog)
    regs = {"x0": 0x1111, "x1": data, "x2": 0x2222}
    for name, value in regs.items():
        cpu.write_register(name, value)
    wcr = 1 | 0b11 << 1 | 0b01 << 3 | 0xFF << 5  # E, EL0+EL1, loads, all 8 bytes
    arch = GuestDebugArch(dbg_wcr=(wcr,) + (0,) * 15, dbg_wvr=(data,) + (0,) * 15)
    cpu.set_guest_debug(GuestDebug.ENABLE | GuestDebug.USE_HW, arch)
    e = cpu.run(1)
    assert e.reason is ExitReason.DEBUG and e.debug.hsr == 0xD2000022, e
    assert e.pc == BASE and cpu.pc == BASE
    assert {name: cpu.read_register(name) for name in regs} == regs


# -- load watchpoints by page protection (issue 11: a watch costs nothing elsewhere) ----------
PAGE_SRC = """
_start:
beside:   ldr x3, [x1, #16]
          str x2, [x1, #24]
          ldr x4, [x1, #8]
hit:      ldr x5, [x1]
          b .
.balign 0x1000
          .skip 0x1000 - 8
before:   .quad 0x4444
data:     .quad 0x5555, 0x6666, 0x7777, 0
"""
PAGE_PROG = assemble(PAGE_SRC, base=BASE)
DATA = PAGE_PROG.symbols["data"]
R, W, X = 1, 2, 4  # UC_PROT_*


def _page_cpu(kind: int = 0b01, at: str = "_start") -> VCpu:
    cpu = VCpu(PAGE_PROG)
    cpu.write_register("x1", DATA)
    cpu.write_register("x2", 9)
    cpu.pc = PAGE_PROG.symbols[at]
    cpu.set_guest_debug(HW, _arch(dbg_wcr=(_wcr(0xFF, kind),), dbg_wvr=(DATA,)))
    return cpu


def _perms(cpu: VCpu, address: int) -> int:
    return next(p for b, last, p in cpu.uc.mem_regions() if b <= address <= last)


@pytest.mark.parametrize("kind", [0b01, 0b11])
def test_a_load_watch_on_a_page_no_code_runs_on_takes_its_read_permission(kind):
    """No read hook (which would send every load of every page through C): the page loses
    read and write permission, so that only accesses to it fault into the watch; the
    loads and the store beside the watched bytes are done, the watched load is not."""
    cpu = _page_cpu(kind)
    assert _perms(cpu, DATA) == X  # rwx without r and w: stores would fill its TLB entry
    assert _perms(cpu, DATA - 8) == X  # the page before: a load from it could straddle in
    assert _perms(cpu, BASE) == R | W | X  # the code's page keeps its own
    e = cpu.run(1.0)
    assert e.reason is ExitReason.DEBUG and e.debug is not None, e
    assert (e.debug.hsr, e.debug.far, e.pc) == (WATCH_READ_HSR, DATA, PAGE_PROG.symbols["hit"])
    assert (cpu.read_register("x3"), cpu.read_register("x4")) == (0x7777, 0x6666)
    assert cpu.memory.read(DATA + 24, 8) == (9).to_bytes(8, "little")
    assert cpu.read_register("x5") == 0  # taken before the load wrote its register


def test_a_load_watch_set_after_its_page_was_read_still_fires():
    """A load fills the page's TLB entry, and Unicorn serves later loads from it without
    checking permissions: arming the watch flushes the TLB."""
    cpu = _page_cpu()
    cpu.set_guest_debug(GuestDebug.NONE)
    cpu.pc = PAGE_PROG.symbols["hit"]
    assert cpu.run(Budget(seconds=1.0, instructions=1)).reason is ExitReason.BUDGET
    assert cpu.read_register("x5") == 0x5555  # read: the TLB entry is filled
    cpu.write_register("x5", 0)
    cpu.pc = PAGE_PROG.symbols["hit"]
    cpu.set_guest_debug(HW, _arch(dbg_wcr=(_wcr(0xFF, 0b01),), dbg_wvr=(DATA,)))
    e = cpu.run(1.0)
    assert e.debug is not None and e.debug.far == DATA and cpu.read_register("x5") == 0


def test_a_load_straddling_in_from_the_page_before_fires():
    """Unicorn checks the permission of an access's first byte only (measured): the page
    before the watched bytes is protected too."""
    prog = assemble(f"{PAGE_SRC}\n", base=BASE)
    cpu = VCpu(prog)
    cpu.write_register("x1", DATA - 4)  # ldr x5, [x1]: data-4 .. data+3
    cpu.pc = prog.symbols["hit"]
    cpu.set_guest_debug(HW, _arch(dbg_wcr=(_wcr(0xFF, 0b01),), dbg_wvr=(DATA,)))
    e = cpu.run(1.0)
    assert e.debug is not None and (e.debug.hsr, e.debug.far) == (WATCH_READ_HSR, DATA), e
    assert cpu.read_register("x5") == 0


def test_a_counted_run_and_code_on_the_page_switch_load_watches_to_a_read_hook():
    """A run with an instruction budget cannot be resumed after a stop, and code running
    on a page fills its TLB entry by the fetch: both take the read hook instead (the
    page gets its read permission back); a run without a budget protects again."""
    cpu = _page_cpu()
    e = cpu.run(Budget(seconds=1.0, instructions=10))
    assert e.debug is not None and e.pc == PAGE_PROG.symbols["hit"], e
    assert _perms(cpu, DATA) == R | X
    assert cpu.run(1.0).pc == PAGE_PROG.symbols["hit"]  # the same load, by protection
    assert _perms(cpu, DATA) == X
    # the watched bytes on the code's own page: fetches need no read permission, but
    # they fill the TLB entry; the first block there switches to the hook
    cpu = _cpu_at("load8", _arch(dbg_wcr=(_wcr(0xFF, 0b01),), dbg_wvr=(VAR,)))
    e = cpu.run(1.0)
    assert e.debug is not None and (e.debug.far, e.pc) == (VAR, S["load8"]), e
    assert _perms(cpu, VAR) & R and cpu.read_register("x3") == 0


def test_a_store_exclusive_on_a_write_watch_is_a_write_taken_before_it():
    """STXR after LDXR is reported as a write (WnR=1, Arm ARM "Watchpoint exceptions"),
    before it stores or writes its status register. (LDADD, SWP and CAS are UNDEFINED on
    this Unicorn CPU, which has no FEAT_LSE: measured, EC 0x00 at the guest's vector.)"""
    prog = assemble(
        "ldxr x5, [x1]\nstore: stxr w4, x2, [x1]\nb .\n.balign 0x1000\ndata: .quad 5\n",
        base=BASE,
    )
    data = prog.symbols["data"]
    cpu = VCpu(prog)
    for name, value in (("x1", data), ("x2", 7), ("x4", 0x77)):
        cpu.write_register(name, value)
    cpu.set_guest_debug(HW, _arch(dbg_wcr=(_wcr(0xFF, 0b10),), dbg_wvr=(data,)))
    e = cpu.run(1.0)
    assert e.debug is not None and (e.debug.hsr, e.debug.far) == (WATCH_WRITE_HSR, data), e
    assert e.pc == prog.symbols["store"] and cpu.read_register("x5") == 5
    assert cpu.memory.read(data, 8) == (5).to_bytes(8, "little")
    assert cpu.read_register("x4") == 0x77


@pytest.mark.parametrize("kind", [0b10, 0b11])
def test_a_store_straddling_in_from_the_page_before_is_taken_before_any_byte(kind):
    """Unicorn does a page-crossing store byte by byte: with only the watched page
    protected, the bytes on the page before were written and FAR named the last byte."""
    cpu = _page_cpu(kind, at="hit")
    cpu.write_register("x1", DATA - 4)  # str x2, [x1]: data-4 .. data+3
    cpu.memory.write(PAGE_PROG.symbols["hit"], assemble("str x2, [x1]").code[:4])
    memory = cpu.memory.read(DATA - 8, 16)
    e = cpu.run(1.0)
    assert e.debug is not None and (e.debug.hsr, e.debug.far) == (WATCH_WRITE_HSR, DATA), e
    assert cpu.memory.read(DATA - 8, 16) == memory
