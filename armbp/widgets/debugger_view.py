"""``DebuggerView``: step, continue and plant breakpoints in a guest, and watch what happens.

One view of one :class:`armbp.debugger.Debugger` session:

* the **listing** of the program as the guest should see it (original instructions, the
  breakpoint table's saved words), with ``=>`` at the pc and ``*`` at each breakpoint,
  beside a **memory panel** of the words really in memory — ``d4200000`` (``BRK #0``)
  wherever a breakpoint is planted;
* **Step**, **Continue**, **Stop** and **Reset** buttons, a location box with **Toggle breakpoint**
  (a symbol, ``symbol+offset`` or an address; or pick a line in the list below it), and a
  **budget** (seconds, and optionally an instruction count) so a runaway guest comes back;
* the **registers** (x0–x30, sp, pc, pstate), those changed by the last Step/Continue in
  bold with a ``*``;
* the **last exit** decoded: the stop reason, the exit, the syndrome (``hsr``) through
  :func:`armbp.esr.decode`, the exit handler's decision, and the events since the last action;
* a message line for what went wrong (unknown symbol, misaligned address, a BRK the guest
  overwrote — toggling it a second time drops it, memory left as the guest wrote it): a
  button never lets an exception escape.

The **Continue button** runs the guest on a worker thread, so the notebook stays live for
as long as the budget lasts: meanwhile the view says it is running, every control that
would touch the Debugger is disabled, and **Stop** calls ``Debugger.interrupt()`` (GDB's
Ctrl-C; the only call that may cross threads): the run comes back at once with a BUDGET
stop. The worker refreshes the view when the run ends. ``cont()`` from Python stays a
plain call that returns the stop.

The Debugger is the single source of truth: the view never keeps its own copy of guest
state beyond what it last showed. Every action calls the Debugger, then ``refresh()``
rebuilds the panels from ``Debugger.listing()``, ``Debugger.registers()`` (one batch read
per refresh, skipped when only a breakpoint changed: register I/O costs),
``Debugger.last_stop`` and the event log. A notebook may drive the same Debugger from
Python: ``refresh()``, ``text()`` and the repr catch up with it. The exit records are read only as the Debugger hands them out (``Stop.exit``,
``Debugger.events``): this module does not import the emulator, and it never touches the
vCPU.

Everything shown is plain widget state (HTML and text), so an executed notebook exported to
HTML shows the last state, and ``text()`` gives the same facts as plain text for nbval.
"""
from __future__ import annotations

import html
import math
import threading
import time
from typing import Any, Callable, NamedTuple

import ipywidgets as widgets

from .. import esr
from ..debugger import Debugger, Stop, StopReason
from ..disasm import ListingLine, disassemble_word
from ..encodings import BRK0
from ..program import Program
from ..table import BreakpointOverwritten
from ..vcpu import DEFAULT_SECONDS, Budget
from ..vmm import Handled, Verdict
from . import Syncing

__all__ = ["DebuggerView"]

CONTEXT_WORDS = 2       # words shown either side of the pc even without a source line
MAX_INSTRUCTIONS = 10**9
MAX_EVENTS = 20         # events shown per action (a guest's BRK loop can log hundreds)
STOP_RETRY_SECONDS = 2.0  # how long Stop keeps asking a run that has not come back yet

_PC_BG = "#FFF3B0"      # the pc row (the "=>" marker says it without colour)
_BP_FG = "#B00020"      # breakpoint markers and BRK words (the "*" says it without colour)
_CHANGED_BG = "#D8F0D8"  # changed registers (bold and "*" say it without colour)


class _Row(NamedTuple):
    """One row of the listing: a line, or a run of lines left out (``line`` is None)."""

    line: ListingLine | None
    first: int = 0          # for a gap: the first and last address left out, and how many
    last: int = 0
    count: int = 0


def _visible(lines: list[ListingLine], pc: int, has_source: bool) -> list[_Row]:
    """The lines worth showing, with each run of the others folded into one gap row.

    Shown: lines with a source line or a label, breakpoints, and the pc with
    ``CONTEXT_WORDS`` either side. A program without source lines (an ELF without DWARF)
    shows everything within 32 words of the pc instead of just the context.
    """
    near = CONTEXT_WORDS if has_source else 32
    rows: list[_Row] = []
    gap: list[ListingLine] = []

    def close_gap() -> None:
        if gap:
            rows.append(_Row(None, gap[0].address, gap[-1].address, len(gap)))
            gap.clear()

    for ln in lines:
        if (ln.source is not None or ln.symbol or ln.is_breakpoint or ln.is_pc
                or abs(ln.address - pc) <= 4 * near):
            close_gap()
            rows.append(_Row(ln))
        else:
            gap.append(ln)
    close_gap()
    return rows


def _flags(pstate: int) -> str:
    """``NZCV`` (upper case = set), the exception level and stack pointer of a PSTATE."""
    nzcv = "".join(c if pstate >> bit & 1 else c.lower()
                   for c, bit in (("N", 31), ("Z", 30), ("C", 29), ("V", 28)))
    el = pstate >> 2 & 3
    return f"{nzcv} EL{el}{'h' if pstate & 1 else 't'}"


# Listing and memory tables: monospace, one line a row, and room between the columns
# (front ends reset cellpadding; the style travels with the HTML into Voila and exports).
_TABLE_OPEN = ("<style>.armbp-dv-table td, .armbp-dv-table th {padding: 0.05em 0.7em 0.05em 0;"
               " text-align: left}</style>"
               "<table class='armbp-dv-table' style='font-family:monospace;white-space:nowrap;"
               "border-collapse:collapse'>")


class DebuggerView(widgets.VBox):
    """A debugger front end in a notebook: ``DebuggerView()`` (the demo guest),
    ``DebuggerView(program)``, ``DebuggerView("_start: b _start")`` or
    ``DebuggerView(debugger)`` to show a session the notebook also drives.

    ``budget`` is the default run budget: seconds (a number), an :class:`armbp.vcpu.Budget`
    (seconds and an instruction count), or None (``DEFAULT_SECONDS``). The budget controls
    change it.

    The actions are methods as well as buttons — ``step()``, ``cont()``, ``reset()``,
    ``toggle(where)`` — and behave the same: they never raise; a failure is shown on the
    message line (``message``) and they return None. If the notebook drives ``debugger``
    directly, ``refresh()`` shows the new state (``text()`` and the repr do it themselves
    when the Debugger stopped again or its breakpoints changed). ``text()`` is the
    plain-text state: listing with memory, registers, last exit.
    """

    def __init__(self, debugger_or_program: Debugger | Program | str | None = None, *,
                 budget: Budget | float | None = None, **kwargs: Any) -> None:
        if debugger_or_program is None:
            from ..demo import demo_program
            debugger_or_program = demo_program()
        if isinstance(debugger_or_program, Debugger):
            self.debugger = debugger_or_program
        else:
            self.debugger = Debugger(debugger_or_program)
        budget = Budget.of(budget)
        self._syncing = Syncing()
        self._registers: dict[str, int] = {}
        self._changed: set[str] = set()
        self._stop: Stop | None = None      # the stop the exit panel shows
        self._events: list[Handled] = []    # the events since the last action (kept ones)
        self._new_events = 0                # how many there were, kept in the log or not
        self._rows: list[_Row] = []
        self._seen = 0                      # Debugger.events_seen when the view last looked
        self._shown_table: tuple[tuple[int, int], ...] = ()
        self._pc = 0
        self._message = ""                  # plain text of the message line
        self._message_is_error = False
        self._drop_next: int | None = None  # an overwritten BRK the next toggle there drops
        self._worker: threading.Thread | None = None  # the last background Continue
        self._busy = False                  # it is inside Debugger.cont() right now
        self._busy_lock = threading.Lock()  # orders Stop against the end of that run
        self._interrupted = False           # Stop was pressed during the running Continue

        # --- controls ------------------------------------------------------------------
        def button(label: str, tip: str, icon: str, action: Callable[[], Any]) -> widgets.Button:
            b = widgets.Button(description=label, tooltip=tip, icon=icon,
                               layout=widgets.Layout(width="auto"))
            b.on_click(lambda _button: self._safely(action))
            return b

        self.step_button = button(
            "Step", "Execute exactly one instruction (from a breakpoint too: the saved "
            "instruction is stepped over)", "step-forward", self.step)
        self.continue_button = button(
            "Continue", "Run until a breakpoint, the end of the guest, a fault, or the end "
            "of the budget (in the background: Stop interrupts it)", "play",
            self.start_cont)
        self.stop_button = button(
            "Stop", "Interrupt the running Continue (Debugger.interrupt(), as GDB's Ctrl-C): "
            "the guest comes back with a BUDGET stop", "stop", self.stop)
        self.stop_button.disabled = True
        self.reset_button = button(
            "Reset", "Start the guest again from its entry point; breakpoints stay planted",
            "undo", self.reset)
        self.toggle_button = button(
            "Toggle breakpoint", "Plant a breakpoint at the location (BRK #0 over the "
            "instruction), or remove the one that is there", "circle",
            lambda: self.toggle(self.where.value))
        symbols = sorted(self.debugger.program.symbols,
                         key=lambda s: (self.debugger.program.symbols[s], s))
        self.where = widgets.Combobox(
            value="", options=symbols, ensure_option=False,
            description="Location",
            placeholder="symbol, symbol+offset or address: " + (
                ", ".join(symbols[:3] + ["0x" + f"{self.debugger.program.entry:x}"])),
            tooltip="Where to toggle a breakpoint: a symbol (e.g. loop), symbol+offset "
                    "(loop+4) or an address (0x4000c); or pick a line below",
            layout=widgets.Layout(width="24em"), style={"description_width": "5em"})
        self.lines = widgets.Select(
            options=[], value=None, rows=6, description="Line",
            tooltip="Pick a listing line to fill the location box, then press "
                    "Toggle breakpoint",
            layout=widgets.Layout(width="40em"), style={"description_width": "5em"})
        self.seconds = widgets.BoundedFloatText(
            value=min(budget.seconds, 60.0), min=0.001, max=60.0, step=0.1,
            description="Budget (s)",
            tooltip="Time budget of one Continue, in seconds: a guest that runs longer "
                    "comes back with a BUDGET stop",
            layout=widgets.Layout(width="12em"), style={"description_width": "6em"})
        self.instructions = widgets.BoundedIntText(
            value=budget.instructions or 0, min=0, max=MAX_INSTRUCTIONS,
            description="Max instr.",
            tooltip="Instruction budget of one Continue (0 = no count; counting makes the "
                    "guest several times slower)",
            layout=widgets.Layout(width="14em"), style={"description_width": "6em"})
        self.lines.observe(self._on_line, names="value")

        # --- panels ------------------------------------------------------------------------
        def panel(cls: str, **layout: Any) -> widgets.HTML:
            w = widgets.HTML(layout=widgets.Layout(**layout))
            w.add_class(cls)
            return w

        self.status = panel("armbp-dv-status")
        self.message = panel("armbp-dv-message", min_height="1.2em")
        self.listing = panel("armbp-dv-listing", overflow="auto", max_height="32em")
        self.memory = panel("armbp-dv-memory", overflow="auto", max_height="32em")
        self.registers = panel("armbp-dv-registers")
        self.exit = panel("armbp-dv-exit")
        self.add_class("armbp-debugger-view")

        super().__init__(children=[
            self.status,
            widgets.HBox([self.step_button, self.continue_button, self.stop_button,
                          self.reset_button, self.seconds, self.instructions],
                         layout=widgets.Layout(flex_flow="row wrap")),
            widgets.HBox([self.where, self.toggle_button],
                         layout=widgets.Layout(flex_flow="row wrap")),
            self.lines,
            self.message,
            widgets.HBox([self.listing, self.memory],
                         layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start")),
            widgets.HBox([self.registers, self.exit],
                         layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start")),
        ], **kwargs)
        self._safely(self.refresh)

    # --- the model ---------------------------------------------------------------------------

    @property
    def budget(self) -> Budget:
        """The budget of the next Continue, from the budget controls."""
        seconds = self.seconds.value
        if not (isinstance(seconds, (int, float)) and seconds > 0 and math.isfinite(seconds)):
            seconds = DEFAULT_SECONDS
        return Budget(seconds=seconds, instructions=self.instructions.value or None)

    @budget.setter
    def budget(self, value: Budget | float | None) -> None:
        b = Budget.of(value)
        self.seconds.value = min(b.seconds, self.seconds.max)
        self.instructions.value = b.instructions or 0

    @property
    def changed(self) -> frozenset[str]:
        """The registers the last Step/Continue changed."""
        return frozenset(self._changed)

    @property
    def last_stop(self) -> Stop | None:
        """The stop the exit panel shows (None before the first run and after Reset)."""
        return self._stop

    def __repr__(self) -> str:
        self._catch_up()
        where = f"{self._pc:#x}" + (f" {self._stop.reason.name}" if self._stop else "")
        bps = ", ".join(f"{pc:#x}" for pc in self._breakpoint_pcs())
        return f"DebuggerView(pc={where}, breakpoints=[{bps}])"

    def _breakpoint_pcs(self) -> list[int]:
        """The breakpoints' addresses: the Debugger's, or while a background Continue runs
        (the Debugger is that thread's) the ones the view last showed."""
        if self._busy:
            return [pc for pc, _ in self._shown_table]
        return [bp.pc for bp in self.debugger.breakpoints]

    # --- actions -----------------------------------------------------------------------------

    def step(self) -> Stop | None:
        """Step one instruction (the Step button)."""
        if self._refuse_while_running("Step"):
            return None
        return self._run("Step", self.debugger.step)

    def cont(self) -> Stop | None:
        """Continue within the budget, and return the stop (waits for it: the Continue
        button runs it in the background instead, see ``start_cont``)."""
        budget = self.budget
        return self._run("Continue", lambda: self.debugger.cont(budget))

    @property
    def running(self) -> bool:
        """Is a Continue started by the button (``start_cont``) still at work (running the
        guest, or showing where it stopped)?"""
        worker = self._worker
        return worker is not None and worker.is_alive()

    def start_cont(self) -> None:
        """Continue on a worker thread (the Continue button) and return at once.

        Why a thread: a run lasts up to its budget (seconds), and a button callback that
        blocks the kernel that long leaves nothing able to press Stop. Until the run ends
        the view shows it running and disables the controls that would touch the
        Debugger; Stop interrupts it. The worker refreshes the view when it ends.
        """
        if self._refuse_while_running("Continue"):
            return
        budget = self.budget
        self._interrupted = False
        self._busy = True
        self._set_busy(True, budget)

        def run() -> Stop:
            try:
                return self.debugger.cont(budget)
            finally:
                with self._busy_lock:  # from here on Stop has nothing to interrupt
                    self._busy = False

        def work() -> None:
            try:
                self._run("Continue", run)  # refreshes the view when the run ends
            finally:
                self._set_busy(False)

        self._worker = threading.Thread(target=work, name="armbp-debugger-view-continue",
                                        daemon=True)
        self._worker.start()

    def stop(self) -> None:
        """Interrupt the running Continue (the Stop button): ``Debugger.interrupt()``."""
        with self._busy_lock:
            if not self._busy:
                self._say("Nothing is running: Stop interrupts a Continue while it runs.")
                return
            self._interrupted = True
            self._say("Stopping: interrupt() asks the guest to come back ...")
            self.debugger.interrupt()
        # An interrupt that lands while the run is still entering the emulator can be
        # lost (the emulator forgets a stop asked for before it is under way), and the
        # run would go on to the end of its budget: ask again until it has come back.
        deadline = time.monotonic() + STOP_RETRY_SECONDS
        while time.monotonic() < deadline:
            time.sleep(0.05)
            with self._busy_lock:
                if not self._busy:
                    return
                self.debugger.interrupt()

    def wait(self, timeout: float | None = None) -> Stop | None:
        """Wait for a Continue started by the button; the stop it ended with (or None if
        it is still running after ``timeout`` seconds)."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout)
            if worker.is_alive():
                return None
        return self._stop

    def _refuse_while_running(self, action: str) -> bool:
        """True (and say so) when a background Continue owns the Debugger right now."""
        if not self.running:
            return False
        self._say(f"{action}: a Continue is running; press Stop first (or wait for it).",
                  error=True)
        return True

    def _set_busy(self, busy: bool, budget: Budget | None = None) -> None:
        """Show a running Continue (or its end): controls that would touch the Debugger
        off, Stop on, and a status line that says what is happening."""
        for control in (self.step_button, self.continue_button, self.reset_button,
                        self.toggle_button, self.where, self.lines, self.seconds,
                        self.instructions):
            control.disabled = busy
        self.stop_button.disabled = not busy
        if busy:
            self.add_class("armbp-dv-busy")
            assert budget is not None
            limit = f"{budget.seconds:g} s" + (f" or {budget.instructions} instruction(s)"
                                               if budget.instructions else "")
            self.status.value = (f"<b>PC <code class='armbp-dv-pc'>{self._pc:#x}</code></b> — "
                                 f"<span role='status'>⏳ running: Continue, budget {limit}; "
                                 f"Stop interrupts it</span>")
            self._say(f"Running (budget {limit}) ... press Stop to interrupt the guest.")
        else:
            self.remove_class("armbp-dv-busy")

    def reset(self) -> None:
        """Start the guest again from its entry, breakpoints kept (the Reset button)."""
        if self._refuse_while_running("Reset"):
            return
        self._drop_next = None

        def do() -> None:
            self.debugger.reset()
            self.refresh()
            bps = ", ".join(f"{bp.pc:#x}" for bp in self.debugger.breakpoints) or "none"
            self._say(f"Reset: the guest starts again at {self.debugger.pc:#x}; "
                      f"breakpoints still planted: {bps}.")
        self._safely(do)

    def toggle(self, where: str | int) -> None:
        """Plant a breakpoint at ``where``, or remove the one there (Toggle breakpoint).

        If removing fails because the guest wrote over the BRK, the message says so, and
        toggling the same place again (with nothing run in between) drops the breakpoint,
        leaving memory as the guest wrote it (``Debugger.delete(..., force=True)``).
        """
        if self._refuse_while_running("Toggle breakpoint"):
            return
        drop, self._drop_next = self._drop_next, None

        def do() -> None:
            dbg = self.debugger
            if isinstance(where, str) and not where.strip():
                raise ValueError("type a symbol (e.g. loop), symbol+offset or an address "
                                 "in the Location box first")
            target = where.strip() if isinstance(where, str) else where
            address = dbg.address_of(target)
            name = self._name(address)
            if address in {bp.pc for bp in dbg.breakpoints}:
                if address == drop:
                    dbg.delete(address, force=True)
                    self.refresh(registers=False)
                    word = int.from_bytes(dbg.raw_memory(address, 4), "little")
                    self._say(f"Dropped the breakpoint at {name}: nothing was restored; "
                              f"memory keeps the guest's word {word:08x} "
                              f"({disassemble_word(word, address)}).")
                    return
                try:
                    left = dbg.delete(address)
                except BreakpointOverwritten as e:
                    self.refresh(registers=False)
                    self._drop_next = address
                    self._say(f"The breakpoint at {name} was overwritten: the guest wrote "
                              f"{e.found:08x} ({disassemble_word(e.found, address)}) over "
                              f"our BRK {BRK0:08x}, so there is no BRK to take out and "
                              f"nothing was restored. Toggle it again to drop the "
                              f"breakpoint, memory left as the guest wrote it (or Reset "
                              f"to reload the guest).", error=True)
                    return
                self.refresh(registers=False)  # a breakpoint changes no register
                if left is None:
                    word = int.from_bytes(dbg.raw_memory(address, 4), "little")
                    self._say(f"Removed the breakpoint at {name}: memory holds the original "
                              f"word {word:08x} ({disassemble_word(word, address)}) again.")
                else:
                    self._say(f"Removed one use of the breakpoint at {name}; "
                              f"{left.use_count} use(s) left, the BRK stays.")
            else:
                bp = dbg.break_at(address)
                self.refresh(registers=False)
                self._say(f"Breakpoint at {name}: saved {bp.saved_insn:08x} "
                          f"({disassemble_word(bp.saved_insn, address)}) and wrote BRK #0 "
                          f"({BRK0:08x}) over it.")
        self._safely(do)

    def _run(self, label: str, run: Callable[[], Stop]) -> Stop | None:
        result: list[Stop] = []
        self._drop_next = None

        def do() -> None:
            stop = run()
            result.append(stop)
            self.refresh()
            text = f"{label}: {stop.reason.name} — {stop.message}."
            interrupted = self._interrupted and stop.reason is StopReason.BUDGET
            if interrupted:
                text += (" Stopped by you (Stop → Debugger.interrupt()); Continue runs on "
                         "from here.")
            elif stop.reason is StopReason.BUDGET:
                text += (" The guest did not stop by itself within its budget; it came back "
                         "here. Continue gives it another budget, Reset starts it over.")
            elif stop.reason is StopReason.HALTED:
                text += " Reset starts the guest again."
            self._say(text, error=not interrupted and stop.reason in (
                StopReason.BUDGET, StopReason.FAULT, StopReason.INTERNAL_ERROR))
        self._safely(do)
        return result[0] if result else None

    def _safely(self, action: Callable[[], Any]) -> None:
        """Run an action; any exception becomes the message line, never a traceback."""
        try:
            action()
        except Exception as exc:  # a button callback must never raise
            try:
                self.refresh()
            except Exception:
                pass
            kind = "" if isinstance(exc, ValueError) else f"{type(exc).__name__}: "
            self._say(f"{kind}{exc}", error=True)

    def _on_line(self, change: dict[str, Any]) -> None:
        if self._syncing or change["new"] is None:
            return
        self.where.value = f"{change['new']:#x}"

    def _name(self, address: int) -> str:
        symbol = self.debugger.program.symbol_at(address)
        return f"{address:#x}" + (f" ({symbol})" if symbol else "")

    # --- the views ---------------------------------------------------------------------------

    def _say(self, text: str, *, error: bool = False) -> None:
        self._message, self._message_is_error = text, error
        if not text:
            self.message.value = ""
        elif error:
            self.message.value = (f'<span style="color:{_BP_FG}" role="alert">⚠ '
                                  f"{html.escape(text)}</span>")
        else:
            self.message.value = f'<span role="status">{html.escape(text)}</span>'

    def refresh(self, *, registers: bool = True) -> None:
        """Rebuild every panel from the Debugger; also after driving it from Python.

        A new ``Debugger.last_stop`` becomes the last exit, with the events logged since the
        view last looked, and the registers that differ from the previous read are marked
        as changed. A session that was reset clears the exit panel. ``registers=False``
        skips the register read (one batch read: the view's breakpoint toggles change no
        register).
        """
        dbg = self.debugger
        stop = dbg.last_stop
        ran = stop is not None and stop is not self._stop
        seen = dbg.events_seen
        if ran:
            self._stop = stop
            self._new_events = seen - self._seen
            self._events = list(dbg.events)[-self._new_events:] if self._new_events else []
            self._say("")
        elif stop is None and self._stop is not None:  # the session was reset
            self._stop, self._events, self._changed = None, [], set()
            self._new_events = 0
            self._say("")
        self._seen = seen
        if registers or ran or not self._registers:
            new = dbg.registers()
            if ran and self._registers:
                self._changed = {n for n, v in new.items() if self._registers.get(n) != v}
            self._registers = new
        self._shown_table = self._table()
        self._pc = dbg.pc
        lines = dbg.listing()
        self._rows = _visible(lines, self._pc, bool(dbg.program.lines))
        with self._syncing:
            picked = self.lines.value
            options = [(self._line_label(r.line), r.line.address)
                       for r in self._rows if r.line is not None]
            self.lines.options = options
            self.lines.value = picked if picked in {a for _, a in options} else None
        self.status.value = self._status_html()
        self.listing.value = self._listing_html()
        self.memory.value = self._memory_html()
        self.registers.value = self._registers_html()
        self.exit.value = self._exit_html()

    def _table(self) -> tuple[tuple[int, int], ...]:
        return tuple((bp.pc, bp.use_count) for bp in self.debugger.breakpoints)

    def _catch_up(self) -> None:
        """Refresh if the Debugger stopped again, was reset, or its breakpoints changed
        since the view last looked (cheap checks: no register or memory access). Not
        while a background Continue runs: the Debugger is that thread's until it ends."""
        if self.running:
            return
        if self.debugger.last_stop is not self._stop or self._table() != self._shown_table:
            self._safely(self.refresh)

    def _overwritten(self) -> list[tuple[int, int]]:
        """(address, word) of each breakpoint whose BRK the guest wrote over."""
        return [(r.line.address, r.line.memory_word) for r in self._rows
                if r.line is not None and r.line.is_breakpoint and r.line.memory_word != BRK0]

    def _warning(self) -> str:
        bad = self._overwritten()
        if not bad:
            return ""
        return ("The guest overwrote the BRK at " + ", ".join(
            f"{a:#x} (memory holds {w:08x})" for a, w in bad)
            + ": it will not trap there, and removing it restores nothing (toggle it "
            "twice to drop it, memory as the guest wrote it); Reset reloads the guest.")

    # --- plain text ----------------------------------------------------------------------------

    def _state_words(self) -> str:
        if self._busy:
            return "running (Continue)"
        stop = self._stop
        return f"stopped: {stop.reason.name}" if stop else "not run yet"

    @staticmethod
    def _line_label(ln: ListingLine) -> str:
        label = f"{ln.symbol}: " if ln.symbol else ""
        return (f"{'=>' if ln.is_pc else '  '} {'*' if ln.is_breakpoint else ' '} "
                f"{ln.address:#x}  {label}{ln.text}")

    def text(self) -> str:
        """The state shown, as plain text: listing with memory, registers, last exit.

        Like the repr, it catches up first with a Debugger driven from Python.
        """
        self._catch_up()
        dbg = self.debugger
        out = [f"DebuggerView of {dbg.program.name}: pc={self._pc:#x}, {self._state_words()}, "
               f"breakpoints: " + (", ".join(self._name(pc) for pc in self._breakpoint_pcs())
                                   or "none")]
        warning = self._warning()
        if warning:
            out.append(f"! {warning}")
        if self._message:
            out.append(("! " if self._message_is_error else "") + self._message)
        out.append("")
        out.append("Listing (original instructions; => pc, * breakpoint) | memory holds")
        shown = [r.line for r in self._rows if r.line is not None]
        tw = max([len(ln.text) for ln in shown] + [20])
        lw = max([len(ln.symbol) + 1 for ln in shown if ln.symbol] + [0])
        mw = max([8] + [11 + len(disassemble_word(ln.memory_word, ln.address))
                        for ln in shown if ln.memory_word != ln.word])
        for r in self._rows:
            ln = r.line
            if ln is None:
                out.append(f"     ... {r.count} word(s) at {r.first:#x}..{r.last:#x} "
                           f"not shown (no source line)")
                continue
            label = f"{ln.symbol}:" if ln.symbol else ""
            mem = f"{ln.memory_word:08x}"
            if ln.memory_word != ln.word:
                mem += f" ({disassemble_word(ln.memory_word, ln.address)})"
            mem = f"{mem:<{mw}}"
            src = f"  | {ln.source.number}: {ln.source.text.strip()}" if ln.source else ""
            out.append(f"{'=>' if ln.is_pc else '  '} {'*' if ln.is_breakpoint else ' '} "
                       f"{ln.address:#x}  {ln.word:08x}  {ln.text:<{tw}}  {label:<{lw}} "
                       f"| {mem}{src}".rstrip())
        out.append("")
        out.append("Registers (* changed by the last Step/Continue)")
        names = list(self._registers)
        for i in range(0, len(names), 4):
            cells = []
            for n in names[i:i + 4]:
                mark = "*" if n in self._changed else " "
                cells.append(f"{n:>6} {self._registers[n]:#018x}{mark}")
            out.append("  ".join(cells).rstrip())
        if "pstate" in self._registers:
            out.append(f"  pstate: {_flags(self._registers['pstate'])}")
        out.append("")
        out.extend(self._exit_lines())
        return "\n".join(out)

    def _exit_facts(self) -> tuple[str, list[str]]:
        """The exit panel's heading and its decoded facts."""
        stop = self._stop
        if stop is None:
            return "Last exit: none yet (press Step or Continue)", []
        e = stop.exit
        facts = [f"exit: {e.reason.name} (KVM exit {int(e.reason)}) at pc {e.pc:#x}"]
        if e.debug is not None:
            s = esr.decode(e.debug.hsr | e.debug.hsr_high << 32)
            extra = f", comment #{e.debug.hsr & 0xFFFF:#x}" if s.ec == esr.EC.BRK64 else ""
            facts.append(f"hsr {e.debug.hsr:#010x}: EC 0x{s.ec:02X} {s.ec_name}, IL {s.il}, "
                         f"ISS {s.iss:#09x}{extra}")
        else:
            facts.append("hsr: none (only a DEBUG exit carries a syndrome)")
        facts.append(f"decision: {self._decision()}")
        return f"Last exit: {stop.reason.name} at {stop.pc:#x} — {stop.message}", facts

    def _exit_lines(self) -> list[str]:
        head, facts = self._exit_facts()
        out = [head] + [f"  {fact}" for fact in facts]
        if self._stop is not None:
            out.append("Events since the last action:")
            out.extend(f"  {line}" for line in self._event_lines())
        return out

    def _event_lines(self) -> list[str]:
        """The events since the last action, the newest ``MAX_EVENTS`` of them."""
        events = self._events[-MAX_EVENTS:]
        skipped = max(self._new_events, len(self._events)) - len(events)
        return ([f"... {skipped} earlier event(s)"] if skipped else []) + \
            [h.describe() for h in events]

    def _decision(self) -> str:
        stop = self._stop
        assert stop is not None
        text = stop.reason.decision
        if stop.note and stop.reason is not StopReason.BREAKPOINT:
            text += f" ({stop.note})"
        reinjected = sum(1 for h in self._events if h.verdict is Verdict.RESUME)
        if reinjected:
            text += (f"; before that, {reinjected} BRK(s) of the guest's own: not ours → "
                     f"re-injected into the guest's vectors")
        return text

    # --- HTML ----------------------------------------------------------------------------------

    def _status_html(self) -> str:
        stop = self._stop
        state = html.escape(self._state_words())
        if stop is not None and stop.reason is StopReason.BUDGET:
            state = (f'<span style="color:{_BP_FG}">⏱ {state} — the guest ran out of budget '
                     f"and came back</span>")
        bps = ", ".join(html.escape(self._name(bp.pc)) for bp in self.debugger.breakpoints)
        warning = self._warning()
        warning = (f"<br><span style='color:{_BP_FG}' role='alert'>⚠ {html.escape(warning)}"
                   f"</span>" if warning else "")
        return (f"<b>PC <code class='armbp-dv-pc'>{self._pc:#x}</code></b> — {state}; "
                f"breakpoints: {bps or 'none'}{warning}")

    def _listing_html(self) -> str:
        e = html.escape
        rows = []
        for r in self._rows:
            ln = r.line
            if ln is None:
                rows.append(f"<tr class='gap'><td colspan='6' style='color:#666'>… {r.count} "
                            f"word(s) at {r.first:#x}..{r.last:#x} not shown (no source "
                            f"line)</td></tr>")
                continue
            style = f" style='background:{_PC_BG};font-weight:bold'" if ln.is_pc else ""
            cls = " ".join(c for c, on in (("pc", ln.is_pc), ("bp", ln.is_breakpoint)) if on)
            mark = (("=&gt;" if ln.is_pc else "&nbsp;&nbsp;") + " "
                    + (f"<span style='color:{_BP_FG}' title='breakpoint'>*</span>"
                       if ln.is_breakpoint else "&nbsp;"))
            src = (f"{ln.source.number}: {e(ln.source.text.strip())}" if ln.source else "")
            rows.append(
                f"<tr class='{cls}' data-address='{ln.address:#x}'{style}>"
                f"<td>{mark}</td><td>{ln.address:#x}</td>"
                f"<td>{e(ln.symbol + ':') if ln.symbol else ''}</td>"
                f"<td>{ln.word:08x}</td><td>{e(ln.text)}</td>"
                f"<td style='color:#555'>{src}</td></tr>")
        return (_TABLE_OPEN +
                "<caption style='text-align:left'><b>Listing</b> (original instructions; "
                "=&gt; pc, * breakpoint)</caption>"
                "<thead><tr><th scope='col'></th><th scope='col'>Address</th>"
                "<th scope='col'>Label</th><th scope='col'>Word</th>"
                "<th scope='col'>Instruction</th><th scope='col'>Source</th></tr></thead>"
                f"<tbody>{''.join(rows)}</tbody></table>")

    def _memory_html(self) -> str:
        rows = []
        for r in self._rows:
            ln = r.line
            if ln is None:
                rows.append("<tr class='gap'><td colspan='3' style='color:#666'>…</td></tr>")
                continue
            if ln.is_breakpoint and ln.memory_word != BRK0:
                note = (f"⚠ guest overwrote our BRK: "
                        f"{disassemble_word(ln.memory_word, ln.address)}")
            elif ln.memory_word != ln.word:
                note = (f"{disassemble_word(ln.memory_word, ln.address)} ← "
                        f"{'our BRK' if ln.memory_word == BRK0 else 'changed'}, listing "
                        f"shows {ln.word:08x}")
            else:
                rows.append(f"<tr data-address='{ln.address:#x}'><td>{ln.address:#x}</td>"
                            f"<td>{ln.memory_word:08x}</td><td></td></tr>")
                continue
            rows.append(f"<tr class='differs' data-address='{ln.address:#x}'>"
                        f"<td>{ln.address:#x}</td>"
                        f"<td><b style='color:{_BP_FG}'>{ln.memory_word:08x}</b></td>"
                        f"<td><b>{html.escape(note)}</b></td></tr>")
        return (_TABLE_OPEN +
                "<caption style='text-align:left'><b>Memory</b> (the words really there: "
                "what the CPU fetches)</caption>"
                "<thead><tr><th scope='col'>Address</th><th scope='col'>Memory holds</th>"
                "<th scope='col'></th></tr></thead>"
                f"<tbody>{''.join(rows)}</tbody></table>")

    def _registers_html(self) -> str:
        cells = []
        for n, v in self._registers.items():
            if n in self._changed:
                cells.append(f"<td style='background:{_CHANGED_BG}' class='changed'>"
                             f"<b>{n} {v:#018x} *</b></td>")
            else:
                cells.append(f"<td>{n} {v:#018x}&nbsp;&nbsp;</td>")
        rows = "".join("<tr>" + "".join(cells[i:i + 4]) + "</tr>"
                       for i in range(0, len(cells), 4))
        flags = ""
        if "pstate" in self._registers:
            flags = f"<p>pstate: {html.escape(_flags(self._registers['pstate']))}</p>"
        return ("<table style='font-family:monospace;white-space:nowrap' cellpadding='1'>"
                "<caption style='text-align:left'><b>Registers</b> (<b>bold *</b> = changed "
                f"by the last Step/Continue)</caption>{rows}</table>{flags}")

    def _exit_html(self) -> str:
        e = html.escape
        head, facts = self._exit_facts()
        items = "".join(f"<li>{e(fact)}</li>" for fact in facts)
        events = ""
        if self._stop is not None:
            events = ("<p style='margin:0.2em 0'>Events since the last action:</p>"
                      "<ol style='margin:0.2em 0'>"
                      + "".join(f"<li>{e(line)}</li>" for line in self._event_lines())
                      + "</ol>")
        return (f"<div style='font-family:monospace'><b>{e(head)}</b>"
                f"<ul style='margin:0.2em 0'>{items}</ul>{events}</div>")

