"""A small RSP client: the other end of ``armbp gdbserver``, small enough for a notebook.

It speaks what GDB does, one packet at a time::

    from armbp.gdb.client import RspClient
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

from armbp.gdb.framing import ACK, INTERRUPT, NAK, Event, PacketReader, frame, rle_decode


class RspError(Exception):
    """The other end broke the protocol, closed the connection or did not answer in time."""


@dataclass(frozen=True)
class StopReply:
    """A parsed stop reply: ``T05thread:p01.01;swbreak:;`` → kind "T", signal 5, fields."""

    raw: str
    kind: str  # "T"/"S" stopped with a signal, "W" exited, "X" killed by signal
    value: int  # the signal, or the exit status
    fields: dict

    @property
    def exited(self) -> bool:
        return self.kind in "WX"

    @classmethod
    def parse(cls, raw: str) -> StopReply:
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
        self.sent: list[str] = []  # the conversation, for a notebook to show
        self.received: list[str] = []
        self._reader = PacketReader(max_payload=1 << 20)
        self._pending: list[Event] = []
        sock.settimeout(timeout)

    @classmethod
    def connect(cls, port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> RspClient:
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
    def __enter__(self) -> RspClient:
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
            except TimeoutError:
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
        reply = self.request(
            "qSupported:multiprocess+;swbreak+;hwbreak+;vContSupported+;xmlRegisters=aarch64"
        )
        feats: dict[str, str] = {}
        for item in reply.split(";"):
            if "=" in item:
                k, _, v = item.partition("=")
                feats[k] = v
            elif item:
                feats[item[:-1]] = item[-1]
        self.features = feats
        if (
            no_ack
            and feats.get("QStartNoAckMode") == "+"
            and self.request("QStartNoAckMode") == "OK"
        ):
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
        self._check(self.request(f"M{address:x},{len(data):x}:{data.hex()}"), f"M{address:x}")

    def read_registers(self) -> list[int]:
        """The ``g`` reply as the core registers x0..x30, sp, pc (8 bytes) and cpsr (4)."""
        raw = bytes.fromhex(self._check(self.request("g"), "g"))
        regs = [int.from_bytes(raw[i : i + 8], "little") for i in range(0, 33 * 8, 8)]
        regs.append(int.from_bytes(raw[264:268], "little"))
        return regs

    def read_register(self, number: int) -> int:
        return int.from_bytes(
            bytes.fromhex(self._check(self.request(f"p{number:x}"), "p")), "little"
        )

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
