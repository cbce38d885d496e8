"""The stub's view of a guest: ``Target``, and ``DebuggerTarget`` over armbp's ``Debugger``.

``GdbStub`` (the protocol) and ``GdbServer`` (the socket) drive any ``Target``; the real
one is the breakpoint core, unchanged: ``Z0``/``z0`` are ``Debugger.break_at``/``delete``,
memory goes through the table, ``c`` is ``Debugger.cont`` in slices. A Linux ELF's system
calls are served by its ``LinuxProcess`` (the guest kernel, ``armbp.linux``), which the
Python API uses the same way.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal, Protocol

from armbp.encodings import BRK0
from armbp.gdb.registers import CORE, REGISTERS

SIGINT, SIGILL, SIGTRAP, SIGSEGV, SIGKILL = 2, 4, 5, 11, 9
DETACH_SECONDS = 5.0  # how long a detached guest runs on, off the server's thread


# --- what the stub drives ---------------------------------------------------------------------
@dataclass(frozen=True)
class StopEvent:
    """Why the guest stopped, as the stub reports it.

    ``kind``: "signal" (stopped with ``signal``), "exited" (``code``), "killed" (by
    ``signal``). ``swbreak`` marks a stop at one of our BRKs; ``note`` says in armbp terms
    what happened ("EC 0x3C hsr f2000000 → ours").
    """

    kind: str
    signal: int = SIGTRAP
    code: int = 0
    swbreak: bool = False
    pc: int | None = None
    note: str = ""
    hwbreak: bool = False  # a hardware breakpoint of ours (``hwbreak:``)
    watch: str | None = None  # "watch", "rwatch" or "awatch": the reply's reason
    data_address: int | None = None  # the watched address the access touched
    syscall: tuple[str, int] | None = None  # ("entry" | "return", number): a caught call
    siginfo: bytes | None = None  # the signal's siginfo_t (qXfer:siginfo:read)


class OutOfSlots(Exception):
    """Every hardware breakpoint or watchpoint slot is in use; the message names the limit.

    The stub answers an error, so GDB says "Could not insert hardware watchpoint N" (or
    breakpoint) instead of quietly single-stepping the program.
    """


# GDB's Z-packet types for hardware points, and the watch kinds of the Debugger API
HW_BREAK = "1"
WATCH_KINDS = {"2": "write", "3": "read", "4": "access"}
# the stop reply's reason for each kind (GDB remote protocol, "Stop Reply Packets")
WATCH_REASONS = {"write": "watch", "read": "rwatch", "access": "awatch"}


class Target(Protocol):
    """What ``GdbStub`` needs from a guest. ``DebuggerTarget`` is the real one."""

    pid: int

    @property
    def tid(self) -> int: ...  # the thread the last stop reports

    def read_register(self, n: int) -> int: ...
    def read_core(self) -> list[int]: ...  # x0..x30, sp, pc, cpsr
    def write_register(self, n: int, value: int) -> None: ...
    def read_memory(self, address: int, size: int) -> bytes: ...  # planted BRKs hidden
    def write_memory(self, address: int, data: bytes) -> None: ...
    def insert_breakpoint(self, address: int) -> str: ...  # returns a log note
    def remove_breakpoint(self, address: int) -> str: ...
    # optional: ``insert_hw(type, address, kind)``/``remove_hw(...)`` for Z1..Z4 (type "1"
    # hardware breakpoint, "2"/"3"/"4" write/read/access watchpoint of ``kind`` bytes),
    # returning a log note and raising ``OutOfSlots``; without them Z1..Z4 are unsupported
    def resume(
        self, step: bool, seconds: float
    ) -> StopEvent | None: ...  # None: still running
    def interrupted(self) -> StopEvent: ...
    def last_stop(self) -> StopEvent: ...
    def auxv(self) -> bytes | None: ...
    def kill(self) -> None: ...
    def detach(self) -> None: ...  # must not block: run the guest elsewhere

    # optional: ``kick()`` stops a running ``resume`` at once (safe from a signal handler),
    # and ``detached_run``, the thread a detached guest runs on (the server waits for it)


# --- the real target: armbp's Debugger ------------------------------------------------------
class DebuggerTarget:
    """A ``Target`` over ``armbp.debugger.Debugger``: the breakpoint core, unchanged.

    ``Z0``/``z0`` are ``Debugger.break_at``/``delete`` (the table inserts and removes the
    BRK and the VMM asks for the trap only while the table is non-empty); memory goes
    through the table's shadow and write-through; ``c`` is ``Debugger.cont`` in slices,
    ``s`` is ``Debugger.step``. With a ``LinuxProcess`` the guest is a Linux program at
    EL0 whose system calls are served between runs.
    """

    pid = 1
    GDB_SIGSTOP = 17  # GDB's number for SIGSTOP: how a deadlock is reported

    def __init__(
        self, debugger: Any, process: Any = None, log: Callable[[str], None] | None = None
    ):
        self.dbg = debugger
        if hasattr(debugger, "watch_stop"):
            # AArch64 watchpoints are non-steppable for GDB: it wants the stop before the
            # access, then removes the watchpoint, steps and compares old and new values
            debugger.watch_stop = "before"
        self.process = process
        self.log = log
        self._last = StopEvent("signal", SIGTRAP, pc=debugger.pc)
        self._fatal: int | None = None  # a signal that kills the process when resumed
        self.gone = False
        self.detached_run: threading.Thread | None = None
        self._kicked = threading.Event()
        self._catch: frozenset[int] | None = None  # QCatchSyscalls: None off, empty all
        self._held: int | None = None  # a system call stopped at its entry
        self._g_thread: int | None = None  # Hg: whose registers g/p/G/P read and write
        self._c_thread: int | None = None  # Hc, vCont: the thread the next resume runs

    # threads (a Linux process's; one otherwise)
    @property
    def _threads(self) -> Any:
        proc = self.process
        return proc.threads if proc is not None and proc.syscalls is not None else None

    @property
    def tid(self) -> int:
        """The thread on the vCPU: the one the last stop reports."""
        threads = self._threads
        return threads.current if threads is not None else 1

    def thread_ids(self) -> list[int]:
        """The live threads, in the order they were made."""
        threads = self._threads
        return [t.tid for t in threads.live()] if threads is not None else [1]

    def thread_extra(self, tid: int) -> str:
        threads = self._threads
        if threads is None or tid not in threads.threads:
            return "running"
        return threads.threads[tid].describe()

    def select_thread(self, op: str, tid: int | None) -> None:
        """``Hg``/``Hc``/vCont: the thread registers are read from, or run next."""
        if op == "g":
            self._g_thread = tid
        else:
            self._c_thread = tid

    def _regs(self) -> Any:
        """What registers are read from: the debugger (the thread on the vCPU), or the
        saved context of the thread ``Hg`` selected."""
        tid = self._g_thread
        if tid is None or self._threads is None or tid == self.tid:
            return self.dbg
        saved = self.process.thread_registers(tid)
        return self.dbg if saved is None else _SavedContext(saved, self.dbg)

    def _run_selected(self) -> None:
        """Before a resume: put the thread ``Hc``/vCont named on the vCPU."""
        tid, self._c_thread, self._g_thread = self._c_thread, None, None
        threads = self._threads
        if tid is None or threads is None or tid == threads.current:
            return
        if tid in threads.threads and threads.threads[tid].state == "runnable":
            self.process.switch_to(self.dbg.vcpu, tid)
            self.dbg.write_register("pc", self.dbg.vcpu.pc)  # the debugger's own state anew

    # registers: through the one register table
    def read_core(self) -> list[int]:
        values = self._regs().registers()
        return [r.pick(values) for r in CORE]

    def read_register(self, n: int) -> int:
        return REGISTERS[n].read(self._regs())

    def write_register(self, n: int, value: int) -> None:
        REGISTERS[n].write(self._regs(), value)

    # memory and breakpoints
    def read_memory(self, address: int, size: int) -> bytes:
        return self.dbg.read_memory(address, size)

    def write_memory(self, address: int, data: bytes) -> None:
        self.dbg.write_memory(address, data)

    def insert_breakpoint(self, address: int) -> str:
        bp = self.dbg.break_at(address)
        if bp.use_count > 1:
            return f"use count of {address:#x} now {bp.use_count}"
        return f"saved {bp.saved_insn:08x}, wrote BRK {BRK0:08x}"

    def remove_breakpoint(self, address: int) -> str:
        saved = self.dbg.table.find(address)
        left = self.dbg.delete(address)
        if left is not None:
            return f"use count of {address:#x} now {left.use_count}"
        return f"restored {saved.saved_insn:08x}" if saved else "removed"

    def insert_hw(self, type: str, address: int, kind: int) -> str:
        """Z1 (``hbreak``) or Z2/Z3/Z4 (``watch``/``rwatch``/``awatch``) through the
        Debugger API: a DBGBCR/DBGWCR slot is programmed, guest memory is not touched."""
        from armbp.debugger import SlotsExhausted

        try:
            if type == HW_BREAK:
                hb = self.dbg.hbreak_at(address)
                return f"hardware breakpoint slot {hb.slot} at {address:#x}: memory untouched"
            wp = self.dbg.watch(address, size=kind, kind=WATCH_KINDS[type])
        except SlotsExhausted as e:
            raise OutOfSlots(str(e)) from None
        return f"{wp.kind} watchpoint slot {wp.slot} on {wp.size} byte(s) at {address:#x}"

    def remove_hw(self, type: str, address: int, kind: int) -> str:
        """z1..z4: free the slot again."""
        if type == HW_BREAK:
            hb = self.dbg.delete_hbreak(address)
            return f"freed hardware breakpoint slot {hb.slot}" if hb else "none there"
        wp = self.dbg.delete_watch(address, size=kind, kind=WATCH_KINDS[type])
        return f"freed watchpoint slot {wp.slot}" if wp else "none there"

    # running
    def _event(self, stop) -> StopEvent | None:
        """A Debugger ``Stop`` as a stub event; None when the guest just goes on."""
        how = stop.reason.stub  # each kind of stop says how a stub reports it
        if how is None:
            return None
        hsr = stop.exit.debug.hsr if stop.exit.debug else 0
        watch, address = None, None
        wp = getattr(stop, "watch", None)
        if wp is not None:
            watch, address = WATCH_REASONS[wp.kind], _watched(wp, stop.data_address)
        return StopEvent(
            how.kind,
            how.signal,
            swbreak=how.swbreak,
            pc=stop.pc,
            note=how.note.format(
                ec=f"0x{hsr >> 26:02X}",
                hsr=f"{hsr:08x}",
                note=stop.note or "ours",
                message=stop.message,
            ),
            hwbreak=getattr(stop.reason, "name", "") == "HW_BREAKPOINT",
            watch=watch,
            data_address=address,
        )

    # system calls and signals of a Linux process
    def catch_syscalls(self, numbers: frozenset[int] | None) -> None:
        """Stop at the entry and return of these system calls (all: empty; none: None)."""
        self._catch = numbers

    def _catching(self, number: int) -> bool:
        return self._catch is not None and (not self._catch or number in self._catch)

    def siginfo(self) -> bytes | None:
        """The ``siginfo_t`` of the signal the last stop reports (None: no signal)."""
        return self._last.siginfo if self._last.kind == "signal" else None

    def _kernel_event(self, served: Any) -> StopEvent | None:
        """A ``KernelStop`` as a stub event; None for a system call served (go on)."""
        if served.kind == "syscall":
            return None
        if served.kind == "exited":
            return StopEvent("exited", code=served.code, note=served.note)
        if served.kind == "deadlock":  # stopped for good: every resume reports it again
            return StopEvent("signal", self.GDB_SIGSTOP, pc=self.dbg.pc, note=served.note)
        self._fatal = served.signal or SIGILL
        info = served.siginfo
        return StopEvent(
            "signal",
            self._fatal,
            pc=self.dbg.pc,
            note=served.note,
            siginfo=info.siginfo() if info is not None else None,
        )

    def _at_gate(self, stop: Any = None) -> StopEvent | None | Literal[False]:
        """After a stop: let the guest kernel serve its part (``LinuxProcess.handle``).

        Returns a stop event (exit, signal, a caught system call's entry), None (a system
        call done: go on), or False (not the kernel's stop).
        """
        if self.process is None:
            return False
        number = self.process.entering(self.dbg.vcpu)
        if number is not None and self._catching(number):
            self.process.hold(self.dbg.vcpu)
            self._held = number
            return StopEvent(
                "signal",
                SIGTRAP,
                pc=self.dbg.pc,
                syscall=("entry", number),
                note=f"system call {number} entered",
            )
        served = self.process.handle(self.dbg.vcpu, stop)
        if served is None:
            return False
        return self._kernel_event(served)

    def _serve_held(self) -> StopEvent | None:
        """Carry out the system call stopped at its entry; its return is a stop too."""
        number, self._held = self._held, None
        assert number is not None and self.process is not None
        served = self.process.serve_held(self.dbg.vcpu)
        ev = self._kernel_event(served)
        if ev is None and self._catching(number):
            ev = StopEvent(
                "signal",
                SIGTRAP,
                pc=self.dbg.pc,
                syscall=("return", number),
                note=f"system call {number} returned",
            )
        return ev

    def resume(self, step: bool, seconds: float) -> StopEvent | None:
        if self._last.kind in ("exited", "killed"):
            return self._last
        if self._fatal is not None:
            self._last = StopEvent(
                "killed", self._fatal, note=f"killed by signal {self._fatal}"
            )
            return self._last
        if self.process is not None and getattr(self.process, "deadlock", None):
            return self._last  # every thread waits for ever: the deadlock stop again
        self._run_selected()
        if self._held is not None:
            held = self._serve_held()
            if held is not None or step:  # a step over the call ends after it
                self._last = held or StopEvent(
                    "signal", SIGTRAP, pc=self.dbg.pc, note="step over SVC"
                )
                return self._last
        deadline = time.monotonic() + seconds
        while True:
            left = max(deadline - time.monotonic(), 0.001)
            sliced = self.process is not None and not step
            stop = (
                self.dbg.step()
                if step
                # a Linux process runs in instruction-counted slices, each ended between
                # two instructions (a time stop can land inside a load: see
                # armbp.linux.threads.SLICE_INSTRUCTIONS); threads switch between them
                else self.dbg.cont(
                    self.process.time_slice(left, exact=True) if sliced else left
                )
            )
            gated = self._at_gate(stop)
            if gated is None:
                if step:  # the SVC was the instruction stepped: stop after it
                    ev = StopEvent("signal", SIGTRAP, pc=self.dbg.pc, note="step over SVC")
                    break
                if time.monotonic() >= deadline:
                    return None
                continue
            found = self._event(stop) if gated is False else gated
            if found is None:
                if sliced and getattr(stop.reason, "name", "") == "BUDGET":
                    if stop.exit.message != "interrupted":
                        self.process.preempt(self.dbg.vcpu)  # the slice is over
                    if time.monotonic() < deadline and stop.exit.message != "interrupted":
                        continue
                return None
            ev = found
            break
        self._last = ev
        return ev

    def interrupted(self) -> StopEvent:
        self._last = StopEvent("signal", SIGINT, pc=self.dbg.pc, note="Ctrl-C")
        return self._last

    def last_stop(self) -> StopEvent:
        return self._last

    def auxv(self) -> bytes | None:
        return self.process.auxv() if self.process is not None else None

    def maps(self) -> str | None:
        """``/proc/PID/maps`` of a Linux process (None: a bare-metal guest has none)."""
        return self.process.maps() if self.process is not None else None

    def kill(self) -> None:
        self.gone = True

    def kick(self) -> None:
        """Stop a running ``resume`` now (from a signal handler or another thread); a
        detached guest's run on ends too."""
        self._kicked.set()
        self.dbg.interrupt()

    def _log(self, line: str) -> None:
        if self.log is not None:
            self.log(line)

    def detach(self) -> None:
        """Remove every breakpoint and let the guest run on, off the caller's thread.

        The guest runs for up to ``DETACH_SECONDS`` on its own thread (``detached_run``),
        so a server with ``--multi`` goes back to accepting at once; ``kick`` ends it early.
        A failure is logged, never swallowed: breakpoints that cannot be removed end the
        guest there (running it would trap into a debugger that is gone).
        """
        self.gone = True
        try:
            self.dbg.delete_all(force=True)
        except Exception as e:  # noqa: BLE001
            self._log(
                f"detach: cannot remove the breakpoints ({type(e).__name__}: {e}): "
                "the guest is ended, not run on"
            )
            return
        self.detached_run = threading.Thread(
            target=self._run_detached, name="armbp-detached-guest", daemon=True
        )
        self.detached_run.start()

    def _run_detached(self) -> None:
        deadline = time.monotonic() + DETACH_SECONDS
        try:
            while (
                time.monotonic() < deadline
                and not self._kicked.is_set()
                and self._last.kind not in ("exited", "killed")
            ):
                ev = self.resume(False, 0.1)
                if ev is not None and ev.kind == "signal":
                    self._log(f"detached guest stopped: {ev.note or ev.kind}")
                    return
        except Exception as e:  # noqa: BLE001
            self._log(f"detached guest: {type(e).__name__}: {e}")
            return
        if self._kicked.is_set():
            self._log("detached guest ended: the server stops")
        elif self._last.kind not in ("exited", "killed"):
            self._log(f"detached guest still running after {DETACH_SECONDS:g} s: ended")


class _SavedContext:
    """A descheduled thread's registers as the register table reads them (its saved
    context; what no thread owns alone, such as the EL1 registers, from the vCPU)."""

    def __init__(self, saved: dict[str, int], dbg: Any):
        self.saved, self.dbg = saved, dbg

    def registers(self) -> dict[str, int]:
        return self.saved

    def read_register(self, name: str) -> int:
        key = "pstate" if name == "cpsr" else name
        return self.saved[key] if key in self.saved else self.dbg.read_register(name)

    def write_register(self, name: str, value: int) -> None:
        key = "pstate" if name == "cpsr" else name
        if key in self.saved:
            self.saved[key] = value
        else:
            self.dbg.write_register(name, value)


def _watched(wp: Any, far: int | None) -> int:
    """The address to report for a watchpoint hit: the FAR when it lies in the watched
    bytes, else the watched start. An access that only partly overlaps the watched bytes
    (an STP across them) may report a FAR below them, and GDB looks the reported address
    up in its watchpoints' ranges to say which one fired."""
    if far is not None and wp.address <= far < wp.address + wp.size:
        return int(far)
    return int(wp.address)


def target_factory(
    program: str,
    args: list[str] | None = None,
    *,
    log: Callable[[str], None] | None = None,
    stdout: Callable[[bytes], None] | None = None,
    stdin: BinaryIO | None = None,
    tty: bool = False,
) -> Callable[[], DebuggerTarget]:
    """A function that builds a fresh guest for each connection.

    ``program`` is a path: a static AArch64 ELF (run as a Linux process at EL0, with
    ``args``; fd 0 reads ``stdin``, and fds 0-2 are a terminal if ``tty``), or an armbp
    assembly source (run bare-metal at EL1, as in the lessons).
    Errors (missing file, not an ELF we can run, assembly errors) raise ``ValueError``.
    """
    from armbp.debugger import Debugger

    if os.path.exists(program) and not (os.path.isfile(program) or os.path.isdir(program)):
        # a FIFO would block the server before it listens, /dev/zero never end
        raise ValueError(
            "not a regular file: expected a static AArch64 ELF or an armbp assembly source"
        )
    with open(program, "rb") as f:
        head = f.read(4)
    if head == b"\x7fELF":
        from armbp.linux import LinuxProcess

        def make() -> DebuggerTarget:
            proc = LinuxProcess(
                program,
                [program, *(args or [])],
                stdout=stdout,
                log=log,
                stdin=stdin,
                tty=tty,
            )
            return DebuggerTarget(proc.launch(), proc, log)

        return make
    if args:
        raise ValueError("arguments are for ELF programs; an assembly source takes none")
    with open(program, encoding="utf-8") as text:
        source = text.read()
    from armbp.asm import assemble

    prog = assemble(source, name=program)

    def make_bare() -> DebuggerTarget:
        return DebuggerTarget(Debugger(prog), None, log)

    return make_bare
