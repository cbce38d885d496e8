"""The lessons in JupyterLab, in a real browser: open, Run All, read what the learner sees.

JupyterLab is started here on 127.0.0.1 with a random token, over a temporary copy of the
lessons (a run in the browser must never autosave into the stored notebooks), with its
settings and workspaces in that temporary folder too.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import nbformat
import pytest

from armbp import app as launcher

from .conftest import (
    ARTEFACTS,
    ROOT,
    TIMEOUT_MS,
    tagged_env,
    unexpected_widget_failures,
    widget_failures,
)

LESSONS = ROOT / "notebooks"
LESSON_0 = "00-start-here.ipynb"
LESSON_4 = "04-reading-the-syndrome.ipynb"
KERNEL_IDLE = re.compile(r"Python 3 \(ipykernel\) \| Idle")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook"  # the notebook in view
SETTINGS = {
    # Render every cell, not just those in view, so the page holds the whole notebook;
    # start the notebook's kernel without a "Select Kernel" dialog (kernel specs that load
    # after the notebook can otherwise bring one up).
    "notebook-extension/tracker": {"windowingMode": "none", "autoStartDefaultKernel": True},
    # No "get notified about Jupyter news?" prompt over the notebook.
    "apputils-extension/notification": {"fetchNews": "false"},
}


class Lab(NamedTuple):
    url: str  # http://127.0.0.1:PORT/
    token: str

    def open(self, page, notebook: str) -> None:
        """Open ``notebook`` in a workspace of its own (no tab of an earlier test)."""
        workspace = re.sub(r"\W+", "-", notebook)
        page.goto(
            f"{self.url}lab/workspaces/{workspace}/tree/{notebook}?token={self.token}",
            timeout=TIMEOUT_MS,
        )
        page.locator(NOTEBOOK).wait_for(timeout=TIMEOUT_MS)
        # The kernel is up when the status bar names it and says Idle ("No Kernel |
        # Initializing" first: cells run before that are cleared and silently not run).
        page.locator(".jp-StatusBar-Widget", has_text=KERNEL_IDLE).first.wait_for(
            timeout=TIMEOUT_MS
        )


@contextlib.contextmanager
def running_lab(process_tag: str, home: Path, names: tuple[str, ...]) -> Iterator[Lab]:
    """JupyterLab over copies (outputs cleared) of the lessons ``names``, in ``home``."""
    root = home / "lessons"
    root.mkdir()
    for name in names:
        nb = nbformat.read(LESSONS / name, as_version=4)
        for cell in nb.cells:  # so that whatever the page shows comes from this run
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        nb.metadata.pop("widgets", None)
        nbformat.write(nb, root / name)
    settings = home / "settings" / "@jupyterlab"
    for plugin, values in SETTINGS.items():
        path = settings / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    token = secrets.token_hex(24)
    port = launcher.free_port()
    env = tagged_env(process_tag)
    env.update(JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_RUNTIME_DIR=str(home / "run"))
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    log = open(ARTEFACTS / "jupyterlab.log", "w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            f"--ServerApp.port={port}",
            "--ServerApp.ip=127.0.0.1",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            f"--LabApp.user_settings_dir={home / 'settings'}",
            f"--LabApp.workspaces_dir={home / 'workspaces'}",
            "--LabApp.news_url=None",
            "--LabApp.extension_manager=readonly",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--ServerApp.terminals_enabled=False",
            *(["--ServerApp.allow_root=True"] if os.geteuid() == 0 else []),
        ],
        cwd=root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        launcher.wait_for_port(port, proc, timeout=90)
        yield Lab(f"http://127.0.0.1:{port}/", token)
    finally:
        launcher.stop_tree(proc, grace=10)
        log.close()


@pytest.fixture(scope="module")
def lab(process_tag: str, browser, tmp_path_factory) -> Iterator[Lab]:
    with running_lab(process_tag, tmp_path_factory.mktemp("lab"), (LESSON_0, LESSON_4)) as lab:
        yield lab


def run_all(page, notebook_name: str) -> None:
    """Run ▸ Run All Cells, from the menu bar as a learner would, and wait for the end."""
    cells = sum(
        c.cell_type == "code"
        for c in nbformat.read(LESSONS / notebook_name, as_version=4).cells
    )
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name=re.compile(r"^Run All Cells")).click()
    notebook = page.locator(NOTEBOOK)
    # every code cell shows its number, none shows [*] (busy) or [ ] (not run)
    page.wait_for_function(
        """cells => {
            const prompts = [...document.querySelectorAll(
                '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-CodeCell '
                + '.jp-InputArea-prompt')];
            return prompts.length === cells
                && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
        }""",
        arg=cells,
        timeout=TIMEOUT_MS,
    )
    page.locator(".jp-StatusBar-Widget", has_text=KERNEL_IDLE).first.wait_for(
        timeout=TIMEOUT_MS
    )
    assert notebook.locator(".jp-OutputArea-output").count() > 0


def stored_widget_views(name: str) -> int:
    """How many widget views the stored lesson shows."""
    nb = nbformat.read(LESSONS / name, as_version=4)
    return sum(
        WIDGET_VIEW in out.get("data", {})
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
    )


def error_outputs(page) -> list[str]:
    """Tracebacks and stderr shown in the notebook."""
    outputs = page.locator(
        f"{NOTEBOOK} .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
    )
    return [t[:500] for t in outputs.all_inner_texts()]


def test_jupyterlab_asks_for_the_token(lab):
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{lab.url}api/contents", timeout=10)
    refused.value.close()  # an HTTPError is the response: it holds the socket open
    assert refused.value.code == 403
    with urllib.request.urlopen(f"{lab.url}api/contents?token={lab.token}", timeout=10) as r:
        names = {item["name"] for item in json.load(r)["content"]}
    assert names == {LESSON_0, LESSON_4}


def test_lesson_0_runs_in_jupyterlab_and_shows_its_widget(page, lab):
    """Lesson 0 after Run All: no traceback or stderr, the BRK's syndrome printed, and each
    widget the lesson shows rendered as a widget (not its text, not a placeholder)."""
    from playwright.sync_api import expect

    lab.open(page, LESSON_0)
    run_all(page, LESSON_0)
    assert error_outputs(page) == [], page.log
    assert "0xf2000000" in page.locator(NOTEBOOK).inner_text()  # BRK #0's syndrome
    stored = stored_widget_views(LESSON_0)
    assert stored, f"{LESSON_0} shows no widget"
    # a widget output holds the widget's own DOM; without the front end's widget manager
    # it would hold the text/plain repr instead
    views = page.locator(f"{NOTEBOOK} .jp-OutputArea-output:has(> .jupyter-widgets)")
    expect(views).to_have_count(stored)
    for view in views.all():
        expect(view).to_be_visible()
        assert view.inner_text().strip(), "a widget rendered empty"
    page.subject = views.first
    view = page.locator(f"{NOTEBOOK} .armbp-debugger-view")
    if view.count():  # the Debugger view ends the lesson: its pc is shown
        expect(view.locator(".armbp-dv-pc")).to_have_text(re.compile(r"^0x[0-9a-f]+$"))
        page.subject = view
    assert widget_failures(page) == [], page.log


def test_lesson_4_explorer_is_live_in_jupyterlab(page, lab):
    """The lesson's EsrExplorer, re-run in JupyterLab: the widget front end of this
    JupyterLab talks to this ipywidgets (a version mismatch shows an error instead)."""
    lab.open(page, LESSON_4)
    run_all(page, LESSON_4)
    assert error_outputs(page) == [], page.log
    value = page.get_by_role("textbox", name="ESR value")
    value.wait_for(timeout=TIMEOUT_MS)
    page.subject = page.locator(NOTEBOOK).locator(".jp-Cell", has=value)
    from playwright.sync_api import expect

    expect(value).to_have_value("0x00000000f2000800")
    value.fill("0x96000045")
    value.press("Enter")
    expect(page.get_by_text("EC 0x25 — DABT (current EL)")).to_be_visible()
    assert unexpected_widget_failures(page) == [], page.log
