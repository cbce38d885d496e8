"""Real KVM in the lab: how long the machine takes to come up, and what one exit costs.

Boots the lab machine (``armbp.kvm.lab.machine``: Debian's arm64 kernel in
qemu-system-aarch64 with EL2, KVM inside) and times, side by side in one run:

* QEMU start to the agent's first answer, and to the first exit of a guest;
* one BRK exit through the backend (``LabVCpu``: set pc + ``KVM_RUN`` + the answer over
  the serial console) against the Unicorn model's ``VCpu``;
* one ``Debugger.cont()`` from a breakpoint in a loop to the same breakpoint again (the
  step-over from the scratch slot, then the hit) with ``backend="kvm-lab"`` against
  ``backend="unicorn"``.

Run: ``python benchmarks/bench_kvm_lab.py`` (or ``make bench``). Prints figures, asserts
nothing. Needs qemu-system-aarch64, apt-get and dpkg-deb (it says so and stops if not);
the first run downloads ~70 MB into ~/.cache/armbp/kvm.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable

from armbp.asm import assemble
from armbp.debugger import Debugger
from armbp.kvm.abi import GuestDebug
from armbp.kvm.lab import machine, packages

N = 100
BRKS = "\n".join(["brk #0"] * 4) + "\nb ."
LOOP = "loop: add x0, x0, #1\n      b loop"


def _median(action: Callable[[], object], n: int = N) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        action()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> int:
    missing = packages.missing_tools()
    if missing:
        print("bench_kvm_lab: skipped, the lab needs " + "; ".join(missing))
        return 0
    started = time.monotonic()
    lab = machine.shared()
    print(f"packages + initramfs: {lab.build_seconds:6.1f} s (cached after the first run)")
    print(f"QEMU start to the agent's first answer: {lab.boot_seconds:6.1f} s")
    from armbp.kvm.lab.backend import LabVCpu
    from armbp.kvm.unicorn import VCpu

    program = assemble(BRKS)
    kvm, model = LabVCpu(program), VCpu(program)
    for cpu in (kvm, model):
        cpu.set_guest_debug(GuestDebug.ENABLE | GuestDebug.USE_SW_BP)
    first = kvm.run(5)
    print(f"first exit after boot: {time.monotonic() - started:6.1f} s from start ({first!r})")

    def brk_exit(cpu: LabVCpu | VCpu) -> Callable[[], object]:
        def once() -> object:
            cpu.pc = program.base
            return cpu.run(5)

        return once

    kvm_brk, model_brk = _median(brk_exit(kvm)), _median(brk_exit(model))
    print(f"one BRK exit (set pc + run), median of {N}:")
    print(f"  kvm-lab {kvm_brk * 1e3:8.2f} ms   unicorn {model_brk * 1e6:8.1f} µs   "
          f"(ratio {kvm_brk / model_brk:6.0f}×)")  # fmt: skip

    loop = assemble(LOOP)
    conts = {}
    for name in ("kvm-lab", "unicorn"):
        dbg = Debugger(loop, backend=name)
        dbg.break_at("loop")
        dbg.cont()
        conts[name] = _median(lambda d=dbg: d.cont(5))
        assert dbg.last_stop is not None and dbg.last_stop.pc == loop.symbols["loop"]
    kvm_cont, model_cont = conts["kvm-lab"], conts["unicorn"]
    print(f"Debugger.cont() from a breakpoint to it again (step-over + hit), median of {N}:")
    print(f"  kvm-lab {kvm_cont * 1e3:8.2f} ms   unicorn {model_cont * 1e6:8.1f} µs   "
          f"(ratio {kvm_cont / model_cont:6.0f}×)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
