"""The gzipped copies of a site's files (FILE.gz beside FILE), made by the build.

site_server.py sends a file's copy with ``Content-Encoding: gzip`` to a browser that accepts
gzip, as nginx's ``gzip_static`` or any host's precompressed files do: the code and the
snapshot a start downloads travel in a third of their size. A copy is kept only while it holds
its file exactly (checked by gzip's own trailer, not by modification times, which npm's files
do not keep).
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

# What is worth a copy: the code and the snapshot, when gzip saves a fifth of them or more
# (models and zips barely shrink).
COMPRESSED_SUFFIXES = (".wasm", ".bin", ".js", ".mjs", ".json")
COMPRESSED_MIN_BYTES = 64 * 1024  # below that, a request costs more than its bytes
COMPRESSED_MAX_RATIO = 0.8


def _is_gzip_of(packed: Path, data: bytes) -> bool:
    """Whether ``packed`` holds ``data`` (by gzip's trailer: the CRC-32 and size of what it holds)."""
    if not packed.exists() or packed.stat().st_size < 8:
        return False
    crc, size = struct.unpack("<II", packed.read_bytes()[-8:])
    return size == len(data) & 0xFFFFFFFF and crc == zlib.crc32(data)


def precompress(files: list[Path]) -> list[Path]:
    """Writes FILE.gz beside each of ``files`` worth compressing (unless it holds FILE already)
    and removes it beside the others; returns those written or kept."""
    written = []
    for path in files:
        packed = path.with_name(path.name + ".gz")
        data = path.read_bytes() if path.suffix in COMPRESSED_SUFFIXES else b""
        if len(data) < COMPRESSED_MIN_BYTES:
            packed.unlink(missing_ok=True)  # a stale copy would be sent instead of the file
            continue
        if not _is_gzip_of(packed, data):
            compressed = gzip.compress(data, compresslevel=6, mtime=0)
            if len(compressed) > len(data) * COMPRESSED_MAX_RATIO:
                packed.unlink(missing_ok=True)
                continue
            packed.write_bytes(compressed)
        written.append(packed)
    return written
