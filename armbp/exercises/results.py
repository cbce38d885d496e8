"""Learners' results: what :func:`armbp.exercises.check` records, and ``armbp results``.

In a notebook every answered ``check()`` (right or wrong; not the "not answered yet" line)
is added to ``armbp-results-LEARNER.json`` in the kernel's folder — the notebook's own, as
Jupyter starts kernels there. ``LEARNER`` is ``$ARMBP_LEARNER`` or the login name. Nothing
is sent anywhere; ``ARMBP_NO_RESULTS=1`` records nothing. Outside a notebook kernel (a
script, the test suite) nothing is recorded either.

    armbp results FOLDER       a summary of every results file under FOLDER

Why a file per learner next to the notebook: an instructor collects the files the way
they collect any work (a shared folder, an upload), with no server to run.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

OFF_ENV = "ARMBP_NO_RESULTS"
LEARNER_ENV = "ARMBP_LEARNER"
PREFIX = "armbp-results-"
FORMAT = 1


def learner() -> str:
    """The learner's name as it goes into the file name: ``$ARMBP_LEARNER`` or the login."""
    name = os.environ.get(LEARNER_ENV, "").strip()
    if not name:
        try:
            name = getpass.getuser()
        except (KeyError, OSError):  # no login name (some containers)
            name = "learner"
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:64] or "learner"


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where a learner runs the lessons)."""
    if "ipykernel" not in sys.modules:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def enabled() -> bool:
    """Whether :func:`record` writes: in a notebook kernel, unless opted out."""
    return os.environ.get(OFF_ENV, "").strip() in {"", "0"} and in_notebook()


def results_path(folder: Path | None = None) -> Path:
    """This learner's results file in ``folder`` (default: the current folder)."""
    return (Path.cwd() if folder is None else folder) / f"{PREFIX}{learner()}.json"


def record(
    exercise_id: str, lesson: int, status: str, folder: Path | None = None
) -> Path | None:
    """Add one attempt to the learner's file; the path written, or None if nothing was.

    Never raises (a learner's cell must not fail because of bookkeeping): a file that is
    not a results file is left exactly as it is, and nothing is recorded.
    """
    path = results_path(folder)
    try:
        data = json.loads(path.read_text()) if path.exists() else None
        if data is None:
            data = {"format": FORMAT, "learner": learner(), "exercises": {}}
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            return None
        entry = data["exercises"].setdefault(
            exercise_id,
            {"lesson": lesson, "attempts": 0, "correct": False, "correct_at": None},
        )
        entry["attempts"] += 1
        if status == "correct" and not entry["correct"]:
            entry["correct"], entry["correct_at"] = True, entry["attempts"]
        entry["last"] = status
        entry["last_time"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, path)  # a reader never sees half a file
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return path


def _load(folder: Path) -> tuple[list[dict[str, Any]], list[str]]:
    found, skipped = [], []
    for path in sorted(folder.rglob(f"{PREFIX}*.json")):
        try:
            data = json.loads(path.read_text())
            if not isinstance(data, dict) or data.get("format") != FORMAT:
                raise ValueError(f"not a format-{FORMAT} results file")
            if not isinstance(data.get("exercises"), dict):
                raise ValueError("no exercises")
        except (OSError, ValueError) as exc:
            skipped.append(f"skipped {path}: {exc}")
            continue
        found.append(data)
    return found, skipped


def summarise(folder: Path) -> str:
    """A summary of the results files under ``folder``: per learner, then per exercise."""
    from . import exercise_ids

    files, skipped = _load(folder)
    ids = exercise_ids()
    lines = [f"{len(files)} learner(s) in {folder}, {len(ids)} exercises", *skipped]
    if not files:
        return "\n".join(lines)
    width = max(len(str(d.get("learner", "?"))) for d in files)
    lines += ["", f"{'learner':<{width}}  correct  attempts"]
    for d in sorted(files, key=lambda d: str(d.get("learner"))):
        done = d["exercises"].values()
        correct = sum(bool(e.get("correct")) for e in done)
        attempts = sum(int(e.get("attempts", 0)) for e in done)
        lines.append(
            f"{d.get('learner', '?')!s:<{width}}  {correct:>3}/{len(ids):<3}  {attempts:>8}"
        )
    idw = max(map(len, ids))
    lines += ["", f"{'exercise':<{idw}}  correct  attempts to correct (mean)"]
    for exercise_id in ids:
        tried = [d["exercises"][exercise_id] for d in files if exercise_id in d["exercises"]]
        firsts = [e["correct_at"] for e in tried if e.get("correct") and e.get("correct_at")]
        mean = f"{sum(firsts) / len(firsts):.1f}" if firsts else "-"
        lines.append(f"{exercise_id:<{idw}}  {len(firsts):>3}/{len(files):<3}  {mean}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``armbp results FOLDER``."""
    parser = argparse.ArgumentParser(
        prog="armbp results",
        description="Summarise the learners' results files (armbp-results-*.json) under "
        "FOLDER: per learner, exercises correct and attempts; per exercise, how many got "
        "it and after how many attempts.",
    )
    parser.add_argument("folder", type=Path, help="where the collected results files are")
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        print(f"armbp results: {args.folder} is not a folder", file=sys.stderr)
        return 2
    print(summarise(args.folder))
    return 0


if __name__ == "__main__":
    sys.exit(main())
