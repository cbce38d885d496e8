"""``make app``: the armbp app (ESR explorer + debugger view) in Voilà, on 127.0.0.1 only.

    python -m armbp.app               # a free port, chosen here
    python -m armbp.app --port 8866

It starts Voilà on ``app/armbp-app.ipynb`` (no code shown, only the widgets), waits until the
port accepts connections, prints the address and then waits. Ctrl-C (or SIGTERM) stops it:
Voilà runs in its own process group and gets SIGTERM, which shuts its kernels down; whatever
is still alive after a grace period — Voilà, or a kernel in its own session — is killed.

The small process helpers here (:func:`free_port`, :func:`wait_for_port`,
:func:`stop_tree`) are also what the browser tests use for the servers they start.
This module imports nothing else of armbp: it only starts a server.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

ROOT = Path(__file__).resolve().parents[1]
# A wheel ships the app notebook as package data (armbp/data/app); a checkout has app/.
_SHIPPED = Path(__file__).resolve().parent / "data" / "app" / "armbp-app.ipynb"
NOTEBOOK = _SHIPPED if _SHIPPED.exists() else ROOT / "app" / "armbp-app.ipynb"
HOST = "127.0.0.1"
START_TIMEOUT = 60.0   # seconds for the server to accept connections
STOP_GRACE = 10.0      # seconds between SIGTERM and SIGKILL


def free_port(host: str = HOST) -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen | None = None, *, host: str = HOST,
                  timeout: float = START_TIMEOUT) -> None:
    """Return once ``host:port`` accepts a connection; raise if ``proc`` exits first or
    ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with status {proc.returncode} before "
                               f"listening on {host}:{port}")
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
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
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
        return stat[stat.rindex(b")") + 2:][:1] != b"Z"
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


def voila_command(notebook: Path, port: int) -> list[str]:
    return [sys.executable, "-m", "voila", "--no-browser", f"--port={port}",
            f"--Voila.ip={HOST}", "--Voila.port_retries=0", str(notebook)]


def start(notebook: Path = NOTEBOOK, port: int = 0, *,
          env: dict[str, str] | None = None, **popen: object) -> tuple[subprocess.Popen, str]:
    """Start Voilà on ``notebook`` in its own process group; return it and its address
    once it accepts connections. ``port`` 0 picks a free one."""
    if not notebook.exists():
        raise FileNotFoundError(f"{notebook} not found: expected the app notebook there "
                                f"(installed armbp ships it in armbp/data/app)")
    attempts = 1 if port else 3  # a free port can be taken between our look and Voilà's bind
    for attempt in range(attempts):
        chosen = port or free_port()
        proc = subprocess.Popen(voila_command(notebook, chosen), start_new_session=True,
                                env=env, **popen)  # type: ignore[arg-type]
        try:
            wait_for_port(chosen, proc)
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m armbp.app",
        description="Serve the armbp app (ESR explorer + debugger view) with Voilà on "
                    f"{HOST} only. Ctrl-C stops it.")
    parser.add_argument("--port", type=int, default=0,
                        help="port to listen on (default: a free one)")
    parser.add_argument("--notebook", type=Path, default=NOTEBOOK, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    def on_sigterm(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    proc = None
    try:
        print("armbp app: starting Voilà ...", flush=True)
        proc, url = start(args.notebook, args.port)
        print(f"armbp app: open {url} in a browser (Ctrl-C stops it)", flush=True)
        status = proc.wait()
        print(f"armbp app: Voilà exited with status {status}", file=sys.stderr)
        return status or 1
    except KeyboardInterrupt:
        print("\narmbp app: stopping ...", flush=True)
        return 0
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
