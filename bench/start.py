"""Start-up as a visitor has it: ours against MediaPipe tasks-vision, in a persistent profile.

For each engine and each round, a fresh on-disk Chromium profile and a fresh server (a new
origin: no service worker, no cache):

- cold: the bench page opened (navigation to the first result of Lite0 int8 .tflite);
- warm: the page reloaded; ours has installed its service worker meanwhile (as the app does on a
  first visit) and waited for its offline copy, so the warm start is what a second visit is;
- revisit: the browser closed and opened again on the same profile, the page opened: a visitor
  who comes back later, with nothing of the last start left in memory (a reload keeps the
  renderer process, and with it compiled WebAssembly that the next start may find again);
- offline: the server stopped, the page reloaded (ours only: MediaPipe's page has no service
  worker, and its HTTP cache must revalidate every file).

Before each of them the browser is left alone for IDLE_S: a visitor's browser has finished
its own start-up before the page is opened, and a reload or a revisit does not come within
milliseconds of the last start. (Chromium 156 loads its own omnibox popup, a WebUI of ~200
files, in a renderer of its own during its first ~2 s: on this 2-core machine 2.2 s of that
renderer's main thread fell inside a cold start opened right after the launch. And the last
start's background work, its wasm's top-tier compiles, would run into the next one.)

Reported: the median ms to the first result and to the classifier created, ours/MediaPipe, our
boot's stages (ms from navigation), whether Python booted from its snapshot, and the bytes and
requests the server answered in each phase. Run alone with ``python3 build.py bench start`` (or
``.venv/bin/python bench/start.py [--rounds N]``); writes bench/start.json. Not a test.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

from playwright.sync_api import sync_playwright

import harness
from photos import make_photos
from rows import row

MODEL = "efficientnet_lite0_int8.tflite"
ENGINES = ["ours", "mediapipe"]
PHASES = ["cold", "warm", "revisit", "offline"]
IDLE_S = 3.0  # the browser left alone before each start (see above)


class Traffic:
    """What the server answered: requests and body bytes, per phase."""

    def __init__(self) -> None:
        self.phase = "cold"
        self.requests: dict[str, int] = {}
        self.bytes: dict[str, int] = {}

    def add(self, size: int) -> None:
        self.bytes[self.phase] = self.bytes.get(self.phase, 0) + size

    def request(self) -> None:
        self.requests[self.phase] = self.requests.get(self.phase, 0) + 1


def counting_server(site: Path, mounts: dict[str, Path], traffic: Traffic):
    """build_site's server, counting what it sends."""
    server = harness.build_site.make_server(site, 0, quiet=True, mounts=mounts)
    partial = server.RequestHandlerClass

    class Counting(partial.func):
        def copyfile(self, source, outputfile) -> None:
            data = source.read()
            outputfile.write(data)
            traffic.add(len(data))

        def log_request(self, code="-", size="-") -> None:
            traffic.request()

    server.RequestHandlerClass = functools.partial(Counting, *partial.args, **partial.keywords)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def one_round(playwright, site: Path, mounts: dict[str, Path], engine: str, photo: str) -> dict:
    """Cold, warm, revisit and (ours) offline start in one fresh profile: {phase: started}."""
    traffic = Traffic()
    server = counting_server(site, mounts, traffic)
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    query = {"engine": engine, "model": f"/models/{MODEL}", "threads": 2, "photo": photo}
    url = f"{origin}/__bench__/bench.html?{urlencode(query)}"
    out = {}
    with tempfile.TemporaryDirectory() as profile:
        launch = functools.partial(
            playwright.chromium.launch_persistent_context, profile,
            executable_path=harness.environment.CHROMIUM.as_posix(),
            args=harness.environment.chromium_args())
        context = launch()
        try:
            page = context.pages[0]
            time.sleep(IDLE_S)
            page.goto(url)
            out["cold"] = page.evaluate("window.started")
            # No warm-up penalty: the first classify() against the tenth.
            later = page.evaluate("(url) => bench.latency([url], 10, 0)", photo)
            out["cold"]["tenthClassifyMs"] = later[-1]["ms"]
            if engine == "ours":
                traffic.phase = "install"  # the offline copy, in the background
                page.evaluate("(files) => bench.installOffline(files)",
                              [url, "/__bench__/bench.mjs", "/__bench__/ours.mjs", photo])
            traffic.phase = "warm"
            time.sleep(IDLE_S)
            page.reload()
            out["warm"] = page.evaluate("window.started")
            context.close()
            context = launch()
            page = context.pages[0]
            traffic.phase = "revisit"
            time.sleep(IDLE_S)
            page.goto(url)
            out["revisit"] = page.evaluate("window.started")
            if engine == "ours":
                server.shutdown()
                server.server_close()
                traffic.phase = "offline"
                time.sleep(IDLE_S)
                page.reload()
                out["offline"] = page.evaluate("window.started")
        finally:
            context.close()
            server.shutdown()
            server.server_close()
    for phase, started in out.items():
        started["bytes"] = traffic.bytes.get(phase, 0)
        started["requests"] = traffic.requests.get(phase, 0)
    return out


def summarize(runs: dict[str, list[dict]]) -> list[dict]:
    rows = []
    for engine, rounds in runs.items():
        for phase in PHASES:
            starts = [r[phase] for r in rounds if phase in r]
            if not starts:
                continue
            extra = {
                "ready_ms": round(statistics.median(s["createdMs"] for s in starts), 1),
                "bytes": int(statistics.median(s["bytes"] for s in starts)),
                "requests": int(statistics.median(s["requests"] for s in starts)),
                "first_classify_ms": round(statistics.median(s["firstClassifyMs"] for s in starts), 1),
            }
            if phase == "cold":
                extra["tenth_classify_ms"] = round(
                    statistics.median(s["tenthClassifyMs"] for s in starts), 1)
            info = starts[-1]["info"]
            if engine == "ours":
                extra["snapshot"] = [s["info"]["snapshot"] for s in starts]
                extra["stages_ms"] = {
                    stage: round(statistics.median(s["info"]["bootStages"][stage] for s in starts))
                    for stage in info["bootStages"]
                }
            rows.append(row(engine, "lite0", "int8", info["backend"], info["threads"],
                            f"{phase}_start", [s["firstResultMs"] for s in starts],
                            model_format="tflite", **extra))
    return rows


def table(rows: list[dict]) -> str:
    """Markdown: per phase, ours and MediaPipe's first result, the ratio, what was downloaded,
    and our boot's stages."""
    find = {(r["engine"], r["metric"]): r for r in rows}

    def cell(found: dict | None, text) -> str:
        return text(found) if found else "n/a"

    lines = ["| start | ours: first result | MediaPipe | ours / MediaPipe | ours downloaded "
             "| MediaPipe downloaded | load avg (1 min) |", "|---|---|---|---|---|---|---|"]
    stages = []
    for phase in PHASES:
        ours, theirs = find.get(("ours", f"{phase}_start")), find.get(("mediapipe", f"{phase}_start"))
        if not ours:
            continue
        ms = lambda r: f"{r['median_ms']:.0f} ms"  # noqa: E731
        sent = lambda r: f"{r['bytes'] / 1e6:.1f} MB in {r['requests']} requests"  # noqa: E731
        ratio = cell(theirs, lambda r: f"{ours['median_ms'] / r['median_ms']:.2f}×")
        lines.append(f"| {phase} | {ms(ours)} | {cell(theirs, ms)} | {ratio} | {sent(ours)} "
                     f"| {cell(theirs, sent)} | {ours['load_average_1min']} |")
        stages.append(f"{phase}: " + ", ".join(f"{k} {v}" for k, v in ours["stages_ms"].items())
                      + f", first result {ours['median_ms']:.0f}")
    classify = [f"{engine}: first {r['first_classify_ms']:.0f} ms, tenth {r['tenth_classify_ms']:.0f} ms"
                for engine in ENGINES if (r := find.get((engine, "cold_start")))]
    return "\n".join([*lines, "", "Our boot's stages end at (ms from navigation, medians):",
                      *[f"- {line}" for line in stages], "",
                      "classify() after a cold start: " + "; ".join(classify)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="fresh profiles per engine")
    parser.add_argument("--engines", nargs="+", default=ENGINES, choices=ENGINES)
    args = parser.parse_args()
    harness.ensure_tasks_vision()
    site = harness.build_site.build(harness.SITE)
    runs: dict[str, list[dict]] = {engine: [] for engine in args.engines}
    with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
        photos = make_photos(Path(folder))
        photo = f"/__photos__/{next(iter(photos.values()))[0]}"
        mounts = {"/__bench__/": harness.PAGES, "/__mediapipe__/": harness.TASKS_VISION,
                  "/__photos__/": Path(folder)}
        for _ in range(args.rounds):  # interleaved: both engines see the same machine load
            for engine in args.engines:
                result = one_round(playwright, site, mounts, engine, photo)
                runs[engine].append(result)
                print(engine, json.dumps({p: round(s["firstResultMs"]) for p, s in result.items()}),
                      f"load {os.getloadavg()[0]:.2f}", file=sys.stderr, flush=True)
    rows = summarize(runs)
    out = harness.BENCH / "start.json"
    out.write_text(json.dumps({"command": "python3 build.py bench start  (bench/start.py)",
                               "model": MODEL, "rows": rows, "runs": runs}, indent=1))
    print(table(rows))
    print(f"written: {out.relative_to(harness.ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
