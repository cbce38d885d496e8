"""Register diagrams in the style of the Arm ARM: bit boxes with field names, ranges and values.

Two layers, so that the layout can be tested as plain data:

* :func:`field_boxes` is a pure function from a list of fields (anything with ``name``,
  ``msb``, ``lsb`` and ``value`` attributes, such as :class:`armbp.esr.Field`) to a list of
  :class:`Box` records: which row, which bit columns, what text, which colour and hatch.
* :func:`draw_register` turns those boxes into a matplotlib figure; :func:`draw_syndrome`
  and :func:`draw_word` are the two pictures the lessons need (an ESR_ELx value and a
  32-bit instruction word).

A 64-bit register is drawn as two rows of 32 bits, 63..32 above 31..0, as the Arm ARM does.
Colours come from the Okabe–Ito palette (distinguishable with the common colour-vision
deficiencies) and every field also carries a hatch pattern and its name, so the picture
still reads when printed in greyscale. RES0/RES1 fields are grey and hatched, as in the
Arm ARM. A field too narrow for its name gets a rotated label or, failing that, a key
such as ``(a)`` explained in a legend under the picture.

Output is deterministic: fixed sizes, no randomness, and :func:`to_png` / :func:`to_svg` /
:func:`save` strip dates and fix the SVG id salt so that saving twice gives the same bytes.

This module imports matplotlib and :mod:`armbp.encodings` only (and :mod:`armbp.esr`
lazily, inside :func:`draw_syndrome`): no Unicorn, no capstone.
"""

from __future__ import annotations

import io
import itertools
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from . import encodings

__all__ = [
    "PALETTE",
    "RESERVED_STYLE",
    "Box",
    "LegendEntry",
    "RegisterFigure",
    "WordField",
    "draw_debug_control",
    "draw_register",
    "draw_syndrome",
    "draw_word",
    "field_boxes",
    "instruction_fields",
    "legend_entries",
    "save",
    "to_png",
    "to_svg",
]


class FieldLike(Protocol):
    """What the layout needs of a field: :class:`armbp.esr.Field` and :class:`WordField` fit."""

    name: str
    msb: int
    lsb: int
    value: int


@dataclass(frozen=True)
class WordField:
    """A named bit field of an instruction word (same shape as :class:`armbp.esr.Field`)."""

    name: str
    msb: int
    lsb: int
    value: int
    meaning: str = ""


@dataclass(frozen=True)
class Box:
    """One drawn field (or one row's part of a field that crosses rows).

    ``row`` counts from the top (row 0 holds the highest bits); ``x0``/``x1`` are bit
    columns from the left edge of that row, ``x1`` exclusive, so ``x1 - x0`` is the number
    of bits in the box. ``label`` is the text drawn in the box: the field name, or a key
    like ``(a)`` when the name does not fit (``key`` is then set and :func:`legend_entries`
    spells the name out). ``rotate`` is True when the label is drawn vertically.
    """

    row: int
    x0: int
    x1: int
    name: str
    label: str
    bits: str
    value: str
    colour: str
    hatch: str
    msb: int
    lsb: int
    rotate: bool = False
    key: str = ""
    reserved: bool = False
    digits: str = ""

    @property
    def width(self) -> int:
        return self.x1 - self.x0


@dataclass(frozen=True)
class LegendEntry:
    key: str
    name: str
    bits: str


# Okabe & Ito (2008), "Color Universal Design": safe for the common colour-vision deficiencies.
# Fills are the palette colours lightened towards white so black text stays readable on all
# of them; each colour is paired with its own hatch so neighbours differ in greyscale too.
PALETTE: tuple[tuple[str, str, str], ...] = (
    # (name, fill, hatch)
    ("sky blue", "#9ED2F2", "/"),
    ("orange", "#F3CF80", "\\"),
    ("bluish green", "#80CFB9", "."),
    ("reddish purple", "#E6BCD3", "x"),
    ("blue", "#80B9D9", "-"),
    ("vermillion", "#EAAF80", "|"),
    ("yellow", "#F8F2A1", "o"),
)
RESERVED_STYLE = ("#D9D9D9", "////")
GAP_STYLE = ("#FFFFFF", "")
_HATCH_COLOUR = "#707070"  # hatch lines: visible in greyscale, quiet behind the text
# A hatch colour of its own came with matplotlib 3.11 (``hatchcolor=``); before it, a
# patch's hatch takes its edge colour (what Pyodide's and Python 3.10's matplotlib do).
_HAS_HATCHCOLOR = hasattr(Patch, "set_hatchcolor")

# Fields whose colour should not change from one picture to the next. The comment of a BRK
# has the same colour in the instruction word (imm16) and in the syndrome (ISS comment).
_FIXED_COLOUR = {"EC": 0, "IL": 1, "ISS2": 4, "imm16": 2, "Comment": 2, "comment": 2}
# Colours the other fields cycle through (EC and IL keep theirs to themselves).
_CYCLE = (2, 3, 4, 5, 6)

# --- geometry (points) ----------------------------------------------------------------------
FIG_WIDTH_IN = 12.0
DPI = 100
_MARGIN_COLS = 0.6  # empty columns left and right of a row
_TITLE_PT = 24.0
_BITNUM_PT = 13.0  # bit numbers above a row
_BOX_PT = 54.0  # the field box: label + value
_DIGITS_PT = 15.0  # the strip of 0/1 digits under the box
_ROW_GAP_PT = 12.0
_LEGEND_LINE_PT = 13.0
_LEGEND_GAP_PT = 8.0
_BOTTOM_PAD_PT = 6.0
_LABEL_SIZE = 9.0
_SMALL_LABEL_SIZE = 8.0
_VALUE_SIZE = 8.0
_BITNUM_SIZE = 7.0
_DIGIT_SIZE = 7.5
_VALUE_AREA_PT = 16.0  # bottom part of a box used by the value text


def _column_pt(row_bits: int) -> float:
    return FIG_WIDTH_IN * 72.0 / (row_bits + 2 * _MARGIN_COLS)


@lru_cache(maxsize=4096)
def _text_pt(text: str, size: float) -> float:
    """Width in points of ``text`` in bold DejaVu Sans (matplotlib's bundled font)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    font = FontProperties(family="DejaVu Sans", weight="bold", size=size)
    width, _, _ = TextToPath().get_text_width_height_descent(text, font, ismath=False)
    return float(width)


def is_reserved(name: str) -> bool:
    """RES0/RES1 (and their "RES0 (ISS)" style variants) are drawn grey, as in the Arm ARM."""
    upper = name.upper()
    return upper.startswith(("RES0", "RES1")) or upper == "RAZ/WI"


def bit_range(msb: int, lsb: int) -> str:
    """``"31:26"``, or ``"25"`` for a single bit (Arm ARM notation)."""
    return str(msb) if msb == lsb else f"{msb}:{lsb}"


def value_text(value: int, nbits: int) -> str:
    """How a field's value is printed: one digit, binary up to 4 bits, else padded hex."""
    if nbits == 1:
        return str(value)
    if nbits <= 4:
        return "0b" + format(value, f"0{nbits}b")
    return "0x" + format(value, f"0{(nbits + 3) // 4}X")


def _key(n: int) -> str:
    letters = ""
    n += 1
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(ord("a") + rem) + letters
    return f"({letters})"


def _check_fields(fields: Sequence[FieldLike], width: int) -> list[FieldLike]:
    out = []
    for f in fields:
        msb, lsb = int(f.msb), int(f.lsb)
        if not (0 <= lsb <= msb < width):
            raise ValueError(f"field {f.name!r} [{msb}:{lsb}] does not fit in {width} bits")
        out.append(f)
    out.sort(key=lambda f: -int(f.msb))
    for hi, lo in itertools.pairwise(out):
        if int(lo.msb) >= int(hi.lsb):
            raise ValueError(
                f"fields {hi.name!r} [{bit_range(hi.msb, hi.lsb)}] and "
                f"{lo.name!r} [{bit_range(lo.msb, lo.lsb)}] overlap"
            )
    return out


def _with_gaps(fields: list[FieldLike], width: int) -> list[FieldLike]:
    """Fill bits no field covers with unnamed fields, so every column is drawn."""
    filled: list[FieldLike] = []
    top = width - 1
    for f in fields:
        if int(f.msb) < top:
            filled.append(WordField("", top, int(f.msb) + 1, 0))
        filled.append(f)
        top = int(f.lsb) - 1
    if top >= 0:
        filled.append(WordField("", top, 0, 0))
    return filled


def _fit_label(name: str, ncols: int, row_bits: int) -> tuple[str, bool, float] | None:
    """(text, rotated, font size) if ``name`` fits a box ``ncols`` wide, else None."""
    col = _column_pt(row_bits)
    room = ncols * col - 4.0
    for size in (_LABEL_SIZE, _SMALL_LABEL_SIZE):
        if _text_pt(name, size) <= room:
            return name, False, size
    if ncols <= 2 and _text_pt(name, _SMALL_LABEL_SIZE) <= _BOX_PT - _VALUE_AREA_PT - 4.0:
        return name, True, _SMALL_LABEL_SIZE
    return None


def field_boxes(fields: Iterable[FieldLike], width: int = 64, row_bits: int = 32) -> list[Box]:
    """Lay ``fields`` out as boxes: rows of ``row_bits`` bits, highest bits top-left.

    Pure: the same fields always give the same boxes. Bits no field covers become unnamed
    boxes; overlapping fields or fields outside ``width`` raise ``ValueError``. A field that
    crosses a row boundary is split into one box per row, each showing its own bits.
    """
    if width <= 0 or row_bits <= 0 or width % row_bits:
        raise ValueError(f"width {width} must be a positive multiple of row_bits {row_bits}")
    ordered = _with_gaps(_check_fields(list(fields), width), width)
    nrows = width // row_bits

    boxes: list[Box] = []
    # the cycle leaves out the colours of the fixed-colour fields in this picture
    fixed = {_FIXED_COLOUR[f.name] for f in ordered if f.name in _FIXED_COLOUR}
    cycle = tuple(i for i in _CYCLE if i not in fixed) or _CYCLE
    colour_index = 0
    previous_colour = None
    nkeys = 0
    for f in ordered:
        msb, lsb, value = int(f.msb), int(f.lsb), int(f.value)
        nbits = msb - lsb + 1
        value &= (1 << nbits) - 1
        if f.name == "":
            fill, hatch = GAP_STYLE
            reserved = False
        elif is_reserved(f.name):
            fill, hatch = RESERVED_STYLE
            reserved = True
        else:
            reserved = False
            if f.name in _FIXED_COLOUR:
                index = _FIXED_COLOUR[f.name]
            else:
                index = cycle[colour_index % len(cycle)]
                colour_index += 1
                if PALETTE[index][1] == previous_colour:  # never two neighbours alike
                    index = cycle[colour_index % len(cycle)]
                    colour_index += 1
            _, fill, hatch = PALETTE[index]
        previous_colour = fill
        for row in range(nrows):
            top = width - 1 - row * row_bits
            bottom = top - row_bits + 1
            hi, lo = min(msb, top), max(lsb, bottom)
            if hi < lo:
                continue
            part_bits = hi - lo + 1
            part_value = (value >> (lo - lsb)) & ((1 << part_bits) - 1)
            split = (hi, lo) != (msb, lsb)
            name = f.name
            if split and name:
                name = (
                    f"{f.name}[{hi - lsb}:{lo - lsb}]"
                    if part_bits > 1
                    else f"{f.name}[{hi - lsb}]"
                )
            fit = _fit_label(name, part_bits, row_bits) if name else ("", False, _LABEL_SIZE)
            if fit is None:
                label, rotate, key = _key(nkeys), False, _key(nkeys)
                nkeys += 1
            else:
                label, rotate, key = fit[0], fit[1], ""
            boxes.append(
                Box(
                    row=row,
                    x0=top - hi,
                    x1=top - lo + 1,
                    name=name,
                    label=label,
                    bits=bit_range(hi, lo),
                    value=value_text(part_value, part_bits),
                    colour=fill,
                    hatch=hatch,
                    msb=hi,
                    lsb=lo,
                    rotate=rotate,
                    key=key,
                    reserved=reserved,
                    digits=format(part_value, f"0{part_bits}b"),
                )
            )
    return boxes


def legend_entries(boxes: Iterable[Box]) -> list[LegendEntry]:
    """The names that did not fit their boxes, in key order."""
    return [LegendEntry(b.key, b.name, b.bits) for b in boxes if b.key]


def _legend_lines(boxes: Sequence[Box]) -> list[str]:
    lines = [f"{e.key} {e.name} [{e.bits}]" for e in legend_entries(boxes)]
    # Several keys share a line when they fit.
    packed: list[str] = []
    for text in lines:
        if packed and len(packed[-1]) + len(text) + 4 <= 110:
            packed[-1] += "    " + text
        else:
            packed.append(text)
    if any(b.reserved for b in boxes):
        packed.append("grey, hatched: RES0/RES1 (reserved; reads as zero/one)")
    return packed


class RegisterFigure(Figure):
    """A Figure that shows itself as a PNG in Jupyter even when pyplot was never imported."""

    def _repr_png_(self) -> bytes:
        return to_png(self)


def _height_pt(nrows: int, nlegend: int, title: bool, digits_pt: float) -> float:
    return (
        nrows * (_BITNUM_PT + _BOX_PT + digits_pt)
        + (nrows - 1) * _ROW_GAP_PT
        + (_TITLE_PT if title else 4.0)
        + nlegend * _LEGEND_LINE_PT
        + _BOTTOM_PAD_PT
        + (_LEGEND_GAP_PT if nlegend else 0.0)
    )


def _new_figure(height_pt: float) -> RegisterFigure:
    fig = RegisterFigure(figsize=(FIG_WIDTH_IN, height_pt / 72.0), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _add_box(
    ax: Any, corner: tuple[float, float], width: float, height: float, colour: str, hatch: str
) -> None:
    """One field's box: ``colour`` fill, grey ``hatch`` lines, a black outline.

    matplotlib 3.11 takes the hatch colour as ``hatchcolor=``. Older ones (3.8-3.10, as on
    Python 3.10 and in Pyodide) draw the hatch in the colour kept in the patch's
    ``_hatch_color``, which the edge colour sets; there it is set after the edge, so that
    both give the same picture with one patch per box.
    """
    if _HAS_HATCHCOLOR:
        ax.add_patch(
            Rectangle(
                corner,
                width,
                height,
                facecolor=colour,
                edgecolor="black",
                linewidth=1.2,
                hatch=hatch or None,
                hatchcolor=_HATCH_COLOUR,
            )
        )
        return
    box = Rectangle(
        corner,
        width,
        height,
        facecolor=colour,
        edgecolor="black",
        linewidth=1.2,
        hatch=hatch or None,
    )
    box._hatch_color = to_rgba(_HATCH_COLOUR)
    ax.add_patch(box)


def draw_register(
    fields: Iterable[FieldLike],
    *,
    title: str | None = None,
    ax: Any = None,
    width: int | None = None,
    row_bits: int = 32,
    digits: bool = True,
) -> Figure:
    """Draw ``fields`` as an Arm-ARM-style register diagram and return the figure.

    ``width`` defaults to 32 when every field sits in bits 31:0, else 64. With ``ax`` the
    diagram is drawn into that axes (its limits and aspect are set); otherwise a new
    figure of a fixed size (12 in wide, height from the number of rows) is made.
    ``digits=False`` leaves out the strip of 0/1 digits under the boxes (for a view that
    shows the bits elsewhere, such as the ESR explorer; it also draws twice as fast).
    """
    fields = list(fields)
    if width is None:
        width = 32 if all(int(f.msb) < 32 for f in fields) else 64
    boxes = field_boxes(fields, width=width, row_bits=min(row_bits, width))
    row_bits = min(row_bits, width)
    nrows = width // row_bits
    legend = _legend_lines(boxes)

    digits_pt = _DIGITS_PT if digits else 0.0
    height_pt = _height_pt(nrows, len(legend), title is not None, digits_pt)
    if ax is None:
        fig = _new_figure(height_pt)
        ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    else:
        fig = ax.figure
    # x in bit columns, y in points from the bottom of the figure.
    ax.set_xlim(-_MARGIN_COLS, row_bits + _MARGIN_COLS)
    ax.set_ylim(0.0, height_pt)
    ax.set_axis_off()

    y = height_pt
    if title is not None:
        ax.text(
            row_bits / 2,
            y - _TITLE_PT / 2,
            title,
            ha="center",
            va="center",
            fontsize=11,
            fontweight="bold",
        )
    y -= _TITLE_PT if title is not None else 4.0
    row_step = _BITNUM_PT + _BOX_PT + digits_pt + _ROW_GAP_PT
    row_tops = [y - row * row_step for row in range(nrows)]

    for b in boxes:
        top = row_tops[b.row]
        box_top = top - _BITNUM_PT
        box_bottom = box_top - _BOX_PT
        _add_box(ax, (b.x0, box_bottom), b.width, _BOX_PT, b.colour, b.hatch)
        # bit numbers above the box: msb over its first column, lsb over its last
        ax.text(
            b.x0 + 0.5,
            top - _BITNUM_PT / 2,
            str(b.msb),
            ha="center",
            va="center",
            fontsize=_BITNUM_SIZE,
        )
        if b.width > 1:
            ax.text(
                b.x1 - 0.5,
                top - _BITNUM_PT / 2,
                str(b.lsb),
                ha="center",
                va="center",
                fontsize=_BITNUM_SIZE,
            )
        cx = (b.x0 + b.x1) / 2
        text_box = {
            "boxstyle": "round,pad=0.15",
            "facecolor": "white",
            "edgecolor": "none",
            "alpha": 0.85,
        }
        if b.label:
            label_y = box_bottom + _VALUE_AREA_PT + (_BOX_PT - _VALUE_AREA_PT) / 2
            size = (
                _LABEL_SIZE
                if b.key
                or _text_pt(b.label, _LABEL_SIZE) <= b.width * _column_pt(row_bits) - 4.0
                else _SMALL_LABEL_SIZE
            )
            ax.text(
                cx,
                label_y,
                b.label,
                ha="center",
                va="center",
                fontsize=_SMALL_LABEL_SIZE if b.rotate else size,
                rotation=90 if b.rotate else 0,
                fontweight="bold",
                bbox=text_box,
            )
        if b.name:
            ax.text(
                cx,
                box_bottom + _VALUE_AREA_PT / 2,
                b.value,
                ha="center",
                va="center",
                fontsize=_VALUE_SIZE,
                family="DejaVu Sans Mono",
                bbox=text_box,
            )
        # strip of bit digits under the box, one cell per bit
        strip_bottom = box_bottom - digits_pt
        for i, digit in enumerate(b.digits if digits else ""):
            ax.text(
                b.x0 + i + 0.5,
                strip_bottom + digits_pt / 2,
                digit,
                ha="center",
                va="center",
                fontsize=_DIGIT_SIZE,
                family="DejaVu Sans Mono",
                fontweight="bold" if digit == "1" else "normal",
            )

    # the cells of the digit strips: one collection of lines per figure, not 64 patches
    cells = []
    for top in row_tops if digits else ():
        strip_top = top - _BITNUM_PT - _BOX_PT
        strip_bottom = strip_top - _DIGITS_PT
        cells.append(((0, strip_bottom), (row_bits, strip_bottom)))
        cells += [((x, strip_bottom), (x, strip_top)) for x in range(row_bits + 1)]
    if cells:
        ax.add_collection(LineCollection(cells, colors="#555555", linewidths=0.5))

    legend_top = row_tops[-1] - (_BITNUM_PT + _BOX_PT + digits_pt) - _LEGEND_GAP_PT
    for i, line in enumerate(legend):
        ax.text(
            0,
            legend_top - (i + 0.5) * _LEGEND_LINE_PT,
            line,
            ha="left",
            va="center",
            fontsize=8,
        )
    return fig


# --- the lessons' two pictures --------------------------------------------------------------


def draw_syndrome(
    value_or_syndrome: Any, *, title: str | None = None, digits: bool = True
) -> Figure:
    """Draw an ESR_ELx value (an int, or a :class:`armbp.esr.Syndrome`) field by field."""
    from . import esr  # imported here: pictures must load before armbp.esr.decode exists

    syndrome = value_or_syndrome
    if isinstance(syndrome, int):
        syndrome = esr.decode(syndrome)
    if title is None:
        title = f"ESR 0x{syndrome.esr:016x}: EC 0x{syndrome.ec:02X} {syndrome.ec_name}"
    return draw_register(syndrome.fields, title=title, width=64, digits=digits)


def draw_debug_control(
    value_or_control: Any, register: str = "DBGBCR", *, title: str | None = None
) -> Figure:
    """Draw a DBGBCR<n>_EL1 or DBGWCR<n>_EL1 value field by field.

    ``value_or_control`` is an int (decoded as ``register``: "DBGBCR" or "DBGWCR") or an
    :class:`armbp.esr.debugregs.DebugControl`. Bits 63:32 are RES0 in both registers, so
    the picture shows bits 31:0 (one row) unless some high bit is set.
    """
    from .esr import debugregs  # as draw_syndrome: keep armbp.esr out of import time

    control = value_or_control
    if not isinstance(control, debugregs.DebugControl):
        decoders = {"DBGBCR": debugregs.decode_dbgbcr, "DBGWCR": debugregs.decode_dbgwcr}
        if register not in decoders:
            raise ValueError(f"register {register!r}: expected 'DBGBCR' or 'DBGWCR'")
        control = decoders[register](value_or_control)
    fields: list[Any] = list(control.fields)
    width = 64
    if control.value >> 32 == 0:
        width = 32
        fields = [
            WordField(f.name, min(f.msb, 31), f.lsb, f.value) for f in fields if f.lsb < 32
        ]
    if title is None:
        title = f"{control.register} 0x{control.value:0{width // 4}x}: {control.summary}"
    return draw_register(fields, title=title, width=width)


_OPC_NAMES = {
    0b000: "SVC/HVC/SMC",
    0b001: "BRK",
    0b010: "HLT",
    0b011: "TSTART/TCANCEL",
    0b101: "DCPS1/2/3",
}
_OP_NAMES = {op.value: op.name for op in encodings.Op}


def instruction_fields(word: int) -> list[WordField]:
    """The fields of an A64 exception-generating instruction (Arm ARM C4.1.66).

    ``11010100 | opc 23:21 | imm16 20:5 | op2 4:2 | LL 1:0``; ``BRK #imm16`` is
    ``11010100 001 imm16 000 00``. Raises ``ValueError`` for a word of another class.
    """
    if not isinstance(word, int) or isinstance(word, bool) or not 0 <= word <= 0xFFFF_FFFF:
        raise ValueError(f"{word!r} is not a 32-bit instruction word")
    if word >> 24 != 0xD4:
        raise ValueError(
            f"0x{word:08x} is not an exception-generating instruction: "
            f"bits 31:24 are 0x{word >> 24:02x}, not 0xd4 (0b11010100)"
        )
    opc, imm16, op2, ll = (word >> 21) & 7, encodings.imm16_of(word), (word >> 2) & 7, word & 3
    op = encodings.classify(word)
    which = op.name if op else "unallocated"
    return [
        WordField(
            "11010100",
            31,
            24,
            word >> 24,
            "0b11010100: the exception-generation class (C4.1.66)",
        ),
        WordField("opc", 23, 21, opc, f"0b{opc:03b}: {_OPC_NAMES.get(opc, 'unallocated')}"),
        WordField(
            "imm16",
            20,
            5,
            imm16,
            f"#0x{imm16:x}: the comment, copied into ESR_ELx.ISS when it traps",
        ),
        WordField("op2", 4, 2, op2, f"0b{op2:03b}" + (": must be 0b000" if op2 else "")),
        WordField("LL", 1, 0, ll, f"0b{ll:02b}: selects {which}"),
    ]


def draw_word(
    word: int, fields: Sequence[FieldLike] | None = None, *, title: str | None = None
) -> Figure:
    """Draw a 32-bit instruction word with its fields.

    ``fields`` defaults to :func:`instruction_fields` for an exception-generating word
    (BRK, SVC, HVC, ...) and to a single ``word`` field otherwise.
    """
    if fields is None:
        try:
            fields = instruction_fields(word)
        except ValueError:
            fields = [WordField("word", 31, 0, word & 0xFFFF_FFFF)]
    if title is None:
        op = encodings.classify(word) if isinstance(word, int) else None
        what = f"{op.name} #0x{encodings.imm16_of(word):x}" if op else "instruction word"
        title = f"0x{word:08x}: {what}"
    return draw_register(fields, title=title, width=32)


# --- byte-stable output ---------------------------------------------------------------------

_STABLE_RC = {
    "svg.hashsalt": "armbp",
    "svg.fonttype": "path",
    "pdf.compression": 6,
    "path.simplify": True,
    "hatch.linewidth": 0.6,
}


def _metadata(fmt: str) -> dict[str, Any]:
    if fmt == "svg":
        return {"Date": None, "Creator": None}
    if fmt == "pdf":
        return {"CreationDate": None, "ModDate": None, "Creator": None, "Producer": None}
    if fmt == "png":
        return {"Software": None}
    return {}


def _save(fig: Figure, target: Any, fmt: str, dpi: float | None) -> None:
    with rc_context(_STABLE_RC):
        fig.savefig(
            target, format=fmt, dpi=dpi or fig.dpi, metadata=_metadata(fmt), facecolor="white"
        )


def to_png(fig: Figure, dpi: float | None = None) -> bytes:
    """PNG bytes of ``fig`` (no timestamp or version in the metadata)."""
    buf = io.BytesIO()
    _save(fig, buf, "png", dpi)
    return buf.getvalue()


def to_svg(fig: Figure) -> str:
    """SVG text of ``fig``, byte-stable: no date, fixed id salt, glyphs as paths."""
    buf = io.BytesIO()
    _save(fig, buf, "svg", None)
    return buf.getvalue().decode("utf-8")


def save(fig: Figure, path: str | os.PathLike[str], dpi: float | None = None) -> None:
    """Save ``fig`` to ``path`` (format from the suffix) with byte-stable metadata."""
    fmt = os.fspath(path).rsplit(".", 1)[-1].lower()
    _save(fig, path, fmt, dpi)
