"""``make app``: the armbp app (ESR explorer + debugger view) in Voilà, on 127.0.0.1 only.

    python -m armbp.app               # a free port, chosen here
    python -m armbp.app --port 8866

It starts Voilà on ``app/armbp-app.ipynb`` (no code shown, only the widgets), waits until the
server *it started* answers (a random value in a response header proves it: a port taken by
another server is reported as taken, never printed as ours), prints the address and then
waits. Ctrl-C (or SIGTERM) stops it, also when it was started with SIGINT ignored: Voilà runs
in its own process group and gets SIGTERM, which shuts its kernels down; whatever is still
alive after a grace period — Voilà, or a kernel in its own session — is killed.

What a browser can do to it: each page load runs the notebook in a kernel of its own. Voilà
answers only requests whose ``Host`` is a loopback address or ``localhost`` (jupyter_server's
check with ``allow_remote_access`` off), so a web page that rebinds its own name to 127.0.0.1
gets 403, not a kernel. A page that closes asks Voilà to shut its kernel down; one that
cannot (a crashed tab, a lost connection) leaves a kernel with no connection, which the
kernel manager culls after ``CULL_IDLE_SECONDS`` of inactivity. Open pages keep theirs.

The small process helpers here (:func:`free_port`, :func:`wait_for_port`,
:func:`stop_tree`) are also what the browser tests use for the servers they start.
This module imports nothing else of armbp: it only starts a server.
"""

from __future__ import annotations

import argparse
import http.client
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# A wheel ships the app notebook as package data (armbp/data/app); a checkout has app/.
_SHIPPED = Path(__file__).resolve().parent / "data" / "app" / "armbp-app.ipynb"
NOTEBOOK = _SHIPPED if _SHIPPED.exists() else ROOT / "app" / "armbp-app.ipynb"
HOST = "127.0.0.1"
START_TIMEOUT = 60.0  # seconds for the server to accept connections
STOP_GRACE = 10.0  # seconds between SIGTERM and SIGKILL
CULL_IDLE_SECONDS = 120  # a kernel with no page connected and no activity this long goes
CULL_INTERVAL_SECONDS = 30  # how often the kernel manager looks
OURS_HEADER = "X-Armbp-App"  # every response of the Voilà we start carries our random value


class PortTaken(OSError):
    """The port asked for is already in use by another program."""

    def __init__(self, port: int, host: str = HOST):
        super().__init__(
            f"port {port} on {host} is taken (another program listens there): "
            "choose another --port, or leave --port out for a free one"
        )
        self.port = port


def port_is_free(port: int, host: str = HOST) -> bool:
    """Can a server listen on ``host:port`` right now? (A look, not a reservation.)"""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # as servers bind (tornado too): a port whose old connections linger in TIME_WAIT
        # is free; one another socket listens on is not
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = HOST) -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for_port(
    port: int,
    proc: subprocess.Popen | None = None,
    *,
    host: str = HOST,
    timeout: float = START_TIMEOUT,
) -> None:
    """Return once ``host:port`` accepts a connection; raise if ``proc`` exits first or
    ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"the server exited with status {proc.returncode} before "
                f"listening on {host}:{port}"
            )
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f} s")
        time.sleep(0.1)


def _children() -> dict[int, list[int]]:
    """pid → its children's pids, from /proc (Linux); empty where /proc is missing."""
    tree: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return tree
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, grandchildren, ...)."""
    tree, found, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _kill(pids: Sequence[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        return stat[stat.rindex(b")") + 2 :][:1] != b"Z"
    except OSError:
        return False


def stop_tree(proc: subprocess.Popen, *, grace: float = STOP_GRACE) -> None:
    """Stop a server started with ``start_new_session=True`` and everything below it.

    SIGTERM to its process group (a Jupyter server then shuts its kernels down), then, after
    ``grace`` seconds, SIGKILL to the group and to every descendant seen (kernels run in
    sessions of their own, so the group alone would miss them)."""
    if proc.poll() is not None and not descendants(proc.pid):
        return
    below = set(descendants(proc.pid))
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    below |= set(descendants(proc.pid))
    deadline = time.monotonic() + 2
    while any(_alive(p) for p in below) and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    _kill([p for p in below if _alive(p)], signal.SIGKILL)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL is not ignored
        pass


# `python -m voila`, except that one warning is silenced: the settings nest a dict and a
# list, so they go as one Python literal, a form traitlets 5 still reads but warns about
# (and voila's __init__ turns traitlets' DeprecationWarnings on, over any -W option).
_VOILA_MAIN = (
    "import sys, warnings, voila.app\n"
    "warnings.filterwarnings('ignore', message='--tornado_settings=',"
    " category=DeprecationWarning)\n"
    "sys.exit(voila.app.main())"
)


def voila_command(
    notebook: Path, port: int, *, nonce: str = "", cull_idle: float = CULL_IDLE_SECONDS
) -> list[str]:
    """Voilà on ``HOST:port`` only, checking the Host header and culling orphaned kernels.

    Voilà (0.5) sets ``allow_remote_access=True`` in its tornado settings; its
    ``tornado_settings`` are applied over them at start, so ``allow_remote_access=False``
    turns jupyter_server's Host check back on (loopback addresses and ``local_hostnames``
    pass, anything else gets 403). ``headers`` go on every response: ``nonce`` there is how
    the launcher knows the server answering is the one it started.
    """
    settings = {"allow_remote_access": False, "local_hostnames": ["localhost"]}
    if nonce:
        settings["headers"] = {OURS_HEADER: nonce}
    interval = max(1, min(CULL_INTERVAL_SECONDS, int(cull_idle / 2) or 1))
    return [
        sys.executable,
        "-c",
        _VOILA_MAIN,
        "--no-browser",
        f"--port={port}",
        f"--Voila.ip={HOST}",
        "--Voila.port_retries=0",
        f"--Voila.tornado_settings={settings!r}",
        f"--MappingKernelManager.cull_idle_timeout={int(cull_idle)}",
        f"--MappingKernelManager.cull_interval={interval}",
        str(notebook),
    ]


def _answer(port: int, host: str = HOST) -> str | None:
    """The ``OURS_HEADER`` value of whatever answers HTTP on ``host:port`` ("" if it does
    not carry one); None if nothing answers yet. The path asked for is the theme every app
    page loads: a small file, no kernel started, nothing in Voilà's log."""
    conn = http.client.HTTPConnection(host, port, timeout=2)
    try:
        conn.request(
            "GET",
            "/voila/api/themes/@jupyterlab/theme-light-extension/index.css",
            headers={"Host": f"{host}:{port}"},
        )
        response = conn.getresponse()
        response.read()
        return response.getheader(OURS_HEADER) or ""
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def wait_for_ours(
    port: int,
    proc: subprocess.Popen,
    nonce: str,
    *,
    host: str = HOST,
    timeout: float = START_TIMEOUT,
) -> None:
    """Return once the server answering on ``host:port`` is ``proc`` (it shows ``nonce``).

    ``PortTaken`` if another server answers there (ours then fails to bind and exits);
    RuntimeError if ``proc`` exits first for another reason; TimeoutError after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    someone_else = False
    while True:
        seen = _answer(port, host)
        if seen == nonce:
            return
        someone_else = someone_else or seen is not None
        if proc.poll() is not None:
            if someone_else or not port_is_free(port, host):
                raise PortTaken(port, host)
            raise RuntimeError(
                f"the server exited with status {proc.returncode} before "
                f"listening on {host}:{port}"
            )
        if time.monotonic() > deadline:
            if someone_else:
                raise PortTaken(port, host)
            raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f} s")
        time.sleep(0.1)


def start(
    notebook: Path = NOTEBOOK,
    port: int = 0,
    *,
    env: dict[str, str] | None = None,
    cull_idle: float = CULL_IDLE_SECONDS,
    **popen: Any,
) -> tuple[subprocess.Popen, str]:
    """Start Voilà on ``notebook`` in its own process group; return it and its address
    once it answers. ``port`` 0 picks a free one; a taken ``port`` raises ``PortTaken``."""
    if not notebook.exists():
        raise FileNotFoundError(
            f"{notebook} not found: expected the app notebook there "
            f"(installed armbp ships it in armbp/data/app)"
        )
    if port and not port_is_free(port):
        raise PortTaken(port)
    attempts = 1 if port else 3  # a free port can be taken between our look and Voilà's bind
    for attempt in range(attempts):
        chosen = port or free_port()
        nonce = secrets.token_hex(16)
        proc = subprocess.Popen(
            voila_command(notebook, chosen, nonce=nonce, cull_idle=cull_idle),
            start_new_session=True,
            env=env,
            **popen,
        )
        try:
            wait_for_ours(chosen, proc, nonce)
        except RuntimeError:
            stop_tree(proc)
            if attempt == attempts - 1:
                raise
            continue
        except BaseException:
            stop_tree(proc)
            raise
        return proc, f"http://{HOST}:{chosen}/"
    raise AssertionError("unreachable")  # pragma: no cover


def _port(text: str) -> int:
    try:
        port = int(text, 10)
    except ValueError:
        port = -1
    if not 0 <= port <= 0xFFFF:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected a TCP port number 0..65535 (0 or none: a free one)"
        )
    return port


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m armbp.app",
        description="Serve the armbp app (ESR explorer + debugger view) with Voilà on "
        f"{HOST} only. Ctrl-C stops it.",
    )
    parser.add_argument(
        "--port", type=_port, default=0, help="port to listen on (default: a free one)"
    )
    parser.add_argument("--notebook", type=Path, default=NOTEBOOK, help=argparse.SUPPRESS)
    parser.add_argument(
        "--cull-idle", type=float, default=CULL_IDLE_SECONDS, help=argparse.SUPPRESS
    )  # seconds; the tests make it short
    args = parser.parse_args(argv)
    # Ctrl-C must work even if we were started with SIGINT ignored (`cmd &` in a script,
    # nohup): a process inherits SIG_IGN, and Python then installs no handler of its own.
    signal.signal(signal.SIGINT, signal.default_int_handler)

    def on_sigterm(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    proc = None
    try:
        print("armbp app: starting Voilà ...", flush=True)
        proc, url = start(args.notebook, args.port, cull_idle=args.cull_idle)
        print(f"armbp app: open {url} in a browser (Ctrl-C stops it)", flush=True)
        status = proc.wait()
        print(f"armbp app: Voilà exited with status {status}", file=sys.stderr)
        return status or 1
    except KeyboardInterrupt:
        print("\narmbp app: stopping ...", flush=True)
        return 0
    except PortTaken as exc:
        print(f"armbp app: {exc}", file=sys.stderr)
        return 2
    except (OSError, RuntimeError) as exc:
        print(f"armbp app: {exc}", file=sys.stderr)
        return 1
    finally:
        if proc is not None:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut this
            stop_tree(proc)
            print("armbp app: stopped", flush=True)


if __name__ == "__main__":
    sys.exit(main())
