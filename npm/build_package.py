"""Builds the npm package: the JS API, its TypeScript declarations and the runtime files.

The package folder (``build/npm/package/``) is also the folder a web developer serves: the
module finds its runtime beside itself by default, or where FilesetResolver.forVisionTasks(url)
says (their public/ folder, a CDN). ``npm pack`` turns it into
``build/npm/pyodide-image-classifier-<version>.tgz``, again only when its content changed.

Package layout::

    package.json  README.md  image-classifier.mjs  image-classifier.d.ts
    worker.mjs  frame-relay.mjs  code-cache-primer.mjs  engines/ ...   (web/ modules the workers and the API import)
    pyodide/  ort/  litert/                    (build_site.build_runtime, as in the site)
    (worker.mjs with the modules it imports in it: build_site.bundle_worker, as in the site)
    models/efficientnet_lite0_int8.tflite      (the default model, unless --no-model)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import posixpath
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

NPM = Path(__file__).resolve().parent
ROOT = NPM.parent
sys.path.insert(0, str(ROOT / "web"))
import build_site  # noqa: E402  (web/build_site.py: the runtime files, shared with the site)

OUT = ROOT / "build" / "npm"
NAME = "pyodide-image-classifier"
# The modules started by name (the API, and the workers it starts); what they import follows.
ENTRY_MODULES = ["image-classifier.mjs", "worker.mjs", "frame-relay.mjs", "code-cache-primer.mjs"]
# Folders build_runtime writes: imports into them are not web/ modules.
RUNTIME_FOLDERS = ("pyodide/", "ort/", "litert/")
_RELATIVE_IMPORT = re.compile(r"""(?:\bfrom|\bimport)\s*\(?\s*['"](\.{1,2}/[^'"]+)['"]""")


def web_modules(web: Path = build_site.WEB) -> list[str]:
    """The web/ modules of the API and its workers, following their relative imports."""
    found: list[str] = []
    pending = list(ENTRY_MODULES)
    while pending:
        name = pending.pop()
        if name in found:
            continue
        found.append(name)
        text = (web / name).read_text(encoding="utf-8")
        for target in _RELATIVE_IMPORT.findall(text):
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
            if not resolved.startswith(RUNTIME_FOLDERS):
                pending.append(resolved)
    return sorted(found)


def package_json(version: str) -> dict:
    return {
        "name": NAME,
        "version": version,
        "description": "MediaPipe's Image Classifier in the browser: Python (Pyodide) in a Web "
        "Worker, LiteRT.js for .tflite, onnxruntime-web for .onnx.",
        "license": "Apache-2.0",
        "type": "module",
        "main": "./image-classifier.mjs",
        "types": "./image-classifier.d.ts",
        "exports": {
            ".": {"types": "./image-classifier.d.ts", "default": "./image-classifier.mjs"},
            "./package.json": "./package.json",
        },
        "sideEffects": False,
        "keywords": ["mediapipe", "image-classification", "pyodide", "tflite", "onnx", "webassembly"],
    }


def build_folder(folder: Path, python: str = sys.executable, model: bool = True) -> Path:
    """Writes the package folder anew; returns it."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for name in web_modules():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(build_site.WEB / name, folder / name)
    build_site.build_runtime(folder, python)
    build_site.bundle_worker(folder)
    if model:
        (folder / "models").mkdir()
        shutil.copy2(ROOT / "models" / build_site.DEFAULT_MODEL, folder / "models")
    shutil.copy2(NPM / "image-classifier.d.ts", folder)
    shutil.copy2(NPM / "README.md", folder)
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    (folder / "package.json").write_text(json.dumps(package_json(version), indent=2) + "\n")
    return folder


def _content_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def build(out: Path = OUT, python: str = sys.executable, model: bool = True) -> Path:
    """The package tarball (``npm pack`` of the folder, skipped when its content is unchanged)."""
    folder = build_folder(out / "package", python, model)
    meta = json.loads((folder / "package.json").read_text())
    tarball = out / f"{meta['name']}-{meta['version']}.tgz"
    stamp = out / ".pack-hash"
    content = _content_hash(folder)
    if tarball.exists() and stamp.exists() and stamp.read_text() == content:
        return tarball
    npm = shutil.which("npm") or sys.exit("npm is missing: install Node.js")
    subprocess.run(
        [npm, "pack", "--ignore-scripts", "--loglevel=error", "--pack-destination", str(out)],
        cwd=folder, check=True, stdout=subprocess.DEVNULL,
    )
    stamp.write_text(content)
    return tarball


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build the npm package tarball.")
    parser.add_argument("--no-model", action="store_true", help="leave the default model out")
    args = parser.parse_args(argv)
    print(build(model=not args.no_model))


if __name__ == "__main__":
    main()
