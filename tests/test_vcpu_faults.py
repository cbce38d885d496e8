"""Faults found by using armbp as an adversary would: each test here once failed.

Hangs and crashes of the vCPU and the debugger (a watchdog killed by a huge budget, calls
from another thread during a run, Ctrl-C in an exception storm, a reset that half failed),
syndromes Unicorn's interrupt numbers alone get wrong (instruction aborts, PC alignment),
and the debugger's view of memory (reads that must agree whatever their size, sizes no
machine has).
"""
from __future__ import annotations

import threading
import time

import pytest

import armbp
from armbp.debugger import Debugger, StopReason
from armbp.vcpu import _WATCHDOG, ExitReason, VCpu

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
