"""The debugger view's model: what a front end shows of a Debugger, as plain records.

:class:`ViewModel` follows one Debugger (or anything with the same few reads, see
:class:`DebuggerLike`) and :meth:`ViewModel.state` hands out a :class:`ViewState`: the
listing rows (each with the original word *and* the word memory really holds, so one table
or two is the renderer's choice), the registers with those the last run changed, the last
exit decoded with the exit handler's decision, the breakpoints, the message line and
whether a run is under way. Nothing here draws: :mod:`armbp.view.render` turns a state
into text or HTML, and the notebook widget only wires buttons to Debugger calls.

Why apart: the facts are the lesson, their layout is not. With the facts in one place the
text repr that nbval compares and the HTML a learner sees cannot drift apart, and the
model is tested without ipywidgets or an emulator. Stop reasons and verdicts are read by
their names, and their words come from the one stop vocabulary (``armbp.vmm.Verdict``),
which stands on the KVM contract alone: no emulator is imported.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .. import esr
from ..disasm import BP_MARK, PC_MARK, ListingLine, disassemble_word, markers
from ..encodings import BRK0

if TYPE_CHECKING:  # only for the type hints
    from ..debugger import Stop
    from ..program import Program
    from ..table import Breakpoint
    from ..vmm import Handled

__all__ = [
    "BP_MARK",
    "CONTEXT_WORDS",
    "HW_MARK",
    "MAX_EVENTS",
    "PC_MARK",
    "WATCH_MARK",
    "BreakpointMark",
    "DebuggerLike",
    "Gap",
    "HwBreakpointMark",
    "LastExit",
    "Register",
    "Row",
    "ViewModel",
    "ViewState",
    "WatchMark",
    "decision_words",
    "flags",
    "markers",
]

HW_MARK = "H"  # a hardware breakpoint's row: a debug register, memory untouched
WATCH_MARK = "W"  # a row whose bytes a watchpoint covers
CONTEXT_WORDS = 2  # words shown either side of the pc even without a source line
MAX_EVENTS = 20  # events shown per action (a guest's BRK loop can log hundreds)


def decision_words(reason: str) -> str:
    """What the exit handler decided for a stop of this reason (its name), in words: the
    stop kind's own words (``armbp.vmm.Verdict``), so that a new kind brings its own."""
    from ..vmm import Verdict  # the VMM imports no emulator: the contract only

    return Verdict[reason].decision


def flags(pstate: int) -> str:
    """``NZCV`` (upper case = set), the exception level and stack pointer of a PSTATE."""
    nzcv = "".join(
        c if pstate >> bit & 1 else c.lower()
        for c, bit in (("N", 31), ("Z", 30), ("C", 29), ("V", 28))
    )
    el = pstate >> 2 & 3
    return f"{nzcv} EL{el}{'h' if pstate & 1 else 't'}"


class DebuggerLike(Protocol):
    """The reads the model makes of a :class:`armbp.debugger.Debugger`, and no more."""

    @property
    def program(self) -> Program: ...
    @property
    def pc(self) -> int: ...
    @property
    def last_stop(self) -> Stop | None: ...
    @property
    def events(self) -> Iterable[Handled]: ...
    @property
    def events_seen(self) -> int: ...
    @property
    def breakpoints(self) -> Sequence[Breakpoint]: ...
    # optional (read with getattr): ``hw_breakpoints`` (records with slot, address) and
    # ``watchpoints`` (slot, address, size, kind), a Debugger's debug-register slots
    def registers(self) -> dict[str, int]: ...
    def listing(self) -> list[ListingLine]: ...


# --- the records ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One word of the listing: the instruction as the guest should see it, and what memory
    really holds there (``d4200000`` under a planted breakpoint)."""

    address: int
    label: str  # the symbol at exactly this address, or ""
    word: int  # the original instruction (the table's saved word)
    text: str  # its disassembly
    memory_word: int  # the word memory holds
    memory_text: str  # the disassembly of memory_word, "" when it is the original
    source: str  # "N: text" of the source line, or ""
    is_pc: bool
    is_breakpoint: bool
    hw_slot: int | None = None  # a hardware breakpoint's slot here (DBGBVR<n>), or None
    watched: str = ""  # "write 8 bytes at 0x410160" when a watchpoint covers this word

    @property
    def mark(self) -> str:
        """The row's breakpoint marker: ``*`` our BRK, ``H`` a hardware breakpoint, ``W`` a
        watched word, "" none. A BRK wins: it is the one that changed memory."""
        if self.is_breakpoint:
            return BP_MARK
        if self.hw_slot is not None:
            return HW_MARK
        return WATCH_MARK if self.watched else ""

    @property
    def differs(self) -> bool:
        """Memory holds another word than the listing shows (our BRK, or a change)."""
        return self.memory_word != self.word

    @property
    def overwritten(self) -> bool:
        """A breakpoint whose BRK the guest wrote over: it will not trap here."""
        return self.is_breakpoint and self.memory_word != BRK0

    @property
    def ours(self) -> bool:
        """Memory holds our BRK #0."""
        return self.memory_word == BRK0


@dataclass(frozen=True)
class Gap:
    """A run of words left out of the listing (no source line, label, breakpoint or pc)."""

    first: int
    last: int
    count: int


@dataclass(frozen=True)
class Register:
    name: str
    value: int
    changed: bool  # by the last Step/Continue


@dataclass(frozen=True)
class BreakpointMark:
    pc: int
    name: str  # "0x4000c (loop)"


@dataclass(frozen=True)
class HwBreakpointMark:
    """A hardware breakpoint: a DBGBCR/DBGBVR slot, nothing written to memory."""

    slot: int
    pc: int
    name: str  # "0x4000c (loop)"


@dataclass(frozen=True)
class WatchMark:
    """A watchpoint: a DBGWCR/DBGWVR slot watching ``size`` bytes for ``kind`` accesses."""

    slot: int
    address: int
    size: int
    kind: str  # "write" | "read" | "access"
    name: str  # "0x410160 (total)"

    @property
    def words(self) -> str:
        """``write watch on 8 byte(s) at 0x410160 (total), slot 0``."""
        return f"{self.kind} watch on {self.size} byte(s) at {self.name}, slot {self.slot}"

    def covers(self, address: int, length: int = 4) -> bool:
        """Do the watched bytes overlap ``length`` bytes at ``address``?"""
        return self.address < address + length and address < self.address + self.size


@dataclass(frozen=True)
class LastExit:
    """The last stop, decoded: the vCPU exit, its syndrome, and the handler's decision."""

    reason: str  # the stop reason's name, e.g. "BREAKPOINT"
    pc: int
    message: str  # the Stop's one line
    facts: tuple[str, ...]  # "exit: …", "hsr …", "decision: …"
    events: tuple[str, ...]  # the events since the last action, newest MAX_EVENTS
    earlier: int  # how many older events since the last action are not in events


@dataclass(frozen=True)
class ViewState:
    """Everything a view of the session shows, at one moment."""

    program: str
    pc: int
    running: bool  # a Continue is under way on another thread
    breakpoints: tuple[BreakpointMark, ...]
    rows: tuple[Row | Gap, ...]
    registers: tuple[Register, ...]
    last_exit: LastExit | None
    message: str
    message_is_error: bool
    hw_breakpoints: tuple[HwBreakpointMark, ...] = ()
    watchpoints: tuple[WatchMark, ...] = ()

    @property
    def hardware_words(self) -> str:
        """``hw breakpoints: 0x40010 (hot) slot 0; watchpoints: write watch on …`` or ""
        when the debugger uses no debug register (so older views read as they did)."""
        parts = []
        if self.hw_breakpoints:
            parts.append(
                "hw breakpoints: "
                + ", ".join(f"{h.name} slot {h.slot}" for h in self.hw_breakpoints)
            )
        if self.watchpoints:
            parts.append("watchpoints: " + ", ".join(w.words for w in self.watchpoints))
        return "; ".join(parts)

    @property
    def lines(self) -> tuple[Row, ...]:
        """The listing rows that are words (not gaps)."""
        return tuple(r for r in self.rows if isinstance(r, Row))

    @property
    def state_words(self) -> str:
        """``running (Continue)``, ``stopped: BREAKPOINT`` or ``not run yet``."""
        if self.running:
            return "running (Continue)"
        return f"stopped: {self.last_exit.reason}" if self.last_exit else "not run yet"

    @property
    def register_groups(self) -> tuple[tuple[Register, ...], tuple[Register, ...]]:
        """(the registers worth a look, the rest): those the last Step/Continue changed
        first, then the others that hold a non-zero value; the rest hold zero, unchanged.

        Why: of 34 registers a small guest uses a handful. Showing those first keeps the
        panel short enough to sit beside the buttons, so pressing one visibly changes it.
        """
        changed = tuple(r for r in self.registers if r.changed)
        nonzero = tuple(r for r in self.registers if not r.changed and r.value)
        rest = tuple(r for r in self.registers if not r.changed and not r.value)
        return changed + nonzero, rest

    @property
    def flags(self) -> str | None:
        """The PSTATE flags in words, or None if no pstate was read."""
        for r in self.registers:
            if r.name == "pstate":
                return flags(r.value)
        return None

    @property
    def warning(self) -> str:
        """What to say about breakpoints whose BRK the guest overwrote ("" if none)."""
        bad = [r for r in self.lines if r.overwritten]
        if not bad:
            return ""
        return (
            "The guest overwrote the BRK at "
            + ", ".join(f"{r.address:#x} (memory holds {r.memory_word:08x})" for r in bad)
            + ": it will not trap there, and removing it restores nothing (toggle it "
            "twice to drop it, memory as the guest wrote it); Reset reloads the guest."
        )


# --- following a Debugger -------------------------------------------------------------------


def _visible(
    lines: list[ListingLine], pc: int, has_source: bool, keep: set[int] | None = None
) -> list[ListingLine | Gap]:
    """The lines worth showing, with each run of the others folded into one gap.

    Shown: lines with a source line or a label, breakpoints (and the addresses in
    ``keep``: hardware breakpoints), and the pc with
    ``CONTEXT_WORDS`` either side. A program without source lines (an ELF without DWARF)
    shows everything within 32 words of the pc instead of just the context.
    """
    near = CONTEXT_WORDS if has_source else 32
    rows: list[ListingLine | Gap] = []
    gap: list[ListingLine] = []

    def close_gap() -> None:
        if gap:
            rows.append(Gap(gap[0].address, gap[-1].address, len(gap)))
            gap.clear()

    for ln in lines:
        if (
            ln.source is not None
            or ln.symbol
            or ln.is_breakpoint
            or ln.address in (keep or ())
            or ln.is_pc
            or abs(ln.address - pc) <= 4 * near
        ):
            close_gap()
            rows.append(ln)
        else:
            gap.append(ln)
    close_gap()
    return rows


def _row(
    ln: ListingLine,
    hw: dict[int, int] | None = None,
    watches: tuple[WatchMark, ...] = (),
) -> Row:
    hit = [w for w in watches if w.covers(ln.address)]
    return Row(
        address=ln.address,
        label=ln.symbol or "",
        word=ln.word,
        text=ln.text,
        memory_word=ln.memory_word,
        memory_text=(
            disassemble_word(ln.memory_word, ln.address) if ln.memory_word != ln.word else ""
        ),
        source=f"{ln.source.number}: {ln.source.text.strip()}" if ln.source else "",
        is_pc=ln.is_pc,
        is_breakpoint=ln.is_breakpoint,
        hw_slot=(hw or {}).get(ln.address),
        watched="; ".join(w.words for w in hit),
    )


class ViewModel:
    """What a view of one Debugger last showed, and how to catch up with it.

    The Debugger is the single source of truth; the model keeps only what it needs to say
    what *changed*: the registers of the previous read, the stop it last showed and how
    many events the Debugger had logged then. ``update()`` reads the Debugger (one batch
    register read, skipped when only a breakpoint changed), ``stale()`` says whether it
    moved on since (cheap: no register or memory access), and ``state()`` is the snapshot
    the renderers draw.
    """

    def __init__(self, debugger: DebuggerLike) -> None:
        self.debugger = debugger
        self.running = False  # set by the front end around a background run
        self._registers: dict[str, int] = {}
        self._changed: set[str] = set()
        self._stop: Stop | None = None  # the stop the exit panel shows
        self._last_exit: LastExit | None = None
        self._seen = 0  # Debugger.events_seen when the view last looked
        self._table: tuple[tuple[int, int], ...] = ()
        self._breakpoints: tuple[BreakpointMark, ...] = ()
        self._hardware: tuple[tuple[Any, ...], tuple[Any, ...]] = ((), ())
        self._hw_marks: tuple[HwBreakpointMark, ...] = ()
        self._watch_marks: tuple[WatchMark, ...] = ()
        self._rows: tuple[Row | Gap, ...] = ()
        self._pc = 0
        self.message = ""  # plain text of the message line
        self.message_is_error = False

    @property
    def stop(self) -> Stop | None:
        """The stop shown as the last exit (None before the first run and after Reset)."""
        return self._stop

    @property
    def changed(self) -> frozenset[str]:
        """The registers the last Step/Continue changed."""
        return frozenset(self._changed)

    @property
    def pc(self) -> int:
        """The pc as last read."""
        return self._pc

    @property
    def shown_breakpoints(self) -> list[int]:
        """The breakpoints' addresses as last read (the Debugger's own while a run is on
        another thread must not be asked)."""
        return [pc for pc, _ in self._table]

    def say(self, text: str, *, error: bool = False) -> None:
        """Set the message line."""
        self.message, self.message_is_error = text, error

    def name(self, address: int) -> str:
        """``0x4000c (loop)``: an address with the symbol there, if any."""
        symbol = self.debugger.program.symbol_at(address)
        return f"{address:#x}" + (f" ({symbol})" if symbol else "")

    def _read_table(self) -> tuple[tuple[int, int], ...]:
        return tuple((bp.pc, bp.use_count) for bp in self.debugger.breakpoints)

    def _read_hardware(self) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        """The Debugger's hardware breakpoints and watchpoints (frozen records; none for a
        Debugger without debug registers)."""
        dbg = self.debugger
        return (
            tuple(getattr(dbg, "hw_breakpoints", ())),
            tuple(getattr(dbg, "watchpoints", ())),
        )

    def stale(self) -> bool:
        """Did the Debugger stop again, reset, or change its breakpoints since ``update``?"""
        return (
            self.debugger.last_stop is not self._stop
            or self._read_table() != self._table
            or self._read_hardware() != self._hardware
        )

    def update(self, *, registers: bool = True) -> None:
        """Read the Debugger again.

        A new ``Debugger.last_stop`` becomes the last exit, with the events logged since
        the previous update, and the registers that differ from the previous read are
        marked as changed (and the message line is cleared). A session that was reset
        clears the last exit. ``registers=False`` skips the register read.
        """
        dbg = self.debugger
        stop = dbg.last_stop
        ran = stop is not None and stop is not self._stop
        seen = dbg.events_seen
        if ran:
            assert stop is not None
            new_events = seen - self._seen
            events = list(dbg.events)[-new_events:] if new_events else []
            self._stop = stop
            self._last_exit = _last_exit(stop, events, new_events)
            self.say("")
        elif stop is None and self._stop is not None:  # the session was reset
            self._stop, self._last_exit, self._changed = None, None, set()
            self.say("")
        self._seen = seen
        if registers or ran or not self._registers:
            new = dbg.registers()
            if ran and self._registers:
                self._changed = {n for n, v in new.items() if self._registers.get(n) != v}
            self._registers = new
        self._table = self._read_table()
        self._breakpoints = tuple(BreakpointMark(pc, self.name(pc)) for pc, _ in self._table)
        self._hardware = self._read_hardware()
        hws, wps = self._hardware
        self._hw_marks = tuple(
            HwBreakpointMark(h.slot, h.address, self.name(h.address)) for h in hws
        )
        self._watch_marks = tuple(
            WatchMark(w.slot, w.address, w.size, w.kind, self.name(w.address)) for w in wps
        )
        hw = {h.pc: h.slot for h in self._hw_marks}
        self._pc = dbg.pc
        self._rows = tuple(
            r if isinstance(r, Gap) else _row(r, hw, self._watch_marks)
            for r in _visible(dbg.listing(), self._pc, bool(dbg.program.lines), keep=set(hw))
        )

    def state(self) -> ViewState:
        """The snapshot to draw: what ``update`` read, the message line, the busy flag."""
        return ViewState(
            program=self.debugger.program.name,
            pc=self._pc,
            running=self.running,
            breakpoints=self._breakpoints,
            rows=self._rows,
            registers=tuple(
                Register(n, v, n in self._changed) for n, v in self._registers.items()
            ),
            last_exit=self._last_exit,
            message=self.message,
            message_is_error=self.message_is_error,
            hw_breakpoints=self._hw_marks,
            watchpoints=self._watch_marks,
        )


def _last_exit(stop: Stop, events: list[Handled], new_events: int) -> LastExit:
    """The last exit decoded: the exit, its syndrome, the decision, the recent events."""
    e = stop.exit
    facts = [f"exit: {e.reason.name} (KVM exit {int(e.reason)}) at pc {e.pc:#x}"]
    if e.debug is not None:
        s = esr.decode(e.debug.hsr | e.debug.hsr_high << 32)
        extra = f", comment #{e.debug.hsr & 0xFFFF:#x}" if s.ec == esr.EC.BRK64 else ""
        facts.append(
            f"hsr {e.debug.hsr:#010x}: EC 0x{s.ec:02X} {s.ec_name}, IL {s.il}, "
            f"ISS {s.iss:#09x}{extra}"
        )
    else:
        facts.append("hsr: none (only a DEBUG exit carries a syndrome)")
    facts += _hardware_facts(stop)
    reason = stop.reason.name
    decision = decision_words(reason)
    if stop.note and reason != "BREAKPOINT":
        decision += f" ({stop.note})"
    reinjected = sum(1 for h in events if h.verdict.name == "RESUME")
    if reinjected:
        decision += (
            f"; before that, {reinjected} BRK(s) of the guest's own: not ours → "
            f"re-injected into the guest's vectors"
        )
    facts.append(f"decision: {decision}")
    shown = events[-MAX_EVENTS:]
    return LastExit(
        reason=reason,
        pc=stop.pc,
        message=stop.message,
        facts=tuple(facts),
        events=tuple(h.describe() for h in shown),
        earlier=max(new_events, len(events)) - len(shown),
    )


def _hardware_facts(stop: Stop) -> list[str]:
    """What a hardware breakpoint or watchpoint stop adds: the slot, the data address (the
    FAR), the accessing instruction and the watched value before and after."""
    slot = getattr(stop, "slot", None)
    wp = getattr(stop, "watch", None)
    if wp is not None:
        line = (
            f"watchpoint slot {slot}: {wp.kind} watch on {wp.size} byte(s) at {wp.address:#x}"
        )
        far = getattr(stop, "data_address", None)
        if far is not None:
            line += f"; FAR (the data address) {far:#x}"
        access = getattr(stop, "access_pc", None)
        if access is not None:
            line += f"; accessed by the instruction at {access:#x}"
        out = [line]
        old, new = getattr(stop, "old_value", None), getattr(stop, "new_value", None)
        if old is not None and new is not None:
            out.append(f"value: old {old:#x} → new {new:#x}")
        elif old is not None:
            out.append(f"value: {old:#x} (the access has not run yet)")
        return out
    if stop.reason.name == "HW_BREAKPOINT":
        line = (
            f"hardware breakpoint slot {slot}: DBGBVR{slot} matched the pc before the "
            "instruction ran; memory was never written"
        )
        return [line]
    return []
