"""``armbp lab`` and ``armbp notebooks``: the lessons in a folder the learner owns.

    armbp notebooks DIR        copy the lessons into DIR (nothing else)
    armbp notebooks --student DIR   the same without the stored worked solutions
    armbp lab [DIR]            copy them (the first time) and open JupyterLab there

An installed armbp carries the lessons as package data (``armbp/data/lessons``, put there
by the build); a checkout uses its ``notebooks/`` folder. They are copied, not opened in
place, because site-packages is not the learner's to write into, and because a learner's
edits must survive: a file that is already there and differs from the shipped one is kept
as it is, and the command says so. JupyterLab listens on 127.0.0.1 only; when run as root
(as in most Docker images) it gets ``--allow-root``, which it otherwise refuses to start
without.
"""

from __future__ import annotations

import argparse
import filecmp
import importlib.util
import json
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__

HOST = "127.0.0.1"
FIRST_LESSON = "00-start-here.ipynb"
DEFAULT_DIR = Path("~/armbp-lessons")
_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE.parent


def shipped(name: str) -> Path:
    """The folder of shipped files called ``name`` ("lessons" or "app").

    Package data when armbp is installed from a wheel, else the checkout's own folder
    (``notebooks/`` or ``app/``): an editable install and ``PYTHONPATH`` use those.
    """
    data = _PACKAGE / "data" / name
    if data.is_dir():
        return data
    checkout = _CHECKOUT / {"lessons": "notebooks", "app": "app"}[name]
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        f"armbp's {name} are missing: neither {data} (an installed "
        f"wheel) nor {checkout} (a checkout) exists"
    )


def lesson_files(root: Path | None = None) -> list[Path]:
    """The files a learner's copy holds, relative to the lessons folder: the lessons, their
    README, the recorded gdb session and the C program (source and ELF) lesson 6 reads,
    and nbval's sanitize rules."""
    root = shipped("lessons") if root is None else root
    patterns = ["*.ipynb", "README.md", "nbval-sanitize.cfg", "gdb-session/*", "c-program/*"]
    return sorted(
        {p.relative_to(root) for pat in patterns for p in root.glob(pat) if p.is_file()}
    )


@dataclass
class CopyReport:
    """What :func:`copy_lessons` did, file by file (paths relative to the folder)."""

    folder: Path
    copied: list[Path] = field(default_factory=list)
    same: list[Path] = field(default_factory=list)  # already there, identical
    kept: list[Path] = field(default_factory=list)  # already there, edited: left alone

    def lines(self) -> list[str]:
        out = []
        if self.copied:
            out.append(f"copied {len(self.copied)} file(s) into {self.folder}")
        if self.same:
            out.append(f"{len(self.same)} file(s) already there, unchanged")
        for path in self.kept:
            out.append(
                f"kept your {path}: it differs from the shipped one (your edits are "
                f"not overwritten; `armbp notebooks NEW_DIR` gives a fresh copy)"
            )
        return out


SOLUTION_TAG = "solution"


def student_edition(notebook: bytes) -> bytes:
    """A lesson (``.ipynb`` bytes) without the stored outputs of its solution cells.

    Why: the handed-out lessons should hold no worked answer at all, not even a closed one
    in the file; the learner gets it by running the solution cell, deliberately. Solution
    cells are the code cells tagged ``solution``; their source stays, so the cell still
    works. Written as nbformat writes notebooks (one-space indent, sorted keys).
    """
    nb = json.loads(notebook)
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code" and SOLUTION_TAG in cell.get("metadata", {}).get(
            "tags", []
        ):
            cell["outputs"], cell["execution_count"] = [], None
    return (json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()


def copy_lessons(folder: Path | str, *, student: bool = False) -> CopyReport:
    """Copy the lessons into ``folder`` (made if missing), never overwriting a file there.

    Why never: the folder is the learner's; a lesson they have run or edited is their
    work. A file already there is left alone and reported as ``same`` or ``kept``.
    ``student=True`` writes each lesson through :func:`student_edition`.
    """
    folder = Path(folder).expanduser()
    source = shipped("lessons")
    if folder.resolve() == source.resolve():
        raise ValueError(f"{folder} is where the shipped lessons live: copy them elsewhere")
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(
            f"{folder} exists and is not a folder: expected a folder for the lessons"
        )
    report = CopyReport(folder)
    for rel in lesson_files(source):
        dest = folder / rel
        edition = (
            student_edition((source / rel).read_bytes())
            if student and rel.suffix == ".ipynb"
            else None
        )
        if dest.exists():
            same = (
                filecmp.cmp(source / rel, dest, shallow=False)
                if edition is None
                else dest.read_bytes() == edition
            )
            (report.same if same else report.kept).append(rel)
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        if edition is None:
            shutil.copyfile(source / rel, dest)
        else:
            dest.write_bytes(edition)
        report.copied.append(rel)
    return report


def lab_command(
    folder: Path, *, port: int | None = None, browser: bool = True, uid: int | None = None
) -> list[str]:
    """The JupyterLab command line for ``folder``: on 127.0.0.1, opening the first lesson,
    with ``--allow-root`` when ``uid`` (default: ours) is 0."""
    uid = os.geteuid() if uid is None else uid
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--ServerApp.ip={HOST}",
        f"--ServerApp.root_dir={folder}",
    ]
    if port is not None:
        cmd.append(f"--ServerApp.port={port}")
    if not browser:
        cmd.append("--no-browser")
    if uid == 0:
        cmd.append("--allow-root")
    if (folder / FIRST_LESSON).exists():
        cmd.append(FIRST_LESSON)
    return cmd


def missing_extra(module: str, extra: str) -> str | None:
    """A hint naming the extra to install when ``module`` cannot be imported, else None."""
    if importlib.util.find_spec(module) is not None:
        return None
    return (
        f"{module} is not installed: pip install 'armbp[{extra}]' "
        f"(or `make lab` in a checkout)"
    )


def _copy(folder: Path, prog: str, *, student: bool = False) -> int:
    try:
        report = copy_lessons(folder, student=student)
    except OSError as exc:
        print(f"{prog}: cannot copy the lessons into {folder}: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    for line in report.lines():
        print(f"{prog}: {line}", flush=True)
    return 0


def main_notebooks(argv: Sequence[str] | None = None) -> int:
    """``armbp notebooks DIR``: copy the lessons, open nothing."""
    parser = argparse.ArgumentParser(
        prog="armbp notebooks",
        description="Copy the lessons into DIR (made if missing). Files already there are "
        "never overwritten: an edited one is kept and named.",
    )
    parser.add_argument("dir", type=Path, help="the folder to copy the lessons into")
    parser.add_argument(
        "--student",
        action="store_true",
        help="the student edition: no stored worked solutions (running a solution cell "
        "still shows its answer)",
    )
    args = parser.parse_args(argv)
    return _copy(args.dir.expanduser(), "armbp notebooks", student=args.student)


def main_lab(argv: Sequence[str] | None = None) -> int:
    """``armbp lab [DIR]``: copy the lessons (first time) and open JupyterLab on them."""
    parser = argparse.ArgumentParser(
        prog="armbp lab",
        description="Copy the lessons into DIR the first time (an edited lesson is never "
        "overwritten) and open JupyterLab there, on 127.0.0.1 only "
        f"(--allow-root when run as root). armbp {__version__}.",
    )
    parser.add_argument(
        "dir",
        type=Path,
        nargs="?",
        default=DEFAULT_DIR,
        help=f"the learner's folder (default: {DEFAULT_DIR})",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help="port for JupyterLab (default: its own choice, 8888 or next)",
    )
    parser.add_argument(
        "--no-browser",
        action="store_true",
        help="do not open a browser; open the printed address yourself",
    )
    args = parser.parse_args(argv)
    hint = missing_extra("jupyterlab", "lab")
    if hint:
        print(f"armbp lab: {hint}", file=sys.stderr)
        return 2
    folder = args.dir.expanduser().absolute()
    status = _copy(folder, "armbp lab")
    if status:
        return status
    cmd = lab_command(folder, port=args.port, browser=not args.no_browser)
    print(f"armbp lab: starting JupyterLab in {folder} (Ctrl-C stops it)", flush=True)
    os.chdir(folder)
    os.execv(cmd[0], cmd)  # JupyterLab takes over this process: Ctrl-C goes straight to it
    return 0  # pragma: no cover - execv does not return
