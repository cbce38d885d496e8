"""``armbp esr``: text and JSON output, stdin, bad input."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pytest

from armbp.esr.cli import main


def run(*argv: str, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = main(list(argv), stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return rc, out.getvalue(), err.getvalue()


def test_text_output_has_summary_table_and_warnings():
    rc, out, err = run("0x96000045")
    assert rc == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "ESR = 0x0000000096000045"
    assert lines[1].strip() == "EC = 0x25: DABT (current EL), IL = 32 bits"
    assert any(line.split()[:2] == ["bits", "field"] for line in lines)
    dfsc = next(line for line in lines if " DFSC " in line)
    assert dfsc.split()[:4] == ["5:0", "DFSC", "0x5", "000101"]
    assert "level 1 translation fault" in dfsc
    assert "warnings" not in out

    rc, out, _ = run("0xf0000000")  # BRK with IL = 0
    assert rc == 0 and "warnings:" in out and "IL is 0" in out


def test_json_single_and_several():
    rc, out, _ = run("--json", "0x96000045")
    doc = json.loads(out)
    assert rc == 0 and isinstance(doc, dict)
    assert set(doc) == {"esr", "ec", "ec_name", "il", "iss", "iss2", "fields", "warnings"}
    assert (doc["esr"], doc["ec"], doc["ec_name"], doc["il"], doc["iss"], doc["iss2"]) == (
        "0x0000000096000045",
        0x25,
        "DABT (current EL)",
        1,
        0x45,
        0,
    )
    assert set(doc["fields"][0]) == {"name", "msb", "lsb", "value", "meaning"}
    assert {
        "name": "WnR",
        "msb": 6,
        "lsb": 6,
        "value": 1,
        "meaning": "write: the access was a write",
    } in doc["fields"]

    rc, out, _ = run("0x96000045", "f2000800", "--json")
    docs = json.loads(out)
    assert isinstance(docs, list) and [d["ec"] for d in docs] == [0x25, 0x3C]


def test_stdin_log():
    log = (
        "[0.03] Unexpected kernel BRK exception at EL1\n"
        "[0.03] Internal error: BRK handler: f2000800 [#1] PREEMPT SMP\n"
        "[9.99]   ESR = 0x0000000086000004\n"
    )
    rc, out, _ = run("--json", "-", stdin=log)
    assert rc == 0 and [d["esr"] for d in json.loads(out)] == [
        "0x00000000f2000800",
        "0x0000000086000004",
    ]
    rc, out, _ = run("-", stdin=log)
    assert out.count("ESR = ") == 2 and "BRK (AArch64)" in out


@pytest.mark.parametrize(
    "argv, stdin, fragment",
    [
        (("bogus",), "", "'bogus'"),
        (("0x96000045", "nope"), "", "'nope'"),  # nothing printed for the good one
        (("-",), "no syndrome here", "'no syndrome here'"),
        (("0x1_0000_0000_0000_0000",), "", "does not fit"),
        (("--frobnicate",), "", "'--frobnicate'"),
        ((), "", "no ESR value given"),
    ],
)
def test_bad_input(argv, stdin, fragment):
    rc, out, err = run(*argv, stdin=stdin)
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("armbp esr: ") and fragment in err


def test_help():
    rc, out, _ = run("--help")
    assert rc == 0 and "usage: armbp esr" in out


def test_through_the_armbp_dispatcher_in_a_subprocess():
    proc = subprocess.run(
        [sys.executable, "-m", "armbp.cli", "esr", "0x96000045"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0 and "DABT (current EL)" in proc.stdout
    proc = subprocess.run(
        [sys.executable, "-m", "armbp.cli", "esr", "-"],
        input="zzz",
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2 and proc.stdout == "" and "'zzz'" in proc.stderr


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (("0x_",), "'0x_' has no digits after '0x': expected hex digits"),
        (("0b_",), "'0b_' has no digits after '0b'"),
        (("0b12",), "'2' is not a binary digit: expected 0s and 1s after 0b"),
        (("-", "-"), "'-' given 2 times: stdin is read once, so expected '-' at most once"),
        (("0x1", "-", "--json", "-"), "'-' given 2 times"),
    ],
)
def test_malformed_values_and_a_repeated_dash(argv, fragment):
    rc, out, err = run(*argv, stdin="0x96000045")
    assert rc == 2 and out == "", out
    assert err.count("\n") == 1 and err.startswith("armbp esr: ") and fragment in err, err


def test_stdin_with_bytes_that_are_not_utf8_is_still_searched():
    proc = subprocess.run(
        [sys.executable, "-m", "armbp.cli", "esr", "-"],
        input=b"\xff\xfe junk\n  ESR = 0x96000045\n",
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 0 and proc.stderr == b""
    assert proc.stdout.startswith(b"ESR = 0x0000000096000045")


@pytest.mark.parametrize(
    "shell, fragment",
    [
        ("esr - <&-", "armbp esr: stdin is closed: expected text on stdin for '-'\n"),
        (
            "esr 0x96000045 >/dev/full",
            "armbp esr: cannot write the output (No space left on device)\n",
        ),
        (
            "esr --help >/dev/full",
            "armbp esr: cannot write the output (No space left on device)\n",
        ),
        (
            "esr 0x96000045 >&-",
            "armbp esr: stdout is closed: nowhere to write the decoded syndromes\n",
        ),
    ],
)
def test_closed_stdin_and_a_full_or_closed_stdout(shell, fragment):
    """One stderr line and exit status 2, no traceback (and no 'Exception ignored')."""
    proc = subprocess.run(
        ["sh", "-c", f'exec "$0" -m armbp.cli {shell}', sys.executable],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 2 and proc.stderr == fragment, proc.stderr


def test_a_reader_that_leaves_early_is_fine():
    proc = subprocess.run(
        [
            "sh",
            "-c",
            'yes 0x96000045 | head -n 3000 | "$0" -m armbp.cli esr - | head -n 1',
            sys.executable,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.stdout == "ESR = 0x0000000096000045\n" and proc.stderr == ""
