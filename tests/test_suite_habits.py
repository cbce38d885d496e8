"""The test suite's own habits: shared fixtures live once, pytest runs strict."""

from __future__ import annotations

import glob
import importlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def test_the_loop_elf_is_one_fixture_in_conftest():
    # the Linux loader, the stub and the gdb transcript tests share one built ELF
    import conftest

    assert hasattr(conftest, "loop_elf")
    for name in ("test_linux", "test_gdbserver", "test_gdbserver_gdb"):
        assert not hasattr(importlib.import_module(name), "loop_elf"), name


def _load_execute():
    spec = importlib.util.spec_from_file_location(
        "notebooks_execute", NOTEBOOKS / "execute.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lesson_kernels_talk_over_unix_sockets_never_tcp_ports():
    # a TCP port found free can be taken by another process before the kernel binds it
    # ("ZMQ Address already in use"); a socket file named for the kernel cannot
    execute = _load_execute()
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "from ipykernel.kernelapp import IPKernelApp\n"
            "app = IPKernelApp.instance()\n"
            "print(app.transport, app.ip)"
        )
    ]
    execute.run(nb)
    transport, ip = nb.cells[0].outputs[0].text.split()
    assert transport == "ipc" and os.path.isabs(ip), (transport, ip)
    assert not glob.glob(ip + "-*"), "the socket files outlive the kernel"

    execute.use_unix_sockets_in_nbval()  # what notebooks/conftest.py does for nbval
    import nbval.kernel

    km = nbval.kernel.KernelManager(kernel_name="python3")
    assert km.transport == "ipc" and os.path.isabs(km.ip)
    other = nbval.kernel.KernelManager(kernel_name="python3")
    assert other.ip != km.ip  # one name per kernel


@pytest.mark.parametrize(
    "body, last_line",
    [
        (
            "import warnings\n\ndef test_it():\n    warnings.warn('old', DeprecationWarning)\n",
            "1 failed",
        ),  # filterwarnings = ["error"]
        (
            "import pytest\n\n@pytest.mark.nonesuch\ndef test_it():\n    pass\n",
            "1 error",
        ),  # --strict-markers
        (
            "import pytest\n\n@pytest.mark.xfail(reason='known')\ndef test_it():\n    pass\n",
            "1 failed",
        ),  # xfail_strict: an XPASS fails
    ],
    ids=["warning", "unknown-marker", "xpass"],
)
def test_pytest_runs_strict(tmp_path, body, last_line):
    (tmp_path / "test_it.py").write_text(body)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-c",
            str(ROOT / "pyproject.toml"),
            "--rootdir",
            str(tmp_path),
            "-p",
            "no:cacheprovider",
            "-q",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"},
    )
    assert out.returncode != 0 and last_line in out.stdout.strip().splitlines()[-1], out.stdout


def test_pytest_config_keeps_nbval_to_its_own_run():
    ini = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert ini["testpaths"] == ["tests"]
    assert not any("nbval" in option for option in ini["addopts"])
    assert {"--strict-markers", "--strict-config"} <= set(ini["addopts"])
    assert ini["minversion"] and ini["log_level"]
