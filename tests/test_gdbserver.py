"""armbp gdbserver over the real breakpoint core, driven by armbp's own RSP client.

The server runs in-process on a background thread (as a notebook would run it) on a free
loopback port; every fixture stops it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import require_tool

from armbp.encodings import BRK0, to_bytes
from armbp.gdb.client import RspClient
from armbp.gdb.server import GdbServer
from armbp.gdb.target import target_factory

HOT_BODY = 0x40010C  # `hot`: its first instruction (stp x29, x30, [sp, #-16]!)
TOTAL = 0x410160  # `total` in .data

SPIN = """\
        .global _start
_start: mov     x0, #0
spin:   add     x0, x0, #1
        b       spin
"""

BARE = """\
        .global _start
_start: mov     x0, #0
loop:   add     x0, x0, #1
        cmp     x0, #3
        b.ne    loop
        movz    x0, #0x0008
        movk    x0, #0x8400, lsl #16
        hvc     #0
"""


@pytest.fixture
def serve():
    servers = []

    def start(program, args=(), **kw):
        out = []
        srv = GdbServer(
            target_factory(str(program), list(args), stdout=out.append, log=kw.get("log")),
            port=0,
            **kw,
        )
        srv.guest_output = out
        servers.append(srv.start())
        return srv

    yield start
    for srv in servers:
        srv.stop()
        assert not srv.running


def test_z0_plants_brk_read_shows_original_and_the_trap_comes_back(loop_elf, serve):
    log = []
    srv = serve(loop_elf, log=log.append)
    with RspClient.connect(srv.port, timeout=10) as gdb:
        feats = gdb.handshake()
        assert feats["qXfer:auxv:read"] == "+"
        regs = gdb.read_registers()
        assert regs[32] == 0x4000B0 and regs[33] & 0xF == 0  # at entry, EL0t
        assert regs[31] % 16 == 0 and regs[0] == 0
        original = gdb.read_memory(HOT_BODY, 4)
        assert gdb.insert_breakpoint(HOT_BODY) == "OK"
        assert gdb.read_memory(HOT_BODY, 4) == original  # the BRK is hidden
        stop = gdb.cont()
        assert stop.raw == "T05thread:p01.01;swbreak:;"
        assert gdb.pc() == HOT_BODY and gdb.read_registers()[0] == 1
        for i in range(2, 5):  # continue from the BRK
            assert gdb.cont().fields.get("swbreak") == ""
            assert gdb.read_registers()[0] == i
        assert gdb.remove_breakpoint(HOT_BODY) == "OK"
        assert int.from_bytes(gdb.read_memory(TOTAL, 8), "little") == 1 + 2 + 3  # not 4 yet
        stop = gdb.cont()
        assert stop.exited and stop.value == 15
        for again in (gdb.cont, gdb.step):  # an exited process stays exited
            stop = again()
            assert stop.exited and stop.value == 15
    assert b"".join(srv.guest_output) == b"loop done\n"
    assert any("Z0,40010c,4 → saved a9bf7bfd, wrote BRK d4200000" in line for line in log)
    assert any("stop: EC 0x3C hsr f2000000 → ours → T05 swbreak" in line for line in log)
    assert any("exit_group" in line for line in log)


def test_brk_really_is_in_guest_memory(loop_elf, serve):
    srv = serve(loop_elf)
    seen = []

    def spy(make=srv.make_target):
        t = make()
        seen.append(t)
        return t

    srv.make_target = spy
    with RspClient.connect(srv.port, timeout=10) as gdb:
        gdb.handshake()
        gdb.insert_breakpoint(HOT_BODY)
        assert seen[0].dbg.raw_memory(HOT_BODY, 4) == to_bytes(BRK0)
        gdb.remove_breakpoint(HOT_BODY)
        assert seen[0].dbg.raw_memory(HOT_BODY, 4) == gdb.read_memory(HOT_BODY, 4)


def test_repeated_z0_then_one_z0_leaves_no_trap(loop_elf, serve):
    """Z0 twice (a retransmission) then z0 once: the guest runs to its exit untrapped."""
    srv = serve(loop_elf)
    with RspClient.connect(srv.port, timeout=10) as gdb:
        gdb.handshake()
        original = gdb.read_memory(HOT_BODY, 4)
        assert gdb.insert_breakpoint(HOT_BODY) == "OK"
        assert gdb.insert_breakpoint(HOT_BODY) == "OK"
        assert gdb.remove_breakpoint(HOT_BODY) == "OK"
        assert gdb.read_memory(HOT_BODY, 4) == original
        stop = gdb.cont()
        assert stop.exited and stop.value == 15, stop.raw


def test_step_and_vcont_forms(loop_elf, serve):
    srv = serve(loop_elf, ["2"])
    with RspClient.connect(srv.port, timeout=10) as gdb:
        gdb.handshake()
        assert gdb.request("vCont?") == "vCont;c;C;s;S"
        assert gdb.step().raw == "T05thread:p01.01;"
        assert gdb.pc() == 0x4000B4
        assert gdb.request("vCont;s:p1.1;c:p1.-1").startswith("T05")
        assert gdb.pc() == 0x4000B8
        gdb.insert_breakpoint(HOT_BODY)
        assert "swbreak" in gdb.request("vCont;c:p1.-1")
        assert gdb.request("vCont;s:p1.1").startswith("T05")  # step off a breakpoint
        assert gdb.pc() == HOT_BODY + 4
        gdb.remove_breakpoint(HOT_BODY)
        # step over the write SVC: the system call runs, the step ends after it
        gdb.insert_breakpoint(0x4000F4)  # svc #0 (write)
        assert "swbreak" in gdb.request("c")
        gdb.remove_breakpoint(0x4000F4)
        assert gdb.request("s").startswith("T05")
        assert gdb.pc() == 0x4000F8 and gdb.read_registers()[0] == 10
        assert gdb.request("c").startswith("W03")  # 1 + 2
    assert b"".join(srv.guest_output) == b"loop done\n"


def test_ctrl_c_interrupts_a_long_continue(tmp_path, serve):
    src = tmp_path / "spin.s"
    src.write_text(SPIN)
    srv = serve(src)
    with RspClient.connect(srv.port, timeout=10) as gdb:
        gdb.handshake()
        gdb.send("c")
        time.sleep(0.3)
        gdb.interrupt()
        assert gdb.receive(timeout=5).startswith("T02")
        assert gdb.read_registers()[0] > 1000
        assert gdb.pc() in (0x40004, 0x40008)
        assert gdb.stop_reason().value == 2


def test_bare_metal_source_runs_at_el1_and_powers_off(tmp_path, serve):
    src = tmp_path / "bare.s"
    src.write_text(BARE)
    srv = serve(src)
    with RspClient.connect(srv.port, timeout=10) as gdb:
        feats = gdb.handshake()
        assert "qXfer:auxv:read" not in feats
        assert gdb.read_registers()[33] & 0xF == 0x5  # EL1h
        gdb.insert_breakpoint(0x40008)
        for _ in range(3):
            assert "swbreak" in gdb.cont().raw
        gdb.remove_breakpoint(0x40008)
        assert gdb.cont().exited  # PSCI SYSTEM_OFF
        pc = gdb.pc()
        assert gdb.cont().exited and gdb.step().exited  # and it stays off
        assert gdb.pc() == pc


FP_GUEST = """\
        .global _start
_start: movz    x1, #0x1111
        movz    x2, #0x2222
        .inst   0x9e670020      // fmov d0, x1
        .inst   0x4e181c40      // mov v0.d[1], x2
stop:   nop
        .inst   0x9e660004      // fmov x4, d0
        .inst   0x4e183c05      // mov x5, v0.d[1]
        .inst   0xd53b4426      // mrs x6, fpsr
done:   b       done
"""


def test_the_fp_feature_serves_the_guests_real_simd_and_fp_registers(tmp_path, serve):
    from armbp.gdb.registers import REG_FPCR, REG_FPSR, REG_V0

    src = tmp_path / "fp.s"
    src.write_text(FP_GUEST)
    srv = serve(src)
    with RspClient.connect(srv.port, timeout=10) as gdb:
        gdb.handshake()
        gdb.insert_breakpoint(0x40010)  # stop
        assert "swbreak" in gdb.cont().raw
        assert gdb.read_register(REG_V0) == 0x2222 << 64 | 0x1111  # q0, 16 bytes
        assert gdb.request(f"p{REG_V0:x}") == "1111" + "00" * 6 + "2222" + "00" * 6
        new = 0xAAAA_BBBB_CCCC_DDDD << 64 | 0x1234_5678_9ABC_DEF0
        assert gdb.request(f"P{REG_V0:x}={new.to_bytes(16, 'little').hex()}") == "OK"
        assert (
            gdb.request(f"P{REG_FPSR:x}={(0x8000_0000).to_bytes(4, 'little').hex()}") == "OK"
        )
        assert (
            gdb.request(f"P{REG_FPCR:x}={(0x0300_0000).to_bytes(4, 'little').hex()}") == "OK"
        )
        assert gdb.read_register(REG_FPCR) == 0x0300_0000
        gdb.insert_breakpoint(0x40020)  # done
        assert "swbreak" in gdb.cont().raw
        regs = gdb.read_registers()
        assert (regs[4], regs[5], regs[6]) == (
            0x1234_5678_9ABC_DEF0,
            0xAAAA_BBBB_CCCC_DDDD,
            0x8000_0000,
        )  # the guest saw them
        assert gdb.request(f"p{REG_V0 + 31:x}") == "00" * 16


def test_disconnect_while_running_leaves_nothing_behind(tmp_path, serve):
    src = tmp_path / "spin.s"
    src.write_text(SPIN)
    srv = serve(src)
    gdb = RspClient.connect(srv.port, timeout=10)
    gdb.handshake()
    gdb.send("c")
    time.sleep(0.1)
    gdb.close()
    srv._thread.join(10)
    assert not srv.running and not srv.errors


def test_errors_for_bad_breakpoints_and_memory(loop_elf, serve):
    srv = serve(loop_elf)
    with RspClient.connect(srv.port, timeout=10) as gdb:
        gdb.handshake()
        assert gdb.request("Z0,400002,4") == "E22"
        assert gdb.request("Z0,10,4") == "E22"
        assert gdb.request("m10,4") == "E14"
        # Z2 is served now (a watchpoint slot); a length no slot can watch is refused
        assert gdb.request("Z2,410160,8") == "OK"
        assert gdb.request("Z2,410161,8") == "E22"  # crosses a doubleword, not a power of 2
        assert gdb.request("z2,410160,8") == "OK"
        # host I/O serves /proc/PID/maps only: any other file is ENOENT
        assert gdb.request("vFile:open:6a7573742070726f62696e67,0,0") == "F-1,2"
        assert gdb.request("?") == "T05thread:p01.01;"


# --- the command ------------------------------------------------------------------------------
@pytest.fixture
def command():
    procs = []

    def run(*args):
        p = subprocess.Popen(
            [sys.executable, "-m", "armbp.gdbserver", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        procs.append(p)
        return p

    yield run
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait(10)
        for f in (p.stdout, p.stderr):
            f.close()


def _listening_port(proc, timeout=20.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.startswith("listening on "):
            return int(line.rsplit(":", 1)[1])
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"no 'listening on' line; stderr: {proc.stderr.read()}")


def test_command_prints_port_warns_off_loopback_and_exits_with_the_guest(loop_elf, command):
    proc = command("--port", "0", "--host", "0.0.0.0", str(loop_elf))
    port = _listening_port(proc)
    with RspClient.connect(port, timeout=10) as gdb:
        gdb.handshake()
        assert gdb.cont().value == 15
    assert proc.wait(20) == 0
    out, err = proc.communicate(timeout=10)
    assert "no authentication" in err
    assert "loop done" in out


def test_command_rejects_what_it_cannot_run(tmp_path, command):
    bad = tmp_path / "bad.s"
    bad.write_text("    frobnicate x0\n")
    proc = command("--port", "0", str(bad))
    assert proc.wait(30) == 2
    assert "frobnicate" in proc.stderr.read()
    proc = command("--port", "0", str(tmp_path / "missing.elf"))
    assert proc.wait(30) == 2


def _malformed(loop_elf, name):
    """Files `armbp gdbserver` must refuse with one line: (file name, bytes, words expected)."""
    import struct

    image = bytearray(loop_elf.read_bytes())
    struct.pack_into("<Q", image, 24, 0x10)  # e_entry where nothing is mapped
    return {
        "truncated.elf": (b"\x7fELFgarbage", "truncated ELF header"),
        "entry.elf": (bytes(image), "0x10"),
        "bad.s": (
            b"    mov x0, #1\n    frobnicate x0\n",
            "line 2, col 5: unknown instruction",
        ),
        "binary.s": (bytes(range(0x80, 0x100)), "neither an ELF nor UTF-8 text"),
        "dir": (None, "cannot read it"),
        "missing.elf": (False, "cannot read it (No such file or directory)"),
        "fifo": ("fifo", "not a regular file"),
    }[name]


@pytest.mark.parametrize(
    "name", ["truncated.elf", "entry.elf", "bad.s", "binary.s", "dir", "missing.elf", "fifo"]
)
def test_command_refuses_a_bad_program_in_one_line_naming_it(loop_elf, tmp_path, capsys, name):
    """No traceback: exit status 2 and one stderr line with the file's name and the reason."""
    from armbp.gdb.cli import main

    data, expected = _malformed(loop_elf, name)
    path = tmp_path / name
    if data is None:
        path.mkdir()
    elif data == "fifo":
        os.mkfifo(path)  # nobody writes to it: reading it would block for ever
    elif data is not False:
        path.write_bytes(data)
    assert main(["--port", "0", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1, err
    assert err.startswith(f"armbp gdbserver: {path}: ") and expected in err, err


@pytest.mark.parametrize("port", ["99999", "-1", "65536", "12ab"])
def test_command_refuses_a_port_out_of_range(loop_elf, capsys, port):
    from armbp.gdb.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["--port", port, str(loop_elf)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"argument --port: '{port}': expected a TCP port number 0..65535" in err, err
    with pytest.raises(ValueError, match="expected a TCP port number 0..65535"):
        GdbServer(lambda: None, port=int(port) if port != "12ab" else 1 << 16)


def test_command_says_the_port_is_taken(loop_elf, capsys):
    import socket

    from armbp.gdb.cli import main

    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        taken = other.getsockname()[1]
        assert main(["--port", str(taken), str(loop_elf)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert f"cannot listen on 127.0.0.1:{taken}: port {taken} is taken" in err, err


def test_ipv6_loopback_is_served(loop_elf, serve, command):
    """``--host ::1`` is on the loopback list: it listens on an AF_INET6 socket."""
    srv = serve(loop_elf, host="::1")
    assert srv.host == "::1"
    with RspClient.connect(srv.port, host="::1", timeout=10) as gdb:
        gdb.handshake()
        assert gdb.cont().value == 15
    proc = command("--port", "0", "--host", "::1", str(loop_elf))
    port = _listening_port(proc)
    with RspClient.connect(port, host="::1", timeout=10) as gdb:
        gdb.handshake()
        assert gdb.cont().value == 15
    assert proc.wait(20) == 0
    assert "no authentication" not in proc.stderr.read()


STORM = """\
_start: adr x1, vectors
        msr vbar_el1, x1
        udf #0
        .balign 2048
vectors:
        .skip 0x200
        udf #1                  // the handler faults again: an exception storm
"""


@pytest.mark.parametrize(
    "case",
    ["storm, client running it, SIGINT", "no client, SIGTERM", "started with SIGINT ignored"],
)
def test_a_signal_ends_the_server_at_once(tmp_path, command, case):
    """SIGINT (or SIGTERM) ends ``armbp gdbserver`` with a message, also while a client's
    guest spins in an exception storm: the handler kicks the vCPU, it does not rely on a
    KeyboardInterrupt getting out of the vCPU's hooks."""
    src = tmp_path / "storm.s"
    src.write_text(STORM)
    sig = signal.SIGTERM if "SIGTERM" in case else signal.SIGINT
    if "ignored" in case:
        proc = subprocess.Popen(
            [sys.executable, "-m", "armbp.gdbserver", "--port", "0", str(src)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        )
    else:
        proc = command("--port", "0", str(src))
    try:
        port = _listening_port(proc)
        gdb = None
        if "client" in case:
            gdb = RspClient.connect(port, timeout=10)
            gdb.handshake()
            gdb.send("c")
            time.sleep(0.5)  # the storm is on
            assert proc.poll() is None
        start = time.monotonic()
        proc.send_signal(sig)
        status = proc.wait(5)  # a hang guard: it takes ~0.05 s
        took = time.monotonic() - start
        err = proc.stderr.read()
        assert status == 128 + sig, err
        assert took < 2, took
        assert (
            err == f"armbp gdbserver: stopped by {sig.name} (the guest was discarded, "
            "any client disconnected)\n"
        )
        if gdb is not None:
            assert gdb.sock.recv(100) == b""  # closed, not a T04 stop reply
            gdb.close()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()


def test_start_server_helper_and_notebook_round_trip(loop_elf):
    from armbp.gdb.server import start_server

    out = []
    server = start_server(str(loop_elf), log=out.append, stdout=out.append)
    try:
        with RspClient.connect(server.port, timeout=10) as gdb:
            gdb.handshake()
            gdb.insert_breakpoint(HOT_BODY)
            assert gdb.cont().fields == {"thread": "p01.01", "swbreak": ""}
            gdb.remove_breakpoint(HOT_BODY)
            assert gdb.sent[-1] == f"z0,{HOT_BODY:x},4" and gdb.received[-1] == "OK"
    finally:
        server.stop()
    assert not server.running
    assert any(isinstance(line, str) and line.startswith("<- Z0,") for line in out)


def test_fuzz_against_the_real_target_then_question_mark(loop_elf):
    """Random and mutated packets straight into the stub over the real Debugger."""
    import random

    from test_gdbserver_protocol import _fuzz_packets

    from armbp.gdb.packets import GdbStub, Resume

    make = target_factory(str(loop_elf), stdout=lambda b: None)
    target = make()
    stub = GdbStub(target)
    rng = random.Random(99)
    for payload in _fuzz_packets(rng, 3000):
        result = stub.handle(payload)
        if isinstance(result, Resume):
            target.resume(result.step, 0.002)
        assert not any(n.startswith("internal error") for n in stub.notes), (
            payload,
            stub.notes,
        )
    assert stub.handle(b"?")[:1] in ("T", "W", "X")


def test_the_guests_own_brk_is_a_sigtrap_not_a_breakpoint(tmp_path, serve):
    """Not ours: the VMM re-injects it, the EL0 exception reaches the kernel, SIGTRAP."""
    require_tool("aarch64-linux-gnu-as", "binutils-aarch64-linux-gnu")
    src = tmp_path / "ownbrk.S"
    src.write_text("""
        .global _start
_start: mov x0, #1
        brk #0x7
        mov x8, #93
        svc #0
""")
    subprocess.run(["aarch64-linux-gnu-as", "-o", tmp_path / "o.o", src], check=True)
    subprocess.run(
        ["aarch64-linux-gnu-ld", "-o", tmp_path / "o.elf", tmp_path / "o.o"], check=True
    )
    srv = serve(tmp_path / "o.elf")
    with RspClient.connect(srv.port, timeout=10) as gdb:
        gdb.handshake()
        entry = gdb.pc()
        gdb.insert_breakpoint(entry + 8)  # planted, so BRKs trap to the VMM
        stop = gdb.cont()
        assert stop.raw == "T05thread:p01.01;" and "swbreak" not in stop.fields
        assert gdb.pc() == entry + 4 and gdb.read_registers()[33] & 0xF == 0
        assert gdb.cont().raw == "X05"  # a fatal signal, as under Linux


def test_detach_lets_the_next_client_in_at_once_while_the_guest_runs_on(tmp_path, serve):
    """``D`` with ``--multi``: the detached guest runs on off the server's thread, so the
    next client is served at once (the old detach ran it for 5 s on the accept loop)."""
    from armbp.gdb.target import DETACH_SECONDS

    src = tmp_path / "spin.s"
    src.write_text(SPIN)
    log: list[str] = []
    srv = serve(src, multi=True, log=log.append)
    with RspClient.connect(srv.port, timeout=10) as gdb:
        gdb.handshake()
        detached_at = time.monotonic()
        assert gdb.request("D") == "OK"
    with RspClient.connect(srv.port, timeout=10) as gdb:
        gdb.handshake()
        served_in = time.monotonic() - detached_at
    assert served_in < DETACH_SECONDS / 2, served_in
    [guest] = srv.detached
    assert guest.detached_run.is_alive()  # the spinning guest still runs …
    srv.stop()
    guest.detached_run.join(DETACH_SECONDS / 2)
    assert not guest.detached_run.is_alive()  # … until the server ends: kicked
    assert "detached guest ended: the server stops" in log


def test_a_detached_guest_finishes_its_run_before_a_single_client_server_ends(loop_elf, serve):
    srv = serve(loop_elf)
    with RspClient.connect(srv.port, timeout=10) as gdb:
        gdb.handshake()
        gdb.insert_breakpoint(HOT_BODY)
        assert gdb.cont().fields.get("swbreak") == ""
        assert gdb.request("D") == "OK"
    srv._thread.join(10)
    assert not srv.running
    assert b"".join(srv.guest_output) == b"loop done\n"  # it ran on to its exit, untrapped


def test_detach_logs_a_failure_to_remove_the_breakpoints_and_ends_the_guest():
    from armbp import Debugger, assemble
    from armbp.gdb.target import DebuggerTarget

    log: list[str] = []
    target = DebuggerTarget(Debugger(assemble(BARE)), log=log.append)

    def broken(*, force=False):
        raise RuntimeError("table is gone")

    target.dbg.delete_all = broken
    target.detach()
    assert target.gone and target.detached_run is None
    assert log == [
        (
            "detach: cannot remove the breakpoints (RuntimeError: table is gone): "
            "the guest is ended, not run on"
        )
    ]
