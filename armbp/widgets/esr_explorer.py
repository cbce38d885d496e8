"""``EsrExplorer``: type, paste or click an ESR_ELx value and watch it decode.

Four views of one 64-bit value, kept in sync whichever one the learner changes:

* a text box (hex, decimal, or a pasted kernel line such as ``ESR = 0x0000000096000045``,
  read by :func:`armbp.esr.parse`; Enter or leaving the box applies it),
* 64 bit toggles, grouped by the fields of the current exception class,
* a table of the fields and their meanings (:func:`armbp.esr.decode`): EC, IL, ISS and
  the fields that are set, or every field with **Show all fields**,
* the bit-field picture of :func:`armbp.pictures.draw_syndrome`, as a PNG ``Image``,

plus a dropdown of real syndromes to start from. ``value`` (an int trait) is the single
source of truth: every view writes ``value``, and only the ``value`` observer writes the
views, under a guard (``_syncing``, a ``Syncing`` flag) that makes the views' own observers ignore those writes.
So setting 64 toggles during a refresh never feeds back as 64 edits, and no loop can start.

Everything shown is plain widget state (text, HTML, PNG bytes): a notebook executed with
``nbconvert --execute`` and exported to static HTML shows the last state without a kernel.

Imports only :mod:`armbp.esr`, :mod:`armbp.pictures` and :mod:`armbp.view.esr_table` of
armbp: no Unicorn, no capstone.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets
import traitlets
from ipywidgets.widgets.widget_bool import ToggleButtonStyle

from .. import esr, pictures
from ..esr.presets import PRESETS, Preset
from ..view import esr_table
from . import Syncing

__all__ = ["PRESETS", "EsrExplorer", "Preset"]

MASK64 = (1 << 64) - 1
PICTURE_DPI = 80  # 960 px wide: sharp enough, and small in the saved widget state


def _group_parts(fields: list[Any]) -> list[list[tuple[str, int, int]]]:
    """Per row (63..32, 31..0): the (name, msb, lsb) parts of the fields in that row."""
    rows: list[list[tuple[str, int, int]]] = [[], []]
    for f in sorted(fields, key=lambda f: -f.msb):
        for row, (top, bottom) in enumerate(((63, 32), (31, 0))):
            hi, lo = min(f.msb, top), max(f.lsb, bottom)
            if hi >= lo:
                rows[row].append((f.name, hi, lo))
    return rows


def _close_containers(rows: tuple) -> None:
    """Close replaced group boxes (not the toggles inside): a closed widget leaves the
    kernel's registry, so it is neither kept alive nor saved in the notebook's state."""

    def close(widget: widgets.Widget) -> None:
        for model in (getattr(widget, "layout", None), getattr(widget, "style", None)):
            if model is not None:
                model.close()
        widget.close()

    for row in rows:
        for group in row.children:
            for part in group.children:
                close(part)
            close(group)
        close(row)


class EsrExplorer(widgets.VBox):
    """An interactive ESR_ELx decoder: ``EsrExplorer(0x96000045)``.

    ``value`` is the syndrome (int, 0..2**64-1; set it from Python and every view follows),
    ``syndrome`` the decoded :class:`armbp.esr.Syndrome`. The sub-widgets are attributes
    (``text``, ``presets``, ``bits``, ``table``, ``picture``, ``error``) for tests and for
    lesson authors who want to lay them out differently.
    """

    value = traitlets.Int(0xF200_0000, help="the ESR_ELx value shown (64 bits)")

    def __init__(self, value: int = 0xF200_0000, **kwargs: Any) -> None:
        self._syncing = Syncing()
        self._layout_key: tuple = ()
        self._syndrome: esr.Syndrome | None = None

        self.text = widgets.Text(
            description="ESR value",
            placeholder="0x96000045, 2516582469, or a pasted 'ESR = 0x…' line",
            tooltip="Type or paste a syndrome: hex (0x…), decimal, or a kernel log line; "
            "press Enter to apply",
            continuous_update=False,
            layout=widgets.Layout(width="34em"),
            style={"description_width": "6em"},
        )
        self.presets = widgets.Dropdown(
            options=[(p.label, p.value) for p in PRESETS],
            value=None,
            description="Preset",
            tooltip="Load a real syndrome (its source is shown below the table)",
            layout=widgets.Layout(width="30em"),
            style={"description_width": "4em"},
        )
        self.error = widgets.HTML(value="", layout=widgets.Layout(min_height="1.2em"))
        # One layout and one style shared by the 64 toggles: fewer models in the saved state.
        bit_layout = widgets.Layout(
            width="2.7em", min_width="2.7em", padding="0", margin="1px"
        )
        bit_style = ToggleButtonStyle()
        self.bits = [
            widgets.ToggleButton(
                value=False,
                description=str(bit),
                tooltip=f"bit {bit}",
                layout=bit_layout,
                style=bit_style,
            )
            for bit in range(64)
        ]
        self.bit_rows = widgets.VBox(layout=widgets.Layout(margin="0.3em 0"))
        self.table = widgets.HTML()
        # Beginner mode first: EC, IL, ISS and the fields that are set (a data abort has
        # some thirty, most of them 0); the toggle shows every field.
        self.show_all_fields = widgets.ToggleButton(
            value=False,
            description="Show all fields",
            tooltip="Show every field of the syndrome, also those that are 0",
            layout=widgets.Layout(width="auto"),
        )
        self.show_all_fields.observe(self._on_show_all_fields, names="value")
        self.picture = widgets.Image(
            format="png", layout=widgets.Layout(width="100%", max_width="960px")
        )
        self.picture_caption = widgets.HTML()

        self.text.observe(self._on_text, names="value")
        self.presets.observe(self._on_preset, names="value")
        for bit, button in enumerate(self.bits):
            button.observe(
                lambda change, bit=bit: self._on_bit(bit, change["new"]), names="value"
            )

        heading = widgets.HTML("<b>Bits</b> (press a bit to flip it; grouped by field)")
        super().__init__(
            children=[
                widgets.HBox([self.text, self.presets]),
                self.error,
                self.picture,
                self.picture_caption,
                heading,
                self.bit_rows,
                self.show_all_fields,
                self.table,
            ],
            **kwargs,
        )
        self.observe(self._on_value, names="value")
        if value == self.value:
            self._refresh()
        else:
            self.value = value

    # --- the model -----------------------------------------------------------------------

    @traitlets.validate("value")
    def _check_value(self, proposal: dict[str, Any]) -> int:
        value = proposal["value"]
        if isinstance(value, bool) or not 0 <= value <= MASK64:
            raise traitlets.TraitError(f"ESR value {value!r} does not fit in 64 bits")
        return value

    @property
    def syndrome(self) -> Any:
        """The decoded syndrome of ``value`` (:class:`armbp.esr.Syndrome`)."""
        if self._syndrome is None or self._syndrome.esr != self.value:
            self._syndrome = esr.decode(self.value)
        return self._syndrome

    def __repr__(self) -> str:
        s = self.syndrome
        return f"EsrExplorer(0x{self.value:016x}: EC 0x{s.ec:02X} {s.ec_name})"

    # --- the views write `value` -------------------------------------------------------------

    def _on_text(self, change: dict[str, Any]) -> None:
        if self._syncing:
            return
        text = change["new"]
        try:
            values = esr.parse(text)
            if not values:
                raise ValueError(f"no ESR value found in {text!r}")
            value = values[0]
            if not 0 <= value <= MASK64:
                raise ValueError(f"{text!r} does not fit in 64 bits")
        except ValueError as exc:
            self._show_error(str(exc))
            return
        note = (
            ""
            if len(values) == 1
            else f"{len(values)} values found; showing the first, 0x{value:x}."
        )
        if value == self.value:
            self._refresh()  # same value: still tidy the text and clear an old error
        else:
            self.value = value
        if note:
            self.error.value = f'<span style="color:#555">{html.escape(note)}</span>'

    def _on_preset(self, change: dict[str, Any]) -> None:
        if self._syncing or change["new"] is None:
            return
        self.value = change["new"]

    def _on_bit(self, bit: int, on: bool) -> None:
        if self._syncing:
            return
        self.value = self.value | 1 << bit if on else self.value & ~(1 << bit)

    # --- `value` writes the views ------------------------------------------------------------

    def _on_value(self, change: dict[str, Any]) -> None:
        self._refresh()

    def _show_error(self, message: str) -> None:
        self.error.value = (
            f'<span style="color:#B00020" role="alert">⚠ '
            f"{html.escape(message)} — still showing "
            f"0x{self.value:016x}.</span>"
        )

    def _refresh(self) -> None:
        s = self.syndrome
        with self._syncing:
            self.error.value = ""
            self.text.value = f"0x{self.value:016x}"
            match = [p.value for p in PRESETS if p.value == self.value]
            self.presets.value = match[0] if match else None
            self._refresh_bits(s)
            self.table.value = self._table_html(s)
            fig = pictures.draw_syndrome(s, digits=False)  # the toggles show the bits
            self.picture.value = pictures.to_png(fig, dpi=PICTURE_DPI)
            # A caption, not a tooltip: ipywidgets 8's front end cannot render an Image
            # that has a tooltip (it reads the description an Image does not have).
            self.picture_caption.value = (
                f"<small>Bit-field picture of ESR "
                f"0x{self.value:016x}: EC 0x{s.ec:02X} "
                f"{html.escape(s.ec_name)}</small>"
            )

    def _refresh_bits(self, s: Any) -> None:
        names = {}
        for f in s.fields:
            for bit in range(f.lsb, f.msb + 1):
                names[bit] = f.name
        for bit, button in enumerate(self.bits):
            on = bool(self.value >> bit & 1)
            button.value = on
            button.button_style = "info" if on else ""
            button.tooltip = f"bit {bit} ({names.get(bit, '?')}) = {int(on)}: press to flip"
        key = tuple((f.name, f.msb, f.lsb) for f in s.fields)
        if key == self._layout_key:
            return
        self._layout_key = key
        rows = []
        for parts in _group_parts(list(s.fields)):
            groups = []
            for name, msb, lsb in parts:
                caption = widgets.HTML(
                    f"<b>{html.escape(name)}</b> "
                    f"<small>{pictures.bit_range(msb, lsb)}</small>",
                    layout=widgets.Layout(overflow="hidden", max_width="100%"),
                )
                buttons = widgets.HBox(
                    [self.bits[b] for b in range(msb, lsb - 1, -1)],
                    layout=widgets.Layout(flex_flow="row wrap"),
                )
                groups.append(
                    widgets.VBox(
                        [caption, buttons],
                        layout=widgets.Layout(
                            border="1px solid #999", padding="1px 2px", margin="0 2px 2px 0"
                        ),
                    )
                )
            rows.append(widgets.HBox(groups, layout=widgets.Layout(flex_flow="row wrap")))
        old, self.bit_rows.children = self.bit_rows.children, tuple(rows)
        _close_containers(old)

    def _table_html(self, s: Any) -> str:
        e = html.escape
        sources = [p for p in PRESETS if p.value == self.value]
        source = (
            f"<p><small>Preset source: {e(sources[0].source)}</small></p>" if sources else ""
        )
        return esr_table.html(s, show_all=self.show_all_fields.value) + source

    def _on_show_all_fields(self, change: dict[str, Any]) -> None:
        self.table.value = self._table_html(self.syndrome)
