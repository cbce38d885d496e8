"""A syndrome's field table for a beginner: EC, IL, ISS and the fields that are set.

A data abort decodes into some thirty fields, most of them Armv9 extensions that read 0
(``HDBSSF``, ``TagAccess``, ``GCS``, ``AssuredOnly`` ...). A newcomer looking for *why it
stopped* has to find EC, WnR and DFSC among them. The beginner table keeps the three parts
every syndrome has — EC (what kind), IL (instruction length) and ISS (the detail, as one
value) — and, of the fields inside ISS and ISS2, only those that are not zero; the others
are named in one line (``all 0: WnR, ISV, ...``), so a zero still reads as an answer.
``show_all=True`` is the full table, as ``armbp esr`` prints it.

Pure: :mod:`armbp.esr` only, no widgets. :func:`text` is for a lesson's ``print``, and
:func:`html` is the ESR explorer's table (with its "Show all fields" toggle).
"""

from __future__ import annotations

import html as _html
import textwrap
from dataclasses import replace

from ..esr import Field, Syndrome
from ..esr.cli import format_text

__all__ = ["ALWAYS", "hidden_fields", "html", "shown_fields", "text"]

ALWAYS = ("EC", "IL")  # shown whatever their value: every syndrome has them

# ESR_ELx: ISS is bits 24:0 and ISS2 bits 55:32 (the Arm ARM's ESR_EL1 register page).
_ISS = (24, 0)
_ISS2 = (55, 32)


def _reserved(f: Field) -> bool:
    return f.name.upper().startswith(("RES0", "RES1"))


def _part(name: str, bits: tuple[int, int], value: int, meaning: str) -> Field:
    return Field(name, bits[0], bits[1], value, meaning)


def shown_fields(s: Syndrome, *, show_all: bool = False) -> tuple[Field, ...]:
    """The rows of the table: every field with ``show_all``; else EC, IL, the whole ISS
    (and ISS2 when it is not zero) as one value each, then the fields that are set.

    A reserved field that is set is shown too: it is worth a warning, not a hiding place.
    """
    if show_all:
        return s.fields
    rows = [f for f in s.fields if f.name in ALWAYS]
    rows.append(_part("ISS", _ISS, s.iss, "the detail of this class; below: its fields not 0"))
    if s.iss2:
        rows.append(_part("ISS2", _ISS2, s.iss2, "more detail (a few classes); fields below"))
    rows += [f for f in s.fields if f.name not in ALWAYS and f.value]
    return tuple(rows)


def hidden_fields(s: Syndrome, *, show_all: bool = False) -> tuple[Field, ...]:
    """The named (not reserved) fields the beginner table leaves out: those that are 0."""
    if show_all:
        return ()
    return tuple(
        f for f in s.fields if f.name not in ALWAYS and not f.value and not _reserved(f)
    )


def _hidden_line(s: Syndrome, show_all: bool) -> str:
    hidden = hidden_fields(s, show_all=show_all)
    if not hidden:
        return ""
    names = ", ".join(f.name for f in hidden)
    return f"all 0: {names} (and the reserved bits); show all fields to see each one"


def text(s: Syndrome, *, show_all: bool = False) -> str:
    """The table as text: ``armbp esr``'s layout, beginner rows unless ``show_all``."""
    out = format_text(replace(s, fields=shown_fields(s, show_all=show_all)))
    hidden = _hidden_line(s, show_all)
    if not hidden:
        return out
    lines = out.split("\n")
    at = next((i for i, line in enumerate(lines) if line == "  warnings:"), len(lines))
    if at < len(lines):
        at -= 1  # before the blank line that opens the warnings
    lines[at:at] = textwrap.wrap(
        f"({hidden})", width=92, initial_indent="  ", subsequent_indent="   "
    )
    return "\n".join(lines)


def html(s: Syndrome, *, show_all: bool = False) -> str:
    """The table as HTML: the EC line, the rows, what was left out, the warnings."""
    from ..pictures import bit_range, value_text  # matplotlib: only the HTML needs them

    e = _html.escape
    head = (
        f"<p><b>EC 0x{s.ec:02X} — {e(s.ec_name)}</b>: {e(s.ec_description)}; "
        f"IL = {s.il}; ISS = 0x{s.iss:07x}; ISS2 = 0x{s.iss2:06x}</p>"
    )
    rows = "".join(
        f"<tr data-field='{e(f.name)}'><td style='font-family:monospace'>"
        f"{bit_range(f.msb, f.lsb)}</td><td><b>{e(f.name)}</b></td>"
        f"<td style='font-family:monospace'>{value_text(f.value, f.width)}</td>"
        f"<td>{e(f.meaning)}</td></tr>"
        for f in shown_fields(s, show_all=show_all)
    )
    which = (
        "every field, most significant first"
        if show_all
        else "EC, IL, ISS and the fields that are set"
    )
    hidden = _hidden_line(s, show_all)
    table = (
        "<table style='border-collapse:collapse' border='1' cellpadding='3'>"
        f"<caption style='text-align:left'>Fields: {which}</caption>"
        "<thead><tr><th scope='col'>Bits</th><th scope='col'>Field</th>"
        "<th scope='col'>Value</th><th scope='col'>Meaning</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
        + (f"<p class='armbp-esr-hidden' style='color:#555'>{e(hidden)}</p>" if hidden else "")
    )
    warnings = "".join(f"<li>{e(w)}</li>" for w in s.warnings)
    warn = f"<p><b>Warnings</b></p><ul>{warnings}</ul>" if warnings else ""
    return head + table + warn
