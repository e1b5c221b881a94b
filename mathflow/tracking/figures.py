"""The figures of a run (learning curves, confusion matrix), drawn off-screen with matplotlib.

Used in-process and by the figure helper (:mod:`mathflow.tracking.figure_worker`); each returns a
matplotlib ``Figure`` that :meth:`~mathflow.tracking.run.TrackedRun.log_figure` saves.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mathflow.tracking.run import new_figure


def learning_curves_figure(history: Any) -> Any:
    """Loss (train/val) and each metric (train/val) per epoch, one panel each."""
    records = list(history)
    keys = sorted({k for r in records for k in r if k not in ("epoch", "lr")})
    bases = ["loss"] + sorted({k.split("_", 1)[1] for k in keys if "_" in k} - {"loss", "penalty"})
    fig = new_figure(figsize=(4.5 * len(bases), 3.5))
    epochs = [int(r.get("epoch", i + 1)) for i, r in enumerate(records)]
    for i, base in enumerate(bases):
        ax = fig.add_subplot(1, len(bases), i + 1)
        for prefix in ("train", "val"):
            key = f"{prefix}_{base}"
            values = [r.get(key) for r in records]
            if any(v is not None for v in values):
                ax.plot(epochs, [np.nan if v is None else v for v in values], marker=".", label=prefix)
        ax.set_xlabel("epoch")
        ax.set_title(base)
        ax.grid(True, alpha=0.3)
        ax.legend()
    # Fixed margins in inches (room for tick labels of up to 6 characters, the title and "epoch"):
    # measuring every label, as tight_layout does, took most of the time the figure took to draw.
    # Between panels, the next one's left margin and this one's right: 0.95 in of each 4.5 in.
    width, height = fig.get_size_inches()
    left, right, gap = 0.75, 0.2, 0.95
    panel = (width - left - right - gap * (len(bases) - 1)) / len(bases)
    fig.subplots_adjust(
        left=left / width, right=1 - right / width, bottom=0.55 / height, top=1 - 0.35 / height, wspace=gap / panel
    )
    return fig


def confusion_figure(matrix: np.ndarray, class_names: list[str] | None) -> Any:
    """The confusion matrix (rows: true class, columns: predicted) with counts in the cells."""
    k = matrix.shape[0]
    names = class_names if class_names and len(class_names) == k else [str(i) for i in range(k)]
    size = max(3.5, 0.45 * k + 2)
    fig = new_figure(figsize=(size, size))
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(k), names, rotation=45 if k > 6 else 0)
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    top = matrix.max() if matrix.size else 0
    for i in range(k):
        for j in range(k):
            ax.text(
                j,
                i,
                str(int(matrix[i, j])),
                ha="center",
                va="center",
                color="white" if matrix[i, j] > top / 2 else "black",
            )
    ax.set_title("test confusion matrix")
    fig.tight_layout()
    return fig
