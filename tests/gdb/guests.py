"""Build the small guest programs of the gdbserver tests with GNU binutils (as + ld)."""

from __future__ import annotations

import pathlib
import subprocess

HERE = pathlib.Path(__file__).resolve().parent  # tests/gdb

# A bare-metal guest (armbp assembly) for the hardware breakpoint and watchpoint tests: the
# loop loads `counter` at 0x40004, stores it back plus one at 0x4000c; `counter` is 0x40018.
COUNTER_SOURCE = """\
_start: adr x1, counter
loop:   ldr x2, [x1]
        add x2, x2, #1
        str x2, [x1]
        b loop
        .balign 8
counter: .quad 0
"""


def build_elf(
    name: str,
    out_dir: pathlib.Path,
    as_tool: str = "aarch64-linux-gnu-as",
    ld_tool: str = "aarch64-linux-gnu-ld",
) -> pathlib.Path:
    """Assemble and link ``tests/gdb/<name>.S`` into ``out_dir/<name>.elf`` (static)."""
    src = HERE / f"{name}.S"
    obj = out_dir / f"{name}.o"
    elf = out_dir / f"{name}.elf"
    subprocess.run([as_tool, "-o", str(obj), str(src)], check=True, timeout=60)
    subprocess.run([ld_tool, "-static", "-o", str(elf), str(obj)], check=True, timeout=60)
    return elf


def free_port() -> int:
    """A TCP port on loopback that was free a moment ago (for servers that need a number)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_gdb(
    gdb: str, port: int, elf: pathlib.Path, script: pathlib.Path, timeout: float = 90
) -> str:
    """Run ``script`` in batch mode against ``:port``; the transcript (stdout + stderr)."""
    proc = subprocess.run(
        [
            gdb,
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
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    return proc.stdout


def normalise(transcript: str, elf: pathlib.Path) -> list[str]:
    """Lines with what legitimately differs between two stubs made equal.

    Thread and process ids (``Thread 1.4242``, ``process 4242``, ``LWP 4242``) become ``N``;
    the ELF's path becomes ``PROG``; the messages the stub's own process prints (qemu's
    "Terminated via GDBstub") are dropped.
    """
    import re

    out = []
    for line in transcript.splitlines():
        line = line.replace(str(elf), "PROG")
        line = re.sub(r"\b(Thread|process|LWP) \d+(\.\d+)?", r"\1 N", line)
        if "Terminated via GDBstub" in line:
            continue
        out.append(line.rstrip())
    return out


class StubProcess:
    """A stub process (armbp gdbserver, qemu-aarch64 -g) in its own process group, fed
    ``stdin`` (then closed; None: no input at all), always killed in teardown."""

    def __init__(self, argv: list[str], stdin: bytes | None = None, env: dict | None = None):
        import subprocess

        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env=env,
        )
        if stdin is not None:
            assert self.proc.stdin is not None
            self.proc.stdin.write(stdin)
            self.proc.stdin.close()
            self.proc.stdin = None  # closed: communicate() must not flush it

    def port_from_banner(self, timeout: float = 30) -> int:
        """The port of the ``listening on HOST:PORT`` line armbp's stub prints first."""
        import time

        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline().decode()
            if line.startswith("listening on "):
                return int(line.rsplit(":", 1)[1])
            if not line and self.proc.poll() is not None:
                break
        assert self.proc.stderr is not None
        raise AssertionError(f"the stub never listened: {self.proc.stderr.read().decode()}")

    def finish(self, timeout: float = 20) -> tuple[int, str]:
        """Wait for the stub to end: (its exit status, the rest of its stdout)."""
        import subprocess

        try:
            out, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        return self.proc.returncode, out.decode(errors="replace")

    def kill(self) -> None:
        import os
        import signal

        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        for f in (self.proc.stdout, self.proc.stderr):
            if f is not None:
                f.close()
