# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown] nbgrader={"grade": false, "grade_id": "title", "locked": true, "schema_version": 3, "solution": false, "task": false}
# # 04 · Disease prediction — exercises
#
# Practise what chapter 04 (`notebooks/04_disease_prediction.ipynb`) warns about, on a small
# simulated cohort (`medbench.data.ehr.simulate_ehr`, a few hundred patients; the outcome is
# *incident* hypertension, so patients already on an antihypertensive are left out from the start):
#
# | # | exercise | kind | points |
# |---|----------|------|--------|
# | 1 | A patient-level paired bootstrap of an AUROC difference | compute | 3 |
# | 2 | A threshold for 90% sensitivity, and what it costs on new patients | interpret | 3 |
# | 3 | Is the richer model better? | interpret | 2 |
# | 4 | A validation score that is too good | investigate | 3 |
#
# Write your answers in the cells that say `YOUR CODE HERE` (or `raise NotImplementedError()`);
# the cell after each one checks it. Some checks are hidden and run only when your notebook is
# graded. Check the whole notebook from a terminal with
#
# ```
# medbench exercises check notebooks/exercises/04_disease_prediction_exercises.ipynb
# ```
#
# It runs top to bottom in well under a minute on a laptop CPU; nothing downloads.

# %% tags=["parameters"]
seed = 0  # seed of the simulator, the patient split, the models and the bootstraps
n_patients = 800  # simulated patients (about 650 are at risk of incident hypertension)
n_boot = 400  # bootstrap resamples

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import medbench
from medbench.data.ehr import VARIABLES, simulate_ehr
from medbench.data.sequences import aggregate_features, split_patients
from medbench.metrics import auroc, bootstrap_ci, paired_bootstrap_diff, sensitivity, specificity

medbench.seed_everything(seed)
cohort = simulate_ehr(n_patients, seed=seed)
patients = cohort.patients.set_index("patient_id")
# incident hypertension: a patient on an antihypertensive by the end of the window already has it
at_risk_ids = patients.index.to_numpy()[cohort.at_risk("hypertension")]
splits = split_patients(at_risk_ids, (0.5, 0.25, 0.25), seed=seed, stratify=patients.loc[at_risk_ids, "hypertension"])
print({k: len(v) for k, v in splits.items()}, "patients at risk;",
      f"{patients.loc[at_risk_ids, 'hypertension'].mean():.1%} develop hypertension")

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex1_intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 1 · A patient-level paired bootstrap (compute, 3 points)
#
# Every blood-pressure reading of the test patients is a row of `visits`, with two candidate
# scores for later hypertension: the reading itself (`sbp_reading`) and the running mean of the
# patient's readings so far (`sbp_running_mean`). Each row carries its patient's outcome, so one
# patient contributes about ten rows that are far from independent.
#
# Implement `patient_bootstrap_auroc_diff`: the difference
# $\Delta = \mathrm{AUROC}(y, a) - \mathrm{AUROC}(y, b)$ on the rows as given, and a 95% percentile
# bootstrap interval in which each resample draws **patients** with replacement (as many as there
# are), takes all rows of every drawn patient, and scores **both** scores on that same resample:
#
# $$\Delta^{*}_{r} = \mathrm{AUROC}(y^{*}_r, a^{*}_r) - \mathrm{AUROC}(y^{*}_r, b^{*}_r),\qquad
# [\,\text{low}, \text{high}\,] = \left[q_{(1-\text{ci})/2}(\Delta^{*}),\; q_{(1+\text{ci})/2}(\Delta^{*})\right].$$
#
# Skip resamples on which an AUROC is undefined (one class only). Use NumPy and
# `medbench.metrics.auroc` (not `paired_bootstrap_diff`, which the checks compare you with).
# Your interval need not match the library's digit for digit (different random draws), only
# within Monte-Carlo error.

# %% nbgrader={"grade": false, "grade_id": "ex1_data", "locked": true, "schema_version": 3, "solution": false, "task": false}
readings = cohort.observations[cohort.observations["variable"] == "sbp"]
visits = (readings[readings["patient_id"].isin(splits["test"])]
          .sort_values(["patient_id", "time"])[["patient_id", "time", "value"]]
          .rename(columns={"value": "sbp_reading"}).reset_index(drop=True))
visits["sbp_running_mean"] = visits.groupby("patient_id")["sbp_reading"].transform(lambda s: s.expanding().mean())
visits["hypertension"] = patients.loc[visits["patient_id"], "hypertension"].to_numpy()
print(f"{len(visits)} readings of {visits['patient_id'].nunique()} test patients")
visits.head()


# %% nbgrader={"grade": false, "grade_id": "ex1_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def patient_bootstrap_auroc_diff(y, score_a, score_b, patient_ids, n_boot=1000, seed=0, ci=0.95):
    """AUROC(a) - AUROC(b) with a paired bootstrap interval that resamples patients.

    Args:
        y: ``(N,)`` 0/1 labels, one per row (a patient's rows share its label).
        score_a, score_b: ``(N,)`` the two scores.
        patient_ids: ``(N,)`` the patient of each row.
        n_boot: bootstrap resamples; seed: seed of ``np.random.default_rng``; ci: interval mass.

    Returns:
        ``(difference, low, high)`` as floats.
    """
    ### BEGIN SOLUTION
    y, a, b = np.asarray(y), np.asarray(score_a), np.asarray(score_b)
    _, inverse = np.unique(np.asarray(patient_ids), return_inverse=True)
    rows = [np.flatnonzero(inverse == g) for g in range(inverse.max() + 1)]
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n_boot):
        idx = np.concatenate([rows[g] for g in rng.integers(0, len(rows), len(rows))])
        d = auroc(y[idx], a[idx]) - auroc(y[idx], b[idx])
        if np.isfinite(d):
            diffs.append(d)
    low, high = np.quantile(diffs, [(1 - ci) / 2, (1 + ci) / 2])
    return float(auroc(y, a) - auroc(y, b)), float(low), float(high)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex1_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
y_v = visits["hypertension"].to_numpy()
a_v, b_v = visits["sbp_running_mean"].to_numpy(), visits["sbp_reading"].to_numpy()
pid_v = visits["patient_id"].to_numpy()
ex1 = patient_bootstrap_auroc_diff(y_v, a_v, b_v, pid_v, n_boot=n_boot, seed=seed)
print("difference {:.3f}, 95% CI [{:.3f}, {:.3f}]".format(*ex1))
assert len(ex1) == 3 and all(np.isfinite(ex1)), "return three finite numbers: (difference, low, high)"
assert abs(ex1[0] - (auroc(y_v, a_v) - auroc(y_v, b_v))) < 1e-9, \
    "the difference is not AUROC(a) - AUROC(b) on the rows as given (before any resampling)"
assert ex1[1] < ex1[0] < ex1[2], "the interval should contain the observed difference here"
### BEGIN HIDDEN TESTS
ref = paired_bootstrap_diff(auroc, y_v, a_v, b_v, n_boot=n_boot, seed=seed, groups=pid_v)
ref_width = ref[2] - ref[1]
assert abs((ex1[2] - ex1[1]) - ref_width) < 0.2 * ref_width, \
    "the interval's width is not that of a paired bootstrap over patients: what is one resampling unit?"
assert abs(ex1[1] - ref[1]) < 0.25 * ref_width and abs(ex1[2] - ref[2]) < 0.25 * ref_width, \
    "the interval's ends are off by more than Monte-Carlo error: are both scores scored on the same resample?"
# Copying every row three times adds no information: a patient-level interval must not narrow.
keep = np.isin(pid_v, np.unique(pid_v)[::2])
once = patient_bootstrap_auroc_diff(y_v[keep], a_v[keep], b_v[keep], pid_v[keep], n_boot=n_boot, seed=seed + 1)
thrice = patient_bootstrap_auroc_diff(*(np.repeat(v[keep], 3) for v in (y_v, a_v, b_v, pid_v)),
                                      n_boot=n_boot, seed=seed + 2)
assert (thrice[2] - thrice[1]) > 0.8 * (once[2] - once[1]), \
    "repeating every row of every patient three times made your interval narrower: it treats rows as independent"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex2_intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 2 · A threshold for 90% sensitivity (interpret, 3 points)
#
# Two logistic regressions predict hypertension from each patient's summary row
# (`aggregate_features`: last value, mean and count of every variable, age, sex), fitted on the
# training patients: **model A** uses every summary, **model B** only age, sex and the last
# blood pressure. Their risks are `p_a[split]` and `p_b[split]`, the labels `y[split]`, one row
# per patient.
#
# A screening service wants to catch at least 90% of the patients who will develop hypertension.
#
# 1. Choose model A's `threshold` (a patient is flagged when risk ≥ threshold) so that the
#    sensitivity is at least 0.9, flagging as few patients as possible — on patients the
#    threshold may legitimately be chosen on.
# 2. Report on the test patients what the service would then see: `test_sens`, `test_spec`, and a
#    95% percentile bootstrap interval for the specificity, `spec_lo` and `spec_hi` (`n_boot`
#    resamples, `seed`; `medbench.metrics.bootstrap_ci` takes a metric's keyword arguments).

# %% nbgrader={"grade": false, "grade_id": "ex2_data", "locked": true, "schema_version": 3, "solution": false, "task": false}
variables = list(VARIABLES)
agg = {k: aggregate_features(cohort.observations, cohort.patients, ids, variables) for k, ids in splits.items()}
y = {k: patients.loc[ids, "hypertension"].to_numpy() for k, ids in splits.items()}
small = ["age", "male", "sbp__last"]
model_a = make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression(max_iter=2000)).fit(agg["train"], y["train"])
model_b = make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression(max_iter=2000)).fit(
    agg["train"][small], y["train"])
p_a = {k: model_a.predict_proba(agg[k])[:, 1] for k in splits}
p_b = {k: model_b.predict_proba(agg[k][small])[:, 1] for k in splits}
pd.DataFrame({"model A": {k: auroc(y[k], p_a[k]) for k in splits},
              "model B": {k: auroc(y[k], p_b[k]) for k in splits}}).round(3)

# %% nbgrader={"grade": false, "grade_id": "ex2_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
threshold = None
test_sens = None
test_spec, spec_lo, spec_hi = None, None, None
### BEGIN SOLUTION
positives = np.sort(p_a["val"][y["val"] == 1])[::-1]
need = int(np.ceil(0.9 * len(positives) - 1e-9))  # positives that must be at or above the threshold
threshold = float(positives[need - 1])
test_sens = sensitivity(y["test"], p_a["test"], threshold=threshold)
test_spec, spec_lo, spec_hi = bootstrap_ci(specificity, y["test"], p_a["test"], threshold=threshold,
                                           n_boot=n_boot, seed=seed)
### END SOLUTION
print(f"threshold {threshold:.3f}: test sensitivity {test_sens:.3f}, "
      f"specificity {test_spec:.3f} [{spec_lo:.3f}, {spec_hi:.3f}]")

# %% nbgrader={"grade": true, "grade_id": "ex2_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
assert threshold is not None and test_sens is not None and test_spec is not None, "set threshold, test_sens and test_spec"
assert spec_lo is not None and spec_hi is not None, "set spec_lo and spec_hi"
assert 0 < threshold < 1, "the threshold should be a risk between 0 and 1"
assert abs(test_sens - sensitivity(y["test"], p_a["test"], threshold=threshold)) < 1e-9, \
    "test_sens is not the sensitivity of your threshold on the test patients"
assert abs(test_spec - specificity(y["test"], p_a["test"], threshold=threshold)) < 1e-9, \
    "test_spec is not the specificity of your threshold on the test patients"
assert spec_lo <= test_spec <= spec_hi and spec_hi - spec_lo < 0.5, "the specificity interval is not plausible"
### BEGIN HIDDEN TESTS
assert sensitivity(y["val"], p_a["val"], threshold=threshold) >= 0.9, \
    "the threshold does not reach the target sensitivity on the patients it should be chosen on"
higher = p_a["val"][p_a["val"] > threshold]
assert len(higher) == 0 or sensitivity(y["val"], p_a["val"], threshold=higher.min()) < 0.9, \
    "a higher threshold would still reach the target and flag fewer patients"
_, ref_lo, ref_hi = bootstrap_ci(specificity, y["test"], p_a["test"], threshold=threshold, n_boot=n_boot, seed=seed)
assert abs(spec_lo - ref_lo) < 0.25 * (ref_hi - ref_lo) and abs(spec_hi - ref_hi) < 0.25 * (ref_hi - ref_lo), \
    "the specificity interval is not a 95% bootstrap interval over the test patients"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex2_after", "locked": true, "schema_version": 3, "solution": false, "task": false}
# A threshold that reached 90% sensitivity on the validation patients need not reach it on new
# patients: with a few dozen cases, each one moves the sensitivity by 2–3 points. A threshold
# chosen on the test patients would meet the target there by construction — and say nothing
# about the next patients.

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex3_intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 3 · Is the richer model better? (interpret, 2 points)
#
# Model A uses every summary of the record, model B three numbers. On the test patients, compute
# the difference of their AUROCs, A minus B, with a 95% **paired** bootstrap interval (`n_boot`
# resamples, `seed`): `diff`, `diff_lo`, `diff_hi`. Then set `a_better_supported` to `True` if
# these data support the claim "A ranks patients better than B" at the 95% level, else `False`.

# %% nbgrader={"grade": false, "grade_id": "ex3_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
diff, diff_lo, diff_hi = None, None, None
a_better_supported = None
### BEGIN SOLUTION
diff, diff_lo, diff_hi = paired_bootstrap_diff(auroc, y["test"], p_a["test"], p_b["test"], n_boot=n_boot, seed=seed)
a_better_supported = bool(diff_lo > 0)
### END SOLUTION
print(f"AUROC A - B: {diff:+.3f} [{diff_lo:+.3f}, {diff_hi:+.3f}]; supported: {a_better_supported}")

# %% nbgrader={"grade": true, "grade_id": "ex3_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert all(v is not None for v in (diff, diff_lo, diff_hi, a_better_supported)), \
    "set diff, diff_lo, diff_hi and a_better_supported"
assert isinstance(a_better_supported, (bool, np.bool_)), "a_better_supported should be True or False"
assert abs(diff - (auroc(y["test"], p_a["test"]) - auroc(y["test"], p_b["test"]))) < 1e-9, \
    "diff is not model A's test AUROC minus model B's"
assert diff_lo < diff < diff_hi, "the interval should contain the observed difference"
### BEGIN HIDDEN TESTS
ref = paired_bootstrap_diff(auroc, y["test"], p_a["test"], p_b["test"], n_boot=n_boot, seed=seed)
assert abs(diff_lo - ref[1]) < 0.25 * (ref[2] - ref[1]) and abs(diff_hi - ref[2]) < 0.25 * (ref[2] - ref[1]), \
    "the interval is not a paired bootstrap interval of the difference on the test patients"
assert bool(a_better_supported) == bool(ref[1] > 0), "reread the interval: does it exclude 'no difference'?"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex4_intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 4 · A validation score that is too good (investigate, 3 points)
#
# A colleague predicts hypertension from every blood-pressure reading of the at-risk patients
# (`visit_table`: one row per reading, with age, sex, the reading, the running mean and its time)
# with a random forest, and reports the AUROC below — far above the summary models of
# exercise 2 and near what the simulator's true risk reaches. Something in `colleague_pipeline`
# makes it too good.
#
# 1. Find it, and count the evidence: `n_shared_patients`, the number of patients with rows in
#    **both** the colleague's training rows and test rows.
# 2. Redo the evaluation honestly, with the same `make_forest()` and `FEATURES`: boolean row masks
#    `honest_train` and `honest_test` over `visit_table` (about 70% / 30% of the patients;
#    `split_patients` helps) and `honest_auroc`, the forest's AUROC over the test rows.
#
# Hint: which of the features has the same value at every reading of a patient?

# %% nbgrader={"grade": false, "grade_id": "ex4_data", "locked": true, "schema_version": 3, "solution": false, "task": false}
FEATURES = ["age", "male", "time", "sbp_reading", "sbp_running_mean"]
visit_table = (readings[readings["patient_id"].isin(at_risk_ids)]
               .sort_values(["patient_id", "time"])[["patient_id", "time", "value"]]
               .rename(columns={"value": "sbp_reading"}).reset_index(drop=True))
visit_table["sbp_running_mean"] = visit_table.groupby("patient_id")["sbp_reading"].transform(
    lambda s: s.expanding().mean())
visit_table["age"] = patients.loc[visit_table["patient_id"], "age"].to_numpy()
visit_table["male"] = (patients.loc[visit_table["patient_id"], "sex"] == "M").to_numpy().astype(float)
visit_table["hypertension"] = patients.loc[visit_table["patient_id"], "hypertension"].to_numpy()


def make_forest():
    return RandomForestClassifier(n_estimators=100, random_state=seed, n_jobs=1)


def colleague_pipeline(table):
    """The colleague's evaluation: returns the test AUROC and the row positions used."""
    train_rows, test_rows = train_test_split(np.arange(len(table)), test_size=0.3, random_state=seed)
    forest = make_forest().fit(table.iloc[train_rows][FEATURES], table.iloc[train_rows]["hypertension"])
    score = forest.predict_proba(table.iloc[test_rows][FEATURES])[:, 1]
    return {"auroc": auroc(table.iloc[test_rows]["hypertension"].to_numpy(), score),
            "train_rows": train_rows, "test_rows": test_rows}


leaky = colleague_pipeline(visit_table)
print(f"{len(visit_table)} readings of {visit_table['patient_id'].nunique()} patients; "
      f"the colleague's test AUROC: {leaky['auroc']:.3f}")

# %% nbgrader={"grade": false, "grade_id": "ex4_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
n_shared_patients = None
honest_train, honest_test = None, None
honest_auroc = None
### BEGIN SOLUTION
pid = visit_table["patient_id"].to_numpy()
n_shared_patients = len(np.intersect1d(pid[leaky["train_rows"]], pid[leaky["test_rows"]]))
by_patient = split_patients(np.unique(pid), (0.7, 0.3), seed=seed)
honest_train, honest_test = np.isin(pid, by_patient["train"]), np.isin(pid, by_patient["test"])
forest = make_forest().fit(visit_table.loc[honest_train, FEATURES], visit_table.loc[honest_train, "hypertension"])
honest_auroc = auroc(visit_table.loc[honest_test, "hypertension"].to_numpy(),
                     forest.predict_proba(visit_table.loc[honest_test, FEATURES])[:, 1])
### END SOLUTION
print(f"{n_shared_patients} patients on both sides; honest AUROC {honest_auroc:.3f} "
      f"(the colleague's {leaky['auroc']:.3f})")

# %% nbgrader={"grade": true, "grade_id": "ex4_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
assert all(v is not None for v in (n_shared_patients, honest_train, honest_test, honest_auroc)), \
    "set n_shared_patients, honest_train, honest_test and honest_auroc"
assert isinstance(n_shared_patients, (int, np.integer)), "n_shared_patients should be a whole number"
honest_train, honest_test = np.asarray(honest_train, bool), np.asarray(honest_test, bool)
assert honest_train.shape == honest_test.shape == (len(visit_table),), "the masks need one entry per row of visit_table"
pid_t = visit_table["patient_id"].to_numpy()
assert not np.intersect1d(pid_t[honest_train], pid_t[honest_test]).size, \
    "your honest split still has patients on both sides"
assert 0.5 < honest_auroc < leaky["auroc"], "the honest AUROC should be a real AUROC below the leaky one"
### BEGIN HIDDEN TESTS
assert n_shared_patients == len(np.intersect1d(pid_t[leaky["train_rows"]], pid_t[leaky["test_rows"]])), \
    "n_shared_patients does not count the patients with rows in both of the colleague's sets"
share = len(np.unique(pid_t[honest_test])) / len(np.unique(pid_t))
assert 0.2 <= share <= 0.4 and (honest_train | honest_test).all(), \
    "the honest split should put about 30% of the patients, all of their rows, in test and the rest in train"
check = make_forest().fit(visit_table.loc[honest_train, FEATURES], visit_table.loc[honest_train, "hypertension"])
again = auroc(visit_table.loc[honest_test, "hypertension"].to_numpy(),
              check.predict_proba(visit_table.loc[honest_test, FEATURES])[:, 1])
assert abs(honest_auroc - again) < 1e-6, "honest_auroc is not make_forest()'s AUROC on your honest test rows"
assert leaky["auroc"] - honest_auroc > 0.1, "the honest AUROC should be far below the leaky one"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "closing", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## What the exercises show
#
# 1. **Compute** — rows from one patient are not independent evidence; a bootstrap must resample
#    the unit that was sampled (patients), or its interval is too narrow.
# 2. **Interpret** — a threshold is a decision fitted to data: choose it on validation patients,
#    then report the test sensitivity and specificity with their uncertainty.
# 3. **Interpret** — "A scores higher than B" needs the paired interval of the difference; a
#    richer model can look better on one test set without the data supporting it.
# 4. **Investigate** — splitting readings instead of patients lets the forest recognise patients
#    (age is the same at every reading) rather than risk: split patients, never rows.
#
# Sources: chapter 04 and its references (Efron & Tibshirani 1993 for the bootstrap; Hanley &
# McNeil 1982 for the AUROC).
