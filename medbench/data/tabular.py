"""Small real tabular datasets that ship with scikit-learn (offline)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class TabularSplit:
    """Standardised train/test arrays. ``X_*`` ``(N, D)`` float, ``y_*`` ``(N,)`` int."""

    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    feature_names: list[str]
    target_names: list[str]
    source: str


def breast_cancer(test_size: float = 0.25, seed: int = 0) -> TabularSplit:
    """Wisconsin Diagnostic Breast Cancer (569 patients, 30 features, 0 = malignant, 1 = benign).

    Stratified split; the scaler is fitted on the training part only, so no test
    information leaks into training. Source: UCI ML repository via
    ``sklearn.datasets.load_breast_cancer`` (CC BY 4.0).
    """
    from sklearn.datasets import load_breast_cancer
    from sklearn.preprocessing import StandardScaler

    from medbench.data.sequences import split_patients

    ds = load_breast_cancer()
    split = split_patients(np.arange(len(ds.target)), (1 - test_size, test_size), seed=seed, stratify=ds.target)
    tr, te = split["train"], split["test"]
    scaler = StandardScaler().fit(ds.data[tr])
    return TabularSplit(scaler.transform(ds.data[tr]), scaler.transform(ds.data[te]), ds.target[tr].astype(np.int64),
                        ds.target[te].astype(np.int64), list(ds.feature_names), list(ds.target_names),
                        "UCI Breast Cancer Wisconsin (Diagnostic), via scikit-learn; CC BY 4.0")
