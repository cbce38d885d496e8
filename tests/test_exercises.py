"""armbp.exercises: the printed lines, the seeds' answers, and that garbage never raises."""

from __future__ import annotations

import pytest

from armbp import exercises
from armbp.exercises import UNANSWERED, as_int, check, expect_int, solution

SEED_ANSWERS = {
    "brk-encoding-0x99": 0xD420_1320,
    "brk-imm16-lldb": 0xF000,
    "brk-first-byte": 0x00,
    "esr-ec-0x96000045": 0x25,
    "esr-wnr-0x96000045": 1,
    "esr-dfsc-0x96000045": 0x05,
    "esr-of-brk-0x99": 0xF200_0099,
    "esr-il-0xf2000000": 1,
}


def test_seeds_are_registered_with_the_hand_worked_answers(capsys):
    assert set(SEED_ANSWERS) <= set(exercises.exercise_ids())
    for exercise_id, answer in SEED_ANSWERS.items():
        result = check(exercise_id, answer)
        assert result.correct, (exercise_id, result.message)
        assert result.message.startswith("✓ Correct: ")
        assert capsys.readouterr().out == result.message + "\n"


@pytest.mark.parametrize(
    "answer", ["0xd4201320", "d4201320", "0xD420_1320", " 0xd4201320 ", 3558871840]
)
def test_int_answers_in_several_spellings(answer, capsys):
    assert check("brk-encoding-0x99", answer)
    capsys.readouterr()


def test_unanswered_prints_the_fixed_line(capsys):
    result = check("brk-encoding-0x99", ...)
    assert capsys.readouterr().out == UNANSWERED + "\n"
    assert UNANSWERED == (
        "Not answered yet — replace ... with your answer and run the cell again."
    )
    assert result.status == "unanswered" and not result


def test_wrong_answer_prints_the_hint(capsys):
    result = check("brk-encoding-0x99", 0x1234_5678)  # no hint is keyed to this one
    out = capsys.readouterr().out
    hint = exercises._REGISTRY["brk-encoding-0x99"].hint
    assert out == f"✗ Not quite: {hint}\n"
    assert result.status == "wrong" and not result


def test_decimal_digits_of_a_hex_answer_get_a_nudge(capsys):
    result = check("esr-ec-0x96000045", 25)
    assert "25 is read as decimal; did you mean 0x25?" in result.message
    capsys.readouterr()


@pytest.mark.parametrize("garbage", ["banana", None, [1], 1.5, b"\x00", object(), "", "0x"])
def test_garbage_never_raises_and_does_not_give_the_answer_away(garbage, capsys):
    for exercise_id in SEED_ANSWERS:
        result = check(exercise_id, garbage)
        assert result.status == "wrong", (exercise_id, garbage)
        assert result.message.startswith("✗ Not quite: expected a number")
        said = result.message.split("Not quite:")[1].split(". ")[0]
        assert said.endswith(f"got {garbage!r}")
        if SEED_ANSWERS[exercise_id] > 0xFF:
            assert f"{SEED_ANSWERS[exercise_id]:#x}" not in said
    capsys.readouterr()


def test_a_checker_that_raises_is_reported_not_raised(capsys, monkeypatch):
    monkeypatch.setattr(exercises, "_REGISTRY", dict(exercises._REGISTRY))
    exercises.exercise("broken-checker", "Q?", check=lambda a: 1 / 0, hint="H.", solution="S.")
    result = check("broken-checker", 3)
    assert result.message == (
        "✗ Not quite: this answer could not be checked "
        "(ZeroDivisionError: division by zero). H."
    )
    capsys.readouterr()


def test_solution_shows_a_closed_details_block_and_prints_nothing(capsys):
    """The answer is on screen only after a click: HTML <details>, plain text without it."""
    shown = solution("brk-encoding-0x99")
    assert capsys.readouterr().out == ""
    bundle = shown._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}
    assert bundle["text/plain"] == exercises.HIDDEN == repr(shown)
    assert "0xd4201320" not in bundle["text/plain"]
    html = bundle["text/html"]
    assert html.startswith(
        '<details class="armbp-solution"><summary>Show the answer</summary>'
    )
    assert html.endswith("</details>") and " open" not in html.split(">")[0]
    assert "0xd4201320" in html.split("</summary>", 1)[1]
    assert str(shown) == exercises._REGISTRY["brk-encoding-0x99"].solution  # print() shows it
    assert check("brk-encoding-0x99", ...)._ipython_display_() is None
    capsys.readouterr()


def test_solution_html_is_escaped():
    html = exercises.details_html("a < b & c > d")
    assert "a &lt; b &amp; c &gt; d" in html and "<b" not in html


def test_registry_rejects_duplicates_and_bad_entries(monkeypatch):
    monkeypatch.setattr(exercises, "_REGISTRY", dict(exercises._REGISTRY))
    with pytest.raises(ValueError, match="already registered"):
        exercises.exercise("brk-encoding-0x99", "Q?", expect_int(1, "y"), "h", "s")
    with pytest.raises(ValueError, match="lower-case"):
        exercises.exercise("Bad Id", "Q?", expect_int(1, "y"), "h", "s")
    with pytest.raises(ValueError, match="hint"):
        exercises.exercise("new-one", "Q?", expect_int(1, "y"), "", "s")
    with pytest.raises(KeyError, match="no exercise 'nope'"):
        check("nope", 1)
    entry = exercises.exercise("new-one", "Q?", expect_int(7, "because."), "h.", "s.")
    assert exercises.exercise_ids()[-1] == entry.id == "new-one"


def test_as_int():
    assert as_int("0x25") == 0x25 and as_int("25") == 25 and as_int("0b101") == 5
    assert as_int("d4") == 0xD4 and as_int(True) == 1 and as_int("007") == 7
    assert as_int("0o17") == 15 and as_int("-3") == -3
    for bad in ("", "0x", "zz", None, 2.0, "1 2 x"):
        assert as_int(bad) is None, bad


def test_lesson_4_answers_agree_with_the_decoder(capsys):
    from armbp import esr

    s = esr.decode(0x9600_0045)
    assert check("esr-ec-0x96000045", s.ec)
    assert check("esr-wnr-0x96000045", s.field("WnR").value)
    assert check("esr-dfsc-0x96000045", s.field("DFSC").value)
    assert check("esr-il-0xf2000000", esr.decode(0xF200_0000).il)
    assert check("esr-of-brk-0x99", esr.parse("ESR = 0x00000000f2000099")[0])
    capsys.readouterr()


def test_every_exercise_has_a_literal_model_answer_that_checks(capsys):
    import ast

    for exercise_id in exercises.exercise_ids():
        text = exercises.model_answer(exercise_id)
        assert text, f"{exercise_id}: no model answer (the notebooks' solution test needs one)"
        # what a learner would type in place of ...: a literal, or (coding) their function
        value = (
            ast.literal_eval(text)
            if exercises.code_name(text) is None
            else exercises.model_value(exercise_id)
        )
        result = check(exercise_id, value)
        assert result.correct, (exercise_id, text, result.message)
    capsys.readouterr()


def test_model_answer_must_be_text(monkeypatch):
    monkeypatch.setattr(exercises, "_REGISTRY", dict(exercises._REGISTRY))
    with pytest.raises(ValueError, match="model answer"):
        exercises.exercise("no-answer", "Q?", expect_int(1, "y"), "h", "s", answer=1)
    assert (
        exercises.exercise(
            "with-answer", "Q?", expect_int(1, "y"), "h", "s", answer="1"
        ).answer
        == "1"
    )


def test_lesson_2_answers_agree_with_the_table_and_the_assembler(capsys):
    from armbp import assemble
    from armbp.exercises import lesson2
    from armbp.memory import BytearrayMemory
    from armbp.table import BreakpointError, BreakpointTable

    prog = assemble("_start:\n mov x0, #3\nloop:\n subs x0, x0, #1\n b.ne loop\n")
    loop = prog.symbols["loop"]
    mem = BytearrayMemory(prog.code, base=prog.base)
    table = BreakpointTable(mem)
    assert int.from_bytes(mem.read(loop, 4), "little") == lesson2._SUBS
    assert int.from_bytes(mem.read(loop + 4, 4), "little") == lesson2._BNE_LOOP
    table.insert(loop)
    table.insert(loop)
    table.remove(loop)
    assert check("bp-use-count-word", int.from_bytes(mem.read(loop, 4), "little"))
    bne = loop + 4
    assert int.from_bytes(mem.read(bne, 4), "little") != 0xD420_0000
    table.insert(bne)
    assert int.from_bytes(mem.read(bne, 4), "little") == 0xD420_0000
    shown = table.shadow(bne, mem.read(bne, 4))
    assert check("bp-shadow-read", int.from_bytes(shown, "little"))
    with pytest.raises(BreakpointError, match="nearest: 0x40004"):
        table.insert(loop + 2)
    assert check("bp-misaligned", loop)
    capsys.readouterr()


def test_lesson_3_answers_agree_with_the_debugger(capsys):
    from armbp import Debugger, assemble, encodings

    source = """
_start: mov  x0, #{n}
        mov  x1, #0
loop:   add  x1, x1, #1
count:  subs x0, x0, #1
        b.ne loop
        movz x0, #0x8400, lsl #16
        movk x0, #8
        hvc  #0
"""
    prog = assemble(source.format(n=3))
    assert (prog.symbols["loop"], prog.symbols["count"]) == (0x40008, 0x4000C)
    dbg = Debugger(prog)
    dbg.break_at("loop")
    assert dbg.cont().exit.debug.hsr == 0xF200_0000
    branch = Debugger(prog)
    branch.break_at(0x40010)
    assert branch.cont().pc == 0x40010 and branch.registers()["x0"] == 2
    assert check("hit-step-pc", branch.step().pc)
    # the syndrome of another BRK, as the vCPU builds it
    lldb = Debugger(assemble("brk #0xf000", base=0x40000))
    lldb.break_at(0x40000)
    lldb.vcpu.memory.write(0x40000, encodings.to_bytes(encodings.brk(0xF000)))
    assert check("hit-hsr-lldb", lldb.vcpu.run().debug.hsr)
    five = Debugger(assemble(source.format(n=5)))
    five.break_at("loop")
    stops = [five.cont() for _ in range(5)]
    assert [s.pc for s in stops] == [0x40008] * 5
    assert check("hit-x1-fifth-stop", five.registers()["x1"])
    capsys.readouterr()


def test_lesson_5_answers_agree_with_the_demo_guest(capsys):
    from armbp import Debugger
    from armbp.demo import demo_program
    from armbp.kvm.abi import ExitReason

    prog = demo_program()
    assert prog.symbols["el1_sync"] - prog.symbols["vectors"] == 0x200
    assert check("guest-vector-address", 0x80000 + 0x200)
    dbg = Debugger(prog)
    stop = dbg.cont()
    debug_exits = [h for h in dbg.events if h.exit.reason is ExitReason.DEBUG]
    assert check("guest-exits-no-bp", len(debug_exits))
    assert dbg.registers()["x23"] == 3
    elr_plus = dbg.registers()["x21"]  # the handler's return address: the BRK + 4
    assert check("guest-elr-skip", elr_plus - (prog.symbols["loop"] + 4))
    assert stop.reason.name == "HALTED"
    capsys.readouterr()


def test_lesson_6_answers_agree_with_the_stub(capsys):
    from armbp import Debugger, assemble
    from armbp.gdb import framing
    from armbp.gdb.client import RspClient
    from armbp.gdb.server import GdbServer
    from armbp.gdb.target import DebuggerTarget

    prog = assemble("""
_start: mov  x0, #3
        mov  x1, #0
loop:   add  x1, x1, #1
count:  subs x0, x0, #1
        b.ne loop
        hvc  #0
""")
    count = prog.symbols["count"]
    assert count == 0x4000C
    guest = Debugger(prog)
    server = GdbServer(lambda: DebuggerTarget(guest)).start()
    try:
        with RspClient.connect(server.port) as gdb:
            gdb.handshake()
            assert gdb.insert_breakpoint(count) == "OK"
            assert check("rsp-z0-memory", int.from_bytes(guest.raw_memory(count, 4), "little"))
            assert check("rsp-m-original", gdb.request(f"m{count:x},4"))
            gdb.read_memory(count, 4)
            assert gdb.sent[-1] == "m4000c,4"  # the client builds m packets as GDB does
    finally:
        server.stop()
    assert check("rsp-read-packet", f"m{0x40010C + 20:x},{4:x}")
    assert check("rsp-read-packet", framing.frame("m400120,4").decode())
    assert check("rsp-m-original", "000400F1") and not check("rsp-m-original", "f1000400")
    assert not check("rsp-m-original", 0x000400F1)
    assert not check("rsp-read-packet", "m0x400120,4")
    capsys.readouterr()


# --- hints keyed to likely wrong answers ---------------------------------------------------------

KEYED = [
    (entry.id, value, text)
    for lesson in exercises.LESSONS
    for entry in lesson.EXERCISES
    for value, text in entry.wrong.items()
]


def test_every_exercise_of_lessons_0_to_5_has_hints_for_likely_wrong_answers():
    for lesson in exercises.LESSONS[:6]:
        for entry in lesson.EXERCISES:
            if exercises.code_name(entry.answer) is not None:
                continue  # a coding exercise diagnoses in its trials (tested below)
            assert len(entry.wrong) >= 3, (lesson.__name__, entry.id, dict(entry.wrong))


@pytest.mark.parametrize(
    "exercise_id, value, text", KEYED, ids=[f"{i}-{v:#x}" for i, v, _ in KEYED]
)
def test_each_keyed_hint_is_said_for_its_wrong_answer_typed_either_way(
    exercise_id, value, text, capsys
):
    entry = exercises._REGISTRY[exercise_id]
    for typed in (value, f"{value:#x}"):
        result = check(exercise_id, typed)
        assert result.status == "wrong", (exercise_id, typed)
        assert result.message == f"✗ Not quite: {text} {entry.hint}", (exercise_id, typed)
        model = exercises.model_answer(exercise_id).strip("'\"")
        # a one-digit answer (a bit, a count) is too short to search for
        assert len(model) < 3 or model not in text, "the hint gives the answer away"
    capsys.readouterr()


@pytest.mark.parametrize(
    "exercise_id, answer, said",
    [
        ("bp-shadow-read", "0xe1ffff54", "bytes in memory order"),
        ("brk-encoding-0x99", 0x201320D4, "bytes in memory order"),
        ("esr-of-brk-0x99", "0xd4201320", "the instruction word, not the syndrome"),
        ("hit-hsr-lldb", 0xD43E0000, "the instruction word, not the syndrome"),
        ("bp-use-count-word", 2, "use_count went 1, 2, then back to 1"),
        ("hit-x1-fifth-stop", 5, "one too many"),
        ("esr-ec-0x96000045", 0x96000045, "the whole ESR; EC is only its top 6 bits"),
        ("esr-of-brk-0x99", 0x3C, "that is the EC alone"),
        ("esr-ec-0x96000045", 25, "25 is read as decimal; did you mean 0x25?"),
        ("guest-vector-address", 0x80400, "lower Exception level"),
    ],
)
def test_the_named_misconceptions_get_their_own_hint(exercise_id, answer, said, capsys):
    assert said in check(exercise_id, answer).message
    capsys.readouterr()


def test_memory_order_reads_a_dump_left_to_right():
    from armbp import encodings

    assert exercises.memory_order(0xD420_1320) == 0x2013_20D4
    assert exercises.memory_order(0x54FF_FFE1) == 0xE1FF_FF54
    assert exercises.memory_order(0x54FF_FFE1) == int(
        encodings.to_bytes(0x54FF_FFE1).hex(), 16
    )


# --- coding exercises: the learner's function run against the model ------------------------------


def _fn(source: str, **names):
    scope = dict(names)
    exec(source, scope)  # noqa: S102 (the learner's code, as a notebook cell runs it)
    return next(v for k, v in scope.items() if callable(v) and k not in names)


@pytest.mark.parametrize(
    "exercise_id, source, said",
    [
        (
            "start-code-address-of",
            "def f(n): return 0x40000 + 4 * n",
            "(n = 1): address_of(1) = 0x40004, one instruction too far",
        ),
        (
            "brk-code-encode",
            "def f(i): return 0xD4200000 | i",
            "case 2 of 8 (BRK #0x99): brk(0x99) = 0xd4200099: the immediate is not shifted by 5",
        ),
        (
            "brk-code-encode",
            "def f(i): return int.from_bytes((0xD4200000 | i << 5).to_bytes(4, 'little'), 'big')",
            "that is the bytes in memory order",
        ),
        (
            "bp-code-remove",
            "def f(memory, entries, pc):\n    memory.write(pc, entries[pc]['saved_insn'].to_bytes(4, 'little'))\n    del entries[pc]",
            "case 2 of 4 (two users: only the count goes down): memory at 0x40004 is 0xf1000400, expected 0xd4200000",
        ),
        (
            "bp-code-remove",
            "def f(memory, entries, pc):\n    e = entries[pc]\n    if e['use_count'] > 1:\n        e['use_count'] -= 1\n        return\n    memory.write(pc, e['saved_insn'].to_bytes(4, 'little'))\n    del entries[pc]",
            "case 3 of 4 (the guest wrote a NOP over the BRK: refused): it should raise BreakpointOverwritten, and did not",
        ),
        (
            "bp-code-remove",
            "def f(memory, entries, pc):\n    raise KeyError(pc)",
            "case 1 of 4 (one user, BRK intact: the instruction comes back): your function raised KeyError: 262148",
        ),
        ("hit-code-brk-exit", "def f(imm): return 0xF2000000 | imm", "return the exit itself"),
        (
            "hit-code-brk-exit",
            "def f(imm):\n    from armbp import assemble\n    from armbp.kvm.unicorn import VCpu\n    return VCpu(assemble(f'brk #{imm}')).run()",
            "the BRK was not trapped",
        ),
        (
            "esr-code-decode",
            "def f(v): return v >> 26, v >> 25 & 1, v & 0x1FFFFFF",
            "(bits 31:26: shift by 26, mask with 0x3f)",
        ),
        (
            "esr-code-decode",
            "def f(v): return v >> 26 & 0x3F, v >> 25 & 1, v & 0xFFFF",
            "(bits 24:0: shift by 0, mask with 0x1ffffff)",
        ),
        (
            "guest-code-reinject",
            "def f(vcpu, exit_):\n    vcpu.write_register('pc', vcpu.read_register('vbar_el1') + 0x200)",
            "round 1: esr_el1 = 0x0, expected 0xf2000099",
        ),
        (
            "guest-code-reinject",
            "def f(vcpu, exit_):\n    vcpu.write_register('pstate', 0x3C5)\n    vcpu.write_register('spsr_el1', vcpu.read_register('pstate'))\n    vcpu.write_register('elr_el1', exit_.pc)\n    vcpu.write_register('esr_el1', exit_.debug.hsr)\n    vcpu.write_register('pc', vcpu.read_register('vbar_el1') + 0x200)",
            "spsr_el1 = 0x3c5, expected 0x200003c5",
        ),
        (
            "rsp-code-frame",
            "def f(p): return f'${p}#{sum(p.encode()) % 256}'",
            "the checksum is written in decimal, not hex",
        ),
        (
            "rsp-code-frame",
            "def f(p): return f'${p}#{sum(p.encode()) % 256:x}'",
            "the checksum always has two digits",
        ),
    ],
)
def test_a_wrong_function_is_told_which_case_failed_and_why(exercise_id, source, said, capsys):
    result = check(exercise_id, _fn(source))
    assert result.status == "wrong" and said in result.message, result.message
    assert "Traceback" not in result.message and result.message.count("\n") == 0
    capsys.readouterr()


def test_a_coding_exercise_is_unanswered_until_given_a_function(capsys):
    assert check("rsp-code-frame", ...).status == "unanswered"
    assert "expected your function" in check("rsp-code-frame", "$g#67").message
    assert check("rsp-code-frame", exercises.model_value("rsp-code-frame"))
    capsys.readouterr()


# --- the engine apart from the lessons' content -----------------------------------------------


def test_every_lesson_module_declares_well_formed_exercises(capsys):

    declared = []
    for lesson in exercises.LESSONS:
        assert lesson.EXERCISES, f"{lesson.__name__} declares no exercise"
        for entry in lesson.EXERCISES:
            declared.append(entry.id)
            assert exercises._REGISTRY[entry.id] is entry, entry.id
            model = exercises.model_value(entry.id)
            assert check(entry.id, model).correct, (lesson.__name__, entry.id)
            for value, hint in entry.wrong.items():
                assert not callable(model) and value != exercises.as_int(model), entry.id
                result = check(entry.id, value)
                assert result.status == "wrong", (entry.id, value)
                assert result.message == f"✗ Not quite: {hint} {entry.hint}", (entry.id, value)
    assert declared == exercises.exercise_ids()  # every exercise is some lesson's, once
    coding = [
        lesson
        for lesson in exercises.LESSONS
        for e in lesson.EXERCISES
        if e.answer and exercises.code_name(e.answer)
    ]
    assert coding == list(exercises.LESSONS), "every lesson has one coding exercise"
    assert any(entry.wrong for lesson in exercises.LESSONS for entry in lesson.EXERCISES)
    capsys.readouterr()


def test_a_hint_keyed_to_a_wrong_answer_is_said_for_it_only(capsys, monkeypatch):
    monkeypatch.setattr(exercises, "_REGISTRY", dict(exercises._REGISTRY))
    exercises.exercise(
        "keyed",
        "Q?",
        expect_int(0x10, "y."),
        "H.",
        "S.",
        answer="0x10",
        wrong={0x01: "the digits are swapped."},
    )
    assert check("keyed", "0x01").message == "✗ Not quite: the digits are swapped. H."
    assert check("keyed", 1).message == "✗ Not quite: the digits are swapped. H."
    assert check("keyed", 2).message == "✗ Not quite: H."
    # the checker's own detail wins over a keyed hint ("10" is read as decimal)
    assert "read as decimal" in check("keyed", "10").message
    capsys.readouterr()


@pytest.mark.parametrize(
    "wrong, error",
    [
        ({"1": "h"}, "must be an int"),
        ({True: "h"}, "must be an int"),
        ({1: " "}, "non-empty string"),
    ],
)
def test_a_bad_keyed_hint_is_refused_and_registers_nothing(monkeypatch, wrong, error):
    monkeypatch.setattr(exercises, "_REGISTRY", dict(exercises._REGISTRY))
    before = exercises.exercise_ids()
    with pytest.raises((TypeError, ValueError), match=error):
        exercises.exercise("bad-keyed", "Q?", expect_int(1, "y"), "h", "s", wrong=wrong)
    assert exercises.exercise_ids() == before


def test_packet_answers_are_normalised():
    from armbp.exercises import as_packet

    assert as_packet("$m400120,4#f4") == as_packet(" 'm400120,4' ") == "m400120,4"
    assert as_packet("m 400120, 4") == "m400120,4" and as_packet(0x400120) is None


# --- the instructor's answer key ------------------------------------------------------------------


def test_the_answer_key_in_docs_instructor_md_is_current():
    """Regenerate with `python -m armbp.exercises.key --write docs/instructor.md`."""
    from pathlib import Path

    from armbp.exercises import key

    doc = Path(__file__).resolve().parents[1] / "docs" / "instructor.md"
    assert key.stored_key(doc) == key.answer_key()
    text = key.answer_key()
    for entry in (e for lesson in exercises.LESSONS for e in lesson.EXERCISES):
        assert f"#### `{entry.id}`" in text and entry.answer.rstrip() in text, entry.id
        for hint in entry.wrong.values():
            assert hint in text


def test_the_answer_key_is_written_between_its_markers_only(tmp_path):
    from armbp.exercises import key

    doc = tmp_path / "pack.md"
    doc.write_text(f"# Pack\n\nbefore\n\n{key.BEGIN}\nold key\n{key.END}\n\nafter\n")
    assert key.write_key(doc) is True
    text = doc.read_text()
    assert text.startswith("# Pack\n\nbefore\n\n") and text.endswith(f"{key.END}\n\nafter\n")
    assert "old key" not in text and key.stored_key(doc) == key.answer_key()
    assert key.write_key(doc) is False  # already current: the file is not touched
    doc.write_text("no markers\n")
    with pytest.raises(ValueError, match="expected one"):
        key.write_key(doc)
    assert doc.read_text() == "no markers\n"


# --- learners' results ----------------------------------------------------------------------------


@pytest.fixture
def in_a_notebook(monkeypatch, tmp_path):
    """check() as in a learner's kernel: recording on, in tmp_path, learner 'ada'."""
    from armbp.exercises import results

    monkeypatch.setattr(results, "in_notebook", lambda: True)
    monkeypatch.delenv(results.OFF_ENV, raising=False)
    monkeypatch.setenv(results.LEARNER_ENV, "ada")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "armbp-results-ada.json"


def test_check_records_attempts_and_the_first_correct_one(in_a_notebook, capsys):
    import json

    check("brk-encoding-0x99", ...)  # not an attempt
    assert not in_a_notebook.exists()
    check("brk-encoding-0x99", 0xD4200099)
    check("brk-encoding-0x99", 0xD4201320)
    check("brk-encoding-0x99", 0xD4201320)
    check("esr-ec-0x96000045", 0x96)
    data = json.loads(in_a_notebook.read_text())
    assert data["learner"] == "ada" and data["format"] == 1
    brk = data["exercises"]["brk-encoding-0x99"]
    assert (brk["lesson"], brk["attempts"], brk["correct"], brk["correct_at"]) == (
        1,
        3,
        True,
        2,
    )
    ec = data["exercises"]["esr-ec-0x96000045"]
    assert (ec["lesson"], ec["attempts"], ec["correct"], ec["last"]) == (4, 1, False, "wrong")
    capsys.readouterr()


def test_results_opt_out_and_outside_a_notebook_record_nothing(
    in_a_notebook, monkeypatch, capsys
):
    from armbp.exercises import results

    monkeypatch.setenv(results.OFF_ENV, "1")
    check("brk-encoding-0x99", 1)
    assert not in_a_notebook.exists()
    monkeypatch.delenv(results.OFF_ENV)
    monkeypatch.setattr(results, "in_notebook", lambda: False)
    check("brk-encoding-0x99", 1)
    assert not in_a_notebook.exists()
    monkeypatch.undo()
    assert results.in_notebook() is False  # the test suite itself is no kernel
    capsys.readouterr()


def test_a_file_that_is_not_a_results_file_is_left_alone(in_a_notebook, capsys):
    in_a_notebook.write_text("my notes\n")
    result = check("brk-encoding-0x99", 0xD4201320)
    assert result.correct and in_a_notebook.read_text() == "my notes\n"
    capsys.readouterr()


def test_armbp_results_summarises_a_folder(tmp_path, monkeypatch, capsys):
    from armbp import cli
    from armbp.exercises import results

    for name, answers in (("ada", [0xD4200099, 0xD4201320]), ("bob", [0xD4201320])):
        folder = tmp_path / name
        folder.mkdir()
        monkeypatch.setenv(results.LEARNER_ENV, name)
        for answer in answers:
            outcome = "correct" if answer == 0xD4201320 else "wrong"
            assert results.record("brk-encoding-0x99", 1, outcome, folder)
    (tmp_path / "armbp-results-eve.json").write_text("{broken")
    assert cli.main(["results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(
        f"2 learner(s) in {tmp_path}, {len(exercises.exercise_ids())} exercises"
    )
    assert "skipped" in out and "armbp-results-eve.json" in out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.strip()}
    assert rows["ada"][:2] == [f"1/{len(exercises.exercise_ids())}", "2"]
    assert rows["bob"][:2] == [f"1/{len(exercises.exercise_ids())}", "1"]
    assert rows["brk-encoding-0x99"] == ["2/2", "1.5"]
    assert rows["esr-ec-0x96000045"] == ["0/2", "-"]
    assert cli.main(["results", str(tmp_path / "nope")]) == 2
    capsys.readouterr()
