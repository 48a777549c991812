"""One pixel limit for every image the browser takes (web/image-limits.mjs), checked before
anything is decoded by the browser or copied into Python: a refused image costs the tab no
memory (WebAssembly heaps never shrink)."""

from __future__ import annotations

import base64
import io
import re
import struct
import zlib

from PIL import Image as PILImage

from image_classifier.image import MAX_PIXELS

from .support import ROOT, categories, cpython_result

SIDE = 8200  # 67 megapixels: just past the limit
KINDS = ["Blob", "HTMLImageElement", "ImageBitmap", "VideoFrame", "HTMLCanvasElement",
         "OffscreenCanvas", "ImageData"]


def png_bomb(width: int, height: int) -> bytes:
    """A valid gray PNG of width x height black pixels: a few hundred KB that decode to
    width * height * 4 bytes in a browser."""
    chunk = lambda kind, data: (  # noqa: E731
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    )
    compressor = zlib.compressobj(9)
    row = b"\0" * (width + 1)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_the_limit_is_pythons():
    source = (ROOT / "web" / "image-limits.mjs").read_text()
    assert int(re.search(r"MAX_PIXELS = ([\d_]+);", source)[1].replace("_", "")) == MAX_PIXELS
    assert SIDE * SIDE > MAX_PIXELS


def test_every_pixel_source_beyond_the_limit_is_refused_before_any_copy(api_page):
    bomb = png_bomb(SIDE, SIDE)
    assert len(bomb) < 400_000
    outcome = api_page.evaluate(
        """async ([base64, kinds]) => {
            const classifier = await ImageClassifier.createFromOptions(
                {baseOptions: {modelAssetPath: '/models/efficientnet_lite0_fp32.onnx'}, maxResults: 1});
            const heap = async () => (await api.loadRuntime()).memory.pyodideWasm;
            const before = await heap();
            const errors = {};
            try {
              for (const kind of kinds) {
                const image = await imageOf(blobOf(base64, 'image/png'), kind, 'bomb.png');
                const started = performance.now();
                errors[kind] = await classifier.classify(image).then(
                  () => 'classified', (error) => error.message);
                errors[kind] += ` (${Math.round(performance.now() - started)} ms)`;
                image.close?.();
              }
              const after = await heap();
              const result = await classifier.classify(await imageAs('chelsea.png', 'Blob'));
              return {errors, grown: after - before, result};
            } finally { await classifier.close(); }
        }""",
        [base64.b64encode(bomb).decode(), KINDS],
    )
    print(outcome["errors"], f"Pyodide heap grew {outcome['grown'] / 1e6:.1f} MB")
    for kind in KINDS:
        assert outcome["errors"][kind].startswith(
            f"Image is too large: {SIDE}x{SIDE} pixels (the limit is 64 megapixels)."
        ), kind
    assert outcome["grown"] < 16_000_000  # nothing of the 269 MB of pixels reached Python
    expected = cpython_result("efficientnet_lite0_fp32.onnx", "chelsea.png", {"maxResults": 1})
    assert categories(outcome["result"])[0]["index"] == categories(expected)[0]["index"]


def test_sizes_are_read_from_headers_without_decoding(api_page):
    samples = {}
    for fmt, size in [("PNG", (31, 17)), ("JPEG", (45, 23)), ("GIF", (19, 37)),
                      ("WEBP", (53, 29)), ("BMP", (33, 61))]:
        out = io.BytesIO()
        PILImage.new("RGB", size, (10, 200, 30)).save(out, fmt)
        samples[fmt] = [base64.b64encode(out.getvalue()).decode(), list(size)]
    out = io.BytesIO()
    PILImage.new("RGB", (70, 40)).save(out, "WEBP", lossless=True)
    samples["lossless WEBP"] = [base64.b64encode(out.getvalue()).decode(), [70, 40]]
    sizes = api_page.evaluate(
        """async (samples) => {
            const { encodedSize } = await import('/image-limits.mjs');
            const out = {};
            for (const [name, [data]] of Object.entries(samples)) {
              const size = encodedSize(await blobOf(data).arrayBuffer());
              out[name] = size && [size.width, size.height];
            }
            out.garbage = encodedSize(new TextEncoder().encode('not an image at all, just text'));
            return out;
        }""",
        samples,
    )
    for name, (_data, size) in samples.items():
        assert sizes[name] == size, name
    assert sizes["garbage"] is None
