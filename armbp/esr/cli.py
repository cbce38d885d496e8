"""``armbp esr``: decode exception syndromes from the command line.

    armbp esr 0x96000045 f2000800          # values, bare hex, decimal
    armbp esr 'Internal error: BRK handler: f2000800 [#1]'
    dmesg | armbp esr -                    # every ESR quoted in a log
    armbp esr --json 0x96000045            # machine-readable
    armbp esr --preset watch-read          # a real syndrome by name (--presets lists them)
    armbp esr --dbgbcr 0x1e7               # what a debugger wrote in DBGBCR<n>_EL1
    armbp esr --dbgwcr 0x1ff7              # ... and in DBGWCR<n>_EL1

Bad input (and a stdin that cannot be read or a stdout that cannot be written): exit status 2
and a one-line error on stderr; nothing on stdout. ``-`` may be given once: stdin is read once.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any, TextIO

from .decoder import Field, Syndrome, decode
from .parse import parse
from .presets import PRESETS, by_name

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .debugregs import DebugControl

USAGE = """usage: armbp esr [--json] VALUE... | - | --preset NAME... | --presets
       armbp esr [--json] --dbgbcr VALUE | --dbgwcr VALUE

Decode ESR_ELx exception syndromes (Arm ARM DDI 0487, ESR_EL1/ESR_EL2).
  VALUE   0x96000045, f2000800, 4060088320, 0b..., or kernel text quoting an ESR
          ('ESR = 0x...', 'Internal error: ...: f2000800', 'ESR 0x... -- ...', 'esr 0x...')
  -       read text (a whole log) from stdin (once)
  --json  one JSON object per value (a list when there are several)
  --preset NAME   a real syndrome by name; --presets lists the names and sources
  --dbgbcr VALUE  decode a DBGBCR<n>_EL1 value (hardware breakpoint control)
  --dbgwcr VALUE  decode a DBGWCR<n>_EL1 value (watchpoint control)"""

_REGISTERS = ("--dbgbcr", "--dbgwcr")


def format_text(s: Syndrome) -> str:
    """The kernel-style summary, a table of fields, then warnings."""
    head = [f"ESR = {s.esr:#018x}", f"  {s.summary}", f"  {s.layout}", ""]
    return "\n".join(head + _field_table(s.fields, s.warnings))


def format_control(c: DebugControl) -> str:
    """A DBGBCR/DBGWCR value: what it asks for in one line, its fields, then warnings."""
    head = [f"{c.register} = {c.value:#018x}", f"  {c.summary}", ""]
    return "\n".join(head + _field_table(c.fields, c.warnings))


def format_presets() -> str:
    """One line per preset: its name, its value and where the value comes from."""
    width = max(len(p.name) for p in PRESETS)
    return "\n".join(
        f"  {p.name:<{width}}  {p.value:#010x}  {p.label}\n  {'':<{width}}  {'':10}  "
        f"{p.source}"
        for p in PRESETS
    )


def _field_table(fields: Sequence[Field], warnings: Sequence[str]) -> list[str]:
    """Rows of bits, field, value, binary, meaning; then the warnings, if any."""
    rows = []
    for f in fields:
        bits = f"{f.msb}" if f.msb == f.lsb else f"{f.msb}:{f.lsb}"
        rows.append(
            (bits, f.name, f"{f.value:#x}", format(f.value, f"0{f.width}b"), f.meaning)
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    widths[0], widths[1] = max(widths[0], 4), max(widths[1], 5)
    head = ("bits", "field", "value", "binary", "meaning")
    lines = []
    w0, w1, w2, w3 = widths
    fmt = f"  {{:>{w0}}}  {{:<{w1}}}  {{:>{w2}}}  {{:>{w3}}}  {{}}"
    lines.append(fmt.format(*head).rstrip())
    lines += [fmt.format(*r).rstrip() for r in rows]
    if warnings:
        lines.append("")
        lines.append("  warnings:")
        lines += [f"  - {w}" for w in warnings]
    return lines


def _error(message: str, stderr: TextIO) -> int:
    print(f"armbp esr: {' '.join(message.split())}", file=stderr)
    return 2


def _read_stdin(stdin: TextIO | None) -> str:
    """All of stdin as text; invalid UTF-8 (a log may hold some) becomes U+FFFD."""
    if stdin is None:  # the process was started with stdin closed
        raise OSError("stdin is closed: expected text on stdin for '-'")
    try:
        buffer = getattr(stdin, "buffer", None)
        if buffer is not None:
            return buffer.read().decode("utf-8", errors="replace")
        return stdin.read()
    except (OSError, ValueError) as exc:  # ValueError: a closed file object
        raise OSError(
            f"cannot read stdin ({getattr(exc, 'strerror', None) or exc}): "
            "expected text on stdin for '-'"
        ) from None


def _write(out: str, stdout: TextIO | None) -> None:
    """Print ``out``; OSError saying why it could not be written."""
    if stdout is None:
        raise OSError("stdout is closed: nowhere to write the decoded syndromes")
    try:
        print(out, file=stdout)
        stdout.flush()
    except BrokenPipeError:
        raise
    except (OSError, ValueError) as exc:
        _discard_unflushed(stdout)
        raise OSError(
            f"cannot write the output ({getattr(exc, 'strerror', None) or exc})"
        ) from None


def _discard_unflushed(stdout: TextIO) -> None:
    """Point a real stdout at /dev/null so the interpreter's final flush of what could not
    be written fails no second time (a traceback-like 'Exception ignored' line)."""
    if stdout is sys.stdout:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError):
            pass


def main(
    argv: list[str] | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    stdin = sys.stdin if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    err = (sys.stderr or sys.__stderr__) if stderr is None else stderr
    assert err is not None  # a Python started without any stderr cannot report anyway
    stderr = err
    if any(a in ("-h", "--help") for a in args):
        try:
            _write(USAGE, stdout)
        except BrokenPipeError:
            _discard_unflushed(stdout)
        except OSError as exc:
            return _error(str(exc), stderr)
        return 0
    as_json = "--json" in args
    inputs = [a for a in args if a != "--json"]
    try:
        out = _special(inputs, as_json)
    except (KeyError, ValueError) as exc:
        return _error(str(exc.args[0] if exc.args else exc), stderr)
    if out is not None:
        return _emit(out, stdout, stderr)
    for a in inputs:
        if a.startswith("--") or (a.startswith("-") and a != "-" and not a[1:2].isdigit()):
            return _error(
                f"unknown option {a!r}: expected --json, -h or '-' for stdin", stderr
            )
    if not inputs:
        return _error("no ESR value given: expected VALUE... or '-' to read stdin", stderr)
    if inputs.count("-") > 1:
        return _error(
            f"'-' given {inputs.count('-')} times: stdin is read once, so expected "
            "'-' at most once",
            stderr,
        )
    values: list[int] = []
    for a in inputs:  # parse everything before printing anything
        try:
            values += parse(_read_stdin(stdin) if a == "-" else a)
        except (OSError, ValueError) as exc:  # EsrParseError is a ValueError
            return _error(str(exc), stderr)
    syndromes = [decode(v) for v in values]
    if as_json:
        docs = [s.as_dict() for s in syndromes]
        out = json.dumps(docs[0] if len(docs) == 1 else docs, indent=2)
    else:
        out = "\n\n".join(format_text(s) for s in syndromes)
    return _emit(out, stdout, stderr)


def _emit(out: str, stdout: TextIO | None, stderr: Any) -> int:
    """Print ``out``; the exit status (2 with a message on ``stderr`` when it cannot)."""
    try:
        _write(out, stdout)
    except BrokenPipeError:  # `armbp esr - | head`: the reader left, which is fine
        if stdout is not None:
            _discard_unflushed(stdout)
        return 0
    except OSError as exc:
        return _error(str(exc), stderr)
    return 0


def _number(option: str, text: str) -> int:
    """One register value, read as ESR values are (0x1e7, bare hex 1e7, or a decimal)."""
    try:
        values = parse(text)
    except ValueError:  # EsrParseError speaks of ESR values: say what this option takes
        raise ValueError(
            f"{option} {text!r} is not a register value: expected a number such as "
            "0x1e7, 1e7 (bare hex) or 485 (decimal)"
        ) from None
    if len(values) != 1:
        raise ValueError(f"{option} {text!r} holds {len(values)} values: expected one")
    return values[0]


def _special(inputs: list[str], as_json: bool) -> str | None:
    """The output of --presets, --preset NAME... or --dbgbcr/--dbgwcr VALUE; None when
    ``inputs`` are ESR values. ValueError/KeyError with the message for bad input."""
    if inputs == ["--presets"]:
        if as_json:
            return json.dumps([p._asdict() for p in PRESETS], indent=2)
        return format_presets()
    if inputs and inputs[0] == "--preset":
        names = inputs[1:]
        if not names or any(n.startswith("-") for n in names):
            raise ValueError(
                f"--preset takes names only, got {names!r}: expected one of "
                f"{', '.join(p.name for p in PRESETS)}"
            )
        values = [by_name(n).value for n in names]
        syndromes = [decode(v) for v in values]
        if as_json:
            docs = [s.as_dict() for s in syndromes]
            return json.dumps(docs[0] if len(docs) == 1 else docs, indent=2)
        return "\n\n".join(format_text(s) for s in syndromes)
    if inputs and inputs[0] in _REGISTERS:
        from .debugregs import decode_dbgbcr, decode_dbgwcr

        option = inputs[0]
        if len(inputs) != 2:
            raise ValueError(
                f"{option} takes one value, got {len(inputs) - 1}: "
                f"expected e.g. {option} 0x1e7"
            )
        value = _number(option, inputs[1])
        control = (decode_dbgbcr if option == "--dbgbcr" else decode_dbgwcr)(value)
        return json.dumps(control.as_dict(), indent=2) if as_json else format_control(control)
    return None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
