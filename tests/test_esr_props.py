"""Properties of armbp.esr over arbitrary values (hypothesis; example counts kept small)."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from armbp import esr
from armbp.esr import decode, parse

u64 = st.integers(min_value=0, max_value=(1 << 64) - 1)
# Values that mostly hit allocated ECs with random ISS/ISS2 bits, plus fully random ones.
structured = st.builds(
    lambda ec, il, iss, iss2: iss2 << 32 | ec << 26 | il << 25 | iss,
    st.sampled_from([int(ec) for ec in esr.EC]),
    st.integers(0, 1),
    st.integers(0, (1 << 25) - 1),
    st.integers(0, (1 << 24) - 1),
)
FAST = settings(max_examples=300, deadline=None)


@FAST
@given(st.one_of(u64, structured))
def test_decode_never_raises_and_fields_tile_the_register(value):
    s = decode(value)
    spans = [(f.msb, f.lsb) for f in s.fields]
    assert spans[0][0] == 63 and spans[-1][1] == 0
    for (msb, lsb), (next_msb, _) in itertools.pairwise(spans):
        assert 0 <= lsb <= msb <= 63
        assert next_msb == lsb - 1  # in bit order, no overlap, no gap
    for f in s.fields:
        assert 0 <= f.value < 1 << f.width and f.name and f.meaning
    assert sum(f.value << f.lsb for f in s.fields) == value
    assert (s.ec, s.il, s.iss, s.iss2) == (
        value >> 26 & 63,
        value >> 25 & 1,
        value & 0x1FFFFFF,
        value >> 32 & 0xFFFFFF,
    )
    assert all(isinstance(w, str) and w for w in s.warnings)


@FAST
@given(u64)
def test_res0_bits_always_warn(value):
    s = decode(value)
    res0 = [f for f in s.fields if f.name == "RES0" and f.value]
    for f in res0:
        assert any(f"[{f.msb}:{f.lsb}]" in w for w in s.warnings)


@FAST
@given(
    u64,
    st.sampled_from(
        [
            "{:#x}",
            "{:#X}",
            "0x{:016x}",
            "ESR = {:#018x}",
            "Internal error: Oops: {:016x} [#1] SMP",
            "Unhandled 64-bit el1h sync exception on CPU0, ESR {:#018x} -- x",
            "a.out[1]: unhandled fault (11) at 0x0, esr {:#x}, in a.out",
        ]
    ),
)
def test_parse_finds_what_was_printed(value, template):
    assert parse(template.format(value)) == [value]


@FAST
@given(st.integers(0, (1 << 64) - 1).filter(lambda v: len(str(v)) not in (8, 16)))
def test_parse_decimal(value):
    assert parse(str(value)) == [value]


# --- builders round-trip through decode ----------------------------------------------------------


def named(value: int) -> dict[str, int]:
    return {f.name: f.value for f in decode(value).fields if f.name != "RES0"}


@FAST
@given(st.integers(0, 0xFFFF))
def test_instruction_builders_round_trip(imm):
    for build, ec in ((esr.brk, 0x3C), (esr.svc, 0x15), (esr.hvc, 0x16), (esr.smc, 0x17)):
        s = decode(build(imm))
        assert (s.ec, s.il, s.iss, s.warnings) == (ec, 1, imm, ())


@FAST
@given(st.booleans(), st.booleans(), st.booleans())
def test_debug_builders_round_trip(same_el, isv, ex):
    s = decode(esr.breakpoint(same_el=same_el))
    assert (s.ec, named(s.esr)["IFSC"], s.warnings) == (0x30 + same_el, 0x22, ())
    ex = ex and isv
    s = decode(esr.software_step(same_el=same_el, isv=isv, ex=ex))
    assert (s.ec, named(s.esr)["ISV"], named(s.esr)["EX"], s.warnings) == (
        0x32 + same_el,
        isv,
        ex,
        (),
    )


@FAST
@given(
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.one_of(st.none(), st.integers(0, 63)),
    st.booleans(),
)
def test_watchpoint_round_trip(same_el, wnr, cm, fnv, fnp, wpt, gcs):
    wnr = wnr or cm  # the architecture reports WnR = 1 for cache maintenance
    fnp = fnp and not fnv  # FnP is 0 when the FAR is not valid
    value = esr.watchpoint(same_el, wnr, cm, fnv=fnv, fnp=fnp, wpt=wpt, gcs=gcs)
    s, f = decode(value), named(value)
    assert s.ec == 0x34 + same_el and s.warnings == ()
    assert (f["WnR"], f["CM"], f["FnV"], f["FnP"], f["GCS"], f["DFSC"]) == (
        wnr,
        cm,
        fnv,
        fnp,
        gcs,
        0x22,
    )
    assert f["WPTV"] == (wpt is not None) and f["WPT"] == (wpt or 0)


fault_codes = st.sampled_from(
    [0x04, 0x05, 0x06, 0x07, 0x09, 0x0D, 0x0F, 0x10, 0x15, 0x21, 0x30]
)


@FAST
@given(
    st.booleans(),
    fault_codes,
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.integers(0, 3),
    st.booleans(),
    st.integers(0, 31),
    st.booleans(),
    st.booleans(),
    st.integers(0, 31),
    st.booleans(),
    st.booleans(),
)
def test_data_abort_round_trip(
    same_el, dfsc, wnr, s1ptw, cm, isv, sas, sse, srt, sf, ar, xs, overlay, gcs
):
    kw = {"isv": isv, "sas": sas, "sse": sse, "srt": srt, "sf": sf, "ar": ar} if isv else {}
    value = esr.data_abort(
        same_el=same_el,
        dfsc=dfsc,
        wnr=wnr or cm,
        s1ptw=s1ptw,
        cm=cm,
        xs=xs,
        overlay=overlay,
        gcs=gcs,
        **kw,
    )
    s, f = decode(value), named(value)
    assert s.ec == 0x24 + same_el and s.il == 1 and s.warnings == ()
    assert (f["DFSC"], f["WnR"], f["S1PTW"], f["CM"], f["ISV"]) == (
        dfsc,
        wnr or cm,
        s1ptw,
        cm,
        isv,
    )
    assert (f["Xs"], f["Overlay"], f["GCS"]) == (xs, overlay, gcs)
    if isv:
        assert (f["SAS"], f["SSE"], f["SRT"], f["SF"], f["AR"]) == (sas, sse, srt, sf, ar)


@FAST
@given(
    st.booleans(),
    st.sampled_from([0x04, 0x07, 0x0B, 0x0E, 0x10, 0x17, 0x30]),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
def test_instruction_abort_round_trip(same_el, ifsc, s1ptw, ea, overlay):
    external = ifsc in (0x10, 0x17)  # EA may be set for any external abort; FnV only for
    value = esr.instruction_abort(
        same_el=same_el,
        ifsc=ifsc,
        s1ptw=s1ptw,  # one not on a walk
        ea=ea and external,
        fnv=ea and ifsc == 0x10,
        overlay=overlay,
    )
    s, f = decode(value), named(value)
    assert s.ec == 0x20 + same_el and s.warnings == ()
    assert (f["IFSC"], f["S1PTW"], f["EA"], f["Overlay"]) == (
        ifsc,
        s1ptw,
        ea and external,
        overlay,
    )
