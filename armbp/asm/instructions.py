"""A64 instructions: operand checking and encoding, one handler per mnemonic family.

Each handler gets a ``Ctx`` (the mnemonic, its operands, the address, a symbol lookup) and
returns the 32-bit instruction word, or fails with a message that says what was expected.
Layouts are in ``encode.py`` with their Arm ARM (DDI 0487) references; aliases (MOV, CMP,
LSL, CSET, ...) follow the "alias conditions" given on each instruction page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from ..encodings import Op
from . import encode as E
from .errors import _Fail
from .operands import EXTENDS, SHIFTS, Imm, Lit, Mem, Operand, Reg, Shift
from .tables import BARRIER_OPTIONS, CONDITIONS, PSTATE_FIELDS, SYS_OPS, sysreg

Handler = Callable[["Ctx"], int]

# What register number 31 means in an operand slot (the Arm ARM's encoding diagrams write
# "Rn (SP)" where it is the stack pointer, plain "Rn" where it is the zero register).
SP, ZR = "sp", "zr"
HANDLERS: dict[str, Handler] = {}
FORMS: dict[str, str] = {}  # mnemonic -> the operand forms it accepts (for error messages)


def insn(forms: str, *names: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for name in names:
            HANDLERS[name] = fn
            FORMS[name] = forms.replace("MN", name)
        return fn

    return register


class Ctx:
    """One instruction being encoded."""

    def __init__(
        self,
        mn: str,
        mn_col: int,
        ops: list[Operand],
        pc: int,
        lookup: Callable[[str, int], int],
        end_col: int,
        pool_addr: int | None = None,
    ):
        self.mn = mn
        self.mn_col = mn_col
        self.ops = ops
        self.pc = pc
        self.lookup = lookup
        self.end_col = end_col
        self.pool_addr = pool_addr
        self.warnings: list[tuple[str, int]] = []

    # ---- failures
    def fail(self, where: Operand | int | None, msg: str) -> NoReturn:
        col = where.col if isinstance(where, Operand) else (where or self.mn_col)
        raise _Fail(msg, col)

    def bad(self, op: Operand, expected: str) -> NoReturn:
        self.fail(op, f"bad operand {op.text!r} for {self.mn}: expected {expected}")

    def count(self, *allowed: int) -> int:
        n = len(self.ops)
        if n not in allowed:
            want = " or ".join(map(str, allowed))
            where = self.ops[max(allowed)] if n > max(allowed) else self.end_col
            got = "none" if n == 0 else str(n)
            self.fail(
                where,
                f"{self.mn} takes {want} operand{'s' if allowed != (1,) else ''}, "
                f"got {got}: expected {FORMS[self.mn]}",
            )
        return n

    # ---- registers
    def reg(
        self, i: int, size: int | None = None, *, r31: str = ZR, like: Reg | None = None
    ) -> Reg:
        """Operand ``i`` as a register of ``size`` bits for a slot where number 31 is ``r31``.

        The encoding diagrams of the Arm ARM mark each register field "(SP)" or not: the
        same five bits 11111 mean the stack pointer in one slot and the zero register in
        another, so writing the other one there is an error, never a silent swap.
        """
        op = self.ops[i]
        if like is not None:
            size = like.size
        if not isinstance(op, Reg):
            self.bad(op, _reg_desc(size, r31))
        assert isinstance(op, Reg)
        if op.num == 31 and op.sp != (r31 == SP):
            meaning = "sp" if r31 == SP else "the zero register"
            self.fail(
                op,
                f"{op.text} cannot be used here in {self.mn}: expected "
                f"{_reg_desc(size or op.size, r31)} (register 31 means {meaning} "
                f"in this position)",
            )
        if size is not None and op.size != size:
            why = f" like {like.text}" if like is not None else ""
            self.fail(
                op,
                f"register {op.text} has the wrong size for {self.mn}: expected "
                f"{_reg_desc(size, r31)}{why}",
            )
        return op

    def any_reg(self, i: int, expected: str) -> Reg:
        """Operand ``i`` as a register, before its slot (and so the meaning of 31) is known."""
        op = self.ops[i]
        if not isinstance(op, Reg):
            self.bad(op, expected)
        return op

    def warn(self, where: Operand, msg: str) -> None:
        """Note an UNPREDICTABLE form: it assembles (as in GNU as), with a warning."""
        self.warnings.append((msg, where.col))

    # ---- immediates
    def value(self, op: Operand) -> int:
        if not isinstance(op, Imm):
            self.bad(op, "an immediate like #1 or an expression")
        assert isinstance(op, Imm)
        v = op.expr.evaluate(self.lookup, self.pc)
        return v & 0xFFF if op.reloc == "lo12" else v

    def imm(self, i: int, lo: int, hi: int, expected: str | None = None) -> int:
        op = self.ops[i]
        v = self.value(op)
        if not lo <= v <= hi:
            self.fail(
                op,
                f"immediate {_show(op)} out of range for {self.mn}: expected "
                f"{expected or f'{lo}..{hi}'}",
            )
        return v

    def word(self, i: int, table: dict[str, Any], expected: str) -> Any:
        """An operand that must be one of the names in ``table``."""
        op = self.ops[i]
        name = op.name if isinstance(op, Imm) else None
        if name is None or name.lower() not in table:
            self.bad(op, expected)
        return table[name.lower()]

    def shift_amount(self, sh: Shift, lo: int, hi: int) -> int:
        if sh.amount is None:
            return 0
        v = sh.amount.evaluate(self.lookup, self.pc)
        if not lo <= v <= hi:
            self.fail(
                sh.amount_col,
                f"shift amount #{v} out of range for {sh.kind} in "
                f"{self.mn}: expected {lo}..{hi}",
            )
        return v

    def target(self, i: int, bits: int, what: str) -> int:
        """Word offset of a branch/literal target, checked against a signed ``bits`` field."""
        op = self.ops[i]
        if not isinstance(op, Imm) or op.reloc:
            self.bad(op, "a label or an address")
        addr = self.value(op)
        off = addr - self.pc
        if off % 4:
            self.fail(
                op,
                f"target {op.text} ({addr:#x}) is not 4-byte aligned: expected an "
                f"instruction address for {self.mn}",
            )
        limit = 1 << (bits + 1)  # bytes: the field counts words
        if not -limit <= off < limit:
            self.fail(
                op,
                f"target {op.text} is {_signed_hex(off)} bytes away, out of range "
                f"for {self.mn}: expected within ±{_size(limit)} of the instruction",
            )
        return off >> 2


def _show(op: Operand) -> str:
    return op.text if op.text.startswith("#") else f"#{op.text}"


def _signed_hex(v: int) -> str:
    return f"-{-v:#x}" if v < 0 else f"+{v:#x}"


def _size(n: int) -> str:
    for unit, k in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << k:
            return f"{n >> k} {unit}"
    return f"{n} bytes"


def _reg_desc(size: int | None, r31: str) -> str:
    if size is None:
        return "a register x0-x30 or w0-w30, " + ("sp or wsp" if r31 == SP else "xzr or wzr")
    p = "x" if size == 64 else "w"
    last = ("sp" if size == 64 else "wsp") if r31 == SP else f"{p}zr"
    return f"a {size}-bit register {p}0-{p}30, {last}"


def _maybe_shift(c: Ctx, i: int) -> Shift | None:
    if len(c.ops) <= i:
        return None
    op = c.ops[i]
    if not isinstance(op, Shift):
        c.bad(op, "a shift like lsl #2")
    return op


# ============================================================== add, sub and friends


def _addsub(c: Ctx, op: int, s: int, rd_i: int | None, rn_i: int, src_i: int) -> int:
    """ADD/SUB/ADDS/SUBS (ADD (immediate/shifted register/extended register)).

    ``rd_i`` None means the zero register (CMP, CMN). Which of the three encodings applies
    decides what register 31 means in each slot: the immediate and extended forms have
    "Rn (SP)" (and "Rd (SP)" unless they set flags), the shifted form has none.
    """
    src = c.ops[src_i]
    shift = _maybe_shift(c, src_i + 1)
    rd_op = None if rd_i is None else c.any_reg(rd_i, _reg_desc(None, SP))
    rn_op = c.any_reg(rn_i, _reg_desc(None, SP))
    size = (rd_op or rn_op).size
    rd_kind = ZR if s else SP
    if isinstance(src, Imm):
        rd_num = 31 if rd_i is None else c.reg(rd_i, size, r31=rd_kind).num
        rn = c.reg(rn_i, size, r31=SP)
        v = c.value(src)
        sh = 0
        if shift is not None:
            if shift.kind != "lsl":
                c.fail(
                    shift,
                    f"bad shift {shift.text!r} for {c.mn} with an immediate: "
                    f"expected lsl #0 or lsl #12",
                )
            amount = c.shift_amount(shift, 0, 12)
            if amount not in (0, 12):
                c.fail(
                    shift.amount_col,
                    f"shift amount #{amount} for {c.mn}: expected lsl #0 or lsl #12",
                )
            sh = amount // 12
        elif src.reloc is None:
            if v < 0 and -v <= 0xFFF_FFF:  # add #-n is sub #n, as GNU as
                op, v = op ^ 1, -v
            if v > 0xFFF and v & 0xFFF == 0 and v >> 12 <= 0xFFF:
                sh, v = 1, v >> 12
        if not 0 <= v <= 0xFFF:
            c.fail(
                src,
                f"immediate {_show(src)} out of range for {c.mn}: expected 0..4095, "
                f"or a multiple of 4096 up to 0xfff000 (lsl #12)",
            )
        return E.add_sub_imm(rn.sf, op, s, sh, v, rn.num, rd_num)
    rm = c.any_reg(src_i, f"#imm or {_reg_desc(size, ZR)}")
    with_sp = (rd_op is not None and rd_op.sp) or rn_op.sp
    extend = shift is not None and shift.kind in EXTENDS
    if not (with_sp or extend or rm.size != size):  # ADD (shifted register)
        rd_num = 31 if rd_i is None else c.reg(rd_i, size).num
        rn = c.reg(rn_i, size)
        c.reg(src_i, size)
        kind, amount = 0, 0
        if shift is not None:
            if shift.kind not in ("lsl", "lsr", "asr"):
                c.fail(shift, f"bad shift {shift.text!r} for {c.mn}: expected lsl, lsr or asr")
            kind = SHIFTS[shift.kind]
            amount = c.shift_amount(shift, 0, size - 1)
        return E.add_sub_shifted(rn.sf, op, s, kind, rm.num, amount, rn.num, rd_num)
    # ADD (extended register)
    rd_num = 31 if rd_i is None else c.reg(rd_i, size, r31=rd_kind).num
    rn = c.reg(rn_i, size, r31=SP)
    # a 32-bit form takes only Wm; a 64-bit one takes Xm or Wm whatever the extend (GNU as
    # encodes the register number alone, and the extend reads its low bits either way)
    c.reg(src_i, 32 if size == 32 else None)
    if shift is None or shift.kind == "lsl":
        if not with_sp:
            if shift is None:
                c.fail(
                    rm,
                    f"register {rm.text} needs an extend in {c.mn}: expected "
                    f"{_reg_desc(size, ZR)} or e.g. '{rm.text}, uxtw'",
                )
            c.fail(
                shift,
                f"bad shift {shift.text!r} for {c.mn}: expected an extend "
                f"uxtb..sxtx with {rm.text}",
            )
        # with sp, lsl (or nothing) is the extend that leaves the register as it is
        option = 3 if rm.size == 64 else 2
    elif shift.kind in EXTENDS:
        option = EXTENDS[shift.kind]
    else:
        c.fail(
            shift,
            f"bad extend {shift.text!r} for {c.mn}: expected lsl, uxtb, uxth, "
            f"uxtw, uxtx, sxtb, sxth, sxtw or sxtx",
        )
    amount = 0 if shift is None else c.shift_amount(shift, 0, 4)
    return E.add_sub_extended(rn.sf, op, s, rm.num, option, amount, rn.num, rd_num)


_ADDSUB_FORMS = (
    "MN Xd|SP, Xn|SP, #imm12{, lsl #12} | MN Xd, Xn, Xm{, lsl|lsr|asr #n} "
    "| MN Xd|SP, Xn|SP, Wm, uxtw|sxtw...{ #0-4}"
)


@insn(_ADDSUB_FORMS, "add", "sub", "adds", "subs")
def _add(c: Ctx) -> int:
    c.count(3, 4)
    return _addsub(c, 1 if c.mn.startswith("sub") else 0, int(c.mn.endswith("s")), 0, 1, 2)


@insn("MN Xn|SP, #imm12{, lsl #12} | MN Xn, Xm{, shift #n}", "cmp", "cmn")
def _cmp(c: Ctx) -> int:
    c.count(2, 3)
    return _addsub(c, 1 if c.mn == "cmp" else 0, 1, None, 0, 1)


@insn("MN Xd, Xm{, lsl|lsr|asr #n}", "neg", "negs")
def _neg(c: Ctx) -> int:
    # NEG is SUB Xd, XZR, Xm (NEG (shifted register))
    c.count(2, 3)
    rd = c.reg(0)
    rm = c.reg(1, like=rd)
    kind, amount = 0, 0
    shift = _maybe_shift(c, 2)
    if shift is not None:
        if shift.kind not in ("lsl", "lsr", "asr"):
            c.fail(shift, f"bad shift {shift.text!r} for {c.mn}: expected lsl, lsr or asr")
        kind, amount = SHIFTS[shift.kind], c.shift_amount(shift, 0, rd.size - 1)
    return E.add_sub_shifted(rd.sf, 1, c.mn == "negs", kind, rm.num, amount, 31, rd.num)


@insn("MN Xd, Xn, Xm", "adc", "adcs", "sbc", "sbcs")
def _adc(c: Ctx) -> int:
    # "Add/subtract (with carry)": sf op S 11010000 Rm 000000 Rn Rd
    c.count(3)
    rd = c.reg(0)
    rn, rm = c.reg(1, like=rd), c.reg(2, like=rd)
    op, s = int(c.mn.startswith("sbc")), int(c.mn.endswith("s"))
    return (
        rd.sf << 31
        | op << 30
        | s << 29
        | 0b11010000 << 21
        | rm.num << 16
        | rn.num << 5
        | rd.num
    )


# ============================================================== logical

_LOGIC = {
    "and": (0, 0),
    "orr": (1, 0),
    "eor": (2, 0),
    "ands": (3, 0),
    "bic": (0, 1),
    "orn": (1, 1),
    "eon": (2, 1),
    "bics": (3, 1),
}

_BITMASK_EXPECT = (
    "a bitmask immediate (a 2, 4, 8, 16, 32 or 64-bit pattern, repeated, "
    "each a rotated run of ones; not 0 and not all ones)"
)


def _bitmask(c: Ctx, op: Operand, size: int, invert: bool = False) -> tuple[int, int, int]:
    v = c.value(op)
    if not -(1 << (size - 1)) <= v < (1 << size):
        c.fail(
            op, f"immediate {_show(op)} out of range for {c.mn}: expected a {size}-bit value"
        )
    if invert:
        v = ~v
    enc = E.encode_bitmask(v & ((1 << size) - 1), size)
    if enc is None:
        c.fail(
            op,
            f"immediate {_show(op)} cannot be encoded for {c.mn}: expected {_BITMASK_EXPECT}",
        )
    return enc


def _logical(c: Ctx, opc: int, n: int, rd_num: int, size: int, rn_i: int, src_i: int) -> int:
    rn = c.reg(rn_i, size)
    src = c.ops[src_i]
    shift = _maybe_shift(c, src_i + 1)
    sf = 1 if size == 64 else 0
    if isinstance(src, Imm):
        if shift is not None:
            c.fail(
                shift, f"{c.mn} with an immediate takes no shift: expected the end of the line"
            )
        bn, immr, imms = _bitmask(c, src, size, invert=bool(n))
        return E.logical_imm(sf, opc, bn, immr, imms, rn.num, rd_num)
    rm = c.reg(src_i, size)
    kind, amount = 0, 0
    if shift is not None:
        if shift.kind not in SHIFTS:
            c.fail(
                shift, f"bad shift {shift.text!r} for {c.mn}: expected lsl, lsr, asr or ror"
            )
        kind, amount = SHIFTS[shift.kind], c.shift_amount(shift, 0, size - 1)
    return E.logical_shifted(sf, opc, kind, n, rm.num, amount, rn.num, rd_num)


@insn(
    "MN Xd|SP, Xn, #bitmask | MN Xd, Xn, Xm{, lsl|lsr|asr|ror #n}",
    "and",
    "orr",
    "eor",
    "ands",
    "bic",
    "orn",
    "eon",
    "bics",
)
def _and(c: Ctx) -> int:
    # AND/ORR/EOR/ANDS (immediate, shifted register); BIC/ORN/EON/BICS set N
    c.count(3, 4)
    opc, n = _LOGIC[c.mn]
    imm = isinstance(c.ops[2], Imm)
    # AND (immediate): "Rd (SP)" unless it sets flags; every other slot is a plain R
    rd = c.reg(0, r31=SP if imm and opc != 3 else ZR)
    return _logical(c, opc, n, rd.num, rd.size, 1, 2)


@insn("MN Xn, #bitmask | MN Xn, Xm{, shift #n}", "tst")
def _tst(c: Ctx) -> int:
    c.count(2, 3)
    rn = c.reg(0)
    return _logical(c, 3, 0, 31, rn.size, 0, 1)


@insn("MN Xd, Xm{, lsl|lsr|asr|ror #n}", "mvn")
def _mvn(c: Ctx) -> int:
    # MVN is ORN Xd, XZR, Xm (MVN)
    c.count(2, 3)
    rd = c.reg(0)
    c.reg(1, like=rd)
    c.ops.insert(1, Reg(rd.col, "xzr" if rd.size == 64 else "wzr", 31, rd.size, False))
    return _logical(c, 1, 1, rd.num, rd.size, 1, 2)


# ============================================================== moves


def _wide_chunk(v: int, size: int) -> tuple[int, int] | None:
    """(hw, imm16) if ``v`` is one 16-bit chunk at a 16-bit boundary."""
    for hw in range(size // 16):
        if v & ~(0xFFFF << (16 * hw)) & ((1 << size) - 1) == 0:
            return hw, (v >> (16 * hw)) & 0xFFFF
    return None


@insn("MN Xd, #imm | MN Xd, Xm | MN Xd|SP, Xn|SP", "mov")
def _mov(c: Ctx) -> int:
    """MOV is an alias of four instructions, and register 31 means sp in two of them.

    To or from sp it is ADD Xd|SP, Xn|SP, #0; between other registers ORR Xd, XZR, Xm; a
    constant is MOVZ/MOVN Xd (zero register) when a 16-bit chunk encodes it, else ORR
    Xd|SP, XZR, #bitmask (stack pointer). So xzr can take only a wide constant and sp
    only a bitmask one (the Arm ARM's pages "MOV (to/from SP)", "MOV (register)", "MOV
    (wide immediate)" and "MOV (bitmask immediate)").
    """
    c.count(2)
    rd = c.any_reg(0, _reg_desc(None, ZR))
    src = c.ops[1]
    if isinstance(src, Reg):
        if rd.sp or src.sp:  # MOV (to/from SP): ADD Xd|SP, Xn|SP, #0
            rd = c.reg(0, r31=SP)
            rm = c.reg(1, like=rd, r31=SP)
            return E.add_sub_imm(rd.sf, 0, 0, 0, 0, rm.num, rd.num)
        rd = c.reg(0)
        rm = c.reg(1, like=rd)
        return E.logical_shifted(rd.sf, 1, 0, 0, rm.num, 0, 31, rd.num)  # ORR Xd, XZR, Xm
    if not isinstance(src, Imm):
        c.bad(src, "#imm or a register")
    v = c.value(src)
    size = rd.size
    if not -(1 << (size - 1)) <= v < (1 << size):
        c.fail(
            src,
            f"immediate {_show(src)} out of range for mov: expected a {size}-bit value "
            f"that movz/movn/orr can encode",
        )
    v &= (1 << size) - 1
    if not rd.sp:
        z = _wide_chunk(v, size)  # MOV (wide immediate): MOVZ
        if z is not None:
            return E.move_wide(rd.sf, 0b10, z[0], z[1], rd.num)
        n = _wide_chunk(~v & ((1 << size) - 1), size)  # MOV (inverted wide immediate)
        if n is not None:
            return E.move_wide(rd.sf, 0b00, n[0], n[1], rd.num)
    bm = E.encode_bitmask(v, size)  # MOV (bitmask immediate): ORR Xd|SP, XZR, #imm
    if bm is not None and rd.num == 31 and not rd.sp:
        c.fail(
            src,
            f"immediate {_show(src)} cannot be moved to {rd.text}: expected a value "
            f"movz/movn can encode, one 16-bit chunk (only orr encodes this one, and "
            f"its register 31 is sp)",
        )
    if bm is not None:
        return E.logical_imm(rd.sf, 1, bm[0], bm[1], bm[2], 31, rd.num)
    what = (
        "a bitmask immediate (orr is the only mov from a constant to sp)"
        if rd.sp
        else "0..65535 (or a value movz/movn/orr can encode)"
    )
    c.fail(src, f"immediate {_show(src)} out of range for mov: expected {what}")
    return 0


@insn("MN Xd, #imm16{, lsl #0|16|32|48}", "movz", "movn", "movk")
def _movw(c: Ctx) -> int:
    c.count(2, 3)
    rd = c.reg(0)
    src = c.ops[1]
    hw = 0
    if isinstance(src, Imm) and src.reloc:
        c.bad(src, "#imm16")
    v = c.imm(1, 0, 0xFFFF, "0..65535 (use lsl #16/#32/#48 for the upper halves)")
    shift = _maybe_shift(c, 2)
    if shift is not None:
        hi = 48 if rd.size == 64 else 16
        amount = c.shift_amount(shift, 0, hi)
        if shift.kind != "lsl" or amount % 16:
            c.fail(
                shift,
                f"bad shift {shift.text!r} for {c.mn}: expected lsl #0, #16"
                + (", #32 or #48" if rd.size == 64 else ""),
            )
        hw = amount // 16
    opc = {"movn": 0b00, "movz": 0b10, "movk": 0b11}[c.mn]
    return E.move_wide(rd.sf, opc, hw, v, rd.num)


# ============================================================== shifts and bitfields

_SHIFT_OPS = {"lsl": 0, "lsr": 1, "asr": 2, "ror": 3}


@insn("MN Xd, Xn, #n | MN Xd, Xn, Xm", "lsl", "lsr", "asr", "ror")
def _shift_insn(c: Ctx) -> int:
    c.count(3)
    rd = c.reg(0)
    rn = c.reg(1, like=rd)
    size, sf = rd.size, rd.sf
    if isinstance(c.ops[2], Reg):  # LSLV etc.: Data-processing (2 source)
        rm = c.reg(2, like=rd)
        return E.dp_2src(sf, 0b001000 | _SHIFT_OPS[c.mn], rm.num, rn.num, rd.num)
    s = c.imm(2, 0, size - 1)
    if c.mn == "lsl":  # LSL (immediate): UBFM Xd, Xn, #(-s MOD size), #(size-1-s)
        return E.bitfield(sf, 0b10, sf, (-s) % size, size - 1 - s, rn.num, rd.num)
    if c.mn == "lsr":  # LSR (immediate): UBFM Xd, Xn, #s, #(size-1)
        return E.bitfield(sf, 0b10, sf, s, size - 1, rn.num, rd.num)
    if c.mn == "asr":  # ASR (immediate): SBFM Xd, Xn, #s, #(size-1)
        return E.bitfield(sf, 0b00, sf, s, size - 1, rn.num, rd.num)
    return E.extract(sf, rn.num, s, rn.num, rd.num)  # ROR (immediate): EXTR Xd, Xn, Xn


@insn("MN Xd, Xn, Xm", "lslv", "lsrv", "asrv", "rorv")
def _shiftv(c: Ctx) -> int:
    c.count(3)
    rd = c.reg(0)
    rn, rm = c.reg(1, like=rd), c.reg(2, like=rd)
    return E.dp_2src(rd.sf, 0b001000 | _SHIFT_OPS[c.mn[:3]], rm.num, rn.num, rd.num)


_BF = {"sbfm": 0b00, "bfm": 0b01, "ubfm": 0b10}


@insn("MN Xd, Xn, #immr, #imms", "sbfm", "bfm", "ubfm")
def _bfm(c: Ctx) -> int:
    c.count(4)
    rd = c.reg(0)
    rn = c.reg(1, like=rd)
    immr = c.imm(2, 0, rd.size - 1)
    imms = c.imm(3, 0, rd.size - 1)
    return E.bitfield(rd.sf, _BF[c.mn], rd.sf, immr, imms, rn.num, rd.num)


@insn("MN Xd, Xn, #lsb, #width", "ubfx", "sbfx", "bfxil", "ubfiz", "sbfiz", "bfi")
def _bfx(c: Ctx) -> int:
    # UBFX/SBFX/BFXIL: xBFM Xd, Xn, #lsb, #(lsb+width-1);
    # UBFIZ/SBFIZ/BFI: xBFM Xd, Xn, #(-lsb MOD size), #(width-1)
    c.count(4)
    rd = c.reg(0)
    rn = c.reg(1, like=rd)
    size = rd.size
    lsb = c.imm(2, 0, size - 1)
    width = c.imm(3, 1, size - lsb)
    opc = _BF["bfm" if c.mn.startswith("bf") else c.mn[0] + "bfm"]
    if c.mn in ("ubfx", "sbfx", "bfxil"):
        immr, imms = lsb, lsb + width - 1
    else:
        immr, imms = (-lsb) % size, width - 1
    return E.bitfield(rd.sf, opc, rd.sf, immr, imms, rn.num, rd.num)


_EXT_BITS = {
    "uxtb": (0b10, 7),
    "uxth": (0b10, 15),
    "sxtb": (0b00, 7),
    "sxth": (0b00, 15),
    "sxtw": (0b00, 31),
}


@insn("MN Wd|Xd, Wn", "uxtb", "uxth", "sxtb", "sxth", "sxtw")
def _ext(c: Ctx) -> int:
    # UXTB/UXTH (UBFM Wd, Wn, #0, #7|15), SXTB/SXTH/SXTW (SBFM Xd, Xn, #0, #7|15|31)
    c.count(2)
    opc, imms = _EXT_BITS[c.mn]
    rd = c.reg(0, 64 if c.mn == "sxtw" else None)
    rn = c.reg(1, 32)
    # UXTB/UXTH exist only as 32-bit forms; GNU as also takes an X destination for them and
    # encodes the W form, which leaves the same value (a W write clears the upper half)
    sf = 0 if c.mn.startswith("u") else rd.sf
    return E.bitfield(sf, opc, sf, 0, imms, rn.num, rd.num)


@insn("MN Xd, Xn, Xm, #lsb", "extr")
def _extr(c: Ctx) -> int:
    c.count(4)
    rd = c.reg(0)
    rn, rm = c.reg(1, like=rd), c.reg(2, like=rd)
    return E.extract(rd.sf, rm.num, c.imm(3, 0, rd.size - 1), rn.num, rd.num)


# ============================================================== multiply and divide


@insn("MN Xd, Xn, Xm", "mul", "mneg", "udiv", "sdiv", "smulh", "umulh")
def _mul(c: Ctx) -> int:
    c.count(3)
    rd = c.reg(0, 64 if c.mn in ("smulh", "umulh") else None)
    rn, rm = c.reg(1, like=rd), c.reg(2, like=rd)
    if c.mn == "mul":  # MUL: MADD Xd, Xn, Xm, XZR
        return E.dp_3src(rd.sf, 0, rm.num, 0, 31, rn.num, rd.num)
    if c.mn == "mneg":  # MNEG: MSUB Xd, Xn, Xm, XZR
        return E.dp_3src(rd.sf, 0, rm.num, 1, 31, rn.num, rd.num)
    if c.mn in ("smulh", "umulh"):
        return E.dp_3src(1, 0b010 if c.mn == "smulh" else 0b110, rm.num, 0, 31, rn.num, rd.num)
    return E.dp_2src(rd.sf, 0b000010 if c.mn == "udiv" else 0b000011, rm.num, rn.num, rd.num)


@insn("MN Xd, Xn, Xm, Xa", "madd", "msub")
def _madd(c: Ctx) -> int:
    c.count(4)
    rd = c.reg(0)
    rn, rm, ra = c.reg(1, like=rd), c.reg(2, like=rd), c.reg(3, like=rd)
    return E.dp_3src(rd.sf, 0, rm.num, int(c.mn == "msub"), ra.num, rn.num, rd.num)


@insn("MN Xd, Wn, Wm", "smull", "umull", "smnegl", "umnegl")
def _mull(c: Ctx) -> int:
    c.count(3)
    rd = c.reg(0, 64)
    rn, rm = c.reg(1, 32), c.reg(2, 32)
    op31 = 0b001 if c.mn[0] == "s" else 0b101
    return E.dp_3src(1, op31, rm.num, int("neg" in c.mn), 31, rn.num, rd.num)


@insn("MN Xd, Wn, Wm, Xa", "smaddl", "umaddl", "smsubl", "umsubl")
def _maddl(c: Ctx) -> int:
    c.count(4)
    rd = c.reg(0, 64)
    rn, rm, ra = c.reg(1, 32), c.reg(2, 32), c.reg(3, 64)
    op31 = 0b001 if c.mn[0] == "s" else 0b101
    return E.dp_3src(1, op31, rm.num, int("sub" in c.mn), ra.num, rn.num, rd.num)


# ============================================================== conditional

_COND_EXPECT = "a condition: eq, ne, cs/hs, cc/lo, mi, pl, vs, vc, hi, ls, ge, lt, gt, le, al"


def _cond(c: Ctx, i: int, invertible: bool = False) -> int:
    cond = c.word(i, CONDITIONS, _COND_EXPECT)
    if invertible and cond >= 14:
        c.bad(c.ops[i], _COND_EXPECT.replace(", al", "") + " (not al or nv)")
    return cond


_CSEL = {"csel": (0, 0), "csinc": (0, 1), "csinv": (1, 0), "csneg": (1, 1)}


@insn("MN Xd, Xn, Xm, cond", "csel", "csinc", "csinv", "csneg")
def _csel(c: Ctx) -> int:
    c.count(4)
    rd = c.reg(0)
    rn, rm = c.reg(1, like=rd), c.reg(2, like=rd)
    op, op2 = _CSEL[c.mn]
    return E.cond_select(rd.sf, op, rm.num, _cond(c, 3), op2, rn.num, rd.num)


@insn("MN Xd, cond", "cset", "csetm")
def _cset(c: Ctx) -> int:
    # CSET: CSINC Xd, XZR, XZR, invert(cond); CSETM: CSINV
    c.count(2)
    rd = c.reg(0)
    op = 0 if c.mn == "cset" else 1
    return E.cond_select(rd.sf, op, 31, _cond(c, 1, True) ^ 1, 1 - op, 31, rd.num)


@insn("MN Xd, Xn, cond", "cinc", "cinv", "cneg")
def _cinc(c: Ctx) -> int:
    # CINC: CSINC Xd, Xn, Xn, invert(cond); CINV: CSINV; CNEG: CSNEG
    c.count(3)
    rd = c.reg(0)
    rn = c.reg(1, like=rd)
    op, op2 = {"cinc": (0, 1), "cinv": (1, 0), "cneg": (1, 1)}[c.mn]
    return E.cond_select(rd.sf, op, rn.num, _cond(c, 2, True) ^ 1, op2, rn.num, rd.num)


@insn("MN Xn, #imm5|Xm, #nzcv, cond", "ccmp", "ccmn")
def _ccmp(c: Ctx) -> int:
    c.count(4)
    rn = c.reg(0)
    if isinstance(c.ops[1], Reg):
        second, is_imm = c.reg(1, like=rn).num, 0
    else:
        second, is_imm = c.imm(1, 0, 31), 1
    nzcv = c.imm(2, 0, 15)
    return E.cond_compare(
        rn.sf, int(c.mn == "ccmp"), is_imm, second, _cond(c, 3), rn.num, nzcv
    )


# ============================================================== branches


@insn("MN label", "b", "bl")
def _b(c: Ctx) -> int:
    c.count(1)
    return E.branch_imm(int(c.mn == "bl"), c.target(0, 26, "label"))


def _bcond(c: Ctx) -> int:
    c.count(1)
    cond = CONDITIONS[c.mn[2:]]
    return E.branch_cond(c.target(0, 19, "label"), cond)


for _name in CONDITIONS:
    insn("MN label", f"b.{_name}")(_bcond)


@insn("MN Xt, label", "cbz", "cbnz")
def _cbz(c: Ctx) -> int:
    c.count(2)
    rt = c.reg(0)
    return E.compare_branch(rt.sf, int(c.mn == "cbnz"), c.target(1, 19, "label"), rt.num)


@insn("MN Xt, #bit, label", "tbz", "tbnz")
def _tbz(c: Ctx) -> int:
    c.count(3)
    rt = c.reg(0)
    bit = c.imm(1, 0, rt.size - 1)
    return E.test_branch(bit, int(c.mn == "tbnz"), c.target(2, 14, "label"), rt.num)


@insn("MN Xn", "br", "blr")
def _br(c: Ctx) -> int:
    c.count(1)
    return E.branch_reg(0b0000 if c.mn == "br" else 0b0001, c.reg(0, 64).num)


@insn("MN {Xn}", "ret")
def _ret(c: Ctx) -> int:
    n = c.count(0, 1)
    return E.branch_reg(0b0010, c.reg(0, 64).num if n else 30)


@insn("MN", "eret")
def _eret(c: Ctx) -> int:
    c.count(0)
    return E.branch_reg(0b0100, 31)


@insn("MN Xd, label", "adr", "adrp")
def _adr(c: Ctx) -> int:
    c.count(2)
    rd = c.reg(0, 64)
    op = c.ops[1]
    if not isinstance(op, Imm) or op.reloc:
        c.bad(op, "a label or an address")
    target = c.value(op)
    if c.mn == "adr":  # ADR: imm21 = target - pc, ±1 MiB
        off = target - c.pc
        if not -(1 << 20) <= off < (1 << 20):
            c.fail(
                op,
                f"target {op.text} is {_signed_hex(off)} bytes away, out of range for "
                f"adr: expected within ±1 MiB (use adrp + add :lo12:)",
            )
        return E.pc_rel(0, off, rd.num)
    pages = (target >> 12) - (c.pc >> 12)  # ADRP: 4 KiB pages, ±4 GiB
    if not -(1 << 20) <= pages < (1 << 20):
        c.fail(
            op,
            f"target {op.text} is {pages} pages away, out of range for adrp: expected "
            f"within ±4 GiB",
        )
    return E.pc_rel(1, pages, rd.num)


# ============================================================== exceptions and hints

_EXC = {"brk": Op.BRK, "svc": Op.SVC, "hvc": Op.HVC, "smc": Op.SMC, "hlt": Op.HLT}


@insn("MN #imm16", "brk", "svc", "hvc", "smc", "hlt", "udf")
def _exc(c: Ctx) -> int:
    c.count(1)
    v = c.imm(0, 0, 0xFFFF, "0..65535")
    if c.mn == "udf":  # UDF: 0000 0000 0000 0000 imm16
        return v
    return E.exception(_EXC[c.mn], v)


_HINTS = {"nop": 0, "yield": 1, "wfe": 2, "wfi": 3, "sev": 4, "sevl": 5}


@insn("MN", *_HINTS)
def _hint_named(c: Ctx) -> int:
    c.count(0)
    return E.hint(_HINTS[c.mn])


@insn("MN #imm7", "hint")
def _hint(c: Ctx) -> int:
    c.count(1)
    return E.hint(c.imm(0, 0, 127))


_BARRIER_EXPECT = "a barrier option (sy, st, ld, ish, ishst, ishld, nsh, osh, ...) or #0-15"


@insn("MN {sy|#imm}", "isb")
def _isb(c: Ctx) -> int:
    if c.count(0, 1) == 0:
        return E.barrier(0b110, 15)
    op = c.ops[0]
    if isinstance(op, Imm) and op.name is not None:
        if op.name.lower() != "sy":
            c.bad(op, "sy or #0-15")
        return E.barrier(0b110, 15)
    return E.barrier(0b110, c.imm(0, 0, 15))


@insn("MN option", "dsb", "dmb")
def _dsb(c: Ctx) -> int:
    c.count(1)
    op = c.ops[0]
    op2 = 0b100 if c.mn == "dsb" else 0b101
    if isinstance(op, Imm) and op.name is not None:
        return E.barrier(op2, c.word(0, BARRIER_OPTIONS, _BARRIER_EXPECT))
    return E.barrier(op2, c.imm(0, 0, 15, "0..15 or " + _BARRIER_EXPECT))


@insn("MN {#imm}", "clrex")
def _clrex(c: Ctx) -> int:
    return E.barrier(0b010, c.imm(0, 0, 15) if c.count(0, 1) else 15)


# ============================================================== system registers

_SYSREG_EXPECT = (
    "a system register such as vbar_el1, esr_el1, elr_el1, spsr_el1, far_el1, "
    "sctlr_el1, mdscr_el1, daif, nzcv, currentel, tpidr_el0, sp_el0, spsel, "
    "or s<op0>_<op1>_c<n>_c<m>_<op2>"
)


def _sysreg(c: Ctx, i: int, access: str) -> tuple[int, int, int, int, int]:
    op = c.ops[i]
    name = op.name if isinstance(op, Imm) else None
    reg = sysreg(name) if name else None
    if reg is None:
        c.bad(op, _SYSREG_EXPECT)
    assert reg is not None
    if access not in reg[5]:
        verb = "written" if access == "w" else "read"
        c.fail(
            op,
            f"system register {name} cannot be {verb}: expected a "
            f"{'writable' if access == 'w' else 'readable'} register for {c.mn}",
        )
    return reg[:5]


@insn("MN Xt, sysreg", "mrs")
def _mrs(c: Ctx) -> int:
    c.count(2)
    rt = c.reg(0, 64)
    return E.system(1, *_sysreg(c, 1, "r"), rt.num)


@insn("MN sysreg, Xt | MN daifset|daifclr|spsel, #imm", "msr")
def _msr(c: Ctx) -> int:
    c.count(2)
    first, src = c.ops[0], c.ops[1]
    name = first.name.lower() if isinstance(first, Imm) and first.name else None
    if isinstance(src, Imm) and name in PSTATE_FIELDS:  # MSR (immediate)
        op1, op2, hi = PSTATE_FIELDS[name]
        return E.pstate(op1, c.imm(1, 0, hi), op2)
    if isinstance(src, Imm):
        c.bad(
            src,
            "a 64-bit register x0-x30, xzr (only daifset, daifclr and spsel take "
            "an immediate)",
        )
    reg = _sysreg(c, 0, "w")
    rt = c.reg(1, 64)
    return E.system(0, *reg, rt.num)


def _sys_op(c: Ctx) -> int:
    table = SYS_OPS[c.mn]
    expect = f"a {c.mn} operation: " + ", ".join(table)
    if not c.ops:
        c.fail(c.end_col, f"{c.mn} needs an operation: expected {expect}")
    op1, crn, crm, op2, takes_reg = c.word(0, table, expect)
    if takes_reg:
        c.count(2)
        rt = c.reg(1, 64).num
    else:
        c.count(1)
        rt = 31
    return E.system(0, 1, op1, crn, crm, op2, rt)  # SYS: op0 = 01


for _name in SYS_OPS:
    insn("MN op{, Xt}", _name)(_sys_op)


# ============================================================== loads and stores

# mnemonic -> {register size: (size, opc)} ("Load/store register" size/opc tables)
_LDST = {
    "ldr": {64: (3, 1), 32: (2, 1)},
    "str": {64: (3, 0), 32: (2, 0)},
    "ldrb": {32: (0, 1)},
    "strb": {32: (0, 0)},
    "ldrh": {32: (1, 1)},
    "strh": {32: (1, 0)},
    "ldrsb": {64: (0, 2), 32: (0, 3)},
    "ldrsh": {64: (1, 2), 32: (1, 3)},
    "ldrsw": {64: (2, 2)},
}
_UNSCALED = {
    "ldur": "ldr",
    "stur": "str",
    "ldurb": "ldrb",
    "sturb": "strb",
    "ldurh": "ldrh",
    "sturh": "strh",
    "ldursb": "ldrsb",
    "ldursh": "ldrsh",
    "ldursw": "ldrsw",
}


def _rt_for(c: Ctx, table: dict) -> Reg:
    sizes = sorted(table, reverse=True)
    return c.reg(0, sizes[0] if len(sizes) == 1 else None)


def _mem(c: Ctx, i: int) -> Mem:
    """Operand ``i`` as a memory operand: its base is "Xn|SP" in every load and store."""
    op = c.ops[i]
    if not isinstance(op, Mem):
        c.bad(op, "a memory operand like [x1], [x1, #8], [x1, #8]! or [x1], #8")
    assert isinstance(op, Mem)
    base = op.base
    if base.num == 31 and not base.sp:
        c.fail(
            base,
            f"{base.text} cannot be a base register in {c.mn}: expected x0-x30 or sp "
            f"(register 31 means sp in this position)",
        )
    return op


@insn(
    "MN Xt, [Xn|SP{, #imm}] | [Xn, #imm]! | [Xn], #imm | [Xn, Xm{, lsl #s}] | label | =imm",
    *_LDST,
)
def _ldst(c: Ctx) -> int:
    table = _LDST[c.mn]
    n = c.count(2, 3)
    rt = _rt_for(c, table)
    size, opc = table[rt.size]
    scale = size
    src = c.ops[1]
    if isinstance(src, Lit):  # ldr Xt, =value: a PC-relative load from the literal pool
        if c.mn != "ldr" or n != 2:
            c.bad(src, "=value only with ldr")
        assert c.pool_addr is not None
        off = c.pool_addr - c.pc
        return E.ld_literal(1 if rt.size == 64 else 0, off >> 2, rt.num)
    if isinstance(src, Imm):  # LDR (literal), LDRSW (literal)
        if c.mn not in ("ldr", "ldrsw") or n != 2:
            c.bad(
                src,
                "a memory operand like [x1, #8]"
                + (" or a label" if c.mn in ("ldr", "ldrsw") else ""),
            )
        opc_lit = 2 if c.mn == "ldrsw" else (1 if rt.size == 64 else 0)
        return E.ld_literal(opc_lit, c.target(1, 19, "label"), rt.num)
    mem = _mem(c, 1)
    base = mem.base
    if n == 3:  # post-index: [Xn], #imm
        if mem.offset is not None or mem.index is not None or mem.writeback:
            c.fail(
                c.ops[2],
                f"a post-index offset needs a plain [Xn] before it: expected "
                f"[{base.text}], #imm",
            )
        imm = c.imm(2, -256, 255)
        _warn_writeback(c, mem, rt)
        return E.ldst_imm9(size, opc, imm, 0b01, base.num, rt.num)
    if mem.index is not None:  # LDR (register)
        if mem.writeback:
            c.fail(mem, f"register offsets have no write-back form: expected no '!' in {c.mn}")
        idx = mem.index
        option, amount, explicit = 3, 0, False
        if mem.ext is not None:
            ext = mem.ext
            if ext.kind == "lsl":
                option = 3
            elif ext.kind in ("uxtw", "sxtw", "sxtx"):
                option = EXTENDS[ext.kind]
            else:
                c.fail(
                    ext,
                    f"bad extend {ext.text!r} for {c.mn}: expected lsl, uxtw, sxtw or sxtx",
                )
            if ext.amount is not None:
                explicit = True
                amount = ext.amount.evaluate(c.lookup, c.pc)
                if amount not in (0, scale):
                    c.fail(
                        ext.amount_col,
                        f"shift #{amount} for {c.mn}: expected #0 or "
                        f"#{scale} (the access size)",
                    )
            elif ext.kind == "lsl":
                c.fail(ext, f"lsl needs an amount in {c.mn}: expected lsl #{scale}")
        want = 32 if option in (2, 6) else 64
        if idx.sp or idx.size != want:
            c.fail(
                idx,
                f"index register {idx.text} for {c.mn}: expected a {want}-bit "
                f"register" + (" with uxtw/sxtw" if want == 32 else ""),
            )
        s = int(amount == scale and (scale > 0 or explicit))
        if scale == 0:
            s = int(explicit)
        return E.ldst_regoff(size, opc, idx.num, option, s, base.num, rt.num)
    imm = 0
    if mem.offset is not None:
        imm = c.value(mem.offset)
    if mem.writeback:  # pre-index: [Xn, #imm]!
        if not -256 <= imm <= 255:
            c.fail(
                mem.offset or mem,
                f"offset #{imm} out of range for a pre-index {c.mn}: expected -256..255",
            )
        _warn_writeback(c, mem, rt)
        return E.ldst_imm9(size, opc, imm, 0b11, base.num, rt.num)
    unit = 1 << scale
    if mem.offset is not None and mem.offset.reloc == "lo12":
        if imm % unit:
            c.fail(
                mem.offset,
                f":lo12: offset {imm:#x} is not a multiple of {unit} for "
                f"{c.mn}: expected a {unit}-byte aligned symbol",
            )
        return E.ldst_unsigned(size, opc, imm >> scale, base.num, rt.num)
    if imm >= 0 and imm % unit == 0 and imm >> scale <= 0xFFF:
        return E.ldst_unsigned(size, opc, imm >> scale, base.num, rt.num)
    if -256 <= imm <= 255:  # GNU as picks LDUR/STUR for these, so do we
        return E.ldst_imm9(size, opc, imm, 0b00, base.num, rt.num)
    c.fail(
        mem.offset or mem,
        f"offset #{imm} out of range for {c.mn}: expected a multiple of "
        f"{unit} in 0..{0xFFF * unit}, or -256..255",
    )
    return 0


def _warn_writeback(c: Ctx, mem: Mem, *regs: Reg) -> None:
    """Warn when a pre- or post-indexed access also transfers its own base register.

    The Arm ARM's pages "LDR (immediate)", "STR (immediate)", "LDP" and "STP" make such a
    transfer CONSTRAINED UNPREDICTABLE, unless the base is number 31: as a base that is sp,
    as data the zero register, two different registers.
    """
    base = mem.base
    for r in regs:
        if r.num == base.num != 31:
            c.warn(
                r,
                f"unpredictable transfer with writeback: {c.mn} writes the address "
                f"back to {base.text} and also transfers {r.text}, the same register",
            )
            return


@insn("MN Xt, [Xn|SP{, #simm9}]", *_UNSCALED)
def _ldur(c: Ctx) -> int:
    table = _LDST[_UNSCALED[c.mn]]
    c.count(2)
    rt = _rt_for(c, table)
    size, opc = table[rt.size]
    mem = _mem(c, 1)
    if mem.index is not None or mem.writeback:
        c.bad(mem, "[Xn{, #simm9}]")
    imm = c.value(mem.offset) if mem.offset is not None else 0
    if not -256 <= imm <= 255:
        c.fail(mem.offset, f"offset #{imm} out of range for {c.mn}: expected -256..255")
    return E.ldst_imm9(size, opc, imm, 0b00, mem.base.num, rt.num)


_PAIRS = {"ldp": (1, {64: 2, 32: 0}), "stp": (0, {64: 2, 32: 0}), "ldpsw": (1, {64: 1})}


@insn("MN Xt1, Xt2, [Xn|SP{, #imm}] | [Xn, #imm]! | [Xn], #imm", *_PAIRS)
def _ldp(c: Ctx) -> int:
    # LDP/STP/LDPSW; imm7 is scaled by the access size
    load, opcs = _PAIRS[c.mn]
    n = c.count(3, 4)
    rt = c.reg(0, 64 if c.mn == "ldpsw" else None)
    rt2 = c.reg(1, like=rt)
    opc = opcs[rt.size]
    scale = 2 if rt.size == 32 or c.mn == "ldpsw" else 3
    mem = _mem(c, 2)
    if mem.index is not None:
        c.bad(mem, "[Xn{, #imm}] (pairs have no register offset)")
    if n == 4:
        if mem.offset is not None or mem.writeback:
            c.fail(
                c.ops[3],
                f"a post-index offset needs a plain [Xn] before it: expected "
                f"[{mem.base.text}], #imm",
            )
        where, imm, mode = c.ops[3], c.value(c.ops[3]), 0b001
    else:
        where = mem.offset or mem
        imm = c.value(mem.offset) if mem.offset is not None else 0
        mode = 0b011 if mem.writeback else 0b010
    unit = 1 << scale
    if imm % unit or not -64 * unit <= imm <= 63 * unit:
        c.fail(
            where,
            f"offset #{imm} out of range for {c.mn}: expected a multiple of {unit} "
            f"in {-64 * unit}..{63 * unit}",
        )
    base = mem.base
    # Arm ARM, "LDP": loading both halves into one register is CONSTRAINED UNPREDICTABLE
    if load and rt.num == rt2.num:
        c.warn(
            rt2,
            f"unpredictable load of a register pair: {c.mn} loads {rt.text} twice "
            f"(the Arm ARM leaves which value it keeps UNPREDICTABLE)",
        )
    elif mode != 0b010:
        _warn_writeback(c, mem, rt, rt2)
    return E.ldst_pair(opc, mode, load, imm >> scale, rt2.num, base.num, rt.num)


# exclusive and acquire/release: mnemonic -> (size or None for by register, o2, L, o0)
_EXCL = {
    "ldxr": (None, 0, 1, 0),
    "ldaxr": (None, 0, 1, 1),
    "ldar": (None, 1, 1, 1),
    "stlr": (None, 1, 0, 1),
    "ldxrb": (0, 0, 1, 0),
    "ldarb": (0, 1, 1, 1),
    "stlrb": (0, 1, 0, 1),
    "ldxrh": (1, 0, 1, 0),
    "ldarh": (1, 1, 1, 1),
    "stlrh": (1, 1, 0, 1),
    "stxr": (None, 0, 0, 0),
    "stlxr": (None, 0, 0, 1),
    "stxrb": (0, 0, 0, 0),
    "stxrh": (1, 0, 0, 0),
}


@insn("MN {Ws,} Xt, [Xn|SP]", *_EXCL)
def _excl(c: Ctx) -> int:
    size, o2, load, o0 = _EXCL[c.mn]
    status = c.mn.startswith("st") and "x" in c.mn
    c.count(3 if status else 2)
    rs = c.reg(0, 32).num if status else 31
    i = 1 if status else 0
    rt = c.reg(i, 32 if size is not None else None)
    mem = _mem(c, i + 1)
    if (
        mem.index is not None
        or mem.writeback
        or (mem.offset is not None and c.value(mem.offset) != 0)
    ):
        c.bad(mem, "[Xn] or [Xn, #0]")
    if size is None:
        size = 3 if rt.size == 64 else 2
    # Arm ARM, "STXR": a status register that is also the data register, or the base
    # (other than sp), is CONSTRAINED UNPREDICTABLE
    if status and rs == rt.num:
        c.warn(
            c.ops[0],
            f"unpredictable: {c.mn} stores {rt.text} and writes its status to "
            f"the same register {c.ops[0].text}",
        )
    elif status and rs == mem.base.num != 31:
        c.warn(
            c.ops[0],
            f"unpredictable: {c.mn} writes its status to {c.ops[0].text}, the "
            f"register that holds its address {mem.base.text}",
        )
    return E.ldst_exclusive(size, o2, load, 0, rs, o0, 31, mem.base.num, rt.num)


MNEMONICS = frozenset(HANDLERS)
