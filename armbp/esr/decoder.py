"""``decode``: one 64-bit ESR_ELx value -> a ``Syndrome`` with every field named.

ESR_ELx (DDI 0487, register ESR_EL1/ESR_EL2/ESR_EL3): RES0 [63:56], ISS2 [55:32],
EC [31:26], IL [25], ISS [24:0]. The decoder never fails on a 64-bit value: an unknown EC,
a reserved encoding, RES0 bits that are set, or a field that makes no sense for the fault
code each become a warning, and every bit is still shown in some field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .classes import CLASSES
from .families.other import UNALLOCATED
from .spec import U64_MAX, FieldSpec, Layout

if TYPE_CHECKING:
    from typing import Any


@dataclass(frozen=True)
class Field:
    """One field of the syndrome: ESR bits [msb:lsb] hold ``value``."""

    name: str
    msb: int
    lsb: int
    value: int
    meaning: str

    @property
    def width(self) -> int:
        return self.msb - self.lsb + 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "msb": self.msb,
            "lsb": self.lsb,
            "value": self.value,
            "meaning": self.meaning,
        }


@dataclass(frozen=True)
class Syndrome:
    """A decoded ESR_ELx value. ``fields`` run from bit 63 down to bit 0 and cover all 64."""

    esr: int
    ec: int
    ec_name: str
    ec_description: str
    il: int
    iss: int
    iss2: int
    fields: tuple[Field, ...]
    warnings: tuple[str, ...]
    layout: str  # the Arm ARM section that describes the ISS

    @property
    def summary(self) -> str:
        """The kernel's line: ``EC = 0x25: DABT (current EL), IL = 32 bits``."""
        return f"EC = {self.ec:#04x}: {self.ec_name}, IL = {32 if self.il else 16} bits"

    def field(self, name: str) -> Field | None:
        """The first field called ``name`` (Arm ARM short name), or None."""
        for f in self.fields:
            if f.name == name:
                return f
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "esr": f"{self.esr:#018x}",
            "ec": self.ec,
            "ec_name": self.ec_name,
            "il": self.il,
            "iss": self.iss,
            "iss2": self.iss2,
            "fields": [f.as_dict() for f in self.fields],
            "warnings": list(self.warnings),
        }


# --- compiled plans -------------------------------------------------------------------------
# A plan is the full 64-bit tiling for one layout case, from bit 63 down: one entry per field,
# (kind, name, msb, lsb, mask, payload, keymask, cache). A field's meaning depends only on the
# ESR bits in ``keymask``: its own bits, plus the bits its formatter declares it reads
# (``Formatter.reads``, written beside the formatter in its family module), so an entry
# whose keymask spans at most _CACHE_KEY_BITS bits caches (Field, warning) by
# ``esr & keymask``: Field is immutable, every Syndrome shares the instances, and decode()
# stays fast. Wider fields (raw ISS, immediates, RES0 runs) are built each time: caching
# them would fill memory with values seen once, which costs more than it saves.

_RES0, _EC, _IL, _VALUES, _FMT, _PLAIN = range(6)
_CACHE_KEY_BITS = 12
_NO_CACHE: dict = {}  # shared, never written: lookups miss, results are not kept


def _entry(
    kind: int, name: str, msb: int, lsb: int, payload: Any = None, depends: int = 0
) -> tuple:
    mask = (1 << (msb - lsb + 1)) - 1
    keymask = mask << lsb | depends
    cache = {} if (keymask).bit_count() <= _CACHE_KEY_BITS else _NO_CACHE
    return (kind, name, msb, lsb, mask, payload, keymask, cache)


def _tile(specs: tuple[FieldSpec, ...], lo: int, hi: int) -> list[tuple]:
    out: list[tuple] = []
    top = hi
    for s in sorted(specs, key=lambda s: -s.msb):
        if s.msb < top:
            out.append(_entry(_RES0, "RES0", top, s.msb + 1))
        if s.values is not None:
            out.append(_entry(_VALUES, s.name, s.msb, s.lsb, s.values))
        elif s.fmt is not None:
            out.append(_entry(_FMT, s.name, s.msb, s.lsb, s.fmt.fn, s.reads))
        else:
            out.append(_entry(_PLAIN, s.name, s.msb, s.lsb))
        top = s.lsb - 1
    if top >= lo:
        out.append(_entry(_RES0, "RES0", top, lo))
    return out


def _plan(lay: Layout, extra: tuple[FieldSpec, ...]) -> tuple[tuple, ...]:
    return (
        _entry(_RES0, "RES0", 63, 56),
        *_tile(lay.iss2, 32, 55),
        _entry(_EC, "EC", 31, 26),
        _entry(_IL, "IL", 25, 25, lay.il_is_1),
        *_tile((*lay.fields, *extra), 0, 24),
    )


_new = object.__new__
_setattr = object.__setattr__


def _field(name: str, msb: int, lsb: int, value: int, meaning: str) -> Field:
    """Field(name, msb, lsb, value, meaning), built without the frozen __init__'s per-attribute
    object.__setattr__ calls (a third of the cost; decode() builds thousands of these)."""
    f = _new(Field)
    _setattr(
        f,
        "__dict__",
        {"name": name, "msb": msb, "lsb": lsb, "value": value, "meaning": meaning},
    )
    return f


def _syndrome(
    esr: int,
    ec: int,
    ec_name: str,
    ec_description: str,
    il: int,
    iss: int,
    iss2: int,
    fields: tuple,
    warnings: tuple,
    layout_title: str,
) -> Syndrome:
    """Syndrome(...), built the same fast way as _field."""
    s = _new(Syndrome)
    _setattr(
        s,
        "__dict__",
        {
            "esr": esr,
            "ec": ec,
            "ec_name": ec_name,
            "ec_description": ec_description,
            "il": il,
            "iss": iss,
            "iss2": iss2,
            "fields": fields,
            "warnings": warnings,
            "layout": layout_title,
        },
    )
    return s


class _Plan:
    """A layout case compiled for decode(): its entries and, side by side, (cache, keymask).
    It holds its layout, so the id() that keys it in _PLANS is never reused meanwhile."""

    __slots__ = ("entries", "layout", "pairs")

    def __init__(self, lay: Layout, entries: tuple[tuple, ...]) -> None:
        self.layout = lay
        self.entries = entries
        self.pairs = tuple((e[7], e[6]) for e in entries)


_PLANS: dict[tuple[int, int | None], _Plan] = {}


def _plan_for(lay: Layout, case: int | None) -> _Plan:
    key = (id(lay), case)
    plan = _PLANS.get(key)
    if plan is None:
        extra = lay.cases.get(case, ()) if case is not None else ()
        plan = _PLANS[key] = _Plan(lay, _plan(lay, extra))
    return plan


def _field_of(
    kind: int, name: str, msb: int, lsb: int, v: int, payload: Any, esr: int
) -> tuple[Field, str | None]:
    warning = None
    if kind == _RES0:
        meaning = "RES0" if not v else f"RES0, but set ({v:#x})"
        if v:
            warning = f"RES0 bits [{msb}:{lsb}] are set: {v:#x}"
    elif kind == _EC:
        row = CLASSES.get(v)
        meaning = (
            f"{row.short}: {row.description}"
            if row
            else f"UNRECOGNIZED EC: {v:#04x} is not allocated by the Arm ARM"
        )
    elif kind == _IL:
        meaning = "32-bit instruction (or not applicable)" if v else "16-bit instruction"
    elif kind == _VALUES:
        meaning = payload.get(v)
        if meaning is None:
            meaning = "reserved value"
            warning = f"{name} = {v:#x} is a reserved value"
    elif kind == _FMT:
        meaning = payload(v, esr)
        if meaning.__class__ is tuple:
            name, meaning = meaning
    else:
        meaning = str(v)
    return _field(name, msb, lsb, v, meaning), warning


def _check_value(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"ESR value {value!r} is not an integer: expected 0..2**64-1")
    if not 0 <= value <= U64_MAX:
        raise ValueError(
            f"ESR value {value:#x} ({value}) is out of range: expected a 64-bit "
            "value, 0..0xffffffffffffffff"
        )
    return value


_RECENT: dict[int, Syndrome] = {}  # a log repeats a few values; Syndrome is immutable
_RECENT_LIMIT = 64


def clear_caches() -> None:
    """Forget every compiled plan, cached field and recent result (after the tables change:
    ``classes.register``), so the next decode reads the tables afresh."""
    _PLANS.clear()
    _RECENT.clear()


def decode_uncached(value: int) -> Syndrome:
    """``decode(value)`` computed from the tables alone, reading and filling no cache: the
    reference the cached path must agree with (the tests compare the two)."""
    return _decode(_check_value(value), False)


def decode(value: int) -> Syndrome:
    """Decode one ESR_ELx value. Never raises for 0..2**64-1; ValueError outside it."""
    hit = _RECENT.get(value) if value.__class__ is int else None
    if hit is not None:
        return hit
    syndrome = _decode(_check_value(value))
    if len(_RECENT) >= _RECENT_LIMIT:
        _RECENT.clear()
    _RECENT[value] = syndrome
    return syndrome


def _decode(esr: int, cached: bool = True) -> Syndrome:
    ec = esr >> 26 & 0x3F
    il = esr >> 25 & 1
    row = CLASSES.get(ec)
    lay = row.layout if row is not None else UNALLOCATED
    case = None
    if lay.select is not None:
        msb, lsb = lay.select
        case = esr >> lsb & ((1 << (msb - lsb + 1)) - 1)
    warnings: list[str] = []
    if row is None:
        ec_name, ec_desc = "UNRECOGNIZED EC", f"EC {ec:#04x} is not allocated by the Arm ARM"
        warnings.append(f"EC {ec:#04x} is not an allocated Exception Class: ISS shown raw")
    else:
        ec_name, ec_desc = row.short, row.description

    plan = _plan_for(lay, case)
    hits: list[Any] = (
        [cache.get(esr & keymask) for cache, keymask in plan.pairs]
        if cached
        else [None] * len(plan.entries)
    )
    if None in hits:  # first sight of some field values: compute and remember them
        for i, entry in enumerate(plan.entries):
            if hits[i] is None:
                kind, name, msb, lsb, mask, payload, keymask, cache = entry
                hit = hits[i] = _field_of(
                    kind, name, msb, lsb, esr >> lsb & mask, payload, esr
                )
                if cached and cache is not _NO_CACHE:
                    cache[esr & keymask] = hit
    fields = tuple([hit[0] for hit in hits])
    warnings += [hit[1] for hit in hits if hit[1] is not None]
    if not il and lay.il_is_1 and row is not None:
        warnings.append(
            f"IL is 0 but the architecture says IL is 1 for EC {ec:#04x} ({ec_name})"
        )

    for check in lay.checks:
        warnings.extend(check(esr))
    return _syndrome(
        esr,
        ec,
        ec_name,
        ec_desc,
        il,
        esr & 0x1FF_FFFF,
        esr >> 32 & 0xFF_FFFF,
        fields,
        tuple(warnings),
        lay.title,
    )
