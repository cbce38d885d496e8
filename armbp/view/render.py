"""Drawing a :class:`~armbp.view.model.ViewState`: as plain text and as HTML panels.

The text is what ``DebuggerView.text()`` returns and what an executed notebook stores for
nbval; the HTML is the widget's panels (and what an HTML export shows). Both take the same
state, and the row markers come from :func:`armbp.view.model.markers` in both, so the two
say the same facts. Neither needs ipywidgets.
"""

from __future__ import annotations

import html

from .model import BP_MARK, HW_MARK, PC_MARK, WATCH_MARK, Gap, Row, ViewState, markers

__all__ = [
    "exit_html",
    "line_label",
    "listing_html",
    "memory_html",
    "message_html",
    "registers_html",
    "running_status_html",
    "status_html",
    "summary",
    "text",
]

PC_BG = "#FFF3B0"  # the pc row (the "=>" marker says it without colour)
BP_FG = "#B00020"  # breakpoint markers and BRK words (the "*" says it without colour)
CHANGED_BG = "#D8F0D8"  # changed registers (bold and "*" say it without colour)

_LEGEND = f"{PC_MARK} pc, {BP_MARK} breakpoint"
_HW_LEGEND = f", {HW_MARK} hardware breakpoint, {WATCH_MARK} watched"


def _legend(s: ViewState) -> str:
    """The marker legend; the hardware marks are named once the debugger uses them."""
    return _LEGEND + (_HW_LEGEND if s.hw_breakpoints or s.watchpoints else "")


def _mark(r: Row, *, pc: str = PC_MARK, blank: str = " ", bp: str | None = None) -> str:
    """The marker column of a row: the pc, then ``*``, ``H`` or ``W`` (``bp`` draws it)."""
    return markers(r.is_pc, bool(r.mark), pc=pc, blank=blank, bp=r.mark if bp is None else bp)


def _memory_words(r: Row) -> str:
    """What the memory column says beside the word at ``r`` (text render)."""
    if r.differs:
        return f" ({r.memory_text})"
    if r.hw_slot is not None:
        return f" (untouched: hw breakpoint slot {r.hw_slot})"
    return ""


_CHANGED = "changed by the last Step/Continue"
_NO_EXIT = "Last exit: none yet (press Step or Continue)"


def _gap_words(g: Gap) -> str:
    return f"{g.count} word(s) at {g.first:#x}..{g.last:#x} not shown (no source line)"


def _exit_head(s: ViewState) -> str:
    x = s.last_exit
    return _NO_EXIT if x is None else f"Last exit: {x.reason} at {x.pc:#x} — {x.message}"


def _event_lines(s: ViewState) -> list[str]:
    x = s.last_exit
    assert x is not None
    return ([f"... {x.earlier} earlier event(s)"] if x.earlier else []) + list(x.events)


# --- plain text ---------------------------------------------------------------------------------


def summary(s: ViewState, breakpoints: list[int]) -> str:
    """The one-line repr: ``DebuggerView(pc=0x4000c BREAKPOINT, breakpoints=[0x4000c])``.

    The busy state is left out on purpose: a notebook stores this line, and it must not
    depend on whether a background run was still on when the cell ended.
    """
    where = f"{s.pc:#x}" + (f" {s.last_exit.reason}" if s.last_exit else "")
    bps = ", ".join(f"{pc:#x}" for pc in breakpoints)
    return f"DebuggerView(pc={where}, breakpoints=[{bps}])"


def line_label(r: Row) -> str:
    """A listing row as one line for a picker: ``=> * 0x4000c  loop: add x7, x7, #1``."""
    label = f"{r.label}: " if r.label else ""
    return f"{_mark(r)} {r.address:#x}  {label}{r.text}"


def text(s: ViewState) -> str:
    """The state as plain text: heading, listing with memory, registers, last exit."""
    out = [
        f"DebuggerView of {s.program}: pc={s.pc:#x}, {s.state_words}, breakpoints: "
        + (", ".join(b.name for b in s.breakpoints) or "none")
        + (f"; {s.hardware_words}" if s.hardware_words else "")
    ]
    if s.warning:
        out.append(f"! {s.warning}")
    if s.message:
        out.append(("! " if s.message_is_error else "") + s.message)
    out.append("")
    out.append(f"Listing (original instructions; {_legend(s)}) | memory holds")
    shown = s.lines
    tw = max([len(r.text) for r in shown] + [20])
    lw = max([len(r.label) + 1 for r in shown if r.label] + [0])
    mw = max([8] + [8 + len(_memory_words(r)) for r in shown])
    for r in s.rows:
        if isinstance(r, Gap):
            out.append(f"     ... {_gap_words(r)}")
            continue
        label = f"{r.label}:" if r.label else ""
        mem = f"{r.memory_word:08x}" + _memory_words(r)
        src = f"  | {r.source}" if r.source else ""
        out.append(
            f"{_mark(r)} {r.address:#x}  {r.word:08x}  "
            f"{r.text:<{tw}}  {label:<{lw}} | {mem:<{mw}}{src}".rstrip()
        )
    out.append("")
    out.append(f"Registers ({BP_MARK} {_CHANGED})")
    regs = s.registers
    for i in range(0, len(regs), 4):
        out.append(
            "  ".join(
                f"{r.name:>6} {r.value:#018x}{BP_MARK if r.changed else ' '}"
                for r in regs[i : i + 4]
            ).rstrip()
        )
    if s.flags is not None:
        out.append(f"  pstate: {s.flags}")
    out.append("")
    out.append(_exit_head(s))
    if s.last_exit is not None:
        out.extend(f"  {fact}" for fact in s.last_exit.facts)
        out.append("Events since the last action:")
        out.extend(f"  {line}" for line in _event_lines(s))
    return "\n".join(out)


# --- HTML ---------------------------------------------------------------------------------------

# Listing and memory tables: monospace, one line a row, and room between the columns
# (front ends reset cellpadding; the style travels with the HTML into Voila and exports).
_TABLE_OPEN = (
    "<style>.armbp-dv-table td, .armbp-dv-table th {padding: 0.05em 0.7em 0.05em 0;"
    " text-align: left}</style>"
    "<table class='armbp-dv-table' style='font-family:monospace;white-space:nowrap;"
    "border-collapse:collapse'>"
)
_E = html.escape


def _pc_html(s: ViewState) -> str:
    return f"<b>PC <code class='armbp-dv-pc'>{s.pc:#x}</code></b>"


def status_html(s: ViewState) -> str:
    """The status line: pc, stopped or not, the breakpoints, an overwritten-BRK warning."""
    state = _E(s.state_words)
    if s.last_exit is not None and s.last_exit.reason == "BUDGET":
        state = (
            f'<span style="color:{BP_FG}">⏱ {state} — the guest ran out of budget '
            f"and came back</span>"
        )
    bps = ", ".join(_E(b.name) for b in s.breakpoints)
    if s.hardware_words:
        bps = (bps or "none") + f"; {_E(s.hardware_words)}"
    warning = (
        f"<br><span style='color:{BP_FG}' role='alert'>⚠ {_E(s.warning)}</span>"
        if s.warning
        else ""
    )
    return f"{_pc_html(s)} — {state}; breakpoints: {bps or 'none'}{warning}"


def running_status_html(s: ViewState, limit: str) -> str:
    """The status line while a Continue runs with the budget ``limit`` (e.g. ``30 s``)."""
    return (
        f"{_pc_html(s)} — <span role='status'>⏳ running: Continue, budget {limit}; "
        f"Stop interrupts it</span>"
    )


def message_html(s: ViewState) -> str:
    """The message line: an alert for an error, a status otherwise, nothing when empty."""
    if not s.message:
        return ""
    if s.message_is_error:
        return f'<span style="color:{BP_FG}" role="alert">⚠ {_E(s.message)}</span>'
    return f'<span role="status">{_E(s.message)}</span>'


def listing_html(s: ViewState) -> str:
    """The listing as a table: markers, address, label, original word, instruction, source."""
    rows = []
    for r in s.rows:
        if isinstance(r, Gap):
            rows.append(
                f"<tr class='gap'><td colspan='6' style='color:#666'>… "
                f"{_gap_words(r)}</td></tr>"
            )
            continue
        style = f" style='background:{PC_BG};font-weight:bold'" if r.is_pc else ""
        cls = " ".join(
            c
            for c, on in (
                ("pc", r.is_pc),
                ("bp", r.is_breakpoint),
                ("hw", r.hw_slot is not None),
                ("watched", bool(r.watched)),
            )
            if on
        )
        title = {
            BP_MARK: "breakpoint",
            HW_MARK: f"hardware breakpoint, slot {r.hw_slot} (memory untouched)",
            WATCH_MARK: r.watched,
        }.get(r.mark, "")
        mark = _mark(
            r,
            pc=_E(PC_MARK),
            blank="&nbsp;",
            bp=f"<span style='color:{BP_FG}' title='{_E(title)}'>{r.mark or BP_MARK}</span>",
        )
        rows.append(
            f"<tr class='{cls}' data-address='{r.address:#x}'{style}>"
            f"<td>{mark}</td><td>{r.address:#x}</td>"
            f"<td>{_E(r.label + ':') if r.label else ''}</td>"
            f"<td>{r.word:08x}</td><td>{_E(r.text)}</td>"
            f"<td style='color:#555'>{_E(r.source)}</td></tr>"
        )
    return (
        _TABLE_OPEN
        + "<caption style='text-align:left'><b>Listing</b> (original instructions; "
        f"{_E(_legend(s))})</caption>"
        "<thead><tr><th scope='col'></th><th scope='col'>Address</th>"
        "<th scope='col'>Label</th><th scope='col'>Word</th>"
        "<th scope='col'>Instruction</th><th scope='col'>Source</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _memory_note(r: Row) -> str:
    """Why memory differs from the listing at ``r``, or "" where it does not."""
    if r.overwritten:
        return f"⚠ guest overwrote our BRK: {r.memory_text}"
    if r.differs:
        return (
            f"{r.memory_text} ← {'our BRK' if r.ours else 'changed'}, listing "
            f"shows {r.word:08x}"
        )
    if r.hw_slot is not None:
        return (
            f"untouched: hardware breakpoint slot {r.hw_slot} (DBGBVR{r.hw_slot}), "
            "no BRK written"
        )
    return ""


def memory_html(s: ViewState) -> str:
    """The words really in memory, row for row beside the listing; differences in bold."""
    rows = []
    for r in s.rows:
        if isinstance(r, Gap):
            rows.append("<tr class='gap'><td colspan='3' style='color:#666'>…</td></tr>")
            continue
        note = _memory_note(r)
        if note and not r.differs:  # a hardware breakpoint: the word is the original
            rows.append(
                f"<tr class='untouched' data-address='{r.address:#x}'>"
                f"<td>{r.address:#x}</td><td>{r.memory_word:08x}</td>"
                f"<td>{_E(note)}</td></tr>"
            )
            continue
        if not note:
            rows.append(
                f"<tr data-address='{r.address:#x}'><td>{r.address:#x}</td>"
                f"<td>{r.memory_word:08x}</td><td></td></tr>"
            )
            continue
        rows.append(
            f"<tr class='differs' data-address='{r.address:#x}'>"
            f"<td>{r.address:#x}</td>"
            f"<td><b style='color:{BP_FG}'>{r.memory_word:08x}</b></td>"
            f"<td><b>{_E(note)}</b></td></tr>"
        )
    return (
        _TABLE_OPEN
        + "<caption style='text-align:left'><b>Memory</b> (the words really there: "
        "what the CPU fetches)</caption>"
        "<thead><tr><th scope='col'>Address</th><th scope='col'>Memory holds</th>"
        "<th scope='col'></th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def registers_html(s: ViewState) -> str:
    """The registers four to a row, the changed ones shaded, bold and marked."""
    cells = []
    for r in s.registers:
        if r.changed:
            cells.append(
                f"<td style='background:{CHANGED_BG}' class='changed'>"
                f"<b>{r.name} {r.value:#018x} {BP_MARK}</b></td>"
            )
        else:
            cells.append(f"<td>{r.name} {r.value:#018x}&nbsp;&nbsp;</td>")
    rows = "".join(
        "<tr>" + "".join(cells[i : i + 4]) + "</tr>" for i in range(0, len(cells), 4)
    )
    flags = f"<p>pstate: {_E(s.flags)}</p>" if s.flags is not None else ""
    return (
        "<table style='font-family:monospace;white-space:nowrap' cellpadding='1'>"
        f"<caption style='text-align:left'><b>Registers</b> (<b>bold {BP_MARK}</b> = "
        f"{_CHANGED})</caption>{rows}</table>{flags}"
    )


def exit_html(s: ViewState) -> str:
    """The last exit: heading, decoded facts, the events since the last action."""
    facts = s.last_exit.facts if s.last_exit is not None else ()
    items = "".join(f"<li>{_E(fact)}</li>" for fact in facts)
    events = ""
    if s.last_exit is not None:
        events = (
            "<p style='margin:0.2em 0'>Events since the last action:</p>"
            "<ol style='margin:0.2em 0'>"
            + "".join(f"<li>{_E(line)}</li>" for line in _event_lines(s))
            + "</ol>"
        )
    return (
        f"<div style='font-family:monospace'><b>{_E(_exit_head(s))}</b>"
        f"<ul style='margin:0.2em 0'>{items}</ul>{events}</div>"
    )
