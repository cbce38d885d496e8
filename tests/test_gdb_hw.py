"""Real gdb-multiarch with ``hbreak``, ``watch``, ``rwatch`` and ``awatch`` against
``armbp gdbserver`` (Z1..Z4 through the Debugger's debug-register slots).

The guest is tests/gdb/loop.S: ``hot`` loads ``total`` (``ldr x2, [x1]`` at 0x400118), adds
and stores it back (``str x2, [x1]`` at 0x400120), five times; ``_start`` loads it once
more before it exits with 017. The oracle for ``watch`` is gdb's own software watchpoint
(``set can-use-hw-watchpoints 0``: gdb single-steps and compares), on qemu-aarch64 -g and on
armbp: the stops and the "Old value = / New value =" lines must be the same, only the
watchpoint's name ("Hardware watchpoint" / "Watchpoint") differs. gdb has no software
read or access watchpoint, so ``rwatch``/``awatch`` are checked against the program's
known accesses. Running out of the 4 watchpoint (6 breakpoint) slots must make gdb say
"Could not insert hardware watchpoint" ("breakpoint"), as against QEMU with KVM.
"""

from __future__ import annotations

import re
import sys

import pytest
import test_gdbserver_gdb
from conftest import require_tool
from gdb.guests import free_port, normalise, run_gdb

servers = test_gdbserver_gdb.servers  # the fixture: each stub killed in teardown

HEAD = "set pagination off\nset confirm off\nset width 0\n"
WATCHED = "*(long *) &total"
LDR_NEXT, STR_NEXT = 0x40011C, 0x400124  # the pc after the load / the store of `total`


@pytest.fixture(scope="module")
def tools():
    return {
        "gdb": require_tool("gdb-multiarch", "gdb-multiarch"),
        "qemu": require_tool("qemu-aarch64", "qemu-user"),
    }


def _continues(n: int, body: str = "") -> str:
    return f"set $i = 0\nwhile $i < {n}\n  continue\n{body}  set $i = $i + 1\nend\n"


def _armbp(tools, elf, servers, tmp_path, script: str, *, log: bool = False):
    path = tmp_path / f"s{len(list(tmp_path.iterdir()))}.gdb"
    path.write_text(HEAD + script)
    argv = [sys.executable, "-m", "armbp.gdbserver", "--port", "0", str(elf)]
    if log:
        argv.insert(3, "--log")
    srv = servers(argv)
    transcript = run_gdb(tools["gdb"], srv.port_from_banner(), elf, path)
    rc, out = srv.finish()
    return normalise(transcript, elf), transcript, rc, out


def _qemu(tools, elf, servers, tmp_path, script: str):
    path = tmp_path / f"q{len(list(tmp_path.iterdir()))}.gdb"
    path.write_text(HEAD + script)
    port = free_port()
    srv = servers([tools["qemu"], "-g", str(port), str(elf)])
    transcript = run_gdb(tools["gdb"], port, elf, path)
    srv.finish()
    return normalise(transcript, elf), transcript


def _plain(lines: list[str]) -> list[str]:
    """Hardware and software watchpoints named alike (the only line gdb words apart)."""
    return [re.sub(r"^Hardware watchpoint", "Watchpoint", x) for x in lines]


def test_watch_stops_and_values_are_gdbs_software_watchpoints(
    tools, loop_elf, servers, tmp_path
):
    script = f"watch {WATCHED}\n" + _continues(3) + "delete\ncontinue\n"
    hw, raw, rc, out = _armbp(tools, loop_elf, servers, tmp_path, script, log=True)
    sw, _, _, _ = _armbp(
        tools, loop_elf, servers, tmp_path, "set can-use-hw-watchpoints 0\n" + script
    )
    qemu_sw, _ = _qemu(
        tools, loop_elf, servers, tmp_path, "set can-use-hw-watchpoints 0\n" + script
    )
    assert f"Hardware watchpoint 1: {WATCHED}" in hw, raw
    assert _plain(hw) == sw == qemu_sw, "\n".join(
        f"hw {a!r}\nsw {b!r}" for a, b in zip(_plain(hw), qemu_sw, strict=False) if a != b
    )
    values = [x for x in hw if x.startswith(("Old value", "New value"))]
    assert values == [
        "Old value = 0",
        "New value = 1",
        "Old value = 1",
        "New value = 3",
        "Old value = 3",
        "New value = 6",
    ]
    assert hw.count(f"0x{STR_NEXT:016x} in hot ()") == 3
    assert hw[-1] == "[Inferior 1 (process N) exited with code 017]"
    # the hardware one used the slot (Z2 and a watch: stop reply), not single steps
    stops = [x for x in out.splitlines() if x.startswith("stop:")]
    assert any(";watch:" in x for x in stops), out
    assert rc == 0 and "loop done" in out.splitlines()


def test_rwatch_stops_after_each_load_with_its_value(tools, loop_elf, servers, tmp_path):
    script = f"rwatch {WATCHED}\n" + _continues(3) + "delete\ncontinue\n"
    lines, raw, _rc, _out = _armbp(tools, loop_elf, servers, tmp_path, script)
    assert f"Hardware read watchpoint 1: {WATCHED}" in lines, raw
    assert [x for x in lines if x.startswith("Value =")] == [
        "Value = 0",
        "Value = 1",
        "Value = 3",
    ], raw
    assert lines.count(f"0x{LDR_NEXT:016x} in hot ()") == 3, raw
    assert not any(x.startswith(("Old value", "New value")) for x in lines)
    assert lines[-1] == "[Inferior 1 (process N) exited with code 017]"


def test_awatch_stops_at_the_load_and_at_the_store(tools, loop_elf, servers, tmp_path):
    script = f"awatch {WATCHED}\n" + _continues(4) + "delete\ncontinue\n"
    lines, raw, _rc, _out = _armbp(tools, loop_elf, servers, tmp_path, script)
    assert f"Hardware access (read/write) watchpoint 1: {WATCHED}" in lines, raw
    told = [x for x in lines if x.startswith(("Value =", "Old value", "New value"))]
    assert told == [
        "Value = 0",  # ldr: read
        "Old value = 0",  # str: write
        "New value = 1",
        "Value = 1",
        "Old value = 1",
        "New value = 3",
    ], raw
    where = [x for x in lines if x.endswith(" in hot ()")]
    assert where == [f"0x{pc:016x} in hot ()" for pc in (LDR_NEXT, STR_NEXT) * 2], raw


def test_hbreak_stops_where_break_does_and_writes_no_brk(tools, loop_elf, servers, tmp_path):
    body = "  info registers pc x0\n  x/2xw $pc\n"
    script = _continues(3, body) + "delete\ncontinue\n"
    hw, raw, rc, out = _armbp(
        tools, loop_elf, servers, tmp_path, "hbreak hot\n" + script, log=True
    )
    sw, _, _, _ = _armbp(tools, loop_elf, servers, tmp_path, "break hot\n" + script)
    assert "Hardware assisted breakpoint 1 at 0x400114" in hw, raw  # hot, past its prologue
    same = [re.sub(r"^Hardware assisted breakpoint", "Breakpoint", x) for x in hw]
    assert same == sw
    assert hw.count("Breakpoint 1, 0x0000000000400114 in hot ()") == 3, raw
    assert hw[-1] == "[Inferior 1 (process N) exited with code 017]"
    assert "hwbreak" in out and "wrote BRK" not in out, out
    assert rc == 0


def test_a_fifth_watchpoint_cannot_be_inserted(tools, loop_elf, servers, tmp_path):
    watches = "".join(f"watch *((char *) &total + {i})\n" for i in range(5))
    lines, raw, _rc, _out = _armbp(tools, loop_elf, servers, tmp_path, watches + "continue\n")
    assert "Could not insert hardware watchpoint 5." in lines, raw
    assert not any("Could not insert hardware watchpoint 4." in x for x in lines)


def test_a_seventh_hardware_breakpoint_cannot_be_inserted(tools, loop_elf, servers, tmp_path):
    hbreaks = "".join(f"hbreak *0x{0x40010C + 4 * i:x}\n" for i in range(7))
    lines, raw, _rc, _out = _armbp(tools, loop_elf, servers, tmp_path, hbreaks + "continue\n")
    # gdb's words for breakpoints: "Cannot insert hardware breakpoint N." and then
    assert "Cannot insert hardware breakpoint 7." in lines, raw
    assert "Could not insert hardware breakpoints:" in lines
    assert not any("breakpoint 6." in x for x in lines)
