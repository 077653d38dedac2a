"""Every measure medbench reports, one module per kind of task.

- :mod:`medbench.metrics.classification`: AUROC, AUPRC, Brier, sensitivity ... with
  bootstrap confidence intervals (binary, multiclass, multilabel).
- :mod:`medbench.metrics.segmentation`: Dice and HD95 (mm) from ``monai.metrics``.
- :mod:`medbench.metrics.survival`: Harrell's concordance index.
- :mod:`medbench.metrics.calibration`: calibration slope and intercept (logistic recalibration).
- :mod:`medbench.metrics.attribution`: explanations against the truth (pointing game, relevance
  mass, rank correlation, top-k agreement).
- :mod:`medbench.metrics.forecasting`: MASE (M4 scaling), sMAPE, pinball loss, interval coverage.
- :mod:`medbench.metrics.dosing`: dose MAE, PW20, R², interval coverage/width, CRPS from samples.
- :mod:`medbench.metrics.privacy`: membership-inference attacks (loss threshold, LiRA): attack AUC,
  TPR at a low FPR.

``from medbench.metrics import auroc`` is the public import path: each name below is defined
once, in its submodule, and re-exported here.
"""
from __future__ import annotations

from medbench.metrics.attribution import (
    mask_area_fraction,
    pointing_game,
    rank_correlation,
    relevance_mass,
    topk_agreement,
)
from medbench.metrics.calibration import calibration_intercept, calibration_slope, calibration_slope_intercept
from medbench.metrics.classification import (
    METRICS,
    TASKS,
    accuracy,
    auprc,
    auroc,
    bootstrap_ci,
    brier,
    f1,
    infer_task,
    mean_auroc,
    metric_table,
    paired_bootstrap_diff,
    precision,
    probabilities_from_logits,
    recall,
    sensitivity,
    specificity,
    torch_metric,
)
from medbench.metrics.dosing import (
    crps_samples,
    dose_mae,
    dose_r2,
    dose_scores,
    interval_coverage,
    interval_width,
    pw20,
)
from medbench.metrics.forecasting import coverage, mase, mase_scale, pinball_loss, smape
from medbench.metrics.privacy import (
    attack_auc,
    binary_losses,
    lira_scores,
    logit_confidence,
    loss_threshold_scores,
    tpr_at_fpr,
)
from medbench.metrics.segmentation import DiceTracker, SegResult, dice_hd95, score_case
from medbench.metrics.survival import cindex

__all__ = [
    "METRICS", "TASKS", "accuracy", "auprc", "auroc", "bootstrap_ci", "brier", "f1", "infer_task",
    "mean_auroc", "metric_table", "paired_bootstrap_diff", "precision", "probabilities_from_logits", "recall", "sensitivity", "specificity",
    "torch_metric", "DiceTracker", "SegResult", "dice_hd95", "score_case", "cindex",
    "calibration_slope_intercept", "calibration_slope", "calibration_intercept", "coverage", "mase", "mase_scale", "pinball_loss", "smape",
    "crps_samples", "dose_mae", "dose_r2", "dose_scores", "interval_coverage", "interval_width", "pw20",
    "mask_area_fraction", "pointing_game", "rank_correlation", "relevance_mass", "topk_agreement",
    "attack_auc", "binary_losses", "lira_scores", "logit_confidence", "loss_threshold_scores", "tpr_at_fpr",
]
