"""The assembler's limits: whatever the text, a Program or an AsmError, never a crash.

Deep parentheses, long sums, long ``.equ`` chains, huge numbers and alignments, an open
``/*`` and labels that read as operators each have an explicit limit or none at all, and
an ``AsmError`` with the line and a caret where a limit is passed.
"""

from __future__ import annotations

import tracemalloc
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from armbp import Program
from armbp.asm import AsmError, AsmWarning, assemble
from armbp.asm.assembler import MAX_IMAGE
from armbp.asm.lexer import MAX_BITS, MAX_NESTING


def _error(source: str) -> AsmError:
    with pytest.raises(AsmError) as info:
        assemble(source)
    return info.value


def _value(expr: str) -> int:
    """What ``expr`` evaluates to, read back from a .quad."""
    return int.from_bytes(assemble(f".quad {expr}").code, "little", signed=True)


# ---------------------------------------------------------------- expressions


def test_parentheses_nest_up_to_the_limit():
    assert _value("(" * MAX_NESTING + "7" + ")" * MAX_NESTING) == 7


def test_deeper_parentheses_are_an_error_at_the_first_one_too_many():
    e = _error("mov x0, #" + "(" * 200 + "1" + ")" * 200)
    assert (e.line, e.column) == (1, 10 + MAX_NESTING)
    assert f"nested more than {MAX_NESTING} deep" in e.detail
    assert str(e).endswith("\n    " + " " * (9 + MAX_NESTING) + "^")


def test_a_thousand_term_sum_and_a_thousand_signs_have_no_limit():
    assert _value("+".join(["3"] * 1000)) == 3000
    assert _value("-" * 1001 + "5") == -5
    assert _value("~" * 1000 + "5") == 5
    assert _value(" - ".join(["1"] * 1000)) == 1 - 999


def test_a_long_equ_chain_in_either_order():
    forward = "\n".join(f".equ a{i}, a{i + 1} + 1" for i in range(300))
    assert assemble(f".quad a0\n{forward}\n.equ a300, 5").code == (305).to_bytes(8, "little")
    backward = "\n".join(f".equ b{i + 1}, b{i} + 1" for i in range(300))
    assert assemble(f".equ b0, 5\n{backward}\n.quad b300").code == (305).to_bytes(8, "little")
    # the chain waits for a label: resolved in the second pass
    chain = "\n".join(f".equ c{i}, c{i + 1} + 4" for i in range(300))
    prog = assemble(f"{chain}\n.equ c300, end\nadr x0, c0 - 1200\nend: nop")
    assert prog.code[:4] == assemble("adr x0, end\nend: nop").code[:4]


def test_an_equ_loop_is_named():
    e = _error(".equ a, b + 1\n.equ b, c\n.equ c, a\nmov x0, #a")
    assert (e.line, e.column) == (4, 10)
    assert "constant 'a' is defined in terms of itself (a -> b -> c -> a)" in e.detail


@pytest.mark.parametrize("number", ["9" * 5000, "0x" + "f" * 200, "0b" + "1" * 200])
def test_a_too_long_number_is_an_error(number):
    e = _error(f"nop\nmov x0, #{number}")
    assert (e.line, e.column) == (2, 10)
    assert f"is {len(number)} characters long" in e.detail
    assert f"at most {MAX_BITS} bits" in e.detail


def test_numbers_and_values_have_at_most_128_bits():
    assert _value(f"{(1 << MAX_BITS) - 1} >> {MAX_BITS - 8}") == 255
    e = _error(f"nop\n.quad {1 << MAX_BITS}")
    assert (e.line, e.column) == (2, 7) and "too large (129 bits)" in e.detail
    e = _error(".quad (1 << 127) * 4")
    assert e.column == 18 and "value of '*' is too large" in e.detail
    e = _error(".quad 1 << 128")
    assert "shift by 128 in expression: expected 0..127" in e.detail


# ---------------------------------------------------------------- the image


def _peak_bytes(source: str) -> int:
    """The most memory assembling ``source`` held at once (it must fail)."""
    tracemalloc.start()
    try:
        with pytest.raises(AsmError):
            assemble(source)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    "directive",
    [
        ".balign 1<<32",
        ".balign 1<<40",
        ".fill 1<<24, 8, 0",
        ".fill 1<<23, 8, 0",
        ".skip 1<<24\n" * 3 + ".skip 1<<24",
    ],
)
def test_an_image_past_the_limit_fails_before_any_byte_is_made(directive):
    source = f"nop\n{directive}"
    e = _error(source)
    assert "expected at most 0x4000000 (64 MiB)" in e.detail
    last = directive.split("\n")[-1]
    assert (e.line, e.column) == (source.count("\n") + 1, last.index(" ") + 2)
    if ".skip" not in source:  # (three .skip lines of 16 MiB each are made: they fit)
        assert _peak_bytes(source) < MAX_IMAGE // 8  # the 4 GiB (or 128 MiB) never built


def test_the_image_may_reach_the_limit():
    assert len(assemble(f".skip {1 << 24}\n" * 4).code) == MAX_IMAGE


def test_the_image_ends_by_the_top_of_the_address_space():
    assert len(assemble("nop\n.skip 4", base=(1 << 64) - 8).code) == 8
    with pytest.raises(AsmError, match="past the top of the 64-bit address space") as info:
        assemble("nop\n.skip 8", base=(1 << 64) - 8)
    assert (info.value.line, info.value.column) == (2, 7)
    with pytest.raises(ValueError, match="below 2\\*\\*64"):
        assemble("nop", base=1 << 64)


# ---------------------------------------------------------------- comments and names


def test_an_unterminated_comment_points_at_its_opening():
    e = _error("nop\n  mov x0, #1 /* the rest\nnop\nnop\n")
    assert (e.line, e.column) == (2, 14)
    assert "unterminated comment" in e.detail and "'*/'" in e.detail
    assert str(e).endswith("\n      mov x0, #1 /* the rest\n                 ^")


def test_a_comment_closed_lines_later_is_fine_and_dot_end_stops_reading():
    assert len(assemble("nop /* one\ntwo\n*/ nop\n").code) == 8
    assert len(assemble("nop\n.end /* never closed\n").code) == 4


@pytest.mark.parametrize("name", ["lsl", "LSR", "asr", "ror", "uxtw", "sxtx", "uxtb"])
def test_a_label_that_reads_as_a_shift_or_extend_is_refused_where_defined(name):
    e = _error(f"nop\n{name}: nop\nb {name}")
    assert (e.line, e.column) == (2, 1)
    assert f"{name!r} is the name of a shift or an extend" in e.detail
    e = _error(f".equ {name}, 3")
    assert (e.line, e.column) == (1, 6)


# ---------------------------------------------------------------- fuzz

_WORDS = [
    "mov",
    "add",
    "ldr",
    "stxr",
    "ldp",
    "b",
    ".equ",
    ".balign",
    ".skip",
    ".fill",
    ".quad",
    ".ascii",
    "x0",
    "sp",
    "xzr",
    "wsp",
    "lsl",
    "uxtw",
    "#",
    "[",
    "]",
    "!",
    ",",
    "(",
    ")",
    "/*",
    "*/",
    "//",
    ";",
    '"',
    "'",
    ":",
    "=",
    "1<<",
    "-",
    "~",
    "\n",
]


@st.composite
def _hostile(draw) -> str:
    """Text built to reach the limits: deep, long, big, unbalanced, or just random."""
    kind = draw(st.integers(0, 7))
    # mostly small, sometimes the sizes that once broke it (200 parentheses, 1,000 terms)
    k = draw(
        st.one_of(st.integers(0, 2 * MAX_NESTING + 10), st.sampled_from([200, 450, 1000]))
    )
    if kind == 0:
        return (
            "mov x0, #"
            + "(" * k
            + draw(st.sampled_from(["1", "", "x0", "-"]))
            + ")" * draw(st.integers(0, k + 1))
        )
    if kind == 1:
        op = draw(st.sampled_from(["+", "-", "*", "<<", "&", "/", "%"]))
        terms = [draw(st.sampled_from(["2", "0", "a0", "."]))] * k
        if terms:  # one term of another kind somewhere
            terms[draw(st.integers(0, k - 1))] = draw(st.sampled_from(["(1", "x0", "-", "3)"]))
        return ".quad " + op.join(terms)
    if kind == 2:
        return "mov x0, #" + draw(st.sampled_from(["", "0x", "0b", "0"])) + "1" * (k * 12)
    if kind == 3:
        k = min(k, 450)
        chain = [f".equ a{i}, a{i + 1} {draw(st.sampled_from('+*-'))} 3" for i in range(k)]
        chain.append(f".equ a{k}, {draw(st.sampled_from(['1', 'a0', 'end', 'a1']))}")
        draw(st.randoms(use_true_random=False)).shuffle(chain)
        return "\n".join(chain) + "\n.quad a0\nend: nop"
    if kind == 4:
        d = draw(st.sampled_from([".balign", ".skip", ".fill", ".p2align", ".zero", ".space"]))
        return f"nop\n{d} {draw(st.sampled_from(['1<<', '-', '']))}{draw(st.integers(0, 70))}"
    if kind == 5:
        name = draw(st.sampled_from(["lsl", "uxtw", "x0", "sp", "b", "eq", "sy", "nop", "."]))
        return f"{name}: nop\nb {name}\nadr x0, {name}\n.equ {name}2, {name}"
    if kind == 6:
        return " ".join(draw(st.lists(st.sampled_from(_WORDS), max_size=40)))
    return draw(st.text(max_size=200))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_hostile(), min_size=1, max_size=4))
def test_any_text_gives_a_program_or_an_asm_error(pieces):
    source = "\n".join(pieces)
    lines = source.splitlines() or [""]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AsmWarning)
        try:
            program = assemble(source)
        except AsmError as e:
            assert 1 <= e.line <= len(lines)
            assert e.text == lines[e.line - 1]
            assert 1 <= e.column <= len(e.text) + 1
        else:
            assert isinstance(program, Program) and len(program.code) <= MAX_IMAGE
