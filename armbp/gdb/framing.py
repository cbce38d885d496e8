"""GDB's remote serial protocol (RSP): the packet layer, with no emulator in it.

A packet on the wire is ``$payload#cc``: ``cc`` is the modulo-256 sum of the payload bytes
in two lower-case hex digits. The receiver answers ``+`` (accepted) or ``-`` (bad checksum:
send it again) until both sides agree on no-ack mode (``QStartNoAckMode``). Inside a
payload, ``}`` escapes the next byte (XOR 0x20) so binary data may carry ``$``, ``#``,
``}`` and ``*``; a reply may also be run-length encoded (``X*n``: X repeated ``ord(n) - 29``
more times). A lone 0x03 byte between packets is an interrupt (the user's Ctrl-C).

``PacketReader`` turns a byte stream into events and never raises on garbage; both ends
(the stub in ``armbp.gdb.server``, the client in ``armbp.gdb.client``) frame with it.
"""

from __future__ import annotations

from dataclasses import dataclass

ACK, NAK, INTERRUPT = b"+", b"-", b"\x03"
ESCAPE = 0x7D  # '}'
ESCAPED = b"#$}*"  # bytes that must be escaped inside binary data
DEFAULT_MAX_PAYLOAD = 0x4000


# --- framing ------------------------------------------------------------------------------
def checksum(payload: bytes) -> int:
    """The RSP checksum: the sum of the payload bytes as sent, modulo 256."""
    return sum(payload) & 0xFF


def frame(payload: bytes | str) -> bytes:
    """``$payload#cc`` ready to send. ``payload`` must already be escaped if binary."""
    if isinstance(payload, str):
        payload = payload.encode("latin-1")
    return b"$" + payload + b"#%02x" % checksum(payload)


def escape(data: bytes) -> bytes:
    """Binary data made safe for a payload: ``# $ } *`` become ``}`` + (byte XOR 0x20)."""
    out = bytearray()
    for b in data:
        if b in ESCAPED:
            out += bytes((ESCAPE, b ^ 0x20))
        else:
            out.append(b)
    return bytes(out)


def unescape(data: bytes) -> bytes:
    """Undo ``escape``. A trailing lone ``}`` is malformed: ``ValueError``."""
    out = bytearray()
    it = iter(data)
    for b in it:
        if b == ESCAPE:
            nxt = next(it, None)
            if nxt is None:
                raise ValueError("binary data ends with a lone escape byte '}'")
            out.append(nxt ^ 0x20)
        else:
            out.append(b)
    return bytes(out)


def rle_decode(data: bytes) -> bytes:
    """Expand run-length encoding: ``X*n`` is X followed by ``ord(n) - 29`` more copies.

    Only replies may be encoded; ``ValueError`` for a ``*`` with nothing before or after it.
    """
    out = bytearray()
    i = 0
    while i < len(data):
        b = data[i]
        if b == ord("*"):
            if not out or i + 1 >= len(data):
                raise ValueError(f"run-length marker '*' without a byte to repeat at {i}")
            count = data[i + 1] - 29
            if count < 0:
                raise ValueError(f"run-length count {data[i + 1]!r} is below ' ' + 3")
            out += bytes((out[-1],)) * count
            i += 2
            continue
        out.append(b)
        i += 1
    return bytes(out)


def rle_encode(data: bytes) -> bytes:
    """Run-length encode a reply (runs of 4 or more, avoiding the counts GDB forbids)."""
    out = bytearray()
    i = 0
    while i < len(data):
        b = data[i]
        run = 1
        while i + run < len(data) and data[i + run] == b and run < 98:
            run += 1
        extra = run - 1
        # counts that would produce '#' (6), '$' (7), '+' or '-' are not allowed
        while extra >= 3 and chr(extra + 29) in "#$+-":
            extra -= 1
        if extra >= 3 and b != ord("*") and b != ord("#") and b != ord("$"):
            out.append(b)
            out += b"*" + bytes((extra + 29,))
            i += extra + 1
        else:
            out.append(b)
            i += 1
    return bytes(out)


# --- the stream parser --------------------------------------------------------------------
@dataclass(frozen=True)
class Event:
    """One thing read off the wire.

    ``kind`` is ``"packet"`` (``payload`` good), ``"bad"`` (checksum mismatch or bad
    checksum digits: answer ``-``), ``"oversize"`` (payload longer than the reader's limit;
    ``payload`` holds the first bytes), ``"ack"``, ``"nak"``, ``"interrupt"``, or
    ``"notification"`` (``%...#cc``, which a stub may ignore).
    """

    kind: str
    payload: bytes = b""


class PacketReader:
    """Incremental RSP parser: ``feed(bytes)`` returns the events completed so far.

    It never raises: bytes between packets other than ``+ - 0x03`` are skipped, a ``$``
    inside a packet starts a new one (the old one was truncated: reported as ``"bad"``), and
    a payload longer than ``max_payload`` is discarded as it arrives, so memory stays bounded.
    """

    def __init__(self, max_payload: int = DEFAULT_MAX_PAYLOAD):
        self.max_payload = max_payload
        self._state = "idle"  # idle | body | cs1 | cs2
        self._lead = b"$"
        self._body = bytearray()
        self._size = 0
        self._cs = b""

    def _start(self, lead: bytes) -> None:
        self._state, self._lead, self._body = "body", lead, bytearray()
        self._size, self._cs = 0, b""

    def feed(self, data: bytes) -> list[Event]:
        events: list[Event] = []
        for byte in data:
            c = bytes((byte,))
            if self._state == "idle":
                if c in b"$%":
                    self._start(c)
                elif c == ACK:
                    events.append(Event("ack"))
                elif c == NAK:
                    events.append(Event("nak"))
                elif c == INTERRUPT:
                    events.append(Event("interrupt"))
                # anything else between packets is line noise: skip it
            elif self._state == "body":
                if c == b"#":
                    self._state = "cs1"
                elif c == b"$":
                    events.append(Event("bad", bytes(self._body)))
                    self._start(c)
                else:
                    self._size += 1
                    if self._size <= self.max_payload:
                        self._body.append(byte)
            elif self._state == "cs1":
                self._cs = c
                self._state = "cs2"
            else:  # cs2
                self._cs += c
                self._state = "idle"
                events.append(self._finish())
        return events

    def _finish(self) -> Event:
        body = bytes(self._body)
        if self._lead == b"%":
            return Event("notification", body)
        if self._size > self.max_payload:
            return Event("oversize", body)
        try:
            want = int(self._cs.decode("ascii"), 16)
        except (UnicodeDecodeError, ValueError):
            return Event("bad", body)
        if not all(ch in b"0123456789abcdefABCDEF" for ch in self._cs) or want != checksum(
            body
        ):
            return Event("bad", body)
        return Event("packet", body)
