"""The time budget is enforced by one watchdog thread for every vCPU: no run ever hangs.

These tests start runaway guests (``b .``) on several vCPUs at once, the way a notebook and
a GDB stub can, and check that every run comes back with a BUDGET exit. A run that hung
would leave its thread alive: the join timeout turns that into a failure, not a hang.
"""

from __future__ import annotations

import threading
import time

import armbp
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
