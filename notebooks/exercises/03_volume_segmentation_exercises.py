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
# # Exercises · 03 3D segmentation: Dice, HD95 and honest evaluation
#
# These exercises practise chapter 03 (`notebooks/03_volume_segmentation.ipynb`) on small CT
# phantoms whose truth is known. No network is trained: the "models" are two atlases that look up
# labels from training volumes, so the whole notebook runs in seconds on a laptop CPU.
#
# | # | exercise | kind | points |
# |---|----------|------|--------|
# | 1 | Dice and HD95 by hand | compute | 3 |
# | 2 | A validation score that is too good | investigate | 3 |
# | 3 | Is the gain on the small organs real? | interpret | 3 |
#
# **How to work.** Write your code where a cell says `raise NotImplementedError()` (replace that
# line), then run every cell from the top. Each exercise ends with a test cell: if it runs without
# an `AssertionError`, the visible checks pass (hidden checks are added when your notebook is graded).
#
# **How to check.** `medbench exercises check notebooks/exercises/03_volume_segmentation_exercises.ipynb`
# runs the notebook headless and prints your score per exercise, with each failing check's message.

# %% tags=["parameters"]
seed = 0  # seed of the phantoms and of the bootstrap
grid = (32, 32, 20)  # phantom voxels over the chapter's 384 x 384 x 320 mm field of view (12 x 12 x 16 mm)
n_train = 12  # training volumes (the atlases are built from them)
n_val = 6  # validation volumes as delivered (exercise 2)
n_test = 12  # test volumes (exercise 3)
n_boot = 2000  # bootstrap resamples (exercise 3)

# %% nbgrader={"grade": false, "grade_id": "imports", "locked": true, "schema_version": 3, "solution": false, "task": false}
import hashlib

import numpy as np
import torch
from scipy import ndimage

from medbench.data.segmentation import phantom_cases
from medbench.metrics import dice_hd95, paired_bootstrap_diff
from medbench.models.segmentation import MajorityAtlas

spacing = tuple(fov / n for fov, n in zip((384.0, 384.0, 320.0), grid))
data = phantom_cases(n_train + n_val + n_test, seed=seed, shape=grid, spacing=spacing)
structures, n_classes = data.structures, data.n_classes
volumes = [(np.asarray(c["image"][0]), np.asarray(c["label"][0])) for c in data.train]  # (image HU, label ids)
print(f"{len(volumes)} phantoms {grid} at {spacing} mm; structures (label ids 1..{n_classes - 1}): {structures}")

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex1_intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 1 · Dice and HD95 by hand (compute, 3 points)
#
# For a predicted mask $P$ and a true mask $T$ (boolean arrays on one grid of voxel size `spacing` mm):
#
# $$\mathrm{Dice}(P, T) = \frac{2\,|P \cap T|}{|P| + |T|}, \qquad
# \mathrm{HD95}(P, T) = \max\big(\operatorname{P}_{95}\{d(p, \partial T)\}_{p \in \partial P},\;
# \operatorname{P}_{95}\{d(t, \partial P)\}_{t \in \partial T}\big).$$
#
# As in `monai.metrics` (which `medbench.metrics.dice_hd95` calls):
# - the surface $\partial M$ of a mask is its voxels that a binary erosion removes
#   (`scipy.ndimage.binary_erosion`, default structuring element);
# - $d(p, \partial T)$ is the Euclidean distance **in millimetres** from the centre of surface voxel
#   $p$ to the nearest surface voxel of the other mask (hint: `ndimage.distance_transform_edt` of the
#   complement of a surface, with `sampling=`);
# - $\operatorname{P}_{95}$ is `np.percentile(..., 95)` (linear interpolation).
#
# Write `dice_hd95_by_hand(pred, truth, spacing)` returning `(dice, hd95_mm)` for two non-empty
# masks. The cell after it builds a flawed liver segmentation to try it on.

# %% nbgrader={"grade": false, "grade_id": "ex1_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def dice_hd95_by_hand(pred, truth, spacing):
    """Dice and HD95 (mm) of two boolean masks ``(X, Y, Z)`` with voxel size ``spacing`` (mm)."""
    ### BEGIN SOLUTION
    p, t = np.asarray(pred, bool), np.asarray(truth, bool)
    dice = 2.0 * (p & t).sum() / (p.sum() + t.sum())
    surf_p = p & ~ndimage.binary_erosion(p)
    surf_t = t & ~ndimage.binary_erosion(t)
    d_pt = ndimage.distance_transform_edt(~surf_t, sampling=spacing)[surf_p]
    d_tp = ndimage.distance_transform_edt(~surf_p, sampling=spacing)[surf_t]
    return float(dice), float(max(np.percentile(d_pt, 95), np.percentile(d_tp, 95)))
    ### END SOLUTION


# %% nbgrader={"grade": false, "grade_id": "ex1_setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
liver = volumes[0][1] == structures.index("liver") + 1
flawed = np.roll(ndimage.binary_dilation(liver), 1, axis=2)  # one voxel too wide, one slice too high
flawed[4:6, 4:6, 4:6] = True  # and a stray island far from the liver
print("by hand:", dice_hd95_by_hand(flawed, liver, spacing))

# %% nbgrader={"grade": true, "grade_id": "ex1_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
_dice, _hd = dice_hd95(torch.as_tensor(flawed.astype(np.uint8)), torch.as_tensor(liver.astype(np.uint8)), 2, spacing)
_mine = dice_hd95_by_hand(flawed, liver, spacing)
assert abs(_mine[0] - _dice[0]) < 1e-6, "Dice differs from medbench.metrics.dice_hd95; check the overlap formula"
assert abs(_mine[1] - _hd[0]) < 1e-3, (
    "HD95 differs from medbench.metrics.dice_hd95; check the surfaces, the units of the distances "
    "and the percentile")
assert dice_hd95_by_hand(liver, liver, spacing) == (1.0, 0.0), "a perfect prediction should score Dice 1 and HD95 0"
### BEGIN HIDDEN TESTS
_sp = (0.8, 0.8, 3.0)
_x, _y, _z = np.meshgrid(*(np.arange(n) * s for n, s in zip((40, 40, 16), _sp)), indexing="ij")
_a = (_x - 16) ** 2 + (_y - 16) ** 2 + (_z - 21) ** 2 < 9 ** 2
_b = (_x - 17.6) ** 2 + (_y - 15) ** 2 + (_z - 24) ** 2 < 7 ** 2
_d2, _h2 = dice_hd95(torch.as_tensor(_b.astype(np.uint8)), torch.as_tensor(_a.astype(np.uint8)), 2, _sp)
_m2 = dice_hd95_by_hand(_b, _a, _sp)
assert abs(_m2[0] - _d2[0]) < 1e-6 and abs(_m2[1] - _h2[0]) < 1e-3, (
    "Dice or HD95 is wrong on anisotropic voxels (0.8 x 0.8 x 3 mm)")
assert abs(dice_hd95_by_hand(_a, _b, _sp)[1] - _m2[1]) < 1e-9, "HD95 must be symmetric in its two masks"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex2_intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 2 · A validation score that is too good (investigate, 3 points)
#
# A colleague segments volumes with a **nearest-volume atlas**: for a new image it finds the training
# image with the smallest mean squared difference and returns that volume's labels
# (`nearest_atlas`, below). On the validation volumes a partner site sent back (`val`, renamed
# `val_00`, `val_01`, ...) it reports a mean Dice that looks far too good for a method that never
# adapts a label to the image.
#
# Find out why. Set `leaked` to the set of validation case names whose volume is also a training
# volume (compare the voxels, not the names: e.g. hash `image.tobytes()` with `hashlib`), and
# `clean_val_dice` to the mean Dice (over the structures and the remaining validation cases) that
# the colleague should have reported. Use `case_dice(pred, label)` (below) for the per-structure Dice.

# %% nbgrader={"grade": false, "grade_id": "ex2_setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
train = [{"case": f"train_{i:02d}", "image": img, "label": lab} for i, (img, lab) in enumerate(volumes[:n_train])]
_rng = np.random.default_rng(seed)
_delivered = volumes[n_train:n_train + n_val - 2] + [volumes[i] for i in _rng.choice(n_train, 2, replace=False)]
val = [{"case": f"val_{i:02d}", "image": _delivered[j][0].copy(), "label": _delivered[j][1].copy()}
       for i, j in enumerate(_rng.permutation(len(_delivered)))]
test = [{"case": f"test_{i:02d}", "image": img, "label": lab}
        for i, (img, lab) in enumerate(volumes[n_train + n_val:])]


def nearest_atlas(image):
    """Labels of the training volume whose image is closest (mean squared difference) to ``image``."""
    errors = [np.mean((c["image"] - image) ** 2) for c in train]
    return train[int(np.argmin(errors))]["label"]


def case_dice(pred, label):
    """Dice of each structure (array of ``n_classes - 1``) of one case, with ``medbench.metrics.dice_hd95``."""
    return dice_hd95(torch.as_tensor(pred), torch.as_tensor(label), n_classes, spacing)[0]


reported_val_dice = float(np.mean([case_dice(nearest_atlas(c["image"]), c["label"]).mean() for c in val]))
print(f"reported validation Dice of the nearest-volume atlas: {reported_val_dice:.3f}")

# %% nbgrader={"grade": false, "grade_id": "ex2_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
train_hashes = {hashlib.sha256(c["image"].tobytes()).hexdigest() for c in train}
leaked = {c["case"] for c in val if hashlib.sha256(c["image"].tobytes()).hexdigest() in train_hashes}
clean_val_dice = float(np.mean([case_dice(nearest_atlas(c["image"]), c["label"]).mean()
                                for c in val if c["case"] not in leaked]))
### END SOLUTION
print(f"leaked: {sorted(leaked)}; clean validation Dice {clean_val_dice:.3f} (reported {reported_val_dice:.3f})")

# %% nbgrader={"grade": true, "grade_id": "ex2_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
assert isinstance(leaked, (set, frozenset)) and leaked <= {c["case"] for c in val}, (
    "leaked should be a set of validation case names such as 'val_03'")
assert 0 < len(leaked) < len(val), "some, but not all, validation volumes are also training volumes"
assert 0.0 < clean_val_dice < reported_val_dice, (
    "the clean validation Dice should be below the reported one once the duplicated volumes are left out")
### BEGIN HIDDEN TESTS
_train_bytes = {c["image"].tobytes() for c in train}
_true_leaked = {c["case"] for c in val if c["image"].tobytes() in _train_bytes}
assert set(leaked) == _true_leaked, "leaked is not the set of validation volumes identical to a training volume"
_clean = np.mean([case_dice(nearest_atlas(c["image"]), c["label"]).mean() for c in val if c["case"] not in _true_leaked])
assert abs(clean_val_dice - _clean) < 1e-6, (
    "clean_val_dice is off: the mean Dice over all structures of the validation volumes that are not duplicates")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex3_intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 3 · Is the gain on the small organs real? (interpret, 3 points)
#
# On the `test` volumes (disjoint from training), compare the nearest-volume atlas with the
# chapter's floor, the **majority atlas** (`MajorityAtlas`: each voxel gets the label most training
# volumes have there, `majority` below), on the small organs: spleen and both kidneys.
#
# 1. `dice_nearest`, `dice_majority`: one number per test case (in the order of `test`), the case's
#    mean Dice over `small_organs`.
# 2. `gain`: the mean over cases of `dice_nearest - dice_majority`.
# 3. `ci`: a 95 % bootstrap interval `(low, high)` of that gain over test cases, with `n_boot`
#    resamples. Both methods were scored on the **same** cases: resample cases, not each method's
#    scores separately (`paired_bootstrap_diff` does this given a metric such as
#    `lambda y, s: float(np.mean(s))`).
# 4. `gain_is_real`: `True` if the data support a gain (the interval lies above 0), else `False`.
#    In a comment: would you report the nearest-volume atlas as better on the small organs?

# %% nbgrader={"grade": false, "grade_id": "ex3_setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
majority = np.asarray(MajorityAtlas(n_classes).fit([c["label"] for c in train]).predict()[0])
small_organs = ("spleen", "kidney_left", "kidney_right")
small_idx = [structures.index(s) for s in small_organs]  # positions in case_dice's output

# %% nbgrader={"grade": false, "grade_id": "ex3_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
dice_nearest = np.array([case_dice(nearest_atlas(c["image"]), c["label"])[small_idx].mean() for c in test])
dice_majority = np.array([case_dice(majority, c["label"])[small_idx].mean() for c in test])
gain, lo, hi = paired_bootstrap_diff(lambda y, s: float(np.mean(s)), np.zeros(len(test)), dice_nearest, dice_majority,
                                     n_boot=n_boot, seed=seed)
ci = (lo, hi)
gain_is_real = bool(lo > 0)
# The interval holds 0: on these test cases the data do not support a gain of the nearest-volume atlas
# on the small organs, so it should not be reported as better (only as "no difference shown").
### END SOLUTION
print(f"small-organ Dice: nearest {np.mean(dice_nearest):.3f}, majority {np.mean(dice_majority):.3f}; "
      f"gain {gain:+.3f} [{ci[0]:+.3f}, {ci[1]:+.3f}] -> real: {gain_is_real}")

# %% nbgrader={"grade": true, "grade_id": "ex3_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
assert np.shape(dice_nearest) == np.shape(dice_majority) == (len(test),), "one Dice per test case for each method"
assert abs(gain - np.mean(np.asarray(dice_nearest) - np.asarray(dice_majority))) < 1e-9, (
    "gain should be the mean of the per-case differences")
assert ci[0] < gain < ci[1], "the interval should contain the estimated gain"
assert gain_is_real == bool(ci[0] > 0), "gain_is_real does not follow from your interval"
### BEGIN HIDDEN TESTS
_small = [structures.index(s) for s in ("spleen", "kidney_left", "kidney_right")]
_a = np.array([case_dice(nearest_atlas(c["image"]), c["label"])[_small].mean() for c in test])
_b = np.array([case_dice(majority, c["label"])[_small].mean() for c in test])
assert np.allclose(dice_nearest, _a, atol=1e-6) and np.allclose(dice_majority, _b, atol=1e-6), (
    "the per-case small-organ Dice are off: the mean over spleen and both kidneys of each test case")
_g, _lo, _hi = paired_bootstrap_diff(lambda y, s: float(np.mean(s)), np.zeros(len(_a)), _a, _b, n_boot=2000, seed=1)
assert 0.75 < (ci[1] - ci[0]) / (_hi - _lo) < 1.33, (
    "the interval's width is not that of a paired bootstrap over test cases: resample cases and take "
    "both methods' scores from the same resample")
assert gain_is_real == bool(_lo > 0), "the decision does not match what the paired comparison supports"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "closing", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## What these exercises practised
#
# 1. *Dice and HD95 by hand* (compute): overlap, surfaces and distances in millimetres, matched with
#    `monai.metrics` through `medbench.metrics.dice_hd95`.
# 2. *A validation score that is too good* (investigate): volumes in both training and validation,
#    found by content; the honest score leaves them out.
# 3. *Is the gain on the small organs real?* (interpret): per-case paired differences and a paired
#    bootstrap interval before calling one method better.
#
# References: Dice (1945), Ecology 26; Huttenlocher et al. (1993), IEEE TPAMI (Hausdorff distance;
# HD95 as in the Medical Segmentation Decathlon, Antonelli et al. 2022, Nat Commun); MONAI
# `compute_hausdorff_distance` (docs.monai.io); Efron & Tibshirani (1993), *An Introduction to the
# Bootstrap* (percentile intervals).
