"""FlatBuffers by hand: reading tables, and building new buffers in front of existing bytes.

TFLite models and their metadata are FlatBuffers. The ``flatbuffers`` package and the
generated schema classes are not available in Pyodide, and this package needs only a few
fields, so ``tflite`` walks the format directly: a table starts with a signed offset back to
its vtable, the vtable lists each field's position inside the table (0 = absent, read as the
default), and strings, vectors and sub-tables are reached through unsigned forward offsets.

``build`` writes the other direction, parents before children, so every offset points
forward as the format requires; objects of bytes appended after the new buffer (``tail``)
are referred to with ``Ref``. That is how metadata is added to a model without re-encoding
it: a new root table in front, pointing into the untouched original bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Union


class FlatBufferError(ValueError):
    """The bytes are not a well-formed FlatBuffer."""


def _read(data: memoryview, fmt: str, position: int) -> Any:
    if position < 0 or position + struct.calcsize(fmt) > len(data):
        raise FlatBufferError("The FlatBuffer is truncated or corrupt.")
    return struct.unpack_from(fmt, data, position)[0]


class Table:
    """One FlatBuffers table; fields are read by slot number (their order in the schema,
    counting a union as two slots: its type, then its value)."""

    __slots__ = ("data", "position", "_vtable", "_vtable_size")

    def __init__(self, data: memoryview, position: int) -> None:
        self.data = data
        self.position = position
        self._vtable = position - _read(data, "<i", position)
        self._vtable_size = _read(data, "<H", self._vtable)

    @classmethod
    def root(cls, data: bytes, identifier: Optional[bytes] = None) -> Table:
        """The root table of a buffer; ValueError if its 4-byte file identifier differs."""
        view = memoryview(data)
        if identifier is not None and bytes(view[4:8]) != identifier:
            raise ValueError(
                f"Expected FlatBuffer identifier {identifier.decode()!r}, "
                f"got {bytes(view[4:8])!r}."
            )
        return cls(view, _read(view, "<I", 0))

    def _field(self, slot: int) -> int:
        """The absolute position of a field's inline value, 0 when absent."""
        entry = 4 + 2 * slot
        if entry >= self._vtable_size:
            return 0
        offset = _read(self.data, "<H", self._vtable + entry)
        return self.position + offset if offset else 0

    def has(self, slot: int) -> bool:
        return self._field(slot) != 0

    def scalar(self, slot: int, fmt: str, default: Any = 0) -> Any:
        position = self._field(slot)
        return _read(self.data, fmt, position) if position else default

    def target(self, slot: int) -> int:
        """Where an offset field points (string, vector or table), 0 when absent."""
        position = self._field(slot)
        return position + _read(self.data, "<I", position) if position else 0

    def table(self, slot: int) -> Optional[Table]:
        position = self.target(slot)
        return Table(self.data, position) if position else None

    def string(self, slot: int) -> Optional[str]:
        position = self.target(slot)
        return _string(self.data, position) if position else None

    def _vector(self, slot: int) -> tuple[int, int]:
        """(position of the first element, length); (0, 0) when absent."""
        position = self.target(slot)
        if not position:
            return 0, 0
        return position + 4, _read(self.data, "<I", position)

    def scalars(self, slot: int, fmt: str) -> tuple:
        start, length = self._vector(slot)
        size = struct.calcsize(fmt)
        if start + size * length > len(self.data):
            raise FlatBufferError("The FlatBuffer is truncated or corrupt.")
        if not length:
            return ()
        return struct.unpack_from(f"<{length}{fmt.lstrip('<')}", self.data, start)

    def bytes(self, slot: int) -> Optional[memoryview]:
        """A [ubyte] vector as a view, None when absent."""
        position = self.target(slot)
        if not position:
            return None
        length = _read(self.data, "<I", position)
        if position + 4 + length > len(self.data):
            raise FlatBufferError("The FlatBuffer is truncated or corrupt.")
        return self.data[position + 4 : position + 4 + length]

    def _offsets(self, slot: int) -> list[int]:
        start, length = self._vector(slot)
        return [
            start + 4 * i + _read(self.data, "<I", start + 4 * i) for i in range(length)
        ]

    def tables(self, slot: int) -> list[Table]:
        return [Table(self.data, position) for position in self._offsets(slot)]

    def vector_targets(self, slot: int) -> list[int]:
        """Where each element of a vector of tables or strings starts."""
        return self._offsets(slot)

    def slots(self) -> list[int]:
        """The slots present in this table."""
        count = (self._vtable_size - 4) // 2
        return [slot for slot in range(count) if self._field(slot)]


def _string(data: memoryview, position: int) -> str:
    length = _read(data, "<I", position)
    if position + 4 + length > len(data):
        raise FlatBufferError("The FlatBuffer is truncated or corrupt.")
    return bytes(data[position + 4 : position + 4 + length]).decode("utf-8")


# --- building --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Vector:
    """A vector: of scalars when ``fmt`` is a struct format, else of tables, strings or Refs.
    ``align`` aligns the first element (TFLite asks 16 for buffer data)."""

    items: Sequence
    fmt: Optional[str] = None
    align: int = 4


@dataclass(frozen=True)
class Ref:
    """An object (table, string or vector) of the tail, by its position in the tail."""

    position: int


Value = Union[tuple, str, Vector, Ref, dict]
"""A field value: ``(fmt, number)`` for a scalar, or a string, Vector, Ref, or table
(``{slot: value}``)."""


class _Builder:
    def __init__(self) -> None:
        self.buffer = bytearray()
        self.tail_offsets: list[tuple[int, int]] = []  # (offset field, position in the tail)

    def pad(self, align: int, before: int = 0) -> None:
        """Pads so that ``before`` bytes from now the buffer is aligned to ``align``."""
        self.buffer += bytes(-(len(self.buffer) + before) % align)

    def point(self, field: int, value: Value) -> None:
        """Writes ``value`` and makes the offset field at ``field`` point to it."""
        if isinstance(value, Ref):
            self.tail_offsets.append((field, value.position))
            return
        target = self.write(value)
        struct.pack_into("<I", self.buffer, field, target - field)

    def write(self, value: Value) -> int:
        if isinstance(value, str):
            data = value.encode("utf-8")
            self.pad(4)
            position = len(self.buffer)
            self.buffer += struct.pack("<I", len(data)) + data + b"\0"
            return position
        if isinstance(value, Vector):
            return self._vector(value)
        if isinstance(value, dict):
            return self._table(value)
        raise TypeError(f"Cannot write {type(value).__name__} as a FlatBuffer object.")

    def _vector(self, vector: Vector) -> int:
        if vector.fmt is not None:
            self.pad(max(4, vector.align, struct.calcsize(vector.fmt)), before=4)
            position = len(self.buffer)
            count = len(vector.items)
            self.buffer += struct.pack("<I", count)
            if isinstance(vector.items, (bytes, bytearray, memoryview)):
                self.buffer += vector.items
            else:
                self.buffer += struct.pack(f"<{count}{vector.fmt.lstrip('<')}", *vector.items)
            return position
        self.pad(4)
        position = len(self.buffer)
        self.buffer += struct.pack("<I", len(vector.items)) + bytes(4 * len(vector.items))
        for i, item in enumerate(vector.items):
            self.point(position + 4 + 4 * i, item)
        return position

    def _table(self, fields: dict) -> int:
        # Inline layout: the vtable offset, then fields by decreasing size (so each is aligned
        # when the table is aligned to its largest field).
        sizes = {
            slot: struct.calcsize(value[0]) if isinstance(value, tuple) else 4
            for slot, value in fields.items()
        }
        layout, size = {}, 4
        for slot in sorted(fields, key=lambda s: (-sizes[s], s)):
            size += -size % sizes[slot]
            layout[slot] = size
            size += sizes[slot]
        align = max([4, *sizes.values()])
        size += -size % align
        slot_count = max(fields, default=-1) + 1
        vtable = struct.pack(
            f"<{2 + slot_count}H", 4 + 2 * slot_count, size,
            *(layout.get(slot, 0) for slot in range(slot_count)),
        )
        self.pad(2)
        vtable_position = len(self.buffer)
        self.buffer += vtable
        self.pad(align)
        position = len(self.buffer)
        self.buffer += bytes(size)
        struct.pack_into("<i", self.buffer, position, position - vtable_position)
        for slot, value in fields.items():
            if isinstance(value, tuple):
                struct.pack_into(value[0], self.buffer, position + layout[slot], value[1])
        for slot in sorted(fields):
            if not isinstance(fields[slot], tuple):
                self.point(position + layout[slot], fields[slot])
        return position


def build(root: dict, identifier: bytes, tail: bytes = b"", tail_align: int = 16) -> bytes:
    """A FlatBuffer with ``root`` as its root table, followed by ``tail`` (placed at a multiple
    of ``tail_align``, so the tail's own alignment holds) that ``Ref`` fields point into."""
    if len(identifier) != 4:
        raise ValueError("A FlatBuffer file identifier has 4 bytes.")
    builder = _Builder()
    builder.buffer += bytes(4) + identifier
    builder.point(0, root)
    builder.pad(tail_align)
    base = len(builder.buffer)
    for field, position in builder.tail_offsets:
        struct.pack_into("<I", builder.buffer, field, base + position - field)
    return bytes(builder.buffer) + bytes(tail)
