"""Self-checked exercises for the lessons.

In a notebook::

    from armbp import check, solution
    answer = ...                      # the learner replaces ... with their answer
    check("brk-encoding-0x99", answer)
    solution("brk-encoding-0x99")     # the "reveal" cell

:func:`check` prints one line and returns a :class:`Result`:

* ``✓ Correct: <why>`` for a right answer,
* ``✗ Not quite: <hint>`` for a wrong one (a garbage answer is told what was expected),
* the fixed line :data:`UNANSWERED` while the answer is still ``...``,

so an executed notebook's output does not depend on anything but the answer (nbval stays
stable). The printed line is the whole output: the returned :class:`Result` does not
display itself again in Jupyter.

Lesson authors add exercises here, next to the seeds, with :func:`exercise`::

    exercise("svc-encoding-0", "Which 32-bit word encodes SVC #0?",
             check=expect_int(encodings.svc(0), why="SVC #imm16 is 0xd4000001 | imm16 << 5."),
             hint="Start from 0xd4000001 and shift the immediate left by 5.",
             solution="SVC #0 = 0xd4000001 | 0 << 5 = 0xd4000001.",
             answer="0xd4000001")

A checker is a function of the answer returning ``True``/``False`` or ``(ok, detail)``; the
detail of a right answer is the "why", the detail of a wrong one comes before the hint.
:func:`expect_int` builds the common checker "this integer, given as an int or as a hex,
binary or decimal string". Checkers must not raise; if one does anyway, :func:`check` says
so instead of failing the cell.

``answer`` is a model answer, written as the Python literal a learner would type in place
of ``...`` (``"0xd4000001"``, ``"1"``). ``tests/test_notebooks.py`` substitutes it to run
every lesson with its exercises solved; :func:`model_answer` returns it.

Pure Python: imports :mod:`armbp.encodings` and :mod:`armbp.esr` builders only.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Union

from . import encodings, esr

__all__ = ["check", "solution", "question", "exercise", "exercise_ids", "expect_int",
           "as_int", "model_answer", "Exercise", "Result", "UNANSWERED"]

UNANSWERED = "Not answered yet — replace ... with your answer and run the cell again."

Verdict = Union[bool, "tuple[bool, str]"]
Checker = Callable[[Any], Verdict]


class _Shown(str):
    """A string already printed: Jupyter does not display it a second time."""

    def _ipython_display_(self) -> None:
        return None


@dataclass(frozen=True)
class Exercise:
    id: str
    question: str
    check: Checker
    hint: str
    solution: str
    answer: str | None = None


@dataclass(frozen=True)
class Result:
    """What :func:`check` printed. ``bool(result)`` is True only for a correct answer."""

    exercise_id: str
    status: str  # "correct" | "wrong" | "unanswered"
    message: str

    @property
    def correct(self) -> bool:
        return self.status == "correct"

    def __bool__(self) -> bool:
        return self.correct

    def __str__(self) -> str:
        return self.message

    def _ipython_display_(self) -> None:
        return None  # check() printed the message already


_REGISTRY: dict[str, Exercise] = {}


def exercise(id: str, question: str, check: Checker, hint: str,  # noqa: A002
             solution: str, answer: str | None = None) -> Exercise:
    """Register an exercise under ``id`` (unique, lower-case words joined by ``-``)."""
    if not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", id or ""):
        raise ValueError(f"exercise id {id!r} must be lower-case words joined by '-'")
    if id in _REGISTRY:
        raise ValueError(f"exercise {id!r} is already registered")
    if not callable(check):
        raise TypeError(f"exercise {id!r}: check must be a function of the answer")
    for what, text in (("question", question), ("hint", hint), ("solution", solution)):
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"exercise {id!r}: {what} must be a non-empty string")
    if answer is not None and (not isinstance(answer, str) or not answer.strip()):
        raise ValueError(f"exercise {id!r}: answer must be the Python text of a model answer")
    entry = Exercise(id, question, check, hint, solution, answer)
    _REGISTRY[id] = entry
    return entry


def exercise_ids() -> list[str]:
    """Every registered id, in registration order."""
    return list(_REGISTRY)


def _get(exercise_id: str) -> Exercise:
    try:
        return _REGISTRY[exercise_id]
    except (KeyError, TypeError):
        known = ", ".join(_REGISTRY)
        raise KeyError(f"no exercise {exercise_id!r}; known: {known}") from None


def question(exercise_id: str) -> str:
    """Print and return the question of an exercise."""
    text = _get(exercise_id).question
    print(text)
    return _Shown(text)


def model_answer(exercise_id: str) -> str | None:
    """The model answer as Python text (what replaces ``...``), or None if none was given."""
    return _get(exercise_id).answer


def solution(exercise_id: str) -> str:
    """Print and return the worked solution (for a "reveal" cell)."""
    text = _get(exercise_id).solution
    print(text)
    return _Shown(text)


def check(exercise_id: str, answer: Any) -> Result:
    """Check ``answer``, print one line saying how it went, and return the :class:`Result`."""
    entry = _get(exercise_id)
    if answer is Ellipsis:
        result = Result(exercise_id, "unanswered", UNANSWERED)
    else:
        try:
            verdict = entry.check(answer)
        except Exception as exc:  # a checker bug must not fail the learner's cell
            verdict = (False, f"this answer could not be checked ({type(exc).__name__}: "
                              f"{exc}).")
        ok, detail = verdict if isinstance(verdict, tuple) else (bool(verdict), "")
        if ok:
            result = Result(exercise_id, "correct",
                            f"✓ Correct: {detail or entry.solution}")
        else:
            text = f"{detail} {entry.hint}" if detail else entry.hint
            result = Result(exercise_id, "wrong", f"✗ Not quite: {text}")
    print(result.message)
    return result


# --- answers --------------------------------------------------------------------------------

_INT_TEXT = re.compile(r"[+-]?(0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|[0-9][0-9_]*)")
_BARE_HEX = re.compile(r"[0-9a-fA-F_]*[a-fA-F][0-9a-fA-F_]*")


def as_int(answer: Any) -> int | None:
    """``answer`` as an int, or None when it is not a number.

    Accepts ints (and bools as 0/1) and strings: ``"0x25"``, ``"0b1"``, ``"37"`` (decimal),
    and bare hex that cannot be decimal (``"d4201320"``). Spaces and ``_`` are ignored.
    """
    if isinstance(answer, bool):
        return int(answer)
    if isinstance(answer, int):
        return answer
    if isinstance(answer, str):
        text = answer.strip().replace(" ", "")
        if _INT_TEXT.fullmatch(text):
            return int(text, 0) if not re.fullmatch(r"[+-]?0[0-9_]+", text) else int(text, 10)
        if _BARE_HEX.fullmatch(text):
            return int(text, 16)
    return None


def expect_int(expected: int, why: str) -> Checker:
    """A checker accepting ``expected`` as an int or as a number in a string.

    A decimal answer whose digits read as the expected value in hex (``25`` for ``0x25``)
    gets a nudge about the missing ``0x``; garbage is told what kind of answer is expected.
    """
    def checker(answer: Any) -> Verdict:
        value = as_int(answer)
        if value is None:
            return False, (f"expected a number (an int such as 0x1f or 31, or a string such "
                           f"as '0x1f'), got {answer!r}.")
        if value == expected:
            return True, why
        if isinstance(answer, (int, str)) and not isinstance(answer, bool) \
                and str(answer).strip().isdigit() and int(str(answer).strip(), 16) == expected:
            return False, f"{str(answer).strip()} is read as decimal; did you mean 0x{answer}?"
        return False, ""
    return checker


# --- lesson 0: start here -------------------------------------------------------------------

exercise(
    "start-third-address",
    "A guest program is loaded at 0x40000. Every A64 instruction is 4 bytes. At which address "
    "is its third instruction?",
    check=expect_int(0x40008,
                     why="the first is at 0x40000, the second at 0x40004, the third at "
                         "0x40008."),
    hint="Count in steps of 4 from 0x40000: the first instruction is at 0x40000 itself.",
    solution="0x40000 + 2 × 4 = 0x40008 (the first instruction is at 0x40000 + 0 × 4).",
    answer="0x40008",
)

# --- lesson 1: the BRK instruction ----------------------------------------------------------

exercise(
    "brk-encoding-0x99",
    "Which 32-bit instruction word encodes BRK #0x99?",
    check=expect_int(encodings.brk(0x99),
                     why="BRK #imm16 is 0xd4200000 | imm16 << 5, and 0x99 << 5 = 0x1320, "
                         "so BRK #0x99 = 0xd4201320."),
    hint="BRK #imm16 is 0xd4200000 with imm16 in bits 20:5: shift 0x99 left by 5 and OR "
         "it in.",
    solution="BRK #0x99 = 0xd4200000 | (0x99 << 5) = 0xd4200000 | 0x1320 = 0xd4201320.",
    answer="0xd4201320",
)

exercise(
    "brk-imm16-lldb",
    "LLDB plants 0xd43e0000 as its AArch64 breakpoint. What is its imm16?",
    check=expect_int(encodings.imm16_of(0xD43E_0000),
                     why="(0xd43e0000 >> 5) & 0xffff = 0xf000: LLDB uses BRK #0xf000, "
                         "GDB and QEMU BRK #0."),
    hint="imm16 sits in bits 20:5: shift the word right by 5 and keep the low 16 bits.",
    solution="(0xd43e0000 >> 5) & 0xffff = 0x6a1f000 & 0xffff = 0xf000, "
             "so LLDB's breakpoint is BRK #0xf000.",
    answer="0xf000",
)

exercise(
    "brk-first-byte",
    "A64 instructions are stored little-endian. GDB writes BRK #0 (0xd4200000) over an "
    "instruction: which byte value ends up at the lowest address?",
    check=expect_int(encodings.to_bytes(encodings.BRK0)[0],
                     why="little-endian stores the least significant byte first: "
                         "00 00 20 d4, so the lowest address holds 0x00."),
    hint="Little-endian means the least significant byte (the last two hex digits) comes "
         "first in memory.",
    solution="0xd4200000 is stored as the bytes 00 00 20 d4; the lowest address holds 0x00 "
             "(and the highest 0xd4).",
    answer="0x00",
)

# --- lesson 4: reading the syndrome ---------------------------------------------------------

_DABT = esr.data_abort(same_el=True, wnr=True, dfsc=0x05)  # 0x96000045

exercise(
    "esr-ec-0x96000045",
    "A kernel oops prints ESR = 0x96000045. What is its exception class (EC)?",
    check=expect_int(_DABT >> 26 & 0x3F,
                     why="EC is bits 31:26: 0x96000045 >> 26 = 0x25, a Data Abort taken "
                         "without a change in Exception level."),
    hint="EC is bits 31:26: shift right by 26 and keep 6 bits.",
    solution="(0x96000045 >> 26) & 0x3f = 0x25: Data Abort from the current EL.",
    answer="0x25",
)

exercise(
    "esr-wnr-0x96000045",
    "In ESR = 0x96000045 (a data abort), what is WnR (bit 6)? Was it a write?",
    check=expect_int(_DABT >> 6 & 1,
                     why="0x45 = 0b1000101: bit 6 is 1, so the faulting access was a write."),
    hint="WnR is bit 6 of the ISS: look at the low byte 0x45 in binary.",
    solution="0x45 = 0b0100_0101; bit 6 is 1, so WnR = 1: the access was a write.",
    answer="1",
)

exercise(
    "esr-dfsc-0x96000045",
    "What is the data fault status code (DFSC, bits 5:0) of ESR = 0x96000045?",
    check=expect_int(_DABT & 0x3F,
                     why="0x45 & 0x3f = 0x05: a translation fault at level 1 (no valid "
                         "mapping for the address)."),
    hint="DFSC is the low 6 bits: mask with 0x3f.",
    solution="0x96000045 & 0x3f = 0x05: translation fault, level 1.",
    answer="0x05",
)

exercise(
    "esr-of-brk-0x99",
    "The guest executes BRK #0x99 (0xd4201320). What syndrome does ESR_EL1 get?",
    check=expect_int(esr.brk(0x99),
                     why="EC 0x3C (BRK in AArch64) << 26, IL = 1 (bit 25), ISS = the "
                         "comment 0x99: 0xf0000000 | 0x02000000 | 0x99 = 0xf2000099."),
    hint="EC 0x3C goes in bits 31:26, IL (bit 25) is 1 for a 32-bit instruction, and the "
         "BRK immediate is copied into the ISS.",
    solution="(0x3c << 26) | (1 << 25) | 0x99 = 0xf0000000 | 0x02000000 | 0x99 = 0xf2000099.",
    answer="0xf2000099",
)

exercise(
    "esr-il-0xf2000000",
    "What is IL (bit 25) in ESR = 0xf2000000, and what does it say?",
    check=expect_int(esr.brk() >> 25 & 1,
                     why="0xf2000000 has bit 25 set: IL = 1, the trapping instruction was a "
                         "32-bit one (every A64 instruction is)."),
    hint="Bit 25 is in the second hex digit from the left (bits 27:24): write that digit "
         "in binary.",
    solution="0xf2000000 >> 25 & 1 = 1: IL = 1, a 32-bit instruction trapped.",
    answer="1",
)

# --- lesson 2: inserting a breakpoint -------------------------------------------------------

_BNE_LOOP = 0x54FF_FFE1  # b.ne loop, one word after loop (tests/test_exercises.py assembles it)

exercise(
    "bp-use-count-word",
    "At the same pc you call insert, insert again, then remove once. Which 32-bit word does "
    "guest memory hold at that pc now?",
    check=expect_int(encodings.BRK0,
                     why="the second insert only counted a second user (use_count 2); the "
                         "remove took one away (use_count 1), so the BRK #0 word 0xd4200000 "
                         "stays until the last user removes it."),
    hint="Look at use_count after each call: memory changes only when it goes from 0 to 1 "
         "and from 1 to 0.",
    solution="insert → use_count 1, memory = BRK (0xd4200000); insert → use_count 2, memory "
             "unchanged; remove → use_count 1, memory unchanged. Memory still holds "
             "0xd4200000.",
    answer="0xd4200000",
)

exercise(
    "bp-shadow-read",
    "In the count-down program a breakpoint is planted at 0x40008, where the program has "
    "b.ne loop. You ask the debugger for the word at 0x40008. Which 32-bit word does it "
    "show you?",
    check=expect_int(_BNE_LOOP,
                     why="reads through the debugger go through the table's shadow: a planted "
                         "BRK is shown as its saved_insn, so you see the b.ne (0x54ffffe1) "
                         "while memory holds 0xd4200000."),
    hint="Memory really holds the BRK, but a debugger hides its own breakpoints: it shows "
         "saved_insn, the word that was there before. Find it in the program's listing.",
    solution="table.shadow(0x40008, memory) puts saved_insn back in place of the BRK: you "
             "see 0x54ffffe1 (b.ne loop) in the listing and in memory reads, while the CPU "
             "will fetch 0xd4200000.",
    answer="0x54ffffe1",
)

exercise(
    "bp-misaligned",
    "insert(0x40006) is refused: A64 instructions are 4-byte aligned. Which address holds "
    "the instruction that covers byte 0x40006?",
    check=expect_int(0x40004,
                     why="0x40006 & ~3 = 0x40004: the instruction at 0x40004 spans bytes "
                         "0x40004 to 0x40007."),
    hint="Round down to a multiple of 4: clear the low two bits (address & ~3).",
    solution="0x40006 & ~3 = 0x40004; that word covers bytes 0x40004..0x40007.",
    answer="0x40004",
)

# --- lesson 3: hitting it -------------------------------------------------------------------

exercise(
    "hit-hsr-lldb",
    "A debugger that plants BRK #0xf000 (as LLDB does) instead of BRK #0 hits its breakpoint. "
    "Which value does the vCPU's exit record carry in hsr?",
    check=expect_int(esr.brk(0xF000),
                     why="hsr is the BRK's syndrome: EC 0x3C << 26 | IL (bit 25) | imm16 = "
                         "0xf2000000 | 0xf000 = 0xf200f000."),
    hint="hsr is the syndrome of the BRK: 0xf2000000 for BRK #0, and the BRK's imm16 goes "
         "into the low 16 bits.",
    solution="(0x3c << 26) | (1 << 25) | 0xf000 = 0xf2000000 | 0xf000 = 0xf200f000.",
    answer="0xf200f000",
)

exercise(
    "hit-step-pc",
    "In the lesson's program (loop: add at 0x40008, count: subs at 0x4000c, b.ne loop at "
    "0x40010), the only breakpoint is at 0x40010. The guest stops there in the first round, "
    "after the subs has made x0 = 2. You call step(). At which pc does it stop?",
    check=expect_int(0x40008,
                     why="step runs the saved b.ne loop (not the BRK over it); x0 = 2 is not "
                         "zero, so the branch is taken and the guest stops at loop, 0x40008."),
    hint="The instruction stepped is the original one under the BRK, b.ne loop. Is the branch "
         "taken when the subs left x0 = 2?",
    solution="The step-over puts b.ne loop back at 0x40010 and steps it. x0 = 2 ≠ 0, so the "
             "branch is taken: the guest stops at loop = 0x40008 (not at 0x40014, the next "
             "word). step() always takes the five-step road: it runs exactly one "
             "instruction, the saved one, with the BRK lifted.",
    answer="0x40008",
)

exercise(
    "hit-x1-fifth-stop",
    "Suppose the program started with x0 = 5 instead of 3. x1 counts the rounds done (add x1, "
    "x1, #1 at loop), and the breakpoint at loop stops the guest before the add runs. What is "
    "x1 at the fifth stop at loop?",
    check=expect_int(4,
                     why="the BRK traps before the add executes: x1 is 0 at the first stop, "
                         "1 at the second ... 4 at the fifth."),
    hint="The breakpoint stops the guest before the instruction under it runs: count how many "
         "adds have completed before each stop.",
    solution="Stop n comes after n - 1 completed adds: x1 = 0, 1, 2, 3, 4 at stops 1 to 5.",
    answer="4",
)

# --- lesson 5: when the BRK is not ours -----------------------------------------------------

exercise(
    "guest-vector-address",
    "Another guest sets VBAR_EL1 = 0x80000 and runs at EL1 on its own stack (SP_EL1). Its "
    "BRK is re-injected as a synchronous exception. At which address does its handler start?",
    check=expect_int(0x80200,
                     why="synchronous, current EL, SP_ELx is the vector at VBAR_EL1 + 0x200: "
                         "0x80000 + 0x200 = 0x80200."),
    hint="The vector table has four groups of 0x200 bytes (current EL with SP_EL0, current EL "
         "with SP_ELx, lower EL AArch64, lower EL AArch32); each group starts with its "
         "synchronous entry.",
    solution="Current EL with SP_ELx is the second group: VBAR_EL1 + 0x200 = 0x80000 + 0x200 "
             "= 0x80200.",
    answer="0x80200",
)

exercise(
    "guest-elr-skip",
    "In its handler the guest finds ELR_EL1 = the address of its BRK. How many bytes must it "
    "add to ELR_EL1 so that ERET resumes after the BRK instead of running it again?",
    check=expect_int(4,
                     why="for a BRK the preferred return address is the BRK itself; every A64 "
                         "instruction is 4 bytes, so the handler adds 4."),
    hint="What does ELR_EL1 point to after a BRK, and how long is one A64 instruction?",
    solution="ELR_EL1 = the BRK's own address (unlike SVC, whose ELR is the next "
             "instruction). One instruction is 4 bytes: add 4, then ERET.",
    answer="4",
)

exercise(
    "guest-exits-no-bp",
    "The debugger has no breakpoints at all. The guest's loop runs its own BRK #0x99 three "
    "times. How many DEBUG exits reach the hypervisor?",
    check=expect_int(0,
                     why="with an empty table QEMU clears ENABLE | USE_SW_BP, so a BRK is an "
                         "ordinary exception inside the guest: no exit at all."),
    hint="When does QEMU ask KVM to trap BRK instructions?",
    solution="None: QEMU sets KVM_GUESTDBG_USE_SW_BP only while its breakpoint table is "
             "non-empty. Without it the guest's BRK goes straight to the guest's vector.",
    answer="0",
)


def _keyed(checker: Checker, wrong: dict[int, str]) -> Checker:
    """``checker`` with a hint of its own for each likely wrong value in ``wrong``."""
    def keyed(answer: Any) -> Verdict:
        verdict = checker(answer)
        ok, detail = verdict if isinstance(verdict, tuple) else (bool(verdict), "")
        if not ok and not detail and as_int(answer) in wrong:
            return False, wrong[as_int(answer)]  # type: ignore[index]
        return ok, detail
    return keyed


exercise(
    "guest-brk-under-breakpoint",
    "The debugger's breakpoint goes on the demo guest's own BRK #0x99 (at loop + 4). The guest "
    "hits it and you call cont(): the debugger lifts its breakpoint and steps the saved "
    "instruction — the guest's BRK #0x99 — with the trap still on, so it exits again at the "
    "same pc. Which ESR_EL1 value does the guest's handler then read (x20)?",
    check=_keyed(expect_int(
        esr.brk(0x99),
        why="while the breakpoint is lifted the BRK that traps is the guest's own: it is "
            "re-injected with its own syndrome, EC 0x3C and ISS = 0x99 → 0xf2000099."), {
        esr.brk(0): "0xf2000000 is BRK #0, the debugger's own BRK: it is reported to the "
                    "debugger and never reaches the guest.",
        esr.software_step(same_el=False): "that is the software-step syndrome of the "
                                          "hypervisor's own step, which the guest never sees.",
        esr.software_step(same_el=True): "that is a software-step syndrome; the hypervisor's "
                                         "step is its own and the guest never sees it.",
        0: "the handler does run: if the hypervisor called this exit its breakpoint again, "
           "every cont() would stop at the same pc for ever and the handler would never "
           "run — a livelock.",
    }),
    hint="Whose instruction runs during the step-over, and what syndrome does BRK #imm16 "
         "give (0xf2000000 | imm16)?",
    solution="0xf2000099. During the step the breakpoint is lifted (with QEMU, GDB has "
             "removed it), so the trap at that pc is the guest's BRK #0x99: the hypervisor "
             "re-injects it, ESR_EL1 = EC 0x3C, IL, ISS = 0x99. Reporting it as the "
             "breakpoint again would stop every cont() at the same pc, and the guest's "
             "handler would never run.",
    answer="0xf2000099",
)

# --- lesson 6: a real debugger on the other end ---------------------------------------------

_HEX_TEXT = re.compile(r"[0-9a-f]+")


def _packet_text(answer: Any) -> str | None:
    """A packet as the learner typed it: quotes, spaces and a ``$…#cc`` frame stripped."""
    if not isinstance(answer, str):
        return None
    text = answer.strip().strip("'\"").replace(" ", "")
    framed = re.fullmatch(r"\$(.*)#[0-9a-fA-F]{2}", text)
    return framed.group(1) if framed else text


def _expect_m_reply(expected: str, why: str) -> Checker:
    """The hex text of an ``m`` reply (bytes in memory order), given as a string."""
    def checker(answer: Any) -> Verdict:
        if isinstance(answer, int) and not isinstance(answer, bool):
            return False, ("an m reply is text, not a number: the bytes in memory order, two "
                           "hex digits each, e.g. '1f2003d5'.")
        text = _packet_text(answer)
        if text is None:
            return False, f"expected the reply as a string such as '1f2003d5', got {answer!r}."
        text = text.lower()
        if text == expected:
            return True, why
        if text.startswith("0x") or not _HEX_TEXT.fullmatch(text):
            return False, "the reply is bare hex digits, without 0x."
        if text == encodings.to_bytes(encodings.BRK0).hex():
            return False, "that is the BRK itself: the stub hides its own breakpoints."
        if len(text) == 8 and bytes.fromhex(text)[::-1].hex() == expected:
            return False, "those are the bytes in the word's order, not memory order."
        return False, ""
    return checker


def _expect_packet(expected: str, why: str) -> Checker:
    """A packet's payload, with or without its ``$…#cc`` frame."""
    def checker(answer: Any) -> Verdict:
        text = _packet_text(answer)
        if text is None:
            return False, f"expected the packet as a string such as 'm1000,8', got {answer!r}."
        if text == expected:
            return True, why
        if "0x" in text.lower():
            return False, "RSP numbers are bare hex: no 0x."
        return False, ""
    return checker


exercise(
    "rsp-z0-memory",
    "GDB sends Z0,40010c,4 and the stub answers OK. Which 32-bit word does guest memory hold "
    "at 0x40010c now?",
    check=expect_int(encodings.BRK0,
                     why="Z0 is 'insert a software breakpoint': the stub saves the word at "
                         "0x40010c and writes BRK #0, 0xd4200000 (bytes 00 00 20 d4)."),
    hint="Z0,ADDR,KIND asks the stub to plant a software breakpoint at ADDR: the same insert "
         "as in lesson 2.",
    solution="Z0,40010c,4 = insert a 4-byte software breakpoint at 0x40010c. The stub's table "
             "saves the instruction there and writes BRK #0: memory holds 0xd4200000.",
    answer="0xd4200000",
)

exercise(
    "rsp-m-original",
    "In this lesson's guest, count: subs x0, x0, #1 (0xf1000400) is at 0x4000c. A breakpoint "
    "is planted there. What does the stub answer to m4000c,4? (Give the reply as a string.)",
    check=_expect_m_reply("000400f1",
                          why="the stub hides its BRK: m returns the saved word 0xf1000400, "
                              "as bytes in memory order (little-endian): 000400f1."),
    hint="Two things: the stub shows the instruction the BRK replaced, not the BRK; and an m "
         "reply lists the bytes in memory order, lowest address first.",
    solution="The reply is the saved instruction 0xf1000400 (not the BRK), byte by byte from "
             "the lowest address: 00 04 00 f1 → '000400f1'.",
    answer="'000400f1'",
)

exercise(
    "rsp-read-packet",
    "Which packet does GDB send to read the 4 bytes of the instruction at hot+20 (0x400120)?",
    check=_expect_packet("m400120,4",
                         why="m ADDR,LENGTH with both numbers in bare hex: m400120,4."),
    hint="The memory-read packet is m followed by the address and the length, in hex without "
         "0x, separated by a comma (like m40010c,4 in the session).",
    solution="m400120,4. On the wire it is framed as $m400120,4#f4: f4 is the checksum, the "
             "sum of the payload's bytes modulo 256.",
    answer="'m400120,4'",
)
