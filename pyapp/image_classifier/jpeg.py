"""Baseline JPEG decoding with the pixels of MediaPipe's ``Image.create_from_file``.

MediaPipe 1.2.3 decodes image files with stb_image (``stbi_load`` in its C API's
``MpImageCreateFromFile``). Its integer IDCT (12-bit constants), chroma upsampling (a uniform
+8 rounding bias, and a quirk at the right edge of 2:1 horizontal upsampling) and YCbCr→RGB
arithmetic differ from libjpeg-turbo's (Pillow, browsers) by up to 3 grey levels on a few
percent of the pixels, which moves scores by up to 4e-3. This module reproduces stb_image's
arithmetic exactly (its SSE2 kernels are bit-identical to its scalar ones): Huffman decoding
in Python, the rest vectorized in numpy.

Only what MediaPipe users feed it most is handled here: 8-bit baseline (sequential Huffman)
JPEGs with 1 or 3 components in one scan. ``decode`` returns None for anything else
(progressive, CMYK, arithmetic coding...), which the caller then decodes with Pillow.
"""

from __future__ import annotations

import functools
from array import array

import numpy as np

# Where the k-th coefficient of a block, in zigzag order, goes in the row-major 8x8 block.
_DEZIGZAG = np.array([
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27,
    20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58,
    59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
])
_SOF_BASELINE = (0xC0, 0xC1)  # baseline and extended sequential Huffman
_SOF_OTHER = {0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
# Memory stays a small multiple of the image's: entropy data is looked ahead in windows,
# coefficients are kept as int32, and the IDCT and colour conversion go in stripes.
_WINDOW_BYTES = 1 << 15
_STRIPE_BLOCKS = 1 << 13
_STRIPE_ROWS = 256


class _Unsupported(Exception):
    """A valid JPEG this decoder leaves to Pillow."""


def _corrupt(why: str) -> ValueError:
    return ValueError(f"Image decoding failed: corrupt JPEG ({why}).")


def decode(encoded: bytes) -> np.ndarray | None:
    """(height, width, 3) RGB or (height, width) grey pixels as stb_image decodes them, not
    yet turned by the EXIF orientation; None for a JPEG this module does not handle.

    Raises:
      ValueError: The JPEG is corrupt or truncated.
    """
    try:
        return _Decoder(encoded).pixels()
    except _Unsupported:
        return None
    except (IndexError, KeyError, OverflowError) as error:
        raise _corrupt(f"{type(error).__name__}") from None


class _Decoder:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.quant: dict[int, np.ndarray] = {}
        # (kind, table) -> the 16-bit lookahead's code (``_huffman_tables``); AC tables also
        # with their ``_fast_ac`` table: (lookahead table, fast table).
        self.huffman: dict[tuple[int, int], tuple[list[int], list[int] | None]] = {}
        self.restart_interval = 0
        self.components: list[dict] = []
        self.jfif = False
        self.adobe_transform = -1

    def pixels(self) -> np.ndarray:
        data, pos = self.data, 2
        if data[:2] != b"\xff\xd8":
            raise _Unsupported()
        while True:
            while data[pos] == 0xFF and data[pos + 1] == 0xFF:  # fill bytes
                pos += 1
            if data[pos] != 0xFF:
                raise _corrupt("expected a marker")
            marker = data[pos + 1]
            length = int.from_bytes(data[pos + 2 : pos + 4], "big")
            segment = data[pos + 4 : pos + 2 + length]
            if len(segment) != length - 2:
                raise _corrupt("truncated segment")
            pos += 2 + length
            if marker in _SOF_OTHER:
                raise _Unsupported()
            if marker in _SOF_BASELINE:
                self._frame(segment)
            elif marker == 0xDB:
                self._quantization(segment)
            elif marker == 0xC4:
                self._huffman_tables(segment)
            elif marker == 0xDD:
                self.restart_interval = int.from_bytes(segment[:2], "big")
            elif marker == 0xE0 and segment[:5] == b"JFIF\0":
                self.jfif = True
            elif marker == 0xEE and segment[:5] == b"Adobe" and len(segment) >= 12:
                self.adobe_transform = segment[11]
            elif marker == 0xDA:
                return self._scan(segment, pos)
            elif marker == 0xD9:
                raise _corrupt("no image data")

    def _frame(self, segment: bytes) -> None:
        precision, height, width, count = (
            segment[0], int.from_bytes(segment[1:3], "big"),
            int.from_bytes(segment[3:5], "big"), segment[5],
        )
        if precision != 8 or count not in (1, 3):
            raise _Unsupported()
        if height == 0 or width == 0:
            raise _corrupt("no width or height")
        self.width, self.height = width, height
        for i in range(count):
            ident, sampling, table = segment[6 + 3 * i : 9 + 3 * i]
            h, v = sampling >> 4, sampling & 15
            if not (1 <= h <= 4 and 1 <= v <= 4):
                raise _corrupt("bad sampling factors")
            self.components.append({"id": ident, "h": h, "v": v, "tq": table})
        self.h_max = max(c["h"] for c in self.components)
        self.v_max = max(c["v"] for c in self.components)
        if any(self.h_max % c["h"] or self.v_max % c["v"] for c in self.components):
            raise _corrupt("bad sampling factors")
        self.mcu_x = -(-width // (self.h_max * 8))
        self.mcu_y = -(-height // (self.v_max * 8))
        for c in self.components:
            c["x"] = (width * c["h"] + self.h_max - 1) // self.h_max
            c["y"] = (height * c["v"] + self.v_max - 1) // self.v_max
            c["bx"], c["by"] = self.mcu_x * c["h"], self.mcu_y * c["v"]

    def _quantization(self, segment: bytes) -> None:
        pos = 0
        while pos < len(segment):
            precision, table = segment[pos] >> 4, segment[pos] & 15
            size = 128 if precision else 64
            values = np.frombuffer(segment[pos + 1 : pos + 1 + size], ">u2" if precision else "u1")
            if len(values) != 64 or table > 3:
                raise _corrupt("bad quantization table")
            self.quant[table] = values.astype(np.int32)
            pos += 1 + size

    def _huffman_tables(self, segment: bytes) -> None:
        pos = 0
        while pos < len(segment):
            kind, table = segment[pos] >> 4, segment[pos] & 15
            counts = segment[pos + 1 : pos + 17]
            symbols = segment[pos + 17 : pos + 17 + sum(counts)]
            if len(counts) != 16 or len(symbols) != sum(counts) or kind > 1 or table > 3:
                raise _corrupt("bad Huffman table")
            self.huffman[kind, table] = _huffman_table(kind, bytes(counts), bytes(symbols))
            pos += 17 + len(symbols)

    def _scan(self, header: bytes, pos: int) -> np.ndarray:
        if not self.components:
            raise _corrupt("scan before frame")
        count = header[0]
        by_id = {c["id"]: c for c in self.components}
        order = []
        for i in range(count):
            component = by_id[header[1 + 2 * i]]
            component["dc"] = self.huffman[0, header[2 + 2 * i] >> 4][0]
            component["ac"], component["fast"] = self.huffman[1, header[2 + 2 * i] & 15]
            order.append(component)
        if count != len(self.components):
            raise _Unsupported()  # components in separate scans
        if header[1 + 2 * count : 4 + 2 * count] != b"\x00\x3f\x00":
            raise _Unsupported()
        for c in self.components:
            c["coefficients"] = array("i", bytes(4 * c["bx"] * c["by"] * 64))
        self._entropy_decode(order, _segments(self.data, pos))
        planes = [self._plane(c) for c in self.components]
        return self._to_pixels(planes)

    def _entropy_decode(self, order: list[dict], segments: list[bytes]) -> None:
        """Huffman-decodes every block, in MCU order, into the components' coefficient lists."""
        if len(order) == 1:  # one component: blocks in raster order, only those of the image
            c = order[0]
            rows, columns = np.arange(-(-c["y"] // 8)), np.arange(-(-c["x"] // 8))
            bases = (rows[:, None] * c["bx"] + columns) * 64
            components = np.zeros_like(bases)
            per_unit = 1
        else:  # in each MCU, every component's v x h blocks
            blocks = [(n, c["v"], c["h"], c["bx"], y, x) for n, c in enumerate(order)
                      for y in range(c["v"]) for x in range(c["h"])]
            n, v, h, bx, y, x = (np.array(column) for column in zip(*blocks))
            j, i = np.arange(self.mcu_y)[:, None, None], np.arange(self.mcu_x)[:, None]
            bases = ((j * v + y) * bx + i * h + x) * 64
            components = np.broadcast_to(n, bases.shape)
            per_unit = len(blocks)
        bases, components = bases.reshape(-1).tolist(), components.reshape(-1).tolist()
        per_segment = (self.restart_interval or len(bases)) * per_unit
        if -(-len(bases) // per_segment) > len(segments):
            raise _corrupt("the image data ends early")
        tables = [(c["dc"], c["ac"], c["fast"], c["coefficients"]) for c in order]
        for n, start in enumerate(range(0, len(bases), per_segment)):
            end = start + per_segment
            _decode_segment(segments[n], components[start:end], bases[start:end], tables)

    def _plane(self, c: dict) -> np.ndarray:
        """A component's samples: dequantized (as stb, into 16-bit), then stb's IDCT."""
        zigzag = np.frombuffer(c.pop("coefficients"), dtype=np.int32).reshape(-1, 64)
        if c["tq"] not in self.quant:
            raise _corrupt("missing quantization table")
        samples = np.empty((len(zigzag), 8, 8), np.uint8)
        for start in range(0, len(zigzag), _STRIPE_BLOCKS):
            stripe = zigzag[start : start + _STRIPE_BLOCKS]
            blocks = np.zeros_like(stripe)
            blocks[:, _DEZIGZAG] = (stripe * self.quant[c["tq"]]).astype(np.int16)
            samples[start : start + _STRIPE_BLOCKS] = _idct(blocks.reshape(-1, 8, 8))
        return (
            samples.reshape(c["by"], c["bx"], 8, 8).transpose(0, 2, 1, 3)
            .reshape(c["by"] * 8, c["bx"] * 8)
        )

    def _to_pixels(self, planes: list[np.ndarray]) -> np.ndarray:
        """Upsampled and colour-converted, a stripe of rows at a time."""
        resamplers = []
        for c, plane in zip(self.components, planes):
            hs, vs = self.h_max // c["h"], self.v_max // c["v"]
            plane = plane[: c["y"], : c["x"]]
            resamplers.append((plane, hs, vs, *_source_rows(plane.shape[0], vs, self.height)))
        is_rgb = len(planes) == 3 and (
            [c["id"] for c in self.components] == [82, 71, 66]
            or (self.adobe_transform == 0 and not self.jfif)
        )
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
            elif is_rgb:
                pixels[rows] = np.stack(samples, axis=2)
            else:
                pixels[rows] = _ycbcr_to_rgb(*samples)
        return pixels


def _segments(data: bytes, pos: int) -> list[bytes]:
    """The entropy-coded data after a scan header, split at restart markers, unstuffed."""
    marks = np.flatnonzero(np.frombuffer(data, np.uint8, offset=pos) == 0xFF) + pos
    segments, current, start = [], [], pos
    for mark in marks.tolist():
        if mark < start:
            continue
        following = data[mark + 1] if mark + 1 < len(data) else 0xD9
        if following == 0x00:
            current.append(data[start : mark + 1])
            start = mark + 2
        elif following == 0xFF:
            current.append(data[start:mark])
            start = mark + 1
        elif 0xD0 <= following <= 0xD7:
            current.append(data[start:mark])
            segments.append(b"".join(current))
            current, start = [], mark + 2
        else:
            break
    else:
        mark = len(data)
    current.append(data[start:mark])
    segments.append(b"".join(current))
    return segments


@functools.lru_cache(maxsize=16)
def _huffman_table(kind: int, counts: bytes, symbols: bytes) -> tuple[list[int], list[int] | None]:
    """A 16-bit lookahead -> (code length << 8 | symbol), 0 for no code; for an AC table, its
    ``_fast_ac`` table too. Kept for the next photos: most encoders use the same few tables,
    and building the lists costs more than decoding a small photo's blocks."""
    lookup = np.zeros(1 << 16, dtype=np.int32)
    code, k = 0, 0
    for length in range(1, 17):
        for _ in range(counts[length - 1]):
            if code >= 1 << length:
                raise _corrupt("bad Huffman table")
            shift = 16 - length
            lookup[code << shift : (code + 1) << shift] = length << 8 | symbols[k]
            code, k = code + 1, k + 1
        code <<= 1
    return lookup.tolist(), _fast_ac(lookup) if kind else None


def _fast_ac(lookup: np.ndarray) -> list[int]:
    """For every 16-bit lookahead whose AC code and value bits both fit in it (stb's
    ``fast_ac``, on 16 bits instead of 9): value * 4096 + run << 5 + bits taken; 0 for the
    others (end of block, 16 zeros, longer codes), which take the slow path."""
    bits = np.arange(1 << 16, dtype=np.int64)
    length, symbol = lookup >> 8, lookup & 255
    run, size = symbol >> 4, symbol & 15
    taken = length + size
    usable = (lookup != 0) & (size > 0) & (taken <= 16)
    extra = (bits >> np.where(usable, 16 - taken, 0)) & ((1 << size) - 1)
    value = np.where(extra < (1 << np.maximum(size - 1, 0)), extra - (1 << size) + 1, extra)
    return np.where(usable, value * 4096 + (run << 5) + taken, 0).tolist()


def _lookahead(segment: bytes) -> list[int]:
    """The 16 bits starting at every bit position of ``segment`` (zeros past its end, as stb
    feeds)."""
    padded = np.frombuffer(segment + b"\0" * 4, np.uint8).astype(np.uint32)
    words = padded[:-3] << 24 | padded[1:-2] << 16 | padded[2:-1] << 8 | padded[3:]
    shifts = np.arange(16, 8, -1, dtype=np.uint32)
    peek = ((words[:, None] >> shifts) & 0xFFFF).reshape(-1)
    return peek.tolist()


def _decode_segment(segment: bytes, components: list[int], bases: list[int],
                    tables: list) -> None:
    """Decodes the blocks of one restart interval: for each component and offset, its 64
    coefficients (zigzag order, the DC with its prediction added) into that component's list
    at that offset. One loop, locals only: this is the hot path of decoding."""
    origin, peek = 0, _lookahead(segment[:_WINDOW_BYTES])
    limit = (_WINDOW_BYTES - 1024) * 8  # a block takes at most 256 bytes
    predictions = [0] * len(tables)
    p = 0
    for n, base in zip(components, bases):
        if p > limit:  # move the window on
            origin, p = origin + (p >> 3), p & 7
            peek = _lookahead(segment[origin : origin + _WINDOW_BYTES])
        dc, ac, fast, out = tables[n]
        code = dc[peek[p]]
        if not code or code & 255 > 16:
            raise _corrupt("bad Huffman code")
        p += code >> 8
        size = code & 255
        if size:
            diff = peek[p] >> (16 - size)
            p += size
            if diff < 1 << (size - 1):
                diff -= (1 << size) - 1
            predictions[n] += diff
        out[base] = predictions[n]
        k = 1
        while k < 64:
            entry = fast[peek[p]]
            if entry:  # most coefficients: code and value in one lookup
                p += entry & 31
                k += (entry >> 5) & 15
                if k > 63:
                    raise _corrupt("too many coefficients")
                out[base + k] = entry >> 12
                k += 1
                continue
            code = ac[peek[p]]
            if not code:
                raise _corrupt("bad Huffman code")
            p += code >> 8
            size = code & 15
            if not size:
                if code & 255 != 0xF0:
                    break
                k += 16
                continue
            k += (code >> 4) & 15
            value = peek[p] >> (16 - size)
            p += size
            if value < 1 << (size - 1):
                value -= (1 << size) - 1
            if k > 63:
                raise _corrupt("too many coefficients")
            out[base + k] = value
            k += 1
    if origin * 8 + p > len(segment) * 8:
        raise _corrupt("the image data ends early")


def _f2f(x: float) -> int:
    """stb's stbi__f2f: a constant in 12-bit fixed point, rounded in float32."""
    return int(float(np.float32(x)) * 4096 + 0.5)


_K = {name: np.int32(_f2f(x)) for name, x in {
    "c0": 0.5411961, "c1": -1.847759065, "c2": 0.765366865, "c3": 1.175875602,
    "c4": 0.298631336, "c5": 2.053119869, "c6": 3.072711026, "c7": 1.501321110,
    "c8": -0.899976223, "c9": -2.562915447, "c10": -1.961570560, "c11": -0.390180644,
}.items()}


def _idct_1d(s: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """stb's STBI__IDCT_1D on int32 arrays: the even part (x0..x3) and odd part (t0..t3)."""
    k = _K
    p1 = (s[2] + s[6]) * k["c0"]
    t2 = p1 + s[6] * k["c1"]
    t3 = p1 + s[2] * k["c2"]
    t0 = (s[0] + s[4]) << 12
    t1 = (s[0] - s[4]) << 12
    x = [t0 + t3, t1 + t2, t1 - t2, t0 - t3]
    t0, t1, t2, t3 = s[7], s[5], s[3], s[1]
    p3, p4, p1, p2 = t0 + t2, t1 + t3, t0 + t3, t1 + t2
    p5 = (p3 + p4) * k["c3"]
    t0, t1, t2, t3 = t0 * k["c4"], t1 * k["c5"], t2 * k["c6"], t3 * k["c7"]
    p1, p2 = p5 + p1 * k["c8"], p5 + p2 * k["c9"]
    p3, p4 = p3 * k["c10"], p4 * k["c11"]
    return x, [t0 + p1 + p3, t1 + p2 + p4, t2 + p2 + p3, t3 + p1 + p4]


def _butterfly(x: list[np.ndarray], t: list[np.ndarray], bias: int, shift: int) -> np.ndarray:
    x = [v + np.int32(bias) for v in x]
    return np.stack([
        (x[0] + t[3]) >> shift, (x[1] + t[2]) >> shift, (x[2] + t[1]) >> shift,
        (x[3] + t[0]) >> shift, (x[3] - t[0]) >> shift, (x[2] - t[1]) >> shift,
        (x[1] - t[2]) >> shift, (x[0] - t[3]) >> shift,
    ], axis=-1)


def _idct(blocks: np.ndarray) -> np.ndarray:
    """stb's stbi__idct_block on (n, 8, 8) dequantized blocks: 0..255 samples (int32)."""
    columns = _butterfly(*_idct_1d([blocks[:, r, :] for r in range(8)]), 512, 10)  # n, col, row
    rows = _butterfly(*_idct_1d([columns[:, c, :] for c in range(8)]), 65536 + (128 << 17), 17)
    return np.clip(rows, 0, 255)  # n, row, col


def _source_rows(plane_height: int, vs: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """stb's row walk: for every output row, the (near, far) rows of the component."""
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
    return np.array(near), np.array(far)


def _upsample(
    plane: np.ndarray, hs: int, vs: int, near: np.ndarray, far: np.ndarray, width: int
) -> np.ndarray:
    """stb's resampling of one component, for the output rows whose source rows are ``near``
    and ``far`` (int32 samples)."""
    near_rows, far_rows = plane[near].astype(np.int32), plane[far].astype(np.int32)
    height, w = len(near), plane.shape[1]
    if hs == 1 and vs == 1:
        out = near_rows
    elif hs == 1 and vs == 2:
        out = (3 * near_rows + far_rows + 2) >> 2
    elif hs == 2 and vs == 1:
        out = _upsample_h2(near_rows)
    elif hs == 2 and vs == 2:
        t = 3 * near_rows + far_rows
        if w == 1:
            out = np.repeat((t + 2) >> 2, 2, axis=1)
        else:
            previous = np.concatenate([t[:, :1], t[:, :-1]], axis=1)
            following = np.concatenate([t[:, 1:], t[:, -1:]], axis=1)
            out = np.empty((height, 2 * w), np.int32)
            out[:, 0::2] = (3 * t + previous + 8) >> 4
            out[:, 1::2] = (3 * t + following + 8) >> 4
    else:
        out = np.repeat(near_rows, hs, axis=1)
    return out[:, :width]


def _upsample_h2(rows: np.ndarray) -> np.ndarray:
    """stb's stbi__resample_row_h_2, its right edge included (it weights the next-to-last
    sample by 3 there)."""
    w = rows.shape[1]
    if w == 1:
        return np.repeat(rows, 2, axis=1)
    out = np.empty((rows.shape[0], 2 * w), np.int32)
    out[:, 0] = rows[:, 0]
    out[:, 1] = (rows[:, 0] * 3 + rows[:, 1] + 2) >> 2
    middle = 3 * rows[:, 1:-1] + 2
    out[:, 2:-2:2] = (middle + rows[:, :-2]) >> 2
    out[:, 3:-2:2] = (middle + rows[:, 2:]) >> 2
    out[:, -2] = (rows[:, -2] * 3 + rows[:, -1] + 2) >> 2
    out[:, -1] = rows[:, -1]
    return out


def _fixed(x: float) -> np.int32:
    """stb's stbi__float2fixed."""
    return np.int32(int(np.float32(x) * np.float32(4096) + np.float32(0.5)) << 8)


def _ycbcr_to_rgb(y: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> np.ndarray:
    """stb's stbi__YCbCr_to_RGB_row (its SIMD version gives the same bytes)."""
    base = (y << 20) + np.int32(1 << 19)
    cr, cb = cr - 128, cb - 128
    r = base + cr * _fixed(1.40200)
    g = base + cr * -_fixed(0.71414) + ((cb * -_fixed(0.34414)) & np.int32(-65536))
    b = base + cb * _fixed(1.77200)
    return np.clip(np.stack([r, g, b], axis=2) >> 20, 0, 255).astype(np.uint8)
