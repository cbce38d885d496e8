"""Fixtures for the browser tests: Debian's chromium driven by Playwright, and the servers a
learner's browser talks to (the Voilà app, JupyterLab, a static file server).

Rules every fixture here keeps:

* Servers listen on 127.0.0.1 only, on a free port, and run in their own process group;
  their teardown stops the group and every descendant (``armbp.app.stop_tree``), also when
  the test failed.
* Each process we start carries ``ARMBP_BROWSER_TEST=<tag>`` in its environment, and so do
  the kernels and browser processes below it. After a module's servers are stopped (and
  after the browser is closed) no process may still carry its tag: a leftover fails the run
  and is killed.
* Every wait has a timeout. Every test leaves one screenshot in ``build/browser/``.
* Chromium gets no network but loopback (``--host-resolver-rules``): what a learner sees
  offline is what the tests see, and nothing waits for a CDN.

Without chromium or Playwright the tests are skipped with the way to get them; in CI
(``CI=true``) that is a failure.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import IN_CI, require_tool  # tests/conftest.py

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build"
ARTEFACTS = BUILD / "browser"
MARKER = "ARMBP_BROWSER_TEST"
TIMEOUT_MS = 60_000  # the longest any single wait in a test may take
CHROMIUM_ARGS = [
    "--no-sandbox",  # needed as root
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    # Loopback only: every other host name fails at once, as it would offline.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
# What a widget area shows instead of the widget when the front end cannot render it.
WIDGET_FAILURE_TEXTS = (
    "Loading widget...",
    "Loading widget…",
    "Error displaying widget",
    "Click to show javascript error",
    "Failed to create view for",
    "Could not create a view",
)


def _missing(message: str) -> None:
    if IN_CI:
        pytest.fail(message + " (CI must run every test)")
    pytest.skip(message)


def _import_playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing(
            "Playwright for Python is not installed: `make test` installs it, or "
            "`.venv/bin/pip install -e '.[browser]'`"
        )
    return sync_playwright


# --- processes ---------------------------------------------------------------------------------


def tagged_env(tag: str) -> dict[str, str]:
    """The environment for a process we start: ours, plus the tag its descendants inherit."""
    return {**os.environ, MARKER: tag}


def tagged_processes(tag: str) -> list[tuple[int, str]]:
    """(pid, command line) of every live process whose environment carries ``tag``."""
    needle = f"{MARKER}={tag}".encode() + b"\0"
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                environ = f.read() + b"\0"
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        zombie = stat[stat.rindex(b")") + 2 :][:1] == b"Z"
        if (environ.startswith(needle) or b"\0" + needle in environ) and not zombie:
            found.append((int(entry), cmdline[:160]))
    return found


def assert_nothing_left(tag: str, what: str, wait: float = 5.0) -> None:
    """Fail (after killing them) if processes tagged ``tag`` outlive their fixture."""
    deadline = time.monotonic() + wait
    left = tagged_processes(tag)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = tagged_processes(tag)
    for pid, _ in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert not left, f"{what} left processes behind: {left}"


@pytest.fixture(scope="module")
def process_tag(request) -> Iterator[str]:
    """A tag for the processes this module starts; checked for leftovers at module end.

    Requested first by the server fixtures, so it is torn down after them."""
    tag = f"{Path(request.module.__file__).stem}-{secrets.token_hex(4)}"
    yield tag
    assert_nothing_left(tag, f"the servers of {Path(request.module.__file__).name}")


# --- the browser -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium() -> str:
    return require_tool("chromium", "chromium")


@pytest.fixture(scope="package")
def browser(chromium: str) -> Iterator[object]:
    """Chromium, for the tests of this folder only: closed (with Playwright's driver and
    its event loop) when they are done, before the rest of the suite runs."""
    sync_playwright = _import_playwright()
    tag = f"chromium-{secrets.token_hex(4)}"
    manager = sync_playwright().start()
    try:
        b = manager.chromium.launch(
            executable_path=chromium,
            args=CHROMIUM_ARGS,
            env=tagged_env(tag),
            timeout=TIMEOUT_MS,
        )
        try:
            yield b
        finally:
            b.close()
    finally:
        manager.stop()
    assert_nothing_left(tag, "chromium")


class PageLog:
    """What the page said while the test ran: console errors, uncaught errors, and requests
    that failed (for the failure message; the tests assert on what is shown)."""

    def __init__(self, page) -> None:
        self.console: list[str] = []
        self.errors: list[str] = []
        self.failed: list[str] = []
        page.on(
            "console", lambda m: self.console.append(m.text) if m.type == "error" else None
        )
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("requestfailed", lambda r: self.failed.append(r.url))

    def __str__(self) -> str:
        return (
            f"console errors: {self.console[-10:]}\npage errors: {self.errors[-10:]}\n"
            f"failed requests: {self.failed[-10:]}"
        )

    __repr__ = __str__


@pytest.fixture
def page(browser, request) -> Iterator[object]:
    """A fresh page (own context) that leaves ``build/browser/<test>.png`` behind: the
    window as the learner sees it, scrolled to ``page.subject`` if the test set one."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    p = context.new_page()
    p.log = PageLog(p)
    p.subject = None
    try:
        yield p
    finally:
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.name)
        try:
            if p.subject is not None:
                p.subject.scroll_into_view_if_needed(timeout=5_000)
                p.subject.evaluate("e => e.scrollIntoView({block: 'start'})")
            p.screenshot(path=str(ARTEFACTS / f"{name}.png"), timeout=15_000)
        except Exception as exc:  # a screenshot must not hide the test's own failure  # noqa: BLE001
            warnings.warn(f"no screenshot for {name}: {exc}", stacklevel=2)
        context.close()


def widget_failures(page) -> list[str]:
    """What the page shows instead of a widget, wherever it does: the error box of a view
    that failed (with its hidden details), or a placeholder text in a widget's place."""
    failures = []
    for box in page.locator(".jupyter-widgets-error-widget").all():
        if "Click to show" in (box.text_content() or ""):
            box.click()  # the details (which view failed, and why) appear on a click
        failures.append(box.text_content() or "")
    body = page.locator("body").inner_text(timeout=TIMEOUT_MS)
    failures += [
        t for t in WIDGET_FAILURE_TEXTS if t in body and not any(t in f for f in failures)
    ]
    return [" ".join(f.split()) for f in failures]


def unexpected_widget_failures(page) -> list[str]:
    """Every widget that failed to render: none is expected (an Image with a tooltip once
    failed in every ipywidgets 8 front end; tests/test_esr_explorer.py now guards that)."""
    return widget_failures(page)


_clock: dict[str, float] = {}


def pytest_runtest_setup(item) -> None:  # only the items of this folder reach this hook
    _clock.setdefault("start", time.monotonic())


@pytest.hookimpl(trylast=True)  # after the fixtures' teardown: stopping servers counts
def pytest_runtest_teardown(item, nextitem) -> None:
    _clock["tests"] = _clock.get("tests", 0) + 1
    _clock["end"] = time.monotonic()


def pytest_terminal_summary(terminalreporter) -> None:
    """Say how long the browser tests took, servers and browser start included."""
    if "start" not in _clock:
        return
    line = (
        f"browser tests: {_clock['tests']} in {_clock['end'] - _clock['start']:.1f} s "
        f"(wall clock, servers and chromium included; screenshots in build/browser/)"
    )
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    (ARTEFACTS / "timing.txt").write_text(line + "\n")
    terminalreporter.write_line(line)
