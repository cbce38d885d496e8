"""The vCPU contract (armbp.kvm.abi, armbp.kvm.backend) and the backends behind it.

The VMM, the table, the debugger and the front ends depend on the contract only: they are
imported here with Unicorn blocked, and the VMM's exit handler is driven over a fake vCPU
that keeps its memory in a bytearray and returns scripted exits — the way the breakpoint
table is tested over a bytearray. The rest checks the Unicorn backend's side: the
set_guest_debug refusal of hardware slots, the public-API fallback of its binding helpers,
and WFI detection.

Nothing at the top of this module imports Unicorn: the blocked-import test runs the fake
scenarios of this very module in a subprocess.
"""

from __future__ import annotations

import ast
import dataclasses
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from armbp import esr
from armbp.encodings import NOP, WFI, brk, to_bytes
from armbp.kvm.abi import (
    KVM_ARM_MAX_DBG_REGS,
    PAGE_SIZE,
    REGISTER_NAMES,
    Budget,
    DebugExit,
    Exit,
    ExitReason,
    GuestDebug,
    GuestDebugArch,
    SystemEvent,
    SystemEventType,
)
from armbp.kvm.backend import Backend
from armbp.memory import BytearrayMemory
from armbp.program import Program
from armbp.table import BreakpointTable
from armbp.vmm import ExitHandler, Verdict

ROOT = Path(__file__).resolve().parent.parent
BASE = 0x40000


# -- a fake vCPU: the contract over a bytearray --------------------------------------------------


class FakeMemory(BytearrayMemory):
    """``BackendMemory`` over a bytearray; records every code invalidation."""

    def __init__(self, size: int, base: int):
        super().__init__(to_bytes(NOP) * (size // 4), base)
        self.invalidated: list[tuple[int, int]] = []

    def invalidate_code(self, address: int, size: int) -> None:
        self.invalidated.append((address, size))


class FakeVCpu:
    """A backend with no machine behind it: ``run`` returns the next scripted ``Exit``."""

    def __init__(self, program: Program, script: list[Exit] | None = None):
        self.program = program
        self.memory = FakeMemory(PAGE_SIZE, BASE)
        self.script = list(script or [])
        self.guest_debug = GuestDebug.NONE
        self.guest_debug_calls: list[tuple[GuestDebug, GuestDebugArch | None]] = []
        self.injected: list[tuple[int, int, int | None]] = []
        self.flush_code_writes = True
        self.stack_top = BASE + 2 * PAGE_SIZE
        self.scratch_base = BASE + PAGE_SIZE
        self.scratch_open: frozenset[int] = frozenset()
        self.last_exit: Exit | None = None
        self.regs = dict.fromkeys(REGISTER_NAMES, 0)
        self.regs["pc"] = program.entry
        self.runs = 0

    def map(self, address: int, size: int, perms: str = "rw") -> None:
        raise NotImplementedError("the fake has one page")

    @property
    def pc(self) -> int:
        return self.regs["pc"]

    @pc.setter
    def pc(self, value: int) -> None:
        self.regs["pc"] = value

    def registers(self) -> dict[str, int]:
        return dict(self.regs)

    def read_register(self, name: str) -> int:
        return self.regs[name]

    def write_register(self, name: str, value: int) -> None:
        self.regs[name] = value

    def set_guest_debug(
        self, flags: GuestDebug | int, arch: GuestDebugArch | None = None
    ) -> None:
        self.guest_debug = GuestDebug(flags)
        self.guest_debug_calls.append((self.guest_debug, arch))

    def run(self, budget: Budget | float | None = None) -> Exit:
        return self.run_until(time.monotonic() + Budget.of(budget).seconds)

    def run_until(self, deadline: float, instructions: int = 0) -> Exit:
        self.runs += 1
        exit_ = (
            self.script.pop(0)
            if self.script
            else Exit(ExitReason.BUDGET, self.pc, message="time budget used up")
        )
        self.pc = exit_.pc
        self.last_exit = exit_
        return exit_

    def kick(self) -> None:
        self.script.insert(0, Exit(ExitReason.BUDGET, self.pc, message="interrupted"))

    def ensure_idle(self, what: str) -> None:
        pass

    def reset(self) -> None:
        self.regs = dict.fromkeys(REGISTER_NAMES, 0)
        self.regs["pc"] = self.program.entry

    def inject_exception(
        self, syndrome: int, *, return_to: int, far: int | None = None
    ) -> None:
        self.injected.append((syndrome, return_to, far))
        self.pc = 0x800  # "the guest's vector"

    def write_scratch(self, offset: int, data: bytes) -> None:
        raise AssertionError("no displaced step in these scenarios")

    def open_scratch(
        self, entry: frozenset[int], after: dict[int, frozenset[int]] | None = None
    ) -> None:
        self.scratch_open = entry

    def hide_scratch(self) -> None:
        pass

    def load_vector(self, index: int, address: int, size: int) -> bool:
        return False

    def exchange_x30(self, value: int) -> int:
        old, self.regs["x30"] = self.regs["x30"], value
        return old

    def guest_readable(self, address: int, size: int) -> bool:
        return False


def _program() -> Program:
    from armbp.asm import assemble

    return assemble("nop\n" * 8, base=BASE, name="fake")


def _handler(script: list[Exit]) -> tuple[FakeVCpu, BreakpointTable, ExitHandler]:
    cpu = FakeVCpu(_program(), script)
    table = BreakpointTable(cpu.memory)
    return cpu, table, ExitHandler(cpu, table)


def _deadline() -> float:
    return time.monotonic() + 5


def scenario_our_brk_stops() -> None:
    cpu, table, handler = _handler([Exit(ExitReason.DEBUG, BASE + 8, DebugExit(esr.brk(0)))])
    table.insert(BASE + 8)
    assert handler.update_guest_debug() == GuestDebug.ENABLE | GuestDebug.USE_SW_BP
    assert cpu.guest_debug_calls == [(GuestDebug.ENABLE | GuestDebug.USE_SW_BP, None)]
    assert cpu.memory.read(BASE + 8, 4) == to_bytes(brk(0))
    result = handler.run(_deadline())
    assert result.verdict is Verdict.BREAKPOINT and result.pc == BASE + 8
    assert result.breakpoint is not None and result.breakpoint.pc == BASE + 8
    assert cpu.injected == [] and handler.exits == 1


def scenario_a_brk_not_ours_is_reinjected() -> None:
    off = SystemEvent(SystemEventType.SHUTDOWN, 0x8400_0008)
    cpu, table, handler = _handler(
        [
            Exit(ExitReason.DEBUG, BASE + 4, DebugExit(esr.brk(0x99))),
            Exit(ExitReason.SYSTEM_EVENT, BASE + 12, system_event=off),
        ]
    )
    table.insert(BASE + 8)  # ours is elsewhere
    handler.update_guest_debug()
    seen: list[Verdict] = []
    result = handler.run(_deadline(), on_exit=lambda h: seen.append(h.verdict))
    assert cpu.injected == [(0xF200_0099, BASE + 4, None)]  # the syndrome, at the BRK itself
    assert seen == [Verdict.RESUME, Verdict.HALTED] and result.verdict is Verdict.HALTED
    assert cpu.runs == 2


def scenario_a_debug_exception_we_did_not_ask_for_is_the_guests() -> None:
    cpu, _table, handler = _handler(
        [Exit(ExitReason.DEBUG, BASE, DebugExit(esr.breakpoint(same_el=False)))]
    )  # EC 0x30
    cpu.regs["pstate"] = 0x3C5  # the guest at EL1h: it takes its own breakpoint as EC 0x31
    seen: list = []
    handler.run(_deadline(), on_exit=seen.append)
    assert seen[0].verdict is Verdict.RESUME and "EC 0x31" in seen[0].note
    assert cpu.injected == [(esr.breakpoint(same_el=True), BASE, None)]


def scenario_an_ec_kvm_never_exits_with() -> None:
    cpu, _table, handler = _handler(
        [Exit(ExitReason.DEBUG, BASE, DebugExit(esr.svc(0)))]
    )  # EC 0x15 is no debug exit
    result = handler.run(_deadline())
    assert result.verdict is Verdict.INTERNAL_ERROR and "EC 0x15" in result.note
    assert cpu.injected == []


def scenario_a_budget_exit() -> None:
    _cpu, _table, handler = _handler(
        [Exit(ExitReason.BUDGET, BASE + 4, message="interrupted")]
    )
    result = handler.run(_deadline())
    assert result.verdict is Verdict.BUDGET and result.exit.message == "interrupted"
    assert result.pc == BASE + 4


def scenario_the_debugger_on_the_fake_backend() -> None:
    from armbp.debugger import Debugger, StopReason

    made: list[FakeVCpu] = []

    def factory(program: Program) -> FakeVCpu:
        made.append(
            FakeVCpu(program, [Exit(ExitReason.DEBUG, BASE + 8, DebugExit(esr.brk(0)))])
        )
        return made[0]

    dbg = Debugger(_program(), backend=factory, flush_code_writes=False)
    assert dbg.vcpu is made[0] and not made[0].flush_code_writes
    dbg.break_at(BASE + 8)
    stop = dbg.cont()
    assert stop.reason is StopReason.BREAKPOINT and stop.pc == BASE + 8


SCENARIOS = [
    scenario_our_brk_stops,
    scenario_a_brk_not_ours_is_reinjected,
    scenario_a_debug_exception_we_did_not_ask_for_is_the_guests,
    scenario_an_ec_kvm_never_exits_with,
    scenario_a_budget_exit,
    scenario_the_debugger_on_the_fake_backend,
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__)
def test_the_vmm_over_a_fake_vcpu(scenario):
    scenario()


def test_the_fake_is_a_backend():
    assert isinstance(FakeVCpu(_program()), Backend)


# -- the contract runs without Unicorn ---------------------------------------------------------

_BLOCK = """
import sys
class _NoUnicorn:
    def find_spec(self, name, path=None, target=None):
        if name == "unicorn" or name.startswith("unicorn."):
            raise ImportError(f"{name} is blocked in this test")
        return None
sys.meta_path.insert(0, _NoUnicorn())
"""


def test_the_contract_and_its_users_import_and_run_with_unicorn_blocked():
    modules = [
        "armbp.kvm",
        "armbp.kvm.abi",
        "armbp.kvm.backend",
        "armbp.kvm.arch",
        "armbp.vmm",
        "armbp.table",
        "armbp.debugger",
        "armbp.linux",
        "armbp.demo",
        "armbp.widgets.debugger_view",
        "armbp.view",
        "armbp.gdb",
    ]
    code = (
        _BLOCK
        + f"""
import importlib
for name in {modules!r}:
    importlib.import_module(name)
try:
    import unicorn
except ImportError as e:
    assert "blocked" in str(e), e
else:
    raise AssertionError("the block did not hold")
sys.path.insert(0, {str(ROOT / "tests")!r})
import test_kvm
for scenario in test_kvm.SCENARIOS:
    scenario()
from armbp.debugger import Debugger
try:
    Debugger(test_kvm._program())
except ImportError as e:
    print("default backend:", e)
assert not [m for m in sys.modules if m.split(".")[0] == "unicorn"]
assert "armbp.kvm.unicorn" not in sys.modules
print("ok", len(test_kvm.SCENARIOS))
"""
    )
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    assert f"ok {len(SCENARIOS)}" in out.stdout
    # asking for the Unicorn backend is what imports Unicorn, and it says so
    assert "default backend: unicorn is blocked" in out.stdout


def _imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def test_no_module_outside_the_unicorn_backend_imports_unicorn():
    backend = ROOT / "armbp" / "kvm" / "unicorn"
    offenders = {}
    seen_backend = False
    for path in sorted((ROOT / "armbp").rglob("*.py")):
        uses = {m for m in _imports_of(path) if m.split(".")[0] == "unicorn"}
        if backend in path.parents:
            seen_backend = seen_backend or bool(uses)
        elif uses:
            offenders[str(path.relative_to(ROOT))] = sorted(uses)
    assert offenders == {}
    assert seen_backend  # the scan does see an import of unicorn where there is one


# -- the records -------------------------------------------------------------------------------


def test_guest_debug_numbers_are_kvms():
    assert (GuestDebug.ENABLE, GuestDebug.SINGLESTEP) == (1, 2)
    assert (GuestDebug.USE_SW_BP, GuestDebug.USE_HW) == (1 << 16, 1 << 17)
    assert (ExitReason.DEBUG, ExitReason.SYSTEM_EVENT) == (4, 24)


def test_guest_debug_arch_has_sixteen_slots_of_each_kind_and_validates():
    arch = GuestDebugArch(dbg_bcr=[0] * 15 + [5])
    assert arch.dbg_bcr == (0,) * 15 + (5,) and isinstance(arch.dbg_bcr, tuple)
    assert arch.any() and not GuestDebugArch().any()
    assert len(GuestDebugArch().dbg_wvr) == KVM_ARM_MAX_DBG_REGS == 16
    with pytest.raises(ValueError, match=r"dbg_bvr has 3 slots: expected 16"):
        GuestDebugArch(dbg_bvr=(0, 0, 0))
    with pytest.raises(
        ValueError, match=r"dbg_wcr\[2\]=-1: expected an integer 0\.\.2\*\*64-1"
    ):
        GuestDebugArch(dbg_wcr=(0, 0, -1) + (0,) * 13)
    with pytest.raises(ValueError, match=r"dbg_wvr='x'"):
        GuestDebugArch(dbg_wvr="x")
    with pytest.raises(AttributeError):
        arch.dbg_bcr = ()  # type: ignore[misc]


# -- choosing the backend ----------------------------------------------------------------------


def test_an_unknown_backend_name_lists_the_known_ones():
    from armbp.debugger import Debugger

    with pytest.raises(
        ValueError,
        match=r"unknown backend 'kvmm': expected one of 'kvm', 'kvm-lab', 'unicorn'",
    ):
        Debugger(_program(), backend="kvmm")
    with pytest.raises(
        ValueError, match=r"backend 42: expected a name \('kvm', 'kvm-lab', 'unicorn'\)"
    ):
        Debugger(_program(), backend=42)  # type: ignore[arg-type]


def test_a_backend_instance_is_used_if_it_is_for_that_program():
    from armbp.debugger import Debugger

    prog = _program()
    cpu = FakeVCpu(prog)
    assert Debugger(prog, backend=cpu).vcpu is cpu
    with pytest.raises(ValueError, match="was built for fake, not for other"):
        Debugger(dataclasses.replace(prog, name="other"), backend=cpu)


def test_the_default_backend_is_unicorn():
    from armbp.debugger import Debugger
    from armbp.kvm.unicorn import VCpu

    dbg = Debugger(_program())
    assert type(dbg.vcpu) is VCpu and isinstance(dbg.vcpu, Backend)
    assert type(Debugger(_program(), backend=VCpu).vcpu) is VCpu


# -- the Unicorn backend's side ----------------------------------------------------------------


def test_unicorn_refuses_unmodelled_hardware_slots_and_changes_nothing():
    from armbp.kvm.unicorn import VCpu

    cpu = VCpu(_program())
    cpu.set_guest_debug(GuestDebug.ENABLE | GuestDebug.USE_SW_BP)
    # E set, BAS 0b0000: half of no instruction (an A64 breakpoint needs BAS 0b1111)
    slots = GuestDebugArch(dbg_bcr=(1,) + (0,) * 15, dbg_bvr=(BASE,) + (0,) * 15)
    with pytest.raises(ValueError, match=r"DBGBCR0_EL1 = 0x1 \(slot 0\): BAS=0x0"):
        cpu.set_guest_debug(GuestDebug.ENABLE | GuestDebug.USE_HW, slots)
    assert cpu.guest_debug == GuestDebug.ENABLE | GuestDebug.USE_SW_BP and cpu.traps_brk
    # E, PMC 0b11, BAS 0b1111 (what QEMU writes): armed
    good = GuestDebugArch(dbg_bcr=(0x1E7,) + (0,) * 15, dbg_bvr=(BASE,) + (0,) * 15)
    cpu.set_guest_debug(GuestDebug.ENABLE | GuestDebug.USE_HW, good)
    assert cpu.run(1.0).debug.hsr == 0xC2000022  # type: ignore[union-attr]
    # empty slots, or slots without USE_HW (KVM ignores them then), are accepted
    cpu.set_guest_debug(GuestDebug.ENABLE | GuestDebug.USE_HW, GuestDebugArch())
    cpu.set_guest_debug(GuestDebug.ENABLE | GuestDebug.USE_SW_BP, slots)
    assert cpu.guest_debug_arch is slots
    with pytest.raises(ValueError, match="expected a GuestDebugArch or None"):
        cpu.set_guest_debug(GuestDebug.ENABLE, arch=[0] * 16)  # type: ignore[arg-type]


# A breakpoint under each fix-up the displaced step does on the registers (ldr q: a vector
# load; blr x30: the link exchange), then a hit and a step-over of an ordinary add.
FALLBACK_GUEST = """
_start: adr x6, lit
        adr x30, leaf
again:  nop                     // ldr q3, lit (encoded below: the assembler has no FP)
        blr x30
        add x1, x1, #1
        b again
leaf:   ret
        .balign 16
lit:    .quad 0x1122334455667788, 0x99aabbccddeeff00
"""


def _hits_and_steps():
    from armbp import assemble
    from armbp.debugger import Debugger, StopReason

    first = assemble(FALLBACK_GUEST, base=BASE)
    imm19 = (first.symbols["lit"] - first.symbols["again"]) // 4
    prog = assemble(
        FALLBACK_GUEST.replace("again:  nop", f"again:  .inst {0x9C00_0003 | imm19 << 5:#x}"),
        base=BASE,
    )
    dbg = Debugger(prog)
    for offset in (0, 4, 8):  # ldr q3, blr x30, add
        dbg.break_at(prog.symbols["again"] + offset)
    seen = []
    for _ in range(6):
        stop = dbg.cont(Budget(seconds=5))
        assert stop.reason is StopReason.BREAKPOINT, stop
        seen.append(
            (
                stop.pc,
                dbg.read_register("x1"),
                dbg.read_register("v3"),
                dbg.read_register("x30"),
            )
        )
    stop = dbg.step()
    assert stop.reason is StopReason.STEP
    seen.append((stop.pc, dbg.step_overs["displaced"]))
    return seen


def test_the_binding_helpers_public_api_fallback_runs_hits_and_step_overs(monkeypatch):
    from armbp.kvm.unicorn import binding

    fast = _hits_and_steps()
    calls = []
    monkeypatch.setattr(binding, "_internals", lambda uc: calls.append(uc))  # returns None
    slow = _hits_and_steps()
    assert calls  # every helper went through the fallback ...
    assert slow == fast  # ... and the guest saw the same machine
    assert fast[1][2] == 0x99AABBCCDDEEFF00_1122334455667788  # ldr q3 ran from the slot
    assert fast[-1][1] > 0


def test_the_fallback_stops_a_brk_and_reads_the_word(monkeypatch):
    from armbp import assemble
    from armbp.kvm.unicorn import VCpu, binding

    monkeypatch.setattr(binding, "_internals", lambda uc: None)
    cpu = VCpu(assemble("nop\nbrk #7\nnop", base=BASE))
    cpu.set_guest_debug(GuestDebug.ENABLE | GuestDebug.USE_SW_BP)
    e = cpu.run(1)
    assert e.reason is ExitReason.DEBUG and e.pc == BASE + 4 and e.debug.hsr == esr.brk(7)
    read_pc, read_word, _stop = binding._direct_calls(cpu.uc)
    assert read_pc() == BASE + 4 and read_word(BASE + 4) == brk(7)
    cpu.scratch_fetched = True
    cpu.hide_scratch()  # the TLB flush through uc.ctl
    assert not cpu.scratch_fetched


def test_a_stop_meant_for_an_earlier_run_after_a_wfi_word_is_not_a_hlt():
    """A stop that lands in a run it was not meant for (the watchdog's race, see
    ``_Watchdog``) must send the guest on, even where the word before pc is a WFI: the
    old check read memory and reported HLT for a guest that never ran the WFI."""
    from armbp import assemble
    from armbp.kvm.unicorn import VCpu

    cpu = VCpu(assemble("_start: b spin\nwfi\nspin: b spin", base=BASE))
    assert cpu.memory.read(BASE + 4, 4) == to_bytes(WFI)

    def stray_stop():
        while cpu._runner is None:
            time.sleep(0.001)
        time.sleep(0.05)
        cpu.uc.emu_stop()  # no token, no kick: nobody's stop for this run

    thread = threading.Thread(target=stray_stop)
    thread.start()
    e = cpu.run(0.4)
    thread.join()
    assert e.reason is ExitReason.BUDGET and e.pc == BASE + 8, e


def test_wfi_is_still_a_hlt_exit_and_the_next_run_goes_on_past_it():
    from armbp import assemble
    from armbp.kvm.unicorn import VCpu

    cpu = VCpu(assemble("nop\nwfi\nnop", base=BASE))
    e = cpu.run(1)
    assert e.reason is ExitReason.HLT and e.pc == BASE + 8 and cpu.pc == BASE + 8
    assert "WFI" in e.message
    e = cpu.run(Budget(instructions=1))  # the run goes on past it
    assert e.reason is ExitReason.BUDGET and cpu.pc == BASE + 12


def test_the_words_and_offsets_are_defined_once_and_agree_with_the_assembler():
    import armbp.displaced
    import armbp.linux
    from armbp import assemble, encodings
    from armbp.kvm import arch
    from armbp.kvm.unicorn import traps

    code = assemble("wfi\neret\nb .\nnop", base=BASE).code
    words = [int.from_bytes(code[i : i + 4], "little") for i in range(0, 16, 4)]
    assert words == [encodings.WFI, encodings.ERET, encodings.B, encodings.NOP]
    assert traps.WFI is encodings.WFI and armbp.linux.ERET is encodings.ERET
    assert armbp.linux.VECTOR_LOWER_A64 is arch.VECTOR_LOWER_A64 == 0x400
    assert traps.VECTOR_CURRENT_SPX is arch.VECTOR_CURRENT_SPX == 0x200
    assert armbp.displaced._B is encodings.B
