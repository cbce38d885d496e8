"""Real KVM in the lab: how long the machine takes to come up, and what one exit costs.

Boots the lab machine (``armbp.kvm.lab.machine``: Debian's arm64 kernel in
qemu-system-aarch64 with EL2, KVM inside), then times a guest that hits a BRK, is moved
past it and runs into the next one, N times: on real KVM (each exit is a KVM_RUN inside
the emulated machine plus the host's request over the serial console) and on the Unicorn
model, side by side in one run. Also the pure KVM_RUN time the agent measures inside.

Run: ``python benchmarks/bench_kvm_lab.py`` (or ``make bench``). Prints figures, asserts
nothing. Needs qemu-system-aarch64, apt-get and dpkg-deb (it says so and stops if not);
the first run downloads ~70 MB into ~/.cache/armbp/kvm.
"""

from __future__ import annotations

import statistics
import sys
import time

from armbp.asm import assemble
from armbp.kvm.abi import GuestDebug
from armbp.kvm.lab import machine, packages, scenarios

N = 200
SOURCE = "\n".join(["brk #0"] * 4) + "\nb ."


def main() -> int:
    missing = packages.missing_tools()
    if missing:
        print("bench_kvm_lab: skipped, the lab needs " + "; ".join(missing))
        return 0
    started = time.monotonic()
    lab = machine.LabMachine(log=lambda _: None)
    print(f"packages + initramfs: {lab.build_seconds:6.1f} s (cached after the first run)")
    print(f"QEMU start to the agent's first answer: {lab.boot_seconds:6.1f} s")
    program = assemble(SOURCE, base=scenarios.BASE)
    try:
        lab.request("vm", base=scenarios.BASE, size=scenarios.SLOT_SIZE,
                    code=program.code.hex(), entry=scenarios.BASE)  # fmt: skip
        lab.request("guest_debug", control=int(GuestDebug.ENABLE | GuestDebug.USE_SW_BP))
        first = lab.request("run", seconds=5)
        print(f"first exit after boot: {time.monotonic() - started:6.1f} s from start "
              f"(hsr {first['hsr']:#010x})")  # fmt: skip
        inside, round_trips = [], []
        for _ in range(N):
            t = time.perf_counter()
            lab.request("set_reg", name="pc", value=scenarios.BASE)
            e = lab.request("run", seconds=5)
            round_trips.append(time.perf_counter() - t)
            inside.append(e["seconds"])
    finally:
        lab.close()
    from armbp.kvm.unicorn import VCpu

    cpu = VCpu(program)
    cpu.set_guest_debug(GuestDebug.ENABLE | GuestDebug.USE_SW_BP)
    model = []
    for _ in range(N):
        t = time.perf_counter()
        cpu.pc = scenarios.BASE
        cpu.run(5)
        model.append(time.perf_counter() - t)
    kvm_ms = statistics.median(round_trips) * 1e3
    run_ms = statistics.median(inside) * 1e3
    model_us = statistics.median(model) * 1e6
    print(f"one BRK exit, host round trip (set pc + KVM_RUN): {kvm_ms:7.2f} ms median of {N}")
    print(f"  of which KVM_RUN inside the emulated machine:      {run_ms:7.2f} ms")
    print(f"the same exit on the Unicorn model:                 {model_us:7.1f} µs "
          f"({kvm_ms * 1e3 / model_us:.0f}× faster than the lab)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
