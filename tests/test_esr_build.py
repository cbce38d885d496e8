"""Builders of armbp.esr: known values and argument checking.

Expected values are worked out by hand from the Arm ARM (DDI 0487, ESR_ELx: EC table and the
"ISS encoding for ..." sections) and agree with what QEMU's target/arm/syndrome.h produces
for the same exceptions (syn_aa64_bkpt, syn_aa64_svc, syn_swstep, syn_breakpoint,
syn_watchpoint, syn_data_abort_*).
"""

from __future__ import annotations

import pytest

from armbp import esr
from armbp.esr import EC


def test_ec_members_fixed_by_the_interface():
    expected = {
        "UNKNOWN": 0x00,
        "WFX": 0x01,
        "CP15_32": 0x03,
        "CP15_64": 0x04,
        "CP14_MR": 0x05,
        "CP14_LS": 0x06,
        "FP_ASIMD": 0x07,
        "CP10_ID": 0x08,
        "PAC": 0x09,
        "LS64": 0x0A,
        "CP14_64": 0x0C,
        "BTI": 0x0D,
        "ILL": 0x0E,
        "SVC32": 0x11,
        "HVC32": 0x12,
        "SMC32": 0x13,
        "SVC64": 0x15,
        "HVC64": 0x16,
        "SMC64": 0x17,
        "SYS64": 0x18,
        "SVE": 0x19,
        "ERET": 0x1A,
        "FPAC": 0x1C,
        "SME": 0x1D,
        "IMP_DEF": 0x1F,
        "IABT_LOW": 0x20,
        "IABT_CUR": 0x21,
        "PC_ALIGN": 0x22,
        "DABT_LOW": 0x24,
        "DABT_CUR": 0x25,
        "SP_ALIGN": 0x26,
        "MOPS": 0x27,
        "FP_EXC32": 0x28,
        "FP_EXC64": 0x2C,
        "SERROR": 0x2F,
        "BREAKPT_LOW": 0x30,
        "BREAKPT_CUR": 0x31,
        "SOFTSTP_LOW": 0x32,
        "SOFTSTP_CUR": 0x33,
        "WATCHPT_LOW": 0x34,
        "WATCHPT_CUR": 0x35,
        "BKPT32": 0x38,
        "VECTOR32": 0x3A,
        "BRK64": 0x3C,
        "GCS": 0x2D,
        "GPC": 0x1E,
    }
    for name, value in expected.items():
        assert EC[name] == value, name
    assert all(ec in esr.EC_INFO for ec in EC)


@pytest.mark.parametrize(
    "build, value",
    [
        # DESIGN.md / QEMU syn_aa64_bkpt: BRK #imm16 -> 0xf2000000 | imm16
        (lambda: esr.brk(), 0xF200_0000),
        (lambda: esr.brk(0x800), 0xF200_0800),  # Linux BUG(): "BRK handler: f2000800"
        (lambda: esr.brk(imm16=0xF000), 0xF200_F000),  # LLDB's breakpoint
        (lambda: esr.svc(), 0x5600_0000),
        (lambda: esr.svc(imm16=0x1234), 0x5600_1234),
        (lambda: esr.hvc(), 0x5A00_0000),
        (lambda: esr.hvc(0xFFFF), 0x5A00_FFFF),
        (lambda: esr.smc(), 0x5E00_0000),
        (lambda: esr.smc(imm16=1), 0x5E00_0001),
        (lambda: esr.unknown(), 0x0200_0000),
        (lambda: esr.bkpt32(0x12), 0xE200_0012),  # A32 BKPT #0x12 (DESIGN.md, Unicorn)
        (lambda: esr.bkpt32(0x12, il=False), 0xE000_0012),  # T32 16-bit BKPT: IL = 0
        # EC 0x30/0x31 << 26 | IL | IFSC 0x22
        (lambda: esr.breakpoint(), 0xC200_0022),
        (lambda: esr.breakpoint(same_el=True), 0xC600_0022),
        # EC 0x32 | IL | ISV | IFSC 0x22: the value DESIGN.md quotes for a step seen from KVM
        (lambda: esr.software_step(), 0xCB00_0022),
        (lambda: esr.software_step(same_el=True), 0xCF00_0022),
        (lambda: esr.software_step(isv=False), 0xCA00_0022),
        (lambda: esr.software_step(ex=True), 0xCB00_0062),
        # EC 0x34/0x35 | IL | WnR(6) | CM(8) | DFSC 0x22
        (lambda: esr.watchpoint(), 0xD200_0022),
        (lambda: esr.watchpoint(same_el=True, wnr=True), 0xD600_0062),
        (lambda: esr.watchpoint(cm=True), 0xD200_0122),
        (lambda: esr.watchpoint(wpt=3), 0xD200_0022 | 3 << 18 | 1 << 17),
        (lambda: esr.watchpoint(gcs=True), 0x1_0000_0000 << 8 | 0xD200_0022),
        # Linux "Unable to handle kernel paging request": ESR = 0x0000000096000045
        # = DABT (current EL), IL, WnR, DFSC 0x05 (translation fault, level 1)
        (lambda: esr.data_abort(same_el=True, dfsc=0x05, wnr=True), 0x9600_0045),
        (lambda: esr.data_abort(same_el=True, dfsc=esr.fsc_translation(2)), 0x9600_0006),
        (lambda: esr.data_abort(dfsc=esr.fsc_permission(3), wnr=True), 0x9200_004F),
        # KVM MMIO exit: ISV, SAS=2 (word), SRT=x1, WnR, stage-2 translation fault level 3
        (
            lambda: esr.data_abort(dfsc=0x07, isv=True, sas=2, srt=1, wnr=True),
            0x9200_0047 | 1 << 24 | 2 << 22 | 1 << 16,
        ),
        (
            lambda: esr.data_abort(isv=True, sf=True, ar=True, sse=True, srt=31, dfsc=0x04),
            0x9200_0004 | 1 << 24 | 1 << 21 | 31 << 16 | 1 << 15 | 1 << 14,
        ),
        (
            lambda: esr.data_abort(
                dfsc=esr.FSC_SEA, ea=True, fnv=True, cm=True, wnr=True, s1ptw=True
            ),
            0x9200_0010 | 1 << 10 | 1 << 9 | 1 << 8 | 1 << 7 | 1 << 6,
        ),
        (
            lambda: esr.data_abort(dfsc=0x0F, xs=7, overlay=True, dirty_bit=True),
            (7 | 1 << 6 | 1 << 5) << 32 | 0x9200_000F,
        ),
        (
            lambda: esr.data_abort(
                dfsc=0x0F, tnd=True, tag_access=True, gcs=True, assured_only=True
            ),
            (1 << 10 | 1 << 9 | 1 << 8 | 1 << 7) << 32 | 0x9200_000F,
        ),
        (lambda: esr.data_abort(isv=True, il=False, dfsc=0x07), 0x9100_0007),
        (lambda: esr.instruction_abort(), 0x8200_0007),
        (lambda: esr.instruction_abort(same_el=True, ifsc=0x0F), 0x8600_000F),
        (
            lambda: esr.instruction_abort(ifsc=0x10, ea=True, s1ptw=True, fnv=True, set_=2),
            0x8200_0010 | 2 << 11 | 1 << 10 | 1 << 9 | 1 << 7,
        ),
        (lambda: esr.instruction_abort(overlay=True, assured_only=True), 0xC0_8200_0007),
        # WFx: EC 0x01 << 26 | IL | CV (bit 24) | COND 0b1110 (23:20) | TI (1:0)
        (lambda: esr.wfx(), 0x0400_0000 | 1 << 25 | 1 << 24 | 0xE << 20),
        (lambda: esr.wfx(ti=1), 0x07E0_0001),
    ],
)
def test_known_values(build, value):
    assert build() == value


def test_fault_status_codes_by_level():
    assert [esr.fsc_address_size(n) for n in (-1, 0, 1, 2, 3)] == [0x29, 0, 1, 2, 3]
    assert [esr.fsc_translation(n) for n in (-1, 0, 1, 2, 3)] == [0x2B, 4, 5, 6, 7]
    assert [esr.fsc_access_flag(n) for n in (0, 1, 2, 3)] == [8, 9, 10, 11]
    assert [esr.fsc_permission(n) for n in (0, 1, 2, 3)] == [12, 13, 14, 15]
    with pytest.raises(ValueError, match="level -1 is out of range: expected 0..3"):
        esr.fsc_permission(-1)


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: esr.brk(0x10000), ["imm16=65536", "0..0xffff"]),
        (lambda: esr.brk(-1), ["imm16=-1", "0..0xffff"]),
        (lambda: esr.svc("1"), ["imm16='1'", "not an integer"]),
        (lambda: esr.data_abort(dfsc=0x40), ["dfsc=64", "0..0x3f"]),
        (lambda: esr.data_abort(isv=True, sas=4), ["sas=4", "0..0x3"]),
        (lambda: esr.data_abort(isv=True, srt=32), ["srt=32", "0..0x1f"]),
        (lambda: esr.data_abort(srt=3), ["isv=False"]),
        (lambda: esr.data_abort(il=False), ["il=False", "ISV is 0"]),
        (lambda: esr.data_abort(cm=True), ["wnr=False", "cm=True"]),
        (lambda: esr.data_abort(xs=32), ["xs=32"]),
        (lambda: esr.instruction_abort(ifsc=64), ["ifsc=64", "0..0x3f"]),
        (lambda: esr.watchpoint(wpt=64), ["wpt=64", "0..0x3f"]),
        (lambda: esr.watchpoint(wnr=2), ["wnr=2", "bool"]),
        (lambda: esr.software_step(isv=False, ex=True), ["ex=True", "isv=False"]),
        (lambda: esr.breakpoint(same_el=5), ["same_el=5"]),
    ],
)
def test_out_of_range_arguments_name_the_argument(call, words):
    with pytest.raises(ValueError) as info:
        call()
    for word in words:
        assert word in str(info.value)


def test_builders_return_plain_ints():
    for value in (esr.brk(), esr.svc(), esr.data_abort(), esr.watchpoint()):
        assert type(value) is int


def test_builders_decode_without_warnings():
    values = [
        esr.brk(0x800),
        esr.svc(1),
        esr.hvc(),
        esr.smc(),
        esr.unknown(),
        esr.bkpt32(),
        esr.breakpoint(),
        esr.software_step(),
        esr.watchpoint(wnr=True),
        esr.data_abort(),
        esr.data_abort(isv=True, sas=3, srt=2, sf=True),
        esr.instruction_abort(),
        esr.sys64(3, 3, 13, 0, 2, rt=4),
    ]
    for value in values:
        assert esr.decode(value).warnings == (), hex(value)
