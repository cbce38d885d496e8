"""Architectural facts that every layer agrees on (pure data).

Where an AArch64 core puts the PC when it takes an exception, and what PSTATE it enters
with: the vCPU models them, and the Linux layer's "kernel" places its gate at the same
vector. Arm ARM (DDI 0487), "Exception entry" and the table "Vector offsets from vector
table base address". And the fields of the hardware debug control registers (DBGBCR,
DBGWCR), which the debugger writes and the vCPU reads.
"""

from __future__ import annotations

__all__ = [
    "DBGBCR_FIELDS",
    "DBGWCR_FIELDS",
    "PSTATE_EL1H_DAIF",
    "VECTOR_CURRENT_SP0",
    "VECTOR_CURRENT_SPX",
    "VECTOR_LOWER_A64",
    "field",
    "with_fields",
]

# "Vector offsets from vector table base address": synchronous exceptions
VECTOR_CURRENT_SP0 = 0x000  # current EL, SP_EL0
VECTOR_CURRENT_SPX = 0x200  # current EL, SP_ELx
VECTOR_LOWER_A64 = 0x400  # from a lower EL that is in AArch64 state

# "Exception entry": DAIF masked, EL1, SP_EL1 (PSTATE.M = 0b0101)
PSTATE_EL1H_DAIF = 0x3C5

# -- hardware debug registers ("DBGBCR<n>_EL1, Debug Breakpoint Control Registers" and
# "DBGWCR<n>_EL1, Debug Watchpoint Control Registers"): (low bit, width) of each field
DBGBCR_FIELDS: dict[str, tuple[int, int]] = {
    "E": (0, 1),  # enable
    "PMC": (1, 2),  # privilege mode control: bit 0 matches at EL1, bit 1 at EL0
    "BAS": (5, 4),  # byte address select: 0b1111 for an A64 instruction
    "HMC": (13, 1),  # higher mode control
    "SSC": (14, 2),  # security state control
    "LBN": (16, 4),  # linked breakpoint number
    "BT": (20, 4),  # breakpoint type: 0b0000 unlinked instruction address match
}
DBGWCR_FIELDS: dict[str, tuple[int, int]] = {
    "E": (0, 1),
    "PAC": (1, 2),  # privilege of access control: bit 0 EL1, bit 1 EL0
    "LSC": (3, 2),  # load/store control: 0b01 loads, 0b10 stores, 0b11 both
    "BAS": (5, 8),  # byte address select: one bit per byte of the doubleword at DBGWVR
    "HMC": (13, 1),
    "SSC": (14, 2),
    "LBN": (16, 4),
    "WT": (20, 1),  # watchpoint type: 0 unlinked data address match
    "MASK": (24, 5),  # address mask: 0 (use BAS) or 3..31 (watch 2**MASK aligned bytes)
}
DBGWCR_LSC_LOAD = 0b01
DBGWCR_LSC_STORE = 0b10
DBGWCR_MASK_MIN = 3  # MASK 0b00001 and 0b00010 are reserved
DBGWCR_MASK_MAX = 31
DBG_VA_BITS = 49  # DBGBVR/DBGWVR hold VA[48:2]; bits [63:49] are a sign extension of bit 48


def field(value: int, layout: dict[str, tuple[int, int]], name: str) -> int:
    """The field ``name`` of a debug control register ``value`` (layout: *_FIELDS)."""
    low, width = layout[name]
    return value >> low & ((1 << width) - 1)


def with_fields(layout: dict[str, tuple[int, int]], **values: int) -> int:
    """A control register value from its fields, e.g. ``with_fields(DBGBCR_FIELDS, E=1)``."""
    word = 0
    for name, value in values.items():
        low, width = layout[name]
        if not 0 <= value < 1 << width:
            raise ValueError(f"{name}={value!r}: expected 0..{(1 << width) - 1}")
        word |= value << low
    return word
