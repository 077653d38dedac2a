"""InferencePanel: pick a case, run sliding-window inference with a chosen ROI and overlap, see the overlay.

Everything is plain Python, so a test drives it like a user::

    panel = InferencePanel(model, val_ds, structures=("liver", "spleen"), spacing=(6, 6, 8))
    panel.case.value = 1; panel.roi.value = "32x32x32"; panel.overlap.value = 0.5
    panel.run_button.click()
    panel.last["dice"], panel.last["seconds"], panel.viewer   # scores, timing, SliceViewer

The viewer compares truth (left) with the post-processed prediction (right). Smaller ROIs
mean more windows (slower, less context); more overlap means more windows too, but smoother
seams because the Gaussian weights blend neighbouring windows.
"""
from __future__ import annotations

import html
import math
import time
from typing import Sequence

import ipywidgets as W
import numpy as np
import torch

from medbench.errors import ConfigError
from medbench.settings import parse_sizes


def count_windows(spatial: Sequence[int], roi: Sequence[int], overlap: float) -> int:
    """Number of windows ``sliding_window_inference`` visits (its step is ``int(roi * (1 - overlap))``)."""
    n = 1
    for size, r in zip(spatial, roi):
        if r >= size:
            continue
        step = max(int(r * (1 - overlap)), 1)
        n *= math.ceil((size - r) / step) + 1
    return n


class InferencePanel(W.VBox):
    """Sliding-window inference on one validation case at a time, with Dice per structure.

    Args:
        model: a trained :class:`medbench.models.segmentation.SlidingWindowModel` (or a bare network).
        dataset: sequence of dicts with ``"image"`` ``(C, X, Y, Z)`` (network input),
            ``"label"`` ``(1, X, Y, Z)`` and optionally ``"case"``.
        structures: names of labels ``1..n``.
        spacing: voxel size in mm (for HD95 and the viewer's aspect).
        display_images: optional ``(X, Y, Z)`` volumes to show instead of the network input's
            first channel (e.g. the CT in Hounsfield units), one per case.
        roi_choices: ROI sizes offered (strings ``"XxYxZ"``); the model's own ROI is added.
        overlap: starting overlap.
        keep_largest: post-process with the largest connected component per structure.
        precision: ``"auto"`` (bf16 where the CPU supports it) or ``"fp32"``.
        modality: passed to the SliceViewer (``"ct"`` for HU images).
    """

    def __init__(self, model, dataset: Sequence[dict], structures: Sequence[str], spacing=(1.0, 1.0, 1.0), *,
                 display_images: Sequence | None = None, roi_choices: Sequence[str] = ("32x32x32", "48x48x32",
                 "64x64x48"), overlap: float = 0.25, keep_largest: bool = True, precision: str = "auto",
                 modality: str | None = None, size: int = 320):
        if len(dataset) == 0:
            raise ConfigError("InferencePanel needs at least one case in dataset")
        self.model = model
        self.dataset = dataset
        self.structures = tuple(structures)
        self.spacing = tuple(float(s) for s in spacing)
        self.display_images = display_images
        self.keep_largest = keep_largest
        self.precision = precision
        self.modality = modality
        self.size = size
        own = getattr(model, "roi_size", None)
        choices = list(dict.fromkeys(([f"{own[0]}x{own[1]}x{own[2]}"] if own else []) + list(roi_choices)))
        names = [str(dataset[i].get("case", f"case {i}")) if hasattr(dataset[i], "get") else f"case {i}"
                 for i in range(len(dataset))]
        self.case = W.Dropdown(options=[(n, i) for i, n in enumerate(names)], value=0, description="case")
        self.roi = W.Dropdown(options=choices, value=choices[0], description="ROI")
        self.overlap = W.FloatSlider(value=float(overlap), min=0.0, max=0.75, step=0.05, description="overlap")
        self.run_button = W.Button(description="Run inference", button_style="primary", icon="play")
        self.status = W.HTML("Pick a case, an ROI and an overlap, then press <b>Run inference</b>.")
        self.scores = W.HTML()
        self.viewer_box = W.Box()
        self.viewer = None
        self.last: dict | None = None
        self.history: list[dict] = []
        self.run_button.on_click(lambda _b: self.run())
        super().__init__([W.HBox([self.case, self.roi, self.overlap, self.run_button]), self.status, self.scores,
                          self.viewer_box])

    def _image_for_display(self, idx: int, image: torch.Tensor) -> np.ndarray:
        if self.display_images is not None:
            return np.asarray(self.display_images[idx]).squeeze()
        return np.asarray(image[0])

    def run(self) -> dict:
        """Run inference on the selected case with the selected ROI/overlap; update scores and viewer.

        Returns:
            dict with ``case``, ``roi``, ``overlap``, ``seconds``, ``n_windows``, ``dice`` and
            ``hd95_mm`` (per-structure dicts) and ``prediction`` ``(1, X, Y, Z)``.
        """
        from medbench.metrics import dice_hd95
        from medbench.tasks.segmentation import predict_volume
        from medbench.transforms import labels_from_logits
        from medbench.widgets.slice_viewer import SliceViewer

        idx = int(self.case.value)
        roi = parse_sizes("ROI", self.roi.value, 3, minimum=8)
        ov = float(self.overlap.value)
        item = self.dataset[idx]
        image = torch.as_tensor(item["image"]).float()
        label = torch.as_tensor(item["label"]).to(torch.uint8)
        spatial = tuple(int(s) for s in image.shape[-3:])
        win = tuple(min(r, s) for r, s in zip(roi, spatial))
        n_windows = count_windows(spatial, win, ov)
        self.status.value = f"running {n_windows} windows of {'x'.join(map(str, roi))} ..."
        t0 = time.perf_counter()
        logits = predict_volume(self.model, image, roi_size=roi, overlap=ov, precision=self.precision)
        seconds = time.perf_counter() - t0
        n_classes = len(self.structures) + 1
        pred = labels_from_logits(logits, n_classes, self.keep_largest)
        dice, hd = dice_hd95(pred, label, n_classes, self.spacing)
        result = {
            "case": self.case.label, "roi": roi, "overlap": ov, "seconds": seconds, "n_windows": n_windows,
            "dice": dict(zip(self.structures, map(float, dice))), "hd95_mm": dict(zip(self.structures, map(float, hd))),
            "prediction": pred,
        }
        self.last = result
        self.history.append({k: v for k, v in result.items() if k != "prediction"})
        self.status.value = (f"<b>{html.escape(str(result['case']))}</b>: {n_windows} windows, ROI "
                             f"{'x'.join(map(str, roi))}, overlap {ov:.2f}: {seconds:.2f} s; mean Dice "
                             f"<b>{np.mean(dice):.3f}</b>")
        cells = "".join(f"<tr><td>{html.escape(s)}</td><td>{d:.3f}</td><td>{h:.1f}</td></tr>"
                        for s, d, h in zip(self.structures, dice, hd))
        self.scores.value = ("<table><tr><th>structure</th><th>Dice</th><th>HD95 (mm)</th></tr>"
                             f"{cells}</table>")
        names = {i + 1: s for i, s in enumerate(self.structures)}
        self.viewer = SliceViewer(self._image_for_display(idx, image), label[0].numpy(), pred[0].numpy(),
                                  spacing=self.spacing, compare=True, label_names=names, modality=self.modality,
                                  size=self.size)
        self.viewer_box.children = (self.viewer,)
        return result


__all__ = ["InferencePanel", "count_windows"]
