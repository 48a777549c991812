"""The installable, offline app: icons, and the service worker's build manifest.

Used by build_site.py at site build time:

- ``icon_pngs(svg)``: the PNG icons of the web app manifest (192 and 512, plus a maskable 512),
  rendered from ``web/icon.svg`` by a small rasterizer (rounded rectangles only, which is all
  the icon is drawn with), so the PNGs never drift from the SVG and nothing is downloaded.
- ``service_worker(template, site, precache, lazy)``: ``sw.js`` with its ``BUILD`` constant
  filled in: a content hash of the whole build as the cache version, and the sha256 and size of
  every file it stores. A changed file gives a changed ``sw.js``, which is how the browser
  notices a new deployment.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
import xml.etree.ElementTree as ElementTree
import zlib
from pathlib import Path

ICON_SIZES = (192, 512)
MASKABLE_SIZE = 512
# Maskable icons may be cropped to a circle of 80% of their size: the drawing is scaled into it.
MASKABLE_SCALE = 0.8

# --- icons -----------------------------------------------------------------------------------


def _colour(value: str) -> tuple[int, int, int]:
    value = value.strip()
    if not (value.startswith("#") and len(value) in (4, 7)):
        raise ValueError(f"icon.svg: only #rgb and #rrggbb fills are supported, not {value!r}")
    digits = value[1:]
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    return tuple(int(digits[i : i + 2], 16) for i in (0, 2, 4))


def _shapes(svg: bytes) -> tuple[float, list[dict]]:
    """The icon's square viewBox size and its rounded rectangles, in drawing order."""
    root = ElementTree.fromstring(svg)
    x0, y0, width, height = (float(v) for v in root.get("viewBox", "").split())
    if (x0, y0) != (0, 0) or width != height:
        raise ValueError("icon.svg: the viewBox must be a square from 0 0")
    shapes = []
    for element in root:
        if element.tag.rsplit("}", 1)[-1] != "rect":
            raise ValueError(f"icon.svg: only <rect> is rendered to PNG, found {element.tag}")
        number = lambda name, default=0.0: float(element.get(name, default))  # noqa: E731
        shapes.append(
            {
                "x": number("x"),
                "y": number("y"),
                "w": number("width"),
                "h": number("height"),
                "r": number("rx", element.get("ry", 0)),
                "fill": _colour(element.get("fill", "#000")),
            }
        )
    return width, shapes


def _coverage_rows(shape: dict, scale: float, size: int):
    """(y, x_start, [coverage...]) spans of one rounded rectangle, antialiased by its signed
    distance (coverage = 0.5 - distance, clamped): rows of the straight part are computed once."""
    x0, y0 = shape["x"] * scale, shape["y"] * scale
    x1, y1 = x0 + shape["w"] * scale, y0 + shape["h"] * scale
    r = min(shape["r"] * scale, (x1 - x0) / 2, (y1 - y0) / 2)
    cx, cy, bx, by = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2 - r, (y1 - y0) / 2 - r

    def cover(px: float, py: float) -> float:
        qx, qy = abs(px - cx) - bx, abs(py - cy) - by
        outside = math.hypot(max(qx, 0.0), max(qy, 0.0))
        distance = outside + min(max(qx, qy), 0.0) - r
        return min(1.0, max(0.0, 0.5 - distance))

    xs = range(max(0, math.floor(x0)), min(size, math.ceil(x1)))
    straight = None  # the coverage of a row beside the straight edges (same for all of them)
    for y in range(max(0, math.floor(y0)), min(size, math.ceil(y1))):
        py = y + 0.5
        if y0 + r + 1 <= py <= y1 - r - 1:
            if straight is None:
                straight = [cover(x + 0.5, py) for x in xs]
            yield y, xs.start, straight
        else:
            yield y, xs.start, [cover(x + 0.5, py) for x in xs]


def _render(width: float, shapes: list[dict], size: int) -> bytes:
    """RGBA pixels (straight alpha) of the shapes drawn in order, source-over."""
    canvas = bytearray(size * size * 4)
    scale = size / width
    for shape in shapes:
        red, green, blue = shape["fill"]
        solid = bytes((red, green, blue, 255))
        for y, start, row in _coverage_rows(shape, scale, size):
            base = (y * size + start) * 4
            x = 0
            while x < len(row):
                if row[x] >= 1.0:  # a run of full coverage: copy the colour
                    end = x
                    while end < len(row) and row[end] >= 1.0:
                        end += 1
                    canvas[base + 4 * x : base + 4 * end] = solid * (end - x)
                    x = end
                    continue
                alpha = row[x]
                if alpha > 0.0:
                    i = base + 4 * x
                    under = canvas[i + 3] / 255
                    out = alpha + under * (1 - alpha)
                    for c, value in enumerate((red, green, blue)):
                        mixed = (value * alpha + canvas[i + c] * under * (1 - alpha)) / out
                        canvas[i + c] = round(mixed)
                    canvas[i + 3] = round(out * 255)
                x += 1
    return bytes(canvas)


def _png(rgba: bytes, size: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    stride = size * 4
    raw = b"".join(b"\x00" + rgba[y * stride : (y + 1) * stride] for y in range(size))
    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def _maskable(width: float, shapes: list[dict]) -> list[dict]:
    """Full-bleed background (no rounded corners), the rest scaled into the safe zone."""
    background, *rest = shapes
    if (background["x"], background["y"], background["w"], background["h"]) != (0, 0, width, width):
        raise ValueError("icon.svg: the first <rect> must be the full-size background")
    centre = width / 2
    scaled = [
        {
            **shape,
            "x": centre + (shape["x"] - centre) * MASKABLE_SCALE,
            "y": centre + (shape["y"] - centre) * MASKABLE_SCALE,
            "w": shape["w"] * MASKABLE_SCALE,
            "h": shape["h"] * MASKABLE_SCALE,
            "r": shape["r"] * MASKABLE_SCALE,
        }
        for shape in rest
    ]
    return [{**background, "r": 0.0}, *scaled]


def icon_pngs(svg: bytes) -> dict[str, bytes]:
    """Site path -> PNG bytes: icons/icon-192.png, icons/icon-512.png, icons/maskable-512.png."""
    width, shapes = _shapes(svg)
    pngs = {
        f"icons/icon-{size}.png": _png(_render(width, shapes, size), size) for size in ICON_SIZES
    }
    masked = _maskable(width, shapes)
    pngs[f"icons/maskable-{MASKABLE_SIZE}.png"] = _png(
        _render(width, masked, MASKABLE_SIZE), MASKABLE_SIZE
    )
    return pngs


# --- the service worker's build manifest -----------------------------------------------------

BUILD_PLACEHOLDER = "const BUILD = { version: 'dev', precache: {}, lazy: {} };"


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def build_manifest(
    site: Path, precache: list[str], lazy: list[str], salt: bytes, with_model: dict | None = None
) -> dict:
    """{version, precache: {path: {sha256, bytes}}, lazy: {...}, withModel, bytes}; ``'./'``
    stands for index.html; ``with_model`` maps a model's suffix to the lazy files kept with it.
    The version hashes every listed file and ``salt`` (the service worker's code)."""

    def entries(paths: list[str]) -> dict:
        out = {}
        for path in paths:
            file = site / ("index.html" if path == "./" else path)
            out[path] = {"sha256": _digest(file), "bytes": file.stat().st_size}
        return out

    manifest = {"precache": entries(precache), "lazy": entries(lazy), "withModel": with_model or {}}
    version = hashlib.sha256(salt)
    for group in ("precache", "lazy"):
        for path, entry in sorted(manifest[group].items()):
            version.update(f"{group} {path} {entry['sha256']}\n".encode())
    return {
        "version": version.hexdigest()[:16],
        "bytes": sum(e["bytes"] for e in manifest["precache"].values()),
        **manifest,
    }


def service_worker(template: str, manifest: dict) -> str:
    """sw.js with its BUILD constant set to ``manifest``."""
    if BUILD_PLACEHOLDER not in template:
        raise ValueError(f"sw.js must contain the line {BUILD_PLACEHOLDER!r}")
    filled = "const BUILD = " + json.dumps(manifest, indent=1, sort_keys=True) + ";"
    return template.replace(BUILD_PLACEHOLDER, filled, 1)
