"""``armbp gdbserver``: a GDB remote stub whose breakpoints are the BRK table.

A real ``gdb-multiarch`` (or ``armbp.gdb.client.RspClient``) connects over TCP and speaks
RSP; ``armbp.gdb.packets`` says what each packet does to the breakpoint core. SIGINT or
SIGTERM ends ``armbp gdbserver`` at once, whatever the guest is doing: the handler kicks
the vCPU, the client's connection is closed and the process exits 128 + the signal.
"""

from __future__ import annotations

import argparse
import errno
import signal
import socket
import sys

from armbp.gdb.server import GdbServer, check_port, host_port
from armbp.gdb.target import target_factory

# --- the command ----------------------------------------------------------------------------
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _port_argument(text: str) -> int:
    try:
        return check_port(int(text, 10))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected a TCP port number 0..65535 (0 picks a free one)"
        ) from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="armbp gdbserver",
        description="A GDB remote stub over armbp: Z0 packets become BRK #0 in guest "
        "memory, the trap comes back as a KVM-style debug exit. Then: "
        "gdb-multiarch PROGRAM -ex 'target remote :PORT'",
    )
    p.add_argument(
        "--port",
        type=_port_argument,
        default=1234,
        help="TCP port (0 picks a free one; the port is printed when ready)",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; RSP has no authentication)",
    )
    p.add_argument(
        "--multi",
        action="store_true",
        help="keep listening after a client leaves; each client gets a fresh guest",
    )
    p.add_argument(
        "--log",
        action="store_true",
        help="print the RSP conversation and what each packet did in armbp terms",
    )
    p.add_argument("program", help="a static AArch64 Linux ELF, or an armbp assembly source")
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments for an ELF program")
    return p


def startup_error(program: str, exc: BaseException) -> str:
    """One line saying why ``program`` cannot be served, naming the file.

    The ELF loader's and the assembler's errors already say what was expected; the
    assembler's caret picture is dropped (a terminal line is enough to find the place).
    """
    from armbp.asm import AsmError
    from armbp.elf import ElfError

    if isinstance(exc, AsmError):
        where = f"line {exc.line}, col {exc.column}"
        return f"{program}: {where}: {exc.detail}"
    if isinstance(exc, OSError):
        return f"{program}: cannot read it ({exc.strerror or exc})"
    if isinstance(exc, UnicodeDecodeError):
        return (
            f"{program}: neither an ELF nor UTF-8 text (byte {exc.object[exc.start]:#04x}"
            f" at offset {exc.start}): expected a static AArch64 ELF or an armbp "
            "assembly source"
        )
    text = " ".join(str(exc).split())
    if isinstance(exc, ElfError) and program in text:
        return text
    return f"{program}: {text}"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    log = (lambda line: print(line, flush=True)) if args.log else None
    try:
        make_target = target_factory(
            args.program,
            args.args,
            log=log,
            stdin=sys.stdin.buffer if sys.stdin is not None else None,  # as qemu-aarch64 -g
            tty=sys.stdout.isatty(),
        )
        make_target().kill()  # fail now, not when the client connects
    except (OSError, ValueError, RuntimeError) as e:
        # ElfError and AsmError are ValueErrors; RuntimeError: the guest could not be
        # brought to its entry point.
        print(f"armbp gdbserver: {startup_error(args.program, e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C while a big program loads
        print("armbp gdbserver: stopped by SIGINT while loading the program", file=sys.stderr)
        return 128 + signal.SIGINT
    if args.host not in LOOPBACK:
        print(
            f"armbp gdbserver: warning: listening on {args.host}: the GDB remote protocol "
            "has no authentication; anyone who can reach this port controls the guest",
            file=sys.stderr,
        )
    try:
        server = GdbServer(make_target, args.host, args.port, multi=args.multi, log=log)
    except OSError as e:
        where = host_port(args.host, args.port)
        if e.errno == errno.EADDRINUSE:
            why = (
                f"port {args.port} is taken (another program listens there): choose "
                "another --port, or --port 0 for a free one"
            )
        elif isinstance(e, socket.gaierror):
            why = (
                f"no such address {args.host!r} ({e.strerror}): expected e.g. 127.0.0.1 or ::1"
            )
        else:
            why = e.strerror or str(e)
        print(f"armbp gdbserver: cannot listen on {where}: {why}", file=sys.stderr)
        return 2

    def on_signal(signum: int, frame: object) -> None:
        if server.stopped_by is not None:  # a second one: stop waiting for the first
            raise KeyboardInterrupt
        server.shutdown(signal.Signals(signum).name)

    # Our own handler, whatever we inherited (a shell starts `cmd &` with SIGINT ignored):
    # it kicks the vCPU, so the server stops however busy the guest is.
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        # the banner says "ready": a signal from now on is ours to handle
        print(f"listening on {host_port(server.host, server.port)}", flush=True)
        server.serve_forever()
    except KeyboardInterrupt:
        server.stopped_by = server.stopped_by or "SIGINT"
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.stop()
    if server.stopped_by is not None:
        print(
            f"armbp gdbserver: stopped by {server.stopped_by} (the guest was discarded, "
            "any client disconnected)",
            file=sys.stderr,
            flush=True,
        )
        return 128 + getattr(signal, server.stopped_by, signal.SIGINT)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
