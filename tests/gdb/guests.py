"""Build the small guest programs of the gdbserver tests with GNU binutils (as + ld)."""
from __future__ import annotations

import pathlib
import subprocess

HERE = pathlib.Path(__file__).resolve().parent


def build_elf(name: str, out_dir: pathlib.Path, as_tool: str = "aarch64-linux-gnu-as",
              ld_tool: str = "aarch64-linux-gnu-ld") -> pathlib.Path:
    """Assemble and link ``tests/gdb/<name>.S`` into ``out_dir/<name>.elf`` (static)."""
    src = HERE / f"{name}.S"
    obj = out_dir / f"{name}.o"
    elf = out_dir / f"{name}.elf"
    subprocess.run([as_tool, "-o", str(obj), str(src)], check=True, timeout=60)
    subprocess.run([ld_tool, "-static", "-o", str(elf), str(obj)], check=True, timeout=60)
    return elf
