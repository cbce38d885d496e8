"""``armbp esr``: decode exception syndromes from the command line.

    armbp esr 0x96000045 f2000800          # values, bare hex, decimal
    armbp esr 'Internal error: BRK handler: f2000800 [#1]'
    dmesg | armbp esr -                    # every ESR quoted in a log
    armbp esr --json 0x96000045            # machine-readable

Bad input (and a stdin that cannot be read or a stdout that cannot be written): exit status 2
and a one-line error on stderr; nothing on stdout. ``-`` may be given once: stdin is read once.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TextIO

from .decoder import Syndrome, decode
from .parse import parse

USAGE = """usage: armbp esr [--json] VALUE... | -

Decode ESR_ELx exception syndromes (Arm ARM DDI 0487, ESR_EL1/ESR_EL2).
  VALUE   0x96000045, f2000800, 4060088320, 0b..., or kernel text quoting an ESR
          ('ESR = 0x...', 'Internal error: ...: f2000800', 'ESR 0x... -- ...', 'esr 0x...')
  -       read text (a whole log) from stdin (once)
  --json  one JSON object per value (a list when there are several)"""


def format_text(s: Syndrome) -> str:
    """The kernel-style summary, a table of fields, then warnings."""
    rows = []
    for f in s.fields:
        bits = f"{f.msb}" if f.msb == f.lsb else f"{f.msb}:{f.lsb}"
        rows.append(
            (bits, f.name, f"{f.value:#x}", format(f.value, f"0{f.width}b"), f.meaning)
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    widths[0], widths[1] = max(widths[0], 4), max(widths[1], 5)
    head = ("bits", "field", "value", "binary", "meaning")
    lines = [f"ESR = {s.esr:#018x}", f"  {s.summary}", f"  {s.layout}", ""]
    w0, w1, w2, w3 = widths
    fmt = f"  {{:>{w0}}}  {{:<{w1}}}  {{:>{w2}}}  {{:>{w3}}}  {{}}"
    lines.append(fmt.format(*head).rstrip())
    lines += [fmt.format(*r).rstrip() for r in rows]
    if s.warnings:
        lines.append("")
        lines.append("  warnings:")
        lines += [f"  - {w}" for w in s.warnings]
    return "\n".join(lines)


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
    try:
        _write(out, stdout)
    except BrokenPipeError:  # `armbp esr - | head`: the reader left, which is fine
        _discard_unflushed(stdout)
        return 0
    except OSError as exc:
        return _error(str(exc), stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
