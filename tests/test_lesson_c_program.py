"""Lesson 6's C program: the stored ELF beside its source, and what rebuilding it gives.

The lesson runs ``notebooks/c-program/crash.elf`` when the cross compiler is absent, so the
stored ELF must be the program its source says, and small enough to keep in the tree.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import require_tool

from armbp.debugger import Debugger, StopReason

FOLDER = Path(__file__).resolve().parent.parent / "notebooks" / "c-program"
STORED = FOLDER / "crash.elf"
BREAK_LINE = 20  # total += list->value;


def behaviour(elf: Path) -> tuple:
    """What the lesson shows: the stop on line 20, then the output and the fault."""
    dbg = Debugger.from_elf(str(elf))
    lines = dbg.program.lines
    at = min(a for a, line in lines.items() if line.number == BREAK_LINE)
    dbg.break_at(at)
    first = dbg.cont()
    dbg.delete(at)
    end = dbg.cont()
    info = dbg.end.siginfo if dbg.end else None
    return (
        first.reason,
        first.pc == at,
        end.reason,
        dbg.stdout,
        info and (info.name, info.addr, info.esr),
    )


EXPECTED = (
    StopReason.BREAKPOINT,
    True,
    StopReason.HALTED,
    "sum of 3: 6\n",
    ("SIGSEGV", 0, 0x92000004),
)


def test_the_stored_elf_is_small_and_runs_into_the_null_dereference():
    assert STORED.stat().st_size < 1_000_000, STORED.stat().st_size
    assert behaviour(STORED) == EXPECTED


def test_rebuilding_from_the_source_gives_a_program_with_the_same_behaviour(tmp_path):
    require_tool("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu")
    elf = tmp_path / "crash.elf"
    subprocess.run(
        [
            "aarch64-linux-gnu-gcc",
            "-static",
            "-g",
            "-O0",
            "-o",
            str(elf),
            str(FOLDER / "crash.c"),
        ],
        check=True,
        timeout=120,
    )
    assert behaviour(elf) == EXPECTED


@pytest.mark.parametrize("elf", [STORED])
def test_the_stored_elf_names_its_source_relative_to_the_lessons_folder(elf):
    """Built with -fdebug-prefix-map (crash.c's header): no build folder in the ELF."""
    assert b"c-program/crash.c" in elf.read_bytes()
    assert str(FOLDER.parent).encode() not in elf.read_bytes()
