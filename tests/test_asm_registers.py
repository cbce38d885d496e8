"""Register 31 in every operand slot, and the UNPREDICTABLE forms, against GNU as.

The same five bits 11111 mean sp in a slot the Arm ARM's encoding diagrams mark "(SP)" and
the zero register elsewhere. These sweeps take every form the corpus in ``test_asm`` knows,
put sp/wsp/xzr/wzr into each register slot, and check that armbp accepts exactly the lines
GNU as accepts, with the same bytes, and warns on exactly the lines GNU as warns on.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import tempfile
import warnings

import pytest
from test_asm import CORPUS, EXTRA, _framed, gnu_assemble, require_binutils

from armbp.asm import MNEMONICS, AsmError, AsmWarning, assemble
from armbp.asm.lexer import tokenize
from armbp.asm.operands import register

# Forms the corpus lacks: every mnemonic once at least, and the writeback, pair and
# exclusive forms whose registers may coincide.
MORE_FORMS = """
asrv x0, x1, x2
lsrv w0, w1, w2
ldarh w0, [x1]
ldurb w0, [x1, #1]
ldursh x0, [x1, #-2]
ldxrh w0, [x1]
stlrb w0, [x1]
sturh w0, [x1, #2]
stxrb w1, w2, [x3]
stlxr w1, x2, [x3]
smnegl x0, w1, w2
smsubl x0, w1, w2, x3
umaddl x0, w1, w2, x3
umnegl x0, w1, w2
ldpsw x1, x2, [x3], #8
ldpsw x1, x2, [x3, #8]!
stp x1, x2, [x3, #16]!
stp w1, w2, [x3], #8
ldp w1, w2, [x3, #8]!
str x1, [x2, #8]!
strb w1, [x2], #1
strh w1, [x2, #2]!
ldrsw x1, [x2, #4]!
ldrsb x1, [x2], #1
ldrsh w1, [x2, #-2]!
mov x1, #0xfff000
mov w1, #0xfff000
mov x1, #0x1234
cmn x0, w1, uxtw
cmn sp, w1, uxtw #2
adds x0, sp, w1, sxtw
subs x0, x1, w2, uxth
cmp x0, x1, lsr #3
tst w0, w1
ands x0, x1, x2, ror #3
""".strip().splitlines()

FORMS = list(dict.fromkeys(CORPUS + EXTRA + MORE_FORMS))

_GAS_LINE = re.compile(r"t\.s:(\d+): (Error|Warning): ")


def gas_verdicts(lines: list[str]) -> tuple[set[str], set[str]]:
    """(lines GNU as rejects, lines it warns about), from one run over all of them."""
    require_binutils()
    with tempfile.TemporaryDirectory(prefix="armbp-gas-") as d:
        src = os.path.join(d, "t.s")
        with open(src, "w", encoding="utf-8") as f:
            f.write(_framed(lines) + "\n")
        r = subprocess.run(
            ["aarch64-linux-gnu-as", "-o", os.path.join(d, "t.o"), src],
            capture_output=True,
            text=True,
        )
    found: dict[str, set[str]] = {"Error": set(), "Warning": set()}
    for m in _GAS_LINE.finditer(r.stderr):
        found[m.group(2)].add(lines[int(m.group(1)) - 2])  # line 1 is the frame's "back:"
    return found["Error"], found["Warning"]


def armbp_verdicts(lines: list[str]) -> tuple[set[str], set[str]]:
    """(lines armbp rejects, lines it warns about), each line assembled on its own."""
    rejected, warned = set(), set()
    for line in lines:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            try:
                assemble(_framed([line]))
            except AsmError:
                rejected.add(line)
        if any(issubclass(w.category, AsmWarning) for w in seen):
            warned.add(line)
    return rejected, warned


def _differ(what: str, ours: set[str], theirs: set[str]) -> list[str]:
    return [f"GNU as {what}, armbp does not: {ln}" for ln in sorted(theirs - ours)] + [
        f"armbp {what}, GNU as does not: {ln}" for ln in sorted(ours - theirs)
    ]


def assert_agree_with_gnu_as(lines: list[str], warn_exceptions: set[str] = frozenset()):
    """Same lines rejected, same lines warned about, same bytes for the rest."""
    gas_bad, gas_warn = gas_verdicts(lines)
    our_bad, our_warn = armbp_verdicts(lines)
    problems = _differ("rejects", our_bad, gas_bad)
    problems += _differ("warns", our_warn | warn_exceptions, gas_warn)
    assert not problems, f"{len(problems)} disagreements in {len(lines)} lines:\n" + "\n".join(
        problems
    )
    good = [ln for ln in lines if ln not in gas_bad]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AsmWarning)
        ours = assemble(_framed(good)).code
    theirs = gnu_assemble(_framed(good))
    differ = [
        f"{ln}: GNU as {theirs[4 + 4 * i : 8 + 4 * i].hex()}, armbp "
        f"{ours[4 + 4 * i : 8 + 4 * i].hex()}"
        for i, ln in enumerate(good)
        if theirs[4 + 4 * i : 8 + 4 * i] != ours[4 + 4 * i : 8 + 4 * i]
    ]
    assert not differ, "\n".join(differ)
    assert ours == theirs


def register_slots(line: str) -> list[tuple[int, str, tuple[int, int, bool]]]:
    """(column, text, (number, size, is sp)) of each register operand of one line."""
    toks, _ = tokenize(line)
    return [
        (t.col, t.text, register(t.text))
        for t in toks[1:]
        if t.kind == "id" and register(t.text) is not None
    ]


def substitute(line: str, changes: dict[int, str]) -> str:
    """``line`` with the register at each column replaced (columns from ``register_slots``)."""
    slots = {col: text for col, text, _ in register_slots(line)}
    for col in sorted(changes, reverse=True):
        line = line[: col - 1] + changes[col] + line[col - 1 + len(slots[col]) :]
    return line


def register_31_variants(form: str) -> list[str]:
    """``form`` with each register slot in turn replaced by sp, wsp, xzr and wzr, and with
    every slot at once made register 31 of its own size, sp or zero register, each way."""
    slots = register_slots(form)
    out = [
        substitute(form, {col: name})
        for col, text, _ in slots
        for name in ("sp", "wsp", "xzr", "wzr")
        if name != text.lower()
    ]
    names = [("sp", "xzr") if size == 64 else ("wsp", "wzr") for _, _, (_, size, _) in slots]
    for choice in itertools.product(*names):
        out.append(
            substitute(
                form, {col: name for (col, _, _), name in zip(slots, choice, strict=False)}
            )
        )
    return out


def coinciding_variants(form: str) -> list[str]:
    """``form`` with each pair of its register slots (x0-x30) made the same register."""
    slots = [s for s in register_slots(form) if s[2][0] != 31]
    out = []
    for (ca, _ta, (na, sa, _)), (cb, _tb, (nb, sb, _)) in itertools.combinations(slots, 2):
        out.append(substitute(form, {cb: f"{'x' if sb == 64 else 'w'}{na}"}))
        out.append(substitute(form, {ca: f"{'x' if sa == 64 else 'w'}{nb}"}))
    return out


def test_the_sweep_covers_every_mnemonic():
    """A new mnemonic must join the corpus, or the register sweeps would not see it."""
    assert MNEMONICS - {ln.split()[0].lower() for ln in FORMS} == set()


def test_register_31_in_every_slot_agrees_with_gnu_as():
    lines = list(dict.fromkeys(v for form in FORMS for v in register_31_variants(form)))
    slots = sum(len(register_slots(form)) for form in FORMS)
    assert len(FORMS) > 500 and slots > 800 and len(lines) > 4500  # the sweep's size
    assert_agree_with_gnu_as(lines)


# GNU as also warns when an exclusive store's status register is wzr and its base sp: the
# same number 31, but two different registers, and the Arm ARM's page "STXR" excepts a base
# of 31 from the UNPREDICTABLE case. armbp does not warn there.
NOT_UNPREDICTABLE = {"stxr wzr, x0, [sp]", "stlxr wzr, w0, [sp]", "stxrb wzr, w2, [sp]"}


def test_unpredictable_forms_warn_as_gnu_as_does():
    lines = [v for form in FORMS for v in coinciding_variants(form)]
    lines += [
        "ldp xzr, xzr, [x0]",
        "stxr wzr, xzr, [x0]",
        "ldr xzr, [sp], #8",
        "stp xzr, xzr, [sp, #-16]!",
        "ldp x0, x0, [x0], #16",
        *NOT_UNPREDICTABLE,
    ]
    lines = list(dict.fromkeys(lines))
    gas_bad, gas_warn = gas_verdicts(lines)
    assert NOT_UNPREDICTABLE <= gas_warn - gas_bad  # still GNU as's view, or drop this
    assert len(gas_warn) > 60  # the sweep does reach the UNPREDICTABLE forms
    assert_agree_with_gnu_as(lines, warn_exceptions=NOT_UNPREDICTABLE)


# ---------------------------------------------------------------- the reported cases


@pytest.mark.parametrize(
    "source, col, words",
    [
        ("mov xzr, #0xfff000", 10, ["cannot be moved to xzr", "movz/movn"]),
        ("mov sp, xzr", 9, ["xzr cannot be used here in mov", "register 31 means sp"]),
        ("mov xzr, sp", 5, ["xzr cannot be used here in mov", "register 31 means sp"]),
        (
            "mov wsp, wzr",
            10,
            ["wzr cannot be used here in mov", "32-bit register w0-w30, wsp"],
        ),
        ("ldur x0, [xzr, #8]", 11, ["xzr cannot be a base register in ldur", "x0-x30 or sp"]),
        ("ldxr x0, [xzr]", 11, ["xzr cannot be a base register in ldxr"]),
        ("stxr w1, x0, [xzr]", 15, ["xzr cannot be a base register in stxr"]),
        ("ldar x0, [xzr]", 11, ["base register in ldar"]),
        ("stlr x0, [xzr]", 11, ["base register in stlr"]),
        ("ldursw x0, [xzr]", 13, ["base register in ldursw"]),
        (
            "add x1, sp, sp",
            13,
            ["sp cannot be used here in add", "zero register in this position"],
        ),
        ("cmp sp, sp", 9, ["sp cannot be used here in cmp", "x0-x30, xzr"]),
        ("sub sp, sp, sp", 13, ["sp cannot be used here in sub"]),
        ("add wsp, wsp, wsp", 15, ["wsp cannot be used here in add", "w0-w30, wzr"]),
        ("mov sp, #0x1234", 9, ["out of range for mov", "bitmask immediate"]),
    ],
)
def test_register_31_of_the_wrong_kind_is_an_error(source, col, words):
    with pytest.raises(AsmError) as info:
        assemble(source)
    assert (info.value.line, info.value.column) == (1, col), str(info.value)
    for w in words:
        assert w in str(info.value)


@pytest.mark.parametrize(
    "source, col, words",
    [
        ("ldr x0, [x0], #8", 5, ["unpredictable transfer with writeback", "x0"]),
        ("ldp x0, x0, [x1]", 9, ["unpredictable load of a register pair", "x0 twice"]),
        ("stxr w0, x0, [x1]", 6, ["stores x0 and writes its status to the same register w0"]),
        ("stxr w1, x0, [x1]", 6, ["holds its address x1"]),
    ],
)
def test_unpredictable_forms_warn_and_still_assemble(source, col, words):
    with pytest.warns(AsmWarning) as seen:
        program = assemble(f"nop\n{source}", name="w.s")
    assert len(seen) == 1
    w = seen[0].message
    assert (w.line, w.column, w.name, w.text) == (2, col, "w.s", source)
    assert str(w).startswith(f"w.s: line 2, col {col}: ")
    for word in words:
        assert word in str(w)
    assert len(program.code) == 8


def test_a_warning_can_be_made_an_error():
    with warnings.catch_warnings():
        warnings.simplefilter("error", AsmWarning)
        with pytest.raises(AsmWarning, match="writeback"):
            assemble("str x1, [x1, #8]!")


def test_no_warning_for_a_failed_program():
    with warnings.catch_warnings():
        warnings.simplefilter("error", AsmWarning)
        with pytest.raises(AsmError, match="unknown instruction"):
            assemble("ldr x0, [x0], #8\nfoo")
