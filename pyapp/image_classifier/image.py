"""Images as MediaPipe's ``mp.Image``: 8-bit RGB, RGBA or grayscale pixels, and safe decoding.

Decoding refuses what would hurt the process (decompression bombs, huge canvases) before any
pixel is allocated, and turns every decoder failure into one ValueError with a readable
message, so a bad file never takes the classifier down with it.
"""

from __future__ import annotations

import enum
import io
import os
import struct
import warnings

import numpy as np
from PIL import Image as PILImage

MAX_PIXELS = 64_000_000
"""Largest image decoded: a 64-megapixel RGB image already takes 192 MB."""


class ImageFormat(enum.Enum):
    """Pixel formats, with MediaPipe's names."""

    SRGB = 1
    SRGBA = 2
    GRAY8 = 3


_CHANNELS = {ImageFormat.SRGB: 3, ImageFormat.SRGBA: 4, ImageFormat.GRAY8: 1}

# Pillow modes that convert to RGB without losing what the picture shows.
_RGB_CONVERTIBLE = {"RGB", "P", "CMYK", "YCbCr", "LAB", "HSV", "1", "PA"}


class Image:
    """An 8-bit image in memory, as ``mediapipe.Image``."""

    def __init__(self, image_format: ImageFormat, data: np.ndarray) -> None:
        if not isinstance(image_format, ImageFormat):
            raise ValueError(f"Unsupported image format: {image_format!r}.")
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
        self._format = image_format
        self._data = np.ascontiguousarray(data)
        self._data.flags.writeable = False

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
        return np.repeat(self._data[:, :, None], 3, axis=2)

    @classmethod
    def create_from_file(cls, file_name: str | os.PathLike) -> Image:
        """Decodes an image file (JPEG, PNG, WebP, GIF, BMP, TIFF...).

        Raises:
          FileNotFoundError: The file does not exist.
          ValueError: The file is not an image this package can decode safely.
        """
        with open(file_name, "rb") as file:
            return cls.create_from_bytes(file.read())

    @classmethod
    def create_from_bytes(cls, encoded: bytes) -> Image:
        """Decodes an encoded image held in memory; see ``create_from_file``."""
        if not encoded:
            raise ValueError("Image decoding failed: the data is empty.")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", PILImage.DecompressionBombWarning)
                with PILImage.open(io.BytesIO(encoded)) as picture:
                    width, height = picture.size
                    if width * height > MAX_PIXELS:
                        raise ValueError(
                            f"Image is too large: {width}x{height} pixels "
                            f"(the limit is {MAX_PIXELS // 1_000_000} megapixels)."
                        )
                    picture.load()
                    return cls._from_pil(picture)
        except ValueError:
            raise
        except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning) as error:
            raise ValueError(f"Image is too large: {error}") from None
        except PILImage.UnidentifiedImageError:
            raise ValueError(
                "Image decoding failed: unsupported or unrecognized image data."
            ) from None
        except (OSError, SyntaxError, EOFError, struct.error, IndexError) as error:
            raise ValueError(f"Image decoding failed: {error}") from None

    @classmethod
    def _from_pil(cls, picture: PILImage.Image) -> Image:
        mode = picture.mode
        if mode == "L":
            return cls(ImageFormat.GRAY8, np.asarray(picture))
        if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
            # 16-bit grayscale: keep the high byte, as an 8-bit display would.
            wide = np.asarray(picture).astype(np.uint32)
            return cls(ImageFormat.GRAY8, (wide >> 8).clip(0, 255).astype(np.uint8))
        if mode in ("RGBA", "LA", "RGBa", "La"):
            return cls(ImageFormat.SRGBA, np.asarray(picture.convert("RGBA")))
        if mode in _RGB_CONVERTIBLE or mode.startswith("RGB"):
            return cls(ImageFormat.SRGB, np.asarray(picture.convert("RGB")))
        raise ValueError(f"Image decoding failed: unsupported pixel mode {mode}.")

