"""The debugger session: break, continue, step, look at registers and memory.

It stands on the layers below and adds what every debugger adds: breakpoints by symbol or
address, the *step-over* needed to continue from a breakpoint, a view of memory that shows
the original instructions (not our BRKs), and a log of what happened. It never imports
Unicorn; front ends (notebooks, the CLI, a GDB stub) use only this and plain dataclasses.

Continuing from a breakpoint. The guest is stopped on our ``BRK``; running it again would
trap again at once. The textbook answer, which GDB uses, is:

1. restore the saved instruction at pc,
2. flush — make the new instruction the one that executes (DC CVAU, IC IVAU, ISB on
   hardware; dropping the translated block in Unicorn),
3. step exactly one instruction,
4. write the BRK again,
5. flush again, then run on.

Stepping costs a lot in Unicorn (a counted run, and Unicorn flushes all translated code
when counting starts and stops), so ``cont`` does a *displaced step* instead, as GDB does
on AArch64 Linux: the BRK never leaves memory. A straight-line instruction is copied to a
scratch slot followed by ``B pc+4``, and the guest simply continues from the slot.
Branches and PC-relative instructions cannot run elsewhere unchanged, so they are *fixed
up* the way GDB's AArch64 displaced stepping does it (``armbp.displaced``): B.cond, CBZ,
TBZ and friends keep their test but branch to the slot's own ``B pc+4`` / ``B target``;
BL and BLR set x30 with MOVZ/MOVK first; ADR/ADRP become a MOVZ/MOVK of the address they
would compute, LDR (literal) a load from that address; B, PRFM, BLR x30 and the SIMD&FP
literal loads are done on the registers without running anything. The scratch slot is
not guest memory: the guest's loads, stores and fetches there fault, and ``break_at``
refuses it.

What has no fix-up — exception generating instructions, system instructions other than
hints and barriers (MRS, MSR, SYS, WFI), a BRK of the guest's own — takes the textbook path, and so does ``step()`` always and ``cont`` with an
instruction budget (a displaced step runs more than one instruction).
``Debugger(displaced_step=False)`` always takes the textbook path. While a breakpoint is
lifted for that step, a BRK trapping at its pc is the guest's and goes to the guest's
vectors (as QEMU does when GDB has removed its breakpoint for the step); an instruction
that rewrites its own word keeps the guest's word. A step-over is never cut by a time
slice: a hit is reported once, whatever the budget of each ``cont``.

Breakpoints that write nothing. ``hbreak_at`` and ``watch`` fill the hardware slots of
``struct kvm_guest_debug_arch`` (``armbp.hwdebug``) instead of memory: KVM stops the guest
before the instruction (EC 0x30) or before the access (EC 0x34, the data address in FAR).
Continuing from such a stop is the textbook step-over with the slot disabled for the one
step instead of the BRK lifted, as QEMU does for GDB; ``watch_stop="after"`` does that
step at once so that the stop shows the new value.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from armbp.disasm import ListingLine, listing
from armbp.displaced import Fixup, displaceable, plan
from armbp.encodings import BRK0, from_bytes, to_bytes
from armbp.hwdebug import HwBreakpoint, HwSlots, SlotsExhausted, Watchpoint
from armbp.kvm.abi import DEFAULT_SECONDS, PAGE_SIZE, REGISTER_NAMES, Budget, Exit, ExitReason
from armbp.kvm.backend import BackendSpec, make_backend
from armbp.memory import MemoryFault
from armbp.program import Program
from armbp.table import Breakpoint, BreakpointError, BreakpointTable
from armbp.vmm import ExitHandler, Handled, Verdict

__all__ = [
    "WATCH_STOPS",
    "Debugger",
    "HwBreakpoint",
    "SlotsExhausted",
    "Stop",
    "StopReason",
    "Watchpoint",
    "displaceable",
]

WATCH_STOPS = ("after", "before")
"""``Debugger.watch_stop``: where a watchpoint stop leaves the guest (see ``Debugger``)."""

_BRK_BYTES = to_bytes(BRK0)
_monotonic = time.monotonic
_CLOSED: frozenset[int] = frozenset()
_NOTHING_SUSPENDED: frozenset[tuple[str, int]] = frozenset()


#: Why ``cont``/``step`` gave control back: the exit handler's verdict that ended the run
#: (never ``RESUME``: the handler enters the guest again for it). One enum for both, so
#: each kind of stop is one member with all its words (``armbp.vmm.Verdict``).
StopReason = Verdict

# Module constants: an Enum class attribute costs ~0.1 µs per lookup on the hot path.
_BREAKPOINT, _STEP, _BUDGET, _HALTED = (
    Verdict.BREAKPOINT,
    Verdict.STEP,
    Verdict.BUDGET,
    Verdict.HALTED,
)
_HW_BREAKPOINT, _WATCHPOINT = Verdict.HW_BREAKPOINT, Verdict.WATCHPOINT


@dataclass(slots=True)
class Stop:
    """Where and why the guest stopped, with the vCPU exit it came from.

    A value to read, never to change (``last_stop`` shares it); plain slots rather than
    ``frozen`` for the hit path's sake, as ``armbp.vmm.Handled``.
    """

    reason: StopReason
    pc: int
    exit: Exit
    note: str = ""
    breakpoint: Breakpoint | None = None
    slot: int | None = None  # the hardware slot that fired (HW_BREAKPOINT, WATCHPOINT)
    data_address: int | None = None  # FAR of a watchpoint hit
    watch: Watchpoint | None = None
    old_value: int | None = None  # the watched bytes (little-endian) before the access
    new_value: int | None = None  # ... after a write ("after" stops only)
    access_pc: int | None = None  # the instruction that made the access

    @property
    def message(self) -> str:
        """One line for a person, e.g. ``breakpoint at 0x40004 (loop)``."""
        e = self.exit
        if self.reason is StopReason.FAULT and e.mmio is not None:
            return f"fault at pc {self.pc:#x}: {e.mmio.describe()}"
        text = f"{self.reason.value} at {self.pc:#x}"
        why = self.note or e.message
        return f"{text}: {why}" if why else text

    def __repr__(self) -> str:
        return f"Stop(reason={self.reason.name}, pc={self.pc:#x}, exit={self.exit!r})"


class Debugger:
    """A debugger session over one guest ``Program`` (or assembly source).

    ``flush_code_writes=False`` leaves out the cache maintenance after code writes, to show
    the stale-translation bug. ``displaced_step=False`` continues from a breakpoint the
    textbook way (restore, flush, step, re-insert, flush) every time. ``log_size`` bounds
    the event log. ``backend`` is the machine the guest runs on: ``"unicorn"`` (the
    model, the default) or a callable that builds a backend from the ``Program``
    (``armbp.kvm.backend``); an unknown name is a ``ValueError`` listing the known ones.

    ``watch_stop`` says where a watchpoint stop leaves the guest: ``"after"`` (the
    default, what a person expects: the access is stepped with the watchpoints out of the
    way, the stop's pc is past the instruction, ``old_value`` and ``new_value`` are filled)
    or ``"before"`` (what the architecture and KVM give, and what GDB needs, since AArch64
    watchpoints are not steppable for it: the pc is the accessing instruction, not run yet;
    ``old_value`` filled, ``new_value`` None). Continuing from a hardware breakpoint or a
    "before" watchpoint stop steps over it, as from a BRK.
    """

    @property
    def watch_stop(self) -> str:
        """``"after"`` or ``"before"`` (see the class docstring); settable."""
        return self._watch_stop

    @watch_stop.setter
    def watch_stop(self, value: str) -> None:
        if value not in WATCH_STOPS:
            raise ValueError(f"watch_stop={value!r}: expected 'after' or 'before'")
        self._watch_stop = value

    def __init__(
        self,
        program: Program | str,
        *,
        flush_code_writes: bool = True,
        displaced_step: bool = True,
        log_size: int = 1000,
        backend: BackendSpec = "unicorn",
        watch_stop: str = "after",
    ):
        if isinstance(program, str):
            from armbp.asm import assemble

            program = assemble(program)
        if not isinstance(program, Program):
            raise ValueError(
                f"expected an armbp.Program or assembly source, got {type(program).__name__}"
            )
        if isinstance(log_size, bool) or not isinstance(log_size, int) or log_size < 1:
            raise ValueError(f"log_size={log_size!r}: expected an integer >= 1")
        self.program = program
        self.watch_stop = watch_stop
        self.hw = HwSlots()  # hardware breakpoints and watchpoints: kept across reset()
        self.vcpu = make_backend(backend, program)
        self.vcpu.flush_code_writes = flush_code_writes
        self.displaced_step = displaced_step
        self.events: deque[Handled] = deque(maxlen=log_size)
        self._log = self.events.append
        self.step_overs = {"displaced": 0, "inline": 0}
        self._new_session()

    @classmethod
    def from_elf(cls, path: str, argv: list[str] | None = None, **kwargs: Any) -> Debugger:
        """A session over a static AArch64 Linux ELF run at EL0, as qemu-aarch64 runs it:
        ``cont`` serves its system calls, ``.stdout`` is what it printed
        (``armbp.linux.session.ElfDebugger``; ``stdin=`` bytes it reads)."""
        from armbp.linux.session import ElfDebugger

        return ElfDebugger(path, argv, **kwargs)

    def _new_session(self) -> None:
        self._events_before = self.events_seen if hasattr(self, "handler") else 0
        self.table = BreakpointTable(self.vcpu.memory)
        self.handler = ExitHandler(self.vcpu, self.table, self.hw)
        self._hw_pending: tuple[int, tuple[str, int]] | None = None  # pc, slot to step over
        self.hits: dict[int, int] = {}
        self.last_stop: Stop | None = None
        self._trapped_at: int | None = None  # pc of the BRK we just trapped on
        self._reported_at: int | None = None  # pc of the last BREAKPOINT/STEP/FAULT stop
        self._slot_bytes: bytes | None = None  # what the displaced-step slot holds now
        self._slot_owner: Breakpoint | None = None  # the entry whose instruction that is
        self._slot_origin = 0  # its pc
        self._slot_resume: dict[int, int] = {}  # slot offset → guest pc (``Fixup.resume``)
        self._slot = self.vcpu.scratch_base
        self._slot_entry = frozenset({self._slot})
        self._fixups: dict[int, tuple[Breakpoint, Fixup]] = {}  # pc → plan for that entry
        self._halted: Stop | None = None  # the HALTED stop the guest stays in

    @property
    def events_seen(self) -> int:
        """How many ``Handled`` records the event log has been given, ever (reset included).

        ``events`` keeps only the newest ``log_size``; a front end that remembers this
        number takes the events since then as the last ``events_seen - then`` of the log.
        """
        return self._events_before + self.handler.exits

    # -- settings -----------------------------------------------------------------------------
    @property
    def flush_code_writes(self) -> bool:
        """Whether code writes are followed by cache maintenance (see ``GuestMemory``)."""
        return self.vcpu.flush_code_writes

    @flush_code_writes.setter
    def flush_code_writes(self, value: bool) -> None:
        self.vcpu.flush_code_writes = bool(value)

    # -- breakpoints --------------------------------------------------------------------------
    def break_at(self, where: str | int) -> Breakpoint:
        """Plant a breakpoint at a symbol (``"loop"``, ``"loop+8"``?) or an address.

        A second breakpoint at the same address counts up its ``use_count``. Raises
        ``ValueError`` for an unknown symbol and ``BreakpointError`` (EINVAL) for a
        misaligned or unmapped address; a failed insert changes nothing.
        """
        self.vcpu.ensure_idle("break_at")
        bp = self.table.insert(self.address_of(where))
        self.handler.update_guest_debug()
        return bp

    def delete(self, where: str | int, *, force: bool = False) -> Breakpoint | None:
        """Remove one use of the breakpoint at ``where``; the last use restores the word.

        Returns what remains of the entry, or None. If the guest overwrote the BRK,
        ``BreakpointOverwritten`` names the address, the BRK expected and the word found,
        and nothing changes. ``force=True`` removes the entry whatever its use count: an
        intact BRK is restored, an overwritten one is dropped and memory stays as the guest
        wrote it (``BreakpointTable.remove``).
        """
        self.vcpu.ensure_idle("delete")
        address = self.address_of(where)
        try:
            return self.table.remove(address, force=force)
        finally:
            if self._trapped_at == address and address not in self.table:
                self._trapped_at = None
            self.handler.update_guest_debug()

    def delete_all(self, *, force: bool = False) -> None:
        """Remove every breakpoint (what a debugger does when it detaches)."""
        self.vcpu.ensure_idle("delete_all")
        try:
            self.table.remove_all(force=force)
        finally:
            self._trapped_at = None
            self.handler.update_guest_debug()

    @property
    def breakpoints(self) -> list[Breakpoint]:
        """The table's entries, sorted by address."""
        return list(self.table)

    # -- hardware breakpoints and watchpoints ------------------------------------------------
    def hbreak_at(self, where: str | int) -> HwBreakpoint:
        """A hardware breakpoint at a symbol or address: a DBGBCR/DBGBVR slot, nothing
        written into guest memory (so it works on read-only or not-yet-loaded code).

        ``SlotsExhausted`` when all ``GUEST_DEBUG_HW_BPS`` slots are in use; a
        ``BreakpointError`` for an address that is not a multiple of 4. A second one at the
        same address is the first one. A failed call changes nothing.
        """
        self.vcpu.ensure_idle("hbreak_at")
        bp = self.hw.add_breakpoint(self.address_of(where))
        self._arm_hw(lambda: self.hw.remove_breakpoint(bp.address))
        return bp

    def delete_hbreak(self, where: str | int) -> HwBreakpoint | None:
        """Free the hardware breakpoint at ``where``; the record, or None if there was none."""
        self.vcpu.ensure_idle("delete_hbreak")
        bp = self.hw.remove_breakpoint(self.address_of(where))
        self.handler.update_guest_debug()
        return bp

    def watch(self, where: str | int, size: int = 8, kind: str = "write") -> Watchpoint:
        """A watchpoint on ``size`` bytes at a symbol or address: ``kind`` "write",
        "read" or "access" (either).

        1..8 bytes inside one aligned doubleword (DBGWCR.BAS), or a power of two up to
        2 GiB at an address aligned to it (DBGWCR.MASK). A stop says the slot, the data
        address (FAR), the instruction and the old and new value (see ``watch_stop``).
        ``SlotsExhausted`` when all ``GUEST_DEBUG_HW_WPS`` slots are in use; a
        ``ValueError`` names a bad size, alignment or kind. A failed call changes nothing.
        """
        self.vcpu.ensure_idle("watch")
        w = self.hw.add_watch(self.address_of(where), size, kind)
        self._arm_hw(lambda: self.hw.remove_watch(w.address, w.size, w.kind))
        return w

    def delete_watch(
        self, where: str | int, size: int = 8, kind: str = "write"
    ) -> Watchpoint | None:
        """Free the watchpoint on exactly those bytes and that kind; the record, or None."""
        self.vcpu.ensure_idle("delete_watch")
        w = self.hw.remove_watch(self.address_of(where), size, kind)
        self.handler.update_guest_debug()
        return w

    @property
    def hw_breakpoints(self) -> list[HwBreakpoint]:
        """The hardware breakpoints, in slot order."""
        return self.hw.breakpoints

    @property
    def watchpoints(self) -> list[Watchpoint]:
        """The watchpoints, in slot order."""
        return self.hw.watchpoints

    def _arm_hw(self, undo: object) -> None:
        """Give the vCPU the new slots; if it refuses them, take the new one back."""
        try:
            self.handler.update_guest_debug()
        except ValueError:
            undo()  # type: ignore[operator]
            self.handler.update_guest_debug()
            raise

    def address_of(self, where: str | int) -> int:
        """An address from a symbol, ``symbol+offset``, a number string, or an int."""
        if isinstance(where, str) and "+" in where:
            name, _, offset = where.partition("+")
            try:
                return self.program.address_of(name.strip()) + int(offset.strip(), 0)
            except ValueError:
                pass
        return self.program.address_of(where)

    # -- running ------------------------------------------------------------------------------
    def cont(self, budget: Budget | float | None = None) -> Stop:
        """Run until a breakpoint, the end of the guest, a fault or the end of the budget.

        ``budget`` is seconds, a ``Budget`` or None (``DEFAULT_SECONDS``). If the last
        stop (a breakpoint hit, a step, a fault) left the guest on one of our breakpoints,
        the instruction under it is stepped over first, as GDB does. A breakpoint the
        guest has not executed yet — at the entry point, or where a time budget or an
        interrupt happened to stop it — is hit, not skipped: a GDB stub that runs in time
        slices must not lose hits between slices. A step-over is never cut in two by the
        budget: a slice that ends before the instruction ran leaves the hit reported and
        the step-over still to do, so every hit is reported exactly once.

        With an instruction budget the step-over is done in place and counts as one
        instruction (a displaced step runs more than one).

        A halted guest (powered off, asked for a reset, or waiting in WFI for an interrupt
        that cannot come) stays halted: the HALTED stop comes back at once, without
        entering the guest, until ``reset()``.
        """
        self.vcpu.ensure_idle("cont")
        try:
            return self._cont(budget)
        except BaseException:  # Ctrl-C inside the run: nothing it did was reported
            self._abandoned()
            raise

    def _cont(self, budget: Budget | float | None) -> Stop:
        if self._halted is not None:
            return self._still_halted()
        if budget is None:
            deadline, count = _monotonic() + DEFAULT_SECONDS, 0
        else:
            b = Budget.of(budget)
            deadline, count = time.monotonic() + b.seconds, b.instructions or 0
        vcpu = self.vcpu
        pc = vcpu.pc
        pending = self._hw_pending
        if pending is not None and pending[0] == pc:
            # stopped by our hardware breakpoint or a "before" watchpoint: step the
            # instruction with that slot out of the way, then run on (as over a BRK)
            stepped = self._step_suspended(pending[1])
            if stepped.reason is not _STEP:
                return stepped
            self._reported_at = self._trapped_at = None  # a BRK where it lands is hit
            if count == 1:
                e = Exit(ExitReason.BUDGET, vcpu.pc, message="1 instruction(s) executed")
                return self._stop(Handled(Verdict.BUDGET, e))
            count = count and count - 1
            pc = vcpu.pc
        bp = self.table.find(pc)
        if (
            bp is not None
            and pc == self._reported_at
            and (pc == self._trapped_at or self._planted(pc))
        ):
            if bp is self._slot_owner and self.displaced_step and not count:
                # the slot holds this breakpoint's instruction already: open it, run on
                self.step_overs["displaced"] += 1
                vcpu.scratch_open = self._slot_entry
                vcpu.pc = self._slot
            else:
                to = self._displace(bp) if self.displaced_step and not count else None
                if to == self._slot:
                    vcpu.pc = to  # run on from the slot
                elif to is not None:
                    vcpu.pc = to  # where the fixed-up instruction took the guest
                    vcpu.hide_scratch()
                else:
                    handled, executed = self._step_over_inline(bp, deadline)
                    if handled.verdict is not _STEP:
                        return self._stop(handled, None if executed else pc)
                    if count == 1:
                        e = Exit(
                            ExitReason.BUDGET, vcpu.pc, message="1 instruction(s) executed"
                        )
                        return self._stop(Handled(Verdict.BUDGET, e))
                    count = count and count - 1
                    vcpu.hide_scratch()
        else:
            vcpu.hide_scratch()
        return self._stop(self.handler.run(deadline, count, self._log))

    def step(self) -> Stop:
        """Execute exactly one instruction (from a breakpoint too) and stop.

        A halted guest stays halted (see ``cont``): nothing is executed.
        """
        self.vcpu.ensure_idle("step")
        try:
            return self._step()
        except BaseException:
            self._abandoned()
            raise

    def _step(self) -> Stop:
        if self._halted is not None:
            return self._still_halted()
        pending = self._hw_pending
        if pending is not None and pending[0] == self.vcpu.pc:
            return self._step_suspended(pending[1])
        return self._step_here()

    def _step_suspended(self, key: tuple[str, int]) -> Stop:
        """One step with one hardware slot left out ("b"/"w", slot): the step over the
        instruction that slot stopped (disable the slot, step, re-arm — as QEMU with GDB).
        A hardware breakpoint at this pc is left out too: the guest is past it already."""
        handler = self.handler
        here = self.hw.breakpoint_at(self.vcpu.pc)
        handler.suspended = frozenset({key} if here is None else {key, ("b", here.slot)})
        try:
            return self._step_here(restore=False)
        finally:
            handler.suspended = _NOTHING_SUSPENDED
            handler.update_guest_debug()  # the slots again, and no step

    def _step_here(self, *, restore: bool = True) -> Stop:
        deadline = time.monotonic() + DEFAULT_SECONDS
        pc = self.vcpu.pc
        bp = self.table.find(pc)
        self.vcpu.hide_scratch()
        if bp is not None and self._planted(pc):
            handled, executed = self._step_over_inline(bp, deadline)
            return self._stop(handled, None if executed else pc)
        return self._stop(self._single_step(deadline, restore=restore))

    def _still_halted(self) -> Stop:
        """A new HALTED stop for a guest that already halted: nothing runs, nothing is
        logged (there was no exit)."""
        first = self._halted
        assert first is not None
        why = first.note or first.exit.message or "the guest halted"
        stop = self.last_stop = Stop(
            _HALTED,
            self.vcpu.pc,
            first.exit,
            f"still halted ({why}); it stays so until reset()",
            None,
        )
        return stop

    def interrupt(self) -> None:
        """Stop a running ``cont`` from another thread (GDB's Ctrl-C): it returns BUDGET.

        The one call meant for another thread while ``cont`` runs: every call that changes
        the session then raises ``VCpuBusy`` (reads of registers and memory are allowed).
        """
        self.vcpu.kick()

    def reset(self) -> list[Breakpoint]:
        """Start the guest again from its entry, with the same breakpoints planted.

        A reset always happens, and it is whole: the machine is rebuilt from the program
        (memory added with ``vcpu.map`` is gone), and each breakpoint is planted again in
        the new memory. One that cannot be planted any more — its page was such a mapping
        — is dropped, not half-kept, and returned (the list is empty when every
        breakpoint came back). Why not refuse the reset instead: reset is what a user
        reaches for to get out of trouble, and a reset that fails because of one stale
        breakpoint would leave them in it; GDB, too, restarts and warns about a
        breakpoint it cannot insert. The BRK trap is on exactly when breakpoints remain,
        so no BRK of ours ever reaches the guest's vectors.
        """
        self.vcpu.ensure_idle("reset")
        planted = [(bp, bp.use_count) for bp in self.table]
        self.vcpu.reset()
        self._new_session()
        dropped: list[Breakpoint] = []
        try:
            for bp, uses in planted:
                try:
                    self.table.insert(bp.pc)
                except BreakpointError:
                    dropped.append(bp)
                    continue
                for _ in range(uses - 1):
                    self.table.insert(bp.pc)  # counts up; touches no memory
        finally:
            self.handler.update_guest_debug()
        return dropped

    # -- step-over ----------------------------------------------------------------------------
    def _planted(self, pc: int) -> bool:
        """Is our BRK really in memory at pc? (The guest may have overwritten it.)"""
        if pc == self._trapped_at:
            return True  # we trapped on it and nothing has run since
        try:
            return self.vcpu.memory.read(pc, 4) == _BRK_BYTES
        except MemoryFault:
            return False

    def _write_code(self, address: int, word: int) -> None:
        """Store one instruction and flush it, so that it is the one that executes.

        ``GuestMemory.write`` stores, then (unless ``flush_code_writes`` is off) drops the
        translated code of the range: the emulator's DC CVAU + IC IVAU + ISB.
        """
        self.vcpu.memory.write(address, to_bytes(word))

    def _step_over_inline(self, bp: Breakpoint, deadline: float) -> tuple[Handled, bool]:
        """The textbook step-over: restore, flush, step, re-insert, flush.

        Returns the step's verdict and whether the instruction ran. While it is stepped
        the breakpoint is *lifted* (``ExitHandler.lifted``): if the saved instruction is
        the guest's own BRK, its trap goes to the guest's vectors, as with QEMU when GDB
        has removed its breakpoint for the step. The step is one instruction, so the time
        slice cannot end inside it (its deadline is at least ``DEFAULT_SECONDS`` away).

        A stop can still land before the instruction (an ``interrupt()``, or a watchdog
        stop meant for the run before): then the pc has not moved. An instruction that
        ran and left the pc where it was is a branch to itself, which does the same
        again if run again; so an unmoved step is stepped again, and an unmoved
        interrupted one is reported as not run (the step-over is still to do).

        If the instruction wrote its own word (``str`` over itself, ``dc zva`` over its
        block), the guest's word stays and the BRK is not written back: the breakpoint
        is then one the guest overwrote (``delete`` says so and restores nothing).
        """
        self.step_overs["inline"] += 1
        vcpu, handler = self.vcpu, self.handler
        self._write_code(bp.pc, bp.saved_insn)  # 1+2. restore the instruction, flush
        handler.lifted = bp.pc
        step_deadline = max(deadline, _monotonic() + DEFAULT_SECONDS)
        try:
            for _ in range(3):
                handled = self._single_step(step_deadline)  # 3. one instruction
                executed = vcpu.pc != bp.pc
                if executed or handled.verdict is not _STEP:
                    break
            else:
                executed = True  # a branch to itself
        finally:
            handler.lifted = None
            try:
                word = from_bytes(vcpu.memory.read(bp.pc, 4))
            except MemoryFault:
                word = bp.saved_insn
            if word == bp.saved_insn:
                self._write_code(bp.pc, BRK0)  # 4+5. the BRK again, flush
        return handled, executed or handled.verdict is not _BUDGET

    def _single_step(self, deadline: float, *, restore: bool = True) -> Handled:
        """One instruction under SINGLESTEP; the guest-debug flags back after it unless
        ``restore`` is False (a caller that sets them itself next: ``_step_suspended``)."""
        self.handler.update_guest_debug(step=True)
        try:
            handled = self.handler.run(deadline, 0, self.events.append)
        finally:
            if restore:
                self.handler.update_guest_debug()
        return handled

    def _displace(self, bp: Breakpoint) -> int | None:
        """Step ``bp``'s instruction over without lifting the BRK: the pc to run on from
        (the slot, or where a fixed-up instruction took the guest), or None when it has
        to be stepped in place.

        ``armbp.displaced.plan`` says how. A slot plan is written to the scratch slot (and,
        as any code write, flushed) only when the slot holds another instruction; the
        slot is opened for this one step-over (``VCpu.open_scratch``). The other plans
        are done here, on the registers: no guest instruction runs.
        """
        cached = self._fixups.get(bp.pc)
        if cached is not None and cached[0] is bp:
            fix = cached[1]
        else:
            planned = plan(bp.saved_insn, bp.pc, self._slot)
            if planned is None:
                return None
            fix = planned
            if fix.readable is not None:
                address, size = fix.readable
                if address % size or not self.vcpu.guest_readable(address, size):
                    return None  # the load would fault: in place, where that is exact
            self._fixups[bp.pc] = (bp, fix)  # (readable stays readable: memory is only added)
        vcpu = self.vcpu
        kind = fix.kind
        if kind == "vector-literal":  # the load the guest would do, into V<register>
            if not vcpu.load_vector(fix.register, fix.address, fix.size):
                return None  # (it was readable when planned; in place, it faults exactly)
            self.step_overs["displaced"] += 1
            return bp.pc + 4 & (1 << 64) - 1
        self.step_overs["displaced"] += 1
        if kind == "slot":
            if fix.code != self._slot_bytes:
                vcpu.write_scratch(0, fix.code)  # a code write: stored, then flushed
                self._slot_bytes = fix.code
            self._slot_owner, self._slot_origin, self._slot_resume = bp, bp.pc, fix.resume
            slot = self._slot
            vcpu.open_scratch(
                self._slot_entry,
                {slot: frozenset(slot + o for o in fix.blocks)} if fix.blocks else {},
            )
            return slot
        if kind == "jump":
            if fix.link is not None:
                vcpu.exchange_x30(fix.link)
            return fix.target
        return vcpu.exchange_x30(fix.link)  # type: ignore[arg-type]  # "blr-x30"

    def _stop(self, handled: Handled, pending: int | None = None) -> Stop:
        """The ``Stop`` for a verdict, and the session state that goes with it.

        ``pending`` is the pc of a breakpoint whose step-over was stopped before its
        instruction ran: the hit was reported, so the next ``cont`` steps over it again
        instead of reporting it twice.
        """
        exit_ = handled.exit
        verdict = handled.verdict
        if verdict is _BREAKPOINT:  # the hot case first: the guest is on the BRK it hit
            pc = self._reported_at = exit_.pc
            # (unless the exit says the guest overwrote that BRK: then memory is the truth)
            self._trapped_at = None if exit_.message else pc
            self.hits[pc] = self.hits.get(pc, 0) + 1
            stop = self.last_stop = Stop(
                _BREAKPOINT, pc, exit_, handled.note, handled.breakpoint
            )
            return stop
        vcpu = self.vcpu
        vcpu.scratch_open = _CLOSED
        pc = vcpu.pc
        if not (exit_.mmio is not None and exit_.mmio.access == "fetch"):
            back = self._out_of_slot(pc)
            if back is not None:
                pc, not_run = back
                if not_run:
                    pending = pc
                if exit_.pc != pc:
                    exit_ = replace(exit_, pc=pc)
        self._trapped_at = None
        self._hw_pending = None
        self._reported_at = pc if verdict.reported or pc == pending else None
        stop = self.last_stop = Stop(verdict, pc, exit_, handled.note, handled.breakpoint)
        if verdict is _HALTED:
            self._halted = stop
        elif verdict is _HW_BREAKPOINT:
            slot = stop.slot = handled.slot
            assert slot is not None  # the handler's HW_BREAKPOINT verdict names it
            self._hw_pending = (pc, ("b", slot))
        elif verdict is _WATCHPOINT:
            return self._watch_stop_at(handled, stop)
        return stop

    def _watch_stop_at(self, handled: Handled, before: Stop) -> Stop:
        """The stop of a watchpoint hit, where ``watch_stop`` says (the guest is on the
        accessing instruction, not run yet, as the architecture leaves it)."""
        w, debug = handled.watch, handled.exit.debug
        assert w is not None and debug is not None  # the handler's WATCHPOINT verdict
        write = bool(debug.hsr >> 6 & 1)  # ISS.WnR
        old = self._watched_value(w, debug.far)
        if self._watch_stop == "before":
            self._hw_pending = (before.pc, ("w", w.slot))
            stop = self.last_stop = replace(
                before,
                slot=w.slot,
                data_address=debug.far,
                watch=w,
                old_value=old,
                access_pc=before.pc,
            )
            return stop
        after = self._step_suspended(("w", w.slot))
        if after.reason is not _STEP:
            return after  # the step stopped on something else: that is the news
        new = self._watched_value(w, debug.far) if write else None
        stop = self.last_stop = Stop(  # (not dataclasses.replace: this is every hit's path)
            before.reason,
            after.pc,
            before.exit,
            before.note,
            before.breakpoint,
            slot=w.slot,
            data_address=debug.far,
            watch=w,
            old_value=old,
            new_value=new,
            access_pc=before.pc,
        )
        return stop

    def _watched_value(self, w: Watchpoint, far: int) -> int | None:
        """The watched bytes as a little-endian integer (for a range wider than 8 bytes,
        the doubleword at ``far``); None if they cannot be read."""
        address, size = (w.address, w.size) if w.size <= 8 else (far & ~7, 8)
        try:
            return int.from_bytes(self.read_memory(address, size), "little")
        except MemoryFault:
            return None

    def _out_of_slot(self, pc: int) -> tuple[int, bool] | None:
        """Move a guest stopped inside the displaced-step slot to where it really is.

        GDB's "displaced step fixup": after the instruction, the address it would have
        reached in place; before it, the breakpoint itself (True: not run yet, so its
        step-over is still to do). None when ``pc`` is not in the slot.
        """
        slot = self._slot
        if not (slot <= pc < slot + PAGE_SIZE and self._slot_bytes is not None):
            return None
        resume = self._slot_resume.get(pc - slot)
        not_run = resume is None
        real = self._slot_origin if resume is None else resume
        self.vcpu.pc = real
        return real, not_run

    def _abandoned(self) -> None:
        """A run left by a Python exception (Ctrl-C): its hit, if any, was never reported.

        So no BRK counts as reported or trapped on (the next ``cont`` hits it, it does not
        step over it), and a guest caught inside the slot is put back where it really is
        (before the instruction ran: on the breakpoint, whose hit was reported already).
        """
        self._trapped_at = self._reported_at = self._hw_pending = None
        self.vcpu.scratch_open = _CLOSED
        back = self._out_of_slot(self.vcpu.pc)
        if back is not None and back[1]:
            self._reported_at = back[0]

    # -- registers ----------------------------------------------------------------------------
    @property
    def pc(self) -> int:
        return self.vcpu.pc

    def registers(self) -> dict[str, int]:
        """x0–x30, sp, pc, pstate (GDB's core registers) as a dict."""
        return self.vcpu.registers()

    def read_register(self, name: str) -> int:
        """One register by name: core, esr_el1, elr_el1, spsr_el1, far_el1, vbar_el1 ...,
        or FP/SIMD (v0–v31 as 128-bit integers, fpsr, fpcr)."""
        return self.vcpu.read_register(name)

    def write_register(self, name: str, value: int) -> None:
        """Write one register; writing pc moves the guest."""
        self.vcpu.ensure_idle("write_register")
        self.vcpu.write_register(name, value)
        if str(name).lower() == "pc":
            self._trapped_at = self._reported_at = self._hw_pending = None

    register_names = REGISTER_NAMES

    # -- memory -------------------------------------------------------------------------------
    def read_memory(self, address: int, size: int) -> bytes:
        """Guest memory as the guest should see it: saved instructions where our BRKs are.

        Raises ``MemoryFault`` (with ``.address``) when any byte is unmapped.
        """
        _check_range(address, size)
        return self.table.shadow(address, self.vcpu.memory.read(address, size))

    def write_memory(self, address: int, data: bytes | bytearray) -> None:
        """Write guest memory; bytes over a breakpoint update its saved instruction.

        The BRK stays planted; the new instruction appears when the breakpoint goes.
        """
        self.vcpu.ensure_idle("write_memory")
        _check_range(address, len(data))
        self.table.write_through(address, bytes(data))
        self._trapped_at = None

    def raw_memory(self, address: int, size: int) -> bytes:
        """Guest memory as it is, BRKs included (what the hardware fetches)."""
        _check_range(address, size)
        return self.vcpu.memory.read(address, size)

    def saved_words(self) -> dict[int, int]:
        """pc → the original instruction under each breakpoint (for listings)."""
        return self.table.saved_words()

    def listing(
        self, address: int | None = None, count: int | None = None
    ) -> list[ListingLine]:
        """Disassembly of ``count`` instructions from ``address`` (default: the program's
        code), showing saved instructions under breakpoints and marking the pc."""
        start = self.program.base if address is None else address
        if count is None:
            count = max(0, (self.program.end - start) // 4) if address is None else 16
        data = self.raw_memory(start, 4 * count)
        return listing(
            data, start, breakpoints=self.saved_words(), pc=self.pc, program=self.program
        )

    # -- the log ------------------------------------------------------------------------------
    def log_lines(self, last: int | None = None) -> list[str]:
        """The event log as text, one line per vCPU exit (newest last)."""
        events: Iterable[Handled] = self.events
        if last is not None:
            events = list(self.events)[-last:]
        return [h.describe() for h in events]

    def __repr__(self) -> str:
        return (
            f"Debugger({self.program.name}, pc={self.pc:#x}, "
            f"breakpoints={[hex(bp.pc) for bp in self.table]})"
        )


def _check_range(address: int, size: int) -> None:
    if isinstance(address, bool) or not isinstance(address, int) or address < 0:
        raise ValueError(f"address {address!r}: expected a non-negative integer")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError(f"size {size!r}: expected a non-negative integer")
