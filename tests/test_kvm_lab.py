"""The model checked against real Linux KVM: the lab machine boots Debian's arm64 kernel in
qemu-system-aarch64 (EL2 on, so KVM initialises), and every scenario of
``armbp.kvm.lab.scenarios`` runs on both machines. The exit records must be equal, or the
difference is listed below with its reason; a listed difference that disappears fails
too, so that the list stays true."""

from __future__ import annotations

import gzip
import os
import shutil

import pytest

from armbp.asm import assemble
from armbp.demo import demo_program
from armbp.exercises.lesson7 import STRAY_SOURCE
from armbp.kvm.abi import ExitReason, GuestDebug
from armbp.kvm.lab import initramfs, machine, packages, scenarios
from armbp.kvm.lab.backend import LabVCpu
from armbp.memory import MemoryFault
from tests.conftest import IN_CI, require_tool

_STRAY = assemble(STRAY_SOURCE, name="stray")

# scenario name -> (the registers in which the model may differ from real KVM, why). Empty:
# the model agrees with KVM on every scenario (PSCI SYSTEM_OFF's x0 = -6, x1-x3 = 0 included).
KNOWN_DIFFERENCES: dict[str, tuple[set[str], str]] = {}


@pytest.fixture(scope="module")
def lab():
    require_tool("qemu-system-aarch64", "qemu-system-arm")
    require_tool("apt-get", "apt")
    require_tool("dpkg-deb", "dpkg")
    cache = os.environ.get("ARMBP_KVM_CACHE")
    try:
        m = machine.LabMachine(None if cache else packages.default_cache(), log=lambda _: None)
    except packages.LabUnavailable as e:  # e.g. no Debian archive reachable
        if IN_CI:
            raise
        pytest.skip(f"the KVM lab cannot be built here: {e}")
    yield m
    m.close()
    assert m.proc.returncode == 0, m.log_lines[-8:]  # the guest powered itself off


def test_real_kvm_offers_what_the_model_assumes(lab):
    caps = lab.caps
    assert caps["api"] == 12 and caps["set_guest_debug"] == 1
    assert (caps["hw_bps"], caps["hw_wps"]) == (6, 4)  # the slots issue 11 models
    assert caps["immediate_exit"] == 1


@pytest.mark.parametrize("scenario", scenarios.SCENARIOS, ids=lambda s: s.name)
def test_the_model_and_the_kernel_give_the_same_exit(lab, scenario):
    real = scenarios.on_kvm(lab, scenario)
    model = scenarios.on_model(scenario)
    differ = {key for key in set(real) | set(model) if real.get(key) != model.get(key)}
    expected, why = KNOWN_DIFFERENCES.get(scenario.name, (set(), ""))
    assert differ == expected, (scenario.name, why, real, model)


def test_the_reference_syndromes_of_real_kvm(lab):
    """What ../shared/KVM.md recorded, measured again here."""
    by_name = {s.name: s for s in scenarios.SCENARIOS}
    assert scenarios.on_kvm(lab, by_name["our BRK #0"])["debug"][0] == 0xF2000000
    assert scenarios.on_kvm(lab, by_name["our BRK #0x99"])["debug"][0] == 0xF2000099
    step = scenarios.on_kvm(lab, by_name["step over add"])
    assert step["debug"][0] == 0xCB000022 and step["pc"] == scenarios.BASE + 4


def test_a_new_program_runs_where_another_one_ran(lab):
    """The guest runs the program loaded now, not what an earlier guest ran at the same
    address. Lesson 0's demo and lesson 7's guest both start at 0x40000: with demo's
    memory dropped, lesson 7's lands in the same pages, and QEMU 7.2 kept the translation
    of demo's `mov x0, #3` where lesson 7 has its watched `str w2, [x1], #4` whenever the
    agent's copy used SVE (see ``machine.LabMachine``): 4 times in 4 before ``sve=off``."""
    import gc

    step = GuestDebug.ENABLE | GuestDebug.SINGLESTEP
    demo = LabVCpu(demo_program(), lab=lab)
    demo.set_guest_debug(step)
    for _ in range(3):  # adr, msr vbar_el1, mov x0, #3: each translated for a step
        assert demo.run(5).reason is ExitReason.DEBUG
    assert demo.read_register("x0") == 3
    del demo
    gc.collect()  # dropped with the next "new": its pages go back to the lab's kernel
    stray = LabVCpu(_STRAY, lab=lab)
    stray.set_guest_debug(step)
    for _ in range(3):  # adr x1, table; mov x2, #0; str w2, [x1], #4
        assert stray.run(5).reason is ExitReason.DEBUG
    assert stray.pc == _STRAY.symbols["fill"] + 4
    assert stray.read_register("x0") == 0  # not demo's mov x0, #3
    assert stray.read_register("x1") == _STRAY.symbols["table"] + 4  # the str ran


def test_agent_errors_come_back_as_the_same_exception(lab):
    with pytest.raises(ValueError, match="unknown op 'fly'"):
        lab.request("fly")
    cpu = LabVCpu(assemble("nop", base=scenarios.BASE), lab=lab)  # and the agent still serves
    with pytest.raises(ValueError, match="unknown register 'x31'"):
        cpu.read_register("x31")
    with pytest.raises(MemoryFault, match="nothing is mapped at 0x10"):
        cpu.memory.read(0x10, 4)
    with pytest.raises(ValueError, match="unknown method 'fly'"):
        cpu._call("fly")
    assert cpu.read_register("sctlr_el1") & 1 == 0  # the MMU is off, as in the model


def test_a_qemu_that_cannot_boot_is_a_clear_error_not_a_hang(tmp_path, monkeypatch):
    require_tool("qemu-system-aarch64", "qemu-system-arm")
    bogus = tmp_path / "vmlinuz"
    bogus.write_bytes(b"not a kernel")
    image = tmp_path / "initrd.cpio.gz"
    initramfs.write([("dev", None)], image)
    monkeypatch.setattr(machine, "build", lambda cache=None, log=print: (bogus, image))
    monkeypatch.setattr(machine, "BOOT_SECONDS", 60.0)
    with pytest.raises(machine.LabError, match=r"QEMU exited|did not answer"):
        machine.LabMachine(tmp_path)


def test_initramfs_round_trip_and_format(tmp_path):
    (tmp_path / "src" / "sub").mkdir(parents=True)
    (tmp_path / "src" / "sub" / "a.txt").write_text("hello")
    (tmp_path / "src" / "__pycache__").mkdir()
    (tmp_path / "src" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    os.symlink("sub/a.txt", tmp_path / "src" / "link")
    out = tmp_path / "i.cpio.gz"
    n = initramfs.write(
        [("dev", None), ("init", b"#!/bin/sh\n"), *initramfs.tree(tmp_path / "src", "s")], out
    )
    names = initramfs.read_names(out)
    assert names == ["dev", "init", "s", "s/sub", "s/link", "s/sub/a.txt"] and n == len(names)
    raw = gzip.decompress(out.read_bytes())
    assert raw.startswith(b"070701") and raw.rstrip(b"\0").endswith(b"TRAILER!!!")
    assert b"hello" in raw and b"sub/a.txt" in raw  # the symlink's target is its data


def test_missing_tools_are_named_with_their_package(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda tool: None)
    lines = packages.missing_tools()
    assert "qemu-system-aarch64 (Debian/Ubuntu: apt-get install qemu-system-arm)" in lines
    assert len(lines) == len(packages.TOOLS)
