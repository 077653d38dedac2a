"""Synthetic patients (chapter 05): whole rows from a generative model, and how to judge them.

Stages:

- data: :class:`RowCodec` turns a warfarin table (:data:`medbench.data.warfarin.COVARIATES` +
  ``dose``) into one-hot categorical codes and standardised continuous columns (fitted on the
  training patients) and back;
- model + fit: :func:`train_tabular_vae` trains a :class:`~medbench.models.generative.TabularVAE`
  with :func:`medbench.training.fit`; :func:`synthesize` draws ``n`` new patients;
- evaluation: :func:`tstr` (train a dosing model on synthetic rows, test on real test patients,
  beside TRTR: trained on the real training rows), :func:`detection_auc` (a gradient-boosting
  classifier telling real from synthetic, cross-validated; 0.5 is ideal) and :func:`dcr`
  (distance to the closest training record, synthetic->train against test->train: a ratio well
  below 1 means the generator copies training patients).

The detection and DCR measures are a few lines of scikit-learn: ``sdmetrics`` (MIT) offers both
but is not a medbench dependency, and ``sdv``/``ctgan`` (BUSL) and ``synthcity`` (needs torch<2.3)
cannot be used here.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from medbench.data.warfarin import AGE_DECADES, CYP2C9, RACES, VKORC1, design_matrix
from medbench.errors import ConfigError
from medbench.settings import check_seed

__all__ = ["RowCodec", "train_tabular_vae", "synthesize", "tstr", "detection_auc", "dcr"]

_CATS = {"age_decade": AGE_DECADES, "race": RACES, "vkorc1": VKORC1, "cyp2c9": CYP2C9,
         "amiodarone": (0, 1), "inducer": (0, 1)}
_CONT = ("height_cm", "weight_kg", "log_dose")


class RowCodec:
    """One-hot categorical columns + normal scores of the continuous ones (height, weight, log dose).

    Real records are heaped: heights were measured in inches (165.10 cm = 65 in), doses are
    multiples of tablets (35, 17.5, 21 mg/week ...). A generator's raw continuous output is not, and
    a real-vs-synthetic classifier reads that at once (detection AUROC ~0.9 from height alone). So
    each continuous column goes through its training patients' empirical distribution (a Gaussian
    copula marginal, as in Gaussian-copula and CTGAN-style synthesizers): :meth:`encode` maps a value
    to the normal score of its mid-rank, :meth:`decode` maps a score back through the empirical
    quantile function, so synthetic values are drawn from the recording grid with its real
    frequencies (one column at a time: no row is copied).
    """

    cat_sizes = [len(v) for v in _CATS.values()]

    def fit(self, table: pd.DataFrame) -> "RowCodec":
        c = self._cont(table)
        self.sorted_ = [np.sort(c[:, j]) for j in range(c.shape[1])]
        return self

    @staticmethod
    def _cont(table):
        return np.stack([table["height_cm"].values, table["weight_kg"].values, np.log(table["dose"].values)], 1)

    def _scores(self, c: np.ndarray) -> np.ndarray:
        from scipy.stats import norm

        out = np.empty_like(c)
        for j, srt in enumerate(self.sorted_):
            n = len(srt)
            mid = (np.searchsorted(srt, c[:, j], "left") + np.searchsorted(srt, c[:, j], "right")) / 2
            out[:, j] = norm.ppf((mid + 0.5) / (n + 1))
        return out

    def _values(self, z: np.ndarray) -> np.ndarray:
        from scipy.stats import norm

        out = np.empty_like(z)
        for j, srt in enumerate(self.sorted_):
            idx = np.clip((norm.cdf(z[:, j]) * len(srt)).astype(int), 0, len(srt) - 1)
            out[:, j] = srt[idx]
        return out

    def encode(self, table: pd.DataFrame) -> torch.Tensor:
        """``(N, 30)`` float32: one-hot codes then the continuous columns' normal scores."""
        parts = []
        for col, levels in _CATS.items():
            idx = pd.Categorical(table[col], categories=list(levels)).codes
            if (idx < 0).any():
                raise ConfigError(f"column {col!r} has values outside {list(levels)}")
            parts.append(np.eye(len(levels))[idx])
        parts.append(self._scores(self._cont(table)))
        return torch.as_tensor(np.concatenate(parts, 1), dtype=torch.float32)

    def decode(self, codes: torch.Tensor, cont: torch.Tensor) -> pd.DataFrame:
        """A table like the input's from ``(N, 6)`` level codes and ``(N, 3)`` normal scores."""
        codes, cont = codes.cpu().numpy(), self._values(cont.cpu().numpy().astype(np.float64))
        out = pd.DataFrame({col: np.asarray(levels, dtype=object)[codes[:, j]]
                            for j, (col, levels) in enumerate(_CATS.items())})
        for col in ("age_decade", "amiodarone", "inducer"):
            out[col] = out[col].astype(int)
        out["height_cm"], out["weight_kg"], out["dose"] = cont[:, 0], cont[:, 1], np.exp(cont[:, 2])
        out.insert(0, "patient_id", [f"syn{i:05d}" for i in range(len(out))])
        return out


def train_tabular_vae(train: pd.DataFrame, val: pd.DataFrame | None = None, *, latent: int = 8, hidden: int = 128,
                      epochs: int = 80, batch_size: int = 128, lr: float = 2e-3, seed: int = 0,
                      progress: bool = False):
    """Fit a :class:`RowCodec` and a ``TabularVAE`` on the training patients (``training.fit``).

    Returns:
        ``(model, codec, history)``.
    """
    from torch.utils.data import DataLoader, TensorDataset

    from medbench.models.generative import TabularVAE
    from medbench.training import fit

    seed = check_seed(seed)
    torch.manual_seed(seed)
    codec = RowCodec().fit(train)
    xt = codec.encode(train)
    model = TabularVAE(codec.cat_sizes, len(_CONT), latent=latent, hidden=hidden)
    tl = DataLoader(TensorDataset(xt, xt), batch_size=batch_size, shuffle=True,
                    generator=torch.Generator().manual_seed(seed))
    vl = None if val is None else DataLoader(TensorDataset(codec.encode(val), codec.encode(val)), batch_size=1024)
    hist = fit(model, tl, vl, loss_fn=model.loss, epochs=epochs, lr=lr, device="cpu", precision="fp32",
               progress=progress, seed=seed)
    return model.eval(), codec, hist


def synthesize(model, codec: RowCodec, n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` synthetic patients (a table with the real table's columns)."""
    torch.manual_seed(check_seed(seed))
    return codec.decode(*model.sample(int(n)))


def tstr(synthetic: pd.DataFrame, train: pd.DataFrame, test: pd.DataFrame) -> dict:
    """Train-on-synthetic, test-on-real vs train-on-real: MAE (mg/week) of the IWPC-design refit.

    Returns:
        ``{"tstr_mae", "trtr_mae", "tstr_pw20", "trtr_pw20"}``.
    """
    from medbench.metrics import dose_mae, pw20
    from medbench.tasks.dosing import RefitEquation

    y = test["dose"].values
    p_syn, p_real = RefitEquation().fit(synthetic).predict(test), RefitEquation().fit(train).predict(test)
    return {"tstr_mae": dose_mae(y, p_syn), "trtr_mae": dose_mae(y, p_real),
            "tstr_pw20": pw20(y, p_syn), "trtr_pw20": pw20(y, p_real)}


def _features(table: pd.DataFrame) -> np.ndarray:
    return np.column_stack([design_matrix(table), np.log(table["dose"].values)])


def detection_auc(real: pd.DataFrame, synthetic: pd.DataFrame, *, seed: int = 0, folds: int = 5) -> float:
    """Cross-validated AUROC of a gradient-boosting classifier telling real rows from synthetic ones.

    0.5: indistinguishable; 1.0: trivially told apart. Equal numbers of real and synthetic rows are
    used. Pass *held-out* real patients (not the generator's training patients): a generator that
    copies its training rows then scores about 0.5 here, and :func:`dcr` is what catches it.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import cross_val_predict

    from medbench.metrics import auroc

    rng = np.random.default_rng(check_seed(seed))
    n = min(len(real), len(synthetic))
    r = real.iloc[rng.choice(len(real), n, replace=False)]
    s = synthetic.iloc[rng.choice(len(synthetic), n, replace=False)]
    X, y = np.vstack([_features(r), _features(s)]), np.r_[np.zeros(n), np.ones(n)]
    clf = HistGradientBoostingClassifier(max_iter=150, learning_rate=0.05, random_state=seed)
    p = cross_val_predict(clf, X, y, cv=folds, method="predict_proba")[:, 1]
    return float(auroc(y, p))


def dcr(synthetic: pd.DataFrame, train: pd.DataFrame, test: pd.DataFrame) -> dict:
    """Distance to the closest training record (standardised features, Euclidean).

    Returns:
        ``{"dcr_synthetic": median synthetic->train distance, "dcr_test": median test->train
        distance, "dcr_ratio": their ratio, "share_copies": share of synthetic rows at distance ~0}``.
        Real test patients are the reference: synthetic rows should be no closer to the training
        patients than new real patients are (ratio about 1); a ratio well below 1 flags copies.
    """
    from sklearn.neighbors import NearestNeighbors

    ft = _features(train)
    mean, sd = ft.mean(0), ft.std(0) + 1e-6
    nn_ = NearestNeighbors(n_neighbors=1).fit((ft - mean) / sd)
    d_syn = nn_.kneighbors((_features(synthetic) - mean) / sd)[0][:, 0]
    d_test = nn_.kneighbors((_features(test) - mean) / sd)[0][:, 0]
    return {"dcr_synthetic": float(np.median(d_syn)), "dcr_test": float(np.median(d_test)),
            "dcr_ratio": float(np.median(d_syn) / max(np.median(d_test), 1e-12)),
            "share_copies": float(np.mean(d_syn < 1e-6))}
