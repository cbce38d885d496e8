"""Argument schemas for RSP packets: one parser per packet, one error for malformed input.

A packet's arguments follow its prefix as fields with separators (``m`` is
``ADDR,LENGTH``, ``Z`` is ``TYPE,ADDR,KIND``, ``P`` is ``N=VALUE``). A ``Schema`` lists
them once; ``parse(body)`` splits the body and converts each field, raising ``BadPacket``
(which the stub answers with ``E22``) for anything malformed — so no handler sees a
half-parsed packet and none can raise on bad input by itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


class BadPacket(ValueError):
    """A packet we understand the start of but whose arguments are malformed."""


# --- field kinds: text -> value, BadPacket if malformed ---------------------------------------
def hex_int(text: str) -> int:
    """A hex number of 1 to 16 digits (an address, a length, a register number)."""
    if not text or len(text) > 16 or any(c not in HEX_DIGITS for c in text):
        raise BadPacket(f"not a hex number: {text[:20]!r}")
    return int(text, 16)


def text(value: str) -> str:
    """Any text, kept as it is (the handler looks at it)."""
    return value


def thread_id(value: str) -> tuple[int | None, int | None]:
    """A thread-id: ``TID`` or ``pPID.TID``; ``-1`` (all) and ``0`` (any) are None.

    ``(pid, tid)``; pid is None too when the id has no ``p`` form."""

    def one(part: str) -> int | None:
        return None if part in ("-1", "0") else hex_int(part)

    if value.startswith("p"):
        pid, _, tid = value[1:].partition(".")
        if not pid:
            raise BadPacket(f"thread-id {value[:20]!r} has no process number")
        return one(pid), (None if tid == "" else one(tid))
    return None, one(value)


def one_of(choices: str) -> Callable[[str], str]:
    """One character out of ``choices`` (a Z type, an H operation)."""

    def parse(value: str) -> str:
        if len(value) != 1 or value not in choices:
            raise BadPacket(f"expected one of {', '.join(choices)}, got {value[:20]!r}")
        return value

    return parse


@dataclass(frozen=True)
class Field:
    """One argument: its ``name`` (the handler's keyword), how to parse it, and the
    separator that comes before it (empty for the first field)."""

    name: str
    parse: Callable[[str], Any]
    before: str = ""
    optional: bool = False  # may be missing together with its separator
    width: int | None = None  # exactly this many characters (``H``'s operation letter)


@dataclass(frozen=True)
class Schema:
    """The arguments of one packet, in order. ``Schema()`` takes none (the body must be
    empty); ``rest=True`` lets a trailing ``;…`` go unread (as ``Z``'s conditions)."""

    fields: tuple[Field, ...] = ()
    rest: str | None = None  # a separator after which anything may follow, ignored

    def parse(self, body: str) -> dict[str, Any]:
        if self.rest is not None:
            body = body.partition(self.rest)[0]
        out: dict[str, Any] = {}
        if not self.fields:
            if body:
                raise BadPacket(f"takes no arguments, got {body[:20]!r}")
            return out
        for i, f in enumerate(self.fields):
            if f.before:
                if body.startswith(f.before):
                    body = body[len(f.before) :]
                elif f.optional and not body:
                    out[f.name] = None
                    continue
                else:
                    raise BadPacket(
                        f"expected {f.before!r} before {f.name}, got {body[:20]!r}"
                    )
            following = self.fields[i + 1].before if i + 1 < len(self.fields) else ""
            cut = f.width if f.width is not None else body.find(following) if following else -1
            piece, body = (body, "") if cut < 0 else (body[:cut], body[cut:])
            out[f.name] = None if f.optional and not piece else f.parse(piece)
        return out


def schema(*fields: Field, rest: str | None = None) -> Schema:
    return Schema(tuple(fields), rest)


NO_ARGS = Schema()
ANYTHING = schema(Field("body", text))


def le_hex(value: int, size: int) -> str:
    """``value`` as ``size`` little-endian bytes in hex (how RSP carries a register)."""
    return (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little").hex()


def from_le_hex(digits: str, size: int) -> int:
    """The inverse of ``le_hex``; BadPacket unless exactly ``2 * size`` hex digits."""
    if len(digits) != 2 * size:
        raise BadPacket(f"expected {2 * size} hex digits, got {len(digits)}")
    if any(c not in HEX_DIGITS for c in digits):
        raise BadPacket(f"not hex: {digits[:40]!r}")
    return int.from_bytes(bytes.fromhex(digits), "little")
