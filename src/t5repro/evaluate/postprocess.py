"""Decoded text -> the value a metric compares (spec data.md D88, D100; T5 `t5/data/postprocessors.py`)."""

from __future__ import annotations

from typing import Callable, Sequence


def string_label_to_class_id(string_label: str | bytes, label_classes: Sequence[str], default: int = -1) -> int:
    """Index of the label text in `label_classes`, else `default` (-1): an invalid prediction counts as wrong (D88)."""
    if isinstance(string_label, bytes):
        string_label = string_label.decode("utf-8")
    classes = list(label_classes)
    return classes.index(string_label) if string_label in classes else default


def identity(text: str | bytes) -> str:
    """Generation tasks (CNN/DM, WMT; D88): the decoded text itself, bytes decoded as UTF-8."""
    return text.decode("utf-8") if isinstance(text, bytes) else text


def postprocessor(label_classes: Sequence[str] | None) -> Callable[[str | bytes], object]:
    """The D88 postprocessor of a task: class id for classification (label_classes set), identity otherwise.

    The same function is applied to predictions and to the raw `targets_pretokenized` (D100), so a gold label
    outside `label_classes` would also map to -1; `predict.score` rejects that as a data error.
    """
    if label_classes is None:
        return identity
    classes = [str(c) for c in label_classes]
    return lambda text: string_label_to_class_id(text, classes)
