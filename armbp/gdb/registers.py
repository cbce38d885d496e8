"""The AArch64 registers as GDB numbers them: one table for ``g``/``G``/``p``/``P`` and target.xml.

GDB learns the register layout from the target description (``qXfer:features:read``):
each ``<reg>`` has a name, a size in bits, a type and a number (``regnum``), grouped in
the features ``org.gnu.gdb.aarch64.core`` (x0–x30, sp, pc, cpsr: what a ``g`` packet
carries) and ``org.gnu.gdb.aarch64.fpu`` (v0–v31, fpsr, fpcr). ``REGISTERS`` lists them
once, with where each lives on the debugger's side; the packet encodings and the XML are
both made from it, so they cannot disagree.

cpsr is 32 bits, as GDB's aarch64 code expects: it is the low half of the vCPU's
``pstate``, and writing it keeps the upper half.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from armbp.gdb.schema import BadPacket, from_le_hex, le_hex

CORE_FEATURE = "org.gnu.gdb.aarch64.core"
FPU_FEATURE = "org.gnu.gdb.aarch64.fpu"


@dataclass(frozen=True)
class Register:
    """One GDB register: what target.xml says of it and how the Debugger reads it.

    ``source`` is the Debugger's register name; ``bitsize`` bits of it (its low bits) are
    GDB's register. ``group`` is target.xml's optional ``group`` attribute (None: GDB
    chooses from the type). ``partial``: the source is wider (cpsr in ``pstate``), so a
    write keeps the source's upper bits.
    """

    name: str
    bitsize: int
    regnum: int
    feature: str
    type: str | None = None
    group: str | None = None
    source: str = ""
    partial: bool = False

    @property
    def size(self) -> int:
        """Size in bytes on the wire."""
        return self.bitsize // 8

    @property
    def mask(self) -> int:
        return (1 << self.bitsize) - 1

    def pick(self, values: Mapping[str, int]) -> int:
        """This register's value out of the Debugger's ``registers()`` dict."""
        return values[self.source] & self.mask

    def read(self, dbg: Any) -> int:
        """Read it through ``dbg`` (anything with ``read_register(name)``)."""
        return dbg.read_register(self.source) & self.mask

    def write(self, dbg: Any, value: int) -> None:
        """Write it through ``dbg``; a register narrower than its source keeps the rest."""
        if self.partial:
            old = dbg.read_register(self.source)
            value = (old & ~self.mask) | (value & self.mask)
        dbg.write_register(self.source, value)

    def encode(self, value: int) -> str:
        """The register as ``p`` answers it: little-endian hex, ``2 * size`` digits."""
        return le_hex(value, self.size)

    def decode(self, digits: str) -> int:
        """The inverse of ``encode`` (a ``P`` value); BadPacket if malformed."""
        return from_le_hex(digits, self.size)

    def xml(self) -> str:
        attrs = f'name="{self.name}" bitsize="{self.bitsize}"'
        if self.type is not None:
            attrs += f' type="{self.type}"'
        if self.group is not None:
            attrs += f' group="{self.group}"'
        return f'<reg {attrs} regnum="{self.regnum}"/>'


def _table() -> tuple[Register, ...]:
    regs = [Register(f"x{i}", 64, i, CORE_FEATURE, source=f"x{i}") for i in range(31)]
    regs += [
        Register("sp", 64, 31, CORE_FEATURE, "data_ptr", source="sp"),
        Register("pc", 64, 32, CORE_FEATURE, "code_ptr", source="pc"),
        Register("cpsr", 32, 33, CORE_FEATURE, source="pstate", partial=True),
    ]
    regs += [
        Register(f"v{i}", 128, 34 + i, FPU_FEATURE, "armbp_v128", source=f"v{i}")
        for i in range(32)
    ]
    regs += [
        Register("fpsr", 32, 66, FPU_FEATURE, source="fpsr"),
        Register("fpcr", 32, 67, FPU_FEATURE, source="fpcr"),
    ]
    return tuple(regs)


REGISTERS: tuple[Register, ...] = _table()
"""Every register GDB may ask for, indexed by its number (``REGISTERS[n].regnum == n``)."""
BY_NAME: dict[str, Register] = {r.name: r for r in REGISTERS}
CORE: tuple[Register, ...] = tuple(r for r in REGISTERS if r.feature == CORE_FEATURE)
"""What a ``g`` packet carries, in order: x0..x30, sp, pc, cpsr."""

N_REGS = len(REGISTERS)
CORE_REGS = len(CORE)
N_X = 31
REG_SP, REG_PC, REG_CPSR = BY_NAME["sp"].regnum, BY_NAME["pc"].regnum, BY_NAME["cpsr"].regnum
REG_V0, REG_FPSR, REG_FPCR = (
    BY_NAME["v0"].regnum,
    BY_NAME["fpsr"].regnum,
    BY_NAME["fpcr"].regnum,
)
G_DIGITS = 2 * sum(r.size for r in CORE)


def register(n: int) -> Register:
    """GDB register number ``n``; ValueError naming the range if there is none."""
    if not 0 <= n < N_REGS:
        raise ValueError(f"no register number {n}: expected 0..{N_REGS - 1}")
    return REGISTERS[n]


def register_size(n: int) -> int:
    """Size in bytes of GDB register ``n`` (x/sp/pc 8, cpsr/fpsr/fpcr 4, v 16)."""
    return register(n).size


def register_name(n: int) -> str:
    return register(n).name


def encode_g(values: list[int]) -> str:
    """The ``g`` reply for the core registers' ``values`` (in ``CORE`` order)."""
    return "".join(r.encode(v) for r, v in zip(CORE, values, strict=True))


def decode_g(digits: str) -> list[int]:
    """The core registers out of a ``G`` packet's body (extra digits are ignored, as GDB
    may send the FP registers too); BadPacket if short or not hex."""
    if len(digits) < G_DIGITS:
        raise BadPacket(f"G needs {G_DIGITS} hex digits, got {len(digits)}")
    values, pos = [], 0
    for r in CORE:
        values.append(r.decode(digits[pos : pos + 2 * r.size]))
        pos += 2 * r.size
    return values


# --- the target description -----------------------------------------------------------------
# The FP/SIMD registers' type: a union of vector views (q/d/s/h/b lanes, as GDB's own
# aarch64 description has), so that `p $v0.s.f` works.
_LANES = [
    ("q", [("u", "uint128", 1), ("s", "int128", 1)]),
    ("d", [("f", "ieee_double", 2), ("u", "uint64", 2), ("s", "int64", 2)]),
    ("s", [("f", "ieee_single", 4), ("u", "uint32", 4), ("s", "int32", 4)]),
    ("h", [("f", "ieee_half", 8), ("u", "uint16", 8), ("s", "int16", 8)]),
    ("b", [("u", "uint8", 16), ("s", "int8", 16)]),
]


def _vector_types() -> str:
    types = ""
    for width, kinds in _LANES:
        for kind, elem, count in kinds:
            types += f'<vector id="armbp_v{width}{kind}" type="{elem}" count="{count}"/>'
        types += f'<union id="armbp_vn{width}">'
        types += "".join(
            f'<field name="{kind}" type="armbp_v{width}{kind}"/>' for kind, _, _ in kinds
        )
        types += "</union>"
    types += '<union id="armbp_v128">'
    types += "".join(f'<field name="{w}" type="armbp_vn{w}"/>' for w in "dshbq")
    return types + "</union>"


def target_xml(registers: tuple[Register, ...] = REGISTERS) -> str:
    """The target description GDB reads: one ``<feature>`` per feature, in table order.

    GDB finds its registers by the feature names and register names; ``regnum`` pins
    the numbering that ``p``/``P`` use.
    """
    features: dict[str, str] = {}
    for r in registers:
        features.setdefault(r.feature, _vector_types() if r.feature == FPU_FEATURE else "")
        features[r.feature] += r.xml()
    body = "".join(
        f'<feature name="{name}">{regs}</feature>' for name, regs in features.items()
    )
    return (
        '<?xml version="1.0"?><!DOCTYPE target SYSTEM "gdb-target.dtd">'
        f'<target version="1.0"><architecture>aarch64</architecture>{body}</target>'
    )


TARGET_XML = target_xml()
