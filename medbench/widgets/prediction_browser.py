"""PredictionBrowser: step through test images with their truth and predicted probability.

Filter to all cases, errors only, or one cell of the confusion matrix, and order by index,
by confidence of the mistake (most confident first) or by uncertainty (probability closest
to the threshold). Images are rendered NumPy -> uint8 -> PNG (Pillow), no matplotlib.
Drive it from code: ``b.view.value = "errors"; b.order.value = "most confident"; b.position.value = 2``.
"""
from __future__ import annotations

import io
from typing import Sequence

import ipywidgets as W
import numpy as np

from medbench.errors import DataError

VIEWS = ("all", "errors", "true positives", "false positives", "false negatives", "true negatives")
ORDERS = ("index", "most confident", "most uncertain")


def _to_png(image: np.ndarray, vmin: float, vmax: float, zoom: int) -> bytes:
    from PIL import Image

    img = np.asarray(image, dtype=np.float32)
    if img.ndim == 3 and img.shape[0] in (1, 3):
        img = img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0)
    u8 = (np.clip((img - vmin) / max(vmax - vmin, 1e-6), 0, 1) * 255).astype(np.uint8)
    pil = Image.fromarray(u8)
    pil = pil.resize((pil.width * zoom, pil.height * zoom), Image.NEAREST)
    buf = io.BytesIO()
    pil.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


class PredictionBrowser(W.VBox):
    """Image, truth and predicted probability for each case of a binary classifier.

    Args:
        images: ``(N, C, H, W)`` or ``(N, H, W)``.
        labels: ``(N,)`` true class (0/1).
        probs: ``(N,)`` predicted probability of class 1.
        class_names: names of class 0 and 1.
        threshold: decision threshold.
        window: ``(vmin, vmax)`` for display (default: 1st-99th percentile of all images; use
            ``(-1000, 400)`` for CT patches in HU).
        ids: optional per-case identifiers shown under the image (e.g. patient ids).
        zoom: integer upscaling of the picture.
    """

    def __init__(self, images, labels, probs, class_names: Sequence[str] = ("negative", "positive"),
                 threshold: float = 0.5, window: tuple[float, float] | None = None, ids=None, zoom: int = 6):
        self.images = np.asarray(images)
        self.labels = np.asarray(labels).ravel().astype(int)
        self.probs = np.asarray(probs, dtype=float).ravel()
        if not (len(self.images) == len(self.labels) == len(self.probs)):
            raise DataError(f"images ({len(self.images)}), labels ({len(self.labels)}) and probs "
                            f"({len(self.probs)}) must have the same length")
        self.class_names, self.threshold, self.zoom = list(class_names), float(threshold), int(zoom)
        self.ids = None if ids is None else np.asarray(ids)
        if window is None:
            lo, hi = np.percentile(self.images, [1, 99])
            window = (float(lo), float(hi))
        self.window = window
        self.pred = (self.probs >= self.threshold).astype(int)
        style = {"description_width": "70px"}
        self.view = W.Dropdown(options=VIEWS, value="all", description="show", style=style)
        self.order = W.Dropdown(options=ORDERS, value="index", description="order", style=style)
        self.position = W.IntSlider(value=0, min=0, max=max(len(self.labels) - 1, 0), description="case", style=style)
        self.image = W.Image(format="png")
        self.info = W.HTML()
        self.view.observe(self._on_filter, names="value")
        self.order.observe(self._on_filter, names="value")
        self.position.observe(lambda _c: self.update(), names="value")
        self.indices = np.arange(len(self.labels))
        super().__init__([W.HBox([self.view, self.order]), self.position, W.HBox([self.image, self.info])])
        self._on_filter(None)

    def selection(self, view: str, order: str) -> np.ndarray:
        """Case indices for a view and an order."""
        y, p = self.labels, self.pred
        mask = {
            "all": np.ones_like(y, bool),
            "errors": y != p,
            "true positives": (y == 1) & (p == 1),
            "false positives": (y == 0) & (p == 1),
            "false negatives": (y == 1) & (p == 0),
            "true negatives": (y == 0) & (p == 0),
        }[view]
        idx = np.flatnonzero(mask)
        if order == "most confident":
            conf = np.abs(self.probs[idx] - self.threshold)
            idx = idx[np.argsort(-conf, kind="stable")]
        elif order == "most uncertain":
            idx = idx[np.argsort(np.abs(self.probs[idx] - self.threshold), kind="stable")]
        return idx

    @property
    def current(self) -> int | None:
        """Index (into the arrays) of the case shown, or None if the selection is empty."""
        return int(self.indices[self.position.value]) if len(self.indices) else None

    def _on_filter(self, _change) -> None:
        self.indices = self.selection(self.view.value, self.order.value)
        self.position.max = max(len(self.indices) - 1, 0)
        self.position.value = 0
        self.update()

    def update(self) -> None:
        i = self.current
        if i is None:
            self.image.value = b""
            self.info.value = f"<i>no case in '{self.view.value}'</i>"
            return
        self.image.value = _to_png(self.images[i], *self.window, zoom=self.zoom)
        ok = self.labels[i] == self.pred[i]
        colour = "#080" if ok else "#b00"
        who = f"<br>id: {self.ids[i]}" if self.ids is not None else ""
        self.info.value = (
            f"<div style='padding-left:12px;font-size:14px'>case {i} ({self.position.value + 1} of "
            f"{len(self.indices)} shown)<br>truth: <b>{self.class_names[self.labels[i]]}</b><br>"
            f"P({self.class_names[1]}) = <b>{self.probs[i]:.3f}</b><br>"
            f"prediction: <b style='color:{colour}'>{self.class_names[self.pred[i]]}</b> "
            f"({'correct' if ok else 'wrong'}){who}</div>")
