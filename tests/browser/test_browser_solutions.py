"""The worked solutions stay hidden until the learner asks, in a real browser.

JupyterLab: a lesson is opened and run with Run All (what the lessons tell learners to do;
it also undoes any folding of outputs); no solution's text is visible until its "Show the
answer" summary is clicked, and then it is. A static HTML export (nbconvert's HTML exporter,
what Voilà and a course web page show) is checked the same way, with no kernel at all.
"""

from __future__ import annotations

from collections.abc import Iterator

import nbformat
import pytest

from armbp import exercises

from .conftest import TIMEOUT_MS
from .test_browser_lab import LESSONS, NOTEBOOK, Lab, error_outputs, run_all, running_lab

LESSON_1 = "01-the-brk-instruction.ipynb"


def solution_ids(name: str) -> list[str]:
    nb = nbformat.read(LESSONS / name, as_version=4)
    return [
        c.source.split('"')[1]
        for c in nb.cells
        if c.cell_type == "code" and "solution" in c.metadata.get("tags", [])
    ]


def first_line(exercise_id: str) -> str:
    """A piece of the worked solution that is on screen once it is revealed."""
    return exercises._REGISTRY[exercise_id].solution.splitlines()[0][:40]


def assert_hidden_until_clicked(page, root: str, ids: list[str]) -> None:
    """In ``root``, each solution's text is invisible, then visible after its summary."""
    from playwright.sync_api import expect

    blocks = page.locator(f"{root} details.armbp-solution")
    expect(blocks).to_have_count(len(ids))
    for block, exercise_id in zip(blocks.all(), ids, strict=True):
        text = block.get_by_text(first_line(exercise_id))
        expect(text).to_be_hidden()
        summary = block.locator("summary")
        expect(summary).to_have_text("Show the answer")
        summary.click()
        expect(text).to_be_visible()
    assert exercises.HIDDEN not in page.locator(root).inner_text()  # the HTML was shown


@pytest.fixture(scope="module")
def lab(process_tag: str, browser, tmp_path_factory) -> Iterator[Lab]:
    with running_lab(process_tag, tmp_path_factory.mktemp("lab"), (LESSON_1,)) as lab:
        yield lab


def test_run_all_in_jupyterlab_shows_no_answer_until_asked(page, lab):
    ids = solution_ids(LESSON_1)
    assert len(ids) >= 3, ids
    lab.open(page, LESSON_1)
    run_all(page, LESSON_1)
    assert error_outputs(page) == [], page.log
    # the whole notebook as text, before any click: no worked solution in it
    shown = page.locator(NOTEBOOK).inner_text(timeout=TIMEOUT_MS)
    for exercise_id in ids:
        assert exercises._REGISTRY[exercise_id].solution not in shown, exercise_id
    page.subject = page.locator(f"{NOTEBOOK} details.armbp-solution").first
    assert_hidden_until_clicked(page, NOTEBOOK, ids)


def test_static_html_export_keeps_the_answers_closed(page):
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_filename(str(LESSONS / LESSON_1))
    ids = solution_ids(LESSON_1)
    assert body.count('<details class="armbp-solution">') == len(ids)
    assert "<details open" not in body
    page.set_content(body, wait_until="domcontentloaded", timeout=TIMEOUT_MS)
    page.subject = page.locator("details.armbp-solution").first
    assert_hidden_until_clicked(page, "body", ids)
