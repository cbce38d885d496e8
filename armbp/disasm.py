"""Listings of guest memory with capstone, showing what the guest *should* see.

Where the debugger planted a ``BRK``, memory holds ``0xd4200000`` but the listing shows the
instruction that was there (the breakpoint table's saved word) and marks the line: this
is what GDB does when it reads memory through its breakpoint shadow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .program import Program, SourceLine

_EMPTY: Mapping[int, int] = {}


@dataclass(frozen=True)
class ListingLine:
    """One 4-byte word of a listing."""

    address: int
    word: int  # the original instruction (the saved word where a breakpoint is)
    memory_word: int  # what memory really holds (0xd4200000 under a breakpoint)
    mnemonic: str
    op_str: str
    symbol: str | None  # a label at exactly this address
    source: SourceLine | None
    is_breakpoint: bool
    is_pc: bool

    @property
    def text(self) -> str:
        """``mnemonic op_str`` as one string, e.g. ``subs x0, x0, #0x1``."""
        return f"{self.mnemonic} {self.op_str}".rstrip()


@lru_cache(maxsize=1)
def _capstone() -> Any:
    from capstone import CS_ARCH_ARM64, CS_MODE_ARM, Cs

    return Cs(CS_ARCH_ARM64, CS_MODE_ARM)  # A64 is always little-endian in memory here


def _decode(word: int, address: int) -> tuple[str, str]:
    word &= 0xFFFFFFFF
    for insn in _capstone().disasm(word.to_bytes(4, "little"), address, 1):
        return insn.mnemonic, insn.op_str
    return ".word", f"{word:#010x}"


def disassemble_word(word: int, address: int = 0) -> str:
    """One instruction word as text, e.g. ``disassemble_word(0xd4200000) == "brk #0"``.

    Branch targets are absolute, so they depend on ``address``. A word capstone cannot
    decode comes back as ``.word 0x........``.
    """
    if isinstance(word, bool) or not isinstance(word, int) or not 0 <= word <= 0xFFFFFFFF:
        raise ValueError(f"expected a 32-bit instruction word, got {word!r}")
    mnemonic, op_str = _decode(word, address)
    return f"{mnemonic} {op_str}".rstrip()


def listing(
    memory: bytes,
    base: int,
    *,
    breakpoints: Mapping[int, int] = _EMPTY,
    pc: int | None = None,
    program: Program | None = None,
) -> list[ListingLine]:
    """Every aligned 4-byte word of ``memory`` (loaded at ``base``), decoded.

    ``breakpoints`` maps an address to the original word saved there: the line shows that
    word and is marked. ``pc`` marks the current instruction. ``program`` adds labels and
    source lines. Trailing bytes that do not fill a word are left out.
    """
    if base % 4:
        raise ValueError(
            f"listing base {base:#x} is not 4-byte aligned: expected a multiple of 4"
        )
    mem = bytes(memory)
    labels: dict[int, str] = {}
    if program is not None:
        for name, addr in sorted(program.symbols.items(), key=lambda kv: (kv[1], kv[0])):
            labels.setdefault(addr, name)
    out = []
    for off in range(0, len(mem) - 3, 4):
        addr = base + off
        memory_word = int.from_bytes(mem[off : off + 4], "little")
        is_bp = addr in breakpoints
        word = breakpoints[addr] & 0xFFFFFFFF if is_bp else memory_word
        mnemonic, op_str = _decode(word, addr)
        out.append(
            ListingLine(
                address=addr,
                word=word,
                memory_word=memory_word,
                mnemonic=mnemonic,
                op_str=op_str,
                symbol=labels.get(addr),
                source=program.line_at(addr) if program is not None else None,
                is_breakpoint=is_bp,
                is_pc=pc is not None and addr == pc,
            )
        )
    return out


PC_MARK = "=>"  # the row of the pc
BP_MARK = "*"  # a breakpoint's row


def markers(
    is_pc: bool, is_breakpoint: bool, *, pc: str = PC_MARK, bp: str = BP_MARK, blank: str = " "
) -> str:
    """The marker column of a listing row: ``=> *``, ``=>  ``, ``   *`` or four blanks.

    The one place the format lives: :func:`format_listing`, the debugger view's text, its
    HTML (``pc="=&gt;"``, ``blank="&nbsp;"``, a styled ``bp``) and its line picker all
    call it, so they cannot disagree.
    """
    return f"{pc if is_pc else blank * len(PC_MARK)} {bp if is_breakpoint else blank}"


def format_listing(lines: list[ListingLine], *, with_source: bool = False) -> str:
    """Plain text, one line per word::

        => * 0x40004  f1000400  subs x0, x0, #0x1     loop:

    ``=>`` marks the pc, ``*`` a breakpoint; the word is the original instruction. With
    ``with_source`` the source line follows as ``| 7: text``. Deterministic: the widths
    come from the lines themselves.
    """
    if not lines:
        return ""
    aw = max(len(f"{ln.address:#x}") for ln in lines)
    tw = max(24, max(len(ln.text) for ln in lines) + 2)
    sw = max((len(ln.symbol) + 1 for ln in lines if ln.symbol), default=0)
    rows = []
    for ln in lines:
        label = f"{ln.symbol}:" if ln.symbol else ""
        row = (
            f"{markers(ln.is_pc, ln.is_breakpoint)} {ln.address:#{aw}x}  {ln.word:08x}  "
            f"{ln.text:<{tw}}{label}"
        )
        if with_source and ln.source is not None:
            pad = " " * (sw - len(label))
            row += f"{pad}  | {ln.source.number}: {ln.source.text.strip()}"
        rows.append(row.rstrip())
    return "\n".join(rows)
