"""armbp.view: the debugger view's model and renderers, without ipywidgets or an emulator.

The model is driven over a real Debugger (in-process, and in a subprocess where ipywidgets
cannot be imported) and over a fake one built from pure parts (in a subprocess where
neither ipywidgets nor unicorn can be imported).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from enum import Enum, IntEnum
from pathlib import Path
from types import SimpleNamespace

import pytest

from armbp import disasm
from armbp.encodings import BRK0
from armbp.view import Gap, Row, ViewModel, markers, render
from armbp.view.model import decision_words

TESTS = Path(__file__).parent
ENTRY, LOOP = 0x40000, 0x4000C
ADD_X7 = 0x910004E7  # add x7, x7, #1: the word under the breakpoint at loop

# A meta-path finder that makes the named top-level packages unimportable, as if they were
# not installed: what a learner without the "lab" extra (or without Unicorn) has.
BLOCK = """\
import sys
class _Blocked:
    def __init__(self, names):
        self.names = names
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.names:
            raise ImportError(f"{{name}} is blocked", name=name)
        return None
sys.meta_path.insert(0, _Blocked({names!r}))
sys.path.insert(0, {tests!r})
"""


def _run_blocked(names: set[str], code: str) -> str:
    """Run ``code`` in a fresh interpreter where ``names`` cannot be imported."""
    script = BLOCK.format(names=sorted(names), tests=str(TESTS)) + textwrap.dedent(code)
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=dict(os.environ, MPLBACKEND="Agg"),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


# --- a Debugger-like object from pure parts (no emulator) ---------------------------------------


class FakeReason(Enum):
    BREAKPOINT = "breakpoint"
    STEP = "step"


class FakeExitReason(IntEnum):
    DEBUG = 4


class FakeDebugger:
    """The few reads ViewModel makes, over a bytearray: enough to draw without a vCPU."""

    def __init__(self, source: str) -> None:
        from armbp.asm import assemble

        self.program = assemble(source, name="fake")
        self.memory = bytearray(self.program.code)
        self.pc = self.program.entry
        self.saved: dict[int, int] = {}
        self.regs = {"x0": 0, "x1": 0, "pc": self.pc, "pstate": 0x3C5}
        self.last_stop: SimpleNamespace | None = None
        self.events: list[SimpleNamespace] = []
        self.events_seen = 0

    @property
    def breakpoints(self) -> list[SimpleNamespace]:
        return [SimpleNamespace(pc=pc, use_count=1) for pc in sorted(self.saved)]

    def registers(self) -> dict[str, int]:
        return dict(self.regs)

    def listing(self) -> list[disasm.ListingLine]:
        return disasm.listing(
            self.memory,
            self.program.base,
            breakpoints=self.saved,
            pc=self.pc,
            program=self.program,
        )

    def plant(self, address: int) -> None:
        at = address - self.program.base
        self.saved[address] = int.from_bytes(self.memory[at : at + 4], "little")
        self.memory[at : at + 4] = BRK0.to_bytes(4, "little")

    def hit(self, address: int, reinjected: int = 0) -> None:
        """Stop at ``address`` as a breakpoint would, after ``reinjected`` guest BRKs."""
        self.pc = self.regs["pc"] = address
        self.regs["x0"] += 1
        exit_ = SimpleNamespace(
            reason=FakeExitReason.DEBUG,
            pc=address,
            debug=SimpleNamespace(hsr=0xF200_0000, hsr_high=0),
        )
        for i in range(reinjected):
            self.events.append(
                SimpleNamespace(
                    verdict=SimpleNamespace(name="RESUME"),
                    describe=lambda i=i: f"guest BRK {i}",
                )
            )
        self.events.append(
            SimpleNamespace(verdict=SimpleNamespace(name="STOP"), describe=lambda: "ours")
        )
        self.events_seen += reinjected + 1
        self.last_stop = SimpleNamespace(
            reason=FakeReason.BREAKPOINT,
            pc=address,
            exit=exit_,
            note="",
            message=f"breakpoint at {address:#x}",
        )


FAKE_SOURCE = "_start: mov x0, #1\nloop: add x1, x1, #1\n b loop\n"


def test_model_and_renderers_need_neither_ipywidgets_nor_unicorn():
    out = _run_blocked(
        {"ipywidgets", "unicorn"},
        """
        from test_view_model import FakeDebugger
        from armbp.view import ViewModel, render
        dbg = FakeDebugger("_start: mov x0, #1\\nloop: add x1, x1, #1\\n b loop\\n")
        model = ViewModel(dbg)
        model.update()
        dbg.plant(0x40004)
        dbg.hit(0x40004, reinjected=2)
        model.update()
        print(render.text(model.state()))
        assert render.listing_html(model.state()).count("data-address") == 3
        assert not [m for m in sys.modules if m.split(".")[0] in ("ipywidgets", "unicorn")]
        try:  # the block is real: the Unicorn backend does need the emulator
            import armbp.kvm.unicorn  # noqa: F401
        except ImportError:
            pass
        else:
            raise SystemExit("unicorn was importable")
    """,
    )
    assert (
        "DebuggerView of fake: pc=0x40004, stopped: BREAKPOINT, breakpoints: 0x40004 "
        "(loop)" in out
    )
    assert "=> * 0x40004  91000421  add x1, x1, #1" in out
    assert "| d4200000 (brk #0)" in out
    assert "hsr 0xf2000000: EC 0x3C BRK (AArch64), IL 1" in out
    assert "; before that, 2 BRK(s) of the guest's own: not ours" in out
    assert "x0 0x0000000000000001*" in out and "pstate: nzcv EL1h" in out


def test_model_follows_a_real_debugger_without_ipywidgets():
    out = _run_blocked(
        {"ipywidgets"},
        """
        from armbp.debugger import Debugger
        from armbp.demo import demo_program
        from armbp.view import Row, ViewModel, render
        dbg = Debugger(demo_program())
        model = ViewModel(dbg)
        model.update()
        dbg.break_at("loop")
        dbg.cont()
        assert model.stale()
        model.update()
        s = model.state()
        row = next(r for r in s.lines if r.address == 0x4000c)
        assert row.is_pc and row.is_breakpoint and row.ours and not row.overwritten
        assert (row.word, row.memory_word, row.memory_text) == (0x910004e7, 0xd4200000,
                                                               "brk #0")
        assert {"pc", "x0", "x1"} <= {r.name for r in s.registers if r.changed}
        assert s.last_exit.reason == "BREAKPOINT" and s.state_words == "stopped: BREAKPOINT"
        print(render.text(s).splitlines()[0])
        assert "ipywidgets" not in sys.modules
    """,
    )
    assert out.strip() == (
        "DebuggerView of demo: pc=0x4000c, stopped: BREAKPOINT, breakpoints: 0x4000c (loop)"
    )


# --- the model over a real Debugger -------------------------------------------------------------


@pytest.fixture
def session():
    from armbp.debugger import Debugger
    from armbp.demo import demo_program

    dbg = Debugger(demo_program())
    model = ViewModel(dbg)
    model.update()
    return dbg, model


def test_a_fresh_session_is_the_entry_with_nothing_run(session):
    _dbg, model = session
    s = model.state()
    assert s.pc == ENTRY and s.last_exit is None and s.state_words == "not run yet"
    assert [r.address for r in s.lines if r.is_pc] == [ENTRY]
    assert not any(r.changed for r in s.registers) and s.breakpoints == ()
    assert Gap(0x40028, 0x407FC, 502) in s.rows  # the padding before the vectors, folded
    assert not model.stale()


def test_each_row_carries_the_listing_and_memory_facts_of_its_word(session):
    """One row per word, both columns in it: a merged listing/memory table is only a
    renderer's change."""
    dbg, model = session
    dbg.break_at("loop")
    assert model.stale()
    model.update(registers=False)
    row = next(r for r in model.state().lines if r.address == LOOP)
    assert row == Row(
        address=LOOP,
        label="loop",
        word=ADD_X7,
        text="add x7, x7, #1",
        memory_word=BRK0,
        memory_text="brk #0",
        source=row.source,
        is_pc=False,
        is_breakpoint=True,
    )
    assert row.source.startswith("5: loop:") and row.differs and row.ours
    untouched = next(r for r in model.state().lines if r.address == ENTRY)
    assert not untouched.differs and untouched.memory_text == ""


def test_a_step_marks_only_the_registers_it_changed(session):
    dbg, model = session
    dbg.break_at("loop")
    dbg.cont()
    model.update()
    dbg.step()
    model.update()
    assert model.changed == {"x7", "pc"}
    s = model.state()
    assert s.last_exit.reason == "STEP" and "→ step" in s.last_exit.events[-1]
    assert "EC 0x32 Software Step" in s.last_exit.facts[1]
    assert s.last_exit.facts[2] == f"decision: {decision_words('STEP')} (one instruction)"


def test_reset_clears_the_last_exit_and_the_changes(session):
    dbg, model = session
    dbg.break_at("loop")
    dbg.cont()
    model.update()
    model.say("something", error=True)
    dbg.reset()
    model.update()
    s = model.state()
    assert s.last_exit is None and model.changed == frozenset() and s.message == ""
    assert [b.name for b in s.breakpoints] == ["0x4000c (loop)"]


def test_events_since_the_last_action_count_past_the_bounded_log():
    from test_debugger import GUEST_BRKS

    from armbp.debugger import Debugger

    dbg = Debugger(GUEST_BRKS.format(n=30), log_size=4)
    model = ViewModel(dbg)
    model.update()
    dbg.break_at("stop")
    dbg.cont()
    model.update()
    x = model.state().last_exit
    assert (x.earlier, len(x.events)) == (27, 4)
    assert "30 BRK(s) of the guest's own" not in x.facts[-1]  # only the 3 kept are counted
    assert "3 BRK(s) of the guest's own" in x.facts[-1]


def test_the_busy_flag_is_in_the_state_and_not_in_the_summary(session):
    _dbg, model = session
    model.running = True
    s = model.state()
    assert s.state_words == "running (Continue)"
    assert (
        render.summary(s, model.shown_breakpoints)
        == "DebuggerView(pc=0x40000, breakpoints=[])"
    )
    assert "running (Continue)" in render.text(
        s
    ) and "running (Continue)" in render.status_html(s)


def test_an_overwritten_brk_is_a_warning_in_every_rendering():
    fake = FakeDebugger(FAKE_SOURCE)
    model = ViewModel(fake)
    fake.plant(0x40004)
    fake.memory[4:8] = (0xD503201F).to_bytes(4, "little")  # the guest wrote a NOP over it
    model.update()
    s = model.state()
    (row,) = [r for r in s.lines if r.overwritten]
    assert row.address == 0x40004 and row.memory_text == "nop"
    assert s.warning.startswith(
        "The guest overwrote the BRK at 0x40004 (memory holds d503201f)"
    )
    assert f"! {s.warning}" in render.text(s)
    assert "⚠ The guest overwrote the BRK at 0x40004" in render.status_html(s)
    assert "⚠ guest overwrote our BRK: nop" in render.listing_html(s)


# --- one marker format --------------------------------------------------------------------------


def test_one_marker_format_for_text_html_and_the_picker(session):
    assert [markers(p, b) for p in (True, False) for b in (True, False)] == [
        "=> *",
        "=>  ",
        "   *",
        "    ",
    ]
    dbg, model = session
    dbg.break_at(ENTRY)
    model.update()
    s = model.state()
    entry = next(r for r in s.lines if r.address == ENTRY)
    assert render.line_label(entry).startswith("=> * 0x40000  _start: ")
    assert any(line.startswith("=> * 0x40000  ") for line in render.text(s).splitlines())
    assert (
        "<td>=&gt; <span style='color:#B00020' title='breakpoint'>*</span></td>"
        in render.listing_html(s)
    )
    assert "=> pc, * breakpoint" in render.text(s)
    assert "=&gt; pc, * breakpoint" in render.listing_html(s)
    # the plain listing of armbp.disasm speaks the same format
    assert disasm.format_listing(dbg.listing(ENTRY, 1)).startswith("=> * 0x40000  ")


def test_every_stop_reason_has_its_decision_in_words():
    from armbp.debugger import StopReason

    for reason in StopReason:
        assert decision_words(reason.name).strip(), reason


def test_the_widget_draws_what_the_model_says(session):
    from armbp.widgets.debugger_view import DebuggerView

    dbg, _ = session
    view = DebuggerView(dbg)
    view.toggle("loop")
    view.cont()
    s = view.model.state()
    assert view.text() == render.text(s)
    assert (
        view.listing.value,
        view.registers.value,
        view.exit.value,
        view.status.value,
    ) == (
        render.listing_html(s),
        render.registers_html(s),
        render.exit_html(s),
        render.status_html(s),
    )
    assert repr(view) == render.summary(s, [LOOP])


# --- one table; registers worth a look first (issue 13: the view at 1280 × 800) ----------------


def test_listing_and_memory_are_one_table_so_memory_is_in_the_instructions_row(session):
    dbg, model = session
    dbg.break_at(LOOP)
    model.update()
    html_text = render.listing_html(model.state())
    assert html_text.count("<table") == 1
    row = html_text.split(f"data-address='{LOOP:#x}'")[1].split("</tr>")[0]
    # the instruction the guest should see and the word memory holds, in one row
    assert f"<td>{ADD_X7:08x}</td><td>add x7, x7, #1</td>" in row
    assert "<td class='mem'><b style='color:#B00020'>d4200000</b> <b>brk #0 ← our BRK" in row
    assert "class='bp differs'" in html_text
    entry = html_text.split(f"data-address='{ENTRY:#x}'")[1].split("</tr>")[0]
    assert "<td class='mem' style='color:#555'>" in entry  # same word: no note, not bold


def test_registers_changed_first_then_non_zero_and_the_zeros_on_show_all(session):
    dbg, model = session
    dbg.break_at(LOOP)
    dbg.cont()
    model.update()
    dbg.step()  # changes x7 and pc only
    model.update()
    s = model.state()
    first, rest = s.register_groups
    assert [r.name for r in first[:2]] == ["x7", "pc"] and all(r.changed for r in first[:2])
    assert all(r.value for r in first[2:]) and not any(r.changed for r in first[2:])
    assert rest and all(r.value == 0 and not r.changed for r in rest)
    assert len(first) + len(rest) == len(s.registers)
    short, full = render.registers_html(s), render.registers_html(s, show_all=True)
    zero = rest[0].name
    assert f"{zero} 0x0000000000000000" not in short
    assert f"{zero} 0x0000000000000000" in full
    assert f"{len(rest)} more hold 0 and did not change" in short
    assert "more hold 0" not in full
    # the changed ones lead: x7 before any unchanged register in the HTML
    assert short.index("<b>x7 ") < short.index("x0 0x")


def test_hidden_register_names_are_folded_into_runs():
    from armbp.view.model import Register
    from armbp.view.render import _names

    regs = tuple(Register(n, 0, False) for n in ("x2", "x3", "x4", "x6", "x30", "sp"))
    assert _names(regs) == "x2-x4, x6, x30, sp"


# --- hardware breakpoints and watchpoints (issue 11) ------------------------------------------


def _hw_session() -> tuple[FakeDebugger, ViewModel, int]:
    dbg = FakeDebugger(FAKE_SOURCE)
    start = dbg.program.entry
    dbg.plant(start)  # a BRK at _start
    dbg.hw_breakpoints = [SimpleNamespace(slot=0, address=start + 4)]  # loop
    dbg.watchpoints = [SimpleNamespace(slot=2, address=start + 8, size=4, kind="write")]
    model = ViewModel(dbg)
    model.update()
    return dbg, model, start


def test_a_hardware_breakpoint_is_marked_H_and_leaves_its_word_in_memory():
    _dbg, model, start = _hw_session()
    rows = {r.address: r for r in model.state().lines}
    brk, hw, watched = rows[start], rows[start + 4], rows[start + 8]
    assert (brk.mark, hw.mark, watched.mark) == ("*", "H", "W")
    assert brk.differs and brk.memory_word == BRK0
    assert not hw.differs and hw.memory_word == hw.word == 0x91000421  # add x1, x1, #1
    assert hw.hw_slot == 0 and not hw.is_breakpoint
    assert (
        watched.watched == "write watch on 4 byte(s) at " + model.name(start + 8) + ", slot 2"
    )

    state = model.state()
    text = render.text(state)
    lines = text.splitlines()
    assert "H hardware breakpoint, W watched" in text
    hw_line = next(x for x in lines if f"{start + 4:#x}  91000421" in x)
    assert hw_line.startswith("   H ") and "(untouched: hw breakpoint slot 0)" in hw_line
    brk_line = next(x for x in lines if f"{start:#x}  " in x and "d4200000" in x)
    assert brk_line.startswith("=> * ")
    assert "hw breakpoints: " + model.name(start + 4) + " slot 0" in lines[0]
    assert "watchpoints: write watch on 4 byte(s)" in lines[0]
    assert render.line_label(hw).startswith("   H ")

    listing = render.listing_html(state)  # one table: the memory column is in the row
    hw_row = listing.split(f"data-address='{start + 4:#x}'")[1].split("</tr>")[0]
    assert "<td class='mem untouched'>91000421 " in hw_row
    assert "untouched: hardware breakpoint slot 0 (DBGBVR0), no BRK written" in hw_row
    assert f"<tr class='pc bp differs' data-address='{start:#x}'" in listing
    assert f"<tr class='hw' data-address='{start + 4:#x}'>" in listing
    assert "title='hardware breakpoint, slot 0 (memory untouched)'>H</span>" in listing
    assert "hw breakpoints:" in render.status_html(state)


def test_without_debug_registers_the_view_reads_as_before():
    dbg = FakeDebugger(FAKE_SOURCE)  # no hw_breakpoints / watchpoints attributes at all
    model = ViewModel(dbg)
    model.update()
    text = render.text(model.state())
    assert "hardware" not in text and "watch" not in text
    assert text.splitlines()[0].endswith("breakpoints: none")


def test_adding_a_hardware_point_makes_the_view_stale():
    dbg, model, start = _hw_session()
    assert not model.stale()
    dbg.watchpoints = [
        *dbg.watchpoints,
        SimpleNamespace(slot=3, address=start, size=8, kind="read"),
    ]
    assert model.stale()
    model.update(registers=False)
    assert not model.stale()
    assert [r.mark for r in model.state().lines][:1] == ["*"]  # the BRK wins the marker


def test_hardware_stops_add_their_slot_data_address_and_values():
    from armbp.view.model import _hardware_facts

    wp = SimpleNamespace(slot=1, address=0x41000, size=8, kind="write")
    stop = SimpleNamespace(
        reason=SimpleNamespace(name="WATCHPOINT"),
        slot=1,
        watch=wp,
        data_address=0x41000,
        access_pc=0x40014,
        old_value=3,
        new_value=6,
    )
    first = (
        "watchpoint slot 1: write watch on 8 byte(s) at 0x41000; FAR (the data address) "
        "0x41000; accessed by the instruction at 0x40014"
    )
    assert _hardware_facts(stop) == [first, "value: old 0x3 → new 0x6"]
    stop.new_value = None  # a "before" stop: the access has not run
    assert _hardware_facts(stop)[1] == "value: 0x3 (the access has not run yet)"
    hb = SimpleNamespace(reason=SimpleNamespace(name="HW_BREAKPOINT"), slot=4, watch=None)
    assert _hardware_facts(hb) == [
        (
            "hardware breakpoint slot 4: DBGBVR4 matched the pc before the instruction "
            "ran; memory was never written"
        )
    ]
    brk = SimpleNamespace(reason=SimpleNamespace(name="BREAKPOINT"))
    assert _hardware_facts(brk) == []
