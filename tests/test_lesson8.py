"""Lesson 8, the real thing: its exercises, its helpers (``armbp.realkvm``) without a lab,
its picture, and its stored outputs (which must come from the real lab).

None of these boots the lab: nbval compares the lesson with real KVM in CI, and
``tests/test_kvm_lab.py`` compares every scenario."""

from __future__ import annotations

import importlib.util
import re
import struct
from pathlib import Path

import nbformat
import pytest

from armbp import check, esr, exercises, pictures, realkvm
from armbp.exercises import lesson8
from armbp.kvm.abi import ExitReason
from armbp.kvm.devkvm import uapi
from armbp.kvm.lab import packages, scenarios

ROOT = Path(__file__).resolve().parents[1]
LESSON = ROOT / "notebooks" / "08-the-real-thing.ipynb"


@pytest.fixture(autouse=True)
def _quiet(capsys):
    yield
    capsys.readouterr()


# --- the exercises ------------------------------------------------------------------------


@pytest.mark.parametrize("entry", lesson8.EXERCISES, ids=lambda e: e.id)
def test_each_checker_accepts_its_model_answer_and_refuses_the_keyed_wrong_ones(entry):
    assert check(entry.id, exercises.model_value(entry.id)).correct
    assert entry.wrong or exercises.code_name(entry.answer)
    for value, hint in entry.wrong.items():
        result = check(entry.id, value)
        assert result.status == "wrong" and hint in result.message, (entry.id, value)


def test_the_numeric_answers_are_the_kernels_numbers():
    assert check("kvm-run-hsr-offset", 32) and check("kvm-run-hsr-offset", "0x20")
    assert check("kvm-step-control", "0x10003") and not check("kvm-step-control", "0x10002")
    assert check("kvm-brk-7-hsr", 0xF2000007) and not check("kvm-brk-7-hsr", 0xF2000070)
    assert check("kvm-brk-7-hsr", ...).status == "unanswered"


def _model_debug_exit():
    return exercises.model_value("kvm-code-debug-exit")


def test_the_pages_are_kvm_run_as_uapi_reads_it():
    debug = uapi.read_exit(lesson8.debug_page(0xD2000062, 0x4000_2000))
    assert debug.reason == ExitReason.DEBUG and debug.debug.hsr == 0xD2000062
    assert debug.debug.far == 0x4000_2000 and debug.debug.hsr_high == 0
    mmio = uapi.read_exit(lesson8._PAGES[-1][1])
    assert mmio.reason == ExitReason.MMIO and mmio.debug is None
    assert _model_debug_exit()(lesson8.debug_page(esr.brk(7))) == (0xF2000007, 0)


def _no_reason_check(run):
    hsr, _, far = struct.unpack_from("<IIQ", run, 32)
    return hsr, far


def _hsr_at_8(run):
    if struct.unpack_from("<I", run, 8)[0] != 4:
        return None
    return struct.unpack_from("<I", run, 8)[0], struct.unpack_from("<Q", run, 40)[0]


def _far_at_36(run):
    if struct.unpack_from("<I", run, 8)[0] != 4:
        return None
    return struct.unpack_from("<I", run, 32)[0], struct.unpack_from("<Q", run, 36)[0]


@pytest.mark.parametrize(
    "wrong, said",
    [
        (_no_reason_check, "return None"),
        (_hsr_at_8, "is exit_reason (offset 8)"),
        (_far_at_36, "where hsr_high is"),
        (lambda run: (0, 0), "expected 0xf2000000"),
        (lambda run: 1 / 0, "raised ZeroDivisionError"),
        (0x20, "expected your function"),
    ],
)
def test_the_coding_checker_refuses_wrong_readings_and_says_which(wrong, said):
    result = check("kvm-code-debug-exit", wrong)
    assert result.status == "wrong" and said in result.message, result.message
    assert check("kvm-code-debug-exit", _model_debug_exit()).correct


# --- armbp.realkvm without a lab ----------------------------------------------------------


def test_open_lab_names_the_missing_tool_and_boots_nothing(monkeypatch):
    from armbp.kvm.lab import machine

    monkeypatch.setattr(
        packages, "missing_tools", lambda: ["qemu-system-aarch64 (apt-get install x)"]
    )
    monkeypatch.setattr(machine, "shared", lambda cache=None: pytest.fail("booted"))
    lab = realkvm.open_lab()
    assert isinstance(lab, realkvm.NoLab)
    assert str(lab) == (
        "real KVM is not available here: the KVM lab needs "
        "qemu-system-aarch64 (apt-get install x)"
    )


@pytest.mark.parametrize("error", ["LabUnavailable", "LabError"])
def test_open_lab_turns_a_failed_fetch_or_boot_into_its_message(monkeypatch, error):
    from armbp.kvm.lab import machine

    cls = getattr(packages, error, None) or getattr(machine, error)

    def fail(cache=None):
        raise cls("apt-get update … failed (100): no network")

    monkeypatch.setattr(packages, "missing_tools", list)
    monkeypatch.setattr(machine, "shared", fail)
    lab = realkvm.open_lab()
    assert isinstance(lab, realkvm.NoLab) and "no network" in lab.reason


def test_every_lab_cell_says_what_is_missing_and_the_model_half_still_runs():
    lab = realkvm.NoLab("the KVM lab needs qemu-system-aarch64")
    for text in (
        realkvm.lab_summary(lab),
        realkvm.ioctl_tour(lab),
        realkvm.differences(lab),
    ):
        assert text == str(lab)
    table = realkvm.side_by_side(lab)
    for name in realkvm.SIDE_BY_SIDE:
        record = scenarios.on_model(realkvm.scenario(name))
        assert f"{record['debug'][0]:#010x}" in table, name
    assert table.count("(the KVM lab needs qemu-system-aarch64)") == len(realkvm.SIDE_BY_SIDE)
    budgets = realkvm.budgets(lab, instructions=100)
    assert "BUDGET, x0 = 50; BUDGET, x0 = 50" in budgets and str(lab) in budgets


def test_the_debugger_session_runs_on_the_model_and_names_what_is_missing_for_kvm():
    lab = realkvm.NoLab("the KVM lab needs qemu-system-aarch64")
    text = realkvm.same_debugger(lab)
    assert text.count("unicorn: ") == 5 and text.endswith(f"kvm-lab: {lab}")
    assert "unicorn: memory at 0x40004 holds d4200000" in text
    assert "unicorn: step at 0x40008: one instruction; x0 = 0x2; hsr 0xcb000022" in text
    assert "unicorn: halted at 0x40018: the guest powered off" in text


def test_a_fetch_from_nowhere_is_an_mmio_exit_on_the_model_and_the_lab_line_says_why():
    lab = realkvm.NoLab("the KVM lab needs qemu-system-aarch64")
    assert realkvm.fetch_from_nowhere(lab) == (
        "model: KVM_EXIT_MMIO at pc 0x9000000: an MMIO read of 4 bytes at 0x9000000\n"
        f"KVM:   {lab}"
    )


def test_an_unknown_scenario_is_named_with_the_known_ones():
    with pytest.raises(ValueError, match=r"no scenario 'brk'; expected one of 'our BRK #0'"):
        realkvm.scenario("brk")


def test_the_layout_prints_uapis_offsets_and_numbers():
    text = realkvm.abi_layout()
    assert "struct kvm_guest_debug: 520 bytes (KVM_SET_GUEST_DEBUG = 0x4208ae9b)" in text
    assert re.search(r"offset\s+392\s+__u64 arch\.dbg_wvr\[16\]", text)
    for offset, field in ((8, "exit_reason"), (32, "hsr"), (36, "hsr_high"), (40, "far")):
        assert re.search(
            rf"offset\s+{offset}\s+__u\d+\s+(debug\.arch\.)?{field}\n", text + "\n"
        )
    assert f"{uapi.core_reg('pc'):#x}" in text


def test_control_names_spell_the_flags():
    assert realkvm.control_names(0x10003) == "ENABLE | SINGLESTEP | USE_SW_BP"
    assert realkvm.control_names(0) == "NONE"


def test_the_kvm_inside_picture_has_alt_text_naming_each_step():
    picture = pictures.kvm_inside()
    html = picture._repr_html_()
    alt = re.search(r"alt='([^']+)'", html).group(1)
    for word in ("MDCR_EL2.TDE", "ESR_EL2", "FAR_EL2", "kvm_handle_guest_debug", "KVM_RUN"):
        assert word in alt, word
    assert repr(picture).startswith("<Picture: ")


# --- the stored lesson --------------------------------------------------------------------


def _stored_text() -> str:
    nb = nbformat.read(LESSON, as_version=4)
    return "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
    )


def test_the_stored_lesson_comes_from_the_real_lab():
    text = _stored_text()
    assert "not available here" not in text
    assert "KVM_CAP_GUEST_DEBUG_HW_BPS     6 hardware breakpoint slots" in text
    total = len(scenarios.SCENARIOS)
    assert f"{total} scenarios on both machines: {total} give the same exit record" in text
    assert text.count("  KVM    DEBUG  ") == len(realkvm.SIDE_BY_SIDE)
    assert "run->exit_reason = 4 (KVM_EXIT_DEBUG)" in text and "KVM_EXIT_INTR" in text
    assert "KVM, Budget(instructions=1000): refused: an instruction budget" in text
    assert "5 of 5 answers the same on both backends" in text
    assert text.count("kvm-lab: ") == 5
    assert "KVM:   KVM_EXIT_INTR at pc 0x200" in text  # the prefetch abort, given back


def _notebooks_conftest():
    spec = importlib.util.spec_from_file_location(
        "notebooks_conftest", ROOT / "notebooks" / "conftest.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_nbval_skips_lesson_8_without_the_lab_tools_except_in_ci(monkeypatch):
    conftest = _notebooks_conftest()
    monkeypatch.setattr(packages, "missing_tools", lambda: ["qemu-system-aarch64 (…)"])
    monkeypatch.delenv("CI", raising=False)
    assert conftest.lab_skip_reason() == "the KVM lab needs qemu-system-aarch64 (…)"
    monkeypatch.setenv("CI", "true")
    assert conftest.lab_skip_reason() is None
    monkeypatch.delenv("CI")
    monkeypatch.setattr(packages, "missing_tools", list)
    assert conftest.lab_skip_reason() is None
    assert LESSON.name in conftest.LAB_LESSONS
