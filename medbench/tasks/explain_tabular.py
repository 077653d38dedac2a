"""Explanations of chapter 04's EHR models against the simulator's true risk factors (chapter 07).

The EHR simulator knows every patient's log-odds contribution of each risk factor
(:func:`medbench.data.ehr.factor_contributions`). Four explanations are compared with it, each
grouped from model features to the same factors (``sbp__last``, ``sbp__mean``, ``sbp_delta`` ...
all belong to ``sbp``; features of the visit pattern, such as how often a value was measured
(``sbp__count``, ``sbp_observed``), to none):

- ``logreg``: a logistic regression's coefficients times the patient's standardised features;
- ``permutation``: scikit-learn's permutation importance of a gradient-boosting model (global only);
- ``shap``: captum's ``KernelShap`` on the same gradient-boosting model's log-odds, each factor's
  features switched on and off together (``shap`` itself pulls numba/llvmlite: avoided);
- ``ig``: captum's ``IntegratedGradients`` over the visit sequence of a GRU
  (:func:`medbench.tasks.disease.train_recurrent`), summed over visits.

Global importance is the mean absolute contribution over patients; it is compared with the truth
by Spearman correlation over factors, and per patient by the overlap of the top-3 factors.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from medbench.errors import ConfigError

__all__ = ["EHR_METHODS", "feature_factor", "group_by_factor", "EHRExplanations", "explain_ehr"]

EHR_METHODS = ("shap", "ig", "permutation", "logreg")


def feature_factor(name: str) -> str | None:
    """The risk factor a model feature is read from (``"sbp__last"`` -> ``"sbp"``, ``"male"`` ->
    ``"sex"``), or ``None`` for features of the visit pattern (``gap``, ``visit_acute`` ...)."""
    from medbench.data.ehr import RISK_FACTORS

    if name == "male":
        return "sex"
    if name.endswith(("__count", "_observed")):
        return None  # how often a value was measured is the visit pattern, not the value
    base = name.split("__")[0]
    if base.endswith("_delta"):
        base = base[: -len("_delta")]
    return base if base in RISK_FACTORS else None


def group_by_factor(attributions, feature_names) -> pd.DataFrame:
    """Sum ``(N, F)`` per-feature attributions into ``(N, len(RISK_FACTORS))`` per-factor ones."""
    from medbench.data.ehr import RISK_FACTORS

    a = np.asarray(attributions, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != len(feature_names):
        raise ConfigError(f"attributions {a.shape} must be (N, {len(feature_names)}) like feature_names")
    out = pd.DataFrame(0.0, index=range(len(a)), columns=list(RISK_FACTORS))
    for j, name in enumerate(feature_names):
        f = feature_factor(name)
        if f is not None:
            out[f] += a[:, j]
    return out


@dataclass
class EHRExplanations:
    """What :func:`explain_ehr` returns.

    Attributes:
        truth: ``(n, K)`` true per-factor log-odds contributions of the explained patients.
        per_patient: ``{method: (n, K)}`` per-factor attributions (no ``permutation``: global only).
        importance: ``(K, methods + ["truth"])`` global importance (mean absolute contribution;
            permutation: AUROC drop).
        table: one row per method: ``truth_spearman``, ``top3_agreement`` (NaN for permutation),
            ``auroc`` of the explained model on the test patients.
        patient_ids: the explained patients; probabilities: ``{model: (n,)}`` their predicted risk.
    """

    truth: pd.DataFrame
    per_patient: dict[str, pd.DataFrame]
    importance: pd.DataFrame
    table: pd.DataFrame
    patient_ids: np.ndarray
    probabilities: dict[str, np.ndarray] = field(default_factory=dict)
    outcome: str = "cvd"


def _logit(p):
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def explain_ehr(cohort, outcome: str = "cvd", *, n_explain: int = 200, max_len: int = 16, hidden: int = 32,
                epochs: int = 4, shap_samples: int = 200, ig_steps: int = 32, n_repeats: int = 5, seed: int = 0,
                progress: bool = False) -> EHRExplanations:
    """Train chapter 04's models on ``cohort`` for ``outcome`` and score four explanations against the truth.

    Args:
        cohort: a :class:`medbench.data.ehr.EHRCohort`.
        outcome: one of the simulator's outcomes (``"cvd"`` depends on the most factors).
        n_explain: test patients explained (KernelSHAP and IG run on these).
        max_len, hidden, epochs: the GRU's input length, units and epochs.
        shap_samples: KernelSHAP coalitions per patient.
        ig_steps: Integrated Gradients' path steps.
        n_repeats: permutation-importance repeats.
        seed: seed of the split, the models and the explainers.
        progress: progress bars.

    Returns:
        :class:`EHRExplanations`.
    """
    from captum.attr import IntegratedGradients, KernelShap
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.inspection import permutation_importance
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from medbench.data.ehr import MEDICATIONS, RISK_FACTORS, VARIABLES, factor_contributions
    from medbench.data.sequences import aggregate_features
    from medbench.metrics import auroc, topk_agreement
    from medbench.settings import check_seed
    from medbench.tasks.disease import predict_risk, prepare_ehr, train_recurrent

    check_seed(seed)
    splits, data, _ = prepare_ehr(cohort, max_len=max_len, seed=seed, outcomes=[outcome], stratify=outcome)
    tr, va, te = data["train"], data["val"], data["test"]
    keep = {k: d.at_risk[:, 0] for k, d in data.items()}
    ids = {k: d.patient_ids[keep[k]] for k, d in data.items()}
    variables = list(VARIABLES) + list(MEDICATIONS)
    agg = {k: aggregate_features(cohort.observations, cohort.patients, ids[k], variables) for k in ids}
    y = {k: cohort.labels([outcome], ids[k])[:, 0] for k in ids}
    names = list(agg["train"].columns)
    imp = SimpleImputer().fit(agg["train"])
    sc = StandardScaler().fit(imp.transform(agg["train"]))
    z = {k: sc.transform(imp.transform(agg[k])) for k in ids}

    rng = np.random.default_rng(seed)
    sel = np.sort(rng.permutation(len(ids["test"]))[:n_explain])
    pid = ids["test"][sel]
    lat = cohort.latent.set_index("patient_id")
    truth_all = factor_contributions(lat, outcome)  # centred on the whole cohort
    truth = truth_all.loc[pid].reset_index(drop=True)

    # logistic regression: coefficient x standardised feature (its exact contribution to the log-odds)
    lr = LogisticRegression(max_iter=2000).fit(z["train"], y["train"])
    per = {"logreg": group_by_factor(z["test"][sel] * lr.coef_[0], names)}
    probs = {"logreg": lr.predict_proba(z["test"][sel])[:, 1]}
    aucs = {"logreg": auroc(y["test"], lr.predict_proba(z["test"])[:, 1])}

    # gradient boosting: permutation importance (global) and KernelSHAP by factor (per patient)
    gb = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, early_stopping=True, random_state=seed)
    gb.fit(z["train"], y["train"])
    aucs["permutation"] = aucs["shap"] = auroc(y["test"], gb.predict_proba(z["test"])[:, 1])
    perm = permutation_importance(gb, z["test"], y["test"], scoring="roc_auc", n_repeats=n_repeats, random_state=seed)
    perm_global = group_by_factor(perm.importances_mean[None], names).iloc[0]

    def gb_logit(t):
        return torch.from_numpy(_logit(gb.predict_proba(t.detach().numpy().astype(np.float64))[:, 1]))

    groups = np.array([RISK_FACTORS.index(feature_factor(n)) if feature_factor(n) else len(RISK_FACTORS)
                       for n in names])
    fmask = torch.from_numpy(groups)[None]
    ks = KernelShap(gb_logit)
    x_te = torch.from_numpy(z["test"][sel])
    base = torch.zeros(1, len(names), dtype=torch.float64)  # the training mean (standardised)
    rows = range(len(sel))
    if progress:
        from tqdm.auto import tqdm

        rows = tqdm(rows, desc="KernelSHAP")
    torch.manual_seed(seed)
    shap = np.zeros((len(sel), len(RISK_FACTORS)))
    for i in rows:
        a = ks.attribute(x_te[i:i + 1], baselines=base, feature_mask=fmask, n_samples=shap_samples,
                         perturbations_per_eval=shap_samples)[0].numpy()
        for k in range(len(RISK_FACTORS)):  # every feature of a group carries the group's value
            hit = np.flatnonzero(groups == k)
            shap[i, k] = a[hit[0]] if len(hit) else 0.0
    per["shap"] = pd.DataFrame(shap, columns=list(RISK_FACTORS))
    probs["shap"] = gb.predict_proba(z["test"][sel])[:, 1]

    # GRU over the visit sequence: Integrated Gradients, summed over visits
    net, _ = train_recurrent(tr, va, cell="gru", outcomes=[outcome], hidden=hidden, epochs=epochs, seed=seed,
                             progress=progress)
    net.eval()
    risk_te = predict_risk(net, te.X, te.lengths)[:, 0]
    aucs["ig"] = auroc(te.y[keep["test"], 0], risk_te[keep["test"]])
    rows_te = np.flatnonzero(keep["test"])[sel]
    X = torch.from_numpy(te.X[rows_te])
    L = torch.from_numpy(np.asarray(te.lengths[rows_te], np.int64))
    ig = IntegratedGradients(lambda x, lengths: net(x, lengths)[:, 0])
    with torch.backends.cudnn.flags(enabled=False):
        a = ig.attribute(X, baselines=torch.zeros_like(X), additional_forward_args=(L,), n_steps=ig_steps,
                         internal_batch_size=256)
    per["ig"] = group_by_factor(a.detach().sum(1).numpy(), list(te.feature_names))
    probs["ig"] = risk_te[rows_te]

    imp_tab = pd.DataFrame({m: per[m].abs().mean() for m in ("shap", "ig", "logreg")})
    imp_tab["permutation"] = perm_global
    imp_tab["truth"] = truth.abs().mean()
    imp_tab = imp_tab[list(EHR_METHODS) + ["truth"]]
    from scipy.stats import spearmanr

    table = pd.DataFrame({m: {"truth_spearman": float(spearmanr(imp_tab[m], imp_tab["truth"]).statistic),
                              "top3_agreement": topk_agreement(per[m].to_numpy(), truth.to_numpy(), 3)
                              if m in per else np.nan,
                              "auroc": aucs[m]} for m in EHR_METHODS}).T
    return EHRExplanations(truth, per, imp_tab, table, pid, probs, outcome)
