"""`make app` as a server: whose port it is, who may talk to it, how many kernels it keeps,
and how it stops.

A real Voilà on loopback (started by ``armbp.app.start``, as ``make app`` does), asked with
raw HTTP and with Debian's chromium through Playwright. Every process started carries a tag
in its environment; none may outlive the module (see tests/browser/conftest.py).
"""

from __future__ import annotations

import http.client
import http.server
import importlib.util
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from browser.conftest import (
    CHROMIUM_ARGS,
    TIMEOUT_MS,
    _missing,
    assert_nothing_left,
    tagged_env,
)
from conftest import require_tool

from armbp import app as launcher

CULL_IDLE = 4  # seconds: short, so that the test sees a closed page's kernel go


def _need_voila() -> None:
    if importlib.util.find_spec("voila") is None:
        _missing("Voilà is not installed: `.venv/bin/pip install -e '.[browser]'`")


def _get(port: int, path: str = "/", host: str | None = None) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", path, headers={"Host": host or f"127.0.0.1:{port}"})
    response = conn.getresponse()
    response.body = response.read()
    conn.close()
    return response


def kernels(proc: subprocess.Popen) -> list[int]:
    """The kernel processes below the Voilà ``proc`` (one per page being served)."""
    found = []
    for pid in launcher.descendants(proc.pid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"ipykernel" in f.read() and launcher._alive(pid):
                    found.append(pid)
        except OSError:
            pass
    return found


def wait_for_kernels(proc: subprocess.Popen, want: int, timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while True:
        found = kernels(proc)
        if len(found) == want or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


# --- the port ----------------------------------------------------------------------------------


class _OtherServer(http.server.ThreadingHTTPServer):
    """Somebody else's web server on loopback, answering 200 to everything."""

    def __init__(self, port: int = 0) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"not armbp")

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", port), Handler)
        self.port = self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.shutdown()
        self.server_close()


def test_a_taken_port_is_said_to_be_taken_and_no_address_is_printed():
    other = _OtherServer()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "armbp.app", "--port", str(other.port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        other.close()
    assert proc.returncode == 2, proc
    assert "http://" not in proc.stdout, proc.stdout
    assert proc.stderr == (
        f"armbp app: port {other.port} on 127.0.0.1 is taken (another "
        "program listens there): choose another --port, or leave --port "
        "out for a free one\n"
    )


def test_the_answering_server_must_be_the_one_started():
    """If the port is taken between our look and Voilà's bind, whoever answers there is
    not taken for ours: no nonce in its answer, and our server exits (it could not bind)."""
    other = _OtherServer()
    try:
        assert launcher._answer(other.port) == ""  # answers, but not with our nonce
        failed = subprocess.Popen([sys.executable, "-c", "raise SystemExit(1)"])
        with pytest.raises(
            launcher.PortTaken, match=f"port {other.port} on 127.0.0.1 is taken"
        ):
            launcher.wait_for_ours(other.port, failed, "n0nce", timeout=30)
        alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        try:
            with pytest.raises(launcher.PortTaken):
                launcher.wait_for_ours(other.port, alive, "n0nce", timeout=1)
        finally:
            alive.kill()
            alive.wait()
    finally:
        other.close()
    nothing = launcher.free_port()
    gone = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    with pytest.raises(RuntimeError, match="exited with status 3"):
        launcher.wait_for_ours(nothing, gone, "n0nce", timeout=30)


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_a_port_out_of_range_is_refused(port, capsys):
    with pytest.raises(SystemExit) as exit_:
        launcher.main(["--port", port])
    assert exit_.value.code == 2
    assert (
        f"argument --port: '{port}': expected a TCP port number 0..65535"
        in capsys.readouterr().err
    )


# --- a real server ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[subprocess.Popen, int, str]]:
    _need_voila()
    tag = f"app-server-{secrets.token_hex(4)}"
    proc, url = launcher.start(
        port=0,
        env=tagged_env(tag),
        cull_idle=CULL_IDLE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port = int(re.fullmatch(r"http://127\.0\.0\.1:(\d+)/", url).group(1))
        yield proc, port, tag
    finally:
        launcher.stop_tree(proc, grace=10)
    assert_nothing_left(tag, "the app server")


THEME = "/voila/api/themes/@jupyterlab/theme-light-extension/index.css"


@pytest.mark.parametrize(
    "host, path, status",
    [
        ("attacker.example", "/", 403),  # a DNS-rebinding page's own name
        ("attacker.example:{port}", "/", 403),
        ("attacker.example:{port}", THEME, 403),
        ("localhost.attacker.example:{port}", THEME, 403),
        ("127.0.0.1:{port}", "/", 200),  # the app itself (runs a kernel)
        ("localhost:{port}", THEME, 200),  # the same checks, without a kernel
        ("[::1]:{port}", THEME, 200),
    ],
)
def test_only_loopback_host_names_are_answered(server, host, path, status):
    _proc, port, _ = server
    response = _get(port, path, host.format(port=port))
    assert response.status == status, (host, response.status, response.body[:300])
    if status == 403:
        assert b"ESR explorer" not in response.body
    elif path == "/":
        assert b"ESR explorer" in response.body


def test_the_kernel_of_a_page_nobody_opened_is_culled(server):
    """A page fetched but never connected (no websocket): its kernel goes after CULL_IDLE
    seconds of inactivity instead of living until the app stops."""
    proc, port, _ = server
    before = set(kernels(proc))
    assert _get(port).status == 200
    new = set(kernels(proc)) - before
    assert len(new) == 1, "a page load runs one kernel"
    deadline = time.monotonic() + CULL_IDLE + 30
    while new & set(kernels(proc)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not new & set(kernels(proc)), f"its kernel is alive {CULL_IDLE + 30} s later"


def test_closed_pages_lose_their_kernels_open_ones_keep_theirs(server):
    """Three pages open (three kernels); two tabs die without a word (no beforeunload), one
    stays: the two kernels are culled, the open page's kernel lives on and still answers;
    closing that page normally (beforeunload) shuts its kernel down too."""
    proc, port, _ = server
    chromium = require_tool("chromium", "chromium")
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        _missing(
            "Playwright for Python is not installed: `.venv/bin/pip install -e '.[browser]'`"
        )
    assert wait_for_kernels(proc, 0, timeout=CULL_IDLE + 30) == []
    url = f"http://127.0.0.1:{port}/"
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            args=CHROMIUM_ARGS,
            env=tagged_env(f"app-server-chromium-{port}"),
            timeout=TIMEOUT_MS,
        )
        try:
            context = browser.new_context()
            context.set_default_timeout(TIMEOUT_MS)
            pages = []
            for _ in range(3):
                page = context.new_page()
                page.goto(url)
                page.get_by_role("button", name="Continue").wait_for()  # the first tab
                pages.append(page)
            assert len(kernels(proc)) == 3
            for page in pages[:2]:
                page.close(run_before_unload=False)  # as a crashed tab: no goodbye
            assert len(wait_for_kernels(proc, 1, timeout=CULL_IDLE + 30)) == 1
            time.sleep(CULL_IDLE + 2)  # idle, but connected: kept
            assert len(kernels(proc)) == 1
            pages[2].get_by_role("tab", name="ESR explorer").click()
            value = pages[2].get_by_role("textbox", name="ESR value")
            value.fill("0x96000045")
            value.press("Enter")
            expect(pages[2].get_by_text("EC 0x25 — DABT (current EL)")).to_be_visible()
            pages[2].close(run_before_unload=True)  # Voilà's own shutdown request
            assert wait_for_kernels(proc, 0, timeout=CULL_IDLE + 30) == []
        finally:
            browser.close()
    assert_nothing_left(f"app-server-chromium-{port}", "chromium")


# --- stopping ------------------------------------------------------------------------------


def test_ctrl_c_works_when_started_with_sigint_ignored(tmp_path):
    """`make app &` in a script starts it with SIGINT ignored: Ctrl-C must still stop it."""
    _need_voila()
    tag = f"app-sigign-{secrets.token_hex(4)}"
    log = tmp_path / "app.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-u", "-m", "armbp.app"],
            env=tagged_env(tag),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        )
    try:
        deadline = time.monotonic() + 90
        while "in a browser" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.1)
        assert "in a browser" in log.read_text(), log.read_text()
        with open(f"/proc/{proc.pid}/status") as f:
            ignored = int(re.search(r"SigIgn:\s*([0-9a-f]+)", f.read()).group(1), 16)
        assert not ignored & 1 << (signal.SIGINT - 1), "SIGINT is still ignored"
        os.kill(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=30) == 0, log.read_text()
        assert "armbp app: stopped" in log.read_text()
    finally:
        launcher.stop_tree(proc, grace=5)
    assert_nothing_left(tag, "`make app` after Ctrl-C")
