"""EsrExplorer, headless: change one view, check every other view followed."""

from __future__ import annotations

import os
import re
import subprocess
import sys

os.environ.setdefault("MPLBACKEND", "Agg")

import ipywidgets as widgets
import pytest
import traitlets

from armbp import esr, pictures
from armbp.widgets import esr_explorer
from armbp.widgets.esr_explorer import PRESETS, EsrExplorer


@pytest.fixture
def explorer():
    return EsrExplorer()


def _bits(w: EsrExplorer) -> int:
    return sum(1 << bit for bit, button in enumerate(w.bits) if button.value)


def _captions(w: EsrExplorer) -> list[str]:
    """The field names of the bit groups, top row then bottom row."""
    return [
        re.sub(r"<[^>]+>", "", group.children[0].value).split()[0]
        for row in w.bit_rows.children
        for group in row.children
    ]


def _views(w: EsrExplorer) -> dict:
    return {
        "text": w.text.value,
        "bits": _bits(w),
        "table": w.table.value,
        "picture": bytes(w.picture.value),
        "preset": w.presets.value,
        "error": w.error.value,
        "captions": _captions(w),
    }


def _assert_in_sync(w: EsrExplorer, value: int) -> None:
    s = esr.decode(value)
    assert w.value == value and w.syndrome.esr == value
    assert w.text.value == f"0x{value:016x}"
    assert _bits(w) == value
    assert all(b.button_style == ("info" if b.value else "") for b in w.bits)
    assert f"EC 0x{s.ec:02X}" in w.table.value
    # beginner mode (the default): EC, IL, ISS and the fields that are set, in the table;
    # the named fields that are 0 in the line under it
    for f in s.fields:
        if f.name in ("EC", "IL") or f.value:
            assert f"<b>{f.name}</b>" in w.table.value, f.name
        elif not f.name.startswith("RES"):
            assert f"<b>{f.name}</b>" not in w.table.value, f.name
            assert f.name in w.table.value.split("armbp-esr-hidden")[1], f.name
    assert "<b>ISS</b>" in w.table.value
    assert _captions(w) == [f.name for f in sorted(s.fields, key=lambda f: -f.msb)]
    assert bytes(w.picture.value).startswith(b"\x89PNG")
    assert f"Bit-field picture of ESR 0x{value:016x}: " in w.picture_caption.value
    assert w.presets.value == (value if value in {p.value for p in PRESETS} else None)
    assert repr(w) == f"EsrExplorer(0x{value:016x}: EC 0x{s.ec:02X} {s.ec_name})"


def test_starts_on_brk_0_with_every_view_filled(explorer):
    _assert_in_sync(explorer, 0xF200_0000)
    expected = pictures.to_png(
        pictures.draw_syndrome(esr.decode(0xF200_0000), digits=False),
        dpi=esr_explorer.PICTURE_DPI,
    )
    assert bytes(explorer.picture.value) == expected
    assert repr(explorer) == "EsrExplorer(0x00000000f2000000: EC 0x3C BRK (AArch64))"
    assert explorer._repr_mimebundle_()["text/plain"] == repr(explorer)
    assert explorer.error.value == ""
    assert "GDB" in explorer.table.value  # the preset's source is shown


def test_text_drives_bits_table_picture_and_preset(explorer):
    before = _views(explorer)
    explorer.text.value = "0x96000045"
    _assert_in_sync(explorer, 0x9600_0045)
    after = _views(explorer)
    for view in ("bits", "table", "picture", "preset", "captions"):
        assert after[view] != before[view], view
    assert "WnR" in explorer.table.value and "DFSC" in explorer.table.value


@pytest.mark.parametrize("text", ["ESR = 0x0000000096000045", "2516582469", "96000045"])
def test_text_accepts_what_esr_parse_accepts(explorer, text):
    explorer.text.value = text
    _assert_in_sync(explorer, 0x9600_0045)
    assert explorer.error.value == ""


def test_a_bit_toggle_drives_text_table_picture(explorer):
    explorer.value = 0x9600_0045
    picture = explorer.picture.value
    explorer.bits[6].value = False  # WnR: a write becomes a read
    _assert_in_sync(explorer, 0x9600_0005)
    assert explorer.picture.value != picture
    explorer.bits[40].value = True  # a bit of ISS2
    _assert_in_sync(explorer, 0x1_0000_0000 << 8 | 0x9600_0005)


def test_flipping_ec_bits_regroups_the_toggles(explorer):
    assert "Comment" in _captions(explorer)
    # 0xf2000000 -> EC 0x3C; clear bits 29..26 -> EC 0x30, a hardware breakpoint
    for bit in (29, 28, 27, 26):
        explorer.bits[bit].value = False
    _assert_in_sync(explorer, 0xC200_0000)
    assert "Comment" not in _captions(explorer)
    # every bit button sits in exactly one group, highest bit first
    order = [
        b
        for row in explorer.bit_rows.children
        for group in row.children
        for b in group.children[1].children
    ]
    assert [int(b.description) for b in order] == list(range(63, -1, -1))


def test_a_preset_drives_everything(explorer):
    step = next(p for p in PRESETS if p.value == 0xCB00_0022)
    explorer.presets.value = step.value
    _assert_in_sync(explorer, 0xCB00_0022)
    assert explorer.presets.label == step.label
    assert step.source in explorer.table.value.replace("&#x27;", "'")


def test_presets_are_the_real_values():
    values = {p.label.split(":")[0]: p.value for p in PRESETS}
    assert values["BRK #0"] == 0xF200_0000
    assert values["BRK #0xf000"] == 0xF200_F000
    assert values["BRK #0x800"] == 0xF200_0800
    assert values["SVC #0"] == 0x5600_0000
    assert values["HVC #0"] == 0x5A00_0000
    assert 0x9600_0045 in values.values() and 0xCB00_0022 in values.values()
    assert len(set(values.values())) == len(PRESETS)


def test_python_side_value_drives_everything_and_is_range_checked(explorer):
    explorer.value = 0x5600_0000
    _assert_in_sync(explorer, 0x5600_0000)
    for bad in (-1, 1 << 64):
        with pytest.raises(traitlets.TraitError, match="does not fit in 64 bits"):
            explorer.value = bad
    _assert_in_sync(explorer, 0x5600_0000)
    assert EsrExplorer(value=0x9600_0045).value == 0x9600_0045


def test_bad_text_shows_an_error_and_keeps_the_last_good_value(explorer):
    explorer.value = 0x9600_0045
    before = _views(explorer)
    explorer.text.value = "0xnot-a-syndrome"
    message = explorer.error.value
    assert "0xnot-a-syndrome" in message.replace("&#x27;", "'")
    assert "still showing 0x0000000096000045" in message and 'role="alert"' in message
    assert explorer.value == 0x9600_0045
    after = _views(explorer)
    assert after["text"] == "0xnot-a-syndrome"  # left as typed, to be corrected
    for view in ("bits", "table", "picture", "preset", "captions"):
        assert after[view] == before[view], view
    # a good value clears the error, even when it is the value already shown
    explorer.text.value = "0x96000045"
    assert explorer.error.value == ""
    _assert_in_sync(explorer, 0x9600_0045)


def test_one_edit_is_one_change_and_one_picture(explorer, monkeypatch):
    """The guard: refreshing the 64 toggles must not feed back as 64 edits."""
    changes, drawn = [], []
    explorer.observe(lambda change: changes.append(change["new"]), names="value")
    real = pictures.draw_syndrome
    monkeypatch.setattr(
        pictures, "draw_syndrome", lambda s, **kw: drawn.append(s.esr) or real(s, **kw)
    )
    explorer.text.value = "0x96000045"
    explorer.bits[6].value = False
    explorer.presets.value = 0xF200_0800
    assert changes == [0x9600_0045, 0x9600_0005, 0xF200_0800]
    assert drawn == changes


def test_every_control_has_a_label(explorer):
    assert explorer.text.description and explorer.text.tooltip
    assert explorer.presets.description and explorer.presets.tooltip
    for bit, button in enumerate(explorer.bits):
        assert button.description == str(bit)
        assert button.tooltip.startswith(f"bit {bit} (")
    assert explorer.bits[25].tooltip == "bit 25 (IL) = 1: press to flip"
    assert "Bit-field picture of ESR 0x00000000f2000000" in explorer.picture_caption.value
    assert "<caption" in explorer.table.value and "<th scope='col'>" in explorer.table.value


def test_imports_only_esr_and_pictures_of_armbp():
    code = (
        "import sys, armbp.widgets.esr_explorer\n"
        "print(' '.join(sorted(m for m in sys.modules)))"
    )
    env = dict(os.environ, MPLBACKEND="Agg")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout.split()
    assert not [m for m in out if m.split(".")[0] in {"unicorn", "capstone", "elftools"}]
    armbp_modules = {m for m in out if m.split(".")[0] == "armbp"}
    allowed = {
        "armbp",
        "armbp.widgets",
        "armbp.widgets.esr_explorer",
        "armbp.pictures",
        "armbp.encodings",
        "armbp.view",  # its model loads only when asked for
        "armbp.view.esr_table",
    }
    assert not {
        m for m in armbp_modules if m not in allowed and not m.startswith("armbp.esr")
    }, armbp_modules


def test_regrouping_does_not_leak_widgets(explorer):
    from ipywidgets.widgets.widget import _instances

    explorer.value = 0x9600_0045
    explorer.value = 0xF200_0000
    live = len(_instances)
    for _ in range(3):
        explorer.value = 0x9600_0045
        explorer.value = 0xF200_0000
    assert len(_instances) == live
    assert all(b.comm is not None for b in explorer.bits)  # the toggles stay open


def test_no_image_has_a_tooltip(explorer):
    # ipywidgets 8's ImageView reads model.description for a tooltip and an Image has none:
    # the picture then fails to render in every browser front end (tests/browser caught it).
    explorer.value = 0x96000045
    images = [w for w in _all_widgets(explorer) if isinstance(w, widgets.Image)]
    assert images and all(not w.tooltip for w in images)


def _all_widgets(w):
    yield w
    for child in getattr(w, "children", ()):
        yield from _all_widgets(child)


# --- beginner mode (issue 13: lesson 4's thirty-row data-abort table) ------------------------


def test_beginner_mode_shows_ec_il_iss_and_the_set_fields_show_all_shows_every_one(explorer):
    explorer.value = 0x9600_0045  # a data abort: ~30 fields, most of them 0
    s = explorer.syndrome
    table = explorer.table.value
    rows = re.findall(r"<tr data-field='([^']+)'>", table)
    assert rows == ["EC", "IL", "ISS", "WnR", "DFSC"]
    assert "Fields: EC, IL, ISS and the fields that are set" in table
    hidden = table.split("armbp-esr-hidden")[1]
    assert "all 0: " in hidden and "TagAccess" in hidden and "GCS" in hidden
    assert not explorer.show_all_fields.value  # beginner mode is the default
    explorer.show_all_fields.value = True
    rows = re.findall(r"<tr data-field='([^']+)'>", explorer.table.value)
    assert rows == [f.name for f in s.fields] and len(rows) > 20
    assert "armbp-esr-hidden" not in explorer.table.value
    explorer.value = 0xF200_0800  # the mode stays as chosen across values
    assert "<b>RES0</b>" in explorer.table.value
    explorer.show_all_fields.value = False
    assert "<b>RES0</b>" not in explorer.table.value
    assert re.findall(r"<tr data-field='([^']+)'>", explorer.table.value) == [
        "EC",
        "IL",
        "ISS",
        "Comment",
    ]


def test_the_beginner_text_table_for_a_lesson():
    from armbp.view import esr_table

    s = esr.decode(0x9600_0004)  # lesson 4's NULL dereference
    text = esr_table.text(s)
    names = [
        line.split()[1] for line in text.splitlines() if re.match(r"\s+\d+(:\d+)?\s", line)
    ]
    assert names == ["EC", "IL", "ISS", "DFSC"]
    assert "WnR" in text.split("(all 0: ")[1]  # a zero is still named: it is the answer
    assert len(text.splitlines()) < 14
    full = esr_table.text(s, show_all=True)
    assert "all 0" not in full and "TagAccess" in full.split("binary")[1]
    # a reserved field that is set is not hidden, and the warning stays
    odd = esr.decode(0x1F00_0000_9600_0004)
    text = esr_table.text(odd)
    assert "RES0, but set" in text and text.rstrip().endswith("are set: 0x1f")
