"""The error the assembler raises and the warning it gives, each pointing at a line and column."""

from __future__ import annotations


class _Located:
    """The parts of a message about one source position, kept as attributes."""

    detail: str
    line: int
    column: int
    text: str
    name: str

    def _locate(self, detail: str, line: int, column: int, text: str, name: str) -> str:
        """Keep the parts; return ``line 3, col 14: <detail>``, the line and a caret."""
        self.detail = detail
        self.line = line
        self.column = max(1, column)
        self.text = text
        self.name = name
        where = f"line {line}, col {self.column}"
        if name and name != "<asm>":
            where = f"{name}: {where}"
        # keep tabs so that the caret lines up under the offending column
        pad = "".join("\t" if ch == "\t" else " " for ch in text[: self.column - 1])
        return f"{where}: {detail}\n    {text}\n    {pad}^"


class AsmError(_Located, ValueError):
    """An assembly error.

    The message reads ``line 3, col 14: <what is wrong>: expected <what would be right>``,
    followed by the source line and a caret under the column. The pieces are attributes:
    ``line`` and ``column`` (both 1-based), ``text`` (the source line as written), ``detail``
    (the message without the location) and ``name`` (the source name given to ``assemble``).
    """

    def __init__(self, detail: str, line: int, column: int, text: str, name: str = "<asm>"):
        super().__init__(self._locate(detail, line, column, text, name))


class AsmWarning(_Located, UserWarning):
    """A line that assembles but whose effect the Arm ARM calls UNPREDICTABLE.

    GNU as warns about the same lines (``ldr x0, [x0], #8``, ``ldp x1, x1, [x2]``,
    ``stxr w0, x0, [x1]``): the CPU may do any of several things, so a program should not
    rely on one. ``assemble`` issues it through Python's ``warnings`` module once the whole
    program is assembled (``warnings.simplefilter("error", AsmWarning)`` makes it an
    error); it has the same attributes and message layout as ``AsmError``.
    """

    def __init__(self, detail: str, line: int, column: int, text: str, name: str = "<asm>"):
        super().__init__(self._locate(detail, line, column, text, name))


class _Fail(Exception):
    """Raised inside the assembler with a column; turned into an AsmError with the line."""

    def __init__(self, detail: str, column: int):
        super().__init__(detail)
        self.detail = detail
        self.column = column
