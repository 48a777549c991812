"""Protocol Buffers wire format by hand: reading the fields of one message, checked.

ONNX models are protobuf messages. The ``onnx`` and ``protobuf`` packages are not in Pyodide,
and the package reads only a few fields, so ``onnx_model`` walks the wire format directly.
A model file comes from anyone: every length is checked against the bytes actually there
before anything is sliced or allocated, and a field whose wire type is not the one the schema
gives is an error, never a value of the wrong kind (an integer taken for a length once turned
8 bytes into a 2 GB allocation).
"""

from __future__ import annotations

from typing import Iterator, Union

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5
_SIZES = {FIXED64: 8, FIXED32: 4}

Value = Union[int, memoryview]


class ProtobufError(ValueError):
    """The bytes are not a well-formed protobuf message."""


def _varint(data: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ProtobufError("varint too long")


def fields(data: memoryview) -> Iterator[tuple[int, int, Value]]:
    """Yields (field number, wire type, value) for one message: an int for VARINT, FIXED64
    and FIXED32 fields (little-endian, unsigned), a view of the bytes for LENGTH fields."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise ProtobufError("invalid field number 0")
        if wire_type == VARINT:
            value, pos = _varint(data, pos)
        elif wire_type in _SIZES:
            end = pos + _SIZES[wire_type]
            if end > len(data):
                raise ProtobufError("truncated fixed-size field")
            value, pos = int.from_bytes(data[pos:end], "little"), end
        elif wire_type == LENGTH:
            length, pos = _varint(data, pos)
            if length > len(data) - pos:
                raise ProtobufError(f"field {number} claims {length} bytes, "
                                    f"{len(data) - pos} are left")
            value, pos = data[pos : pos + length], pos + length
        else:
            raise ProtobufError(f"unsupported wire type {wire_type}")
        yield number, wire_type, value


def _expect(number: int, wire_type: int, expected: int) -> None:
    if wire_type != expected:
        raise ProtobufError(f"field {number} has wire type {wire_type}, expected {expected}")


def messages(data: memoryview, number: int) -> Iterator[memoryview]:
    """The embedded messages (or strings, bytes) of field ``number``, in order."""
    for n, wire_type, value in fields(data):
        if n == number:
            _expect(n, wire_type, LENGTH)
            yield value


def strings(data: memoryview, number: int) -> Iterator[str]:
    """The UTF-8 strings of field ``number``, in order."""
    for value in messages(data, number):
        try:
            yield bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise ProtobufError(f"field {number} is not UTF-8 text") from None


def string(data: memoryview, number: int) -> str:
    """The last string of field ``number`` (protobuf's rule for a repeated singular field),
    '' when absent."""
    found = ""
    for found in strings(data, number):
        pass
    return found


def integers(data: memoryview, number: int) -> Iterator[int]:
    """The varint values of field ``number`` (unpacked or packed), as signed 64-bit."""
    for n, wire_type, value in fields(data):
        if n != number:
            continue
        if wire_type == LENGTH:  # packed repeated
            pos = 0
            while pos < len(value):
                item, pos = _varint(value, pos)
                yield _signed(item)
        else:
            _expect(n, wire_type, VARINT)
            yield _signed(value)


def integer(data: memoryview, number: int, default: int = 0) -> int:
    """The last varint of field ``number``, ``default`` when absent."""
    found = default
    for found in integers(data, number):
        pass
    return found


def has(data: memoryview, number: int) -> bool:
    return any(n == number for n, _, _ in fields(data))


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value
