"""Lines to tokens, and the small integer expressions the assembler accepts.

Comments: ``//`` and ``;`` to the end of the line, ``/* ... */`` (may span lines), and a line
whose first non-blank character is ``#``. Numbers follow GNU as: ``0x1f``, ``0b101``, ``017``
(octal, leading zero), ``42`` and character constants ``'a'``. Expressions use GNU as
precedence: unary ``- ~ +`` bind tightest, then ``* / % << >>``, then ``& | ^``, then ``+ -``.

Limits, each an ``AsmError`` naming it: parentheses nest at most ``MAX_NESTING`` deep, and
every number (as written, and every value an expression computes on the way) has at most
``MAX_BITS`` bits. GNU as computes in 64 bits; the spare bits let a mistake such as
``1 << 64`` reach the operand that cannot hold it and be reported there.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .errors import _Fail

MAX_NESTING = 64  # levels of parentheses in one expression
MAX_BITS = 128  # magnitude of any number or intermediate value: below 2**128
_MAX_DIGITS = MAX_BITS + 2  # the longest number worth reading: 0b and 128 binary digits


@dataclass(frozen=True)
class Token:
    kind: str  # "id", "num", "str", "op"
    text: str  # as written
    value: object  # int for "num", bytes for "str" (decoded), the text otherwise
    col: int  # 1-based column in the source line


_NUM = re.compile(r"0[xX][0-9a-fA-F]+|0[bB][01]+|[0-9]+")
_LOCAL_REF = re.compile(r"[0-9]+[bf](?![A-Za-z0-9_.$])")
_ID = re.compile(r"[A-Za-z_.$][A-Za-z0-9_.$]*")
_OPS2 = ("<<", ">>")
_OPS1 = set("[]{},#!=:+-*/%()~&|^")
_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "0": "\0",
    "\\": "\\",
    '"': '"',
    "'": "'",
    "b": "\b",
    "f": "\f",
    "a": "\a",
    "v": "\v",
    "e": "\x1b",
}


def _number(text: str, col: int) -> int:
    t = text
    if len(t) > _MAX_DIGITS:
        raise _Fail(
            f"number {t[:12]}... is {len(t)} characters long: expected at most "
            f"{_MAX_DIGITS} (numbers have at most {MAX_BITS} bits)",
            col,
        )
    low = t.lower()
    if low.startswith(("0x", "0b")):
        v = int(low, 0)
    elif len(t) > 1 and t[0] == "0":
        if not set(t) <= set("01234567"):
            raise _Fail(
                f"bad number {text!r}: a leading 0 means octal (as in GNU as), "
                f"expected digits 0-7 or no leading zero",
                col,
            )
        v = int(t, 8)
    else:
        v = int(t, 10)
    return _bounded(v, col, f"number {t}")


def _bounded(v: int, col: int, what: str) -> int:
    """``v``, if it has at most MAX_BITS bits; else the error that says so."""
    if v >> MAX_BITS and v >> MAX_BITS != -1:
        raise _Fail(
            f"{what} is too large ({v.bit_length()} bits): expected a value below "
            f"2**{MAX_BITS} in magnitude",
            col,
        )
    return v


def _string(line: str, i: int) -> tuple[bytes, int]:
    """Decode the string literal starting at ``line[i] == '"'``: (its bytes, end index).

    Characters are UTF-8 (as GNU as copies the source bytes); escapes give single bytes.
    """
    out = bytearray()
    j = i + 1
    while j < len(line):
        ch = line[j]
        if ch == '"':
            return bytes(out), j + 1
        if ch == "\\" and j + 1 < len(line):
            nxt = line[j + 1]
            if nxt in "01234567":
                m = re.match(r"[0-7]{1,3}", line[j + 1 :])
                assert m is not None  # nxt is an octal digit
                out.append(int(m.group(0), 8) & 0xFF)
                j += 1 + len(m.group(0))
                continue
            if nxt in "xX":
                m = re.match(r"[0-9a-fA-F]{1,2}", line[j + 2 :])
                if m:
                    out.append(int(m.group(0), 16))
                    j += 2 + len(m.group(0))
                    continue
            out += _ESCAPES.get(nxt, nxt).encode("utf-8")
            j += 2
            continue
        out += ch.encode("utf-8")
        j += 1
    raise _Fail("unterminated string: expected a closing '\"'", i + 1)


def tokenize(line: str, in_comment: int = 0) -> tuple[list[Token], int]:
    """The tokens of one source line, and whether a ``/*`` comment is still open at its end.

    The second value is 0 when no comment is open; else the column of the ``/*`` that
    opened it on this line, or ``in_comment`` itself when it was open before the line (so
    that a caller can point at the ``/*`` that is never closed).
    """
    toks: list[Token] = []
    i, n = 0, len(line)
    if not in_comment and line.lstrip().startswith("#"):
        return toks, 0
    while i < n:
        if in_comment:
            end = line.find("*/", i)
            if end < 0:
                return toks, in_comment
            i, in_comment = end + 2, 0
            continue
        ch = line[i]
        if ch in " \t\r\f\v":
            i += 1
            continue
        if line.startswith("//", i) or ch == ";":
            break
        if line.startswith("/*", i):
            in_comment = i + 1
            i += 2
            continue
        col = i + 1
        if ch == '"':
            value, j = _string(line, i)
            toks.append(Token("str", line[i:j], value, col))
            i = j
            continue
        if ch == "'":
            # 'a' or GNU-style 'a (no closing quote); '\n' escapes too
            if i + 1 >= n:
                raise _Fail("character constant needs a character: expected 'c'", col)
            if line[i + 1] == "\\" and i + 2 < n:
                c = _ESCAPES.get(line[i + 2], line[i + 2])
                j = i + 3
            else:
                c = line[i + 1]
                j = i + 2
            if j < n and line[j] == "'":
                j += 1
            toks.append(Token("num", line[i:j], ord(c), col))
            i = j
            continue
        if ch.isdigit():
            m = _LOCAL_REF.match(line, i)
            if m:  # "1b" / "1f": the nearest numeric label "1:" backwards / forwards
                toks.append(Token("id", m.group(0), m.group(0), col))
                i = m.end()
                continue
            m = _NUM.match(line, i)
            assert m is not None  # the caller saw a digit at i
            j = m.end()
            if j < n and (line[j].isalnum() or line[j] in "_$"):
                bad = line[i:j] + re.findall(r"[A-Za-z0-9_.$]*", line[j:])[0]
                raise _Fail(
                    f"bad number {bad!r}: expected a decimal, 0x hex, 0b binary or "
                    f"0-prefixed octal number",
                    col,
                )
            toks.append(Token("num", m.group(0), _number(m.group(0), col), col))
            i = j
            continue
        m = _ID.match(line, i)
        if m:
            toks.append(Token("id", m.group(0), m.group(0), col))
            i = m.end()
            continue
        two = line[i : i + 2]
        if two in _OPS2:
            toks.append(Token("op", two, two, col))
            i += 2
            continue
        if ch in _OPS1:
            toks.append(Token("op", ch, ch, col))
            i += 1
            continue
        raise _Fail(
            f"unexpected character {ch!r}: expected an instruction, a directive, "
            f"a label or a comment",
            col,
        )
    return toks, in_comment


# --------------------------------------------------------------------------- expressions


class Expr:
    """A parsed integer expression; ``evaluate(lookup, dot)`` gives its value.

    ``name`` is set when the expression is a single identifier (a label, a system register
    name, a barrier option...), so that instructions can read it as a word.
    """

    __slots__ = ("col", "name", "node", "text")

    def __init__(self, node: tuple, col: int, text: str):
        self.node = node
        self.col = col
        self.text = text
        self.name = node[1] if node[0] == "s" else None

    def symbols(self) -> set[str]:
        return {n[1] for n in _nodes(self.node) if n[0] == "s"}

    @property
    def is_constant(self) -> bool:
        return not any(n[0] in "s." for n in _nodes(self.node))

    def evaluate(self, lookup: Callable[[str, int], int], dot: int = 0) -> int:
        return _eval(self.node, lookup, dot)

    def __repr__(self) -> str:
        return f"Expr({self.text!r})"


# Nodes: ("n", value), ("s", name, col), (".", col), ("u", op, operand, col),
# ("b", op, left, right, col). A 1,000-term sum is a tree 1,000 deep, so the walks below
# keep their own stack instead of recursing.


def _nodes(node: tuple) -> list[tuple]:
    """Every node of the tree under ``node``."""
    out, todo = [], [node]
    while todo:
        n = todo.pop()
        out.append(n)
        if n[0] == "u":
            todo.append(n[2])
        elif n[0] == "b":
            todo += (n[2], n[3])
    return out


def _eval(node: tuple, lookup: Callable[[str, int], int], dot: int) -> int:
    """The value of the tree, operands before operators (post-order), left to right."""
    values: list[int] = []
    todo: list[tuple[tuple, bool]] = [(node, False)]
    while todo:
        n, operands_done = todo.pop()
        kind = n[0]
        if kind == "n":
            values.append(n[1])
        elif kind == "s":
            values.append(lookup(n[1], n[2]))
        elif kind == ".":
            values.append(dot)
        elif not operands_done:
            todo.append((n, True))
            todo += [(n[3], False), (n[2], False)] if kind == "b" else [(n[2], False)]
        elif kind == "u":
            v = values.pop()
            values.append(_bounded({"-": -v, "+": v, "~": ~v}[n[1]], n[3], "value"))
        else:
            b = values.pop()
            a = values.pop()
            values.append(_bounded(_binary(n[1], a, b, n[4]), n[4], f"value of {n[1]!r}"))
    return values[0]


def _binary(op: str, a: int, b: int, col: int) -> int:
    if op in "/%" and b == 0:
        raise _Fail("division by zero in expression: expected a non-zero divisor", col)
    if op in ("<<", ">>") and not 0 <= b < MAX_BITS:
        raise _Fail(f"shift by {b} in expression: expected 0..{MAX_BITS - 1}", col)
    if op == "/":  # C-like truncation toward zero, as GNU as
        q = abs(a) // abs(b)
        return q if (a >= 0) == (b >= 0) else -q
    if op == "%":
        r = abs(a) % abs(b)
        return r if a >= 0 else -r
    return {
        "+": a + b,
        "-": a - b,
        "*": a * b,
        "<<": a << b,
        ">>": a >> b,
        "&": a & b,
        "|": a | b,
        "^": a ^ b,
    }[op]


_LEVELS = (("+", "-"), ("&", "|", "^"), ("*", "/", "%", "<<", ">>"))


class ExprParser:
    """Recursive descent over a token list; ``parse()`` consumes one expression."""

    def __init__(self, toks: list[Token], line: str, pos: int = 0):
        self.toks = toks
        self.line = line
        self.pos = pos
        self.depth = 0  # parentheses open at this point

    def peek(self) -> Token | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def parse(self) -> Expr:
        start = self.peek()
        if start is None:
            raise _Fail(
                "missing expression: expected a number, a label or an expression",
                len(self.line.rstrip()) + 1,
            )
        node = self._level(0)
        last = self.toks[self.pos - 1]
        text = self.line[start.col - 1 : last.col - 1 + len(last.text)]
        return Expr(node, start.col, text)

    def _level(self, level: int) -> tuple:
        if level == len(_LEVELS):
            return self._unary()
        node = self._level(level + 1)
        while True:
            t = self.peek()
            if t is None or t.kind != "op" or t.text not in _LEVELS[level]:
                return node
            self.pos += 1
            rhs = self._level(level + 1)
            node = ("b", t.text, node, rhs, t.col)

    def _unary(self) -> tuple:
        t = self.peek()
        if t is None:
            raise _Fail(
                "expression ends early: expected a number, a label or '('",
                len(self.line.rstrip()) + 1,
            )
        self.pos += 1
        if t.kind == "num":
            return ("n", t.value)
        if t.kind == "id":
            if t.text == ".":
                return (".", t.col)
            return ("s", t.value, t.col)
        if t.kind == "op" and t.text in "-~+":
            ops = [t]  # a run of signs, read without recursing: - - - ~1
            while (p := self.peek()) is not None and p.kind == "op" and p.text in "-~+":
                ops.append(p)
                self.pos += 1
            node = self._unary()
            for op in reversed(ops):
                node = ("u", op.text, node, op.col)
            return node
        if t.kind == "op" and t.text == "(":
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise _Fail(
                    f"parentheses nested more than {MAX_NESTING} deep: expected at "
                    f"most {MAX_NESTING} levels",
                    t.col,
                )
            node = self._level(0)
            self.depth -= 1
            close = self.peek()
            if close is None or close.text != ")":
                col = close.col if close else len(self.line.rstrip()) + 1
                raise _Fail("unbalanced parenthesis: expected ')'", col)
            self.pos += 1
            return node
        raise _Fail(
            f"unexpected {t.text!r} in expression: expected a number, a label or '('", t.col
        )
