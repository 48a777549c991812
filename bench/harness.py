"""What the browser benches share: the site, built by web/build_site.py and served by its own
server (cross-origin isolated, the real MIME types) with the bench's files mounted beside it,
and Debian's Chromium as build_site launches it for the tests too."""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser.support import build_site, environment  # noqa: E402
import precompressed  # noqa: E402  (web/precompressed.py, on the path through support)

BENCH = ROOT / "bench"
PAGES = BENCH / "pages"
# A site of its own: a test run rebuilding site/ meanwhile cannot pull files from under it.
SITE = ROOT / "build" / "bench-site"
TASKS_VISION = BENCH / "node_modules" / "@mediapipe" / "tasks-vision"
_NPM_STAMP = BENCH / "node_modules" / ".npm-ci-stamp"


def ensure_tasks_vision() -> None:
    """``npm ci`` in bench/ (MediaPipe's tasks-vision, pinned by bench/package-lock.json)
    when node_modules/ does not match the lock; its files are then served as the site's are,
    gzipped to a browser that accepts it (precompressed.py), so both download alike."""
    digest = hashlib.sha256((BENCH / "package-lock.json").read_bytes()).hexdigest()
    if not (_NPM_STAMP.exists() and _NPM_STAMP.read_text() == digest):
        npm = shutil.which("npm") or sys.exit("npm is missing: install Node.js")
        print("Installing @mediapipe/tasks-vision (npm ci in bench/) ...", flush=True)
        subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund",
                        "--loglevel=error"], cwd=BENCH, check=True)
        _NPM_STAMP.write_text(digest)
    precompressed.precompress(sorted(p for p in TASKS_VISION.rglob("*") if p.is_file()))


@contextlib.contextmanager
def served(mounts: dict[str, Path] | None = None) -> Iterator[str]:
    """The site with the bench pages at /__bench__/, tasks-vision at /__mediapipe__/ and
    ``mounts``; yields the origin."""
    ensure_tasks_vision()
    site = build_site.build(SITE)
    server = build_site.make_server(site, 0, quiet=True, mounts={
        "/__bench__/": PAGES, "/__mediapipe__/": TASKS_VISION, **(mounts or {})})
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


launch = environment.launch_chromium
