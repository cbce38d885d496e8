"""The packet table: every row's schema turns malformed arguments into an E-reply."""

from __future__ import annotations

import pytest
from gdb.guests import COUNTER_SOURCE
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from armbp import Debugger, assemble
from armbp.gdb.packets import PACKETS, Close, GdbStub, Resume, lookup
from armbp.gdb.schema import BadPacket, Field, hex_int, schema, thread_id
from armbp.gdb.target import DebuggerTarget

PROGRAM = "_start: nop\n        nop\n        hvc #0\n"

# One malformed body per row (after its prefix); None: the row takes any text.
MALFORMED = {
    "?": None,
    "qSupported": None,
    "qXfer:": "features:read:target.xml:zz,10",
    "qAttached": None,
    "qAttached:": None,
    "qfThreadInfo": "x",
    "qsThreadInfo": "x",
    "qC": "x",
    "qThreadExtraInfo,": "pq.1",
    "qOffsets": "x",
    "QStartNoAckMode": "x",
    "QCatchSyscalls:": "2",
    "H": "xq",
    "T": "pq.1",
    "g": "00",
    "G": "0" * 10,
    "p": "zz",
    "P": "1=zz",
    "m": "400000",
    "M": "400000,2:0g0g",
    "X": "400000,1:}",
    "Z": "0,400000,2",
    "z": "9,400000,4",
    "c": "nothex",
    "s": "-1",
    "C": "zz",
    "S": "05;zz",
    "vCont?": "x",
    "vCont;": "q",
    "vFile:": "open:2f,zz,0",
    "vKill": None,
    "k": None,
    "D": None,
}


def _stub() -> GdbStub:
    return GdbStub(DebuggerTarget(Debugger(assemble(PROGRAM))))


def test_every_row_names_a_handler_and_is_found_by_its_prefix():
    stub = _stub()
    for row in PACKETS:
        assert callable(getattr(stub, row.handler)), row
        assert lookup(row.prefix) is row or lookup(row.prefix).prefix == row.prefix
    assert lookup("vMustReplyEmpty") is None and lookup("") is None
    assert lookup("vCont?").handler == "vcont_actions" and lookup("vCont;c").handler == "vcont"
    assert lookup("qAttachedX") is None and lookup("qAttached:1").handler == "q_attached"
    assert set(MALFORMED) == {row.prefix for row in PACKETS}


@pytest.mark.parametrize(
    "row", [r for r in PACKETS if MALFORMED[r.prefix] is not None], ids=lambda r: r.prefix
)
def test_each_row_answers_its_malformed_arguments_with_an_e_reply(row):
    """Rows that take arguments: a malformed one is an E-reply saying why. Exact rows:
    more text after the name is another packet, which the stub does not support."""
    stub = _stub()
    packet = row.prefix + MALFORMED[row.prefix]
    reply = stub.handle(packet.encode("latin-1"))
    if row.exact:
        assert lookup(packet) is None and reply == "", (packet, reply)
    else:
        assert lookup(packet) is row
        assert reply == "E22", (packet, reply, stub.notes)
        assert any(n.startswith("malformed: ") for n in stub.notes), stub.notes


# Bodies made of what RSP arguments are made of, so that most of them nearly parse.
bodies = st.text(alphabet="0123456789abcdefxp.,:;=-}#$*gcsqS \x00\xff", max_size=40)


@pytest.mark.parametrize("row", PACKETS, ids=lambda r: r.prefix)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies)
def test_no_body_makes_a_row_raise_or_fail_inside(row, body):
    """Random arguments after each prefix: a reply, a run or a close; never an internal
    error (E01 is what the stub answers for an exception it did not expect)."""
    stub = _stub()
    result = stub.handle((row.prefix + body).encode("latin-1"))
    assert isinstance(result, (str, Resume, Close))
    assert result != "E01" and not any("internal error" in n for n in stub.notes), (
        row.prefix + body,
        stub.notes,
    )


def test_a_schema_splits_fields_at_their_separators():
    s = schema(
        Field("addr", hex_int),
        Field("length", hex_int, ","),
        Field("tail", str, ":", optional=True),
    )
    assert s.parse("10,4") == {"addr": 16, "length": 4, "tail": None}
    assert s.parse("10,4:ab") == {"addr": 16, "length": 4, "tail": "ab"}
    for bad in ("", "10", "10;4", ",4", "10,", "10,4,5"):
        with pytest.raises(BadPacket):
            s.parse(bad)


def test_thread_ids_parse_to_pid_and_tid_with_none_for_all_or_any():
    assert thread_id("p1.2") == (1, 2) and thread_id("p-1.-1") == (None, None)
    assert thread_id("p1") == (1, None) and thread_id("0") == (None, None)
    assert thread_id("1f") == (None, 0x1F)
    for bad in ("", "p", "p.1", "px.1", "1.2"):
        with pytest.raises(BadPacket):
            thread_id(bad)


def _run_to_stop(stub: GdbStub) -> str:
    result = stub.handle(b"c")
    assert result == Resume(False)
    ev = stub.target.resume(False, 5.0)
    assert ev is not None
    return stub.stop_reply(ev)


def test_z1_over_a_real_debugger_stops_with_hwbreak_and_writes_no_brk():
    dbg = Debugger(assemble(COUNTER_SOURCE))
    stub = GdbStub(DebuggerTarget(dbg))
    assert "hwbreak+" in stub.handle(b"qSupported:swbreak+;hwbreak+").split(";")
    before = dbg.raw_memory(0x40004, 4)
    assert stub.handle(b"Z1,40004,4") == "OK", stub.notes
    assert dbg.raw_memory(0x40004, 4) == before
    assert _run_to_stop(stub) == "T05thread:01;hwbreak:;"
    assert dbg.pc == 0x40004
    assert stub.handle(b"z1,40004,4") == "OK" and dbg.hw_breakpoints == []


def test_z2_to_z4_over_a_real_debugger_stop_before_the_access_with_its_address():
    dbg = Debugger(assemble(COUNTER_SOURCE))
    stub = GdbStub(DebuggerTarget(dbg))
    assert dbg.watch_stop == "before"  # what gdb needs: it steps the access itself
    assert stub.handle(b"Z2,40018,8") == "OK", stub.notes
    assert _run_to_stop(stub) == "T05thread:01;watch:40018;"
    assert dbg.pc == 0x4000C  # the str, not yet executed
    assert dbg.read_memory(0x40018, 8) == bytes(8)
    assert stub.handle(b"z2,40018,8") == "OK"
    assert stub.handle(b"Z3,40018,8") == "OK"
    assert _run_to_stop(stub) == "T05thread:01;rwatch:40018;"
    assert dbg.pc == 0x40004  # the ldr of the next round
    for i in range(3):
        assert stub.handle(b"Z4,%x,1" % (0x40018 + i)) == "OK"
    assert stub.handle(b"Z4,4001b,1") == "E28"
    assert "all 4 watchpoint slots are in use" in stub.notes[0]
