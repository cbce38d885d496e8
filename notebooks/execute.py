"""Execute the lessons in place and store them the way nbval compares them.

    python notebooks/execute.py                 # every lesson (what `make notebooks` runs)
    python notebooks/execute.py 01-*.ipynb      # some of them

Run it after a change in armbp alters what a lesson prints, then review the diff and commit
the notebooks. Each notebook is run top to bottom in a fresh ``python3`` kernel from the
notebooks folder (so relative paths behave as in JupyterLab), with widget state stored, and
then normalised so that a re-run changes only what really changed:

* kernelspec is ``python3`` / "Python 3 (ipykernel)", language_info carries no version,
* no execution timestamps (cell ``metadata.execution``), no ``collapsed``/``scrolled`` flags,
* solution cells (tag ``solution``) are not folded: their output is a closed "Show the
  answer" block already (a folded output would still preview its first line),
* consecutive stream outputs of one cell are merged (a busy machine may deliver one
  ``print`` in several pieces; the stored notebook should not depend on that).

A cell that raises stops the run with the cell and the error, and nothing is written.
Only nbformat, nbclient and jupyter_client are used: this script does not import armbp.
Kernels talk to it over Unix sockets, never TCP ports (``over_unix_sockets`` says why).
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from pathlib import Path

import nbformat
from jupyter_client.manager import AsyncKernelManager, KernelManager
from jupyter_core.paths import jupyter_runtime_dir
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
        if (
            out.output_type == "stream"
            and last is not None
            and last.output_type == "stream"
            and last.name == out.name
        ):
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
            jupyter = cell.metadata.get("jupyter", {})
            jupyter.pop("outputs_hidden", None)
            if not jupyter:
                cell.metadata.pop("jupyter", None)
    return nb


def over_unix_sockets(manager: type) -> type:
    """``manager`` (a jupyter_client kernel manager class) starting kernels on Unix sockets.

    By default a kernel and its client talk over TCP ports on loopback, found by binding
    port 0 and letting it go; until the kernel binds the port, another process may take
    it, and the kernel dies with "ZMQ Address already in use" (seen with several test runs
    on one machine). A socket file of a name made for this kernel cannot be taken that
    way. The name is absolute (jupyter_client's default for IPC is relative to the
    current folder, which the kernel does not share: it starts in this folder).
    """

    class UnixSocketKernelManager(manager):  # type: ignore[misc, valid-type]
        def __init__(self, **kwargs):
            kwargs.setdefault("transport", "ipc")
            kwargs.setdefault(
                "ip", os.path.join(jupyter_runtime_dir(), f"armbp-{uuid.uuid4().hex[:12]}")
            )
            os.makedirs(os.path.dirname(kwargs["ip"]), exist_ok=True)
            super().__init__(**kwargs)

    UnixSocketKernelManager.__qualname__ = f"UnixSocket{manager.__name__}"
    return UnixSocketKernelManager


def use_unix_sockets_in_nbval() -> None:
    """Make nbval start its kernels as ``run`` does (``notebooks/conftest.py`` calls it).

    nbval builds its ``KernelManager`` with nothing to configure it by, so the class it
    uses is replaced by ``over_unix_sockets`` of it.
    """
    import nbval.kernel

    if nbval.kernel.KernelManager is KernelManager:
        nbval.kernel.KernelManager = over_unix_sockets(KernelManager)


def run(nb: nbformat.NotebookNode, *, timeout: int = 120) -> nbformat.NotebookNode:
    """Execute ``nb`` (in place) in a fresh python3 kernel started in this folder.

    The kernel talks to us over Unix sockets, not TCP ports (``over_unix_sockets``), and
    records no learner's results (``ARMBP_NO_RESULTS``).
    """
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        record_timing=False,
        store_widget_state=True,
        resources={"metadata": {"path": str(HERE)}},
        kernel_manager_class=over_unix_sockets(AsyncKernelManager),
    )
    # a run here is not a learner's: check() records no results (armbp.exercises.results)
    client.execute(env={**os.environ, "ARMBP_NO_RESULTS": "1"})
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
    parser.add_argument(
        "notebooks", nargs="*", type=Path, help="notebooks to execute (default: every lesson)"
    )
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
