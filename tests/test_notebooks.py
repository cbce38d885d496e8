"""The lessons as stored: what nbval cannot check by itself, and the exercises solved.

nbval (`make test`: the Makefile's NBVAL options) re-runs every lesson and compares outputs. It has blind
spots, each covered here: a cell never executed is silently not compared, image outputs
are skipped, text shown only inside a widget is invisible, and a sanitize rule that is too
wide would hide a change in what the guest does. The last test runs each lesson with every
``answer = ...`` replaced by the model answer and requires every check to print ✓.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import json
import re
from pathlib import Path

import nbformat
import pytest

from armbp import exercises

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SANITIZE = NOTEBOOKS / "nbval-sanitize.cfg"
LESSONS = sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
CHECK_CALL = re.compile(
    r"""^check\(\s*["']([a-z0-9-]+)["']\s*,\s*answer\s*\)\s*$""", re.MULTILINE
)
SOLUTION_CALL = re.compile(r"""^solution\(\s*["']([a-z0-9-]+)["']\s*\)\s*$""", re.MULTILINE)
UNANSWERED_LINE = re.compile(r"^answer = \.\.\.$", re.MULTILINE)


def _load_execute():
    spec = importlib.util.spec_from_file_location(
        "notebooks_execute", NOTEBOOKS / "execute.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


execute = _load_execute()


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def texts(output) -> list[str]:
    """The text nbval compares in one output: stream text and every text-like data type."""
    if output.output_type == "stream":
        return [output.text]
    data = output.get("data", {})
    return [v for k, v in data.items() if isinstance(v, str) and k.startswith("text/")]


def sanitize_rules() -> list[tuple[str, str]]:
    from nbval.plugin import get_sanitize_patterns

    return list(get_sanitize_patterns(SANITIZE.read_text()))


def sanitize(text: str) -> str:
    for regex, replace in sanitize_rules():
        text = re.sub(regex, replace, text)
    return text


lesson = pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])


# --- the set of lessons -----------------------------------------------------------------------


def test_the_nine_lessons_are_there_and_lesson_0_is_the_start_page():
    assert [p.name[:3] for p in LESSONS] == [f"{n:02d}-" for n in range(9)], LESSONS
    assert LESSONS[0].name == "00-start-here.ipynb"
    makefile = (ROOT / "Makefile").read_text()
    assert "jupyter lab notebooks/00-start-here.ipynb" in makefile


def test_index_page_links_every_lesson_and_every_link_resolves():
    index = (NOTEBOOKS / "README.md").read_text()
    for path in LESSONS:
        assert f"({path.name})" in index, f"notebooks/README.md does not link {path.name}"
    for doc in [NOTEBOOKS / "README.md", *LESSONS]:
        text = (
            doc.read_text()
            if doc.suffix == ".md"
            else "\n".join(c.source for c in read(doc).cells if c.cell_type == "markdown")
        )
        for target in re.findall(r"\]\(([^)#\s]+\.ipynb)(?:#[^)]*)?\)", text):
            assert (NOTEBOOKS / target).exists(), f"{doc.name} links to missing {target}"


# --- stored as executed -----------------------------------------------------------------------


@lesson
def test_every_code_cell_was_executed_in_order_and_has_output(path):
    """nbval silently skips the comparison of a cell that was never run."""
    cells = code_cells(read(path))
    counts = [c.execution_count for c in cells]
    assert counts == list(range(1, len(cells) + 1)), (
        f"{path.name}: execution counts {counts}; run `make notebooks`"
    )
    for n, cell in enumerate(cells, 1):
        assert cell.outputs, (
            f"{path.name} code cell {n} prints nothing: every cell shows "
            f"its fact as text\n{cell.source}"
        )


@lesson
def test_no_error_and_no_stderr_outputs(path):
    """Warnings on stderr would be compared too, and break on the next library upgrade."""
    for n, cell in enumerate(code_cells(read(path)), 1):
        for out in cell.outputs:
            assert out.output_type != "error", f"{path.name} cell {n}: {out.get('ename')}"
            assert out.get("name") != "stderr", f"{path.name} cell {n} stderr: {out.text}"


@lesson
def test_kernelspec_is_python3_and_metadata_is_normalised(path):
    nb = read(path)
    assert nb.metadata.kernelspec == execute.KERNELSPEC
    assert "version" not in nb.metadata.language_info
    for cell in nb.cells:
        for key in execute.VOLATILE_CELL_METADATA:
            assert key not in cell.metadata, (path.name, cell.get("id"), key)


@lesson
def test_no_cell_ends_with_a_semicolon(path):
    """Under nbval a trailing ';' does not hide the value: write ``_ = ...`` instead."""
    for n, cell in enumerate(code_cells(read(path)), 1):
        lines = [
            ln
            for ln in cell.source.splitlines()
            if ln.strip() and not ln.strip().startswith("#")
        ]
        assert not (lines and lines[-1].rstrip().endswith(";")), (
            f"{path.name} cell {n} ends with ';'\n{cell.source}"
        )


PNG_DATA_URI = re.compile(r"data:image/png;base64,[A-Za-z0-9+/=]+")


@lesson
def test_no_stored_output_needs_sanitizing(path):
    """Nothing host-specific is stored, and so no rule can be hiding a guest value. The one
    exception is a Picture's inline PNG (``<img src='data:image/png;base64,…' alt=…>``):
    its bytes depend on the matplotlib build, and they are image data, never a value."""
    for n, cell in enumerate(code_cells(read(path)), 1):
        for out in cell.outputs:
            for text in texts(out):
                text = PNG_DATA_URI.sub("", text)  # the image, left out
                assert sanitize(text) == text, f"{path.name} cell {n}: {text[:200]}"


# --- the shape of a lesson --------------------------------------------------------------------


@lesson
def test_lesson_has_time_goals_prerequisites_summary_references_and_whats_next(path):
    nb = read(path)
    first, last = nb.cells[0], nb.cells[-1]
    assert first.cell_type == "markdown" and first.source.startswith("# Lesson")
    assert "**Goals**" in first.source and "**Prerequisites**" in first.source
    assert re.search(r"\*\*Time to learn\*\*: about \d+ minutes\.", first.source)
    assert "| Concepts | Importance | Notes |" in first.source  # the prerequisites table
    assert last.cell_type == "markdown" and "## Summary" in last.source
    assert "What's next" in last.source
    references = last.source.split("## References", 1)[1].split("**What's next**")[0]
    assert re.findall(r"^- \[[^]]+\]\(https://[^)]+\)", references, re.MULTILINE), path.name


@lesson
def test_every_exercise_is_checked_and_has_a_revealable_solution(path):
    cells = read(path).cells
    checked = []
    for i, cell in enumerate(cells):
        if cell.cell_type != "code" or not CHECK_CALL.search(cell.source):
            continue
        ids = CHECK_CALL.findall(cell.source)
        assert len(ids) == 1 and len(UNANSWERED_LINE.findall(cell.source)) == 1, cell.source
        (exercise_id,) = ids
        assert exercise_id in exercises.exercise_ids(), exercise_id
        assert [o.text for o in cell.outputs] == [exercises.UNANSWERED + "\n"], (
            f"{path.name}: the exercise {exercise_id} is stored answered"
        )
        reveal = cells[i + 1]
        assert reveal.cell_type == "code" and SOLUTION_CALL.findall(reveal.source) == [
            exercise_id
        ], f"{path.name}: no solution cell right after {exercise_id}"
        assert "solution" in reveal.metadata.get("tags", [])
        # not folded: a folded output previews its first line; the <details> is the fold
        assert "outputs_hidden" not in reveal.metadata.get("jupyter", {})
        checked.append(exercise_id)
    assert checked, f"{path.name} has no self-checked exercise"
    assert len(set(checked)) == len(checked), checked


DETAILS = re.compile(r"<details\b.*?</details>", re.DOTALL)


def _answer_texts(exercise_id: str) -> list[str]:
    """What would give exercise ``exercise_id`` away: its worked solution and its answer."""
    entry = exercises._REGISTRY[exercise_id]
    found = [entry.solution]
    if entry.answer is not None:
        literal = (
            ast.literal_eval(entry.answer) if not exercises.code_name(entry.answer) else ""
        )
        if isinstance(literal, str) and len(literal) > 2:
            found.append(literal)
        elif isinstance(literal, int) and literal > 9:
            found += [f"{literal:#x}", str(literal)]
    return found


@lesson
def test_no_stored_solution_output_gives_its_answer_away(path):
    """In every mime type of a solution cell's stored output the answer is only inside a
    closed <details> block (JupyterLab previews a folded output's first line, Run All
    unfolds it, and text/plain is what a front end without HTML shows)."""
    solutions = 0
    for cell in code_cells(read(path)):
        found = SOLUTION_CALL.findall(cell.source)
        if not found:
            continue
        solutions += 1
        html_seen = False
        for out in cell.outputs:
            assert out.output_type != "stream", f"{path.name}: {found[0]} prints its answer"
            for mime, value in out.get("data", {}).items():
                text = value if isinstance(value, str) else json.dumps(value)
                if mime == "text/html":
                    html_seen = True
                    assert re.search(r"<details(?![^>]*\bopen)[^>]*>", text), text
                    text = DETAILS.sub("", text)
                for secret in _answer_texts(found[0]):
                    assert secret not in text, (path.name, found[0], mime, secret)
        assert html_seen, f"{path.name}: {found[0]} stores no <details> block"
    assert solutions


def test_no_exercise_is_used_in_two_lessons():
    seen: dict[str, str] = {}
    for path in LESSONS:
        for cell in code_cells(read(path)):
            for exercise_id in CHECK_CALL.findall(cell.source):
                assert exercise_id not in seen, (exercise_id, seen.get(exercise_id), path.name)
                seen[exercise_id] = path.name


# --- images and widgets -----------------------------------------------------------------------


def test_nbval_compares_text_and_skips_png():
    """Stated, not assumed: PNG bytes vary with the matplotlib build, text/plain does not."""
    from nbval.plugin import IPyNbFile

    source = inspect.getsource(IPyNbFile.__init__)
    assert "'image/png'" in source and "nbdime" in source  # skipped unless --nbdime
    makefile = (ROOT / "Makefile").read_text()
    nbval = re.search(r"^NBVAL\s*:?=(.*)$", makefile, re.MULTILINE).group(1).split()
    assert "--nbval" in nbval and "--nbval-current-env" in nbval
    assert "--nbval-sanitize-with=notebooks/nbval-sanitize.cfg" in nbval
    assert "--nbdime" not in nbval and "--nbval-lax" not in nbval
    assert re.search(r"^\t\$\(PY\) -m pytest \$\(NBVAL\) notebooks$", makefile, re.MULTILINE)


@lesson
def test_pictures_are_png_with_a_stable_text_repr(path):
    for n, cell in enumerate(code_cells(read(path)), 1):
        for out in cell.outputs:
            data = out.get("data", {})
            assert "image/svg+xml" not in data, f"{path.name} cell {n}: SVG would be compared"
            if "image/png" in data:
                assert re.fullmatch(
                    r"<\w+ size \d+x[\d.]+ with \d+ Axes>", data.get("text/plain", "")
                ), data.get("text/plain")
            if "<img" in data.get("text/html", ""):  # a Picture: a PNG with its alt text
                assert re.search(r"<img [^>]*\balt='[^']{20,}'", data["text/html"]), n
                assert data["text/plain"].startswith("<Picture: "), data["text/plain"]


PICTURE_CELLS = {
    "01": ["pictures.word_picture("],
    "03": ["pictures.trap_path()", "pictures.step_over()"],
    "04": ["pictures.syndrome_picture("],
    "05": ["pictures.vector_table()", "pictures.reinjection()"],
    "06": ["pictures.rsp_exchange()"],
    "08": ["pictures.kvm_inside()"],
}


@pytest.mark.parametrize("number", sorted(PICTURE_CELLS))
def test_the_lessons_diagrams_are_pictures_with_alt_text_not_ascii(number):
    """Lessons 3, 5 and 6 drew their diagrams in ASCII, which wraps on a laptop; each is a
    Picture now, and every figure cell's stored output carries its alt text."""
    (path,) = [p for p in LESSONS if p.name.startswith(number)]
    nb = read(path)
    for call in PICTURE_CELLS[number]:
        (cell,) = [c for c in code_cells(nb) if call in c.source]
        (html,) = [
            o.data["text/html"] for o in cell.outputs if "text/html" in o.get("data", {})
        ]
        assert re.search(r"<img [^>]*\balt='[^']{20,}'", html), (path.name, call)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            assert not re.search(r"```\n[^`]*[│►◄─]", cell.source), (path.name, cell.source)


@lesson
def test_widgets_also_print_their_facts_and_stay_small(path):
    """nbval sees a widget only as its repr: the teaching fact must be printed beside it."""
    nb = read(path)
    explorers = 0
    for n, cell in enumerate(code_cells(nb), 1):
        views = [o for o in cell.outputs if WIDGET_VIEW in o.get("data", {})]
        if not views:
            continue
        assert any(o.output_type == "stream" and o.text.strip() for o in cell.outputs), (
            f"{path.name} cell {n} shows a widget without printing what it shows"
        )
        for view in views:
            assert "object at" not in view.data["text/plain"]
            explorers += view.data["text/plain"].startswith("EsrExplorer(")
    assert explorers <= 1, f"{path.name}: more than one EsrExplorer"
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE)
    assert bool(state) == any(
        WIDGET_VIEW in o.get("data", {}) for c in code_cells(nb) for o in c.outputs
    )
    assert path.stat().st_size < 1_000_000, f"{path.name} is {path.stat().st_size} bytes"


# --- the sanitize rules -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "host, expected",
    [
        (
            "<armbp.vcpu.VCpu object at 0x7f3a2b1c0d90>",
            "<armbp.vcpu.VCpu object at HOST-ADDRESS>",
        ),
        ("<function f at 0x7f3a2b1c0d90>", "<function f at HOST-ADDRESS>"),
        ("<Foo at 0x55d1c0ffee00>", "<Foo at HOST-ADDRESS>"),
        ("id 0x7f3a2b1c0d90", "id HOST-ADDRESS"),
        ("Wall time: 1.25 ms", "Wall time: TIME"),
        ("ran in 0.53 ms", "ran in DURATION"),
        (
            '<img src="data:image/png;base64,iVBORw0KGgoAAAANSUhEUg==">',
            '<img src="data:image/png;base64,PNG-DATA">',
        ),
    ],
)
def test_sanitize_replaces_host_values(host, expected):
    assert sanitize(host) == expected


@pytest.mark.parametrize(
    "guest",
    [
        "pc = 0x40004",
        "0x0000000000040000",
        "BRK #0 = 0xd4200000",
        "ESR = 0x00000000f2000099",
        "FAR = 0xffff800010a3c1e4",
        "sp = 0x7fffff0000",
        "x0 = 0x7f (127)",
        "budget 1000 steps",
        "IL = 32 bits",
        "<RegisterFigure size 1200x155.556 with 1 Axes>",
        "EsrExplorer(0x0000000096000045: EC 0x25 DABT (current EL))",
    ],
)
def test_sanitize_never_touches_guest_values(guest):
    assert sanitize(guest) == guest


# --- cells a learner re-runs ------------------------------------------------------------------

RERUN_TAG = "rerun"
RERUN = [
    (path, n)
    for path in LESSONS
    for n, cell in enumerate(code_cells(read(path)))
    if RERUN_TAG in cell.metadata.get("tags", [])
]


def test_the_cells_a_learner_re_runs_are_tagged():
    assert {path.name[:2] for path, _ in RERUN} >= {"02", "03"}, RERUN


@pytest.mark.parametrize("path, n", RERUN, ids=[f"{p.stem[:2]}-cell{n + 1}" for p, n in RERUN])
def test_running_a_tagged_cell_twice_changes_nothing_after_it(path, n):
    """The insert of lesson 2 and the step by hand of lesson 3, run twice (as a learner
    does): every later cell prints what the stored lesson shows."""
    stored = read(path)
    nb = nbformat.from_dict(stored)
    cells = code_cells(nb)
    twice = nbformat.from_dict(cells[n])
    twice.id = f"{twice.id}-again"
    nb.cells.insert(nb.cells.index(cells[n]) + 1, twice)
    execute.run(nb)
    ran = code_cells(nb)
    assert not any(o.output_type == "error" for o in ran[n + 1].outputs), ran[n + 1].outputs
    for before, after in zip(code_cells(stored)[n + 1 :], ran[n + 2 :], strict=True):
        want = [sorted(map(sanitize, texts(o))) for o in before.outputs]
        got = [sorted(map(sanitize, texts(o))) for o in execute.merge_streams(after.outputs)]
        assert got == want, before.source


# --- the exercises solved ---------------------------------------------------------------------


def solved(nb: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, list[str]]:
    """A copy of ``nb`` with each ``answer = ...`` replaced by the exercise's model answer."""
    nb = nbformat.from_dict(nb)
    ids = []
    for cell in code_cells(nb):
        found = CHECK_CALL.findall(cell.source)
        if found:
            answer = exercises.model_answer(found[0])
            assert answer is not None, f"{found[0]} has no model answer"
            name = exercises.code_name(answer)
            if name is None:
                ast.literal_eval(answer)
                line = f"answer = {answer}"
            else:  # a coding exercise: the model function, then answer = it
                line = f"{answer}\nanswer = {name}"
            cell.source = UNANSWERED_LINE.sub(lambda m, line=line: line, cell.source)
            ids.append(found[0])
    return nb, ids


@lesson
def test_lesson_runs_with_every_exercise_solved(path):
    nb, ids = solved(read(path))
    execute.run(nb)
    verdicts = {}
    for cell in code_cells(nb):
        found = CHECK_CALL.findall(cell.source)
        if found:
            verdicts[found[0]] = "".join(o.get("text", "") for o in cell.outputs)
    assert list(verdicts) == ids
    for exercise_id, printed in verdicts.items():
        assert printed.startswith("✓ Correct: ") and printed.count("\n") == 1, (
            exercise_id,
            printed,
        )


# --- the student edition ------------------------------------------------------------------------


@lesson
def test_the_student_edition_stores_no_solution_and_keeps_everything_else(path):
    from armbp.lab import student_edition

    raw = path.read_bytes()
    student = nbformat.reads(student_edition(raw).decode(), as_version=4)
    nbformat.validate(student)
    stored = read(path)
    assert len(student.cells) == len(stored.cells)
    for mine, theirs in zip(student.cells, stored.cells, strict=True):
        assert mine.source == theirs.source
        if "solution" in theirs.metadata.get("tags", []):
            assert mine.outputs == [] and mine.execution_count is None
        elif mine.cell_type == "code":
            assert mine.outputs == theirs.outputs
    text = student_edition(raw).decode()
    assert "armbp-solution" in raw.decode()  # the stored lesson has the closed blocks
    assert exercises.HIDDEN not in text and "armbp-solution" not in text


def test_armbp_notebooks_student_writes_the_edition_and_never_overwrites(tmp_path, capsys):
    from armbp import lab

    assert lab.main_notebooks(["--student", str(tmp_path)]) == 0
    assert "copied" in capsys.readouterr().out
    for path in LESSONS:
        assert (tmp_path / path.name).read_bytes() == lab.student_edition(path.read_bytes())
    mine = tmp_path / LESSONS[1].name
    mine.write_text(mine.read_text().replace("Lesson 1", "Lesson one"))
    assert lab.main_notebooks(["--student", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"kept your {LESSONS[1].name}" in out and "already there, unchanged" in out
    assert "Lesson one" in mine.read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(
        r"^student:.*\n\t.*armbp notebooks --student build/student$", makefile, re.MULTILINE
    )


def test_check_in_a_real_kernel_records_next_to_the_notebook(tmp_path):
    """In a Jupyter kernel (started in the notebook's folder, as Jupyter does) an answered
    check() writes the learner's results file there; execute.run's kernels record nothing."""
    import os

    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "from armbp import check\ncheck('brk-encoding-0x99', 0xD4201320)\n"
            "check('brk-first-byte', ...)"
        )
    ]
    env = {k: v for k, v in os.environ.items() if k != "ARMBP_NO_RESULTS"}
    client = NotebookClient(
        nb,
        timeout=60,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
        kernel_manager_class=execute.over_unix_sockets(AsyncKernelManager),
    )
    client.execute(env={**env, "ARMBP_LEARNER": "kim"})
    data = json.loads((tmp_path / "armbp-results-kim.json").read_text())
    assert list(data["exercises"]) == ["brk-encoding-0x99"]  # the unanswered one is no attempt
    assert data["exercises"]["brk-encoding-0x99"]["correct"] is True
    execute.run(nbformat.from_dict(nb))  # in notebooks/, with recording off
    assert not list(NOTEBOOKS.glob("armbp-results-*.json"))
