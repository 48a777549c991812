"""What building and testing the site needs on this machine, and how it is driven: the npm
packages (``npm ci``, pinned by each folder's package-lock.json) and Debian's Chromium, which
Playwright launches for the tests, the bench, the snapshot and the screenshot (it cannot
download its own browser here)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

WEB = Path(__file__).resolve().parent


class BuildError(RuntimeError):
    """What the set-up or the build cannot do, said as the fix."""


CHROMIUM = Path("/usr/bin/chromium")
# How Playwright drives it (the tests, the bench, the screenshot): no sandbox (root in a
# container), nothing fetched by Chromium on its own.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_args(*flags: str, webgpu: bool = False) -> list[str]:
    """Chromium's flags, without a GPU or with WebGPU (here only SwiftShader's software
    adapter), then ``flags``."""
    return [*CHROMIUM_FLAGS, "--enable-unsafe-webgpu" if webgpu else "--disable-gpu", *flags]


def launch_chromium(playwright, *flags: str, webgpu: bool = False):
    """Debian's Chromium through Playwright (which cannot download its own here)."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=chromium_args(*flags, webgpu=webgpu)
    )


def ensure_node_modules(folder: Path = WEB) -> None:
    """``npm ci`` in ``folder`` (web/: the runtime) when its node_modules/ does not match its
    package-lock.json."""
    lock = folder / "package-lock.json"
    if not lock.exists():
        raise BuildError(f"{lock} is missing: package-lock.json is part of the repository")
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()
    stamp = folder / "node_modules" / ".npm-ci-stamp"
    if stamp.exists() and stamp.read_text() == digest:
        return
    npm = shutil.which("npm")
    if npm is None:
        raise BuildError("npm is missing: install Node.js (Debian: apt-get install -y nodejs npm)")
    print(f"Installing from npm (npm ci in {folder.name}/) ...", flush=True)
    # --ignore-scripts: the files are used as they are shipped; no install script runs.
    subprocess.run(
        [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=folder,
        check=True,
    )
    stamp.write_text(digest)


def ensure_chromium() -> None:
    """Debian's Chromium for the browser tests (Playwright cannot download its own here)."""
    if CHROMIUM.exists():
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        raise BuildError(
            f"{CHROMIUM} is missing: install Debian's chromium package (as root: "
            "apt-get update && apt-get install -y chromium)"
        )
    print("Installing Chromium (apt-get install chromium) for the browser tests ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"],
        check=True,
        env=env,
    )
