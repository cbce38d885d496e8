"""The ESR tables as data: formatters declare the bits they read, the per-field cache agrees
with an uncached decode, an Exception Class is added through ``register``, and constants
and Arm ARM citations are written once, by title."""

from __future__ import annotations

import ast
import pathlib
import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from armbp import esr
from armbp.esr import classes, decoder
from armbp.esr.families import other

ESR_DIR = pathlib.Path(esr.__file__).parent


def _formatted_fields():
    """(layout, case value or None, FieldSpec) for every field that has a formatter."""
    layouts = {id(row.layout): row.layout for row in classes.CLASSES.values()}
    layouts[id(other.UNALLOCATED)] = other.UNALLOCATED
    for lay in layouts.values():
        for case, extra in [(None, ()), *lay.cases.items()]:
            for spec in (*lay.fields, *extra, *lay.iss2):
                if spec.fmt is not None:
                    yield lay, case, spec


FORMATTED = list(_formatted_fields())
IDS = [f"{lay.title[:40]}/{case}/{spec.name}" for lay, case, spec in FORMATTED]


def _ecs_of(lay):
    return [v for v, row in classes.CLASSES.items() if row.layout is lay] or [0x3B]


def _samples(lay, case, rng: random.Random, n: int):
    """Random ESRs of an EC that uses ``lay``, with the case-select bits set to ``case``."""
    ecs = _ecs_of(lay)
    for _ in range(n):
        v = rng.getrandbits(64) & ~(0x3F << 26) | rng.choice(ecs) << 26
        if case is not None:
            msb, lsb = lay.select
            v = v & ~(((1 << (msb - lsb + 1)) - 1) << lsb) | case << lsb
        yield v


def test_every_formatted_field_is_found():
    names = {spec.name for *_, spec in FORMATTED}
    assert {"SRT", "SET", "Direction", "WPT", "Comment", "DFSC", "IFSC"} <= names


@pytest.mark.parametrize("lay, case, spec", FORMATTED, ids=IDS)
def test_a_formatter_reads_only_its_field_and_the_bits_it_declares(lay, case, spec):
    # Flip each bit outside the field and outside the declared reads: the meaning must not
    # change, or the decoder's cache (keyed by those bits) would serve a wrong one. And each
    # declared bit must matter for some value, so the declaration says what the code reads.
    rng = random.Random(spec.name)
    declared = spec.mask | spec.reads
    for esr_value in _samples(lay, case, rng, 48):
        v = (esr_value & spec.mask) >> spec.lsb
        base = spec.fmt(v, esr_value)
        for bit in range(64):
            if not declared >> bit & 1:
                flipped = esr_value ^ 1 << bit
                assert spec.fmt(v, flipped) == base, (
                    f"{spec.name} ({spec.fmt}) reads ESR bit {bit}, which it does not "
                    f"declare: {esr_value:#x} vs {flipped:#x}"
                )
    mattered = 0
    for esr_value in _samples(lay, case, rng, 400):
        v = (esr_value & spec.mask) >> spec.lsb
        base = spec.fmt(v, esr_value)
        for bit in range(64):
            if spec.reads >> bit & 1 and spec.fmt(v, esr_value ^ 1 << bit) != base:
                mattered |= 1 << bit
    assert mattered == spec.reads, (
        f"{spec.name} declares bits {spec.reads:#x} but only {mattered:#x} change its meaning"
    )


def test_formatters_that_read_other_bits_say_so():
    # The ones that do, with what they read (a change here must be a deliberate one).
    reads = {spec.fmt.name: spec.reads for *_, spec in FORMATTED if spec.reads}
    assert reads["srt"] == 1 << 15  # SF: W or X
    assert reads["wpt"] == 1 << 17  # WPTV
    assert reads["comment_bkpt"] == 1 << 25  # IL: A32 or T32
    assert reads["set_of_data_abort"] == 0x3F  # DFSC: SET or LST
    assert reads["sys64_dir"] == esr.spec.bits((21, 1)) & ~1


# --- the cache agrees with an uncached decode -------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(st.integers(0, (1 << 64) - 1))
def test_cached_and_uncached_decoding_agree(seed):
    # Under every EC a random syndrome, then neighbours that differ from it in one random
    # bit: values that share a field's bits but not the bits around it, which is where an
    # under-declared cache key serves a stale meaning. The caches start empty, fill on first
    # sight, and must give what a decode from the tables alone gives.
    rng = random.Random(seed)  # every bit equally likely (hypothesis favours small numbers)
    decoder.clear_caches()
    for ec in range(64):
        base = rng.getrandbits(64) & ~(0x3F << 26) | ec << 26
        for v in (base, *(base ^ 1 << bit for bit in rng.sample(range(64), 12))):
            assert esr.decode(v) == decoder.decode_uncached(v), hex(v)


def test_a_w_register_data_abort_after_an_x_register_one():
    # The case a missing declaration once broke: same SRT, SF differs.
    x5 = esr.data_abort(isv=True, srt=5, sf=True, sas=3)
    w5 = esr.data_abort(isv=True, srt=5, sf=False, sas=2)
    decoder.clear_caches()
    assert esr.decode(x5).field("SRT").meaning == "X5"
    assert esr.decode(w5).field("SRT").meaning == "W5"


# --- adding an Exception Class ------------------------------------------------------------------

FAKE_EC = 0x3B  # unallocated in the Arm ARM


@esr.formatter((0, 0))  # reads the Enable bit below
def _fake_count(v: int, esr_value: int) -> str:
    return f"{v} events" + ("" if esr_value & 1 else " (counting disabled)")


def _fake_check(esr_value: int) -> list[str]:
    return ["Count is 0"] if not esr_value >> 4 & 0xFF else []


FAKE_LAYOUT = esr.Layout(
    "ISS encoding for a made-up exception",
    fields=(
        esr.F("Count", 11, 4, "How many", fmt=_fake_count),
        esr.flag("Enable", 0, "off", "on", "Counting enabled"),
    ),
    checks=(_fake_check,),
)


@pytest.fixture
def fake_class():
    row = esr.register(
        FAKE_EC, "FAKE", "Fake (test)", FAKE_LAYOUT, "A class made up for a test"
    )
    yield row
    esr.unregister(FAKE_EC)


def test_a_registered_class_decodes(fake_class):
    value = FAKE_EC << 26 | 1 << 25 | 0x2A << 4 | 1
    s = esr.decode(value)
    assert (s.ec, s.ec_name, s.ec_description) == (
        FAKE_EC,
        "Fake (test)",
        "A class made up for a test",
    )
    assert s.layout == "ISS encoding for a made-up exception" and s.warnings == ()
    assert s.field("Count").meaning == "42 events" and s.field("Enable").meaning == "on"
    assert s.field("EC").meaning == "Fake (test): A class made up for a test"
    assert esr.decode(value & ~1).field("Count").meaning == "42 events (counting disabled)"
    assert esr.decode(FAKE_EC << 26 | 1 << 25).warnings == ("Count is 0",)
    assert esr.layout(FAKE_EC) is FAKE_LAYOUT and esr.EC_INFO[FAKE_EC][0] == "Fake (test)"
    assert esr.LAYOUTS[FAKE_EC] is FAKE_LAYOUT and esr.CLASSES[FAKE_EC] == fake_class


def test_a_class_decoded_before_it_was_registered_is_decoded_afresh():
    value = FAKE_EC << 26 | 1 << 25 | 0x10
    assert esr.decode(value).ec_name == "UNRECOGNIZED EC"
    esr.register(FAKE_EC, "FAKE", "Fake (test)", FAKE_LAYOUT, "made up")
    try:
        assert esr.decode(value).ec_name == "Fake (test)"
    finally:
        esr.unregister(FAKE_EC)
    assert esr.decode(value).ec_name == "UNRECOGNIZED EC"


@pytest.mark.parametrize(
    "value, layout, words",
    [
        (0x3C, FAKE_LAYOUT, "already allocated to BRK64"),
        (64, FAKE_LAYOUT, "out of range"),
        (True, FAKE_LAYOUT, "out of range"),
        (FAKE_EC, "not a layout", "is not a Layout"),
        (
            FAKE_EC,
            esr.Layout("overlapping", fields=(esr.F("A", 5, 0), esr.F("B", 3, 2))),
            "overlap",
        ),
        (FAKE_EC, esr.Layout("too wide", fields=(esr.F("A", 30, 20),)), "outside ISS"),
    ],
)
def test_register_refuses_bad_rows_and_changes_nothing(value, layout, words):
    before = (dict(esr.CLASSES), dict(esr.EC_INFO), dict(esr.LAYOUTS))
    with pytest.raises(ValueError, match=words):
        esr.register(value, "BAD", "Bad", layout, "bad")
    assert (dict(esr.CLASSES), dict(esr.EC_INFO), dict(esr.LAYOUTS)) == before


def test_unregister_refuses_a_table_row():
    with pytest.raises(ValueError, match="not added by register"):
        esr.unregister(int(esr.EC.BRK64))
    assert esr.decode(esr.brk()).ec_name == "BRK (AArch64)"


def test_field_specs_refuse_malformed_declarations():
    with pytest.raises(TypeError, match="is not a Formatter"):
        esr.FieldSpec("X", 3, 0, "doc", fmt=lambda v, e: "x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="both values and fmt"):
        esr.FieldSpec("X", 3, 0, "doc", {0: "zero"}, fmt=_fake_count)
    with pytest.raises(ValueError, match="63 >= msb >= lsb >= 0"):
        esr.FieldSpec("X", 2, 3, "doc")
    with pytest.raises(ValueError, match=r"\[64:60\]"):
        esr.formatter((64, 60))


def test_every_ec_row_is_one_member_with_its_layout():
    for ec in esr.EC:
        row = esr.CLASSES[ec]
        assert (row.name, row.short, row.layout) == (ec.name, ec.short, ec.layout)
        assert isinstance(row.layout, esr.Layout) and row.layout.title


# --- written once, cited by title ----------------------------------------------------------------


def _module_constants():
    for path in sorted(ESR_DIR.rglob("*.py")):
        for node in ast.parse(path.read_text()).body:
            targets = (
                node.targets
                if isinstance(node, ast.Assign)
                else ([node.target] if isinstance(node, ast.AnnAssign) else [])
            )
            for t in targets:
                if isinstance(t, ast.Name) and re.fullmatch(r"[A-Z][A-Z0-9_]*", t.id):
                    yield t.id, path.relative_to(ESR_DIR)


def test_no_public_constant_is_defined_in_two_modules():
    where: dict[str, list] = {}
    for name, path in _module_constants():
        where.setdefault(name, []).append(str(path))
    twice = {n: p for n, p in where.items() if len(set(p)) > 1}
    assert not twice, twice
    assert esr.FSC_DEBUG == 0x22 and "FSC_DEBUG" in where


def test_arm_arm_sections_are_cited_by_title_not_number():
    numbered = re.compile(
        r"\b(?:chapter\s+)?[A-K]\d{1,2}(?:\.\d+|\.x)+\b|\bchapter\s+[A-K]\d+\b"
    )
    hits = [
        f"{path.relative_to(ESR_DIR)}:{n}: {line.strip()}"
        for path in sorted(ESR_DIR.rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if numbered.search(line)
    ]
    assert not hits, hits
