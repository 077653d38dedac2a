"""Segmentation measures from ``monai.metrics``: per-structure Dice and HD95 (mm).

Label maps are integer volumes ``(1, X, Y, Z)`` (or ``(X, Y, Z)``) with ids ``0..n_classes-1``,
0 = background.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

__all__ = ["DiceTracker", "SegResult", "dice_hd95", "score_case"]


def dice_hd95(pred: torch.Tensor, label: torch.Tensor, n_classes: int,
              spacing: Sequence[float] = (1.0, 1.0, 1.0)) -> tuple[np.ndarray, np.ndarray]:
    """Per-structure Dice and 95th-percentile Hausdorff distance (mm) with ``monai.metrics``.

    Args:
        pred, label: integer label maps ``(1, X, Y, Z)`` (or ``(X, Y, Z)``).
        n_classes: number of classes including background.
        spacing: voxel size in mm, so HD95 comes out in mm.

    Returns:
        ``(dice, hd95)`` arrays of length ``n_classes - 1`` (background excluded). Dice is 1
        when a structure is absent from both; HD95 is ``nan`` when it is absent from either.
    """
    from monai.metrics import compute_dice, compute_hausdorff_distance
    from monai.networks.utils import one_hot

    p = torch.as_tensor(pred).long().reshape(1, 1, *pred.shape[-3:])
    y = torch.as_tensor(label).long().reshape(1, 1, *label.shape[-3:])
    p1, y1 = one_hot(p, n_classes), one_hot(y, n_classes)
    dice = compute_dice(p1, y1, include_background=False, ignore_empty=False)[0].numpy().astype(float)
    present = (p1.flatten(2).any(-1) & y1.flatten(2).any(-1))[0, 1:].numpy()
    hd = np.full(n_classes - 1, np.nan)
    if present.any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # monai warns about empty structures; we mask them
            h = compute_hausdorff_distance(p1, y1, include_background=False, percentile=95,
                                           spacing=[float(s) for s in spacing])[0].numpy()
        hd[present] = h[present]
    return dice, hd


def score_case(name: str, structures: Sequence[str], pred, label, spacing: Sequence[float], raw=None) -> list[dict]:
    """One row per structure of one case: ``dice``, ``hd95_mm``, ``missed``, ``dice_argmax``.

    Args:
        name: the case name.
        structures: names of label ids ``1..n``.
        pred, label: integer label maps ``(1, X, Y, Z)``.
        spacing: voxel size in mm.
        raw: the prediction before post-processing (its Dice is ``dice_argmax``); ``None``: ``pred``.

    ``missed`` is True when the structure is in the truth but nowhere in the prediction: its
    HD95 is undefined (NaN), so a mean over HD95 must say how many structures it leaves out.
    """
    n_classes = len(structures) + 1
    dice, hd = dice_hd95(pred, label, n_classes, spacing)
    dice_raw = dice if raw is None else dice_hd95(raw, label, n_classes, spacing)[0]
    p, y = np.asarray(pred), np.asarray(label)
    return [{"case": name, "structure": s, "dice": float(d), "hd95_mm": float(h),
             "missed": bool((y == i + 1).any() and not (p == i + 1).any()), "dice_argmax": float(r)}
            for i, (s, d, h, r) in enumerate(zip(structures, dice, hd, dice_raw))]


class DiceTracker:
    """Stateful mean Dice (argmax, no post-processing) for ``fit(metrics={"dice": DiceTracker(n)})``.

    ``fit`` calls ``reset()``, ``update(outputs, targets)`` for each validation batch
    (``outputs`` logits ``(B, C, X, Y, Z)``, ``targets`` ``(B, 1, X, Y, Z)``) and ``compute()``.
    """

    def __init__(self, n_classes: int):
        from monai.metrics import DiceMetric

        self.n_classes = n_classes
        self.metric = DiceMetric(include_background=False, reduction="mean", ignore_empty=False)

    def reset(self) -> None:
        self.metric.reset()

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        from monai.networks.utils import one_hot

        pred = outputs.argmax(1, keepdim=True)
        self.metric(one_hot(pred, self.n_classes), one_hot(targets.long(), self.n_classes))

    def compute(self) -> float:
        return float(self.metric.aggregate().item())


@dataclass
class SegResult:
    """Per-case, per-structure scores of a segmentation model (what :func:`medbench.tasks.segmentation.evaluate` returns).

    Attributes:
        table: ``pandas.DataFrame``, one row per (case, structure) from :func:`score_case`:
            ``case``, ``structure``, ``dice``, ``hd95_mm``, ``missed`` (after post-processing) and
            ``dice_argmax`` (argmax only).
        predictions: ``{case: (1, X, Y, Z) uint8 label map}`` after post-processing.
        images, labels: the evaluated (transformed) volumes ``(C, X, Y, Z)`` / ``(1, X, Y, Z)``.
        seconds_per_volume: mean sliding-window inference time per volume (post-processing excluded).
    """

    table: Any
    predictions: dict
    images: dict
    labels: dict
    seconds_per_volume: float

    def summary(self):
        """Mean Dice and HD95 per structure (a ``DataFrame`` indexed by structure)."""
        return self.table.groupby("structure", sort=False)[["dice", "hd95_mm"]].mean()

    def postprocessing_gain(self):
        """Mean Dice per structure with argmax only and with the largest-component step."""
        means = self.table.groupby("structure", sort=False)[["dice_argmax", "dice"]].mean()
        return means.rename(columns={"dice_argmax": "argmax only", "dice": "argmax + largest component"})

    def worst_case(self) -> str:
        """The case with the lowest mean Dice over structures."""
        return str(self.table.groupby("case")["dice"].mean().idxmin())

    @property
    def mean_dice(self) -> float:
        return float(self.table["dice"].mean())

    @property
    def mean_hd95(self) -> float:
        """Mean HD95 (mm) over the structures found; the missed ones are counted by :attr:`n_missed`."""
        hd = self.table["hd95_mm"].to_numpy(dtype=float)
        return float(np.nanmean(hd)) if np.isfinite(hd).any() else float("nan")

    @property
    def n_missed(self) -> int:
        """Structures present in the truth but absent from the prediction, over all cases."""
        return int(self.table["missed"].sum())

    def missed_organs(self):
        """The (case, structure) rows of missed structures (a ``DataFrame``, empty when none)."""
        return self.table.loc[self.table["missed"], ["case", "structure"]].reset_index(drop=True)
