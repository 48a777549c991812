"""Images as MediaPipe's ``mp.Image``: 8-bit RGB, RGBA or grayscale pixels, and safe decoding.

Decoding refuses what would hurt the process (decompression bombs, huge canvases, endless
files) before any pixel is allocated, and turns every decoder failure into one ValueError with
a readable message, so a bad file never takes the classifier down with it. JPEGs are decoded
as MediaPipe's ``Image.create_from_file`` decodes them (``jpeg``), and turned upright by their
EXIF orientation, as MediaPipe does (it leaves other formats as stored).
"""

from __future__ import annotations

import enum
import io
import os
import stat
import struct
import sys
import warnings

import numpy as np
from PIL import Image as PILImage

from . import jpeg

if sys.platform == "emscripten":
    pyspng = None  # Pyodide has no libspng: Pillow decodes every PNG there
else:
    import pyspng

MAX_PIXELS = 64_000_000
"""Largest image decoded: a 64-megapixel RGB image already takes 192 MB."""

MAX_FILE_BYTES = 256 * 1024 * 1024
"""Largest image file read: far beyond any photo, far below what would exhaust memory."""

_ORIENTATION_TAG = 0x0112


class ImageTooLarge(ValueError):
    """An image beyond this package's limits: a refusal, never a decoding failure that another
    decoder (the browser's) may retry."""


def check_pixels(width: int, height: int) -> None:
    """Raises ImageTooLarge for an image of more than ``MAX_PIXELS`` pixels."""
    if width * height > MAX_PIXELS:
        raise ImageTooLarge(
            f"Image is too large: {width}x{height} pixels "
            f"(the limit is {MAX_PIXELS // 1_000_000} megapixels)."
        )


class ImageFormat(enum.IntEnum):
    """Pixel formats, with MediaPipe's names and values (equal to their ints, as there)."""

    SRGB = 1
    SRGBA = 2
    GRAY8 = 3
    SBGRA = 11  # what a browser's VideoFrame holds: read in its own order, never reordered


_CHANNELS = {
    ImageFormat.SRGB: 3, ImageFormat.SRGBA: 4, ImageFormat.GRAY8: 1, ImageFormat.SBGRA: 4
}


def _checked(image_format, data) -> tuple[ImageFormat, np.ndarray]:
    """The format and pixels (not copied), or ValueError saying what does not fit."""
    if not isinstance(image_format, ImageFormat):
        try:
            image_format = ImageFormat(image_format)
        except ValueError:
            raise ValueError(f"Unsupported image format: {image_format!r}.") from None
    data = np.asarray(data)
    if data.dtype != np.uint8:
        raise ValueError(f"Expected uint8 pixel data, got {data.dtype}.")
    channels = _CHANNELS[image_format]
    if image_format == ImageFormat.GRAY8 and data.ndim == 3 and data.shape[2] == 1:
        data = data[:, :, 0]
    expected_ndim = 2 if channels == 1 else 3
    if data.ndim != expected_ndim or (channels > 1 and data.shape[2] != channels):
        raise ValueError(
            f"Expected {image_format.name} data of shape "
            f"{'(height, width)' if channels == 1 else f'(height, width, {channels})'}, "
            f"got {data.shape}."
        )
    if data.shape[0] == 0 or data.shape[1] == 0:
        raise ValueError(f"Image is empty: {data.shape[1]}x{data.shape[0]} pixels.")
    return image_format, data


# Pillow modes that convert to RGB without losing what the picture shows.
_RGB_CONVERTIBLE = {"RGB", "P", "CMYK", "YCbCr", "LAB", "HSV", "1", "PA"}


class Image:
    """An 8-bit image in memory, as ``mediapipe.Image``."""

    def __init__(self, image_format: ImageFormat, data: np.ndarray) -> None:
        """Copies ``data``, as MediaPipe does: the caller's array stays as it was (writable),
        and later writes to it do not change the image."""
        self._format, self._data = _checked(image_format, data)
        self._data = self._data.copy()
        self._data.flags.writeable = False

    @classmethod
    def _adopt(cls, image_format: ImageFormat, data: np.ndarray) -> Image:
        """An image that takes over ``data`` (a decoder's fresh array) without a copy."""
        image = cls.__new__(cls)
        image._format, image._data = _checked(image_format, data)
        image._data = np.ascontiguousarray(image._data)
        image._data.flags.writeable = False
        return image

    @property
    def image_format(self) -> ImageFormat:
        return self._format

    @property
    def width(self) -> int:
        return self._data.shape[1]

    @property
    def height(self) -> int:
        return self._data.shape[0]

    @property
    def channels(self) -> int:
        return _CHANNELS[self._format]

    def numpy_view(self) -> np.ndarray:
        """The pixels, read-only, without a copy."""
        return self._data

    def rgb_view(self) -> np.ndarray:
        """The pixels as (height, width, 3) RGB: alpha dropped, gray replicated."""
        if self._format == ImageFormat.SRGB:
            return self._data
        if self._format == ImageFormat.SRGBA:
            return self._data[:, :, :3]
        if self._format == ImageFormat.SBGRA:
            return self._data[:, :, 2::-1]  # a view: R, G, B are bytes 2, 1, 0 of each pixel
        return np.repeat(self._data[:, :, None], 3, axis=2)

    @classmethod
    def create_from_file(cls, file_name: str | os.PathLike) -> Image:
        """Decodes an image file (JPEG, PNG, WebP, GIF, BMP, TIFF...); JPEGs upright.

        Only a regular file of at most ``MAX_FILE_BYTES`` is read (never a device or a pipe).

        Raises:
          FileNotFoundError: The file does not exist.
          ValueError: The file is not an image this package can decode safely.
        """
        status = os.stat(file_name)  # before opening: opening a FIFO would wait for a writer
        if not stat.S_ISREG(status.st_mode):
            raise ValueError(f"Image decoding failed: {file_name} is not a regular file.")
        if status.st_size > MAX_FILE_BYTES:
            raise ImageTooLarge(
                f"Image is too large: the file has {status.st_size} bytes "
                f"(the limit is {MAX_FILE_BYTES // 2**20} MB)."
            )
        with open(file_name, "rb") as file:
            # At most the size it had (within the limit) and a byte more, even if it grows
            # meanwhile. Not read(MAX_FILE_BYTES + 1): a buffer of that size, made and shrunk,
            # took 0.1 ms of every photo of a batch.
            return cls.create_from_bytes(file.read(status.st_size + 1))

    @classmethod
    def create_from_bytes(cls, encoded: bytes) -> Image:
        """Decodes an encoded image held in memory; see ``create_from_file``."""
        if not encoded:
            raise ValueError("Image decoding failed: the data is empty.")
        if len(encoded) > MAX_FILE_BYTES:
            raise ImageTooLarge(f"Image is too large: more than {MAX_FILE_BYTES // 2**20} MB.")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", PILImage.DecompressionBombWarning)
                with PILImage.open(io.BytesIO(encoded)) as picture:
                    width, height = picture.size
                    check_pixels(width, height)
                    is_jpeg = picture.format in ("JPEG", "MPO")
                    # MediaPipe turns JPEGs upright by their EXIF orientation (not PNGs).
                    orientation = _orientation(picture) if is_jpeg else 1
                    pixels = jpeg.decode(encoded) if is_jpeg else _spng_decode(picture, encoded)
                    if pixels is None:
                        picture.load()
                        image_format, pixels = _from_pil(picture)
                    else:
                        image_format = (ImageFormat.GRAY8 if pixels.ndim == 2 else
                                        ImageFormat.SRGBA if pixels.shape[2] == 4 else
                                        ImageFormat.SRGB)
        except ValueError:
            raise
        except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning) as error:
            raise ImageTooLarge(f"Image is too large: {error}") from None
        except PILImage.UnidentifiedImageError:
            raise ValueError(
                "Image decoding failed: unsupported or unrecognized image data."
            ) from None
        except (OSError, SyntaxError, EOFError, struct.error, IndexError) as error:
            raise ValueError(f"Image decoding failed: {error}") from None
        return cls._adopt(image_format, _upright(pixels, orientation))


def _spng_decode(picture: PILImage.Image, encoded: bytes) -> np.ndarray | None:
    """An 8-bit grey, RGB or RGBA PNG's pixels (Pillow's modes L, RGB, RGBA) decoded by libspng
    (pyspng), the same pixels as Pillow's in 60% of its time (most of a batch photo's); None
    for any other image, which Pillow decodes. Like MediaPipe's decoder (stb_image), libspng
    does not check chunk checksums."""
    if (pyspng is None or picture.format != "PNG" or getattr(picture, "is_animated", False)
            or encoded[12:16] != b"IHDR" or encoded[24] != 8 or encoded[25] not in (0, 2, 6)):
        return None
    try:
        return pyspng.load(encoded)
    except RuntimeError as error:
        raise ValueError(f"Image decoding failed: {error}") from None


def _orientation(picture: PILImage.Image) -> int:
    """The EXIF orientation (1 to 8); 1 (as stored) when there is none or it is broken."""
    try:
        value = picture.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # a broken EXIF block is no reason to refuse the pixels
        return 1
    return value if value in range(1, 9) else 1


def _upright(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """The pixels as EXIF ``orientation`` says to show them (1: as stored)."""
    if orientation in (5, 6, 7, 8):
        pixels = np.swapaxes(pixels, 0, 1)  # transpose: orientation 5
        orientation = {5: 1, 6: 2, 7: 3, 8: 4}[orientation]
    if orientation in (2, 3):
        pixels = pixels[:, ::-1]
    if orientation in (3, 4):
        pixels = pixels[::-1]
    return pixels


def _from_pil(picture: PILImage.Image) -> tuple[ImageFormat, np.ndarray]:
    """The format and pixels of a decoded Pillow image; ValueError for pixels that 8 bits
    cannot show correctly (32-bit integers, floats)."""
    mode = picture.mode
    if mode == "L":
        return ImageFormat.GRAY8, np.asarray(picture)
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        # 16-bit grayscale: keep the high byte, as an 8-bit display would.
        wide = np.asarray(picture).astype(np.uint32)
        return ImageFormat.GRAY8, (wide >> 8).astype(np.uint8)
    if mode in ("RGBA", "LA", "RGBa", "La"):
        return ImageFormat.SRGBA, np.asarray(picture.convert("RGBA"))
    if mode in _RGB_CONVERTIBLE or mode in ("RGBX", "RGB;16", "RGB;15"):
        return ImageFormat.SRGB, np.asarray(picture.convert("RGB"))
    raise ValueError(
        f"Image decoding failed: unsupported pixel mode {mode}"
        + (" (32-bit integer pixels)." if mode.startswith("I") else
           " (floating-point pixels)." if mode.startswith("F") else ".")
    )
