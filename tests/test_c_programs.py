"""C programs built with Debian's cross gcc, run under qemu-aarch64 and under armbp.

Each program in tests/c/ is built with ``aarch64-linux-gnu-gcc -static -g -O0`` (glibc) and
run three ways: ``qemu-aarch64`` (the reference), ``armbp run`` (the command line) and
``LinuxProcess`` (the Python API). Their stdout and exit status must be equal. Then the
same gdb-multiarch script (tests/c/NAME.gdb) runs against ``qemu-aarch64 -g PORT`` and
against ``armbp gdbserver``: the transcripts must be equal line for line after
``normalise`` (below: each normalisation says why the difference is legitimate), and so
must what the program printed. What qemu 7.2's stub does not offer (``catch syscall``,
``$_siginfo``) is checked on armbp against the lines gdb prints for them.
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import pytest
from conftest import IN_CI, require_tool
from gdb.guests import StubProcess, free_port, run_gdb

HERE = pathlib.Path(__file__).resolve().parent / "c"
ROOT = HERE.parent.parent
PROGRAMS = ["loop", "factorial", "structs", "heap", "null", "reader", "threads"]
STDIN = {"reader": b"1 2 3\n40\n"}
CC_HINT = "apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross"


def build_programs(out: pathlib.Path, names: list[str]) -> dict[str, pathlib.Path]:
    """tests/c/NAME.c for each name, built into ``out`` with ``-static -g -O0 -pthread``
    (a missing compiler or C library: fail in CI, skip elsewhere with the install hint)."""
    cc = require_tool("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu")
    elves = {}
    for name in names:
        elf = out / name
        proc = subprocess.run(
            [cc, "-static", "-g", "-O0", "-pthread", "-o", str(elf), str(HERE / f"{name}.c")],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if proc.returncode:
            msg = f"cannot build {name}.c ({proc.stderr.strip()[:300]}): {CC_HINT}"
            if IN_CI:
                pytest.fail(msg + " (CI must run every test)")
            pytest.skip(msg)
        elves[name] = elf
    return elves


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, pathlib.Path]:
    """Every program of tests/c/, built once."""
    return build_programs(tmp_path_factory.mktemp("c"), [*PROGRAMS, "protect", "abort"])


@pytest.fixture(scope="module")
def qemu() -> str:
    return require_tool("qemu-aarch64", "qemu-user")


@pytest.fixture(scope="module")
def gdb() -> str:
    return require_tool("gdb-multiarch", "gdb-multiarch")


def status(returncode: int) -> int:
    """A process's status as a shell shows it: qemu-aarch64 kills itself with the guest's
    fatal signal (returncode -N), armbp exits with 128 + N; both are ``$?`` = 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _qemu_run(qemu: str, elf: pathlib.Path, stdin: bytes) -> tuple[bytes, int]:
    p = subprocess.run([qemu, str(elf)], input=stdin, capture_output=True, timeout=60)
    return p.stdout, status(p.returncode)


def _armbp_run(elf: pathlib.Path, stdin: bytes) -> tuple[bytes, int, str]:
    p = subprocess.run(
        [sys.executable, "-m", "armbp", "run", str(elf)],
        input=stdin,
        capture_output=True,
        timeout=120,
        env=_env(),
    )
    return p.stdout, status(p.returncode), p.stderr.decode(errors="replace")


def _api_run(elf: pathlib.Path, stdin: bytes):
    from armbp.linux import LinuxProcess

    out: list[bytes] = []
    proc = LinuxProcess(elf, [str(elf)], stdout=out.append, stdin=stdin, log=lambda _: None)
    dbg = proc.launch()
    end = proc.run(dbg, 60)
    return b"".join(out), end


# --- stdout and exit status ----------------------------------------------------------------
@pytest.mark.parametrize("name", [*PROGRAMS, "protect", "abort"])
def test_output_and_status_equal_qemu(built, qemu, name):
    elf, stdin = built[name], STDIN.get(name, b"")
    want_out, want_status = _qemu_run(qemu, elf, stdin)
    out, st, err = _armbp_run(elf, stdin)
    assert (out, st) == (want_out, want_status), err
    api_out, end = _api_run(elf, stdin)
    assert api_out == want_out and end.status == want_status, end


def test_a_null_dereference_is_sigsegv_with_the_syndrome_decoded(built):
    """The data abort from EL0 (EC 0x24) the kernel turns into SIGSEGV: the Python API's
    end record keeps the syndrome, decoded, and the faulting address (si_addr)."""
    from armbp.linux import SIGSEGV

    _out, end = _api_run(built["null"], b"")
    assert end.kind == "signal" and end.signal == SIGSEGV and end.status == 139
    info = end.siginfo
    assert info.addr == 8 and info.code == 1  # n->next of a NULL n; SEGV_MAPERR
    assert info.esr >> 26 == 0x24 and info.esr & 0x3F == 0x04  # DABT lower EL, L0 transl.
    assert "data abort, level 0 translation fault, read at 0x8" in info.describe()
    _, _, err = _armbp_run(built["null"], b"")
    assert "killed by SIGSEGV: data abort, level 0 translation fault, read" in err


def test_mprotect_read_only_is_enforced_by_the_vcpu(built):
    """A store to a page mprotect made read-only faults: a permission fault, SIGSEGV."""
    out, end = _api_run(built["protect"], b"")
    assert out == b"read back a, now storing\n"
    assert end.signal == 11 and end.siginfo.code == 2  # SEGV_ACCERR
    assert "level 3 permission fault, write" in end.siginfo.describe()


def test_abort_is_sigabrt(built):
    _out, end = _api_run(built["abort"], b"")
    assert end.kind == "signal" and end.signal == 6 and end.status == 134
    assert end.syscall is not None and end.syscall.name in ("tgkill", "rt_sigprocmask")


# --- gdb sessions --------------------------------------------------------------------------
@pytest.fixture
def stubs():
    started: list[StubProcess] = []

    def start(argv: list[str], stdin: bytes = b"") -> StubProcess:
        started.append(StubProcess(argv, stdin, env=_env()))
        return started[-1]

    yield start
    for s in started:
        s.kill()


def normalise(transcript: str, elf: pathlib.Path) -> list[str]:
    """The transcript with only what legitimately differs made equal.

    * the ELF's path → ``PROG`` (each run builds in its own temporary folder);
    * ``process 4242`` / ``Thread 1.4242`` / ``LWP 4242`` → ``N``: qemu shows host ids
      (its pid, the host thread ids), armbp its own (process 1, threads 1, 2, 3…); gdb's
      own thread numbers ("Thread 2 hit Breakpoint 1") are kept;
    * ``Remote debugging using 127.0.0.1:PORT`` → ``PORT``: each stub gets a free port;
    * stack addresses → ``STACK``: each stub puts the stack elsewhere (qemu far above the
      program, armbp just above it, to keep its displaced-step slot in branch range). Every
      script starts with ``print $sp`` (at the entry point): a hex number within 1 MiB
      below to 64 KiB above that value is a stack address;
    * qemu's own "Terminated via GDBstub" line is dropped (the stub process speaking);
    * ``info threads`` rows: the Target Id's extra text → ``(EXTRA)`` (qemu names its
      vCPU, "CPU#1 [running]", armbp the thread's state, "waiting on futex 0x…"), and the
      frame of every thread but the current one (``*``) → ``FRAME``: where a thread that
      did not hit the breakpoint stands depends on the scheduler (qemu runs host threads
      in parallel, armbp one at a time on its vCPU); runs of spaces → one, as the column
      widths follow those texts. The current thread's row is compared whole, and so is
      every "[New Thread …]" and "Thread N hit Breakpoint" line: the program makes the
      workers take turns, so both stubs report the same threads in the same order.
    Heap addresses are not normalised: the scripts print none (heap contents are read
    through pointers with ``printf``); code and data addresses must agree.
    """
    first = re.search(r"^\$1 = \(void \*\) (0x[0-9a-f]+)$", transcript, re.MULTILINE)
    sp = int(first.group(1), 16) if first else None

    def stack(m: re.Match[str]) -> str:
        value = int(m.group(0), 16)
        near = sp is not None and sp - (1 << 20) <= value <= sp + (64 << 10)
        return "STACK" if near else m.group(0)

    out = []
    for line in transcript.splitlines():
        line = re.sub(r"0x[0-9a-f]+", stack, line)
        line = line.replace(str(elf), "PROG")
        line = re.sub(r"\b(process|LWP) \d+\b", r"\1 N", line)
        line = re.sub(r"\bThread \d+\.\d+\b", "Thread N", line)
        row = re.match(r"^([* ]) +(\d+) +Thread N(?: \([^)]*\))? +(.*)$", line)
        if row:  # a row of info threads
            frame = row.group(3) if row.group(1) == "*" else "FRAME"
            line = f"{row.group(1)} {row.group(2)} Thread N (EXTRA) {frame}"
        elif re.match(r"^ +Id +Target Id +Frame", line):
            line = "Id Target Id Frame"
        line = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", line)
        if "Terminated via GDBstub" in line:
            continue
        out.append(line.rstrip())
    return out


def _armbp_session(gdb, elf, script, stubs, stdin=b""):
    srv = stubs([sys.executable, "-m", "armbp", "gdbserver", "--port", "0", str(elf)], stdin)
    transcript = run_gdb(gdb, srv.port_from_banner(), elf, script)
    return transcript, srv.finish(30)[1]


def _qemu_session(gdb, qemu, elf, script, stubs, stdin=b""):
    port = free_port()
    srv = stubs([qemu, "-g", str(port), str(elf)], stdin)
    transcript = run_gdb(gdb, port, elf, script)  # gdb retries until qemu listens
    return transcript, srv.finish(30)[1]


def assert_sessions_equal(gdb, qemu, stubs, elf: pathlib.Path, name: str) -> None:
    """tests/c/NAME.gdb against ``armbp gdbserver`` and ``qemu-aarch64 -g`` on ``elf``:
    the same transcript once normalised, the same program output, the script run to its
    end."""
    script, stdin = HERE / f"{name}.gdb", STDIN.get(name, b"")
    ours, out = _armbp_session(gdb, elf, script, stubs, stdin)
    theirs, qout = _qemu_session(gdb, qemu, elf, script, stubs, stdin)
    a, b = normalise(ours, elf), normalise(theirs, elf)
    assert a == b, (
        "\n".join(f"armbp: {x!r}\nqemu:  {y!r}" for x, y in zip(a, b, strict=False) if x != y)
        or f"lengths differ: {len(a)} vs {len(b)}\n{ours}"
    )
    assert "Error" not in ours and len(a) > 8, ours  # the script ran to its end
    assert out == qout, (out, qout)


@pytest.mark.parametrize("name", PROGRAMS)
def test_gdb_session_equals_qemu(built, gdb, qemu, stubs, name):
    assert_sessions_equal(gdb, qemu, stubs, built[name], name)


def test_gdb_catch_syscall_and_siginfo_on_armbp(built, gdb, stubs):
    elf = built["null"]
    ours, out = _armbp_session(gdb, elf, HERE / "armbp_only.gdb", stubs)
    lines = normalise(ours, elf)
    expected = [
        "Catchpoint 1 (syscall 'write' [64])",
        "Catchpoint 1 (call to syscall write), ",
        "$1 = 64",
        "Catchpoint 1 (returned from syscall write), ",
        "$2 = 23",  # strlen("about to walk the list\n")
        "Program received signal SIGSEGV, Segmentation fault.",
        "$3 = 11",
        "$4 = 1",  # SEGV_MAPERR
        "$5 = (void *) 0x8",
        "Program terminated with signal SIGSEGV, Segmentation fault.",
        "$6 = 11",
    ]
    found = iter(lines)
    for want in expected:  # in this order, each the start of a line
        assert any(line.startswith(want) for line in found), (want, ours)
    assert out == "about to walk the list\n"


def test_debugger_from_elf_watches_a_c_program_print_line_by_line(built):
    """A student's session: break on a function by name; each continue shows one more line
    (the output is a terminal by default: stdio flushes each line)."""
    from armbp.debugger import Debugger, StopReason

    dbg = Debugger.from_elf(str(built["loop"]))
    dbg.break_at("report")
    seen = []
    while dbg.cont().reason is StopReason.BREAKPOINT:
        seen.append(dbg.stdout.count("\n"))
    assert seen == [0, 1, 2, 3, 4]
    assert dbg.end.code == 15 % 7 and dbg.stdout.endswith("step 5, total 15\n")
    crash = Debugger.from_elf(str(built["null"])).cont()
    assert "killed by SIGSEGV: data abort, level 0 translation fault, read" in crash.message
