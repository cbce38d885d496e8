"""DebuggerView, headless: press the buttons, check every panel followed the Debugger."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import ipywidgets as widgets
import pytest
from gdb.guests import COUNTER_SOURCE

from armbp.debugger import Debugger, StopReason
from armbp.demo import demo_program
from armbp.widgets.debugger_view import DebuggerView

ENTRY, LOOP, GUEST_BRK = 0x40000, 0x4000C, 0x40010
ADD_X7 = "910004e7"  # add x7, x7, #1: the word under the breakpoint at loop

# Writes a NOP over `target` from another translation block, then spins.
OVERWRITER = """\
_start: adr x1, target
        movz w2, #0x201f
        movk w2, #0xd503, lsl #16   // w2 = NOP
        b patch
target: add x0, x0, #1
spin:   b spin
patch:  str w2, [x1]                // the guest overwrites its own code
        b target
"""


@pytest.fixture
def view():
    return DebuggerView()


def _plain(html_text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html_text)).replace("&gt;", ">")


def _row(panel: str, address: int) -> str:
    """The text of the table row for ``address`` in a listing or memory panel."""
    m = re.search(rf"<tr[^>]*data-address='{address:#x}'[^>]*>(.*?)</tr>", panel)
    assert m, f"no row for {address:#x}"
    return _plain(m.group(1))


def _mem(view: DebuggerView, address: int) -> str:
    """What the listing's memory column says at ``address``: the word memory holds."""
    m = re.search(
        rf"<tr[^>]*data-address='{address:#x}'[^>]*>.*?<td class='mem'[^>]*>(.*?)</td>",
        view.listing.value,
    )
    assert m, f"no memory cell for {address:#x}"
    return _plain(m.group(1)).strip()


def _pc_rows(view: DebuggerView) -> list[str]:
    return re.findall(r"<tr class='pc[^']*' data-address='(0x[0-9a-f]+)'", view.listing.value)


def _buttons(view: DebuggerView) -> list[widgets.Button]:
    found, todo = [], [view]
    while todo:
        w = todo.pop()
        if isinstance(w, widgets.Button):
            found.append(w)
        todo.extend(getattr(w, "children", ()))
    return found


def test_starts_at_the_entry_of_the_demo(view):
    assert repr(view) == "DebuggerView(pc=0x40000, breakpoints=[])"
    assert view._repr_mimebundle_()["text/plain"] == repr(view)
    assert _pc_rows(view) == ["0x40000"]
    entry_row = _row(view.listing.value, ENTRY)
    assert "=> " in entry_row and "_start:" in entry_row
    assert "Last exit: none yet" in view.text() and view.last_stop is None
    assert "31 more hold 0 and did not change (x0-x30)" in _plain(view.registers.value)
    assert view.changed == frozenset() and view.message.value == ""
    # the 502 words of padding before the vectors fold into one line
    assert "502 word(s) at 0x40028..0x407fc not shown" in view.text()


def test_toggle_then_continue_stops_at_the_breakpoint_decoded_as_brk(view):
    view.where.value = "loop"
    view.toggle_button.click()
    assert "Breakpoint at 0x4000c (loop)" in view.message.value
    assert "d4200000" in _mem(view, LOOP)
    assert ADD_X7 in _row(view.listing.value, LOOP)  # the listing shows the original
    assert "*" in _row(view.listing.value, LOOP)
    assert _pc_rows(view) == ["0x40000"]

    view.continue_button.click()
    view.wait()
    assert repr(view) == "DebuggerView(pc=0x4000c BREAKPOINT, breakpoints=[0x4000c])"
    assert _pc_rows(view) == ["0x4000c"]
    assert _row(view.listing.value, LOOP).strip().startswith("=> *")
    exit_text = _plain(view.exit.value)
    assert "Last exit: BREAKPOINT at 0x4000c" in exit_text
    assert "hsr 0xf2000000: EC 0x3C BRK (AArch64)" in exit_text
    assert "decision: ours" in exit_text
    assert "Continue: BREAKPOINT" in view.message.value
    assert "PC 0x4000c" in _plain(view.status.value)
    assert view.last_stop.reason is StopReason.BREAKPOINT
    # memory really holds the BRK while the listing shows the add
    assert _mem(view, LOOP) == "d4200000 brk #0 ← our BRK"
    # registers: pc, x0 (mov #3) and x1 (adr) changed, bold with a '*'
    assert {"pc", "x0", "x1"} <= view.changed and "x7" not in view.changed
    assert "<b>pc 0x000000000004000c *</b>" in view.registers.value


def test_step_moves_the_pc_on_and_highlights_what_changed(view):
    view.toggle("loop")
    view.cont()
    view.step_button.click()
    assert _pc_rows(view) == [f"{GUEST_BRK:#x}"]
    assert repr(view) == "DebuggerView(pc=0x40010 STEP, breakpoints=[0x4000c])"
    assert view.changed == {"x7", "pc"}
    assert "<b>x7 0x0000000000000001 *</b>" in view.registers.value
    assert "x0 0x0000000000000003&nbsp;" in view.registers.value  # unchanged, not bold
    assert "EC 0x32 Software Step" in _plain(view.exit.value)
    # the BRK is back in memory after the step-over
    assert "d4200000" in _mem(view, LOOP)


def test_continue_past_the_guests_own_brk_says_it_was_reinjected(view):
    view.toggle("loop")
    view.cont()
    stop = view.cont()
    assert stop.reason is StopReason.BREAKPOINT and stop.pc == LOOP
    text = view.text()
    assert "not ours → re-injected into the guest's vectors" in text
    assert "hsr=0xf2000099" in text  # the guest's BRK #0x99 among the events
    assert "x23 0x0000000000000001*" in text  # the guest's handler counted it


def test_toggle_again_removes_it_and_memory_shows_the_original(view):
    view.toggle("loop")
    assert "d4200000" in _mem(view, LOOP)
    view.where.value = "0x4000c"
    view.toggle_button.click()
    assert repr(view) == "DebuggerView(pc=0x40000, breakpoints=[])"
    assert "Removed the breakpoint at 0x4000c (loop)" in view.message.value
    assert _mem(view, LOOP) == ADD_X7
    assert "d4200000" not in view.listing.value and "*" not in _row(view.listing.value, LOOP)
    view.continue_button.click()  # no breakpoints: the guest runs to its end
    view.wait()
    assert view.last_stop.reason is StopReason.HALTED
    assert "powered off" in _plain(view.exit.value)


def test_picking_a_line_fills_the_location(view):
    addresses = [a for _, a in view.lines.options]
    assert ENTRY in addresses and LOOP in addresses and 0x40A00 in addresses
    label = {a: lab for lab, a in view.lines.options}[LOOP]
    assert "loop: add x7, x7, #1" in label
    view.lines.value = LOOP
    assert view.where.value == "0x4000c"
    view.toggle_button.click()
    assert [bp.pc for bp in view.debugger.breakpoints] == [LOOP]
    assert view.lines.value == LOOP  # the pick survives the refresh
    label = {a: lab for lab, a in view.lines.options}[LOOP]
    assert label.startswith("   * 0x4000c")


def test_reset_goes_back_to_the_entry_and_keeps_breakpoints(view):
    view.toggle("loop")
    view.cont()
    view.reset_button.click()
    assert repr(view) == "DebuggerView(pc=0x40000, breakpoints=[0x4000c])"
    assert _pc_rows(view) == ["0x40000"]
    assert view.changed == frozenset() and view.last_stop is None
    assert "Reset: the guest starts again at 0x40000" in view.message.value
    assert "Last exit: none yet" in _plain(view.exit.value)
    assert "31 more hold 0 and did not change (x0-x30)" in _plain(view.registers.value)
    view.cont()
    assert _pc_rows(view) == ["0x4000c"]


def test_a_runaway_guest_comes_back_with_a_budget_stop():
    view = DebuggerView("_start: b _start", budget=0.05)
    assert view.budget.seconds == 0.05 and view.budget.instructions is None
    view.continue_button.click()
    view.wait()
    assert repr(view) == "DebuggerView(pc=0x40000 BUDGET, breakpoints=[])"
    assert "Continue: BUDGET" in view.message.value and 'role="alert"' in view.message.value
    assert "did not stop by itself within its budget" in view.message.value
    assert "the guest ran out of budget" in view.status.value
    assert "Last exit: BUDGET at 0x40000" in _plain(view.exit.value)
    assert "hsr: none" in _plain(view.exit.value)
    view.instructions.value = 1000  # an exact count instead
    assert view.budget.instructions == 1000
    view.cont()
    assert "1000 instruction(s) executed" in view.text()


@pytest.mark.parametrize(
    "where, expected",
    [
        ("", "type a symbol"),
        ("nope", "unknown symbol 'nope'"),
        ("0x40002", "misaligned"),
        ("loop+2", "misaligned"),
        ("0x10", "cannot insert a breakpoint at 0x10"),
    ],
)
def test_bad_locations_show_a_message_and_change_nothing(view, where, expected):
    before = (view.listing.value, view.registers.value)
    view.where.value = where
    view.toggle_button.click()  # must not raise
    message = view.message.value.replace("&#x27;", "'")
    assert expected in message and 'role="alert"' in message
    assert view.debugger.breakpoints == []
    assert (view.listing.value, view.registers.value) == before
    assert "! " in view.text()


def test_a_brk_the_guest_overwrote_is_reported_not_raised():
    view = DebuggerView(OVERWRITER, budget=0.05)
    target = view.debugger.address_of("target")
    view.toggle("target")
    view.cont()
    assert view.last_stop.reason is StopReason.BUDGET
    assert (
        "The guest overwrote the BRK at 0x40010 (memory holds d503201f)" in view.status.value
    )
    assert "guest overwrote our BRK" in _mem(view, target)
    view.toggle("target")
    assert "was overwritten" in view.message.value and 'role="alert"' in view.message.value
    assert [bp.pc for bp in view.debugger.breakpoints] == [target]
    view.reset()
    assert "overwrote" not in view.status.value
    assert "d4200000" in _mem(view, target)


def test_toggling_an_overwritten_brk_twice_drops_it_and_keeps_the_guests_word():
    view = DebuggerView(OVERWRITER, budget=0.05)
    target = view.debugger.address_of("target")
    view.toggle("target")
    view.cont()
    view.toggle("target")  # refused: the message says why and what a second toggle does
    message = view.message.value.replace("&#x27;", "'")
    assert "was overwritten: the guest wrote d503201f (nop) over our BRK d4200000" in message
    assert "Toggle it again to drop the breakpoint" in message and 'role="alert"' in message
    assert [bp.pc for bp in view.debugger.breakpoints] == [target]
    view.toggle("target")  # the second toggle drops it
    assert view.debugger.breakpoints == []
    assert "Dropped the breakpoint at 0x40010 (target)" in view.message.value
    assert "memory keeps the guest's word d503201f (nop)" in view.message.value.replace(
        "&#x27;", "'"
    )
    assert 'role="status"' in view.message.value
    assert _mem(view, target) == "d503201f"
    assert "overwrote" not in view.status.value


def test_the_second_toggle_forces_only_right_after_the_refusal():
    view = DebuggerView(OVERWRITER, budget=0.05)
    target = view.debugger.address_of("target")
    view.toggle("target")
    view.cont()
    view.toggle("target")  # refused
    view.cont()  # anything in between: the next toggle asks again
    view.toggle("target")
    assert "was overwritten" in view.message.value
    assert [bp.pc for bp in view.debugger.breakpoints] == [target]
    view.toggle("spin")  # a toggle elsewhere plants there, and disarms the drop
    view.toggle("target")
    assert "was overwritten" in view.message.value
    assert [bp.pc for bp in view.debugger.breakpoints] == [target, target + 4]


def test_events_since_the_last_action_count_past_the_bounded_log():
    from test_debugger import GUEST_BRKS

    dbg = Debugger(GUEST_BRKS.format(n=30), log_size=4)
    view = DebuggerView(dbg)
    view.toggle("stop")
    view.cont()  # 30 re-injected BRKs, then ours: 31 events, 4 kept
    lines = view.text().split("Events since the last action:\n")[1].splitlines()
    assert lines[0] == "  ... 27 earlier event(s)"
    assert len(lines) == 5 and "→ breakpoint (ours)" in lines[-1]
    view.step()  # one event, and only that one
    lines = view.text().split("Events since the last action:\n")[1].splitlines()
    assert len(lines) == 1 and "→ step" in lines[0]
    dbg.cont()  # driven from Python: the view catches up by the count
    lines = view.text().split("Events since the last action:\n")[1].splitlines()
    assert lines[0] == "  ... 27 earlier event(s)"  # 30 guest BRKs and ours, 4 kept


def test_an_unexpected_error_in_the_debugger_becomes_a_message(view, monkeypatch):
    def broken():
        raise RuntimeError("vCPU on fire")

    monkeypatch.setattr(view.debugger, "step", broken)
    assert view.step() is None
    view.step_button.click()
    assert "RuntimeError: vCPU on fire" in view.message.value


def test_a_session_driven_from_python_is_caught_up_with():
    dbg = Debugger(demo_program())
    view = DebuggerView(dbg)
    assert view.debugger is dbg
    dbg.break_at("loop")
    dbg.cont()
    # repr and text() catch up by themselves; the panels follow
    assert repr(view) == "DebuggerView(pc=0x4000c BREAKPOINT, breakpoints=[0x4000c])"
    assert _pc_rows(view) == ["0x4000c"] and "d4200000" in _mem(view, LOOP)
    assert "hsr 0xf2000000" in _plain(view.exit.value) and "pc" in view.changed
    dbg.step()
    view.refresh()
    assert _pc_rows(view) == ["0x40010"] and view.changed == {"x7", "pc"}
    dbg.reset()
    assert repr(view) == "DebuggerView(pc=0x40000, breakpoints=[0x4000c])"
    assert view.last_stop is None and view.changed == frozenset()


def test_text_has_listing_memory_registers_and_exit(view):
    view.toggle("loop")
    view.cont()
    text = view.text()
    first = text.splitlines()[0]
    assert first == (
        "DebuggerView of demo: pc=0x4000c, stopped: BREAKPOINT, breakpoints: 0x4000c (loop)"
    )
    row = next(line for line in text.splitlines() if line.startswith("=> *"))
    assert re.match(
        r"=> \* 0x4000c  910004e7  add x7, x7, #1 +loop: +\| d4200000 \(brk #0\) "
        r"+\| 5: loop:",
        row,
    ), row
    assert "  pc 0x000000000004000c*" in text
    assert "hsr 0xf2000000: EC 0x3C BRK (AArch64), IL 1" in text
    assert "Events since the last action:\n  DEBUG exit at 0x4000c: hsr=0xf2000000" in text


def test_every_control_has_a_label_and_a_tooltip(view):
    buttons = _buttons(view)
    assert {b.description for b in buttons} == {
        "Step",
        "Continue",
        "Stop",
        "Reset",
        "Toggle breakpoint",
        "Toggle hw breakpoint",
        "Toggle watch",
    }
    others = [view.where, view.lines, view.seconds, view.instructions]
    for control in buttons + others + [view.watch_kind, view.watch_size]:
        assert control.description.strip() and control.tooltip.strip(), control
    for b in buttons:
        assert b.tabbable is not False  # reachable with Tab
        assert b.disabled is (b is view.stop_button)  # Stop: only while a Continue runs


def test_refreshing_does_not_leak_widgets(view):
    from ipywidgets.widgets.widget import _instances

    view.toggle("loop")
    view.cont()
    live = len(_instances)
    for _ in range(3):
        view.step()
        view.cont()
        view.toggle("loop")
        view.toggle("loop")
    assert len(_instances) == live


def test_the_widgets_package_exposes_the_view_lazily():
    # (that the view imports only the contract, not Unicorn, is tests/test_kvm.py's
    # blocked-import test)
    code = (
        "import armbp.widgets as w\n"
        "from armbp.widgets.debugger_view import DebuggerView\n"
        "assert w.DebuggerView is DebuggerView and 'DebuggerView' in dir(w)\n"
        "print(repr(DebuggerView()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, MPLBACKEND="Agg"),
    ).stdout
    assert out.strip() == "DebuggerView(pc=0x40000, breakpoints=[])"


# --- Continue in the background: busy, Stop, done -------------------------------------------


def _controls(view: DebuggerView) -> list[widgets.DOMWidget]:
    return [
        view.step_button,
        view.continue_button,
        view.reset_button,
        view.toggle_button,
        view.where,
        view.lines,
        view.seconds,
        view.instructions,
    ]


def test_continue_button_runs_in_the_background_busy_until_stop_interrupts_it():
    view = DebuggerView("_start: b .", budget=30)  # a guest that never stops by itself
    assert view.stop_button.disabled and not any(c.disabled for c in _controls(view))
    view.continue_button.click()
    assert view.running
    assert all(c.disabled for c in _controls(view)) and not view.stop_button.disabled
    assert "running: Continue, budget 30 s; Stop interrupts it" in _plain(view.status.value)
    assert "press Stop to interrupt" in view.message.value
    assert "running (Continue)" in view.text()
    assert repr(view) == "DebuggerView(pc=0x40000, breakpoints=[])"  # the stored-output form
    assert (
        view.step() is None and "a Continue is running; press Stop first" in view.message.value
    )
    view.toggle("_start")
    assert not view.debugger.breakpoints  # refused, not planted under the running guest
    time.sleep(0.2)
    assert view.running  # still inside its 30 s budget
    started = time.monotonic()
    view.stop_button.click()
    stop = view.wait(timeout=20)
    assert stop is not None and time.monotonic() - started < 20
    assert stop.reason is StopReason.BUDGET and "interrupted" in stop.message
    assert not view.running
    assert view.stop_button.disabled and not any(c.disabled for c in _controls(view))
    assert "Stopped by you (Stop → Debugger.interrupt())" in view.message.value
    assert 'role="alert"' not in view.message.value  # asked for: not an error
    assert repr(view) == "DebuggerView(pc=0x40000 BUDGET, breakpoints=[])"
    assert "Last exit: BUDGET at 0x40000" in _plain(view.exit.value)
    view.continue_button.click()  # a second run is busy the same way
    view.continue_button.click()  # (a click while it runs starts nothing)
    assert view.running and all(c.disabled for c in _controls(view))
    view.stop()
    assert view.wait(timeout=20).reason is StopReason.BUDGET
    assert not any(c.disabled for c in _controls(view)) and view.stop_button.disabled


def test_continue_button_to_a_breakpoint_ends_by_itself_and_refreshes(view):
    view.toggle("loop")
    view.continue_button.click()
    stop = view.wait(timeout=30)
    assert stop is not None and stop.reason is StopReason.BREAKPOINT and not view.running
    assert _pc_rows(view) == ["0x4000c"] and view.stop_button.disabled
    assert "stopped: BREAKPOINT" in _plain(view.status.value)
    assert "Continue: BREAKPOINT" in view.message.value


def test_stop_with_nothing_running_interrupts_nothing_later(view):
    view.stop_button.disabled = False  # a stale click from a front end
    view.stop_button.click()
    assert "Nothing is running" in view.message.value
    view.toggle("loop")
    assert view.cont().reason is StopReason.BREAKPOINT  # no interrupt was left pending


def test_registers_and_last_exit_sit_beside_the_controls_and_the_listing_below(view):
    """At 1280 px the registers and the last exit must be next to the buttons (issue 13):
    one row of two columns, the controls left and the effects right, the table below."""
    top, row, table = view.children
    assert top is view.status and table is view.listing
    left, right = row.children
    assert view.continue_button in view.controls_box.children
    assert view.controls_box in left.children
    assert right.children[0] is view.registers and view.exit in right.children
    assert row.layout.flex_flow == "row wrap"
    assert not hasattr(view, "memory")  # memory is a column of the listing now


def test_one_list_of_controls_disabled_by_a_run_but_stop(view):
    extra = widgets.Button(description="Extra")
    view.controls.append(extra)  # how a new control joins the view
    view._set_busy(True, view.budget)
    assert all(c.disabled for c in view.controls if c is not view.stop_button)
    assert not view.stop_button.disabled and view.lines.disabled
    view._set_busy(False)
    assert not any(c.disabled for c in view.controls if c is not view.stop_button)


def test_show_all_registers_adds_the_zeros_without_reading_again(view):
    view.toggle("loop")
    view.cont()
    assert "x9 0x0000000000000000" not in view.registers.value
    reads = []
    view.debugger.registers = lambda: reads.append(1) or {}  # must not be called
    view.show_all.value = True
    assert "x9 0x0000000000000000" in view.registers.value and not reads
    view.show_all.value = False
    assert "x9 0x0000000000000000" not in view.registers.value


def test_brief_is_the_few_lines_a_lesson_prints_beside_the_widget(view):
    view.toggle("loop")
    view.cont()
    lines = view.brief().splitlines()
    assert lines == [
        "DebuggerView of demo: pc=0x4000c, stopped: BREAKPOINT, breakpoints: 0x4000c (loop)",
        "Last exit: BREAKPOINT at 0x4000c — breakpoint at 0x4000c: ours",
        "  hsr 0xf2000000: EC 0x3C BRK (AArch64), IL 1, ISS 0x0000000, comment #0x0",
        "  memory at 0x4000c: d4200000 (brk #0); the listing shows 910004e7 (add x7, x7, #1)",
        "  changed by the last Step/Continue: x0, x1, pc",
    ]
    assert len(view.text().splitlines()) > 4 * len(lines)  # what lessons printed before


# --- hardware breakpoints and watchpoints (issue 11) ------------------------------------------


C_LOOP, C_STR, C_COUNTER = 0x40004, 0x4000C, 0x40018


def test_a_hw_breakpoint_from_the_widget_traps_and_leaves_memory_untouched():
    view = DebuggerView(COUNTER_SOURCE)
    original = view.debugger.raw_memory(C_LOOP, 4)
    view.where.value = "loop"
    view.hbreak_button.click()
    assert "slot 0" in view.model.message and not view.model.message_is_error
    assert view.debugger.raw_memory(C_LOOP, 4) == original  # no BRK written
    assert [h.address for h in view.debugger.hw_breakpoints] == [C_LOOP]
    assert "untouched: hardware breakpoint slot 0" in _row(view.listing.value, C_LOOP)
    assert "H" in _row(view.listing.value, C_LOOP).split()[:2]
    stop = view.cont()
    assert stop.reason is StopReason.HW_BREAKPOINT and stop.pc == C_LOOP
    text = view.text()
    assert "hsr 0xc2000022: EC 0x30" in text
    assert any(x.startswith("=> H 0x40004") for x in text.splitlines())
    view.toggle_hbreak("loop")
    assert view.debugger.hw_breakpoints == [] and "Freed" in view.model.message
    assert view.debugger.raw_memory(C_LOOP, 4) == original


def test_a_watch_from_the_widget_stops_at_the_store_with_old_and_new_values():
    view = DebuggerView(COUNTER_SOURCE)
    view.where.value = "counter"
    view.watch_kind.value, view.watch_size.value = "write", 8
    view.watch_button.click()
    assert "Watching 8 byte(s) at 0x40018 (counter)" in view.model.message
    assert "W" in _row(view.listing.value, C_COUNTER).split()[:2]
    stop = view.cont()
    assert stop.reason is StopReason.WATCHPOINT and stop.data_address == C_COUNTER
    text = view.text()
    assert "hsr 0xd2000062: EC 0x34" in text  # WnR = 1: a write
    assert f"accessed by the instruction at {C_STR:#x}" in text
    assert "value: old 0x0 → new 0x1" in text
    view.toggle_watch("counter")
    assert view.debugger.watchpoints == []


def test_a_fifth_watch_is_refused_by_name_and_changes_nothing():
    view = DebuggerView(COUNTER_SOURCE)
    for size in (1, 2, 4, 8):
        view.toggle_watch("counter", size, "read")
        assert not view.model.message_is_error, view.model.message
    before = list(view.debugger.watchpoints)
    view.toggle_watch("counter", 8, "write")
    assert view.model.message_is_error
    assert "all 4 watchpoint slots are in use (KVM_CAP_GUEST_DEBUG_HW_WPS)" in (
        view.model.message
    )
    assert view.debugger.watchpoints == before
    view.toggle_watch("nowhere", 8, "write")
    assert view.model.message_is_error and "nowhere" in view.model.message
