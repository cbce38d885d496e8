"""A lesson exported to static HTML shows its stored widgets in a browser, with no kernel and
no network: `jupyter nbconvert --to html` pointed at a local copy of the widget manager.

The manager is ``@jupyter-widgets/html-manager`` 1.0.x from the npm registry, fetched once
into ``build/html-manager/`` (``npm pack``; CI starts from a fresh clone, so it fetches it
there). Its ``dist/embed.js`` is the stand-alone build: it needs no require.js, which the
export would otherwise load from a CDN as well.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from armbp import app as launcher

from .conftest import (
    BUILD,
    ROOT,
    TIMEOUT_MS,
    _missing,
    require_tool,
    unexpected_widget_failures,
    widget_failures,
)

HTML_MANAGER = "@jupyter-widgets/html-manager@1.0.x"
MANAGER_DIR = BUILD / "html-manager"  # holds package/ as npm packed it
RENDERER = MANAGER_DIR / "package" / "dist" / "embed.js"
LESSON_4 = ROOT / "notebooks" / "04-reading-the-syndrome.ipynb"


def fetch_html_manager() -> Path:
    """``build/html-manager/package`` from the npm registry, unless it is there already."""
    if RENDERER.exists():
        return RENDERER
    npm = require_tool("npm", "npm")
    BUILD.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=BUILD) as tmp:
        done = subprocess.run(
            [npm, "pack", HTML_MANAGER, "--json", "--pack-destination", tmp],
            capture_output=True,
            text=True,
            timeout=180,
        )
        if done.returncode != 0:
            _missing(
                f"`npm pack {HTML_MANAGER}` failed (the npm registry is needed once):\n"
                f"{done.stderr[-2000:]}"
            )
        (packed,) = json.loads(done.stdout)
        with tarfile.open(Path(tmp) / packed["filename"]) as tar:
            tar.extractall(Path(tmp) / "unpacked", filter="data")
        (Path(tmp) / "unpacked" / "VERSION").write_text(packed["version"] + "\n")
        try:  # another run may have fetched it meanwhile: keep theirs
            os.rename(Path(tmp) / "unpacked", MANAGER_DIR)
        except OSError:
            if not RENDERER.exists():
                raise
    return RENDERER


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def export_url(browser, tmp_path_factory) -> Iterator[str]:
    """Lesson 4 exported with the local widget manager, served on 127.0.0.1 from a folder
    that holds the export and (a link to) the manager, as a teacher would hand them out."""
    renderer = fetch_html_manager()
    site = tmp_path_factory.mktemp("export")
    (site / "html-manager").symlink_to(MANAGER_DIR, target_is_directory=True)
    relative = renderer.relative_to(MANAGER_DIR.parent).as_posix()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyter",
            "nbconvert",
            "--to",
            "html",
            f"--HTMLExporter.widget_renderer_url={relative}",
            "--output-dir",
            str(site),
            str(LESSON_4),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    html = (site / f"{LESSON_4.stem}.html").read_text()
    assert relative in html and "application/vnd.jupyter.widget-state+json" in html

    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", launcher.free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, name="export-http", daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host}:{port}/{LESSON_4.stem}.html"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def open_export(page, url: str) -> None:
    from playwright.sync_api import expect

    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(url, timeout=TIMEOUT_MS)
    expect(page.get_by_role("textbox", name="ESR value")).to_be_visible(timeout=TIMEOUT_MS)
    page.requests = requests
    page.subject = page.get_by_role("heading", name=re.compile(r"^The ESR explorer"))


def test_static_export_of_lesson_4_shows_the_explorer_without_a_kernel(page, export_url):
    from playwright.sync_api import expect

    open_export(page, export_url)
    # the state stored by the last run of the lesson: EsrExplorer(0xF2000800), Linux BUG()
    expect(page.get_by_role("textbox", name="ESR value")).to_have_value("0x00000000f2000800")
    expect(page.get_by_text("EC 0x3C — BRK (AArch64)")).to_be_visible()
    expect(
        page.get_by_text(
            "Preset source: Linux arch/arm64/include/asm/brk-imm.h: BUG_BRK_IMM 0x800"
        )
    ).to_be_visible()
    expect(page.locator("button[title^='bit ']")).to_have_count(64)
    expect(page.locator("button[title^='bit 11 (Comment) = 1']")).to_have_class(
        re.compile(r"\bmod-active\b")
    )
    # no kernel, no server but a static one: the manager came from build/, not a CDN
    assert any(u.endswith("/html-manager/package/dist/embed.js") for u in page.requests)
    assert not [u for u in page.requests if "/api/kernels" in u]
    loopback_failed = [u for u in page.log.failed if u.startswith("http://127.0.0.1")]
    assert loopback_failed == [], page.log
    assert unexpected_widget_failures(page) == [], page.log


def test_every_stored_widget_renders(page, export_url):
    open_export(page, export_url)
    assert widget_failures(page) == []
