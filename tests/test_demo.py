"""``armbp demo``: the narrated trace says what the issue promises, in plain text."""

from __future__ import annotations

import io
import re

import pytest

from armbp import cli, demo
from armbp.debugger import Debugger

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="module")
def trace() -> str:
    out = io.StringIO()
    assert demo.run(out, colour=False) == 0
    return out.getvalue()


def test_the_trace_tells_the_whole_story(trace):
    assert "910004e7" in trace and "add x7, x7, #1" in trace  # the instruction saved
    assert "d4200000" in trace  # the BRK word written
    assert "Exit(DEBUG, pc=0x4000c, hsr=0xf2000000" in trace  # the exit record
    assert "EC 0x3C" in trace and "BRK (AArch64)" in trace  # the syndrome decoded
    assert "table lookup of pc 0x4000c: ours" in trace
    assert "re-injected" in trace  # the guest's own BRK
    assert "ESR_EL1 = 0xf2000099" in trace  # and its handler
    assert "STEP at 0x40010" in trace and "0xcb000022" in trace  # the step
    assert "HALTED" in trace and "powered off normally" in trace


def test_memory_is_shown_as_words_like_the_listings(trace):
    # bytes e7 04 00 91 are the little-endian word 910004e7: say both, never a bare byte string
    assert "= e7 04 00 91 = word 910004e7" in trace
    assert "memory really holds word d4200000" in trace
    assert "restored 910004e7 at 0x4000c" in trace
    assert "e7040091" not in trace and "000020d4" not in trace


def test_plain_text_without_a_terminal(trace, capsys):
    assert not ANSI.search(trace)
    assert cli.main(["demo"]) == 0
    assert capsys.readouterr().out == trace


def test_colour_only_on_a_terminal_and_never_with_no_color(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert demo._use_colour("auto", Tty()) is True
    assert demo._use_colour("auto", io.StringIO()) is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert demo._use_colour("auto", Tty()) is False
    out = io.StringIO()
    demo.run(out, colour=True)
    assert ANSI.search(out.getvalue())
    assert ANSI.sub("", out.getvalue()) == demo_plain()


def demo_plain() -> str:
    out = io.StringIO()
    demo.run(out, colour=False)
    return out.getvalue()


def test_source_option_prints_the_guest(capsys):
    assert demo.main(["--source"]) == 0
    assert "brk #0x99" in capsys.readouterr().out


@pytest.mark.parametrize(
    "log_size, expected",
    [
        (2, ["re-injected", "→ breakpoint"]),
        (1, ["1 earlier exit(s), no longer in the log", "→ breakpoint"]),
    ],
)
def test_an_actions_exits_are_counted_past_a_full_event_log(log_size, expected):
    dbg = Debugger(demo.demo_program(), log_size=log_size)
    dbg.break_at("loop")
    dbg.cont()
    dbg.step()  # the log is full now
    mark = dbg.events_seen
    dbg.cont()  # the guest's own BRK (re-injected), then ours again
    lines = demo._exits_since(dbg, mark)
    assert len(lines) == len(expected)
    assert all(want in line for want, line in zip(expected, lines, strict=False)), lines
