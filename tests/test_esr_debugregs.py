"""DBGBCR/DBGWCR decoding, its picture and CLI, and the debug-exception presets (issue 11).

Oracles: QEMU's ``kvm_arm_hw_debug_insert_breakpoint``/``_watchpoint`` write E, PMC/PAC =
0b11, BAS (and LSC) and nothing else, so ``hbreak`` is DBGBCR 0x1e7 and an 8-byte ``watch``
is DBGWCR 0x1ff7; field positions are the Arm ARM's register descriptions
"DBGBCR<n>_EL1, Debug Breakpoint Control Registers" and "DBGWCR<n>_EL1, Debug Watchpoint
Control Registers".
"""

from __future__ import annotations

import io
import json

import pytest

from armbp import esr, pictures
from armbp.esr import debugregs
from armbp.esr.cli import main
from armbp.esr.presets import PRESETS, by_name


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = main(list(argv), stdin=io.StringIO(""), stdout=out, stderr=err)
    return rc, out.getvalue(), err.getvalue()


def values(control: debugregs.DebugControl) -> dict[str, int]:
    return {f.name: f.value for f in control.fields if f.name != "RES0"}


def test_dbgbcr_fields_sit_where_the_arm_arm_puts_them():
    # every named field set to a distinct value: each lands in its own bits only
    value = 1 | 0b10 << 1 | 0b1010 << 5 | 1 << 13 | 0b01 << 14 | 0b0110 << 16 | 0b0011 << 20
    c = debugregs.decode_dbgbcr(value)
    assert values(c) == {
        "E": 1,
        "PMC": 0b10,
        "BAS": 0b1010,
        "HMC": 1,
        "SSC": 0b01,
        "LBN": 0b0110,
        "BT": 0b0011,
    }
    spans = {f.name: (f.msb, f.lsb) for f in c.fields if f.name != "RES0"}
    assert spans == {
        "BT": (23, 20),
        "LBN": (19, 16),
        "SSC": (15, 14),
        "HMC": (13, 13),
        "BAS": (8, 5),
        "PMC": (2, 1),
        "E": (0, 0),
    }
    # the fields cover bits 63..0 exactly once, in order
    covered = [b for f in c.fields for b in range(f.msb, f.lsb - 1, -1)]
    assert covered == list(range(63, -1, -1))


def test_dbgwcr_fields_sit_where_the_arm_arm_puts_them():
    value = (
        (1 | 0b01 << 1 | 0b11 << 3 | 0b00111100 << 5 | 1 << 13 | 0b10 << 14 | 0b0101 << 16)
        | 1 << 20
        | 0b00111 << 24
    )
    c = debugregs.decode_dbgwcr(value)
    assert values(c) == {
        "E": 1,
        "PAC": 0b01,
        "LSC": 0b11,
        "BAS": 0b00111100,
        "HMC": 1,
        "SSC": 0b10,
        "LBN": 0b0101,
        "WT": 1,
        "MASK": 0b00111,
    }
    covered = [b for f in c.fields for b in range(f.msb, f.lsb - 1, -1)]
    assert covered == list(range(63, -1, -1))


def test_what_qemu_writes_for_hbreak_and_watch_reads_plainly():
    c = debugregs.decode_dbgbcr(0x1E7)
    assert c.summary == (
        "enabled hardware breakpoint: unlinked instruction address match, at EL1 and EL0"
    )
    assert c.warnings == ()
    assert "whole A64 instruction" in c.field("BAS").meaning
    assert "EL0" in debugregs.decode_dbgbcr(0x1E5).summary.split("at ")[-1]
    assert debugregs.decode_dbgbcr(0x1E5).summary.endswith("at EL0")

    lsc = {v: debugregs.decode_dbgwcr(v).field("LSC").value for v in (0x1FF7, 0x1FEF, 0x1FFF)}
    assert lsc == {0x1FF7: 0b10, 0x1FEF: 0b01, 0x1FFF: 0b11}  # watch, rwatch, awatch
    w = debugregs.decode_dbgwcr(0x1E0F)  # rwatch on the upper 4 bytes of a doubleword
    assert w.field("BAS").value == 0b11110000
    assert "bytes 4..7" in w.field("BAS").meaning and "load" in w.field("LSC").meaning
    assert w.summary == "enabled watchpoint: load of 4 byte(s), at EL1 and EL0"
    big = debugregs.decode_dbgwcr(0x0C00_1FFF)  # awatch on an aligned 4 KiB page
    assert big.field("MASK").value == 12 and "4096-byte" in big.summary
    assert big.warnings == ()


@pytest.mark.parametrize(
    ("decoder", "value", "needle"),
    [
        (debugregs.decode_dbgbcr, 0x1 | 0b11 << 1 | 0b0011 << 5, "BAS is 0b0011"),
        (debugregs.decode_dbgbcr, 0x1E7 | 1 << 40, "RES0 bits [63:24]"),
        (debugregs.decode_dbgwcr, 0x1FE1, "LSC is 0b00"),
        (debugregs.decode_dbgwcr, 1 | 3 << 1 | 2 << 3 | 0b101 << 5, "not contiguous"),
        (debugregs.decode_dbgwcr, 1 | 3 << 1 | 2 << 3 | 0xFF << 5 | 2 << 24, "reserved"),
        (debugregs.decode_dbgwcr, 1 | 3 << 1 | 2 << 3 | 0x0F << 5 | 12 << 24, "BAS must be"),
    ],
)
def test_values_a_debugger_must_not_write_are_warned_about(decoder, value, needle):
    c = decoder(value)
    assert any(needle in w for w in c.warnings), c.warnings


def test_bad_values_and_arguments_are_named():
    for bad in (-1, 1 << 64, "0x1e7", True):
        with pytest.raises(ValueError, match="DBGBCR value"):
            debugregs.decode_dbgbcr(bad)
    with pytest.raises(KeyError, match="expected one of BT, LBN"):
        debugregs.decode_dbgbcr(0x1E7).field("MASK")


def test_cli_decodes_a_dbgbcr_and_a_dbgwcr():
    rc, out, err = run("--dbgbcr", "0x1e5")
    assert rc == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "DBGBCR = 0x00000000000001e5"
    assert lines[1].strip().endswith("at EL0")
    pmc = next(line for line in lines if " PMC " in line)
    assert pmc.split()[:4] == ["2:1", "PMC", "0x2", "10"]
    rc, out, _ = run("--json", "--dbgwcr", "1ff7")  # bare hex, as for ESR values
    doc = json.loads(out)
    assert rc == 0 and doc["register"] == "DBGWCR" and doc["value"] == 0x1FF7
    assert {f["name"]: f["value"] for f in doc["fields"]}["LSC"] == 0b10


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (("--dbgbcr",), "takes one value, got 0"),
        (("--dbgbcr", "1", "2"), "takes one value, got 2"),
        (("--dbgwcr", "zz"), "--dbgwcr 'zz' is not a register value"),
        (("--preset", "nope"), "no preset 'nope': expected one of brk"),
        (("--preset",), "--preset takes names only"),
    ],
)
def test_cli_bad_register_or_preset_input_is_named(argv, needle):
    rc, out, err = run(*argv)
    assert rc == 2 and out == "" and needle in err


def test_debug_exception_presets_are_the_real_values():
    by = {p.name: p.value for p in PRESETS}
    assert by["hbreak"] == 0xC200_0022  # EC 0x30, IL, IFSC 0x22 (QEMU syn_breakpoint)
    assert by["step"] == 0xCB00_0022  # EC 0x32, ISV
    assert by["step-ldxr"] == 0xCB00_0062  # ... and EX
    assert by["watch-write"] == 0xD200_0062  # EC 0x34, WnR
    assert by["watch-read"] == 0xD200_0022
    assert by["watch-cm"] == 0xD200_0162  # CM and WnR
    assert len(by) == len(PRESETS) and all(PRESETS[i].name for i in range(len(PRESETS)))
    assert len({p.value for p in PRESETS}) == len(PRESETS)


def test_debug_exception_presets_decode_their_fields():
    ex = {f.name: f.value for f in esr.decode(by_name("step-ldxr").value).fields}
    assert (ex["EC"], ex["ISV"], ex["EX"], ex["IFSC"]) == (0x32, 1, 1, 0x22)
    for name, wnr, cm in (("watch-write", 1, 0), ("watch-read", 0, 0), ("watch-cm", 1, 1)):
        s = esr.decode(by_name(name).value)
        f = {x.name: x.value for x in s.fields}
        assert (f["EC"], f["WnR"], f["CM"], f["FnV"], f["DFSC"]) == (0x34, wnr, cm, 0, 0x22)
        assert s.warnings == ()
    rc, out, _ = run("--preset", "watch-read")
    assert rc == 0 and "read: the access was a read" in out
    rc, out, _ = run("--presets")
    assert rc == 0 and "step-ldxr" in out and "0xcb000062" in out


def test_a_watchpoint_with_cm_but_not_wnr_is_warned_about():
    s = esr.decode(0xD200_0122)  # CM = 1, WnR = 0
    assert any("CM is 1 but WnR is 0" in w for w in s.warnings)


def test_picture_of_a_dbgbcr_has_a_box_per_field_and_readable_labels():
    fig = pictures.draw_debug_control(0x1E5)
    texts = [t for t in fig.findobj(match=lambda a: hasattr(a, "get_text"))]
    words = {t.get_text() for t in texts}
    for label in ("BT", "LBN", "SSC", "HMC", "BAS", "PMC", "E", "0b1111", "0b10"):
        assert label in words, label
    title = next(w for w in words if w.startswith("DBGBCR"))
    assert title == (
        "DBGBCR 0x000001e5: enabled hardware breakpoint: unlinked instruction address "
        "match, at EL0"
    )
    px = fig.dpi / 72
    sizes = [t.get_fontsize() * px for t in texts if t.get_text() in {"BAS", "PMC", "E"}]
    assert sizes and min(sizes) >= 10
    assert "<svg" in pictures.to_svg(fig)
    wide = pictures.draw_debug_control(debugregs.decode_dbgwcr(0x1FF7 | 1 << 40))
    assert any(
        t.get_text() == "63" for t in wide.findobj(match=lambda a: hasattr(a, "get_text"))
    )
    with pytest.raises(ValueError, match="register 'DBGXCR'"):
        pictures.draw_debug_control(0, "DBGXCR")


@pytest.mark.parametrize(
    ("address", "size", "kind", "lsc", "bytes_"),
    [
        (0x41000, 8, "write", 0b10, "bytes 0..7"),
        (0x41004, 4, "read", 0b01, "bytes 4..7"),
        (0x41003, 1, "access", 0b11, "byte 3"),
    ],
)
def test_the_decoder_reads_what_the_debugger_writes(address, size, kind, lsc, bytes_):
    """The debugger's own slot values (armbp.hwdebug), read back field by field."""
    from armbp.hwdebug import HwBreakpoint, Watchpoint

    bcr = debugregs.decode_dbgbcr(HwBreakpoint(0, 0x40010).bcr)
    assert bcr.value == 0x1E7 and bcr.warnings == ()
    wcr, wvr = Watchpoint(1, address, size, kind).registers()
    c = debugregs.decode_dbgwcr(wcr)
    assert wvr == address & ~7 and c.warnings == ()
    assert c.field("LSC").value == lsc and bytes_ in c.field("BAS").meaning
    assert c.field("E").value == 1 and c.field("PAC").value == 0b11
