"""The watchdog: one thread that turns every run's time budget into ``emu_stop``.

KVM ends ``KVM_RUN`` when a signal arrives (``KVM_EXIT_INTR``); the Unicorn model ends a
run whose time is up the same way, from outside, without costing the run anything.

What such a stop does not give (Unicorn 2.1.4, see tests/test_watchdog.py): a guest that
can be resumed exactly. ``emu_stop`` from another thread ends the run at the start of the
next translated block, and there Unicorn does not set PC to that block's address when a
stop was asked for; PC keeps the last value generated code wrote (before each load or
store, or at an unchained block exit), which can be an instruction that has already run.
A polling loop ``ldr w0, [x0]`` resumed there loads from the flag's value. Only a stop
asked for by the running thread itself, inside a hook, ends between two instructions (the
end of an instruction count is one); a stop from this thread or from ``kick`` is as
inexact in a counted run (measured: 40 of 200) or under code hooks. An exact end costs
every instruction it watches, so a run that must be resumed exactly (the Linux layer's
slices) is given an instruction count to end it.
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from armbp.kvm.unicorn.core import VCpu

__all__ = ["_WATCHDOG", "_Watchdog"]

# The longest the watchdog sleeps in one wait: far below threading.TIMEOUT_MAX (which
# Condition.wait refuses with OverflowError), long enough to cost nothing.
_MAX_SLEEP = 3600.0
_RETRY_SECONDS = 0.01  # after a failure while looking (see _Watchdog._loop)


class _Watchdog:
    """One daemon thread that stops runs whose time is up.

    Unicorn's own ``emu_start(timeout=...)`` starts and joins a timer thread per call, which
    costs ~110 µs on every re-entry (measured; see benchmarks/bench_core.py): a hit would
    cost 30 times the guest's work. This thread lives once per process and sleeps until the
    earliest deadline it knows. Every vCPU registers once, when it is made; a run publishes
    ``(token, deadline)`` on its vCPU without a lock, and wakes the thread only when that
    deadline is earlier than ``waiting_until``, the time the thread will look again by
    itself. While the thread is looking, ``waiting_until`` is +inf: it has promised nothing,
    so a run published then wakes it (and waits for the lock until it sleeps). A stop
    can race with the end of its run and land in the next one: the vCPU sees a stop that is
    not its own and simply enters the guest again. ``emu_stop`` is safe from another thread
    (Unicorn's own timer does the same).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._vcpus: weakref.WeakSet[VCpu] = weakref.WeakSet()
        self.waiting_until = math.inf
        self._thread: threading.Thread | None = None
        self.failures = 0
        self.last_failure: BaseException | None = None

    def register(self, vcpu: VCpu) -> None:
        """Look at ``vcpu``'s runs from now on (every vCPU, not only those that woke us)."""
        with self._cond:
            self._vcpus.add(vcpu)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="armbp-watchdog", daemon=True
                )
                self._thread.start()

    def watch(self, vcpu: VCpu) -> None:
        """Wake up to look at ``vcpu``'s current run (called only for an earlier deadline)."""
        with self._cond:
            self.waiting_until = math.inf  # until the thread has looked again
            self._cond.notify()

    def _loop(self) -> None:
        """Look, stop what is due, sleep; for the life of the process.

        Nothing may end this loop: every budget in the process depends on it. A failure
        while looking (a vCPU whose stop raised) is counted in ``failures``, kept in
        ``last_failure``, and the thread looks again shortly after.
        """
        with self._cond:
            while True:
                try:
                    self._look_and_sleep()
                except Exception as e:  # noqa: BLE001 - see the docstring
                    self.failures += 1
                    self.last_failure = e
                    self.waiting_until = math.inf
                    self._cond.wait(_RETRY_SECONDS)

    def _look_and_sleep(self) -> None:
        # While looking we promise no wake-up time: a run published after we
        # looked at its vCPU must wake us, so every deadline counts as earlier.
        self.waiting_until = math.inf
        now = time.monotonic()
        nearest = math.inf
        for vcpu in list(self._vcpus):
            run = vcpu._run
            if run is None:
                continue
            token, deadline = run
            if deadline <= now:
                vcpu._time_up(token)
                deadline = now + 0.001  # a stop sent before emu_start began is lost
            nearest = min(nearest, deadline)
        self.waiting_until = nearest
        if nearest == math.inf:
            self._cond.wait()
        else:
            # Condition.wait raises OverflowError above threading.TIMEOUT_MAX (a budget
            # of 1e10 s): sleep at most _MAX_SLEEP and look again, the deadline stays.
            self._cond.wait(min(nearest - now, _MAX_SLEEP))


_WATCHDOG = _Watchdog()
