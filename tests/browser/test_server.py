"""The site's server against careless and hostile clients (web/site_server.py)."""

from __future__ import annotations

import gzip
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest

from .conftest import new_context
from .support import ROOT, build_site


def get(url: str, headers: dict[str, str] | None = None):
    """(status, headers, body) of a GET, errors included."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {})) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def raw_request(server: str, request: bytes, timeout: float = 10) -> bytes:
    """The server's whole answer to bytes sent as they are (no client-side quoting)."""
    address = urlsplit(server)
    with socket.create_connection((address.hostname, address.port), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_security_headers_and_no_version_banner(server):
    status, headers, _ = get(server + "/")
    assert status == 200
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    policy = dict(
        (d.split()[0], d.split()[1:]) for d in headers["Content-Security-Policy"].split("; ")
    )
    assert policy["default-src"] == ["'self'"]
    # WebAssembly may compile, no string is ever evaluated as script (every browser test runs
    # the app under this policy, LiteRT.js's Emscripten script included).
    assert policy["script-src"] == ["'self'", "'wasm-unsafe-eval'"]
    for directive, sources in policy.items():  # nothing of another origin, anywhere
        assert all(s.startswith("'") or s in ("blob:", "data:", "mediastream:") for s in sources)
    assert headers["Server"] == "static"
    assert "Python" not in str(headers) and "SimpleHTTP" not in str(headers)


@pytest.mark.parametrize("path", ["/models/", "/pyodide/", "/ort/", "/engines/"])
def test_no_directory_listings(server, path):
    status, _, body = get(server + path)
    assert status == 404
    assert b"Directory listing" not in body


@pytest.mark.parametrize("path", ["/.site-build", "/.git/config", "/%2esite-build", "/models/.x"])
def test_dotfiles_are_not_served(server, path):
    assert (build_site.DEFAULT_SITE / ".site-build").exists()
    status, _, body = get(server + path)
    assert status == 404


@pytest.mark.parametrize("path", [b"/index%00.html", b"/%00", b"/models/a\x00b"])
def test_a_nul_byte_is_a_bad_request(server, path):
    answer = raw_request(server, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert b"Traceback" not in answer
    assert get(server + "/")[0] == 200  # the server still serves


def test_a_slow_client_is_disconnected(server):
    address = urlsplit(server)
    started = time.monotonic()
    with socket.create_connection((address.hostname, address.port), timeout=60) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n")  # and never the rest
        assert sock.recv(1024) == b""  # closed by the server
    waited = time.monotonic() - started
    from site_server import SLOW_CLIENT_TIMEOUT_S

    assert SLOW_CLIENT_TIMEOUT_S - 1 <= waited < SLOW_CLIENT_TIMEOUT_S + 15


def test_serve_on_a_busy_port_says_so_in_one_line(server):
    port = urlsplit(server).port  # taken by the tests' own server
    done = subprocess.run(
        [sys.executable, str(ROOT / "build.py"), "serve", "--port", str(port)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith(f"serve failed: cannot serve on 127.0.0.1:{port}"), done.stderr
    assert len([line for line in lines if "serve" in line]) == 1


@pytest.mark.parametrize(
    ("accept", "gzipped"),
    [("gzip, deflate, br, zstd", True), ("deflate, gzip;q=0.5", True), ("gzip;q=0", False),
     ("identity", False), (None, False)],
)
def test_a_file_with_a_gzipped_copy_is_sent_gzipped_to_whom_accepts_it(server, accept, gzipped):
    wasm = (build_site.DEFAULT_SITE / "pyodide" / "pyodide.asm.wasm").read_bytes()
    status, headers, body = get(server + "/pyodide/pyodide.asm.wasm",
                                {"Accept-Encoding": accept} if accept else {})
    assert status == 200
    assert headers["Content-Type"] == "application/wasm"
    assert headers["Vary"] == "Accept-Encoding"
    assert headers.get("Content-Encoding") == ("gzip" if gzipped else None)
    assert int(headers["Content-Length"]) == len(body)
    assert (gzip.decompress(body) if gzipped else body) == wasm
    # A file without a gzipped copy is sent as it is, whatever the browser accepts.
    status, headers, body = get(server + "/models/index.json", {"Accept-Encoding": "gzip"})
    assert (status, headers.get("Content-Encoding"), headers.get("Vary")) == (200, None, None)
    assert body == (build_site.DEFAULT_SITE / "models" / "index.json").read_bytes()


def test_chromium_takes_the_gzipped_copies(browser, server):
    """The browser downloads the snapshot's heap and Pyodide's wasm gzipped and gets the
    files themselves (the restore and every start rely on the bytes being exact)."""
    context = new_context(browser, server)
    page = context.new_page()
    page.goto(server + "/__tests__/api.html")
    found = page.evaluate(
        """async () => {
            const out = {};
            for (const path of ['/pyodide/snapshot-heap.bin', '/pyodide/pyodide.asm.wasm']) {
              const bytes = new Uint8Array(await (await fetch(path)).arrayBuffer());
              const digest = await crypto.subtle.digest('SHA-256', bytes);
              const entry = performance.getEntriesByName(location.origin + path).at(-1);
              out[path] = {
                sha256: [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join(''),
                encoded: entry.encodedBodySize, decoded: entry.decodedBodySize,
              };
            }
            return out;
        }"""
    )
    context.close()
    manifest = json.loads((build_site.DEFAULT_SITE / "precache.json").read_text())["precache"]
    for path, got in found.items():
        entry = manifest[path.lstrip("/")]
        assert (got["sha256"], got["decoded"]) == (entry["sha256"], entry["bytes"]), path
        assert got["encoded"] < 0.8 * got["decoded"], (path, got)
