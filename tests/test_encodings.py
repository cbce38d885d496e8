"""Encodings against the values the Arm ARM gives (DESIGN.md) and against GNU as."""

from __future__ import annotations

import subprocess

import pytest
from conftest import require_tool
from hypothesis import given
from hypothesis import strategies as st

from armbp import encodings as enc


def test_brk0_is_what_gdb_and_qemu_write():
    assert enc.brk(0) == 0xD4200000 == enc.BRK0


@pytest.mark.parametrize(
    "fn, imm, word",
    [
        (enc.brk, 0x99, 0xD4201320),
        (enc.brk, 0xF000, 0xD43E0000),  # LLDB's BRK
        (enc.brk, 0x800, 0xD4210000),  # Linux BUG()
        (enc.svc, 0, 0xD4000001),
        (enc.hvc, 0, 0xD4000002),
        (enc.smc, 0, 0xD4000003),
        (enc.hlt, 0, 0xD4400000),
        (enc.udf, 0, 0x00000000),
    ],
)
def test_known_words(fn, imm, word):
    assert fn(imm) == word


@given(st.sampled_from(list(enc.Op)), st.integers(0, 0xFFFF))
def test_classify_and_imm_round_trip(op, imm):
    word = enc.encode(op, imm)
    assert enc.classify(word) is op
    assert enc.imm16_of(word) == imm
    assert enc.from_bytes(enc.to_bytes(word)) == word


@pytest.mark.parametrize("bad", [-1, 0x10000, 1.5, True, "0"])
def test_bad_immediate_names_the_value(bad):
    with pytest.raises(ValueError, match="out of range"):
        enc.brk(bad)


def test_non_exception_words_are_not_classified():
    assert enc.classify(enc.NOP) is None
    assert not enc.is_brk(0xD65F03C0)  # ret
    assert enc.is_brk(0xD4201320, 0x99) and not enc.is_brk(0xD4201320, 0)


def test_against_gnu_as(tmp_path):
    asm = require_tool("aarch64-linux-gnu-as", "binutils-aarch64-linux-gnu")
    objcopy = require_tool("aarch64-linux-gnu-objcopy", "binutils-aarch64-linux-gnu")
    cases = [
        ("brk #0", enc.brk(0)),
        ("brk #0x99", enc.brk(0x99)),
        ("brk #0xffff", enc.brk(0xFFFF)),
        ("svc #7", enc.svc(7)),
        ("hvc #0", enc.hvc(0)),
        ("smc #1", enc.smc(1)),
        ("hlt #0xf000", enc.hlt(0xF000)),
        ("udf #3", enc.udf(3)),
        ("nop", enc.NOP),
    ]
    src = tmp_path / "t.s"
    src.write_text("".join(f"{text}\n" for text, _ in cases))
    subprocess.run([asm, "-o", tmp_path / "t.o", src], check=True)
    subprocess.run(
        [objcopy, "-O", "binary", "-j", ".text", tmp_path / "t.o", tmp_path / "t.bin"],
        check=True,
    )
    data = (tmp_path / "t.bin").read_bytes()
    got = [enc.from_bytes(data[i : i + 4]) for i in range(0, len(data), 4)]
    assert [hex(w) for w in got] == [hex(w) for _, w in cases]
