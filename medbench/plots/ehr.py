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


def plot_calibration_grid(y: np.ndarray, probs: dict, outcomes, n_bins: int = 10):
    """Reliability diagrams, one panel per outcome, every model overlaid (with its Brier score).

    Uses :func:`medbench.plots.classification.plot_calibration` on shared axes.

    Args:
        y: ``(N, n_outcomes)`` labels; probs: ``{model: (N, n_outcomes)}``.
    """
    import matplotlib.pyplot as plt

    from medbench.plots.classification import plot_calibration

    fig, axes = plt.subplots(1, len(outcomes), figsize=(4.0 * len(outcomes), 3.8))
    axes = np.atleast_1d(axes)
    for j, (ax, o) in enumerate(zip(axes, outcomes)):
        for name, p in probs.items():
            plot_calibration(y[:, j], np.asarray(p)[:, j], n_bins=n_bins, ax=ax, label=name, title=o)
        # keep one "perfectly calibrated" line in the legend
        handles, labels = ax.get_legend_handles_labels()
        keep = [i for i, l in enumerate(labels) if l != "perfectly calibrated" or labels.index(l) == i]
        ax.legend([handles[i] for i in keep], [labels[i] for i in keep], fontsize=6, loc="upper left")
        hi = float(max(np.quantile(np.asarray(p)[:, j], 0.995) for p in probs.values()))
        ax.set_xlim(0, min(1.0, hi * 1.1))
        ax.set_ylim(0, min(1.0, hi * 1.1))
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
    """A few accelerometer windows (centred, three axes) with their activity and true severity."""
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
        ax.set_title(f"{row['activity']}, severity {row['severity']:.2f}", fontsize=8, loc="left")
        ax.tick_params(labelsize=7)
        ax.set_ylabel("g", fontsize=7)
    axes[0].legend(fontsize=6, ncol=3, loc="upper right")
    axes[-1].set_xlabel("seconds")
    fig.tight_layout()
    return fig


def plot_tremor_tracking(weekly: pd.DataFrame, patients=None, max_patients: int = 6):
    """True weekly severity against the model's and the baseline's weekly estimates.

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
        ax.set_ylabel("severity (0-4)")
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------------------
# report tables
# ------------------------------------------------------------------------------------------------
def outcome_table(y: np.ndarray, probs: dict, outcomes, bayes: dict, n_boot: int = 200, seed: int = 0) -> pd.DataFrame:
    """AUROC and AUPRC (bootstrap 95% CIs, :mod:`medbench.metrics`), Brier and the gap to Bayes.

    Args:
        y: ``(N, n_outcomes)`` labels.
        probs: ``{model: (N, n_outcomes) probabilities}``.
        outcomes: outcome names (columns of ``y``).
        bayes: ``{outcome: (N,) true risk}``.

    Returns:
        One row per (outcome, model), the true risk itself included as model "bayes (true risk)".
    """
    from medbench.metrics import auprc, auroc, bootstrap_ci, brier

    rows = []
    for j, o in enumerate(outcomes):
        b_auc = auroc(y[:, j], bayes[o])
        for name, p in list(probs.items()) + [("bayes (true risk)", np.asarray(bayes[o])[:, None] * np.ones((1, len(outcomes))))]:
            pj = np.asarray(p)[:, j]
            a = bootstrap_ci(auroc, y[:, j], pj, n_boot=n_boot, seed=seed)
            pr = bootstrap_ci(auprc, y[:, j], pj, n_boot=n_boot, seed=seed)
            rows.append({"outcome": o, "model": name, "auroc": a[0], "auroc_low": a[1], "auroc_high": a[2],
                         "auprc": pr[0], "auprc_low": pr[1], "auprc_high": pr[2], "brier": brier(y[:, j], pj),
                         "bayes_auroc": b_auc, "gap_to_bayes": b_auc - a[0]})
    return pd.DataFrame(rows)


def subgroup_table(y: np.ndarray, p: np.ndarray, patients: pd.DataFrame, outcomes,
                   age_bins=(0, 45, 55, 65, 200)) -> pd.DataFrame:
    """AUROC per outcome within sex and age bands (with n and event counts).

    Args:
        y, p: ``(N, n_outcomes)`` labels and one model's probabilities.
        patients: ``(N,)`` rows with ``sex`` and ``age`` in the same order.
    """
    from medbench.metrics import auroc

    age = pd.cut(patients["age"].to_numpy(), list(age_bins), right=False,
                 labels=[f"{a}-{b - 1}" if b < 200 else f"{a}+" for a, b in zip(age_bins[:-1], age_bins[1:])])
    groups = [("sex", s, patients["sex"].to_numpy() == s) for s in ("F", "M")]
    groups += [("age", str(a), np.asarray(age == a)) for a in age.categories]
    rows = []
    for kind, g, sel in groups:
        row = {"group": kind, "value": g, "n": int(sel.sum())}
        for j, o in enumerate(outcomes):
            row[f"events_{o}"] = int(y[sel, j].sum())
            row[f"auroc_{o}"] = auroc(y[sel, j], p[sel, j]) if 0 < y[sel, j].sum() < sel.sum() else np.nan
        rows.append(row)
    return pd.DataFrame(rows)
