"""The Voilà app (`make app`) in a real browser, used as a learner would.

The app is served by the launcher itself (``python -m armbp.app``, what ``make app`` runs),
and stopped the way a learner stops it: Ctrl-C (SIGINT).
"""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from armbp import app as launcher

from .conftest import (
    ARTEFACTS,
    ROOT,
    TIMEOUT_MS,
    _missing,
    assert_nothing_left,
    tagged_env,
    unexpected_widget_failures,
)

ADDRESS = re.compile(r"open (http://127\.0\.0\.1:(\d+)/) in a browser")


def _expect():
    from playwright.sync_api import expect

    return expect


class Launcher:
    """``python -m armbp.app`` in its own process group, its output in a log file."""

    def __init__(self, tag: str, name: str) -> None:
        if importlib.util.find_spec("voila") is None:
            _missing(
                "Voilà is not installed: `make test` installs it, or "
                "`.venv/bin/pip install -e '.[browser]'`"
            )
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        self.log_path = ARTEFACTS / f"{name}.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-m", "armbp.app"],
            cwd=ROOT,
            env=tagged_env(tag),
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def address(self, timeout: float = 90) -> tuple[str, int]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = ADDRESS.search(self.output())
            if found:
                return found.group(1), int(found.group(2))
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"`make app` printed no address:\n{self.output()[-3000:]}")

    def ctrl_c(self, timeout: float = 30) -> int:
        """SIGINT to the launcher, as Ctrl-C in its terminal; its exit status."""
        os.kill(self.proc.pid, signal.SIGINT)
        return self.proc.wait(timeout=timeout)

    def close(self) -> None:
        launcher.stop_tree(self.proc, grace=5)
        self.log.close()


@pytest.fixture(scope="module")
def app_url(process_tag: str, browser) -> Iterator[str]:
    app = Launcher(process_tag, "voila-app")
    try:
        url, _ = app.address()
        yield url
        app.ctrl_c()
    finally:
        app.close()


def open_app(page, url: str, tab: str = "Debugger") -> None:
    """Load the app and show ``tab``: the debugger is the first one, on the first screen."""
    page.goto(url, timeout=TIMEOUT_MS)
    # Voilà runs the notebook, then renders the widgets: the debugger tab shows first.
    page.get_by_role("button", name="Continue").wait_for(timeout=TIMEOUT_MS)
    if tab != "Debugger":
        page.get_by_role("tab", name=tab).click()
        page.get_by_role("textbox", name="ESR value").wait_for(timeout=TIMEOUT_MS)


def test_make_app_serves_on_loopback_only_and_ctrl_c_stops_everything(process_tag):
    app = Launcher(process_tag + "-ctrl-c", "voila-ctrl-c")
    try:
        url, port = app.address()
        listening = _listening_addresses(port)
        assert listening == {"127.0.0.1"}, f"{url}: listening on {listening}"
        status = app.ctrl_c()
        out = app.output()
        assert status == 0, out[-2000:]
        assert "armbp app: stopped" in out, out[-2000:]
        assert not _listening_addresses(port), "the port is still open after Ctrl-C"
        assert_nothing_left(process_tag + "-ctrl-c", "`make app` after Ctrl-C", wait=0)
    finally:
        app.close()


def test_esr_explorer_decodes_what_is_typed_and_clicked(page, app_url):
    expect = _expect()
    open_app(page, app_url, tab="ESR explorer")
    page.subject = page.get_by_role("tab", name="ESR explorer")
    value = page.get_by_role("textbox", name="ESR value")
    expect(value).to_have_value("0x00000000f2000000")  # BRK #0, the app's start value

    value.fill("0x96000045")
    value.press("Enter")
    expect(page.get_by_text("EC 0x25 — DABT (current EL)")).to_be_visible()
    expect(value).to_have_value("0x0000000096000045")
    table = page.locator("table", has_text="Fields: EC, IL, ISS")
    expect(_row(table, "DFSC")).to_contain_text("level 1 translation fault")
    expect(_row(table, "WnR")).to_contain_text("write: the access was a write")
    bit6 = page.locator("button[title^='bit 6 (WnR) = 1']")
    expect(bit6).to_have_class(re.compile(r"\bmod-active\b"))

    bit6.click()  # WnR 1 → 0: a read, same fault
    expect(value).to_have_value("0x0000000096000005")
    # beginner mode: a field that is 0 leaves the table and is named under it
    expect(_row(table, "WnR")).to_have_count(0)
    expect(page.locator(".armbp-esr-hidden")).to_contain_text("WnR")
    expect(_row(table, "DFSC")).to_contain_text("level 1 translation fault")
    page.get_by_role("button", name="Show all fields").click()
    table = page.locator("table", has_text="Fields: every field")
    expect(_row(table, "WnR")).to_contain_text("read: the access was a read")
    expect(_row(table, "TagAccess")).to_be_visible()
    expect(page.locator("button[title^='bit 6 (WnR) = 0']")).not_to_have_class(
        re.compile(r"\bmod-active\b")
    )
    assert unexpected_widget_failures(page) == [], page.log


def test_debugger_view_breakpoint_continue_step(page, app_url):
    expect = _expect()
    open_app(page, app_url)
    view = page.locator(".armbp-debugger-view")
    page.subject = page.get_by_role("tab", name="Debugger")
    pc = view.locator(".armbp-dv-pc")
    expect(pc).to_have_text("0x40000")  # the demo guest's entry

    view.get_by_role("combobox", name="Location").fill("loop")
    view.get_by_role("button", name="Toggle breakpoint").click()
    listing = view.locator(".armbp-dv-listing")
    expect(listing.locator("tr.bp")).to_have_attribute("data-address", "0x4000c")
    # memory is a column of the same table: the BRK in the add's own row
    memory = listing.locator("tr[data-address='0x4000c'] td.mem")
    expect(memory).to_contain_text("d4200000")

    view.get_by_role("button", name="Continue").click()
    expect(pc).to_have_text("0x4000c")
    expect(listing.locator("tr.pc")).to_have_attribute("data-address", "0x4000c")
    expect(listing.locator("tr.pc")).to_have_class(re.compile(r"\bbp\b"))
    exit_panel = view.locator(".armbp-dv-exit")
    expect(exit_panel).to_contain_text("Last exit: BREAKPOINT at 0x4000c")
    expect(exit_panel).to_contain_text("hsr 0xf2000000: EC 0x3C BRK (AArch64)")

    view.get_by_role("button", name="Step").click()
    expect(pc).to_have_text("0x40010")
    expect(listing.locator("tr.pc")).to_have_attribute("data-address", "0x40010")
    expect(exit_panel).to_contain_text("Last exit: STEP at 0x40010")
    # the breakpoint is still planted after stepping over it
    expect(memory).to_contain_text("d4200000")
    assert unexpected_widget_failures(page) == [], page.log


def _row(table, field: str):
    return table.locator(
        "tr", has=table.page.locator("td b", has_text=re.compile(rf"^{field}$"))
    )


def _listening_addresses(port: int) -> set[str]:
    """The local addresses with a TCP socket listening on ``port`` (from /proc/net)."""
    found = set()
    for name in ("tcp", "tcp6"):
        path = Path("/proc/net") / name
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state != "0A" or int(hex_port, 16) != port:  # 0A = LISTEN
                continue
            if len(address) == 8:
                found.add(".".join(str(b) for b in reversed(bytes.fromhex(address))))
            else:
                found.add("::" if set(address) == {"0"} else address)
    return found
