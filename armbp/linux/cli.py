"""``armbp run PROGRAM [ARGS...]``: a static AArch64 Linux ELF run at EL0, as qemu-aarch64 runs it.

The program's stdin, stdout and stderr are this command's; its exit status is this
command's, and a program killed by a signal ends it with 128 + the signal's number (what a
shell shows for qemu-aarch64, which kills itself with the same signal), after one line on
stderr naming the signal and, for a fault, the syndrome and address. A program whose
threads all wait for ever (a deadlock: the kernel would let it hang) ends with status 1
and one line naming what each thread waits on.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="armbp run",
        description="Run a static AArch64 Linux ELF at EL0 on armbp's vCPU (as qemu-aarch64 does).",
    )
    p.add_argument(
        "--strace",
        action="store_true",
        help="print each system call the program makes on stderr",
    )
    p.add_argument("program", help="a static AArch64 Linux ELF")
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the program")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the program to its end; the exit status as described in the module doc."""
    from armbp.elf import ElfError
    from armbp.linux.process import LinuxProcess

    opts = _parser().parse_args(argv)
    logging.basicConfig(format="%(message)s")
    log = (lambda line: print(line, file=sys.stderr, flush=True)) if opts.strace else None
    try:
        proc = LinuxProcess(
            opts.program,
            [opts.program, *opts.args],
            envp=[f"{k}={v}" for k, v in os.environ.items() if k in ("LANG", "PATH", "HOME")],
            log=log,
            stdin=sys.stdin.buffer if sys.stdin is not None else None,
            tty=sys.stdout.isatty(),
        )
    except (OSError, ElfError, ValueError) as e:
        print(f"armbp run: {e}", file=sys.stderr)
        return 2
    dbg = proc.launch()
    while True:
        end = proc.run(dbg, 5.0)
        if end.kind != "running":
            break
    assert proc.syscalls is not None
    proc.syscalls.close_all()
    if end.kind == "exited":
        return end.code
    if end.kind == "signal" and end.signal is not None:
        what = end.siginfo.describe() if end.siginfo else f"signal {end.signal}"
        print(f"armbp: the program was killed by {what}", file=sys.stderr)
        return 128 + end.signal
    if end.kind == "deadlock":  # the kernel would hang for ever: say so and end
        print(f"armbp run: the program can never go on — {end.note}", file=sys.stderr)
        return 1
    print(f"armbp run: the program stopped: {end.note}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
