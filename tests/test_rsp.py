"""RSP framing: checksums, escaping, run-length decoding, and the stream parser."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from armbp.gdb.client import RspError, StopReply
from armbp.gdb.framing import (
    Event,
    PacketReader,
    checksum,
    escape,
    frame,
    rle_decode,
    rle_encode,
    unescape,
)


def test_checksum_and_frame_match_the_protocol_examples():
    # '$?#3f' and '$g#67' are what GDB sends for '?' and 'g'
    assert frame("?") == b"$?#3f"
    assert frame(b"g") == b"$g#67"
    assert checksum(b"OK") == 0x9A
    assert frame("") == b"$#00"


def test_escape_covers_the_four_special_bytes():
    assert escape(b"#$}*a") == b"}\x03}\x04}]}\x0aa"
    assert unescape(escape(b"#$}*a")) == b"#$}*a"
    with pytest.raises(ValueError, match="lone escape"):
        unescape(b"ab}")


@given(st.binary(max_size=200))
def test_escape_round_trips_and_leaves_no_special_bytes(data):
    esc = escape(data)
    assert not set(esc) & set(b"#$*")
    assert unescape(esc) == data


def test_rle_decode_examples():
    # '0* ' is '0' and 3 more: 32 - 29 = 3
    assert rle_decode(b"0* ") == b"0000"
    assert rle_decode(b'ab*"c') == b"abbbbbbc"  # '"' = 34 → 5 more
    with pytest.raises(ValueError):
        rle_decode(b"*a")
    with pytest.raises(ValueError):
        rle_decode(b"a*")


@given(st.text(alphabet="0123456789abcdef", max_size=400))
def test_rle_encode_round_trips_and_avoids_forbidden_counts(text):
    data = text.encode()
    enc = rle_encode(data)
    assert rle_decode(enc) == data
    for i, b in enumerate(enc):
        if b == ord("*"):
            assert chr(enc[i + 1]) not in "#$+-"


def test_reader_splits_acks_packets_and_interrupts_across_chunks():
    r = PacketReader()
    stream = b"+$g#67-\x03$m4000,4#" + b"xx"[:0]
    events = []
    for i in range(len(stream)):
        events += r.feed(stream[i : i + 1])
    events += r.feed(b"%02x" % checksum(b"m4000,4"))
    assert [e.kind for e in events] == ["ack", "packet", "nak", "interrupt", "packet"]
    assert events[1].payload == b"g" and events[4].payload == b"m4000,4"


def test_reader_reports_bad_checksums_truncation_and_oversize():
    r = PacketReader(max_payload=8)
    assert r.feed(b"$g#00") == [Event("bad", b"g")]
    assert r.feed(b"$g#zz") == [Event("bad", b"g")]
    # a packet cut short by the start of the next one
    assert [e.kind for e in r.feed(b"$m40$g#67")] == ["bad", "packet"]
    big = b"x" * 100
    ev = r.feed(frame(big))
    assert ev[0].kind == "oversize" and len(ev[0].payload) == 8
    assert r.feed(b"noise$?#3f") == [Event("packet", b"?")]
    assert r.feed(b"%Stop:T05#00")[0].kind == "notification"


def test_reader_never_raises_on_random_bytes():
    rng = random.Random(1)
    r = PacketReader(max_payload=64)
    for _ in range(2000):
        chunk = bytes(
            rng.choice(b"$#+-\x03}*%0123456789abcdefgmMZz,:;")
            if rng.random() < 0.8
            else rng.randrange(256)
            for _ in range(rng.randrange(40))
        )
        for ev in r.feed(chunk):
            assert ev.kind in {
                "packet",
                "bad",
                "oversize",
                "ack",
                "nak",
                "interrupt",
                "notification",
            }
            assert len(ev.payload) <= 64
    # whatever state the noise left, a fresh packet is read (after at most one "bad")
    assert r.feed(b"$?#3f")[-1] == Event("packet", b"?")


@settings(max_examples=200)
@given(st.binary(max_size=300))
def test_any_escaped_payload_survives_the_reader(data):
    payload = escape(data)
    assert PacketReader(max_payload=1000).feed(frame(payload)) == [Event("packet", payload)]


def test_stop_reply_parsing():
    s = StopReply.parse("T05thread:p01.01;swbreak:;")
    assert (s.kind, s.value, s.fields, s.exited) == (
        "T",
        5,
        {"thread": "p01.01", "swbreak": ""},
        False,
    )
    w = StopReply.parse("W2a;process:1")
    assert w.exited and w.value == 42
    with pytest.raises(RspError):
        StopReply.parse("OK")
