"""The npm package as a web developer uses it (npm/build_package.py, npm/sample/).

Once per session (and only when the tarball or the sample changed: build/npm/app/ is kept),
the package tarball is installed from its file with npm (offline: it has no dependencies) into
a copy of the sample app, the runtime files are copied to its public/ folder as the package's
README says, and Vite builds it. The built app is served from its own folder and port; the
runtime from there, or from another origin (a CDN). TypeScript checks the sample, which uses
the whole API.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from .support import IMAGES, ROOT, TEST_DOCUMENT, build_site, cpython_result, environment, same_result

sys.path.insert(0, str(ROOT / "npm"))
import build_package  # noqa: E402  (npm/build_package.py)
import site_server  # noqa: E402  (web/site_server.py, on the path through support)

TOOLS = build_package.NPM / "node_modules"
APP = build_package.OUT / "app"
PACKAGE = APP / "node_modules" / build_package.NAME
PHOTO = "chelsea.png"


def _node(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["node", *args], cwd=cwd, capture_output=True, text=True)


def _sample_hash(tarball: Path) -> str:
    digest = hashlib.sha256((build_package.OUT / ".pack-hash").read_bytes())
    digest.update(tarball.name.encode())
    sample = build_package.NPM / "sample"
    for path in sorted(p for p in sample.rglob("*") if p.is_file()):
        digest.update(path.relative_to(sample).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="session")
def vite_app() -> Path:
    """The sample app built by Vite from the package tarball: its dist/ folder."""
    environment.ensure_node_modules(build_package.NPM)
    tarball = build_package.build(python=sys.executable)
    stamp = APP / ".built-from"
    wanted = _sample_hash(tarball)
    if stamp.exists() and stamp.read_text() == wanted:
        return APP / "dist"
    shutil.rmtree(APP, ignore_errors=True)
    shutil.copytree(build_package.NPM / "sample", APP)
    subprocess.run(
        ["npm", "install", "--offline", "--no-audit", "--no-fund", "--ignore-scripts",
         "--loglevel=error", str(tarball)],
        cwd=APP, check=True,
    )
    shutil.copytree(PACKAGE, APP / "public" / "image-classifier")
    built = _node(str(TOOLS / "vite" / "bin" / "vite.js"), "build", cwd=APP)
    assert built.returncode == 0, built.stdout + built.stderr
    stamp.write_text(wanted)
    return APP / "dist"


class _CdnHandler(site_server.SiteRequestHandler):
    """A CDN: files any origin may load (CORS), also into cross-origin isolated pages (CORP)."""

    quiet = True
    isolation = False

    def end_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Cross-Origin-Resource-Policy", "cross-origin")
        super().end_headers()


def _serve(server: http.server.ThreadingHTTPServer) -> str:
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def servers():
    """Starts servers; shuts them down after the test."""
    started = []

    def start(server):
        started.append(server)
        return _serve(server)

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


def _classify_in_app(browser, url: str) -> tuple[dict, dict, list[str], list[str]]:
    """Opens the app, gives it the photo: (its status, its result, console lines, requests)."""
    context = browser.new_context()
    page = context.new_page()
    console, requests = [], []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    context.on("request", lambda request: requests.append(request.url))
    try:
        page.goto(url)
        try:
            page.wait_for_selector("#file:enabled", timeout=120_000)
        except Exception as error:  # what the page and its console said, to tell why
            shown = page.evaluate("document.body.innerText.slice(0, 1000)")
            raise AssertionError(f"the app never became ready: {shown!r}, console {console}") from error
        status = page.evaluate("JSON.parse(document.querySelector('#status').textContent)")
        page.set_input_files("#file", str(IMAGES / PHOTO))
        page.wait_for_function("() => document.querySelector('#result').textContent", timeout=60_000)
        result = page.evaluate("JSON.parse(document.querySelector('#result').textContent)")
    finally:
        context.close()
    return status, result, console, requests


def _expected() -> dict:
    return cpython_result(build_site.DEFAULT_MODEL, PHOTO, {"maxResults": 5})


def test_vite_app_on_a_plain_static_host(browser, vite_app, servers):
    """The bundled app and the copied runtime files on a host without COOP/COEP: CPython's
    result, on one thread, with the console saying why."""
    origin = servers(build_site.make_server(vite_app, 0, quiet=True, isolation=False,
                                            own_policy=False))
    status, result, console, requests = _classify_in_app(browser, origin + "/")
    same_result(result, _expected(), tolerance=1e-5)
    assert status["status"]["crossOriginIsolated"] is False
    assert status["engine"]["threads"] == 1
    assert any("not cross-origin isolated" in line and line.startswith("info") for line in console), console
    assert not [line for line in console if line.startswith(("error", "pageerror"))], console
    assert origin + "/image-classifier/worker.mjs" in requests
    assert not any("/ort/" in url for url in requests), "onnxruntime-web loaded for a .tflite model"


def test_runtime_from_another_origin(browser, vite_app, servers):
    """The page isolated (COOP/COEP) on one origin, the runtime files on a CDN-like other
    origin (CORS + CORP): CPython's result, with the engine's threads."""
    page_origin = servers(build_site.make_server(vite_app, 0, quiet=True, own_policy=False))
    cdn_origin = servers(
        http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(_CdnHandler, directory=str(PACKAGE))
        )
    )
    status, result, console, requests = _classify_in_app(
        browser, f"{page_origin}/?runtime={cdn_origin}/"
    )
    same_result(result, _expected(), tolerance=1e-5)
    runtime = status["status"]
    assert runtime["crossOriginIsolated"] is True
    assert status["engine"]["threads"] == min(4, runtime["hardwareConcurrency"]) > 1
    assert status["engine"]["threadWorkers"] > 1  # LiteRT.js started its threads from a Blob
    assert cdn_origin + "/worker.mjs" in requests
    assert cdn_origin + "/pyodide/pyodide.asm.wasm" in requests
    assert not [url for url in requests if url.startswith(page_origin + "/image-classifier/")]
    assert not [line for line in console if line.startswith(("error", "pageerror"))], console


def test_types_check_the_whole_api(vite_app):
    """tsc --noEmit on the sample (src/whole-api.ts uses every class, option and result); a
    misuse (a result read without await) is an error."""
    tsc = str(TOOLS / "typescript" / "bin" / "tsc")
    checked = _node(tsc, "-p", "tsconfig.json", cwd=APP)
    assert checked.returncode == 0, checked.stdout
    wrong = APP / "wrong.ts"
    wrong.write_text(
        "import { ImageClassifier } from 'pyodide-image-classifier';\n"
        "export async function f(c: ImageClassifier, image: ImageBitmap) {\n"
        "  return c.classify(image).classifications;\n}\n"
    )
    failed = _node(tsc, "--noEmit", "--strict", "--module", "esnext", "--moduleResolution", "bundler",
                   "--target", "es2022", wrong.name, cwd=APP)
    assert failed.returncode != 0
    assert "Property 'classifications' does not exist on type 'Promise<ImageClassifierResult>'" in failed.stdout


def test_runtime_location_errors(api_page, browser, server):
    """A page has one runtime: another fileset is refused, saying where it runs. A fileset
    naming a folder without the runtime fails with a message saying what to check."""
    error = api_page.evaluate(
        """async () => {
            const elsewhere = await api.FilesetResolver.forVisionTasks('/elsewhere');
            return api.loadRuntime(elsewhere).then(() => null, (e) => e.message);
        }"""
    )
    assert error == f"The runtime is already loaded from {server}/worker.mjs: a page has one runtime."
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(server + TEST_DOCUMENT)
        page.wait_for_function("() => window.testReady === true")
        error = page.evaluate(
            """async () => {
                const fileset = await api.FilesetResolver.forVisionTasks('/elsewhere/');
                return api.loadRuntime(fileset).then(() => null, (e) => e.message);
            }"""
        )
    finally:
        context.close()
    assert error == (
        "The classifier worker failed: it could not start (are the runtime files served beside "
        f"{server}/elsewhere/worker.mjs?)"
    )
