"""The one register table: g/G, p/P and target.xml all come from ``armbp.gdb.registers``."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from armbp import Debugger, assemble
from armbp.gdb import registers as regs
from armbp.gdb.packets import GdbStub
from armbp.gdb.schema import BadPacket
from armbp.gdb.target import DebuggerTarget

# Bits the vCPU keeps of each register a test writes (the rest of fpsr/fpcr is RES0, and
# pstate's mode bits must stay EL1h for the guest to stay where it is).
WRITABLE = {"fpsr": 0xF800_009F, "fpcr": 0x07F7_0000, "cpsr": 0xF000_0000}


@pytest.fixture
def stub():
    return GdbStub(DebuggerTarget(Debugger(assemble("_start: nop\n        hvc #0\n"))))


def test_the_table_is_numbered_by_position_and_split_into_core_and_fpu():
    assert [r.regnum for r in regs.REGISTERS] == list(range(regs.N_REGS)) and regs.N_REGS == 68
    assert [r.name for r in regs.CORE] == [f"x{i}" for i in range(31)] + ["sp", "pc", "cpsr"]
    assert regs.G_DIGITS == 2 * (33 * 8 + 4)
    assert (
        regs.REG_SP,
        regs.REG_PC,
        regs.REG_CPSR,
        regs.REG_V0,
        regs.REG_FPSR,
        regs.REG_FPCR,
    ) == (31, 32, 33, 34, 66, 67)
    with pytest.raises(ValueError, match="no register number 68: expected 0..67"):
        regs.register(68)


def test_the_table_reads_exactly_the_vcpus_register_names():
    """Every source is a name the vCPU knows, and every GDB register of it is in the table."""
    from armbp.kvm.abi import FP_REGISTER_NAMES, REGISTER_NAMES

    assert [r.source for r in regs.REGISTERS] == list(REGISTER_NAMES + FP_REGISTER_NAMES)


def test_target_xml_lists_exactly_the_table():
    root = ET.fromstring(
        regs.TARGET_XML.split("?>", 1)[1].split(">", 1)[1]
    )  # past the DOCTYPE
    assert root.find("architecture").text == "aarch64"
    listed = [
        (
            f.get("name"),
            r.get("name"),
            int(r.get("bitsize")),
            int(r.get("regnum")),
            r.get("type"),
            r.get("group"),
        )
        for f in root.findall("feature")
        for r in f.findall("reg")
    ]
    assert listed == [
        (r.feature, r.name, r.bitsize, r.regnum, r.type, r.group) for r in regs.REGISTERS
    ]
    types = {e.get("id") for e in root.iter() if e.tag in ("vector", "union")}
    assert {r.type for r in regs.REGISTERS if r.type and not r.type.endswith("_ptr")} <= types


def test_a_register_given_a_group_says_so_in_its_xml():
    reg = regs.Register("x0", 64, 0, regs.CORE_FEATURE, group="general", source="x0")
    assert reg.xml() == '<reg name="x0" bitsize="64" group="general" regnum="0"/>'


core_values = st.tuples(*[st.integers(0, r.mask) for r in regs.CORE]).map(list)


@given(core_values)
def test_g_round_trips_through_the_encoding(values):
    digits = regs.encode_g(values)
    assert len(digits) == regs.G_DIGITS
    assert regs.decode_g(digits) == values
    assert regs.decode_g(digits + "00" * 16) == values  # FP registers after: ignored


@pytest.mark.parametrize("digits", ["", "00" * 10, "zz" * (regs.G_DIGITS // 2)])
def test_g_decoding_refuses_short_or_non_hex_bodies(digits):
    with pytest.raises(BadPacket):
        regs.decode_g(digits)


def test_g_and_G_over_a_debugger_round_trip(stub):
    dbg = stub.target.dbg
    before = stub.handle(b"g")
    values = regs.decode_g(before)
    values[5], values[regs.REG_CPSR] = 0x1122_3344_5566_7788, values[regs.REG_CPSR] | 1 << 31
    assert stub.handle(b"G" + regs.encode_g(values).encode()) == "OK"
    assert dbg.read_register("x5") == 0x1122_3344_5566_7788
    assert dbg.read_register("pstate") >> 31 == 1
    assert regs.decode_g(stub.handle(b"g")) == values


@pytest.mark.parametrize("reg", regs.REGISTERS, ids=lambda r: r.name)
def test_p_and_P_for_every_register(stub, reg):
    """P writes the register's source through the Debugger, p reads it back, both in
    little-endian hex of the register's size; the rest of a wider source is kept."""
    dbg = stub.target.dbg
    value = int.from_bytes(bytes(range(7, 7 + reg.size)), "little") & WRITABLE.get(
        reg.name, reg.mask
    )
    if reg.name == "pc":
        value &= ~3
    source_before = dbg.read_register(reg.source)
    assert stub.handle(f"P{reg.regnum:x}={reg.encode(value)}".encode()) == "OK", stub.notes
    assert stub.handle(f"p{reg.regnum:x}".encode()) == reg.encode(value)
    assert len(reg.encode(value)) == 2 * reg.size
    if reg.partial:
        assert dbg.read_register(reg.source) == (source_before & ~reg.mask) | value
    else:
        assert dbg.read_register(reg.source) == value
    assert stub.handle(f"P{reg.regnum:x}={reg.encode(value)}00".encode()) == "E22"  # too long


def test_p_and_P_refuse_a_number_past_the_table(stub):
    assert stub.handle(f"p{regs.N_REGS:x}".encode()) == "E22"
    assert stub.handle(f"P{regs.N_REGS:x}=00000000".encode()) == "E22"
