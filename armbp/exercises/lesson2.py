"""The exercises of lesson 2, inserting a breakpoint.

The lesson is ``notebooks/02-inserting-a-breakpoint.ipynb``. Content only: each entry is a question,
a checker, a hint, a worked solution, a model answer and hints for likely wrong
answers; :mod:`armbp.exercises` is the engine that checks them.
"""

from __future__ import annotations

from typing import Any

from .. import encodings
from . import Exercise, Trial, exercise, expect_function, expect_int, memory_order

_BNE_LOOP = (
    0x54FF_FFE1  # b.ne loop, one word after loop (tests/test_exercises.py assembles it)
)
_SUBS = 0xF100_0400  # subs x0, x0, #1 at loop (tests/test_exercises.py assembles it)


def _remove_trial(inserts: int, overwrite: bool, at: int = 0x40004) -> Trial:
    """remove(memory, entries, pc) against BreakpointTable.remove on the same state."""

    def trial(remove: Any) -> str | None:
        from ..memory import BytearrayMemory
        from ..table import BreakpointError, BreakpointTable

        code = encodings.to_bytes(0xD2800060) + encodings.to_bytes(_SUBS)  # mov x0, #3
        code += encodings.to_bytes(_BNE_LOOP) + encodings.to_bytes(encodings.NOP)
        results = []
        for mine in (False, True):
            memory = BytearrayMemory(code, base=0x40000)
            table = BreakpointTable(memory)
            for _ in range(inserts):
                table.insert(0x40004)
            if overwrite:
                memory.write(0x40004, encodings.to_bytes(encodings.NOP))
            entries = {
                bp.pc: {"saved_insn": bp.saved_insn, "use_count": bp.use_count} for bp in table
            }
            try:
                if mine:
                    remove(memory, entries, at)
                else:
                    table.remove(at)
                    entries = {
                        bp.pc: {"saved_insn": bp.saved_insn, "use_count": bp.use_count}
                        for bp in table
                    }
                raised = None
            except BreakpointError as e:
                raised = type(e).__name__
            results.append((raised, bytes(memory.data), entries))
        (want_raise, want_mem, want_entries), (got_raise, got_mem, got_entries) = results
        if want_raise != got_raise:
            if want_raise is None:
                return f"it raised {got_raise}, but this remove succeeds"
            return f"it should raise {want_raise}, and did not"
        if got_mem != want_mem:
            word = encodings.from_bytes(got_mem[4:8])
            return (
                f"memory at 0x40004 is {word:#010x}, expected "
                f"{encodings.from_bytes(want_mem[4:8]):#010x}"
                + (" (a refused remove must change nothing)" if want_raise else "")
            )
        if got_entries != want_entries:
            return f"entries is {got_entries}, expected {want_entries}"
        return None

    return trial


_REMOVE_CASES = [
    ("one user, BRK intact: the instruction comes back", _remove_trial(1, False)),
    ("two users: only the count goes down", _remove_trial(2, False)),
    ("the guest wrote a NOP over the BRK: refused", _remove_trial(1, True)),
    ("no breakpoint at 0x40008", _remove_trial(1, False, at=0x40008)),
]


_MODEL_REMOVE = """\
from armbp import encodings
from armbp.table import BreakpointError, BreakpointOverwritten


def remove(memory, entries, pc):
    if pc not in entries:
        raise BreakpointError(f"no breakpoint at {pc:#x}", pc, "ENOENT")
    entry = entries[pc]
    if entry["use_count"] > 1:
        entry["use_count"] -= 1
        return
    found = encodings.from_bytes(memory.read(pc, 4))
    if found != encodings.BRK0:
        raise BreakpointOverwritten(pc, found)
    memory.write(pc, encodings.to_bytes(entry["saved_insn"]))
    del entries[pc]
"""  # the model answer: what the answer key prints and the lesson test runs


EXERCISES: tuple[Exercise, ...] = (
    exercise(
        "bp-use-count-word",
        "At the same pc you call insert, insert again, then remove once. Which 32-bit word does "
        "guest memory hold at that pc now?",
        check=expect_int(
            encodings.BRK0,
            why="the second insert only counted a second user (use_count 2); the "
            "remove took one away (use_count 1), so the BRK #0 word 0xd4200000 "
            "stays until the last user removes it.",
        ),
        hint="Look at use_count after each call: memory changes only when it goes from 0 to 1 "
        "and from 1 to 0.",
        solution="insert → use_count 1, memory = BRK (0xd4200000); insert → use_count 2, memory "
        "unchanged; remove → use_count 1, memory unchanged. Memory still holds "
        "0xd4200000.",
        answer="0xd4200000",
        wrong={
            _SUBS: "that is the instruction the BRK replaced (the subs at loop): remove puts it back only when "
            "use_count drops to 0, and after insert, insert, remove it is 1.",
            memory_order(encodings.BRK0): "that is the BRK's bytes in memory order (00 00 20 "
            "d4) read as a word; give the word itself.",
            1: "1 is the use_count left, not the word in memory.",
            2: "use_count went 1, 2, then back to 1 — and the question asks for the word "
            "memory holds, not the count.",
            0: "use_count is 1, not 0: two inserts, one remove.",
        },
    ),
    exercise(
        "bp-shadow-read",
        "In the count-down program a breakpoint is planted at 0x40008, where the program has "
        "b.ne loop. You ask the debugger for the word at 0x40008. Which 32-bit word does it "
        "show you?",
        check=expect_int(
            _BNE_LOOP,
            why="reads through the debugger go through the table's shadow: a planted "
            "BRK is shown as its saved_insn, so you see the b.ne (0x54ffffe1) "
            "while memory holds 0xd4200000.",
        ),
        hint="Memory really holds the BRK, but a debugger hides its own breakpoints: it shows "
        "saved_insn, the word that was there before. Find it in the program's listing.",
        solution="table.shadow(0x40008, memory) puts saved_insn back in place of the BRK: you "
        "see 0x54ffffe1 (b.ne loop) in the listing and in memory reads, while the CPU "
        "will fetch 0xd4200000.",
        answer="0x54ffffe1",
        wrong={
            memory_order(_BNE_LOOP): "that is the bytes in memory order (e1 ff ff 54) read "
            "as a word; the word is read little-endian, most significant byte last in memory.",
            encodings.BRK0: "that is what memory holds and what the CPU fetches; the debugger "
            "hides its own breakpoint and shows the saved word.",
            memory_order(encodings.BRK0): "that is the BRK's bytes (00 00 20 d4) read as a "
            "word; and the debugger shows the saved word, not the BRK.",
            _SUBS: "that is the subs at loop (0x40004); the breakpoint is at 0x40008, one word "
            "further on.",
        },
    ),
    exercise(
        "bp-misaligned",
        "insert(0x40006) is refused: A64 instructions are 4-byte aligned. Which address holds "
        "the instruction that covers byte 0x40006?",
        check=expect_int(
            0x40004,
            why="0x40006 & ~3 = 0x40004: the instruction at 0x40004 spans bytes "
            "0x40004 to 0x40007.",
        ),
        hint="Round down to a multiple of 4: clear the low two bits (address & ~3).",
        solution="0x40006 & ~3 = 0x40004; that word covers bytes 0x40004..0x40007.",
        answer="0x40004",
        wrong={
            0x40008: "that rounds up: the instruction that covers 0x40006 starts before it.",
            0x40006: "that is the misaligned address itself; instructions start at multiples "
            "of 4.",
            0x40002: "0x40006 - 4 is not a multiple of 4 either: clear the low two bits "
            "instead.",
            0x40000: "the instruction at 0x40000 covers bytes 0x40000 to 0x40003 only.",
        },
    ),
    exercise(
        "bp-code-remove",
        "Write remove(memory, entries, pc), the table's remove: entries maps a pc to "
        "{'saved_insn': word, 'use_count': n}. Drop one user; the last one writes saved_insn "
        "back — but only if the word at pc is still BRK #0: if the guest wrote over it, raise "
        "BreakpointOverwritten(pc, found) and change nothing. No entry at pc: raise "
        "BreakpointError.",
        check=expect_function(
            _REMOVE_CASES,
            why="your remove leaves memory and the entries exactly as BreakpointTable.remove "
            "does, and refuses the same cases with the same errors.",
        ),
        hint="Three questions in order: is there an entry? is use_count above 1 (then only "
        "count down)? is the word at pc still 0xd4200000 (then restore, else refuse)?",
        solution=_MODEL_REMOVE
        + "\nThe overwrite check comes before any write, so a refusal changes nothing.",
        answer=_MODEL_REMOVE,
    ),
)
