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


@pytest.mark.parametrize(
    "text, values",
    [
        ("0x96000045", [0x96000045]),
        ("0X9600_0045", [0x96000045]),
        ("f2000800", [0xF2000800]),  # bare hex, as "Internal error" prints it
        ("96000045", [0x96000045]),  # 8 digits: the kernel's %08x width
        ("0000000096000045", [0x96000045]),  # 16 digits: %016lx
        ("4060088320", [0xF2000800]),  # decimal
        ("34", [34]),
        ("0b101", [5]),
        ("  0x1, 0x2;0x3 \n", [1, 2, 3]),
        ("0xffffffffffffffff", [(1 << 64) - 1]),
        # the shapes the kernel prints (each quoted from a public log)
        ("ESR = 0x0000000096000045", [0x96000045]),
        ("  ESR = 0x86000007", [0x86000007]),  # pre-5.x short form
        ("Internal error: BRK handler: f2000800 [#1] PREEMPT SMP", [0xF2000800]),
        ("Internal error: Oops: 96000045 [#1] PREEMPT SMP", [0x96000045]),
        ("Internal error: Oops - BUG: 00000000f2000800 [#1] SMP", [0xF2000800]),
        # the message itself may hold colons: the UBSAN handler names the check (shape of
        # arm64's die() line for a UBSAN BRK, as in public syzbot/kernelci reports)
        (
            "Internal error: UBSAN: array index out of bounds: 00000000f2005512 [#1] SMP",
            [0xF2005512],
        ),
        ("Internal error: Oops: 96000045", [0x96000045]),  # line cut before [#n]
        (
            "Unhandled 64-bit el1h sync exception on CPU0, ESR 0x0000000034000002 -- BTI",
            [0x34000002],
        ),
        (
            "sh[1]: unhandled level 0 translation fault (11) at 0x0, esr 0x92000004, in sh",
            [0x92000004],
        ),
        ("kvm: ESR_EL2: 0x93c08007", [0x93C08007]),
        (OOPS, [0x96000045]),
        (OOPS + OOPS.replace("96000045", "8600000e"), [0x96000045, 0x8600000E]),
    ],
)
def test_parse(text, values):
    assert parse(text) == values


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "holds no ESR value"),
        ("hello", "'hello' holds no ESR value"),
        ("EC = 0x25: DABT (current EL)", "holds no ESR value"),  # not a syndrome by itself
        ("0x1_0000_0000_0000_0000", "does not fit an ESR"),
        ("-1", "does not fit an ESR"),
        ("0xzz", "holds no ESR value"),
    ],
)
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


# --- malformed numbers: a clear error, never Python's own ------------------------------------
from hypothesis import given, settings
from hypothesis import strategies as st

from armbp.esr.parse import EsrParseError


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("0x_", "'0x_' has no digits after '0x': expected hex digits"),
        ("0b_", "'0b_' has no digits after '0b': expected binary digits"),
        (
            "0b12",
            "'2' is not a binary digit: expected 0s and 1s after 0b (0x0b12 would be hex)",
        ),
        ("0B2", "'2' is not a binary digit"),
        ("ESR = 0x_", "'0x_' has no digits after '0x'"),
        ("1 0b2", "'0b2': '2' is not a binary digit"),
        ("9" * 5000, "a decimal number of 5000 digits does not fit an ESR"),
        ("0x" + "f" * 17, "a hex number of 17 digits does not fit an ESR"),
        ("0b1" + "0" * 64, "a binary number of 65 digits does not fit an ESR"),
    ],
)
def test_malformed_numbers_name_the_value_and_what_was_expected(text, fragment):
    with pytest.raises(EsrParseError) as info:
        parse(text)
    message = str(info.value)
    assert fragment in message and "expected" in message
    assert "invalid literal" not in message and "\n" not in message


@pytest.mark.parametrize(
    "text, values",
    [
        ("0x" + "0" * 40 + "5", [5]),  # leading zeros do not count against the width
        ("0b" + "1" * 64, [(1 << 64) - 1]),
        ("0b_1_0", [2]),
        ("18446744073709551615", [(1 << 64) - 1]),
    ],
)
def test_long_but_fitting_numbers(text, values):
    assert parse(text) == values


NUMBERISH = st.text(alphabet="0123456789abcdefABCDEFxXbB_+-, ;\n:=#[]", max_size=40)
KERNELISH = st.builds(
    lambda head, body: head + body,
    st.sampled_from(
        ["", "ESR = ", "ESR_EL2: ", "esr ", "ESR ", "Internal error: Oops: ", "0x", "0b", "-"]
    ),
    NUMBERISH,
)


@settings(max_examples=600, deadline=None)
@given(st.one_of(st.text(max_size=60), NUMBERISH, KERNELISH))
def test_parse_returns_values_or_raises_its_own_error(text):
    """Whatever the text: a list of 64-bit values, or EsrParseError (not int()'s errors)."""
    try:
        values = parse(text)
    except EsrParseError as exc:
        assert type(exc) is EsrParseError and str(exc)
        return
    assert values and all(isinstance(v, int) and 0 <= v < 1 << 64 for v in values)


def test_the_explorer_shows_the_parse_error():
    """The ESR explorer's text box says what was wrong, in parse's words."""
    import os

    os.environ.setdefault("MPLBACKEND", "Agg")
    from armbp.widgets.esr_explorer import EsrExplorer

    w = EsrExplorer(value=0x96000045)
    for text, fragment in [
        ("0x_", "no digits after &#x27;0x&#x27;: expected hex digits"),
        ("0b12", "not a binary digit"),
    ]:
        w.text.value = text
        assert fragment in w.error.value, w.error.value
        assert "invalid literal" not in w.error.value and w.value == 0x96000045
