"""``ElfDebugger``: a ``Debugger`` over a Linux process, whose kernel runs between stops.

``Debugger.from_elf("loop.elf")`` makes one. ``cont`` and ``step`` are the debugger's own,
with the guest kernel's part done in between (threads switched as ``LinuxProcess.run``
switches them) (``LinuxProcess.handle``): system calls are
served as they come, so a ``cont`` runs to the next breakpoint however many ``write``s the
program makes on the way, and what it printed is in ``stdout``. When the program exits or
is killed by a signal, the session is halted there (a ``HALTED`` stop whose note says how
it ended, and ``end`` holds the kernel's record: exit code, or signal with its syndrome),
as a powered-off bare-metal guest is. ``reset`` starts the program again, breakpoints kept.
"""

from __future__ import annotations

import os
import time
from typing import Any, BinaryIO

from armbp.debugger import Debugger, Stop, StopReason
from armbp.kvm.abi import DEFAULT_SECONDS, Budget, Exit, ExitReason
from armbp.linux.process import KernelStop, LinuxProcess


class ElfDebugger(Debugger):
    """A debugger session over a static AArch64 Linux ELF, at EL0 under its kernel.

    ``argv`` defaults to the path alone; ``stdin`` (bytes or a binary stream) is what the
    program reads from fd 0; its stdout and stderr are collected (``stdout``, ``stderr``:
    text) rather than printed. ``tty`` (on by default) says they are a terminal, so stdio
    flushes each line as it is printed, as on a console: the output grows between
    breakpoints. Other keywords are the ``Debugger``'s.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        argv: list[str] | None = None,
        *,
        stdin: BinaryIO | bytes | None = None,
        tty: bool = True,
        **kwargs: Any,
    ):
        self.output = bytearray()
        self.errors = bytearray()
        self.syscall_log: list[str] = []
        self._stdin = stdin
        self.process = LinuxProcess(
            path,
            argv,
            stdout=self.output.extend,
            stderr=self.errors.extend,
            log=self.syscall_log.append,
            stdin=stdin,
            tty=tty,
        )
        super().__init__(self.process.program, **kwargs)
        self.end: KernelStop | None = None
        self.process.start(self.vcpu)

    @property
    def stdout(self) -> str:
        """What the program wrote to fd 1 so far (decoded as UTF-8, errors replaced)."""
        return self.output.decode(errors="replace")

    @property
    def stderr(self) -> str:
        return self.errors.decode(errors="replace")

    def _ended(self, served: KernelStop) -> Stop:
        self.end = served
        pc = self.vcpu.pc
        if served.kind == "exited":
            note = f"the program exited with code {served.code}"
        elif served.kind == "deadlock":
            note = f"the program can never go on: {served.note}"
        else:
            info = served.siginfo
            note = f"the program was killed by {info.describe() if info else served.signal}"
        stop = Stop(
            StopReason.HALTED, pc, Exit(ExitReason.SYSTEM_EVENT, pc, message=note), note
        )
        self.last_stop = self._halted = stop
        return stop

    def cont(self, budget: Budget | float | None = None) -> Stop:
        """Run to a breakpoint, the program's end or the end of ``budget`` (seconds or a
        ``Budget``), serving system calls on the way."""
        if self._halted is not None:
            return super().cont(budget)
        b = Budget.of(DEFAULT_SECONDS if budget is None else budget)
        deadline = time.monotonic() + b.seconds
        while True:
            left = max(deadline - time.monotonic(), 0.001)
            sliced = not b.instructions and self.process.time_slice(left) != left
            run = (
                self.process.time_slice(left)
                if sliced
                else Budget(seconds=left, instructions=b.instructions)
            )
            stop = super().cont(run)
            served = self.process.handle(self.vcpu, stop)
            if served is None:
                if (
                    sliced
                    and stop.reason is StopReason.BUDGET
                    and stop.exit.message != "interrupted"
                    and time.monotonic() < deadline
                ):
                    self.process.preempt(self.vcpu)  # a time slice is over: next thread
                    continue
                return stop
            if served.kind != "syscall":
                return self._ended(served)
            if time.monotonic() >= deadline or b.instructions:
                return Stop(StopReason.BUDGET, self.vcpu.pc, stop.exit, served.note)

    def step(self) -> Stop:
        """One instruction; a system call's ``SVC`` is stepped with the call carried out."""
        stop = super().step()
        served = self.process.handle(self.vcpu, stop)
        if served is None:
            return stop
        if served.kind != "syscall":
            return self._ended(served)
        stop = Stop(StopReason.STEP, self.vcpu.pc, stop.exit, served.note)
        self.last_stop = stop
        return stop

    def reset(self) -> list:
        """Start the program again from its entry (fresh output), breakpoints kept."""
        dropped = super().reset()
        self.output.clear()
        self.errors.clear()
        self.syscall_log.clear()
        self.end = None
        self.process.start(self.vcpu)
        return dropped
