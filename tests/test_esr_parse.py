"""armbp.esr.parse: numbers as people type them, and syndromes quoted by kernel logs."""
from __future__ import annotations

import pytest

from armbp.esr import parse

# Trimmed from a public oops (Linux 5.15 on QEMU virt, "faulty" driver): the ESR appears in
# the abort dump and again in the Internal error line; it is reported once.
OOPS = """\
[  137.054090] Unable to handle kernel NULL pointer dereference at virtual address 0000000000000000
[  137.057762] Mem abort info:
[  137.057933]   ESR = 0x0000000096000045
[  137.058374]   EC = 0x25: DABT (current EL), IL = 32 bits
[  137.058719]   SET = 0, FnV = 0
[  137.059171]   FSC = 0x05: level 1 translation fault
[  137.059700]   ISV = 0, ISS = 0x00000045
[  137.060798] [0000000000000000] pgd=0000000000000000, p4d=0000000000000000
[  137.062712] Internal error: Oops: 0000000096000045 [#1] PREEMPT SMP
"""


@pytest.mark.parametrize("text, values", [
    ("0x96000045", [0x96000045]),
    ("0X9600_0045", [0x96000045]),
    ("f2000800", [0xF2000800]),               # bare hex, as "Internal error" prints it
    ("96000045", [0x96000045]),               # 8 digits: the kernel's %08x width
    ("0000000096000045", [0x96000045]),       # 16 digits: %016lx
    ("4060088320", [0xF2000800]),             # decimal
    ("34", [34]),
    ("0b101", [5]),
    ("  0x1, 0x2;0x3 \n", [1, 2, 3]),
    ("0xffffffffffffffff", [(1 << 64) - 1]),
    # the shapes the kernel prints (each quoted from a public log)
    ("ESR = 0x0000000096000045", [0x96000045]),
    ("  ESR = 0x86000007", [0x86000007]),                              # pre-5.x short form
    ("Internal error: BRK handler: f2000800 [#1] PREEMPT SMP", [0xF2000800]),
    ("Internal error: Oops: 96000045 [#1] PREEMPT SMP", [0x96000045]),
    ("Internal error: Oops - BUG: 00000000f2000800 [#1] SMP", [0xF2000800]),
    # the message itself may hold colons: the UBSAN handler names the check (shape of
    # arm64's die() line for a UBSAN BRK, as in public syzbot/kernelci reports)
    ("Internal error: UBSAN: array index out of bounds: 00000000f2005512 [#1] SMP",
     [0xF2005512]),
    ("Internal error: Oops: 96000045", [0x96000045]),               # line cut before [#n]
    ("Unhandled 64-bit el1h sync exception on CPU0, ESR 0x0000000034000002 -- BTI",
     [0x34000002]),
    ("sh[1]: unhandled level 0 translation fault (11) at 0x0, esr 0x92000004, in sh",
     [0x92000004]),
    ("kvm: ESR_EL2: 0x93c08007", [0x93C08007]),
    (OOPS, [0x96000045]),
    (OOPS + OOPS.replace("96000045", "8600000e"), [0x96000045, 0x8600000E]),
])
def test_parse(text, values):
    assert parse(text) == values


@pytest.mark.parametrize("text, fragment", [
    ("", "holds no ESR value"),
    ("hello", "'hello' holds no ESR value"),
    ("EC = 0x25: DABT (current EL)", "holds no ESR value"),   # not a syndrome by itself
    ("0x1_0000_0000_0000_0000", "does not fit an ESR"),
    ("-1", "does not fit an ESR"),
    ("0xzz", "holds no ESR value"),
])
def test_parse_errors_quote_the_input_and_say_what_was_expected(text, fragment):
    with pytest.raises(ValueError) as info:
        parse(text)
    message = str(info.value)
    assert fragment in message
    assert repr(text.strip()) in message
    assert "expected" in message


def test_parse_error_on_long_input_is_shortened():
    with pytest.raises(ValueError) as info:
        parse("x" * 500)
    assert len(str(info.value)) < 400
