"""How long a static ELF takes to start, as its .bss grows: armbp against qemu-aarch64.

    .venv/bin/python benchmarks/bench_load.py [--sizes 1,8,64] [--repeat 5]

The same program (``_start`` calls ``exit(0)``, then a ``.bss`` of N MiB) is built with
GNU as and ld for each size and started three ways, side by side in one run:

* ``load_elf`` + ``VCpu``: read the ELF into a ``Program`` and build the machine it runs
  on (bare-metal, as in the lessons);
* ``LinuxProcess`` + ``VCpu`` + ``start``: the Linux loader's pages, the initial stack,
  the machine, and the ``ERET`` to the entry point at EL0 (what ``armbp gdbserver`` does);
* ``qemu-aarch64 FILE``: the whole process, start to exit (when qemu-user is installed).

Each figure is the best of ``--repeat`` runs. The last line is the scaling ratio, the
time for the largest ``.bss`` over the time for the smallest: a loader linear in the
segment size would show the size ratio (64x); one that leaves the zero pages to the
zeroed guest memory, as the kernel does, stays near 1x. Needs binutils-aarch64-linux-gnu.
"""

from __future__ import annotations

import argparse
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from armbp.elf import load_elf
from armbp.kvm.unicorn import VCpu
from armbp.linux import LinuxProcess

SOURCE = """\
        .text
        .global _start
_start: mov x0, #0
        mov x8, #93             // exit(0)
        svc #0
        .bss
        .balign 16
buf:    .skip {size}
"""


def build(tmp: pathlib.Path, mib: int) -> pathlib.Path:
    src, obj, elf = tmp / f"bss{mib}.s", tmp / f"bss{mib}.o", tmp / f"bss{mib}.elf"
    src.write_text(SOURCE.format(size=mib << 20))
    subprocess.run(["aarch64-linux-gnu-as", "-o", str(obj), str(src)], check=True)
    subprocess.run(["aarch64-linux-gnu-ld", "-static", "-o", str(elf), str(obj)], check=True)
    return elf


def best(repeat: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bare(elf: pathlib.Path) -> None:
    VCpu(load_elf(elf))


def linux(elf: pathlib.Path) -> None:
    proc = LinuxProcess(elf, stdout=lambda b: None)
    proc.start(VCpu(proc.program))


def qemu(elf: pathlib.Path) -> None:
    subprocess.run(["qemu-aarch64", str(elf)], check=True, timeout=60)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1,8,64", help="the .bss sizes in MiB (default 1,8,64)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    for tool in ("aarch64-linux-gnu-as", "aarch64-linux-gnu-ld"):
        if not shutil.which(tool):
            print(f"bench_load: {tool} not found (apt-get install binutils-aarch64-linux-gnu)")
            return 1
    ways: list[tuple[str, Callable[[pathlib.Path], None]]] = [
        ("load_elf + VCpu", bare),
        ("LinuxProcess + start", linux),
    ]
    if shutil.which("qemu-aarch64"):
        ways.append(("qemu-aarch64 (process)", qemu))
    else:
        print("(qemu-aarch64 not found: apt-get install qemu-user for its column)")
    with tempfile.TemporaryDirectory() as tmp:
        elfs = {mib: build(pathlib.Path(tmp), mib) for mib in sizes}
        for _, fn in ways:  # first calls import and warm up: not timed
            fn(elfs[sizes[0]])
        table = {
            (name, mib): best(args.repeat, lambda f=fn, e=elfs[mib]: f(e))
            for name, fn in ways
            for mib in sizes
        }
    print(f"start a static ELF with a .bss of N MiB (best of {args.repeat}, ms):")
    print(
        f"  {'':24}"
        + "".join(f"{f'{mib} MiB':>10}" for mib in sizes)
        + f"{f'{sizes[-1]}/{sizes[0]} MiB':>14}"
    )
    for name, _ in ways:
        row = [table[name, mib] for mib in sizes]
        print(
            f"  {name:24}"
            + "".join(f"{t * 1e3:10.2f}" for t in row)
            + f"{row[-1] / row[0]:13.2f}x"
        )
    big = sizes[-1]
    if len(ways) > 2:
        print(
            f"  armbp/qemu at {big} MiB: {table[ways[1][0], big] / table[ways[2][0], big]:.2f}x"
            f"   (size ratio {big // sizes[0]}x: linear would scale by that)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
