"""Operands of one statement: registers, immediates, shifts, memory references, literals."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import _Fail
from .lexer import Expr, ExprParser, Token

SHIFTS = {"lsl": 0, "lsr": 1, "asr": 2, "ror": 3}
EXTENDS = {
    "uxtb": 0,
    "uxth": 1,
    "uxtw": 2,
    "uxtx": 3,
    "sxtb": 4,
    "sxth": 5,
    "sxtw": 6,
    "sxtx": 7,
}

_REG = re.compile(r"([xw])([0-9]|[12][0-9]|30)")
_ALIASES = {
    "xzr": (31, 64, False),
    "wzr": (31, 32, False),
    "sp": (31, 64, True),
    "wsp": (31, 32, True),
    "lr": (30, 64, False),
    "fp": (29, 64, False),
    "ip0": (16, 64, False),
    "ip1": (17, 64, False),
}


def register(name: str) -> tuple[int, int, bool] | None:
    """(number, size in bits, is SP) for a general-purpose register name, else None."""
    low = name.lower()
    if low in _ALIASES:
        return _ALIASES[low]
    m = _REG.fullmatch(low)
    if m:
        return int(m.group(2)), 64 if m.group(1) == "x" else 32, False
    return None


@dataclass
class Operand:
    col: int
    text: str


@dataclass
class Reg(Operand):
    num: int
    size: int  # 64 or 32
    sp: bool  # sp/wsp (number 31 meaning the stack pointer, not the zero register)

    @property
    def sf(self) -> int:
        return 1 if self.size == 64 else 0


@dataclass
class Imm(Operand):
    expr: Expr
    hashed: bool  # written with '#'
    reloc: str | None = None  # "lo12" for #:lo12:sym

    @property
    def name(self) -> str | None:
        return None if self.hashed or self.reloc else self.expr.name


@dataclass
class Shift(Operand):
    kind: str  # lsl/lsr/asr/ror or an extend uxtb..sxtx
    amount: Expr | None
    amount_col: int


@dataclass
class Mem(Operand):
    base: Reg
    offset: Imm | None = None
    index: Reg | None = None
    ext: Shift | None = None
    writeback: bool = False  # "[...]!"


@dataclass
class Lit(Operand):
    expr: Expr  # "=expr"


def _span(line: str, toks: list[Token]) -> str:
    first, last = toks[0], toks[-1]
    return line[first.col - 1 : last.col - 1 + len(last.text)]


def split_commas(toks: list[Token], line: str) -> list[list[Token]]:
    """Top-level comma-separated pieces (commas inside [] and {} stay)."""
    parts: list[list[Token]] = [[]]
    depth = 0
    for t in toks:
        if t.kind == "op" and t.text in "[{":
            depth += 1
        elif t.kind == "op" and t.text in "]}":
            depth -= 1
        if t.kind == "op" and t.text == "," and depth == 0:
            if not parts[-1]:
                raise _Fail("empty operand: expected an operand before ','", t.col)
            parts.append([])
            continue
        parts[-1].append(t)
    if not parts[-1]:
        if len(parts) == 1:
            return []
        end = toks[-1]
        raise _Fail("operand missing after ',': expected an operand", end.col + 1)
    return parts


def _expr(toks: list[Token], line: str, what: str = "expression") -> Expr:
    p = ExprParser(toks, line)
    e = p.parse()
    if p.pos != len(toks):
        t = toks[p.pos]
        raise _Fail(
            f"unexpected {t.text!r} after {what} {e.text!r}: expected ',' or the "
            f"end of the line",
            t.col,
        )
    return e


def _imm(toks: list[Token], line: str) -> Imm:
    text = _span(line, toks)
    col = toks[0].col
    hashed = toks[0].kind == "op" and toks[0].text == "#"
    rest = toks[1:] if hashed else toks
    if not rest:
        raise _Fail("'#' without a value: expected a number or an expression after it", col)
    reloc = None
    if rest[0].kind == "op" and rest[0].text == ":":
        if len(rest) < 3 or rest[1].kind != "id" or rest[2].text != ":":
            raise _Fail(f"bad relocation {text!r}: expected ':lo12:symbol'", rest[0].col)
        reloc = rest[1].text.lower()
        if reloc != "lo12":
            raise _Fail(
                f"unsupported relocation ':{rest[1].text}:': expected ':lo12:'", rest[1].col
            )
        rest = rest[3:]
        if not rest:
            raise _Fail("':lo12:' without a symbol: expected ':lo12:label'", col)
    return Imm(col, text, _expr(rest, line), hashed, reloc)


def _shift(toks: list[Token], line: str) -> Shift:
    kind = toks[0].text.lower()
    text = _span(line, toks)
    rest = toks[1:]
    amount = None
    amount_col = toks[0].col
    if rest:
        amount_col = rest[0].col
        if rest[0].kind == "op" and rest[0].text == "#":
            rest = rest[1:]
            if not rest:
                raise _Fail(
                    f"'#' without a value after {kind}: expected a shift amount", amount_col
                )
        amount = _expr(rest, line, "shift amount")
    return Shift(toks[0].col, text, kind, amount, amount_col)


def _reg(tok: Token) -> Reg | None:
    if tok.kind != "id":
        return None
    r = register(tok.text)
    return None if r is None else Reg(tok.col, tok.text, *r)


def _mem(toks: list[Token], line: str) -> Mem:
    text = _span(line, toks)
    close = None
    for i, t in enumerate(toks):
        if t.kind == "op" and t.text == "]":
            close = i
            break
    if close is None:
        raise _Fail(
            f"memory operand {text!r} is not closed: expected ']'",
            toks[-1].col + len(toks[-1].text),
        )
    after = toks[close + 1 :]
    writeback = False
    if after:
        if after[0].text == "!" and len(after) == 1:
            writeback = True
        else:
            raise _Fail(
                f"unexpected {after[0].text!r} after ']': expected '!', ',' or the "
                f"end of the line",
                after[0].col,
            )
    inner = toks[1:close]
    if not inner:
        raise _Fail("empty memory operand: expected a base register like [x0]", toks[0].col)
    parts = split_commas(inner, line)
    base = _reg(parts[0][0]) if len(parts[0]) == 1 else None
    if base is None or base.size != 64:
        raise _Fail(
            f"bad base register {_span(line, parts[0])!r}: expected a 64-bit register "
            f"x0-x30 or sp",
            parts[0][0].col,
        )
    mem = Mem(toks[0].col, text, base, writeback=writeback)
    if len(parts) > 3:
        raise _Fail(
            f"too many parts in {text!r}: expected [base{{, offset{{, extend}}}}]",
            parts[3][0].col,
        )
    if len(parts) >= 2:
        idx = _reg(parts[1][0]) if len(parts[1]) == 1 else None
        if idx is not None:
            mem.index = idx
        else:
            mem.offset = _imm(parts[1], line)
    if len(parts) == 3:
        first = parts[2][0]
        kind = first.text.lower()
        if mem.index is None or first.kind != "id" or kind not in ("lsl", *EXTENDS):
            raise _Fail(
                f"unexpected {_span(line, parts[2])!r}: expected an extend (lsl, uxtw, "
                f"sxtw, sxtx) after an index register",
                first.col,
            )
        mem.ext = _shift(parts[2], line)
    return mem


def parse_operand(toks: list[Token], line: str) -> Operand:
    first = toks[0]
    text = _span(line, toks)
    if first.kind == "op" and first.text == "[":
        return _mem(toks, line)
    if first.kind == "op" and first.text == "=":
        if len(toks) == 1:
            raise _Fail("'=' without a value: expected '=constant' or '=label'", first.col)
        return Lit(first.col, text, _expr(toks[1:], line))
    if first.kind == "id":
        low = first.text.lower()
        if len(toks) == 1:
            r = _reg(first)
            if r is not None:
                return r
        if (low in SHIFTS or low in EXTENDS) and (
            len(toks) == 1 or toks[1].text == "#" or toks[1].kind == "num"
        ):
            return _shift(toks, line)
    if first.kind == "op" and first.text == "{":
        raise _Fail(
            f"register lists {text!r} are not supported: expected a scalar operand", first.col
        )
    if first.kind == "str":
        raise _Fail(
            f"unexpected string {first.text}: expected a register, an immediate or a label",
            first.col,
        )
    return _imm(toks, line)


def parse_operands(toks: list[Token], line: str) -> list[Operand]:
    return [parse_operand(part, line) for part in split_commas(toks, line)]
