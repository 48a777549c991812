"""The Pyodide memory snapshot of the site: made by the build, from the files the site serves.

Headless Chromium (Debian's, through Playwright) opens the built site, and
``web/snapshot-maker.mjs`` boots Pyodide from ``site/pyodide/``, loads and imports numpy,
Pillow and image_classifier, and uploads the snapshot (see web/snapshot.mjs for what it holds
and how it is restored). The result goes to ``site/pyodide/``:

- ``snapshot-heap.bin``  Pyodide's snapshot: its header (JS-object table), then the wasm heap
  without its all-zero pages (snapshot.json gives the header again, and where the pages go);
- ``snapshot-files.bin`` the unpacked wheels (the JS file system is not in the heap);
- ``snapshot.json``      what the restore needs (the libraries' bases, the file index) and what
  the snapshot was made from: the sha256 of every input (Pyodide's files, the site's
  pyodide-lock.json, which carries every wheel's sha256, the wheels, the snapshot code).

It is made again whenever an input changes (cached under build/web-cache/snapshot/ by the
hash of all inputs), and only for the Pyodide build whose linker web/snapshot.mjs was checked
against (VERIFIED_PYODIDE); for any other, the build makes none and the worker boots normally.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import http.server
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WEB = Path(__file__).resolve().parent
CACHE = WEB.parent / "build" / "web-cache" / "snapshot"
# The files web/snapshot.mjs reaches into (the module hook, Emscripten's dynamic linker), as
# shipped by the npm package pyodide 0.27.7: a different file means unchecked hooks.
VERIFIED_PYODIDE = {
    "pyodide.mjs": "04c052c815abb0bf2981fa38c2dfa58e3120ee5288c956df2b2a15e301782c5f",
    "pyodide.asm.js": "6b4c90de5b7172873f04f21884d0e9d2274e305fe32116558fe3e4fbe3618d51",
}
PYODIDE_INPUTS = ["pyodide.mjs", "pyodide.asm.js", "pyodide.asm.wasm", "python_stdlib.zip", "pyodide-lock.json"]
CODE_INPUTS = ["snapshot.mjs", "snapshot-maker.mjs", "snapshot_build.py"]
PARTS = {"heap": "snapshot-heap.bin", "files": "snapshot-files.bin", "meta": "maker.json"}
OUTPUTS = [PARTS["heap"], PARTS["files"], "snapshot.json"]
MAKER_PAGE = """<!doctype html><meta charset="utf-8"><title>snapshot</title>
<script type="module">
const worker = new Worker('/__snapshot__/snapshot-maker.mjs', {type: 'module'});
worker.onmessage = ({data}) => { window.snapshotMade = data; };
worker.onerror = (event) => { window.snapshotMade = {ok: false, message: event.message}; };
</script>"""
TIMEOUT_MS = 180_000


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def inputs(site: Path) -> dict[str, str]:
    """sha256 of everything the snapshot is made from: Pyodide's files, the lock, every wheel
    it lists (numpy, Pillow, image_classifier) and the snapshot code."""
    pyodide = site / "pyodide"
    lock = json.loads((pyodide / "pyodide-lock.json").read_text())
    names = PYODIDE_INPUTS + sorted(p["file_name"] for p in lock["packages"].values())
    found = {name: _sha256(pyodide / name) for name in names}
    found.update({f"web/{name}": _sha256(WEB / name) for name in CODE_INPUTS})
    return found


def unverified(site: Path) -> list[str]:
    """The Pyodide files that differ from the ones the hooks were checked against."""
    return [
        name
        for name, digest in VERIFIED_PYODIDE.items()
        if _sha256(site / "pyodide" / name) != digest
    ]


def snapshot(site: Path, python: str = sys.executable) -> list[Path]:
    """The snapshot's files for ``site`` (made now, or taken from the cache when its inputs
    have not changed); none when Pyodide is not the verified build."""
    changed = unverified(site)
    if changed:
        print(
            f"No Pyodide snapshot: {', '.join(changed)} differ from the files web/snapshot.mjs "
            "was checked against (the worker boots without one)",
            flush=True,
        )
        return []
    found = inputs(site)
    key = hashlib.sha256(json.dumps(found, sort_keys=True).encode()).hexdigest()
    out = CACHE / key[:24]
    if not all((out / name).exists() for name in OUTPUTS):
        print("Making the Pyodide memory snapshot in headless Chromium ...", flush=True)
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        made = Path(tempfile.mkdtemp(prefix="snapshot-", dir=CACHE.parent))
        try:
            if subprocess.run([python, __file__, str(site), str(made)]).returncode:
                raise RuntimeError("making the Pyodide snapshot failed (see above)")
            _describe(made, found)
            for older in CACHE.glob("*"):  # one snapshot kept: the one of the latest inputs
                shutil.rmtree(older, ignore_errors=True)
            out.parent.mkdir(parents=True, exist_ok=True)
            if not out.exists():  # else another build made it meanwhile
                made.rename(out)
        finally:
            shutil.rmtree(made, ignore_errors=True)
    return [out / name for name in OUTPUTS]


PAGE = 65536  # a wasm page


def without_zero_pages(data: bytes) -> tuple[bytes, list[list[int]]]:
    """``data`` without its all-zero pages (a third of a fresh heap), and where they were:
    [[offset, length], ...] in ``data``."""
    kept = bytearray()
    runs: list[list[int]] = []
    zero = bytes(PAGE)
    for offset in range(0, len(data), PAGE):
        page = data[offset : offset + PAGE]
        if page == zero[: len(page)]:
            if runs and runs[-1][0] + runs[-1][1] == offset:
                runs[-1][1] += len(page)
            else:
                runs.append([offset, len(page)])
        else:
            kept += page
    return bytes(kept), runs


def split_header(snapshot: bytes) -> tuple[bytes, bytes]:
    """Pyodide's snapshot as its header and the wasm heap it restores from address 0 (the
    header's second word says where that begins)."""
    start = int.from_bytes(snapshot[4:8], "little")
    return snapshot[:start], snapshot[start:]


def _describe(folder: Path, found: dict[str, str]) -> None:
    """snapshot.json: the maker's record, the inputs' hashes, each part's size and sha256;
    the heap is stored without its zero pages, and its header is given here too: the worker
    starts Pyodide with it while the heap is still on its way."""
    meta = json.loads((folder / PARTS["meta"]).read_text())
    header, heap = split_header((folder / PARTS["heap"]).read_bytes())
    kept, runs = without_zero_pages(heap)
    (folder / PARTS["heap"]).write_bytes(header + kept)
    for part in ("heap", "files"):
        path = folder / PARTS[part]
        meta[part] = {"file": path.name, "bytes": path.stat().st_size, "sha256": _sha256(path)}
    meta["heap"].update(
        header=base64.b64encode(header).decode(), memoryBytes=len(heap), zeroRuns=runs
    )
    meta["inputs"] = found
    (folder / "snapshot.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
    (folder / PARTS["meta"]).unlink()


# --- the maker (run in a subprocess: Playwright's sync API wants a thread of its own) ---------


class _UploadHandler:
    """POST /__snapshot__/upload/<part>: the maker's parts, written to ``out``."""

    out: Path

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        prefix = "/__snapshot__/upload/"
        part = self.path[len(prefix) :] if self.path.startswith(prefix) else ""
        if part not in PARTS:
            self.send_error(404)
            return
        data = self.rfile.read(int(self.headers["Content-Length"]))
        (self.out / PARTS[part]).write_bytes(data)
        self.send_response(204)
        self.end_headers()


def _make(site: Path, out: Path) -> None:
    import threading

    import build_site
    import environment
    import site_server
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as mount:
        (Path(mount) / "index.html").write_text(MAKER_PAGE, encoding="utf-8")
        shutil.copy(WEB / "snapshot-maker.mjs", mount)
        handler = type(
            "Handler",
            (_UploadHandler, site_server.SiteRequestHandler),
            {"quiet": True, "out": out, "mounts": {"/__snapshot__/": mount}},
        )
        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(handler, directory=str(site))
        )
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            with sync_playwright() as playwright:
                browser = environment.launch_chromium(playwright)
                try:
                    page = browser.new_page()
                    page.on("console", lambda message: print("maker:", message.text, flush=True))
                    page.goto(f"http://127.0.0.1:{server.server_address[1]}/__snapshot__/index.html")
                    page.wait_for_function("() => window.snapshotMade", timeout=TIMEOUT_MS)
                    made = page.evaluate("window.snapshotMade")
                finally:
                    browser.close()
        finally:
            server.shutdown()
            server.server_close()
    if not made["ok"]:
        raise SystemExit(f"making the snapshot failed: {made['message']}")


if __name__ == "__main__":
    sys.path.insert(0, str(WEB))
    _make(Path(sys.argv[1]), Path(sys.argv[2]))
