"""Per-image predicted class ids of one evaluation, kept compactly for the report's paired bootstrap over images.

Stored as one ``.npz`` (``predictions/predictions.npz``): ``labels`` (the clean test labels, once), ``clean`` and one
``c.<corruption>.<severity>`` array per -C cell (``c_bar.<corruption>.<severity>`` per C-bar cell), each uint8
(<= 256 classes) or int16; a cell whose labels differ from the clean labels (ImageNet-C folders list their own
order) also gets ``labels.<cell>``.
"""

from __future__ import annotations

import numpy as np

PREDICTIONS_ARTIFACT = "predictions/predictions.npz"  # artifact path inside the trial run


def class_ids(logits: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """Argmax class ids in the smallest dtype that holds ``num_classes`` (uint8 up to 256, else int16)."""
    classes = num_classes or (logits.shape[1] if logits.ndim == 2 else int(logits.max()) + 1)
    dtype = np.uint8 if classes <= 256 else np.int16
    ids = logits.argmax(axis=1) if logits.ndim == 2 else logits
    return np.asarray(ids).astype(dtype)


class PredictionRecorder:
    """Collects ``cell -> class ids`` during ``evaluate_model``; ``arrays()`` is what the ``.npz`` holds."""

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def add(self, cell: str, logits: np.ndarray, labels: np.ndarray) -> None:
        labels = np.asarray(labels).reshape(-1)
        classes = logits.shape[1] if logits.ndim == 2 else None
        self._arrays[cell] = class_ids(logits, classes)
        if "labels" not in self._arrays:
            self._arrays["labels"] = class_ids(labels, classes)
        elif not np.array_equal(self._arrays["labels"], labels):
            self._arrays[f"labels.{cell}"] = class_ids(labels, classes)

    def add_c(self, corruption: str, severity: int, logits: np.ndarray, labels: np.ndarray) -> None:
        self.add(c_cell(corruption, severity), logits, labels)

    def arrays(self) -> dict[str, np.ndarray]:
        return dict(self._arrays)


def c_cell(corruption: str, severity: int) -> str:
    return f"c.{corruption}.{severity}"


def cbar_cell(corruption: str, severity: int) -> str:
    """A C-bar cell (``c_bar.<corruption>.<severity>``): kept apart from the -C cells the -C bootstrap reads."""
    return f"c_bar.{corruption}.{severity}"


def c_cells(arrays: dict[str, np.ndarray]) -> list[str]:
    """The stored -C cells (``c.<corruption>.<severity>``)."""
    return sorted(k for k in arrays if k.startswith("c."))


def correctness(arrays: dict[str, np.ndarray], cell: str = "clean") -> np.ndarray | None:
    """Per-image correctness (bool) of one cell, or None when the cell was not stored."""
    if cell not in arrays:
        return None
    labels = arrays.get(f"labels.{cell}", arrays.get("labels"))
    if labels is None:
        return None
    return arrays[cell].astype(np.int64).reshape(-1) == labels.astype(np.int64).reshape(-1)
