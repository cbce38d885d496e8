"""The Debugger on real KVM: ``backend="kvm"`` (an arm64 host's /dev/kvm) and
``backend="kvm-lab"`` (the same KVM inside the lab machine), against the Unicorn model.

The lab tests drive the lessons' guests through the whole Debugger on both backends and
compare every stop, every exit record and the registers that matter; a difference is
either fixed in the model or listed in ``KNOWN_DIFFERENCES`` with its reason (and a
listed one that disappears fails too). The tests without the lab check the wire format
and that ``KvmVCpu`` refuses clearly on a host that cannot run it (this x86 one).
"""

from __future__ import annotations

import fcntl
import os
import platform
import time
from collections.abc import Callable
from typing import Any

import pytest

from armbp.asm import assemble
from armbp.debugger import Debugger
from armbp.demo import demo_program
from armbp.exercises.lesson7 import STRAY_SOURCE
from armbp.kvm.abi import (
    Budget,
    DebugExit,
    Exit,
    ExitReason,
    GuestDebugArch,
    MemoryAccess,
    SystemEvent,
    SystemEventType,
    VCpuBusy,
)
from armbp.kvm.backend import BACKENDS, make_backend
from armbp.kvm.devkvm import uapi, vcpu
from armbp.kvm.lab import packages, rpc
from armbp.kvm.lab.backend import LabVCpu
from armbp.memory import MemoryFault
from armbp.program import Program, Segment
from tests.conftest import IN_CI, require_tool

# script name -> (the keys of a stop record in which the model may differ, why).
KNOWN_DIFFERENCES: dict[str, tuple[set[str], str]] = {
    "lesson 3: the guest's BRK #0x42 and ours": (
        {"reason", "exit", "note", "events"},
        (
            "an instruction fetch outside every memory slot (VBAR_EL1 = 0, nothing mapped at "
            "0x200): KVM gives it back to the guest as a prefetch abort (kvm_handle_guest_abort "
            "injects it: there is no syndrome a VMM could emulate a fetch from), whose vector "
            "is the same unmapped address, so the guest loops inside KVM until the budget "
            "(BUDGET at pc 0x200); the model exits to the VMM with an MMIO fetch record, so "
            "that a lesson can show the fault"
        ),
    ),
}

_WATCHED = ("x0", "x1", "x2", "x3", "x4", "x7", "x20", "x21", "x23", "sp", "pstate")


def _exit_record(e: Exit) -> tuple[Any, ...]:
    return (
        e.reason.name,
        e.pc,
        None if e.debug is None else (e.debug.hsr, e.debug.hsr_high, e.debug.far),
        None if e.mmio is None else (e.mmio.address, e.mmio.size, e.mmio.access),
        None if e.system_event is None else e.system_event.type.name,
    )


def _stop_record(dbg: Debugger, mark: int) -> dict[str, Any]:
    stop = dbg.last_stop
    assert stop is not None
    events = list(dbg.events)[-(dbg.events_seen - mark) :] if dbg.events_seen > mark else []
    return {
        "reason": stop.reason.name,
        "pc": stop.pc,
        "exit": _exit_record(stop.exit),
        "note": stop.note,
        "hw": (stop.slot, stop.data_address, stop.old_value, stop.new_value, stop.access_pc),
        "events": [(h.verdict.name, _exit_record(h.exit), h.note) for h in events],
        **{name: dbg.read_register(name) for name in _WATCHED},
    }


def _session(program: Program, backend: str, script: Callable[[Debugger], list[str]]):
    dbg = Debugger(program, backend=backend)
    records = []
    for action in script(dbg):
        mark = dbg.events_seen
        if action == "cont":
            # a budget bounds the whole cont() on the host, the lab's round trips
            # included (25-60 ms each, more on a loaded machine): 2 s ran out there
            # before the guest reached the watched store
            dbg.cont(Budget(seconds=20))
        else:
            dbg.step()
        records.append(_stop_record(dbg, mark))
    return records


def _breaks_and_reinjects(dbg: Debugger) -> list[str]:
    dbg.break_at("loop")  # the guest's own BRK #0x99 then traps and is re-injected
    return ["cont"] * 5  # three hits, the guest's PSCI SYSTEM_OFF, still halted


def _steps(dbg: Debugger) -> list[str]:
    return ["step"] * 14  # through the guest's own BRK (no breakpoint: into its vector)


def _steps_from_a_breakpoint(dbg: Debugger) -> list[str]:
    dbg.break_at("loop")
    dbg.break_at(dbg.program.symbols["loop"] + 4)  # on the guest's own BRK: lifted, stepped
    return ["cont", "step", "step", "step", "cont", "cont"]


def _hardware_breakpoint(dbg: Debugger) -> list[str]:
    dbg.hbreak_at("loop")
    return ["cont"] * 4


def _watchpoint(dbg: Debugger) -> list[str]:
    dbg.watch("flag", 4, "write")
    return ["cont"]


def _watchpoint_before(dbg: Debugger) -> list[str]:
    dbg.watch_stop = "before"
    dbg.watch("flag", 4, "write")
    return ["cont", "step"]


def _lesson3(dbg: Debugger) -> list[str]:
    dbg.break_at(dbg.program.base + 4)
    return ["cont", "cont"]  # the guest's BRK #0x42 first: re-injected to VBAR 0 + 0x200


_STRAY = assemble(STRAY_SOURCE, name="stray")
SCRIPTS: dict[str, tuple[Program, Callable[[Debugger], list[str]]]] = {
    "demo: break, continue past it, re-inject the guest's BRK": (
        demo_program(),
        _breaks_and_reinjects,
    ),
    "demo: single steps": (demo_program(), _steps),
    "demo: steps from a breakpoint, one on the guest's BRK": (
        demo_program(),
        _steps_from_a_breakpoint,
    ),
    "demo: hardware breakpoint": (demo_program(), _hardware_breakpoint),
    "lesson 7: watchpoint on flag (after)": (_STRAY, _watchpoint),
    "lesson 7: watchpoint on flag (before)": (_STRAY, _watchpoint_before),
    "lesson 3: the guest's BRK #0x42 and ours": (
        assemble("brk #0x42\nnop\nnop\nb ."),
        _lesson3,
    ),
}


@pytest.fixture(scope="module")
def lab():
    require_tool("qemu-system-aarch64", "qemu-system-arm")
    require_tool("apt-get", "apt")
    require_tool("dpkg-deb", "dpkg")
    from armbp.kvm.lab import machine

    try:
        m = machine.shared()
    except packages.LabUnavailable as e:
        if IN_CI:
            raise
        pytest.skip(f"the KVM lab cannot be built here: {e}")
    return m


@pytest.mark.parametrize("name", list(SCRIPTS))
def test_the_debugger_stops_the_same_on_real_kvm(lab, name):
    program, script = SCRIPTS[name]
    real = _session(program, "kvm-lab", script)
    model = _session(program, "unicorn", script)
    assert len(real) == len(model)
    expected, why = KNOWN_DIFFERENCES.get(name, (set(), ""))
    for i, (r, m) in enumerate(zip(real, model, strict=True)):
        differ = {key for key in r if r[key] != m[key]}
        assert differ == expected, (name, i, why, {k: (r[k], m[k]) for k in differ})


def test_the_scripts_see_what_they_are_about(lab):
    """Each script reaches the stop it is named for (so that agreeing means something)."""
    demo = _session(demo_program(), "kvm-lab", _breaks_and_reinjects)
    assert [r["reason"] for r in demo] == ["BREAKPOINT"] * 3 + ["HALTED"] * 2
    reinjected = [e for r in demo for e in r["events"] if "re-injected" in e[2]]
    assert len(reinjected) == 3 and demo[2]["x23"] == 2  # the guest's handler counted them
    hw = _session(demo_program(), "kvm-lab", _hardware_breakpoint)
    assert [r["reason"] for r in hw[:3]] == ["HW_BREAKPOINT"] * 3
    watch = _session(_STRAY, "kvm-lab", _watchpoint)[0]
    assert watch["reason"] == "WATCHPOINT"
    assert watch["hw"][1:4] == (_STRAY.symbols["flag"], 0xCAFE, 4)
    assert watch["exit"][2][0] >> 26 == 0x34  # EC: watchpoint from a lower EL


def test_a_kick_ends_a_run_on_real_kvm(lab):
    import threading

    cpu = LabVCpu(assemble("b ."))
    timer = threading.Timer(0.5, cpu.kick)
    timer.start()
    e = cpu.run(20)
    timer.join()
    assert (e.reason, e.message) == (ExitReason.BUDGET, "interrupted")
    cpu.kick()  # between runs: the next run returns at once, as a pending signal does
    assert cpu.run(20).message == "interrupted"
    assert cpu.run(0.2).message == "time budget used up"


def test_the_scratch_page_on_real_kvm_refuses_stores_only(lab):
    """What KVM can do of the model's scratch page: a read-only slot (a store is an MMIO
    exit); loads from it are not refused (KvmVCpu's documented difference)."""
    program = assemble("str x0, [x1]\nb .")
    cpu = LabVCpu(program)
    cpu.write_scratch(0, bytes.fromhex("11223344"))
    cpu.write_register("x1", cpu.scratch_base)
    e = cpu.run(1)
    assert e.reason is ExitReason.MMIO and e.mmio is not None
    assert (e.mmio.address, e.mmio.access) == (cpu.scratch_base, "write")
    with pytest.raises(MemoryFault):
        cpu.memory.read(cpu.scratch_base, 4)  # the debugger's view: not guest memory
    assert not cpu.guest_readable(cpu.scratch_base, 4)


# -- no lab needed ------------------------------------------------------------------------
def test_rpc_round_trips_every_record():
    values = [
        Exit(ExitReason.DEBUG, 0x40004, DebugExit(0xF2000099, 1, 0x40)),
        Exit(ExitReason.MMIO, 8, mmio=MemoryAccess(0x900_0000, 4, "write", "why", 0x41)),
        Exit(
            ExitReason.SYSTEM_EVENT,
            12,
            system_event=SystemEvent(SystemEventType.RESET, 0x8400_0009),
        ),
        GuestDebugArch(dbg_bcr=(1,) * 16, dbg_wvr=(2**64 - 1,) + (0,) * 15),
        {0x1000: frozenset({0x1004, 0x1008}), "x1": b"\x00\xff"},
        [1, None, True, 2**64 - 1, "text", 0.5],
    ]
    for value in values:
        line = rpc.dumps(rpc.encode(value))
        assert rpc.decode(__import__("json").loads(line)) == value, line
    program = Program(
        b"", 0x40000, entry=0x40004, segments=(Segment(0x40000, b"\x01", 8, "rx"),)
    )
    back = rpc.decode(rpc.encode(program))
    assert (back.segments, back.entry, back.base) == (program.segments, 0x40004, 0x40000)
    with pytest.raises(ValueError, match="cannot send <object"):
        rpc.encode(object())


def test_rpc_errors_come_back_as_the_same_type():
    cases = [
        MemoryFault(0x10, 4, "read", "nothing is mapped at 0x10"),
        VCpuBusy("run", 1, 2),
        ValueError("unknown register 'x31'"),
        vcpu.KvmUnavailable("/dev/kvm is missing"),
    ]
    for exc in cases:
        back = rpc.decode_error(rpc.encode_error(exc))
        assert type(back) is type(exc) and str(back) == str(exc)
    other = rpc.decode_error(rpc.encode_error(OSError("boom")))
    assert isinstance(other, rpc.RemoteError) and "OSError: boom" in str(other)


def test_both_kvm_backends_are_registered():
    assert BACKENDS["kvm"] == "armbp.kvm.devkvm.vcpu:KvmVCpu"
    assert BACKENDS["kvm-lab"] == "armbp.kvm.lab.backend:LabVCpu"


@pytest.mark.skipif(platform.machine() in ("aarch64", "arm64"), reason="an arm64 host")
def test_the_kvm_backend_refuses_this_host_by_name():
    with pytest.raises(vcpu.KvmUnavailable, match=f"arm64 Linux host.*{platform.machine()}"):
        make_backend("kvm", assemble("nop"))
    with pytest.raises(vcpu.KvmUnavailable, match="backend='kvm-lab'"):
        Debugger("nop", backend="kvm")


def test_the_kvm_backend_names_what_is_missing(monkeypatch):
    monkeypatch.setattr(vcpu, "_machine", lambda: "aarch64")

    def missing():
        raise FileNotFoundError("/dev/kvm")

    monkeypatch.setattr(vcpu, "_open_kvm", missing)
    with pytest.raises(vcpu.KvmUnavailable, match="/dev/kvm is missing"):
        vcpu.check_host()

    def denied():
        raise PermissionError("/dev/kvm")

    monkeypatch.setattr(vcpu, "_open_kvm", denied)
    with pytest.raises(vcpu.KvmUnavailable, match="'kvm' group"):
        vcpu.check_host()

    opened: list[int] = []

    def fake_open():
        opened.append(os.open(os.devnull, os.O_RDONLY))
        return opened[-1]

    answers = {uapi.KVM_GET_API_VERSION: 12, uapi.KVM_CHECK_EXTENSION: 0}
    monkeypatch.setattr(vcpu, "_open_kvm", fake_open)
    monkeypatch.setattr(fcntl, "ioctl", lambda fd, request, arg=0: answers[request])
    with pytest.raises(vcpu.KvmUnavailable, match="lacks KVM_CAP_SET_GUEST_DEBUG"):
        vcpu.check_host()
    with pytest.raises(OSError):
        os.fstat(opened[-1])  # the descriptor was closed on the way out
    answers[uapi.KVM_GET_API_VERSION] = 11
    with pytest.raises(vcpu.KvmUnavailable, match="API version 11, expected 12"):
        vcpu.check_host()


class _FakeLab:
    """The agent's side, answered from a script: what LabVCpu sends, and when."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def request(self, op: str, **args: Any) -> Any:
        self.sent.append({"op": op, **args})
        if op == "new":
            regs = [0] * 31 + [0x50000, 0x40000, 0x3C5]
            return {"vcpu": 7, "scratch_base": 0x41000, "stack_top": 0x53000,
                    "registers": regs, "caps": {}}  # fmt: skip
        if args.get("method") == "run":
            e = Exit(ExitReason.DEBUG, 0x40008, DebugExit(0xF2000000))
            return {"exit": e, "registers": [1] * 31 + [0x50000, 0x40008, 0x3C5],
                    "word": b"\x00\x00\x20\xd4"}  # fmt: skip
        raise AssertionError(f"unexpected request {op} {args}")

    def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)


def test_lab_vcpu_cuts_round_trips():
    lab = _FakeLab()
    cpu = LabVCpu(assemble("nop"), lab=lab)
    assert cpu.pc == 0x40000 and cpu.read_register("sp") == 0x50000  # from "new"
    cpu.pc = 0x40008  # sent with the next request, not on its own
    assert cpu.pc == 0x40008 and len(lab.sent) == 1
    e = cpu.run(1)
    run = lab.sent[-1]
    assert run["method"] == "run" and run["writes"] == [("pc", 0x40008)] and len(lab.sent) == 2
    assert e.pc == 0x40008 and cpu.registers()["x5"] == 1  # the registers came with the exit
    assert cpu.memory.read(0x40008, 4) == b"\x00\x00\x20\xd4"  # and the word at pc
    cpu.scratch_open = frozenset({0x41000})
    cpu.hide_scratch()
    assert len(lab.sent) == 2  # bookkeeping only, no round trip


def test_a_collected_vcpu_is_dropped_by_its_own_lab_only():
    """A vCPU number means something only to the agent that gave it: a second lab (the
    scenarios' machine beside the session's) must not be told to drop it."""
    import gc

    one, two = _FakeLab(), _FakeLab()
    cpu = LabVCpu(assemble("nop"), lab=one)
    del cpu
    gc.collect()
    LabVCpu(assemble("nop"), lab=two)
    assert two.sent[-1]["drop"] == []
    LabVCpu(assemble("nop"), lab=one)
    assert one.sent[-1]["drop"] == [7]  # (the fake agent numbers every vCPU 7)


def test_lab_vcpu_refuses_an_instruction_budget_before_sending_it():
    lab = _FakeLab()
    cpu = LabVCpu(assemble("nop"), lab=lab)
    with pytest.raises(ValueError, match="instruction budget \\(3\\) cannot be honoured"):
        cpu.run(Budget(seconds=1, instructions=3))
    assert [m["op"] for m in lab.sent] == ["new"]


def test_a_lab_run_gets_guest_time_however_long_the_round_trips_before_it_took():
    """The deadline is the host's, but the lab's round trips are not the guest's time: a
    step whose 1 s went on slow requests must still reach the guest, not come back as a
    budget exit that never ran (seen on a loaded machine)."""
    from armbp.kvm.lab.backend import GUEST_SECONDS

    lab = _FakeLab()
    cpu = LabVCpu(assemble("nop"), lab=lab)
    cpu.run_until(time.monotonic() - 5.0)  # the deadline already passed on this side
    assert lab.sent[-1]["args"][0] == GUEST_SECONDS > 0.1
    cpu.run_until(time.monotonic() + 3.0)
    assert 2.5 < lab.sent[-1]["args"][0] <= 3.0  # what is left, when there is enough
