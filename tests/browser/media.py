"""Media the camera and video tests make from the test photos: a y4m clip for Chromium's fake
camera, and a real video file encoded with ffmpeg (the binary of the PyPI package
imageio-ffmpeg, a test dependency)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from .support import IMAGES


def frame_rgb(photo: str, width: int, height: int) -> np.ndarray:
    """The photo stretched to width x height (RGB, uint8)."""
    with PILImage.open(IMAGES / photo) as image:
        return np.asarray(image.convert("RGB").resize((width, height), PILImage.BILINEAR))


def _i420(rgb: np.ndarray) -> bytes:
    """BT.601 limited-range I420, as Chromium's fake camera delivers it."""
    r, g, b = (rgb[..., i].astype(np.float64) / 255 for i in range(3))
    y = 16 + 65.481 * r + 128.553 * g + 24.966 * b
    u = 128 - 37.797 * r - 74.203 * g + 112.0 * b
    v = 128 + 112.0 * r - 93.786 * g - 18.214 * b
    h, w = y.shape

    def half(plane: np.ndarray) -> np.ndarray:
        return plane.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))

    planes = [y, half(u), half(v)]
    return b"".join(np.clip(np.rint(p), 0, 255).astype(np.uint8).tobytes() for p in planes)


def write_y4m(path: Path, scenes: list[tuple[str, int]], fps: int = 30, size=(640, 480)) -> Path:
    """A y4m clip: each (photo, frame count) scene in turn. Chromium's fake camera plays it
    in a loop (--use-file-for-fake-video-capture)."""
    width, height = size
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for photo, frames in scenes:
            data = _i420(frame_rgb(photo, width, height))
            for _ in range(frames):
                out.write(b"FRAME\n")
                out.write(data)
    return path


def ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def write_video(path: Path, scenes: list[tuple[str, int]], fps: int, size=(320, 240)) -> Path:
    """A video file (VP8 WebM or H.264 MP4, by the suffix) of the scenes at ``fps``: frame i
    is shown at media time i / fps exactly."""
    width, height = size
    raw = b"".join(frame_rgb(p, width, height).tobytes() * n for p, n in scenes)
    codec = ["-c:v", "libvpx", "-b:v", "2M"] if path.suffix == ".webm" else ["-c:v", "libx264"]
    subprocess.run(
        [ffmpeg(), "-hide_banner", "-loglevel", "error", "-y",
         "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(fps),
         "-i", "-", *codec, "-pix_fmt", "yuv420p", str(path)],
        input=raw, check=True,
    )
    return path
