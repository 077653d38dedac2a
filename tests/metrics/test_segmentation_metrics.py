"""Dice and HD95 (mm) by hand against medbench.metrics.dice_hd95 (monai.metrics underneath)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from medbench.metrics import dice_hd95


def _cube(shape, lo, size, value=1):
    a = np.zeros(shape, np.uint8)
    a[lo[0]:lo[0] + size, lo[1]:lo[1] + size, lo[2]:lo[2] + size] = value
    return a


def test_dice_by_hand():
    gt = _cube((12, 12, 12), (2, 2, 2), 4)
    pred = _cube((12, 12, 12), (3, 2, 2), 4)  # shifted one voxel in x: overlap 3*4*4 = 48 of 64 each
    dice, _ = dice_hd95(torch.as_tensor(pred)[None], torch.as_tensor(gt)[None], 2)
    assert dice[0] == pytest.approx(2 * 48 / (64 + 64))
    # two structures: class 2 absent from both -> Dice 1, HD95 nan; class 1 perfect -> 1 and 0
    dice, hd = dice_hd95(torch.as_tensor(gt)[None], torch.as_tensor(gt)[None], 3)
    assert dice.tolist() == [1.0, 1.0]
    assert hd[0] == 0.0 and np.isnan(hd[1])
    # structure predicted but absent from the truth -> Dice 0
    dice, hd = dice_hd95(torch.as_tensor(gt * 2)[None], torch.as_tensor(gt)[None], 3)
    assert dice.tolist() == [0.0, 0.0] and np.isnan(hd).all()


def test_hd95_by_hand_in_millimetres():
    gt = np.zeros((10, 10, 10), np.uint8)
    pred = np.zeros_like(gt)
    gt[2, 2, 5], pred[2, 2, 2] = 1, 1  # one voxel each, 3 voxels apart along z
    _, hd = dice_hd95(torch.as_tensor(pred), torch.as_tensor(gt), 2, spacing=(1.0, 1.0, 2.0))
    assert hd[0] == pytest.approx(6.0)  # 3 voxels x 2 mm
    # a 6-voxel slab shifted by 2 voxels along x with 1.5 mm voxels: every boundary point of one
    # slab face is 2 voxels from the other's, the rest coincide; brute-force check of the 95th percentile
    gt = np.zeros((16, 16, 16), np.uint8)
    gt[4:10, 4:10, 4:10] = 1
    pred = np.roll(gt, 2, axis=0)
    _, hd = dice_hd95(torch.as_tensor(pred), torch.as_tensor(gt), 2, spacing=(1.5, 1.5, 1.5))
    from scipy import ndimage

    def edge(m):
        return np.argwhere(m & ~ndimage.binary_erosion(m))

    a, b = edge(pred.astype(bool)) * 1.5, edge(gt.astype(bool)) * 1.5
    d = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))
    expected = max(np.percentile(d.min(1), 95), np.percentile(d.min(0), 95))
    assert hd[0] == pytest.approx(expected)
    assert 0 < hd[0] <= 3.0


def test_missed_structures_are_counted_not_dropped():
    import pandas as pd

    from medbench.metrics import SegResult, score_case

    gt = _cube((12, 12, 12), (2, 2, 2), 4) + _cube((12, 12, 12), (7, 7, 7), 3, value=2)
    pred = _cube((12, 12, 12), (2, 2, 2), 4)  # structure 2 missed entirely
    rows = score_case("c1", ("a", "b"), torch.as_tensor(pred)[None], torch.as_tensor(gt)[None], (1.0, 1.0, 1.0))
    assert [r["missed"] for r in rows] == [False, True]
    assert rows[1]["dice"] == 0.0 and np.isnan(rows[1]["hd95_mm"])
    res = SegResult(pd.DataFrame(rows), {}, {}, {}, 0.0)
    assert res.n_missed == 1 and res.missed_organs().to_dict("records") == [{"case": "c1", "structure": "b"}]
    assert res.mean_hd95 == 0.0  # over the structures found; the missed one is counted in n_missed
    # absent from both: not missed, Dice 1
    rows = score_case("c2", ("a", "b"), torch.as_tensor(pred)[None], torch.as_tensor(pred)[None], (1.0, 1.0, 1.0))
    assert [r["missed"] for r in rows] == [False, False] and rows[1]["dice"] == 1.0
