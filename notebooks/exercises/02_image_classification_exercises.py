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
# # 02 · Image classification: exercises
#
# Practise what chapter 02 (`notebooks/02_image_classification.ipynb`) warns about, on a small set
# of simulated CT nodule patches (`medbench.data.patches.nodule_patches`, task `"malignancy"`: a few
# hundred patients, 4 patches each, every patch a 32 × 32 mm crop in Hounsfield units around one of
# the patient's 1–3 nodules). The simulator knows each nodule's true probability of malignancy,
# so the best achievable (Bayes-optimal) AUROC is known too. No network is trained here: the
# scores come from baselines that fit in a second.
#
# | # | Exercise | Kind | Points |
# |---|----------|------|--------|
# | 1 | The centre-mean-HU rule by hand | compute | 2 |
# | 2 | A patient-level paired bootstrap of an AUROC difference | compute | 3 |
# | 3 | A threshold for 90% sensitivity, and what it costs on new patients | interpret | 3 |
# | 4 | A validation score above the Bayes-optimal one | investigate | 3 |
#
# **How to work.** Write your code where it says `YOUR CODE HERE` (delete the
# `raise NotImplementedError()` line) and run the test cell below it: a test that passes prints
# nothing; a failing one says what is wrong. The grader also runs hidden tests (other images,
# other data), so solve the problem, not the visible test. Check the whole notebook from a
# terminal with
#
# ```
# medbench exercises check notebooks/exercises/02_image_classification_exercises.ipynb
# ```
#
# It runs top to bottom in well under a minute on a laptop CPU; nothing downloads.

# %% tags=["parameters"]
seed = 0  # seed of the simulator, the patient split and the bootstraps
n_patients = 240  # simulated patients (4 patches each)
n_boot = 400  # bootstrap resamples

# %% nbgrader={"grade": false, "grade_id": "setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import medbench
from medbench.data.patches import nodule_patches, patch_features
from medbench.data.sequences import split_patients
from medbench.metrics import auroc, bootstrap_ci, paired_bootstrap_diff, sensitivity, specificity
from medbench.tasks.classification import Split
from medbench.tasks.classification_studies import baseline_scores

medbench.seed_everything(seed)
patches = nodule_patches(n_patients=n_patients, patches_per_patient=4, size=32, task="malignancy", seed=seed)
images, y_all, pid_all = patches.images, patches.labels, patches.patient_ids  # (N, 1, 32, 32) HU, (N,), (N,)
p_true = patches.meta["p_malignant"].to_numpy()  # the simulator's true probability of malignancy
splits = split_patients(np.unique(pid_all), (0.5, 0.25, 0.25), seed=seed)
part = {k: np.isin(pid_all, ids) for k, ids in splits.items()}  # boolean patch masks per split
x = {k: images[m] for k, m in part.items()}
y = {k: y_all[m] for k, m in part.items()}
g = {k: pid_all[m] for k, m in part.items()}
print(pd.DataFrame({"patients": {k: len(v) for k, v in splits.items()}, "patches": {k: len(y[k]) for k in y},
                    "malignant": {k: round(float(y[k].mean()), 3) for k in y}}))

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex1_intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 1 · The centre-mean-HU rule by hand (compute, 2 points)
#
# Chapter 02's first baseline needs no training: score a patch by the mean HU of its central
# 4 × 4 pixels. For an image of $H \times W$ pixels with $c_h = \lfloor H/2 \rfloor$ and
# $c_w = \lfloor W/2 \rfloor$ (0-based indices), the centre is rows $c_h-2, \dots, c_h+1$ and
# columns $c_w-2, \dots, c_w+1$:
#
# $$s(x) = \frac{1}{16}\sum_{i=c_h-2}^{c_h+1}\ \sum_{j=c_w-2}^{c_w+1} x_{ij}.$$
#
# 1. `centre_mean_hu(images)`: that mean for every image of `images`, which is `(N, 1, H, W)` or
#    `(N, H, W)`; returns `(N,)`.
# 2. `centre_rule(train_images, train_labels, images)`: the rule as a score that is higher for
#    class 1. Its only "training" is the sign: keep $s$ if its AUROC on the training patches is
#    at least 0.5, else use $-s$.
#
# Use NumPy and `medbench.metrics.auroc` (not `patch_features` or `baseline_scores`, which the
# checks compare you with).

# %% nbgrader={"grade": false, "grade_id": "ex1_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def centre_mean_hu(images):
    """Mean HU of the central 4 x 4 pixels: ``(N, 1, H, W)`` or ``(N, H, W)`` -> ``(N,)``."""
    ### BEGIN SOLUTION
    a = np.asarray(images, dtype=np.float64)
    a = a[:, 0] if a.ndim == 4 else a
    ch, cw = a.shape[1] // 2, a.shape[2] // 2
    return a[:, ch - 2:ch + 2, cw - 2:cw + 2].mean(axis=(1, 2))
    ### END SOLUTION


def centre_rule(train_images, train_labels, images):
    """The centre rule's score of ``images``, oriented on the training patches: ``(N,)``."""
    ### BEGIN SOLUTION
    sign = 1.0 if auroc(np.asarray(train_labels), centre_mean_hu(train_images)) >= 0.5 else -1.0
    return sign * centre_mean_hu(images)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex1_tests", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
mine = np.asarray(centre_mean_hu(x["test"]), dtype=float)
assert mine.shape == (len(y["test"]),), "centre_mean_hu should return one number per image"
assert np.allclose(mine, patch_features(x["test"])["centre_mean_hu"], atol=1e-3), \
    "centre_mean_hu is not the mean of the central 4 x 4 pixels"
centre_score = np.asarray(centre_rule(x["train"], y["train"], x["test"]), dtype=float)
print(f"centre rule: test AUROC {auroc(y['test'], centre_score):.3f}")
assert np.allclose(np.abs(centre_score), np.abs(mine), atol=1e-3), "centre_rule should be +/- centre_mean_hu"
### BEGIN HIDDEN TESTS
ref = baseline_scores(Split(x["train"], y["train"], g["train"]), Split(x["test"], y["test"], g["test"]))
assert np.allclose(centre_score, ref["centre-mean-HU rule"], atol=1e-3), \
    "centre_rule's sign is not the one the training patches call for"
flipped = np.asarray(centre_rule(-x["train"], y["train"], -x["test"]), dtype=float)
assert np.allclose(flipped, centre_score, atol=1e-3), \
    "on negated images the rule should flip its sign (orient it on the training AUROC)"
for shape in ((5, 25, 25), (5, 1, 24, 30), (3, 9, 7)):
    other = np.random.default_rng(seed).normal(0.0, 100.0, shape)
    assert np.allclose(np.asarray(centre_mean_hu(other), float), patch_features(other)["centre_mean_hu"], atol=1e-3), \
        f"centre_mean_hu is wrong on images of shape {shape}: where is the centre of an odd or non-square image?"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex2_intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 2 · A patient-level paired bootstrap of an AUROC difference (compute, 3 points)
#
# Two baselines score the test patches: `score_lr`, a logistic regression on the six
# hand-crafted features of `patch_features` (fit on the training patients), and `score_centre`,
# the centre rule. Each patient contributes 4 patches of the same 1–3 nodules, scanner and
# lung, so a patient's patches are far from independent.
#
# Implement `patient_bootstrap_auroc_diff`: the difference
# $\Delta = \mathrm{AUROC}(y, a) - \mathrm{AUROC}(y, b)$ on the patches as given, and a 95%
# percentile bootstrap interval in which each resample draws **patients** with replacement (as
# many as there are), takes all patches of every drawn patient, and scores **both** scores on
# that same resample:
#
# $$\Delta^{*}_{r} = \mathrm{AUROC}(y^{*}_r, a^{*}_r) - \mathrm{AUROC}(y^{*}_r, b^{*}_r),\qquad
# [\,\text{low}, \text{high}\,] = \left[q_{(1-\text{ci})/2}(\Delta^{*}),\; q_{(1+\text{ci})/2}(\Delta^{*})\right].$$
#
# Skip resamples on which an AUROC is undefined (one class only). Use NumPy and
# `medbench.metrics.auroc` (not `paired_bootstrap_diff`, which the checks compare you with). Your
# interval need not match the library's digit for digit (different random draws), only within
# Monte-Carlo error.

# %% nbgrader={"grade": false, "grade_id": "ex2_data", "locked": true, "schema_version": 3, "solution": false, "task": false}
features = {k: patch_features(x[k]) for k in x}
lr_model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(features["train"], y["train"])
score_lr = {k: lr_model.predict_proba(features[k])[:, 1] for k in x}
score_centre = {k: baseline_scores(Split(x["train"], y["train"], g["train"]),
                                   Split(x[k], y[k], g[k]))["centre-mean-HU rule"] for k in x}
pd.DataFrame({"logistic regression on features": {k: auroc(y[k], score_lr[k]) for k in x},
              "centre rule": {k: auroc(y[k], score_centre[k]) for k in x},
              "Bayes-optimal (true p)": {k: auroc(y[k], p_true[part[k]]) for k in x}}).round(3)


# %% nbgrader={"grade": false, "grade_id": "ex2_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def patient_bootstrap_auroc_diff(y_true, score_a, score_b, patient_ids, n_boot=1000, seed=0, ci=0.95):
    """AUROC(a) - AUROC(b) with a paired bootstrap interval that resamples patients.

    Args:
        y_true: ``(N,)`` 0/1 labels, one per patch.
        score_a, score_b: ``(N,)`` the two scores.
        patient_ids: ``(N,)`` the patient of each patch.
        n_boot: bootstrap resamples; seed: seed of ``np.random.default_rng``; ci: interval mass.

    Returns:
        ``(difference, low, high)`` as floats.
    """
    ### BEGIN SOLUTION
    yy, a, b = np.asarray(y_true), np.asarray(score_a), np.asarray(score_b)
    _, inverse = np.unique(np.asarray(patient_ids), return_inverse=True)
    members = [np.flatnonzero(inverse == k) for k in range(inverse.max() + 1)]
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n_boot):
        idx = np.concatenate([members[k] for k in rng.integers(0, len(members), len(members))])
        d = auroc(yy[idx], a[idx]) - auroc(yy[idx], b[idx])
        if np.isfinite(d):
            diffs.append(d)
    low, high = np.quantile(diffs, [(1 - ci) / 2, (1 + ci) / 2])
    return float(auroc(yy, a) - auroc(yy, b)), float(low), float(high)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex2_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
ex2 = patient_bootstrap_auroc_diff(y["test"], score_lr["test"], score_centre["test"], g["test"], n_boot=n_boot, seed=seed)
print("logistic regression minus centre rule: {:+.3f}, 95% CI [{:+.3f}, {:+.3f}]".format(*ex2))
assert len(ex2) == 3 and all(np.isfinite(ex2)), "return three finite numbers: (difference, low, high)"
assert abs(ex2[0] - (auroc(y["test"], score_lr["test"]) - auroc(y["test"], score_centre["test"]))) < 1e-9, \
    "the difference is not AUROC(a) - AUROC(b) on the patches as given (before any resampling)"
assert ex2[1] < ex2[0] < ex2[2], "the interval should contain the observed difference here"
### BEGIN HIDDEN TESTS
ref = paired_bootstrap_diff(auroc, y["test"], score_lr["test"], score_centre["test"], n_boot=n_boot, seed=seed,
                            groups=g["test"])
ref_width = ref[2] - ref[1]
assert abs((ex2[2] - ex2[1]) - ref_width) < 0.25 * ref_width, \
    "the interval's width is not that of a paired bootstrap over patients: what is one resampling unit?"
assert abs(ex2[1] - ref[1]) < 0.3 * ref_width and abs(ex2[2] - ref[2]) < 0.3 * ref_width, \
    "the interval's ends are off by more than Monte-Carlo error: are both scores scored on the same resample?"
# Copying every patch three times adds no information: a patient-level interval must not narrow.
args = (y["test"], score_lr["test"], score_centre["test"], g["test"])
once = patient_bootstrap_auroc_diff(*args, n_boot=n_boot, seed=seed + 1)
thrice = patient_bootstrap_auroc_diff(*(np.repeat(v, 3) for v in args), n_boot=n_boot, seed=seed + 2)
assert (thrice[2] - thrice[1]) > 0.8 * (once[2] - once[1]), \
    "repeating every patch of every patient three times made your interval narrower: it treats patches as independent"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex3_intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 3 · A threshold for 90% sensitivity, and what it costs on new patients (interpret, 3 points)
#
# A screening service wants the logistic regression of exercise 2 (`score_lr[split]`, labels
# `y[split]`, patients `g[split]`) to flag at least 90% of the malignant nodules.
#
# 1. Choose its `threshold` (a patch is flagged when its score ≥ threshold) so that the
#    sensitivity is at least 0.9, flagging as few patches as possible — on the patients the
#    threshold may legitimately be chosen on.
# 2. Report on the test patients what the service would then see: `test_sens`, `test_spec`, and
#    a 95% percentile bootstrap interval for the specificity, `spec_lo` and `spec_hi` (`n_boot`
#    resamples, `seed`), resampling the unit that was sampled (`medbench.metrics.bootstrap_ci`
#    takes a metric's keyword arguments and `groups`).

# %% nbgrader={"grade": false, "grade_id": "ex3_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
threshold = None
test_sens = None
test_spec, spec_lo, spec_hi = None, None, None
### BEGIN SOLUTION
positives = np.sort(score_lr["val"][y["val"] == 1])[::-1]
need = int(np.ceil(0.9 * len(positives) - 1e-9))  # positives that must be at or above the threshold
threshold = float(positives[need - 1])
test_sens = sensitivity(y["test"], score_lr["test"], threshold=threshold)
test_spec, spec_lo, spec_hi = bootstrap_ci(specificity, y["test"], score_lr["test"], threshold=threshold,
                                           n_boot=n_boot, seed=seed, groups=g["test"])
### END SOLUTION
print(f"threshold {threshold:.3f}: test sensitivity {test_sens:.3f}, "
      f"specificity {test_spec:.3f} [{spec_lo:.3f}, {spec_hi:.3f}]")

# %% nbgrader={"grade": true, "grade_id": "ex3_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
assert threshold is not None and test_sens is not None and test_spec is not None, "set threshold, test_sens and test_spec"
assert spec_lo is not None and spec_hi is not None, "set spec_lo and spec_hi"
assert 0 < threshold < 1, "the threshold should be a probability between 0 and 1"
assert abs(test_sens - sensitivity(y["test"], score_lr["test"], threshold=threshold)) < 1e-9, \
    "test_sens is not the sensitivity of your threshold on the test patients"
assert abs(test_spec - specificity(y["test"], score_lr["test"], threshold=threshold)) < 1e-9, \
    "test_spec is not the specificity of your threshold on the test patients"
assert spec_lo <= test_spec <= spec_hi and spec_hi - spec_lo < 0.5, "the specificity interval is not plausible"
### BEGIN HIDDEN TESTS
assert sensitivity(y["val"], score_lr["val"], threshold=threshold) >= 0.9, \
    "the threshold does not reach the target sensitivity on the patients it should be chosen on"
higher = score_lr["val"][score_lr["val"] > threshold]
assert len(higher) == 0 or sensitivity(y["val"], score_lr["val"], threshold=higher.min()) < 0.9, \
    "a higher threshold would still reach the target and flag fewer patches"
_, ref_lo, ref_hi = bootstrap_ci(specificity, y["test"], score_lr["test"], threshold=threshold, n_boot=n_boot,
                                 seed=seed, groups=g["test"])
assert abs(spec_lo - ref_lo) < 0.25 * (ref_hi - ref_lo) and abs(spec_hi - ref_hi) < 0.25 * (ref_hi - ref_lo), \
    "the specificity interval is not a 95% bootstrap interval over the test patients"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex3_after", "locked": true, "schema_version": 3, "solution": false, "task": false}
# A baseline that barely ranks the nodules (see exercise 2's table) buys its 90% sensitivity by
# flagging most benign nodules too: the specificity is what the service pays. The threshold met
# the target on the validation patients; on new patients it may miss it by a few points, because
# each malignant nodule of a small validation set moves the sensitivity. A threshold chosen on
# the test patients would meet the target there by construction — and say nothing about the next
# patients.

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex4_intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 4 · A validation score above the Bayes-optimal one (investigate, 3 points)
#
# A colleague received the same patients' patches from the hospital archive (`archive_images`,
# same order, labels and patients as `images`), trained a logistic regression on 8 × 8
# block-averaged pixels on the training patients, and reports its AUROC on the validation
# patients (`colleague_auroc`, below). The split is by patient, the test patients are untouched —
# and yet the score is above the **Bayes-optimal** AUROC, that of the true probability of
# malignancy, which no model of the nodules can honestly beat except by chance.
#
# 1. Find what in `archive_images` gives the labels away, and mark the patches that carry it:
#    `has_shortcut`, a boolean array with one entry per patch of `archive_images`.
# 2. `shortcut_auroc`: the AUROC of `has_shortcut` alone (as a 0/1 score) on the validation
#    patients — how much of the colleague's score it explains.
# 3. `cleaned`: a copy of `archive_images` with the shortcut removed (every other pixel as it
#    was), and `clean_auroc = colleague_auroc_of(cleaned)`, the colleague's model retrained and
#    scored on it.
#
# Hint: compare the mean malignant patch with the mean benign patch, or look at each patch's
# brightest pixel (chapter 01: what HU can a lung patch plausibly hold?).

# %% nbgrader={"grade": false, "grade_id": "ex4_data", "locked": true, "schema_version": 3, "solution": false, "task": false}
def block_means(imgs, block=4):
    """``(N, 1, H, W)`` -> ``(N, H*W/block**2)``: the mean of every block x block square."""
    a = np.asarray(imgs, dtype=np.float64)[:, 0]
    n, h, w = a.shape
    return a.reshape(n, h // block, block, w // block, block).mean(axis=(2, 4)).reshape(n, -1)


def colleague_auroc_of(imgs):
    """The colleague's pipeline: fit on the training patients' patches, AUROC on the validation patients'."""
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=3000))
    model.fit(block_means(imgs[part["train"]]), y["train"])
    return auroc(y["val"], model.predict_proba(block_means(imgs[part["val"]]))[:, 1])


archive_images = images.copy()
_archive = np.random.default_rng(seed + 1).random(len(y_all)) < np.where(y_all == 1, 0.9, 0.02)
archive_images[_archive, 0, 1:4, 1:4] = 3071.0  # what the archive's export did to some patches
colleague_auroc = colleague_auroc_of(archive_images)
bayes_val_auroc = auroc(y["val"], p_true[part["val"]])
print(f"the colleague's validation AUROC {colleague_auroc:.3f}; Bayes-optimal on the same patches "
      f"{bayes_val_auroc:.3f}")

# %% nbgrader={"grade": false, "grade_id": "ex4_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
has_shortcut = None
shortcut_auroc = None
cleaned, clean_auroc = None, None
### BEGIN SOLUTION
# A burned-in annotation: a 3 x 3 square at 3071 HU (the top of the 12-bit CT range) in a corner,
# on most malignant patches (the biopsied cases) and few benign ones; no lung patch holds > 2000 HU.
brightest = archive_images.max(axis=(1, 2, 3))
has_shortcut = brightest > 2000.0
shortcut_auroc = auroc(y["val"], has_shortcut[part["val"]].astype(float))
fill = np.median(archive_images, axis=(1, 2, 3), keepdims=True)  # the patch's own lung background
cleaned = np.where(archive_images > 2000.0, fill, archive_images).astype(archive_images.dtype)
clean_auroc = colleague_auroc_of(cleaned)
### END SOLUTION
print(f"{int(np.sum(has_shortcut))} patches carry the shortcut; its AUROC alone {shortcut_auroc:.3f}; "
      f"the colleague's model on cleaned patches {clean_auroc:.3f} (was {colleague_auroc:.3f})")

# %% nbgrader={"grade": true, "grade_id": "ex4_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
assert all(v is not None for v in (has_shortcut, shortcut_auroc, cleaned, clean_auroc)), \
    "set has_shortcut, shortcut_auroc, cleaned and clean_auroc"
has_shortcut = np.asarray(has_shortcut)
assert has_shortcut.shape == (len(archive_images),) and has_shortcut.dtype == bool, \
    "has_shortcut needs one True/False per patch of archive_images"
assert np.shape(cleaned) == archive_images.shape, "cleaned must have the shape of archive_images"
assert shortcut_auroc > 0.75, "the patches you marked do not give the labels away: look again"
assert clean_auroc < bayes_val_auroc, "on cleaned patches the colleague's model should fall below the Bayes-optimal AUROC"
### BEGIN HIDDEN TESTS
truth = archive_images.max(axis=(1, 2, 3)) > 2500.0
assert (has_shortcut == truth).mean() > 0.99, "has_shortcut does not mark the patches that carry the shortcut"
assert abs(shortcut_auroc - auroc(y["val"], has_shortcut[part["val"]].astype(float))) < 1e-9, \
    "shortcut_auroc is not the AUROC of has_shortcut on the validation patients"
c = np.asarray(cleaned, dtype=np.float64)
assert np.array_equal(c[~truth], archive_images[~truth]), "cleaned changed patches that carry no shortcut"
changed = (c != archive_images).reshape(len(c), -1).sum(axis=1)
assert changed[truth].max() <= 25 and c.max() < 2000.0, \
    "cleaned should change only the shortcut's few pixels, and leave none of them"
assert abs(clean_auroc - colleague_auroc_of(c.astype(archive_images.dtype))) < 1e-6, \
    "clean_auroc is not colleague_auroc_of(cleaned)"
assert colleague_auroc - clean_auroc > 0.15, "the colleague's model still scores too well on cleaned: is a trace left?"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "closing", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## What the exercises show
#
# 1. **Compute** — a baseline that needs no training is one line of NumPy; orient it on the
#    training data, never on the test set.
# 2. **Compute** — patches from one patient are not independent evidence; a bootstrap must resample
#    the unit that was sampled (patients), scoring both models on the same resample.
# 3. **Interpret** — a threshold is a decision fitted to data: choose it on validation patients,
#    then report the test sensitivity and specificity with a patient-level interval.
# 4. **Investigate** — a score above the Bayes-optimal one is a red flag, not a triumph: a model
#    reads whatever separates the labels, here a burned-in annotation that the biopsied cases
#    carry, as hospital tokens and markers did in real chest X-ray models (Zech et al. 2018,
#    DeGrave et al. 2021).
#
# Sources: chapter 02 and its references (Efron & Tibshirani 1993 for the bootstrap; Hanley &
# McNeil 1982 for the AUROC); Zech, J. R. et al. (2018), *PLOS Medicine* 15(11):e1002683;
# DeGrave, A. J., Janizek, J. D. & Lee, S.-I. (2021), *Nature Machine Intelligence* 3, 610–619.
