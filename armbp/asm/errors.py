"""The one error the assembler raises, pointing at the line and column that caused it."""
from __future__ import annotations


class AsmError(ValueError):
    """An assembly error.

    The message reads ``line 3, col 14: <what is wrong>: expected <what would be right>``,
    followed by the source line and a caret under the column. The pieces are attributes:
    ``line`` and ``column`` (both 1-based), ``text`` (the source line as written), ``detail``
    (the message without the location) and ``name`` (the source name given to ``assemble``).
    """

    def __init__(self, detail: str, line: int, column: int, text: str, name: str = "<asm>"):
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
        super().__init__(f"{where}: {detail}\n    {text}\n    {pad}^")


class _Fail(Exception):
    """Raised inside the assembler with a column; turned into an AsmError with the line."""

    def __init__(self, detail: str, column: int):
        super().__init__(detail)
        self.detail = detail
        self.column = column
