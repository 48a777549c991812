"""The quantized DCT coefficients of a baseline JPEG, Huffman-decoded in Python exactly as
stb_image decodes them: what ``jpeg`` decodes in numpy where stb_image itself (libstb) is not
installed, as in Pyodide. 50-70 CPU ms for a 0.3-megapixel photo.

Handles one scan holding every component (what baseline encoders write); anything else is
``Unsupported`` here.
"""

from __future__ import annotations

import functools
from array import array

import numpy as np

# Where the k-th coefficient of a block, in zigzag order, goes in the row-major 8x8 block.
DEZIGZAG = np.array([
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27,
    20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58,
    59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
])
# Entropy data is looked ahead in windows, so that memory stays a small multiple of the image's.
_WINDOW_BYTES = 1 << 15


class Unsupported(Exception):
    """A valid JPEG that ``jpeg`` leaves to Pillow."""


def corrupt(why: str) -> ValueError:
    return ValueError(f"Image decoding failed: corrupt JPEG ({why}).")


def huffman_coefficients(frame) -> list[np.ndarray]:
    """Every component's (block rows, block columns, 64) coefficients in row-major order
    within a block (int32), the DC with its prediction added, from ``frame`` (a parsed
    ``jpeg._Frame``) and its first scan."""
    header, components = frame.scan_header, frame.components
    count = header[0]
    if frame.progressive or count != len(components):
        raise Unsupported()  # components in separate scans
    if header[1 + 2 * count : 4 + 2 * count] != b"\x00\x3f\x00":
        raise Unsupported()
    by_id = {c["id"]: c for c in components}
    order, tables = [], []
    for i in range(count):
        component = by_id[header[1 + 2 * i]]
        coefficients = array("i", bytes(4 * component["bx"] * component["by"] * 64))
        dc = _huffman_table(0, *frame.huffman[0, header[2 + 2 * i] >> 4])[0]
        ac, fast = _huffman_table(1, *frame.huffman[1, header[2 + 2 * i] & 15])
        order.append(component)
        tables.append((dc, ac, fast, coefficients))
    _entropy_decode(frame, order, tables, _segments(frame.data, frame.scan_pos))
    decoded = {c["id"]: coefficients for c, (*_, coefficients) in zip(order, tables)}
    natural = np.argsort(DEZIGZAG)
    return [
        np.frombuffer(decoded[c["id"]], np.int32).reshape(c["by"], c["bx"], 64)[..., natural]
        for c in components
    ]


def _entropy_decode(frame, order: list[dict], tables: list, segments: list[bytes]) -> None:
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
        j, i = np.arange(frame.mcu_y)[:, None, None], np.arange(frame.mcu_x)[:, None]
        bases = ((j * v + y) * bx + i * h + x) * 64
        components = np.broadcast_to(n, bases.shape)
        per_unit = len(blocks)
    bases, components = bases.reshape(-1).tolist(), components.reshape(-1).tolist()
    per_segment = (frame.restart_interval or len(bases)) * per_unit
    if -(-len(bases) // per_segment) > len(segments):
        raise corrupt("the image data ends early")
    for n, start in enumerate(range(0, len(bases), per_segment)):
        end = start + per_segment
        _decode_segment(segments[n], components[start:end], bases[start:end], tables)


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
                raise corrupt("bad Huffman table")
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
            raise corrupt("bad Huffman code")
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
                    raise corrupt("too many coefficients")
                out[base + k] = entry >> 12
                k += 1
                continue
            code = ac[peek[p]]
            if not code:
                raise corrupt("bad Huffman code")
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
                raise corrupt("too many coefficients")
            out[base + k] = value
            k += 1
    if origin * 8 + p > len(segment) * 8:
        raise corrupt("the image data ends early")
