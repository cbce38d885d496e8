"""Architectural facts of exception entry that every layer agrees on (pure data).

Where an AArch64 core puts the PC when it takes an exception, and what PSTATE it enters
with: the vCPU models them, and the Linux layer's "kernel" places its gate at the same
vector. Arm ARM (DDI 0487), "Exception entry" and the table "Vector offsets from vector
table base address".
"""

from __future__ import annotations

__all__ = ["PSTATE_EL1H_DAIF", "VECTOR_CURRENT_SP0", "VECTOR_CURRENT_SPX", "VECTOR_LOWER_A64"]

# "Vector offsets from vector table base address": synchronous exceptions
VECTOR_CURRENT_SP0 = 0x000  # current EL, SP_EL0
VECTOR_CURRENT_SPX = 0x200  # current EL, SP_ELx
VECTOR_LOWER_A64 = 0x400  # from a lower EL that is in AArch64 state

# "Exception entry": DAIF masked, EL1, SP_EL1 (PSTATE.M = 0b0101)
PSTATE_EL1H_DAIF = 0x3C5
