"""Real survival cohorts that ship with lifelines (offline): GBSG2 and NCCTG lung.

:func:`load_cohort` reads GBSG2 (German Breast Cancer Study Group 2: 686 women with node-positive
breast cancer, recurrence-free survival; Schumacher et al. 1994) or NCCTG lung (228 patients with
advanced lung cancer, overall survival; Loprinzi et al. 1994) from ``lifelines.datasets`` and
encodes the covariates (one-hot categories, log of skewed counts). The models (Cox PH, neural Cox)
and their pipeline live in :mod:`medbench.tasks.survival`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from medbench.data.sequences import split_patients
from medbench.errors import ConfigError

COHORTS = {
    "gbsg2": "GBSG2 (German Breast Cancer Study Group 2), 686 patients, recurrence-free survival in days; "
             "via lifelines.datasets.load_gbsg2 (data from the R package TH.data, GPL-2)",
    "lung": "NCCTG advanced lung cancer, 228 patients, overall survival in days; "
            "via lifelines.datasets.load_lung (data from the R package survival, LGPL)",
}


@dataclass
class SurvivalData:
    """Covariates and outcomes of a cohort.

    Attributes:
        X: covariates, one row per patient (numeric; NaN where missing).
        time: ``(N,)`` follow-up time (days).
        event: ``(N,)`` 1 = event observed, 0 = censored.
        raw: the table as lifelines ships it.
        name, source: cohort key and provenance.
    """

    X: pd.DataFrame
    time: np.ndarray
    event: np.ndarray
    raw: pd.DataFrame
    name: str
    source: str

    def subset(self, idx) -> "SurvivalData":
        idx = np.asarray(idx)
        return SurvivalData(self.X.iloc[idx].reset_index(drop=True), self.time[idx], self.event[idx],
                            self.raw.iloc[idx].reset_index(drop=True), self.name, self.source)


def load_cohort(name: str = "gbsg2") -> SurvivalData:
    """Load and encode ``"gbsg2"`` or ``"lung"`` (no download: the files ship with lifelines)."""
    from lifelines import datasets

    if name == "gbsg2":
        raw = datasets.load_gbsg2()
        X = pd.DataFrame({
            "hormone_therapy": (raw["horTh"] == "yes").astype(float),
            "age": raw["age"].astype(float),
            "postmenopausal": (raw["menostat"] == "Post").astype(float),
            "tumour_size": raw["tsize"].astype(float),
            "grade_II": (raw["tgrade"].astype(str) == "II").astype(float),
            "grade_III": (raw["tgrade"].astype(str) == "III").astype(float),
            "log_nodes": np.log1p(raw["pnodes"].astype(float)),
            "log_progesterone": np.log1p(raw["progrec"].astype(float)),
            "log_oestrogen": np.log1p(raw["estrec"].astype(float)),
        })
        time, event = raw["time"].to_numpy(float), raw["cens"].to_numpy(int)
    elif name == "lung":
        raw = datasets.load_lung()
        X = pd.DataFrame({
            "age": raw["age"].astype(float),
            "female": (raw["sex"] == 2).astype(float),
            "ecog": raw["ph.ecog"].astype(float),
            "karnofsky_physician": raw["ph.karno"].astype(float),
            "karnofsky_patient": raw["pat.karno"].astype(float),
            "meal_calories": raw["meal.cal"].astype(float),
            "weight_loss": raw["wt.loss"].astype(float),
        })
        time, event = raw["time"].to_numpy(float), raw["status"].to_numpy(int)
        if set(np.unique(event)) <= {1, 2}:  # R's survival coding: 1 censored, 2 dead
            event = event - 1
    else:
        raise ConfigError(f"unknown cohort {name!r}; use one of {', '.join(COHORTS)}")
    return SurvivalData(X.reset_index(drop=True), time, event.astype(int), raw.reset_index(drop=True), name,
                        COHORTS[name])


def survival_split(data: SurvivalData, test_size: float = 0.3, seed: int = 0) -> tuple[SurvivalData, SurvivalData]:
    """Hold out ``test_size`` of the patients (stratified by event), through :func:`split_patients`."""
    split = split_patients(np.arange(len(data.time)), (1 - test_size, test_size), seed=seed, stratify=data.event)
    return data.subset(split["train"]), data.subset(split["test"])
