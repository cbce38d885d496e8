"""Record lesson 6's gdb-multiarch session against ``armbp gdbserver``.

    .venv/bin/python notebooks/gdb-session/record.py     # rewrites session.txt next to it

Lesson 6 shows the transcript this writes; it never runs gdb itself, so the lesson runs
anywhere. Run this again when ``armbp gdbserver`` changes what it logs, and review the diff.
It needs gdb-multiarch and GNU binutils for AArch64 (``apt-get install gdb-multiarch
binutils-aarch64-linux-gnu``), and port 1234 free on 127.0.0.1.

The guest is tests/gdb/loop.S, built as a static Linux program. The stub runs with
``--log`` in its own process; gdb runs the commands of ``COMMANDS`` one at a time, and after
each one the lines the stub logged meanwhile are copied under it, marked ``stub|``. Lines
gdb prints are kept as they are, except the temporary directory's path.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SOURCE = ROOT / "tests" / "gdb" / "loop.S"
OUT = HERE / "session.txt"
PORT = 1234

COMMANDS = [
    f"target remote :{PORT}",
    "x/8i hot",
    "break *hot",
    "continue",
    "info registers x0 pc",
    "continue",
    "delete",
    "set breakpoint always-inserted on",
    "break *loop",
    "x/2xw loop",
    "continue",
    "delete",
    "continue",
]

DRIVER = """
import gdb, time
LOG, COMMANDS = {log!r}, {commands!r}
seen = 0
def stub_lines():
    global seen
    time.sleep(0.5)                   # the stub logs before it answers; this is slack
    with open(LOG) as f:
        f.seek(seen)
        text = f.read()
        seen = f.tell()
    return [ln for ln in text.splitlines() if not ln.startswith("listening on ")]
stub_lines()
for cmd in COMMANDS:
    print("(gdb) " + cmd, flush=True)
    try:
        gdb.execute(cmd)
    except gdb.error as e:
        print(e)
    for line in stub_lines():
        print("  stub| " + line, flush=True)
"""


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        subprocess.run(["aarch64-linux-gnu-as", "-o", "loop.o", str(SOURCE)], cwd=tmp, check=True)
        subprocess.run(["aarch64-linux-gnu-ld", "-static", "-o", "loop.elf", "loop.o"], cwd=tmp,
                       check=True)
        log = tmp_path / "stub.log"
        armbp = Path(sys.executable).with_name("armbp")
        with open(log, "w") as log_file:
            stub = subprocess.Popen([str(armbp), "gdbserver", "--port", str(PORT), "--log",
                                     "loop.elf"], cwd=tmp, stdout=log_file,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 30
            while "listening on" not in log.read_text():
                if stub.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the stub did not start:\n{log.read_text()}")
                time.sleep(0.1)
            driver = tmp_path / "driver.py"
            driver.write_text(DRIVER.format(log=str(log), commands=COMMANDS))
            gdb = subprocess.run(
                ["gdb-multiarch", "-nx", "-q", "-batch", "-ex", "set pagination off",
                 "-ex", "set width 0", "-x", str(driver), "loop.elf"],
                cwd=tmp, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True, timeout=120)
        finally:
            if stub.poll() is None:
                os.killpg(stub.pid, signal.SIGTERM)
            stub.wait(10)
        transcript = gdb.stdout.replace(tmp + "/", "")
    header = textwrap.dedent(f"""\
        # gdb-multiarch against `armbp gdbserver --log loop.elf` (tests/gdb/loop.S).
        # Recorded by notebooks/gdb-session/record.py; lines marked stub| are the stub's log:
        # "<- packet → what armbp did   -> reply". Long packets are cut after 72 characters.
        """)
    OUT.write_text(header + transcript)
    print(f"wrote {OUT.relative_to(ROOT)}: {len(transcript.splitlines())} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
