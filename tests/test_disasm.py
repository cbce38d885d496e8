"""Listings over capstone: the original instruction where a breakpoint sits, marks, text."""

from __future__ import annotations

import dataclasses

import pytest

from armbp import encodings as enc
from armbp.asm import assemble
from armbp.disasm import ListingLine, disassemble_word, format_listing, listing

SRC = """\
_start: mov x0, #3
loop:   subs x0, x0, #1
        b.ne loop
        brk #0
"""


@pytest.fixture()
def prog():
    return assemble(SRC)


def _planted(prog, addr):
    """Memory with BRK #0 written at ``addr``, and the table's saved word."""
    mem = bytearray(prog.code)
    off = addr - prog.base
    saved = enc.from_bytes(mem[off : off + 4])
    mem[off : off + 4] = enc.to_bytes(enc.BRK0)
    return bytes(mem), {addr: saved}


@pytest.mark.parametrize(
    "word, address, text",
    [
        (0xD4200000, 0, "brk #0"),
        (0xD4201320, 0, "brk #0x99"),
        (0xD4000001, 0, "svc #0"),
        (0xD503201F, 0, "nop"),
        (0xD69F03E0, 0, "eret"),
        (0x54FFFFE1, 0x40008, "b.ne #0x40004"),  # targets are absolute
        (0x54FFFFE1, 0x1008, "b.ne #0x1004"),
        (0x00000000, 0, "udf #0"),
        (0xFFFFFFFF, 0, ".word 0xffffffff"),
    ],
)
def test_disassemble_word(word, address, text):
    assert disassemble_word(word, address) == text


@pytest.mark.parametrize("bad", [-1, 1 << 32, "0", True])
def test_disassemble_word_rejects_non_words(bad):
    with pytest.raises(ValueError, match="expected a 32-bit instruction word"):
        disassemble_word(bad)


def test_listing_plain(prog):
    lines = listing(prog.code, prog.base, program=prog)
    assert [ln.address for ln in lines] == [0x40000, 0x40004, 0x40008, 0x4000C]
    assert [ln.text for ln in lines] == [
        "mov x0, #3",
        "subs x0, x0, #1",
        "b.ne #0x40004",
        "brk #0",
    ]
    assert [ln.symbol for ln in lines] == ["_start", "loop", None, None]
    assert [ln.source.number for ln in lines] == [1, 2, 3, 4]
    assert not any(ln.is_breakpoint or ln.is_pc for ln in lines)
    assert all(ln.word == ln.memory_word for ln in lines)


def test_breakpoint_shows_the_original_instruction(prog):
    mem, bps = _planted(prog, 0x40004)
    lines = listing(mem, prog.base, breakpoints=bps, pc=0x40004, program=prog)
    hit = lines[1]
    assert hit.is_breakpoint and hit.is_pc
    assert hit.word == 0xF1000400 and hit.memory_word == enc.BRK0
    assert (hit.mnemonic, hit.op_str) == ("subs", "x0, x0, #1")
    # a guest's own BRK is not one of ours: shown as it is
    assert lines[3].text == "brk #0" and not lines[3].is_breakpoint


def test_format_listing_is_deterministic(prog):
    mem, bps = _planted(prog, 0x40004)
    text = format_listing(listing(mem, prog.base, breakpoints=bps, pc=0x40004, program=prog))
    assert text == (
        "     0x40000  d2800060  mov x0, #3              _start:\n"
        "=> * 0x40004  f1000400  subs x0, x0, #1         loop:\n"
        "     0x40008  54ffffe1  b.ne #0x40004\n"
        "     0x4000c  d4200000  brk #0"
    )


def test_format_listing_with_source(prog):
    text = format_listing(listing(prog.code, prog.base, program=prog), with_source=True)
    assert text.splitlines()[1] == (
        "     0x40004  f1000400  subs x0, x0, #1         loop:    | 2: loop:   subs x0, x0, #1"
    )
    assert text.splitlines()[2].endswith("| 3: b.ne loop")


def test_format_listing_of_nothing():
    assert format_listing([]) == ""


def test_undecodable_and_trailing_bytes():
    mem = bytes.fromhex("ffffffff") + bytes.fromhex("1f2003d5") + b"\x01\x02"
    lines = listing(mem, 0x1000)
    assert [(ln.mnemonic, ln.op_str) for ln in lines] == [(".word", "0xffffffff"), ("nop", "")]
    assert lines[0].symbol is None and lines[0].source is None


def test_breakpoints_outside_the_range_are_ignored(prog):
    lines = listing(prog.code, prog.base, breakpoints={0x9000: 0})
    assert not any(ln.is_breakpoint for ln in lines)


def test_misaligned_base_is_refused():
    with pytest.raises(ValueError, match="not 4-byte aligned"):
        listing(b"\0" * 8, 0x1002)


def test_listing_line_is_frozen(prog):
    line = listing(prog.code, prog.base)[0]
    assert isinstance(line, ListingLine)
    with pytest.raises(dataclasses.FrozenInstanceError):
        line.word = 0  # type: ignore[misc]


def test_first_label_wins_alphabetically_when_two_share_an_address():
    p = assemble("b: a: nop\n")
    assert listing(p.code, p.base, program=p)[0].symbol == "a"
