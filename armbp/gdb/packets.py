"""The stub's protocol: one RSP packet in, one reply out, by a table of packets.

The packets that matter for this kit map one to one onto the breakpoint core:

* ``Z0,addr,4`` → the debugger's table inserts: saves the word at addr, writes ``BRK #0``;
* ``m addr,len`` → guest memory read *through the table*: planted BRKs are shown as the
  instructions they replaced (GDB with ``breakpoint always-inserted on`` expects this);
* ``c``/``vCont;c`` → the vCPU runs; a BRK traps out as a KVM-style debug exit (EC 0x3C),
  the VMM finds its pc in the table ("ours") and the stub answers ``T05 … swbreak:;``;
* ``z0,addr,4`` → the table puts the saved word back.

* ``Z1,addr,4`` → ``Debugger.hbreak_at``: a DBGBCR/DBGBVR slot, memory untouched; the
  stop (EC 0x30) is answered ``T05 … hwbreak:;``;
* ``Z2``/``Z3``/``Z4,addr,len`` → ``Debugger.watch`` (write/read/access): a DBGWCR/DBGWVR
  slot; the stop (EC 0x34, before the access) is answered ``T05 … watch:addr;`` (``rwatch``,
  ``awatch``), and GDB steps the access itself with the watchpoint out of the way.

Z/z are idempotent per address, as the protocol asks (a repeated packet changes nothing).

``PACKETS`` is the whole protocol at a glance: each row is a prefix, the ``GdbStub``
method that serves it and the ``Schema`` of its arguments. The arguments are parsed by the
schema before the handler runs, so a malformed packet of any kind gets the same ``E22``;
a packet no row names gets the empty reply ("not supported"), as RSP asks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from armbp.gdb import registers as regs
from armbp.gdb.framing import escape, unescape
from armbp.gdb.registers import TARGET_XML
from armbp.gdb.schema import (
    ANYTHING,
    NO_ARGS,
    BadPacket,
    Field,
    Schema,
    hex_int,
    one_of,
    schema,
    text,
    thread_id,
)
from armbp.gdb.target import HW_BREAK, OutOfSlots, StopEvent, Target
from armbp.memory import MemoryFault
from armbp.table import BreakpointError

PACKET_SIZE = 0x4000  # what we advertise: the largest packet we accept
MAX_MEMORY_XFER = 0x1000  # bytes per m/M/X (hex doubles it: well under PACKET_SIZE)


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


@dataclass(frozen=True)
class Packet:
    """One row of the packet table.

    ``prefix`` selects the row (the longest matching prefix wins; ``exact`` rows match
    only the whole packet); ``handler`` names the ``GdbStub`` method, called with the
    arguments ``args`` parsed out of what follows the prefix.
    """

    prefix: str
    handler: str
    args: Schema = NO_ARGS
    exact: bool = False
    doc: str = ""


def _binary(value: str) -> bytes:
    """Escaped binary data (``X``): ``}`` + byte XOR 0x20 for ``# $ } *``."""
    try:
        return unescape(value.encode("latin-1"))
    except ValueError as e:
        raise BadPacket(str(e)) from None


_ADDR_LEN = (Field("addr", hex_int), Field("length", hex_int, ","))
_BREAK = schema(
    Field("type", one_of("01234")),
    Field("addr", hex_int, ","),
    Field("kind", hex_int, ","),
    rest=";",
)
_RESUME = schema(Field("addr", hex_int, optional=True))
_RESUME_SIG = schema(Field("sig", hex_int), Field("addr", hex_int, ";", optional=True))

PACKETS: tuple[Packet, ...] = (
    Packet("?", "stop_reason", ANYTHING, doc="why the guest last stopped"),
    Packet("qSupported", "q_supported", ANYTHING, doc="features both sides offer"),
    Packet("qXfer:", "q_xfer", ANYTHING, doc="target.xml and the auxiliary vector"),
    Packet("qAttached", "q_attached", exact=True),
    Packet("qAttached:", "q_attached", ANYTHING),
    Packet("qfThreadInfo", "q_thread_info_first", exact=True),
    Packet("qsThreadInfo", "q_thread_info_next", exact=True),
    Packet("qC", "q_current_thread", exact=True),
    Packet("qThreadExtraInfo,", "q_thread_extra", schema(Field("thread", thread_id))),
    Packet("qOffsets", "q_offsets", exact=True),
    Packet("QStartNoAckMode", "start_no_ack", exact=True),
    Packet("QCatchSyscalls:", "catch_syscalls", schema(Field("spec", text))),
    Packet(
        "H",
        "set_thread",
        schema(Field("op", one_of("gcs"), width=1), Field("thread", thread_id)),
    ),
    Packet("T", "thread_alive", schema(Field("thread", thread_id))),
    Packet("g", "read_core", doc="x0..x30, sp, pc, cpsr"),
    Packet("G", "write_core", schema(Field("digits", text))),
    Packet("p", "read_register", schema(Field("n", hex_int))),
    Packet("P", "write_register", schema(Field("n", hex_int), Field("digits", text, "="))),
    Packet("m", "read_memory", schema(*_ADDR_LEN), doc="through the table: BRKs hidden"),
    Packet("M", "write_memory", schema(*_ADDR_LEN, Field("digits", text, ":"))),
    Packet("X", "write_binary", schema(*_ADDR_LEN, Field("data", _binary, ":"))),
    Packet("Z", "insert_breakpoint", _BREAK, doc="Z0: BRK #0 into the table; Z1..Z4: a slot"),
    Packet("z", "remove_breakpoint", _BREAK, doc="z0: the saved word back; z1..z4: free it"),
    Packet("c", "resume", _RESUME),
    Packet("s", "resume_step", _RESUME),
    Packet("C", "resume", _RESUME_SIG, doc="the signal is not delivered"),
    Packet("S", "resume_step", _RESUME_SIG),
    Packet("vCont?", "vcont_actions", exact=True),
    Packet("vCont;", "vcont", schema(Field("actions", text))),
    Packet("vFile:", "vfile", ANYTHING, doc="host I/O: /proc/PID/maps (info proc mappings)"),
    Packet("vKill", "kill_request", ANYTHING),
    Packet("k", "kill", ANYTHING),
    Packet("D", "detach", ANYTHING),
)


def _index(table: tuple[Packet, ...]) -> dict[str, list[Packet]]:
    """Rows by first character, longest prefix first (so ``vCont?`` beats ``vCont;``)."""
    out: dict[str, list[Packet]] = {}
    for row in table:
        out.setdefault(row.prefix[0], []).append(row)
    for rows in out.values():
        rows.sort(key=lambda r: -len(r.prefix))
    return out


_BY_HEAD = _index(PACKETS)


def lookup(text: str) -> Packet | None:
    """The row that serves packet ``text``, or None (the empty reply: not supported)."""
    for row in _BY_HEAD.get(text[:1], ()):
        if text == row.prefix if row.exact else text.startswith(row.prefix):
            return row
    return None


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
        self.hwbreak = False
        self.multiprocess = False
        self.no_ack = False
        self.notes: list[str] = []
        # Addresses this connection's Z0 planted. The remote protocol asks Z/z to be
        # idempotent (a packet may arrive twice): a second Z0 at a planted address and a z0
        # at one that is not planted change nothing. The table keeps use counts for the
        # Python API, where two owners may share an address; here there is one owner, GDB.
        self.planted: set[int] = set()
        self.hw_planted: set[tuple[str, int, int]] = set()  # (type, addr, kind) of Z1..Z4
        self.files: dict[int, bytes] = {}  # vFile:open's fds → the file's bytes

    @property
    def _has_hw(self) -> bool:
        """Does the target program debug registers (Z1..Z4)?"""
        return callable(getattr(self.target, "insert_hw", None))

    # -- thread ids --------------------------------------------------------------------------
    def _thread_ids(self) -> list[int]:
        """The target's live threads (one, ``tid``, for a target without threads)."""
        ids = getattr(self.target, "thread_ids", None)
        return ids() if ids is not None else [self.target.tid]

    def thread_id(self, tid: int | None = None) -> str:
        t = self.target
        tid = t.tid if tid is None else tid
        return f"p{t.pid:02x}.{tid:02x}" if self.multiprocess else f"{tid:02x}"

    def _matches(self, thread: tuple[int | None, int | None]) -> bool:
        """Does a parsed thread-id (None: all or any) name one of our threads?"""
        pid, tid = thread
        return pid in (None, self.target.pid) and (tid is None or tid in self._thread_ids())

    def _select(self, op: str, thread: tuple[int | None, int | None]) -> None:
        """Tell the target which thread ``g``/``p`` read (op "g") or the next resume
        runs first (op "c", "s"); all/any (None) is the thread that stopped."""
        select = getattr(self.target, "select_thread", None)
        if select is not None:
            select(op, thread[1])

    # -- stop replies ------------------------------------------------------------------------
    def stop_reply(self, ev: StopEvent) -> str:
        if ev.kind == "exited":
            return f"W{ev.code & 0xFF:02x}" + (
                f";process:{self.target.pid:x}" if self.multiprocess else ""
            )
        if ev.kind == "killed":
            return f"X{ev.signal:02x}"
        reply = f"T{ev.signal:02x}"
        if ev.syscall is not None:  # a caught system call: entry or return, and its number
            reply += f"syscall_{ev.syscall[0]}:{ev.syscall[1]:x};"
        reply += f"thread:{self.thread_id()};"
        if ev.swbreak and self.swbreak:
            reply += "swbreak:;"
        if ev.hwbreak and self.hwbreak:
            reply += "hwbreak:;"
        if ev.watch is not None and ev.data_address is not None:
            reply += f"{ev.watch}:{ev.data_address:x};"
        return reply

    # -- dispatch ------------------------------------------------------------------------------
    def handle(self, payload: bytes) -> str | Resume | Close:
        self.notes = []
        try:
            return self._dispatch(payload.decode("latin-1"))
        except BadPacket as e:
            self.notes.append(f"malformed: {e}")
            return "E22"
        except MemoryFault as e:
            self.notes.append(str(e))
            return "E14"
        except BreakpointError as e:
            self.notes.append(str(e))
            return "E22"
        except Exception as e:  # a bug or an emulator error: report it, keep serving  # noqa: BLE001
            self.notes.append(f"internal error: {type(e).__name__}: {e}")
            return "E01"

    def _dispatch(self, text: str) -> str | Resume | Close:
        row = lookup(text)
        if row is None:
            return ""
        args = row.args.parse(text[len(row.prefix) :])
        handler: Callable[..., Any] = getattr(self, row.handler)
        return handler(**args)

    # queries ----------------------------------------------------------------------------------
    def stop_reason(self, body: str) -> str:
        return self.stop_reply(self.target.last_stop())

    def q_supported(self, body: str) -> str:
        offered = body.partition(":")[2].split(";")
        self.swbreak = "swbreak+" in offered
        self.hwbreak = "hwbreak+" in offered and self._has_hw
        self.multiprocess = "multiprocess+" in offered
        feats = [
            f"PacketSize={PACKET_SIZE:x}",
            "qXfer:features:read+",
            "swbreak+",
            *(["hwbreak+"] if self._has_hw else []),
            "vContSupported+",
            "QStartNoAckMode+",
        ]
        if self.target.auxv() is not None:  # a Linux process: signals and system calls
            feats.append("qXfer:auxv:read+")
            if hasattr(self.target, "siginfo"):
                feats += ["qXfer:siginfo:read+", "QCatchSyscalls+"]
        if self.multiprocess:
            feats.append("multiprocess+")
        return ";".join(feats)

    def q_xfer(self, body: str) -> str:
        parts = body.split(":")
        if len(parts) != 4 or parts[1] != "read":
            return ""
        obj, annex, span = parts[0], parts[2], parts[3]
        where = schema(*_ADDR_LEN).parse(span)
        offset, length = where["addr"], where["length"]
        if obj == "features":
            if annex != "target.xml":
                return "E00"
            data = TARGET_XML.encode()
        elif obj == "auxv":
            auxv = self.target.auxv()
            if auxv is None:
                return ""
            if annex:
                return "E00"
            data = auxv
        elif obj == "siginfo" and hasattr(self.target, "siginfo"):
            info = self.target.siginfo()
            if info is None or annex:
                return "E01"  # no signal is being reported
            data = info
        else:
            return ""
        length = min(length, PACKET_SIZE // 2)
        chunk = data[offset : offset + length]
        more = offset + length < len(data)
        return ("m" if more else "l") + escape(chunk).decode("latin-1")

    def catch_syscalls(self, spec: str) -> str:
        """``QCatchSyscalls:1[;NN]…`` (stop at those system calls, all when none is
        named) or ``QCatchSyscalls:0`` (stop at none): what ``catch syscall`` sends."""
        on, *numbers = spec.split(";")
        if on not in ("0", "1") or (on == "0" and numbers):
            raise BadPacket(f"QCatchSyscalls:{spec[:20]}")
        wanted = frozenset(hex_int(n) for n in numbers) if on == "1" else None
        setter = getattr(self.target, "catch_syscalls", None)
        if setter is None:
            return ""
        setter(wanted)
        return "OK"

    def q_attached(self, body: str = "") -> str:
        return "0"  # we created the process: kill it on quit

    def q_thread_info_first(self) -> str:
        return "m" + ",".join(self.thread_id(tid) for tid in self._thread_ids())

    def q_thread_info_next(self) -> str:
        return "l"

    def q_current_thread(self) -> str:
        return "QC" + self.thread_id()

    def q_offsets(self) -> str:
        return "Text=0;Data=0;Bss=0"

    def start_no_ack(self) -> str:
        self.no_ack = True
        return "OK"

    def q_thread_extra(self, thread: tuple[int | None, int | None]) -> str:
        """``qThreadExtraInfo``: what ``info threads`` shows after the thread's name (its
        state: "runnable", "waiting on futex 0x…"), hex-encoded."""
        if not self._matches(thread) or thread[1] is None:
            return "E22"
        extra = getattr(self.target, "thread_extra", None)
        text = extra(thread[1]) if extra is not None else "running"
        return text.encode().hex()

    def set_thread(self, op: str, thread: tuple[int | None, int | None]) -> str:
        if not self._matches(thread):
            return "E22"
        self._select(op, thread)
        return "OK"

    def thread_alive(self, thread: tuple[int | None, int | None]) -> str:
        return "OK" if self._matches(thread) else "E22"

    # registers --------------------------------------------------------------------------
    def read_core(self) -> str:
        return regs.encode_g(self.target.read_core())

    def write_core(self, digits: str) -> str:
        values = regs.decode_g(digits)
        old = self.target.read_core()
        for i, v in enumerate(values):
            if v != old[i]:
                self.target.write_register(i, v)
        return "OK"

    def read_register(self, n: int) -> str:
        if n >= regs.N_REGS:
            return "E22"
        return regs.REGISTERS[n].encode(self.target.read_register(n))

    def write_register(self, n: int, digits: str) -> str:
        if n >= regs.N_REGS:
            return "E22"
        self.target.write_register(n, regs.REGISTERS[n].decode(digits))
        return "OK"

    # memory ----------------------------------------------------------------------------
    def _read(self, addr: int, length: int) -> bytes:
        try:
            return self.target.read_memory(addr, length)
        except MemoryFault:
            if length <= 1:
                raise
        out = bytearray()  # a read that runs into unmapped memory: return what we can
        for a in range(addr, addr + length):
            try:
                out += self.target.read_memory(a, 1)
            except MemoryFault:
                break
        if not out:
            raise MemoryFault(addr, length, "read")
        return bytes(out)

    def read_memory(self, addr: int, length: int) -> str:
        if length > MAX_MEMORY_XFER or addr + length > 1 << 64:
            raise BadPacket(f"m of {length:#x} bytes at {addr:#x}: too large")
        if length == 0:
            return ""
        return self._read(addr, length).hex()

    def write_memory(self, addr: int, length: int, digits: str) -> str:
        if length > MAX_MEMORY_XFER or len(digits) != 2 * length:
            raise BadPacket(f"M data is {len(digits)} hex digits for {length} bytes")
        try:
            data = bytes.fromhex(digits)
        except ValueError:
            raise BadPacket("M data is not hex") from None
        if length:
            self.target.write_memory(addr, data)
        return "OK"

    def write_binary(self, addr: int, length: int, data: bytes) -> str:
        if length > MAX_MEMORY_XFER or len(data) != length:
            raise BadPacket(f"X carries {len(data)} bytes for length {length}")
        if length:
            self.target.write_memory(addr, data)
        return "OK"

    # breakpoints ------------------------------------------------------------------------
    @staticmethod
    def _software(type: str, kind: int) -> bool:
        """Is this Z/z a software breakpoint (type 0) of A64's size?"""
        if type != "0":
            return False  # hardware breakpoints and watchpoints: Z1..Z4
        if kind != 4:
            raise BadPacket(f"software breakpoint kind {kind}: A64 BRK is 4 bytes")
        return True

    def _hardware(self, insert: bool, type: str, addr: int, kind: int) -> str:
        """Z1..Z4/z1..z4: a debug register slot through the target, idempotent per
        (type, address, length) as Z0. ``E28`` (ENOSPC) when the slots are all in use:
        GDB then says "Could not insert hardware watchpoint" (or breakpoint)."""
        if not self._has_hw:
            return ""  # a target without debug registers: GDB falls back to software
        if type == HW_BREAK and kind != 4:
            raise BadPacket(f"hardware breakpoint kind {kind}: A64 instructions are 4 bytes")
        if type != HW_BREAK and kind < 1:
            raise BadPacket(f"watchpoint length {kind}: expected at least 1 byte")
        key = (type, addr, kind)
        if insert == (key in self.hw_planted):
            self.notes.append(
                f"Z{type} {addr:#x},{kind} {'already set' if insert else 'not set'}"
            )
            return "OK"
        try:
            if insert:
                self.notes.append(self.target.insert_hw(type, addr, kind))  # type: ignore[attr-defined]
                self.hw_planted.add(key)
            else:
                self.notes.append(self.target.remove_hw(type, addr, kind))  # type: ignore[attr-defined]
                self.hw_planted.discard(key)
        except OutOfSlots as e:
            self.notes.append(str(e))
            return "E28"
        except ValueError as e:  # an address or length the debug registers cannot watch
            self.notes.append(str(e))
            return "E22"
        return "OK"

    def insert_breakpoint(self, type: str, addr: int, kind: int) -> str:
        if type != "0":
            return self._hardware(True, type, addr, kind)
        self._software(type, kind)
        if addr in self.planted:
            self.notes.append(f"{addr:#x} already planted: nothing to do")
            return "OK"
        self.notes.append(self.target.insert_breakpoint(addr))
        self.planted.add(addr)
        return "OK"

    def remove_breakpoint(self, type: str, addr: int, kind: int) -> str:
        if type != "0":
            return self._hardware(False, type, addr, kind)
        self._software(type, kind)
        if addr not in self.planted:
            self.notes.append(f"no breakpoint at {addr:#x}: nothing to remove")
            return "OK"
        self.notes.append(self.target.remove_breakpoint(addr))
        self.planted.discard(addr)
        return "OK"

    # running ----------------------------------------------------------------------------
    def resume(self, addr: int | None, sig: int | None = None) -> Resume:
        # a signal given with C is not delivered: a bare-metal guest has no handlers
        return Resume(False, addr)

    def resume_step(self, addr: int | None, sig: int | None = None) -> Resume:
        return Resume(True, addr)

    def vcont_actions(self) -> str:
        return "vCont;c;C;s;S"

    def vcont(self, actions: str) -> str | Resume:
        for action in actions.split(";"):
            verb, _, tid = action.partition(":")
            if not verb or verb[0] not in "cCsS":
                raise BadPacket(f"vCont action {action[:20]!r}")
            if verb[0] in "CS":
                hex_int(verb[1:])
            elif len(verb) > 1:
                raise BadPacket(f"vCont action {action[:20]!r}")
            if not tid:
                return Resume(verb[0] in "sS")
            thread = thread_id(tid)
            if self._matches(thread):  # the first action naming a thread: it runs first
                self._select("c", thread)
                return Resume(verb[0] in "sS")
        return "E22"

    # host I/O (vFile) -----------------------------------------------------------------
    def _proc_file(self, path: str) -> bytes | None:
        """The bytes of a ``/proc`` file the target can give (``maps``), else None."""
        maps = getattr(self.target, "maps", None)
        names = {f"/proc/{self.target.pid}/maps", "/proc/self/maps"}
        if maps is None or path not in names:
            return None
        text = maps()
        return None if text is None else text.encode()

    def vfile(self, body: str) -> str:
        """``vFile:`` host I/O, as much as ``info proc mappings`` needs: ``setfs``,
        ``open`` (read-only, ``/proc/PID/maps`` only: the Linux layer's real map),
        ``pread``, ``close``. Replies are ``F`` results, errors ``F-1,errno`` (GDB's
        File-I/O numbers: ENOENT 2, EBADF 9, EACCES 13)."""
        op, _, args = body.partition(":")
        parts = args.split(",") if args else []
        maps = getattr(self.target, "maps", None)
        if maps is None or maps() is None:  # a bare-metal guest has no files
            if op in ("setfs", "open", "pread", "close"):
                for part in parts[1:] if op == "open" else parts:
                    hex_int(part)  # still: a malformed packet is an error
            return ""
        if op == "setfs" and len(parts) == 1:
            hex_int(parts[0])
            return "F0"
        if op == "open" and len(parts) == 3:
            try:
                path = bytes.fromhex(parts[0]).decode("utf-8", "replace")
            except ValueError:
                raise BadPacket(f"vFile:open path {parts[0][:20]!r} is not hex") from None
            flags = hex_int(parts[1])
            hex_int(parts[2])
            if flags & 3:  # O_WRONLY / O_RDWR
                return "F-1,d"
            data = self._proc_file(path)
            if data is None:
                self.notes.append(f"vFile:open {path}: not a file this stub serves")
                return "F-1,2"
            fd = max(self.files, default=2) + 1
            self.files[fd] = data
            self.notes.append(f"vFile:open {path} → fd {fd} ({len(data)} bytes)")
            return f"F{fd:x}"
        if op == "pread" and len(parts) == 3:
            fd, count, offset = (hex_int(p) for p in parts)
            if fd not in self.files:
                return "F-1,9"
            chunk = self.files[fd][offset : offset + min(count, PACKET_SIZE // 2)]
            return f"F{len(chunk):x};" + escape(chunk).decode("latin-1")
        if op == "close" and len(parts) == 1:
            return "F0" if self.files.pop(hex_int(parts[0]), None) is not None else "F-1,9"
        if op in ("setfs", "open", "pread", "close"):
            raise BadPacket(f"vFile:{body[:30]}")
        return ""  # unlink, readlink, fstat…: not supported

    def kill_request(self, body: str) -> Close:
        return Close("OK", "kill")

    def kill(self, body: str) -> Close:
        return Close(None, "kill")

    def detach(self, body: str) -> Close:
        return Close("OK", "detach")
