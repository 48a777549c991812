"""What the worker does as it starts, and for a model asked for while Python boots.

The worker is one file (its modules bundled by the site build): a start does not wait for ~20
module requests. A model the site ships (its sha256 is in models/index.json) is loaded into
its engine and run once meanwhile, and Python's classifier takes that engine: the same scores
as a model loaded after the boot. Any other model waits for Python, which checks it before an
engine sees it.
"""

from __future__ import annotations

import sys
import threading

from .conftest import new_context
from .support import API_DOCUMENT, IMAGES, ROOT, TEST_DOCUMENT, build_site

sys.path.insert(0, str(ROOT / "tests"))
from tflite_models import Head, tiny_model  # noqa: E402

MODEL = "/models/efficientnet_lite0_int8.tflite"

CREATE_DURING_BOOT = """async ([first, second]) => {
    const during = await ImageClassifier.createFromOptions(
        {baseOptions: {modelAssetPath: first}, maxResults: -1});
    const {modelPreload} = await api.loadRuntime();
    const photo = await imageAs('chelsea.png', 'Blob');
    const scores = (classifier) => classifier.classify(photo).then(
        (result) => result.classifications[0].categories.map((c) => [c.index, c.score]));
    const out = {modelPreload, during: await scores(during)};
    await during.close();
    if (second) {
      const after = await ImageClassifier.createFromOptions(
          {baseOptions: {modelAssetPath: second}, maxResults: -1});
      out.after = await scores(after);
      await after.close();
    }
    return out;
}"""


def _open(browser, origin: str, first: str, second: str | None = None) -> dict:
    context = new_context(browser, origin)
    try:
        page = context.new_page()
        page.goto(origin + TEST_DOCUMENT)
        page.wait_for_function("() => window.testReady === true")
        return page.evaluate(CREATE_DURING_BOOT, [first, second])
    finally:
        context.close()


# Modules of web/ the worker imports, directly or not, and Pyodide's loader: all in worker.mjs.
BUNDLED = ["/boot.mjs", "/python-bridge.mjs", "/snapshot.mjs", "/engines/litert.mjs",
           "/engines/preload.mjs", "/runtime-files.mjs", "/pyodide/pyodide.mjs", "/litert/core.mjs"]


def test_the_worker_is_one_file_and_starts_from_its_snapshot(browser, server):
    context = new_context(browser, server)
    try:
        page = context.new_page()
        page.goto(server + TEST_DOCUMENT)
        page.wait_for_function("() => window.testReady === true")
        status = page.evaluate("api.loadRuntime()")
        paths = {url.removeprefix(server).split("?")[0] for url in context.request_log.urls}
    finally:
        context.close()
    assert status["snapshot"]["used"] is True, status["snapshot"]
    assert "/worker.mjs" in paths
    assert "/pyodide/pyodide.asm.js" in paths  # imported when it runs: a file of its own
    assert not paths.intersection(BUNDLED), sorted(paths)


def test_a_shipped_model_is_loaded_while_python_boots_with_the_same_scores(browser, server):
    outcome = _open(browser, server, MODEL, MODEL)
    assert outcome["modelPreload"] == "used"
    assert len(outcome["during"]) == 1000
    assert outcome["during"] == outcome["after"]


def test_a_model_the_site_does_not_ship_waits_for_python(browser, tmp_path):
    mounted = tmp_path / "mount"
    mounted.mkdir()
    (mounted / "api.html").write_text(API_DOCUMENT, encoding="utf-8")
    (mounted / "images").symlink_to(IMAGES)
    (mounted / "custom.tflite").write_bytes(tiny_model([Head(classes=5)], uint8_input=True))
    site = build_site.build(build_site.DEFAULT_SITE)
    httpd = build_site.make_server(site, 0, quiet=True, mounts={"/__tests__/": mounted})
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        outcome = _open(browser, f"http://127.0.0.1:{httpd.server_address[1]}",
                        "/__tests__/custom.tflite")
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert outcome["modelPreload"] == "not shipped"
    assert sorted(index for index, _ in outcome["during"]) == list(range(5))
