"""Fetch Debian's arm64 kernel and Python into a cache folder, with a private apt state.

``apt-get`` reads the machine's own sources but keeps its lists, cache and status under
the cache folder and asks for arm64, so nothing outside the folder changes (no
``dpkg --add-architecture``) and no root is needed. Each ``.deb`` is unpacked with
``dpkg-deb -x``: no arm64 code runs on the host.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

# What Python needs to start and to drive KVM (fcntl, mmap, ctypes, termios, json).
PYTHON_PACKAGES = (
    "libc6",
    "libgcc-s1",
    "zlib1g",
    "libexpat1",
    "libffi8",
    "libpython3.11-minimal",
    "libpython3.11-stdlib",
    "python3.11-minimal",
)
KERNEL_META = "linux-image-arm64"  # depends on the current kernel package
TOOLS = {
    "qemu-system-aarch64": "qemu-system-arm",
    "apt-get": "apt",
    "apt-cache": "apt",
    "dpkg-deb": "dpkg",
}


class LabUnavailable(RuntimeError):
    """The lab cannot be built here; the message says what is missing and how to get it."""


def default_cache() -> Path:
    """``$ARMBP_KVM_CACHE``, else ``~/.cache/armbp/kvm``."""
    env = os.environ.get("ARMBP_KVM_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "armbp" / "kvm"


def missing_tools() -> list[str]:
    """One line per missing tool, with the Debian package that has it."""
    return [
        f"{tool} (Debian/Ubuntu: apt-get install {package})"
        for tool, package in TOOLS.items()
        if shutil.which(tool) is None
    ]


def _apt(cache: Path) -> list[str]:
    state = cache / "apt"
    for sub in ("lists/partial", "cache/archives/partial"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    (state / "status").touch()
    return [
        "-o", "APT::Architecture=arm64",
        "-o", "APT::Architectures::=arm64",
        "-o", f"Dir::State::Lists={state / 'lists'}",
        "-o", f"Dir::Cache={state / 'cache'}",
        "-o", f"Dir::State::status={state / 'status'}",
        "-o", "Debug::NoLocking=1",
    ]  # fmt: skip


def _run(argv: list[str], cwd: Path | None = None) -> str:
    done = subprocess.run(argv, check=False, cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        raise LabUnavailable(
            f"{' '.join(argv[:2])} … failed ({done.returncode}): "
            f"{(done.stderr or done.stdout).strip()[-800:]}"
        )
    return done.stdout


def kernel_package(cache: Path) -> str:
    """The unsigned image of the kernel Debian's ``linux-image-arm64`` points at now."""
    out = _run(["apt-cache", *_apt(cache), "depends", KERNEL_META])
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Depends: linux-image-"):
            return line.split()[1].removesuffix(":arm64") + "-unsigned"
    raise LabUnavailable(f"apt-cache depends {KERNEL_META}: no kernel package in {out!r}")


def fetch(cache: Path | None = None, *, log=print) -> Path:
    """The unpacked root (``cache/root``): the kernel in ``boot/``, Python in ``usr/``.

    Downloads only once: a stamp lists the packages unpacked.
    """
    cache = cache or default_cache()
    root = cache / "root"
    stamp = cache / "root.stamp"
    if (
        stamp.exists()
        and (root / "usr/bin/python3.11").exists()
        and list(root.glob("boot/vmlinuz-*"))
    ):
        return root
    missing = missing_tools()
    if missing:
        raise LabUnavailable("the KVM lab needs: " + "; ".join(missing))
    cache.mkdir(parents=True, exist_ok=True)
    log(f"armbp kvm: apt-get update (arm64, private state in {cache / 'apt'})")
    _run(["apt-get", *_apt(cache), "-qq", "update"])
    names = [kernel_package(cache), *PYTHON_PACKAGES]
    debs = cache / "debs"
    debs.mkdir(exist_ok=True)
    for old in debs.glob("*.deb"):
        old.unlink()
    log(f"armbp kvm: apt-get download {' '.join(names)}")
    _run(["apt-get", *_apt(cache), "-qq", "download", *names], cwd=debs)
    if root.exists():
        shutil.rmtree(root)
    root.mkdir()
    for deb in sorted(debs.glob("*.deb")):
        _run(["dpkg-deb", "-x", str(deb), str(root)])
    stamp.write_text("\n".join(sorted(p.name for p in debs.glob("*.deb"))) + "\n")
    return root
