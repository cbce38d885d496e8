"""``armbp gdbserver``: a GDB remote stub whose breakpoints are the BRK table.

A real ``gdb-multiarch`` (or ``armbp.rsp.RspClient``) connects over TCP and speaks RSP. The
packets that matter for this kit map one to one onto the breakpoint core:

* ``Z0,addr,4`` → the debugger's table inserts: saves the word at addr, writes ``BRK #0``;
* ``m addr,len`` → guest memory read *through the table*: planted BRKs are shown as the
  instructions they replaced (GDB with ``breakpoint always-inserted on`` expects this);
* ``c``/``vCont;c`` → the vCPU runs; a BRK traps out as a KVM-style debug exit (EC 0x3C),
  the VMM finds its pc in the table ("ours") and the stub answers ``T05 … swbreak:;``;
* ``z0,addr,4`` → the table puts the saved word back.

Z0/z0 are idempotent per address, as the protocol asks (a repeated packet changes nothing).
SIGINT or SIGTERM ends ``armbp gdbserver`` at once, whatever the guest is doing: the handler
kicks the vCPU, the client's connection is closed and the process exits 128 + the signal.

The module is in two parts. ``GdbStub`` is the protocol: it turns one packet into one
reply (or a request to run) over any ``Target`` and never raises on bad input.
``GdbServer`` owns the socket: it acknowledges packets, runs the target in time slices
while watching for Ctrl-C (0x03) and disconnects, and logs the conversation in armbp terms.
"""
from __future__ import annotations

import argparse
import errno
import os
import select
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

from armbp.encodings import BRK0
from armbp.memory import MemoryFault
from armbp.rsp import PacketReader, escape, frame, unescape
from armbp.table import BreakpointError

PACKET_SIZE = 0x4000          # what we advertise: the largest packet we accept
MAX_MEMORY_XFER = 0x1000      # bytes per m/M/X (hex doubles it: well under PACKET_SIZE)
SLICE_SECONDS = 0.02          # a continue runs in slices this long, polling for Ctrl-C

SIGINT, SIGILL, SIGTRAP, SIGSEGV, SIGKILL = 2, 4, 5, 11, 9

# Register numbers GDB uses for aarch64 (they follow the order of target.xml).
N_X = 31
REG_SP, REG_PC, REG_CPSR = 31, 32, 33
REG_V0, REG_FPSR, REG_FPCR = 34, 66, 67
N_REGS = 68
CORE_REGS = 34                 # x0..x30, sp, pc, cpsr: what a 'g' packet carries


def register_size(n: int) -> int:
    """Size in bytes of GDB register ``n`` (x/sp/pc 8, cpsr/fpsr/fpcr 4, v 16)."""
    if 0 <= n <= REG_PC:
        return 8
    if n in (REG_CPSR, REG_FPSR, REG_FPCR):
        return 4
    if REG_V0 <= n < REG_V0 + 32:
        return 16
    raise ValueError(f"no register number {n}: expected 0..{N_REGS - 1}")


def register_name(n: int) -> str:
    if n < N_X:
        return f"x{n}"
    names = {REG_SP: "sp", REG_PC: "pc", REG_CPSR: "cpsr", REG_FPSR: "fpsr", REG_FPCR: "fpcr"}
    return names.get(n, f"v{n - REG_V0}")


def _target_xml() -> str:
    """The target description: the aarch64 core feature and the FP/SIMD feature.

    GDB finds its registers by the feature names and register names; ``regnum`` pins
    the numbering that ``p``/``P`` use. cpsr is 32 bits, as GDB's aarch64 code expects.
    """
    core = "".join(f'<reg name="x{i}" bitsize="64" regnum="{i}"/>' for i in range(31))
    core += ('<reg name="sp" bitsize="64" type="data_ptr" regnum="31"/>'
             '<reg name="pc" bitsize="64" type="code_ptr" regnum="32"/>'
             '<reg name="cpsr" bitsize="32" regnum="33"/>')
    lanes = [("q", [("u", "uint128", 1), ("s", "int128", 1)]),
             ("d", [("f", "ieee_double", 2), ("u", "uint64", 2), ("s", "int64", 2)]),
             ("s", [("f", "ieee_single", 4), ("u", "uint32", 4), ("s", "int32", 4)]),
             ("h", [("f", "ieee_half", 8), ("u", "uint16", 8), ("s", "int16", 8)]),
             ("b", [("u", "uint8", 16), ("s", "int8", 16)])]
    types = ""
    for width, kinds in lanes:
        for kind, elem, count in kinds:
            types += f'<vector id="armbp_v{width}{kind}" type="{elem}" count="{count}"/>'
        types += f'<union id="armbp_vn{width}">'
        types += "".join(f'<field name="{kind}" type="armbp_v{width}{kind}"/>'
                         for kind, _, _ in kinds)
        types += "</union>"
    types += '<union id="armbp_v128">'
    types += "".join(f'<field name="{w}" type="armbp_vn{w}"/>' for w in "dshbq")
    types += "</union>"
    fpu = types + "".join(f'<reg name="v{i}" bitsize="128" type="armbp_v128" regnum="{34 + i}"/>'
                          for i in range(32))
    fpu += ('<reg name="fpsr" bitsize="32" regnum="66"/>'
            '<reg name="fpcr" bitsize="32" regnum="67"/>')
    return ('<?xml version="1.0"?><!DOCTYPE target SYSTEM "gdb-target.dtd">'
            '<target version="1.0"><architecture>aarch64</architecture>'
            f'<feature name="org.gnu.gdb.aarch64.core">{core}</feature>'
            f'<feature name="org.gnu.gdb.aarch64.fpu">{fpu}</feature></target>')


TARGET_XML = _target_xml()


# --- what the stub drives --------------------------------------------------------------------
@dataclass(frozen=True)
class StopEvent:
    """Why the guest stopped, as the stub reports it.

    ``kind``: "signal" (stopped with ``signal``), "exited" (``code``), "killed" (by
    ``signal``). ``swbreak`` marks a stop at one of our BRKs; ``note`` says in armbp terms
    what happened ("EC 0x3C hsr f2000000 → ours").
    """

    kind: str
    signal: int = SIGTRAP
    code: int = 0
    swbreak: bool = False
    pc: int | None = None
    note: str = ""


class Target(Protocol):
    """What ``GdbStub`` needs from a guest. ``DebuggerTarget`` is the real one."""

    pid: int
    tid: int

    def read_register(self, n: int) -> int: ...
    def read_core(self) -> list[int]: ...           # x0..x30, sp, pc, cpsr
    def write_register(self, n: int, value: int) -> None: ...
    def read_memory(self, address: int, size: int) -> bytes: ...   # planted BRKs hidden
    def write_memory(self, address: int, data: bytes) -> None: ...
    def insert_breakpoint(self, address: int) -> str: ...          # returns a log note
    def remove_breakpoint(self, address: int) -> str: ...
    def resume(self, step: bool, seconds: float) -> StopEvent | None: ...  # None: still running
    def interrupted(self) -> StopEvent: ...
    def last_stop(self) -> StopEvent: ...
    def auxv(self) -> bytes | None: ...
    def kill(self) -> None: ...
    def detach(self) -> None: ...
    # optional: ``kick()`` stops a running ``resume`` at once (safe from a signal handler)


# --- the protocol ---------------------------------------------------------------------------
@dataclass
class Resume:
    """The stub's answer to c/s/vCont: run the target (``step``: one instruction)."""

    step: bool
    addr: int | None = None


@dataclass
class Close:
    """Kill or detach: ``reply`` (maybe None) goes out, then the session ends."""

    reply: str | None
    how: str  # "kill" | "detach"


class BadPacket(ValueError):
    """A packet we understand the start of but whose arguments are malformed."""


def _hex_int(text: str) -> int:
    if not text or len(text) > 16 or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise BadPacket(f"not a hex number: {text[:20]!r}")
    return int(text, 16)


def _addr_len(text: str) -> tuple[int, int]:
    addr, sep, length = text.partition(",")
    if not sep:
        raise BadPacket(f"expected ADDR,LENGTH, got {text[:40]!r}")
    return _hex_int(addr), _hex_int(length)


def _le_hex(value: int, size: int) -> str:
    return (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little").hex()


def _from_le_hex(text: str, size: int) -> int:
    if len(text) != 2 * size:
        raise BadPacket(f"expected {2 * size} hex digits, got {len(text)}")
    try:
        return int.from_bytes(bytes.fromhex(text), "little")
    except ValueError:
        raise BadPacket(f"not hex: {text[:40]!r}") from None


class GdbStub:
    """RSP packet → reply over a ``Target``. One instance per connection.

    ``handle(payload)`` returns a ``str`` reply (``""`` is the empty "unsupported" reply),
    a ``Resume`` for the server to carry out, or a ``Close``. It never raises: malformed
    arguments get ``E22``, memory faults ``E14``, anything unexpected ``E01``.
    ``notes`` collects, per packet, what it did in armbp terms (for ``--log``).
    """

    def __init__(self, target: Target):
        self.target = target
        self.swbreak = False
        self.multiprocess = False
        self.no_ack = False
        self.notes: list[str] = []
        # Addresses this connection's Z0 planted. The remote protocol asks Z/z to be
        # idempotent (a packet may arrive twice): a second Z0 at a planted address and a z0
        # at one that is not planted change nothing. The table keeps use counts for the
        # Python API, where two owners may share an address; here there is one owner, GDB.
        self.planted: set[int] = set()

    # -- thread ids --------------------------------------------------------------------------
    def thread_id(self) -> str:
        t = self.target
        return f"p{t.pid:02x}.{t.tid:02x}" if self.multiprocess else f"{t.tid:02x}"

    def _matches(self, text: str) -> bool:
        """Does a thread-id (``p1.1``, ``1``, ``-1``, ``0``, ``p1.-1``…) name our thread?"""
        if text.startswith("p"):
            pid, _, tid = text[1:].partition(".")
            ok_pid = pid in ("-1", "0") or (pid and _hex_int(pid) == self.target.pid)
            return bool(ok_pid) and (tid in ("", "-1", "0") or _hex_int(tid) == self.target.tid)
        return text in ("-1", "0") or _hex_int(text) == self.target.tid

    # -- stop replies ------------------------------------------------------------------------
    def stop_reply(self, ev: StopEvent) -> str:
        if ev.kind == "exited":
            return f"W{ev.code & 0xFF:02x}" + (f";process:{self.target.pid:x}"
                                               if self.multiprocess else "")
        if ev.kind == "killed":
            return f"X{ev.signal:02x}"
        reply = f"T{ev.signal:02x}thread:{self.thread_id()};"
        if ev.swbreak and self.swbreak:
            reply += "swbreak:;"
        return reply

    # -- dispatch ------------------------------------------------------------------------------
    def handle(self, payload: bytes) -> str | Resume | Close:
        self.notes = []
        try:
            text = payload.decode("latin-1")
            return self._dispatch(text, payload)
        except BadPacket as e:
            self.notes.append(f"malformed: {e}")
            return "E22"
        except MemoryFault as e:
            self.notes.append(str(e))
            return "E14"
        except BreakpointError as e:
            self.notes.append(str(e))
            return "E22"
        except Exception as e:  # a bug or an emulator error: report it, keep serving
            self.notes.append(f"internal error: {type(e).__name__}: {e}")
            return "E01"

    def _dispatch(self, text: str, raw: bytes) -> str | Resume | Close:
        if not text:
            return ""
        head = text[0]
        handler = getattr(self, f"_cmd_{head}", None) if head.isalpha() or head == "?" else None
        if head == "?":
            return self.stop_reply(self.target.last_stop())
        if handler is None:
            return ""
        return handler(text, raw)

    # queries ----------------------------------------------------------------------------------
    def _cmd_q(self, text: str, raw: bytes) -> str:
        if text.startswith("qSupported"):
            offered = text.partition(":")[2].split(";")
            self.swbreak = "swbreak+" in offered
            self.multiprocess = "multiprocess+" in offered
            feats = [f"PacketSize={PACKET_SIZE:x}", "qXfer:features:read+", "swbreak+",
                     "vContSupported+", "QStartNoAckMode+"]
            if self.target.auxv() is not None:
                feats.append("qXfer:auxv:read+")
            if self.multiprocess:
                feats.append("multiprocess+")
            return ";".join(feats)
        if text.startswith("qXfer:"):
            return self._xfer(text)
        if text == "qAttached" or text.startswith("qAttached:"):
            return "0"   # we created the process: kill it on quit
        if text == "qfThreadInfo":
            return "m" + self.thread_id()
        if text == "qsThreadInfo":
            return "l"
        if text == "qC":
            return "QC" + self.thread_id()
        if text == "qOffsets":
            return "Text=0;Data=0;Bss=0"
        return ""

    def _xfer(self, text: str) -> str:
        parts = text.split(":")
        if len(parts) != 5 or parts[2] != "read":
            return ""
        obj, annex, span = parts[1], parts[3], parts[4]
        offset, length = _addr_len(span)
        if obj == "features":
            if annex != "target.xml":
                return "E00"
            data = TARGET_XML.encode()
        elif obj == "auxv":
            data = self.target.auxv()
            if data is None:
                return ""
            if annex:
                return "E00"
        else:
            return ""
        length = min(length, PACKET_SIZE // 2)
        chunk = data[offset:offset + length]
        more = offset + length < len(data)
        return ("m" if more else "l") + escape(chunk).decode("latin-1")

    def _cmd_Q(self, text: str, raw: bytes) -> str:
        if text == "QStartNoAckMode":
            self.no_ack = True
            return "OK"
        return ""

    def _cmd_H(self, text: str, raw: bytes) -> str:
        if len(text) < 3 or text[1] not in "gcs":
            raise BadPacket(f"bad H packet {text[:20]!r}")
        return "OK" if self._matches(text[2:]) else "E22"

    def _cmd_T(self, text: str, raw: bytes) -> str:
        return "OK" if self._matches(text[1:]) else "E22"

    # registers --------------------------------------------------------------------------
    def _cmd_g(self, text: str, raw: bytes) -> str:
        if text != "g":
            raise BadPacket("g takes no arguments")
        core = self.target.read_core()
        return "".join(_le_hex(v, register_size(i)) for i, v in enumerate(core))

    def _cmd_G(self, text: str, raw: bytes) -> str:
        body = text[1:]
        want = 2 * sum(register_size(i) for i in range(CORE_REGS))
        if len(body) < want:
            raise BadPacket(f"G needs {want} hex digits, got {len(body)}")
        values, pos = [], 0
        for i in range(CORE_REGS):
            size = register_size(i)
            values.append(_from_le_hex(body[pos:pos + 2 * size], size))
            pos += 2 * size
        old = self.target.read_core()
        for i, v in enumerate(values):
            if v != old[i]:
                self.target.write_register(i, v)
        return "OK"

    def _cmd_p(self, text: str, raw: bytes) -> str:
        n = _hex_int(text[1:])
        if n >= N_REGS:
            return "E22"
        return _le_hex(self.target.read_register(n), register_size(n))

    def _cmd_P(self, text: str, raw: bytes) -> str:
        num, sep, val = text[1:].partition("=")
        if not sep:
            raise BadPacket("P needs N=VALUE")
        n = _hex_int(num)
        if n >= N_REGS:
            return "E22"
        self.target.write_register(n, _from_le_hex(val, register_size(n)))
        return "OK"

    # memory ----------------------------------------------------------------------------
    def _read(self, addr: int, length: int) -> bytes:
        try:
            return self.target.read_memory(addr, length)
        except MemoryFault:
            if length <= 1:
                raise
        out = bytearray()   # a read that runs into unmapped memory: return what we can
        for a in range(addr, addr + length):
            try:
                out += self.target.read_memory(a, 1)
            except MemoryFault:
                break
        if not out:
            raise MemoryFault(addr, length, "read")
        return bytes(out)

    def _cmd_m(self, text: str, raw: bytes) -> str:
        addr, length = _addr_len(text[1:])
        if length > MAX_MEMORY_XFER or addr + length > 1 << 64:
            raise BadPacket(f"m of {length:#x} bytes at {addr:#x}: too large")
        if length == 0:
            return ""
        data = self._read(addr, length)
        return data.hex()

    def _cmd_M(self, text: str, raw: bytes) -> str:
        where, sep, hexdata = text[1:].partition(":")
        if not sep:
            raise BadPacket("M needs ADDR,LENGTH:DATA")
        addr, length = _addr_len(where)
        if length > MAX_MEMORY_XFER or len(hexdata) != 2 * length:
            raise BadPacket(f"M data is {len(hexdata)} hex digits for {length} bytes")
        try:
            data = bytes.fromhex(hexdata)
        except ValueError:
            raise BadPacket("M data is not hex") from None
        if length:
            self.target.write_memory(addr, data)
        return "OK"

    def _cmd_X(self, text: str, raw: bytes) -> str:
        colon = raw.find(b":")
        if colon < 0:
            raise BadPacket("X needs ADDR,LENGTH:DATA")
        addr, length = _addr_len(raw[1:colon].decode("latin-1"))
        try:
            data = unescape(raw[colon + 1:])
        except ValueError as e:
            raise BadPacket(str(e)) from None
        if length > MAX_MEMORY_XFER or len(data) != length:
            raise BadPacket(f"X carries {len(data)} bytes for length {length}")
        if length:
            self.target.write_memory(addr, data)
        return "OK"

    # breakpoints ------------------------------------------------------------------------
    def _z(self, text: str) -> tuple[str, int, int]:
        fields = text[1:].split(";")[0].split(",")
        if len(fields) != 3 or fields[0] not in "01234" or len(fields[0]) != 1:
            raise BadPacket(f"expected TYPE,ADDR,KIND, got {text[:40]!r}")
        return fields[0], _hex_int(fields[1]), _hex_int(fields[2])

    def _cmd_Z(self, text: str, raw: bytes) -> str:
        kind, addr, size = self._z(text)
        if kind != "0":
            return ""  # hardware breakpoints and watchpoints: not yet
        if size != 4:
            raise BadPacket(f"software breakpoint kind {size}: A64 BRK is 4 bytes")
        if addr in self.planted:
            self.notes.append(f"{addr:#x} already planted: nothing to do")
            return "OK"
        self.notes.append(self.target.insert_breakpoint(addr))
        self.planted.add(addr)
        return "OK"

    def _cmd_z(self, text: str, raw: bytes) -> str:
        kind, addr, size = self._z(text)
        if kind != "0":
            return ""
        if size != 4:
            raise BadPacket(f"software breakpoint kind {size}: A64 BRK is 4 bytes")
        if addr not in self.planted:
            self.notes.append(f"no breakpoint at {addr:#x}: nothing to remove")
            return "OK"
        self.notes.append(self.target.remove_breakpoint(addr))
        self.planted.discard(addr)
        return "OK"

    # running ----------------------------------------------------------------------------
    def _cmd_c(self, text: str, raw: bytes) -> Resume:
        return Resume(False, _hex_int(text[1:]) if len(text) > 1 else None)

    def _cmd_s(self, text: str, raw: bytes) -> Resume:
        return Resume(True, _hex_int(text[1:]) if len(text) > 1 else None)

    def _cmd_C(self, text: str, raw: bytes) -> Resume:
        sig, _, addr = text[1:].partition(";")
        _hex_int(sig)   # the signal is not delivered: a bare-metal guest has no handlers
        return Resume(False, _hex_int(addr) if addr else None)

    def _cmd_S(self, text: str, raw: bytes) -> Resume:
        sig, _, addr = text[1:].partition(";")
        _hex_int(sig)
        return Resume(True, _hex_int(addr) if addr else None)

    def _cmd_v(self, text: str, raw: bytes) -> str | Resume | Close:
        if text == "vCont?":
            return "vCont;c;C;s;S"
        if text.startswith("vCont;"):
            for action in text[6:].split(";"):
                verb, _, tid = action.partition(":")
                if not verb or verb[0] not in "cCsS":
                    raise BadPacket(f"vCont action {action[:20]!r}")
                if verb[0] in "CS":
                    _hex_int(verb[1:])
                elif len(verb) > 1:
                    raise BadPacket(f"vCont action {action[:20]!r}")
                if not tid or self._matches(tid):
                    return Resume(verb[0] in "sS")
            return "E22"
        if text.startswith("vKill"):
            return Close("OK", "kill")
        return ""   # vMustReplyEmpty, vFile (no file system access), vRun, …

    def _cmd_k(self, text: str, raw: bytes) -> Close:
        return Close(None, "kill")

    def _cmd_D(self, text: str, raw: bytes) -> Close:
        return Close("OK", "detach")


# --- the socket side ----------------------------------------------------------------------
def _show(payload: str, limit: int = 72) -> str:
    text = "".join(c if " " <= c < "\x7f" else "." for c in payload)
    return text if len(text) <= limit else text[:limit] + f"…({len(payload)} characters in all)"


class Connection:
    """One client: reads packets, acknowledges them, writes replies."""

    def __init__(self, sock: socket.socket, log: Callable[[str], None] | None):
        self.sock = sock
        self.reader = PacketReader(max_payload=PACKET_SIZE)
        self.pending: list = []
        self.no_ack = False
        self.log = log
        self.closed = False
        self.last: bytes | None = None

    def send_packet(self, payload: str) -> None:
        self.last = frame(payload.encode("latin-1"))
        self.send_raw(self.last)

    def resend(self) -> None:
        """The client answered ``-``: its copy of our last packet was damaged."""
        if not self.no_ack and self.last is not None:
            self.send_raw(self.last)

    def send_raw(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            self.sock.sendall(data)
        except OSError:
            self.closed = True

    def poll(self, timeout: float | None) -> None:
        """Read what has arrived (waiting up to ``timeout``; None = block)."""
        if self.closed:
            return
        try:
            ready, _, _ = select.select([self.sock], [], [], timeout)
            if not ready:
                return
            data = self.sock.recv(65536)
        except (OSError, ValueError):
            data = b""
        if not data:
            self.closed = True
            return
        self.pending.extend(self.reader.feed(data))


def check_port(port: int) -> int:
    """``port`` if it is a TCP port number (0 = any free one); ValueError saying so if not."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 0xFFFF:
        raise ValueError(f"port {port!r}: expected a TCP port number 0..65535 "
                         "(0 picks a free one)")
    return port


def listen_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port``, IPv4 or IPv6 as ``host`` resolves.

    ``::1`` (or a name that resolves only to IPv6) needs an AF_INET6 socket: an AF_INET one
    refuses it with "Address family not supported". OSError if the address is taken.
    """
    check_port(port)
    infos = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0,
                               socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(1)
    except BaseException:
        sock.close()
        raise
    return sock


def host_port(host: str, port: int) -> str:
    """``host:port`` as GDB's ``target remote`` takes it: ``[::1]:1234`` for IPv6."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class GdbServer:
    """Listens on ``host:port`` and serves one client at a time with a fresh target.

    ``make_target()`` builds the guest for each connection. Without ``multi`` the server
    stops after its first client; ``start()`` runs it on a background thread (for
    notebooks and tests) and ``stop()`` ends it, closing every socket.
    """

    def __init__(self, make_target: Callable[[], Target], host: str = "127.0.0.1",
                 port: int = 0, *, multi: bool = False,
                 log: Callable[[str], None] | None = None, slice_seconds: float = SLICE_SECONDS,
                 idle_timeout: float | None = None):
        self.make_target = make_target
        self.multi = multi
        self.log = log
        self.slice_seconds = slice_seconds
        self.idle_timeout = idle_timeout
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: socket.socket | None = None
        self._target: Target | None = None
        self.stopped_by: str | None = None   # "SIGINT"…: why ``shutdown`` was called
        self.listener = listen_socket(host, port)
        self.host, self.port = self.listener.getsockname()[:2]
        self.sessions = 0
        self.errors: list[str] = []

    # -- lifecycle -----------------------------------------------------------------------
    def __enter__(self) -> "GdbServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> "GdbServer":
        """Serve on a daemon thread; returns self (``.port`` is the port)."""
        self._thread = threading.Thread(target=self.serve_forever, name="armbp-gdbserver",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving: close the listener and any client; join the thread."""
        self._stop.set()
        for s in (self.listener, self._client):
            if s is not None:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                try:
                    s.close()
                except OSError:
                    pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def shutdown(self, why: str) -> None:
        """Ask the server to end soon: the guest stops, the session and the loop end.

        Safe in a signal handler (it only sets flags and kicks the vCPU, which stops
        ``emu_start`` however busy the guest is, an exception storm included); the thread
        that serves notices within one poll and closes the sockets.
        """
        self.stopped_by = why
        self._stop.set()
        kick = getattr(self._target, "kick", None)
        if kick is not None:
            kick()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def serve_forever(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    ready, _, _ = select.select([self.listener], [], [], 0.1)
                except (OSError, ValueError):
                    break
                if not ready:
                    continue
                try:
                    client, peer = self.listener.accept()
                except OSError:
                    break
                self._client = client
                try:
                    self.serve_client(client)
                finally:
                    try:
                        client.close()
                    except OSError:
                        pass
                    self._client = None
                if not self.multi:
                    break
        finally:
            try:
                self.listener.close()
            except OSError:
                pass

    # -- one client ---------------------------------------------------------------------
    def _log(self, line: str) -> None:
        if self.log is not None:
            self.log(line)

    def serve_client(self, client: socket.socket) -> None:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sessions += 1
        conn = Connection(client, self.log)
        try:
            target = self.make_target()
        except Exception as e:
            self.errors.append(f"cannot start the guest: {e}")
            self._log(f"cannot start the guest: {e}")
            return
        self._target = target
        stub = GdbStub(target)
        ended = False
        try:
            ended = self._session(conn, stub, target)
        except Exception as e:  # never let a session take the server down
            self.errors.append(f"{type(e).__name__}: {e}")
            self._log(f"session ended by {type(e).__name__}: {e}")
        finally:
            self._target = None
            if not ended:
                try:
                    target.kill()
                except Exception:
                    pass

    def _next_event(self, conn: Connection):
        idle_since = time.monotonic()
        while not conn.pending:
            if conn.closed or self._stop.is_set():
                return None
            conn.poll(0.1)
            if (self.idle_timeout is not None and not conn.pending
                    and time.monotonic() - idle_since > self.idle_timeout):
                self._log("client idle too long: closing")
                return None
        return conn.pending.pop(0)

    def _session(self, conn: Connection, stub: GdbStub, target: Target) -> bool:
        """Serve packets until the client goes; True if the target was killed/detached."""
        while True:
            ev = self._next_event(conn)
            if ev is None:
                self._log("client disconnected" if conn.closed else "server stopping")
                return False
            if ev.kind == "nak":
                conn.resend()
                continue
            if ev.kind in ("ack", "notification"):
                continue
            if ev.kind == "interrupt":
                continue   # Ctrl-C while stopped: nothing to stop
            if ev.kind == "bad":
                shown = _show(ev.payload.decode("latin-1"))
                self._log(f"<- bad checksum or truncated packet {shown!r} → -")
                if not conn.no_ack:
                    conn.send_raw(b"-")
                continue
            if not conn.no_ack:
                conn.send_raw(b"+")
            if ev.kind == "oversize":
                self._log(f"<- oversize packet (> {PACKET_SIZE:#x} bytes) → E01")
                conn.send_packet("E01")
                continue
            text = ev.payload.decode("latin-1")
            result = stub.handle(ev.payload)
            note = "; ".join(stub.notes)
            if isinstance(result, str):
                self._log(f"<- {_show(text)}" + (f" → {note}" if note else "")
                          + f"   -> {_show(result) or '(empty)'}")
                conn.send_packet(result)
                if stub.no_ack and not conn.no_ack:
                    conn.no_ack = True
                continue
            if isinstance(result, Close):
                self._log(f"<- {_show(text)} → {result.how}")
                if result.how == "kill":
                    target.kill()
                else:
                    target.detach()
                if result.reply is not None:
                    conn.send_packet(result.reply)
                return True
            self._log(f"<- {_show(text)} → {'step' if result.step else 'continue'}")
            stop = self._run(conn, stub, target, result)
            if stop is None:
                self._log("server stopping while the guest ran: killing it" if self._stop.is_set()
                          else "client disconnected while the guest ran: killing it")
                return False
            reply = stub.stop_reply(stop)
            short = reply[:3] + (" swbreak" if stop.swbreak and stub.swbreak else "")
            self._log(f"stop: {stop.note or stop.kind} → {short}   -> {reply}")
            conn.send_packet(reply)

    def _run(self, conn: Connection, stub: GdbStub, target: Target,
             how: Resume) -> StopEvent | None:
        if how.addr is not None:
            target.write_register(REG_PC, how.addr)
        while True:
            try:
                stop = target.resume(how.step, self.slice_seconds)
            except Exception as e:  # an emulator error: report it as a fault, keep serving
                self.errors.append(f"resume: {type(e).__name__}: {e}")
                return StopEvent("signal", SIGILL, note=f"internal error: {e}")
            if self._stop.is_set():
                return None   # shut down (a kicked run may end in any stop): no reply
            if stop is not None:
                return stop
            conn.poll(0)
            if conn.closed or self._stop.is_set():
                return None
            if any(ev.kind == "interrupt" for ev in conn.pending):
                conn.pending = [ev for ev in conn.pending if ev.kind != "interrupt"]
                self._log("<- ^C (0x03) → interrupt")
                return target.interrupted()


# --- the real target: armbp's Debugger ------------------------------------------------------
class DebuggerTarget:
    """A ``Target`` over ``armbp.debugger.Debugger``: the breakpoint core, unchanged.

    ``Z0``/``z0`` are ``Debugger.break_at``/``delete`` (the table inserts and removes the
    BRK and the VMM asks for the trap only while the table is non-empty); memory goes
    through the table's shadow and write-through; ``c`` is ``Debugger.cont`` in slices,
    ``s`` is ``Debugger.step``. With a ``LinuxProcess`` the guest is a Linux program at
    EL0 whose system calls are served between runs.
    """

    pid, tid = 1, 1

    def __init__(self, debugger, process=None, log: Callable[[str], None] | None = None):
        self.dbg = debugger
        self.process = process
        self.log = log
        self._last = StopEvent("signal", SIGTRAP, pc=debugger.pc)
        self._fatal: int | None = None   # a signal that kills the process when resumed
        self.gone = False

    # registers
    def read_core(self) -> list[int]:
        r = self.dbg.registers()
        return [r[f"x{i}"] for i in range(31)] + [r["sp"], r["pc"], r["pstate"] & 0xFFFF_FFFF]

    def read_register(self, n: int) -> int:
        if n < CORE_REGS:
            name = register_name(n)
            value = self.dbg.read_register("pstate" if name == "cpsr" else name)
            return value & 0xFFFF_FFFF if name == "cpsr" else value
        return self.dbg.read_register(register_name(n))   # v0..v31, fpsr, fpcr

    def write_register(self, n: int, value: int) -> None:
        name = register_name(n)
        if n == REG_CPSR:
            old = self.dbg.read_register("pstate")
            value = (old & ~0xFFFF_FFFF) | value
            name = "pstate"
        self.dbg.write_register(name, value)

    # memory and breakpoints
    def read_memory(self, address: int, size: int) -> bytes:
        return self.dbg.read_memory(address, size)

    def write_memory(self, address: int, data: bytes) -> None:
        self.dbg.write_memory(address, data)

    def insert_breakpoint(self, address: int) -> str:
        bp = self.dbg.break_at(address)
        if bp.use_count > 1:
            return f"use count of {address:#x} now {bp.use_count}"
        return f"saved {bp.saved_insn:08x}, wrote BRK {BRK0:08x}"

    def remove_breakpoint(self, address: int) -> str:
        saved = self.dbg.table.find(address)
        left = self.dbg.delete(address)
        if left is not None:
            return f"use count of {address:#x} now {left.use_count}"
        return f"restored {saved.saved_insn:08x}" if saved else "removed"

    # running
    def _event(self, stop) -> StopEvent | None:
        """A Debugger ``Stop`` as a stub event; None when the guest just goes on."""
        how = stop.reason.stub  # each kind of stop says how a stub reports it
        if how is None:
            return None
        hsr = stop.exit.debug.hsr if stop.exit.debug else 0
        return StopEvent(how.kind, how.signal, swbreak=how.swbreak, pc=stop.pc,
                         note=how.note.format(ec=f"0x{hsr >> 26:02X}", hsr=f"{hsr:08x}",
                                              note=stop.note or "ours", message=stop.message))

    def _at_gate(self) -> StopEvent | None | bool:
        """After a stop: serve the Linux kernel's part if the guest is at its vectors.

        Returns a stop event (exit or signal), None (a system call done: go on), or False
        (not at the gate).
        """
        proc = self.process
        if proc is None or not proc.at_gate(self.dbg.vcpu):
            return False
        kind, result = proc.gate(self.dbg.vcpu)
        if kind == "syscall":
            if result.exited:
                return StopEvent("exited", code=result.value,
                                 note=f"{result.name}({result.value}) → the process exits")
            return None
        self._fatal = proc.signal
        return StopEvent("signal", proc.signal, pc=self.dbg.pc,
                         note=f"exception from EL0 (ESR_EL1 EC "
                              f"{self.dbg.read_register('esr_el1') >> 26:#04x}) → signal "
                              f"{proc.signal}")

    def resume(self, step: bool, seconds: float) -> StopEvent | None:
        if self._last.kind in ("exited", "killed"):
            return self._last
        if self._fatal is not None:
            self._last = StopEvent("killed", self._fatal, note=f"killed by signal {self._fatal}")
            return self._last
        deadline = time.monotonic() + seconds
        while True:
            stop = self.dbg.step() if step else \
                self.dbg.cont(max(deadline - time.monotonic(), 0.001))
            gated = self._at_gate()
            if gated is None:
                if step:   # the SVC was the instruction stepped: stop after it
                    ev = StopEvent("signal", SIGTRAP, pc=self.dbg.pc, note="step over SVC")
                    break
                if time.monotonic() >= deadline:
                    return None
                continue
            ev = gated if gated is not False else self._event(stop)
            if ev is None:
                return None
            break
        self._last = ev
        return ev

    def interrupted(self) -> StopEvent:
        self._last = StopEvent("signal", SIGINT, pc=self.dbg.pc, note="Ctrl-C")
        return self._last

    def last_stop(self) -> StopEvent:
        return self._last

    def auxv(self) -> bytes | None:
        return self.process.auxv() if self.process is not None else None

    def kill(self) -> None:
        self.gone = True

    def kick(self) -> None:
        """Stop a running ``resume`` now (from a signal handler or another thread)."""
        self.dbg.interrupt()

    def detach(self) -> None:
        """Remove every breakpoint and let the guest run on (for up to a few seconds)."""
        try:
            self.dbg.delete_all(force=True)
        except Exception:
            pass
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and self._last.kind not in ("exited", "killed"):
            ev = self.resume(False, 0.1)
            if ev is not None and ev.kind == "signal":
                break
        self.gone = True


def target_factory(program: str, args: list[str] | None = None, *,
                   log: Callable[[str], None] | None = None,
                   stdout: Callable[[bytes], None] | None = None) -> Callable[[], DebuggerTarget]:
    """A function that builds a fresh guest for each connection.

    ``program`` is a path: a static AArch64 ELF (run as a Linux process at EL0, with
    ``args``), or an armbp assembly source (run bare-metal at EL1, as in the lessons).
    Errors (missing file, not an ELF we can run, assembly errors) raise ``ValueError``.
    """
    from armbp.debugger import Debugger
    if os.path.exists(program) and not (os.path.isfile(program) or os.path.isdir(program)):
        # a FIFO would block the server before it listens, /dev/zero never end
        raise ValueError("not a regular file: expected a static AArch64 ELF or an armbp "
                         "assembly source")
    with open(program, "rb") as f:
        head = f.read(4)
    if head == b"\x7fELF":
        from armbp.linux import LinuxProcess

        def make() -> DebuggerTarget:
            proc = LinuxProcess(program, [program] + list(args or []), stdout=stdout, log=log)
            dbg = Debugger(proc.program)
            proc.start(dbg.vcpu)
            return DebuggerTarget(dbg, proc, log)
        return make
    if args:
        raise ValueError("arguments are for ELF programs; an assembly source takes none")
    with open(program, encoding="utf-8") as f:
        source = f.read()
    from armbp.asm import assemble
    prog = assemble(source, name=program)

    def make_bare() -> DebuggerTarget:
        return DebuggerTarget(Debugger(prog), None, log)
    return make_bare


def start_server(program: str, *args: str, port: int = 0, host: str = "127.0.0.1",
                 multi: bool = False, log: Callable[[str], None] | None = None,
                 stdout: Callable[[bytes], None] | None = None) -> GdbServer:
    """Serve ``program`` on a background thread (for a notebook); ``.port``, ``.stop()``.

    ::

        server = start_server("prog.elf", log=print)
        with RspClient.connect(server.port) as gdb:
            gdb.handshake(); gdb.insert_breakpoint(0x40010c); gdb.cont()
        server.stop()
    """
    make = target_factory(program, list(args), log=log, stdout=stdout)
    return GdbServer(make, host, port, multi=multi, log=log).start()


# --- the command ----------------------------------------------------------------------------
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _port_argument(text: str) -> int:
    try:
        return check_port(int(text, 10))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a TCP port number 0..65535 "
                                         "(0 picks a free one)") from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="armbp gdbserver",
        description="A GDB remote stub over armbp: Z0 packets become BRK #0 in guest "
                    "memory, the trap comes back as a KVM-style debug exit. Then: "
                    "gdb-multiarch PROGRAM -ex 'target remote :PORT'")
    p.add_argument("--port", type=_port_argument, default=1234,
                   help="TCP port (0 picks a free one; the port is printed when ready)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; RSP has no authentication)")
    p.add_argument("--multi", action="store_true",
                   help="keep listening after a client leaves; each client gets a fresh guest")
    p.add_argument("--log", action="store_true",
                   help="print the RSP conversation and what each packet did in armbp terms")
    p.add_argument("program", help="a static AArch64 Linux ELF, or an armbp assembly source")
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments for an ELF program")
    return p


def startup_error(program: str, exc: BaseException) -> str:
    """One line saying why ``program`` cannot be served, naming the file.

    The ELF loader's and the assembler's errors already say what was expected; the
    assembler's caret picture is dropped (a terminal line is enough to find the place).
    """
    from armbp.asm import AsmError
    from armbp.elf import ElfError
    if isinstance(exc, AsmError):
        where = f"line {exc.line}, col {exc.column}"
        return f"{program}: {where}: {exc.detail}"
    if isinstance(exc, OSError):
        return f"{program}: cannot read it ({exc.strerror or exc})"
    if isinstance(exc, UnicodeDecodeError):
        return (f"{program}: neither an ELF nor UTF-8 text (byte {exc.object[exc.start]:#04x}"
                f" at offset {exc.start}): expected a static AArch64 ELF or an armbp "
                "assembly source")
    text = " ".join(str(exc).split())
    if isinstance(exc, ElfError) and program in text:
        return text
    return f"{program}: {text}"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    log = (lambda line: print(line, flush=True)) if args.log else None
    try:
        make_target = target_factory(args.program, args.args, log=log)
        make_target().kill()     # fail now, not when the client connects
    except (OSError, ValueError, RuntimeError) as e:
        # ElfError and AsmError are ValueErrors; RuntimeError: the guest could not be
        # brought to its entry point.
        print(f"armbp gdbserver: {startup_error(args.program, e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:   # Ctrl-C while a big program loads
        print("armbp gdbserver: stopped by SIGINT while loading the program", file=sys.stderr)
        return 128 + signal.SIGINT
    if args.host not in LOOPBACK:
        print(f"armbp gdbserver: warning: listening on {args.host}: the GDB remote protocol "
              "has no authentication; anyone who can reach this port controls the guest",
              file=sys.stderr)
    try:
        server = GdbServer(make_target, args.host, args.port, multi=args.multi, log=log)
    except OSError as e:
        where = host_port(args.host, args.port)
        if e.errno == errno.EADDRINUSE:
            why = (f"port {args.port} is taken (another program listens there): choose "
                   "another --port, or --port 0 for a free one")
        elif isinstance(e, socket.gaierror):
            why = f"no such address {args.host!r} ({e.strerror}): expected e.g. 127.0.0.1 or ::1"
        else:
            why = e.strerror or str(e)
        print(f"armbp gdbserver: cannot listen on {where}: {why}", file=sys.stderr)
        return 2
    def on_signal(signum: int, frame: object) -> None:
        if server.stopped_by is not None:   # a second one: stop waiting for the first
            raise KeyboardInterrupt
        server.shutdown(signal.Signals(signum).name)

    # Our own handler, whatever we inherited (a shell starts `cmd &` with SIGINT ignored):
    # it kicks the vCPU, so the server stops however busy the guest is.
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        # the banner says "ready": a signal from now on is ours to handle
        print(f"listening on {host_port(server.host, server.port)}", flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        server.stopped_by = server.stopped_by or "SIGINT"
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.stop()
    if server.stopped_by is not None:
        print(f"armbp gdbserver: stopped by {server.stopped_by} (the guest was discarded, "
              "any client disconnected)", file=sys.stderr, flush=True)
        return 128 + getattr(signal, server.stopped_by, signal.SIGINT)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
