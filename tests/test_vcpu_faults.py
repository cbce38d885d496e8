"""Faults found by using armbp as an adversary would: each test here once failed.

Hangs and crashes of the vCPU and the debugger (a watchdog killed by a huge budget, calls
from another thread during a run, Ctrl-C in an exception storm, a reset that half failed),
syndromes Unicorn's interrupt numbers alone get wrong (instruction aborts, PC alignment),
and the debugger's view of memory (reads that must agree whatever their size, sizes no
machine has).
"""

from __future__ import annotations

import _thread
import threading
import time

import pytest
from conftest import PSCI_OFF, guest_with_vectors
from hypothesis import given, settings
from hypothesis import strategies as st
from unicorn import UC_ARCH_ARM64, UC_HOOK_INTR, UC_MODE_ARM, Uc
from unicorn import arm64_const as R

import armbp
from armbp import esr
from armbp.debugger import Debugger, StopReason
from armbp.encodings import BRK0, NOP, to_bytes
from armbp.kvm.abi import ExitReason, VCpuBusy
from armbp.kvm.unicorn import VCpu
from armbp.kvm.unicorn.fetch import breakpoint_matches, fetch_fault
from armbp.kvm.unicorn.watchdog import _WATCHDOG
from armbp.memory import BytearrayMemory, MemoryFault
from armbp.table import BreakpointTable

RUNAWAY = "_start: b _start\n"


def finishes(fn, timeout: float = 10.0):
    """Run ``fn`` on a thread; its result, or a failure if it has not returned in time."""
    result: dict = {}

    def body():
        try:
            result["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the test
            result["error"] = e

    t = threading.Thread(target=body, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), f"{fn} did not return within {timeout} s"
    if "error" in result:
        raise result["error"]
    return result["value"]


# -- 6. the watchdog survives budgets beyond threading.TIMEOUT_MAX, and any failure ------------


def test_a_huge_budget_does_not_kill_the_watchdog():
    dbg = Debugger(RUNAWAY)
    threading.Timer(0.3, dbg.interrupt).start()
    stop = finishes(lambda: dbg.cont(1e10))
    assert stop.reason is StopReason.BUDGET and "interrupted" in stop.exit.message
    time.sleep(0.05)  # the watchdog has looked at the 1e10 s deadline and gone to sleep
    assert _WATCHDOG._thread is not None and _WATCHDOG._thread.is_alive()
    started = time.monotonic()
    stop = finishes(lambda: Debugger(RUNAWAY).cont(0.2))
    assert stop.reason is StopReason.BUDGET and "time budget" in stop.exit.message
    assert time.monotonic() - started < 5


def test_the_watchdog_survives_a_failure_while_stopping_a_run():
    bad, good = VCpu(armbp.assemble(RUNAWAY)), VCpu(armbp.assemble(RUNAWAY))
    failures = _WATCHDOG.failures
    real = bad._time_up
    calls = []

    def broken(token):
        calls.append(token)
        if len(calls) == 1:
            raise RuntimeError("stop failed")
        real(token)

    bad._time_up = broken
    assert finishes(lambda: bad.run(0.05)).reason is ExitReason.BUDGET
    assert _WATCHDOG.failures == failures + 1
    assert isinstance(_WATCHDOG.last_failure, RuntimeError)
    assert finishes(lambda: good.run(0.1)).reason is ExitReason.BUDGET


# -- 14. reads through the debugger agree whatever their alignment and size --------------------


def test_a_guest_byte_store_into_a_brk_shows_in_reads_of_every_size():
    dbg = Debugger(f"""
_start: adr x2, target
        mov w1, #0x55
        strb w1, [x2]           // one byte into the word our BRK stands on
        dsb ish
        isb
        b done
target: nop
done:   {PSCI_OFF}
""")
    target = dbg.address_of("target")
    dbg.break_at("target")
    assert dbg.cont(1).reason is StopReason.HALTED
    raw = dbg.raw_memory(target, 4)
    assert raw == bytes([0x55]) + to_bytes(BRK0)[1:]  # the guest's byte, the rest of the BRK
    whole = dbg.read_memory(target, 4)
    assert whole == raw  # no longer our BRK: memory as it is
    for offset in range(4):
        for size in range(1, 5 - offset):
            assert dbg.read_memory(target + offset, size) == whole[offset : offset + size], (
                offset,
                size,
            )


BP_BASE = 0x1000
BP_WORDS = 6  # a small region: six words, some with breakpoints


class _Model:
    """What the guest should see, kept apart from the table: the memory as it is, and the
    original bytes under each breakpoint."""

    def __init__(self, raw: bytearray, saved: dict[int, bytearray]):
        self.raw, self.saved = raw, saved

    def planted(self, word: int) -> bool:
        return word in self.saved and self.raw[word : word + 4] == to_bytes(BRK0)

    def debugger_write(self, offset: int, data: bytes) -> None:
        for i, byte in enumerate(data):
            word = (offset + i) & ~3
            if self.planted(word):
                self.saved[word][(offset + i) - word] = byte
            else:
                self.raw[offset + i] = byte

    def view(self, offset: int, size: int) -> bytes:
        out = bytearray()
        for i in range(offset, offset + size):
            word = i & ~3
            out.append(self.saved[word][i - word] if self.planted(word) else self.raw[i])
        return bytes(out)


writes = st.lists(
    st.tuples(
        st.sampled_from(["guest", "debugger"]),
        st.integers(0, 4 * BP_WORDS - 1),
        st.binary(min_size=1, max_size=6),
    ),
    max_size=8,
)


@settings(max_examples=150, deadline=None)
@given(
    code=st.binary(min_size=4 * BP_WORDS, max_size=4 * BP_WORDS),
    words=st.sets(st.integers(0, BP_WORDS - 1), min_size=1),
    writes=writes,
)
def test_shadowed_reads_agree_with_a_model_after_partial_writes(code, words, writes):
    memory = BytearrayMemory(code, base=BP_BASE)
    table = BreakpointTable(memory)
    saved = {}
    for w in sorted(words):
        saved[4 * w] = bytearray(code[4 * w : 4 * w + 4])
        table.insert(BP_BASE + 4 * w)
    model = _Model(bytearray(memory.data), saved)
    for who, offset, data in writes:
        data = data[: 4 * BP_WORDS - offset]
        if who == "guest":  # a guest store: straight into memory, BRK or not
            memory.data[offset : offset + len(data)] = data
            model.raw[offset : offset + len(data)] = data
        else:
            model.debugger_write(offset, data)
            table.write_through(BP_BASE + offset, data)
        assert memory.data == model.raw
    for offset in range(4 * BP_WORDS):
        for size in range(4 * BP_WORDS - offset + 1):
            got = table.shadow(BP_BASE + offset, memory.read(BP_BASE + offset, size))
            assert got == model.view(offset, size), (offset, size)


# -- 19. sizes no machine has are a fault at once -----------------------------------------------


@pytest.mark.parametrize(
    "address, size, why",
    [
        (0x40000, 2**40, "nothing is mapped at"),
        (0x40000, 2**64, "past the end of the 64-bit address space"),
        (0, 2**63, "nothing is mapped at 0x0"),
        (2**64 - 2, 4, "past the end"),
    ],
)
def test_huge_reads_are_a_memory_fault_at_once(address, size, why):
    dbg = Debugger(RUNAWAY)
    for read in (dbg.read_memory, dbg.raw_memory):
        started = time.monotonic()
        with pytest.raises(MemoryFault, match=why) as info:
            read(address, size)
        assert info.value.address == address and info.value.size == size
        assert time.monotonic() - started < 1


def test_a_write_past_the_end_of_the_address_space_is_a_memory_fault():
    dbg = Debugger(RUNAWAY)
    with pytest.raises(MemoryFault, match="past the end"):
        dbg.write_memory(2**64 - 2, b"1234")


def test_a_mapped_read_above_the_limit_names_the_size_and_the_limit(monkeypatch):
    import armbp.kvm.unicorn.memory as memory_module

    monkeypatch.setattr(memory_module, "MAX_ACCESS", 0x1000)
    monkeypatch.setattr(memory_module, "LARGE_ACCESS", 0x100)
    dbg = Debugger(RUNAWAY)
    dbg.vcpu.map(0x800000, 0x4000)
    assert len(dbg.read_memory(0x800000, 0x1000)) == 0x1000
    with pytest.raises(ValueError, match=r"0x4000 bytes at once.*MAX_ACCESS = 0x1000"):
        dbg.read_memory(0x800000, 0x4000)


# -- 8. Ctrl-C during an exception storm reaches the caller; the vCPU stays consistent ---------

STORM = f"""
_start: adr x1, vectors
        msr vbar_el1, x1
        udf #0                  // the first fault; the handler faults again, forever
        .balign 2048
vectors:
        .skip 0x200
handler:
        udf #1
        {PSCI_OFF}
"""


def test_ctrl_c_in_an_exception_storm_reaches_the_caller_and_cont_works_after():
    dbg = Debugger(STORM)
    handler = dbg.address_of("handler")
    threading.Timer(0.3, _thread.interrupt_main).start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        dbg.cont(10)
    assert time.monotonic() - started < 5
    # one complete exception entry: at the handler, with its syndrome and return address
    assert dbg.pc == handler
    assert dbg.read_register("esr_el1") == 0x0200_0000  # EC 0x00, IL: unknown reason
    assert dbg.read_register("elr_el1") == handler
    assert dbg.read_register("pstate") == 0x3C5
    assert dbg.cont(0.1).reason is StopReason.BUDGET  # the storm goes on, nothing raised
    dbg.write_memory(handler, to_bytes(NOP))  # mend the handler: it falls into SYSTEM_OFF
    assert dbg.cont(1).reason is StopReason.HALTED


def test_ctrl_c_half_way_through_an_exception_entry_completes_it():
    cpu = VCpu(
        armbp.assemble(f"""
_start: adr x1, vectors
        msr vbar_el1, x1
        mov x0, #0              // EL0t, DAIF clear
        msr spsr_el1, x0
        adr x0, user
        msr elr_el1, x0
        eret
user:   svc #5
        b user
        .balign 2048
vectors:
        .skip 0x400
        mrs x20, esr_el1        // lower EL, AArch64, synchronous
        {PSCI_OFF}
""")
    )
    real = cpu.uc.reg_write_batch
    calls = []

    def interrupted(writes):
        calls.append(list(writes))
        if len(calls) == 1:  # the SVC's entry: half the registers, then Ctrl-C
            real(writes[: len(writes) // 2])
            raise KeyboardInterrupt
        real(writes)

    cpu.uc.reg_write_batch = interrupted
    with pytest.raises(KeyboardInterrupt):
        cpu.run(5)
    assert len(calls) == 2 and calls[0] == calls[1]  # the same entry, written whole
    vectors = cpu.program.address_of("vectors")
    assert cpu.pc == vectors + 0x400
    assert cpu.read_register("esr_el1") == 0x5600_0005
    assert cpu.read_register("elr_el1") == cpu.program.address_of("user") + 4
    assert cpu.read_register("pstate") == 0x3C5 and cpu.read_register("spsr_el1") == 0
    assert cpu._run is None  # no run left for the watchdog to stop
    e = cpu.run(1)
    assert e.reason is ExitReason.SYSTEM_EVENT and cpu.read_register("x20") == 0x5600_0005


# -- 9. reset is whole: breakpoints that cannot come back are dropped and reported ---------------


def test_reset_drops_a_breakpoint_it_cannot_plant_and_keeps_the_trap_for_the_rest():
    dbg = Debugger(guest_with_vectors(3))
    dbg.vcpu.map(0x800000, 0x1000, "rwx")  # gone after reset
    kept = dbg.break_at("loop")
    dbg.break_at("loop")  # use_count 2
    gone = dbg.break_at(0x800000)
    dropped = dbg.reset()
    assert dropped == [gone]
    assert [(bp.pc, bp.use_count) for bp in dbg.breakpoints] == [(kept.pc, 2)]
    stop = dbg.cont(1)
    assert stop.reason is StopReason.BREAKPOINT and stop.pc == kept.pc  # trapped, ours
    assert dbg.read_register("esr_el1") != 0xF200_0000  # our BRK never reached the guest
    assert dbg.reset() == []


def test_reset_of_a_vcpu_that_cannot_be_rebuilt_keeps_the_old_machine(monkeypatch):
    import armbp.kvm.unicorn.core as core_module

    cpu = VCpu(armbp.assemble(RUNAWAY))
    old = cpu.uc
    cpu.map(0x800000, 0x1000)

    def failing(*args):
        raise RuntimeError("no hook today")

    monkeypatch.setattr(core_module, "_add_intr_hook", failing)
    with pytest.raises(RuntimeError):
        cpu.reset()
    assert cpu.uc is old and cpu.memory.read(0x800000, 4) == bytes(4)


# -- 7. while a run is in progress, only interrupt() crosses threads -----------------------------


def test_calls_from_another_thread_during_a_run_are_refused_and_change_nothing():
    dbg = Debugger(f"""
_start: mov x1, #1
loop:   b loop
spare:  nop
        {PSCI_OFF}
""")
    cpu = dbg.vcpu
    dbg.break_at("spare")
    worker = {}
    t = threading.Thread(target=lambda: worker.setdefault("stop", dbg.cont(20)), daemon=True)
    t.start()
    try:
        refused_while_running(dbg, t)
    finally:
        dbg.interrupt()
        t.join(10)
    assert not t.is_alive() and worker["stop"].reason is StopReason.BUDGET
    dbg.write_register("x1", 5)  # once the run is over, the same calls work
    dbg.delete("spare")
    cpu.map(0x800000, 0x1000)
    assert dbg.registers()["x1"] == 5 and dbg.breakpoints == []


def refused_while_running(dbg: Debugger, t: threading.Thread) -> None:
    cpu = dbg.vcpu
    spare, loop = dbg.address_of("spare"), dbg.address_of("loop")
    deadline = time.monotonic() + 5
    while dbg.registers()["x1"] != 1 and time.monotonic() < deadline:
        time.sleep(0.01)  # (reads during the run are allowed)
    assert cpu._runner is not None and t.is_alive(), "the run did not start"
    before = (dbg.raw_memory(dbg.program.base, 16), dbg.breakpoints, cpu.guest_debug)
    calls = {
        "break_at": lambda: dbg.break_at("loop"),
        "delete": lambda: dbg.delete("spare"),
        "delete_all": lambda: dbg.delete_all(),
        "reset": lambda: dbg.reset(),
        "write_memory": lambda: dbg.write_memory(spare, to_bytes(NOP)),
        "write_register": lambda: dbg.write_register("x1", 5),
        "cont": lambda: dbg.cont(0.1),
        "step": lambda: dbg.step(),
        "map": lambda: cpu.map(0x800000, 0x1000),
        "run": lambda: cpu.run(0.1),
        "pc": lambda: setattr(cpu, "pc", spare),
        "set_guest_debug": lambda: cpu.set_guest_debug(0),
        "inject_exception": lambda: cpu.inject_exception(0x0200_0000, return_to=loop),
        "memory.write": lambda: cpu.memory.write(spare, bytes(4)),
        "invalidate_code": lambda: cpu.memory.invalidate_code(spare, 4),
    }
    for call in calls.values():
        with pytest.raises(VCpuBusy, match="only interrupt"):
            call()
    # reads are safe during a run (measured) and allowed
    assert dbg.read_memory(spare, 4) == to_bytes(NOP) and dbg.registers()["x1"] == 1
    assert (dbg.raw_memory(dbg.program.base, 16), dbg.breakpoints, cpu.guest_debug) == before


def test_a_run_waits_for_a_change_another_thread_has_begun():
    cpu = VCpu(armbp.assemble(RUNAWAY))
    entered, release = threading.Event(), threading.Event()
    real = cpu.uc.mem_regions

    def slow_regions():
        entered.set()
        release.wait(5)
        return real()

    cpu.uc.mem_regions = slow_regions  # map() is under way on its own thread ...
    mapper = threading.Thread(target=lambda: cpu.map(0x800000, 0x1000), daemon=True)
    mapper.start()
    assert entered.wait(5)
    result = {}
    runner = threading.Thread(
        target=lambda: result.setdefault("exit", cpu.run(0.05)), daemon=True
    )
    token = cpu._token
    runner.start()
    time.sleep(0.1)
    assert cpu._token == token, "the run entered the guest during the change"  # ... it waits
    release.set()
    mapper.join(5)
    runner.join(5)
    assert not mapper.is_alive() and not runner.is_alive()
    assert result["exit"].reason is ExitReason.BUDGET
    assert cpu.memory.read(0x800000, 4) == bytes(4)


# -- 13. interrupt 3 is an instruction abort or a breakpoint; a misaligned PC is its own fault --

RECORD = f"""
        .balign 2048
vectors:
        .skip 0x200
        b record                // current EL, SPx
        .balign 0x80
        .skip 0x180
        b record                // lower EL, AArch64
record: mrs x20, esr_el1
        mrs x21, elr_el1
        mrs x22, far_el1
        mrs x23, spsr_el1
        {PSCI_OFF}
"""
TOP = (1 << 64) - 4


def first_exception(src: str, **registers) -> tuple[int, int, int, int]:
    """Run a guest whose vectors record ESR/ELR/FAR/SPSR and power off: those four."""
    cpu = VCpu(armbp.assemble("_start: adr x1, vectors\nmsr vbar_el1, x1\n" + src + RECORD))
    for name, value in registers.items():
        cpu.write_register(name, value)
    e = cpu.run(2)
    assert e.reason is ExitReason.SYSTEM_EVENT, e
    return tuple(cpu.read_register(r) for r in ("x20", "x21", "x22", "x23"))


def test_a_fetch_beyond_the_pa_size_with_the_mmu_off_is_an_instruction_abort():
    # Arm ARM: with stage 1 off, a VA above the PA size is an Address size fault, level 0
    hsr, elr, far, _ = first_exception("movn x0, #3\nbr x0\n")
    assert hsr == esr.instruction_abort(same_el=True, ifsc=esr.fsc_address_size(0))
    assert hsr == 0x8600_0000 and elr == far == TOP


def test_the_same_abort_from_el0_is_a_lower_el_one():
    hsr, elr, far, spsr = first_exception(
        "mov x0, #0\nmsr spsr_el1, x0\nmovn x0, #3\nmsr elr_el1, x0\neret\n"
    )
    assert hsr == 0x8200_0000 and elr == far == TOP and spsr & 0xF == 0  # EC 0x20, from EL0t


def test_a_misaligned_pc_is_a_pc_alignment_fault_with_far():
    hsr, elr, far, _ = first_exception("adr x0, t\nadd x0, x0, #2\nbr x0\nt: nop\nnop\n")
    assert hsr == esr.pc_alignment() == 0x8A00_0000
    assert elr == far and far & 3 == 2


HW_BREAKPOINT = """
        msr dbgbvr0_el1, x6
        mov x1, #0x1e7          // DBGBCR: E, PMC = EL1 and EL0, BAS = 0b1111, address match
        msr dbgbcr0_el1, x1
        mov x2, #0xa000         // MDSCR_EL1: MDE | KDE (debug exceptions at EL1 too)
        msr mdscr_el1, x2
        msr daifclr, #8         // PSTATE.D = 0
        isb
        br x7
"""


def test_a_guest_hardware_breakpoint_is_still_a_breakpoint():
    bp = 0x40000 + 4 * 10  # the nop after HW_BREAKPOINT's br
    hsr, elr, _, _ = first_exception(HW_BREAKPOINT + "nop\n", x6=bp, x7=bp)
    assert hsr == esr.breakpoint(same_el=True) == 0xC600_0022 and elr == bp


def test_a_breakpoint_wins_over_the_abort_of_the_same_fetch_and_only_where_it_matches():
    hsr, elr, _, _ = first_exception(HW_BREAKPOINT, x6=TOP, x7=TOP)
    assert hsr == 0xC600_0022 and elr == TOP  # breakpoints are checked before the fetch
    hsr, elr, far, _ = first_exception(HW_BREAKPOINT, x6=0x40000, x7=TOP)
    assert hsr == 0x8600_0000 and elr == far == TOP  # a breakpoint elsewhere: the abort


TABLES = 0x100000
AF, PAGE, BLOCK, TABLE = 1 << 10, 0b11, 0b01, 0b11
MMU_ON = """
        msr mair_el1, x5
        msr tcr_el1, x2
        msr ttbr0_el1, x3
        isb
        mrs x0, sctlr_el1
        orr x0, x0, #1          // SCTLR_EL1.M
        msr sctlr_el1, x0
        isb
        br x4
"""


@pytest.mark.parametrize(
    "target, ifsc",
    [
        (0x4000_0000, 0x05),  # level 1 entry invalid: translation fault, level 1
        (0x8000_0000, 0x06),  # level 2 table of zeros: translation fault, level 2
        (0xC000_0000, 0x0B),  # level 3 page without AF: access flag fault, level 3
        (0xC000_1000, 0x0F),  # level 3 page with PXN: permission fault, level 3
        (
            0x80_0000_0000,
            0x04,
        ),  # beyond T0SZ's 39 bits, below TTBR1's range: translation, level 0
    ],
)
def test_with_the_mmu_on_the_walk_names_the_fault_and_its_level(target, ifsc):
    cpu = VCpu(armbp.assemble("_start: adr x1, vectors\nmsr vbar_el1, x1\n" + MMU_ON + RECORD))
    cpu.map(TABLES, 0x4000)
    descriptors = {
        TABLES: 0 | AF | BLOCK,  # 0..1 GiB: identity, EL1 rwx
        TABLES + 16: (TABLES + 0x1000) | TABLE,  # 2..3 GiB: an empty level 2
        TABLES + 24: (TABLES + 0x2000) | TABLE,  # 3..4 GiB: level 2 → level 3
        TABLES + 0x2000: (TABLES + 0x3000) | TABLE,
        TABLES + 0x3000: 0x40000 | PAGE,  # no AF
        TABLES + 0x3008: 0x40000 | AF | PAGE | 1 << 53,  # PXN
    }
    for address, value in descriptors.items():
        cpu.memory.write(address, value.to_bytes(8, "little"))
    for name, value in {
        "x2": 25 | 0b100 << 32,
        "x3": TABLES,
        "x4": target,
        "x5": 0xFF,
    }.items():
        cpu.write_register(name, value)  # TCR: T0SZ 25 (39-bit VA), 4 KB, IPS 44 bits
    assert cpu.run(2).reason is ExitReason.SYSTEM_EVENT
    hsr = cpu.read_register("x20")
    assert hsr == esr.instruction_abort(same_el=True, ifsc=ifsc), hex(hsr)
    assert cpu.read_register("x21") == cpu.read_register("x22") == target


def _walk(va, el=1, sctlr=1, tcr=25 | 0b100 << 32, descriptors=None):
    descriptors = descriptors or {}
    return fetch_fault(
        va,
        el=el,
        sctlr=sctlr,
        tcr=tcr,
        ttbr0=TABLES,
        ttbr1=0,
        pa_size=44,
        read64=descriptors.get,
    )


def test_the_walk_over_other_granules_and_permissions():
    # nothing mapped where the table is: an External abort on the walk, at the start level
    assert _walk(0x1000) == 0x15  # 4 KB, 39 bits: level 1
    assert _walk(0x1000, tcr=16 | 0b10 << 14) == 0x14  # 16 KB, 48 bits: level 0
    assert _walk(0x1000, tcr=22 | 0b01 << 14) == 0x16  # 64 KB, 42 bits: level 2
    assert _walk(0x1000, tcr=25 | 1 << 7) == 0x04  # EPD0: translation, level 0
    assert _walk(TOP, sctlr=0) == 0x00 and _walk(0x1000, sctlr=0) is None
    page = {TABLES: (TABLES + 0x1000) | TABLE, TABLES + 0x1000: (TABLES + 0x2000) | TABLE}

    def leaf(bits):
        return _walk(0, descriptors={**page, TABLES + 0x2000: AF | PAGE | bits}, el=el)

    for el in (0, 1):  # noqa: B007 (leaf reads el)
        assert leaf(0) is None  # EL1 rwx; EL0 execute-only
    el = 1
    assert leaf(0b01 << 6) == 0x0F  # writable at EL0: never executable at EL1
    assert leaf(0b11 << 6) is None  # read-only at both: fine
    el = 0
    assert leaf(1 << 54) == 0x0F and leaf(1 << 53) is None  # UXN / PXN at EL0
    assert (
        _walk(0, sctlr=1 | 1 << 19, descriptors={**page, TABLES + 0x2000: AF | PAGE}) == 0x0F
    )  # WXN: writable → never


def test_breakpoint_matching_needs_debug_enabled_and_the_right_el():
    bcr = {0: 0x1E7}
    bvr = {0: 0x40008}

    def match(pc=0x40008, el=1, pstate=0x3C5 & ~0x200, mdscr=0xA000):
        return breakpoint_matches(
            pc,
            el=el,
            pstate=pstate,
            mdscr=mdscr,
            count=6,
            read_bcr=lambda n: bcr.get(n, 0),
            read_bvr=lambda n: bvr.get(n, 0),
        )

    assert match()
    assert not match(pc=0x4000C) and not match(mdscr=0x2000) and not match(mdscr=0x8000)
    assert not match(pstate=0x3C5)  # PSTATE.D masks debug exceptions at EL1
    assert match(el=0, mdscr=0x8000)  # EL0 needs MDE only
    bcr[0] = 0x1E5  # PMC = 0b10: EL0 only
    assert not match() and match(el=0)


@pytest.mark.parametrize(
    "src, intno",
    [
        ("movn x0, #3\nbr x0", 3),  # fetch beyond the PA size: 3, like a bkpt
        ("adr x0, t\nadd x0, x0, #2\nbr x0\nt: nop", 1),  # misaligned PC: 1, like an UDF
    ],
)
def test_unicorn_reports_these_fetch_faults_by_interrupt_number_only(src, intno):
    uc = Uc(UC_ARCH_ARM64, UC_MODE_ARM)
    uc.mem_map(0x40000, 0x1000)
    uc.mem_write(0x40000, armbp.assemble(src, base=0x40000).code)
    uc.cpr_write(3, 6, 1, 1, 0, 0x400)  # SCR_EL3.RW, as VCpu.reset (with RW = 0 the fetch
    seen = []  # at 2**64-4 is UC_ERR_FETCH_UNMAPPED instead)

    def hook(uc, n, _):
        seen.append(
            (n, uc.reg_read(R.UC_ARM64_REG_ESR_EL1), uc.reg_read(R.UC_ARM64_REG_FAR_EL1))
        )
        uc.emu_stop()

    uc.hook_add(UC_HOOK_INTR, hook)
    uc.emu_start(0x40000, (1 << 64) - 1, 0, 100)
    assert seen == [(intno, 0, 0)]  # no syndrome, no FAR: the vCPU must work them out


# -- a kick that lands while a run is entering the emulator is not lost --------------------------


def test_a_kick_just_before_the_emulator_starts_still_stops_the_run(monkeypatch):
    # Unicorn forgets an emu_stop asked for while no emulation is under way: the kick
    # below lands after run_until looked for a pending kick and before emu_start runs.
    cpu = VCpu(armbp.assemble(RUNAWAY))
    enter = cpu._enter
    first = []

    def late_enter(*args):
        if not first:
            first.append(True)
            threading.Thread(target=cpu.kick, daemon=True).start()
            time.sleep(0.05)  # the kick's first emu_stop falls before the run
        return enter(*args)

    monkeypatch.setattr(cpu, "_enter", late_enter)
    started = time.monotonic()
    exit_ = finishes(lambda: cpu.run(20), timeout=30)
    assert exit_.reason is ExitReason.BUDGET and exit_.message == "interrupted"
    assert time.monotonic() - started < 5, "the kick was lost: the run went on to its budget"
    assert cpu._kicked is False  # taken by this run, not left pending for the next


def test_ctrl_c_in_a_storm_is_never_lost_whatever_line_it_lands_on():
    # Python raises KeyboardInterrupt at the next bytecode; inside a ctypes hook, before
    # its try, ctypes would print and drop it (seen: about 1 in 10 of these was lost).
    lost = []
    for i in range(20):
        dbg = Debugger(STORM)
        threading.Timer(0.03 + (i % 7) * 0.01, _thread.interrupt_main).start()
        try:
            dbg.cont(10)
            lost.append(i)
        except KeyboardInterrupt:
            pass
        assert dbg.cont(0.02).reason is StopReason.BUDGET  # the vCPU works on
    assert lost == [], f"Ctrl-C lost in runs {lost}"


def test_outside_a_run_ctrl_c_is_python_s_and_a_handler_of_the_user_s_is_kept():
    import signal

    Debugger(RUNAWAY).cont(0.01)  # a run on the main thread: the Ctrl-C handler is armed
    with pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)  # no run: as Python's default handler
    seen = []

    def mine(signum, frame):
        seen.append("mine")

    previous = signal.signal(signal.SIGINT, mine)
    try:
        dbg = Debugger(RUNAWAY)
        threading.Timer(0.1, dbg.interrupt).start()
        threading.Timer(0.05, _thread.interrupt_main).start()
        stop = dbg.cont(5)
        assert stop.reason is StopReason.BUDGET and seen == ["mine"]
        assert signal.getsignal(signal.SIGINT) is mine  # not replaced by the vCPU's
    finally:
        signal.signal(signal.SIGINT, previous)
