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
# # 07 · Interpretability — exercises
#
# Practise what chapter 07 (`notebooks/07_interpretability.ipynb`) measures: explanations scored
# against a known truth, the sanity checks that tell a map of the *model* from a map of the
# *image*, and a shortcut found by an explanation. The data are simulated CT patches
# (`medbench.data.patches.nodule_patches`, each nodule's mask known) and a small simulated EHR
# cohort (`medbench.data.ehr.simulate_ehr`, each patient's true risk factors known).
#
# | # | exercise | kind | points |
# |---|----------|------|--------|
# | 1 | The pointing game and relevance mass by hand | compute | 3 |
# | 2 | Integrated Gradients by hand, and its completeness | compute | 3 |
# | 3 | Which maps pass the randomisation check? | interpret | 2 |
# | 4 | A shortcut in an EHR model | investigate | 3 |
#
# Write your answers in the cells that say `YOUR CODE HERE` (or `raise NotImplementedError()`);
# the cell after each one checks it. Some checks are hidden and run only when your notebook is
# graded. Check the whole notebook from a terminal with
#
# ```
# medbench exercises check notebooks/exercises/07_interpretability_exercises.ipynb
# ```
#
# It runs top to bottom in well under a minute on a laptop CPU; nothing downloads.

# %% tags=["parameters"]
seed = 0  # seed of the simulators, the models and the splits
n_patients = 6  # simulated patients of CT patches (exercise 1)
ehr_patients = 1500  # simulated EHR patients (exercise 4)

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import numpy as np
import pandas as pd
import torch
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

import medbench
from medbench.data.ehr import VARIABLES, simulate_ehr
from medbench.data.patches import nodule_patches
from medbench.data.sequences import aggregate_features, split_patients
from medbench.metrics import auroc, mask_area_fraction, pointing_game, relevance_mass
from medbench.tasks.explain import explain

torch.set_num_threads(1)
medbench.seed_everything(seed)

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex1_intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 1 · The pointing game and relevance mass by hand (compute, 3 points)
#
# `images` are nodule patches (HU), `masks` the nodules (`True` inside), and `maps` an attribution
# map per patch (higher = more evidence for "nodule"; some values are negative). Implement the two
# scores of chapter 07 for one map $R$ and its mask $M$:
#
# - **pointing game** `pointing_hit(r, m)`: `True` when the map's maximum lies inside the mask. A
#   maximum reached at several pixels (a flat map) counts as a hit only if **every** one of them is
#   inside, so a constant map never scores by luck;
# - **relevance mass** `relevance_mass_of(r, m)`: $\sum_{p \in M} R_p^{+} / \sum_p R_p^{+}$ with
#   $R^{+} = \max(R, 0)$, the share of *positive* evidence inside the mask (0 for a map with no
#   positive value).
#
# Then set `hit_rate` (the mean of `pointing_hit` over the patches), `mass` (the mean relevance mass)
# and `chance`: the relevance mass a map that ignores the image would get on average, from the masks
# alone. Use NumPy (not `medbench.metrics`, which the checks compare you with).

# %% nbgrader={"grade": false, "grade_id": "ex1_data", "locked": true, "schema_version": 3, "solution": false, "task": false}
ps = nodule_patches(n_patients=n_patients, patches_per_patient=12, size=32, task="nodule", seed=seed)
has = ps.labels == 1
images, masks = ps.images[has, 0], ps.masks[has]
rng = np.random.default_rng(seed)
# a map that leans on dense tissue (nodules, but also vessels and the chest wall), with noise
maps = (images + 850.0) / 400.0 + rng.normal(0.0, 0.5, images.shape)
print(f"{len(images)} nodule patches of {images.shape[1]} x {images.shape[2]} pixels; "
      f"maps from {maps.min():.1f} to {maps.max():.1f}")


# %% nbgrader={"grade": false, "grade_id": "ex1_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def pointing_hit(r, m):
    """Whether the maximum of map ``r`` (H, W) lies inside boolean mask ``m`` (H, W)."""
    ### BEGIN SOLUTION
    r, m = np.asarray(r, float), np.asarray(m, bool)
    top = r == r.max()
    return bool(not (top & ~m).any())
    ### END SOLUTION


def relevance_mass_of(r, m):
    """Share of the positive relevance of ``r`` (H, W) inside boolean mask ``m`` (H, W)."""
    ### BEGIN SOLUTION
    pos = np.clip(np.asarray(r, float), 0.0, None)
    total = pos.sum()
    return float(pos[np.asarray(m, bool)].sum() / total) if total > 0 else 0.0
    ### END SOLUTION


hit_rate, mass, chance = None, None, None
### BEGIN SOLUTION
hit_rate = float(np.mean([pointing_hit(r, m) for r, m in zip(maps, masks)]))
mass = float(np.mean([relevance_mass_of(r, m) for r, m in zip(maps, masks)]))
chance = float(np.mean([m.mean() for m in masks]))
### END SOLUTION
print(f"pointing game {hit_rate:.2f}; relevance mass {mass:.3f} against chance {chance:.3f}")

# %% nbgrader={"grade": true, "grade_id": "ex1_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
m_toy = np.zeros((4, 4), bool)
m_toy[1:3, 1:3] = True
r_toy = np.zeros((4, 4))
r_toy[1, 1], r_toy[0, 0], r_toy[3, 3] = 3.0, 1.0, -5.0
assert pointing_hit(r_toy, m_toy) is True or pointing_hit(r_toy, m_toy) == 1, "the maximum (3) is inside the mask"
assert not pointing_hit(np.ones((4, 4)), m_toy), "a flat map must not count as a hit"
assert abs(relevance_mass_of(r_toy, m_toy) - 0.75) < 1e-9, \
    "on the toy map 3 of the 4 units of positive relevance are inside the mask"
assert relevance_mass_of(-np.ones((4, 4)), m_toy) == 0, "a map without positive relevance has no relevance mass"
assert hit_rate is not None and mass is not None and chance is not None, "set hit_rate, mass and chance"
assert 0 <= hit_rate <= 1 and 0 <= mass <= 1 and 0 < chance < 0.5, "the three scores are shares between 0 and 1"
### BEGIN HIDDEN TESTS
assert abs(hit_rate - pointing_game(maps, masks)) < 1e-9, "hit_rate differs from the pointing game of these maps"
assert abs(mass - relevance_mass(maps, masks)) < 1e-9, \
    "mass differs from the relevance mass: is only the positive part of the map counted?"
assert abs(chance - mask_area_fraction(masks)) < 1e-9, "chance is not the mean share of a patch the nodule covers"
r2 = np.zeros((4, 4))
r2[1, 1] = r2[0, 0] = 2.0
assert not pointing_hit(r2, m_toy), "a maximum shared by a pixel outside the mask is not a hit"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex1_after", "locked": true, "schema_version": 3, "solution": false, "task": false}
# A map that follows dense tissue scores above chance (nodules are dense) but points at vessels and
# the chest wall about as often: it describes the *image*. Chapter 07's occlusion map of a trained
# detector reaches a pointing game near 1 and several times the chance mass.

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex2_intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 2 · Integrated Gradients by hand, and its completeness (compute, 3 points)
#
# Integrated Gradients (Sundararajan et al. 2017) attributes the difference between the output at
# the input $x$ and at a baseline $x'$ to the input's pixels:
#
# $$\mathrm{IG}_i(x) = (x_i - x'_i)\int_0^1 \frac{\partial f\big(x' + \alpha (x - x')\big)}{\partial x_i}\,d\alpha
#   \approx (x_i - x'_i)\,\frac{1}{m}\sum_{k=0}^{m-1}
#   \frac{\partial f\big(x' + \tfrac{k + 1/2}{m}(x - x')\big)}{\partial x_i}.$$
#
# Implement `integrated_gradients(net, x, baseline, n_steps)` for the logit of class 1 of `net`
# (`net(x)` has shape `(N, 2)`; `x` is `(N, 1, H, W)`; `baseline` a number), with the midpoint sum
# above and `torch.autograd`. Then check **completeness** on the images `x_ig`: the attributions of
# each image add up to $f(x) - f(x')$. Set `gap` to the largest absolute difference over the images
# between the sum of the attributions and $f(x) - f(x')$, with `n_steps = 64`.

# %% nbgrader={"grade": false, "grade_id": "ex2_data", "locked": true, "schema_version": 3, "solution": false, "task": false}
torch.manual_seed(seed)
net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Tanh(), nn.AdaptiveAvgPool2d(4), nn.Flatten(),
                    nn.Linear(64, 2)).eval()
x_ig = torch.from_numpy(np.clip((images[:4, None] + 1000.0) / 1400.0, 0, 1).astype(np.float32))
print("net(x_ig) logits of class 1:", net(x_ig)[:, 1].detach().numpy().round(3))


# %% nbgrader={"grade": false, "grade_id": "ex2_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def integrated_gradients(net, x, baseline=0.0, n_steps=64):
    """IG of class 1's logit of ``net`` at ``x`` (N, 1, H, W): a tensor of x's shape."""
    ### BEGIN SOLUTION
    x0 = torch.full_like(x, float(baseline))
    total = torch.zeros_like(x)
    for k in range(n_steps):
        z = (x0 + (k + 0.5) / n_steps * (x - x0)).detach().requires_grad_(True)
        (g,) = torch.autograd.grad(net(z)[:, 1].sum(), z)
        total += g
    return ((x - x0) * total / n_steps).detach()
    ### END SOLUTION


gap = None
### BEGIN SOLUTION
a_ig = integrated_gradients(net, x_ig, 0.0, 64)
with torch.no_grad():
    delta = net(x_ig)[:, 1] - net(torch.zeros_like(x_ig))[:, 1]
gap = float((a_ig.sum((1, 2, 3)) - delta).abs().max())
### END SOLUTION
print(f"largest completeness gap: {gap:.2e}")

# %% nbgrader={"grade": true, "grade_id": "ex2_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
lin = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))
with torch.no_grad():
    lin[1].weight.zero_()
    lin[1].weight[1, :4] = torch.tensor([1.0, -2.0, 0.5, 3.0])
x_lin = torch.arange(16, dtype=torch.float32).reshape(1, 1, 4, 4) / 16
a_lin = integrated_gradients(lin, x_lin, 0.0, 8)
assert tuple(a_lin.shape) == (1, 1, 4, 4), "the attributions should have the input's shape"
assert torch.allclose(a_lin.flatten()[:4], torch.tensor([0.0, -0.125, 0.0625, 0.5625]), atol=1e-6), \
    "on a linear model IG is weight x (input - baseline), pixel by pixel"
assert gap is not None and gap < 0.01, "the attributions should add up to f(x) - f(baseline) within 0.01"
### BEGIN HIDDEN TESTS
ref = explain(net, x_ig.numpy(), "integrated_gradients", n_steps=64, baseline=0.0)
mine = integrated_gradients(net, x_ig, 0.0, 64).numpy()
assert np.abs(mine - ref).max() < 0.02 * np.abs(ref).max(), "your IG differs from captum's beyond the Riemann error"
a_half = integrated_gradients(lin, x_lin, 0.5, 4)
assert torch.allclose(a_half.flatten()[:4], torch.tensor([1.0, -2.0, 0.5, 3.0]) * (x_lin.flatten()[:4] - 0.5),
                      atol=1e-6), "the baseline is not taken into account"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex3_intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 3 · Which maps pass the randomisation check? (interpret, 2 points)
#
# Chapter 07 re-initialised its detector's layers one by one from the output down (cascading
# randomisation, Adebayo et al. 2018) and compared each method's maps with the trained model's by
# Spearman rank correlation (1: the same ranking of pixels). `sanity` below is the table it measured
# at the `default` profile, seed 0 (rows: the layers randomised so far, output first, so that
# `"up to features.0"` has every layer randomised; `"shuffled labels"`: the same network trained on
# permuted labels).
#
# 1. `passes`: the set of methods whose map loses most of its ranking in **both** checks (Spearman
#    below 0.3 with every layer randomised *and* with shuffled labels); `fails`: the methods whose
#    map keeps it in **either** check (0.5 or more).
# 2. `reading`: which sentence is right about a method in `fails`? Set it to `"a"`, `"b"` or `"c"`.
#    - a: it is the most robust method, since its map survives damage to the model;
#    - b: its map is decided by the image and the architecture more than by what the model learned,
#      so it cannot show what a model has learned;
#    - c: the check did not work, because the other methods changed.

# %% nbgrader={"grade": false, "grade_id": "ex3_data", "locked": true, "schema_version": 3, "solution": false, "task": false}
sanity = pd.DataFrame(
    {"saliency": [0.27, 0.12, 0.06, 0.06, 0.02],
     "integrated_gradients": [0.48, 0.35, 0.33, 0.34, 0.31],
     "smoothgrad": [0.42, 0.19, 0.14, 0.15, 0.02],
     "gradcam": [0.71, 0.18, 0.41, 0.00, 0.69],
     "occlusion": [0.48, 0.26, 0.22, 0.21, 0.22]},
    index=["up to classifier.4", "up to classifier.1", "up to features.4", "up to features.0", "shuffled labels"])
sanity

# %% nbgrader={"grade": false, "grade_id": "ex3_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
passes, fails, reading = None, None, None
### BEGIN SOLUTION
both = sanity.loc[["up to features.0", "shuffled labels"]]
passes = set(both.columns[(both < 0.3).all()])
fails = set(both.columns[(both >= 0.5).any()])
reading = "b"
### END SOLUTION
print("pass:", passes, " fail:", fails, " reading:", reading)

# %% nbgrader={"grade": true, "grade_id": "ex3_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert passes is not None and fails is not None and reading is not None, "set passes, fails and reading"
passes, fails = set(passes), set(fails)
assert passes <= set(sanity.columns) and fails <= set(sanity.columns), "name methods that are columns of sanity"
assert not passes & fails, "a method cannot both pass and fail"
assert reading in ("a", "b", "c"), "reading is one of 'a', 'b', 'c'"
### BEGIN HIDDEN TESTS
assert passes == {"saliency", "smoothgrad", "occlusion"}, \
    "passes: read the row with every layer randomised and the shuffled-labels row"
assert fails == {"gradcam"}, "fails: a method fails if either check leaves its map at 0.5 or more"
assert reading == "b", "a map that does not change with what the model learned cannot explain what it learned"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex4_intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 4 · A shortcut in an EHR model (investigate, 3 points)
#
# A team predicts cardiovascular events from each patient's record summary (`aggregate_features`:
# last value, mean and count of every variable, age, sex) with a logistic regression, and reports
# the test AUROC below — higher than the simulator's **true risk** reaches, which no model of the
# record can honestly beat. Their extract also carries three administrative codes, `code_112`,
# `code_417` and `code_903`. One of them is recorded at a visit that happens after the event
# (a cardiology referral): a shortcut that will not exist when the model is used.
#
# 1. Find it **with an explanation, not by reading the columns**: `importance`, a `pandas.Series`
#    of scikit-learn's permutation importance (`scoring="roc_auc"`, `n_repeats=5`,
#    `random_state=seed`) of the fitted `model` on the test patients, one value per column of
#    `X["test"]`; `shortcut` the name of the column it ranks first.
# 2. `honest_auroc`: the test AUROC of `make_model()` refitted on the training patients without the
#    three codes (none of them is known before the event).

# %% nbgrader={"grade": false, "grade_id": "ex4_data", "locked": true, "schema_version": 3, "solution": false, "task": false}
cohort = simulate_ehr(ehr_patients, seed=seed)
ids = cohort.patients["patient_id"].to_numpy()
splits = split_patients(ids, (0.6, 0.4), seed=seed, stratify=cohort.patients["cvd"])
rng = np.random.default_rng(seed + 1)
X, y = {}, {}
for part, pid in splits.items():
    X[part] = aggregate_features(cohort.observations, cohort.patients, pid, list(VARIABLES))
    y[part] = cohort.labels(["cvd"], pid)[:, 0]
    referral = (y[part] == 1) & (rng.random(len(pid)) < 0.6) | (rng.random(len(pid)) < 0.05)
    codes = {"code_112": rng.random(len(pid)) < 0.3, "code_417": referral, "code_903": rng.random(len(pid)) < 0.1}
    for name, v in codes.items():
        X[part][name] = v.astype(float)
    X[part] = X[part].fillna(X[part].mean())


def make_model():
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))


model = make_model().fit(X["train"], y["train"])
reported = auroc(y["test"], model.predict_proba(X["test"])[:, 1])
true_risk_auroc = auroc(y["test"], cohort.risk("cvd", splits["test"]))
print(f"{len(ids)} patients, {y['test'].mean():.1%} with an event; reported test AUROC {reported:.3f}, "
      f"the true risk's {true_risk_auroc:.3f}")

# %% nbgrader={"grade": false, "grade_id": "ex4_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
importance, shortcut, honest_auroc = None, None, None
### BEGIN SOLUTION
pi = permutation_importance(model, X["test"], y["test"], scoring="roc_auc", n_repeats=5, random_state=seed)
importance = pd.Series(pi.importances_mean, index=X["test"].columns)
shortcut = str(importance.idxmax())
keep = [c for c in X["train"].columns if not c.startswith("code_")]
honest = make_model().fit(X["train"][keep], y["train"])
honest_auroc = auroc(y["test"], honest.predict_proba(X["test"][keep])[:, 1])
### END SOLUTION
print(f"top feature: {shortcut}; honest AUROC {honest_auroc:.3f} (reported {reported:.3f}, true risk "
      f"{true_risk_auroc:.3f})")

# %% nbgrader={"grade": true, "grade_id": "ex4_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
assert importance is not None and shortcut is not None and honest_auroc is not None, \
    "set importance, shortcut and honest_auroc"
assert isinstance(importance, pd.Series) and set(importance.index) == set(X["test"].columns), \
    "importance should be a Series with one value per column of X['test']"
assert shortcut in X["test"].columns, "shortcut should be a column name"
assert 0.5 < honest_auroc < reported, "the honest AUROC should be a real AUROC below the reported one"
### BEGIN HIDDEN TESTS
assert shortcut == "code_417", "rank the columns by their permutation importance: which one does the model need most?"
ref = permutation_importance(model, X["test"], y["test"], scoring="roc_auc", n_repeats=5, random_state=seed)
assert np.allclose(importance.loc[X["test"].columns].to_numpy(), ref.importances_mean, atol=1e-9), \
    "importance is not the permutation importance of model on the test patients"
keep_ref = [c for c in X["train"].columns if not c.startswith("code_")]
again = auroc(y["test"], make_model().fit(X["train"][keep_ref], y["train"]).predict_proba(X["test"][keep_ref])[:, 1])
assert abs(honest_auroc - again) < 1e-6, "honest_auroc is not make_model()'s AUROC without the three codes"
assert honest_auroc <= true_risk_auroc + 0.02, "an honest model should not beat the true risk"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "closing", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## What the exercises show
#
# 1. **Compute** — an explanation can be scored where the truth is known: the pointing game asks
#    where the maximum is, the relevance mass how much evidence is inside, against the mask's area
#    (chance). A map of dense tissue beats chance and still points at vessels.
# 2. **Compute** — Integrated Gradients is complete: its attributions add up to the output's change
#    from the baseline (exactly weight x input change on a linear model).
# 3. **Interpret** — a method whose map survives the randomisation of the layers or a training on
#    shuffled labels explains the image, not the model (Adebayo et al. 2018): here Grad-CAM after
#    shuffled labels; a pretty map is not evidence.
# 4. **Investigate** — an AUROC above the true risk's is a warning; an explanation (permutation
#    importance) points at the feature that carries it, and the honest model is scored without it
#    (Zech et al. 2018 found the same in images: a hospital token).
#
# Sources: chapter 07 and its references.
