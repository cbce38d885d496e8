"""Self-checked exercises for the lessons: the engine (this module) and each lesson's content.

In a notebook::

    from armbp import check, solution
    answer = ...                      # the learner replaces ... with their answer
    check("brk-encoding-0x99", answer)
    solution("brk-encoding-0x99")     # the "reveal" cell: a closed "Show the answer" block

:func:`check` prints one line and returns a :class:`Result` (and, in a notebook, adds the
attempt to the learner's results file: :mod:`armbp.exercises.results`):

* ``✓ Correct: <why>`` for a right answer,
* ``✗ Not quite: <hint>`` for a wrong one (a garbage answer is told what was expected),
* the fixed line :data:`UNANSWERED` while the answer is still ``...``,

so an executed notebook's output does not depend on anything but the answer (nbval stays
stable). The printed line is the whole output: the returned :class:`Result` does not
display itself again in Jupyter.

The engine is this module: the registry and record format (:class:`Exercise`), checking
and printing (:func:`check`, :func:`solution`), answer normalisation (:func:`as_int`,
:func:`as_packet`) and hints keyed to likely wrong answers. The content is one module per
lesson, ``armbp/exercises/lessonN.py`` (lesson N's notebook), holding nothing but its
exercises in ``EXERCISES``; :data:`LESSONS` lists them. A lesson author adds an entry there
with :func:`exercise`::

    exercise("svc-encoding-0", "Which 32-bit word encodes SVC #0?",
             check=expect_int(encodings.svc(0), why="SVC #imm16 is 0xd4000001 | imm16 << 5."),
             hint="Start from 0xd4000001 and shift the immediate left by 5.",
             solution="SVC #0 = 0xd4000001 | 0 << 5 = 0xd4000001.",
             answer="0xd4000001",
             wrong={0xd4000000: "that is SVC with the low bit clear: SVC's fixed bits end "
                                "in 01."})

A checker is a function of the answer returning ``True``/``False`` or ``(ok, detail)``; the
detail of a right answer is the "why", the detail of a wrong one comes before the hint.
``wrong`` maps likely wrong values (read with :func:`as_int`) to a hint of their own, said
when the checker gave no detail of its own for that answer.
:func:`expect_int` builds the common checker "this integer, given as an int or as a hex,
binary or decimal string". Checkers must not raise; if one does anyway, :func:`check` says
so instead of failing the cell.

``answer`` is a model answer, written as the Python literal a learner would type in place
of ``...`` (``"0xd4000001"``, ``"1"``); for a coding exercise (checker built with
:func:`expect_function`) it is the source of a model function, ``def name(...): ...``,
and the learner answers with their own function (``answer = name``). ``tests/test_notebooks.py`` substitutes it to run
every lesson with its exercises solved; :func:`model_answer` returns it.

Importing the exercises is cheap: the lessons import :mod:`armbp.encodings` and
:mod:`armbp.esr` builders; a coding exercise's trials import the model they run the
learner's function against (the table, the vCPU, the exit handler, the RSP framing) only
when they run.
"""

from __future__ import annotations

import ast
import html
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType, ModuleType
from typing import Any, Union

__all__ = [
    "HIDDEN",
    "LESSONS",
    "UNANSWERED",
    "Exercise",
    "Result",
    "Solution",
    "as_int",
    "as_packet",
    "check",
    "code_name",
    "exercise",
    "exercise_ids",
    "expect_function",
    "expect_int",
    "memory_order",
    "model_answer",
    "model_value",
    "question",
    "shown",
    "solution",
]

UNANSWERED = "Not answered yet — replace ... with your answer and run the cell again."

Verdict = Union[bool, "tuple[bool, str]"]
Checker = Callable[[Any], Verdict]


class _Shown(str):
    """A string already printed: Jupyter does not display it a second time."""

    def _ipython_display_(self) -> None:
        return None


@dataclass(frozen=True)
class Exercise:
    """One exercise, as a lesson declares it: the record the engine checks answers against.

    ``wrong`` maps a likely wrong value to the hint said for it (before ``hint``).
    """

    id: str
    question: str
    check: Checker
    hint: str
    solution: str
    answer: str | None = None
    wrong: Mapping[int, str] = field(default_factory=lambda: MappingProxyType({}))


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


def exercise(
    id: str,
    question: str,
    check: Checker,
    hint: str,
    solution: str,
    answer: str | None = None,
    wrong: Mapping[int, str] | None = None,
) -> Exercise:
    """Register an exercise under ``id`` (unique, lower-case words joined by ``-``).

    Everything is checked before anything is registered, so a bad entry fails loudly at
    import and leaves the registry as it was.
    """
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
    for value, text in (wrong or {}).items():
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"exercise {id!r}: wrong answer {value!r} must be an int")
        if not isinstance(text, str) or not text.strip():
            raise ValueError(
                f"exercise {id!r}: the hint for wrong answer {value:#x} must be "
                f"a non-empty string"
            )
    entry = Exercise(
        id, question, check, hint, solution, answer, MappingProxyType(dict(wrong or {}))
    )
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
    """The model answer as Python text (what replaces ``...``), or None if none was given.

    For a coding exercise it is the source of the model function (``def name(...): ...``)."""
    return _get(exercise_id).answer


def model_value(exercise_id: str) -> Any:
    """The model answer as a learner would pass it to :func:`check`.

    A literal for a value exercise; for a coding exercise, the model function, defined from
    its source (so the source the answer key prints is the code that is checked)."""
    text = _get(exercise_id).answer
    if text is None:
        raise ValueError(f"exercise {exercise_id!r} has no model answer")
    name = code_name(text)
    if name is None:
        return ast.literal_eval(text)
    scope: dict[str, Any] = {}
    exec(compile(text, f"<model answer of {exercise_id}>", "exec"), scope)  # noqa: S102
    return scope[name]


def code_name(answer: str | None) -> str | None:
    """The function a coding exercise's model answer defines, or None for a value answer."""
    found = re.match(r"(?:(?:from|import) .*\n|\s*\n)*def ([A-Za-z_]\w*)\(", answer or "")
    return found.group(1) if found else None


HIDDEN = "The answer is hidden: open “Show the answer” to see it."
"""The plain-text form of a :class:`Solution`: what a front end without HTML shows, and
what JupyterLab previews on the first line of a folded output. It never holds the answer."""


class Solution(str):
    """A worked solution, shown folded: an HTML ``<details>`` block the learner opens.

    Why not print it: a printed answer is on screen as soon as Run All reaches the cell
    (JupyterLab previews even a collapsed output's first line). ``<details>`` stays closed
    in JupyterLab, Notebook 7, VS Code, Voilà and a static HTML export until its summary is
    clicked; the ``text/plain`` fallback is :data:`HIDDEN`. ``str()`` of it (or ``print``)
    is the solution text itself, for a terminal.
    """

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/plain": HIDDEN, "text/html": details_html(str(self))}

    def __repr__(self) -> str:
        return HIDDEN


def details_html(text: str, summary: str = "Show the answer") -> str:
    """``text`` inside a closed ``<details>`` block whose summary is ``summary``.

    Why ``<pre>``-like wrapping: solutions are a few lines of arithmetic whose layout
    (columns, arrows) matters; ``white-space: pre-wrap`` keeps it and still wraps."""
    return (
        '<details class="armbp-solution"><summary>'
        f"{html.escape(summary)}</summary>"
        f'<div style="white-space: pre-wrap; font-family: monospace">{html.escape(text)}'
        "</div></details>"
    )


def solution(exercise_id: str) -> Solution:
    """The worked solution of an exercise, displayed folded (for a "reveal" cell).

    Nothing is printed: the answer appears only when the learner opens the block."""
    return Solution(_get(exercise_id).solution)


def check(exercise_id: str, answer: Any) -> Result:
    """Check ``answer``, print one line saying how it went, and return the :class:`Result`."""
    entry = _get(exercise_id)
    if answer is Ellipsis:
        result = Result(exercise_id, "unanswered", UNANSWERED)
    else:
        try:
            verdict = entry.check(answer)
        except Exception as exc:  # a checker bug must not fail the learner's cell  # noqa: BLE001
            verdict = (
                False,
                f"this answer could not be checked ({type(exc).__name__}: {exc}).",
            )
        ok, detail = verdict if isinstance(verdict, tuple) else (bool(verdict), "")
        if not ok and not detail:
            detail = entry.wrong.get(as_int(answer), "")  # type: ignore[arg-type]
        if ok:
            result = Result(exercise_id, "correct", f"✓ Correct: {detail or entry.solution}")
        else:
            text = f"{detail} {entry.hint}" if detail else entry.hint
            result = Result(exercise_id, "wrong", f"✗ Not quite: {text}")
    print(result.message)
    if result.status != "unanswered":
        from . import results

        if results.enabled():  # in a notebook, unless ARMBP_NO_RESULTS is set
            results.record(exercise_id, _lesson_of(exercise_id), result.status)
    return result


def _lesson_of(exercise_id: str) -> int:
    """The number of the lesson that declares ``exercise_id`` (-1 for one registered
    elsewhere, as a test does)."""
    for number, lesson in enumerate(LESSONS):
        if any(entry.id == exercise_id for entry in lesson.EXERCISES):
            return number
    return -1


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
            return False, (
                f"expected a number (an int such as 0x1f or 31, or a string such "
                f"as '0x1f'), got {answer!r}."
            )
        if value == expected:
            return True, why
        if (
            isinstance(answer, (int, str))
            and not isinstance(answer, bool)
            and str(answer).strip().isdigit()
            and int(str(answer).strip(), 16) == expected
        ):
            return False, f"{str(answer).strip()} is read as decimal; did you mean 0x{answer}?"
        return False, ""

    return checker


Trial = Callable[[Callable[..., Any]], "str | None"]
"""One case of a coding exercise: run the learner's function, return what went wrong (or None)."""


def expect_function(cases: list[tuple[str, Trial]], why: str) -> Checker:
    """A checker that runs the learner's function through ``cases`` against the model.

    Each case is ``(what it tries, trial)``; a trial calls the function and compares what
    it did with what armbp's own code does, returning a sentence saying what differs. The
    first failing case is reported by number and name; an exception the learner's code
    raises is reported as one line (its type and message), never as a traceback.
    """

    def checker(answer: Any) -> Verdict:
        if not callable(answer):
            return False, (
                f"expected your function (define it above, then answer = its name), "
                f"got {answer!r}."
            )
        for n, (what, trial) in enumerate(cases, 1):
            try:
                problem = trial(answer)
            except Exception as exc:  # the learner's code failed: say how, in one line  # noqa: BLE001
                problem = f"your function raised {type(exc).__name__}: {exc}"
            if problem:
                return False, f"case {n} of {len(cases)} ({what}): {problem.rstrip('.')}."
        return True, why

    return checker


def shown(value: Any) -> str:
    """``value`` as a trial reports it: a number in hex (the lessons' notation), else repr."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:#x}"
    return repr(value)


def memory_order(word: int) -> int:
    """The 4 bytes of ``word`` as memory holds them (little-endian), read as one number.

    Why: reading a hex dump left to right gives this number, the most common wrong answer
    to "which word is this?" (``0xd4201320`` is stored ``20 13 20 d4``: ``0x201320d4``).
    """
    return int.from_bytes((word & 0xFFFF_FFFF).to_bytes(4, "little"), "big")


def as_packet(answer: Any) -> str | None:
    """A packet as the learner typed it, or None when it is not text.

    Quotes, spaces and a ``$…#cc`` frame are stripped: ``"$m400120,4#f4"`` and
    ``"'m400120,4'"`` both read as ``m400120,4``.
    """
    if not isinstance(answer, str):
        return None
    text = answer.strip().strip("'\"").replace(" ", "")
    framed = re.fullmatch(r"\$(.*)#[0-9a-fA-F]{2}", text)
    return framed.group(1) if framed else text


# --- the lessons' content: importing each registers its exercises, in lesson order ----------

from . import lesson0, lesson1, lesson2, lesson3, lesson4, lesson5, lesson6, lesson7, lesson8

LESSONS: tuple[ModuleType, ...] = (
    lesson0,
    lesson1,
    lesson2,
    lesson3,
    lesson4,
    lesson5,
    lesson6,
    lesson7,
    lesson8,
)
