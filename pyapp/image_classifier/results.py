"""Result containers, field for field as MediaPipe's (components/containers/category.py etc.)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class Category:
    """One class of one head: its index in the model's output, score and names."""

    index: Optional[int] = None
    score: Optional[float] = None
    display_name: Optional[str] = None
    category_name: Optional[str] = None


@dataclass
class Classifications:
    """The categories of one classification head, sorted by descending score."""

    categories: list[Category] = field(default_factory=list)
    head_index: int = 0
    head_name: Optional[str] = None


@dataclass
class ClassificationResult:
    """Everything one image produced: one Classifications per head."""

    classifications: list[Classifications] = field(default_factory=list)
    timestamp_ms: Optional[int] = None


ImageClassifierResult = ClassificationResult
