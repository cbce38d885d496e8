"""The stub's socket side: ``GdbServer`` listens, acknowledges and runs the target.

It reads packets with the framing layer, acknowledges them (until no-ack mode), hands
each to a ``GdbStub`` and carries out what it asks: a reply, a run of the target in time
slices while watching for Ctrl-C (0x03) and disconnects, or the end of the session. It
logs the conversation in armbp terms. A guest that GDB detached from runs on off the
server's thread, so the next client (``--multi``) is accepted at once.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from collections.abc import Callable

from armbp.gdb.framing import PacketReader, frame
from armbp.gdb.packets import PACKET_SIZE, Close, GdbStub, Resume
from armbp.gdb.registers import REG_PC
from armbp.gdb.target import SIGILL, StopEvent, Target, target_factory

SLICE_SECONDS = 0.02  # a continue runs in slices this long, polling for Ctrl-C


# --- the socket side ----------------------------------------------------------------------
def _show(payload: str, limit: int = 72) -> str:
    text = "".join(c if " " <= c < "\x7f" else "." for c in payload)
    return (
        text if len(text) <= limit else text[:limit] + f"…({len(payload)} characters in all)"
    )


class Connection:
    """One client: reads packets, acknowledges them, writes replies."""

    def __init__(self, sock: socket.socket, log: Callable[[str], None] | None):
        self.sock = sock
        self.reader = PacketReader(max_payload=PACKET_SIZE)
        self.pending: list = []
        self.no_ack = False
        self.log = log
        self.closed = False
        self.last: bytes | None = None

    def send_packet(self, payload: str) -> None:
        self.last = frame(payload.encode("latin-1"))
        self.send_raw(self.last)

    def resend(self) -> None:
        """The client answered ``-``: its copy of our last packet was damaged."""
        if not self.no_ack and self.last is not None:
            self.send_raw(self.last)

    def send_raw(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            self.sock.sendall(data)
        except OSError:
            self.closed = True

    def poll(self, timeout: float | None) -> None:
        """Read what has arrived (waiting up to ``timeout``; None = block)."""
        if self.closed:
            return
        try:
            ready, _, _ = select.select([self.sock], [], [], timeout)
            if not ready:
                return
            data = self.sock.recv(65536)
        except (OSError, ValueError):
            data = b""
        if not data:
            self.closed = True
            return
        self.pending.extend(self.reader.feed(data))


def check_port(port: int) -> int:
    """``port`` if it is a TCP port number (0 = any free one); ValueError saying so if not."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 0xFFFF:
        raise ValueError(
            f"port {port!r}: expected a TCP port number 0..65535 (0 picks a free one)"
        )
    return port


def listen_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port``, IPv4 or IPv6 as ``host`` resolves.

    ``::1`` (or a name that resolves only to IPv6) needs an AF_INET6 socket: an AF_INET one
    refuses it with "Address family not supported". OSError if the address is taken.
    """
    check_port(port)
    infos = socket.getaddrinfo(
        host, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
    )
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(1)
    except BaseException:
        sock.close()
        raise
    return sock


def host_port(host: str, port: int) -> str:
    """``host:port`` as GDB's ``target remote`` takes it: ``[::1]:1234`` for IPv6."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _still_running(target: Target) -> bool:
    run = getattr(target, "detached_run", None)
    return run is not None and run.is_alive()


class GdbServer:
    """Listens on ``host:port`` and serves one client at a time with a fresh target.

    ``make_target()`` builds the guest for each connection. Without ``multi`` the server
    stops after its first client; ``start()`` runs it on a background thread (for
    notebooks and tests) and ``stop()`` ends it, closing every socket.
    """

    def __init__(
        self,
        make_target: Callable[[], Target],
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        multi: bool = False,
        log: Callable[[str], None] | None = None,
        slice_seconds: float = SLICE_SECONDS,
        idle_timeout: float | None = None,
    ):
        self.make_target = make_target
        self.multi = multi
        self.log = log
        self.slice_seconds = slice_seconds
        self.idle_timeout = idle_timeout
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: socket.socket | None = None
        self._target: Target | None = None
        self.stopped_by: str | None = None  # "SIGINT"…: why ``shutdown`` was called
        self.listener = listen_socket(host, port)
        self.host, self.port = self.listener.getsockname()[:2]
        self.sessions = 0
        self.errors: list[str] = []
        self.detached: list[Target] = []  # guests running on after GDB detached

    # -- lifecycle -----------------------------------------------------------------------
    def __enter__(self) -> GdbServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> GdbServer:
        """Serve on a daemon thread; returns self (``.port`` is the port)."""
        self._thread = threading.Thread(
            target=self.serve_forever, name="armbp-gdbserver", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving: close the listener and any client; join the thread."""
        self._stop.set()
        self._end_detached()
        for s in (self.listener, self._client):
            if s is not None:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                try:
                    s.close()
                except OSError:
                    pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def shutdown(self, why: str) -> None:
        """Ask the server to end soon: the guest stops, the session and the loop end.

        Safe in a signal handler (it only sets flags and kicks the vCPU, which stops
        ``emu_start`` however busy the guest is, an exception storm included); the thread
        that serves notices within one poll and closes the sockets.
        """
        self.stopped_by = why
        self._stop.set()
        for target in [self._target, *self.detached]:
            kick = getattr(target, "kick", None)
            if kick is not None:
                kick()

    def _end_detached(self) -> None:
        """Stop the guests still running after a detach (the server is ending)."""
        for target in self.detached:
            kick = getattr(target, "kick", None)
            if kick is not None:
                kick()

    def _wait_detached(self) -> None:
        """Before the server ends by itself: let detached guests finish their run (each
        has its budget), unless the server is told to stop meanwhile."""
        for target in self.detached:
            while _still_running(target) and not self._stop.is_set():
                time.sleep(0.05)
        if self._stop.is_set():
            self._end_detached()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def serve_forever(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    ready, _, _ = select.select([self.listener], [], [], 0.1)
                except (OSError, ValueError):
                    break
                if not ready:
                    continue
                try:
                    client, _peer = self.listener.accept()
                except OSError:
                    break
                self._client = client
                try:
                    self.serve_client(client)
                finally:
                    try:
                        client.close()
                    except OSError:
                        pass
                    self._client = None
                if not self.multi:
                    break
        finally:
            try:
                self.listener.close()
            except OSError:
                pass
            self._wait_detached()

    # -- one client ---------------------------------------------------------------------
    def _log(self, line: str) -> None:
        if self.log is not None:
            self.log(line)

    def serve_client(self, client: socket.socket) -> None:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sessions += 1
        conn = Connection(client, self.log)
        try:
            target = self.make_target()
        except Exception as e:  # noqa: BLE001
            self.errors.append(f"cannot start the guest: {e}")
            self._log(f"cannot start the guest: {e}")
            return
        self._target = target
        stub = GdbStub(target)
        ended = False
        try:
            ended = self._session(conn, stub, target)
        except Exception as e:  # never let a session take the server down  # noqa: BLE001
            self.errors.append(f"{type(e).__name__}: {e}")
            self._log(f"session ended by {type(e).__name__}: {e}")
        finally:
            self._target = None
            if not ended:
                with contextlib.suppress(Exception):  # the session is over either way
                    target.kill()

    def _next_event(self, conn: Connection):
        idle_since = time.monotonic()
        while not conn.pending:
            if conn.closed or self._stop.is_set():
                return None
            conn.poll(0.1)
            if (
                self.idle_timeout is not None
                and not conn.pending
                and time.monotonic() - idle_since > self.idle_timeout
            ):
                self._log("client idle too long: closing")
                return None
        return conn.pending.pop(0)

    def _session(self, conn: Connection, stub: GdbStub, target: Target) -> bool:
        """Serve packets until the client goes; True if the target was killed/detached."""
        while True:
            ev = self._next_event(conn)
            if ev is None:
                self._log("client disconnected" if conn.closed else "server stopping")
                return False
            if ev.kind == "nak":
                conn.resend()
                continue
            if ev.kind in ("ack", "notification"):
                continue
            if ev.kind == "interrupt":
                continue  # Ctrl-C while stopped: nothing to stop
            if ev.kind == "bad":
                shown = _show(ev.payload.decode("latin-1"))
                self._log(f"<- bad checksum or truncated packet {shown!r} → -")
                if not conn.no_ack:
                    conn.send_raw(b"-")
                continue
            if not conn.no_ack:
                conn.send_raw(b"+")
            if ev.kind == "oversize":
                self._log(f"<- oversize packet (> {PACKET_SIZE:#x} bytes) → E01")
                conn.send_packet("E01")
                continue
            text = ev.payload.decode("latin-1")
            result = stub.handle(ev.payload)
            note = "; ".join(stub.notes)
            if isinstance(result, str):
                self._log(
                    f"<- {_show(text)}"
                    + (f" → {note}" if note else "")
                    + f"   -> {_show(result) or '(empty)'}"
                )
                conn.send_packet(result)
                if stub.no_ack and not conn.no_ack:
                    conn.no_ack = True
                continue
            if isinstance(result, Close):
                self._log(f"<- {_show(text)} → {result.how}")
                if result.how == "kill":
                    target.kill()
                else:
                    target.detach()  # returns at once: the guest runs on elsewhere
                    if getattr(target, "detached_run", None) is not None:
                        self.detached = [t for t in self.detached if _still_running(t)]
                        self.detached.append(target)
                if result.reply is not None:
                    conn.send_packet(result.reply)
                return True
            self._log(f"<- {_show(text)} → {'step' if result.step else 'continue'}")
            stop = self._run(conn, stub, target, result)
            if stop is None:
                self._log(
                    "server stopping while the guest ran: killing it"
                    if self._stop.is_set()
                    else "client disconnected while the guest ran: killing it"
                )
                return False
            reply = stub.stop_reply(stop)
            short = reply[:3] + (" swbreak" if stop.swbreak and stub.swbreak else "")
            short += " hwbreak" if stop.hwbreak and stub.hwbreak else ""
            short += f" {stop.watch}" if stop.watch else ""
            self._log(f"stop: {stop.note or stop.kind} → {short}   -> {reply}")
            conn.send_packet(reply)

    def _run(
        self, conn: Connection, stub: GdbStub, target: Target, how: Resume
    ) -> StopEvent | None:
        if how.addr is not None:
            target.write_register(REG_PC, how.addr)
        while True:
            try:
                stop = target.resume(how.step, self.slice_seconds)
            except Exception as e:  # an emulator error: report it as a fault, keep serving  # noqa: BLE001
                self.errors.append(f"resume: {type(e).__name__}: {e}")
                return StopEvent("signal", SIGILL, note=f"internal error: {e}")
            if self._stop.is_set():
                return None  # shut down (a kicked run may end in any stop): no reply
            if stop is not None:
                return stop
            conn.poll(0)
            if conn.closed or self._stop.is_set():
                return None
            if any(ev.kind == "interrupt" for ev in conn.pending):
                conn.pending = [ev for ev in conn.pending if ev.kind != "interrupt"]
                self._log("<- ^C (0x03) → interrupt")
                return target.interrupted()


def start_server(
    program: str,
    *args: str,
    port: int = 0,
    host: str = "127.0.0.1",
    multi: bool = False,
    log: Callable[[str], None] | None = None,
    stdout: Callable[[bytes], None] | None = None,
) -> GdbServer:
    """Serve ``program`` on a background thread (for a notebook); ``.port``, ``.stop()``.

    ::

        server = start_server("prog.elf", log=print)
        with RspClient.connect(server.port) as gdb:
            gdb.handshake(); gdb.insert_breakpoint(0x40010c); gdb.cont()
        server.stop()
    """
    make = target_factory(program, list(args), log=log, stdout=stdout)
    return GdbServer(make, host, port, multi=multi, log=log).start()
