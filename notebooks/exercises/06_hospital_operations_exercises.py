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
# # 06 · Hospital operations — exercises
#
# Practise what chapter 06 (`notebooks/06_hospital_operations.ipynb`) teaches, on the simulated
# hospital (`medbench.data.hospital.simulate_hospital`: known admission rates and lengths of stay,
# so the oracle forecast exists and nothing downloads):
#
# | # | exercise | kind | points |
# |---|----------|------|--------|
# | 1 | MASE by hand | compute | 3 |
# | 2 | The newsvendor order quantity | compute | 2 |
# | 3 | Is the trivial forecast really dearer? A cost ratio with its interval | interpret | 3 |
# | 4 | Random K-fold on a time series | investigate | 3 |
#
# Write your answers in the cells that say `YOUR CODE HERE` (or `raise NotImplementedError()`);
# the cell after each one checks it. Some checks are hidden and run only when your notebook is
# graded. Check the whole notebook from a terminal with
#
# ```
# medbench exercises check notebooks/exercises/06_hospital_operations_exercises.ipynb
# ```
#
# It runs top to bottom in well under a minute on a laptop CPU; nothing downloads.

# %% tags=["parameters"]
seed = 0  # seed of the simulator, the demand draws, the models and the bootstraps
days = 560  # simulated days of hospital history
inventory_days = 84  # simulated days of ward drug stock in exercise 3
n_boot = 400  # bootstrap resamples

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import numpy as np
from scipy import stats
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.model_selection import KFold

import medbench
from medbench.data.hospital import lag_features, simulate_hospital, ward_frame
from medbench.metrics import mase
from medbench.tasks import forecasting, inventory

medbench.seed_everything(seed)
sim = simulate_hospital(days, seed=seed)
frame = ward_frame(sim, "medical")
census = frame["census"].to_numpy()
print(f"{len(census)} days of the medical ward's midnight census: mean {census.mean():.1f}, "
      f"range {census.min():.0f}-{census.max():.0f}")

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex1_intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 1 · MASE by hand (compute, 3 points)
#
# The mean absolute scaled error divides a forecast's mean absolute error by the **in-sample** mean
# absolute error of the seasonal naive forecast on the training series (Hyndman & Koehler 2006; the
# M4 convention):
#
# $$\mathrm{MASE} = \frac{\frac1H\sum_{h=1}^{H}|y_{T+h}-\hat y_{T+h}|}{\frac{1}{T-m}\sum_{t=m+1}^{T}|y_t-y_{t-m}|}.$$
#
# Implement `mase_by_hand(y_train, y_true, y_pred, m)` with NumPy only (not `medbench.metrics.mase`,
# which the checks compare you with). Then forecast the 14 days after day `origin` with the weekly
# seasonal naive rule (each day takes the value of the same weekday in the last observed week) and
# score it: `naive_forecast` (14 values) and `naive_mase`.

# %% nbgrader={"grade": false, "grade_id": "ex1_data", "locked": true, "schema_version": 3, "solution": false, "task": false}
origin = len(census) - 15
y_train, y_future = census[:origin + 1], census[origin + 1:origin + 15]


# %% nbgrader={"grade": false, "grade_id": "ex1_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def mase_by_hand(y_train, y_true, y_pred, m=7):
    """MASE of ``y_pred`` against ``y_true`` (both ``(H,)``), scaled by the in-sample seasonal naive MAE."""
    ### BEGIN SOLUTION
    y_train, y_true, y_pred = (np.asarray(v, float) for v in (y_train, y_true, y_pred))
    scale = np.mean(np.abs(y_train[m:] - y_train[:-m]))
    return float(np.mean(np.abs(y_true - y_pred)) / scale)
    ### END SOLUTION


naive_forecast = None
naive_mase = None
### BEGIN SOLUTION
naive_forecast = np.array([y_train[len(y_train) - 7 + (h - 1) % 7] for h in range(1, 15)])
naive_mase = mase_by_hand(y_train, y_future, naive_forecast)
### END SOLUTION
print(f"seasonal naive MASE over the next 14 days: {naive_mase:.3f}")

# %% nbgrader={"grade": true, "grade_id": "ex1_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
assert naive_forecast is not None and naive_mase is not None, "set naive_forecast and naive_mase"
assert np.shape(naive_forecast) == (14,), "naive_forecast needs one value per day ahead"
assert np.allclose(naive_forecast[:7], y_train[-7:]), "the first week should repeat the last observed week"
assert abs(mase_by_hand(y_train, y_future, y_future + 2.0) - mase(y_future, y_future + 2.0, y_train=y_train)) < 1e-9, \
    "mase_by_hand does not match the M4 definition on a forecast that is off by 2 every day"
### BEGIN HIDDEN TESTS
assert np.allclose(naive_forecast, forecasting.seasonal_naive(y_train, 14)["mean"]), \
    "the second week should repeat the last observed week too"
assert abs(naive_mase - mase(y_future, naive_forecast, y_train=y_train)) < 1e-9, "naive_mase is not the MASE of your forecast"
# seasonal naive scored in-sample on its own training data: exactly 1 by construction
assert abs(mase_by_hand(y_train, y_train[7:], y_train[:-7]) - 1.0) < 1e-9, \
    "in-sample seasonal naive must score exactly 1: is the scale the in-sample seasonal naive error?"
assert abs(mase_by_hand(y_train, y_future, naive_forecast, m=1) - mase(y_future, naive_forecast, y_train=y_train, m=1)) \
    < 1e-9, "mase_by_hand ignores its season length m"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex2_intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 2 · The newsvendor order quantity (compute, 2 points)
#
# A drug is ordered once for a period whose demand is normal, $D\sim N(\mu,\sigma^2)$. Each unit left
# over costs $h$ (holding, expiry), each unit short costs $p$ (an urgent purchase). The expected cost
# $\mathbb E[h(S-D)^+ + p(D-S)^+]$ is smallest at the **critical fractile**
# $S^*=F^{-1}\!\left(\frac{p}{p+h}\right) = \mu + \sigma z$, $z=\Phi^{-1}\!\left(\frac{p}{p+h}\right)$, where it equals
# $(h+p)\,\sigma\,\varphi(z)$.
#
# Implement `newsvendor_by_hand(mu, sigma, holding, shortage)` returning `(S, expected_cost)` with
# `scipy.stats.norm`.

# %% nbgrader={"grade": false, "grade_id": "ex2_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def newsvendor_by_hand(mu, sigma, holding, shortage):
    """``(S*, expected cost at S*)`` for normal demand ``N(mu, sigma^2)``."""
    ### BEGIN SOLUTION
    z = stats.norm.ppf(shortage / (shortage + holding))
    return float(mu + sigma * z), float((holding + shortage) * sigma * stats.norm.pdf(z))
    ### END SOLUTION


S_check, cost_check = newsvendor_by_hand(120, 10, 2, 18)
print(f"S* = {S_check:.2f}, expected cost {cost_check:.2f}")

# %% nbgrader={"grade": true, "grade_id": "ex2_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert abs(S_check - 132.82) < 0.01, "S* for mu=120, sigma=10, h=2, p=18 is off: which fractile is critical?"
assert abs(cost_check - 35.10) < 0.01, "the expected cost at S* is off"
### BEGIN HIDDEN TESTS
rng_check = np.random.default_rng(1)
S2, c2 = newsvendor_by_hand(50, 7, 1, 3)
ref = inventory.newsvendor(50, 7, 1, 3)
assert abs(S2 - ref["S"]) < 1e-6 and abs(c2 - ref["expected_cost"]) < 1e-6, "wrong for mu=50, sigma=7, h=1, p=3"
draws = rng_check.normal(50, 7, 200_000)
mc = np.mean(1 * np.maximum(S2 - draws, 0) + 3 * np.maximum(draws - S2, 0))
assert abs(mc - c2) < 0.05, "your expected cost disagrees with a simulation of the demand"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex3_intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 3 · Is the trivial forecast really dearer? (interpret, 3 points)
#
# The ward's three drugs are stocked for `inventory_days` days with the chapter's order-up-to rule,
# once driven by the seasonal naive census forecast and once by the oracle (the true census
# distribution), against the same simulated demand. `daily_naive` and `daily_oracle` are the two
# policies' total costs on each day.
#
# 1. Compute `ratio` = total cost of the naive policy / total cost of the oracle policy, and a 95%
#    percentile bootstrap interval `ratio_lo`, `ratio_hi` (`n_boot` resamples, `seed` for
#    `np.random.default_rng`) that resamples whole **weeks** (7 consecutive days; a stock-out lasts
#    until the next delivery, so days are not independent) and takes the **same** weeks for both
#    policies.
# 2. Set `naive_dearer_supported` to `True` if the data support "the naive forecast costs more than
#    the oracle" at the 95% level, else `False`.

# %% nbgrader={"grade": false, "grade_id": "ex3_data", "locked": true, "schema_version": 3, "solution": false, "task": false}
inv_start = len(census) - inventory_days - inventory.PROTECTION_DAYS
inv_origins = np.arange(inv_start - 1, inv_start + inventory_days - 1)
inv_fc = {m: inventory.census_forecasts(sim, "medical", inv_origins, inventory.PROTECTION_DAYS, m)
          for m in ("seasonal_naive", "oracle")}
study = inventory.inventory_study(sim, "medical", start=inv_start, days=inventory_days, forecasts=inv_fc, seed=seed)
daily_naive, daily_oracle = study["daily_cost"]["seasonal_naive"], study["daily_cost"]["oracle"]
study["totals"][["fill_rate", "waste_fraction", "cost"]].round(3)

# %% nbgrader={"grade": false, "grade_id": "ex3_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
ratio, ratio_lo, ratio_hi = None, None, None
naive_dearer_supported = None
### BEGIN SOLUTION
n_weeks = len(daily_naive) // 7
wa = daily_naive[:n_weeks * 7].reshape(n_weeks, 7).sum(1)
wb = daily_oracle[:n_weeks * 7].reshape(n_weeks, 7).sum(1)
idx = np.random.default_rng(seed).integers(0, n_weeks, (n_boot, n_weeks))
boot = wa[idx].sum(1) / wb[idx].sum(1)
ratio = float(daily_naive.sum() / daily_oracle.sum())
ratio_lo, ratio_hi = (float(v) for v in np.quantile(boot, [0.025, 0.975]))
naive_dearer_supported = bool(ratio_lo > 1)
### END SOLUTION
print(f"naive / oracle cost {ratio:.3f} [{ratio_lo:.3f}, {ratio_hi:.3f}]; supported: {naive_dearer_supported}")

# %% nbgrader={"grade": true, "grade_id": "ex3_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
assert all(v is not None for v in (ratio, ratio_lo, ratio_hi, naive_dearer_supported)), \
    "set ratio, ratio_lo, ratio_hi and naive_dearer_supported"
assert abs(ratio - daily_naive.sum() / daily_oracle.sum()) < 1e-9, "ratio is not total naive cost over total oracle cost"
assert ratio_lo < ratio < ratio_hi, "the interval should contain the observed ratio"
assert isinstance(naive_dearer_supported, (bool, np.bool_)), "naive_dearer_supported should be True or False"
### BEGIN HIDDEN TESTS
ref = inventory.cost_ratio_ci(daily_naive, daily_oracle, n_boot=n_boot, seed=seed)
width = ref[2] - ref[1]
assert abs(ratio_lo - ref[1]) < 0.3 * width and abs(ratio_hi - ref[2]) < 0.3 * width, \
    "the interval is not a paired bootstrap over weeks: are the same weeks drawn for both policies?"
assert bool(naive_dearer_supported) == bool(ref[1] > 1), "reread the interval: does it exclude a ratio of 1?"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex4_intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 4 · Random K-fold on a time series (investigate, 3 points)
#
# A colleague forecasts the census change 1–14 days ahead with gradient boosting on lag and
# calendar features (`medbench.data.hospital.lag_features`: one row per (origin, h)) and evaluates it by
# shuffled 5-fold cross-validation: `kfold_pred` holds every row's out-of-fold prediction. Your task
# is the honest evaluation of the **last** `n_test` origins (`test_rows`).
#
# 1. Fit `make_gbm()` on the rows whose target day is observed by the first test origin (origin
#    $+\,h \le$ `test_origins[0]`, so nothing after the forecast is made is used) and predict the test rows:
#    `honest_mae`, the mean absolute error of the census change over `test_rows`.
# 2. `kfold_mae`: the colleague's error over the same `test_rows`; `optimism = kfold_mae - honest_mae`.
# 3. `future_share`: in the colleague's folds, the share of the test rows' training data (averaged
#    over the test rows) whose target day lies **after** the test row's origin. Use `fold_of`
#    (each row's fold) and `target_day`.

# %% nbgrader={"grade": false, "grade_id": "ex4_data", "locked": true, "schema_version": 3, "solution": false, "task": false}
H, n_test = 14, 28
all_origins = np.arange(400, len(census) - H)
X, y = lag_features(frame, all_origins, H)
row_origin = np.repeat(all_origins, H)
target_day = row_origin + np.tile(np.arange(1, H + 1), len(all_origins))
test_origins = all_origins[-n_test:]
test_rows = np.isin(row_origin, test_origins)


def make_gbm():
    return HistGradientBoostingRegressor(max_iter=60, learning_rate=0.1, random_state=seed)


kfold_pred = np.zeros(len(y))
fold_of = np.zeros(len(y), int)
for k, (tr, te) in enumerate(KFold(5, shuffle=True, random_state=seed).split(X)):
    kfold_pred[te] = make_gbm().fit(X[tr], y[tr]).predict(X[te])
    fold_of[te] = k
print(f"{len(y)} rows; the colleague's 5-fold MAE over all rows: {np.mean(np.abs(kfold_pred - y)):.2f} patients")

# %% nbgrader={"grade": false, "grade_id": "ex4_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
honest_mae, kfold_mae, optimism, future_share = None, None, None, None
### BEGIN SOLUTION
train = target_day <= test_origins[0]
honest = make_gbm().fit(X[train], y[train]).predict(X[test_rows])
honest_mae = float(np.mean(np.abs(honest - y[test_rows])))
kfold_mae = float(np.mean(np.abs(kfold_pred[test_rows] - y[test_rows])))
optimism = kfold_mae - honest_mae
shares = [np.mean(target_day[fold_of != fold_of[i]] > row_origin[i]) for i in np.flatnonzero(test_rows)]
future_share = float(np.mean(shares))
### END SOLUTION
print(f"honest MAE {honest_mae:.2f}, K-fold MAE on the same rows {kfold_mae:.2f} (optimism {optimism:+.2f}); "
      f"{future_share:.1%} of the K-fold training rows lie after the forecast origin")

# %% nbgrader={"grade": true, "grade_id": "ex4_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
assert all(v is not None for v in (honest_mae, kfold_mae, optimism, future_share)), \
    "set honest_mae, kfold_mae, optimism and future_share"
assert abs(kfold_mae - np.mean(np.abs(kfold_pred[test_rows] - y[test_rows]))) < 1e-9, \
    "kfold_mae is not the colleague's error over test_rows"
assert abs(optimism - (kfold_mae - honest_mae)) < 1e-9, "optimism is kfold_mae - honest_mae"
assert honest_mae > kfold_mae, "the honest error should be larger than the K-fold one here"
### BEGIN HIDDEN TESTS
ok = target_day <= test_origins[0]
ref = np.mean(np.abs(make_gbm().fit(X[ok], y[ok]).predict(X[test_rows]) - y[test_rows]))
assert abs(honest_mae - ref) < 1e-6, "honest_mae: train only on rows whose target day is observed by the first test origin"
ref_share = np.mean([np.mean(target_day[fold_of != fold_of[i]] > row_origin[i]) for i in np.flatnonzero(test_rows)])
assert abs(future_share - ref_share) < 1e-6, "future_share: per test row, over the rows of the other folds"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "closing", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## What the exercises show
#
# 1. **Compute** — MASE is scaled by the *in-sample* seasonal naive error, so 1.0 means "as good
#    as last week's value was on the history"; seasonal naive scores exactly 1 on its own training data.
# 2. **Compute** — the newsvendor orders the $p/(p+h)$ quantile of demand, not its mean: when a
#    shortage costs nine times a leftover, the order covers demand 90% of the time.
# 3. **Interpret** — a cost ratio is an estimate: resample the unit that is independent (weeks,
#    both policies together) before saying one forecast is worth money.
# 4. **Investigate** — shuffled K-fold trains on days after each test origin (the surges and
#    levels it must forecast), so it understates the error a forecast has when it is used.
#
# Sources: chapter 06 and its references (Hyndman & Koehler 2006 for MASE; Porteus 2002 for the
# newsvendor; Bergmeir & Benítez 2012 for cross-validation of time series).
