"""armbp.pictures: the layout as data, then a few real figures (Agg, no display)."""

from __future__ import annotations

import os
from types import SimpleNamespace

os.environ.setdefault("MPLBACKEND", "Agg")

import itertools

import matplotlib
import pytest
from matplotlib.patches import Rectangle

from armbp import encodings, pictures
from armbp.pictures import WordField as F

matplotlib.use("Agg")


def _fields(value: int, layout: list[tuple[str, int, int]]) -> list[F]:
    return [
        F(name, msb, lsb, (value >> lsb) & ((1 << (msb - lsb + 1)) - 1))
        for name, msb, lsb in layout
    ]


# Small stand-ins for armbp.esr.decode(...).fields, so the layout is tested on its own.
BRK_LAYOUT = [
    ("RES0", 63, 56),
    ("ISS2", 55, 32),
    ("EC", 31, 26),
    ("IL", 25, 25),
    ("RES0", 24, 16),
    ("Comment", 15, 0),
]
DABT_LAYOUT = [
    ("RES0", 63, 56),
    ("ISS2", 55, 32),
    ("EC", 31, 26),
    ("IL", 25, 25),
    ("ISV", 24, 24),
    ("SAS", 23, 22),
    ("SSE", 21, 21),
    ("SRT", 20, 16),
    ("SF", 15, 15),
    ("AR", 14, 14),
    ("VNCR", 13, 13),
    ("SET", 12, 11),
    ("FnV", 10, 10),
    ("EA", 9, 9),
    ("CM", 8, 8),
    ("S1PTW", 7, 7),
    ("WnR", 6, 6),
    ("DFSC", 5, 0),
]


def _row(boxes, row):
    return [(b.x0, b.x1, b.label, b.bits, b.value) for b in boxes if b.row == row]


def test_brk_syndrome_layout_two_rows_high_bits_on_top():
    boxes = pictures.field_boxes(_fields(0xF200_0000, BRK_LAYOUT))
    assert _row(boxes, 0) == [
        (0, 8, "RES0", "63:56", "0x00"),
        (8, 32, "ISS2", "55:32", "0x000000"),
    ]
    assert _row(boxes, 1) == [
        (0, 6, "EC", "31:26", "0x3C"),
        (6, 7, "IL", "25", "1"),
        (7, 16, "RES0", "24:16", "0x000"),
        (16, 32, "Comment", "15:0", "0x0000"),
    ]
    # every bit column of both rows is covered exactly once
    for row in (0, 1):
        spans = sorted((b.x0, b.x1) for b in boxes if b.row == row)
        assert spans[0][0] == 0 and spans[-1][1] == 32
        assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))


def test_digits_and_values_follow_the_bits():
    boxes = pictures.field_boxes(_fields(0x9600_0045, DABT_LAYOUT))
    by_name = {b.name: b for b in boxes}
    assert by_name["EC"].digits == "100101" and by_name["EC"].value == "0x25"
    assert by_name["WnR"].value == "1"
    assert by_name["DFSC"].digits == "000101" and by_name["DFSC"].value == "0x05"
    assert by_name["SAS"].value == "0b00"  # narrow fields print in binary
    assert "".join(b.digits for b in boxes) == format(0x9600_0045, "064b")


def test_colours_reserved_grey_and_neighbours_differ_in_colour_and_hatch():
    boxes = pictures.field_boxes(_fields(0x9600_0045, DABT_LAYOUT))
    for b in boxes:
        if b.reserved:
            assert (b.colour, b.hatch) == pictures.RESERVED_STYLE
        else:
            assert b.hatch, f"{b.name} needs a hatch as its greyscale cue"
    for a, b in itertools.pairwise(boxes):
        if a.row == b.row:
            assert a.colour != b.colour and a.hatch != b.hatch, (a.name, b.name)
    okabe_ito = {fill for _, fill, _ in pictures.PALETTE}
    assert {b.colour for b in boxes if not b.reserved} <= okabe_ito
    # EC keeps its colour from one picture to the next
    ec = [b for b in pictures.field_boxes(_fields(0xF200_0000, BRK_LAYOUT)) if b.name == "EC"]
    assert ec[0].colour == next(b.colour for b in boxes if b.name == "EC")


def test_narrow_fields_rotate_or_get_a_key_in_the_legend():
    fields = [
        F("EC", 31, 26, 0x25),
        F("VNCR", 25, 25, 0),  # fits turned on its side (S1PTW did at 8 pt, not at 10 pt)
        F("AssuredOnly", 24, 24, 1),
        F("TagAccess", 23, 23, 0),
        F("rest", 22, 0, 0),
    ]
    boxes = pictures.field_boxes(fields, width=32)
    by_name = {b.name: b for b in boxes}
    assert by_name["VNCR"].rotate and by_name["VNCR"].label == "VNCR"
    assert by_name["AssuredOnly"].label == "(a)" and by_name["AssuredOnly"].key == "(a)"
    assert by_name["TagAccess"].label == "(b)"
    assert [(e.key, e.name, e.bits) for e in pictures.legend_entries(boxes)] == [
        ("(a)", "AssuredOnly", "24"),
        ("(b)", "TagAccess", "23"),
    ]
    assert not by_name["EC"].rotate and not by_name["EC"].key


def test_gaps_are_filled_and_overlaps_rejected():
    boxes = pictures.field_boxes([F("A", 31, 24, 1), F("B", 7, 0, 2)], width=32)
    assert [(b.x0, b.x1, b.name) for b in boxes] == [(0, 8, "A"), (8, 24, ""), (24, 32, "B")]
    with pytest.raises(ValueError, match="overlap"):
        pictures.field_boxes([F("A", 31, 16, 0), F("B", 16, 0, 0)], width=32)
    with pytest.raises(ValueError, match="does not fit"):
        pictures.field_boxes([F("A", 32, 0, 0)], width=32)


def test_field_crossing_rows_is_split_with_its_own_bits():
    boxes = pictures.field_boxes([F("FAR", 63, 0, 0x1234_5678_9ABC_DEF0)])
    assert [(b.row, b.label, b.bits, b.value) for b in boxes] == [
        (0, "FAR[63:32]", "63:32", "0x12345678"),
        (1, "FAR[31:0]", "31:0", "0x9ABCDEF0"),
    ]


def test_instruction_fields_of_brk_0x99():
    word = encodings.brk(0x99)
    assert word == 0xD420_1320
    fields = pictures.instruction_fields(word)
    assert [(f.name, f.msb, f.lsb, f.value) for f in fields] == [
        ("11010100", 31, 24, 0xD4),
        ("opc", 23, 21, 0b001),
        ("imm16", 20, 5, 0x99),
        ("op2", 4, 2, 0),
        ("LL", 1, 0, 0),
    ]
    assert "BRK" in fields[1].meaning and "BRK" in fields[4].meaning
    assert pictures.instruction_fields(encodings.svc(1))[4].value == 0b01
    with pytest.raises(ValueError, match="0xd503201f is not an exception-generating"):
        pictures.instruction_fields(encodings.NOP)


def _texts(fig):
    return [t.get_text() for t in fig.axes[0].texts]


def test_draw_word_brk_figure_has_a_box_and_a_digit_per_bit():
    fig = pictures.draw_word(encodings.brk(0x99))
    rects = [p for p in fig.axes[0].patches if isinstance(p, Rectangle)]
    assert len(rects) == 5  # one box per field
    assert len(fig.axes[0].collections) == 1  # the grid of the digit strip
    texts = _texts(fig)
    assert texts[0] == "0xd4201320: BRK #0x99"
    for label in ("11010100", "opc", "imm16", "op2", "LL", "0x0099", "0b001"):
        assert label in texts
    assert texts.count("1") + texts.count("0") >= 32
    assert tuple(fig.get_size_inches()) == pytest.approx((12.0, fig.get_figheight()))
    assert fig.dpi == pictures.DPI


def test_draw_syndrome_from_a_decoded_syndrome():
    fake = SimpleNamespace(
        esr=0xF200_0000,
        ec=0x3C,
        ec_name="BRK (AArch64)",
        fields=_fields(0xF200_0000, BRK_LAYOUT),
    )
    fig = pictures.draw_syndrome(fake)
    texts = _texts(fig)
    assert texts[0] == "ESR 0x00000000f2000000: EC 0x3C BRK (AArch64)"
    assert "grey, hatched: RES0/RES1 (reserved; reads as zero/one)" in texts
    rects = [p for p in fig.axes[0].patches if isinstance(p, Rectangle)]
    assert len(rects) == 6


def test_saving_twice_gives_identical_bytes(tmp_path):
    fig = pictures.draw_register(_fields(0x9600_0045, DABT_LAYOUT), title="DABT")
    assert pictures.to_svg(fig) == pictures.to_svg(fig)
    svg = pictures.to_svg(fig)
    assert "<dc:date>" not in svg
    png1, png2 = pictures.to_png(fig), pictures.to_png(fig)
    assert png1 == png2 and png1.startswith(b"\x89PNG")
    # a freshly drawn figure of the same fields gives the same bytes too
    again = pictures.draw_register(_fields(0x9600_0045, DABT_LAYOUT), title="DABT")
    assert pictures.to_png(again) == png1
    pictures.save(fig, tmp_path / "a.svg")
    pictures.save(again, tmp_path / "b.svg")
    assert (tmp_path / "a.svg").read_bytes() == (tmp_path / "b.svg").read_bytes()


def test_draws_into_a_given_axes_and_shows_as_png():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 2))
    ax = fig.add_subplot()
    assert pictures.draw_register([F("X", 31, 0, 7)], ax=ax) is fig
    own = pictures.draw_word(0)
    assert own._repr_png_().startswith(b"\x89PNG")


def test_without_digits_the_strip_is_left_out():
    fields = _fields(0xF200_0000, BRK_LAYOUT)
    full = pictures.draw_register(fields, title="t")
    bare = pictures.draw_register(fields, title="t", digits=False)
    assert len(_texts(full)) - len(_texts(bare)) == 64
    assert not bare.axes[0].collections
    assert bare.get_figheight() < full.get_figheight()


@pytest.mark.parametrize(
    "value, title, names",
    [
        (
            0x9600_0045,
            "ESR 0x0000000096000045: EC 0x25 DABT (current EL)",
            ["EC", "IL", "WnR", "DFSC"],
        ),
        (
            0xF200_0000,
            "ESR 0x00000000f2000000: EC 0x3C BRK (AArch64)",
            ["EC", "IL", "Comment"],
        ),
    ],
)
def test_draw_syndrome_of_real_values(value, title, names):
    from armbp import esr

    fig = pictures.draw_syndrome(value)
    texts = _texts(fig)
    assert texts[0] == title
    for name in names:
        assert name in texts
    boxes = pictures.field_boxes(esr.decode(value).fields)
    assert "".join(b.digits for b in boxes) == format(value, "064b")
    # every name that did not fit its box is spelled out in the legend
    legend = " ".join(t for t in texts if t.startswith("("))
    for b in boxes:
        assert (b.label == b.name) or (b.key and f"{b.key} {b.name} [{b.bits}]" in legend)


def test_a_fixed_colour_is_not_reused_by_another_field():
    boxes = pictures.field_boxes(pictures.instruction_fields(encodings.brk(0x99)), width=32)
    styles = [(b.colour, b.hatch) for b in boxes]
    assert len(set(styles)) == len(styles)
    # imm16 in the word and Comment in the syndrome share a colour: they are the same bits
    comment = next(
        b
        for b in pictures.field_boxes(_fields(0xF200_0099, BRK_LAYOUT))
        if b.name == "Comment"
    )
    assert comment.colour == next(b.colour for b in boxes if b.name == "imm16")


def test_before_matplotlib_3_11_the_hatch_colour_is_set_without_hatchcolor(monkeypatch):
    # matplotlib 3.8-3.10 (Python 3.10, Pyodide) rejects hatchcolor=: the picture must
    # still come out, its hatch lines as grey as with 3.11.
    from matplotlib.colors import to_rgba

    class OldRectangle(Rectangle):
        def __init__(self, *args, **kwargs):
            if "hatchcolor" in kwargs:
                raise AttributeError(
                    "Rectangle.set() got an unexpected keyword argument 'hatchcolor'"
                )
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(pictures, "Rectangle", OldRectangle)
    monkeypatch.setattr(pictures, "_HAS_HATCHCOLOR", False)
    fig = pictures.draw_word(encodings.brk(0x99))
    boxes = [p for p in fig.axes[0].patches if isinstance(p, OldRectangle)]
    assert len(boxes) == 5
    assert all(b._hatch_color == to_rgba(pictures._HATCH_COLOUR) for b in boxes)
    assert all(b.get_edgecolor() == to_rgba("black") for b in boxes)
    assert pictures.to_png(fig).startswith(b"\x89PNG")


# --- readable at 100 % zoom, with alt text (issue 13) -------------------------------------------

FLOW_PICTURES = [
    pictures.trap_path,
    pictures.step_over,
    pictures.reinjection,
    pictures.vector_table,
    pictures.rsp_exchange,
]


@pytest.mark.parametrize("make", FLOW_PICTURES, ids=lambda f: f.__name__)
def test_each_flow_picture_builds_with_alt_text_and_10_px_text(make):
    picture = make()
    assert isinstance(picture, pictures.Picture)
    assert len(picture.alt) > 80 and picture.alt.endswith(".")
    assert pictures.font_px(picture.figure) >= 10.0
    html_text = picture._repr_html_()
    assert html_text.startswith("<img src='data:image/png;base64,")
    assert f"alt='{picture.alt}'" in html_text.replace("&#x27;", "'")
    assert "max-width:100%" in html_text
    assert repr(picture) == f"<Picture: {picture.alt}>"
    assert picture.png() == make().png()  # deterministic, for a stored notebook


@pytest.mark.parametrize(
    "make",
    [
        lambda: pictures.draw_syndrome(0xF2000800, title="ESR = 0xf2000800 (Linux BUG)"),
        lambda: pictures.draw_syndrome(0x96000045),
        lambda: pictures.draw_word(encodings.brk(0x123), title="BRK #0x123"),
    ],
    ids=["brk-syndrome", "data-abort", "brk-word"],
)
def test_register_pictures_text_is_at_least_10_px(make):
    fig = make()
    # 1200 px shown in a column at 1280 px: 7 pt bit numbers were 7.1 px there
    assert pictures.font_px(fig) >= 10.0
    # the lessons store the repr: the size must not move
    assert fig.get_size_inches()[0] == 12.0


def test_the_esr_explorers_picture_is_10_px_in_a_lesson_and_in_the_app():
    from armbp.widgets import esr_explorer

    fig = pictures.draw_syndrome(0x96000045, digits=False)
    for column in (pictures.DISPLAY_WIDTH_PX, 1200):  # lesson 4; the app's tab
        assert pictures.font_px(fig, column, dpi=esr_explorer.PICTURE_DPI) >= 10.0


def test_font_px_counts_the_scaling_to_the_column():
    fig = pictures.draw_word(encodings.brk(0))
    wide = pictures.font_px(fig, 10_000)  # no scaling: 10 pt at 100 dpi
    assert wide == pytest.approx(10.0 * 100 / 72)
    assert pictures.font_px(fig, 600) == pytest.approx(wide * 600 / 1200)


def test_register_pictures_with_alt_text_name_every_field():
    pic = pictures.syndrome_picture(0x96000045)
    assert pic.alt == (
        "Bit-field diagram of ESR 0x96000045: EC 0x25 (bits 31:26), IL 1 (bits 25), "
        "WnR 1 (bits 6), DFSC 0x05 (bits 5:0); the other 19 field(s) are 0."
    )
    word = pictures.word_picture(encodings.brk(0x123), title="BRK #0x123")
    assert "imm16 0x0123 (bits 20:5)" in word.alt
    assert pictures.font_px(word.figure) >= 10.0


@pytest.mark.parametrize("alt", ["", "   ", None])
def test_a_picture_without_alt_text_is_refused(alt):
    with pytest.raises(ValueError, match="alt text"):
        pictures.Picture(pictures.draw_word(encodings.brk(0)), alt)


def test_the_rsp_picture_sends_z0_on_continue_not_on_break():
    texts = [
        t.get_text()
        for t in pictures.rsp_exchange().figure.findobj(lambda a: hasattr(a, "get_text"))
    ]
    texts = [t for t in texts if t]
    at = {t: i for i, t in reversed(list(enumerate(texts)))}
    assert at["break *0x40008"] < at["GDB only records it: no Z0 yet"] < at["continue"]
    assert at["continue"] < at["$Z0,40008,4#.."] < at["$vCont;c#a8"]
    assert at["$T05swbreak:;#.."] < at["$z0,40008,4#.."] < at["x/1xw 0x40008"]


def test_the_vector_table_refuses_an_offset_that_is_no_vector():
    assert "+0x400, synchronous from the lower EL, AArch64" in pictures.vector_table(0x400).alt
    with pytest.raises(ValueError, match="0x210: expected a vector offset"):
        pictures.vector_table(0x210)


def test_a_flow_needs_steps():
    with pytest.raises(ValueError, match="at least one step"):
        pictures.draw_flow([], title="nothing")
