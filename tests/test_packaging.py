"""The project's set-up files agree with each other."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import require_tool

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def _norm(req: str) -> str:
    return re.sub(r"\s+", "", req).lower()


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def pyproject_requirements(*extras: str) -> set[str]:
    """The dependencies and the given extras (all of them if none given), normalised."""
    project = _project()
    reqs = set(project["dependencies"])
    for name, extra in project["optional-dependencies"].items():
        if not extras or name in extras:
            reqs.update(extra)
    # environment markers for old Pythons have no place in a conda file
    return {_norm(r) for r in reqs if ";" not in r}


def environment_pip_requirements(path: Path = ROOT / "environment.yml") -> set[str]:
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "- pip:")
    indent = len(lines[start + 1]) - len(lines[start + 1].lstrip())
    reqs = set()
    for line in lines[start + 1 :]:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if len(line) - len(line.lstrip()) < indent:
            break
        reqs.add(_norm(line.strip()[2:]))
    return reqs


def conda_python(path: Path) -> str:
    """The python entry of a conda environment file, e.g. ``python=3.12``."""
    return next(
        _norm(line.strip()[2:])
        for line in path.read_text().splitlines()
        if re.match(r"\s*- python\b", line)
    )


def test_environment_yml_names_the_same_dependencies_as_pyproject():
    assert environment_pip_requirements() == pyproject_requirements()


def test_unicorn_is_pinned_to_the_measured_series():
    # DESIGN.md: the Unicorn facts were measured on 2.1.4; a 2.2 may change them.
    assert "unicorn>=2.1.4,<2.2" in pyproject_requirements()


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test\b", readme, re.MULTILINE)
    assert re.search(r"^make test$", ci, re.MULTILINE)


def test_binder_installs_what_learners_use_with_the_same_versions():
    # The lessons (lab) and the app, nothing for the tests: no pytest, nbval, Playwright.
    binder = environment_pip_requirements(ROOT / "binder" / "environment.yml")
    assert binder == pyproject_requirements("lab", "app")
    for test_only in pyproject_requirements("test", "browser") - binder:
        assert not test_only.startswith(("ipywidgets", "matplotlib", "ipykernel"))
    assert not any(
        r.startswith(("pytest", "hypothesis", "nbval", "playwright")) for r in binder
    )


def test_conda_files_pin_python_with_an_equals_sign():
    # Binder reads `python>=3.10` as "no version" and picks the oldest it has.
    for path in (ROOT / "environment.yml", ROOT / "binder" / "environment.yml"):
        assert conda_python(path) == "python=3.12", path


def test_binder_post_build_installs_armbp_and_the_root_has_no_stray_binder_files():
    post = ROOT / "binder" / "postBuild"
    assert os.access(post, os.X_OK)
    assert re.search(r"^python -m pip install --no-deps \.$", post.read_text(), re.MULTILINE)
    # with binder/ present repo2docker ignores top-level postBuild: one place only
    assert not (ROOT / "postBuild").exists()


def test_extras_match_their_uses():
    extras = _project()["optional-dependencies"]
    names = {key: {re.split(r"[<>=;\[ ]", r)[0] for r in reqs} for key, reqs in extras.items()}
    assert {"jupyterlab", "ipywidgets", "matplotlib", "ipykernel"} <= names["lab"]
    assert {"voila", "ipywidgets", "ipykernel", "matplotlib"} <= names["app"]
    assert {"pytest", "nbval", "hypothesis"} <= names["test"]
    assert names["browser"] == {"playwright"}
    assert names["lint"] == {"ruff", "mypy"}
    assert not {"pytest", "playwright", "voila"} & names["lab"]


def test_licence_files_exist_and_name_the_holder_and_unicorns_terms():
    project = _project()
    assert project["license"] == "MIT"
    for name in project["license-files"]:
        assert (ROOT / name).is_file(), name
    licence = (ROOT / "LICENSE").read_text()
    assert licence.startswith("MIT License") and "the armbp authors" in licence
    notice = (ROOT / "NOTICE").read_text()
    assert "Unicorn" in notice and "GPL-2.0" in notice


def test_version_is_written_once_and_the_changelog_and_citation_agree():
    import armbp

    assert _project()["dynamic"] == ["version"]
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert re.search(r"^## Unreleased$", changelog, re.MULTILINE)
    assert re.search(rf"^## {re.escape(armbp.__version__)}$", changelog, re.MULTILINE)
    cff = (ROOT / "CITATION.cff").read_text()
    assert re.search(r"^cff-version: 1\.2\.0$", cff, re.MULTILINE)
    assert re.search(rf'^version: "{re.escape(armbp.__version__)}"$', cff, re.MULTILINE)


def test_classifiers_name_every_python_the_ci_tests():
    classifiers = set(_project()["classifiers"])
    for minor in (10, 11, 12, 13):
        assert f"Programming Language :: Python :: 3.{minor}" in classifiers
    assert _project()["requires-python"] == ">=3.10"


def _make_n(*targets: str) -> str:
    make = require_tool("make", "make")
    out = subprocess.run(
        [make, "-n", "-B", *targets], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return out.stdout


def test_make_lab_installs_only_the_lab_extra_and_allows_root():
    out = _make_n("lab")
    assert "-e '.[lab]'" in out
    assert "test" not in out and "browser" not in out
    lab = next(line for line in out.splitlines() if "jupyter lab" in line)
    assert "--ServerApp.ip=127.0.0.1" in lab
    assert ("--allow-root" in lab) == (os.geteuid() == 0)


def test_make_test_runs_the_full_suite_and_every_python():
    out = _make_n("test")
    assert "-e '.[test,lab,app,browser,lint]'" in out
    lines = out.splitlines()
    lint = [line for line in lines if line.startswith((".venv/bin/ruff", ".venv/bin/mypy"))]
    # the checks come before the suite: a style slip fails in seconds, not after 15 min
    assert lines.index(lint[-1]) < lines.index(".venv/bin/python -m pytest")
    assert [line.split()[:3] for line in lint] == [
        [".venv/bin/ruff", "check", "armbp"],
        [".venv/bin/ruff", "format", "--check"],
        [".venv/bin/mypy"],
    ], out
    assert re.search(r"\.venv/bin/python -m pytest$", out, re.MULTILINE)  # tests/ (testpaths)
    assert re.search(
        r"\.venv/bin/python -m pytest --nbval .*--nbval-sanitize-with="
        r"notebooks/nbval-sanitize\.cfg notebooks$",
        out,
        re.MULTILINE,
    )  # the lessons
    assert ".ci/test-pythons" in out


def test_ci_installs_every_debian_tool_the_tests_need():
    ci = (ROOT / ".ci" / "run").read_text()
    for package in (
        "binutils-aarch64-linux-gnu",
        "gdb-multiarch",
        "qemu-user",
        "chromium",
        "gcc-aarch64-linux-gnu",
        "make",
        "python3-venv",
    ):
        assert re.search(rf"\s{re.escape(package)}\s", ci), package


def test_readme_shows_the_pip_path_and_binder():
    readme = (ROOT / "README.md").read_text()
    assert re.search(
        r"^make lab\b", readme, re.MULTILINE
    )  # the two commands of the quick start
    assert re.search(
        r"^pip install 'dist/armbp-[\d.]+-py3-none-any\.whl\[lab\]'$", readme, re.MULTILINE
    )
    assert re.search(r"^armbp lab\b", readme, re.MULTILINE)
    assert "https://mybinder.org/badge_logo.svg" in readme
    assert "binder/" in readme
