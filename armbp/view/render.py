"""Drawing a :class:`~armbp.view.model.ViewState`: as plain text and as HTML panels.

The text is what ``DebuggerView.text()`` returns and what an executed notebook stores for
nbval; the HTML is the widget's panels (and what an HTML export shows). Both take the same
state, and the row markers come from :func:`armbp.view.model.markers` in both, so the two
say the same facts. Neither needs ipywidgets.
"""

from __future__ import annotations

import html

from .model import (
    BP_MARK,
    HW_MARK,
    PC_MARK,
    WATCH_MARK,
    Gap,
    Register,
    Row,
    ViewState,
    markers,
)

__all__ = [
    "brief",
    "exit_html",
    "line_label",
    "listing_html",
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


def brief(s: ViewState) -> str:
    """The few lines a lesson prints beside the widget: where it stopped, why, what memory
    holds under each breakpoint, which registers changed.

    Why not :func:`text`: forty lines that wrap in a notebook column repeat what the widget
    shows; a notebook still needs the facts as text (nbval compares text, not widgets).
    """
    out = [text(s).split("\n", 1)[0], _exit_head(s)]
    if s.last_exit is not None:
        out += [f"  {fact}" for fact in s.last_exit.facts if fact.startswith("hsr")]
    out += [
        f"  memory at {r.address:#x}: {r.memory_word:08x} ({r.memory_text}); the listing "
        f"shows {r.word:08x} ({r.text})"
        for r in s.lines
        if r.differs
    ]
    changed = [r.name for r in s.registers if r.changed]
    if changed:
        out.append(f"  changed by the last Step/Continue: {', '.join(changed)}")
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


def _memory_note(r: Row) -> str:
    """Why memory differs from the listing at ``r``, or "" where it does not."""
    if r.overwritten:
        return f"⚠ guest overwrote our BRK: {r.memory_text}"
    if r.differs:
        return f"{r.memory_text} ← {'our BRK' if r.ours else 'changed'}"
    if r.hw_slot is not None:
        return (
            f"untouched: hardware breakpoint slot {r.hw_slot} (DBGBVR{r.hw_slot}), "
            "no BRK written"
        )
    return ""


def listing_html(s: ViewState) -> str:
    """Listing and memory as one table: a row per word, the instruction the guest should
    see and the word memory really holds side by side (bold where they differ).

    Why one table: two tables side by side stack when the window is narrow, and then
    "memory holds d4200000 beside the add" is no longer true on screen; in one row it is
    at any width (the panel scrolls sideways instead).
    """
    rows = []
    for r in s.rows:
        if isinstance(r, Gap):
            rows.append(
                f"<tr class='gap'><td colspan='7' style='color:#666'>… "
                f"{_gap_words(r)}</td></tr>"
            )
            continue
        style = f" style='background:{PC_BG};font-weight:bold'" if r.is_pc else ""
        note = _memory_note(r)
        cls = " ".join(
            c
            for c, on in (
                ("pc", r.is_pc),
                ("bp", r.is_breakpoint),
                ("hw", r.hw_slot is not None),
                ("watched", bool(r.watched)),
                ("differs", r.differs or r.overwritten),
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
        if r.differs or r.overwritten:
            memory = (
                f"<td class='mem'><b style='color:{BP_FG}'>{r.memory_word:08x}</b> "
                f"<b>{_E(note)}</b></td>"
            )
        elif note:  # a hardware breakpoint: the word is the original, and says so
            memory = (
                f"<td class='mem untouched'>{r.memory_word:08x} "
                f"<span style='color:#555'>{_E(note)}</span></td>"
            )
        else:
            memory = f"<td class='mem' style='color:#555'>{r.memory_word:08x}</td>"
        rows.append(
            f"<tr class='{cls}' data-address='{r.address:#x}'{style}>"
            f"<td>{mark}</td><td>{r.address:#x}</td>"
            f"<td>{_E(r.label + ':') if r.label else ''}</td>"
            f"<td>{r.word:08x}</td><td>{_E(r.text)}</td>{memory}"
            f"<td style='color:#555'>{_E(r.source)}</td></tr>"
        )
    return (
        _TABLE_OPEN
        + "<caption style='text-align:left'><b>Listing and memory</b> (the instruction "
        f"the guest should see, and the word memory really holds: what the CPU fetches; "
        f"{_E(_legend(s))})</caption>"
        "<thead><tr><th scope='col'></th><th scope='col'>Address</th>"
        "<th scope='col'>Label</th><th scope='col'>Word</th>"
        "<th scope='col'>Instruction</th><th scope='col'>Memory holds</th>"
        "<th scope='col'>Source</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


REGISTERS_PER_ROW = 2  # narrow enough to sit beside the controls at 1280 px


def registers_html(s: ViewState, *, show_all: bool = False) -> str:
    """The registers, changed ones first (shaded, bold, marked), then the non-zero ones;
    the registers that hold zero and did not change only with ``show_all``."""
    first, rest = s.register_groups
    cells = []
    for r in first + (rest if show_all else ()):
        if r.changed:
            cells.append(
                f"<td style='background:{CHANGED_BG}' class='changed'>"
                f"<b>{r.name} {r.value:#018x} {BP_MARK}</b></td>"
            )
        else:
            cells.append(f"<td>{r.name} {r.value:#018x}&nbsp;&nbsp;</td>")
    n = REGISTERS_PER_ROW
    rows = "".join(
        "<tr>" + "".join(cells[i : i + n]) + "</tr>" for i in range(0, len(cells), n)
    )
    hidden = (
        f"<p style='margin:0.1em 0;color:#555' class='armbp-dv-hidden'>{len(rest)} more "
        f"hold 0 and did not change ({_E(_names(rest))}): “Show all registers” shows "
        "them</p>"
        if rest and not show_all
        else ""
    )
    flags = f"<p style='margin:0.1em 0'>pstate: {_E(s.flags)}</p>" if s.flags else ""
    return (
        "<table style='font-family:monospace;white-space:nowrap' cellpadding='1'>"
        "<caption style='text-align:left;white-space:normal'><b>Registers</b> "
        f"(<b>bold {BP_MARK}</b> = {_CHANGED}; those first, then the non-zero ones)"
        f"</caption>{rows}</table>"
        f"{hidden}{flags}"
    )


def _names(registers: tuple[Register, ...]) -> str:
    """``x2-x6, x8, sp``: register names, runs of x registers joined by a dash."""
    parts: list[str] = []
    run: list[int] = []

    def close() -> None:
        if run:
            parts.append(f"x{run[0]}" if len(run) == 1 else f"x{run[0]}-x{run[-1]}")
            run.clear()

    for r in registers:
        number = r.name[1:]
        if r.name.startswith("x") and number.isdigit():
            if run and int(number) != run[-1] + 1:
                close()
            run.append(int(number))
        else:
            close()
            parts.append(r.name)
    close()
    return ", ".join(parts)


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
