"""From a tidy long EHR table to padded tensors (and to aggregated features for baselines).

The stages, in the order a leakage-free pipeline runs them:

1. :func:`split_patients` / :func:`kfold_patients` split *patients* (never rows or visits), so
   no patient's history is in two splits.
2. :class:`SequenceScaler` learns each continuous variable's mean and standard deviation from
   the **training patients' observations only**.
3. :func:`to_tensors` turns the long table into ``X (N, T, F)`` (one step per visit), the
   true ``lengths`` and a step ``mask``; padded steps are zeros and carry mask 0. Per variable
   the features are the standardised value (the last observed value carried forward when it
   was not measured at this visit), an observed flag, and the time
   since the variable was last observed (GRU-D's "delta"); per visit the visit type, the time
   since the first visit, the time left to the end of the window and the gap since the last
   visit; per patient age and sex.
4. Optional: :func:`select_variables` (univariate screening on training patients) or
   :class:`StepPCA` (PCA of the per-visit feature vectors, fitted on training steps).
5. :func:`aggregate_features` summarises each patient (last value, mean, number of
   measurements per variable, plus age and sex) for logistic regression / gradient boosting.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from medbench.errors import ConfigError, DataError

BINARY_VARIABLES = frozenset({"smoking", "antihypertensive", "statin", "metformin"})
VISIT_TYPES: tuple[str, ...] = ("routine", "chronic", "acute")  #: categories of ``visit_type``


# --------------------------------------------------------------------------------------------
# splits
# --------------------------------------------------------------------------------------------
def split_patients(patient_ids, fractions=(0.7, 0.15, 0.15), seed: int = 0, stratify=None) -> dict[str, np.ndarray]:
    """Split patient ids into train / val / test, or train / test (each patient in exactly one split).

    The one patient splitter of medbench: every chapter's hold-out split goes through it (and
    :func:`kfold_patients` for cross-validation).

    Args:
        patient_ids: ``(N,)`` unique patient ids (duplicates are an error: split patients, not rows).
        fractions: train, val, test fractions summing to 1 (or train, test), or as many positive
            integer patient counts summing to ``N`` (exact sizes, e.g. ``(25, 5, 10)`` of 40 patients).
        seed: random seed.
        stratify: optional ``(N,)`` labels (e.g. an outcome) to keep rates equal across splits.

    Returns:
        ``{"train": ids, "val": ids, "test": ids}`` (no ``"val"`` for two fractions), each sorted.
    """
    from numbers import Integral

    from sklearn.model_selection import train_test_split

    ids = np.asarray(patient_ids)
    if len(np.unique(ids)) != len(ids):
        raise DataError("split_patients got repeated patient ids: pass one id per patient (e.g. patients['patient_id'])")
    fractions = tuple(fractions)
    if len(fractions) not in (2, 3):
        raise ConfigError(f"fractions must be (train, val, test) or (train, test), got {fractions}")
    if all(isinstance(f, Integral) and not isinstance(f, bool) for f in fractions):
        if sum(fractions) != len(ids) or min(fractions) <= 0:
            raise ConfigError(f"fractions given as counts must be positive integers summing to the "
                              f"{len(ids)} patients, got {fractions}")
        test_size, val_size = int(fractions[-1]), int(fractions[1])
    elif abs(sum(fractions) - 1) > 1e-6 or min(fractions) <= 0:
        raise ConfigError(f"fractions must be positive numbers summing to 1, got {fractions}")
    else:
        test_size, val_size = fractions[-1], fractions[1] / (fractions[0] + fractions[1])
    strat = None if stratify is None else np.asarray(stratify)
    rest, test = train_test_split(np.arange(len(ids)), test_size=test_size, random_state=seed, stratify=strat)
    if len(fractions) == 2:
        return {"train": np.sort(ids[rest]), "test": np.sort(ids[test])}
    train, val = train_test_split(rest, test_size=val_size, random_state=seed + 1,
                                  stratify=None if strat is None else strat[rest])
    return {"train": np.sort(ids[train]), "val": np.sort(ids[val]), "test": np.sort(ids[test])}


def kfold_patients(patient_ids, k: int = 5, seed: int = 0, stratify=None) -> list[tuple[np.ndarray, np.ndarray]]:
    """K-fold cross-validation by patient: ``[(train_ids, test_ids), ...]``, each patient tested once."""
    from sklearn.model_selection import KFold, StratifiedKFold

    ids = np.asarray(patient_ids)
    if len(np.unique(ids)) != len(ids):
        raise DataError("kfold_patients got repeated patient ids: pass one id per patient")
    if k < 2:
        raise ConfigError(f"k must be at least 2, got {k}")
    if stratify is None:
        folds = KFold(k, shuffle=True, random_state=seed).split(ids)
    else:
        folds = StratifiedKFold(k, shuffle=True, random_state=seed).split(ids, np.asarray(stratify))
    return [(np.sort(ids[a]), np.sort(ids[b])) for a, b in folds]


# --------------------------------------------------------------------------------------------
# scaling
# --------------------------------------------------------------------------------------------
@dataclass
class SequenceScaler:
    """Per-variable standardisation learnt from the observations of the training patients.

    Binary variables (smoking, medications) are left as 0/1. Age is standardised too.

    Attributes (after :meth:`fit`):
        mean_, std_: ``{variable: float}``; age_mean_, age_std_: floats;
        patient_ids_: the patients it was fitted on (so a test can check that no test patient is
        among them).
    """

    mean_: dict = field(default_factory=dict)
    std_: dict = field(default_factory=dict)
    age_mean_: float = 0.0
    age_std_: float = 1.0
    patient_ids_: np.ndarray | None = None

    def fit(self, observations: pd.DataFrame, patients: pd.DataFrame, train_ids) -> "SequenceScaler":
        train_ids = np.asarray(train_ids)
        obs = observations[observations["patient_id"].isin(train_ids)]
        if obs.empty:
            raise DataError("SequenceScaler.fit: no observations belong to the training patients")
        stats = obs.groupby("variable", observed=True)["value"].agg(["mean", "std"])
        self.mean_ = {str(k): float(v) for k, v in stats["mean"].items()}
        self.std_ = {str(k): float(v) if v > 0 else 1.0 for k, v in stats["std"].fillna(1.0).items()}
        ages = patients.loc[patients["patient_id"].isin(train_ids), "age"].to_numpy(float)
        self.age_mean_, self.age_std_ = float(ages.mean()), float(ages.std() or 1.0)
        self.patient_ids_ = np.sort(train_ids)
        return self

    def scale(self, variable: str, values):
        if self.patient_ids_ is None:
            raise ConfigError("SequenceScaler is not fitted: call fit(observations, patients, train_ids) first")
        if variable in BINARY_VARIABLES:
            return np.asarray(values, float)
        return (np.asarray(values, float) - self.mean_.get(variable, 0.0)) / self.std_.get(variable, 1.0)


# --------------------------------------------------------------------------------------------
# tensors
# --------------------------------------------------------------------------------------------
@dataclass
class SequenceData:
    """Padded sequences of a set of patients.

    Attributes:
        X: ``(N, T, F)`` float32; padded steps are all zero.
        lengths: ``(N,)`` int64 number of real visits (>= 1).
        mask: ``(N, T)`` bool, True on real visits.
        times: ``(N, T)`` float32 visit times in years (0 on padding).
        y: ``(N, n_outcomes)`` float32 labels (empty second axis without outcomes).
        patient_ids: ``(N,)``.
        feature_names: ``F`` names.
        outcomes: names of the columns of ``y``.
        variables: the variables the features were built from.
        at_risk: ``(N, n_outcomes)`` bool, which patients count when an outcome is scored (False:
            the patient already has it, so cannot have an incident diagnosis); ``None``: everyone.
            Set by :func:`medbench.tasks.disease.prepare_ehr`; see :meth:`eval_mask`.
    """

    X: np.ndarray
    lengths: np.ndarray
    mask: np.ndarray
    times: np.ndarray
    y: np.ndarray
    patient_ids: np.ndarray
    feature_names: list[str]
    outcomes: list[str]
    variables: list[str]
    at_risk: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.X)

    @property
    def n_features(self) -> int:
        return self.X.shape[-1]

    def subset(self, index) -> "SequenceData":
        index = np.asarray(index)
        return SequenceData(self.X[index], self.lengths[index], self.mask[index], self.times[index], self.y[index],
                            self.patient_ids[index], self.feature_names, self.outcomes, self.variables,
                            None if self.at_risk is None else self.at_risk[index])

    def eval_mask(self, outcome: str) -> np.ndarray:
        """``(N,)`` bool: the patients on whom ``outcome`` is scored (all True without ``at_risk``)."""
        j = self._outcome_index(outcome)[0]
        return np.ones(len(self), bool) if self.at_risk is None else np.asarray(self.at_risk[:, j], bool)

    def dataset(self, outcomes=None):
        """A torch dataset yielding ``((x (T, F), length), y (n_outcomes,))`` for :func:`medbench.training.fit`.

        Args:
            outcomes: names (or one name) of the outcome columns to keep; default all.
        """
        return _SeqDataset(self, self._outcome_index(outcomes))

    def loader(self, batch_size: int = 128, shuffle: bool = False, outcomes=None, seed: int = 0):
        """A ``DataLoader`` over :meth:`dataset` (single process; workers do not help on 2 cores)."""
        import torch
        from torch.utils.data import DataLoader

        gen = torch.Generator().manual_seed(seed)
        return DataLoader(self.dataset(outcomes), batch_size=batch_size, shuffle=shuffle, generator=gen)

    def _outcome_index(self, outcomes):
        if outcomes is None:
            return list(range(len(self.outcomes)))
        if isinstance(outcomes, str):
            outcomes = [outcomes]
        missing = [o for o in outcomes if o not in self.outcomes]
        if missing:
            raise ConfigError(f"unknown outcomes {missing}; this SequenceData has {self.outcomes}")
        return [self.outcomes.index(o) for o in outcomes]


class _SeqDataset:
    def __init__(self, data: SequenceData, cols: list[int]):
        import torch

        self.X = torch.from_numpy(np.ascontiguousarray(data.X))
        self.lengths = torch.from_numpy(data.lengths.astype(np.int64))
        self.y = torch.from_numpy(np.ascontiguousarray(data.y[:, cols]).astype(np.float32))

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        return (self.X[i], self.lengths[i]), self.y[i]


def _visit_table(observations: pd.DataFrame, patient_ids: np.ndarray, max_len: int | None):
    """Rows of ``observations`` for ``patient_ids`` with (row index of patient, visit position)."""
    pos_of = pd.Series(np.arange(len(patient_ids)), index=patient_ids)
    obs = observations[observations["patient_id"].isin(patient_ids)]
    if obs.empty:
        raise DataError("to_tensors: none of the requested patients has any observation")
    visits = obs[["patient_id", "time", "visit_type"]].drop_duplicates(["patient_id", "time"])
    visits = visits.sort_values(["patient_id", "time"]).reset_index(drop=True)
    visits["pos"] = visits.groupby("patient_id").cumcount().to_numpy()
    n_vis = visits.groupby("patient_id")["pos"].transform("max").to_numpy() + 1
    if max_len is not None:  # keep the most recent max_len visits
        drop = np.clip(n_vis - max_len, 0, None)
        visits["pos"] = visits["pos"].to_numpy() - drop
        visits = visits[visits["pos"] >= 0]
    visits["row"] = pos_of.loc[visits["patient_id"].to_numpy()].to_numpy()
    obs = obs.merge(visits[["patient_id", "time", "pos", "row"]], on=["patient_id", "time"], how="inner")
    return visits, obs


def to_tensors(observations: pd.DataFrame, patients: pd.DataFrame, patient_ids, scaler: SequenceScaler,
               variables, outcomes=(), window_years: float = 5.0, max_len: int | None = None,
               fill: str = "locf") -> SequenceData:
    """Build padded tensors for ``patient_ids`` (in that order).

    Args:
        observations: the long table (``patient_id, time, visit_type, variable, value``).
        patients: per-patient table with ``patient_id``, ``age``, ``sex`` and the outcome columns.
        patient_ids: which patients, in which order.
        scaler: a fitted :class:`SequenceScaler` (fit it on training patients only).
        variables: the variables to use (each gives value, observed-flag and delta features).
        outcomes: outcome columns of ``patients`` to put in ``y``.
        window_years: length of the observation window (the prediction time).
        max_len: keep at most this many most recent visits (``None``: all).
        fill: value of a variable at a visit where it was not measured: ``"locf"`` (last
            observation carried forward; 0, the training mean, before the first) or ``"zero"``.
            Either way the ``<var>_observed`` flag and ``<var>_delta`` say how fresh it is.

    Returns:
        A :class:`SequenceData`.
    """
    ids = np.asarray(patient_ids)
    variables = list(variables)
    known = set(map(str, observations["variable"].cat.categories if hasattr(observations["variable"], "cat")
                        else observations["variable"].unique()))
    unknown = set(variables) - known
    if unknown:
        raise ConfigError(f"variables {sorted(unknown)} do not occur in the observations' variable column")
    visits, obs = _visit_table(observations, ids, max_len)
    N, K, W = len(ids), len(variables), float(window_years)
    T = int(visits["pos"].max()) + 1
    times = np.zeros((N, T), np.float64)
    mask = np.zeros((N, T), bool)
    vt = np.zeros((N, T, len(VISIT_TYPES)), np.float32)
    r, p = visits["row"].to_numpy(), visits["pos"].to_numpy()
    times[r, p] = visits["time"].to_numpy()
    mask[r, p] = True
    vt[r, p, pd.Categorical(visits["visit_type"], VISIT_TYPES).codes] = 1.0
    if not mask[:, 0].all():
        raise DataError("to_tensors: some requested patients have no observations at all")
    vals = np.zeros((N, T, K), np.float32)
    seen = np.zeros((N, T, K), bool)
    obs = obs[obs["variable"].isin(variables)]
    for k, var in enumerate(variables):
        part = obs[obs["variable"] == var]
        rr, pp = part["row"].to_numpy(), part["pos"].to_numpy()
        vals[rr, pp, k] = scaler.scale(var, part["value"].to_numpy())
        seen[rr, pp, k] = True
    if fill == "locf":  # carry the last observed value forward (0 = training mean before the first)
        idx = np.where(seen, np.arange(T)[None, :, None], -1)
        idx = np.maximum.accumulate(idx, axis=1)
        carried = np.take_along_axis(vals, np.clip(idx, 0, None), axis=1)
        vals = np.where(idx >= 0, carried, 0.0).astype(np.float32)
    elif fill != "zero":
        raise ConfigError(f"fill must be 'locf' or 'zero', got {fill!r}")
    # time since each variable was last observed (GRU-D's delta), in window units, capped at 1
    last = np.where(seen, times[..., None], -np.inf)
    last = np.maximum.accumulate(last, axis=1)
    delta = np.where(np.isfinite(last), times[..., None] - last, W) / W
    delta = np.clip(delta, 0, 1) * mask[..., None]
    gap = np.diff(times, axis=1, prepend=0.0)
    gap = np.where(mask, np.clip(gap, 0, None), 0) / W
    pat = patients.set_index("patient_id").loc[ids]
    age = (pat["age"].to_numpy(float) - scaler.age_mean_) / scaler.age_std_
    male = (pat["sex"].to_numpy() == "M").astype(float)
    static = np.stack([age, male], -1)[:, None, :] * mask[..., None]
    X = np.concatenate([
        vals, seen.astype(np.float32), delta.astype(np.float32), vt,
        np.stack([times / W, (W - times) / W, gap], -1) * mask[..., None],
        static,
    ], axis=-1).astype(np.float32)
    X[~mask] = 0.0
    names = ([f"{v}" for v in variables] + [f"{v}_observed" for v in variables] + [f"{v}_delta" for v in variables]
             + [f"visit_{v}" for v in VISIT_TYPES] + ["time", "time_to_end", "gap", "age", "male"])
    outcomes = list(outcomes)
    y = pat[outcomes].to_numpy(np.float32) if outcomes else np.zeros((N, 0), np.float32)
    return SequenceData(X, mask.sum(1).astype(np.int64), mask, (times * mask).astype(np.float32), y, ids,
                        names, outcomes, variables)


def prepare_sequences(observations: pd.DataFrame, patients: pd.DataFrame, splits: dict, variables,
                      outcomes=(), window_years: float = 5.0, max_len: int | None = None, fill: str = "locf"):
    """Fit a :class:`SequenceScaler` on ``splits["train"]`` and build tensors for every split.

    Returns:
        ``(data, scaler)`` with ``data = {split_name: SequenceData}``.
    """
    scaler = SequenceScaler().fit(observations, patients, splits["train"])
    data = {name: to_tensors(observations, patients, ids, scaler, variables, outcomes, window_years, max_len, fill)
            for name, ids in splits.items()}
    return data, scaler


# --------------------------------------------------------------------------------------------
# optional dimensionality reduction
# --------------------------------------------------------------------------------------------
def select_variables(agg: pd.DataFrame, y, k: int = 5, variables=None) -> list[str]:
    """Rank variables by their best univariate ANOVA F-score among their aggregated features.

    Fit on training patients only. Args: ``agg`` from :func:`aggregate_features`, ``y``
    ``(N,)`` labels. Returns the ``k`` best variable names.
    """
    from sklearn.feature_selection import f_classif

    cols = [c for c in agg.columns if "__" in c]
    X = agg[cols].fillna(agg[cols].mean()).fillna(0).to_numpy(float)
    F, _ = f_classif(X, np.asarray(y))
    F = np.nan_to_num(F)
    best: dict[str, float] = {}
    for c, f in zip(cols, F):
        var = c.split("__")[0]
        if variables is None or var in variables:
            best[var] = max(best.get(var, 0.0), float(f))
    return [v for v, _ in sorted(best.items(), key=lambda kv: -kv[1])][:k]


@dataclass
class StepPCA:
    """PCA of per-visit feature vectors, fitted on the real (unpadded) steps of training data.

    ``transform`` keeps padded steps at zero, so masking still works downstream.
    """

    n_components: int = 8
    pca_: object = None

    def fit(self, data: SequenceData) -> "StepPCA":
        from sklearn.decomposition import PCA

        self.pca_ = PCA(self.n_components, random_state=0).fit(data.X[data.mask])
        return self

    def transform(self, data: SequenceData) -> SequenceData:
        if self.pca_ is None:
            raise ConfigError("StepPCA is not fitted: call fit(train_data) first")
        Z = np.zeros(data.X.shape[:2] + (self.n_components,), np.float32)
        Z[data.mask] = self.pca_.transform(data.X[data.mask])
        return SequenceData(Z, data.lengths, data.mask, data.times, data.y, data.patient_ids,
                            [f"pc{i + 1}" for i in range(self.n_components)], data.outcomes, data.variables)


# --------------------------------------------------------------------------------------------
# baselines' features
# --------------------------------------------------------------------------------------------
def aggregate_features(observations: pd.DataFrame, patients: pd.DataFrame, patient_ids, variables) -> pd.DataFrame:
    """One row per patient: ``<var>__last``, ``<var>__mean``, ``<var>__count`` plus ``age``, ``male``.

    Missing summaries (a variable never measured) are NaN; the baselines impute them with
    training means. Rows follow ``patient_ids``.
    """
    ids = np.asarray(patient_ids)
    obs = observations[observations["patient_id"].isin(ids) & observations["variable"].isin(list(variables))]
    obs = obs.sort_values(["patient_id", "time"])
    g = obs.groupby(["patient_id", "variable"], observed=True)["value"]
    agg = pd.DataFrame({"last": g.last(), "mean": g.mean(), "count": g.size()}).unstack("variable")
    agg.columns = [f"{var}__{stat}" for stat, var in agg.columns]
    agg = agg.reindex(ids)
    for v in variables:
        if f"{v}__count" in agg:
            agg[f"{v}__count"] = agg[f"{v}__count"].fillna(0)
    cols = [f"{v}__{s}" for v in variables for s in ("last", "mean", "count") if f"{v}__{s}" in agg]
    agg = agg[cols]
    pat = patients.set_index("patient_id").loc[ids]
    agg["age"] = pat["age"].to_numpy(float)
    agg["male"] = (pat["sex"].to_numpy() == "M").astype(float)
    agg.index.name = "patient_id"
    return agg
