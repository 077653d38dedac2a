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

# %% [markdown]
# # 04 · Disease prediction from patient histories
#
# **Learning objectives.** After this chapter you can
# - read a longitudinal health record as data: a *long table* of irregular visits,
#   labs that are missing *not at random*, and treatments that bend the trajectories;
# - define who is *at risk* of an incident outcome (patients already treated for a disease cannot
#   develop it) and score models only on them;
# - turn that record into tensors without leaking test patients into training (patient-level
#   splits, scaling fitted on training patients, padding with masks, time-since-last-measurement);
# - train LSTM and GRU networks with masking, single-task and multi-task (diabetes, hypertension
#   and cardiovascular disease at once), and compare them with logistic regression and gradient
#   boosting;
# - evaluate honestly: AUROC/AUPRC with bootstrap confidence intervals, **paired** intervals for the
#   difference between two models, calibration (quantile reliability diagram, calibration slope and
#   intercept) and Brier score, subgroups with intervals, and — because the cohort is simulated with
#   a *known* risk — the gap to the best score any model could reach (the Bayes-optimal AUROC);
# - tell an association in a model from a causal effect when you ask it "what if?";
# - analyse survival on two real cohorts (Kaplan–Meier, Cox regression and its
#   proportional-hazards check, a neural Cox model, the concordance index with an interval);
# - estimate a *relative* tremor severity score from wrist accelerometry and track it over weeks.
#
# **Prerequisites:** chapter 00 (training basics) and chapter 02 (the training engine `fit`,
# metrics with bootstrap CIs); logistic regression and the ROC curve. No GPU, no internet: the
# EHR cohort and the tremor signals are simulated, the survival cohorts ship with `lifelines`.
#
# **Expected run time:** about 3 minutes at the `default` profile on a 2-core laptop CPU (the
# `smoke` profile, used by the tests, well under a minute).
#
# > **Common mistakes this chapter warns about**
# > - *Comparing overlapping CIs.* Two models' separate 95% intervals can overlap although one is
# >   reliably better (their errors are correlated on the same patients): the question "is A
# >   better than B?" needs the interval of the *difference*, from a paired bootstrap (§5).
# > - *Leakage.* Splitting visits instead of patients, fitting the scaler on all patients, or
# >   choosing an epoch, a threshold or "the best model" on the test patients (§2, §4, §5).
# > - *Scoring prevalent cases as incident ones.* A patient already on metformin has diabetes; a
# >   model of *new* diabetes that is scored on them looks better than it is (§2).
# > - *Reading a what-if as a treatment effect.* A model's risk moving with a recorded value is an
# >   association, not what an intervention would do (§6).
# > - *Assuming proportional hazards.* A Cox model's hazard ratio is one number for all follow-up
# >   only if the hazards are proportional: check it (§7).

# %% tags=["parameters"]
seed = 0  # random seed for simulators, splits and networks
n_patients = 20000  # simulated EHR patients
max_len = 24  # most recent visits kept per patient
hidden = 64  # recurrent units
epochs = 10  # epochs per recurrent model (the best validation epoch is kept)
batch_size = 128  # patients per batch
lr = 0.003  # learning rate (Adam, cosine schedule)
weight_decay = 0.0001  # weight decay of the recurrent models
n_boot = 200  # bootstrap resamples for confidence intervals
survival_test_size = 0.3  # held-out share of the survival cohorts
neural_cox_epochs = 150  # full-batch epochs of the neural Cox model
tremor_patients = 40  # simulated Parkinson's patients
tremor_weeks = 12  # weeks of follow-up
tremor_windows = 30  # 4-second windows per patient and week
tremor_epochs = 8  # epochs of the tremor CNN
torch_threads = 1  # small recurrent nets run fastest on one thread of a busy 2-core CPU
device = "cpu"  # "cpu", "cuda", "mps" or "auto" for the recurrent and tremor networks

# %%
import time

import numpy as np
import pandas as pd
import torch

import medbench
from medbench.data.ehr import MEDICATIONS, OUTCOME_RATES, OUTCOMES, VARIABLES, simulate_ehr
from medbench.data.sequences import StepPCA, aggregate_features, select_variables
from medbench.data.survival_cohorts import load_cohort
from medbench.data.tremor import simulate_tremor
from medbench.metrics import auroc
from medbench.plots.ehr import (
    outcome_table,
    paired_table,
    plot_auroc_vs_bayes,
    plot_calibration_grid,
    plot_km,
    plot_patient_history,
    plot_tremor_tracking,
    plot_tremor_windows,
    subgroup_table,
)
from medbench.tasks import disease, survival
from medbench.widgets.patient_explorer import PatientExplorer, WhatIfPanel
from medbench.widgets.training_panel import TrainingPanel

medbench.seed_everything(seed)
torch.set_num_threads(torch_threads)
dev = medbench.get_device(None if device == "auto" else device)
t_start = time.time()

# %% [markdown]
# ## 1. A simulated cohort with a known risk
#
# `simulate_ehr` draws patients with age and sex, 5 years of irregular visits (routine
# check-ups, chronic-care reviews, acute visits), vitals and labs, and three medications that
# start when a measured value crosses a guideline threshold and then bend the trajectory.
# Blood pressure is taken at every visit; a lab is measured with a probability that depends on
# the visit type *and* on the value (a high glucose gets re-checked) — missing not at random.
#
# After the window, diabetes, hypertension and a cardiovascular event occur within a 5-year
# horizon with log-odds that depend on the **trajectories**: level at the end of the window,
# slope, and blood pressure's visit-to-visit variability (the formulas are in
# `medbench/data/ehr.py`). The simulator returns each patient's true probability.
#
# Real EHR extracts come as a *long table*: one row per measurement.

# %%
cohort = simulate_ehr(n_patients, seed=seed)
obs, patients = cohort.observations, cohort.patients
print(f"{len(patients):,} patients, {len(obs):,} rows, "
      f"{obs.drop_duplicates(['patient_id', 'time']).shape[0]:,} visits")
obs.head(10)

# %%
patients.head()

# %% [markdown]
# The intercepts are calibrated so the *expected* outcome rates are the stated ones; the drawn
# outcomes scatter around them by chance:

# %%
pd.DataFrame({"stated rate": OUTCOME_RATES,
              "mean true risk": {o: patients[f"risk_{o}"].mean() for o in OUTCOMES},
              "observed rate": {o: patients[o].mean() for o in OUTCOMES}}).round(4)

# %% [markdown]
# Which variables get measured depends on the kind of visit — acute visits almost never check
# lipids. A model that reads "LDL missing" learns something about the visit, not the patient:

# %%
visits = obs.drop_duplicates(["patient_id", "time"])["visit_type"].value_counts()
measured = obs[obs["variable"].isin(VARIABLES)].groupby(["visit_type", "variable"], observed=True).size().unstack()
(measured.div(visits, axis=0)).round(2)

# %%
example = int(patients.loc[patients["n_visits"].between(10, 14) & (patients["hypertension"] == 1), "patient_id"].iloc[0])
plot_patient_history(cohort.history(example), window_years=cohort.window_years, title=f"patient {example}");

# %% [markdown]
# ## 2. From the long table to tensors, without leakage
#
# 1. **Split patients, not rows**: every visit of a patient lands in the same split (70/15/15).
# 2. **Fit the scaler on training patients only** — the test patients' values must not shape
#    the inputs the model learns from.
# 3. **Pad and mask**: `X` is `(patients, visits, features)`; padded steps are zero and the
#    recurrent models never see them (packed sequences).
# 4. **Time matters**: per variable a *delta* (time since it was last measured), per visit the
#    gap since the previous visit and the time left to the end of the window.

# %% [markdown]
# 5. **Who is at risk?** The outcomes are *incident* diagnoses after the window. A patient who is
#    already on metformin (or an antihypertensive) by the end of the window has diabetes (or
#    hypertension) already: they are *prevalent* cases and cannot be newly diagnosed. `prepare_ehr`
#    marks them (`data[split].at_risk`, from `cohort.at_risk(outcome, patient_ids)`), and every
#    score below — models, baselines and the Bayes-optimal AUROC alike — counts only the at-risk
#    patients of each outcome. The models still *train* on everyone (the simulator draws an outcome
#    for every patient); training on the at-risk set only is an exercise.

# %%
variables = list(VARIABLES) + list(MEDICATIONS)
splits, data, scaler = disease.prepare_ehr(cohort, max_len=max_len, seed=seed, variables=variables, stratify="cvd")
assert not (set(splits["train"]) & set(splits["test"])) and not (set(splits["val"]) & set(splits["test"]))
assert set(scaler.patient_ids_) == set(splits["train"])
pd.DataFrame({k: {"patients": len(d), "X shape": d.X.shape, "mean visits": d.lengths.mean().round(1),
                  **{f"{o} rate": d.y[:, j].mean().round(3) for j, o in enumerate(OUTCOMES)},
                  **{f"{o} prevalent": (~d.at_risk[:, j]).mean().round(3) for j, o in enumerate(OUTCOMES[:2])}}
              for k, d in data.items()}).T

# %% [markdown]
# Each split holds the same patients' shares of every outcome (CVD is stratified exactly). The
# "prevalent" columns are the shares of patients already on metformin ("diabetes prevalent") or an
# antihypertensive ("hypertension prevalent") by the end of their record: they leave the
# evaluation of diabetes and hypertension. Their outcome rates are higher than the others' (they
# were treated *because* their values were high), so leaving them in would flatter every model.

# %% [markdown]
# **Optional reduction.** With many variables, screening them on the training patients (here
# by univariate F-score of their summaries) or compressing the per-visit vector with PCA can
# help small data sets. Our sequences are narrow, so the models below use all features; the
# screening still tells us which variables carry each outcome's signal.

# %%
agg = {k: aggregate_features(obs, patients, ids, variables) for k, ids in splits.items()}
y_train = patients.set_index("patient_id").loc[splits["train"]]
pd.DataFrame({o: select_variables(agg["train"], y_train[o], k=4, variables=variables) for o in OUTCOMES},
             index=[f"#{i + 1}" for i in range(4)])

# %%
pca = StepPCA(n_components=12).fit(data["train"])
print(f"12 of {data['train'].n_features} PCA components keep "
      f"{pca.pca_.explained_variance_ratio_.sum():.0%} of the per-visit variance")

# %% [markdown]
# ## 3. Baselines on aggregated features
#
# The classic approach collapses each history into one row: last value, mean and number of
# measurements per variable, plus age and sex. Logistic regression and gradient boosting on
# these are strong baselines — but a summary cannot show a slope or a visit-to-visit
# variability unless someone designs that feature.

# %%
y = {k: d.y.astype(int) for k, d in data.items()}
at_risk = data["test"].at_risk  # (N_test, 3): the patients each outcome is scored on
baseline_probs = disease.fit_baselines(agg["train"], y["train"], agg["test"], seed=seed)
pd.DataFrame({m: {o: auroc(y["test"][at_risk[:, j], j], p[at_risk[:, j], j]) for j, o in enumerate(OUTCOMES)}
              for m, p in baseline_probs.items()}).round(3)

# %% [markdown]
# Test AUROC of the two baselines on the at-risk patients: gradient boosting, which can combine
# features non-linearly, does not beat the linear model by much — the summaries, not the learner,
# limit them. The intervals for these numbers come in §5.

# %% [markdown]
# One test split gives one number. **K-fold cross-validation by patient** (every patient is
# tested exactly once, never in the fold that trains on them) shows how much it moves between
# splits — here for logistic regression, which is cheap enough to refit five times:

# %%
pool = np.concatenate([splits["train"], splits["val"]])
agg_pool = pd.concat([agg["train"], agg["val"]]).loc[pool]
pool_at_risk = pd.DataFrame({o: cohort.at_risk(o, patient_ids=pool) for o in OUTCOMES}, index=pool)
cv = disease.cross_validate_logreg(agg_pool, patients.set_index("patient_id"), OUTCOMES, k=5, seed=seed,
                                   at_risk=pool_at_risk)
cv.agg(["mean", "std"]).round(3)

# %% [markdown]
# The fold-to-fold standard deviation is the spread of a test score between patient samples of
# this size: differences between models smaller than it are not worth a headline. (The folds
# overlap in their training patients, so it is a rough guide, not a confidence interval.)

# %% [markdown]
# ## 4. LSTM and GRU with masking
#
# `RecurrentClassifier` packs each batch with the true lengths, so the summary of a patient is
# the hidden state after their **last real visit** — the padding never enters the cell (the
# tests change the padding values and check the output does not move). Training goes through
# `medbench.tasks.disease.train_recurrent`, which calls the shared engine `medbench.training.fit`;
# the validation patients choose the best epoch.
#
# First one model per outcome (single-task), LSTM and GRU:

# %%
recurrent = dict(hidden=hidden, epochs=epochs, lr=lr, weight_decay=weight_decay, batch_size=batch_size, seed=seed,
                 device=dev)
single, fit_log = disease.fit_single_task(data, cells=("lstm", "gru"), outcomes=OUTCOMES, **recurrent)
fit_log

# %% [markdown]
# Each row is one fit: the epoch whose weights were kept (the one with the best validation
# AUROC; the test patients play no part), that validation AUROC, and the seconds the fit took.
# A best epoch equal to the last one means the model was still improving when training stopped
# (more `epochs` might help); an early one means the later epochs over-fitted and were discarded.
# The validation AUROC counts *all* validation patients, prevalent cases included, so it is a
# selection score, not a result: the results — at-risk test patients, with intervals — come in
# §5. The line below summarises the table:

# %%
fit_val_auroc = fit_log.pivot(index="outcome", columns="model", values="val AUROC")
print(f"best epochs {fit_log['best epoch'].min()}-{fit_log['best epoch'].max()} of {epochs} "
      f"({int(fit_log['best epoch'].eq(epochs).sum())} of {len(fit_log)} fits kept their last epoch); "
      f"largest LSTM-GRU validation AUROC gap {(fit_val_auroc['lstm'] - fit_val_auroc['gru']).abs().max():.3f}; "
      f"{fit_log['seconds'].sum():.0f} s for all {len(fit_log)} fits")

# %% [markdown]
# ### Multi-task: one encoder, three heads
#
# The three outcomes share risk factors (blood pressure and glucose appear in two of them
# each). A multi-task LSTM reads the history once and predicts all three. The training panel
# below runs it; in JupyterLab you can change the epochs or learning rate and press **Train**
# again (and **Stop** a run), and the curves update live.

# %%
def panel_train(config, callbacks):
    settings = {**recurrent, "epochs": config["epochs"] or epochs, "lr": config["lr"] or lr}
    return disease.train_recurrent(data["train"], data["val"], cell=config["model"], outcomes=OUTCOMES,
                                   callbacks=callbacks, **settings)


panel = TrainingPanel(panel_train, models=("lstm", "gru"), epochs=epochs, lr=lr,
                      augment=None,  # no augmentation checkbox: nothing to augment in these sequences
                      metrics=("val_auroc",), background=False)
panel.train_button.click()
multitask_model, multitask_history = panel.result
panel

# %%
multi_probs = disease.predict_risk(multitask_model, data["test"].X, data["test"].lengths)
probs = {"lstm": single["lstm"], "gru": single["gru"], "multitask lstm": multi_probs, **baseline_probs}
# the true risk, looked up by patient id (an id outside the cohort raises): aligned with the test rows
bayes = {o: cohort.risk(o, patient_ids=data["test"].patient_ids) for o in OUTCOMES}

# %% [markdown]
# ## 5. How good is good? Scores with CIs, and the gap to the best possible
#
# AUROC and AUPRC get 95% percentile bootstrap intervals (`medbench.metrics`, `n_boot`
# resamples of the at-risk test patients). Because the simulator knows each patient's true
# probability, the AUROC of the true risk itself is the **Bayes-optimal** score on these test
# patients — no model can beat it on average. Each interval says how precisely *one* model's
# AUROC is known. It does **not** say whether two models differ: that needs §5's paired intervals.

# %%
table = outcome_table(y["test"], probs, OUTCOMES, bayes, n_boot=n_boot, seed=seed, at_risk=at_risk)
table[["outcome", "model", "n", "auroc", "auroc_low", "auroc_high", "auprc", "brier", "gap_to_bayes"]].round(3)

# %% [markdown]
# `n` is the number of at-risk test patients per outcome. The sequence models sit within a few
# hundredths of the Bayes-optimal AUROC; the logistic regression falls behind on hypertension. The
# intervals are a few hundredths wide and overlap between models — which, by itself, says
# nothing about whether the models differ.

# %%
plot_auroc_vs_bayes(table[table["model"] != "bayes (true risk)"]);

# %%
auc = table.set_index(["outcome", "model"])["auroc"]
for o in OUTCOMES:
    medbench.record(f"lstm_auroc_{o}", auc[(o, "lstm")])
    medbench.record(f"gru_auroc_{o}", auc[(o, "gru")])
    medbench.record(f"logreg_auroc_{o}", auc[(o, "logreg")])
    medbench.record(f"bayes_auroc_{o}", auc[(o, "bayes (true risk)")])
medbench.record("multitask_auroc_mean", float(np.mean([auc[(o, "multitask lstm")] for o in OUTCOMES])));

# %%
seq_models = ["lstm", "gru", "multitask lstm"]
best = {o: max(seq_models, key=lambda m: auc[(o, m)]) for o in OUTCOMES}  # chosen on the test patients
summary = pd.DataFrame({o: {"Bayes AUROC": auc[(o, "bayes (true risk)")], "best sequence model": best[o],
                            "its AUROC": auc[(o, best[o])],
                            "gap to Bayes": auc[(o, "bayes (true risk)")] - auc[(o, best[o])],
                            "logistic regression": auc[(o, "logreg")]} for o in OUTCOMES}).T
summary

# %% [markdown]
# On **hypertension** — the outcome driven by the blood-pressure *trend* and *variability* —
# the aggregated baselines fall clearly behind: the last value and the mean do not show either,
# while a recurrent network reads them from the sequence of readings. On diabetes and CVD the
# level at the end of the window carries most of the signal, and a well-fed logistic
# regression is hard to beat.
#
# ### Is one model really better? Paired intervals of the difference
#
# Two models scored on the *same* patients make correlated errors: the hard patients are hard for
# both. So the uncertainty of the difference $\Delta = \mathrm{AUROC}_A - \mathrm{AUROC}_B$ is not
# read from two separate intervals. The **paired bootstrap** draws the test patients with
# replacement $B$ times, scores *both* models on each resample $b$ and takes the 2.5% and 97.5%
# quantiles of $\Delta^{*}_b = \mathrm{AUROC}_A^{*b} - \mathrm{AUROC}_B^{*b}$ (Efron & Tibshirani
# 1993). Here it uses the very resamples of the table above (same `seed`). An interval that excludes
# 0 says the difference is larger than resampling noise. The last row per outcome is the gap of the
# best sequence model to the true risk; the "best" is picked on these test patients, which makes
# its gap optimistic (slightly too small).

# %%
pairs = [("gru", "logreg"), ("lstm", "logreg"), ("multitask lstm", "logreg"), ("gru", "lstm"), ("bayes", best)]
diffs = paired_table(y["test"], {**probs, "bayes": bayes}, OUTCOMES, pairs, n_boot=n_boot, seed=seed,
                     at_risk=at_risk)
diffs.round(3)

# %%
d = diffs.set_index(["outcome", "a", "b"])
for o in OUTCOMES:
    medbench.record(f"gru_minus_logreg_auroc_ci_low_{o}", d.loc[(o, "gru", "logreg"), "low"])
    medbench.record(f"bayes_gap_ci_high_{o}", d.loc[(o, "bayes", best[o]), "high"])

# %% [markdown]
# Read the `low`–`high` columns, not the point estimates. Where the GRU-minus-logistic-regression
# interval lies above 0 (hypertension) the sequence model is reliably better on patients like these;
# where it straddles 0 the data do not tell the two apart, even if one point estimate is higher.
# The Bayes rows bound how much any model could still gain: their `high` is the largest gap
# compatible with the data.
#
# **Calibration.** A risk model is used as a probability ("12% within 5 years"), so it must be
# calibrated: among patients given 20%, about 20% should have the event. The reliability diagram
# uses **quantile bins** (ten bins with the same number of patients each; uniform-width bins would
# leave the high-risk bins nearly empty). Two numbers summarise it (logistic recalibration, Cox
# 1958): regress the outcome on the model's log-odds $\mathrm{lp} = \operatorname{logit}(p)$,
#
# $$\operatorname{logit} P(y = 1) = a + b\,\mathrm{lp} \quad\text{(slope } b\text{; ideal 1)},\qquad
#   \operatorname{logit} P(y = 1) = a_0 + \mathrm{lp} \quad\text{(intercept } a_0\text{; ideal 0)}.$$
#
# A slope below 1 means predictions that are too extreme (typical of overfitting), above 1 too
# timid; an intercept above 0 means the model under-predicts the event rate. The Brier score
# $\frac1N\sum_i (p_i - y_i)^2$ mixes discrimination and calibration (lower is better).

# %%
calib_models = {"multitask lstm": multi_probs, "logreg": baseline_probs["logreg"],
                "true risk": np.stack([bayes[o] for o in OUTCOMES], 1)}
plot_calibration_grid(y["test"], calib_models, OUTCOMES, at_risk=at_risk);

# %%
calibration = table[table["model"].isin(["multitask lstm", "logreg", "gru", "bayes (true risk)"])]
calibration.pivot(index="model", columns="outcome", values=["cal_slope", "cal_intercept", "brier"]).round(3)

# %% [markdown]
# The true risk has slope ≈ 1 and intercept ≈ 0 up to sampling noise — a reference for how far
# from (1, 0) chance alone moves these numbers on this many patients. A model whose slope is well
# below 1 ranks patients well but spreads its probabilities too far; recalibrating it on
# validation patients (fitting $a, b$ there) would fix that without changing its AUROC.
#
# **Subgroups.** A model can be good on average and poor for some patients. AUROC within sex
# and age bands (the multi-task LSTM), with 95% bootstrap intervals within each group:

# %%
test_patients = patients.set_index("patient_id").loc[data["test"].patient_ids].reset_index()
groups = subgroup_table(y["test"], multi_probs, test_patients, OUTCOMES, at_risk=at_risk, n_boot=n_boot, seed=seed)
groups.round(3)

# %% [markdown]
# The intervals widen as groups shrink and events get rare (the youngest band has few CVD
# events): a subgroup AUROC that looks low may be well inside the noise. Before claiming that the
# model "works worse" for a group, compare the group's interval with the overall one — and, for a
# firm claim, bootstrap the *difference* as above. The AUROC within an age band is also lower than
# overall simply because age, a strong risk factor, no longer varies much inside the band.

# %% [markdown]
# ## 6. Explore patients and ask "what if?"
#
# The explorer shows one test patient's record and the multi-task model's risk **after each
# visit** (what it would have said at that point). The what-if panel shifts one patient's
# recorded blood pressure, glucose, LDL or BMI (or smoking) and shows how the model's risk
# moves — next to how the simulator's *true* risk moves.
#
# > **Association, not causation.** The model's column is what the model *associates* with
# > different recorded values. It is not the effect of lowering this patient's blood pressure: in
# > records, treatment follows high values (confounding by indication) and risk factors travel
# > together. Only the simulator's truth column is causal, because its formula is known; real data
# > have no such column. The panel shows this caveat above its controls.

# %%
explorer = PatientExplorer(cohort, multitask_model, scaler, variables, OUTCOMES, data["test"].patient_ids[:200],
                           max_len=max_len)
explorer

# %%
whatif = WhatIfPanel(cohort, multitask_model, scaler, variables, OUTCOMES, int(data["test"].patient_ids[0]),
                     max_len=max_len)
before = dict(whatif.model_risk)
whatif.sbp.value = 20
pd.DataFrame({"model, as recorded": before, "model, SBP +20": whatif.model_risk,
              "truth, SBP +20": whatif.true_risk}).round(3)

# %% [markdown]
# For this patient the model's risk of hypertension rises with 20 mmHg more on every reading, as the
# simulator's truth does; the sizes differ, and for the other outcomes the model may move where the
# truth does not (or the reverse) — the associations it learnt, not the mechanism.

# %%
whatif

# %% [markdown]
# ## 7. Survival analysis on real cohorts
#
# Outcomes in the clinic are often *times* with censoring: a patient who left the study after 3
# years without an event tells us the event came later than 3 years. Two real cohorts ship with
# `lifelines`: **GBSG2** (686 women with node-positive breast cancer, recurrence-free survival)
# and **NCCTG lung** (228 patients with advanced lung cancer, overall survival).
#
# Kaplan–Meier curves estimate survival without covariates:

# %%
gbsg2, lung = load_cohort("gbsg2"), load_cohort("lung")
plot_km(gbsg2.time, gbsg2.event, np.where(gbsg2.raw["horTh"] == "yes", "hormone therapy", "no hormone therapy"),
        title="GBSG2: recurrence-free survival");

# %%
plot_km(lung.time, lung.event, np.where(lung.X["female"] == 1, "female", "male"),
        title="NCCTG lung: overall survival");

# %% [markdown]
# **Cox proportional hazards** (lifelines) models the hazard as a baseline times
# $h(t \mid x) = h_0(t)\,\exp(\beta^\top x)$; a **neural Cox model** (DeepSurv-style MLP trained
# with the same partial likelihood through `fit`) may capture non-linear effects. Both are scored
# by **Harrell's concordance index** on patients held out from fitting: among comparable pairs
# (the earlier time is an observed event), the share in which the patient with the earlier event
# has the higher risk score (Harrell et al. 1996; 0.5 = chance, 1 = perfect ranking). Each c-index
# gets a 95% percentile bootstrap interval over the held-out patients, and the neural-minus-Cox
# difference a paired one on the same resamples.

# %%
c_rows, cox_models = [], {}
for cohort_data in (gbsg2, lung):
    row, cox_models[cohort_data.name] = survival.compare_on_cohort(
        cohort_data, test_size=survival_test_size, neural_epochs=neural_cox_epochs, seed=seed, n_boot=n_boot)
    c_rows.append(row)
cindex_table = pd.DataFrame(c_rows).set_index("cohort")
cindex_table.T.round(3)

# %%
medbench.record("cindex_cox_gbsg2", cindex_table.loc["gbsg2", "Cox c-index"])
medbench.record("cindex_cox_gbsg2_ci_low", cindex_table.loc["gbsg2", "Cox c-index low"])
medbench.record("cindex_neural_gbsg2", cindex_table.loc["gbsg2", "neural Cox c-index"]);

# %% [markdown]
# With about 200 held-out patients the c-index intervals are roughly ±0.05 wide, and the paired
# neural-minus-Cox interval includes 0: on a few hundred patients the flexible network does not
# reliably beat the Cox model, whose proportional-hazards form with well-chosen transformed
# covariates (log node count) is a strong prior.

# %%
cox_models["gbsg2"].summary[["coef", "exp(coef)", "p"]].round(3)

# %% [markdown]
# Positive lymph nodes and tumour grade raise the hazard; hormone therapy and progesterone
# receptors lower it — as in the original analyses (covariates are standardised, so `exp(coef)` is
# the hazard ratio per standard deviation).
#
# **Checking proportional hazards.** The Cox model assumes each covariate multiplies the hazard by
# the same factor at all times. If it does not, the scaled Schoenfeld residuals of that covariate
# trend with time; the test of Grambsch & Therneau (1994) (`lifelines.statistics.proportional_hazard_test`,
# time transformed to ranks) gives a $\chi^2_1$ statistic per covariate:

# %%
ph = cox_models["gbsg2"].ph_test()
ph.round(3)

# %% [markdown]
# A small p-value flags a covariate whose effect changes over follow-up (a remedy: stratify on it,
# or let its coefficient vary with time). Here none is below 0.05 — with 9 tests, one would expect
# about one by chance even if all hazards were proportional — so these data give no evidence
# against the assumption. "No evidence" is not proof: with about 200 events the test has limited
# power, and a plot of the residuals against time (`CoxPHFitter.check_assumptions`) is the next look.
#
# ## 8. Wearables: tracking Parkinson's tremor
#
# A wrist accelerometer records gravity, daily activity (walking, everyday tasks), sensor noise
# and — in Parkinson's disease — a 4–6 Hz rest tremor whose amplitude and persistence grow
# with a **relative severity score** from 0 (no tremor) to 4 (the most severe simulated). Walking's
# harmonics also land in the 4–6 Hz band and movement suppresses rest tremor, so "power in the
# tremor band" is a confounded measure.
#
# > **What the score is not.** It is *not* the MDS-UPDRS rest-tremor amplitude item (Goetz et al.
# > 2008), which grades the displacement of the hand in centimetres (1: < 1 cm ... 4: > 10 cm). The
# > simulator's assumptions: the acceleration amplitude grows as $0.015\,\mathrm{g}\cdot e^{0.85 s}$,
# > so at $s = 4$ a 5 Hz tremor moves the wrist by about $a/(2\pi f)^2 \approx 0.5$ cm — a "1" on the
# > clinical scale; each patient progresses linearly (+0.06 per week on average, far faster than
# > real Parkinson's) with a daily medication cycle. Errors below are in these relative units and
# > do not translate into MDS-UPDRS points.

# %%
tremor = simulate_tremor(tremor_patients, tremor_weeks, tremor_windows, seed=seed)
show = [int(np.argmin(np.abs(tremor.severity - s) + 10 * (tremor.meta["activity"] != a).to_numpy()))
        for s, a in [(0.5, "rest"), (2.5, "rest"), (2.5, "walking")]]
plot_tremor_windows(tremor.signals, tremor.meta, show, tremor.fs);

# %% [markdown]
# We hold out a quarter of the *patients* (and an eighth for validation), with the same patient
# splitter as the EHR cohort (`split_patients`). The baseline maps log 4–6 Hz power linearly to the
# score (fitted on the training patients); the 1D-CNN learns from the raw windows, each rotated
# at random during training because every patient wears the watch differently.

# %%
rows = disease.split_tremor(tremor.meta, seed=seed)  # boolean masks over windows, disjoint by patient
baseline_pred = disease.spectral_baseline(tremor.signals, tremor.severity, tremor.fs, rows["train"] | rows["val"])
cnn, cnn_history = disease.fit_tremor_cnn(tremor.signals, tremor.severity, rows["train"], rows["val"],
                                          epochs=tremor_epochs, seed=seed, device=dev)
cnn_pred = disease.predict_tremor(cnn, tremor.signals)

# %%
truth = tremor.severity
mae_table = disease.tremor_errors(truth, {"cnn": cnn_pred, "baseline": baseline_pred}, tremor.meta["activity"],
                                  rows["test"])
mae_table.round(3)

# %%
medbench.record("tremor_mae", float(mae_table.loc["all windows", "cnn"]))
medbench.record("tremor_baseline_mae", float(mae_table.loc["all windows", "baseline"]));

# %% [markdown]
# Mean absolute error in relative score points on the test patients' windows. The spectral
# baseline's error grows during walking (gait harmonics in the tremor band) and tasks (suppressed
# tremor); the CNN, which sees the whole waveform, is hurt less. With only a handful of test
# patients these numbers carry patient-level uncertainty that the window count hides.

# %% [markdown]
# **Tracking progression.** Averaging a week's windows (median) gives a weekly score per
# patient; in a trial this is what would show a drug slowing progression.

# %%
weekly = disease.weekly_scores(tremor.meta, truth, {"model": cnn_pred, "baseline": baseline_pred}, rows["test"])
print("weekly MAE — CNN: {:.3f}, spectral baseline: {:.3f}".format(
    (weekly["model"] - weekly["true"]).abs().mean(), (weekly["baseline"] - weekly["true"]).abs().mean()))
plot_tremor_tracking(weekly, max_patients=6);

# %%
print(f"chapter ran in {time.time() - t_start:.0f} s")

# %% [markdown]
# ## Summary
#
# - A long EHR table becomes tensors through a leakage-free pipeline: patient-level splits,
#   training-only scaling, padding with masks and time-since-measurement features.
# - Masked LSTM/GRU networks come close to the best achievable AUROC (the simulator's true risk),
#   and clearly beat summary-feature baselines where the risk lives in trends and variability.
#   Where it lives in the last level, logistic regression is a strong, cheaper choice.
# - Score incident outcomes on the patients at risk of them: prevalent (already treated) cases
#   leave diabetes and hypertension's evaluation, the Bayes-optimal AUROC included.
# - Report intervals, calibration (slope and intercept, quantile bins) and subgroups with
#   intervals, not one number; compare models with the **paired** interval of their difference.
# - A what-if on a prediction model shows associations, not the effect of an intervention.
# - On real survival data, Cox regression is a strong baseline that a small neural model does not
#   reliably beat; use the c-index on held-out patients with its interval, and check proportional
#   hazards.
# - Spectral power in the tremor band is confounded by activity; a small CNN reading raw windows
#   estimates the relative severity score better and tracks it over weeks.
#
# ## References
#
# - Bayes-optimal AUROC and the EHR cohort: simulated by `medbench.data.ehr.simulate_ehr` (formulas
#   in its module docstring); AUROC/AUPRC/Brier from scikit-learn (`roc_auc_score`,
#   `average_precision_score`, `brier_score_loss`); Brier, G. W. (1950). Verification of forecasts
#   expressed in terms of probability. *Monthly Weather Review* 78, 1–3.
# - Hanley, J. A. & McNeil, B. J. (1982). The meaning and use of the area under a ROC curve.
#   *Radiology* 143, 29–36 (AUROC as the probability of ranking a case above a control).
# - Bootstrap percentile intervals and the paired bootstrap of a difference: Efron, B. &
#   Tibshirani, R. J. (1993). *An Introduction to the Bootstrap*. Chapman & Hall
#   (`medbench.metrics.bootstrap_ci`, `paired_bootstrap_diff`).
# - Calibration slope and intercept: Cox, D. R. (1958). Two further applications of a model for
#   binary regression. *Biometrika* 45, 562–565; Steyerberg, E. W. (2019). *Clinical Prediction
#   Models*, 2nd ed., Springer (ch. 15) (`medbench.metrics.calibration_slope_intercept`).
# - Incident vs prevalent cases and the at-risk set: Rothman, K. J., Greenland, S. & Lash, T. L.
#   (2008). *Modern Epidemiology*, 3rd ed., ch. 3.
# - Recurrent networks: Hochreiter, S. & Schmidhuber, J. (1997). Long short-term memory. *Neural
#   Computation* 9, 1735–1780; Cho, K. et al. (2014). Learning phrase representations using RNN
#   encoder–decoder (GRU). *EMNLP*; time-since-measurement features after Che, Z. et al. (2018).
#   Recurrent neural networks for multivariate time series with missing values (GRU-D).
#   *Scientific Reports* 8, 6085.
# - Cox, D. R. (1972). Regression models and life-tables. *J. R. Stat. Soc. B* 34, 187–220;
#   Kaplan, E. L. & Meier, P. (1958). *JASA* 53, 457–481; Katzman, J. L. et al. (2018). DeepSurv.
#   *BMC Medical Research Methodology* 18, 24 (the neural Cox model); lifelines (Davidson-Pilon, C.,
#   2019, *JOSS* 4, 1317).
# - Harrell, F. E., Lee, K. L. & Mark, D. B. (1996). Multivariable prognostic models.
#   *Statistics in Medicine* 15, 361–387 (the concordance index).
# - Grambsch, P. M. & Therneau, T. M. (1994). Proportional hazards tests and diagnostics based on
#   weighted residuals. *Biometrika* 81, 515–526 (the proportional-hazards test).
# - Cohorts: GBSG2 — Schumacher, M. et al. (1994). *J. Clin. Oncol.* 12, 2086–2093; NCCTG lung —
#   Loprinzi, C. L. et al. (1994). *J. Clin. Oncol.* 12, 601–607 (both as shipped by lifelines).
# - Tremor: simulated by `medbench.data.tremor.simulate_tremor` (assumptions in its docstring); the
#   clinical scale it does *not* follow: Goetz, C. G. et al. (2008). MDS-UPDRS. *Movement
#   Disorders* 23, 2129–2170.
#
# **Exercises** (nbgrader format): `notebooks/exercises/04_disease_prediction_exercises.ipynb`: 1. *A
# patient-level paired bootstrap* (compute); 2. *A threshold for 90% sensitivity* (interpret); 3. *Is the richer
# model better?* (interpret); 4. *A validation score that is too good* (investigate).
#
# **Open questions** (not autograded): train the models on the at-risk
# patients only and compare with the paired bootstrap; recalibrate the multi-task model on the
# validation patients and re-read its calibration slope; bootstrap the difference between two
# subgroups' AUROCs.

