"""Takes docs/screenshot.png (README's picture of the page): `.venv/bin/python web/screenshot.py`.

Builds the site, serves it on a free port, and photographs the page in Debian's Chromium with
a photo loaded, a region of interest drawn and its results shown.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import build_site
import environment

PHOTO = build_site.ROOT / "tests" / "images" / "chelsea.png"
OUT = build_site.ROOT / "docs" / "screenshot.png"


def main() -> None:
    from playwright.sync_api import sync_playwright

    site = build_site.build()
    server = build_site.make_server(site, 0, quiet=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    with sync_playwright() as playwright:
        browser = environment.launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1360, "height": 1000})
        page.goto(url)
        idle = "() => document.body.dataset.state === 'idle'"
        page.wait_for_function("() => window.app && window.app.state.classifier", timeout=120_000)
        page.set_input_files("#file", str(PHOTO))
        page.wait_for_function(idle)
        box = page.locator("#preview").bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.12, box["y"] + box["height"] * 0.02)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.9, box["y"] + box["height"] * 0.98, steps=8)
        page.mouse.up()
        page.wait_for_function(idle)
        for button in ["#rotate-right", "#rotate-left"] * 3:  # warm-up runs: steady timings
            page.click(button)
            page.wait_for_function(idle)
        page.evaluate("window.scrollTo(0, 0)")  # focus moves may have scrolled the page
        OUT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(OUT))
        browser.close()
    server.shutdown()
    print(f"wrote {OUT.relative_to(build_site.ROOT)}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
