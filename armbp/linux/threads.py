"""The threads of one process, scheduled on the one vCPU, and the futexes they wait on.

A thread is what ``clone`` with ``CLONE_THREAD`` makes: its own registers (x0–x30, sp, pc,
PSTATE, ``TPIDR_EL0`` — its thread pointer, which glibc's TLS hangs off — and the FP/SIMD
file), the same memory, files and signal dispositions as the others. There is one vCPU, so
one thread runs at a time and the others wait with their registers saved here
(``Thread.registers``), exactly as a kernel keeps a descheduled task's context in memory.

The scheduler switches threads where a kernel would: when a system call blocks (a
``futex`` wait whose word still holds the expected value, ``sched_yield``, the ``exit``
of one thread) and at the end of a time slice (``SLICE_INSTRUCTIONS``), round robin in the order
the threads were created. ``Threads`` decides and keeps the records; the process
(``LinuxProcess``) moves registers between a record and the vCPU (``save``/``load``).

A futex wait either ends by a ``FUTEX_WAKE`` on the same word (or on the word a
``FUTEX_REQUEUE`` moved it to), or at its deadline
(``-ETIMEDOUT``). When every live thread waits and none has a deadline, nothing can ever
wake one of them: that is a deadlock, reported by the process as a stop of its own
instead of a hang.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from armbp.linux.uapi import ETIMEDOUT, FUTEX_BITSET_MATCH_ANY

#: How long one thread runs before the next runnable one gets the vCPU: an instruction
#: count, not a time. A time budget ends the run when the watchdog stops Unicorn, and
#: such a stop can land inside a load (measured: ``ldr w0, [x0]`` done, PC still on it),
#: which resuming the same thread survives only by luck and another thread's registers
#: never; Unicorn's instruction count stops between two instructions. A switch costs
#: about 2 ms (measured: save 0.7 ms, load 1.3 ms, most of it the 32 FP/SIMD registers,
#: one call each), and 10^6 counted A64 instructions take 25-30 ms here: under a
#: tenth of the time goes to switching when threads compete for the vCPU.
SLICE_INSTRUCTIONS = 1_000_000
#: The registers that make up a thread's context at EL0 (what a switch saves and loads).
CONTEXT = (
    *(f"x{i}" for i in range(31)),
    "sp",
    "pc",
    "pstate",
    "tpidr_el0",
    *(f"v{i}" for i in range(32)),
    "fpsr",
    "fpcr",
)
RUNNABLE, WAITING, EXITED = "runnable", "waiting", "exited"
MAX_WAIT = 10.0  # a guest may not hold the host longer than this in one timed wait


@dataclass
class Thread:
    """One thread: its id, its saved registers (None while it is on the vCPU), its state.

    ``futex``/``bitset``/``deadline`` say what a waiting thread waits for (``deadline`` on
    ``time.monotonic()``'s clock, None: for ever); ``clear_child_tid`` is the word the
    kernel zeroes and wakes when the thread exits (``set_tid_address``,
    ``CLONE_CHILD_CLEARTID``): how ``pthread_join`` learns of the end.
    """

    tid: int
    registers: dict[str, int] | None = None
    state: str = RUNNABLE
    clear_child_tid: int = 0
    robust_list: int = 0
    futex: int | None = None
    bitset: int = FUTEX_BITSET_MATCH_ANY
    deadline: float | None = None
    result: int | None = None  # x0 for when it runs again (a wait's answer)
    code: int | None = None  # the exit code of an exited thread
    syscalls: int = 0  # how many system calls it made (for ``describe``)

    def describe(self) -> str:
        """One line for a debugger's thread list: state, and what a waiter waits on."""
        if self.state == WAITING:
            what = f"futex {self.futex:#x}" if self.futex is not None else "yield"
            limit = "" if self.deadline is None else ", with a timeout"
            return f"waiting on {what}{limit}"
        if self.state == EXITED:
            return f"exited ({self.code})"
        return self.state


@dataclass
class Threads:
    """The thread table and the scheduler's decisions (no vCPU here: see the module doc).

    The first thread's id is the process id (as on Linux: the main thread is the thread
    group leader); later threads get the next free numbers.
    """

    pid: int
    threads: dict[int, Thread] = field(default_factory=dict)
    current: int = 0
    switches: int = 0

    def __post_init__(self) -> None:
        if not self.threads:
            self.threads[self.pid] = Thread(self.pid)
            self.current = self.pid

    @property
    def running(self) -> Thread:
        """The thread on the vCPU."""
        return self.threads[self.current]

    def live(self) -> list[Thread]:
        """Threads that have not exited, in creation order."""
        return [t for t in self.threads.values() if t.state != EXITED]

    def runnable(self) -> list[Thread]:
        return [t for t in self.threads.values() if t.state == RUNNABLE]

    def spawn(self) -> Thread:
        """A new runnable thread with the next free id (its registers: the caller's)."""
        tid = max(self.threads) + 1
        self.threads[tid] = thread = Thread(tid)
        return thread

    def wait(self, uaddr: int, bitset: int, deadline: float | None) -> None:
        """The running thread waits on the futex word at ``uaddr``."""
        t = self.running
        t.state, t.futex, t.bitset, t.deadline = WAITING, uaddr, bitset, deadline

    def wake(self, uaddr: int, count: int, bitset: int = FUTEX_BITSET_MATCH_ANY) -> int:
        """Wake up to ``count`` waiters on ``uaddr`` whose bitset shares a bit with
        ``bitset``, oldest first; how many woke (their wait returns 0)."""
        woken = 0
        for t in self.threads.values():
            if woken >= count:
                break
            if t.state == WAITING and t.futex == uaddr and t.bitset & bitset:
                self._ready(t, 0)
                woken += 1
        return woken

    def requeue(self, uaddr: int, wake: int, move: int, to: int) -> tuple[int, int]:
        """Wake up to ``wake`` waiters on ``uaddr``, then move up to ``move`` more to wait
        on ``to`` instead, oldest first: (woken, moved). This is how a condition variable's
        broadcast hands its waiters to the mutex one at a time, instead of waking them all
        to fight over it (musl's ``pthread_cond_broadcast``)."""
        woken = moved = 0
        for t in self.threads.values():
            if t.state != WAITING or t.futex != uaddr:
                continue
            if woken < wake:
                self._ready(t, 0)
                woken += 1
            elif moved < move:
                t.futex = to
                moved += 1
            else:
                break
        return woken, moved

    @staticmethod
    def _ready(t: Thread, result: int) -> None:
        t.state, t.futex, t.deadline, t.result = RUNNABLE, None, None, result

    def expire(self, now: float | None = None) -> list[Thread]:
        """Waiters whose deadline has passed become runnable with ``-ETIMEDOUT``."""
        now = time.monotonic() if now is None else now
        late = [
            t
            for t in self.threads.values()
            if t.state == WAITING and t.deadline is not None and t.deadline <= now
        ]
        for t in late:
            self._ready(t, -ETIMEDOUT)
        return late

    def next_runnable(self) -> Thread | None:
        """Round robin: the first runnable thread after the running one (it too, last)."""
        order = list(self.threads)
        start = order.index(self.current)
        for tid in order[start + 1 :] + order[: start + 1]:
            if self.threads[tid].state == RUNNABLE:
                return self.threads[tid]
        return None

    def earliest_deadline(self) -> float | None:
        deadlines = [
            t.deadline
            for t in self.threads.values()
            if t.state == WAITING and t.deadline is not None
        ]
        return min(deadlines) if deadlines else None

    def pick(self) -> Thread | None:
        """The thread to run next, sleeping until a timed wait ends if every live thread
        waits; None when every live thread waits for ever (a deadlock)."""
        self.expire()
        found = self.next_runnable()
        if found is not None:
            return found
        deadline = self.earliest_deadline()
        if deadline is None:
            return None
        time.sleep(min(max(deadline - time.monotonic(), 0.0), MAX_WAIT))
        self.expire(max(time.monotonic(), deadline))
        return self.next_runnable()

    def deadlock_note(self) -> str:
        """Why no thread can run: each live thread and what it waits on."""
        waits = ", ".join(f"thread {t.tid} {t.describe()}" for t in self.live())
        return f"deadlock: every thread waits and none can wake the others ({waits})"


def save(vcpu: Any) -> dict[str, int]:
    """The running thread's context, read off the vCPU (at EL0, after an ``ERET``)."""
    values = vcpu.registers()  # x0–x30, sp, pc, pstate in one batch
    for name in CONTEXT[34:]:
        values[name] = vcpu.read_register(name)
    return values


def load(vcpu: Any, registers: dict[str, int]) -> None:
    """Put a saved context on the vCPU (PSTATE first: it selects which SP ``sp`` is)."""
    vcpu.write_register("pstate", registers["pstate"])
    for name in CONTEXT:
        if name != "pstate":
            vcpu.write_register(name, registers[name])
