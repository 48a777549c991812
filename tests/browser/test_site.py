"""The static site and its server: contents, checked wheels, headers, MIME types."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import sys
import urllib.request
import zipfile

import pytest

from .support import ROOT, build_site

import precompressed  # noqa: E402  (web/precompressed.py, on the path through support)


def fetch_headers(url: str):
    with urllib.request.urlopen(urllib.request.Request(url, method="GET")) as response:
        response.read()
        return response.status, response.headers


@pytest.mark.parametrize(
    ("path", "mime"),
    [
        ("/", "text/html"),
        ("/image-classifier.mjs", "text/javascript"),
        ("/worker.mjs", "text/javascript"),
        ("/engines/ort.mjs", "text/javascript"),
        ("/pyodide/pyodide.mjs", "text/javascript"),
        ("/pyodide/pyodide.asm.wasm", "application/wasm"),
        ("/ort/ort-wasm-simd-threaded.wasm", "application/wasm"),
        ("/ort/ort-wasm-simd-threaded.mjs", "text/javascript"),
        ("/pyodide/pyodide-lock.json", "application/json"),
        ("/models/efficientnet_lite0_fp32.onnx", "application/octet-stream"),
    ],
)
def test_served_with_isolation_headers_and_mime_types(server, path, mime):
    status, headers = fetch_headers(server + path)
    assert status == 200
    assert headers["Content-Type"].split(";")[0] == mime
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert headers["Cross-Origin-Embedder-Policy"] == "require-corp"
    assert headers["Cross-Origin-Resource-Policy"] == "same-origin"


def test_site_holds_everything_it_loads(server):
    site = build_site.DEFAULT_SITE
    for name in [
        "index.html",
        "app.mjs",
        "image-classifier.mjs",
        "worker.mjs",
        "engines/ort.mjs",
        "style.css",
        "sw.js",
        "manifest.webmanifest",
        "precache.json",
        *(f"pyodide/{n}" for n in build_site.PYODIDE_CORE),
        *(f"ort/{n}" for n in build_site.ORT_FILES),
    ]:
        assert (site / name).is_file(), name
    assert not (site / "build_site.py").exists() and not (site / "node_modules").exists()
    models = sorted(p.name for p in (ROOT / "models").iterdir() if p.suffix in (".onnx", ".tflite"))
    index = json.loads((site / "models" / "index.json").read_text())
    assert [m["name"] for m in index] == models
    assert {m["format"] for m in index} <= {"onnx", "tflite"}
    for name in models:
        assert (site / "models" / name).read_bytes() == (ROOT / "models" / name).read_bytes()


def test_site_lock_lists_exactly_the_served_wheels_with_their_sha256(server):
    folder = build_site.DEFAULT_SITE / "pyodide"
    lock = json.loads((folder / "pyodide-lock.json").read_text())
    official = json.loads((build_site.NODE_MODULES / "pyodide" / "pyodide-lock.json").read_text())
    assert lock["info"] == official["info"] and lock["info"]["version"] == "0.27.7"
    assert set(lock["packages"]) == {"numpy", "pillow", "image-classifier"}
    for name in ("numpy", "pillow"):
        assert lock["packages"][name] == official["packages"][name]
    for entry in lock["packages"].values():
        data = (folder / entry["file_name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    assert sorted(p.name for p in folder.glob("*.whl")) == sorted(
        e["file_name"] for e in lock["packages"].values()
    )


def test_a_wheel_that_differs_from_the_lock_fails_the_build():
    lock = json.loads((build_site.NODE_MODULES / "pyodide" / "pyodide-lock.json").read_text())
    lock["packages"]["pillow"]["sha256"] = "0" * 64
    with pytest.raises(build_site.BuildError, match="refusing to use it"):
        build_site.pyodide_wheels(lock, python=sys.executable)


def test_package_wheel_is_pure_python_and_complete():
    file_name, data, entry = build_site.package_wheel()
    assert file_name.endswith("-py3-none-any.whl")
    assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    assert file_name == build_site.package_wheel()[0] and data == build_site.package_wheel()[1]
    names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    sources = {
        p.relative_to(ROOT / "pyapp").as_posix()
        for p in (ROOT / "pyapp" / "image_classifier").rglob("*.py")
    }
    assert sources <= names
    assert "image_classifier/engines/browser.py" in names
    assert any(n.endswith(".dist-info/RECORD") for n in names)


def test_service_worker_lists_every_file_with_its_sha256(server):
    """sw.js carries the list (precache.json is the same): the default page's files are
    stored up front, the other models and the WebGPU bundle on demand, every file with its
    sha256 and size."""
    site = build_site.DEFAULT_SITE
    manifest = json.loads((site / "precache.json").read_text())
    assert json.dumps(manifest, indent=1, sort_keys=True) in (site / "sw.js").read_text()
    precache, lazy = manifest["precache"], manifest["lazy"]
    for path, entry in [*precache.items(), *lazy.items()]:
        data = (site / ("index.html" if path == "./" else path)).read_bytes()
        assert (hashlib.sha256(data).hexdigest(), len(data)) == (entry["sha256"], entry["bytes"])
    served = {p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()}
    listed = {"index.html" if p == "./" else p for p in [*precache, *lazy]}
    gzipped = {p for p in served if p.endswith(".gz")}  # the same files, sent gzipped
    assert listed == served - gzipped - {".site-build", "sw.js", "precache.json"}
    for needed in [
        "./",
        "app.mjs",
        "offline.mjs",
        "worker.mjs",
        "manifest.webmanifest",
        "icons/icon-192.png",
        "pyodide/pyodide.asm.wasm",
        "pyodide/python_stdlib.zip",
        "pyodide/snapshot.json",
        "pyodide/snapshot-heap.bin",
        "pyodide/snapshot-files.bin",
        "models/index.json",
        "litert/core.mjs",
        "litert/wasm/litert_wasm_threaded_internal.wasm",
        f"models/{build_site.DEFAULT_MODEL}",
    ]:
        assert needed in precache, needed
    assert lazy and all(build_site._on_demand(p) for p in lazy)
    # What only another engine or the boot without the snapshot needs is stored when used.
    for on_demand in [
        "models/efficientnet_lite2_fp32.onnx",
        "ort/ort.wasm.min.mjs",
        "ort/ort-wasm-simd-threaded.wasm",
        "pyodide/numpy-2.0.2-cp312-cp312-pyodide_2024_0_wasm32.whl",
        "pyodide/image_classifier-0.1.0-py3-none-any.whl",
    ]:
        assert on_demand in lazy, on_demand
    assert set(manifest["withModel"][".onnx"]) <= set(lazy)
    assert manifest["bytes"] == sum(e["bytes"] for e in precache.values())


def test_what_a_start_downloads_is_also_stored_gzipped(server):
    """The code and the snapshot a start downloads have a gzip of themselves beside them
    (FILE.gz, which the server sends to a browser that accepts gzip), holding exactly the
    file; models, which barely shrink, do not."""
    site = build_site.DEFAULT_SITE
    gzipped = {p.relative_to(site).as_posix(): p for p in site.rglob("*.gz")}
    for needed in ["pyodide/pyodide.asm.wasm", "pyodide/pyodide.asm.js", "pyodide/snapshot-heap.bin",
                   "pyodide/snapshot-files.bin", "litert/wasm/litert_wasm_threaded_internal.wasm"]:
        assert f"{needed}.gz" in gzipped, needed
    for name, path in gzipped.items():
        assert gzip.decompress(path.read_bytes()) == (site / name[: -len(".gz")]).read_bytes(), name
    assert not any(name.startswith("models/") for name in gzipped)


def test_a_gzipped_copy_follows_its_file(tmp_path):
    """A file changed since its gzip was made (even to an older modification time, as npm
    packages have) gets a new one; one that no longer shrinks enough loses it."""
    wasm = tmp_path / "a.wasm"
    wasm.write_bytes(bytes(100_000))
    assert precompressed.precompress([wasm]) == [tmp_path / "a.wasm.gz"]
    wasm.write_bytes(bytes([1]) * 100_000)
    os.utime(wasm, (0, 0))
    precompressed.precompress([wasm])
    assert gzip.decompress((tmp_path / "a.wasm.gz").read_bytes()) == wasm.read_bytes()
    wasm.write_bytes(os.urandom(100_000))
    assert precompressed.precompress([wasm]) == []
    assert not (tmp_path / "a.wasm.gz").exists()


def test_cache_version_is_a_hash_of_the_content(tmp_path):
    pwa = build_site.pwa
    (tmp_path / "index.html").write_text("one")
    (tmp_path / "a.js").write_text("a")

    def version(salt: bytes = b"sw") -> str:
        return pwa.build_manifest(tmp_path, ["./", "a.js"], [], salt)["version"]

    first = version()
    assert version() == first
    (tmp_path / "a.js").write_text("b")
    assert version() != first
    (tmp_path / "a.js").write_text("a")
    assert version() == first and version(b"another sw.js") != first
    template = (build_site.WEB / "sw.js").read_text()
    filled = pwa.service_worker(template, {"version": first})
    assert pwa.BUILD_PLACEHOLDER not in filled and f'"version": "{first}"' in filled
