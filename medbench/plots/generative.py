"""Chapter 05 figures: dose distributions, GAN losses, collapsed vs diverse generators, synthetic
patients against real ones. Every function returns a matplotlib ``Figure`` (reports show them
statically; the widgets in :mod:`medbench.widgets.dose_explorer` reuse them)."""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

__all__ = ["plot_dose_distribution", "plot_example_patients", "plot_gan_losses", "plot_spread",
           "plot_marginals", "plot_correlations", "describe_patient", "plot_sample_grid", "plot_augmentation"]

_COLORS = {"cvae": "#1f77b4", "cgan": "#2ca02c", "naive": "#d62728", "real": "#555555", "synthetic": "#ff7f0e"}


def describe_patient(row: Mapping) -> str:
    """A one-line label: age, weight, genotypes, amiodarone/inducer."""
    age = int(row["age_decade"])
    extra = (", amiodarone" if int(row["amiodarone"]) else "") + (", inducer" if int(row["inducer"]) else "")
    return (f"{age * 10}-{age * 10 + 9} y, {row['weight_kg']:.0f} kg, VKORC1 {row['vkorc1']}, "
            f"CYP2C9 {row['cyp2c9']}{extra}")


def plot_dose_distribution(samples: Mapping[str, np.ndarray], *, iwpc: float | None = None, true: float | None = None,
                           title: str = "", ax=None):
    """Histograms of sampled doses for one patient, the IWPC point estimate marked.

    Args:
        samples: ``{model name: (S,) doses}``.
        iwpc: the IWPC pharmacogenetic dose (dashed line). true: the patient's real dose (solid).
    """
    import matplotlib.pyplot as plt

    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.2))
    hi = max(float(np.quantile(s, 0.995)) for s in samples.values())
    bins = np.linspace(0, max(hi, 10.0), 50)
    for name, s in samples.items():
        ax.hist(s, bins=bins, alpha=0.45, density=True, color=_COLORS.get(name), label=f"{name} (median {np.median(s):.1f})")
    if iwpc is not None:
        ax.axvline(iwpc, color="k", ls="--", label=f"IWPC equation {iwpc:.1f}")
    if true is not None:
        ax.axvline(true, color="k", ls="-", lw=2, label=f"dose needed {true:.1f}")
    ax.set_xlabel("weekly dose (mg)")
    ax.set_ylabel("density")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return fig if fig is not None else ax.figure


def plot_example_patients(table: pd.DataFrame, samples: Mapping[str, np.ndarray], iwpc: np.ndarray, *, rows=None):
    """Violin plots of each model's dose distribution for a few patients, with the IWPC dose and the real dose.

    Args:
        table: patients (rows of the test split). samples: ``{model: (N, S)}`` for the same rows.
        iwpc: ``(N,)`` IWPC doses. rows: indices to show (default: 6 spread over the dose range).
    """
    import matplotlib.pyplot as plt

    if rows is None:
        order = np.argsort(iwpc)
        rows = order[np.linspace(0, len(order) - 1, 6).astype(int)]
    rows = list(rows)
    fig, ax = plt.subplots(figsize=(10, 4))
    width = 0.8 / len(samples)
    for k, (name, s) in enumerate(samples.items()):
        pos = np.arange(len(rows)) + (k - (len(samples) - 1) / 2) * width
        parts = ax.violinplot([s[i] for i in rows], positions=pos, widths=width, showmedians=True)
        for body in parts["bodies"]:
            body.set_facecolor(_COLORS.get(name, "grey"))
            body.set_alpha(0.5)
        ax.plot([], [], color=_COLORS.get(name, "grey"), lw=6, alpha=0.5, label=name)
    x = np.arange(len(rows))
    ax.scatter(x, iwpc[rows], marker="_", s=600, color="k", label="IWPC equation", zorder=3)
    ax.scatter(x, table["dose"].values[rows], marker="o", color="k", label="dose needed", zorder=3)
    ax.set_xticks(x, [describe_patient(table.iloc[i]).replace(", ", "\n", 2) for i in rows], fontsize=7)
    ax.set_ylabel("weekly dose (mg)")
    ax.legend(fontsize=8, ncol=4)
    fig.tight_layout()
    return fig


def plot_gan_losses(history, ax=None):
    """Discriminator and generator losses per epoch (``GANHistory``); ``log 4`` and ``log 2`` marked.

    At the GAN game's equilibrium D outputs 1/2 everywhere: its loss (real + fake BCE) is
    ``2 log 2 = log 4`` and the non-saturating generator loss is ``log 2``.
    """
    import matplotlib.pyplot as plt

    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 3))
    ep = np.arange(1, len(history.g_loss) + 1)
    if history.d_loss:
        ax.plot(ep, history.d_loss, label="discriminator")
    ax.plot(ep, history.g_loss, label="generator")
    ax.axhline(np.log(4), color="grey", ls=":", lw=1)
    ax.axhline(np.log(2), color="grey", ls=":", lw=1)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend(fontsize=8)
    return fig if fig is not None else ax.figure


def plot_spread(samples: Mapping[str, np.ndarray], real_log_sd: float):
    """Within-patient sd of log dose per model (histogram over patients) against the real spread."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3))
    for name, s in samples.items():
        sd = np.std(np.log(s), axis=1)
        ax.hist(sd, bins=40, alpha=0.5, color=_COLORS.get(name), label=f"{name}: mean {sd.mean():.3f}")
    ax.axvline(real_log_sd, color="k", ls="--", label=f"real spread {real_log_sd:.3f}")
    ax.set_xlabel("sd of log(dose) over draws for one patient")
    ax.set_ylabel("patients")
    ax.legend(fontsize=8)
    return fig


def plot_marginals(real: pd.DataFrame, synthetic: pd.DataFrame):
    """Real vs synthetic marginals: dose, height, weight (histograms), genotypes and race (bar charts)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(12, 6))
    for ax, col in zip(axes[0], ("dose", "height_cm", "weight_kg")):
        lo, hi = np.quantile(pd.concat([real[col], synthetic[col]]), [0.001, 0.995])
        bins = np.linspace(lo, hi, 40)
        ax.hist(real[col], bins=bins, density=True, alpha=0.5, color=_COLORS["real"], label="real")
        ax.hist(synthetic[col], bins=bins, density=True, alpha=0.5, color=_COLORS["synthetic"], label="synthetic")
        ax.set_title(col)
        ax.legend(fontsize=7)
    for ax, col in zip(axes[1], ("vkorc1", "cyp2c9", "race")):
        share = pd.DataFrame({"real": real[col].value_counts(normalize=True),
                              "synthetic": synthetic[col].value_counts(normalize=True)}).fillna(0)
        share.plot.bar(ax=ax, color=[_COLORS["real"], _COLORS["synthetic"]], alpha=0.7, legend=False)
        ax.set_title(col)
        ax.tick_params(axis="x", labelrotation=30, labelsize=7)
    fig.tight_layout()
    return fig


def plot_correlations(real: pd.DataFrame, synthetic: pd.DataFrame):
    """Pairwise correlations (Pearson, on the IWPC design + log dose): real, synthetic, and their difference."""
    import matplotlib.pyplot as plt

    from medbench.data.warfarin import DESIGN_COLUMNS, design_matrix

    names = [*DESIGN_COLUMNS, "log_dose"]

    def corr(t):
        X = np.column_stack([design_matrix(t), np.log(t["dose"].values)])
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.nan_to_num(np.corrcoef(X, rowvar=False))

    cr, cs = corr(real), corr(synthetic)
    fig, axes = plt.subplots(1, 3, figsize=(15, 5))
    for ax, m, title in zip(axes, (cr, cs, cs - cr), ("real", "synthetic", "synthetic - real")):
        im = ax.imshow(m, vmin=-1, vmax=1, cmap="RdBu_r")
        ax.set_title(title)
        ax.set_xticks(range(len(names)), names, rotation=90, fontsize=6)
        ax.set_yticks(range(len(names)), names, fontsize=6)
    fig.colorbar(im, ax=axes, shrink=0.7)
    return fig


def plot_sample_grid(real: np.ndarray, generated: np.ndarray, n: int = 8, titles=("real", "generated")):
    """Two rows of 2D patches ``(N, 1, H, W)`` in [0, 1]: real above, generated below."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, n, figsize=(1.4 * n, 3.2))
    for row, (imgs, title) in enumerate(zip((real, generated), titles)):
        for k in range(n):
            ax = axes[row, k]
            if k < len(imgs):
                ax.imshow(np.asarray(imgs[k])[0], cmap="gray", vmin=0, vmax=1)
            ax.axis("off")
        axes[row, 0].set_title(title, fontsize=9, loc="left")
    fig.tight_layout()
    return fig


def plot_augmentation(table: pd.DataFrame, bayes_auroc: float | None = None):
    """Test AUROC against the number of real malignant training patches, real-only vs GAN-augmented
    (one dot per seed, lines through the seed means), with the Bayes AUROC."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for col, label, color in (("auroc_real", "real only", _COLORS["real"]),
                              ("auroc_augmented", "real + GAN malignant", _COLORS["synthetic"])):
        ax.scatter(table["n_malignant"], table[col], color=color, alpha=0.6, s=18)
        mean = table.groupby("n_malignant")[col].mean()
        ax.plot(mean.index, mean.values, color=color, marker="o", label=label)
    if bayes_auroc is not None:
        ax.axhline(bayes_auroc, color="k", ls="--", lw=1, label=f"Bayes {bayes_auroc:.3f}")
    ax.axhline(0.5, color="grey", ls=":", lw=1)
    ax.set_xlabel("real malignant training patches")
    ax.set_ylabel("test AUROC")
    ax.legend(fontsize=8)
    return fig
