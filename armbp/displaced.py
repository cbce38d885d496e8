"""Displaced stepping: how each instruction under a breakpoint is run from somewhere else.

Continuing from a breakpoint means executing the instruction the BRK replaced. The cheap
way (GDB's on AArch64 Linux) leaves the BRK in memory and runs a copy of the instruction
in a scratch slot, followed by ``B pc+4`` back into the guest. A copy only does the same
thing as the original if nothing in it depends on where it runs; branches and PC-relative
instructions do, so they are *fixed up*: rewritten into an equivalent sequence for the
slot, or done by the debugger itself when that is cheaper. :func:`plan` says how, for one
instruction word at one pc; it is pure (no emulator), and ``tests/test_step_over.py``
checks every class against the instruction really executed in place.

What each class becomes (``pc`` is the breakpoint's address, ``slot`` the scratch slot's):

===========================  =================================================================
straight-line (``add``,      the instruction itself, then ``B pc+4`` (:func:`displaceable`)
``ldr x0, [x1]``, SIMD,
hints but WFE/WFI, barriers)
``B label``                  no slot: the debugger sets PC to the target
``BL label``                 ``MOVZ/MOVK x30, #pc+4`` then ``B label`` (from the slot)
``B.cond``, ``CBZ/CBNZ``,    the same test with its target moved to ``slot+8``, then
``TBZ/TBNZ``                 ``B pc+4`` (not taken) and, at ``slot+8``, ``B label`` (taken)
``ADR``/``ADRP Xd``          ``MOVZ/MOVK Xd, #value`` (the address, computed from pc), ``B pc+4``
``LDR Wt/Xt``, ``LDRSW``     ``MOVZ/MOVK Xt, #address``, the same load from ``[Xt]``, ``B pc+4``
(literal)                    (only when the literal is readable, so the load cannot fault
                             with ``Xt`` already changed; otherwise the in-place step)
``LDR St/Dt/Qt`` (literal)   no slot: the debugger reads the literal and writes ``Vt``
``PRFM`` (literal)           no slot: a hint with no architectural effect, PC = pc+4
``BR Xn``, ``RET Xn``        the instruction itself (it does not depend on its address)
``BLR Xn`` (n ≠ 30)          ``MOVZ/MOVK x30, #pc+4`` then ``BR Xn``
``BLR x30``                  no slot: the debugger reads x30, sets x30 = pc+4, PC = old x30
===========================  =================================================================

Everything else (exception generating and other system instructions (MRS, MSR, SYS, WFI),
pointer-authenticated
branches, ``ERET``, SVE, FEAT_MOPS) takes the in-place step: restore, step, re-insert.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from armbp.encodings import B, to_bytes

__all__ = ["Fixup", "displaceable", "plan"]

_MASK64 = (1 << 64) - 1
# Branch, exception generation and system instructions; Arm ARM "Branches, Exception
# Generating and System instructions", and each instruction's own page below.
_B = B  # B <label>: imm26 = offset / 4 (±128 MiB)
_B_RANGE = 1 << 27
_MOVZ_X = 0xD280_0000  # MOVZ Xd, #imm16, LSL #(hw * 16)
_MOVK_X = 0xF280_0000  # MOVK Xd, #imm16, LSL #(hw * 16)
_BR = 0xD61F_0000  # BR Xn (Rn in bits [9:5])
_LDR_X_IMM = 0xF940_0000  # LDR Xt, [Xn, #0]
_LDR_W_IMM = 0xB940_0000  # LDR Wt, [Xn, #0]
_LDRSW_IMM = 0xB980_0000  # LDRSW Xt, [Xn, #0]
_LR = 30


@dataclass(frozen=True, slots=True)
class Fixup:
    """How to step over one instruction without putting it back in place.

    ``kind`` is one of

    * ``"slot"``: run ``code`` from the scratch slot. ``resume`` maps an offset in the slot
      where a run can stop between translated blocks to the guest's real pc there (offset
      0, nothing done yet, is the breakpoint itself); ``blocks`` are the offsets where
      such blocks start after the first. ``readable`` is an ``(address, size)`` the
      slot loads from: the plan holds only if the guest may read it.
    * ``"jump"``: no guest instruction runs: PC = ``target``, and x30 = ``link`` if set.
    * ``"blr-x30"``: PC = the old x30, x30 = ``link``.
    * ``"vector-literal"``: V``register`` = the ``size`` bytes at ``address`` (zero
      extended to 128 bits), PC = pc+4; also only if the guest may read them.
    """

    kind: str
    code: bytes = b""
    resume: dict[int, int] = field(default_factory=dict)
    blocks: tuple[int, ...] = ()
    target: int = 0
    link: int | None = None
    readable: tuple[int, int] | None = None
    register: int = 0
    address: int = 0
    size: int = 0


def displaceable(word: int) -> bool:
    """Can this instruction run from another address, unchanged, with the same effect?

    True for the classes with no PC in them (Arm ARM "A64 instruction set encoding", the top-level table, op0 =
    bits [28:25]): data processing (immediate) except PC-relative addressing (ADR, ADRP),
    data processing (register), SIMD and floating point, and loads/stores except the
    literal forms (and FEAT_MOPS, which shares their op0); and the hints (but WFE, WFI) and
    barriers (but SB). Branches, exception generation and the other system instructions
    are False: :func:`plan` fixes up the branches and the PC-relative forms.
    """
    op0 = word >> 25 & 0xF
    if op0 in (0b1000, 0b1001):  # data processing — immediate
        return word >> 24 & 0x3 != 0b00  # bits [25:23] = 00x: ADR/ADRP
    if op0 & 0b0111 in (0b0101, 0b0111):  # x101 DP register, x111 SIMD & FP
        return True
    if op0 & 0b0101 == 0b0100:  # x1x0 loads and stores
        return word >> 27 & 0x7 != 0b011  # bits [29:27] = 011: literal, MOPS
    # Two groups of system instructions have no PC in them and cannot trap ("Hints" and
    # "Barriers" in the Arm ARM's system instruction encodings): a breakpoint on a NOP
    # (patchable function entries) or a BTI landing pad must be as cheap as on an ADD.
    if word & 0xFFFF_F01F == 0xD503_201F:  # HINT: NOP, YIELD, SEV, BTI, PAC*SP, ...
        return word >> 5 & 0x7F not in (2, 3)  # ... but WFE and WFI wait for an event
    if word & 0xFFFF_F01F == 0xD503_301F:  # CLREX, DSB, DMB, ISB (op2 2, 4, 5, 6);
        return word >> 5 & 0x7 in (2, 4, 5, 6)  # not SB: FEAT_SB, which the vCPU lacks
    return False  # branches, exceptions, other system, SVE


def _signed(value: int, bits: int) -> int:
    return (value ^ 1 << bits - 1) - (1 << bits - 1)


def _branch(at: int, target: int) -> int | None:
    """``B target`` placed at ``at``, or None when the target is out of its ±128 MiB."""
    offset = target - at
    if not -_B_RANGE <= offset < _B_RANGE:
        return None
    return _B | (offset >> 2 & 0x3FF_FFFF)


def _mov64(rd: int, value: int) -> list[int]:
    """MOVZ/MOVK words that put the 64-bit ``value`` in ``Xd`` (1 to 4 instructions)."""
    chunks = [(value >> 16 * hw & 0xFFFF, hw) for hw in range(4)]
    used = [(imm, hw) for imm, hw in chunks if imm] or [(0, 0)]
    first, *rest = used
    return [_MOVZ_X | first[1] << 21 | first[0] << 5 | rd] + [
        _MOVK_X | hw << 21 | imm << 5 | rd for imm, hw in rest
    ]


def _slot(
    words: Sequence[int | None],
    resume: dict[int, int] | None = None,
    readable: tuple[int, int] | None = None,
    blocks: tuple[int, ...] = (),
) -> Fixup | None:
    if any(w is None for w in words):
        return None  # a branch out of range of the slot: step in place instead
    code = b"".join(to_bytes(w) for w in words)  # type: ignore[arg-type]
    return Fixup("slot", code=code, resume=resume or {}, blocks=blocks, readable=readable)


def plan(word: int, pc: int, slot: int) -> Fixup | None:
    """How to step over ``word`` (the instruction at ``pc``) with the slot at ``slot``;
    None when it must be stepped in place (restore, step, re-insert)."""
    after = pc + 4 & _MASK64
    rd = word & 0x1F
    if displaceable(word):  # straight-line
        # ISB ends the emulator's translated block: the B back starts a new one
        ends_block = word & 0xFFFF_F0FF == 0xD503_30DF  # barriers, op2 6: ISB
        return _slot(
            [word, _branch(slot + 4, after)], {4: after}, blocks=(4,) if ends_block else ()
        )
    if word & 0x7C00_0000 == 0x1400_0000:  # B, BL (Arm ARM "B", "BL")
        target = pc + _signed(word & 0x3FF_FFFF, 26) * 4 & _MASK64
        if not word >> 31:
            return Fixup("jump", target=target)
        mov = _mov64(_LR, after)
        b = _branch(slot + 4 * len(mov), target)
        return _slot(mov + [b]) if b is not None else Fixup("jump", target=target, link=after)
    if word & 0xFF00_0000 == 0x5400_0000:  # B.cond, BC.cond (Arm ARM "B.cond", "BC.cond")
        target = pc + _signed(word >> 5 & 0x7FFFF, 19) * 4 & _MASK64
        return _conditional(word & ~(0x7FFFF << 5) | 2 << 5, target, after, slot)
    if word & 0x7E00_0000 == 0x3400_0000:  # CBZ, CBNZ (Arm ARM "CBZ", "CBNZ")
        target = pc + _signed(word >> 5 & 0x7FFFF, 19) * 4 & _MASK64
        return _conditional(word & ~(0x7FFFF << 5) | 2 << 5, target, after, slot)
    if word & 0x7E00_0000 == 0x3600_0000:  # TBZ, TBNZ (Arm ARM "TBZ", "TBNZ")
        target = pc + _signed(word >> 5 & 0x3FFF, 14) * 4 & _MASK64
        return _conditional(word & ~(0x3FFF << 5) | 2 << 5, target, after, slot)
    if word & 0x1F00_0000 == 0x1000_0000:  # ADR, ADRP (Arm ARM "ADR", "ADRP")
        imm = _signed((word >> 5 & 0x7FFFF) << 2 | word >> 29 & 3, 21)
        if word >> 31:
            value = (pc & ~0xFFF) + (imm << 12) & _MASK64
        else:
            value = pc + imm & _MASK64
        mov = _mov64(rd, value)
        return _slot([*mov, _branch(slot + 4 * len(mov), after)])
    if word & 0x3B00_0000 == 0x1800_0000:  # load register (literal)
        return _literal(word, pc, after, slot)
    if word & 0xFFFF_FC1F in (0xD61F_0000, 0xD65F_0000):  # BR Xn, RET Xn (Arm ARM "BR", "RET")
        return _slot([word])
    if word & 0xFFFF_FC1F == 0xD63F_0000:  # BLR Xn (Arm ARM "BLR")
        rn = word >> 5 & 0x1F
        if rn == _LR:
            return Fixup("blr-x30", link=after)
        return _slot(_mov64(_LR, after) + [_BR | rn << 5])
    return None


def _conditional(test: int, target: int, after: int, slot: int) -> Fixup | None:
    """The test with its target at slot+8; ``B pc+4`` at slot+4, ``B target`` at slot+8."""
    return _slot(
        [test, _branch(slot + 4, after), _branch(slot + 8, target)],
        {4: after, 8: target},
        blocks=(4, 8),
    )


def _literal(word: int, pc: int, after: int, slot: int) -> Fixup | None:
    """LDR (literal) and its relatives (the Arm ARM pages "LDR (literal)", "LDRSW (literal)",
    "PRFM (literal)" and "LDR (literal, SIMD&FP)")."""
    opc, vector, rt = word >> 30, word >> 26 & 1, word & 0x1F
    address = pc + _signed(word >> 5 & 0x7FFFF, 19) * 4 & _MASK64
    if vector:
        if opc == 3:
            return None  # unallocated: let it be UNDEFINED in place
        size = 4 << opc
        return Fixup(
            "vector-literal", register=rt, address=address, size=size, readable=(address, size)
        )
    if opc == 3:  # PRFM: a hint, never faults
        return Fixup("jump", target=after)
    size = 4 if opc == 0 else 8 if opc == 1 else 4
    if rt == 31:
        # LDR XZR: the value goes nowhere, but the load still happens: only a readable
        # literal makes it a no-op (the caller checks ``readable`` before jumping)
        return Fixup("jump", target=after, readable=(address, size))
    load = (_LDR_W_IMM, _LDR_X_IMM, _LDRSW_IMM)[opc] | rt << 5 | rt
    mov = _mov64(rt, address)
    return _slot(
        [*mov, load, _branch(slot + 4 * (len(mov) + 1), after)], readable=(address, size)
    )
