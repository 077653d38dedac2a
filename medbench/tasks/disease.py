"""Disease prediction from patient histories, and tremor scoring from wearables (chapter 04).

The EHR pipeline, stage by stage:

- data: :func:`prepare_ehr` splits *patients* with :func:`medbench.data.sequences.split_patients`
  (the one patient splitter) and builds padded tensors with a scaler fitted on the training
  patients only; :func:`medbench.data.sequences.aggregate_features` gives the baselines' rows;
- baselines: :func:`fit_baselines` (logistic regression and gradient boosting per outcome) and
  :func:`cross_validate_logreg` (k-fold by patient, :func:`~medbench.data.sequences.kfold_patients`);
- model + fit: :func:`train_recurrent` builds a masked
  :class:`~medbench.models.recurrent.RecurrentClassifier` and trains it through
  :func:`medbench.training.fit` (validation AUROC picks the epoch); :func:`fit_single_task`
  trains one model per cell and outcome;
- evaluation: :func:`predict_risk` gives sigmoid risks on new patients.

The wearable pipeline: :func:`split_tremor` (patients, through the same splitter),
:func:`spectral_baseline`, :func:`fit_tremor_cnn` (:class:`~medbench.models.wearable.TremorCNN`),
:func:`predict_tremor`, :func:`tremor_errors` and :func:`weekly_scores`.
"""
from __future__ import annotations

import time
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from medbench.data.sequences import SequenceData, SequenceScaler, kfold_patients, prepare_sequences, split_patients
from medbench.errors import ConfigError
from medbench.metrics import auroc, torch_metric
from medbench.models.recurrent import RecurrentClassifier
from medbench.models.wearable import TremorCNN

__all__ = ["prepare_ehr", "fit_baselines", "cross_validate_logreg", "train_recurrent", "fit_single_task",
           "predict_risk", "split_tremor", "spectral_baseline", "fit_tremor_cnn", "predict_tremor",
           "tremor_errors", "weekly_scores", "TREMOR_RANGE"]

#: Range of the simulator's relative tremor severity score (0 none, 4 the most severe simulated); a
#: made-up scale, not the MDS-UPDRS rest-tremor item, whose amplitude and course it does not follow.
TREMOR_RANGE = (0.0, 4.0)


# --------------------------------------------------------------------------------------------
# EHR: data
# --------------------------------------------------------------------------------------------
def prepare_ehr(cohort, *, max_len: int | None = None, seed: int = 0, variables: Sequence[str] | None = None,
                outcomes: Sequence[str] | None = None, stratify: str | None = "cvd",
                fractions=(0.7, 0.15, 0.15)) -> tuple[dict, dict, SequenceScaler]:
    """Split a simulated cohort by patient and build padded tensors without leakage.

    Args:
        cohort: a :class:`medbench.data.ehr.EHRCohort` (``observations``, ``patients``, ``window_years``).
        max_len: keep at most this many most recent visits per patient.
        seed: seed of the patient split.
        variables: variables to use (default: every variable and medication of the simulator).
        outcomes: outcome columns (default: the simulator's three outcomes).
        stratify: outcome whose rate is kept equal across splits (``None``: no stratification).
        fractions: train, val, test fractions (or patient counts), see ``split_patients``.

    Returns:
        ``(splits, data, scaler)``: ``{split: patient ids}``, ``{split: SequenceData}`` with
        ``X (N, T, F)`` and ``at_risk (N, K)`` (:meth:`medbench.data.ehr.EHRCohort.at_risk`: False
        where a patient is already treated for the outcome, so is not scored on it), and the
        :class:`~medbench.data.sequences.SequenceScaler` fitted on ``splits["train"]`` only.
    """
    from medbench.data.ehr import MEDICATIONS, OUTCOMES, VARIABLES

    variables = list(VARIABLES) + list(MEDICATIONS) if variables is None else list(variables)
    outcomes = list(OUTCOMES) if outcomes is None else list(outcomes)
    patients = cohort.patients
    splits = split_patients(patients["patient_id"], fractions, seed=seed,
                            stratify=None if stratify is None else patients[stratify])
    data, scaler = prepare_sequences(cohort.observations, patients, splits, variables, outcomes,
                                     cohort.window_years, max_len)
    for d in data.values():
        d.at_risk = np.stack([cohort.at_risk(o, d.patient_ids) for o in outcomes], 1) if outcomes else None
    return splits, data, scaler


# --------------------------------------------------------------------------------------------
# EHR: baselines on aggregated features
# --------------------------------------------------------------------------------------------
def _logreg():
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression(max_iter=2000))


def fit_baselines(agg_train: pd.DataFrame, y_train: np.ndarray, agg_test: pd.DataFrame, *,
                  seed: int = 0) -> dict[str, np.ndarray]:
    """Logistic regression and gradient boosting, one per outcome, on aggregated features.

    Args:
        agg_train, agg_test: rows from :func:`medbench.data.sequences.aggregate_features`.
        y_train: ``(N_train, K)`` 0/1 labels.
        seed: gradient boosting's random state.

    Returns:
        ``{"logreg": (N_test, K), "gboost": (N_test, K)}`` predicted risks.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier

    y_train = np.asarray(y_train)
    probs = {"logreg": np.zeros((len(agg_test), y_train.shape[1]), np.float32),
             "gboost": np.zeros((len(agg_test), y_train.shape[1]), np.float32)}
    for j in range(y_train.shape[1]):
        logreg = _logreg().fit(agg_train, y_train[:, j])
        probs["logreg"][:, j] = logreg.predict_proba(agg_test)[:, 1]
        gb = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, early_stopping=True, random_state=seed)
        gb.fit(agg_train, y_train[:, j])
        probs["gboost"][:, j] = gb.predict_proba(agg_test)[:, 1]
    return probs


def cross_validate_logreg(agg: pd.DataFrame, labels: pd.DataFrame, outcomes: Sequence[str], *, k: int = 5,
                          seed: int = 0, at_risk: pd.DataFrame | None = None) -> pd.DataFrame:
    """K-fold cross-validation by patient of the logistic-regression baseline.

    Args:
        agg: aggregated features, indexed by patient id (the pool to cross-validate).
        labels: outcomes indexed by patient id (at least the pool's patients).
        outcomes: columns of ``labels`` to score.
        k: folds (each patient is tested exactly once, by :func:`~medbench.data.sequences.kfold_patients`).
        seed: seed of the folds.
        at_risk: optional bool table indexed by patient id, one column per outcome: a fold's AUROC
            of an outcome counts only its at-risk patients (the models still train on everyone).

    Returns:
        One row per fold (index ``fold``, 1..k), one AUROC column per outcome.
    """
    rows = []
    for i, (tr_ids, te_ids) in enumerate(kfold_patients(agg.index.to_numpy(), k=k, seed=seed)):
        row = {"fold": i + 1}
        for o in outcomes:
            m = _logreg().fit(agg.loc[tr_ids], labels.loc[tr_ids, o])
            scored = te_ids if at_risk is None else te_ids[at_risk.loc[te_ids, o].to_numpy(bool)]
            row[o] = auroc(labels.loc[scored, o], m.predict_proba(agg.loc[scored])[:, 1])
        rows.append(row)
    return pd.DataFrame(rows).set_index("fold")


# --------------------------------------------------------------------------------------------
# EHR: recurrent models
# --------------------------------------------------------------------------------------------
def train_recurrent(train: SequenceData, val: SequenceData, *, cell: str = "lstm",
                    outcomes: Sequence[str] | None = None, hidden: int = 64, epochs: int = 10, lr: float = 3e-3,
                    weight_decay: float = 1e-4, batch_size: int = 128, seed: int = 0, device=None,
                    callbacks: Sequence = (), progress: bool = False):
    """Train a masked recurrent classifier; the validation patients' AUROC picks the best epoch.

    Args:
        train, val: padded sequences of the training and validation patients.
        cell: ``"lstm"`` or ``"gru"``.
        outcomes: outcomes to predict (one: single task; several: one head each); default all.
        hidden: recurrent units.
        epochs, lr, weight_decay, batch_size: Adam with a cosine schedule.
        seed: seeds the weights, the shuffling and :func:`medbench.training.fit`.
        device: torch device (default CPU).
        callbacks: passed to :func:`medbench.training.fit` (e.g. a TrainingPanel's).
        progress: show progress bars.

    Returns:
        ``(model, history)``: the model holds the best epoch's weights.
    """
    from medbench.training import fit

    outcomes = list(train.outcomes if outcomes is None else outcomes)
    if not outcomes:
        raise ConfigError("train_recurrent needs at least one outcome (outcomes=[...])")
    torch.manual_seed(seed)
    model = RecurrentClassifier(train.n_features, cell=cell, hidden_size=hidden, n_tasks=len(outcomes))
    task = "binary" if len(outcomes) == 1 else "multilabel"
    history = fit(model, train.loader(batch_size, shuffle=True, outcomes=outcomes, seed=seed),
                  val.loader(1024, outcomes=outcomes), loss_fn=nn.BCEWithLogitsLoss(),
                  epochs=epochs, lr=lr, weight_decay=weight_decay, scheduler="cosine",
                  metrics={"auroc": torch_metric("auroc", task)}, monitor="val_auroc", precision="fp32",
                  device=device if device is not None else "cpu", seed=seed, progress=progress,
                  callbacks=list(callbacks))
    return model, history


def fit_single_task(data: dict, cells: Sequence[str] = ("lstm", "gru"), outcomes: Sequence[str] | None = None,
                    **kw) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """One recurrent model per cell and outcome, scored on ``data["test"]``.

    Args:
        data: ``{"train", "val", "test"}`` :class:`~medbench.data.sequences.SequenceData`.
        cells: recurrent cells to train.
        outcomes: outcomes (default all of ``data["train"]``).
        **kw: passed to :func:`train_recurrent`.

    Returns:
        ``(probs, log)``: ``{cell: (N_test, K)}`` test risks and one row per fit (best epoch,
        validation AUROC, seconds).
    """
    outcomes = list(data["train"].outcomes if outcomes is None else outcomes)
    test = data["test"]
    probs = {cell: np.zeros((len(test), len(outcomes)), np.float32) for cell in cells}
    log = []
    for cell in cells:
        for j, o in enumerate(outcomes):
            t0 = time.time()
            model, history = train_recurrent(data["train"], data["val"], cell=cell, outcomes=[o], **kw)
            probs[cell][:, j] = predict_risk(model, test.X, test.lengths)[:, 0]
            log.append({"model": cell, "outcome": o, "best epoch": history.best_epoch,
                        "val AUROC": round(history.best_score, 4), "seconds": round(time.time() - t0, 1)})
    return probs, pd.DataFrame(log)


@torch.no_grad()
def predict_risk(model: nn.Module, X, lengths, batch_size: int = 1024, per_step: bool = False) -> np.ndarray:
    """Sigmoid risks of a recurrent classifier as a NumPy array.

    Args:
        model: a :class:`~medbench.models.recurrent.RecurrentClassifier` (switched to eval mode).
        X: ``(N, T, F)`` array or tensor.
        lengths: ``(N,)`` true numbers of visits.
        batch_size: patients per forward pass.
        per_step: risk after every visit instead of after the last one.

    Returns:
        ``(N, n_tasks)`` (or ``(N, T, n_tasks)`` with ``per_step``; 0.5 on padded steps).
    """
    model.eval()
    device = next(model.parameters()).device
    X = torch.as_tensor(np.asarray(X, np.float32))
    lengths = torch.as_tensor(np.asarray(lengths, np.int64))
    out = []
    for i in range(0, len(X), batch_size):
        logits = model(X[i:i + batch_size].to(device), lengths[i:i + batch_size], per_step=per_step)
        out.append(torch.sigmoid(logits.float()).cpu())
    return torch.cat(out).numpy()


# --------------------------------------------------------------------------------------------
# wearables: tremor severity
# --------------------------------------------------------------------------------------------
def split_tremor(meta: pd.DataFrame, *, seed: int = 0) -> dict[str, np.ndarray]:
    """Hold out patients of a tremor data set: a quarter for test, an eighth for validation.

    The patients go through :func:`medbench.data.sequences.split_patients` with exact counts
    (test ``max(2, n // 4)``, validation ``max(1, n // 8)``, the rest train).

    Args:
        meta: one row per window with a ``patient_id`` column.
        seed: seed of the split.

    Returns:
        ``{"train", "val", "test"}``: boolean row masks ``(N_windows,)``, disjoint by patient.
    """
    ids = np.unique(meta["patient_id"].to_numpy())
    n = len(ids)
    n_test, n_val = max(2, n // 4), max(1, n // 8)
    if n - n_test - n_val < 1:
        raise ConfigError(f"split_tremor needs at least 4 patients, got {n}: simulate more (n_patients)")
    splits = split_patients(ids, (n - n_test - n_val, n_val, n_test), seed=seed)
    pid = meta["patient_id"].to_numpy()
    return {k: np.isin(pid, v) for k, v in splits.items()}


def spectral_baseline(signals: np.ndarray, severity: np.ndarray, fs: float, fit_mask: np.ndarray) -> np.ndarray:
    """Severity from log 4-6 Hz power, a line fitted on ``fit_mask``'s windows.

    Args:
        signals: ``(N, 3, L)`` windows in g; severity: ``(N,)``; fs: sampling rate (Hz).
        fit_mask: ``(N,)`` bool, the windows the line is fitted on (training patients).

    Returns:
        ``(N,)`` predictions clipped to :data:`TREMOR_RANGE`.
    """
    from sklearn.linear_model import LinearRegression

    from medbench.data.tremor import band_power

    power = band_power(signals, fs)
    line = LinearRegression().fit(power[fit_mask, None], severity[fit_mask])
    return np.clip(line.predict(power[:, None]), *TREMOR_RANGE)


def _windows(signals, severity, mask, shuffle, batch_size, seed):
    ds = torch.utils.data.TensorDataset(torch.from_numpy(signals[mask]), torch.from_numpy(severity[mask])[:, None])
    return torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=shuffle,
                                       generator=torch.Generator().manual_seed(seed))


def fit_tremor_cnn(signals: np.ndarray, severity: np.ndarray, train_mask: np.ndarray, val_mask: np.ndarray, *,
                   epochs: int = 8, channels: int = 32, lr: float = 3e-3, weight_decay: float = 1e-4,
                   batch_size: int = 64, seed: int = 0, device=None, progress: bool = False):
    """Train a :class:`~medbench.models.wearable.TremorCNN` (smooth L1, Adam, cosine schedule).

    Args:
        signals: ``(N, 3, L)`` float32 windows; severity: ``(N,)`` float32 scores.
        train_mask, val_mask: ``(N,)`` bool, windows of the training / validation patients.
        epochs, channels, lr, weight_decay, batch_size: training settings.
        seed: seeds the weights, the shuffling and :func:`medbench.training.fit`.
        device: torch device (default CPU).
        progress: show progress bars.

    Returns:
        ``(model, history)``; the output bias starts at the training mean score.
    """
    from medbench.training import fit

    torch.manual_seed(seed)
    model = TremorCNN(channels=channels, init_score=float(severity[train_mask].mean()))
    history = fit(model, _windows(signals, severity, train_mask, True, batch_size, seed),
                  _windows(signals, severity, val_mask, False, batch_size, seed), loss_fn=nn.SmoothL1Loss(),
                  epochs=epochs, lr=lr, weight_decay=weight_decay, scheduler="cosine", precision="fp32",
                  device=device if device is not None else "cpu", seed=seed, progress=progress)
    return model, history


@torch.no_grad()
def predict_tremor(model: nn.Module, signals: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Severity ``(N,)`` of every window ``(N, 3, L)``, clipped to :data:`TREMOR_RANGE`."""
    model.eval()
    device = next(model.parameters()).device
    x = torch.as_tensor(np.asarray(signals, np.float32))
    out = [model(x[i:i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)]
    return np.clip(torch.cat(out).numpy().ravel(), *TREMOR_RANGE)


def tremor_errors(truth: np.ndarray, preds: dict[str, np.ndarray], activity, mask: np.ndarray) -> pd.DataFrame:
    """Mean absolute error per activity and over all windows of ``mask``.

    Args:
        truth: ``(N,)`` true severity; preds: ``{name: (N,)}``; activity: ``(N,)`` labels;
        mask: ``(N,)`` bool, the windows to score (the test patients').

    Returns:
        One row per activity plus ``"all windows"``, one column per model.
    """
    names = list(preds)
    err = pd.DataFrame({"activity": np.asarray(activity).astype(str),
                        **{k: np.abs(np.asarray(preds[k]) - truth) for k in names}})[np.asarray(mask)]
    return pd.concat([err.groupby("activity")[names].mean(), err[names].mean().rename("all windows").to_frame().T])


def weekly_scores(meta: pd.DataFrame, truth: np.ndarray, preds: dict[str, np.ndarray], mask: np.ndarray) -> pd.DataFrame:
    """Median score per patient and week (``true`` and one column per model) over ``mask``'s windows."""
    cols = ["true", *preds]
    return (meta.assign(true=truth, **preds)[np.asarray(mask)]
            .groupby(["patient_id", "week"])[cols].median().reset_index())
