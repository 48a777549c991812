"""JPEG decoding with the pixels of MediaPipe's ``Image.create_from_file``.

MediaPipe 1.2.3 decodes image files with stb_image (``stbi_load`` in its C API's
``MpImageCreateFromFile``). Its integer IDCT (12-bit constants), chroma upsampling (a uniform
+8 rounding bias, and a quirk at the right edge of 2:1 horizontal upsampling) and YCbCr→RGB
arithmetic differ from libjpeg-turbo's (Pillow, browsers) by up to 3 grey levels on a few
percent of the pixels, which moves scores by up to 4e-3. So JPEGs are decoded by stb_image:

- on CPython, stb_image itself (the libstb package: upstream stb_image.h, byte for byte, in
  C; 1.5 CPU ms for a 0.3-megapixel photo);
- in Pyodide, which has no build of it, its arithmetic reproduced exactly in numpy (its SSE2
  kernels are bit-identical to its scalar ones), on the quantized DCT coefficients of
  ``jpeg_entropy``'s Huffman decoding in Python (50-70 ms).

``_Frame`` reads the headers first, so that both decode the same JPEGs: 8-bit ones with 1 or
3 components, baseline, and progressive ones on CPython. ``decode`` returns None for anything
else (CMYK, arithmetic coding, 12-bit...), which the caller then decodes with Pillow, and
refuses a JPEG whose image data ends early (stb_image would fill the rest with grey).
"""

from __future__ import annotations

import functools
import sys

import numpy as np

from .jpeg_entropy import DEZIGZAG, Unsupported, corrupt, huffman_coefficients

if sys.platform == "emscripten":
    libstb = None  # Pyodide has no build of stb_image: its arithmetic runs in numpy there
else:
    import libstb

_SOF_SEQUENTIAL = (0xC0, 0xC1)  # baseline and extended sequential Huffman
_SOF_PROGRESSIVE = 0xC2
_SOF_OTHER = {0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
# Memory stays a small multiple of the image's: the IDCT and colour conversion go in stripes
# (of a size whose IDCT's temporaries stay in cache: 2x faster than 4096 blocks here).
_STRIPE_BLOCKS = 1 << 11
_STRIPE_ROWS = 64


def decode(encoded: bytes) -> np.ndarray | None:
    """(height, width, 3) RGB or (height, width) grey pixels as stb_image decodes them, not
    yet turned by the EXIF orientation; None for a JPEG this module does not handle.

    Raises:
      ValueError: The JPEG is corrupt or truncated.
    """
    return _decode(encoded, numpy_pixels if libstb is None else stb_pixels)


def _decode(encoded: bytes, pixels_of) -> np.ndarray | None:
    """``decode`` with the given decoder of a read frame (``stb_pixels`` or
    ``numpy_pixels``)."""
    try:
        return pixels_of(_Frame(encoded))
    except Unsupported:
        return None
    except (IndexError, KeyError, OverflowError) as error:
        raise corrupt(f"{type(error).__name__}") from None


def stb_pixels(frame: _Frame) -> np.ndarray:
    """The frame's pixels from stb_image itself (libstb, which raises on what stb refuses)."""
    if frame.end_of_image < 0:
        raise corrupt("the image data ends early")
    try:
        image = libstb.Image.open(np.frombuffer(frame.data, np.uint8),
                                  channels=len(frame.components))
    except libstb.Error as error:
        raise corrupt(str(error)) from None
    pixels = image.numpy()  # a view that keeps the decoded image alive
    if pixels.shape[:2] != (frame.height, frame.width):
        raise corrupt(f"stb_image read {pixels.shape[1]}x{pixels.shape[0]} pixels")
    return pixels[:, :, 0] if pixels.shape[2] == 1 else pixels


def numpy_pixels(frame: _Frame) -> np.ndarray:
    """The frame's pixels by stb_image's arithmetic in numpy, on coefficients Huffman-decoded
    in Python (``jpeg_entropy``)."""
    planes = [
        _samples(blocks, frame.quant[c["tq"]])[: c["y"], : c["x"]]
        for c, blocks in zip(frame.components, huffman_coefficients(frame))
    ]
    return frame.to_pixels(planes)


class _Frame:
    """A JPEG's frame and tables, read up to its first scan."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.quant: dict[int, np.ndarray] = {}
        self.huffman: dict[tuple[int, int], tuple[bytes, bytes]] = {}  # (kind, table) -> code
        self.restart_interval = 0
        self.components: list[dict] = []
        self.progressive = False
        jfif, adobe_transform, pos = False, -1, 2
        if data[:2] != b"\xff\xd8":
            raise Unsupported()
        while True:
            while data[pos] == 0xFF and data[pos + 1] == 0xFF:  # fill bytes
                pos += 1
            if data[pos] != 0xFF:
                raise corrupt("expected a marker")
            marker = data[pos + 1]
            length = int.from_bytes(data[pos + 2 : pos + 4], "big")
            segment = data[pos + 4 : pos + 2 + length]
            if len(segment) != length - 2:
                raise corrupt("truncated segment")
            pos += 2 + length
            if marker in _SOF_OTHER or (marker == _SOF_PROGRESSIVE and libstb is None):
                raise Unsupported()
            if marker in _SOF_SEQUENTIAL or marker == _SOF_PROGRESSIVE:
                self.progressive = marker == _SOF_PROGRESSIVE
                self._read_frame(segment)
            elif marker == 0xDB:
                self._read_quantization(segment)
            elif marker == 0xC4:
                self._read_huffman_tables(segment)
            elif marker == 0xDD:
                self.restart_interval = int.from_bytes(segment[:2], "big")
            elif marker == 0xE0 and segment[:5] == b"JFIF\0":
                jfif = True
            elif marker == 0xEE and segment[:5] == b"Adobe" and len(segment) >= 12:
                adobe_transform = segment[11]
            elif marker == 0xDA:
                break
            elif marker == 0xD9:
                raise corrupt("no image data")
        if not self.components:
            raise corrupt("scan before frame")
        if any(c["tq"] not in self.quant for c in self.components):
            raise corrupt("missing quantization table")
        self.scan_header, self.scan_pos = segment, pos
        # Where the EOI marker after the first scan is; -1 if there is none (truncated). In
        # entropy-coded data every 0xFF byte is followed by 0x00 or a restart marker.
        self.end_of_image = data.find(b"\xff\xd9", pos)
        # Tables redefined between scans would apply to some of them only: Pillow's job.
        if data.find(b"\xff\xdb", pos, self.end_of_image) >= 0:
            raise Unsupported()
        self.is_rgb = len(self.components) == 3 and (
            [c["id"] for c in self.components] == [82, 71, 66]
            or (adobe_transform == 0 and not jfif)
        )

    def _read_frame(self, segment: bytes) -> None:
        precision, height, width, count = (
            segment[0], int.from_bytes(segment[1:3], "big"),
            int.from_bytes(segment[3:5], "big"), segment[5],
        )
        if precision != 8 or count not in (1, 3) or self.components:
            raise Unsupported()
        if height == 0 or width == 0:
            raise corrupt("no width or height")
        self.width, self.height = width, height
        for i in range(count):
            ident, sampling, table = segment[6 + 3 * i : 9 + 3 * i]
            h, v = sampling >> 4, sampling & 15
            if not (1 <= h <= 4 and 1 <= v <= 4):
                raise corrupt("bad sampling factors")
            self.components.append({"id": ident, "h": h, "v": v, "tq": table})
        self.h_max = max(c["h"] for c in self.components)
        self.v_max = max(c["v"] for c in self.components)
        if any(self.h_max % c["h"] or self.v_max % c["v"] for c in self.components):
            raise corrupt("bad sampling factors")
        self.mcu_x = -(-width // (self.h_max * 8))
        self.mcu_y = -(-height // (self.v_max * 8))
        for c in self.components:
            c["x"] = (width * c["h"] + self.h_max - 1) // self.h_max
            c["y"] = (height * c["v"] + self.v_max - 1) // self.v_max
            c["bx"], c["by"] = self.mcu_x * c["h"], self.mcu_y * c["v"]

    def _read_quantization(self, segment: bytes) -> None:
        pos = 0
        while pos < len(segment):
            precision, table = segment[pos] >> 4, segment[pos] & 15
            size = 128 if precision else 64
            values = np.frombuffer(segment[pos + 1 : pos + 1 + size], ">u2" if precision else "u1")
            if len(values) != 64 or table > 3:
                raise corrupt("bad quantization table")
            natural = np.empty(64, np.int32)
            natural[DEZIGZAG] = values
            self.quant[table] = natural.reshape(8, 8)
            pos += 1 + size

    def _read_huffman_tables(self, segment: bytes) -> None:
        pos = 0
        while pos < len(segment):
            kind, table = segment[pos] >> 4, segment[pos] & 15
            counts = segment[pos + 1 : pos + 17]
            symbols = segment[pos + 17 : pos + 17 + sum(counts)]
            if len(counts) != 16 or len(symbols) != sum(counts) or kind > 1 or table > 3:
                raise corrupt("bad Huffman table")
            self.huffman[kind, table] = (bytes(counts), bytes(symbols))
            pos += 17 + len(symbols)

    def to_pixels(self, planes: list[np.ndarray]) -> np.ndarray:
        """The components' samples upsampled and colour-converted, a stripe of rows at a time."""
        resamplers = []
        for c, plane in zip(self.components, planes):
            hs, vs = self.h_max // c["h"], self.v_max // c["v"]
            resamplers.append((plane, hs, vs, *_source_rows(plane.shape[0], vs, self.height)))
        shape = (self.height, self.width) + ((3,) if len(planes) == 3 else ())
        pixels = np.empty(shape, np.uint8)
        for top in range(0, self.height, _STRIPE_ROWS):
            rows = slice(top, top + _STRIPE_ROWS)
            samples = [
                _upsample(plane, hs, vs, near[rows], far[rows], self.width)
                for plane, hs, vs, near, far in resamplers
            ]
            if len(samples) == 1:
                pixels[rows] = samples[0]
            elif self.is_rgb:
                pixels[rows] = np.stack(samples, axis=2)
            else:
                _ycbcr_to_rgb(*samples, out=pixels[rows])
        return pixels


def _samples(blocks: np.ndarray, quant: np.ndarray) -> np.ndarray:
    """A component's samples from its (block rows, block columns, 64) coefficients:
    dequantized as stb does (into 16 bits), then stb's IDCT, a stripe of block rows at a
    time."""
    rows, columns = blocks.shape[:2]
    samples = np.empty((rows, 8, columns, 8), np.uint8)  # block row, y, block column, x
    step = max(1, _STRIPE_BLOCKS // columns)
    for top in range(0, rows, step):
        stripe = blocks[top : top + step].reshape(-1, 8, 8)
        # (y, block, x): the column pass reads each y as one contiguous row.
        by_y = np.ascontiguousarray((stripe * quant).transpose(1, 0, 2))
        by_y <<= 16  # stb keeps the dequantized coefficients in 16 bits
        by_y >>= 16
        columns_done = _idct_pass(by_y.reshape(8, -1), 512, 10).reshape(8, -1, 8)
        by_x = np.ascontiguousarray(columns_done.transpose(2, 1, 0))  # (x, block, y)
        done = _idct_pass(by_x.reshape(8, -1), 65536 + (128 << 17), 17)
        np.clip(done, 0, 255, out=done)
        samples[top : top + step] = done.reshape(8, -1, columns, 8).transpose(1, 3, 2, 0)
    return samples.reshape(rows * 8, columns * 8)


def _f2f(x: float) -> int:
    """stb's stbi__f2f: a constant in 12-bit fixed point, rounded in float32."""
    return int(float(np.float32(x)) * 4096 + 0.5)


_K = [_f2f(x) for x in (
    0.5411961, -1.847759065, 0.765366865, 1.175875602, 0.298631336, 2.053119869,
    3.072711026, 1.501321110, -0.899976223, -2.562915447, -1.961570560, -0.390180644,
)]


def _idct_pass(s: np.ndarray, bias: int, shift: int) -> np.ndarray:
    """stb's STBI__IDCT_1D with its bias and shift, on the 8 int32 rows of ``s`` (input k in
    row k, wrapping as stb's int arithmetic does); returns the 8 outputs the same way. In
    place where it can: this is most of the decoding's numpy time."""
    c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11 = _K
    s0, s1, s2, s3, s4, s5, s6, s7 = s
    # Even part.
    p1 = s2 + s6
    p1 *= c0
    t2 = s6 * c1
    t2 += p1
    t3 = s2 * c2
    t3 += p1
    t0 = s0 + s4
    t0 <<= 12
    t0 += bias
    t1 = s0 - s4
    t1 <<= 12
    t1 += bias
    x0, x3, x1, x2 = t0 + t3, t0 - t3, t1 + t2, t1 - t2
    # Odd part.
    q3, q4, q1, q2 = s7 + s3, s5 + s1, s7 + s1, s5 + s3
    p5 = q3 + q4
    p5 *= c3
    o0, o1, o2, o3 = s7 * c4, s5 * c5, s3 * c6, s1 * c7
    q1 *= c8
    q1 += p5
    q2 *= c9
    q2 += p5
    q3 *= c10
    q4 *= c11
    o0 += q1
    o0 += q3
    o1 += q2
    o1 += q4
    o2 += q2
    o2 += q3
    o3 += q1
    o3 += q4
    out = np.empty_like(s)
    for even, odd, top in ((x0, o3, 0), (x1, o2, 1), (x2, o1, 2), (x3, o0, 3)):
        np.add(even, odd, out=out[top])
        np.subtract(even, odd, out=out[7 - top])
    out >>= shift
    return out


@functools.lru_cache(maxsize=32)
def _source_rows(plane_height: int, vs: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """stb's row walk: for every output row, the (near, far) rows of the component. Kept for
    the next photos of the same size (a walk in Python costs a few tenths of a ms)."""
    near, far, line0, line1, ystep, ypos = [], [], 0, 0, vs >> 1, 0
    for _ in range(height):
        bottom = ystep >= vs >> 1
        near.append(line1 if bottom else line0)
        far.append(line0 if bottom else line1)
        ystep += 1
        if ystep >= vs:
            ystep, line0 = 0, line1
            ypos += 1
            if ypos < plane_height:
                line1 += 1
    near, far = np.array(near), np.array(far)
    near.flags.writeable = far.flags.writeable = False
    return near, far


def _upsample(
    plane: np.ndarray, hs: int, vs: int, near: np.ndarray, far: np.ndarray, width: int
) -> np.ndarray:
    """stb's resampling of one component, for the output rows whose source rows are ``near``
    and ``far``: uint8 samples at full resolution, int16 ones otherwise."""
    if hs == 1 and vs == 1:
        return plane[near[0] : near[-1] + 1]  # stb's walk is the identity there
    near_rows = plane[near].astype(np.int16)
    w = plane.shape[1]
    if hs == 1 and vs == 2:
        near_rows *= 3
        near_rows += plane[far]
        near_rows += 2
        near_rows >>= 2
        return near_rows
    if hs == 2 and vs == 1:
        return _upsample_h2(near_rows)[:, :width]
    if hs == 2 and vs == 2:
        t = near_rows
        t *= 3
        t += plane[far]
        if w == 1:
            return np.repeat((t + 2) >> 2, 2, axis=1)[:, :width]
        out = np.empty((len(near), 2 * w), np.int16)
        tripled = 3 * t + 8
        even, odd = out[:, 0::2], out[:, 1::2]
        np.add(tripled[:, 1:], t[:, :-1], out=even[:, 1:])
        np.add(tripled[:, 0], t[:, 0], out=even[:, 0])
        np.add(tripled[:, :-1], t[:, 1:], out=odd[:, :-1])
        np.add(tripled[:, -1], t[:, -1], out=odd[:, -1])
        out >>= 4
        return out[:, :width]
    return np.repeat(near_rows, hs, axis=1)[:, :width]


def _upsample_h2(rows: np.ndarray) -> np.ndarray:
    """stb's stbi__resample_row_h_2, its right edge included (it weights the next-to-last
    sample by 3 there)."""
    w = rows.shape[1]
    if w == 1:
        return np.repeat(rows, 2, axis=1)
    out = np.empty((rows.shape[0], 2 * w), np.int16)
    out[:, 0] = rows[:, 0]
    out[:, 1] = (rows[:, 0] * 3 + rows[:, 1] + 2) >> 2
    middle = 3 * rows[:, 1:-1] + 2
    out[:, 2:-2:2] = (middle + rows[:, :-2]) >> 2
    out[:, 3:-2:2] = (middle + rows[:, 2:]) >> 2
    out[:, -2] = (rows[:, -2] * 3 + rows[:, -1] + 2) >> 2
    out[:, -1] = rows[:, -1]
    return out


def _fixed(x: float) -> int:
    """stb's stbi__float2fixed."""
    return int(np.float32(x) * np.float32(4096) + np.float32(0.5)) << 8


def _ycbcr_to_rgb(y: np.ndarray, cb: np.ndarray, cr: np.ndarray, out: np.ndarray) -> None:
    """stb's stbi__YCbCr_to_RGB_row (its SIMD version gives the same bytes) into ``out``. stb
    computes ``(y << 20) + (1 << 19) + chroma terms`` in int32 (it never overflows) and shifts
    right by 20; as ``y << 20`` is a multiple of 2^20, that is ``y + (chroma terms + (1 << 19)
    >> 20)``, which keeps the arithmetic at chroma scale."""
    y = y.astype(np.int32)
    cr = cr.astype(np.int32) - 128
    cb = cb.astype(np.int32) - 128
    green = cb * -_fixed(0.34414)
    green &= -65536
    green += cr * -_fixed(0.71414)
    for channel, added in enumerate((cr * _fixed(1.40200), green, cb * _fixed(1.77200))):
        added += 1 << 19
        added >>= 20
        added += y
        np.clip(added, 0, 255, out=added)
        out[..., channel] = added
