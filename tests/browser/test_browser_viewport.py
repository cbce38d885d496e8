"""The debugger view at 1280 × 800, a laptop's window, in a real browser (issue 13).

A newcomer presses Continue and must see what it did without scrolling: the registers
(the changed ones marked) and the last exit are inside the first viewport. Each test
leaves its screenshot in ``build/browser/``.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from armbp import app as launcher

from .conftest import ARTEFACTS, TIMEOUT_MS, _missing, tagged_env, unexpected_widget_failures

VIEWPORT = {"width": 1280, "height": 800}

# The view alone, as a lesson shows it: a breakpoint planted at loop, nothing run yet.
VIEW_NOTEBOOK = {
    "cells": [
        {
            "cell_type": "code",
            "execution_count": None,
            "id": "view",
            "metadata": {},
            "outputs": [],
            "source": (
                "from armbp.widgets import DebuggerView\n"
                "view = DebuggerView()\n"
                "view.toggle('loop')\n"
                "view"
            ),
        }
    ],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    "nbformat": 4,
    "nbformat_minor": 5,
}


def _expect():
    from playwright.sync_api import expect

    return expect


def _voila(tag: str, notebook: Path, name: str) -> Iterator[str]:
    if importlib.util.find_spec("voila") is None:
        _missing("Voilà is not installed: `.venv/bin/pip install -e '.[browser]'`")
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    with open(ARTEFACTS / f"{name}.log", "w") as log:
        proc, url = launcher.start(notebook, env=tagged_env(tag), stdout=log, stderr=log)
        try:
            yield url
        finally:
            launcher.stop_tree(proc, grace=5)


@pytest.fixture(scope="module")
def view_url(process_tag: str, browser, tmp_path_factory) -> Iterator[str]:
    notebook = tmp_path_factory.mktemp("viewport") / "debugger-view.ipynb"
    notebook.write_text(json.dumps(VIEW_NOTEBOOK))
    yield from _voila(process_tag, notebook, "voila-viewport-view")


@pytest.fixture(scope="module")
def app_url(process_tag: str, browser) -> Iterator[str]:
    yield from _voila(process_tag, launcher.NOTEBOOK, "voila-viewport-app")


@pytest.fixture
def laptop(browser, request) -> Iterator[object]:
    """A page with a 1280 × 800 viewport; its screenshot is kept whatever happens."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        name = re.sub(r"[^\w.-]+", "_", request.node.name)
        try:
            page.screenshot(path=str(ARTEFACTS / f"{name}.png"), timeout=15_000)
        finally:
            context.close()


def _inside_first_viewport(page, locator) -> dict:
    """The element's box, asserted to lie inside the window as first shown (no scroll)."""
    locator.wait_for(timeout=TIMEOUT_MS)
    scrolled = page.evaluate(
        "() => [window.scrollY, document.scrollingElement.scrollTop, "
        "Math.max(...[...document.querySelectorAll('*')].map(e => e.scrollTop))]"
    )
    assert scrolled == [0, 0, 0], f"the page was scrolled: {scrolled}"
    box = locator.bounding_box()
    assert box is not None, "not rendered"
    assert 0 <= box["y"] and box["y"] + box["height"] <= VIEWPORT["height"], box
    assert 0 <= box["x"] and box["x"] + box["width"] <= VIEWPORT["width"], box
    return box


def continue_and_see_the_effect(page, view) -> None:
    """Press Continue; the last exit and the changed registers must show, unscrolled."""
    expect = _expect()
    exit_line = view.locator(".armbp-dv-exit b").first
    expect(exit_line).to_have_text(re.compile(r"^Last exit: none yet"))
    registers = view.locator(".armbp-dv-registers")
    expect(registers.locator("td.changed")).to_have_count(0)
    view.get_by_role("button", name="Continue").click()
    expect(exit_line).to_have_text(re.compile(r"^Last exit: BREAKPOINT at 0x4000c"))
    expect(registers.locator("td.changed").first).to_be_visible()
    expect(registers).to_contain_text("pc 0x000000000004000c *")
    _inside_first_viewport(page, exit_line)
    _inside_first_viewport(page, registers)
    _inside_first_viewport(page, view.get_by_role("button", name="Continue"))


def test_continue_shows_registers_and_last_exit_without_scrolling(laptop, view_url):
    laptop.goto(view_url, timeout=TIMEOUT_MS)
    view = laptop.locator(".armbp-debugger-view")
    view.get_by_role("button", name="Continue").wait_for(timeout=TIMEOUT_MS)
    # the word memory holds is in the instruction's own row, at this width too
    row = view.locator(".armbp-dv-listing tr[data-address='0x4000c']")
    _expect()(row.locator("td.mem")).to_contain_text("d4200000")
    _expect()(row).to_contain_text("add x7, x7, #1")
    continue_and_see_the_effect(laptop, view)
    assert unexpected_widget_failures(laptop) == []


def test_the_app_opens_on_the_debugger_and_continue_shows_its_effect(laptop, app_url):
    """The app's first screen is the debugger (a tab before the ESR explorer), not an
    explorer whose field table pushes it below the fold."""
    expect = _expect()
    laptop.goto(app_url, timeout=TIMEOUT_MS)
    view = laptop.locator(".armbp-debugger-view")
    view.get_by_role("button", name="Continue").wait_for(timeout=TIMEOUT_MS)
    expect(laptop.get_by_role("tab", name="Debugger")).to_have_attribute(
        "aria-selected", "true"
    )
    view.get_by_role("combobox", name="Location").fill("loop")
    view.get_by_role("button", name="Toggle breakpoint").click()
    expect(view.locator(".armbp-dv-listing tr.bp")).to_have_attribute(
        "data-address", "0x4000c"
    )
    continue_and_see_the_effect(laptop, view)
    # the ESR explorer is one click away, and on the first screen too
    laptop.get_by_role("tab", name="ESR explorer").click()
    _inside_first_viewport(laptop, laptop.get_by_role("textbox", name="ESR value"))
    assert unexpected_widget_failures(laptop) == []
