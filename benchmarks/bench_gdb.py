"""Per stop, with a real debugger: gdb-multiarch ``continue`` to a breakpoint, in a loop.

    .venv/bin/python benchmarks/bench_gdb.py [--stops N]

The same static ELF (tests/gdb/loop.S, which calls ``hot`` argv[1] times) runs under
``armbp gdbserver`` and under ``qemu-aarch64 -g``; gdb-multiarch breaks on ``hot`` and
continues N times (default 1000). Each stop is a full GDB round: the BRK traps, the stop
reply goes out, GDB reads registers and memory, removes and re-inserts its breakpoint, and
the stub steps over it. The time is measured inside GDB around the loop only (start-up
excluded). One run each; prints the figures and the ratio (goal: armbp <= 2x qemu).
Needs gdb-multiarch, qemu-user and binutils-aarch64-linux-gnu.
"""

from __future__ import annotations

import argparse
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from gdb.guests import build_elf, free_port

SCRIPT = """\
set pagination off
set confirm off
break hot
continue
python import time; t0 = time.perf_counter()
set $i = 0
while $i < {stops}
  continue
  set $i = $i + 1
end
python print("ELAPSED %.6f" % (time.perf_counter() - t0))
kill
"""


def run(
    stub_argv: list[str],
    port_from_banner: bool,
    elf: pathlib.Path,
    script: pathlib.Path,
    port: int,
) -> float:
    stub = subprocess.Popen(
        stub_argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        if port_from_banner:
            line = stub.stdout.readline().decode()
            if not line.startswith("listening on "):
                raise SystemExit(f"the stub did not start: {line!r}")
            port = int(line.rsplit(":", 1)[1])
        out = subprocess.run(
            [
                "gdb-multiarch",
                "-nx",
                "-batch",
                "-ex",
                "set tcp connect-timeout 20",
                "-ex",
                f"target remote 127.0.0.1:{port}",
                "-x",
                str(script),
                str(elf),
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=600,
        ).stdout
    finally:
        stub.kill()
        stub.wait(10)
        stub.stdout.close()
    m = re.search(r"ELAPSED (\d+\.\d+)", out)
    if not m:
        raise SystemExit(f"no timing in the GDB output:\n{out[-2000:]}")
    return float(m.group(1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stops", type=int, default=1000)
    args = ap.parse_args()
    for tool in ("gdb-multiarch", "qemu-aarch64", "aarch64-linux-gnu-as"):
        if not shutil.which(tool):
            print(
                f"bench_gdb: {tool} not found (apt-get install gdb-multiarch qemu-user "
                f"binutils-aarch64-linux-gnu)"
            )
            return 1
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        elf = build_elf("loop", tmp)
        script = tmp / "bench.gdb"
        script.write_text(SCRIPT.format(stops=args.stops))
        n = str(args.stops + 2)
        armbp = run(
            [sys.executable, "-m", "armbp.gdbserver", "--port", "0", str(elf), n],
            True,
            elf,
            script,
            0,
        )
        port = free_port()
        qemu = run(["qemu-aarch64", "-g", str(port), str(elf), n], False, elf, script, port)
    print(f"gdb-multiarch, {args.stops} x `continue` to a breakpoint (one run each):")
    print(f"  armbp gdbserver   {armbp:8.3f} s   {armbp / args.stops * 1e3:7.3f} ms/stop")
    print(f"  qemu-aarch64 -g   {qemu:8.3f} s   {qemu / args.stops * 1e3:7.3f} ms/stop")
    print(f"  ratio armbp/qemu  {armbp / qemu:8.2f} x   (goal <= 2x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
