"""The kit as a learner installs it: from the sdist to a wheel to a fresh venv.

The fast tests check ``armbp lab`` / ``armbp notebooks`` / the missing-extra hints in
this interpreter. The slow ones build the sdist from the checkout, build the wheel from
the unpacked sdist (so the sdist is known to be complete), install it with ``[lab,app,test]``
into a new venv outside the repository (pip from the registry, its cache as the machine
has it), and use it as a learner would: ``armbp lab --help``, ``armbp notebooks DIR``,
``armbp app`` until it answers HTTP on loopback, and lesson 0 through nbval from the
copied folder. The unpacked sdist must also collect its own tests without errors.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tarfile
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

import armbp
from armbp import cli, lab
from armbp.app import free_port, stop_tree

ROOT = Path(__file__).resolve().parents[1]
PIP_TIMEOUT = 900  # seconds for one pip install (a cold cache downloads JupyterLab)


def _env() -> dict[str, str]:
    """The environment of a learner's shell: no PYTHONPATH pointing into this checkout."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _run(
    cmd: list[str | Path],
    *,
    cwd: Path,
    timeout: float = 300,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env=env or _env(),
        text=True,
        capture_output=True,
        timeout=timeout,
    )
    assert out.returncode == 0, (
        f"{cmd} failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    )
    return out


# --- armbp lab / armbp notebooks, in this interpreter ---------------------------------------


def test_notebooks_copies_the_lessons_and_never_overwrites_an_edit(tmp_path, capsys):
    folder = tmp_path / "mine"
    assert cli.main(["notebooks", str(folder)]) == 0
    first = capsys.readouterr().out
    lessons = sorted(p.name for p in folder.glob("*.ipynb"))
    assert lessons == sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
    assert (folder / "nbval-sanitize.cfg").is_file()
    assert (folder / "gdb-session" / "session.txt").is_file()  # lesson 6 reads it
    assert f"copied {len(lab.lesson_files())} file(s)" in first
    edited = folder / "03-hitting-it.ipynb"
    edited.write_text(edited.read_text().replace("Hitting it", "Hitting it (my notes)"))
    mine = edited.read_bytes()
    (folder / "00-start-here.ipynb").unlink()
    assert cli.main(["notebooks", str(folder)]) == 0
    again = capsys.readouterr().out
    assert edited.read_bytes() == mine
    assert "kept your 03-hitting-it.ipynb" in again
    assert "copied 1 file(s)" in again and (folder / "00-start-here.ipynb").is_file()


def test_notebooks_into_a_file_says_what_was_expected(tmp_path, capsys):
    target = tmp_path / "a-file"
    target.write_text("x")
    assert cli.main(["notebooks", str(target)]) == 1
    assert "is not a folder" in capsys.readouterr().err
    assert target.read_text() == "x"


def test_lab_listens_on_loopback_opens_the_first_lesson_and_allows_root(tmp_path):
    lab.copy_lessons(tmp_path)
    as_root = lab.lab_command(tmp_path, uid=0)
    as_user = lab.lab_command(tmp_path, uid=1000, port=9999, browser=False)
    assert (
        "--ServerApp.ip=127.0.0.1" in as_root and f"--ServerApp.root_dir={tmp_path}" in as_root
    )
    assert as_root[-1] == lab.FIRST_LESSON
    assert "--allow-root" in as_root and "--allow-root" not in as_user
    assert "--ServerApp.port=9999" in as_user and "--no-browser" in as_user
    assert as_root[:3] == [sys.executable, "-m", "jupyterlab"]


@pytest.mark.parametrize(
    "command, module, extra",
    [
        (["lab", "--no-browser", "{folder}"], "jupyterlab", "lab"),
        (["app", "--port", "1"], "voila", "app"),
    ],
)
def test_a_missing_extra_is_named(command, module, extra, monkeypatch, capsys, tmp_path):
    real = lab.importlib.util.find_spec
    monkeypatch.setattr(
        lab.importlib.util,
        "find_spec",
        lambda name, *a: None if name == module else real(name, *a),
    )
    folder = tmp_path / "x"
    assert cli.main([arg.format(folder=folder) for arg in command]) == 2
    assert f"pip install 'armbp[{extra}]'" in capsys.readouterr().err
    assert not folder.exists()  # nothing copied before the check


@pytest.mark.parametrize(
    "code, missing",
    [
        ("import armbp.widgets", "ipywidgets"),
        ("from armbp.widgets import EsrExplorer", "matplotlib"),
    ],
)
def test_widgets_without_the_lab_extra_say_which_extra(code, missing):
    out = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.modules[{missing!r}] = None\n{code}"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 1
    assert (
        f"ModuleNotFoundError: armbp.widgets needs {missing}, which is not installed: "
        f"pip install 'armbp[lab]'"
    ) in out.stderr


def test_version_from_the_command_and_from_python_m():
    assert (
        subprocess.run(
            [sys.executable, "-m", "armbp", "--version"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=True,
        ).stdout
        == f"armbp {armbp.__version__}\n"
    )


# --- sdist, wheel, fresh venv -----------------------------------------------------------------


@pytest.fixture(scope="module")
def tools(tmp_path_factory) -> Path:
    """A fresh venv outside the repository (its python), with a setuptools that reads
    pyproject's licence fields: it builds the sdist and the wheel, then holds the wheel."""
    venv = tmp_path_factory.mktemp("venv") / "v"
    _run([sys.executable, "-m", "venv", venv], cwd=venv.parent)
    python = venv / "bin" / "python"
    _run(
        [python, "-m", "pip", "install", "--quiet", "setuptools>=77"],
        cwd=venv.parent,
        timeout=PIP_TIMEOUT,
    )
    return python


_BUILD = (
    "import sys; from setuptools import build_meta as b; "
    "print(getattr(b, sys.argv[1])(sys.argv[2]))"
)


@pytest.fixture(scope="module")
def sdist(tools, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sdist")
    name = _run([tools, "-c", _BUILD, "build_sdist", out], cwd=ROOT).stdout.split()[-1]
    return out / name


@pytest.fixture(scope="module")
def unpacked(sdist, tmp_path_factory) -> Path:
    into = tmp_path_factory.mktemp("unpacked")
    with tarfile.open(sdist) as tar:
        tar.extractall(into, filter="data") if hasattr(
            tarfile, "data_filter"
        ) else tar.extractall(into)
    (top,) = into.iterdir()
    return top


@pytest.fixture(scope="module")
def wheel(tools, unpacked, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    name = _run([tools, "-c", _BUILD, "build_wheel", out], cwd=unpacked).stdout.split()[-1]
    return out / name


@pytest.fixture(scope="module")
def installed(tools, wheel) -> Path:
    """The venv's bin/ with ``armbp[lab,app,test]`` installed from the wheel."""
    _run(
        [tools, "-m", "pip", "install", "--quiet", f"{wheel}[lab,app,test]"],
        cwd=wheel.parent,
        timeout=PIP_TIMEOUT,
    )
    return tools.parent


def test_the_sdist_holds_what_its_tests_need(sdist, unpacked):
    for rel in (
        "tests/conftest.py",
        "tests/gdb/loop.S",
        "tests/gdb/session.gdb",
        "tests/browser/conftest.py",
        "notebooks/00-start-here.ipynb",
        "notebooks/nbval-sanitize.cfg",
        "notebooks/gdb-session/session.txt",
        "app/armbp-app.ipynb",
        "benchmarks/bench_core.py",
        "docs/app.png",
        "LICENSE",
        "NOTICE",
        "CHANGELOG.md",
        "CITATION.cff",
        "setup.py",
        "Makefile",
        "binder/environment.yml",
        "binder/postBuild",
        ".ci/test-pythons",
    ):
        assert (unpacked / rel).is_file(), rel


def test_the_unpacked_sdist_collects_its_tests_without_errors(unpacked):
    env = _env() | {"PYTHONPATH": str(unpacked)}
    collected = []
    for extra in ([], ["--nbval", "--nbval-current-env", "notebooks"]):  # as `make test`
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "--collect-only",
                "-q",
                "-p",
                "no:cacheprovider",
                *extra,
            ],
            cwd=unpacked,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        assert "error" not in out.stdout.strip().splitlines()[-1].lower(), out.stdout[-1000:]
        collected += [line for line in out.stdout.splitlines() if "::" in line]
    assert any(line.startswith("notebooks/00-start-here.ipynb::") for line in collected)
    assert any(line.startswith("tests/browser/") for line in collected)
    assert any(line.startswith("tests/test_gdbserver_gdb.py::") for line in collected)


def test_the_wheel_carries_the_lessons_the_app_and_the_licences(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        metadata = zf.read(f"armbp-{armbp.__version__}.dist-info/METADATA").decode()
    shipped = {
        n.removeprefix("armbp/data/lessons/")
        for n in names
        if n.startswith("armbp/data/lessons/")
    }
    assert {str(p) for p in lab.lesson_files(ROOT / "notebooks")} <= shipped
    assert "armbp/data/app/armbp-app.ipynb" in names
    assert "armbp/py.typed" in names  # PEP 561: the hints reach users' type checkers
    assert "armbp/__main__.py" in names
    for licence in ("LICENSE", "NOTICE"):
        assert f"armbp-{armbp.__version__}.dist-info/licenses/{licence}" in names
    assert not any(n.startswith(("tests/", "notebooks/", "app/")) for n in names)
    for extra in ("lab", "app", "test", "browser"):
        assert f"Provides-Extra: {extra}" in metadata
    assert "License-Expression: MIT" in metadata


def test_a_learner_installs_the_wheel_and_gets_lessons_app_and_a_passing_lesson(
    installed, tmp_path
):
    armbp_cmd = installed / "armbp"
    home = tmp_path / "home"
    home.mkdir()
    env = _env() | {"HOME": str(home)}
    assert (
        _run([armbp_cmd, "--version"], cwd=tmp_path, env=env).stdout.strip()
        == f"armbp {armbp.__version__}"
    )
    assert (
        "usage: armbp"
        in _run([installed / "python", "-m", "armbp"], cwd=tmp_path, env=env).stdout
    )
    helped = _run([armbp_cmd, "lab", "--help"], cwd=tmp_path, env=env).stdout
    assert "127.0.0.1" in helped and "--allow-root" in helped
    # the installed package, not this checkout, answers
    where = _run(
        [installed / "python", "-c", "import armbp; print(armbp.__file__)"],
        cwd=tmp_path,
        env=env,
    ).stdout
    assert str(ROOT) not in where and "site-packages" in where

    folder = tmp_path / "lessons"
    said = _run([armbp_cmd, "notebooks", folder], cwd=tmp_path, env=env).stdout
    assert "copied" in said and (folder / "00-start-here.ipynb").is_file()

    # the app: serves on loopback until stopped
    port = free_port()
    log = tmp_path / "app.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [str(armbp_cmd), "app", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            start_new_session=True,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline, status = time.monotonic() + 120, None
        while status is None and time.monotonic() < deadline:
            assert server.poll() is None, log.read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                    status = r.status
            except OSError:
                time.sleep(0.3)
        assert status == 200, log.read_text()[-3000:]
        os.killpg(server.pid, signal.SIGINT)
        assert server.wait(timeout=60) == 0, log.read_text()[-3000:]
    finally:
        stop_tree(server)

    # lesson 0 through nbval, from the learner's copy, in the installed venv
    _run(
        [
            installed / "python",
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--nbval",
            "--nbval-current-env",
            "--nbval-sanitize-with",
            "nbval-sanitize.cfg",
            "00-start-here.ipynb",
        ],
        cwd=folder,
        env=env,
        timeout=600,
    )


def test_citation_cff_is_valid(tmp_path):
    # cffconvert pins jsonschema<4, which JupyterLab cannot share: a venv of its own
    venv = tmp_path / "cff"
    _run([sys.executable, "-m", "venv", venv], cwd=tmp_path)
    _run(
        [venv / "bin" / "python", "-m", "pip", "install", "--quiet", "cffconvert>=2,<3"],
        cwd=tmp_path,
        timeout=PIP_TIMEOUT,
    )
    out = _run(
        [venv / "bin" / "cffconvert", "--validate", "-i", ROOT / "CITATION.cff"], cwd=tmp_path
    )
    assert "valid according to schema version 1.2.0" in out.stdout
