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
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    ds = load_breast_cancer()
    X_tr, X_te, y_tr, y_te = train_test_split(ds.data, ds.target, test_size=test_size, random_state=seed,
                                              stratify=ds.target)
    scaler = StandardScaler().fit(X_tr)
    return TabularSplit(scaler.transform(X_tr), scaler.transform(X_te), y_tr.astype(np.int64),
                        y_te.astype(np.int64), list(ds.feature_names), list(ds.target_names),
                        "UCI Breast Cancer Wisconsin (Diagnostic), via scikit-learn; CC BY 4.0")
