"""A guest program: the bytes to load, where, its symbols and its source lines.

Both the assembler (``armbp.assemble``) and the ELF loader (``armbp.load_elf``) produce a
``Program``; the vCPU maps its segments, the debugger resolves ``break_at("loop")`` through
its symbols, and the listings show the source line of an address.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class SourceLine:
    """One line of assembly source: its 1-based number and its text as written."""

    number: int
    text: str


@dataclass(frozen=True)
class Segment:
    """A piece of the guest image: ``data`` loaded at ``vaddr``, zero-filled up to ``memsz``.

    ``flags`` uses the ELF letters "r", "w", "x" (e.g. "rx" for code).
    """

    vaddr: int
    data: bytes
    memsz: int
    flags: str = "rwx"

    @property
    def end(self) -> int:
        return self.vaddr + self.memsz


def _frozen(mapping: Mapping | None) -> Mapping:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class Program:
    """What a guest is made of.

    ``code`` is the image from ``base`` (for an assembled program, the whole of it; for an
    ELF, the first executable segment). ``segments`` lists everything to load. ``symbols``
    maps names to addresses, ``lines`` maps instruction addresses to source lines.
    """

    code: bytes
    base: int
    symbols: Mapping[str, int] = field(default_factory=dict)
    entry: int | None = None
    lines: Mapping[int, SourceLine] = field(default_factory=dict)
    segments: tuple[Segment, ...] = ()
    name: str = "<program>"

    def __post_init__(self) -> None:
        object.__setattr__(self, "code", bytes(self.code))
        object.__setattr__(self, "symbols", _frozen(self.symbols))
        object.__setattr__(self, "lines", _frozen(self.lines))
        if self.entry is None:
            object.__setattr__(self, "entry", self.symbols.get("_start", self.base))
        if not self.segments:
            seg = Segment(self.base, self.code, len(self.code), "rwx")
            object.__setattr__(self, "segments", (seg,))

    @property
    def end(self) -> int:
        """One past the last byte of ``code``."""
        return self.base + len(self.code)

    def address_of(self, where: str | int) -> int:
        """An address from a symbol name or an integer address.

        Raises ``ValueError`` naming the symbol and the ones that exist when it is unknown.
        """
        if isinstance(where, bool):
            raise ValueError(f"expected a symbol name or an address, got {where!r}")
        if isinstance(where, int):
            if where < 0:
                raise ValueError(f"address {where:#x} is negative")
            return where
        if isinstance(where, str):
            if where in self.symbols:
                return self.symbols[where]
            try:
                return int(where, 0)
            except ValueError:
                known = ", ".join(sorted(self.symbols)) or "none"
                raise ValueError(
                    f"unknown symbol {where!r}: expected one of {known}, or an address"
                ) from None
        raise ValueError(f"expected a symbol name or an address, got {where!r}")

    def line_at(self, address: int) -> SourceLine | None:
        """The source line that produced the instruction at ``address``, if known."""
        return self.lines.get(address)

    def symbol_at(self, address: int) -> str | None:
        """``name`` or ``name+0xoff`` for the nearest symbol at or below ``address``."""
        best: tuple[int, str] | None = None
        for name, value in self.symbols.items():
            if value <= address and (
                best is None or value > best[0] or (value == best[0] and name < best[1])
            ):
                best = (value, name)
        if best is None:
            return None
        off = address - best[0]
        return best[1] if off == 0 else f"{best[1]}+{off:#x}"
