"""The RSP stub over a fake target: packets, acks, Ctrl-C, disconnects, and a fuzz test.

The fake target has no emulator: a bytearray of "instructions" and the real breakpoint
table. Each word it executes adds 1 to x0 and moves on, except ``BRK #0`` (a trap),
``SVC #0`` (exit with x0) and ``B .`` (spin forever, for Ctrl-C).
"""

from __future__ import annotations

import random
import socket
import time
from typing import ClassVar

import pytest

from armbp.encodings import BRK0, NOP, from_bytes, svc, to_bytes
from armbp.gdb.client import RspClient, RspError
from armbp.gdb.framing import PacketReader, escape, frame
from armbp.gdb.packets import Close, GdbStub, Resume
from armbp.gdb.registers import REG_PC, TARGET_XML, register_size
from armbp.gdb.server import GdbServer
from armbp.gdb.target import SIGINT, SIGTRAP, OutOfSlots, StopEvent
from armbp.memory import BytearrayMemory, MemoryFault
from armbp.table import BreakpointTable

BASE = 0x400000
SPIN = 0x14000000  # B . (branch to itself)


class FakeTarget:
    pid, tid = 1, 1

    def __init__(self, words=None):
        words = words or [NOP] * 8 + [svc(0)]
        self.mem = BytearrayMemory(b"".join(to_bytes(w) for w in words) + bytes(64), BASE)
        self.table = BreakpointTable(self.mem)
        self.regs = [0] * 68
        self.regs[REG_PC] = BASE
        self.regs[31] = BASE + len(self.mem.data)
        self._last = StopEvent("signal", SIGTRAP, pc=BASE)
        self.killed = self.detached = False

    def read_register(self, n):
        return self.regs[n]

    def read_core(self):
        return self.regs[:34]

    def write_register(self, n, value):
        self.regs[n] = value

    def read_memory(self, address, size):
        return self.table.shadow(address, self.mem.read(address, size))

    def write_memory(self, address, data):
        self.table.write_through(address, data)

    def insert_breakpoint(self, address):
        bp = self.table.insert(address)
        return f"saved {bp.saved_insn:08x}, wrote BRK {BRK0:08x}"

    def remove_breakpoint(self, address):
        self.table.remove(address)
        return "restored"

    def _exec_one(self, first):
        pc = self.regs[REG_PC]
        try:
            word = from_bytes(self.mem.read(pc, 4))
        except MemoryFault:
            return StopEvent("signal", 11, pc=pc, note="instruction abort")
        if word == BRK0 and pc in self.table:
            if not first:
                return StopEvent(
                    "signal", SIGTRAP, swbreak=True, pc=pc, note="EC 0x3C hsr f2000000 → ours"
                )
            word = self.table.find(pc).saved_insn  # step over our own BRK
        if word == svc(0):
            return StopEvent("exited", code=self.regs[0])
        if word == SPIN:
            return None
        self.regs[0] += 1
        self.regs[REG_PC] = pc + 4
        return None

    def resume(self, step, seconds):
        if self._last.kind == "exited":
            return self._last
        deadline = time.monotonic() + seconds
        first = True
        while True:
            ev = self._exec_one(first)
            first = False
            if ev is None and step:
                ev = StopEvent("signal", SIGTRAP, pc=self.regs[REG_PC])
            if ev is not None:
                self._last = ev
                return ev
            if time.monotonic() > deadline:
                return None

    def interrupted(self):
        self._last = StopEvent("signal", SIGINT, pc=self.regs[REG_PC])
        return self._last

    def last_stop(self):
        return self._last

    def auxv(self):
        return bytes(range(40))

    def kill(self):
        self.killed = True

    def detach(self):
        self.detached = True


# --- the stub alone -----------------------------------------------------------------------
@pytest.fixture
def stub():
    s = GdbStub(FakeTarget())
    s.handle(b"qSupported:multiprocess+;swbreak+;vContSupported+")
    return s


def test_qsupported_advertises_what_we_do():
    s = GdbStub(FakeTarget())
    reply = s.handle(b"qSupported:multiprocess+;swbreak+;hwbreak+;vContSupported+")
    feats = reply.split(";")
    for f in (
        "PacketSize=4000",
        "qXfer:features:read+",
        "swbreak+",
        "vContSupported+",
        "QStartNoAckMode+",
        "qXfer:auxv:read+",
        "multiprocess+",
    ):
        assert f in feats
    assert s.swbreak and s.multiprocess


def test_target_xml_names_the_aarch64_features_and_comes_in_chunks(stub):
    assert "org.gnu.gdb.aarch64.core" in TARGET_XML and "org.gnu.gdb.aarch64.fpu" in TARGET_XML
    assert '<reg name="cpsr" bitsize="32"' in TARGET_XML
    got, off = "", 0
    while True:
        r = stub.handle(b"qXfer:features:read:target.xml:%x,100" % off)
        assert r[0] in "ml"
        got += r[1:]
        off += len(r) - 1
        if r[0] == "l":
            break
    assert got == TARGET_XML
    assert stub.handle(b"qXfer:features:read:other.xml:0,100") == "E00"
    auxv = "l" + escape(bytes(range(40))).decode("latin-1")
    assert stub.handle(b"qXfer:auxv:read::0,ffb") == auxv


def test_thread_queries_and_stop_reason(stub):
    assert stub.handle(b"?") == "T05thread:p01.01;"
    assert stub.handle(b"qfThreadInfo") == "mp01.01"
    assert stub.handle(b"qsThreadInfo") == "l"
    assert stub.handle(b"qC") == "QCp01.01"
    assert stub.handle(b"qAttached:1") == "0"
    assert stub.handle(b"qOffsets") == "Text=0;Data=0;Bss=0"
    for ok in (b"Hgp0.0", b"Hg0", b"Hc-1", b"Hgp1.1", b"Tp1.1"):
        assert stub.handle(ok) == "OK", ok
    assert stub.handle(b"Hgp1.7") == "E22"
    assert stub.handle(b"vMustReplyEmpty") == ""
    assert stub.handle(b"vFile:open:2f6574632f706173737764,0,0") == ""


def test_registers_g_p_P_G(stub):
    g = stub.handle(b"g")
    assert len(g) == 2 * (33 * 8 + 4) == 536
    assert g[64 * 8 : 64 * 8 + 16] == BASE.to_bytes(8, "little").hex()  # pc at index 32
    assert stub.handle(b"p20") == BASE.to_bytes(8, "little").hex()
    assert stub.handle(b"P1=2a00000000000000") == "OK"
    assert stub.handle(b"p1") == "2a00000000000000"
    assert len(stub.handle(b"p22")) == 32 and len(stub.handle(b"p42")) == 8
    assert stub.handle(b"p44") == "E22"
    assert stub.handle(b"G" + g.encode()) == "OK"
    assert stub.handle(b"p1") == "0000000000000000"
    assert stub.handle(b"G1234") == "E22"
    assert [register_size(n) for n in (0, 31, 32, 33, 34, 66, 67)] == [8, 8, 8, 4, 16, 4, 4]


def test_memory_reads_hide_breakpoints_and_writes_keep_them(stub):
    assert stub.handle(b"m400000,4") == to_bytes(NOP).hex()
    assert stub.handle(b"Z0,400004,4") == "OK"
    assert stub.notes == [f"saved {NOP:08x}, wrote BRK d4200000"]
    target = stub.target
    assert target.mem.read(BASE + 4, 4) == to_bytes(BRK0)  # really planted
    assert stub.handle(b"m400000,c") == to_bytes(NOP).hex() * 3  # but never shown
    assert stub.handle(b"M400004,4:00000000") == "OK"
    assert target.mem.read(BASE + 4, 4) == to_bytes(BRK0)
    assert stub.handle(b"z0,400004,4") == "OK"
    assert target.mem.read(BASE + 4, 4) == bytes(4)
    assert stub.handle(b"X400004,4:" + escape(b"#$}*")) == "OK"
    assert target.mem.read(BASE + 4, 4) == b"#$}*"
    assert stub.handle(b"X400004,0:") == "OK"
    assert stub.handle(b"m0,4") == "E14"
    assert stub.handle(b"M0,1:00") == "E14"
    # a read running off the end of memory returns what exists
    end = BASE + len(target.mem.data)
    assert stub.handle(b"m%x,8" % (end - 2)) == "0000"


def test_z0_and_z0_are_idempotent_per_address(stub):
    """A repeated Z0 then one z0 leaves no BRK: the protocol asks Z/z to be idempotent."""
    target = stub.target
    for _ in range(3):
        assert stub.handle(b"Z0,400004,4") == "OK"
    assert target.mem.read(BASE + 4, 4) == to_bytes(BRK0)
    assert len(target.table) == 1 and target.table.find(BASE + 4).use_count == 1
    assert stub.handle(b"z0,400004,4") == "OK"
    assert target.mem.read(BASE + 4, 4) == to_bytes(NOP)  # the guest's word again
    assert len(target.table) == 0
    assert stub.handle(b"z0,400004,4") == "OK"  # a repeated z0 too
    assert target.mem.read(BASE + 4, 4) == to_bytes(NOP)
    assert stub.handle(b"Z0,400004,4") == "OK"  # and planting again works
    assert target.mem.read(BASE + 4, 4) == to_bytes(BRK0)
    # a failed Z0 plants nothing, so its z0 has nothing to undo
    assert stub.handle(b"Z0,0,4") == "E22" and stub.handle(b"z0,0,4") == "OK"


def test_breakpoint_errors_and_unsupported_kinds(stub):
    assert stub.handle(b"Z0,400002,4") == "E22"  # misaligned
    assert stub.handle(b"Z0,0,4") == "E22"  # unmapped: KVM says EINVAL
    assert stub.handle(b"Z0,400000,2") == "E22"
    assert stub.handle(b"z0,400000,4") == "OK"  # none there: nothing to remove
    assert stub.target.mem.read(BASE, 4) == to_bytes(NOP)
    for kind in b"1234":
        assert stub.handle(b"Z%c,400000,4" % kind) == ""
        assert stub.handle(b"z%c,400000,4" % kind) == ""


def test_resume_packets(stub):
    assert stub.handle(b"vCont?") == "vCont;c;C;s;S"
    assert stub.handle(b"c") == Resume(False)
    assert stub.handle(b"s") == Resume(True)
    assert stub.handle(b"c400010") == Resume(False, 0x400010)
    assert stub.handle(b"C05") == Resume(False)
    assert stub.handle(b"vCont;c:p1.-1") == Resume(False)
    assert stub.handle(b"vCont;s:p1.1;c:p1.-1") == Resume(True)
    assert stub.handle(b"vCont;s:p1.2;c:p1.-1") == Resume(False)
    assert stub.handle(b"vCont;s:p1.2") == "E22"
    assert stub.handle(b"vCont;x") == "E22"
    assert stub.handle(b"vKill;1") == Close("OK", "kill")
    assert stub.handle(b"k") == Close(None, "kill")
    assert stub.handle(b"D") == Close("OK", "detach")


def test_stop_replies_with_and_without_negotiation():
    plain = GdbStub(FakeTarget())
    ev = StopEvent("signal", SIGTRAP, swbreak=True)
    assert plain.stop_reply(ev) == "T05thread:01;"
    plain.handle(b"qSupported:swbreak+;multiprocess+")
    assert plain.stop_reply(ev) == "T05thread:p01.01;swbreak:;"
    assert plain.stop_reply(StopEvent("exited", code=42)) == "W2a;process:1"
    assert plain.stop_reply(StopEvent("signal", SIGINT)) == "T02thread:p01.01;"


class FakeHwTarget(FakeTarget):
    """FakeTarget with debug registers: 6 breakpoint and 4 watchpoint slots, as KVM reports
    for the reference CPU; the slots are a dict, memory is never written."""

    LIMITS: ClassVar[dict[str, int]] = {"1": 6, "w": 4}

    def __init__(self, words=None):
        super().__init__(words)
        self.slots: dict[tuple[str, int, int], int] = {}

    def insert_hw(self, type, address, kind):
        group = "1" if type == "1" else "w"
        used = [k for k in self.slots if ("1" if k[0] == "1" else "w") == group]
        if len(used) >= self.LIMITS[group]:
            raise OutOfSlots(f"all {self.LIMITS[group]} slots are in use")
        if type != "1" and kind > 8:
            raise ValueError(f"length {kind}: expected 1..8")
        self.slots[(type, address, kind)] = len(used)
        return f"slot {len(used)}"

    def remove_hw(self, type, address, kind):
        self.slots.pop((type, address, kind))
        return "freed"


def test_hw_breakpoints_and_watchpoints_are_advertised_only_by_a_target_with_slots():
    plain, hw = GdbStub(FakeTarget()), GdbStub(FakeHwTarget())
    offer = b"qSupported:multiprocess+;swbreak+;hwbreak+;vContSupported+"
    assert "hwbreak+" not in plain.handle(offer).split(";") and not plain.hwbreak
    assert "hwbreak+" in hw.handle(offer).split(";") and hw.hwbreak
    quiet = GdbStub(FakeHwTarget())  # GDB did not offer hwbreak+: the reason is left out
    quiet.handle(b"qSupported:swbreak+")
    assert not quiet.hwbreak


def test_z1_to_z4_use_slots_idempotently_and_never_write_memory():
    s = GdbStub(FakeHwTarget())
    before = bytes(s.target.mem.data)
    for packet in (b"Z1,400004,4", b"Z2,400040,8", b"Z3,400048,4", b"Z4,40004c,1"):
        assert s.handle(packet) == "OK", (packet, s.notes)
        assert s.handle(packet) == "OK" and "already set" in s.notes[0]
    assert sorted(s.target.slots) == [
        ("1", 0x400004, 4),
        ("2", 0x400040, 8),
        ("3", 0x400048, 4),
        ("4", 0x40004C, 1),
    ]
    assert bytes(s.target.mem.data) == before  # a hardware point writes nothing
    assert s.handle(b"m400004,4") == NOP.to_bytes(4, "little").hex()
    for packet in (b"z1,400004,4", b"z2,400040,8", b"z3,400048,4", b"z4,40004c,1"):
        assert s.handle(packet) == "OK"
        assert s.handle(packet) == "OK" and "not set" in s.notes[0]
    assert s.target.slots == {}


def test_out_of_slots_is_an_error_reply_naming_the_limit_and_loses_nothing():
    s = GdbStub(FakeHwTarget())
    for i in range(4):
        assert s.handle(b"Z2,%x,8" % (0x400040 + 8 * i)) == "OK"
    assert s.handle(b"Z2,400060,8") == "E28"
    assert s.notes == ["all 4 slots are in use"]
    assert len(s.target.slots) == 4 and ("2", 0x400060, 8) not in s.hw_planted
    assert s.handle(b"z2,400060,8") == "OK"  # never set: nothing to remove
    for i in range(6):
        assert s.handle(b"Z1,%x,4" % (BASE + 4 * i)) == "OK"
    assert s.handle(b"Z1,400018,4") == "E28"


def test_hw_point_packets_with_bad_lengths_get_e22():
    s = GdbStub(FakeHwTarget())
    assert s.handle(b"Z1,400000,2") == "E22"  # A64 instructions are 4 bytes
    assert s.handle(b"Z2,400040,0") == "E22"
    assert s.handle(b"Z2,400040,10") == "E22" and "length 16" in s.notes[0]
    assert s.target.slots == {} and s.hw_planted == set()


def test_stop_replies_for_hardware_breakpoints_and_watchpoints():
    s = GdbStub(FakeHwTarget())
    hb = StopEvent("signal", SIGTRAP, hwbreak=True)
    assert s.stop_reply(hb) == "T05thread:01;"  # hwbreak: only once GDB offered it
    s.handle(b"qSupported:swbreak+;hwbreak+")
    assert s.stop_reply(hb) == "T05thread:01;hwbreak:;"
    for word in ("watch", "rwatch", "awatch"):
        ev = StopEvent("signal", SIGTRAP, watch=word, data_address=0x410008)
        assert s.stop_reply(ev) == f"T05thread:01;{word}:410008;"


def test_a_partial_overlap_reports_an_address_inside_the_watched_bytes():
    from types import SimpleNamespace

    from armbp.gdb.target import _watched

    wp = SimpleNamespace(address=0x410008, size=8)
    assert _watched(wp, 0x410000) == 0x410008  # an STP from below: the watched start
    assert _watched(wp, 0x41000C) == 0x41000C
    assert _watched(wp, None) == 0x410008


class Boom(FakeTarget):
    def read_core(self):
        raise RuntimeError("emulator on fire")


def test_target_exceptions_become_error_replies():
    s = GdbStub(Boom())
    assert s.handle(b"g") == "E01"
    assert "emulator on fire" in s.notes[0]


# --- over a socket ------------------------------------------------------------------------
@pytest.fixture
def server():
    targets = []

    def make():
        targets.append(FakeTarget())
        return targets[-1]

    srv = GdbServer(make, port=0, multi=True, slice_seconds=0.005)
    srv.targets = targets
    srv.start()
    yield srv
    srv.stop()
    assert not srv.running


@pytest.fixture
def client(server):
    with RspClient.connect(server.port, timeout=5) as c:
        yield c


def test_break_continue_step_exit_over_tcp(client, server):
    client.handshake(no_ack=False)
    assert client.ack_mode
    assert client.insert_breakpoint(BASE + 12) == "OK"
    assert client.read_memory(BASE + 12, 4) == to_bytes(NOP)
    stop = client.cont()
    assert stop.raw == "T05thread:p01.01;swbreak:;"
    assert client.pc() == BASE + 12
    assert client.read_registers()[0] == 3
    # continue from a breakpoint steps over it and runs to the SVC: exit with x0
    assert client.step().raw == "T05thread:p01.01;"
    assert client.pc() == BASE + 16
    assert client.remove_breakpoint(BASE + 12) == "OK"
    stop = client.cont()
    assert stop.exited and stop.value == 8
    assert client.request("?").startswith("W08")


def test_no_ack_mode_and_bad_checksum_resend(client):
    client.send_raw(b"$g#00")  # wrong checksum
    deadline = time.monotonic() + 5
    buf = b""
    while b"-" not in buf and time.monotonic() < deadline:
        buf += client.sock.recv(10)
    assert buf == b"-"
    assert client.request("?") == "T05thread:01;"  # the resend works
    client.handshake(no_ack=True)
    assert not client.ack_mode
    assert client.request("qC") == "QCp01.01"


def test_ctrl_c_stops_a_running_guest_with_T02(server):
    server.make_target = lambda: FakeTarget([NOP, SPIN])
    with RspClient.connect(server.port, timeout=5) as c:
        c.handshake()
        c.send("c")
        with pytest.raises(RspError, match="timed out"):
            c.receive(timeout=0.2)  # still running
        c.interrupt()
        assert c.receive().startswith("T02thread:")
        assert c.pc() == BASE + 4
        assert c.request("?").startswith("T02")


def test_disconnect_mid_run_kills_the_guest_and_multi_keeps_listening(server):
    server.make_target = lambda: (
        server.targets.append(FakeTarget([SPIN])) or server.targets[-1]
    )
    c = RspClient.connect(server.port, timeout=5)
    c.handshake()
    c.send("c")
    time.sleep(0.05)
    c.close()
    deadline = time.monotonic() + 5
    while not server.targets[-1].killed and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.targets[-1].killed
    with RspClient.connect(server.port, timeout=5) as c2:  # --multi: a new session
        assert c2.request("?") == "T05thread:01;"
    assert server.sessions == 2 and not server.errors


def test_single_session_server_exits_after_its_client():
    srv = GdbServer(FakeTarget, port=0).start()
    try:
        with RspClient.connect(srv.port, timeout=5) as c:
            c.handshake()
            c.send("vKill;1")
            assert c.receive() == "OK"
        srv._thread.join(5)
        assert not srv.running
        assert srv.sessions == 1
    finally:
        srv.stop()


def test_oversize_and_truncated_packets_get_errors_not_crashes(client):
    client.send_raw(frame(b"m" + b"0" * 0x5000))
    assert client.receive() == "E01"
    client.send_raw(b"$m4000")  # truncated …
    assert client.request("?") == "T05thread:01;"  # … and the next packet still works


# --- fuzz ---------------------------------------------------------------------------------
SEEDS = [
    b"?",
    b"g",
    b"G" + b"0" * 536,
    b"p20",
    b"P0=0100000000000000",
    b"m400000,10",
    b"M400000,4:1f2003d5",
    b"X400000,4:\x1f\x20\x03\xd5",
    b"Z0,400004,4",
    b"z0,400004,4",
    b"Z1,400000,4",
    b"s",
    b"vCont;s:p1.1;c:p1.-1",
    b"vCont?",
    b"qSupported:swbreak+",
    b"qXfer:features:read:target.xml:0,ffb",
    b"qXfer:auxv:read::0,ffb",
    b"Hgp1.1",
    b"qfThreadInfo",
    b"qC",
    b"qAttached:1",
    b"T1",
    b"QStartNoAckMode",
    b"vFile:open:",
    b"qOffsets",
    b"vMustReplyEmpty",
    b"c",
]


def _mutate(rng: random.Random, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(rng.randrange(1, 4)):
        op = rng.randrange(5)
        pos = rng.randrange(len(data) + 1)
        if op == 0 and data:
            data[min(pos, len(data) - 1)] = rng.randrange(256)
        elif op == 1:
            alphabet = b",:;-.0123456789abcdefpxXZ}"
            data[pos:pos] = bytes(rng.choice(alphabet) for _ in range(rng.randrange(1, 6)))
        elif op == 2 and data:
            del data[pos : pos + rng.randrange(1, 6)]
        elif op == 3:
            data += b"f" * rng.randrange(1, 40)
        else:
            data[pos:pos] = rng.choice(SEEDS)
    return bytes(data)


def _fuzz_packets(rng: random.Random, n: int):
    for _ in range(n):
        r = rng.random()
        if r < 0.6:
            yield _mutate(rng, rng.choice(SEEDS))
        elif r < 0.9:
            yield bytes(rng.randrange(256) for _ in range(rng.randrange(30)))
        else:
            yield rng.choice(SEEDS)


def test_fuzz_the_stub_never_raises():
    rng = random.Random(20261)
    stub = GdbStub(FakeTarget())
    for payload in _fuzz_packets(rng, 10_000):
        result = stub.handle(payload)
        assert isinstance(result, (str, Resume, Close))
        if isinstance(result, Resume):  # run it, as the server would, with a bounded slice
            stub.target.resume(result.step, 0.001)
        if isinstance(result, str):
            assert not any(n.startswith("internal error") for n in stub.notes), (
                payload,
                stub.notes,
            )


def test_fuzz_over_tcp_then_question_mark_still_answers(server):
    """10,000 random and mutated packets (good frames, bad checksums, raw noise) on the wire."""
    rng = random.Random(7)
    server.make_target = lambda: FakeTarget([NOP] * 64 + [SPIN])
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    reader = PacketReader(max_payload=1 << 16)
    replies = 0
    try:
        sock.sendall(frame(b"QStartNoAckMode"))
        sent = 0
        batch = bytearray()
        for payload in _fuzz_packets(rng, 10_000):
            if payload[:1] in (b"k", b"D") or payload.startswith(b"vKill"):
                payload = b"q" + payload[1:]  # these end the session by design
            kind = rng.random()
            if kind < 0.85:
                batch += frame(escape(payload) if rng.random() < 0.5 else payload)
            elif kind < 0.95:
                batch += b"$" + payload + b"#%02x" % rng.randrange(256)  # bad checksum
            else:
                batch += payload  # noise
            if payload[:1] in (b"c", b"s", b"v", b"C", b"S"):
                batch += b"\x03"  # never leave a continue running
            sent += 1
            if len(batch) > 4096:
                sock.sendall(bytes(batch))
                batch.clear()
                sock.settimeout(0.0)
                try:
                    while True:
                        data = sock.recv(65536)
                        if not data:
                            break
                        replies += len(reader.feed(data))
                except (TimeoutError, BlockingIOError):
                    pass
                sock.settimeout(5)
        sock.sendall(bytes(batch) + b"\x03")
        # resynchronise: read until the server has been quiet for a while
        deadline = time.monotonic() + 20
        for _ in range(2):
            sock.settimeout(0.3)
            while time.monotonic() < deadline:
                try:
                    data = sock.recv(65536)
                except TimeoutError:
                    break
                assert data, "server closed the connection"
                replies += sum(ev.kind == "packet" for ev in reader.feed(data))
            sock.sendall(b"\x03")
        sock.settimeout(5)
        # '?' then a marker whose reply is unique: replies come in order, so the packet
        # just before the marker's reply is the answer to '?', whatever was still queued
        marker = b"qXfer:features:read:target.xml:0,17"
        sock.sendall(frame(b"?") + frame(marker))
        marker_reply = b"m" + TARGET_XML[:0x17].encode()
        packets: list[bytes] = []
        while time.monotonic() < deadline and (not packets or packets[-1] != marker_reply):
            packets += [
                ev.payload for ev in reader.feed(sock.recv(65536)) if ev.kind == "packet"
            ]
        assert len(packets) >= 2 and packets[-1].startswith(b"m<?xml"), packets[-3:]
        assert (
            packets[-2][:1] in (b"T", b"W")
            and b"thread:" in packets[-2]
            or packets[-2][:1] == b"W"
        ), packets[-2]
        assert sent == 10_000 and replies > 1000
    finally:
        sock.close()
    assert not server.errors


def test_a_nak_from_the_client_gets_the_reply_again(client):
    client.send("qC")  # acknowledged by the stub …
    ev = client._next_event()
    assert ev.kind == "packet" and ev.payload == b"QC01"
    client.send_raw(b"-")  # … and we claim its reply arrived damaged
    assert client.receive() == "QC01"
