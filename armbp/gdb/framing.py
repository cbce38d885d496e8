"""GDB's remote serial protocol (RSP): packet framing, and a small client.

A packet on the wire is ``$payload#cc``: ``cc`` is the modulo-256 sum of the payload bytes
in two lower-case hex digits. The receiver answers ``+`` (accepted) or ``-`` (bad checksum:
send it again) until both sides agree on no-ack mode (``QStartNoAckMode``). Inside a
payload, ``}`` escapes the next byte (XOR 0x20) so binary data may carry ``$``, ``#``,
``}`` and ``*``; a reply may also be run-length encoded (``X*n``: X repeated ``ord(n) - 29``
more times). A lone 0x03 byte between packets is an interrupt (the user's Ctrl-C).

This module has no emulator in it. ``PacketReader`` turns a byte stream into events and
never raises on garbage; ``RspClient`` is the other end of ``armbp gdbserver``, small enough
to drive from a notebook::

    from armbp.rsp import RspClient
    with RspClient.connect(port) as gdb:
        gdb.handshake()
        gdb.insert_breakpoint(0x40000c)
        gdb.read_memory(0x40000c, 4)      # the original instruction, not the BRK
        stop = gdb.cont()                 # 'T05thread:p01.01;swbreak:;'
        gdb.remove_breakpoint(0x40000c)
"""
from __future__ import annotations

import socket
import time
from dataclasses import dataclass

ACK, NAK, INTERRUPT = b"+", b"-", b"\x03"
ESCAPE = 0x7D           # '}'
ESCAPED = b"#$}*"       # bytes that must be escaped inside binary data
DEFAULT_MAX_PAYLOAD = 0x4000


class RspError(Exception):
    """The other end broke the protocol, closed the connection or did not answer in time."""


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
        self._state = "idle"      # idle | body | cs1 | cs2
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
        if not all(ch in b"0123456789abcdefABCDEF" for ch in self._cs) or want != checksum(body):
            return Event("bad", body)
        return Event("packet", body)


# --- the client ---------------------------------------------------------------------------
@dataclass(frozen=True)
class StopReply:
    """A parsed stop reply: ``T05thread:p01.01;swbreak:;`` → kind "T", signal 5, fields."""

    raw: str
    kind: str              # "T"/"S" stopped with a signal, "W" exited, "X" killed by signal
    value: int             # the signal, or the exit status
    fields: dict

    @property
    def exited(self) -> bool:
        return self.kind in "WX"

    @classmethod
    def parse(cls, raw: str) -> "StopReply":
        if not raw or raw[0] not in "TSWX" or len(raw) < 3:
            raise RspError(f"not a stop reply: {raw!r}")
        try:
            value = int(raw[1:3], 16)
        except ValueError:
            raise RspError(f"not a stop reply: {raw!r}") from None
        fields: dict[str, str] = {}
        if raw[0] == "T":
            for part in raw[3:].split(";"):
                if part:
                    key, _, val = part.partition(":")
                    fields[key] = val
        elif raw[0] == "W" and ";" in raw:
            value = int(raw[1:].split(";")[0], 16)
        return cls(raw, raw[0], value, fields)


class RspClient:
    """A small RSP client: what GDB does, one packet at a time.

    ``request(payload)`` sends a packet and returns the reply as a ``str``; the helpers
    below wrap the packets a lesson needs. Acknowledgements, retransmission after ``-``,
    run-length decoding and no-ack mode are handled here. Every wait has a timeout.
    """

    def __init__(self, sock: socket.socket, timeout: float = 10.0, retries: int = 3):
        self.sock = sock
        self.timeout = timeout
        self.retries = retries
        self.ack_mode = True
        self.features: dict[str, str] = {}
        self.sent: list[str] = []      # the conversation, for a notebook to show
        self.received: list[str] = []
        self._reader = PacketReader(max_payload=1 << 20)
        self._pending: list[Event] = []
        sock.settimeout(timeout)

    @classmethod
    def connect(cls, port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> "RspClient":
        """Connect, retrying for up to ``timeout`` seconds while the server starts."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                sock = socket.create_connection((host, port), timeout=timeout)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(sock, timeout)

    # -- context manager / close ----------------------------------------------------------
    def __enter__(self) -> "RspClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    # -- raw I/O ---------------------------------------------------------------------------
    def send_raw(self, data: bytes) -> None:
        """Send bytes as they are (for tests that misbehave on purpose)."""
        self.sock.sendall(data)

    def _next_event(self, timeout: float | None = None) -> Event:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not self._pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RspError("timed out waiting for the stub")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                raise RspError("timed out waiting for the stub") from None
            except OSError as e:
                raise RspError(f"connection lost: {e}") from e
            if not data:
                raise RspError("the stub closed the connection")
            self._pending.extend(self._reader.feed(data))
        return self._pending.pop(0)

    def send(self, payload: str | bytes) -> None:
        """Send one packet; in ack mode wait for ``+`` and resend after ``-``."""
        raw = payload.encode("latin-1") if isinstance(payload, str) else payload
        self.sent.append(raw.decode("latin-1"))
        for _ in range(self.retries + 1):
            self.sock.sendall(frame(raw))
            if not self.ack_mode:
                return
            while True:
                ev = self._next_event()
                if ev.kind in ("ack", "nak"):
                    break
                if ev.kind in ("packet", "bad", "oversize"):  # a reply before the ack: keep it
                    self._pending.insert(0, ev)
                    return
            if ev.kind == "ack":
                return
        raise RspError(f"the stub rejected {raw[:40]!r} {self.retries + 1} times")

    def receive(self, timeout: float | None = None) -> str:
        """The next packet's payload, RLE-decoded; bad checksums are answered ``-``."""
        while True:
            ev = self._next_event(timeout)
            if ev.kind == "packet":
                if self.ack_mode:
                    self.sock.sendall(ACK)
                try:
                    text = rle_decode(ev.payload).decode("latin-1")
                except ValueError as e:
                    raise RspError(f"malformed reply {ev.payload[:40]!r}: {e}") from e
                self.received.append(text)
                return text
            if ev.kind == "bad" and self.ack_mode:
                self.sock.sendall(NAK)

    def request(self, payload: str | bytes, timeout: float | None = None) -> str:
        """Send a packet and return the reply."""
        self.send(payload)
        return self.receive(timeout)

    def interrupt(self) -> None:
        """Send the interrupt byte (Ctrl-C): a running guest stops with ``T02``."""
        self.sock.sendall(INTERRUPT)

    # -- the packets a lesson needs -------------------------------------------------------
    def handshake(self, no_ack: bool = True) -> dict[str, str]:
        """``qSupported`` as GDB sends it, then (optionally) ``QStartNoAckMode``."""
        reply = self.request("qSupported:multiprocess+;swbreak+;hwbreak+;vContSupported+;"
                             "xmlRegisters=aarch64")
        feats: dict[str, str] = {}
        for item in reply.split(";"):
            if "=" in item:
                k, _, v = item.partition("=")
                feats[k] = v
            elif item:
                feats[item[:-1]] = item[-1]
        self.features = feats
        if no_ack and feats.get("QStartNoAckMode") == "+":
            if self.request("QStartNoAckMode") == "OK":
                self.ack_mode = False
        return feats

    def _check(self, reply: str, what: str) -> str:
        if reply.startswith("E") and len(reply) == 3 or reply.startswith("E."):
            raise RspError(f"{what}: the stub answered {reply}")
        return reply

    def read_memory(self, address: int, size: int) -> bytes:
        reply = self._check(self.request(f"m{address:x},{size:x}"), f"m{address:x},{size:x}")
        return bytes.fromhex(reply)

    def write_memory(self, address: int, data: bytes) -> None:
        self._check(self.request(f"M{address:x},{len(data):x}:{data.hex()}"),
                    f"M{address:x}")

    def read_registers(self) -> list[int]:
        """The ``g`` reply as the core registers x0..x30, sp, pc (8 bytes) and cpsr (4)."""
        raw = bytes.fromhex(self._check(self.request("g"), "g"))
        regs = [int.from_bytes(raw[i:i + 8], "little") for i in range(0, 33 * 8, 8)]
        regs.append(int.from_bytes(raw[264:268], "little"))
        return regs

    def read_register(self, number: int) -> int:
        return int.from_bytes(bytes.fromhex(self._check(self.request(f"p{number:x}"), "p")),
                              "little")

    def pc(self) -> int:
        return self.read_register(32)

    def insert_breakpoint(self, address: int) -> str:
        return self._check(self.request(f"Z0,{address:x},4"), f"Z0,{address:x}")

    def remove_breakpoint(self, address: int) -> str:
        return self._check(self.request(f"z0,{address:x},4"), f"z0,{address:x}")

    def stop_reason(self) -> StopReply:
        return StopReply.parse(self.request("?"))

    def cont(self, timeout: float | None = None) -> StopReply:
        """``c``: run until a stop reply arrives (breakpoint, exit, interrupt)."""
        return StopReply.parse(self.request("c", timeout))

    def step(self) -> StopReply:
        return StopReply.parse(self.request("s"))

    def kill(self) -> None:
        self.send("vKill;1")
        try:
            self.receive(timeout=2.0)
        except RspError:
            pass
