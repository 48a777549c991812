"""Batch results as records, and the files they go to: JSON Lines, CSV or Parquet.

One record per photo, the same in every format and on every scale (one process, worker
processes, Ray): its path, its categories with their scores, the time each stage took, or the
error that stopped it. JSON Lines and CSV are appended to and flushed record by record, so a
stopped run keeps what it made; Parquet (pyarrow) is written in row groups and closed at the end.
``done_paths`` reads any of them back, for ``--resume``.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Optional

from .results import ClassificationResult

OUTPUT_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}
_CSV_LIST_SEPARATOR = ";"


@dataclass
class PhotoRecord:
    """What one photo gave. Lists run over the categories of every head, in head order."""

    path: str
    categories: list[str] = field(default_factory=list)
    display_names: list[str] = field(default_factory=list)
    indices: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    heads: list[int] = field(default_factory=list)
    decode_ms: Optional[float] = None
    preprocess_ms: Optional[float] = None
    inference_ms: Optional[float] = None
    error: Optional[str] = None

    @classmethod
    def from_result(cls, path: str, result: ClassificationResult, **timings: float):
        categories = [(head.head_index, c) for head in result.classifications
                      for c in head.categories]
        return cls(
            path=path,
            categories=[c.category_name or "" for _, c in categories],
            display_names=[c.display_name or "" for _, c in categories],
            indices=[c.index for _, c in categories],
            scores=[c.score for _, c in categories],
            heads=[head for head, _ in categories],
            **timings,
        )

    def to_dict(self) -> dict:
        return asdict(self)


FIELDS = [f.name for f in fields(PhotoRecord)]
_LIST_FIELDS = ("categories", "display_names", "indices", "scores", "heads")


def output_format(path: str | os.PathLike) -> str:
    """'jsonl', 'csv' or 'parquet' from the file's extension; ValueError for any other."""
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise ValueError(
            f"Unknown output format {suffix or '(no extension)'!r} for {path}: "
            f"use {', '.join(OUTPUT_FORMATS)}."
        )
    return OUTPUT_FORMATS[suffix]


def _parquet():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ValueError(
            "Parquet output needs pyarrow: pip install 'image_classifier[parquet]'."
        ) from None
    return pa, pq


def arrow_schema(pa):
    """The records as an Arrow schema (Parquet output, Ray blocks)."""
    text, number = pa.string(), pa.float64()
    return pa.schema([
        ("path", text), ("categories", pa.list_(text)), ("display_names", pa.list_(text)),
        ("indices", pa.list_(pa.int64())), ("scores", pa.list_(number)),
        ("heads", pa.list_(pa.int64())), ("decode_ms", number), ("preprocess_ms", number),
        ("inference_ms", number), ("error", text),
    ])


def done_paths(path: str | os.PathLike) -> set[str]:
    """The photo paths an output file already has a record of (empty if there is no file)."""
    if not Path(path).exists():
        return set()
    kind = output_format(path)
    if kind == "parquet":
        _pa, pq = _parquet()
        return set(pq.read_table(path, columns=["path"]).column("path").to_pylist())
    with open(path, newline="", encoding="utf-8") as file:
        if kind == "csv":
            return {row["path"] for row in csv.DictReader(file)}
        # A run killed mid-write may leave a last line cut short: that photo is done again.
        done = set()
        for line in file:
            try:
                done.add(json.loads(line)["path"])
            except (ValueError, KeyError, TypeError):
                continue
        return done


def _ends_a_line(path: Path) -> bool:
    with open(path, "rb") as file:
        file.seek(-1, os.SEEK_END)
        return file.read(1) == b"\n"


class RecordWriter:
    """Writes records to ``path`` in the format its extension names; with ``append`` the
    records already there stay (Parquet: copied into the new file, which replaces the old
    one when the writer closes)."""

    ROW_GROUP = 1024

    def __init__(self, path: str | os.PathLike, append: bool = False) -> None:
        self._path = Path(path)
        self._kind = output_format(path)
        existing = append and self._path.exists() and self._path.stat().st_size > 0
        if self._kind == "parquet":
            pa, pq = _parquet()
            self._pa, self._schema, self._pending = pa, arrow_schema(pa), []
            self._partial = self._path.with_name(self._path.name + ".partial")
            self._parquet = pq.ParquetWriter(self._partial, self._schema)
            if existing:
                self._parquet.write_table(pq.read_table(self._path, schema=self._schema))
            return
        self._file = open(path, "a" if existing else "w", newline="", encoding="utf-8")
        if existing and not _ends_a_line(self._path):
            self._file.write("\n")  # a run killed mid-line: its half record stays apart
        if self._kind == "csv":
            self._csv = csv.DictWriter(self._file, FIELDS)
            if not existing:
                self._csv.writeheader()

    def write(self, record: PhotoRecord) -> None:
        row = record.to_dict()
        if self._kind == "parquet":
            self._pending.append(row)
            if len(self._pending) >= self.ROW_GROUP:
                self._flush_parquet()
            return
        if self._kind == "csv":
            for name in _LIST_FIELDS:
                row[name] = _CSV_LIST_SEPARATOR.join(str(v) for v in row[name])
            self._csv.writerow(row)
        else:
            self._file.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._file.flush()

    def _flush_parquet(self) -> None:
        if self._pending:
            table = self._pa.Table.from_pylist(self._pending, schema=self._schema)
            self._parquet.write_table(table)
            self._pending = []

    def close(self) -> None:
        if self._kind == "parquet":
            self._flush_parquet()
            self._parquet.close()
            os.replace(self._partial, self._path)
        else:
            self._file.close()

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
