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
# # 05 · Generative models for personalised treatment — exercises
#
# Practise what chapter 05 (`notebooks/05_generative_treatment.ipynb`) teaches, on simulated
# warfarin patients (`medbench.data.warfarin.simulate_warfarin`: IWPC-like covariates and a *known*
# log-normal dose distribution per patient, so no download and no optional extra is needed):
#
# | # | exercise | kind | points |
# |---|----------|------|--------|
# | 1 | The IWPC pharmacogenetic equation and PW20 by hand | compute | 3 |
# | 2 | CRPS from samples, and which forecast it prefers | compute / interpret | 3 |
# | 3 | Why the MSE-trained generator has no spread | investigate | 3 |
#
# Write your answers in the cells that say `YOUR CODE HERE` (or `raise NotImplementedError()`);
# the cell after each one checks it. Some checks are hidden and run only when your notebook is
# graded. Check the whole notebook from a terminal with
#
# ```
# medbench exercises check notebooks/exercises/05_generative_treatment_exercises.ipynb
# ```
#
# It runs top to bottom in well under a minute on a laptop CPU; nothing downloads.

# %% tags=["parameters"]
seed = 0  # seed of the simulator, the split, the networks and the sampling
n_patients = 1500  # simulated patients
n_draws = 100  # doses drawn per patient

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import numpy as np
import torch

import medbench
from medbench.data.warfarin import simulate_warfarin
from medbench.metrics import crps_samples, dose_mae, pw20
from medbench.tasks import dosing

medbench.seed_everything(seed)
torch.set_num_threads(1)
sim = simulate_warfarin(n_patients, seed=seed)
train, test = sim.part("train"), sim.part("test")
print(f"{len(train)} training and {len(test)} test patients; true sd of log dose given the covariates: {sim.sigma}")
test.head()

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex1_intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 1 · The IWPC pharmacogenetic equation and PW20 by hand (compute, 3 points)
#
# IWPC (2009) predicts the square root of the weekly dose (mg):
#
# $$\sqrt{d} = 5.6044 - 0.2614\,\text{age decade} + 0.0087\,\text{height (cm)} + 0.0128\,\text{weight (kg)}
#   + v(\text{VKORC1}) + k(\text{CYP2C9}) + r(\text{race}) + 1.1816\,[\text{inducer}] - 0.5503\,[\text{amiodarone}]$$
#
# | VKORC1 | $v$ | CYP2C9 | $k$ | race | $r$ |
# |---|---|---|---|---|---|
# | G/G | 0 | \*1/\*1 | 0 | White | 0 |
# | A/G | −0.8677 | \*1/\*2 | −0.5211 | Asian | −0.1092 |
# | A/A | −1.6974 | \*1/\*3 | −0.9357 | Black or African American | −0.2760 |
# | unknown | −0.4854 | \*2/\*2 | −1.0616 | Unknown | −0.1032 |
# | | | \*2/\*3 | −1.9206 | | |
# | | | \*3/\*3 | −2.3312 | | |
# | | | unknown | −0.2188 | | |
#
# 1. Implement `iwpc_weekly_dose(row)` for one patient (a row of `test`, columns `age_decade`,
#    `height_cm`, `weight_kg`, `vkorc1`, `cyp2c9`, `race`, `amiodarone`, `inducer`), returning the
#    weekly dose in mg (not its square root).
# 2. Implement `pw20_by_hand(y_true, y_pred)`: the share of patients whose predicted dose is within
#    20% of the true one, $|\hat d - d| \le 0.2\,d$, as a fraction.

# %% nbgrader={"grade": false, "grade_id": "ex1_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def iwpc_weekly_dose(row):
    """Weekly warfarin dose (mg) from the IWPC pharmacogenetic equation for one patient row."""
    ### BEGIN SOLUTION
    v = {"G/G": 0.0, "A/G": -0.8677, "A/A": -1.6974, "unknown": -0.4854}[row["vkorc1"]]
    k = {"*1/*1": 0.0, "*1/*2": -0.5211, "*1/*3": -0.9357, "*2/*2": -1.0616, "*2/*3": -1.9206, "*3/*3": -2.3312,
         "unknown": -0.2188}[row["cyp2c9"]]
    r = {"White": 0.0, "Asian": -0.1092, "Black or African American": -0.2760, "Unknown": -0.1032}[row["race"]]
    s = (5.6044 - 0.2614 * row["age_decade"] + 0.0087 * row["height_cm"] + 0.0128 * row["weight_kg"] + v + k + r
         + 1.1816 * row["inducer"] - 0.5503 * row["amiodarone"])
    return float(s ** 2)
    ### END SOLUTION


def pw20_by_hand(y_true, y_pred):
    """Share of patients with |pred - true| <= 0.2 * true."""
    ### BEGIN SOLUTION
    y, p = np.asarray(y_true, float), np.asarray(y_pred, float)
    return float(np.mean(np.abs(p - y) <= 0.2 * y))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex1_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
first = test.iloc[0]
assert abs(iwpc_weekly_dose(first) - dosing.iwpc_dose(test.iloc[:1])[0]) < 1e-6, \
    "the first test patient's dose differs from the published equation: check the terms (and square the result)"
mine = np.array([iwpc_weekly_dose(r) for _, r in test.iterrows()])
print(f"PW20 of the IWPC equation on the test patients: {pw20_by_hand(test['dose'], mine):.3f}")
assert abs(pw20_by_hand([10, 10, 10], [8, 12.5, 11]) - 2 / 3) < 1e-9, "a dose exactly 20% below counts as within 20%"
### BEGIN HIDDEN TESTS
assert np.allclose(mine, dosing.iwpc_dose(test), atol=1e-6), \
    "some patients' doses differ from the published equation: check every genotype, race and drug term"
assert abs(pw20_by_hand(test["dose"], mine) - pw20(test["dose"], dosing.iwpc_dose(test))) < 1e-12, \
    "pw20_by_hand does not agree with the definition on the test patients"
assert pw20_by_hand([10.0], [12.1]) == 0.0 and pw20_by_hand([10.0], [7.9]) == 0.0, "outside 20% must not count"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex2_intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 2 · CRPS from samples, and which forecast it prefers (compute / interpret, 3 points)
#
# A forecast that gives each patient *samples* $x_1,\dots,x_S$ of the dose is scored at the true dose
# $y$ by the continuous ranked probability score
#
# $$\text{CRPS} = \frac1S\sum_s |x_s - y| \;-\; \frac1{2S^2}\sum_{s,t} |x_s - x_t|,$$
#
# averaged over patients (lower is better, in mg/week).
#
# 1. Implement `crps_by_hand(y, samples)` for `y` of shape `(N,)` and `samples` of shape `(N, S)`,
#    straight from the formula (do not call `medbench.metrics.crps_samples`, the checks compare with it).
# 2. Three forecasts of the test patients' doses are prepared below: `point` (every draw equals the
#    patient's true median dose — the perfect *point* prediction), `truth` (draws from each patient's true
#    distribution) and `too_wide` (the true median with twice the true spread). Set `crps_scores` to a dict
#    of their CRPS and `best` to the name of the forecast the CRPS prefers.

# %% nbgrader={"grade": false, "grade_id": "ex2_data", "locked": true, "schema_version": 3, "solution": false, "task": false}
rng = np.random.default_rng(seed)
median = np.exp(test["true_log_median"].to_numpy())[:, None]
forecasts = {"point": np.repeat(median, n_draws, axis=1),
             "truth": sim.sample_true(test, n_draws, seed=seed + 1),
             "too_wide": median * np.exp(2 * sim.sigma * rng.standard_normal((len(test), n_draws)))}
y_test = test["dose"].to_numpy()


# %% nbgrader={"grade": false, "grade_id": "ex2_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def crps_by_hand(y, samples):
    """Mean CRPS of per-patient samples ``(N, S)`` at observations ``(N,)``."""
    ### BEGIN SOLUTION
    y, x = np.asarray(y, float), np.asarray(samples, float)
    term1 = np.abs(x - y[:, None]).mean(axis=1)
    term2 = np.abs(x[:, :, None] - x[:, None, :]).mean(axis=(1, 2))
    return float(np.mean(term1 - 0.5 * term2))
    ### END SOLUTION


crps_scores, best = None, None
### BEGIN SOLUTION
crps_scores = {name: crps_by_hand(y_test, s) for name, s in forecasts.items()}
best = min(crps_scores, key=crps_scores.get)
### END SOLUTION
print(crps_scores, "->", best)

# %% nbgrader={"grade": true, "grade_id": "ex2_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
assert abs(crps_by_hand([30.0], [[33.0, 33.0]]) - 3.0) < 1e-9, "for a single repeated value CRPS is the absolute error"
assert abs(crps_by_hand(y_test[:50], forecasts["truth"][:50]) - crps_samples(y_test[:50], forecasts["truth"][:50])) < 1e-6, \
    "crps_by_hand disagrees with the definition on samples that spread"
### BEGIN HIDDEN TESTS
assert set(crps_scores) == set(forecasts), "give one score per forecast, under the forecasts' names"
for name, s in forecasts.items():
    assert abs(crps_scores[name] - crps_samples(y_test, s)) < 1e-6, f"the CRPS of {name!r} is off"
assert best == "truth", "which forecast has the lowest CRPS? (the point forecast has the lowest MAE of its median)"
assert abs(dose_mae(y_test, forecasts["point"][:, 0]) - crps_scores["point"]) < 1e-6
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex3_intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 3 · Why the MSE-trained generator has no spread (investigate, 3 points)
#
# The course's source trained its "GAN" generator with `generator.train_on_batch(noise, real_data)`:
# a regression of each real dose on (noise, patient). `naive` below is exactly that
# (`dosing.train_naive_generator`); `gan` is a conditional GAN trained through its discriminator
# (`dosing.train_cgan`). Both map (noise $z$, covariates $c$) to a standardised log dose.
#
# 1. With `dosing.sample_doses(model, test, scaler, n_draws, seed=seed)` draw `n_draws` doses per test
#    patient from each, and set `spread_naive` and `spread_gan` to the mean over patients of the
#    standard deviation of **log** dose across one patient's draws. The true value is `sim.sigma`.
# 2. Set `noise_effect` to how much the naive generator's output moves with its noise for the first
#    test patient: the standard deviation of `naive(z, c)` over 500 draws of `z ~ N(0, I)` (shape
#    `(500, naive.noise)`), with `c` the first test patient's covariates repeated
#    (`scaler.covariates(test.iloc[:1])`). Then set `explanation` to the letter of the right statement:
#    - **a** the network is too small to represent a spread;
#    - **b** the squared error is minimised by the conditional mean $\mathbb E[y\mid c]$, whatever $z$ is,
#      so the generator learns to ignore $z$;
#    - **c** the learning rate was too high.

# %% nbgrader={"grade": false, "grade_id": "ex3_data", "locked": true, "schema_version": 3, "solution": false, "task": false}
scaler = dosing.CovariateScaler().fit(train)
naive, _ = dosing.train_naive_generator(train, scaler, epochs=20, seed=seed)
gan, _, _ = dosing.train_cgan(train, scaler, epochs=60, seed=seed)

# %% nbgrader={"grade": false, "grade_id": "ex3_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
spread_naive, spread_gan = None, None
noise_effect, explanation = None, None
### BEGIN SOLUTION
spread_naive = float(np.std(np.log(dosing.sample_doses(naive, test, scaler, n_draws, seed=seed)), axis=1).mean())
spread_gan = float(np.std(np.log(dosing.sample_doses(gan, test, scaler, n_draws, seed=seed)), axis=1).mean())
with torch.no_grad():
    c = scaler.covariates(test.iloc[:1]).repeat(500, 1)
    noise_effect = float(naive(torch.randn(500, naive.noise), c).std())
explanation = "b"
### END SOLUTION
print(f"within-patient sd of log dose: naive {spread_naive:.4f}, GAN {spread_gan:.3f}, truth {sim.sigma}; "
      f"naive output sd over noise for one patient {noise_effect:.4f}")

# %% nbgrader={"grade": true, "grade_id": "ex3_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
assert all(v is not None for v in (spread_naive, spread_gan, noise_effect, explanation)), \
    "set spread_naive, spread_gan, noise_effect and explanation"
assert spread_naive < 0.2 * sim.sigma, "the naive generator's spread should be a small fraction of the true one"
assert spread_gan > 0.3 * sim.sigma, "the GAN's spread should be a sizeable fraction of the true one"
### BEGIN HIDDEN TESTS
ref_naive = np.std(np.log(dosing.sample_doses(naive, test, scaler, n_draws, seed=seed)), axis=1).mean()
ref_gan = np.std(np.log(dosing.sample_doses(gan, test, scaler, n_draws, seed=seed)), axis=1).mean()
assert abs(spread_naive - ref_naive) < 0.1 * ref_naive + 1e-4, "spread_naive: sd of log dose per patient, then the mean"
assert abs(spread_gan - ref_gan) < 0.1 * ref_gan, "spread_gan: sd of log dose per patient, then the mean"
assert noise_effect < 0.1, "noise_effect: the sd of the naive generator's output over noise draws for one patient"
assert str(explanation).strip().lower() == "b", "which statement explains a regression onto real data?"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "closing", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## What the exercises show
#
# 1. **Compute** — a published equation is a table of coefficients you can check by hand; PW20 is
#    a relative window, so a 5 mg error matters more at 15 mg/week than at 70.
# 2. **Compute / interpret** — the CRPS rewards a forecast for being *calibrated and sharp*: the
#    perfect point prediction has the best MAE but a worse CRPS than the true distribution, and a
#    distribution twice too wide is penalised too.
# 3. **Investigate** — a generator fitted by squared error to real data learns $\mathbb E[y\mid c]$
#    and ignores its noise; diversity needs a loss that compares *distributions* (a discriminator, a likelihood).
#
# Sources: chapter 05 and its references (IWPC 2009 for the equation; Gneiting & Raftery 2007 for
# the CRPS; Goodfellow et al. 2014 for the GAN).
