"""The VMM's exit handler: what QEMU does when ``KVM_RUN`` returns.

``kvm_cpu_exec`` runs the vCPU, looks at the exit reason and either handles it and enters the
guest again, or returns to the main loop (and the gdbstub) with ``EXCP_DEBUG``. For a debug
exit, ``kvm_arm_handle_debug`` decodes the exception class from ``hsr`` and dispatches on it:

* EC 0x3C (BRK): sync the PC and look it up in the breakpoint table. Ours → stop and report.
  Not ours → the guest executed its own BRK: re-inject the exception into the guest (its
  vector table runs, as it would without a debugger) and enter the guest again. While a
  breakpoint is lifted for a step-over (``lifted``), a BRK at its pc is the guest's too.
* EC 0x32 (software step): the step we asked for is done → stop. One nobody asked for is
  an INTERNAL_ERROR (QEMU reports an error and does not re-inject it).
* EC 0x30 (hardware breakpoint): ours if one of our hardware breakpoints is at pc
  (``HW_BREAKPOINT``); EC 0x34 (watchpoint): ours if one of our watchpoints covers the data
  address in ``far`` (``WATCHPOINT``). Otherwise — and always for EC 0x38, an AArch32
  BKPT — they are the guest's own debugging: re-injected, as a BRK that is not ours.
* anything else (an EC KVM never exits with) → a clear INTERNAL_ERROR verdict, never an
  exception.

Both dispatches are tables, like Linux's ``arm_exit_handlers[]`` indexed by EC.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import NamedTuple

from armbp import esr
from armbp.hwdebug import HwSlots, Watchpoint
from armbp.kvm.abi import Exit, ExitReason, GuestDebug, GuestDebugArch, SystemEventType
from armbp.kvm.backend import Backend
from armbp.table import Breakpoint, BreakpointTable

__all__ = ["ExitHandler", "Handled", "StubReport", "Verdict"]


class StubReport(NamedTuple):
    """How a GDB remote stub reports one kind of stop to its client.

    ``kind`` is the stop reply's kind: "signal" (``T``, stopped with ``signal``) or "exited"
    (``W``). ``swbreak`` marks a stop at one of our BRKs (the reply's ``swbreak:`` reason).
    ``note`` is the stub's log line, a ``str.format`` template over ``ec``, ``hsr`` (the
    syndrome of the debug exit, if any), ``note`` (the handler's) and ``message`` (the
    stop's sentence).
    """

    kind: str
    signal: int = 5  # GDB's signal numbers: 5 TRAP, 11 SEGV, 4 ILL
    swbreak: bool = False
    note: str = "{message}"


class Verdict(Enum):
    """What the exit handler decided about one exit — and so why the debugger stopped.

    The one vocabulary of stops: the debugger's ``StopReason`` is this enum, and each member
    carries every word said about its kind, so that a new kind of stop (a hardware
    breakpoint, a watchpoint) is one member here. ``value`` is the log's word ("breakpoint
    at 0x40004"); ``decision`` the debugger view's sentence; ``stub`` how a GDB stub reports
    it (None: the stub does not stop for it); ``reported`` whether the stop is shown at its
    pc as a place the guest waits (continuing from it steps over a breakpoint there).
    """

    decision: str
    stub: StubReport | None
    reported: bool

    def __new__(
        cls, value: str, decision: str, stub: StubReport | None = None, reported: bool = False
    ) -> Verdict:
        member = object.__new__(cls)
        member._value_ = value
        member.decision = decision
        member.stub = stub
        member.reported = reported
        return member

    # handled (e.g. re-injected): enter the guest again
    RESUME = ("resume", "not ours → re-injected into the guest's vectors, the guest runs on")
    # our BRK: stop, report to the debugger
    BREAKPOINT = (
        "breakpoint",
        (
            "ours: the pc is in the breakpoint table → stop and report to "
            "the debugger (QEMU's EXCP_DEBUG)"
        ),
        StubReport("signal", 5, swbreak=True, note="EC {ec} hsr {hsr} → {note}"),
        True,
    )
    # one of our hardware breakpoints (EC 0x30): nothing was written into the guest
    HW_BREAKPOINT = (
        "hw-breakpoint",
        (
            "ours: a hardware breakpoint slot holds this pc (DBGBVR) → stop before the "
            "instruction and report (QEMU's EXCP_DEBUG)"
        ),
        StubReport("signal", 5, note="EC {ec} hsr {hsr} → {note}"),
        True,
    )
    # one of our watchpoints covers the data address in FAR (EC 0x34)
    WATCHPOINT = (
        "watchpoint",
        (
            "ours: a watchpoint slot covers the data address in FAR (DBGWVR) → stop and "
            "report the access (QEMU's EXCP_DEBUG)"
        ),
        StubReport("signal", 5, note="EC {ec} hsr {hsr} → {note}"),
        True,
    )
    # the requested single step is done
    STEP = (
        "step",
        "the single step we asked for is done → stop",
        StubReport("signal", 5, note="EC {ec} hsr {hsr} → step done"),
        True,
    )
    # the guest powered off (PSCI), reset, or sleeps forever
    HALTED = (
        "halted",
        "the guest halted → nothing more to run (Reset starts it again)",
        StubReport("exited"),
    )
    # out of time (or interrupted): the stub runs on
    BUDGET = (
        "budget",
        (
            "the budget ran out → the guest comes back to you (it has not "
            "finished: Continue gives it another budget)"
        ),
    )
    # an access outside guest memory
    FAULT = ("fault", "an access outside guest memory → stop", StubReport("signal", 11), True)
    # an exit we cannot handle
    INTERNAL_ERROR = (
        "internal-error",
        "an exit the handler cannot deal with → stop",
        StubReport("signal", 4),
    )


# An Enum class attribute costs ~0.1 µs per lookup: hot paths use module constants.
_RESUME, _BREAKPOINT, _DEBUG = Verdict.RESUME, Verdict.BREAKPOINT, ExitReason.DEBUG
_SW_BP_BITS = int(GuestDebug.ENABLE | GuestDebug.USE_SW_BP)
_STEP_BITS = int(GuestDebug.ENABLE | GuestDebug.SINGLESTEP)
_HW_BITS = int(GuestDebug.ENABLE | GuestDebug.USE_HW)
_FLAGS: dict[int, GuestDebug] = {}  # bits → GuestDebug, made once each


@dataclass(slots=True)
class Handled:
    """The handler's answer for one exit: the verdict, the exit, and what it did.

    ``note`` is a short phrase ("re-injected", "ours") kept cheap on the hit path;
    ``describe()`` turns it into a sentence for logs and front ends. A value to read, never
    to change (the event log shares it); not ``frozen``, because a frozen dataclass's
    ``__init__`` costs twice a plain one's and a hit makes two records
    (``benchmarks/bench_records.py``).
    """

    verdict: Verdict
    exit: Exit
    note: str = ""
    breakpoint: Breakpoint | None = None
    slot: int | None = None  # the hardware slot that fired
    watch: Watchpoint | None = None  # the watchpoint that fired

    @property
    def pc(self) -> int:
        return self.exit.pc

    def describe(self) -> str:
        """One line for a person: the exit, the decision and why."""
        e = self.exit
        if e.reason is ExitReason.DEBUG and e.debug is not None:
            head = (
                f"DEBUG exit at {e.pc:#x}: hsr={e.debug.hsr:#010x}, EC 0x{e.debug.ec:02X} "
                f"({e.debug.ec_name})"
            )
        elif e.reason is ExitReason.MMIO and e.mmio is not None:
            head = f"MMIO exit at pc {e.pc:#x}: {e.mmio.describe()}"
        elif e.reason is ExitReason.SYSTEM_EVENT and e.system_event is not None:
            head = (
                f"SYSTEM_EVENT exit: PSCI {e.system_event.function:#x} "
                f"({e.system_event.type.name})"
            )
        else:
            head = f"{e.reason.name} exit at {e.pc:#x}" + (
                f": {e.message}" if e.message else ""
            )
        return f"{head} → {self.verdict.value}" + (f" ({self.note})" if self.note else "")


class ExitHandler:
    """Handles the vCPU's exits against the breakpoint table (QEMU's KVM exit path)."""

    def __init__(self, vcpu: Backend, table: BreakpointTable, hw: HwSlots | None = None):
        self.vcpu = vcpu
        self.table = table
        self.hw = HwSlots() if hw is None else hw  # our hardware breakpoints, watchpoints
        # ("b" | "w", slot) left out of the slots for one step over what they stopped
        self.suspended: frozenset[tuple[str, int]] = frozenset()
        self._armed: GuestDebugArch | None = None  # the slots last given to the vCPU
        self.stepping = False
        # pc of a breakpoint lifted for a step-over: its saved instruction is the one
        # running there, so a BRK trapping at that pc is the guest's own
        self.lifted: int | None = None
        self.exits = 0  # exits handled by run(), each one handed to its on_exit
        self._find = table.find
        # exit reason → handler (kvm_arch_handle_exit's switch)
        self._by_reason: dict[int, Callable[[Exit], Handled]] = {
            ExitReason.DEBUG: self._debug,
            ExitReason.SYSTEM_EVENT: self._system_event,
            ExitReason.BUDGET: lambda e: Handled(Verdict.BUDGET, e),
            ExitReason.MMIO: lambda e: Handled(
                Verdict.FAULT, e, "no device model behind this address"
            ),
            ExitReason.HLT: lambda e: Handled(Verdict.HALTED, e),
            ExitReason.INTERNAL_ERROR: lambda e: Handled(Verdict.INTERNAL_ERROR, e),
        }
        # debug exit EC → handler (kvm_arm_handle_debug's switch; Linux: arm_exit_handlers[])
        self._by_ec: dict[int, Callable[[Exit], Handled]] = {
            esr.EC.BRK64: self._brk,
            esr.EC.SOFTSTP_LOW: self._software_step,
            esr.EC.BREAKPT_LOW: self._hw_breakpoint,
            esr.EC.WATCHPT_LOW: self._watchpoint,
            # the debugger plants no AArch32 BKPT: one trapping is the guest's own
            esr.EC.BKPT32: self._guests_own,
        }

    # -- guest debug ------------------------------------------------------------------------
    def update_guest_debug(self, *, step: bool = False) -> GuestDebug:
        """``kvm_arch_update_guest_debug``: ask for the BRK trap only while breakpoints exist,
        and for the hardware only while a hardware breakpoint or watchpoint exists.

        With an empty table the flags are cleared, so a guest's own BRK never leaves the
        guest. ``step`` adds SINGLESTEP for the next run. With hardware slots in use the
        control word has ``USE_HW`` and the slots (less the ``suspended`` ones) go with it.
        """
        bits = 0  # (as an int: IntFlag arithmetic is slow, and a step-over comes here thrice)
        if len(self.table):
            bits |= _SW_BP_BITS
        if step:
            bits |= _STEP_BITS
        self.stepping = step
        arch = None
        if self.hw:
            bits |= _HW_BITS
            arch = self.hw.arch(self.suspended)
        flags = _FLAGS.get(bits) or _FLAGS.setdefault(bits, GuestDebug(bits))
        if flags != self.vcpu.guest_debug or arch != self._armed:
            if arch is None:
                self.vcpu.set_guest_debug(flags)
            else:
                self.vcpu.set_guest_debug(flags, arch)
            self._armed = arch
        return flags

    # -- the run loop -----------------------------------------------------------------------
    def run(
        self,
        deadline: float,
        instructions: int = 0,
        on_exit: Callable[[Handled], None] | None = None,
    ) -> Handled:
        """Enter the guest until an exit needs the debugger (``kvm_cpu_exec``'s loop).

        Exits that are handled here (a guest BRK re-injected) enter the guest again, within
        the same deadline. Every exit is passed to ``on_exit`` (the debugger's event log)
        and counted in ``exits``.
        """
        vcpu = self.vcpu
        while True:
            handled = self.handle(vcpu.run_until(deadline, instructions))
            self.exits += 1
            if on_exit is not None:
                on_exit(handled)
            if handled.verdict is not _RESUME:
                return handled
            if self.stepping:
                # The exception entry was the step's instruction: stop at the vector.
                return Handled(
                    Verdict.STEP,
                    handled.exit,
                    handled.note + "; the step ends at the guest's vector",
                )
            if time.monotonic() >= deadline:
                e = Exit(ExitReason.BUDGET, vcpu.pc, message="time budget used up")
                handled = Handled(Verdict.BUDGET, e)
                self.exits += 1
                if on_exit is not None:
                    on_exit(handled)
                return handled

    def handle(self, exit_: Exit) -> Handled:
        """Decide about one exit. Never raises: what we cannot handle is INTERNAL_ERROR.

        First by exit reason (``kvm_arch_handle_exit``), then, for a debug exit, by the
        exception class in ``hsr`` (``kvm_arm_handle_debug``).
        """
        debug = exit_.debug
        if exit_.reason is _DEBUG and debug is not None:
            handler = self._by_ec.get(debug.hsr >> 26 & 0x3F)  # ESR_ELx.EC, bits [31:26]
            if handler is None:
                return Handled(
                    Verdict.INTERNAL_ERROR,
                    exit_,
                    f"unhandled debug exit: EC 0x{debug.ec:02X} ({debug.ec_name}), "
                    f"hsr={debug.hsr:#010x}",
                )
        else:
            handler = self._by_reason.get(exit_.reason)
            if handler is None:
                return Handled(
                    Verdict.INTERNAL_ERROR,
                    exit_,
                    f"no handler for exit reason {exit_.reason!r}",
                )
        try:
            return handler(exit_)
        except Exception as e:  # a handler bug must not take the session down  # noqa: BLE001
            return Handled(
                Verdict.INTERNAL_ERROR,
                exit_,
                f"handling the exit failed: {type(e).__name__}: {e}",
            )

    # -- handlers ---------------------------------------------------------------------------
    def _debug(self, exit_: Exit) -> Handled:
        # reached only for a DEBUG exit that carries no syndrome (``handle`` dispatches the
        # others on their EC)
        return Handled(Verdict.INTERNAL_ERROR, exit_, "DEBUG exit without a syndrome")

    def _brk(self, exit_: Exit) -> Handled:
        pc = exit_.pc  # the PC synced from the vCPU: the BRK itself
        bp = self._find(pc)
        if bp is not None and pc != self.lifted:
            if exit_.message:  # our BRK trapped, but the guest has overwritten it since
                return Handled(Verdict.BREAKPOINT, exit_, f"ours; {exit_.message}", bp)
            return Handled(_BREAKPOINT, exit_, "ours", bp)
        # The guest's own BRK — or the debugger's breakpoint is lifted at this pc and the
        # BRK that ran is the saved instruction being stepped (QEMU: GDB removed its
        # breakpoint for the step, so the table has no entry): give the guest the
        # exception it would have had without a debugger.
        self.vcpu.inject_exception(exit_.debug.hsr, return_to=pc)  # type: ignore[union-attr]
        whose = (
            "not ours"
            if bp is None
            else "ours is lifted for the step, this one is the guest's"
        )
        return Handled(
            Verdict.RESUME,
            exit_,
            f"{whose}: BRK #{exit_.debug.hsr & 0xFFFF:#x} "  # type: ignore[union-attr]
            f"re-injected into the guest's vector table"
            + (f"; {exit_.message}" if exit_.message else ""),
        )

    def _hw_breakpoint(self, exit_: Exit) -> Handled:
        """EC 0x30: ours if one of our hardware breakpoints is at pc (QEMU's
        ``find_hw_breakpoint``), else the guest's own."""
        bp = self.hw.breakpoint_at(exit_.pc)
        if bp is None or ("b", bp.slot) in self.suspended:
            return self._guests_own(exit_)
        return Handled(
            Verdict.HW_BREAKPOINT,
            exit_,
            f"ours: hardware breakpoint slot {bp.slot} at {bp.address:#x}",
            slot=bp.slot,
        )

    def _watchpoint(self, exit_: Exit) -> Handled:
        """EC 0x34: ours if one of our watchpoints covers FAR for this direction of access
        (ISS.WnR; QEMU's ``find_hw_watchpoint``), else the guest's own."""
        debug = exit_.debug
        assert debug is not None  # ``handle`` dispatches on its EC
        write = bool(debug.hsr >> 6 & 1)  # ISS.WnR
        w = self.hw.watch_covering(debug.far, write)
        if w is None or ("w", w.slot) in self.suspended:
            return self._guests_own(exit_)
        return Handled(
            Verdict.WATCHPOINT,
            exit_,
            f"ours: watchpoint slot {w.slot} ({w.kind}, {w.size} byte(s) at "
            f"{w.address:#x}), {'write' if write else 'read'} at FAR {debug.far:#x}",
            slot=w.slot,
            watch=w,
        )

    def _guests_own(self, exit_: Exit) -> Handled:
        """A debug exception the debugger did not ask for: give it to the guest, as for BRK.

        The syndrome is the one the guest would have seen with no hypervisor. KVM reports
        it from EL2, where the guest is always a lower EL; a guest at EL1 takes it without
        a change of Exception level, so the breakpoint and watchpoint classes become their
        "same EL" ones (Arm ARM, ESR_ELx, "Exception Class encoding": 0x30 → 0x31, 0x34 →
        0x35). A watchpoint also sets FAR_EL1 to the data address ("Watchpoint exceptions").
        QEMU re-injects the syndrome unchanged; the architecture is the reference here.
        """
        debug = exit_.debug
        assert debug is not None  # ``handle`` dispatches on its EC
        ec = debug.ec
        syndrome = debug.hsr | debug.hsr_high << 32
        if ec != esr.EC.BKPT32 and self.vcpu.read_register("pstate") >> 2 & 3 == 1:
            syndrome += 1 << 26  # the EC's "same EL" twin, one above the "lower EL" one
        far = debug.far if ec == esr.EC.WATCHPT_LOW else None
        self.vcpu.inject_exception(syndrome, return_to=exit_.pc, far=far)
        return Handled(
            Verdict.RESUME,
            exit_,
            f"not ours: EC 0x{syndrome >> 26 & 0x3F:02X} "
            f"({esr.decode(syndrome).ec_name}) "
            f"re-injected into the guest's vector table"
            + (f", FAR {far:#x}" if far is not None else ""),
        )

    def _software_step(self, exit_: Exit) -> Handled:
        if not self.stepping:
            return Handled(
                Verdict.INTERNAL_ERROR,
                exit_,
                "software-step exit, but no single step was requested",
            )
        return Handled(Verdict.STEP, exit_, "one instruction")

    def _system_event(self, exit_: Exit) -> Handled:
        event = exit_.system_event
        if event is not None and event.type is SystemEventType.RESET:
            return Handled(
                Verdict.HALTED, exit_, "the guest asked for a reset (PSCI SYSTEM_RESET)"
            )
        return Handled(Verdict.HALTED, exit_, "the guest powered off (PSCI SYSTEM_OFF)")
