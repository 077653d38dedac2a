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
# **Wrong answer, exercise 1:** `stored_to_hu` swaps the two tags (HU = stored × RescaleIntercept +
# RescaleSlope), a plausible slip when reading the tags off a header dump; the grader must score it below full marks.
#
# # Exercises · 01 Medical images: Hounsfield units, windows and orientation
#
# These exercises practise chapter 01 (`notebooks/01_medical_images.ipynb`) on the offline data:
# the real head CT slice shipped in `pydicom-data` and the CT phantom of `medbench.data.phantom`.
#
# | # | exercise | kind | points |
# |---|----------|------|--------|
# | 1 | Stored values to Hounsfield units, by hand | compute | 3 |
# | 2 | Which window shows a lesion best? | investigate | 3 |
# | 3 | Where is the patient's right in an LPS array? | interpret | 3 |
#
# **How to work.** Write your code where a cell says `raise NotImplementedError()` (replace that
# line), then run every cell from the top. Each exercise ends with a test cell: if it runs without
# an `AssertionError`, the visible checks pass (hidden checks are added when your notebook is graded).
#
# **How to check.** `medbench exercises check notebooks/exercises/01_medical_images_exercises.ipynb`
# runs the notebook headless and prints your score per exercise, with each failing check's message.
# The whole notebook runs in a few seconds on a laptop CPU.

# %% tags=["parameters"]
seed = 0  # seed of the phantom (exercises 2 and 3)
phantom_size = 96  # phantom voxels along x and y (z gets two thirds): 4 x 4 x 5 mm voxels at 96
ring_voxels = 2  # thickness (voxels) of the ring of surrounding tissue around a lesion (exercise 2)

# %% nbgrader={"grade": false, "grade_id": "imports", "locked": true, "schema_version": 3, "solution": false, "task": false}
import numpy as np
import pydicom
from scipy import ndimage

from medbench import transforms as T
from medbench.data.dicom import read_dicom
from medbench.data.phantom import PHANTOM_LABELS, make_ct_phantom
from medbench.data.samples import sample_ct, sample_path

shape = (phantom_size, phantom_size, int(round(phantom_size * 2 / 3)))
spacing = (384.0 / shape[0], 384.0 / shape[1], 320.0 / shape[2])
case = make_ct_phantom(shape=shape, spacing=spacing, seed=seed, n_lung_nodules=1, n_liver_lesions=1)
print(f"phantom {case['image'].shape} at {case['spacing']} mm; lesions:",
      [(les["kind"], les["organ"], round(les["diameter_mm"], 1)) for les in case["lesions"]])

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex1_intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 1 · Stored values to Hounsfield units, by hand (compute, 3 points)
#
# A CT DICOM file stores integers. The modality LUT of DICOM PS3.3 C.11.1 turns them into
# Hounsfield units with two tags:
#
# $$\mathrm{HU} = \text{stored} \times \texttt{RescaleSlope} + \texttt{RescaleIntercept}.$$
#
# Pixels outside the reconstructed disc hold the `PixelPaddingValue` (a *stored* value), which is
# no measurement at all.
#
# 1. Write `stored_to_hu(stored, slope, intercept)` returning float HU for an array of stored values.
# 2. Write `hu_from_file(path)` that reads a single-slice CT with `pydicom.dcmread`, takes the stored
#    values from `ds.pixel_array` and the two tags, and returns `(hu, padding)`: the HU image and a
#    boolean mask of the padding pixels, both **in medbench's axis order** `(X, Y)` = (column, row),
#    i.e. the transpose of pydicom's `(row, column)` array.
#
# The file is `sample_path("ct")`; `sample_ct()` is medbench's reading of it, your reference.

# %% nbgrader={"grade": false, "grade_id": "ex1_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def stored_to_hu(stored, slope, intercept):
    """Stored DICOM values -> Hounsfield units (float64 array of the same shape)."""
    ### BEGIN SOLUTION
    return np.asarray(stored, dtype=np.float64) * float(intercept) + float(slope)
    ### END SOLUTION


def hu_from_file(path):
    """``(hu, padding)`` of a single-slice CT file, both ``(X, Y)`` (columns, rows)."""
    ### BEGIN SOLUTION
    ds = pydicom.dcmread(path)
    stored = ds.pixel_array
    hu = stored_to_hu(stored, ds.get("RescaleSlope", 1), ds.get("RescaleIntercept", 0))
    pad_value = ds.get("PixelPaddingValue")
    padding = np.zeros(stored.shape, bool) if pad_value is None else stored == int(pad_value)
    return hu.T, padding.T
    ### END SOLUTION


hu, padding = hu_from_file(sample_path("ct"))
print(f"HU image {hu.shape}: {padding.sum()} padding pixels; median HU of the rest {np.median(hu[~padding]):.0f}")

# %% nbgrader={"grade": true, "grade_id": "ex1_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
reference = sample_ct()
assert np.shape(hu) == reference["image"].shape, (
    f"the HU image has shape {np.shape(hu)}; medbench's is {reference['image'].shape} (X = columns, Y = rows)")
assert np.allclose(hu, reference["image"], atol=1e-3), (
    "your HU differ from medbench's reading of the same file; check how stored values map to HU "
    "and the axis order")
assert np.array_equal(np.asarray(padding, bool), reference["padding_mask"]), (
    "the padding mask differs from medbench's; padding is defined on the stored values, "
    "before any rescale")
air = hu[~padding]
assert -1100 < np.percentile(air, 5) < -900, "the darkest non-padding pixels are not a plausible HU value for air"
### BEGIN HIDDEN TESTS
assert np.allclose(stored_to_hu(np.array([0, 100, 2000]), 0.5, -1000.0), [-1000.0, -950.0, 0.0]), (
    "stored_to_hu is wrong for a slope other than 1")
assert np.allclose(stored_to_hu(np.array([[0, 1], [2, 3]]), 2, 7), [[7, 9], [11, 13]]), (
    "stored_to_hu is wrong for a 2D array")
import tempfile
from pathlib import Path

_ds = pydicom.dcmread(sample_path("ct"))
_ds.RescaleSlope, _ds.RescaleIntercept = 2, -2048
_tmp = Path(tempfile.mkdtemp()) / "rescaled.dcm"
_ds.save_as(_tmp)
_hu2, _pad2 = hu_from_file(_tmp)
assert np.allclose(_hu2, read_dicom(_tmp)["image"], atol=1e-3), (
    "hu_from_file does not follow the file's own RescaleSlope / RescaleIntercept")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex2_intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 2 · Which window shows a lesion best? (investigate, 3 points)
#
# A window of width $W$ and level $L$ maps HU to display units in $[0, 1]$:
# $d = \operatorname{clip}\big((\mathrm{HU} - (L - W/2)) / W,\ 0,\ 1\big)$ (`T.apply_window`). The
# presets are `T.CT_WINDOWS` (lung, mediastinum, bone, brain, liver, soft tissue). The phantom
# `case` above has one lung nodule and one liver lesion, listed in `case["lesions"]`.
#
# For each lesion `les` and each preset, measure the **display contrast**
# $|\bar d_\text{lesion} - \bar d_\text{ring}|$:
# - the lesion's voxels are the connected component (`scipy.ndimage.label`, default connectivity) of
#   `case["label"] == PHANTOM_LABELS["lesion"]` that contains the voxel `les["centre_vox"]`;
# - the ring is the voxels within `ring_voxels` dilations of the lesion
#   (`ndimage.binary_dilation(lesion, iterations=ring_voxels)`) that are not the lesion and carry
#   the label of the lesion's organ, `PHANTOM_LABELS[les["organ"]]`;
# - $\bar d$ is the mean of the windowed values (window first, then average).
#
# Fill `contrast[kind][window]` (kind = `les["kind"]`: `"lung_nodule"`, `"liver_lesion"`) and
# `best_window[kind]`, the preset with the largest contrast. Is the best window for the liver
# lesion the one named after the liver? Say why in a comment.

# %% nbgrader={"grade": false, "grade_id": "ex2_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
contrast = {}  # {lesion kind: {window name: display contrast}}
best_window = {}  # {lesion kind: window name}
### BEGIN SOLUTION
components, _ = ndimage.label(case["label"] == PHANTOM_LABELS["lesion"])
for les in case["lesions"]:
    lesion = components == components[tuple(les["centre_vox"])]
    ring = (ndimage.binary_dilation(lesion, iterations=ring_voxels) & ~lesion
            & (case["label"] == PHANTOM_LABELS[les["organ"]]))
    contrast[les["kind"]] = {
        name: float(abs(T.apply_window(case["image"][lesion], name).mean()
                        - T.apply_window(case["image"][ring], name).mean()))
        for name in T.CT_WINDOWS}
    best_window[les["kind"]] = max(contrast[les["kind"]], key=contrast[les["kind"]].get)
# The narrowest window that holds both the lesion's and the liver's HU without clipping wins: the
# ~25-50 HU difference spreads over 80 HU in the brain window but 150 HU in the liver window. A
# preset's name says what it is usually used for, not which window gives the most contrast.
### END SOLUTION
for kind, values in contrast.items():
    print(kind, {k: round(v, 3) for k, v in values.items()}, "->", best_window[kind])

# %% nbgrader={"grade": true, "grade_id": "ex2_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
kinds = {les["kind"] for les in case["lesions"]}
assert set(contrast) == kinds, f"contrast should have one entry per lesion kind: {sorted(kinds)}"
for kind in kinds:
    assert set(contrast[kind]) == set(T.CT_WINDOWS), f"contrast[{kind!r}] should hold every preset of T.CT_WINDOWS"
    assert all(0.0 <= v <= 1.0 for v in contrast[kind].values()), (
        "display contrast lies between 0 and 1: window the HU before averaging")
    assert best_window[kind] == max(contrast[kind], key=contrast[kind].get), (
        f"best_window[{kind!r}] is not the preset with the largest contrast in your own table")
assert contrast["lung_nodule"]["lung"] > 0.2, "the lung window should show a nodule in aerated lung clearly"
### BEGIN HIDDEN TESTS
_comp, _ = ndimage.label(case["label"] == PHANTOM_LABELS["lesion"])
for _les in case["lesions"]:
    _m = _comp == _comp[tuple(_les["centre_vox"])]
    _r = ndimage.binary_dilation(_m, iterations=ring_voxels) & ~_m & (case["label"] == PHANTOM_LABELS[_les["organ"]])
    for _name in T.CT_WINDOWS:
        _c = abs(T.apply_window(case["image"][_m], _name).mean() - T.apply_window(case["image"][_r], _name).mean())
        assert abs(contrast[_les["kind"]][_name] - _c) < 1e-3, (
            f"contrast[{_les['kind']!r}][{_name!r}] is off: check the lesion component, the ring "
            "(organ voxels only) and that you window before averaging")
assert best_window["liver_lesion"] != "liver", "the liver lesion's best window is not the liver preset here"
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "ex3_intro", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## Exercise 3 · Where is the patient's right in an LPS array? (interpret, 3 points)
#
# The phantom is stored in RAS order: array axis 0 runs towards the patient's **R**ight. DICOM
# series are usually stored in LPS order; `T.reorient` gives the same voxels stored that way,
# with the matching affine (voxel index $(i, j, k, 1)$ → world millimetres, world axes pointing to
# the patient's right, anterior and superior).
#
# 1. Write `lr_axis(affine)` returning `(axis, towards)`: the array axis that runs (mostly)
#    left-right, and `"R"` or `"L"`: where the patient's body lies as that index **increases**.
#    Use the affine alone (which column of the matrix moves you mostly along world $x$, and its sign).
# 2. A radiologist reports the nodule at voxel `nodule_index_lps` of the LPS array (below). Using only
#    that index and `lps_affine`, decide which lung it is in: set `nodule_side` to `"right"` or
#    `"left"` (the phantom's midline is world $x = 0$).

# %% nbgrader={"grade": false, "grade_id": "ex3_setup", "locked": true, "schema_version": 3, "solution": false, "task": false}
(lps_image,), lps_affine = T.reorient([case["image"]], case["affine"], "LPS")
nodule = next(les for les in case["lesions"] if les["kind"] == "lung_nodule")
marker = np.zeros(case["image"].shape, np.uint8)
marker[tuple(nodule["centre_vox"])] = 1  # the nodule's centre, moved with the voxels
(lps_marker,), _ = T.reorient([marker], case["affine"], "LPS")
nodule_index_lps = tuple(int(i) for i in np.argwhere(lps_marker)[0])
print("LPS affine:\n", lps_affine.round(2), "\nnodule at LPS index", nodule_index_lps)

# %% nbgrader={"grade": false, "grade_id": "ex3_solution", "locked": false, "schema_version": 3, "solution": true, "task": false}
def lr_axis(affine):
    """``(axis, towards)``: the array axis along world x (left-right) and "R"/"L" for increasing index."""
    ### BEGIN SOLUTION
    a = np.asarray(affine, dtype=float)[:3, :3]
    axis = int(np.argmax(np.abs(a[0])))
    return axis, "R" if a[0, axis] > 0 else "L"
    ### END SOLUTION


### BEGIN SOLUTION
x_mm = (np.asarray(lps_affine) @ np.array([*nodule_index_lps, 1.0]))[0]
nodule_side = "right" if x_mm > 0 else "left"
### END SOLUTION
print("RAS:", lr_axis(case["affine"]), " LPS:", lr_axis(lps_affine), " nodule in the", nodule_side, "lung")

# %% nbgrader={"grade": true, "grade_id": "ex3_tests", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
assert tuple(lr_axis(case["affine"])) == (0, "R"), "lr_axis is wrong for the RAS affine of the phantom"
(_ras,), _, _codes = T.to_ras([lps_image], lps_affine)
_axis, _towards = lr_axis(lps_affine)
assert _towards in _codes and _axis == _codes.index(_towards), (
    f"lr_axis(lps_affine) disagrees with the axis codes {_codes!r} that medbench's to_ras reads from the affine")
assert nodule_side in ("right", "left"), "nodule_side must be 'right' or 'left'"
### BEGIN HIDDEN TESTS
assert tuple(lr_axis(lps_affine)) == (0, "L"), "lr_axis is wrong for the LPS affine"
for _codes_target in ("PIR", "ASL", "SRA"):
    (_v,), _aff = T.reorient([case["image"]], case["affine"], _codes_target)
    _want = next((i, c) for i, c in enumerate(_codes_target) if c in "RL")
    assert tuple(lr_axis(_aff)) == _want, f"lr_axis is wrong for a volume stored in {_codes_target} order"
assert nodule_side == nodule["organ"].split("_")[1], (
    "the nodule is in the other lung: where does a larger index along axis 0 go in LPS storage?")
### END HIDDEN TESTS

# %% [markdown] nbgrader={"grade": false, "grade_id": "closing", "locked": true, "schema_version": 3, "solution": false, "task": false}
# ## What these exercises practised
#
# 1. *Stored values to Hounsfield units, by hand* (compute): the modality LUT and the padding value.
# 2. *Which window shows a lesion best?* (investigate): display contrast under each preset; the
#    narrowest window that holds both tissues wins, whatever its name.
# 3. *Where is the patient's right in an LPS array?* (interpret): reading laterality from the affine.
#
# References: DICOM PS3.3 C.11.1 (Modality LUT: Rescale Slope/Intercept) and C.7.6.2 (patient
# coordinates, LPS); Radiopaedia, "Windowing (CT)" (the presets of `T.CT_WINDOWS`); nibabel,
# "Coordinate systems and affines".
