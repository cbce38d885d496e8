"""``parse``: turn what a person types or pastes into ESR values.

Accepted: ``0x96000045``, ``0x9600_0045``, bare hex (``f2000800``), decimal (``4060088320``),
``0b`` binary, several values separated by spaces or commas, and kernel text that quotes a
syndrome:

* the abort dump: ``Mem abort info:`` / ``  ESR = 0x0000000096000045``
* ``Internal error: BRK handler: f2000800 [#1] PREEMPT SMP``,
  ``Internal error: Oops: 0000000096000045 [#1]`` and messages that hold colons themselves,
  ``Internal error: UBSAN: array index out of bounds: 00000000f2005512 [#1]``
* ``Unhandled 64-bit el1h sync exception on CPU0, ESR 0x0000000034000002 -- BTI``
* user faults: ``unhandled level 0 translation fault (11) at 0x0, esr 0x92000004``
* ``ESR_EL2: 0x...`` as hypervisors print it

A digits-only token is decimal, except that 8 or 16 digits (the zero-padded widths the kernel
prints, as in ``Oops: 96000045``) are read as hex. ``0x`` always starts hex and ``0b`` always
starts binary, as in Python: ``0b12`` is an error (``0x0b12`` is the hex one), not 0xb12. In kernel text one oops quotes its ESR
twice (the dump and the ``Internal error`` line): consecutive repeats of a value are reported
once.
"""

from __future__ import annotations

import re

from .spec import U64_MAX

# The most digits a 64-bit value needs, leading zeros aside, per base (also keeps int() away
# from inputs of thousands of digits).
_MAX_DIGITS = {16: 16, 10: 20, 2: 64}
_DIGITS = {16: "0123456789abcdef", 10: "0123456789", 2: "01"}
_BASE_NAME = {16: "hex", 10: "decimal", 2: "binary"}
EXPECTED = (
    "expected ESR values (0x96000045, f2000800, 4060088320, 0b1...) or kernel text "
    "quoting one ('ESR = 0x...', 'Internal error: ...: f2000800', 'ESR 0x... -- ...', "
    "'esr 0x...')"
)

_HEX = r"(?:0x)?[0-9a-f][0-9a-f_]*"
_KERNEL_PATTERNS = re.compile(
    r"""\bESR(?:_EL[123])?\s*[=:]\s*(?P<a>0x[0-9a-f_]+)\b     # ESR = 0x..., ESR_EL2: 0x...
      | \bESR(?:_EL[123])?\s+(?P<b>0x[0-9a-f_]+)\b           # ESR 0x... -- BTI, esr 0x...
      | \bInternal\ error:[^\n]*?:\s*(?P<c>(?:0x)?[0-9a-f]+)     # Internal error: X: f2000800
        (?=\s*\[\#|\s*$)            # the value is the last field before [#n]; X may hold ':'
    """,
    re.IGNORECASE | re.VERBOSE | re.MULTILINE,
)
_NUMBER = re.compile(r"[+-]?(?:0x[0-9a-f_]+|0b[01_]+|[0-9a-f][0-9a-f_]*)", re.IGNORECASE)


class EsrParseError(ValueError):
    """Text that holds no ESR value, or a number that is not one; the message quotes the
    input and says what was expected. The only error ``parse`` raises."""


def _quote(text: str) -> str:
    text = text.strip()
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _number(token: str, original: str) -> int:
    t = token.strip().lower()
    sign = -1 if t[:1] == "-" else 1
    t = t.lstrip("+-")
    if t.startswith("0x"):
        base, body = 16, t[2:]
    elif t.startswith("0b"):
        base, body = 2, t[2:]
    else:
        plain = t.replace("_", "")
        base = 10 if plain.isdigit() and len(plain) not in (8, 16) else 16
        body = t
    digits = body.replace("_", "")
    where = f"{_quote(original)}" + (
        f": {token.strip()!r}" if token.strip() != original.strip() else ""
    )
    if not digits:
        raise EsrParseError(
            f"{where} has no digits after {t[:2]!r}: expected "
            f"{_BASE_NAME[base]} digits, e.g. {t[:2]}1"
        )
    bad = next((c for c in digits if c not in _DIGITS[base]), None)
    if bad is not None:
        if base == 2:
            raise EsrParseError(
                f"{where}: {bad!r} is not a binary digit: expected 0s and 1s "
                f"after 0b (0x{t} would be hex)"
            )
        raise EsrParseError(
            f"{where}: {bad!r} is not a {_BASE_NAME[base]} digit: expected "
            f"digits {_DIGITS[base][0]}-{_DIGITS[base][-1]}"
        )
    significant = digits.lstrip("0")
    if len(significant) > _MAX_DIGITS[base]:
        raise EsrParseError(
            f"{where}: a {_BASE_NAME[base]} number of {len(significant)} "
            "digits does not fit an ESR: expected a value in "
            "0..0xffffffffffffffff"
        )
    value = sign * int(significant or "0", base)
    if not 0 <= value <= U64_MAX:
        raise EsrParseError(
            f"{where}: {value:#x} does not fit an ESR: expected a value in "
            "0..0xffffffffffffffff"
        )
    return value


def parse(text: str) -> list[int]:
    """Every ESR value in ``text``, in order.

    ``EsrParseError`` (a ValueError) quoting ``text`` if there is none or a number in it is
    malformed or too large; nothing else escapes, whatever the text.
    """
    if not isinstance(text, str):
        raise EsrParseError(f"{text!r} is not text: {EXPECTED}")
    tokens = [t for t in re.split(r"[\s,;]+", text.strip()) if t]
    if tokens and all(_NUMBER.fullmatch(t) for t in tokens):
        return [_number(t, text) for t in tokens]
    values: list[int] = []
    for m in _KERNEL_PATTERNS.finditer(text):
        value = _number(m.group("a") or m.group("b") or _with_prefix(m.group("c")), text)
        if not values or values[-1] != value:
            values.append(value)
    if not values:
        raise EsrParseError(f"{_quote(text)} holds no ESR value: {EXPECTED}")
    return values


def _with_prefix(token: str) -> str:
    # The Internal error line prints the ESR in hex without a prefix, at any width.
    return token if token.lower().startswith("0x") else "0x" + token
