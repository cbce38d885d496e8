"""The time budget is enforced by one watchdog thread for every vCPU: no run ever hangs.

These tests start runaway guests (``b .``) on several vCPUs at once, the way a notebook and
a GDB stub can, and check that every run comes back with a BUDGET exit. A run that hung
would leave its thread alive: the join timeout turns that into a failure, not a hang.

A stop by the time budget must also leave the guest exactly between two instructions, so
that the next run resumes it as if nothing had happened (the tests at the end). Their guest
polls a word that stays 0 with ``ldr w0, [x0]`` after ``x0 = &flag``: the load's
destination is its base, so a resume whose PC says "before the load" while the load is
already done reads address 0.
"""

from __future__ import annotations

import threading
import time

import pytest
from unicorn import UC_ARCH_ARM64, UC_MODE_ARM, Uc
from unicorn import arm64_const as R

import armbp
from armbp import assemble
from armbp.debugger import Debugger, StopReason
from armbp.kvm.abi import ExitReason
from armbp.kvm.unicorn import VCpu

RUNAWAY = "_start: b _start\n"


def run_in_thread(vcpu: VCpu, seconds: float):
    result = {}

    def body():
        result["exit"] = vcpu.run(seconds)

    t = threading.Thread(target=body, daemon=True)
    t.start()
    return t, result


def test_a_vcpu_that_never_woke_the_watchdog_is_still_stopped():
    # A sleeps towards its own deadline; B's later deadline does not wake the thread, so
    # the thread must already know B when it wakes for A (it did not, once: B ran forever).
    a, b = VCpu(armbp.assemble(RUNAWAY)), VCpu(armbp.assemble(RUNAWAY))
    ta, ra = run_in_thread(a, 0.2)
    time.sleep(0.05)
    tb, rb = run_in_thread(b, 0.4)
    for t in (ta, tb):
        t.join(timeout=10)
        assert not t.is_alive(), "a runaway guest was never stopped by its time budget"
    assert ra["exit"].reason is ExitReason.BUDGET
    assert rb["exit"].reason is ExitReason.BUDGET


def test_many_short_runs_on_many_vcpus_all_come_back():
    vcpus = [VCpu(armbp.assemble(RUNAWAY)) for _ in range(3)]
    for round_ in range(20):
        started = [
            run_in_thread(v, 0.002 * (1 + (round_ + i) % 3)) for i, v in enumerate(vcpus)
        ]
        for t, result in started:
            t.join(timeout=10)
            assert not t.is_alive(), f"round {round_}: a run hung"
            assert result["exit"].reason is ExitReason.BUDGET


# -- a time stop and the instruction boundary --------------------------------------------

BASE = 0x40000
NEVER = (1 << 64) - 1
STOPS = 200  # stops per test; about two in three landed wrong in every measured run

# The flag lives 64 bytes below the initial SP (the stack is mapped read/write and zeroed).
POLL = """
_start: mov x5, sp
        sub x5, x5, #64
loop:   mov x0, x5
load:   ldr w0, [x0]
        add x1, x1, #1
        cbz w0, loop
        hvc #0
"""


def _consistent(pc: int, load: int, x0: int, flag: int) -> bool:
    """At ``load`` the loop has just set x0 = &flag; anywhere else x0 is the flag's value."""
    return x0 == flag if pc == load else x0 == 0


def test_unicorn_an_emu_stop_from_another_thread_can_leave_pc_behind_the_guest():
    """Unicorn fact (2.1.4): ``emu_stop`` from another thread, with no hook at all, ends
    the run at the start of the next translated block, and there Unicorn does not set PC
    to that block's address when a stop was asked for (``cpu_tb_exec`` leaves it to a
    code hook, which has none here to do it). PC keeps the last value written by
    generated code: before every load or store, or at an unchained block exit. In a
    polling loop whose block chains to itself, that is the ``ldr``, already executed.
    If this test starts failing, Unicorn has fixed it: the model may then trust the PC
    of a time stop again (see armbp/kvm/unicorn/watchdog.py)."""
    prog = assemble(POLL, base=BASE)
    uc = Uc(UC_ARCH_ARM64, UC_MODE_ARM)
    uc.mem_map(BASE, 0x10000)
    uc.mem_write(BASE, prog.code)
    uc.mem_map(0x80000, 0x1000)
    uc.reg_write(R.UC_ARM64_REG_SP, 0x80000 + 0x1000)
    load = prog.symbols["load"]
    running = threading.Event()
    done = threading.Event()

    def stopper() -> None:
        while not done.is_set():
            if running.wait(0.01):
                done.wait(0.0005)
                uc.emu_stop()  # again and again: a stop before emu_start began is lost

    threading.Thread(target=stopper, daemon=True).start()
    pc, wrong = BASE, 0
    try:
        for _ in range(STOPS):
            running.set()
            uc.emu_start(pc, NEVER)
            running.clear()
            pc = uc.reg_read(R.UC_ARM64_REG_PC)
            x0, x5 = uc.reg_read(R.UC_ARM64_REG_X0), uc.reg_read(R.UC_ARM64_REG_X5)
            if not _consistent(pc, load, x0, x5):
                wrong += 1
                uc.reg_write(R.UC_ARM64_REG_X0, x5)  # repair by hand, to go on measuring
    finally:
        done.set()
        running.set()
    assert wrong > 0, f"{STOPS} stops from another thread all landed between instructions"


@pytest.mark.xfail(
    strict=True,
    reason="a time-budget stop is an emu_stop from the watchdog thread: with Unicorn "
    "2.1.4 it leaves PC behind the guest (see the Unicorn fact above); only a stop "
    "asked for inside a hook by the running thread (the end of an instruction count is "
    "one) ends between two instructions",
)
def test_every_time_budget_stop_of_a_vcpu_leaves_it_between_two_instructions():
    prog = assemble(POLL, base=BASE)
    vcpu = VCpu(prog)
    load = prog.symbols["load"]
    for i in range(STOPS):
        exit_ = vcpu.run(0.0005)
        assert exit_.reason == ExitReason.BUDGET, f"stop {i}: {exit_}"
        pc, x0, x5 = vcpu.pc, vcpu.read_register("x0"), vcpu.read_register("x5")
        assert _consistent(pc, load, x0, x5), f"stop {i}: pc={pc:#x} x0={x0:#x} &flag={x5:#x}"


@pytest.mark.xfail(
    strict=True,
    reason="Debugger.cont(seconds) is a time-budget run of the vCPU (see above)",
)
def test_cont_with_a_time_budget_resumes_a_polling_loop_without_a_stray_fault():
    dbg = Debugger(assemble(POLL, base=BASE))
    for i in range(STOPS):
        stop = dbg.cont(0.0005)
        assert stop.reason == StopReason.BUDGET, f"cont {i}: {stop}"
