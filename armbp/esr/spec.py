"""The vocabulary the ISS tables are written in: fields, formatters, layouts.

A ``Layout`` is one Arm ARM section ("ISS encoding for an exception from ..."): its fields
with their bit ranges, how each value reads, and the consistency checks that turn an odd
combination into a warning. A ``FieldSpec`` whose meaning needs more than its own bits (the
SRT register of a Data Abort reads SF to say W or X) says so through its formatter: a
``Formatter`` carries the ESR bits it reads besides the field's own, and the decoder keys its
per-field cache by exactly those bits, so a declaration that is too narrow shows up as a wrong
decode of a cached value (the tests flip every undeclared bit to catch it).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: keep `typing` out of the CLI's start-up
    from collections.abc import Callable, Mapping

    Meaning = str | tuple[str, str]  # text, or (field name override, text)
    Check = Callable[[int], list[str]]

U64_MAX = (1 << 64) - 1  # ESR_ELx is a 64-bit register


def bits(*ranges: tuple[int, int]) -> int:
    """The mask of ESR bits [msb:lsb] for each (msb, lsb): ``bits((15, 15))`` is ``1 << 15``."""
    mask = 0
    for msb, lsb in ranges:
        if not 0 <= lsb <= msb <= 63:
            raise ValueError(
                f"bit range [{msb}:{lsb}] is not inside ESR bits [63:0]: "
                "expected 63 >= msb >= lsb >= 0"
            )
        mask |= ((1 << (msb - lsb + 1)) - 1) << lsb
    return mask


class Formatter:
    """How a field's value reads: ``fn(value, esr) -> meaning``, plus the ESR bits it reads.

    ``reads`` is the mask of ESR bits, besides the field's own, that ``fn`` looks at in
    ``esr``. The decoder caches a field's meaning by ``esr & (own bits | reads)``, so every bit
    the function reads must be declared here (tests/test_esr_decode.py flips the others).
    """

    __slots__ = ("fn", "name", "reads")

    def __init__(self, fn: Callable[[int, int], Meaning], reads: int = 0) -> None:
        self.fn = fn
        self.reads = reads
        self.name = getattr(fn, "__name__", repr(fn)).lstrip("_")

    def __call__(self, value: int, esr: int) -> Meaning:
        return self.fn(value, esr)

    def __repr__(self) -> str:
        return f"Formatter({self.name}, reads={self.reads:#x})"


def formatter(*reads: tuple[int, int]) -> Callable[[Callable[[int, int], Meaning]], Formatter]:
    """Decorate ``fn(value, esr)`` as a Formatter reading the ESR bit ranges ``reads``
    besides its own field: ``@formatter((15, 15))`` for SRT, which reads SF; ``@formatter()``
    for one that reads its value only."""
    mask = bits(*reads)

    def wrap(fn: Callable[[int, int], Meaning]) -> Formatter:
        return Formatter(fn, mask)

    return wrap


@dataclass(frozen=True)
class FieldSpec:
    """One named field of an ISS/ISS2 layout: bits [msb:lsb] relative to ESR bit 0.

    A value reads from ``values`` (an enumeration) or ``fmt`` (a Formatter), or as a plain
    number when neither is given.
    """

    name: str
    msb: int
    lsb: int
    doc: str
    values: Mapping[int, str] | None = None  # meaning of each value, when enumerable
    fmt: Formatter | None = None  # or how to phrase it (with the bits it reads)

    def __post_init__(self) -> None:
        if not self.name or not 0 <= self.lsb <= self.msb <= 63:
            raise ValueError(
                f"field {self.name!r} [{self.msb}:{self.lsb}]: expected a name "
                "and 63 >= msb >= lsb >= 0"
            )
        if self.fmt is not None and not isinstance(self.fmt, Formatter):
            raise TypeError(
                f"field {self.name!r}: fmt={self.fmt!r} is not a Formatter: "
                "expected a function decorated with @formatter(...)"
            )
        if self.fmt is not None and self.values is not None:
            raise ValueError(f"field {self.name!r} has both values and fmt: expected one")

    @property
    def mask(self) -> int:
        """The field's own ESR bits."""
        return ((1 << (self.msb - self.lsb + 1)) - 1) << self.lsb

    @property
    def reads(self) -> int:
        """ESR bits outside the field that its meaning depends on (its formatter's)."""
        return self.fmt.reads & ~self.mask if self.fmt is not None else 0


@dataclass(frozen=True, eq=False)
class Layout:
    """The ISS (and ISS2) of one Arm ARM section; ``select`` names the ISS bits that choose
    among ``cases`` (a Data Abort's ISV, an SError's IDS, a GCS exception's ExType)."""

    title: str  # the Arm ARM section this layout comes from
    fields: tuple[FieldSpec, ...] = ()  # ISS fields present in every case
    iss2: tuple[FieldSpec, ...] = ()  # ISS2 fields (bits [55:32])
    select: tuple[int, int] | None = None  # ISS bits [msb, lsb] choosing a case
    cases: Mapping[int, tuple[FieldSpec, ...]] = field(default_factory=dict)
    checks: tuple[Check, ...] = ()  # esr -> warnings, run on every decode
    il_is_1: bool = True  # the architecture says IL is 1 for this class
    iss2_title: str = "ISS2 encoding for all other exceptions"


def F(
    name: str,
    msb: int,
    lsb: int | None = None,
    doc: str = "",
    values: Mapping[int, str] | None = None,
    fmt: Formatter | None = None,
    iss2: bool = False,
) -> FieldSpec:
    """A field at ISS bits [msb:lsb] (or ISS2 bits, which sit 32 higher in ESR)."""
    lsb = msb if lsb is None else lsb
    off = 32 if iss2 else 0
    return FieldSpec(name, msb + off, lsb + off, doc, values, fmt)


def flag(
    name: str, bit: int, off: str, on: str, doc: str = "", iss2: bool = False
) -> FieldSpec:
    """A one-bit field with the meaning of 0 and of 1."""
    return F(name, bit, bit, doc or name, {0: off, 1: on}, iss2=iss2)


def validate(lay: Layout) -> None:
    """ValueError naming the layout and field if its fields overlap or leave ISS [24:0] /
    ISS2 [55:32], or a check is not callable (run by the tests and by ``register``)."""

    def bad(what: str) -> ValueError:
        return ValueError(f"layout {lay.title!r}: {what}")

    for case in [(), *lay.cases.values()]:
        specs = sorted((*lay.fields, *case), key=lambda s: s.lsb)
        for a, b in itertools.pairwise(specs):
            if a.msb >= b.lsb:
                raise bad(f"fields {a.name} and {b.name} overlap: expected disjoint bits")
        for s in specs:
            if s.msb > 24:
                raise bad(f"ISS field {s.name} [{s.msb}:{s.lsb}] is outside ISS [24:0]")
    for s in lay.iss2:
        if not 32 <= s.lsb <= s.msb <= 55:
            raise bad(f"ISS2 field {s.name} [{s.msb}:{s.lsb}] is outside ISS2 [55:32]")
    for check in lay.checks:
        if not callable(check):
            raise bad(f"check {check!r} is not callable: expected esr -> list of warnings")
    if lay.select is not None and not 0 <= lay.select[1] <= lay.select[0] <= 24:
        raise bad(f"select {lay.select} is outside ISS [24:0]")
