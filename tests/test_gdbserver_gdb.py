"""Real gdb-multiarch against `armbp gdbserver`, and the same script against qemu-aarch64 -g.

tests/gdb/session.gdb: break in a called function, continue several times in a loop,
registers, x/4xw and x/3i at a breakpoint with always-inserted on (original words), stepi,
bt, finish, delete, memory the guest wrote, continue to the exit code. The two transcripts,
after normalising thread/process ids and paths, must be equal line for line.
"""

from __future__ import annotations

import sys

import pytest
from conftest import require_tool
from gdb.guests import HERE, StubProcess, free_port, normalise, run_gdb

SCRIPT = HERE / "session.gdb"


@pytest.fixture(scope="module")
def tools():
    return {
        "gdb": require_tool("gdb-multiarch", "gdb-multiarch"),
        "qemu": require_tool("qemu-aarch64", "qemu-user"),
        "as": require_tool("aarch64-linux-gnu-as", "binutils-aarch64-linux-gnu"),
    }


Server = StubProcess  # a stub process in its own process group, killed in teardown


@pytest.fixture
def servers():
    started: list[Server] = []

    def start(argv):
        started.append(Server(argv))
        return started[-1]

    yield start
    for s in started:
        s.kill()


def _armbp_session(tools, elf, servers):
    srv = servers([sys.executable, "-m", "armbp.gdbserver", "--port", "0", str(elf)])
    port = srv.port_from_banner()
    transcript = run_gdb(tools["gdb"], port, elf, SCRIPT)
    rc, out = srv.finish()
    return transcript, rc, out


def _qemu_session(tools, elf, servers):
    port = free_port()
    srv = servers([tools["qemu"], "-g", str(port), str(elf)])
    transcript = run_gdb(tools["gdb"], port, elf, SCRIPT)  # GDB retries until qemu listens
    rc, out = srv.finish()
    return transcript, rc, out


def test_gdb_session_against_armbp(tools, loop_elf, servers):
    transcript, rc, out = _armbp_session(tools, loop_elf, servers)
    lines = normalise(transcript, loop_elf)
    assert lines.count("Breakpoint 1, 0x0000000000400114 in hot ()") == 4, transcript
    # x/4xw and x/3i at the breakpoint show the original words, never d4200000
    assert "0x400114 <hot+8>:\t0x10080261\t0xf9400022\t0x8b000042\t0xf9000022" in lines
    assert "=> 0x400114 <hot+8>:\tadr\tx1, 0x410160" in lines
    assert "#1  0x00000000004000d8 in loop ()" in lines
    assert "0x410160:\t0x000000000000000a" in lines  # 1+2+3+4, written by the guest
    assert lines[-1] == "[Inferior 1 (process N) exited with code 017]"
    assert "d4200000" not in transcript
    assert rc == 0 and out == "loop done\n"


def test_gdb_transcripts_equal_qemu_line_for_line(tools, loop_elf, servers):
    ours, _rc, out = _armbp_session(tools, loop_elf, servers)
    theirs, qrc, qout = _qemu_session(tools, loop_elf, servers)
    a, b = normalise(ours, loop_elf), normalise(theirs, loop_elf)
    assert a == b, (
        "\n".join(f"armbp: {x!r}\nqemu:  {y!r}" for x, y in zip(a, b, strict=False) if x != y)
        or f"lengths differ: {len(a)} vs {len(b)}"
    )
    # the guest's own output and exit status agree too
    assert out == qout == "loop done\n" and qrc == 15


def test_gdb_repeated_z0_packets_are_idempotent(tools, loop_elf, servers, tmp_path):
    """Real GDB sends Z0 twice and z0 once by hand (``maint packet``): no trap is left.

    GDB itself resumes quietly from a swbreak stop where it has no breakpoint, so the stub's
    own log is what shows whether the BRK trapped."""
    script = tmp_path / "z0.gdb"
    script.write_text(
        "set confirm off\n"
        "maint packet Z0,40010c,4\nmaint packet Z0,40010c,4\n"
        "maint packet z0,40010c,4\ncontinue\n"
    )
    srv = servers(
        [sys.executable, "-m", "armbp.gdbserver", "--log", "--port", "0", str(loop_elf)]
    )
    transcript = run_gdb(tools["gdb"], srv.port_from_banner(), loop_elf, script)
    rc, out = srv.finish()
    lines = normalise(transcript, loop_elf)
    assert lines.count('received: "OK"') == 3, transcript
    assert lines[-1] == "[Inferior 1 (process N) exited with code 017]", transcript
    stops = [line for line in out.splitlines() if line.startswith("stop:")]
    assert len(stops) == 1 and "-> W0f" in stops[0], out
    assert rc == 0 and "loop done" in out
