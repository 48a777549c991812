"""The site's server against careless and hostile clients (web/site_server.py)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest

from .support import ROOT, build_site


def get(url: str):
    """(status, headers, body) of a GET, errors included."""
    try:
        with urllib.request.urlopen(url) as response:
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
