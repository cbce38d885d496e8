"""The two-pass driver: lines to statements, addresses to labels, statements to bytes.

Pass 1 reads every line, defines labels at their addresses and lays out the image (every
instruction is 4 bytes, every directive's size is known). Pass 2 evaluates operands with
all labels known, so forward references work, and encodes.

The image is at most ``MAX_IMAGE`` bytes (64 MiB, far more than a lesson's guest needs) and
ends by the top of the 64-bit address space; a directive that would pass either (``.balign
1 << 32``, a ``.fill`` too many) is an error on its line before any byte is made. Expression
limits are in ``lexer``.
"""

from __future__ import annotations

import difflib
import re
import warnings
from dataclasses import dataclass, field, replace

from ..encodings import NOP, to_bytes
from ..program import Program, Segment, SourceLine
from .errors import AsmError, AsmWarning, _Fail
from .instructions import HANDLERS, Ctx
from .lexer import Expr, ExprParser, Token, tokenize
from .operands import EXTENDS, SHIFTS, Lit, Operand, parse_operands, register, split_commas

MAX_IMAGE = 64 << 20  # bytes in one assembled image

_IGNORED = {
    ".text",
    ".data",
    ".bss",
    ".section",
    ".global",
    ".globl",
    ".type",
    ".size",
    ".file",
    ".ident",
    ".arch",
    ".cpu",
    ".local",
    ".weak",
    ".hidden",
    ".func",
    ".endfunc",
    ".loc",
    ".previous",
    ".pushsection",
    ".popsection",
    ".fpu",
}
_DATA = {
    ".byte": 1,
    ".hword": 2,
    ".short": 2,
    ".2byte": 2,
    ".word": 4,
    ".long": 4,
    ".int": 4,
    ".4byte": 4,
    ".quad": 8,
    ".xword": 8,
    ".dword": 8,
    ".8byte": 8,
}
_OTHER_REG = re.compile(r"[xw]3[1-9]|[xw][4-9][0-9]|[qvdshb][0-9]+|v[0-9]+\.\w+")
_NOP = to_bytes(NOP)
_DIRECTIVES = sorted(
    _IGNORED
    | set(_DATA)
    | {
        ".ascii",
        ".asciz",
        ".string",
        ".skip",
        ".space",
        ".zero",
        ".fill",
        ".balign",
        ".align",
        ".p2align",
        ".equ",
        ".set",
        ".ltorg",
        ".pool",
        ".inst",
        ".end",
    }
)


@dataclass
class _PoolEntry:
    expr: Expr
    size: int  # 4 or 8
    addr: int = -1


@dataclass
class _Item:
    """Something that puts bytes in the image, encoded in pass 2."""

    addr: int
    lineno: int
    kind: str  # "insn", "data", "inst", "bytes", "pool"
    mnemonic: str = ""
    mn_col: int = 0
    ops: list[Operand] = field(default_factory=list)
    values: list[Expr] = field(default_factory=list)
    size: int = 0
    data: bytes = b""
    pool: _PoolEntry | None = None
    end_col: int = 0


class _Assembler:
    def __init__(self, source: str, base: int, name: str):
        if not isinstance(source, str):
            raise TypeError(
                f"assemble() expects the source text as a str, got {type(source).__name__}"
            )
        if (
            isinstance(base, bool)
            or not isinstance(base, int)
            or not 0 <= base < 1 << 64
            or base % 4
        ):
            raise ValueError(
                f"base {base!r} is not a valid load address: expected a "
                f"non-negative multiple of 4 below 2**64"
            )
        self.base = base
        self.name = name
        self.lines = source.splitlines()
        self.labels: dict[str, int] = {}
        self.label_line: dict[str, int] = {}
        self.consts: dict[str, int | tuple[Expr, int, int]] = {}
        self.items: list[_Item] = []
        self.addr = base
        self.pool: dict[tuple, _PoolEntry] = {}
        self.local_count: dict[str, int] = {}
        self.source_lines: dict[int, SourceLine] = {}
        self.warnings: list[AsmWarning] = []

    # ------------------------------------------------------------------ errors
    def error(self, fail: _Fail, lineno: int) -> AsmError:
        text = self.lines[lineno - 1] if 0 < lineno <= len(self.lines) else ""
        return AsmError(fail.detail, lineno, fail.column, text, self.name)

    def lookup(self, name: str, col: int) -> int:
        if name in self.labels:
            return self.labels[name]
        if name in self.consts:
            value = self.consts[name]
            if isinstance(value, int):
                return value
            return self.deferred(name, value, col)
        if "\x02" in name:
            num = name.split("\x02")[0]
            raise _Fail(
                f"undefined local label '{num}f': expected a later '{num}:' label", col
            )
        if register(name) is not None:
            raise _Fail(
                f"register {name} cannot be used in an expression here: expected a "
                f"number or a label",
                col,
            )
        if _OTHER_REG.fullmatch(name.lower()):
            raise _Fail(
                f"{name!r} is not a general-purpose register: expected x0-x30, "
                f"w0-w30, sp, wsp, xzr or wzr (SIMD and FP registers are not "
                f"supported)",
                col,
            )
        known = [n for n in (*self.labels, *self.consts) if "\x02" not in n]
        near = difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise _Fail(
            f"undefined label {name!r}: expected a label or .equ constant defined "
            f"in this program{hint}",
            col,
        )

    def deferred(self, name: str, value: tuple, col: int) -> int:
        """The value of a constant defined with a label that came later (``.equ`` may look
        forward, as in GNU as).

        A constant may wait for another that waits for a third...: the chain is followed
        with a list, not by recursion, so that its length has no limit but memory.
        """
        chain = [name]  # each constant waits for the value of the next
        in_chain = {name}
        while chain:
            expr, dot, lineno = self.consts[chain[-1]]  # type: ignore[misc]
            waits = [
                s
                for s in sorted(expr.symbols())
                if s not in self.labels and isinstance(self.consts.get(s), tuple)
            ]
            if waits:
                if waits[0] in in_chain:
                    loop = " -> ".join(chain[chain.index(waits[0]) :] + [waits[0]])
                    raise _Fail(
                        f"constant {waits[0]!r} is defined in terms of itself ({loop}): "
                        f"expected a value that does not depend on {waits[0]!r}",
                        col,
                    )
                chain.append(waits[0])
                in_chain.add(waits[0])
                continue
            try:
                self.consts[chain[-1]] = expr.evaluate(self.lookup, dot)
            except _Fail as e:
                raise _Fail(
                    f"in the value of {chain[-1]!r} (line {lineno}): {e.detail}", col
                ) from None
            in_chain.discard(chain.pop())
        return self.consts[name]  # type: ignore[return-value]

    def lookup_now(self, name: str, col: int) -> int:
        """Pass-1 lookup: only what is defined above may be used."""
        try:
            return self.lookup(name, col)
        except _Fail as e:
            if "undefined" in e.detail:
                raise _Fail(
                    f"{name!r} must be known here: expected a constant or a label "
                    f"defined above this line",
                    col,
                ) from None
            raise

    # ------------------------------------------------------------------ pass 1
    def run(self) -> Program:
        in_comment = opened = 0  # the column and line of a /* not yet closed
        for lineno, line in enumerate(self.lines, 1):
            try:
                was_open = in_comment
                toks, in_comment = tokenize(line, in_comment)
                if in_comment and not was_open:
                    opened = lineno
                if toks and self.statement(toks, line, lineno):
                    break
            except _Fail as e:
                raise self.error(e, lineno) from None
        else:
            if in_comment:
                raise self.error(
                    _Fail(
                        "unterminated comment: expected a '*/' to close this "
                        "'/*' before the end of the source",
                        in_comment,
                    ),
                    opened,
                )
        self.flush_pool(len(self.lines))
        image = bytearray(self.addr - self.base)
        for item in self.items:
            try:
                data = self.encode(item)
            except _Fail as e:
                raise self.error(e, item.lineno) from None
            off = item.addr - self.base
            image[off : off + len(data)] = data
        symbols = {k: v for k, v in self.labels.items() if "\x02" not in k}
        code = bytes(image)
        for w in self.warnings:  # only for a program that assembled: errors come first
            warnings.warn(w, stacklevel=3)  # at the line that called assemble()
        return Program(
            code=code,
            base=self.base,
            symbols=symbols,
            lines=self.source_lines,
            segments=(Segment(self.base, code, len(code), "rwx"),),
            name=self.name,
        )

    def define(
        self, name: str, value: int | tuple, tok: Token, lineno: int, *, const: bool
    ) -> None:
        if register(name) is not None:
            raise _Fail(
                f"{name!r} is a register name: expected another name for a label", tok.col
            )
        if name.lower() in SHIFTS or name.lower() in EXTENDS:
            raise _Fail(
                f"{name!r} is the name of a shift or an extend (an operand {name} reads "
                f"as one): expected another name for a label",
                tok.col,
            )
        if name in self.labels or name in self.consts:
            raise _Fail(
                f"duplicate label {name!r} (first defined on line "
                f"{self.label_line[name]}): expected a new name",
                tok.col,
            )
        if const:
            self.consts[name] = value
        else:
            assert isinstance(value, int)  # a label is an address; only .equ defers
            self.labels[name] = value
        self.label_line[name] = lineno

    def localize(self, toks: list[Token]) -> list[Token]:
        """Rename references 1b / 1f to the numeric label they mean."""
        out = []
        for t in toks:
            if t.kind == "id" and t.text[0].isdigit():
                num, way = t.text[:-1], t.text[-1]
                k = self.local_count.get(num, 0)
                if way == "b":
                    if k == 0:
                        raise _Fail(
                            f"no earlier local label '{num}:' for {t.text}: expected "
                            f"a '{num}:' above this line",
                            t.col,
                        )
                    k -= 1
                t = replace(t, value=f"{num}\x02{k}")
            out.append(t)
        return out

    def statement(self, toks: list[Token], line: str, lineno: int) -> bool:
        """Handle one line in pass 1; True at .end."""
        # labels: "name:" or "1:", possibly several, possibly followed by a statement
        while (
            len(toks) >= 2
            and toks[1].kind == "op"
            and toks[1].text == ":"
            and (toks[0].kind == "id" or (toks[0].kind == "num" and toks[0].text.isdigit()))
        ):
            t = toks[0]
            if t.kind == "num":
                k = self.local_count.get(t.text, 0)
                self.labels[f"{t.text}\x02{k}"] = self.addr
                self.local_count[t.text] = k + 1
            else:
                self.define(t.text, self.addr, t, lineno, const=False)
            toks = toks[2:]
        if not toks:
            return False
        head = toks[0]
        if head.kind != "id":
            raise _Fail(
                f"unexpected {head.text!r}: expected an instruction, a directive or a label",
                head.col,
            )
        toks = [head] + self.localize(toks[1:])
        if len(toks) >= 2 and toks[1].text == "=" and toks[1].kind == "op":
            self.define(
                head.text,
                self.equ_value(toks[2:], line, toks[1], lineno),
                head,
                lineno,
                const=True,
            )
            return False
        word = head.text.lower()
        if word.startswith(".") and word != ".":
            return self.directive(word, head, toks[1:], line, lineno)
        if word not in HANDLERS and word.startswith("b."):
            raise _Fail(
                f"unknown condition {head.text[2:]!r} in {head.text!r}: expected one "
                f"of b.eq, b.ne, b.cs/b.hs, b.cc/b.lo, b.mi, b.pl, b.vs, b.vc, b.hi, "
                f"b.ls, b.ge, b.lt, b.gt, b.le, b.al",
                head.col + 2,
            )
        if word not in HANDLERS:
            near = difflib.get_close_matches(word, list(HANDLERS), n=3, cutoff=0.6)
            hint = f" (did you mean {', '.join(near)}?)" if near else ""
            raise _Fail(
                f"unknown instruction {head.text!r}: expected an A64 mnemonic such as "
                f"mov, add, ldr, b, brk{hint}",
                head.col,
            )
        ops = parse_operands(toks[1:], line)
        self.align_check(head, word)
        item = _Item(
            self.addr, lineno, "insn", word, head.col, ops, end_col=len(line.rstrip()) + 1
        )
        for op in ops:
            if isinstance(op, Lit):
                item.pool = self.pool_entry(op, ops)
        self.emit(item, 4, line, lineno)
        return False

    def align_check(self, head: Token, what: str) -> None:
        if self.addr % 4:
            raise _Fail(
                f"{what} at {self.addr:#x} is not 4-byte aligned: expected a "
                f".balign 4 after the data above",
                head.col,
            )

    def room(self, size: int, col: int, what: str) -> None:
        """Refuse ``size`` more bytes if the image would pass MAX_IMAGE or 2**64."""
        if self.addr + size > 1 << 64:
            raise _Fail(
                f"{what} would run past the top of the 64-bit address space from "
                f"{self.addr:#x}: expected the image to end by 2**64",
                col,
            )
        if self.addr + size - self.base > MAX_IMAGE:
            raise _Fail(
                f"{what} would make the image {self.addr + size - self.base:#x} bytes "
                f"long: expected at most {MAX_IMAGE:#x} ({MAX_IMAGE >> 20} MiB)",
                col,
            )

    def emit(self, item: _Item, size: int, line: str, lineno: int, *, source: bool = True):
        self.room(size, 1, "this line")
        self.items.append(item)
        if source and size:
            self.source_lines.setdefault(self.addr, SourceLine(lineno, line.rstrip("\r\n")))
        self.addr += size

    def pool_entry(self, lit: Lit, ops: list[Operand]) -> _PoolEntry:
        rt = ops[0]
        size = 8 if getattr(rt, "size", 64) == 64 else 4
        key: tuple
        syms = lit.expr.symbols()
        key = (size, "expr", "".join(lit.expr.text.split()))
        if all(isinstance(self.consts.get(s), int) for s in syms) and "." not in lit.expr.text:
            key = (size, "value", lit.expr.evaluate(self.lookup, self.addr))
        if key not in self.pool:
            self.pool[key] = _PoolEntry(lit.expr, size)
        return self.pool[key]

    def flush_pool(self, lineno: int) -> None:
        """Place the pending literals: 4-byte ones first, then the 8-byte ones, 8-aligned."""
        if not self.pool:
            return
        for size in (4, 8):
            entries = [e for e in self.pool.values() if e.size == size]
            if not entries:
                continue
            pad = -self.addr % size
            self.room(
                pad + size * len(entries),
                1,
                f"the literal pool of {len(entries)} {size}-byte values",
            )
            if pad:
                self.items.append(_Item(self.addr, lineno, "bytes", data=bytes(pad)))
                self.addr += pad
            for e in entries:
                e.addr = self.addr
                self.items.append(_Item(self.addr, lineno, "pool", pool=e, size=size))
                self.addr += size
        self.pool = {}

    def equ_value(
        self, toks: list[Token], line: str, after: Token, lineno: int
    ) -> int | tuple[Expr, int, int]:
        """A constant's value now, or its expression for later if it names a later label."""
        e = self._whole_expr(toks, line, after)
        # a constant that still waits for a later label makes this one wait too (and a loop
        # of them is found, and named, when one is used)
        if all(s in self.labels or isinstance(self.consts.get(s), int) for s in e.symbols()):
            return e.evaluate(self.lookup, self.addr)
        return (e, self.addr, lineno)

    def const_expr(self, toks: list[Token], line: str, after: Token) -> int:
        return self._whole_expr(toks, line, after).evaluate(self.lookup_now, self.addr)

    @staticmethod
    def _whole_expr(toks: list[Token], line: str, after: Token) -> Expr:
        """The expression ``toks`` spell, all of them: nothing missing, nothing left over."""
        if not toks:
            raise _Fail(
                f"missing value after {after.text!r}: expected an expression",
                after.col + len(after.text),
            )
        p = ExprParser(toks, line)
        e = p.parse()
        if p.pos != len(toks):
            t = toks[p.pos]
            raise _Fail(f"unexpected {t.text!r}: expected the end of the expression", t.col)
        return e

    def args(self, toks: list[Token], line: str) -> list[list[Token]]:
        return split_commas(toks, line)

    def directive(
        self, word: str, head: Token, toks: list[Token], line: str, lineno: int
    ) -> bool:
        end_col = len(line.rstrip()) + 1
        if word in _IGNORED:
            return False
        if word == ".end":
            return True
        if word in (".ltorg", ".pool"):
            self.flush_pool(lineno)
            return False
        parts = self.args(toks, line) if toks else []

        def need(lo: int, hi: int, form: str) -> None:
            if not lo <= len(parts) <= hi:
                raise _Fail(
                    f"{word} takes {form}, got {len(parts)} argument"
                    f"{'' if len(parts) == 1 else 's'}: expected {word} {form}",
                    parts[hi][0].col if len(parts) > hi else end_col,
                )

        def const(part: list[Token]) -> int:
            return self.const_expr(part, line, head)

        if word in (".equ", ".set"):
            need(2, 2, "name, value")
            name_tok = parts[0][0]
            if len(parts[0]) != 1 or name_tok.kind != "id":
                raise _Fail(f"bad name for {word}: expected an identifier", name_tok.col)
            self.define(
                name_tok.text,
                self.equ_value(parts[1], line, head, lineno),
                name_tok,
                lineno,
                const=True,
            )
            return False
        if word in _DATA:
            if not parts:
                raise _Fail(
                    f"{word} needs at least one value: expected {word} value{{, value}}",
                    end_col,
                )
            size = _DATA[word]
            values = []
            for part in parts:
                p = ExprParser(part, line)
                e = p.parse()
                if p.pos != len(part):
                    raise _Fail(
                        f"unexpected {part[p.pos].text!r} in {word}: expected ',' or "
                        f"the end of the line",
                        part[p.pos].col,
                    )
                values.append(e)
            self.emit(
                _Item(self.addr, lineno, "data", values=values, size=size),
                size * len(values),
                line,
                lineno,
            )
            return False
        if word == ".inst":
            need(1, 64, "word{, word}")
            self.align_check(head, ".inst")
            for part in parts:
                p = ExprParser(part, line)
                e = p.parse()
                self.emit(
                    _Item(self.addr, lineno, "data", values=[e], size=4), 4, line, lineno
                )
            return False
        if word in (".ascii", ".asciz", ".string"):
            if not parts:
                raise _Fail(f'{word} needs a string: expected {word} "text"', end_col)
            data = b""
            for part in parts:
                if len(part) != 1 or part[0].kind != "str":
                    raise _Fail(f'bad argument for {word}: expected a "string"', part[0].col)
                text = part[0].value
                assert isinstance(text, bytes)  # a "str" token's value is its bytes
                data += text + (b"\0" if word != ".ascii" else b"")
            self.emit(_Item(self.addr, lineno, "bytes", data=data), len(data), line, lineno)
            return False
        if word in (".skip", ".space", ".zero"):
            need(1, 1 if word == ".zero" else 2, "size{, fill}" if word != ".zero" else "size")
            n = const(parts[0])
            fill = const(parts[1]) if len(parts) > 1 else 0
            if not 0 <= n <= 1 << 24:
                raise _Fail(
                    f"{word} size {n} out of range: expected 0..{1 << 24}", parts[0][0].col
                )
            self.room(n, parts[0][0].col, f"{word} {n}")
            if not -128 <= fill <= 255:
                raise _Fail(
                    f"{word} fill {fill} out of range: expected a byte -128..255",
                    parts[1][0].col,
                )
            self.emit(
                _Item(self.addr, lineno, "bytes", data=bytes([fill & 0xFF]) * n),
                n,
                line,
                lineno,
            )
            return False
        if word == ".fill":
            need(1, 3, "count{, size{, value}}")
            count = const(parts[0])
            size = const(parts[1]) if len(parts) > 1 else 1
            value = const(parts[2]) if len(parts) > 2 else 0
            if size not in (1, 2, 4, 8):
                raise _Fail(f".fill size {size}: expected 1, 2, 4 or 8", parts[1][0].col)
            if not 0 <= count <= 1 << 24:
                raise _Fail(
                    f".fill count {count} out of range: expected 0..{1 << 24}", parts[0][0].col
                )
            self.room(size * count, parts[0][0].col, f".fill of {size * count} bytes")
            # GNU as: each unit is the value as 4 bytes (higher bytes zero)
            unit = (value & 0xFFFFFFFF).to_bytes(8, "little")[:size]
            self.emit(
                _Item(self.addr, lineno, "bytes", data=unit * count),
                size * count,
                line,
                lineno,
            )
            return False
        if word in (".balign", ".align", ".p2align"):
            need(1, 3, "alignment{, fill{, max}}")
            n = const(parts[0])
            if word == ".balign":
                if n <= 0 or n & (n - 1):
                    raise _Fail(f".balign {n}: expected a power of two", parts[0][0].col)
                align = n
            else:  # on AArch64, .align is a power of two like .p2align
                if not 0 <= n <= 16:
                    raise _Fail(
                        f"{word} {n}: expected 0..16 (the alignment is 2**n)", parts[0][0].col
                    )
                align = 1 << n
            pad = -self.addr % align
            pad_byte: int | None = None
            if len(parts) > 1 and parts[1]:
                pad_byte = const(parts[1])
                if not -128 <= pad_byte <= 255:
                    raise _Fail(
                        f"fill {pad_byte} out of range: expected a byte -128..255",
                        parts[1][0].col,
                    )
            if len(parts) > 2 and pad > const(parts[2]):
                return False  # more padding than allowed: skip the alignment, as GNU as
            self.room(pad, parts[0][0].col, f"{word} {n} ({pad} bytes of padding)")
            if pad_byte is not None:
                data = bytes([pad_byte & 0xFF]) * pad
            else:  # in code, GNU as pads to a word with zeros and then with NOPs
                lead = min(-self.addr % 4, pad)
                data = bytes(lead) + _NOP * ((pad - lead) // 4)
            self.emit(
                _Item(self.addr, lineno, "bytes", data=data), pad, line, lineno, source=False
            )
            return False
        near = difflib.get_close_matches(word, _DIRECTIVES, n=1)
        hint = f" (did you mean {near[0]}?)" if near else ""
        raise _Fail(
            f"unknown directive {head.text!r}: expected one of .word, .quad, .byte, "
            f".ascii, .asciz, .skip, .balign, .align, .equ, .global{hint}",
            head.col,
        )

    # ------------------------------------------------------------------ pass 2
    def encode(self, item: _Item) -> bytes:
        if item.kind == "bytes":
            return item.data
        if item.kind == "pool":
            assert item.pool is not None
            v = item.pool.expr.evaluate(self.lookup, item.addr)
            return _fit(v, item.size, item.pool.expr, "ldr =")
        if item.kind == "data":
            out = b""
            for e in item.values:
                v = e.evaluate(self.lookup, item.addr + len(out))
                out += _fit(v, item.size, e, f"a {item.size}-byte value")
            return out
        handler = HANDLERS[item.mnemonic]
        ctx = Ctx(
            item.mnemonic,
            item.mn_col,
            list(item.ops),
            item.addr,
            self.lookup,
            item.end_col,
            item.pool.addr if item.pool else None,
        )
        word = handler(ctx)
        text = self.lines[item.lineno - 1]
        self.warnings += [
            AsmWarning(msg, item.lineno, col, text, self.name) for msg, col in ctx.warnings
        ]
        return (word & 0xFFFFFFFF).to_bytes(4, "little")


def _fit(v: int, size: int, e: Expr, what: str) -> bytes:
    bits = size * 8
    if not -(1 << (bits - 1)) <= v < (1 << bits):
        raise _Fail(
            f"value {v:#x} of {e.text!r} does not fit {what}: expected "
            f"{-(1 << (bits - 1))}..{(1 << bits) - 1}",
            e.col,
        )
    return (v & ((1 << bits) - 1)).to_bytes(size, "little")


def assemble(source: str, base: int = 0x40000, name: str = "<asm>") -> Program:
    """Assemble A64 ``source`` to a ``Program`` loaded at ``base``.

    Raises ``AsmError`` (a ``ValueError``) naming the line, column and what was expected.
    """
    return _Assembler(source, base, name).run()
