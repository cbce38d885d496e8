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
when counting starts and stops), so for straight-line instructions armbp does a *displaced
step* instead, as GDB does on AArch64 Linux: the saved instruction is copied to a scratch
slot followed by ``B pc+4``, and the guest simply continues from the slot. The BRK never
leaves memory. Branches, PC-relative instructions (ADR, ADRP, LDR literal), exception
generating and system instructions cannot run elsewhere unchanged, so they take the
textbook path. ``Debugger(displaced_step=False)`` always takes the textbook path.
"""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, replace
from enum import Enum
from typing import Callable, Iterable

from armbp.disasm import ListingLine, listing
from armbp.encodings import BRK0, to_bytes
from armbp.memory import MemoryFault
from armbp.program import Program
from armbp.table import Breakpoint, BreakpointError, BreakpointTable
from armbp.vcpu import DEFAULT_SECONDS, REGISTER_NAMES, Budget, Exit, VCpu
from armbp.vmm import ExitHandler, Handled, Verdict

__all__ = ["Debugger", "Stop", "StopReason", "displaceable"]

_BRK_BYTES = to_bytes(BRK0)
_monotonic = time.monotonic
_B = 0x1400_0000            # C6.2.26 B <label>: imm26 = offset / 4
_B_RANGE = 1 << 27          # ±128 MiB


class StopReason(Enum):
    """Why ``cont``/``step`` gave control back."""

    BREAKPOINT = "breakpoint"           # our BRK trapped
    STEP = "step"                       # one instruction done
    BUDGET = "budget"                   # the time (or instruction) budget ran out, or interrupt()
    HALTED = "halted"                   # PSCI SYSTEM_OFF / SYSTEM_RESET, or WFI forever
    FAULT = "fault"                     # an access outside guest memory
    INTERNAL_ERROR = "internal-error"   # something armbp does not model


# Module constants: an Enum class attribute costs ~0.1 µs per lookup on the hot path.
_BREAKPOINT, _STEP, _V_BREAKPOINT = StopReason.BREAKPOINT, Verdict.STEP, Verdict.BREAKPOINT
_HALTED = StopReason.HALTED
_REPORTED = frozenset({StopReason.BREAKPOINT, StopReason.STEP, StopReason.FAULT})
_REASON = {
    Verdict.BREAKPOINT: StopReason.BREAKPOINT, Verdict.STEP: StopReason.STEP,
    Verdict.BUDGET: StopReason.BUDGET, Verdict.HALTED: StopReason.HALTED,
    Verdict.FAULT: StopReason.FAULT, Verdict.INTERNAL_ERROR: StopReason.INTERNAL_ERROR,
}


@dataclass(frozen=True, slots=True)
class Stop:
    """Where and why the guest stopped, with the vCPU exit it came from."""

    reason: StopReason
    pc: int
    exit: Exit
    note: str = ""
    breakpoint: Breakpoint | None = None

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


def _stop_maker() -> Callable[[StopReason, int, Exit, str, Breakpoint | None], Stop]:
    """``Stop(reason, pc, exit, note, breakpoint)`` at half the cost, for the hit path.

    Same trick as ``armbp.vmm``'s ``Handled`` maker: the slot descriptors instead of the
    frozen dataclass's ``object.__setattr__`` per field; the same immutable record.
    """
    new = object.__new__
    set_r, set_p, set_e, set_n, set_b = (Stop.__dict__[f].__set__ for f in
                                         ("reason", "pc", "exit", "note", "breakpoint"))

    def make(reason: StopReason, pc: int, exit_: Exit, note: str,
             bp: Breakpoint | None) -> Stop:
        stop = new(Stop)
        set_r(stop, reason)
        set_p(stop, pc)
        set_e(stop, exit_)
        set_n(stop, note)
        set_b(stop, bp)
        return stop
    return make


_make_stop = _stop_maker()


def displaceable(word: int) -> bool:
    """Can this instruction run from another address with the same effect?

    True for the classes with no PC in them (Arm ARM C4.1, top-level encoding table, op0 =
    bits [28:25]): data processing (immediate) except PC-relative addressing (ADR, ADRP),
    data processing (register), SIMD and floating point, and loads/stores except the
    literal forms (and FEAT_MOPS, which shares their op0). Branches, exception generation
    and system instructions are False.
    """
    op0 = word >> 25 & 0xF
    if op0 in (0b1000, 0b1001):                 # data processing — immediate
        return word >> 24 & 0x3 != 0b00         # bits [25:23] = 00x: ADR/ADRP
    if op0 & 0b0111 in (0b0101, 0b0111):        # x101 DP register, x111 SIMD & FP
        return True
    if op0 & 0b0101 == 0b0100:                  # x1x0 loads and stores
        return word >> 27 & 0x7 != 0b011        # bits [29:27] = 011: literal, MOPS
    return False                                 # branches, exceptions, system, SVE, ...


class Debugger:
    """A debugger session over one guest ``Program`` (or assembly source).

    ``flush_code_writes=False`` leaves out the cache maintenance after code writes, to show
    the stale-translation bug. ``displaced_step=False`` continues from a breakpoint the
    textbook way (restore, flush, step, re-insert, flush) every time. ``log_size`` bounds
    the event log.
    """

    def __init__(self, program: Program | str, *, flush_code_writes: bool = True,
                 displaced_step: bool = True, log_size: int = 1000):
        if isinstance(program, str):
            from armbp.asm import assemble
            program = assemble(program)
        if not isinstance(program, Program):
            raise ValueError(f"expected an armbp.Program or assembly source, got "
                             f"{type(program).__name__}")
        if isinstance(log_size, bool) or not isinstance(log_size, int) or log_size < 1:
            raise ValueError(f"log_size={log_size!r}: expected an integer >= 1")
        self.program = program
        self.vcpu = VCpu(program, flush_code_writes=flush_code_writes)
        self.displaced_step = displaced_step
        self.events: deque[Handled] = deque(maxlen=log_size)
        self._log = self.events.append
        self.step_overs = {"displaced": 0, "inline": 0}
        self._new_session()

    def _new_session(self) -> None:
        self._events_before = self.events_seen if hasattr(self, "handler") else 0
        self.table = BreakpointTable(self.vcpu.memory)
        self.handler = ExitHandler(self.vcpu, self.table)
        self.hits: dict[int, int] = {}
        self.last_stop: Stop | None = None
        self._trapped_at: int | None = None   # pc of the BRK we just trapped on
        self._reported_at: int | None = None  # pc of the last BREAKPOINT/STEP/FAULT stop
        self._slot_bytes: bytes | None = None  # what the displaced-step slot holds now
        self._slot_owner: Breakpoint | None = None  # the entry whose instruction that is
        self._slot = self.vcpu.scratch_base
        self._halted: Stop | None = None      # the HALTED stop the guest stays in

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
        slices must not lose hits between slices.

        A halted guest (powered off, asked for a reset, or waiting in WFI for an interrupt
        that cannot come) stays halted: the HALTED stop comes back at once, without
        entering the guest, until ``reset()``.
        """
        if self._halted is not None:
            return self._still_halted()
        if budget is None:
            deadline, count = _monotonic() + DEFAULT_SECONDS, 0
        else:
            b = Budget.of(budget)
            deadline, count = time.monotonic() + b.seconds, b.instructions or 0
        vcpu = self.vcpu
        pc = vcpu.pc
        bp = self.table.find(pc)
        if bp is not None and pc == self._reported_at and \
                (pc == self._trapped_at or self._planted(pc)):
            if bp is self._slot_owner and self.displaced_step:
                slot = self._slot  # the slot holds this breakpoint's instruction already
                self.step_overs["displaced"] += 1
            else:
                slot = self._displace(bp) if self.displaced_step else None
            if slot is not None:
                vcpu.pc = slot  # run on from the slot: insn, then B pc+4
            else:
                handled = self._step_over_inline(bp, deadline)
                if handled.verdict is not _STEP:
                    return self._stop(handled)
        return self._stop(self.handler.run(deadline, count, self._log))

    def step(self) -> Stop:
        """Execute exactly one instruction (from a breakpoint too) and stop.

        A halted guest stays halted (see ``cont``): nothing is executed.
        """
        if self._halted is not None:
            return self._still_halted()
        deadline = time.monotonic() + DEFAULT_SECONDS
        pc = self.vcpu.pc
        bp = self.table.find(pc)
        if bp is not None and self._planted(pc):
            return self._stop(self._step_over_inline(bp, deadline))
        return self._stop(self._single_step(deadline))

    def _still_halted(self) -> Stop:
        """A new HALTED stop for a guest that already halted: nothing runs, nothing is
        logged (there was no exit)."""
        first = self._halted
        assert first is not None
        why = first.note or first.exit.message or "the guest halted"
        stop = self.last_stop = _make_stop(
            _HALTED, self.vcpu.pc, first.exit,
            f"still halted ({why}); it stays so until reset()", None)
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

    def _step_over_inline(self, bp: Breakpoint, deadline: float) -> Handled:
        """The textbook step-over: restore, flush, step, re-insert, flush."""
        self.step_overs["inline"] += 1
        self._write_code(bp.pc, bp.saved_insn)       # 1+2. restore the instruction, flush
        try:
            handled = self._single_step(deadline)     # 3. one instruction
        finally:
            self._write_code(bp.pc, BRK0)             # 4+5. the BRK again, flush
        return handled

    def _single_step(self, deadline: float) -> Handled:
        self.handler.update_guest_debug(step=True)
        try:
            handled = self.handler.run(deadline, 0, self.events.append)
        finally:
            self.handler.update_guest_debug()
        return handled

    def _displace(self, bp: Breakpoint) -> int | None:
        """Prepare the displaced step of ``bp``'s instruction; the slot address, or None.

        The slot holds the saved instruction and ``B bp.pc + 4``. It is rewritten (and, as
        any code write, flushed) only when it holds another breakpoint's instruction.
        """
        if bp is self._slot_owner:
            self.step_overs["displaced"] += 1
            return self._slot  # the slot already holds this breakpoint's instruction
        if not displaceable(bp.saved_insn):
            return None
        slot = self._slot
        offset = bp.pc - slot  # from the B at slot+4 to bp.pc+4
        if not -_B_RANGE <= offset < _B_RANGE:
            return None
        data = to_bytes(bp.saved_insn) + to_bytes(_B | (offset >> 2 & 0x3FF_FFFF))
        if data != self._slot_bytes:
            self.vcpu.memory.write(slot, data)   # a code write: stored, then flushed
            self._slot_bytes = data
        self._slot_owner = bp
        self.step_overs["displaced"] += 1
        return slot

    def _stop(self, handled: Handled) -> Stop:
        exit_ = handled.exit
        verdict = handled.verdict
        if verdict is _V_BREAKPOINT:  # the hot case first: the guest is on the BRK it hit
            pc = self._reported_at = exit_.pc
            # (unless the exit says the guest overwrote that BRK: then memory is the truth)
            self._trapped_at = None if exit_.message else pc
            self.hits[pc] = self.hits.get(pc, 0) + 1
            stop = self.last_stop = _make_stop(_BREAKPOINT, pc, exit_, handled.note,
                                               handled.breakpoint)
            return stop
        vcpu = self.vcpu
        pc = vcpu.pc
        if self._slot <= pc < self._slot + 8 and self._slot_bytes is not None:
            # Stopped inside the displaced-step slot (budget, fault): say where the guest
            # really is — GDB's "displaced step fixup".
            origin = int.from_bytes(self._slot_bytes[4:], "little")
            bp_pc = self._slot + ((origin & 0x3FF_FFFF ^ 0x200_0000) - 0x200_0000) * 4
            pc = bp_pc + (pc - self._slot)
            vcpu.pc = pc
            if exit_.pc != pc:
                exit_ = replace(exit_, pc=pc)
        reason = _REASON[verdict]
        self._trapped_at = None
        self._reported_at = pc if reason in _REPORTED else None
        stop = self.last_stop = _make_stop(reason, pc, exit_, handled.note, handled.breakpoint)
        if reason is _HALTED:
            self._halted = stop
        return stop

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
            self._trapped_at = self._reported_at = None

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

    def listing(self, address: int | None = None, count: int | None = None) -> list[ListingLine]:
        """Disassembly of ``count`` instructions from ``address`` (default: the program's
        code), showing saved instructions under breakpoints and marking the pc."""
        start = self.program.base if address is None else address
        if count is None:
            count = max(0, (self.program.end - start) // 4) if address is None else 16
        data = self.raw_memory(start, 4 * count)
        return listing(data, start, breakpoints=self.saved_words(), pc=self.pc,
                       program=self.program)

    # -- the log ------------------------------------------------------------------------------
    def log_lines(self, last: int | None = None) -> list[str]:
        """The event log as text, one line per vCPU exit (newest last)."""
        events: Iterable[Handled] = self.events
        if last is not None:
            events = list(self.events)[-last:]
        return [h.describe() for h in events]

    def __repr__(self) -> str:
        return (f"Debugger({self.program.name}, pc={self.pc:#x}, "
                f"breakpoints={[hex(bp.pc) for bp in self.table]})")


def _check_range(address: int, size: int) -> None:
    if isinstance(address, bool) or not isinstance(address, int) or address < 0:
        raise ValueError(f"address {address!r}: expected a non-negative integer")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError(f"size {size!r}: expected a non-negative integer")
