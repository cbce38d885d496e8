"""The test suite's own habits: shared fixtures live once, pytest runs strict."""
from __future__ import annotations

import glob
import importlib
import importlib.util
import os
from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def test_the_loop_elf_is_one_fixture_in_conftest():
    # the Linux loader, the stub and the gdb transcript tests share one built ELF
    import conftest
    assert hasattr(conftest, "loop_elf")
    for name in ("test_linux", "test_gdbserver", "test_gdbserver_gdb"):
        assert not hasattr(importlib.import_module(name), "loop_elf"), name


def _load_execute():
    spec = importlib.util.spec_from_file_location("notebooks_execute", NOTEBOOKS / "execute.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lesson_kernels_talk_over_unix_sockets_never_tcp_ports():
    # a TCP port found free can be taken by another process before the kernel binds it
    # ("ZMQ Address already in use"); a socket file named for the kernel cannot
    execute = _load_execute()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "from ipykernel.kernelapp import IPKernelApp\n"
        "app = IPKernelApp.instance()\n"
        "print(app.transport, app.ip)")]
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
