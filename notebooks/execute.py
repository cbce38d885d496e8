"""Execute the lessons in place and store them the way nbval compares them.

    python notebooks/execute.py                 # every lesson (what `make notebooks` runs)
    python notebooks/execute.py 01-*.ipynb      # some of them

Run it after a change in armbp alters what a lesson prints, then review the diff and commit
the notebooks. Each notebook is run top to bottom in a fresh ``python3`` kernel from the
notebooks folder (so relative paths behave as in JupyterLab), with widget state stored, and
then normalised so that a re-run changes only what really changed:

* kernelspec is ``python3`` / "Python 3 (ipykernel)", language_info carries no version,
* no execution timestamps (cell ``metadata.execution``), no ``collapsed``/``scrolled`` flags,
* solution cells (tag ``solution``) keep their output folded, for the learner to reveal,
* consecutive stream outputs of one cell are merged (a busy machine may deliver one
  ``print`` in several pieces; the stored notebook should not depend on that).

A cell that raises stops the run with the cell and the error, and nothing is written.
Only nbformat and nbclient are used: this script does not import armbp.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

HERE = Path(__file__).resolve().parent
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO = {
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
}
VOLATILE_CELL_METADATA = ("execution", "collapsed", "scrolled", "ExecuteTime")
SOLUTION_TAG = "solution"


def lessons() -> list[Path]:
    """The lesson notebooks, in order: ``NN-name.ipynb`` in this folder."""
    return sorted(HERE.glob("[0-9][0-9]-*.ipynb"))


def merge_streams(outputs: list) -> list:
    """``outputs`` with each run of consecutive same-name stream outputs made one output."""
    merged: list = []
    for out in outputs:
        last = merged[-1] if merged else None
        if (out.output_type == "stream" and last is not None
                and last.output_type == "stream" and last.name == out.name):
            last.text += out.text
        else:
            merged.append(out)
    return merged


def normalise(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Drop what changes from run to run or machine to machine (see the module docstring)."""
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = dict(LANGUAGE_INFO)
    for key in ("papermill", "widgets_state_is_stale"):
        nb.metadata.pop(key, None)
    widgets = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json")
    if widgets is not None and not widgets.get("state"):
        del nb.metadata["widgets"]  # a notebook without widgets stores no empty state
    for cell in nb.cells:
        for key in VOLATILE_CELL_METADATA:
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            cell.outputs = merge_streams(cell.outputs)
        if cell.cell_type == "code" and SOLUTION_TAG in cell.metadata.get("tags", []):
            cell.metadata.setdefault("jupyter", {})["outputs_hidden"] = True
    return nb


def run(nb: nbformat.NotebookNode, *, timeout: int = 120) -> nbformat.NotebookNode:
    """Execute ``nb`` (in place) in a fresh python3 kernel started in this folder."""
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", record_timing=False,
        store_widget_state=True, resources={"metadata": {"path": str(HERE)}})
    client.execute()
    return nb


def execute(path: Path) -> nbformat.NotebookNode:
    """Run one notebook file and write it back, normalised."""
    nb = nbformat.read(path, as_version=4)
    run(nb)
    normalise(nb)
    nbformat.validate(nb)
    nbformat.write(nb, path)
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to execute (default: every lesson)")
    args = parser.parse_args(argv)
    paths = [p if p.is_absolute() or p.exists() else HERE / p for p in args.notebooks]
    for path in paths or lessons():
        try:
            nb = execute(path)
        except CellExecutionError as e:
            print(f"{path.name}: a cell failed, nothing written\n{e}", file=sys.stderr)
            return 1
        code = sum(c.cell_type == "code" for c in nb.cells)
        print(f"executed {path.name}: {code} code cells")
    return 0


if __name__ == "__main__":
    sys.exit(main())
