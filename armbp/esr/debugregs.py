"""Read the debug control registers a debugger writes: DBGBCR<n>_EL1 and DBGWCR<n>_EL1.

A hardware breakpoint is a pair of registers: DBGBVR holds the address, DBGBCR says how to
match it (enabled? at which Exception levels? which bytes of the instruction? linked to a
context?). A watchpoint is DBGWVR + DBGWCR, which adds load/store control and a byte mask or
an address mask. QEMU hands these values to KVM in ``kvm_guest_debug_arch`` when GDB asks
for ``hbreak`` or ``watch``; ``decode_dbgbcr(0x1e7)`` names every bit of what it wrote.

Arm ARM (DDI 0487), register descriptions "DBGBCR<n>_EL1, Debug Breakpoint Control
Registers, n = 0 - 15" and "DBGWCR<n>_EL1, Debug Watchpoint Control Registers, n = 0 - 15";
the Exception levels the PMC/PAC, HMC and SSC fields select come from the table
"Summary of breakpoint HMC, SSC, and PMC encodings" (the watchpoint table is the same with
PAC for PMC). Bits not listed here (FEAT_ABLE, FEAT_RME extensions) read as RES0.

Pure Python, like the rest of :mod:`armbp.esr`: the same :class:`~armbp.esr.decoder.Field`
records, so the table printer and :func:`armbp.pictures.draw_register` take them as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .decoder import Field
from .spec import U64_MAX

__all__ = ["DebugControl", "decode_dbgbcr", "decode_dbgwcr"]

# (HMC, SSC, PMC/PAC) -> the Exception levels that match, for the encodings a debugger of
# a Non-secure guest uses ("Summary of breakpoint HMC, SSC, and PMC encodings").
_ELS = {
    (0, 0b00, 0b01): "EL1",
    (0, 0b00, 0b10): "EL0",
    (0, 0b00, 0b11): "EL1 and EL0",
    (0, 0b01, 0b01): "Non-secure EL1",
    (0, 0b01, 0b10): "Non-secure EL0",
    (0, 0b01, 0b11): "Non-secure EL1 and EL0",
    (0, 0b10, 0b01): "Secure EL1",
    (0, 0b10, 0b10): "Secure EL0",
    (0, 0b10, 0b11): "Secure EL1 and EL0",
    (1, 0b00, 0b00): "EL2 and, in Secure state, EL3 (when implemented)",
    (1, 0b00, 0b01): "EL2 and EL1",
    (1, 0b00, 0b11): "EL2, EL1 and EL0",
    (1, 0b01, 0b00): "Non-secure EL2",
    (1, 0b01, 0b01): "Non-secure EL2 and EL1",
    (1, 0b01, 0b11): "Non-secure EL2, EL1 and EL0",
    (1, 0b11, 0b00): "EL3 only",
}

_BT = {
    0b0000: "unlinked instruction address match (DBGBVR holds the address)",
    0b0001: "linked instruction address match (also needs breakpoint LBN's context match)",
    0b0010: "unlinked Context ID match (CONTEXTIDR_EL1)",
    0b0011: "linked Context ID match",
    0b0100: "unlinked instruction address mismatch (AArch32 only)",
    0b0101: "linked instruction address mismatch (AArch32 only)",
    0b0110: "unlinked CONTEXTIDR_EL1 match",
    0b0111: "linked CONTEXTIDR_EL1 match",
    0b1000: "unlinked VMID match",
    0b1001: "linked VMID match",
    0b1010: "unlinked VMID and Context ID match",
    0b1011: "linked VMID and Context ID match",
    0b1100: "unlinked CONTEXTIDR_EL2 match",
    0b1101: "linked CONTEXTIDR_EL2 match",
    0b1110: "unlinked full Context ID match (CONTEXTIDR_EL1 and CONTEXTIDR_EL2)",
    0b1111: "linked full Context ID match",
}

_LSC = {
    0b00: "reserved: the watchpoint never matches",
    0b01: "load: matches reads (gdb rwatch)",
    0b10: "store: matches writes (gdb watch)",
    0b11: "load or store: matches both (gdb awatch)",
}


@dataclass(frozen=True)
class DebugControl:
    """A decoded DBGBCR or DBGWCR value: its fields from bit 63 down to bit 0."""

    register: str  # "DBGBCR" or "DBGWCR"
    value: int
    summary: str
    fields: tuple[Field, ...]
    warnings: tuple[str, ...] = field(default=())

    def field(self, name: str) -> Field:
        """The field called ``name``; KeyError naming the fields there are otherwise."""
        for f in self.fields:
            if f.name == name:
                return f
        names = ", ".join(f.name for f in self.fields if f.name != "RES0")
        raise KeyError(f"{self.register} has no field {name!r}: expected one of {names}")

    def as_dict(self) -> dict[str, Any]:
        return {
            "register": self.register,
            "value": self.value,
            "summary": self.summary,
            "fields": [f.as_dict() for f in self.fields],
            "warnings": list(self.warnings),
        }


def _check_value(register: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= U64_MAX:
        raise ValueError(
            f"{register} value {value!r} is not a 64-bit register value: "
            "expected an int in 0..0xffffffffffffffff"
        )
    return value


def _bits(value: int, msb: int, lsb: int) -> int:
    return value >> lsb & ((1 << (msb - lsb + 1)) - 1)


def _els(hmc: int, ssc: int, pmc: int) -> str:
    return _ELS.get(
        (hmc, ssc, pmc), "Exception levels this table does not list (see the Arm ARM)"
    )


def _with_res0(value: int, named: list[tuple[str, int, int, str]]) -> tuple[Field, ...]:
    """``named`` (name, msb, lsb, meaning) plus RES0 fields for every bit they leave out."""
    out: list[Field] = []
    bit = 63
    for name, msb, lsb, meaning in sorted(named, key=lambda n: -n[1]):
        if bit > msb:
            out.append(Field("RES0", bit, msb + 1, _bits(value, bit, msb + 1), "RES0"))
        out.append(Field(name, msb, lsb, _bits(value, msb, lsb), meaning))
        bit = lsb - 1
    if bit >= 0:
        out.append(Field("RES0", bit, 0, _bits(value, bit, 0), "RES0"))
    return tuple(out)


def _res0_warnings(fields: tuple[Field, ...]) -> list[str]:
    return [
        f"RES0 bits [{f.msb}:{f.lsb}] are {f.value:#x}: software should write 0"
        for f in fields
        if f.name == "RES0" and f.value
    ]


def _controls(
    what: str, priv: str, value: int, *, linked: bool
) -> list[tuple[str, int, int, str]]:
    """The fields DBGBCR and DBGWCR share, at the same bits: LBN, SSC, HMC, PMC/PAC, E."""
    e, pl, hmc = value & 1, _bits(value, 2, 1), _bits(value, 13, 13)
    ssc, lbn = _bits(value, 15, 14), _bits(value, 19, 16)
    els = _els(hmc, ssc, pl)
    title = "Privilege Mode Control" if priv == "PMC" else "Privilege of Access Control"
    return [
        (
            "LBN",
            19,
            16,
            f"Linked Breakpoint Number: {lbn}" + ("" if linked else " (ignored: unlinked)"),
        ),
        ("SSC", 15, 14, f"Security State Control {ssc:#04b}: with HMC and {priv}, {els}"),
        ("HMC", 13, 13, f"Higher Mode Control {hmc}: with SSC and {priv}, {els}"),
        (priv, 2, 1, f"{title} {pl:#04b}: with HMC and SSC, {els}"),
        ("E", 0, 0, f"enabled: the {what} can match" if e else "disabled: never matches"),
    ]


def _els_warning(value: int, priv: str) -> list[str]:
    """A warning when an enabled control's HMC/SSC/PMC (PAC) is not a listed encoding."""
    e, pl, hmc, ssc = value & 1, _bits(value, 2, 1), _bits(value, 13, 13), _bits(value, 15, 14)
    if e and (hmc, ssc, pl) not in _ELS:
        line = (
            f"HMC={hmc}, SSC={ssc:#04b}, {priv}={pl:#04b} is not in the usual table: "
            "it may be reserved and match nowhere"
        )
        return [line]
    return []


def _bas_bytes(bas: int) -> list[int]:
    return [i for i in range(8) if bas >> i & 1]


def decode_dbgbcr(value: int) -> DebugControl:
    """Name every field of a DBGBCR<n>_EL1 value (e.g. ``0x1e7``: what QEMU writes for
    ``hbreak``), and warn about the values an AArch64 debugger must not write.

    Never fails on a 64-bit value (oddities become warnings); ValueError for anything else.
    """
    value = _check_value("DBGBCR", value)
    e, pmc = value & 1, _bits(value, 2, 1)
    bas, hmc = _bits(value, 8, 5), _bits(value, 13, 13)
    ssc, bt = _bits(value, 15, 14), _bits(value, 23, 20)
    els = _els(hmc, ssc, pmc)
    if bas == 0b1111:
        bas_text = "0b1111: the whole A64 instruction (RES1 for AArch64)"
    elif bas in (0b0011, 0b1100):
        bas_text = f"{bas:#06b}: one T32 halfword (AArch32 only)"
    else:
        bas_text = f"{bas:#06b}: not a byte selection an instruction match uses"
    fields = _with_res0(
        value,
        [
            ("BT", 23, 20, f"Breakpoint Type: {_BT[bt]}"),
            ("BAS", 8, 5, f"Byte Address Select {bas_text}"),
            *_controls("breakpoint", "PMC", value, linked=bool(bt & 1)),
        ],
    )
    warnings = _res0_warnings(fields)
    if bt in (0b0000, 0b0001) and bas != 0b1111:
        warnings.append(
            f"BAS is {bas:#06b}: an address match on A64 code needs 0b1111 "
            "(other values are for T32 halfwords in AArch32)"
        )
    warnings += _els_warning(value, "PMC")
    kind = _BT[bt].split(" (")[0]
    summary = (
        f"enabled hardware breakpoint: {kind}, at {els}"
        if e
        else f"disabled hardware breakpoint (when enabled: {kind}, at {els})"
    )
    return DebugControl("DBGBCR", value, summary, fields, tuple(warnings))


def decode_dbgwcr(value: int) -> DebugControl:
    """Name every field of a DBGWCR<n>_EL1 value (e.g. ``0x1ff7``: what QEMU writes for
    ``watch`` on a 64-bit variable), and warn about the values that cannot match.

    Never fails on a 64-bit value (oddities become warnings); ValueError for anything else.
    """
    value = _check_value("DBGWCR", value)
    e, pac, lsc = value & 1, _bits(value, 2, 1), _bits(value, 4, 3)
    bas, hmc, ssc = _bits(value, 12, 5), _bits(value, 13, 13), _bits(value, 15, 14)
    wt, mask = _bits(value, 20, 20), _bits(value, 28, 24)
    els = _els(hmc, ssc, pac)
    chosen = _bas_bytes(bas)
    contiguous = bool(chosen) and chosen == list(range(chosen[0], chosen[-1] + 1))
    if mask:
        mask_text = (
            f"{mask}: reserved (0b00001 and 0b00010 are)"
            if mask < 3
            else f"{mask}: the low {mask} address bits are ignored, a "
            f"{1 << mask}-byte aligned range"
        )
    else:
        mask_text = "0: no address mask, BAS picks the bytes"
    if not chosen:
        bas_text = "0b00000000: no byte selected, the watchpoint never matches"
    else:
        span = f"bytes {chosen[0]}..{chosen[-1]}" if len(chosen) > 1 else f"byte {chosen[0]}"
        bas_text = f"{bas:#010b}: {span} of the doubleword at DBGWVR"
    fields = _with_res0(
        value,
        [
            ("MASK", 28, 24, f"Address mask {mask_text}"),
            (
                "WT",
                20,
                20,
                "Watchpoint Type: linked data address match (needs breakpoint LBN)"
                if wt
                else "Watchpoint Type: unlinked data address match",
            ),
            ("BAS", 12, 5, f"Byte Address Select {bas_text}"),
            ("LSC", 4, 3, f"Load/Store Control {lsc:#04b}: {_LSC[lsc]}"),
            *_controls("watchpoint", "PAC", value, linked=bool(wt)),
        ],
    )
    warnings = _res0_warnings(fields)
    if lsc == 0:
        warnings.append("LSC is 0b00 (reserved): the watchpoint matches no access")
    if chosen and not contiguous:
        warnings.append(
            f"BAS {bas:#010b} selects bytes that are not contiguous: "
            "the Arm ARM makes the match CONSTRAINED UNPREDICTABLE"
        )
    if mask and mask < 3:
        warnings.append(f"MASK is {mask}: 0b00001 and 0b00010 are reserved")
    if mask and bas != 0xFF:
        warnings.append(
            f"MASK is {mask} but BAS is {bas:#010b}: with an address mask BAS must be "
            "0b11111111 (all bytes)"
        )
    warnings += _els_warning(value, "PAC")
    what = _LSC[lsc].split(":")[0]
    size = f"{1 << mask}-byte range" if mask >= 3 else f"{len(chosen)} byte(s)"
    summary = f"{'enabled' if e else 'disabled'} watchpoint: {what} of {size}, at {els}"
    return DebugControl("DBGWCR", value, summary, fields, tuple(warnings))
