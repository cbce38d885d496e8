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

Beside the registers, the lessons' flow pictures — :func:`trap_path`, :func:`step_over`,
:func:`reinjection`, :func:`vector_table`, :func:`rsp_exchange` — drawn by
:func:`draw_flow` and friends. Each is a :class:`Picture`: the figure with its alt text,
shown as ``<img alt=...>``. Every text is at least 10 px at 100 % zoom in a notebook
column at 1280 px (:func:`font_px` measures it).

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
    "DISPLAY_WIDTH_PX",
    "PALETTE",
    "RESERVED_STYLE",
    "Box",
    "LegendEntry",
    "Picture",
    "RegisterFigure",
    "Step",
    "WordField",
    "draw_debug_control",
    "draw_flow",
    "draw_register",
    "draw_syndrome",
    "draw_word",
    "field_boxes",
    "font_px",
    "instruction_fields",
    "legend_entries",
    "register_picture",
    "reinjection",
    "rsp_exchange",
    "save",
    "step_over",
    "syndrome_picture",
    "to_png",
    "to_svg",
    "trap_path",
    "vector_table",
    "word_picture",
]


class FieldLike(Protocol):
    """What the layout needs of a field: :class:`armbp.esr.Field` and :class:`WordField` fit
    (read-only: both are frozen dataclasses)."""

    @property
    def name(self) -> str: ...
    @property
    def msb(self) -> int: ...
    @property
    def lsb(self) -> int: ...
    @property
    def value(self) -> int: ...


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
# Font sizes (points). A 12 in figure at 100 dpi is 1200 px wide; a notebook column at
# 1280 px (JupyterLab with its file browser open) is about DISPLAY_WIDTH_PX wide and scales
# the picture down to it, so a point is ~1.02 px there: 10 pt is the least that reads as
# 10 px at 100 % zoom (``font_px`` measures it; the tests hold every picture to it).
_LABEL_SIZE = 11.0
_SMALL_LABEL_SIZE = 10.0
_VALUE_SIZE = 10.0
_BITNUM_SIZE = 10.0
_DIGIT_SIZE = 10.0
_LEGEND_SIZE = 10.0
_TITLE_SIZE = 13.0
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
    box._hatch_color = to_rgba(_HATCH_COLOUR)  # type: ignore[attr-defined]
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
            fontsize=_TITLE_SIZE,
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
            fontsize=_LEGEND_SIZE,
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
    """The fields of an A64 exception-generating instruction (Arm ARM "Exception generation").

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
            "0b11010100: the exception-generation class",
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
            fields = list(instruction_fields(word))
        except ValueError:
            fields = [WordField("word", 31, 0, word & 0xFFFF_FFFF)]
    if title is None:
        op = encodings.classify(word) if isinstance(word, int) else None
        what = f"{op.name} #0x{encodings.imm16_of(word):x}" if op else "instruction word"
        title = f"0x{word:08x}: {what}"
    return draw_register(fields, title=title, width=32)


# --- byte-stable output ---------------------------------------------------------------------

_STABLE_RC: dict[str, Any] = {
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
    with rc_context(_STABLE_RC):  # type: ignore[arg-type]  # (keys checked by matplotlib)
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


# --- pictures with alt text ---------------------------------------------------------------------

DISPLAY_WIDTH_PX = 880  # a notebook column at 1280 px, JupyterLab's file browser open


def font_px(
    fig: Figure, column_px: float = DISPLAY_WIDTH_PX, *, dpi: float | None = None
) -> float:
    """The smallest text of ``fig`` in CSS pixels at 100 % zoom, saved at ``dpi`` (the
    figure's own by default) and shown in a column ``column_px`` wide (a wider picture is
    scaled down to it, a narrower one is not).

    Why: "9 pt" says little about what a learner sees; this is what the browser draws.
    """
    dpi = dpi or fig.dpi
    width_px = fig.get_figwidth() * dpi
    px_per_pt = dpi / 72.0 * min(1.0, column_px / width_px)
    from matplotlib.text import Text

    sizes = [
        float(t.get_fontsize())
        for t in fig.findobj(Text)
        if isinstance(t, Text) and t.get_visible() and t.get_text().strip()
    ]
    if not sizes:
        raise ValueError("the figure has no text")
    return min(sizes) * px_per_pt


class Picture:
    """A figure with its alt text: shown in a notebook as ``<img alt=...>`` (an HTML
    output, which JupyterLab, Voilà, VS Code and a static export all render), printed as
    its alt text.

    Why not the figure itself: a bare PNG output has no place for alt text, so a screen
    reader (or a learner with images off) gets nothing. The PNG is inline, so the saved
    notebook stays self-contained; nbval compares the alt text and the repr, and the
    PNG bytes (which differ between matplotlib builds) are sanitized away.
    """

    def __init__(self, figure: Figure, alt: str) -> None:
        if not isinstance(alt, str) or not alt.strip():
            raise ValueError(f"alt text {alt!r}: expected a sentence saying what it shows")
        self.figure = figure
        self.alt = " ".join(alt.split())

    def __repr__(self) -> str:
        return f"<Picture: {self.alt}>"

    def png(self, dpi: float | None = None) -> bytes:
        """The PNG bytes (byte-stable, see :func:`to_png`)."""
        return to_png(self.figure, dpi=dpi)

    def _repr_html_(self) -> str:
        import base64
        import html

        data = base64.b64encode(self.png()).decode("ascii")
        width = round(self.figure.get_figwidth() * self.figure.dpi)
        return (
            f"<img src='data:image/png;base64,{data}' alt='{html.escape(self.alt)}' "
            f"width='{width}' style='max-width:100%;height:auto'>"
        )


def _register_alt(title: str, fields: Iterable[FieldLike]) -> str:
    """``Bit-field diagram of T: EC 0x25 (bits 31:26), ...; the other 19 fields are 0.``:
    the fields that say something (EC and IL always, the others when not 0)."""
    named = [f for f in fields if f.name and not is_reserved(f.name)]
    said = [f for f in named if f.name in ("EC", "IL") or int(f.value)]
    parts = ", ".join(
        f"{f.name} {value_text(int(f.value), int(f.msb) - int(f.lsb) + 1)} "
        f"(bits {bit_range(int(f.msb), int(f.lsb))})"
        for f in said
    )
    rest = len(named) - len(said)
    tail = f"; the other {rest} field(s) are 0" if rest else ""
    return f"Bit-field diagram of {title}: {parts}{tail}."


def register_picture(figure: Figure, fields: Iterable[FieldLike], title: str) -> Picture:
    """A register diagram with alt text naming every field, its value and its bits."""
    return Picture(figure, _register_alt(title, fields))


def syndrome_picture(value_or_syndrome: Any, *, title: str | None = None) -> Picture:
    """:func:`draw_syndrome` with alt text: for a lesson's cell."""
    from . import esr

    s = value_or_syndrome
    if isinstance(s, int):
        s = esr.decode(s)
    fig = draw_syndrome(s, title=title)
    return register_picture(fig, s.fields, title or f"ESR {s.esr:#x}")


def word_picture(word: int, *, title: str | None = None) -> Picture:
    """:func:`draw_word` with alt text: for a lesson's cell."""
    fig = draw_word(word, title=title)
    try:
        fields: list[WordField] = instruction_fields(word)
    except ValueError:
        fields = [WordField("word", 31, 0, word & 0xFFFF_FFFF)]
    return register_picture(fig, fields, title or f"the instruction word {word:#010x}")


# --- flow pictures: boxes and arrows ------------------------------------------------------------

_FLOW_WIDTH_IN = 9.0  # 900 px at 100 dpi: about a notebook column, so barely scaled
_FLOW_HEAD = 11.0
_FLOW_BODY = 10.0
_FLOW_LINE_PT = 13.0
_FLOW_PAD_PT = 6.0
_FLOW_GAP_PT = 30.0  # room for an arrow between two boxes
_FLOW_ROW_GAP_PT = 28.0


@dataclass(frozen=True)
class Step:
    """One box of a flow picture: a bold heading and a few lines of detail."""

    head: str
    body: str = ""
    colour: int = 0  # an index into PALETTE


def _wrap(text: str, width_pt: float, size: float) -> list[str]:
    """``text`` broken into lines no wider than ``width_pt`` (greedy, by words)."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}".strip()
            if line and _text_pt(candidate, size) > width_pt:
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    return lines


def _flow_axes(height_pt: float, width_in: float = _FLOW_WIDTH_IN) -> tuple[Figure, Any]:
    fig = RegisterFigure(figsize=(width_in, height_pt / 72.0), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_xlim(0.0, width_in * 72.0)
    ax.set_ylim(0.0, height_pt)
    ax.set_axis_off()
    return fig, ax


def _arrow(ax: Any, points: Sequence[tuple[float, float]], colour: str = "black") -> None:
    """A line through ``points`` with an arrow head at the last one."""
    xs, ys = zip(*points, strict=True)
    ax.plot(xs[:-1] + (xs[-1],), ys[:-1] + (ys[-1],), color=colour, linewidth=1.4)
    ax.annotate(
        "",
        xy=points[-1],
        xytext=points[-2],
        arrowprops={"arrowstyle": "-|>", "color": colour, "linewidth": 1.4},
    )


def draw_flow(steps: Sequence[Step], *, title: str, per_row: int = 3) -> Figure:
    """Boxes left to right, ``per_row`` to a row, each joined to the next by an arrow
    (from the end of one row down to the start of the next)."""
    if not steps:
        raise ValueError("a flow needs at least one step")
    width_pt = _FLOW_WIDTH_IN * 72.0
    margin = 8.0
    per_row = max(1, min(per_row, len(steps)))
    box_w = (width_pt - 2 * margin - (per_row - 1) * _FLOW_GAP_PT) / per_row
    text_w = box_w - 2 * _FLOW_PAD_PT
    texts = [
        (
            _wrap(s.head, text_w, _FLOW_HEAD),
            _wrap(s.body, text_w, _FLOW_BODY) if s.body else [],
        )
        for s in steps
    ]
    rows = [
        list(range(i, min(i + per_row, len(steps)))) for i in range(0, len(steps), per_row)
    ]
    row_h = [
        max(len(texts[i][0]) + len(texts[i][1]) for i in row) * _FLOW_LINE_PT
        + 2 * _FLOW_PAD_PT
        for row in rows
    ]
    title_pt = 26.0
    height = title_pt + sum(row_h) + _FLOW_ROW_GAP_PT * (len(rows) - 1) + margin
    fig, ax = _flow_axes(height)
    ax.text(
        width_pt / 2,
        height - title_pt / 2,
        title,
        ha="center",
        va="center",
        fontsize=_TITLE_SIZE,
        fontweight="bold",
    )
    top = height - title_pt
    boxes: dict[int, tuple[float, float, float]] = {}  # index -> (x, top, bottom)
    for row, h in zip(rows, row_h, strict=True):
        for col, i in enumerate(row):
            x = margin + col * (box_w + _FLOW_GAP_PT)
            fill = PALETTE[steps[i].colour % len(PALETTE)][1]
            ax.add_patch(
                Rectangle(
                    (x, top - h), box_w, h, facecolor=fill, edgecolor="black", linewidth=1.2
                )
            )
            y = top - _FLOW_PAD_PT - _FLOW_LINE_PT / 2
            head, body = texts[i]
            for line in head:
                ax.text(
                    x + _FLOW_PAD_PT,
                    y,
                    line,
                    va="center",
                    fontsize=_FLOW_HEAD,
                    fontweight="bold",
                )
                y -= _FLOW_LINE_PT
            for line in body:
                ax.text(x + _FLOW_PAD_PT, y, line, va="center", fontsize=_FLOW_BODY)
                y -= _FLOW_LINE_PT
            boxes[i] = (x, top, top - h)
        top -= h + _FLOW_ROW_GAP_PT
    for i in range(len(steps) - 1):
        x0, t0, b0 = boxes[i]
        x1, t1, b1 = boxes[i + 1]
        if t0 == t1:  # same row: left to right, at the middle of the shorter box
            y = max(b0, b1) + min(t0 - b0, t1 - b1) / 2
            _arrow(ax, [(x0 + box_w, y), (x1, y)])
        else:  # next row: down, back to its first box, down into it
            mid = (b0 + t1) / 2
            _arrow(
                ax,
                [
                    (x0 + box_w / 2, b0),
                    (x0 + box_w / 2, mid),
                    (x1 + box_w / 2, mid),
                    (x1 + box_w / 2, t1),
                ],
            )
    return fig


# --- the lessons' flow pictures -----------------------------------------------------------------


def trap_path() -> Picture:
    """Lesson 3: a planted BRK's way from the guest to the debugger."""
    steps = [
        Step("1. Guest (EL1)", "fetches BRK #0 (d4200000) where the debugger planted it", 0),
        Step(
            "2. EL2 / KVM",
            "debug exception: syndrome EC 0x3C (BRK), hsr 0xf2000000; guest debug is on "
            "(USE_SW_BP), so it is not given to the guest",
            1,
        ),
        Step("3. KVM_EXIT_DEBUG", "KVM_RUN returns exit 4 to the VMM with hsr, pc, far", 2),
        Step(
            "4. VMM (QEMU)",
            "decodes EC, syncs the pc, finds it in the breakpoint table: ours → EXCP_DEBUG",
            3,
        ),
        Step(
            "5. Debugger (GDB)", "reports the stop (SIGTRAP) and shows the pc and registers", 4
        ),
    ]
    fig = draw_flow(
        steps, title="The trap path: guest BRK → EL2 → KVM_EXIT_DEBUG → VMM → debugger"
    )
    return Picture(
        fig,
        "Flow in five boxes: 1, the guest executes the planted BRK #0; 2, the debug exception "
        "goes to EL2 (KVM) with syndrome EC 0x3C, hsr 0xf2000000, not to the guest because "
        "guest debugging is on; 3, KVM_RUN returns KVM_EXIT_DEBUG (exit 4) to the VMM; 4, the "
        "VMM (QEMU) finds the pc in its breakpoint table, so it is ours: EXCP_DEBUG; 5, the "
        "debugger (GDB) reports the stop.",
    )


def step_over() -> Picture:
    """Lesson 3: continuing from a breakpoint without trapping on it again."""
    steps = [
        Step("Stopped at the BRK", "memory at loop: d4200000 (brk #0); pc = loop", 5),
        Step("1. Restore", "write the saved word back: memory holds the add again", 0),
        Step(
            "2. Flush",
            "drop the stale translation (DC CVAU, IC IVAU, ISB on hardware)",
            1,
        ),
        Step(
            "3. Step one instruction",
            "SINGLESTEP: the add runs, a software step exit (EC 0x32); pc = loop + 4",
            2,
        ),
        Step("4. Re-insert", "write BRK #0 (d4200000) at loop again", 3),
        Step("5. Flush, run on", "the next round traps at loop again", 4),
    ]
    fig = draw_flow(steps, title="Continuing from a breakpoint: the step-over")
    return Picture(
        fig,
        "Flow in six boxes: stopped at the BRK at loop; 1, restore the saved instruction; "
        "2, flush the stale translation; 3, single-step exactly one instruction, which ends "
        "with a software step exit, EC 0x32, pc = loop + 4; 4, write BRK #0 again; 5, flush "
        "and run on: the next round traps at loop again.",
    )


def reinjection() -> Picture:
    """Lesson 5: a BRK that is not ours goes back into the guest's own vectors."""
    steps = [
        Step("1. Guest BRK #0x99", "its own breakpoint, not planted by the debugger", 0),
        Step("2. KVM_EXIT_DEBUG", "hsr 0xf2000099 (EC 0x3C, comment 0x99) at pc", 2),
        Step("3. VMM: not ours", "the pc is not in the breakpoint table → re-inject", 3),
        Step(
            "4. Re-inject, as the CPU would",
            "ESR_EL1 = 0xf2000099, ELR_EL1 = pc, SPSR_EL1 = PSTATE; PSTATE = EL1h, DAIF "
            "set; pc = VBAR_EL1 + 0x200",
            1,
        ),
        Step(
            "5. Guest handler",
            "reads ESR_EL1, does its work, moves ELR_EL1 past the BRK, ERET",
            4,
        ),
        Step("6. Guest runs on", "after its BRK; the debugger saw no stop", 5),
    ]
    fig = draw_flow(steps, title="Not ours: re-injection into the guest's vector table")
    return Picture(
        fig,
        "Flow in six boxes: 1, the guest executes its own BRK #0x99; 2, KVM exits with "
        "KVM_EXIT_DEBUG, hsr 0xf2000099; 3, the VMM does not find the pc in its table, so "
        "it re-injects; 4, it sets ESR_EL1 = 0xf2000099, ELR_EL1 = pc, SPSR_EL1 = PSTATE, "
        "PSTATE = EL1h with DAIF set, and pc = VBAR_EL1 + 0x200; 5, the guest's handler "
        "reads ESR_EL1, moves ELR_EL1 past the BRK and returns with ERET; 6, the guest "
        "runs on and the debugger saw no stop.",
    )


# The vector table's four groups and four kinds (Arm ARM: "Exception vectors").
_VECTOR_GROUPS = (
    (0x000, "current EL, SP_EL0"),
    (0x200, "current EL, SP_ELx"),
    (0x400, "lower EL, AArch64"),
    (0x600, "lower EL, AArch32"),
)
_VECTOR_KINDS = ("Synchronous", "IRQ", "FIQ", "SError")


def vector_table(highlight: int = 0x200) -> Picture:
    """Lesson 5: VBAR_EL1's 16 entries of 0x80 bytes; ``highlight`` marks one entry
    (default +0x200: a synchronous exception from the current EL on SP_ELx, this guest's
    BRK)."""
    offsets = {g + 0x80 * k for g, _ in _VECTOR_GROUPS for k in range(4)}
    if highlight not in offsets:
        raise ValueError(
            f"highlight {highlight:#x}: expected a vector offset, 0x0 to 0x780 in steps of 0x80"
        )
    width_pt = _FLOW_WIDTH_IN * 72.0
    title_pt, row_pt, head_pt, left_pt, margin = 26.0, 30.0, 20.0, 220.0, 8.0
    height = title_pt + head_pt + 4 * row_pt + margin + 18.0
    fig, ax = _flow_axes(height)
    ax.text(
        width_pt / 2,
        height - title_pt / 2,
        "The vector table at VBAR_EL1",
        ha="center",
        va="center",
        fontsize=_TITLE_SIZE,
        fontweight="bold",
    )
    cell_w = (width_pt - left_pt - margin) / 4
    top = height - title_pt
    for k, kind in enumerate(_VECTOR_KINDS):
        ax.text(
            left_pt + (k + 0.5) * cell_w,
            top - head_pt / 2,
            kind,
            ha="center",
            va="center",
            fontsize=_FLOW_HEAD,
            fontweight="bold",
        )
    top -= head_pt
    for r, (group, where) in enumerate(_VECTOR_GROUPS):
        y = top - (r + 1) * row_pt
        ax.text(
            margin,
            y + row_pt / 2,
            f"+{group:#05x}  {where}",
            va="center",
            fontsize=_FLOW_BODY,
            family="DejaVu Sans Mono",
        )
        for k in range(4):
            offset = group + 0x80 * k
            on = offset == highlight
            fill = PALETTE[1][1] if on else "#F4F4F4"
            ax.add_patch(
                Rectangle(
                    (left_pt + k * cell_w, y),
                    cell_w,
                    row_pt,
                    facecolor=fill,
                    edgecolor="black",
                    linewidth=2.0 if on else 0.8,
                )
            )
            ax.text(
                left_pt + (k + 0.5) * cell_w,
                y + row_pt / 2,
                f"+{offset:#05x}",
                ha="center",
                va="center",
                fontsize=_FLOW_BODY,
                family="DejaVu Sans Mono",
                fontweight="bold" if on else "normal",
            )
    group = highlight & ~0x1FF
    kind = _VECTOR_KINDS[(highlight & 0x180) >> 7]
    where = dict(_VECTOR_GROUPS)[group]
    note = f"highlighted: +{highlight:#05x}, {kind.lower()} from the {where}; each entry 0x80 bytes"
    ax.text(margin, margin + 4, note, va="center", fontsize=_FLOW_BODY)
    return Picture(
        fig,
        "The vector table at VBAR_EL1: four groups of four entries of 0x80 bytes, "
        "synchronous, IRQ, FIQ and SError; at +0x000 the current EL on SP_EL0, +0x200 the "
        "current EL on SP_ELx, +0x400 a lower EL in AArch64, +0x600 a lower EL in AArch32. "
        f"Highlighted: +{highlight:#05x}, {kind.lower()} from the {where}.",
    )


# What lesson 6's GDB session sends (notebooks/gdb-session/session.txt, shortened):
# (gdb command or "", direction, packet, what the stub does)
_RSP = (
    ("break *0x40008", "", "", "GDB only records it: no Z0 yet"),
    ("continue", ">", "$Z0,40008,4#..", "Debugger.break_at: save, write BRK #0"),
    ("", "<", "$OK#9a", ""),
    ("", ">", "$vCont;c#a8", "Debugger.cont: the vCPU runs; DEBUG exit, EC 0x3C, ours"),
    ("", "<", "$T05swbreak:;#..", "stop reply: SIGTRAP at a software breakpoint"),
    ("", ">", "$z0,40008,4#..", "GDB takes its breakpoints out while stopped: restore"),
    ("", "<", "$OK#9a", ""),
    ("x/1xw 0x40008", ">", "$m40008,4#c9", "memory read"),
    ("", "<", "$21040091#..", "the original word: no BRK there now"),
)


def rsp_exchange() -> Picture:
    """Lesson 6: GDB and the stub, packet by packet (Z0 goes with ``continue``)."""
    width_pt = _FLOW_WIDTH_IN * 72.0
    title_pt, row_pt, head_pt, margin = 26.0, 24.0, 34.0, 8.0
    gdb_x, stub_x = 130.0, 330.0
    note_x = stub_x + 10.0
    note_w = width_pt - note_x - margin
    notes = [_wrap(n, note_w, _FLOW_BODY) if n else [] for *_, n in _RSP]
    heights = [max(row_pt, len(n) * _FLOW_LINE_PT + 6.0) for n in notes]
    height = title_pt + head_pt + sum(heights) + margin
    fig, ax = _flow_axes(height)
    ax.text(
        width_pt / 2,
        height - title_pt / 2,
        "The RSP exchange: Z0 is sent on continue, not on break",
        ha="center",
        va="center",
        fontsize=_TITLE_SIZE,
        fontweight="bold",
    )
    top = height - title_pt
    for x, name in ((gdb_x, "GDB"), (stub_x, "stub (armbp gdbserver)")):
        ax.text(
            x,
            top - head_pt / 2,
            name,
            ha="center",
            va="center",
            fontsize=_FLOW_HEAD,
            fontweight="bold",
            bbox={"boxstyle": "round,pad=0.3", "facecolor": PALETTE[0][1]},
        )
    ax.text(
        margin,
        top - head_pt / 2,
        "you type",
        va="center",
        fontsize=_FLOW_HEAD,
        fontweight="bold",
    )
    top -= head_pt
    bottom = top - sum(heights)
    for x in (gdb_x, stub_x):
        ax.plot([x, x], [bottom, top], color="#707070", linewidth=1.0, linestyle="--")
    y = top
    for (cmd, way, packet, _), note, h in zip(_RSP, notes, heights, strict=True):
        mid = y - h / 2
        if cmd:
            ax.text(
                margin,
                mid,
                cmd,
                va="center",
                fontsize=_FLOW_BODY,
                family="DejaVu Sans Mono",
                fontweight="bold",
            )
        if way:
            start, end = (gdb_x, stub_x) if way == ">" else (stub_x, gdb_x)
            _arrow(
                ax,
                [(start, mid - 4), (end, mid - 4)],
                colour="#0072B2" if way == ">" else "#D55E00",
            )
            ax.text(
                (gdb_x + stub_x) / 2,
                mid + 5,
                packet,
                ha="center",
                va="center",
                fontsize=_FLOW_BODY,
                family="DejaVu Sans Mono",
            )
        for i, line in enumerate(note):
            ax.text(
                note_x,
                mid + (len(note) - 1) * _FLOW_LINE_PT / 2 - i * _FLOW_LINE_PT,
                line,
                va="center",
                fontsize=_FLOW_BODY,
            )
        y -= h
    return Picture(
        fig,
        "Sequence of packets between GDB and the stub. break *0x40008: GDB only records "
        "it and sends nothing. continue: GDB sends Z0,40008,4 (the stub saves the word and "
        "writes BRK #0) and gets OK, then vCont;c: the vCPU runs to a DEBUG exit, EC 0x3C, "
        "ours, and the stub replies T05 swbreak. While stopped GDB sends z0,40008,4 to "
        "take the breakpoint out (OK). x/1xw 0x40008: m40008,4 answers 21040091, the "
        "original word.",
    )


def kvm_inside() -> Picture:
    """Lesson 8: what real KVM does with a guest's debug exception, from EL1 to the VMM."""
    steps = [
        Step(
            "1. Guest (EL1)",
            "runs BRK #0, finishes a stepped instruction, or touches a watched address",
            0,
        ),
        Step(
            "2. Routed to EL2",
            "KVM set MDCR_EL2.TDE while the VMM debugs: the debug exception goes to EL2, "
            "not to the guest's VBAR_EL1; ESR_EL2 = syndrome, FAR_EL2 = data address",
            1,
        ),
        Step(
            "3. KVM: kvm_handle_guest_debug",
            "exit_reason = KVM_EXIT_DEBUG (4); debug.arch.hsr/hsr_high = ESR_EL2, "
            "debug.arch.far = FAR_EL2 (watchpoints)",
            2,
        ),
        Step("4. KVM_RUN returns", "the ioctl returns 0 to the VMM's thread", 5),
        Step(
            "5. VMM",
            "reads run->exit_reason and run->debug.arch; decodes EC: ours → stop for the "
            "debugger, not ours → re-inject through ONE_REG",
            3,
        ),
    ]
    fig = draw_flow(steps, title="Inside real KVM: guest → EL2 → KVM → KVM_RUN returns → VMM")
    return Picture(
        fig,
        "Flow in five boxes: 1, the guest at EL1 runs a BRK, finishes a stepped "
        "instruction or touches a watched address; 2, because KVM set MDCR_EL2.TDE while "
        "the VMM debugs it, the debug exception is taken to EL2 instead of the guest's own "
        "vectors, with the syndrome in ESR_EL2 and the data address in FAR_EL2; 3, KVM's "
        "kvm_handle_guest_debug sets exit_reason to KVM_EXIT_DEBUG (4) and copies ESR_EL2 "
        "into debug.arch.hsr and hsr_high, and FAR_EL2 into debug.arch.far; 4, the KVM_RUN "
        "ioctl returns to the VMM; 5, the VMM reads the exit from the kvm_run page, decodes "
        "the EC and either stops for the debugger or re-injects the exception into the "
        "guest.",
    )
