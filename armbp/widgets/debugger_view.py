"""``DebuggerView``: step, continue and plant breakpoints in a guest, and watch what happens.

One view of one :class:`armbp.debugger.Debugger` session:

* one table of the program, a row per word: the instruction as the guest should see it
  (the breakpoint table's saved words), with ``=>`` at the pc and ``*`` at each
  breakpoint, and in the same row the word really in memory — ``d4200000``
  (``BRK #0``) wherever a breakpoint is planted;
* **Step**, **Continue**, **Stop** and **Reset** buttons, a location box with **Toggle breakpoint**
  (a symbol, ``symbol+offset`` or an address; or pick a line in the list below it), and a
  **budget** (seconds, and optionally an instruction count) so a runaway guest comes back;
* **Toggle hw breakpoint** and **Toggle watch** (write, read or access, 1 to 8 bytes) at the
  same location: debug-register slots, so memory is never written — the listing marks them
  ``H`` and ``W`` where a BRK is ``*``, and the memory column shows the word untouched;
* beside the controls, the **registers** (x0–x30, sp, pc, pstate): those changed by the
  last Step/Continue first, in bold with a ``*``, then the non-zero ones (**Show all
  registers** adds the rest), and under them
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
Python: ``refresh()``, ``text()`` and the repr catch up with it. The exit records are read
only as the Debugger hands them out (``Stop.exit``, ``Debugger.events``): this module does
not import the emulator, and it never touches the vCPU.

This module is the wiring only: what the view knows of the session is an
:class:`armbp.view.ViewModel` (``self.model``), and the panels and ``text()`` are drawn
from its snapshot by :mod:`armbp.view.render`; neither of those needs ipywidgets.

Everything shown is plain widget state (HTML and text), so an executed notebook exported to
HTML shows the last state, and ``text()`` gives the same facts as plain text for nbval.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from ..debugger import Debugger, Stop, StopReason
from ..disasm import disassemble_word
from ..encodings import BRK0
from ..kvm.abi import DEFAULT_SECONDS, Budget
from ..program import Program
from ..table import BreakpointOverwritten
from ..view import ViewModel, render
from . import Syncing

__all__ = ["DebuggerView"]

MAX_INSTRUCTIONS = 10**9
STOP_RETRY_SECONDS = 2.0  # how long Stop keeps asking a run that has not come back yet


class DebuggerView(widgets.VBox):
    """A debugger front end in a notebook: ``DebuggerView()`` (the demo guest),
    ``DebuggerView(program)``, ``DebuggerView("_start: b _start")`` or
    ``DebuggerView(debugger)`` to show a session the notebook also drives.

    ``budget`` is the default run budget: seconds (a number), an :class:`armbp.kvm.abi.Budget`
    (seconds and an instruction count), or None (``DEFAULT_SECONDS``). The budget controls
    change it.

    The actions are methods as well as buttons — ``step()``, ``cont()``, ``reset()``,
    ``toggle(where)`` — and behave the same: they never raise; a failure is shown on the
    message line (``message``) and they return None. If the notebook drives ``debugger``
    directly, ``refresh()`` shows the new state (``text()`` and the repr do it themselves
    when the Debugger stopped again or its breakpoints changed). ``text()`` is the
    plain-text state: listing with memory, registers, last exit.
    """

    def __init__(
        self,
        debugger_or_program: Debugger | Program | str | None = None,
        *,
        budget: Budget | float | None = None,
        **kwargs: Any,
    ) -> None:
        if debugger_or_program is None:
            from ..demo import demo_program

            debugger_or_program = demo_program()
        if isinstance(debugger_or_program, Debugger):
            self.debugger = debugger_or_program
        else:
            self.debugger = Debugger(debugger_or_program)
        budget = Budget.of(budget)
        self._syncing = Syncing()
        self.model = ViewModel(self.debugger)  # what the view last showed of the session
        self._drop_next: int | None = None  # an overwritten BRK the next toggle there drops
        self._worker: threading.Thread | None = None  # the last background Continue
        self._busy_lock = threading.Lock()  # orders Stop against the end of that run
        self._interrupted = False  # Stop was pressed during the running Continue

        # --- controls ------------------------------------------------------------------
        def button(
            label: str, tip: str, icon: str, action: Callable[[], Any]
        ) -> widgets.Button:
            b = widgets.Button(
                description=label, tooltip=tip, icon=icon, layout=widgets.Layout(width="auto")
            )
            b.on_click(lambda _button: self._safely(action))
            return b

        self.step_button = button(
            "Step",
            "Execute exactly one instruction (from a breakpoint too: the saved "
            "instruction is stepped over)",
            "step-forward",
            self.step,
        )
        self.continue_button = button(
            "Continue",
            "Run until a breakpoint, the end of the guest, a fault, or the end "
            "of the budget (in the background: Stop interrupts it)",
            "play",
            self.start_cont,
        )
        self.stop_button = button(
            "Stop",
            "Interrupt the running Continue (Debugger.interrupt(), as GDB's Ctrl-C): "
            "the guest comes back with a BUDGET stop",
            "stop",
            self.stop,
        )
        self.stop_button.disabled = True
        self.reset_button = button(
            "Reset",
            "Start the guest again from its entry point; breakpoints stay planted",
            "undo",
            self.reset,
        )
        self.toggle_button = button(
            "Toggle breakpoint",
            "Plant a breakpoint at the location (BRK #0 over the "
            "instruction), or remove the one that is there",
            "circle",
            lambda: self.toggle(self.where.value),
        )
        self.hbreak_button = button(
            "Toggle hw breakpoint",
            "Program a hardware breakpoint at the location (a DBGBCR/DBGBVR slot: "
            "memory is not written), or free the one that is there",
            "microchip",
            lambda: self.toggle_hbreak(self.where.value),
        )
        self.watch_button = button(
            "Toggle watch",
            "Watch the bytes at the location for the chosen access (a DBGWCR/DBGWVR "
            "slot: the guest stops when it touches them), or stop watching them",
            "eye",
            lambda: self.toggle_watch(self.where.value),
        )
        self.watch_kind = widgets.Dropdown(
            options=[("write", "write"), ("read", "read"), ("access", "access")],
            value="write",
            description="Watch",
            tooltip="Which accesses the watchpoint catches: write (gdb watch), read "
            "(rwatch) or either (awatch)",
            layout=widgets.Layout(width="11em"),
            style={"description_width": "3.5em"},
        )
        self.watch_size = widgets.Dropdown(
            options=[("1 byte", 1), ("2 bytes", 2), ("4 bytes", 4), ("8 bytes", 8)],
            value=8,
            description="Bytes",
            tooltip="How many bytes to watch, from the location (aligned to their size)",
            layout=widgets.Layout(width="11em"),
            style={"description_width": "3em"},
        )
        symbols = sorted(
            self.debugger.program.symbols, key=lambda s: (self.debugger.program.symbols[s], s)
        )
        self.where = widgets.Combobox(
            value="",
            options=symbols,
            ensure_option=False,
            description="Location",
            placeholder="symbol, symbol+offset or address: "
            + (", ".join(symbols[:3] + ["0x" + f"{self.debugger.program.entry:x}"])),
            tooltip="Where to toggle a breakpoint: a symbol (e.g. loop), symbol+offset "
            "(loop+4) or an address (0x4000c); or pick a line below",
            layout=widgets.Layout(width="24em"),
            style={"description_width": "5em"},
        )
        self.lines = widgets.Select(
            options=[],
            value=None,
            rows=5,
            description="Line",
            tooltip="Pick a listing line to fill the location box, then press "
            "Toggle breakpoint",
            layout=widgets.Layout(width="40em"),
            style={"description_width": "5em"},
        )
        self.seconds = widgets.BoundedFloatText(
            value=min(budget.seconds, 60.0),
            min=0.001,
            max=60.0,
            step=0.1,
            description="Budget (s)",
            tooltip="Time budget of one Continue, in seconds: a guest that runs longer "
            "comes back with a BUDGET stop",
            layout=widgets.Layout(width="12em"),
            style={"description_width": "6em"},
        )
        self.instructions = widgets.BoundedIntText(
            value=budget.instructions or 0,
            min=0,
            max=MAX_INSTRUCTIONS,
            description="Max instr.",
            tooltip="Instruction budget of one Continue (0 = no count; counting makes the "
            "guest several times slower)",
            layout=widgets.Layout(width="14em"),
            style={"description_width": "6em"},
        )
        self.lines.observe(self._on_line, names="value")
        self.show_all = widgets.ToggleButton(
            value=False,
            description="Show all registers",
            tooltip="Also show the registers that hold 0 and did not change",
            layout=widgets.Layout(width="auto", align_self="flex-start"),
        )
        self.show_all.observe(self._on_show_all, names="value")

        # The controls, in the order they are laid out (wrapping within their column).
        # One list: a new control is appended here, and a running Continue disables
        # every control in it but Stop.
        self.controls: list[widgets.DOMWidget] = [
            self.step_button,
            self.continue_button,
            self.stop_button,
            self.reset_button,
            self.where,
            self.toggle_button,
            self.hbreak_button,
            self.watch_kind,
            self.watch_size,
            self.watch_button,
            self.seconds,
            self.instructions,
        ]

        # --- panels ------------------------------------------------------------------------
        def panel(cls: str, **layout: Any) -> widgets.HTML:
            w = widgets.HTML(layout=widgets.Layout(**layout))
            w.add_class(cls)
            return w

        self.status = panel("armbp-dv-status")
        self.message = panel("armbp-dv-message", min_height="1.2em")
        self.listing = panel("armbp-dv-listing", overflow="auto", max_height="32em")
        self.registers = panel("armbp-dv-registers")
        self.exit = panel("armbp-dv-exit", overflow="auto", max_height="16em")
        self.add_class("armbp-debugger-view")

        # Cause beside effect: the controls on the left, the registers and the last exit
        # on the right, so that what a button changes is on screen when it is pressed;
        # the listing (with memory in the same rows) below both.
        self.controls_box = widgets.HBox(
            self.controls, layout=widgets.Layout(flex_flow="row wrap")
        )
        left = widgets.VBox(
            [self.controls_box, self.lines, self.message],
            layout=widgets.Layout(flex="1 1 28em", min_width="20em", max_width="44em"),
        )
        right = widgets.VBox(
            [self.registers, self.show_all, self.exit],
            layout=widgets.Layout(flex="1 1 28em", min_width="20em", margin="0 0 0 1em"),
        )
        right.add_class("armbp-dv-effects")
        super().__init__(
            children=[
                self.status,
                widgets.HBox(
                    [left, right],
                    layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start"),
                ),
                self.listing,
            ],
            **kwargs,
        )
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
        return self.model.changed

    @property
    def last_stop(self) -> Stop | None:
        """The stop the exit panel shows (None before the first run and after Reset)."""
        return self.model.stop

    @property
    def _busy(self) -> bool:
        """A background Continue is inside ``Debugger.cont()`` right now."""
        return self.model.running

    @_busy.setter
    def _busy(self, value: bool) -> None:
        self.model.running = value

    def __repr__(self) -> str:
        self._catch_up()
        return render.summary(self.model.state(), self._breakpoint_pcs())

    def _breakpoint_pcs(self) -> list[int]:
        """The breakpoints' addresses: the Debugger's, or while a background Continue runs
        (the Debugger is that thread's) the ones the view last showed."""
        if self._busy:
            return self.model.shown_breakpoints
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

        self._worker = threading.Thread(
            target=work, name="armbp-debugger-view-continue", daemon=True
        )
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
        return self.model.stop

    def _refuse_while_running(self, action: str) -> bool:
        """True (and say so) when a background Continue owns the Debugger right now."""
        if not self.running:
            return False
        self._say(
            f"{action}: a Continue is running; press Stop first (or wait for it).", error=True
        )
        return True

    def _set_busy(self, busy: bool, budget: Budget | None = None) -> None:
        """Show a running Continue (or its end): controls that would touch the Debugger
        off, Stop on, and a status line that says what is happening."""
        for control in [*self.controls, self.lines]:
            if control is not self.stop_button:
                control.disabled = busy
        self.stop_button.disabled = not busy
        if busy:
            self.add_class("armbp-dv-busy")
            assert budget is not None
            limit = f"{budget.seconds:g} s" + (
                f" or {budget.instructions} instruction(s)" if budget.instructions else ""
            )
            self.status.value = render.running_status_html(self.model.state(), limit)
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
            self._say(
                f"Reset: the guest starts again at {self.debugger.pc:#x}; "
                f"breakpoints still planted: {bps}."
            )

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
            address = self._location(where)
            name = self._name(address)
            if address in {bp.pc for bp in dbg.breakpoints}:
                if address == drop:
                    dbg.delete(address, force=True)
                    self.refresh(registers=False)
                    word = int.from_bytes(dbg.raw_memory(address, 4), "little")
                    self._say(
                        f"Dropped the breakpoint at {name}: nothing was restored; "
                        f"memory keeps the guest's word {word:08x} "
                        f"({disassemble_word(word, address)})."
                    )
                    return
                try:
                    left = dbg.delete(address)
                except BreakpointOverwritten as e:
                    self.refresh(registers=False)
                    self._drop_next = address
                    self._say(
                        f"The breakpoint at {name} was overwritten: the guest wrote "
                        f"{e.found:08x} ({disassemble_word(e.found, address)}) over "
                        f"our BRK {BRK0:08x}, so there is no BRK to take out and "
                        f"nothing was restored. Toggle it again to drop the "
                        f"breakpoint, memory left as the guest wrote it (or Reset "
                        f"to reload the guest).",
                        error=True,
                    )
                    return
                self.refresh(registers=False)  # a breakpoint changes no register
                if left is None:
                    word = int.from_bytes(dbg.raw_memory(address, 4), "little")
                    self._say(
                        f"Removed the breakpoint at {name}: memory holds the original "
                        f"word {word:08x} ({disassemble_word(word, address)}) again."
                    )
                else:
                    self._say(
                        f"Removed one use of the breakpoint at {name}; "
                        f"{left.use_count} use(s) left, the BRK stays."
                    )
            else:
                bp = dbg.break_at(address)
                self.refresh(registers=False)
                self._say(
                    f"Breakpoint at {name}: saved {bp.saved_insn:08x} "
                    f"({disassemble_word(bp.saved_insn, address)}) and wrote BRK #0 "
                    f"({BRK0:08x}) over it."
                )

        self._safely(do)

    def _location(self, where: str | int) -> int:
        """The address a location box value names; ValueError saying what to type."""
        if isinstance(where, str) and not where.strip():
            raise ValueError(
                "type a symbol (e.g. loop), symbol+offset or an address "
                "in the Location box first"
            )
        return self.debugger.address_of(where.strip() if isinstance(where, str) else where)

    def toggle_hbreak(self, where: str | int) -> None:
        """Program a hardware breakpoint at ``where``, or free the one there (the Toggle
        hw breakpoint button). Memory is never written: the listing marks the line ``H``
        and the memory column shows the original word."""
        if self._refuse_while_running("Toggle hw breakpoint"):
            return

        def do() -> None:
            dbg = self.debugger
            address = self._location(where)
            name = self._name(address)
            freed = next((h for h in dbg.hw_breakpoints if h.address == address), None)
            if freed is not None:
                dbg.delete_hbreak(address)
                self.refresh(registers=False)
                self._say(f"Freed hardware breakpoint slot {freed.slot} at {name}.")
                return
            hb = dbg.hbreak_at(address)
            self.refresh(registers=False)
            word = int.from_bytes(dbg.raw_memory(address, 4), "little")
            self._say(
                f"Hardware breakpoint at {name}: slot {hb.slot} (DBGBVR{hb.slot} = "
                f"{address:#x}); memory still holds {word:08x} "
                f"({disassemble_word(word, address)}), no BRK written."
            )

        self._safely(do)

    def toggle_watch(
        self, where: str | int, size: int | None = None, kind: str | None = None
    ) -> None:
        """Watch ``size`` bytes at ``where`` for ``kind`` accesses ("write", "read",
        "access"; by default the Watch controls' choice), or stop watching them (the
        Toggle watch button)."""
        if self._refuse_while_running("Toggle watch"):
            return
        size = self.watch_size.value if size is None else size
        kind = self.watch_kind.value if kind is None else kind

        def do() -> None:
            dbg = self.debugger
            address = self._location(where)
            name = self._name(address)
            same = (address, size, kind)
            watched = next(
                (w for w in dbg.watchpoints if (w.address, w.size, w.kind) == same), None
            )
            if watched is not None:
                dbg.delete_watch(address, size=size, kind=kind)
                self.refresh(registers=False)
                self._say(f"Freed watchpoint slot {watched.slot} on {name}.")
                return
            wp = dbg.watch(address, size=size, kind=kind)
            self.refresh(registers=False)
            self._say(
                f"Watching {wp.size} byte(s) at {name} for {wp.kind} accesses: slot "
                f"{wp.slot} (DBGWVR{wp.slot} = {wp.address:#x}); the guest stops when "
                "it touches them."
            )

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
                text += (
                    " Stopped by you (Stop → Debugger.interrupt()); Continue runs on "
                    "from here."
                )
            elif stop.reason is StopReason.BUDGET:
                text += (
                    " The guest did not stop by itself within its budget; it came back "
                    "here. Continue gives it another budget, Reset starts it over."
                )
            elif stop.reason is StopReason.HALTED:
                text += " Reset starts the guest again."
            self._say(
                text,
                error=not interrupted
                and stop.reason
                in (StopReason.BUDGET, StopReason.FAULT, StopReason.INTERNAL_ERROR),
            )

        self._safely(do)
        return result[0] if result else None

    def _safely(self, action: Callable[[], Any]) -> None:
        """Run an action; any exception becomes the message line, never a traceback."""
        try:
            action()
        except Exception as exc:  # a button callback must never raise  # noqa: BLE001
            with contextlib.suppress(Exception):  # the message line below still shows
                self.refresh()
            kind = "" if isinstance(exc, ValueError) else f"{type(exc).__name__}: "
            self._say(f"{kind}{exc}", error=True)

    def _on_line(self, change: dict[str, Any]) -> None:
        if self._syncing or change["new"] is None:
            return
        self.where.value = f"{change['new']:#x}"

    def _on_show_all(self, change: dict[str, Any]) -> None:
        """Redraw the registers as last read (no read: the toggle changes no state)."""
        self.registers.value = render.registers_html(
            self.model.state(), show_all=bool(change["new"])
        )

    def _name(self, address: int) -> str:
        return self.model.name(address)

    # --- the views ---------------------------------------------------------------------------

    def _say(self, text: str, *, error: bool = False) -> None:
        self.model.say(text, error=error)
        self.message.value = render.message_html(self.model.state())

    def refresh(self, *, registers: bool = True) -> None:
        """Rebuild every panel from the Debugger; also after driving it from Python.

        A new ``Debugger.last_stop`` becomes the last exit, with the events logged since the
        view last looked, and the registers that differ from the previous read are marked
        as changed. A session that was reset clears the exit panel. ``registers=False``
        skips the register read (one batch read: the view's breakpoint toggles change no
        register).
        """
        self.model.update(registers=registers)
        state = self.model.state()
        with self._syncing:
            picked = self.lines.value
            options = [(render.line_label(r), r.address) for r in state.lines]
            self.lines.options = options
            self.lines.value = picked if picked in {a for _, a in options} else None
        self.message.value = render.message_html(state)
        self.status.value = render.status_html(state)
        self.listing.value = render.listing_html(state)
        self.registers.value = render.registers_html(state, show_all=self.show_all.value)
        self.exit.value = render.exit_html(state)

    def _catch_up(self) -> None:
        """Refresh if the Debugger stopped again, was reset, or its breakpoints changed
        since the view last looked (cheap checks: no register or memory access). Not
        while a background Continue runs: the Debugger is that thread's until it ends."""
        if self.running:
            return
        if self.model.stale():
            self._safely(self.refresh)

    def brief(self) -> str:
        """A few lines of the state for a lesson to print beside the widget: the stop, its
        syndrome, the words memory holds under the breakpoints, the changed registers."""
        self._catch_up()
        return render.brief(self.model.state())

    def text(self) -> str:
        """The state shown, as plain text: listing with memory, registers, last exit.

        Like the repr, it catches up first with a Debugger driven from Python.
        """
        self._catch_up()
        return render.text(self.model.state())
