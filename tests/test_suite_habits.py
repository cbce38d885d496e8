"""The test suite's own habits: shared fixtures live once, pytest runs strict."""
from __future__ import annotations

import importlib


def test_the_loop_elf_is_one_fixture_in_conftest():
    # the Linux loader, the stub and the gdb transcript tests share one built ELF
    import conftest
    assert hasattr(conftest, "loop_elf")
    for name in ("test_linux", "test_gdbserver", "test_gdbserver_gdb"):
        assert not hasattr(importlib.import_module(name), "loop_elf"), name
