"""The built-in model names of the command line (``lite0_int8``, ``lite2_fp32.onnx``, ...).

The default model ships inside the package (``image_classifier/models/``), so an installed
``image-classifier`` works anywhere; the others are found in a clone of the project's
``models/`` folder, and say where to get them when absent.
"""

from __future__ import annotations

from pathlib import Path

BUILT_IN_MODELS = ("lite0_int8", "lite0_fp32", "lite2_int8", "lite2_fp32")
DEFAULT_MODEL = "lite0_int8"
FORMATS = ("tflite", "onnx")

_PACKAGED = Path(__file__).resolve().parent / "models"
_REPOSITORY = Path(__file__).resolve().parents[2] / "models"


def _parse(name: str) -> tuple[str, str] | None:
    """(built-in name, format) for ``lite0_int8`` or ``lite0_int8.onnx``; None otherwise."""
    stem, _, suffix = name.partition(".")
    if stem in BUILT_IN_MODELS and suffix in ("", *FORMATS):
        return stem, suffix or "tflite"
    return None


def model_path(name: str) -> str:
    """The file of a built-in model name (.tflite unless ``.onnx`` is asked), or ``name`` itself
    when it is no built-in name (a path to a model file).

    Raises:
      FileNotFoundError: A built-in model whose file is not on this machine, saying where to
        get it.
    """
    parsed = _parse(name)
    if parsed is None:
        return name
    stem, model_format = parsed
    file_name = f"efficientnet_{stem}.{model_format}"
    for folder in (_PACKAGED, _REPOSITORY):
        if (folder / file_name).is_file():
            return str(folder / file_name)
    raise FileNotFoundError(
        f"The built-in model {name} ({file_name}) is not installed: only {DEFAULT_MODEL} ships "
        f"with the package. Build it in a clone of the project with `python3 build.py models` "
        f"and pass its path with --model, or run from the clone."
    )
