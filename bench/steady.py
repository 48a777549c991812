"""The steady-state part of ``build.py bench`` alone (issue 12, about 4 minutes): how much of a
photo's time is not the engine.

For every ``.tflite`` model with 1 and 2 threads: ours (IMAGE classify end to end, per stage,
three photo sizes, with the engine's run inside each call) and LiteRT.js alone (our adapter's
``run``, no Python), in the same run and the same Chromium; prints the stage table with the
share of end to end that is not the engine, and writes the rows to bench/steady.json
(``--out``).

``.venv/bin/python bench/steady.py [--runs N] [--models ...]``. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

import harness
from browser import MODELS, STAGES, THREADS, BrowserBench
from photos import make_photos
from report import Rows, table


def share_table(rows: Rows, sizes: list[str]) -> str:
    """Per model, threads and size (medians, ms): end to end, its stages, the engine (its run
    inside each call, and alone) and what is not the engine, as a share of end to end: end to
    end minus the engine's run in the same call (robust to a busy machine), and minus the
    engine alone (issue 12's measure, which a load changing between the two rows skews)."""
    lines = []
    for name in sorted({r["model"] + " " + r["precision"] for r in rows.rows}):
        model, precision = name.split()
        for threads in THREADS:
            fields = dict(model=model, precision=precision, threads=threads)
            alone = rows.find(**fields, metric="engine_run")
            for size in sizes:
                ours = {metric: rows.find(**fields, engine="ours", metric=metric, size=size)
                        for metric in ["classify", *STAGES, "bridge", "engine_in_call",
                                       "not_engine"]}
                end = ours["classify"]
                if end is None or alone is None:
                    continue
                cells = [ms(ours[m]) for m in [*STAGES, "bridge", "engine_in_call"]]
                in_call = ours["not_engine"]
                lines.append([name, str(threads), size, f"{end['median_ms']:.1f}", *cells,
                              f"{alone['median_ms']:.1f}",
                              "–" if in_call is None else
                              f"{in_call['median_ms']:.1f} ({share(in_call, end)})",
                              share(end, end, minus=alone), f"{end['load_average_1min']:.1f}"])
    return table(["model", "threads", "photo", "end to end", *STAGES, "bridge",
                  "engine in the call", "engine alone", "not engine (share)",
                  "share, minus engine alone", "load"], lines)


def ms(found: dict | None) -> str:
    return "–" if found is None else f"{found['median_ms']:.1f}"


def share(part: dict, whole: dict, minus: dict | None = None) -> str:
    """part / whole as a percentage of medians; with ``minus``: (part - minus) / whole."""
    value = part["median_ms"] - (minus["median_ms"] if minus else 0)
    return f"{100 * value / whole['median_ms']:.0f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="classify() calls per row")
    parser.add_argument("--warmup", type=int, default=5, help="calls before timing")
    parser.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
    parser.add_argument("--out", type=Path, default=harness.BENCH / "steady.json")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as folder:
        photos = make_photos(Path(folder))
        with harness.served({"/__photos__/": Path(folder)}) as origin, \
                sync_playwright() as playwright:
            bench = BrowserBench(origin, photos, argparse.Namespace(**vars(args), starts=0))
            browser = harness.launch(playwright)
            for name in args.models:
                for threads in THREADS:
                    # Side by side: ours and the engine alone see the same load.
                    bench.classifier(browser, "ours", f"{name}.tflite", threads)
                    bench.engine_alone(browser, f"{name}.tflite", threads)
            browser.close()
    load = f"load average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after"
    args.out.write_text(json.dumps({"command": "bench/steady.py", "load": load,
                                    "failures": bench.failures, "rows": bench.rows}, indent=1))
    print(share_table(Rows(bench.rows), list(photos)))
    print(f"{load}; written: {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
