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
from hypothesis import given, settings
from hypothesis import strategies as st

import armbp
from armbp.debugger import Debugger, StopReason
from armbp.encodings import BRK0, NOP, to_bytes
from armbp.memory import BytearrayMemory, MemoryFault
from armbp.table import BreakpointTable
from armbp.vcpu import _WATCHDOG, ExitReason, VCpu, VCpuBusy
from conftest import PSCI_OFF, guest_with_vectors

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
            assert dbg.read_memory(target + offset, size) == whole[offset:offset + size], \
                (offset, size)


BP_BASE = 0x1000
BP_WORDS = 6  # a small region: six words, some with breakpoints


class _Model:
    """What the guest should see, kept apart from the table: the memory as it is, and the
    original bytes under each breakpoint."""

    def __init__(self, raw: bytearray, saved: dict[int, bytearray]):
        self.raw, self.saved = raw, saved

    def planted(self, word: int) -> bool:
        return word in self.saved and self.raw[word:word + 4] == to_bytes(BRK0)

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


writes = st.lists(st.tuples(st.sampled_from(["guest", "debugger"]),
                            st.integers(0, 4 * BP_WORDS - 1), st.binary(min_size=1, max_size=6)),
                  max_size=8)


@settings(max_examples=150, deadline=None)
@given(code=st.binary(min_size=4 * BP_WORDS, max_size=4 * BP_WORDS),
       words=st.sets(st.integers(0, BP_WORDS - 1), min_size=1), writes=writes)
def test_shadowed_reads_agree_with_a_model_after_partial_writes(code, words, writes):
    memory = BytearrayMemory(code, base=BP_BASE)
    table = BreakpointTable(memory)
    saved = {}
    for w in sorted(words):
        saved[4 * w] = bytearray(code[4 * w:4 * w + 4])
        table.insert(BP_BASE + 4 * w)
    model = _Model(bytearray(memory.data), saved)
    for who, offset, data in writes:
        data = data[:4 * BP_WORDS - offset]
        if who == "guest":  # a guest store: straight into memory, BRK or not
            memory.data[offset:offset + len(data)] = data
            model.raw[offset:offset + len(data)] = data
        else:
            model.debugger_write(offset, data)
            table.write_through(BP_BASE + offset, data)
        assert memory.data == model.raw
    for offset in range(4 * BP_WORDS):
        for size in range(0, 4 * BP_WORDS - offset + 1):
            got = table.shadow(BP_BASE + offset, memory.read(BP_BASE + offset, size))
            assert got == model.view(offset, size), (offset, size)


# -- 19. sizes no machine has are a fault at once -----------------------------------------------

@pytest.mark.parametrize("address, size, why", [
    (0x40000, 2**40, "nothing is mapped at"),
    (0x40000, 2**64, "past the end of the 64-bit address space"),
    (0, 2**63, "nothing is mapped at 0x0"),
    (2**64 - 2, 4, "past the end"),
])
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
    import armbp.vcpu as vcpu_module
    monkeypatch.setattr(vcpu_module, "MAX_ACCESS", 0x1000)
    monkeypatch.setattr(vcpu_module, "LARGE_ACCESS", 0x100)
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
    dbg.write_memory(handler, to_bytes(NOP))   # mend the handler: it falls into SYSTEM_OFF
    assert dbg.cont(1).reason is StopReason.HALTED


def test_ctrl_c_half_way_through_an_exception_entry_completes_it():
    cpu = VCpu(armbp.assemble(f"""
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
"""))
    real = cpu.uc.reg_write_batch
    calls = []

    def interrupted(writes):
        calls.append(list(writes))
        if len(calls) == 1:  # the SVC's entry: half the registers, then Ctrl-C
            real(writes[:len(writes) // 2])
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
    dbg.vcpu.map(0x800000, 0x1000, "rwx")      # gone after reset
    kept = dbg.break_at("loop")
    dbg.break_at("loop")                        # use_count 2
    gone = dbg.break_at(0x800000)
    dropped = dbg.reset()
    assert dropped == [gone]
    assert [(bp.pc, bp.use_count) for bp in dbg.breakpoints] == [(kept.pc, 2)]
    stop = dbg.cont(1)
    assert stop.reason is StopReason.BREAKPOINT and stop.pc == kept.pc  # trapped, ours
    assert dbg.read_register("esr_el1") != 0xF200_0000  # our BRK never reached the guest
    assert dbg.reset() == []


def test_reset_of_a_vcpu_that_cannot_be_rebuilt_keeps_the_old_machine(monkeypatch):
    import armbp.vcpu as vcpu_module
    cpu = VCpu(armbp.assemble(RUNAWAY))
    old = cpu.uc
    cpu.map(0x800000, 0x1000)

    def failing(*args):
        raise RuntimeError("no hook today")

    monkeypatch.setattr(vcpu_module, "_add_intr_hook", failing)
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
    spare, loop = dbg.address_of("spare"), dbg.address_of("loop")
    dbg.break_at("spare")
    worker = {}
    t = threading.Thread(target=lambda: worker.setdefault("stop", dbg.cont(20)), daemon=True)
    t.start()
    deadline = time.monotonic() + 5
    while cpu._runner is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cpu._runner is not None, "the run did not start"
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
    for name, call in calls.items():
        with pytest.raises(VCpuBusy, match="only interrupt"):
            call()
    # reads are safe during a run (measured) and allowed
    assert dbg.read_memory(spare, 4) == to_bytes(NOP) and dbg.registers()["x1"] == 1
    assert (dbg.raw_memory(dbg.program.base, 16), dbg.breakpoints, cpu.guest_debug) == before
    dbg.interrupt()
    t.join(10)
    assert not t.is_alive() and worker["stop"].reason is StopReason.BUDGET
    dbg.write_register("x1", 5)       # once the run is over, the same calls work
    dbg.delete("spare")
    cpu.map(0x800000, 0x1000)
    assert dbg.registers()["x1"] == 5 and dbg.breakpoints == []


def test_a_run_waits_for_a_change_another_thread_has_begun():
    cpu = VCpu(armbp.assemble(RUNAWAY))
    with cpu._lock:  # as a write_memory on the main thread would hold it
        t = threading.Thread(target=lambda: cpu.run(0.05), daemon=True)
        t.start()
        time.sleep(0.1)
        assert cpu._runner is None  # not started: waiting for the change to end
    t.join(5)
    assert not t.is_alive()
