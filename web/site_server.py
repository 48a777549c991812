"""The static site's server (``build.py serve``, the tests, the bench): the site's files only.

It sends the headers that unlock threads (COOP/COEP/CORP) and the MIME types module workers
and WebAssembly need, a file's gzipped copy (FILE.gz) to browsers that accept gzip, and holds
up against careless or hostile clients: no directory listings, no dotfiles, no version banner,
a Content-Security-Policy that lets the page load nothing from another origin, 400 for a path
with a NUL byte, and a timeout for slow clients.
"""

from __future__ import annotations

import errno
import functools
import http.server
import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

MIME_TYPES = {
    ".mjs": "text/javascript",
    ".js": "text/javascript",
    ".wasm": "application/wasm",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".whl": "application/zip",
    ".zip": "application/zip",
    ".onnx": "application/octet-stream",
    ".tflite": "application/octet-stream",
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}

ISOLATION_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
}

# Only the page's own origin. WebAssembly needs 'wasm-unsafe-eval' (compiling a module counts
# as eval); no script is evaluated from a string (LiteRT.js's Emscripten script is imported as
# an ES module the build makes of it: engines/litert.mjs). Photos and camera frames shown by
# the page are blob: URLs and media streams.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'wasm-unsafe-eval'",
        "worker-src 'self'",
        "connect-src 'self'",
        "img-src 'self' blob: data:",
        "media-src 'self' blob: mediastream:",
        "style-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
}

SLOW_CLIENT_TIMEOUT_S = 20
"""A client that sends nothing for this long (mid-request, or idle on a kept-alive
connection) is disconnected, so slow clients cannot hold the server's threads."""


class SiteRequestHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with cross-origin isolation and security headers and the right MIME types."""

    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **MIME_TYPES}
    protocol_version = "HTTP/1.1"  # keep-alive: a page load makes ~20 requests
    # A response is written as headers, then body: with Nagle's algorithm the body of every
    # response after a connection's first waited for the browser's delayed ACK (40 ms each).
    disable_nagle_algorithm = True
    timeout = SLOW_CLIENT_TIMEOUT_S
    quiet = False
    isolation = True
    own_policy = True
    mounts: dict[str, str] = {}
    # This request's file has a gzipped copy beside it (FILE.gz, which build_site.py makes):
    # it is sent instead, as it is, to a browser that accepts gzip (nginx's gzip_static).
    compressed = False
    gzipped = False

    def version_string(self) -> str:
        return "static"  # no server or Python version

    def end_headers(self) -> None:
        if self.isolation:
            for name, value in ISOLATION_HEADERS.items():
                self.send_header(name, value)
        for name, value in SECURITY_HEADERS.items():
            if name != "Content-Security-Policy" or (
                self.own_policy and not self.path.startswith(tuple(self.mounts))
            ):  # mounted test and bench pages have inline scripts
                self.send_header(name, value)
        # Revalidate every time: a rebuilt site is picked up on reload.
        self.send_header("Cache-Control", "no-cache")
        if self.compressed:
            self.send_header("Vary", "Accept-Encoding")
        if self.gzipped:
            self.send_header("Content-Encoding", "gzip")
        super().end_headers()

    def send_head(self):
        self.compressed = self.gzipped = False
        path = unquote(urlsplit(self.path).path)
        if "\0" in path:
            self.send_error(400, "Bad request")
            return None
        if any(part.startswith(".") for part in path.split("/") if part):
            self.send_error(404, "File not found")  # dotfiles and ../ alike
            return None
        file = self._file(self.path)
        self.compressed = os.path.isfile(file + ".gz") and os.path.isfile(file)
        self.gzipped = self.compressed and self._accepts_gzip()
        return super().send_head()

    def _accepts_gzip(self) -> bool:
        for coding in self.headers.get("Accept-Encoding", "").split(","):
            name, _, params = coding.partition(";")
            if name.strip() == "gzip":
                return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
        return False

    def _file(self, path: str) -> str:
        """The file a URL path names: in a mounted folder, else in the site."""
        for prefix, directory in self.mounts.items():
            if path.startswith(prefix):
                relative = unquote(path[len(prefix) :].split("?", 1)[0].split("#", 1)[0])
                target = os.path.normpath(os.path.join(directory, relative))
                if target.startswith(os.path.normpath(directory) + os.sep):
                    return target
        return super().translate_path(path)

    def translate_path(self, path: str) -> str:
        return self._file(path) + (".gz" if self.gzipped else "")

    def guess_type(self, path) -> str:
        return super().guess_type(path[: -len(".gz")] if self.gzipped else path)

    def list_directory(self, path):
        self.send_error(404, "File not found")
        return None

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (stdlib signature)
        if not self.quiet:
            super().log_message(format, *args)


def make_server(
    site: Path,
    port: int = 8000,
    host: str = "127.0.0.1",
    quiet: bool = False,
    mounts: dict[str, Path] | None = None,
    isolation: bool = True,
    own_policy: bool = True,
) -> http.server.ThreadingHTTPServer:
    """A threading HTTP server for ``site`` (port 0 picks a free port); ``mounts`` maps URL
    prefixes ('/__tests__/') to other folders (the tests serve their own files this way);
    ``isolation=False`` leaves out the COOP/COEP/CORP headers, as a plain static host does;
    ``own_policy=False`` leaves out this site's Content-Security-Policy, for pages that are not
    ours (an app built with the npm package, whose runtime may come from another origin)."""
    handler = type(
        "Handler",
        (SiteRequestHandler,),
        {
            "quiet": quiet,
            "isolation": isolation,
            "own_policy": own_policy,
            "mounts": {k: str(v) for k, v in (mounts or {}).items()},
        },
    )
    server = http.server.ThreadingHTTPServer(
        (host, port), functools.partial(handler, directory=str(site))
    )
    server.daemon_threads = True
    return server


class PortInUse(RuntimeError):
    """The port asked for is taken (or not ours to take): one line for the user."""


def serve(site: Path, port: int = 8000, host: str = "127.0.0.1") -> None:
    try:
        server = make_server(site, port, host)
    except OSError as error:
        if error.errno in (errno.EADDRINUSE, errno.EACCES):
            raise PortInUse(f"cannot serve on {host}:{port}: {error.strerror}") from None
        raise
    url = f"http://{host}:{server.server_address[1]}/"
    print(f"Serving {site} at {url}  (Ctrl+C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
