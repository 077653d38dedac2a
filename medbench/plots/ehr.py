"""Figures and report tables of chapter 04 (EHR disease prediction, survival, wearables)."""
from __future__ import annotations

import numpy as np
import pandas as pd

import medbench.plots  # noqa: F401  (selects a non-interactive backend when needed)

_PANEL_VARS = ("sbp", "glucose", "bmi", "ldl", "hba1c", "hdl")
_LABELS = {"sbp": "systolic BP (mmHg)", "glucose": "fasting glucose (mmol/L)", "bmi": "BMI (kg/m²)",
           "ldl": "LDL (mmol/L)", "hba1c": "HbA1c (%)", "hdl": "HDL (mmol/L)", "hr": "heart rate (bpm)"}
_MARKERS = {"routine": "o", "chronic": "s", "acute": "^"}


def plot_patient_history(history: pd.DataFrame, risk: dict | None = None, times=None, variables=_PANEL_VARS,
                         title: str = "", window_years: float | None = None):
    """One patient's variables over time, medications as bars, and (optionally) risk after each visit.

    Args:
        history: the wide table from :meth:`medbench.data.ehr.EHRCohort.history`.
        risk: ``{outcome: (T,) probabilities}`` — a model's risk after each visit.
        times: ``(T,)`` visit times for ``risk``.
        variables: which variables get a panel.
        window_years: draw the end of the observation window.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    variables = [v for v in variables if v in history.columns]
    n = len(variables) + 1 + (risk is not None)
    fig, axes = plt.subplots(n, 1, figsize=(7.5, 1.35 * n + 0.6), sharex=True)
    axes = np.atleast_1d(axes)
    for ax, var in zip(axes, variables):
        sub = history[["time", "visit_type", var]].dropna()
        ax.plot(sub["time"], sub[var], color="0.6", lw=0.8)
        for vt, m in _MARKERS.items():
            s = sub[sub["visit_type"] == vt]
            ax.scatter(s["time"], s[var], marker=m, s=18, label=vt, zorder=3)
        ax.set_ylabel(_LABELS.get(var, var), fontsize=7, rotation=0, ha="right", va="center")
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=6, ncol=3, loc="upper left", frameon=False)
    ax = axes[len(variables)]
    meds = [m for m in ("antihypertensive", "statin", "metformin") if m in history.columns]
    for i, m in enumerate(meds):
        on = history.loc[history[m] == 1, "time"]
        if len(on):
            ax.broken_barh([(on.min(), history["time"].max() - on.min() + 0.05)], (i - 0.35, 0.7), color=f"C{i + 3}")
    ax.set_yticks(range(len(meds)), meds, fontsize=7)
    ax.set_ylim(-0.6, len(meds) - 0.4)
    if risk is not None:
        ax = axes[-1]
        for k, p in risk.items():
            ax.step(times, p, where="post", label=k, lw=1.5)
        ax.set_ylabel("model risk", fontsize=7, rotation=0, ha="right", va="center")
        ax.set_ylim(0, 1)
        ax.legend(fontsize=6, ncol=3, loc="upper left", frameon=False)
        ax.tick_params(labelsize=7)
    if window_years is not None:
        for a in axes:
            a.axvline(window_years, color="k", ls=":", lw=0.8)
    axes[-1].set_xlabel("years since first visit")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_auroc_vs_bayes(table: pd.DataFrame):
    """AUROC with 95% CI per model and outcome, with the Bayes-optimal AUROC as a black tick.

    Args:
        table: rows with ``outcome``, ``model``, ``auroc``, ``auroc_low``, ``auroc_high``, ``bayes_auroc``.
    """
    import matplotlib.pyplot as plt

    outcomes = list(dict.fromkeys(table["outcome"]))
    models = list(dict.fromkeys(table["model"]))
    fig, ax = plt.subplots(figsize=(8, 3.4))
    width = 0.8 / len(models)
    for j, m in enumerate(models):
        sub = table[table["model"] == m].set_index("outcome").reindex(outcomes)
        x = np.arange(len(outcomes)) + (j - (len(models) - 1) / 2) * width
        err = np.vstack([sub["auroc"] - sub["auroc_low"], sub["auroc_high"] - sub["auroc"]])
        ax.bar(x, sub["auroc"], width, yerr=err, capsize=2, label=m)
    bayes = table.groupby("outcome")["bayes_auroc"].first().reindex(outcomes)
    for i, b in enumerate(bayes):
        ax.hlines(b, i - 0.45, i + 0.45, color="k", lw=2, label="Bayes-optimal" if i == 0 else None)
    ax.set_xticks(range(len(outcomes)), outcomes)
    ax.set_ylim(0.5, 1.0)
    ax.set_ylabel("test AUROC (95% CI)")
    ax.legend(fontsize=7, ncol=3, loc="upper right")
    fig.tight_layout()
    return fig


def plot_calibration_grid(y: np.ndarray, probs: dict, outcomes, n_bins: int = 10, at_risk: np.ndarray | None = None):
    """Reliability diagrams with quantile bins, one panel per outcome, every model overlaid.

    Each point is one bin holding the same number of patients (``n_bins`` quantiles of the
    model's predictions), so every point rests on ``N / n_bins`` patients, unlike uniform bins
    that put most patients of a rare outcome in the first bin and leave the others nearly empty.

    Args:
        y: ``(N, n_outcomes)`` labels; probs: ``{model: (N, n_outcomes)}``.
        n_bins: patients per bin = ``N / n_bins``.
        at_risk: ``(N, n_outcomes)`` bool, the patients scored per outcome (default all).
    """
    import matplotlib.pyplot as plt
    from sklearn.calibration import calibration_curve

    from medbench.metrics import brier

    fig, axes = plt.subplots(1, len(outcomes), figsize=(4.0 * len(outcomes), 3.8))
    axes = np.atleast_1d(axes)
    for j, (ax, o) in enumerate(zip(axes, outcomes)):
        sel = np.ones(len(y), bool) if at_risk is None else np.asarray(at_risk)[:, j]
        hi = 0.0
        for name, p in probs.items():
            pj = np.asarray(p)[sel, j]
            frac, mean = calibration_curve(y[sel, j], pj, n_bins=n_bins, strategy="quantile")
            ax.plot(mean, frac, "o-", ms=3, label=f"{name}: Brier {brier(y[sel, j], pj):.3f}")
            hi = max(hi, float(np.quantile(pj, 0.995)), float(frac.max()))
        lim = min(1.0, hi * 1.1)
        ax.plot([0, lim], [0, lim], ls="--", c="grey", lw=1, label="perfectly calibrated")
        ax.set(xlim=(0, lim), ylim=(0, lim), title=f"{o} (n={int(sel.sum())})",
               xlabel="mean predicted risk (quantile bin)", ylabel="observed frequency")
        ax.legend(fontsize=6, loc="upper left")
    fig.tight_layout()
    return fig


def plot_km(time, event, groups, title: str = "", xlabel: str = "days"):
    """Kaplan–Meier curves (lifelines) with 95% bands, one per group."""
    import matplotlib.pyplot as plt
    from lifelines import KaplanMeierFitter

    fig, ax = plt.subplots(figsize=(5, 3.4))
    groups = np.asarray(groups)
    for g in pd.unique(groups):
        sel = groups == g
        KaplanMeierFitter(label=f"{g} (n={sel.sum()})").fit(np.asarray(time)[sel], np.asarray(event)[sel]).plot(ax=ax)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("survival probability")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_tremor_windows(signals, meta: pd.DataFrame, index, fs: float):
    """A few accelerometer windows (centred, three axes) with their activity and true relative severity."""
    import matplotlib.pyplot as plt

    index = list(index)
    fig, axes = plt.subplots(len(index), 1, figsize=(7, 1.3 * len(index)), sharex=True)
    axes = np.atleast_1d(axes)
    t = np.arange(signals.shape[-1]) / fs
    for ax, i in zip(axes, index):
        x = signals[i] - signals[i].mean(-1, keepdims=True)
        for a, name in enumerate("xyz"):
            ax.plot(t, x[a], lw=0.7, label=name)
        row = meta.iloc[i]
        ax.set_title(f"{row['activity']}, relative severity {row['severity']:.2f}", fontsize=8, loc="left")
        ax.tick_params(labelsize=7)
        ax.set_ylabel("g", fontsize=7)
    axes[0].legend(fontsize=6, ncol=3, loc="upper right")
    axes[-1].set_xlabel("seconds")
    fig.tight_layout()
    return fig


def plot_tremor_tracking(weekly: pd.DataFrame, patients=None, max_patients: int = 6):
    """True weekly relative severity against the model's and the baseline's weekly estimates.

    Args:
        weekly: rows ``patient_id``, ``week``, ``true``, ``model``, ``baseline``.
    """
    import matplotlib.pyplot as plt

    ids = list(patients if patients is not None else pd.unique(weekly["patient_id"])[:max_patients])
    cols = min(3, len(ids))
    rows = int(np.ceil(len(ids) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), sharex=True, sharey=True, squeeze=False)
    for ax, pid in zip(axes.ravel(), ids):
        d = weekly[weekly["patient_id"] == pid]
        ax.plot(d["week"], d["true"], "k-", lw=2, label="true")
        ax.plot(d["week"], d["model"], "o-", ms=3, label="1D-CNN")
        ax.plot(d["week"], d["baseline"], "s--", ms=3, label="4-6 Hz power")
        ax.set_title(f"patient {pid}", fontsize=8)
        ax.set_ylim(-0.2, 4.2)
    for ax in axes.ravel()[len(ids):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=6)
    for ax in axes[-1]:
        ax.set_xlabel("week")
    for ax in axes[:, 0]:
        ax.set_ylabel("relative severity (0-4)")
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------------------
# report tables
# ------------------------------------------------------------------------------------------------
def _masks(y: np.ndarray, at_risk) -> np.ndarray:
    if at_risk is None:
        return np.ones(y.shape, bool)
    at_risk = np.asarray(at_risk, bool)
    if at_risk.shape != y.shape:
        from medbench.errors import DataError

        raise DataError(f"at_risk has shape {at_risk.shape} but the labels have {y.shape}: pass data['test'].at_risk")
    return at_risk


def _check_rows(n: int, name: str, values) -> np.ndarray:
    values = np.asarray(values)
    if len(values) != n:
        from medbench.errors import DataError

        raise DataError(f"{name} has {len(values)} rows but the labels have {n}: align it by patient id "
                        "(e.g. cohort.risk(outcome, patient_ids=data['test'].patient_ids))")
    return values


def outcome_table(y: np.ndarray, probs: dict, outcomes, bayes: dict, n_boot: int = 200, seed: int = 0,
                  at_risk: np.ndarray | None = None) -> pd.DataFrame:
    """AUROC and AUPRC (bootstrap 95% CIs, :mod:`medbench.metrics`), Brier, calibration and the gap to Bayes.

    Every interval of an outcome uses the same ``n_boot`` resamples of its scored patients
    (``seed``), the ones :func:`paired_table` uses for differences.

    Args:
        y: ``(N, n_outcomes)`` labels.
        probs: ``{model: (N, n_outcomes) probabilities}``.
        outcomes: outcome names (columns of ``y``).
        bayes: ``{outcome: (N,) true risk}`` in the rows' order.
        at_risk: ``(N, n_outcomes)`` bool, the patients scored per outcome (default all).

    Returns:
        One row per (outcome, model), the true risk itself included as model "bayes (true risk)":
        ``n``, ``auroc`` (``_low``, ``_high``), ``auprc`` (same), ``brier``, ``cal_slope``,
        ``cal_intercept``, ``bayes_auroc``, ``gap_to_bayes``.
    """
    from medbench.metrics import auprc, auroc, bootstrap_ci, brier, calibration_slope_intercept

    mask = _masks(y, at_risk)
    rows = []
    for j, o in enumerate(outcomes):
        sel = mask[:, j]
        b = _check_rows(len(y), f"bayes[{o!r}]", bayes[o])[sel]
        yj = y[sel, j]
        b_auc = auroc(yj, b)
        for name, p in list(probs.items()) + [("bayes (true risk)", None)]:
            pj = b if p is None else _check_rows(len(y), f"probs[{name!r}]", p)[sel, j]
            a = bootstrap_ci(auroc, yj, pj, n_boot=n_boot, seed=seed)
            pr = bootstrap_ci(auprc, yj, pj, n_boot=n_boot, seed=seed)
            slope, intercept = calibration_slope_intercept(yj, pj)
            rows.append({"outcome": o, "model": name, "n": int(sel.sum()), "auroc": a[0], "auroc_low": a[1],
                         "auroc_high": a[2], "auprc": pr[0], "auprc_low": pr[1], "auprc_high": pr[2],
                         "brier": brier(yj, pj), "cal_slope": slope, "cal_intercept": intercept,
                         "bayes_auroc": b_auc, "gap_to_bayes": b_auc - a[0]})
    return pd.DataFrame(rows)


def paired_table(y: np.ndarray, probs: dict, outcomes, pairs, n_boot: int = 200, seed: int = 0,
                 at_risk: np.ndarray | None = None) -> pd.DataFrame:
    """AUROC differences between two scores on the same patients, with paired bootstrap 95% CIs.

    Each resample draws patients once and scores *both* models on them
    (:func:`medbench.metrics.paired_bootstrap_diff`, the same resamples as :func:`outcome_table`
    with the same ``seed``): the interval of the difference, which two separate intervals do
    not give (the models' errors are correlated).

    Args:
        y: ``(N, n_outcomes)`` labels.
        probs: ``{name: (N, n_outcomes)}`` scores, or ``{name: {outcome: (N,)}}`` (e.g. the true risk).
        outcomes: outcome names.
        pairs: ``[(a, b), ...]`` names in ``probs`` (a name may also be a ``{outcome: name}`` dict,
            e.g. the best sequence model per outcome); the row is AUROC(a) − AUROC(b).
        at_risk: as in :func:`outcome_table`.

    Returns:
        One row per (outcome, pair): ``outcome``, ``a``, ``b``, ``diff``, ``low``, ``high``,
        ``excludes_0`` (the interval lies entirely above or below 0).
    """
    from medbench.metrics import auroc, paired_bootstrap_diff

    mask = _masks(y, at_risk)

    def column(name, j, o):
        p = probs[name]
        p = p[o] if isinstance(p, dict) else np.asarray(p)[:, j]
        return _check_rows(len(y), f"probs[{name!r}]", p)

    rows = []
    for j, o in enumerate(outcomes):
        sel = mask[:, j]
        for a, b in pairs:
            a_name = a[o] if isinstance(a, dict) else a
            b_name = b[o] if isinstance(b, dict) else b
            d, lo, hi = paired_bootstrap_diff(auroc, y[sel, j], column(a_name, j, o)[sel], column(b_name, j, o)[sel],
                                              n_boot=n_boot, seed=seed)
            rows.append({"outcome": o, "a": a_name, "b": b_name, "diff": d, "low": lo, "high": hi,
                         "excludes_0": bool(lo > 0 or hi < 0)})
    return pd.DataFrame(rows)


def subgroup_table(y: np.ndarray, p: np.ndarray, patients: pd.DataFrame, outcomes,
                   age_bins=(0, 45, 55, 65, 200), at_risk: np.ndarray | None = None, n_boot: int = 200,
                   seed: int = 0) -> pd.DataFrame:
    """AUROC per outcome within sex and age bands, with n, events and bootstrap 95% CIs.

    Args:
        y, p: ``(N, n_outcomes)`` labels and one model's probabilities.
        patients: ``(N,)`` rows with ``sex`` and ``age`` in the same order.
        at_risk: as in :func:`outcome_table` (a group's counts and AUROC use its at-risk patients).
        n_boot, seed: the percentile bootstrap within each group (NaN bounds when a group has too
            few events for 10 usable resamples).

    Returns:
        One row per group: ``group``, ``value``, ``n``, then per outcome ``events_<o>``,
        ``auroc_<o>``, ``auroc_<o>_low``, ``auroc_<o>_high``.
    """
    from medbench.metrics import auroc, bootstrap_ci

    mask = _masks(y, at_risk)
    age = pd.cut(patients["age"].to_numpy(), list(age_bins), right=False,
                 labels=[f"{a}-{b - 1}" if b < 200 else f"{a}+" for a, b in zip(age_bins[:-1], age_bins[1:])])
    groups = [("sex", s, patients["sex"].to_numpy() == s) for s in ("F", "M")]
    groups += [("age", str(a), np.asarray(age == a)) for a in age.categories]
    rows = []
    for kind, g, sel in groups:
        row = {"group": kind, "value": g, "n": int(sel.sum())}
        for j, o in enumerate(outcomes):
            s = sel & mask[:, j]
            row[f"events_{o}"] = int(y[s, j].sum())
            est, lo, hi = (bootstrap_ci(auroc, y[s, j], p[s, j], n_boot=n_boot, seed=seed)
                           if 0 < y[s, j].sum() < s.sum() else (np.nan, np.nan, np.nan))
            row.update({f"auroc_{o}": est, f"auroc_{o}_low": lo, f"auroc_{o}_high": hi})
        rows.append(row)
    return pd.DataFrame(rows)
