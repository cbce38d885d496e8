"""The project's set-up files agree with each other."""
from __future__ import annotations

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def _norm(req: str) -> str:
    return re.sub(r"\s+", "", req).lower()


def pyproject_requirements() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = set(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs.update(extra)
    # environment markers for old Pythons have no place in a conda file
    return {_norm(r) for r in reqs if ";" not in r}


def environment_pip_requirements() -> set[str]:
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "- pip:")
    indent = len(lines[start + 1]) - len(lines[start + 1].lstrip())
    reqs = set()
    for line in lines[start + 1:]:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if len(line) - len(line.lstrip()) < indent:
            break
        reqs.add(_norm(line.strip()[2:]))
    return reqs


def test_environment_yml_names_the_same_dependencies_as_pyproject():
    assert environment_pip_requirements() == pyproject_requirements()


def test_unicorn_is_pinned_to_the_measured_series():
    # DESIGN.md: the Unicorn facts were measured on 2.1.4; a 2.2 may change them.
    assert "unicorn>=2.1.4,<2.2" in pyproject_requirements()


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test\b", readme, re.M)
    assert re.search(r"^make test$", ci, re.M)
